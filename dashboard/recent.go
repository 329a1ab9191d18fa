package dashboard

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Recent windows: resumes from memory. For every persisted channel this
// gateway carries as a topic of its own (a literal chat.<room>,
// candle.<SYM> or alert.<SYM>; not wildcards, not user.<name>), the upstream
// keeps the channel's newest messages — candles compacted to the last
// version of each bar, as a candle replay sends them. The window is loaded
// from JetStream once, by the first resume on the topic (one read per
// topic, not per client), and kept current by the topic's live
// subscription. A subscribe with since then costs JetStream nothing when
// the window holds everything after since: the reply's recovered/epoch and
// the replay come from memory. A since older than the window (or ahead of
// every seq known) is answered from JetStream as before.
//
// What the window holds: every message of its channel with a seq above
// floor (all of the channel's messages the stream retained when it
// loaded, when complete), up to lastSeq, the newest the live subscription
// delivered. It follows the stream's retention: it holds no more messages
// than the stream keeps per subject and drops those older than the
// stream's max age (raising floor, so older resumes go to JetStream); a
// stream that also drops by total count or size is not windowed. A message
// deleted from the stream is dropped from its window; a purge or a stream
// delete/create/update (natsbus.WatchStreamChanges) empties the windows of
// that stream, which load again on the next resume. Its recovered is the stream rule (natsbus.
// StreamState) on the state read when it loaded, with the last seq raised
// to the newest delivered since: true when the window holds every message
// of the channel after since (a retention drop on another channel of the
// stream, which a JetStream resume would count, does not make it false).
//
// Concurrency: a window is written by its topic's NATS callback (add), by
// the resume that loads it, and by invalidate; resumes read snapshots of it
// on their own goroutines. Everything is guarded by the window's mutex; no
// lock is held across a JetStream call or an encode.

// recentLoad bounds the JetStream read that loads a window.
const recentLoad = 5 * time.Second

// recentEntryOverhead is what an entry costs beyond its bytes, counted
// against the memory budget.
const recentEntryOverhead = 160

// recentReader is what a window needs from the bus to load.
type recentReader interface {
	Recent(ctx context.Context, subject string, limit int) ([]natsbus.Msg, natsbus.StreamState, error)
}

var _ recentReader = (*natsbus.Bus)(nil)

// streamWatcher tells of requests that removed stored messages.
type streamWatcher interface {
	WatchStreamChanges(fn func(stream string, seq uint64)) (natsbus.Subscription, error)
}

var _ streamWatcher = (*natsbus.Bus)(nil)

// recentWindows holds the windows of the open topics, by channel, and
// their shared memory budget.
type recentWindows struct {
	ctx        context.Context // the server's: loads end with it
	reader     recentReader    // nil: no windows
	up         *upstream
	perChannel int   // messages (candles: bars) a window holds at most
	budget     int64 // bytes all windows hold at most
	bytes      atomic.Int64

	windows topicMap[*recentWindow]
}

// windowed reports whether a topic on pattern keeps a recent window: a
// literal persisted channel that many clients share. Not user.<name>: one
// user's notifications have one reader, so a window would cost a load per
// user and save little.
func windowed(pattern string) bool {
	kind := protocol.Kind(pattern)
	return protocol.Persisted(kind) && kind != protocol.KindUser && !protocol.IsWildcard(pattern)
}

// open starts a window for channel (nil when the gateway keeps none for
// it), replacing one a closing topic of the same channel may still hold.
func (r *recentWindows) open(channel string) *recentWindow {
	if r == nil || r.reader == nil || r.perChannel <= 0 || !windowed(channel) {
		return nil
	}
	kind := protocol.Kind(channel)
	w := &recentWindow{r: r, channel: channel, stream: protocol.StreamOf(kind), candle: kind == protocol.KindCandle}
	r.windows.put(channel, w)
	return w
}

// close forgets w and releases its memory, unless a newer topic of the
// same channel replaced it.
func (r *recentWindows) close(channel string, w *recentWindow) {
	r.windows.remove(channel, w)
	w.mu.Lock()
	w.closed = true // a callback still in flight adds nothing
	w.mu.Unlock()
	w.reset()
}

func (r *recentWindows) get(channel string) *recentWindow {
	if r == nil {
		return nil
	}
	return r.windows.get(channel)
}

// invalidate forgets what every window holds (NATS went away: the stream
// may come back as another incarnation). The live subscriptions go on; the
// next resume on each topic loads its window again.
func (r *recentWindows) invalidate() { r.resetWhere(func(*recentWindow) bool { return true }) }

// streamChanged forgets what the windows of stream hold (messages were
// removed from it, or it was replaced), or, when seq is set, the one
// message deleted.
func (r *recentWindows) streamChanged(stream string, seq uint64) {
	for _, w := range r.where(func(w *recentWindow) bool { return w.stream == stream }) {
		if seq > 0 {
			w.deleted(seq)
		} else {
			w.reset()
		}
	}
}

func (r *recentWindows) resetWhere(match func(*recentWindow) bool) {
	for _, w := range r.where(match) {
		w.reset()
	}
}

func (r *recentWindows) where(match func(*recentWindow) bool) []*recentWindow {
	if r == nil {
		return nil
	}
	return r.windows.where(match)
}

// recentEntry is one held message.
type recentEntry struct {
	msg   natsbus.Msg
	start int64 // candles: the bar's start, unix ms
	size  int64
	// enc is the message encoded for browsers. Chat is encoded when first
	// replayed and again when its edit or delete changed (encodeChat
	// applies them); other kinds once, when added.
	enc atomic.Pointer[recentEncoded]
}

type recentEncoded struct {
	ev      *hub.Event // nil: the message is invalid and skipped
	amend   amendment  // chat: the amendment ev was encoded with
	amended bool
}

// heldMsg is a message the window counts: every message of the channel
// above floor, valid or not, compacted away or not (the stream counts
// them all against its per-subject limit).
type heldMsg struct {
	seq  uint64
	time int64 // stored, unix ns
}

// recentWindow is one channel's window.
type recentWindow struct {
	r       *recentWindows
	channel string
	stream  string
	candle  bool

	mu       sync.Mutex
	held     []heldMsg        // ascending seq
	entries  []*recentEntry   // ascending seq; what replays send
	bars     map[int64]uint64 // candles: bar start → seq of its entry
	bytes    int64
	lastSeq  uint64 // the highest seq added, valid or not
	floor    uint64 // when not complete: every message with a higher seq is held
	complete bool   // every message the stream retained at load is held
	state    natsbus.StreamState
	loaded   bool
	loading  chan struct{} // closed when the load in progress ends
	gen      uint64        // bumped by reset: a load begun before is void
	closed   bool          // the topic closed: the window holds nothing more
}

// add records a live message; ev is its encoding, nil when it was refused.
func (w *recentWindow) add(m natsbus.Msg, ev *hub.Event) {
	if w == nil || m.Seq == 0 {
		return
	}
	e := w.r.entry(m, ev)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || m.Seq <= w.lastSeq {
		return // closed, or already held (a load read it first)
	}
	w.lastSeq = m.Seq
	w.held = append(w.held, heldMsg{m.Seq, m.Time.UnixNano()})
	if e != nil {
		w.addLocked(e)
	}
	w.trimLocked()
}

// entry builds the entry for m, or nil when m can never be replayed (an
// invalid candle, alert or notification: replays skip those too).
// chatFrameOverhead is what a chat event's frame adds to the stored
// message: the envelope's field names, seq and time.
const chatFrameOverhead = 96

func (r *recentWindows) entry(m natsbus.Msg, ev *hub.Event) *recentEntry {
	e := &recentEntry{msg: m, size: int64(len(m.Subject) + len(m.Data) + len(m.Stamp) + len(m.Event) + recentEntryOverhead)}
	switch protocol.Kind(m.Subject) {
	case protocol.KindChat:
		// Encoded when replayed (edits and deletes change it); its frame
		// is counted now, at about the size of the stored message.
		e.size += int64(len(m.Data) + len(m.Subject) + chatFrameOverhead)
		return e
	case protocol.KindCandle:
		start, err := protocol.ValidatePayload(m.Subject, m.Data)
		if err != nil {
			return nil
		}
		e.start = start.UnixMilli()
	}
	if ev == nil {
		var err error
		if ev, err = r.up.encode(m); err != nil {
			return nil
		}
	}
	stored := *ev
	stored.Received = 0 // a replayed event's wait is not fan-out delay
	e.size += int64(len(stored.Frame))
	e.enc.Store(&recentEncoded{ev: &stored})
	return e
}

// addLocked appends e (newer than everything held); a candle replaces the
// entry of the same bar.
func (w *recentWindow) addLocked(e *recentEntry) {
	if w.candle {
		if w.bars == nil {
			w.bars = map[int64]uint64{}
		}
		if old, ok := w.bars[e.start]; ok {
			if i, found := w.indexLocked(old); found {
				w.dropLocked(i)
			}
		}
		w.bars[e.start] = e.msg.Seq
	}
	w.entries = append(w.entries, e)
	w.bytes += e.size
	w.r.bytes.Add(e.size)
}

func (w *recentWindow) indexLocked(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(w.entries, seq, func(e *recentEntry, s uint64) int { return cmp.Compare(e.msg.Seq, s) })
}

func (w *recentWindow) dropLocked(i int) {
	e := w.entries[i]
	w.entries = slices.Delete(w.entries, i, i+1)
	w.bytes -= e.size
	w.r.bytes.Add(-e.size)
	if w.candle && w.bars[e.start] == e.msg.Seq {
		delete(w.bars, e.start)
	}
}

// trimLocked drops the oldest messages while the window holds more than
// its count (and than the stream keeps per subject), or all windows are
// over their memory budget. What it drops raises the floor: a since below
// it is no longer answered from memory.
func (w *recentWindow) trimLocked() {
	limit := w.r.perChannel
	if k := w.state.MaxPerSubject; k > 0 && k < int64(limit) {
		limit = int(k)
	}
	for len(w.held) > 0 && (len(w.held) > limit || (w.r.bytes.Load() > w.r.budget && len(w.entries) > 0)) {
		w.dropOldestLocked()
	}
}

// expireLocked drops what the stream's max age has expired by now.
func (w *recentWindow) expireLocked(now time.Time) {
	if w.state.MaxAge <= 0 {
		return
	}
	cut := now.Add(-w.state.MaxAge).UnixNano()
	for len(w.held) > 0 && w.held[0].time <= cut {
		w.dropOldestLocked()
	}
}

// dropOldestLocked forgets the oldest held message (and the entry it is,
// or the bar versions up to it).
func (w *recentWindow) dropOldestLocked() {
	seq := w.held[0].seq
	w.held = w.held[1:]
	w.floor = max(w.floor, seq)
	w.complete = false
	for len(w.entries) > 0 && w.entries[0].msg.Seq <= seq {
		w.dropLocked(0)
	}
}

// reset forgets everything held; the window loads again when next asked.
func (w *recentWindow) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	w.r.bytes.Add(-w.bytes)
	w.held, w.entries, w.bars, w.bytes = nil, nil, nil, 0
	w.lastSeq, w.floor, w.complete, w.loaded = 0, 0, false, false
	w.state = natsbus.StreamState{}
}

// deleted forgets the message seq, which was deleted from the stream (a
// chat message a moderator deleted is erased so; a replay then puts its
// stand-in in its place, from memory as from JetStream).
func (w *recentWindow) deleted(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i, found := slices.BinarySearchFunc(w.held, seq, func(h heldMsg, s uint64) int { return cmp.Compare(h.seq, s) }); found {
		w.held = slices.Delete(w.held, i, i+1)
	}
	if i, found := w.indexLocked(seq); found {
		w.dropLocked(i)
	}
}

// ensureLoaded loads the window once (one JetStream read, shared by every
// resume that asks meanwhile) and reports whether it is loaded.
func (w *recentWindow) ensureLoaded(ctx context.Context) bool {
	w.mu.Lock()
	if w.loaded || w.closed {
		w.mu.Unlock()
		return w.loaded
	}
	if ch := w.loading; ch != nil {
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.loaded
	}
	ch := make(chan struct{})
	w.loading, w.gen = ch, w.gen+1
	gen := w.gen
	w.mu.Unlock()

	lctx, cancel := context.WithTimeout(w.r.ctx, recentLoad)
	msgs, st, err := w.r.reader.Recent(lctx, w.channel, w.r.perChannel)
	cancel()
	var loaded []*recentEntry
	if err == nil {
		loaded = make([]*recentEntry, 0, len(msgs))
		for _, m := range msgs {
			if e := w.r.entry(m, nil); e != nil {
				loaded = append(loaded, e)
			}
		}
	} else {
		w.r.up.log.Warn("recent messages not loaded; resumes read JetStream", "channel", w.channel, "err", err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.loading = nil
	close(ch)
	if err != nil || w.gen != gen {
		return false
	}
	// Everything stored up to the read is in msgs; what the live
	// subscription added that is newer stays, after it.
	var readTo uint64
	if n := len(msgs); n > 0 {
		readTo = msgs[n-1].Seq
	}
	liveHeld, liveEntries := w.held, w.entries
	w.r.bytes.Add(-w.bytes)
	w.held, w.entries, w.bars, w.bytes = nil, nil, nil, 0
	for _, m := range msgs {
		w.held = append(w.held, heldMsg{m.Seq, m.Time.UnixNano()})
	}
	for _, h := range liveHeld {
		if h.seq > readTo {
			w.held = append(w.held, h)
		}
	}
	for _, e := range loaded {
		w.addLocked(e)
	}
	for _, e := range liveEntries {
		if e.msg.Seq > readTo {
			w.addLocked(e)
		}
	}
	w.lastSeq = max(w.lastSeq, readTo)
	w.complete = len(msgs) < w.r.perChannel
	w.floor = 0
	if !w.complete {
		w.floor = msgs[0].Seq - 1
	}
	w.state, w.loaded = st, true
	w.trimLocked()
	return true
}

// resumeState is the stream state a resume after since is told, from
// memory; ok is false when the window cannot answer it (not loaded, since
// older than what it holds, or ahead of every seq it knows).
func (w *recentWindow) resumeState(ctx context.Context, since uint64) (st natsbus.StreamState, ok bool) {
	if w == nil || !w.ensureLoaded(ctx) {
		return st, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.coversLocked(since) {
		return st, false
	}
	return w.stateLocked(), true
}

func (w *recentWindow) stateLocked() natsbus.StreamState {
	st := w.state
	st.LastSeq = max(st.LastSeq, w.lastSeq)
	return st
}

// coversLocked reports whether the window holds every message of its
// channel after since.
func (w *recentWindow) coversLocked(since uint64) bool {
	if !w.loaded || w.state.StreamLimited {
		return false
	}
	w.expireLocked(time.Now())
	return (w.complete || since >= w.floor) && since <= w.stateLocked().LastSeq
}

// after returns the held entries with a seq above since, oldest first, and
// the highest seq the window has seen; ok is false when it does not hold
// everything after since.
func (w *recentWindow) after(ctx context.Context, since uint64) (entries []*recentEntry, last uint64, ok bool) {
	if w == nil || !w.ensureLoaded(ctx) {
		return nil, 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.coversLocked(since) {
		return nil, 0, false
	}
	i := sort.Search(len(w.entries), func(i int) bool { return w.entries[i].msg.Seq > since })
	return slices.Clone(w.entries[i:]), w.lastSeq, true
}

// event is e encoded as a replay sends it, or nil when it is invalid.
func (u *upstream) recentEvent(e *recentEntry) *hub.Event {
	enc := e.enc.Load()
	if protocol.Kind(e.msg.Subject) != protocol.KindChat {
		if enc == nil {
			return nil
		}
		return enc.ev
	}
	// Chat: reuse the encoding while the message's edit or delete is the
	// one it was encoded with. Before the chat state is synced,
	// amendmentOf asks JetStream: encode afresh, as a JetStream replay
	// does, and keep nothing.
	c := u.chat
	synced := c != nil && c.synced.Load()
	var (
		a  amendment
		ok bool
	)
	if synced {
		a, ok = c.amendmentOf(e.msg.Subject, e.msg.Seq)
		if enc != nil && enc.amended == ok && enc.amend == a {
			return enc.ev
		}
	}
	ev, err := u.encode(e.msg)
	if err != nil {
		ev = nil
	}
	if synced {
		e.enc.Store(&recentEncoded{ev: ev, amend: a, amended: ok})
	}
	return ev
}
