package hub

import (
	"sort"

	"github.com/tickroom/tickroom/internal/protocol"
)

// TopicInfo describes one pattern with an upstream subscription, for
// operators.
type TopicInfo struct {
	Pattern     string `json:"pattern"`
	Subscribers int    `json:"subscribers"`
	Events      int64  `json:"events"`     // received from the upstream since it opened
	Deliveries  int64  `json:"deliveries"` // queued to subscribers
}

// Topics returns every topic, sorted by pattern.
func (h *Hub) Topics() []TopicInfo {
	h.mu.Lock()
	out := make([]TopicInfo, 0, len(h.topics))
	for p, t := range h.topics {
		out = append(out, TopicInfo{Pattern: p, Subscribers: t.subscribers, Events: t.events.Load(), Deliveries: t.deliveries.Load()})
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// ClientInfo describes one client, for operators.
type ClientInfo struct {
	ID            string   `json:"session"`
	User          string   `json:"user"`
	Subscriptions []string `json:"subscriptions"`
	QueuedEvents  int      `json:"queued_events"`
	QueuedBytes   int      `json:"queued_bytes"` // strict bytes; ticks are conflated
}

// Info returns a snapshot of the client.
func (c *Client) Info() ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	subs := make([]string, 0, len(c.subs))
	for p := range c.subs {
		subs = append(subs, p)
	}
	sort.Strings(subs)
	return ClientInfo{ID: c.ID, User: c.User, Subscriptions: subs, QueuedEvents: len(c.queue), QueuedBytes: c.bytes}
}

// DeliveriesByKind counts, per channel kind, the events queued to
// subscribers since the hub started (each event once per subscriber).
func (h *Hub) DeliveriesByKind() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int64, len(h.retired))
	for k, n := range h.retired {
		out[k] = n
	}
	for p, t := range h.topics {
		out[protocol.Kind(p)] += t.deliveries.Load()
	}
	return out
}

// RoomSize is how many users this hub has subscribed to a literal chat
// channel.
func (h *Hub) RoomSize(channel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.presence[channel])
}
