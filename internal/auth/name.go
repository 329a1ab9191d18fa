package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameRunes is the longest display name ValidName accepts.
const MaxNameRunes = 32

// guestPrefix starts every generated guest name; ValidName refuses names
// that start with it so nobody can sign in as somebody's guest identity.
const guestPrefix = "guest-"

// ValidName checks a display name chosen by a user (dev-mode sign-in) and
// returns it normalized: surrounding white space trimmed and inner runs of
// spaces collapsed to one. A valid name has 1 to 32 runes, only letters,
// digits, space, '_', '-' and '.', at least one letter or digit, and does
// not start with "guest-" (reserved for [GuestName]). Errors wrap
// [ErrInvalidName].
func ValidName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	name = strings.TrimSpace(name)
	var b strings.Builder
	b.Grow(len(name))
	n, alnum, prevSpace := 0, false, false
	for _, r := range name {
		switch {
		case r == ' ':
			if prevSpace {
				continue
			}
			prevSpace = true
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			alnum, prevSpace = true, false
		case r == '_' || r == '-' || r == '.':
			prevSpace = false
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: control character %U", ErrInvalidName, r)
		default:
			return "", fmt.Errorf("%w: character %q not allowed (letters, digits, space, _ - . only)", ErrInvalidName, r)
		}
		n++
		if n > MaxNameRunes {
			return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidName, MaxNameRunes)
		}
		b.WriteRune(r)
	}
	if n == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if !alnum {
		return "", fmt.Errorf("%w: needs at least one letter or digit", ErrInvalidName)
	}
	out := b.String()
	if strings.HasPrefix(strings.ToLower(out), guestPrefix) {
		return "", fmt.Errorf("%w: names starting with %q are reserved for guests", ErrInvalidName, guestPrefix)
	}
	return out, nil
}

// GuestName returns a generated guest name such as "guest-7f3a2c" (24 random
// bits, so collisions stay rare in a busy room). It reads randomness from r,
// or from crypto/rand when r is nil or fails.
func GuestName(r io.Reader) string {
	var b [3]byte
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	}
	return guestPrefix + hex.EncodeToString(b[:])
}

// maxUserBytes bounds a user name carried in a token (JWT names and subjects
// may be longer than a display name chosen in dev mode).
const maxUserBytes = 256

// cleanUser checks a user name that came from a trusted source (a verified
// token): trimmed, non-empty, valid UTF-8, bounded, no control or format
// characters. It returns "" when the name is unusable.
func cleanUser(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxUserBytes || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ""
		}
	}
	return s
}
