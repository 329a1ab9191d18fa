package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickroom/tickroom/internal/protocol"
)

// TestJWKSURLSignIn runs a gateway with -jwt-jwks-url against a JWKS
// endpoint: a token signed by a published key connects; after the provider
// rotates to a new key, a token naming it connects too (the gateway fetches
// the set again on the unknown kid); a token signed by an unpublished key
// is closed with 1008. Shutdown ends the refresher (goleak in TestMain).
func TestJWKSURLSignIn(t *testing.T) {
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	jwk := func(kid string, k *ecdsa.PrivateKey) map[string]any {
		raw, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		b := base64.RawURLEncoding.EncodeToString
		return map[string]any{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid, "x": b(raw[1:33]), "y": b(raw[33:])}
	}
	k1, k2, rogue := newKey(), newKey(), newKey()

	var mu sync.Mutex
	published := []any{jwk("k1", k1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": published})
	}))
	t.Cleanup(srv.Close)

	cfg := testConfig(t)
	cfg.Dev = false
	cfg.JWT.JWKSURL = srv.URL
	n := startNode(t, cfg)

	mint := func(kid string, k *ecdsa.PrivateKey, user string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if u := dial(t, n, "ana", dialOpts{token: mint("k1", k1, "ana")}).welcome().User; u != "ana" {
		t.Fatalf("k1 token connected as %q, want ana", u)
	}
	mu.Lock()
	published = []any{jwk("k1", k1), jwk("k2", k2)}
	mu.Unlock()
	if u := dial(t, n, "bob", dialOpts{token: mint("k2", k2, "bob")}).welcome().User; u != "bob" {
		t.Fatalf("k2 token after the rotation connected as %q, want bob", u)
	}
	c := dial(t, n, "mallory", dialOpts{token: mint("k1", rogue, "mallory")})
	if code := c.closeCode(); code != protocol.ClosePolicy {
		t.Fatalf("token signed by an unpublished key: close %d, want %d", code, protocol.ClosePolicy)
	}
}
