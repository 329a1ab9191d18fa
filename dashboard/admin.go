package dashboard

import (
	"crypto/subtle"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/dashboard/hub"
)

// maxAdminClients bounds the connection list an operator page receives;
// the slowest (most queued) come first.
const maxAdminClients = 500

// connRegistry remembers what the hub does not know about a connection:
// where it came from, since when, and how to ask its writer for a ping.
// Read by the operator page and by the gateway's pinger (pingLoop).
type connRegistry struct {
	mu    sync.Mutex
	conns map[*hub.Client]connMeta
	added uint32 // connections ever added: hands out ping slots in turn
}

type connMeta struct {
	ip    string
	since time.Time
	ping  func() // asks the connection's writer for a ping; nil if it pings itself
	slot  uint32 // which of the pinger's turns pings it (pingSlice)
}

func (r *connRegistry) add(c *hub.Client, ip string, ping func()) {
	r.mu.Lock()
	if r.conns == nil {
		r.conns = make(map[*hub.Client]connMeta)
	}
	r.added++
	r.conns[c] = connMeta{ip: ip, since: time.Now(), ping: ping, slot: r.added}
	r.mu.Unlock()
}

// pingSlice asks the connections of turn k of n (those that rely on the
// shared pinger) for a ping.
func (r *connRegistry) pingSlice(k, n uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.conns {
		if m.ping != nil && m.slot%n == k {
			m.ping()
		}
	}
}

func (r *connRegistry) remove(c *hub.Client) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *connRegistry) meta(c *hub.Client) connMeta {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[c]
}

// adminAuth lets a request through only with the admin token (as a bearer
// token). Without a configured token the operator surface does not exist.
func (s *Server) adminAuth(c *fiber.Ctx) error {
	if s.cfg.AdminToken == "" {
		return fiber.ErrNotFound
	}
	got := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="tickroom admin"`)
		return fiber.NewError(fiber.StatusUnauthorized, "admin token required")
	}
	return c.Next()
}

type adminClient struct {
	hub.ClientInfo
	IP        string `json:"ip"`
	Connected string `json:"connected"`
}

type adminProducer struct {
	Kind          string `json:"kind"`
	Events        int64  `json:"events"`
	LastEventAgoS int64  `json:"last_event_ago_s"` // -1: never
}

type adminInvalid struct {
	Subject string `json:"subject"`
	Count   int64  `json:"count"`
}

// adminState is everything the operator page shows, in one JSON document.
func (s *Server) adminState(c *fiber.Ctx) error {
	now := time.Now()
	clients := s.hub.Clients()
	list := make([]adminClient, 0, len(clients))
	for _, cl := range clients {
		m := s.registry.meta(cl)
		list = append(list, adminClient{ClientInfo: cl.Info(), IP: m.ip, Connected: m.since.UTC().Format(time.RFC3339)})
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].QueuedBytes+list[i].QueuedEvents > list[j].QueuedBytes+list[j].QueuedEvents
	})
	total := len(list)
	if len(list) > maxAdminClients {
		list = list[:maxAdminClients]
	}
	var producers []adminProducer
	for _, k := range s.metrics.kindNames() {
		st := s.metrics.kinds[k]
		ago := int64(-1)
		if last := st.last.Load(); last != 0 {
			ago = int64(now.Sub(time.Unix(0, last)).Seconds())
		}
		producers = append(producers, adminProducer{Kind: k, Events: st.events.Load(), LastEventAgoS: ago})
	}
	keys, counts := s.metrics.invalids.snapshot()
	invalid := make([]adminInvalid, 0, len(keys))
	for _, k := range keys {
		invalid = append(invalid, adminInvalid{Subject: k, Count: counts[k]})
	}
	sort.Slice(invalid, func(i, j int) bool { return invalid[i].Count > invalid[j].Count })
	return c.JSON(fiber.Map{
		"node":              s.cfg.Node,
		"time":              now.UTC().Format(time.RFC3339Nano),
		"uptime_s":          int64(now.Sub(s.started).Seconds()),
		"nats_ready":        s.bus.Ready(),
		"stats":             s.hub.Stats(),
		"connections_total": total,
		"connections":       list,
		"channels":          s.hub.Topics(),
		"producers":         producers,
		"invalid":           invalid,
		"frames_out":        s.metrics.framesOut.Load(),
		"bytes_out":         s.metrics.bytesOut.Load(),
		"moderation":        s.chat.adminModeration(), // chatmod.go
	})
}
