package config

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Settings for running tickroom as a deployment: stream retention, access
// to NATS, and the HTTP listener's bounds. They live in their own file and
// join the option list at init, after the others.

// Retention is what the gateway creates streams with. An age of 0 means no
// age limit, a count of 0 no count limit. They apply only to streams the
// gateway creates: existing streams belong to the operator (see
// NATSUpdateStreams).
type Retention struct {
	ChatMaxAge    time.Duration // CHAT (720h)
	ChatMaxMsgs   int           // CHAT messages per room (0)
	AlertMaxAge   time.Duration // ALERTS (0)
	AlertMaxMsgs  int           // ALERTS per symbol (1000)
	CandleMaxAge  time.Duration // CANDLES (0)
	CandleMaxMsgs int           // CANDLES per symbol (8000)
	FeedMaxAge    time.Duration // LAST: market, analytics and producers' feed.* channels (0)
	FeedMaxMsgs   int           // LAST per subject (8)
	UserMaxAge    time.Duration // USERS: user.<name> notifications (720h)
	UserMaxMsgs   int           // USERS per user (1000)
}

// NATSAccess is how tickroom authenticates to NATS and how the embedded
// server authenticates clients.
type NATSAccess struct {
	// Token: with the embedded server, clients of -nats-listen must present
	// it; with -nats, the gateway presents it.
	Token string
	// UsersFile is a nats-server configuration file whose `authorization`
	// block (users, passwords, nkeys, permissions) the embedded server
	// enforces on -nats-listen.
	UsersFile string
	User      string // -nats user (or user:password@ in the URL)
	Password  string
	CredsFile string // -nats .creds file (JWT + nkey seed)
	NKeyFile  string // -nats nkey seed file
	TLSCA     string // CA to verify the NATS servers
	TLSCert   string // client certificate for NATS
	TLSKey    string
}

// HTTPLimits bound the HTTP listener before a request is complete.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration // (10s)
	IdleTimeout       time.Duration // keep-alive idle (120s)
	MaxHalfOpenPerIP  int           // connections per IP that have not completed a request head (32)
}

func defaultRetention() Retention {
	return Retention{ChatMaxAge: 30 * 24 * time.Hour, AlertMaxMsgs: 1000, CandleMaxMsgs: 8000, FeedMaxMsgs: 8,
		UserMaxAge: 30 * 24 * time.Hour, UserMaxMsgs: 1000}
}

func defaultHTTPLimits() HTTPLimits {
	return HTTPLimits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHalfOpenPerIP: 32}
}

var deployOptions = []option{
	{"retain-chat-age", "CHAT stream: how long chat messages are kept; 0 = no age limit", func(c *Config) any { return &c.Retention.ChatMaxAge }},
	{"retain-chat-msgs", "CHAT stream: messages kept per room; 0 = no limit", func(c *Config) any { return &c.Retention.ChatMaxMsgs }},
	{"retain-alert-age", "ALERTS stream: how long alerts are kept; 0 = no age limit", func(c *Config) any { return &c.Retention.AlertMaxAge }},
	{"retain-alert-msgs", "ALERTS stream: alerts kept per symbol; 0 = no limit", func(c *Config) any { return &c.Retention.AlertMaxMsgs }},
	{"retain-candle-age", "CANDLES stream: how long candle updates are kept; 0 = no age limit", func(c *Config) any { return &c.Retention.CandleMaxAge }},
	{"retain-candle-msgs", "CANDLES stream: candle updates kept per symbol (a bar is sent ~30 times); 0 = no limit", func(c *Config) any { return &c.Retention.CandleMaxMsgs }},
	{"retain-feed-age", "LAST stream (market, analytics and producers' feed.* channels): how long values are kept; 0 = no age limit", func(c *Config) any { return &c.Retention.FeedMaxAge }},
	{"retain-feed-msgs", "LAST stream: values kept per subject (the last valid one is served); 0 = no limit", func(c *Config) any { return &c.Retention.FeedMaxMsgs }},
	{"retain-user-age", "USERS stream (user.<name>: mentions, price alerts, notices): how long notifications are kept; 0 = no age limit", func(c *Config) any { return &c.Retention.UserMaxAge }},
	{"retain-user-msgs", "USERS stream: notifications kept per user; 0 = no limit", func(c *Config) any { return &c.Retention.UserMaxMsgs }},
	{"nats-update-streams", "apply the retain-* settings, replicas and dedupe window to streams that already exist (otherwise existing streams are never changed, only a difference is logged)", func(c *Config) any { return &c.NATSUpdateStreams }},
	{"nats-token", "NATS token: the embedded server's clients must present it; on -nats the gateway presents it (prefer the environment)", func(c *Config) any { return &c.NATSAccess.Token }},
	{"nats-users", "nats-server config file whose authorization block (users, nkeys, permissions) the embedded server enforces", func(c *Config) any { return &c.NATSAccess.UsersFile }},
	{"nats-user", "-nats user name", func(c *Config) any { return &c.NATSAccess.User }},
	{"nats-password", "-nats password (prefer the environment)", func(c *Config) any { return &c.NATSAccess.Password }},
	{"nats-creds", "-nats credentials file (.creds: user JWT and nkey seed)", func(c *Config) any { return &c.NATSAccess.CredsFile }},
	{"nats-nkey", "-nats nkey seed file", func(c *Config) any { return &c.NATSAccess.NKeyFile }},
	{"nats-tls-ca", "CA bundle (PEM) verifying the -nats servers", func(c *Config) any { return &c.NATSAccess.TLSCA }},
	{"nats-tls-cert", "client certificate (PEM) for -nats, with nats-tls-key", func(c *Config) any { return &c.NATSAccess.TLSCert }},
	{"nats-tls-key", "client key (PEM) for -nats", func(c *Config) any { return &c.NATSAccess.TLSKey }},
	{"http-read-header-timeout", "time a connection has to send a complete request head (slowloris bound); later: 408 and closed", func(c *Config) any { return &c.HTTP.ReadHeaderTimeout }},
	{"http-idle-timeout", "keep-alive connections idle this long are closed", func(c *Config) any { return &c.HTTP.IdleTimeout }},
	{"http-max-half-open-per-ip", "connections per client IP that have not completed a request head; more are closed (trusted-proxies exempt)", func(c *Config) any { return &c.HTTP.MaxHalfOpenPerIP }},
}

func init() { options = append(options, deployOptions...) }

// validateDeploy checks the deployment settings; bad adds one FieldError.
func (c *Config) validateDeploy(bad func(field, format string, args ...any)) {
	r := c.Retention
	for _, a := range []struct {
		name string
		v    time.Duration
	}{{"retain-chat-age", r.ChatMaxAge}, {"retain-alert-age", r.AlertMaxAge}, {"retain-candle-age", r.CandleMaxAge}, {"retain-feed-age", r.FeedMaxAge}, {"retain-user-age", r.UserMaxAge}} {
		if a.v < 0 || (a.v > 0 && a.v < time.Second) {
			bad(a.name, "%v: want 0 (no limit) or at least 1s", a.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"retain-chat-msgs", r.ChatMaxMsgs}, {"retain-alert-msgs", r.AlertMaxMsgs}, {"retain-candle-msgs", r.CandleMaxMsgs}, {"retain-feed-msgs", r.FeedMaxMsgs}, {"retain-user-msgs", r.UserMaxMsgs}} {
		if n.v < 0 {
			bad(n.name, "%d: want 0 (no limit) or more", n.v)
		}
	}
	a := c.NATSAccess
	if a.Token != "" && a.UsersFile != "" {
		bad("nats-token", "set either nats-token or nats-users, not both (nats-server allows one)")
	}
	if a.UsersFile != "" && len(c.NATSURLs) > 0 {
		bad("nats-users", "applies to the embedded server; with -nats, use nats-user/nats-password, nats-creds or nats-nkey")
	}
	n := 0
	for _, set := range []bool{a.Token != "", a.User != "" || a.Password != "", a.CredsFile != "", a.NKeyFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		bad("nats-token", "set only one of nats-token, nats-user/nats-password, nats-creds, nats-nkey")
	}
	if (a.User == "") != (a.Password == "") {
		bad("nats-user", "nats-user and nats-password go together")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		bad("nats-tls-cert", "nats-tls-cert and nats-tls-key go together")
	}
	if len(c.NATSURLs) == 0 && (a.User != "" || a.CredsFile != "" || a.NKeyFile != "" || a.TLSCA != "" || a.TLSCert != "") {
		bad("nats", "nats-user, nats-creds, nats-nkey and nats-tls-* are for external NATS: set -nats")
	}
	for _, f := range []struct{ name, path string }{
		{"nats-users", a.UsersFile}, {"nats-creds", a.CredsFile}, {"nats-nkey", a.NKeyFile},
		{"nats-tls-ca", a.TLSCA}, {"nats-tls-cert", a.TLSCert}, {"nats-tls-key", a.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.name, "%v", errors.Unwrap(err))
		}
	}
	c.HTTP.check(bad)
}

// Validate checks the HTTP bounds alone (joined *FieldError values), or
// nil: the gateway checks a HTTPLimits built in code with it.
func (h HTTPLimits) Validate() error {
	var errs []error
	h.check(func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	})
	return errors.Join(errs...)
}

func (h HTTPLimits) check(bad func(field, format string, args ...any)) {
	if h.ReadHeaderTimeout < 100*time.Millisecond || h.ReadHeaderTimeout > 10*time.Minute {
		bad("http-read-header-timeout", "%v: want between 100ms and 10m", h.ReadHeaderTimeout)
	}
	if h.IdleTimeout < time.Second || h.IdleTimeout > 24*time.Hour {
		bad("http-idle-timeout", "%v: want between 1s and 24h", h.IdleTimeout)
	}
	if h.MaxHalfOpenPerIP < 1 {
		bad("http-max-half-open-per-ip", "%d: must be > 0", h.MaxHalfOpenPerIP)
	}
}
