package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/tickroom/tickroom/internal/config"
)

// Config holds the gateway's settings. Zero values mean the documented
// defaults; New validates the rest.
type Config struct {
	Node string // node name in welcome events and presence; default "gw-1"
	Dev  bool   // dev mode: name sign-in and guests

	// AllowedOrigins are full origins ("https://desk.example.com"). Empty
	// means same-origin only; "*" allows any origin.
	AllowedOrigins []string

	Heartbeat time.Duration // WebSocket ping interval; default 20s

	MaxConnections      int // default 20000
	MaxConnectionsPerIP int // default 200
	MaxSubscriptions    int // per connection; default 256
	MaxFrameBytes       int // largest client frame; default 64 KiB
	MaxChatBytes        int // largest stored chat message; default 4 KiB
	MaxPayloadBytes     int // largest producer message; default 64 KiB
	QueueBytes          int // per-connection outbound bound; default 1 MiB
	// ReplayWindow is how many of a carried persisted channel's newest
	// messages (candles: bars) the gateway holds for resumes from memory;
	// ReplayWindowBytes bounds all of them together (recent.go). Defaults
	// 500 and 64 MiB.
	ReplayWindow      int
	ReplayWindowBytes int

	ChatRate       float64 // chat publishes per second per user; default 5
	ChatBurst      int     // default 10
	SubscribeRate  float64 // subscribes per second per connection; default 20
	SubscribeBurst int     // default 100

	AdminToken    string // bearer token for /admin; empty disables it
	SecureCookies bool   // set Secure on cookies (TLS)
	// ExpiryGrace is how long a connection outlives its credential's
	// expiry (the JWT clock skew, so that a token accepted at connect is
	// not cut at once); 0 means none. At expiry the connection is closed
	// with 1008.
	ExpiryGrace time.Duration

	// ReadRules and WriteRules restrict rooms to listed users or roles
	// (see RoomRule); empty means every authenticated user may read every
	// channel and publish to every chat.* channel.
	ReadRules, WriteRules []RoomRule

	// Moderators may delete any chat message and mute users (chatmod.go):
	// the users listed here by name, and (with JWT) the identities whose
	// roles claim holds ModeratorRole (default "moderator").
	Moderators    []string
	ModeratorRole string

	// TrustedProxies are the reverse proxies (IPs or CIDRs) whose
	// ProxyHeader names the client, for the per-IP connection limit.
	// Empty: the header is ignored and the TCP peer is the client.
	TrustedProxies []string
	ProxyHeader    string // default "X-Forwarded-For"

	HTTPGuard HTTPGuard // header read timeout, idle timeout, half-open bound (httpguard.go)

	Logger *slog.Logger
}

// setDefaults fills zero fields from config.Default, the one owner of the
// defaults.
func (c *Config) setDefaults() {
	d := config.Default()
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	if c.Node == "" {
		c.Node = "gw-1"
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = d.HeartbeatInterval
	}
	def(&c.MaxConnections, d.Limits.MaxConnections)
	def(&c.MaxConnectionsPerIP, d.Limits.MaxConnectionsPerIP)
	def(&c.MaxSubscriptions, d.Limits.MaxSubscriptions)
	def(&c.MaxFrameBytes, d.Limits.MaxFrameBytes)
	def(&c.MaxChatBytes, d.Limits.MaxChatBytes)
	def(&c.MaxPayloadBytes, 64<<10)
	def(&c.QueueBytes, d.Limits.QueueBytes)
	def(&c.ReplayWindow, d.Limits.ReplayWindow)
	def(&c.ReplayWindowBytes, d.Limits.ReplayWindowBytes)
	def(&c.ChatBurst, d.Limits.ChatBurst)
	def(&c.SubscribeBurst, d.Limits.SubscribeBurst)
	if c.ChatRate == 0 {
		c.ChatRate = d.Limits.ChatRate
	}
	if c.SubscribeRate == 0 {
		c.SubscribeRate = d.Limits.SubscribeRate
	}
	if c.ProxyHeader == "" {
		c.ProxyHeader = d.ProxyHeader
	}
	if c.HTTPGuard.ReadHeaderTimeout <= 0 {
		c.HTTPGuard.ReadHeaderTimeout = d.HTTP.ReadHeaderTimeout
	}
	if c.HTTPGuard.IdleTimeout <= 0 {
		c.HTTPGuard.IdleTimeout = d.HTTP.IdleTimeout
	}
	def(&c.HTTPGuard.MaxHalfOpenPerIP, d.HTTP.MaxHalfOpenPerIP)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// validate checks what New was given against internal/config's bounds (the
// same functions a loaded configuration passed), and parses the trusted
// proxies once.
func (c *Config) validate() (proxies []netip.Prefix, err error) {
	lim := config.Limits{
		MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP,
		MaxSubscriptions: c.MaxSubscriptions, MaxFrameBytes: c.MaxFrameBytes, MaxChatBytes: c.MaxChatBytes,
		ChatRate: c.ChatRate, ChatBurst: c.ChatBurst, SubscribeRate: c.SubscribeRate, SubscribeBurst: c.SubscribeBurst,
		QueueBytes: c.QueueBytes, ReplayWindow: c.ReplayWindow, ReplayWindowBytes: c.ReplayWindowBytes,
	}
	errs := []error{lim.Validate(), config.CheckHeartbeat(c.Heartbeat), c.HTTPGuard.Validate()}
	if c.MaxPayloadBytes < 0 {
		errs = append(errs, errors.New("max payload bytes must not be negative"))
	}
	if c.ExpiryGrace < 0 {
		errs = append(errs, errors.New("expiry grace must not be negative"))
	}
	proxies, err = config.ParseProxies(c.TrustedProxies)
	errs = append(errs, err, validateRules("read", c.ReadRules), validateRules("write", c.WriteRules))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return proxies, nil
}
