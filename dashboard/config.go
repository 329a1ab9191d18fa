package dashboard

import (
	"errors"
	"log/slog"
	"time"
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

	// WriteDelay is the coalescing window of a connection's writer: after a
	// write, the next one waits until this much time has passed, gathering
	// everything queued meanwhile into one frame. The first event after a
	// quiet spell is not delayed. 0 disables it.
	WriteDelay time.Duration

	ChatRate       float64 // chat publishes per second per user; default 5
	ChatBurst      int     // default 10
	SubscribeRate  float64 // subscribes per second per connection; default 20
	SubscribeBurst int     // default 100

	SessionTTL    time.Duration // dev session lifetime; default 24h
	AdminToken    string        // bearer token for /admin; empty disables it
	SecureCookies bool          // set Secure on cookies (TLS)
	// ExpiryGrace is how long a connection outlives its credential's
	// expiry (the JWT clock skew, so that a token accepted at connect is
	// not cut at once); 0 means none. At expiry the connection is closed
	// with 1008.
	ExpiryGrace time.Duration

	// ReadRules and WriteRules restrict rooms to listed users or roles
	// (see RoomRule); empty means every authenticated user may read every
	// channel and publish to every chat.* channel.
	ReadRules, WriteRules []RoomRule

	// TrustedProxies are the reverse proxies (IPs or CIDRs) whose
	// ProxyHeader names the client, for the per-IP connection limit.
	// Empty: the header is ignored and the TCP peer is the client.
	TrustedProxies []string
	ProxyHeader    string // default "X-Forwarded-For"

	HTTPGuard HTTPGuard // header read timeout, idle timeout, half-open bound (httpguard.go)

	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Node == "" {
		c.Node = "gw-1"
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 20 * time.Second
	}
	def(&c.MaxConnections, 20000)
	def(&c.MaxConnectionsPerIP, 200)
	def(&c.MaxSubscriptions, 256)
	def(&c.MaxFrameBytes, 64<<10)
	def(&c.MaxChatBytes, 4<<10)
	def(&c.MaxPayloadBytes, 64<<10)
	def(&c.QueueBytes, 1<<20)
	def(&c.ChatBurst, 10)
	def(&c.SubscribeBurst, 100)
	if c.ChatRate == 0 {
		c.ChatRate = 5
	}
	if c.SubscribeRate == 0 {
		c.SubscribeRate = 20
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.ProxyHeader == "" {
		c.ProxyHeader = "X-Forwarded-For"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Heartbeat < 100*time.Millisecond:
		return errors.New("dashboard: heartbeat must be at least 100ms")
	case c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 || c.MaxSubscriptions < 0:
		return errors.New("dashboard: connection and subscription limits must not be negative")
	case c.MaxFrameBytes < 256:
		return errors.New("dashboard: max frame bytes must be at least 256")
	case c.MaxChatBytes < 16 || c.MaxChatBytes > c.MaxFrameBytes:
		return errors.New("dashboard: max chat bytes must be between 16 and the max frame bytes")
	case c.QueueBytes < c.MaxFrameBytes:
		return errors.New("dashboard: queue bytes must be at least the max frame bytes")
	case c.ChatRate < 0 || c.SubscribeRate < 0 || c.ChatBurst < 1 || c.SubscribeBurst < 1:
		return errors.New("dashboard: rates must not be negative and bursts at least 1")
	case c.ExpiryGrace < 0:
		return errors.New("dashboard: expiry grace must not be negative")
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if err := validateRules("read", c.ReadRules); err != nil {
		return err
	}
	return validateRules("write", c.WriteRules)
}
