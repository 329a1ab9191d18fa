package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// jwksServer serves a JWK set that the test can swap, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	code int
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	s := &jwksServer{code: http.StatusOK}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, code := s.body, s.code
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...map[string]any) {
	t.Helper()
	js, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = js
	s.mu.Unlock()
}

// noKeepAlive keeps no idle connection, so no transport goroutine outlives
// the test (goleak).
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

// noLeaks checks, after every other cleanup (the servers' Close), that the
// test left no goroutine behind: Close must end the JWKS refresher.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func withKid(alg, kid string) map[string]any { h := hdr(alg); h["kid"] = kid; return h }

// A JWKS from a URL: fetched at start, again on an unknown kid (a key
// rotation) but at most once per JWKSUnknownKID, and on schedule in the
// background until Close.
func TestJWKSURL(t *testing.T) {
	noLeaks(t)
	keys(t)
	srv := newJWKSServer(t, jwkOf(t, "r1", &rsaKey.PublicKey))
	v, err := NewJWTVerifier(JWTConfig{JWKSURL: srv.URL, JWKSUnknownKID: time.Hour, HTTPClient: noKeepAlive})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(mint(t, withKid("RS256", "r1"), claimsAt(t0), rsaKey), t0); err != nil {
		t.Fatalf("kid r1: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after start and one token, want 1", n)
	}

	// The provider rotates to r2 and e2: the first token naming one
	// fetches the set again.
	srv.set(t, jwkOf(t, "r2", &rsaKey2.PublicKey), jwkOf(t, "e2", &ecKey2.PublicKey))
	if _, err := v.Verify(mint(t, withKid("RS256", "r2"), claimsAt(t0), rsaKey2), t0); err != nil {
		t.Fatalf("kid r2 after rotation: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", n)
	}
	// Now cached: no fetch.
	if _, err := v.Verify(mint(t, withKid("ES256", "e2"), claimsAt(t0), ecKey2), t0); err != nil {
		t.Fatalf("kid e2: %v", err)
	}
	// The refresh replaced the set: r1 is gone (revoked keys stop working).
	// Unknown kids within the hour are refused at once, with no fetch.
	start := time.Now()
	for _, kid := range []string{"r1", "nope", "nope2"} {
		if _, err := v.Verify(mint(t, withKid("RS256", kid), claimsAt(t0), rsaKey), t0); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("kid %s: err = %v, want ErrInvalidToken", kid, err)
		}
	}
	// A limiter that waited would block for JWKSUnknownKID (an hour):
	// the bound only has to tell refusing from waiting.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("refusing three unknown kids took %v: the rate limit must refuse, not wait", d)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches after unknown kids inside the limit, want still 2", n)
	}
	// Without a kid every usable key is tried.
	if _, err := v.Verify(mint(t, hdr("ES256"), claimsAt(t0), ecKey2), t0); err != nil {
		t.Fatalf("ES256 without kid: %v", err)
	}
	// Algorithm rules hold as for a file: none and HS256 are refused.
	for _, tok := range []string{
		mint(t, withKid("none", "r2"), claimsAt(t0), nil),
		mint(t, withKid("HS256", "r2"), claimsAt(t0), rsaKey2.PublicKey.N.Bytes()),
	} {
		if _, err := v.Verify(tok, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("err = %v, want ErrInvalidToken", err)
		}
	}
}

func TestJWKSURLBackgroundRefresh(t *testing.T) {
	noLeaks(t)
	keys(t)
	srv := newJWKSServer(t, jwkOf(t, "r1", &rsaKey.PublicKey))
	v, err := NewJWTVerifier(JWTConfig{JWKSURL: srv.URL, JWKSRefresh: 20 * time.Millisecond, JWKSUnknownKID: time.Hour, HTTPClient: noKeepAlive})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, withKid("RS256", "r1"), claimsAt(t0), rsaKey)
	if _, err := v.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	// The provider revokes r1; the scheduled refresh drops it.
	srv.set(t, jwkOf(t, "e1", &ecKey.PublicKey))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := v.Verify(tok, t0); errors.Is(err, ErrInvalidToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("r1 still accepted 5s after the provider dropped it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := v.Verify(mint(t, withKid("ES256", "e1"), claimsAt(t0), ecKey), t0); err != nil {
		t.Fatalf("e1 after the refresh: %v", err)
	}
	// Close ends the refresh goroutine (goleak checks it is gone).
	v.Close()
	time.Sleep(60 * time.Millisecond)
	n := srv.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if m := srv.hits.Load(); m != n {
		t.Errorf("%d fetches after Close, want none", m-n)
	}
}

func TestJWKSURLErrors(t *testing.T) {
	noLeaks(t)
	keys(t)
	broken := newJWKSServer(t)
	broken.mu.Lock()
	broken.code, broken.body = http.StatusInternalServerError, []byte("oops")
	broken.mu.Unlock()
	notJSON := newJWKSServer(t)
	notJSON.mu.Lock()
	notJSON.body = []byte("<html>")
	notJSON.mu.Unlock()
	for name, cfg := range map[string]JWTConfig{
		"500":            {JWKSURL: broken.URL},
		"not json":       {JWKSURL: notJSON.URL},
		"not a url":      {JWKSURL: "::nope"},
		"url and file":   {JWKSURL: notJSON.URL, JWKSFile: "x.json"},
		"url and secret": {JWKSURL: notJSON.URL, HS256Secret: testSecret},
	} {
		cfg.HTTPClient = noKeepAlive
		if v, err := NewJWTVerifier(cfg); err == nil {
			v.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

// Base64 decoders skip line breaks; a token with one is refused, not read
// as the token without it.
func TestJWTLineBreaks(t *testing.T) {
	v := mustVerifier(t, JWTConfig{HS256Secret: testSecret})
	good := mint(t, hdr("HS256"), claimsAt(t0), testSecret)
	if _, err := v.Verify(good, t0); err != nil {
		t.Fatal(err)
	}
	for _, br := range []string{"\n", "\r\n", "\r", " ", "\t"} {
		for _, at := range []int{5, strings.Index(good, ".") + 1, len(good) - 3} {
			bad := good[:at] + br + good[at:]
			if _, err := v.Verify(bad, t0); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("token with %q at %d: err = %v", br, at, err)
			}
		}
	}
}
