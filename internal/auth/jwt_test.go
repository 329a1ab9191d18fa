package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func enc(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// mint builds a JWT; key is a string (HS256 secret), *rsa.PrivateKey,
// *ecdsa.PrivateKey, or nil (empty signature).
func mint(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	signed := enc(header) + "." + enc(claims)
	var sig []byte
	switch k := key.(type) {
	case nil:
	case string:
		m := hmac.New(sha256.New, []byte(k))
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		h := sha256.Sum256([]byte(signed))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(signed))
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		t.Fatalf("bad key %T", key)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hdr(alg string) map[string]any { return map[string]any{"alg": alg, "typ": "JWT"} }

func claimsAt(now time.Time) map[string]any {
	return map[string]any{"sub": "user-1", "name": "Ana", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func pubPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustVerifier(t testing.TB, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWTAlgorithms(t *testing.T) {
	keys(t)
	type tc struct {
		name string
		cfg  JWTConfig
		alg  string
		key  any // signing key for a valid token
		bad  any // a different key of the same kind
	}
	cases := []tc{
		{"HS256", JWTConfig{HS256Secret: testSecret}, "HS256", testSecret, strings.Repeat("z", 32)},
		{"RS256", JWTConfig{PublicKeyPEM: pubPEM(t, &rsaKey.PublicKey)}, "RS256", rsaKey, rsaKey2},
		{"ES256", JWTConfig{PublicKeyFile: writeFile(t, "ec.pem", pubPEM(t, &ecKey.PublicKey))}, "ES256", ecKey, ecKey2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustVerifier(t, c.cfg)

			id, err := v.Verify(mint(t, hdr(c.alg), claimsAt(t0), c.key), t0)
			if err != nil {
				t.Fatalf("valid token: %v", err)
			}
			if id.User != "Ana" || id.Guest || !id.Expires.Equal(t0.Add(time.Hour)) {
				t.Fatalf("identity %+v", id)
			}

			cl := claimsAt(t0)
			delete(cl, "name")
			if id, err := v.Verify(mint(t, hdr(c.alg), cl, c.key), t0); err != nil || id.User != "user-1" {
				t.Fatalf("sub fallback: %+v %v", id, err)
			}

			// Expired (beyond the 30 s default skew), and within skew.
			cl = claimsAt(t0)
			cl["exp"] = t0.Add(-31 * time.Second).Unix()
			if _, err := v.Verify(mint(t, hdr(c.alg), cl, c.key), t0); !errors.Is(err, ErrExpired) {
				t.Fatalf("expired: %v", err)
			}
			cl["exp"] = t0.Add(-29 * time.Second).Unix()
			if _, err := v.Verify(mint(t, hdr(c.alg), cl, c.key), t0); err != nil {
				t.Fatalf("expired within skew: %v", err)
			}

			// nbf in the future, and within skew.
			cl = claimsAt(t0)
			cl["nbf"] = t0.Add(time.Minute).Unix()
			if _, err := v.Verify(mint(t, hdr(c.alg), cl, c.key), t0); !errors.Is(err, ErrNotYetValid) {
				t.Fatalf("nbf future: %v", err)
			}
			cl["nbf"] = t0.Add(20 * time.Second).Unix()
			if _, err := v.Verify(mint(t, hdr(c.alg), cl, c.key), t0); err != nil {
				t.Fatalf("nbf within skew: %v", err)
			}

			// Signed by another key.
			if _, err := v.Verify(mint(t, hdr(c.alg), claimsAt(t0), c.bad), t0); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("wrong key: %v", err)
			}

			// Tampered claims with the original signature.
			tok := mint(t, hdr(c.alg), claimsAt(t0), c.key)
			parts := strings.Split(tok, ".")
			cl = claimsAt(t0)
			cl["name"] = "Mallory"
			forged := parts[0] + "." + enc(cl) + "." + parts[2]
			if _, err := v.Verify(forged, t0); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("tampered claims: %v", err)
			}
			// Flip each byte of the signature.
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			for i := range sig {
				s2 := append([]byte(nil), sig...)
				s2[i] ^= 0x01
				bad := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(s2)
				if _, err := v.Verify(bad, t0); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("flipped sig byte %d: %v", i, err)
				}
			}
			// Stripped signature.
			if _, err := v.Verify(parts[0]+"."+parts[1]+".", t0); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("no signature: %v", err)
			}

			// alg=none, in any spelling, is refused.
			for _, none := range []string{"none", "None", "NONE", ""} {
				if _, err := v.Verify(mint(t, hdr(none), claimsAt(t0), nil), t0); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("alg %q: %v", none, err)
				}
			}
			// Other algorithms than the configured key's are refused even
			// when correctly signed for that algorithm.
			for _, other := range []struct {
				alg string
				key any
			}{{"HS256", testSecret}, {"RS256", rsaKey}, {"ES256", ecKey}} {
				if other.alg == c.alg {
					continue
				}
				if _, err := v.Verify(mint(t, hdr(other.alg), claimsAt(t0), other.key), t0); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("alg %s against %s config: %v", other.alg, c.alg, err)
				}
			}
		})
	}
}

// The classic confusion attack: the public key (which is public) used as
// an HMAC secret, with the header switched to HS256.
func TestJWTAlgConfusionRefused(t *testing.T) {
	keys(t)
	pemBytes := pubPEM(t, &rsaKey.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	v := mustVerifier(t, JWTConfig{PublicKeyFile: writeFile(t, "rsa.pem", pemBytes)})
	for _, secret := range [][]byte{pemBytes, der} {
		tok := mint(t, hdr("HS256"), claimsAt(t0), secret)
		if _, err := v.Verify(tok, t0); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("HS256 token keyed with the RSA public key: %v", err)
		}
	}
	ev := mustVerifier(t, JWTConfig{PublicKeyPEM: pubPEM(t, &ecKey.PublicKey)})
	if _, err := ev.Verify(mint(t, hdr("HS256"), claimsAt(t0), pubPEM(t, &ecKey.PublicKey)), t0); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("HS256 token keyed with the EC public key: %v", err)
	}
}

func TestJWTClaims(t *testing.T) {
	v := mustVerifier(t, JWTConfig{HS256Secret: testSecret, Issuer: "https://idp.example", Audience: "tickroom"})
	base := func() map[string]any {
		c := claimsAt(t0)
		c["iss"] = "https://idp.example"
		c["aud"] = "tickroom"
		return c
	}
	type tc struct {
		name   string
		mut    func(map[string]any)
		header map[string]any
		want   error // nil: valid
		user   string
	}
	cases := []tc{
		{name: "valid", mut: func(map[string]any) {}, user: "Ana"},
		{name: "aud array", mut: func(c map[string]any) { c["aud"] = []string{"other", "tickroom"} }, user: "Ana"},
		{name: "aud wrong", mut: func(c map[string]any) { c["aud"] = "other" }, want: ErrInvalidToken},
		{name: "aud missing", mut: func(c map[string]any) { delete(c, "aud") }, want: ErrInvalidToken},
		{name: "iss wrong", mut: func(c map[string]any) { c["iss"] = "https://evil.example" }, want: ErrInvalidToken},
		{name: "iss missing", mut: func(c map[string]any) { delete(c, "iss") }, want: ErrInvalidToken},
		{name: "exp missing", mut: func(c map[string]any) { delete(c, "exp") }, want: ErrInvalidToken},
		{name: "exp string", mut: func(c map[string]any) { c["exp"] = "tomorrow" }, want: ErrInvalidToken},
		{name: "exp huge", mut: func(c map[string]any) { c["exp"] = 1e300 }, want: ErrInvalidToken},
		{name: "exp fractional", mut: func(c map[string]any) { c["exp"] = float64(t0.Unix()) + 3600.5 }, user: "Ana"},
		{name: "no name no sub", mut: func(c map[string]any) { delete(c, "name"); delete(c, "sub") }, want: ErrInvalidToken},
		{name: "blank name uses sub", mut: func(c map[string]any) { c["name"] = "  " }, user: "user-1"},
		{name: "control chars in name uses sub", mut: func(c map[string]any) { c["name"] = "An\na" }, user: "user-1"},
		{name: "sub number", mut: func(c map[string]any) { c["sub"] = 42 }, want: ErrInvalidToken},
		{name: "roles odd shape ignored", mut: func(c map[string]any) { c["roles"] = map[string]any{"x": 1} }, user: "Ana"},
		{name: "crit header", mut: func(map[string]any) {}, header: map[string]any{"alg": "HS256", "crit": []string{"exp"}}, want: ErrInvalidToken},
		{name: "alg lowercase", mut: func(map[string]any) {}, header: map[string]any{"alg": "hs256"}, want: ErrInvalidToken},
		{name: "alg HS512", mut: func(map[string]any) {}, header: map[string]any{"alg": "HS512"}, want: ErrInvalidToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := base()
			c.mut(cl)
			h := c.header
			if h == nil {
				h = hdr("HS256")
			}
			id, err := v.Verify(mint(t, h, cl, testSecret), t0)
			if c.want == nil {
				if err != nil || id.User != c.user {
					t.Fatalf("got %+v, %v; want user %q", id, err, c.user)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestJWTRoles(t *testing.T) {
	v := mustVerifier(t, JWTConfig{HS256Secret: testSecret})
	cl := claimsAt(t0)
	cl["roles"] = []string{"admin", "trader"}
	id, err := v.Verify(mint(t, hdr("HS256"), cl, testSecret), t0)
	if err != nil || !id.HasRole("admin") || !id.HasRole("trader") {
		t.Fatalf("%+v %v", id, err)
	}
	cl["roles"] = "admin"
	id, err = v.Verify(mint(t, hdr("HS256"), cl, testSecret), t0)
	if err != nil || len(id.Roles) != 1 || id.Roles[0] != "admin" {
		t.Fatalf("%+v %v", id, err)
	}
}

func TestJWTSkewConfig(t *testing.T) {
	cl := claimsAt(t0)
	cl["exp"] = t0.Add(-5 * time.Second).Unix()
	tok := mint(t, hdr("HS256"), cl, testSecret)
	if _, err := mustVerifier(t, JWTConfig{HS256Secret: testSecret, Skew: -1}).Verify(tok, t0); !errors.Is(err, ErrExpired) {
		t.Fatalf("no skew: %v", err)
	}
	if _, err := mustVerifier(t, JWTConfig{HS256Secret: testSecret, Skew: 10 * time.Second}).Verify(tok, t0); err != nil {
		t.Fatalf("10s skew: %v", err)
	}
}

func TestJWTMalformed(t *testing.T) {
	v := mustVerifier(t, JWTConfig{HS256Secret: testSecret})
	good := mint(t, hdr("HS256"), claimsAt(t0), testSecret)
	p := strings.Split(good, ".")
	for _, bad := range []string{
		"", ".", "..", "...", "a.b.c", good + ".", good + "=", p[0] + "." + p[1], strings.Repeat("a", maxTokenLen+1),
		p[0] + "=." + p[1] + "." + p[2], // padding
		"e30." + p[1] + "." + p[2],      // {} header
		base64.RawURLEncoding.EncodeToString([]byte("null")) + "." + p[1] + "." + p[2],
		p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("[]")) + "." + p[2],
	} {
		if _, err := v.Verify(bad, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%.60q) err = %v", bad, err)
		}
	}
	// Non-JSON claims under a valid signature.
	signed := p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("not json"))
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(signed))
	if _, err := v.Verify(signed+"."+base64.RawURLEncoding.EncodeToString(m.Sum(nil)), t0); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("signed garbage claims: %v", err)
	}
}

func jwkOf(t testing.TB, kid string, pub any) map[string]any {
	t.Helper()
	b := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b(k.N.Bytes()), "e": b(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b(raw[1:33]), "y": b(raw[33:])}
	}
	t.Fatalf("bad key %T", pub)
	return nil
}

func TestJWKS(t *testing.T) {
	keys(t)
	set := map[string]any{"keys": []any{
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}, // skipped
		map[string]any{"kty": "OKP", "kid": "ed", "crv": "Ed25519"}, // skipped
		func() map[string]any { k := jwkOf(t, "enc", &rsaKey2.PublicKey); k["use"] = "enc"; return k }(),
		jwkOf(t, "r1", &rsaKey.PublicKey),
		jwkOf(t, "e1", &ecKey.PublicKey),
	}}
	js, _ := json.Marshal(set)
	v := mustVerifier(t, JWTConfig{JWKSFile: writeFile(t, "jwks.json", js)})

	withKid := func(alg, kid string) map[string]any { h := hdr(alg); h["kid"] = kid; return h }
	if _, err := v.Verify(mint(t, withKid("RS256", "r1"), claimsAt(t0), rsaKey), t0); err != nil {
		t.Fatalf("RS256 kid r1: %v", err)
	}
	if _, err := v.Verify(mint(t, withKid("ES256", "e1"), claimsAt(t0), ecKey), t0); err != nil {
		t.Fatalf("ES256 kid e1: %v", err)
	}
	if _, err := v.Verify(mint(t, hdr("ES256"), claimsAt(t0), ecKey), t0); err != nil {
		t.Fatalf("ES256 without kid: %v", err)
	}
	for name, tok := range map[string]string{
		"unknown kid":        mint(t, withKid("RS256", "nope"), claimsAt(t0), rsaKey),
		"kid of other alg":   mint(t, withKid("RS256", "e1"), claimsAt(t0), rsaKey),
		"enc-only key":       mint(t, withKid("RS256", "enc"), claimsAt(t0), rsaKey2),
		"HS256 oct skipped":  mint(t, withKid("HS256", "sym"), claimsAt(t0), "secret"),
		"wrong key for kid":  mint(t, withKid("RS256", "r1"), claimsAt(t0), rsaKey2),
		"alg none":           mint(t, withKid("none", "r1"), claimsAt(t0), nil),
		"HS256 with jwk n":   mint(t, withKid("HS256", "r1"), claimsAt(t0), rsaKey.PublicKey.N.Bytes()),
		"ES256 signed by e2": mint(t, withKid("ES256", "e1"), claimsAt(t0), ecKey2),
	} {
		if _, err := v.Verify(tok, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestNewJWTVerifierErrors(t *testing.T) {
	keys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	emptyJWKS := writeFile(t, "empty.json", []byte(`{"keys":[{"kty":"oct","k":"AA"}]}`))
	badJWKS := writeFile(t, "bad.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	offCurve := writeFile(t, "off.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"`+strings.Repeat("A", 43)+`","y":"`+strings.Repeat("A", 43)+`"}]}`))
	for name, cfg := range map[string]JWTConfig{
		"nothing":        {},
		"short secret":   {HS256Secret: "short"},
		"two sources":    {HS256Secret: testSecret, JWKSFile: emptyJWKS},
		"file and pem":   {PublicKeyFile: "x", PublicKeyPEM: []byte("x")},
		"missing file":   {PublicKeyFile: filepath.Join(t.TempDir(), "missing.pem")},
		"missing jwks":   {JWKSFile: filepath.Join(t.TempDir(), "missing.json")},
		"not pem":        {PublicKeyPEM: []byte("hello")},
		"private key":    {PublicKeyPEM: privPEM},
		"rsa 1024":       {PublicKeyPEM: pubPEM(t, &small.PublicKey)},
		"p384":           {PublicKeyPEM: pubPEM(t, &p384.PublicKey)},
		"jwks no usable": {JWKSFile: emptyJWKS},
		"jwks bad key":   {JWKSFile: badJWKS},
		"jwks off curve": {JWKSFile: offCurve},
		"jwks not json":  {JWKSFile: writeFile(t, "nj.json", []byte("nope"))},
	} {
		if _, err := NewJWTVerifier(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A certificate and a PKCS#1 key are accepted as public keys.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][]byte{
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		"pkcs1":       pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}),
	} {
		v, err := NewJWTVerifier(JWTConfig{PublicKeyPEM: p})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := v.Verify(mint(t, hdr("RS256"), claimsAt(t0), rsaKey), t0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func FuzzJWTVerify(f *testing.F) {
	keys(f)
	jwks, _ := json.Marshal(map[string]any{"keys": []any{jwkOf(f, "r1", &rsaKey.PublicKey), jwkOf(f, "e1", &ecKey.PublicKey)}})
	verifiers := []*JWTVerifier{
		mustVerifier(f, JWTConfig{HS256Secret: testSecret, Issuer: "i", Audience: "a"}),
		mustVerifier(f, JWTConfig{PublicKeyPEM: pubPEM(f, &rsaKey.PublicKey)}),
		mustVerifier(f, JWTConfig{PublicKeyPEM: pubPEM(f, &ecKey.PublicKey)}),
		mustVerifier(f, JWTConfig{JWKSFile: writeFile(f, "jwks.json", jwks)}),
	}
	f.Add(mint(f, hdr("HS256"), claimsAt(t0), testSecret))
	f.Add(mint(f, hdr("RS256"), claimsAt(t0), rsaKey))
	f.Add(mint(f, hdr("ES256"), claimsAt(t0), ecKey))
	f.Add(mint(f, hdr("none"), claimsAt(t0), nil))
	f.Add("e30.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range verifiers {
			if id, err := v.Verify(s, t0); err == nil && id.User == "" {
				t.Fatalf("accepted %q with empty user", s)
			}
		}
	})
}
