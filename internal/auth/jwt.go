package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"strings"
	"time"
)

// DefaultJWTSkew is the clock skew tolerated on exp and nbf when
// JWTConfig.Skew is 0.
const DefaultJWTSkew = 30 * time.Second

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// JWTConfig selects how provider tokens are verified. Exactly one key
// source must be set: HS256Secret, PublicKeyFile/PublicKeyPEM, or JWKSFile.
// The key source fixes the accepted algorithm: a secret accepts only HS256,
// an RSA key only RS256, a P-256 key only ES256, and a JWKS key only the
// algorithm of its own type. Tokens naming any other "alg" (including
// "none") are refused, which rules out algorithm-confusion attacks.
type JWTConfig struct {
	// HS256Secret is a shared secret of at least 32 bytes.
	HS256Secret string
	// PublicKeyFile is a PEM file holding an RSA (≥ 2048 bits) or ECDSA
	// P-256 public key ("PUBLIC KEY", "RSA PUBLIC KEY") or a certificate.
	PublicKeyFile string
	// PublicKeyPEM is the same as PublicKeyFile, given inline.
	PublicKeyPEM []byte
	// JWKSFile is a JSON Web Key Set file ({"keys":[…]}) with RSA and/or
	// EC P-256 signing keys; a token's "kid" selects the key. The file is
	// read once, by NewJWTVerifier.
	JWKSFile string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be in the token's "aud" (string or array).
	Audience string
	// Skew is the clock skew tolerated on "exp" and "nbf": 0 means
	// DefaultJWTSkew, a negative value means none.
	Skew time.Duration
}

// JWTVerifier verifies provider JWTs (JWS compact serialization). It
// requires "exp"; checks "nbf", "iss", "aud" as configured; and takes the
// user name from "name", else "sub". A "roles" claim (array of strings or a
// single string) becomes Identity.Roles. Safe for concurrent use.
type JWTVerifier struct {
	secret   []byte            // HS256
	keys     []verificationKey // RS256 / ES256
	issuer   string
	audience string
	skew     time.Duration
}

type verificationKey struct {
	kid string
	alg string // "RS256" or "ES256"
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// NewJWTVerifier builds a verifier, reading key files now.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	sources := 0
	for _, set := range []bool{cfg.HS256Secret != "", cfg.PublicKeyFile != "" || len(cfg.PublicKeyPEM) > 0, cfg.JWKSFile != ""} {
		if set {
			sources++
		}
	}
	if cfg.PublicKeyFile != "" && len(cfg.PublicKeyPEM) > 0 {
		return nil, errors.New("auth: jwt: set PublicKeyFile or PublicKeyPEM, not both")
	}
	switch sources {
	case 0:
		return nil, errors.New("auth: jwt: no key configured (HS256 secret, public key file or JWKS file)")
	case 1:
	default:
		return nil, errors.New("auth: jwt: more than one key source configured; set exactly one of HS256 secret, public key file, JWKS file")
	}
	v := &JWTVerifier{issuer: cfg.Issuer, audience: cfg.Audience, skew: cfg.Skew}
	switch {
	case v.skew == 0:
		v.skew = DefaultJWTSkew
	case v.skew < 0:
		v.skew = 0
	}
	switch {
	case cfg.HS256Secret != "":
		if len(cfg.HS256Secret) < sha256.Size {
			return nil, fmt.Errorf("auth: jwt: HS256 secret is %d bytes, need at least %d", len(cfg.HS256Secret), sha256.Size)
		}
		v.secret = []byte(cfg.HS256Secret)
	case cfg.JWKSFile != "":
		data, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt: %w", err)
		}
		keys, err := parseJWKS(data)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt: %s: %w", cfg.JWKSFile, err)
		}
		v.keys = keys
	default:
		data, name := cfg.PublicKeyPEM, "public key"
		if cfg.PublicKeyFile != "" {
			var err error
			if data, err = os.ReadFile(cfg.PublicKeyFile); err != nil {
				return nil, fmt.Errorf("auth: jwt: %w", err)
			}
			name = cfg.PublicKeyFile
		}
		k, err := parsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt: %s: %w", name, err)
		}
		v.keys = []verificationKey{k}
	}
	return v, nil
}

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

type jwtClaims struct {
	Iss   string       `json:"iss"`
	Sub   string       `json:"sub"`
	Name  string       `json:"name"`
	Aud   stringList   `json:"aud"`
	Exp   *numericDate `json:"exp"`
	Nbf   *numericDate `json:"nbf"`
	Roles stringList   `json:"roles"`
}

// Verify checks a JWT's signature, then its claims, at time now. Errors
// wrap ErrInvalidToken, ErrExpired or ErrNotYetValid. It never panics.
func (v *JWTVerifier) Verify(token string, now time.Time) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > maxTokenLen {
		return Identity{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	if strings.IndexFunc(token, func(r rune) bool { return !isB64URL(r) && r != '.' }) >= 0 {
		return Identity{}, fmt.Errorf("%w: not a JWS compact token", ErrInvalidToken) // one spelling per token
	}
	h64, rest, _ := strings.Cut(token, ".")
	c64, s64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s64, ".") {
		return Identity{}, fmt.Errorf("%w: not a JWS compact token", ErrInvalidToken)
	}
	hjs, err := b64.DecodeString(h64)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: malformed header", ErrInvalidToken)
	}
	var h jwtHeader
	if err := json.Unmarshal(hjs, &h); err != nil {
		return Identity{}, fmt.Errorf("%w: malformed header", ErrInvalidToken)
	}
	if h.Crit != nil {
		return Identity{}, fmt.Errorf("%w: unsupported critical header", ErrInvalidToken)
	}
	sig, err := b64.DecodeString(s64)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: malformed signature", ErrInvalidToken)
	}
	if err := v.verifySignature(h, token[:len(h64)+1+len(c64)], sig); err != nil {
		return Identity{}, err
	}

	cjs, err := b64.DecodeString(c64)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	var c jwtClaims
	if err := json.Unmarshal(cjs, &c); err != nil {
		return Identity{}, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	if c.Exp == nil {
		return Identity{}, fmt.Errorf("%w: missing exp", ErrInvalidToken)
	}
	exp := c.Exp.t
	if !now.Before(exp.Add(v.skew)) {
		return Identity{}, fmt.Errorf("%w: at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if c.Nbf != nil && now.Add(v.skew).Before(c.Nbf.t) {
		return Identity{}, fmt.Errorf("%w: before %s", ErrNotYetValid, c.Nbf.t.UTC().Format(time.RFC3339))
	}
	if v.issuer != "" && c.Iss != v.issuer {
		return Identity{}, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	if v.audience != "" && !containsString(c.Aud, v.audience) {
		return Identity{}, fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	}
	user := cleanUser(c.Name)
	if user == "" {
		user = cleanUser(c.Sub)
	}
	if user == "" {
		return Identity{}, fmt.Errorf("%w: no usable name or sub claim", ErrInvalidToken)
	}
	return Identity{User: user, Expires: exp, Roles: []string(c.Roles)}, nil
}

func (v *JWTVerifier) verifySignature(h jwtHeader, signed string, sig []byte) error {
	if v.secret != nil {
		if h.Alg != "HS256" {
			return fmt.Errorf("%w: alg %q not accepted (want HS256)", ErrInvalidToken, h.Alg)
		}
		m := hmac.New(sha256.New, v.secret)
		m.Write([]byte(signed))
		if !hmac.Equal(sig, m.Sum(nil)) {
			return fmt.Errorf("%w: bad signature", ErrInvalidToken)
		}
		return nil
	}
	if h.Alg != "RS256" && h.Alg != "ES256" {
		return fmt.Errorf("%w: alg %q not accepted", ErrInvalidToken, h.Alg)
	}
	digest := sha256.Sum256([]byte(signed))
	tried := false
	for _, k := range v.keys {
		if k.alg != h.Alg || (h.Kid != "" && k.kid != "" && k.kid != h.Kid) {
			continue
		}
		tried = true
		if k.verify(digest[:], sig) {
			return nil
		}
	}
	if !tried {
		return fmt.Errorf("%w: no %s key matches kid %q", ErrInvalidToken, h.Alg, h.Kid)
	}
	return fmt.Errorf("%w: bad signature", ErrInvalidToken)
}

func (k verificationKey) verify(digest, sig []byte) bool {
	switch k.alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case "ES256":
		// JWS carries R||S, each 32 bytes big-endian (RFC 7518 §3.4), not DER.
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stringList decodes a JSON string or array of strings; for "roles", other
// shapes (provider-specific objects) are ignored rather than failing.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err == nil {
		*l = many
		return nil
	}
	*l = nil
	return nil
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional.
type numericDate struct{ t time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	// ±1e11 s is about ±3000 years: far enough, and keeps the conversion
	// to int64 exact.
	if math.IsNaN(f) || math.Abs(f) > 1e11 {
		return errors.New("numeric date out of range")
	}
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

func parsePublicKeyPEM(data []byte) (verificationKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return verificationKey{}, errors.New("no PEM public key or certificate found")
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return verificationKey{}, errors.New("file holds a private key; give the public key only")
			}
			continue
		}
		if err != nil {
			return verificationKey{}, err
		}
		return newVerificationKey(pub, "")
	}
}

func newVerificationKey(pub any, kid string) (verificationKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verificationKey{}, fmt.Errorf("RSA key of %d bits; need at least %d", k.N.BitLen(), minRSABits)
		}
		return verificationKey{kid: kid, alg: "RS256", rsa: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return verificationKey{}, fmt.Errorf("ECDSA key on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return verificationKey{kid: kid, alg: "ES256", ec: k}, nil
	default:
		return verificationKey{}, fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", pub)
	}
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads the RSA and EC P-256 signature keys of a JWK Set (RFC
// 7517). Keys for other uses, algorithms or types are skipped; a malformed
// key of a supported type is an error.
func parseJWKS(data []byte) ([]verificationKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	var out []verificationKey
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var (
			vk  verificationKey
			err error
		)
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			vk, err = jwkRSA(k)
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			vk, err = jwkEC(k)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		out = append(out, vk)
	}
	if len(out) == 0 {
		return nil, errors.New("no usable RS256 or ES256 signing key")
	}
	return out, nil
}

func jwkBytes(field, s string) ([]byte, error) {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad %q", field)
	}
	return b, nil
}

func jwkRSA(k jwk) (verificationKey, error) {
	n, err := jwkBytes("n", k.N)
	if err != nil {
		return verificationKey{}, err
	}
	e, err := jwkBytes("e", k.E)
	if err != nil {
		return verificationKey{}, err
	}
	e = bytes.TrimLeft(e, "\x00")
	if len(e) == 0 || len(e) > 4 {
		return verificationKey{}, errors.New(`bad "e"`)
	}
	var exp int64
	for _, c := range e {
		exp = exp<<8 | int64(c)
	}
	if exp < 3 || exp > math.MaxInt32 || exp%2 == 0 {
		return verificationKey{}, errors.New(`bad "e"`)
	}
	return newVerificationKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, k.Kid)
}

func jwkEC(k jwk) (verificationKey, error) {
	x, err := jwkBytes("x", k.X)
	if err != nil {
		return verificationKey{}, err
	}
	y, err := jwkBytes("y", k.Y)
	if err != nil {
		return verificationKey{}, err
	}
	if len(x) != 32 || len(y) != 32 {
		return verificationKey{}, errors.New("P-256 coordinates must be 32 bytes")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return verificationKey{}, err
	}
	return newVerificationKey(pub, k.Kid)
}
