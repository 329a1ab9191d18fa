package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"
)

// Upstream is where a topic's events come from. The hub calls Subscribe once
// per pattern in use (not per client) and stop when the last subscriber has
// left and the linger time has passed. deliver may be called from any
// goroutine, serially per subscription.
type Upstream interface {
	Subscribe(pattern string, deliver func(*Event)) (stop func(), err error)
}

// Config holds the hub's limits. Zero values mean the documented defaults.
type Config struct {
	// QueueBytes bounds a client's queued strict events, and separately its
	// events buffered during a replay. Default 1 MiB.
	QueueBytes int
	// Linger keeps an upstream subscription open this long after its last
	// subscriber left, so a page reload does not churn NATS. Default 5s.
	Linger time.Duration
	// OnPresence is called when a user's first subscription to a literal
	// chat channel opens (joined) or its last closes. It is called without
	// locks held, possibly concurrently; it must not block.
	OnPresence func(channel, user string, joined bool)
}

func (c *Config) setDefaults() {
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Second
	}
}

// ErrClosed is returned by calls made after Shutdown.
var ErrClosed = errors.New("hub: closed")

// Hub is the registry of topics and clients. Create it with New.
type Hub struct {
	cfg   Config
	up    Upstream
	stats counters

	stopping sync.WaitGroup // upstream stops in flight; WaitUpstreamsStopped waits for them

	// Lock order: Hub.mu, then Client.mu (Subscribe takes both, in that
	// order). Nothing takes Hub.mu while holding a Client.mu, and neither
	// is held across I/O, a call into the Upstream or a callback
	// (OnPresence runs after both are released; OnWake and OnSlowConsumer
	// run under Client.mu and must not call back into the hub).
	mu       sync.Mutex
	topics   map[string]*topic
	clients  map[*Client]struct{}
	presence map[string]map[string]int // literal chat channel → user → subscriptions
	retired  map[string]int64          // kind → deliveries of topics since dropped
	closed   bool
}

type topic struct {
	pattern string
	subs    atomic.Pointer[[]*Sub] // copy-on-write; fan-out reads it without locks

	// Guarded by Hub.mu.
	subscribers int // len(*subs), kept beside it for the registry's checks
	linger      *time.Timer

	events     atomic.Int64 // events received from the upstream
	deliveries atomic.Int64 // events queued to subscribers (events × subscribers)

	ready chan struct{} // closed once the upstream subscription settled
	err   error         // its outcome, read after ready
	stop  func()
}

func (t *topic) deliver(ev *Event) {
	subs := *t.subs.Load()
	for _, s := range subs {
		s.client.deliver(s, ev)
	}
	t.events.Add(1)
	t.deliveries.Add(int64(len(subs)))
}

// New returns a hub fed by up.
func New(up Upstream, cfg Config) *Hub {
	cfg.setDefaults()
	return &Hub{
		cfg:      cfg,
		up:       up,
		topics:   make(map[string]*topic),
		clients:  make(map[*Client]struct{}),
		presence: make(map[string]map[string]int),
		retired:  make(map[string]int64),
	}
}

// Register adds a client. The transport must call Unregister when the
// connection ends.
func (h *Hub) Register(id, user string) (*Client, error) {
	c := &Client{
		hub:       h,
		ID:        id,
		User:      user,
		done:      make(chan struct{}),
		drained:   make(chan struct{}, 1),
		tickIndex: make(map[string]int),
		subs:      make(map[string]*Sub),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	h.clients[c] = struct{}{}
	h.stats.clients.Add(1)
	return c, nil
}

// Unregister removes a client and all its subscriptions, and closes it
// normally if nothing closed it before.
func (h *Hub) Unregister(c *Client) {
	c.Close(protocol.CloseNormal, "")
	c.mu.Lock()
	subs := make([]*Sub, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		h.removeSub(s)
	}
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.stats.clients.Add(-1)
	}
	h.mu.Unlock()
}

// Start says how a new subscription begins. Subscribe queues, in this
// order: Reply (the subscribe's answer), then what Backfill sends (a replay
// after Since, or last values), then the live events that arrived
// meanwhile and Backfill did not already send — no gap, and no duplicate
// by seq.
type Start struct {
	// Since: nothing at or below this seq is delivered (the client's since);
	// 0 means no bound.
	Since uint64
	// Reply is queued before any event of the subscription; nil: none.
	Reply []byte
	// Backfill, if set, runs after Reply is queued, on the caller's
	// goroutine, while live events are held.
	Backfill func(ctx context.Context, out *Replay) error
}

// Subscribe subscribes c to pattern (a validated channel, wildcards
// allowed) and returns once the subscription is live, already ordered as
// Start describes. created is false when c was already subscribed to
// pattern: then only Reply is queued, and the subscription stays as it
// was. ctx bounds the wait for the upstream subscription (opened once per
// pattern, by whichever client asks first) and the backfill.
//
// An error from Backfill is returned with s set: the subscription is in
// place and live, but what came before it may be incomplete. Any other
// error leaves no subscription. A closed client yields its *protocol.Close.
func (h *Hub) Subscribe(ctx context.Context, c *Client, pattern string, start Start) (s *Sub, created bool, err error) {
	s, created, err = h.subscribe(ctx, c, pattern)
	if err != nil {
		return nil, false, err
	}
	if start.Reply != nil {
		if err := c.Send(start.Reply); err != nil {
			if created {
				s.live()
			}
			return s, created, err
		}
	}
	if !created {
		return s, false, nil
	}
	defer s.live()
	s.skipTo(start.Since)
	if start.Backfill != nil {
		if err := start.Backfill(ctx, &Replay{ctx: ctx, s: s}); err != nil {
			return s, true, err
		}
	}
	return s, true, nil
}

// Replay is what a Backfill sends its events through. It is valid only
// during the Backfill call.
type Replay struct {
	ctx context.Context
	s   *Sub
}

// Send queues an event from history or a last value, ahead of the live
// events held meanwhile. It is strict (never conflated nor dropped); when
// the queue is full it waits for the writer to drain it (a replay runs at
// the pace the client reads), until ctx ends.
func (r *Replay) Send(ev *Event) error { return r.s.replay(r.ctx, ev) }

// SkipTo moves the resume point: live events at or below seq are not
// delivered (a backfill that read further than it sent).
func (r *Replay) SkipTo(seq uint64) { r.s.skipTo(seq) }

// subscribe is the registry step of Subscribe: the new subscription starts
// buffering, and live events are held until live is called.
func (h *Hub) subscribe(ctx context.Context, c *Client, pattern string) (s *Sub, created bool, err error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, false, ErrClosed
	}
	c.mu.Lock()
	if c.closeBy != nil {
		c.mu.Unlock()
		h.mu.Unlock()
		return nil, false, c.closeBy
	}
	if s := c.subs[pattern]; s != nil {
		c.mu.Unlock()
		h.mu.Unlock()
		return s, false, nil
	}
	t := h.topics[pattern]
	opener := t == nil
	if opener {
		t = &topic{pattern: pattern, ready: make(chan struct{})}
		empty := []*Sub{}
		t.subs.Store(&empty)
		h.topics[pattern] = t
		h.stats.topics.Add(1)
	}
	if t.linger != nil {
		t.linger.Stop()
		t.linger = nil
	}
	s = &Sub{client: c, topic: t, Pattern: pattern, buffering: true}
	c.subs[pattern] = s
	c.mu.Unlock()
	t.subscribers++
	// Copy-on-write without copying: fan-out reads a published slice only
	// up to its length, so appending into spare capacity (growing it by
	// doubling) leaves every published slice as it was. Copying all n
	// subscribers per subscribe made n subscribes cost O(n²) garbage, and
	// the heap then grew to its goal while 10,000 idle clients connected.
	// removeSub always builds a fresh array, so no published slice ever
	// shrinks under a later append.
	next := append(*t.subs.Load(), s)
	t.subs.Store(&next)
	h.mu.Unlock()
	h.stats.subscriptions.Add(1)

	if opener {
		h.openUpstream(t) // outside the lock: the Upstream may do network I/O
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		h.removeSub(s)
		return nil, false, ctx.Err()
	}
	if t.err != nil {
		h.removeSub(s)
		return nil, false, t.err
	}
	// Presence counts only subscriptions that opened, so a failed one
	// neither joins nor leaves.
	h.mu.Lock()
	c.mu.Lock()
	s.present = !s.removed
	c.mu.Unlock()
	joined := s.present && h.trackPresenceLocked(c.User, pattern, +1)
	h.mu.Unlock()
	if joined && h.cfg.OnPresence != nil {
		h.cfg.OnPresence(pattern, c.User, true)
	}
	return s, true, nil
}

func (h *Hub) openUpstream(t *topic) {
	stop, err := h.up.Subscribe(t.pattern, t.deliver)
	h.mu.Lock()
	t.stop, t.err = stop, err
	if err != nil && h.topics[t.pattern] == t {
		// Forget the failed topic so the next subscribe tries again.
		delete(h.topics, t.pattern)
		h.stats.topics.Add(-1)
	}
	h.mu.Unlock()
	close(t.ready)
}

// Unsubscribe removes c's subscription to pattern. It reports whether there
// was one.
func (h *Hub) Unsubscribe(c *Client, pattern string) bool {
	c.mu.Lock()
	s := c.subs[pattern]
	c.mu.Unlock()
	if s == nil {
		return false
	}
	h.removeSub(s)
	return true
}

// Subscribed reports whether c holds a subscription to pattern.
func (c *Client) Subscribed(pattern string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[pattern] != nil
}

// Subscriptions returns how many subscriptions c holds.
func (c *Client) Subscriptions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs)
}

func (h *Hub) removeSub(s *Sub) {
	c := s.client
	c.mu.Lock()
	if s.removed {
		c.mu.Unlock()
		return
	}
	s.removed = true
	s.pending = nil
	if c.subs[s.Pattern] == s {
		delete(c.subs, s.Pattern)
	}
	c.mu.Unlock()

	h.mu.Lock()
	t := s.topic
	old := *t.subs.Load()
	next := make([]*Sub, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	t.subs.Store(&next)
	t.subscribers--
	left := s.present && h.trackPresenceLocked(c.User, s.Pattern, -1)
	s.present = false
	if t.subscribers == 0 && h.topics[t.pattern] == t {
		if h.closed {
			h.dropTopicLocked(t)
		} else {
			t.linger = time.AfterFunc(h.cfg.Linger, func() { h.expire(t) })
		}
	}
	h.mu.Unlock()
	h.stats.subscriptions.Add(-1)
	if left && h.cfg.OnPresence != nil {
		h.cfg.OnPresence(s.Pattern, c.User, false)
	}
}

func (h *Hub) expire(t *topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.subscribers == 0 && h.topics[t.pattern] == t {
		h.dropTopicLocked(t)
	}
}

// dropTopicLocked forgets t and stops its upstream once it has settled.
func (h *Hub) dropTopicLocked(t *topic) {
	delete(h.topics, t.pattern)
	h.retired[protocol.Kind(t.pattern)] += t.deliveries.Load()
	h.stats.topics.Add(-1)
	if t.linger != nil {
		t.linger.Stop()
		t.linger = nil
	}
	h.stopping.Add(1)
	go func() { // bounded: waits only for the upstream call already in flight
		defer h.stopping.Done()
		<-t.ready
		if t.stop != nil {
			t.stop()
		}
	}()
}

// trackPresenceLocked counts a user's subscriptions to a literal chat
// channel and reports whether this change joined or left it.
func (h *Hub) trackPresenceLocked(user, pattern string, delta int) bool {
	if user == "" || protocol.Kind(pattern) != protocol.KindChat || protocol.IsWildcard(pattern) {
		return false
	}
	users := h.presence[pattern]
	if users == nil {
		users = make(map[string]int)
		h.presence[pattern] = users
	}
	n := users[user] + delta
	if n <= 0 {
		delete(users, user)
		if len(users) == 0 {
			delete(h.presence, pattern)
		}
		return true
	}
	users[user] = n
	return n == 1 && delta > 0
}

// Presence returns, per literal chat channel, the users subscribed on this
// hub. The result is a fresh copy.
func (h *Hub) Presence() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.presence))
	for ch, users := range h.presence {
		list := make([]string, 0, len(users))
		for u := range users {
			list = append(list, u)
		}
		out[ch] = list
	}
	return out
}

// Broadcast delivers ev to every subscription whose pattern matches
// ev.Channel. It is for events that do not come through an Upstream
// subscription (presence join/leave, status), so it walks the topics.
func (h *Hub) Broadcast(ev *Event) {
	h.mu.Lock()
	var matched []*topic
	for p, t := range h.topics {
		if protocol.Match(p, ev.Channel) {
			matched = append(matched, t)
		}
	}
	h.mu.Unlock()
	for _, t := range matched {
		t.deliver(ev)
	}
}

// SendAll queues a frame to every client (a status notice). Clients whose
// queue overflows are closed as slow consumers.
func (h *Hub) SendAll(frame []byte) {
	for _, c := range h.Clients() {
		_ = c.Send(frame)
	}
}

// Clients returns a snapshot of the registered clients.
func (h *Hub) Clients() []*Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		out = append(out, c)
	}
	return out
}

// Shutdown refuses new clients and closes every client with code (1001 when
// the server goes away). Transports see Done and send the close frame.
func (h *Hub) Shutdown(code int, reason string) {
	h.mu.Lock()
	h.closed = true
	clients := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	for _, t := range h.topics {
		if t.subscribers == 0 {
			h.dropTopicLocked(t)
		}
	}
	h.mu.Unlock()
	for _, c := range clients {
		c.Close(code, reason)
	}
}

// WaitUpstreamsStopped blocks until every upstream stop the hub started
// has returned. Call it after Shutdown and after the transports have
// unregistered their clients, before closing the Upstream.
func (h *Hub) WaitUpstreamsStopped() {
	h.mu.Lock()
	for _, t := range h.topics {
		if t.subscribers == 0 {
			h.dropTopicLocked(t)
		}
	}
	h.mu.Unlock()
	h.stopping.Wait()
}
