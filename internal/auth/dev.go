package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// KeySize is the length in bytes of a dev session key.
const KeySize = 32

// KeyFileName is the file under the data directory that holds the key.
const KeyFileName = "session.key"

// DefaultSessionTTL is the session lifetime used when NewDevSessions gets 0.
const DefaultSessionTTL = 24 * time.Hour

// maxTokenLen bounds any token accepted by this package, before any
// decoding work is done.
const maxTokenLen = 8 << 10

// b64 is the only encoding used in tokens: base64url without padding, in
// strict mode so a token has exactly one textual form (no malleable
// trailing bits).
var b64 = base64.RawURLEncoding.Strict()

// LoadOrCreateKey returns the session signing key stored in
// <dataDir>/session.key, creating the directory (0700) and a new random
// 32-byte key (file mode 0600) on first use. Later calls, including after a
// restart, return the same key, so issued sessions stay valid. Concurrent
// first calls from several processes agree on one key. A key file of the
// wrong size is an error, never silently replaced.
func LoadOrCreateKey(dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("auth: session key: empty data directory")
	}
	path := filepath.Join(dataDir, KeyFileName)
	if key, err := readKey(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	// Write a complete temporary file, then hard-link it into place: the
	// link fails if another process won the race, and nobody ever reads a
	// half-written key.
	tmp, err := os.CreateTemp(dataDir, KeyFileName+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path) // somebody else created it first: use theirs
		}
		// File systems without hard links: fall back to O_EXCL.
		f, err2 := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err2 != nil {
			if errors.Is(err2, fs.ErrExist) {
				return readKey(path)
			}
			return nil, fmt.Errorf("auth: session key: %w", err2)
		}
		_, err2 = f.Write(key)
		if err3 := f.Close(); err2 == nil {
			err2 = err3
		}
		if err2 != nil {
			return nil, fmt.Errorf("auth: session key: %w", err2)
		}
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: session key: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("auth: session key %s: %d bytes, want %d (remove the file to create a new key; existing sessions end)", path, len(key), KeySize)
	}
	return key, nil
}

// DevSessions issues and verifies the gateway's own session tokens.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(key, "tickroom.session.v1." + base64url(payload)))
// where payload is the JSON object {"v":1,"u":user,"exp":unix-seconds}
// plus "g":true for guests and "r":[roles] when there are roles. Tokens are
// URL-safe (usable in a cookie or ?token= unescaped) and carry no secret;
// anyone holding one is that user until it expires.
type DevSessions struct {
	key []byte
	ttl time.Duration
}

// NewDevSessions returns a session issuer/verifier signing with key (at
// least 32 bytes in production; see LoadOrCreateKey). ttl is the session
// lifetime; 0 means DefaultSessionTTL. It panics on an empty key or a
// negative ttl, which are programming errors.
func NewDevSessions(key []byte, ttl time.Duration) *DevSessions {
	if len(key) == 0 {
		panic("auth: NewDevSessions: empty key")
	}
	if ttl < 0 {
		panic("auth: NewDevSessions: negative ttl")
	}
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	return &DevSessions{key: bytes.Clone(key), ttl: ttl}
}

// TTL returns the session lifetime.
func (d *DevSessions) TTL() time.Duration { return d.ttl }

// Issue signs a session for the display name chosen by a user, validated
// and normalized by ValidName (the returned Identity holds the normalized
// name). The session expires TTL after now (truncated to the second).
func (d *DevSessions) Issue(name string, now time.Time) (string, Identity, error) {
	user, err := ValidName(name)
	if err != nil {
		return "", Identity{}, err
	}
	return d.IssueIdentity(Identity{User: user}, now)
}

// IssueGuest signs a session for a new guest with a name from GuestName(r).
func (d *DevSessions) IssueGuest(r io.Reader, now time.Time) (string, Identity, error) {
	return d.IssueIdentity(Identity{User: GuestName(r), Guest: true}, now)
}

// IssueIdentity signs a session for an identity verified elsewhere (for
// example a provider JWT exchanged at sign-in for a session cookie). The
// session expires at now+TTL or at id.Expires, whichever comes first. The
// user name is not held to ValidName's display-name rules, only to the
// looser rules applied to names found in tokens.
func (d *DevSessions) IssueIdentity(id Identity, now time.Time) (string, Identity, error) {
	user := cleanUser(id.User)
	if user == "" || user != id.User {
		return "", Identity{}, fmt.Errorf("%w: unusable user name %q", ErrInvalidName, id.User)
	}
	exp := now.Add(d.ttl).Unix()
	if !id.Expires.IsZero() && id.Expires.Unix() < exp {
		exp = id.Expires.Unix()
	}
	if exp <= now.Unix() {
		return "", Identity{}, fmt.Errorf("%w: identity already expired", ErrExpired)
	}
	p := devPayload{V: 1, U: user, Exp: exp, G: id.Guest, R: slices.Clone(id.Roles)}
	js, err := json.Marshal(p)
	if err != nil {
		return "", Identity{}, fmt.Errorf("auth: issue: %w", err)
	}
	body := b64.EncodeToString(js)
	tok := body + "." + b64.EncodeToString(d.sign(body))
	if len(tok) > maxTokenLen {
		return "", Identity{}, fmt.Errorf("auth: issue: token too long (%d bytes)", len(tok))
	}
	return tok, p.identity(), nil
}

// Verify checks a token made by Issue* under the same key: signature
// (constant-time comparison), format version, and expiry (a token is
// expired from its "exp" second on). Errors wrap ErrInvalidToken or
// ErrExpired. It never panics.
func (d *DevSessions) Verify(token string, now time.Time) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > maxTokenLen {
		return Identity{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	// Only the base64url alphabet and one dot: Go's base64 decoder skips
	// '\r' and '\n', which would give one token many accepted spellings.
	if strings.IndexFunc(token, func(r rune) bool { return !isB64URL(r) && r != '.' }) >= 0 {
		return Identity{}, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	body, sigText, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(sigText, ".") {
		return Identity{}, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	sig, err := b64.DecodeString(sigText)
	if err != nil || len(sig) != sha256.Size {
		return Identity{}, fmt.Errorf("%w: malformed signature", ErrInvalidToken)
	}
	if !hmac.Equal(sig, d.sign(body)) {
		return Identity{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	// Signed by us from here on; still parse defensively.
	js, err := b64.DecodeString(body)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: malformed payload", ErrInvalidToken)
	}
	var p devPayload
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() {
		return Identity{}, fmt.Errorf("%w: malformed payload", ErrInvalidToken)
	}
	if p.V != 1 {
		return Identity{}, fmt.Errorf("%w: unsupported version %d", ErrInvalidToken, p.V)
	}
	if p.U == "" || cleanUser(p.U) != p.U {
		return Identity{}, fmt.Errorf("%w: bad user", ErrInvalidToken)
	}
	if now.Unix() >= p.Exp {
		return Identity{}, fmt.Errorf("%w: at %s", ErrExpired, time.Unix(p.Exp, 0).UTC().Format(time.RFC3339))
	}
	return p.identity(), nil
}

func isB64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// sign computes the MAC of a token's payload part. The prefix keeps these
// MACs from ever being valid for another use of the same key.
func (d *DevSessions) sign(body string) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("tickroom.session.v1."))
	m.Write([]byte(body))
	return m.Sum(nil)
}

type devPayload struct {
	V   int      `json:"v"`
	U   string   `json:"u"`
	Exp int64    `json:"exp"`
	G   bool     `json:"g,omitempty"`
	R   []string `json:"r,omitempty"`
}

func (p devPayload) identity() Identity {
	return Identity{User: p.U, Guest: p.G, Expires: time.Unix(p.Exp, 0).UTC(), Roles: slices.Clone(p.R)}
}
