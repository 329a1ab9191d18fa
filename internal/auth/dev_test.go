package auth

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestDevRoundTrip(t *testing.T) {
	d := NewDevSessions(testKey(1), time.Hour)
	tok, id, err := d.Issue("  Ana   María ", t0)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "Ana María" || id.Guest || !id.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("issued identity = %+v", id)
	}
	for _, c := range tok {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", c) {
			t.Fatalf("token %q has non URL-safe character %q", tok, c)
		}
	}
	got, err := d.Verify(tok, t0.Add(59*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.User != id.User || got.Guest || !got.Expires.Equal(id.Expires) {
		t.Fatalf("verified %+v, issued %+v", got, id)
	}
}

func TestDevDefaultTTL(t *testing.T) {
	d := NewDevSessions(testKey(1), 0)
	if d.TTL() != 24*time.Hour {
		t.Fatalf("ttl = %v", d.TTL())
	}
	_, id, err := d.Issue("bob", t0)
	if err != nil || !id.Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("id=%+v err=%v", id, err)
	}
}

func TestDevGuestAndIdentity(t *testing.T) {
	d := NewDevSessions(testKey(1), time.Hour)
	tok, id, err := d.IssueGuest(bytes.NewReader([]byte{0x7f, 0x3a, 0x2c}), t0)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "guest-7f3a2c" || !id.Guest {
		t.Fatalf("guest identity %+v", id)
	}
	got, err := d.Verify(tok, t0)
	if err != nil || got.User != "guest-7f3a2c" || !got.Guest {
		t.Fatalf("verify guest: %+v %v", got, err)
	}

	// An identity from a provider: expiry capped, roles kept, name rules loose.
	jwtExp := t0.Add(10 * time.Minute)
	tok, id, err = d.IssueIdentity(Identity{User: "auth0|123 O'Brien", Expires: jwtExp, Roles: []string{"admin"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err = d.Verify(tok, t0)
	if err != nil || got.User != "auth0|123 O'Brien" || !got.Expires.Equal(jwtExp) || !got.HasRole("admin") {
		t.Fatalf("verify identity: %+v %v (issued %+v)", got, err, id)
	}
	if _, err := d.Verify(tok, jwtExp); !errors.Is(err, ErrExpired) {
		t.Fatalf("after provider expiry: %v", err)
	}
	if _, _, err := d.IssueIdentity(Identity{User: "x", Expires: t0}, t0); !errors.Is(err, ErrExpired) {
		t.Fatalf("issuing an expired identity: %v", err)
	}
	for _, bad := range []string{"", " padded", "a\x00b", strings.Repeat("x", 300)} {
		if _, _, err := d.IssueIdentity(Identity{User: bad}, t0); !errors.Is(err, ErrInvalidName) {
			t.Errorf("IssueIdentity(%q) err = %v", bad, err)
		}
	}
}

func TestDevIssueRejectsBadName(t *testing.T) {
	d := NewDevSessions(testKey(1), time.Hour)
	for _, n := range []string{"", "   ", "a<b", "guest-1234", strings.Repeat("a", 33)} {
		if _, _, err := d.Issue(n, t0); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Issue(%q) err = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestDevExpiry(t *testing.T) {
	d := NewDevSessions(testKey(1), time.Minute)
	tok, _, err := d.Issue("ana", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(tok, t0.Add(time.Minute-time.Nanosecond)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	for _, at := range []time.Duration{time.Minute, time.Hour} {
		_, err := d.Verify(tok, t0.Add(at))
		if !errors.Is(err, ErrExpired) {
			t.Fatalf("at +%v: err = %v, want ErrExpired", at, err)
		}
		if errors.Is(err, ErrInvalidToken) {
			t.Fatalf("expired token also reported invalid: %v", err)
		}
	}
}

func TestDevTamper(t *testing.T) {
	d := NewDevSessions(testKey(1), time.Hour)
	tok, _, err := d.Issue("ana", t0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip every character of the token, one at a time, to every other
	// base64url character and to characters outside the alphabet.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
	for i := range len(tok) {
		for _, c := range alphabet {
			if byte(c) == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, err := d.Verify(bad, t0); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("tampered token (pos %d -> %q) err = %v, want ErrInvalidToken", i, c, err)
			}
		}
	}
	// Truncation and extension.
	body, sig, _ := strings.Cut(tok, ".")
	for _, bad := range []string{"", ".", body, body + ".", "." + sig, tok + ".", tok + "x", tok[:len(tok)-1], sig + "." + body, body + "." + sig + "." + sig, strings.Repeat("a", maxTokenLen+1)} {
		if _, err := d.Verify(bad, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%q) err = %v, want ErrInvalidToken", bad, err)
		}
	}
}

func TestDevWrongKey(t *testing.T) {
	tok, _, err := NewDevSessions(testKey(1), time.Hour).Issue("ana", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDevSessions(testKey(2), time.Hour).Verify(tok, t0); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
}

func TestDevKeyIsCopied(t *testing.T) {
	key := testKey(1)
	d := NewDevSessions(key, time.Hour)
	tok, _, _ := d.Issue("ana", t0)
	key[0] ^= 0xff
	if _, err := d.Verify(tok, t0); err != nil {
		t.Fatalf("caller's mutation of the key leaked in: %v", err)
	}
}

func TestLoadOrCreateKeySurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != KeySize || bytes.Equal(k1, make([]byte, KeySize)) {
		t.Fatalf("key %x", k1)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	tok, _, err := NewDevSessions(k1, time.Hour).Issue("ana", t0)
	if err != nil {
		t.Fatal(err)
	}

	// "Restart": a fresh load returns the same key, and old tokens verify.
	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("key changed across restart")
	}
	if _, err := NewDevSessions(k2, time.Hour).Verify(tok, t0); err != nil {
		t.Fatalf("token from before restart: %v", err)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("data dir holds %d entries, want just the key", len(ents))
	}
	// Different directories get different keys.
	k3, err := LoadOrCreateKey(t.TempDir())
	if err != nil || bytes.Equal(k1, k3) {
		t.Fatalf("second data dir: equal=%v err=%v", bytes.Equal(k1, k3), err)
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("concurrent first loads disagree on the key")
		}
	}
}

func TestLoadOrCreateKeyErrors(t *testing.T) {
	if _, err := LoadOrCreateKey(""); err == nil {
		t.Error("empty dir accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("truncated key file: err = %v", err)
	}
	// A data "directory" that is a file.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := LoadOrCreateKey(f); err == nil {
		t.Error("file as data dir accepted")
	}
}

func TestValidName(t *testing.T) {
	ok := map[string]string{
		"ana":                               "ana",
		"  ana  ":                           "ana",
		"Ana   María":                       "Ana María",
		"bob_the-3rd.":                      "bob_the-3rd.",
		"李小龙":                               "李小龙",
		"x":                                 "x",
		"7":                                 "7",
		"guest":                             "guest",
		"guesthouse":                        "guesthouse",
		"\tana\n":                           "ana",
		"a" + strings.Repeat("b", 31):       "a" + strings.Repeat("b", 31),
		"a" + strings.Repeat(" ", 40) + "b": "a b",
	}
	for in, want := range ok {
		got, err := ValidName(in)
		if err != nil || got != want {
			t.Errorf("ValidName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "   ", "a" + strings.Repeat("b", 32), "a\x00b", "a\tb", "a\nb", "a\u200bb", "<script>", "a/b", "a@b", "...", "-_-", "guest-1", "Guest-abc", "\xff\xfe", "ana😀", "a\u0301"}
	for _, in := range bad {
		if got, err := ValidName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %q, %v; want ErrInvalidName", in, got, err)
		}
	}
}

func TestGuestName(t *testing.T) {
	if g := GuestName(bytes.NewReader([]byte{0x7f, 0x3a, 0x00})); g != "guest-7f3a00" {
		t.Errorf("GuestName = %q", g)
	}
	// A failing reader falls back to crypto/rand.
	if g := GuestName(bytes.NewReader(nil)); !strings.HasPrefix(g, "guest-") || len(g) != len("guest-")+6 {
		t.Errorf("GuestName(empty reader) = %q", g)
	}
	seen := map[string]bool{}
	for range 50 {
		seen[GuestName(nil)] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct names in 50", len(seen))
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := FromContext(ctx); ok {
		t.Fatal("identity in empty context")
	}
	want := Identity{User: "ana", Roles: []string{"admin"}}
	got, ok := FromContext(WithIdentity(ctx, want))
	if !ok || got.User != "ana" || !got.HasRole("admin") || got.HasRole("root") {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
}

func TestIdentityExpired(t *testing.T) {
	if (Identity{}).Expired(t0) {
		t.Error("zero Expires reported expired")
	}
	id := Identity{Expires: t0}
	if id.Expired(t0.Add(-1)) || !id.Expired(t0) {
		t.Error("Expired boundary wrong")
	}
}

func FuzzDevVerify(f *testing.F) {
	d := NewDevSessions(testKey(1), time.Hour)
	tok, _, _ := d.Issue("ana", t0)
	gtok, _, _ := d.IssueGuest(strings.NewReader("abc"), t0) // deterministic: fuzz workers rebuild this
	for _, s := range []string{tok, gtok, "", ".", "a.b", tok + "x", "eyJ2IjoxfQ.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := d.Verify(s, t0)
		if err == nil {
			if id.User == "" {
				t.Fatalf("accepted %q with empty user", s)
			}
			// Only tokens that re-encode identically can verify (strict base64).
			if s != tok && s != gtok {
				t.Fatalf("accepted a token we never issued: %q", s)
			}
		}
	})
}

func TestNewDevSessionsPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"empty key":    func() { NewDevSessions(nil, time.Hour) },
		"negative ttl": func() { NewDevSessions(testKey(1), -time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// Go's base64 decoder skips line breaks: a token with one inserted must not
// pass as a second spelling of a valid token (found by FuzzDevVerify).
func TestVerifyRejectsLineBreaksInTokens(t *testing.T) {
	d := NewDevSessions(make([]byte, KeySize), time.Hour)
	now := time.Now()
	tok, _, err := d.Issue("ana", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(tok, now); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	for _, bad := range []string{tok[:10] + "\r" + tok[10:], tok[:len(tok)-3] + "\n" + tok[len(tok)-3:], tok + " "} {
		if _, err := d.Verify(bad, now); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
