package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// DefaultJWTSkew is the clock skew tolerated on exp and nbf when
// JWTConfig.Skew is 0.
const DefaultJWTSkew = 30 * time.Second

// Defaults for a JWKS fetched from a URL.
const (
	// DefaultJWKSRefresh is how often the key set is fetched again.
	DefaultJWKSRefresh = time.Hour
	// DefaultJWKSUnknownKID is the least time between two fetches caused
	// by tokens naming a kid the set does not hold (a key rotation seen
	// before the next scheduled refresh). Tokens with unknown kids in
	// between are refused at once, so they cannot make the gateway hammer
	// the identity provider.
	DefaultJWKSUnknownKID = time.Minute
	// jwksHTTPTimeout bounds one fetch of the key set.
	jwksHTTPTimeout = 10 * time.Second
)

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// JWTConfig selects how provider tokens are verified. Exactly one key
// source must be set: HS256Secret, PublicKeyFile/PublicKeyPEM, JWKSFile or
// JWKSURL. The key source fixes the accepted algorithms: a secret accepts
// only HS256, an RSA key only RS256, a P-256 key only ES256, and a JWKS
// RS256 and ES256 (each key only the algorithm of its own type). Tokens
// naming any other "alg" (including "none") are refused, which rules out
// algorithm-confusion attacks.
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
	// JWKSURL is an identity provider's JWKS endpoint. NewJWTVerifier
	// fetches it once (an error if that fails), then a goroutine fetches
	// it again every JWKSRefresh, and a token naming an unknown kid
	// fetches it at most once per JWKSUnknownKID. Close stops the
	// goroutine.
	JWKSURL string
	// JWKSRefresh is the scheduled refresh interval; 0 means
	// DefaultJWKSRefresh.
	JWKSRefresh time.Duration
	// JWKSUnknownKID is the least time between refreshes on an unknown
	// kid; 0 means DefaultJWKSUnknownKID.
	JWKSUnknownKID time.Duration
	// HTTPClient fetches JWKSURL; nil means one with a 10s timeout.
	HTTPClient *http.Client
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be in the token's "aud" (string or array).
	Audience string
	// Skew is the clock skew tolerated on "exp" and "nbf": 0 means
	// DefaultJWTSkew, a negative value means none.
	Skew time.Duration
}

// JWTVerifier verifies provider JWTs (JWS compact serialization) with
// github.com/golang-jwt/jwt/v5, keys from a JWKS through
// github.com/MicahParks/keyfunc/v3. It requires "exp"; checks "nbf",
// "iss", "aud" as configured; refuses a "crit" header; and takes the user
// name from "name", else "sub". A "roles" claim (array of strings or a
// single string) becomes Identity.Roles. Safe for concurrent use; with a
// JWKS URL it owns a refresh goroutine until Close.
type JWTVerifier struct {
	methods  []string // the accepted "alg" values
	key      func(ctx context.Context, t *jwt.Token) (any, error)
	issuer   string
	audience string
	skew     time.Duration

	ctx  context.Context // ends with Close; bounds JWKS fetches
	stop context.CancelFunc
	idle func() // closes the JWKS client's idle connections; nil if none
}

// NewJWTVerifier builds a verifier, reading key files (or fetching the
// JWKS URL) now.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	sources := 0
	for _, set := range []bool{cfg.HS256Secret != "", cfg.PublicKeyFile != "" || len(cfg.PublicKeyPEM) > 0, cfg.JWKSFile != "", cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if cfg.PublicKeyFile != "" && len(cfg.PublicKeyPEM) > 0 {
		return nil, errors.New("auth: jwt: set PublicKeyFile or PublicKeyPEM, not both")
	}
	switch sources {
	case 0:
		return nil, errors.New("auth: jwt: no key configured (HS256 secret, public key file, JWKS file or URL)")
	case 1:
	default:
		return nil, errors.New("auth: jwt: more than one key source configured; set exactly one of HS256 secret, public key file, JWKS file, JWKS URL")
	}
	v := &JWTVerifier{issuer: cfg.Issuer, audience: cfg.Audience, skew: cfg.Skew}
	switch {
	case v.skew == 0:
		v.skew = DefaultJWTSkew
	case v.skew < 0:
		v.skew = 0
	}
	v.ctx, v.stop = context.WithCancel(context.Background())
	var err error
	switch {
	case cfg.HS256Secret != "":
		if len(cfg.HS256Secret) < sha256.Size {
			err = fmt.Errorf("HS256 secret is %d bytes, need at least %d", len(cfg.HS256Secret), sha256.Size)
			break
		}
		secret := []byte(cfg.HS256Secret)
		v.methods = []string{jwt.SigningMethodHS256.Alg()}
		v.key = func(context.Context, *jwt.Token) (any, error) { return secret, nil }
	case cfg.JWKSFile != "":
		err = v.useJWKSFile(cfg.JWKSFile)
	case cfg.JWKSURL != "":
		err = v.useJWKSURL(cfg)
	default:
		err = v.usePEM(cfg)
	}
	if err != nil {
		v.stop()
		return nil, fmt.Errorf("auth: jwt: %w", err)
	}
	return v, nil
}

// Close stops the JWKS refresh goroutine, if any, and drops its idle HTTP
// connections. Verify keeps working with the keys it has.
func (v *JWTVerifier) Close() {
	v.stop()
	if v.idle != nil {
		v.idle()
	}
}

func (v *JWTVerifier) usePEM(cfg JWTConfig) error {
	data, name := cfg.PublicKeyPEM, "public key"
	if cfg.PublicKeyFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.PublicKeyFile); err != nil {
			return err
		}
		name = cfg.PublicKeyFile
	}
	pub, err := parsePublicKeyPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	alg, err := keyAlg(pub)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	v.methods = []string{alg}
	v.key = func(context.Context, *jwt.Token) (any, error) { return pub, nil }
	return nil
}

// jwksUse lets keys marked for signing, or not marked, verify tokens.
var jwksUse = []jwkset.USE{jwkset.UseSig, ""}

func (v *JWTVerifier) useJWKSFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	store, err := loadJWKS(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return v.useJWKS(store)
}

func (v *JWTVerifier) useJWKSURL(cfg JWTConfig) error {
	refresh, unknown := cfg.JWKSRefresh, cfg.JWKSUnknownKID
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	if unknown <= 0 {
		unknown = DefaultJWKSUnknownKID
	}
	client := cfg.HTTPClient
	if client == nil {
		// Its own transport, so Close can drop its idle connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		client = &http.Client{Timeout: jwksHTTPTimeout, Transport: tr}
		v.idle = tr.CloseIdleConnections
	}
	noErrorFirst := false // an unreachable or broken JWKS at start is a configuration error
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       v.ctx,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: noErrorFirst,
		RefreshInterval:           refresh,
		// A failed refresh keeps the keys from the last good one.
		RefreshErrorHandler: func(context.Context, error) {},
	})
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", cfg.JWKSURL, err)
	}
	store, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{cfg.JWKSURL: remote},
		// Wait at most this long for the unknown-kid limiter: a token
		// arriving soon after the last such refresh is refused, not held.
		RateLimitWaitMax:  time.Second,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknown), 1),
	})
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", cfg.JWKSURL, err)
	}
	return v.useJWKS(store)
}

func (v *JWTVerifier) useJWKS(store jwkset.Storage) error {
	kf, err := keyfunc.New(keyfunc.Options{Ctx: v.ctx, Storage: store, UseWhitelist: jwksUse})
	if err != nil {
		return err
	}
	v.methods = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}
	v.key = func(ctx context.Context, t *jwt.Token) (any, error) {
		k, err := kf.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, err
		}
		// keyfunc hands back one key (the token named a kid) or all of
		// them (it did not); keep only those this package accepts.
		if set, ok := k.(jwt.VerificationKeySet); ok {
			var usable jwt.VerificationKeySet
			for _, k := range set.Keys {
				if _, err := keyAlg(k); err == nil {
					usable.Keys = append(usable.Keys, k)
				}
			}
			if len(usable.Keys) == 0 {
				return nil, errors.New("no usable key in the JWKS")
			}
			return usable, nil
		}
		if _, err := keyAlg(k); err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil
}

// loadJWKS reads the RSA and EC P-256 signature keys of a JWK Set (RFC
// 7517) into a jwkset store. Keys for other uses, algorithms or types are
// skipped; a malformed or too weak key of a supported type is an error.
func loadJWKS(data []byte) (jwkset.Storage, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	n := 0
	for i, raw := range set.Keys {
		var meta struct{ Kty, Kid, Use, Alg, Crv string }
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if meta.Use != "" && meta.Use != "sig" {
			continue
		}
		switch {
		case meta.Kty == "RSA" && (meta.Alg == "" || meta.Alg == "RS256"):
		case meta.Kty == "EC" && meta.Crv == "P-256" && (meta.Alg == "" || meta.Alg == "ES256"):
		default:
			continue
		}
		k, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err == nil {
			_, err = keyAlg(k.Key())
		}
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, meta.Kid, err)
		}
		if err := store.KeyWrite(context.Background(), k); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("no usable RS256 or ES256 signing key")
	}
	return store, nil
}

// jwtClaims are the claims this package reads. Its own date type keeps
// out-of-range dates an error rather than a wrapped-around time.
type jwtClaims struct {
	Iss   string       `json:"iss"`
	Sub   string       `json:"sub"`
	Name  string       `json:"name"`
	Aud   stringList   `json:"aud"`
	Exp   *numericDate `json:"exp"`
	Nbf   *numericDate `json:"nbf"`
	Roles stringList   `json:"roles"`
}

var _ jwt.Claims = (*jwtClaims)(nil)

func (c *jwtClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp.numeric(), nil }
func (c *jwtClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.Nbf.numeric(), nil }
func (c *jwtClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *jwtClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *jwtClaims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *jwtClaims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings(c.Aud), nil }

// Verify checks a JWT's signature, then its claims, at time now. Errors
// wrap ErrInvalidToken, ErrExpired or ErrNotYetValid. It never panics.
func (v *JWTVerifier) Verify(token string, now time.Time) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > maxTokenLen {
		return Identity{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	// Base64 decoders skip line breaks; refusing every byte outside the
	// base64url alphabet gives a token one spelling.
	if strings.IndexFunc(token, func(r rune) bool { return !isB64URL(r) && r != '.' }) >= 0 {
		return Identity{}, fmt.Errorf("%w: not a JWS compact token", ErrInvalidToken)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.skew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	var c jwtClaims
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("unsupported critical header")
		}
		return v.key(v.ctx, t)
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, fmt.Errorf("%w: at %s", ErrExpired, c.Exp.t.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Identity{}, fmt.Errorf("%w: before %s", ErrNotYetValid, c.Nbf.t.UTC().Format(time.RFC3339))
	default:
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	user := cleanUser(c.Name)
	if user == "" {
		user = cleanUser(c.Sub)
	}
	if user == "" {
		return Identity{}, fmt.Errorf("%w: no usable name or sub claim", ErrInvalidToken)
	}
	return Identity{User: user, Expires: c.Exp.t, Roles: []string(c.Roles)}, nil
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
// fractional, within ±1e11 s.
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

func (d *numericDate) numeric() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return jwt.NewNumericDate(d.t)
}

// parsePublicKeyPEM returns the first public key or certificate key in a
// PEM file.
func parsePublicKeyPEM(data []byte) (any, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			return cert.PublicKey, nil
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, errors.New("file holds a private key; give the public key only")
			}
		}
	}
}

// keyAlg is the one algorithm a public key verifies, or why it is refused.
func keyAlg(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits; need at least %d", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), nil
	default:
		return "", fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", pub)
	}
}
