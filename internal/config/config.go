// Package config turns defaults, a YAML file, the environment and
// command-line flags into one validated [Config].
//
// Every setting has exactly one name, its flag name (for example
// "nats-listen"). The same name is the YAML key, and, upper-cased with '-'
// turned into '_' behind a TICKROOM_ prefix, the environment variable
// (TICKROOM_NATS_LISTEN). Later sources win:
//
//	defaults < YAML file (-config / TICKROOM_CONFIG) < environment < flags
//
// The package imports no other tickroom package; cmd/tickroom copies the
// values it needs into the other packages' own config structs.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a tickroom process. The zero value
// is not useful: start from Default (Load does).
type Config struct {
	Addr       string   // HTTP/WebSocket listen address (":8080")
	DataDir    string   // data directory: JetStream store, session key ("./data")
	NATSListen string   // embedded NATS client listen address; "off" disables ("127.0.0.1:4222")
	NATSURLs   []string // external NATS servers; empty means run an embedded server
	Node       string   // this gateway's name ("gw-<hostname>")
	Dev        bool     // dev mode: guests and name sign-in (true)
	// AllowedOrigins for browser WebSocket upgrades: empty means same-origin
	// only; "*" allows any origin.
	AllowedOrigins    []string
	HeartbeatInterval time.Duration // WebSocket ping interval (20s)
	SessionTTL        time.Duration // dev session lifetime (24h)
	JWT               JWT
	Limits            Limits
	// RoomRead and RoomWrite restrict channels to listed users and roles:
	// items "PATTERN=NAME,NAME,@ROLE" (see ParseRoomRules). Empty: no
	// restriction beyond "browsers publish only to chat.*".
	RoomRead, RoomWrite []string
	// TrustedProxies (IPs or CIDRs) may name the client in ProxyHeader,
	// for the per-IP connection limit behind a reverse proxy.
	TrustedProxies  []string
	ProxyHeader     string // ("X-Forwarded-For")
	TLSCert, TLSKey string // PEM files; both set serves HTTPS/WSS
	Replicas        int    // JetStream stream replicas (1)
	Feeds           bool   // run the simulated feeds in-process (true)
	PprofAddr       string // net/http/pprof listen address; "" off
	LogLevel        string // debug, info, warn, error ("info")
	AdminToken      string // bearer token for admin endpoints; "" disables them

	Retention         Retention  // stream retention for streams the gateway creates (deploy.go)
	NATSUpdateStreams bool       // apply Retention etc. to existing streams (false)
	NATSAccess        NATSAccess // NATS credentials and TLS (deploy.go)
	HTTP              HTTPLimits // HTTP listener bounds (deploy.go)
	// Moderators may delete any chat message and mute users: these user
	// names, and identities whose JWT roles claim holds ModeratorRole.
	Moderators    []string
	ModeratorRole string // ("moderator")
}

// JWT configures identity-provider tokens. At most one of HS256Secret,
// PublicKeyFile, JWKSFile, JWKSURL may be set; none means no provider.
type JWT struct {
	HS256Secret   string
	PublicKeyFile string
	JWKSFile      string
	JWKSURL       string // fetched at start, refreshed hourly and on an unknown kid
	Issuer        string
	Audience      string
	Skew          time.Duration // clock skew tolerated on exp/nbf (30s)
}

// Enabled reports whether a provider key is configured.
func (j JWT) Enabled() bool {
	return j.HS256Secret != "" || j.PublicKeyFile != "" || j.JWKSFile != "" || j.JWKSURL != ""
}

// Limits bound what one client, one IP, or the whole gateway may use. All
// must be positive.
type Limits struct {
	MaxConnections      int     // open WebSockets per gateway (20000)
	MaxConnectionsPerIP int     // open WebSockets per client IP (200)
	MaxSubscriptions    int     // channels per connection (256)
	MaxFrameBytes       int     // largest client frame; larger closes with 1009 (64 KiB)
	MaxChatBytes        int     // largest chat message text; larger gets too_large (4 KiB)
	ChatRate            float64 // chat publishes per second per user (5)
	ChatBurst           int     // chat publish burst per user (10)
	SubscribeRate       float64 // subscribes per second per connection (20)
	SubscribeBurst      int     // subscribe burst per connection (100)
	QueueBytes          int     // outbound queue per connection (1 MiB)
	// ReplayWindow and ReplayWindowBytes bound the recent messages a
	// gateway holds per carried persisted channel (candles: bars) so that
	// resumes are replayed from memory (500), and in all (64 MiB).
	ReplayWindow      int
	ReplayWindowBytes int
}

// Default returns the built-in defaults: the all-in-one dev setup.
func Default() Config {
	return Config{
		Addr:              ":8080",
		DataDir:           "./data",
		NATSListen:        "127.0.0.1:4222",
		Node:              defaultNode(os.Hostname),
		Dev:               true,
		HeartbeatInterval: 20 * time.Second,
		SessionTTL:        24 * time.Hour,
		JWT:               JWT{Skew: 30 * time.Second},
		Limits: Limits{
			MaxConnections:      20000,
			MaxConnectionsPerIP: 200,
			MaxSubscriptions:    256,
			MaxFrameBytes:       64 << 10,
			MaxChatBytes:        4 << 10,
			ChatRate:            5,
			ChatBurst:           10,
			SubscribeRate:       20,
			SubscribeBurst:      100,
			QueueBytes:          1 << 20,
			ReplayWindow:        500,
			ReplayWindowBytes:   64 << 20,
		},
		ProxyHeader: "X-Forwarded-For",
		Replicas:    1,
		Feeds:       true,
		LogLevel:    "info",
		Retention:   defaultRetention(),
		HTTP:        defaultHTTPLimits(),
		// Moderators: none by default.
		ModeratorRole: "moderator",
	}
}

var nodeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// defaultNode derives "gw-<short hostname>" (first DNS label, lower-cased,
// reduced to [a-z0-9-], at most 24 characters), or "gw-1" without one.
func defaultNode(hostname func() (string, error)) string {
	h, err := hostname()
	if err != nil {
		return "gw-1"
	}
	h, _, _ = strings.Cut(strings.ToLower(h), ".")
	var b strings.Builder
	for _, r := range h {
		if b.Len() == 24 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "gw-1"
	}
	return "gw-" + s
}

// FieldError is one invalid setting. Field is the flag name (also the YAML
// key; the environment variable is EnvName(Field)).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks every field and returns all problems at once (joined
// *FieldError values, each naming the flag), or nil.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if err := checkHostPort(c.Addr); err != nil {
		bad("addr", "%v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data", "must not be empty")
	}
	if c.NATSListen != "off" {
		if err := checkHostPort(c.NATSListen); err != nil {
			bad("nats-listen", `%v (or "off")`, err)
		}
	}
	for _, u := range c.NATSURLs {
		if err := checkNATSURL(u); err != nil {
			bad("nats", "%q: %v", u, err)
		}
	}
	if !nodeRE.MatchString(c.Node) {
		bad("node", "%q: want 1-64 characters of A-Z a-z 0-9 _ -", c.Node)
	}
	for _, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad("origins", "%q: %v", o, err)
		}
	}
	if err := CheckHeartbeat(c.HeartbeatInterval); err != nil {
		errs = append(errs, err)
	}
	if c.SessionTTL < time.Second || c.SessionTTL > 366*24*time.Hour {
		bad("session-ttl", "%v: want between 1s and 366 days", c.SessionTTL)
	}

	j := c.JWT
	n := 0
	for _, s := range []string{j.HS256Secret, j.PublicKeyFile, j.JWKSFile, j.JWKSURL} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		bad("jwt-hs256-secret", "set only one of jwt-hs256-secret, jwt-public-key, jwt-jwks, jwt-jwks-url")
	}
	if j.HS256Secret != "" && len(j.HS256Secret) < 32 {
		bad("jwt-hs256-secret", "%d bytes: need at least 32", len(j.HS256Secret))
	}
	if n == 0 && j.Issuer != "" {
		bad("jwt-issuer", "set without a JWT key (jwt-hs256-secret, jwt-public-key or jwt-jwks)")
	}
	if n == 0 && j.Audience != "" {
		bad("jwt-audience", "set without a JWT key (jwt-hs256-secret, jwt-public-key or jwt-jwks)")
	}
	if j.Skew < 0 || j.Skew > 10*time.Minute {
		bad("jwt-skew", "%v: want between 0 and 10m", j.Skew)
	}
	if !c.Dev && n == 0 {
		bad("dev", "dev mode is off and no JWT key is set: nobody could sign in (set jwt-hs256-secret, jwt-public-key or jwt-jwks, or dev=true)")
	}

	errs = append(errs, c.Limits.problems()...)

	if (c.TLSCert == "") != (c.TLSKey == "") {
		if c.TLSCert == "" {
			bad("tls-cert", "must be set together with tls-key")
		} else {
			bad("tls-key", "must be set together with tls-cert")
		}
	}
	if _, err := ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if !httpHeaderRE.MatchString(c.ProxyHeader) {
		bad("proxy-header", "%q: want an HTTP header name such as X-Forwarded-For or X-Real-IP", c.ProxyHeader)
	}
	if _, err := ParseRoomRules(c.RoomRead); err != nil {
		bad("room-read", "%v", err)
	}
	if _, err := ParseRoomRules(c.RoomWrite); err != nil {
		bad("room-write", "%v", err)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas", "%d: want 1 to 5", c.Replicas)
	}
	if c.PprofAddr != "" {
		if err := checkHostPort(c.PprofAddr); err != nil {
			bad("pprof", "%v", err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		bad("admin-token", "%d characters: need at least 16", len(c.AdminToken))
	}
	c.validateDeploy(bad)
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want host:port or :port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}

func checkNATSURL(s string) error {
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q: want nats, tls, ws or wss", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}

func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(`want "*" or scheme://host[:port], e.g. https://example.com`)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("an origin has no path, query, fragment or user info")
	}
	return nil
}

// Redacted returns a copy with secrets replaced by "[redacted]", for logs.
func (c Config) Redacted() Config {
	r := c
	if r.JWT.HS256Secret != "" {
		r.JWT.HS256Secret = "[redacted]"
	}
	if r.AdminToken != "" {
		r.AdminToken = "[redacted]"
	}
	if r.NATSAccess.Token != "" {
		r.NATSAccess.Token = "[redacted]"
	}
	if r.NATSAccess.Password != "" {
		r.NATSAccess.Password = "[redacted]"
	}
	r.NATSURLs = make([]string, len(c.NATSURLs))
	for i, s := range c.NATSURLs {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = url.User("[redacted]")
			s = u.String()
		}
		r.NATSURLs[i] = s
	}
	if c.NATSURLs == nil {
		r.NATSURLs = nil
	}
	r.AllowedOrigins = append([]string(nil), c.AllowedOrigins...)
	r.RoomRead = append([]string(nil), c.RoomRead...)
	r.RoomWrite = append([]string(nil), c.RoomWrite...)
	r.TrustedProxies = append([]string(nil), c.TrustedProxies...)
	r.Moderators = append([]string(nil), c.Moderators...)
	return r
}

// RoomRule is one parsed room-read or room-write rule: the channels
// matching Pattern are open only to Users and to holders of Roles.
type RoomRule struct {
	Pattern string
	Users   []string
	Roles   []string
}

var httpHeaderRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

var patternRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.([A-Za-z0-9_-]+|\*))*(\.>)?$`)

// ParseRoomRules parses room-read / room-write items. An item with '='
// starts a rule, "PATTERN=ENTRY"; an item without one adds an entry to the
// rule before it, so the comma-separated flag form reads naturally:
//
//	-room-read chat.desk=ana,bob,@trader -room-read chat.ops=@ops
//
// PATTERN is a channel pattern (NATS wildcards * and > allowed); an entry
// is a user name, or "@role" for a role from the JWT "roles" claim. A rule
// with no entry ("chat.news=") allows nobody. Items inside a YAML list may
// themselves hold commas.
func ParseRoomRules(items []string) ([]RoomRule, error) {
	var rules []RoomRule
	for _, item := range splitList(strings.Join(items, ",")) {
		pattern, entry, isRule := strings.Cut(item, "=")
		if isRule {
			pattern = strings.TrimSpace(pattern)
			if !patternRE.MatchString(pattern) || len(pattern) > 255 {
				return nil, fmt.Errorf("%q: want a channel pattern such as chat.desk or chat.desk-*", pattern)
			}
			rules = append(rules, RoomRule{Pattern: pattern})
		} else {
			if len(rules) == 0 {
				return nil, fmt.Errorf("%q: want PATTERN=NAME[,NAME|@ROLE…]", item)
			}
			entry = item
		}
		entry = strings.TrimSpace(entry)
		r := &rules[len(rules)-1]
		switch {
		case entry == "":
		case strings.Contains(entry, "="):
			return nil, fmt.Errorf("%q: one '=' per rule", item)
		case strings.HasPrefix(entry, "@"):
			if len(entry) == 1 {
				return nil, fmt.Errorf("%q: empty role name", item)
			}
			r.Roles = append(r.Roles, entry[1:])
		default:
			r.Users = append(r.Users, entry)
		}
	}
	return rules, nil
}

// Bounds of the gateway's settings. They have one owner, this package:
// Config.Validate checks a loaded configuration against them, and the
// gateway (dashboard.New) checks a Config built in code with the same
// functions.
const (
	MinHeartbeat  = 10 * time.Millisecond
	MaxHeartbeat  = time.Hour
	MinFrameBytes = 1024
)

// CheckHeartbeat checks the heartbeat interval.
func CheckHeartbeat(d time.Duration) error {
	if d < MinHeartbeat || d > MaxHeartbeat {
		return &FieldError{Field: "heartbeat", Msg: fmt.Sprintf("%v: want between 10ms and 1h", d)}
	}
	return nil
}

// Validate checks the limits alone (joined *FieldError values), or nil.
func (l Limits) Validate() error { return errors.Join(l.problems()...) }

func (l Limits) problems() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	positive := func(field string, v int) {
		if v <= 0 {
			bad(field, "%d: must be > 0", v)
		}
	}
	positive("max-conns", l.MaxConnections)
	positive("max-conns-per-ip", l.MaxConnectionsPerIP)
	positive("max-subs", l.MaxSubscriptions)
	positive("max-frame-bytes", l.MaxFrameBytes)
	positive("max-chat-bytes", l.MaxChatBytes)
	positive("chat-burst", l.ChatBurst)
	positive("subscribe-burst", l.SubscribeBurst)
	positive("queue-bytes", l.QueueBytes)
	positive("replay-window", l.ReplayWindow)
	positive("replay-window-bytes", l.ReplayWindowBytes)
	rate := func(field string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			bad(field, "%v: must be a finite number > 0", v)
		}
	}
	rate("chat-rate", l.ChatRate)
	rate("subscribe-rate", l.SubscribeRate)
	if l.MaxConnectionsPerIP > l.MaxConnections && l.MaxConnections > 0 {
		bad("max-conns-per-ip", "%d exceeds max-conns %d", l.MaxConnectionsPerIP, l.MaxConnections)
	}
	if l.MaxFrameBytes > 0 && l.MaxFrameBytes < MinFrameBytes {
		bad("max-frame-bytes", "%d: want at least %d", l.MaxFrameBytes, MinFrameBytes)
	}
	if l.MaxChatBytes > l.MaxFrameBytes && l.MaxFrameBytes > 0 {
		bad("max-chat-bytes", "%d exceeds max-frame-bytes %d", l.MaxChatBytes, l.MaxFrameBytes)
	}
	if l.QueueBytes < l.MaxFrameBytes && l.QueueBytes > 0 {
		bad("queue-bytes", "%d is below max-frame-bytes %d", l.QueueBytes, l.MaxFrameBytes)
	}
	return errs
}

// ParseProxies parses trusted proxy addresses (IPs or CIDRs) into
// prefixes: the one parser of trusted-proxies, for Validate and the gateway.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &FieldError{Field: "trusted-proxies", Msg: fmt.Sprintf("%q: want an IP or a CIDR", s)}
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
