// Package auth answers "who is on the other end of this connection".
//
// It holds two token verifiers that satisfy [Verifier]:
//
//   - [DevSessions] issues and verifies the gateway's own session tokens,
//     signed with HMAC-SHA256 under a key kept in the data directory
//     ([LoadOrCreateKey]), so sessions survive a restart until they expire.
//   - [JWTVerifier] verifies JSON Web Tokens from an identity provider
//     (HS256 shared secret, RS256/ES256 public key, or a JWKS file or
//     URL) with github.com/golang-jwt/jwt/v5; JWKS keys come through
//     github.com/MicahParks/keyfunc/v3.
//
// The package imports no transport (no Fiber, no NATS): the gateway calls
// Verify with the token it found in a cookie or a query parameter and stores
// the resulting [Identity] in the request context with [WithIdentity].
//
// Concurrency: every exported type is safe for concurrent use and, but for
// a JWTVerifier fed from a JWKS URL, immutable after construction; that one
// owns a goroutine that refreshes its key set until Close.
package auth

import (
	"context"
	"errors"
	"time"
)

// Errors returned by Verify. Any non-nil error means the token must be
// refused; these sentinels (matched with errors.Is) only let the caller say
// why. Returned errors wrap them with a short detail that is safe to show a
// client (it never contains key material).
var (
	// ErrInvalidToken: malformed, wrong signature, wrong algorithm, wrong
	// issuer/audience, missing claims.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpired: the token was valid but its expiry has passed.
	ErrExpired = errors.New("auth: token expired")
	// ErrNotYetValid: a JWT whose "nbf" lies in the future (beyond the skew).
	ErrNotYetValid = errors.New("auth: token not yet valid")
	// ErrInvalidName: a display name refused by [ValidName].
	ErrInvalidName = errors.New("auth: invalid name")
)

// Identity is an authenticated user as the gateway sees it.
type Identity struct {
	// User is the name stamped on chat messages and listed in presence.
	User string
	// Guest is true for anonymous dev-mode users with a generated name.
	Guest bool
	// Expires is when the credential stops being valid; the zero time means
	// it does not expire (an anonymous guest without a token).
	Expires time.Time
	// Roles from the token, if any (JWT "roles" claim); nil otherwise.
	Roles []string
}

// Expired reports whether the identity's credential has expired at now. An
// identity with a zero Expires never expires.
func (id Identity) Expired(now time.Time) bool {
	return !id.Expires.IsZero() && !now.Before(id.Expires)
}

// HasRole reports whether the identity carries role r.
func (id Identity) HasRole(r string) bool {
	for _, x := range id.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Verifier turns a bearer token into an Identity. Implementations must be
// safe for concurrent use and must never panic on any input.
type Verifier interface {
	Verify(token string, now time.Time) (Identity, error)
}

var (
	_ Verifier = (*DevSessions)(nil)
	_ Verifier = (*JWTVerifier)(nil)
)

type ctxKey struct{}

// WithIdentity returns a copy of ctx carrying id, for code that passes an
// identity through a context (the gateway itself keeps it in the Session).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the Identity stored by WithIdentity, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
