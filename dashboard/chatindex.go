package dashboard

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Unread counts from memory: for every chat room this gateway carries (has
// a live subscription to), the seqs of its newest stored events, loaded
// once when the room opens and kept by the live subscription. A subscribe
// to a carried room then counts its unread events without asking
// JetStream; a read position older than what is held falls back to
// asking (natsbus.CountAfter).

// maxIndexed bounds the seqs held per room.
const maxIndexed = 1000

const roomIndexLoad = 3 * time.Second

type roomIndex struct {
	mu       sync.Mutex
	seqs     []uint64 // ascending, at most maxIndexed
	loaded   bool
	complete bool // seqs holds every event the room retained at load
}

func (x *roomIndex) add(seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.seqs); n > 0 && x.seqs[n-1] >= seq {
		if i, found := slices.BinarySearch(x.seqs, seq); !found {
			x.seqs = slices.Insert(x.seqs, i, seq)
		}
	} else {
		x.seqs = append(x.seqs, seq)
	}
	if len(x.seqs) > maxIndexed {
		x.seqs = slices.Delete(x.seqs, 0, len(x.seqs)-maxIndexed)
		x.complete = false
	}
}

// unread counts the held events after read; ok is false when the index
// cannot tell (not loaded, or read is older than what it holds).
func (x *roomIndex) unread(read uint64) (n, last uint64, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.loaded {
		return 0, 0, false
	}
	if len(x.seqs) == 0 {
		return 0, 0, x.complete
	}
	if read+1 < x.seqs[0] && !x.complete {
		return 0, 0, false
	}
	i := sort.Search(len(x.seqs), func(i int) bool { return x.seqs[i] > read })
	return uint64(len(x.seqs) - i), x.seqs[len(x.seqs)-1], true
}

// indexRoom wraps a chat room topic's deliver so its seqs are indexed;
// loaded must be called once the live subscription is in place, closed
// when the topic closes. Other patterns pass through.
func (c *chatOps) indexRoom(pattern string, deliver func(*hub.Event)) (wrapped func(*hub.Event), loaded, closed func()) {
	nop := func() {}
	if c == nil || protocol.Kind(pattern) != protocol.KindChat || protocol.IsWildcard(pattern) {
		return deliver, nop, nop
	}
	x := &roomIndex{}
	c.roomIdx.put(pattern, x)
	wrapped = func(ev *hub.Event) {
		if ev.Seq > 0 {
			x.add(ev.Seq)
		}
		deliver(ev)
	}
	loaded = func() {
		ctx, cancel := context.WithTimeout(c.s.ctx, roomIndexLoad)
		defer cancel()
		msgs, err := c.s.bus.History(ctx, pattern, 0, maxIndexed)
		if err != nil {
			c.s.log.Debug("room index not loaded", "room", pattern, "err", err)
			return // counts are then asked of JetStream
		}
		for _, m := range msgs {
			x.add(m.Seq)
		}
		x.mu.Lock()
		x.loaded, x.complete = true, len(msgs) < maxIndexed
		x.mu.Unlock()
	}
	closed = func() { c.roomIdx.remove(pattern, x) }
	return wrapped, loaded, closed
}

// countAfter is the unread count of room after read and its last seq:
// from the room's index when this gateway carries the room, else from
// JetStream.
func (c *chatOps) countAfter(ctx context.Context, room string, read uint64) (n, last uint64, err error) {
	x := c.roomIdx.get(room)
	if x != nil {
		if n, last, ok := x.unread(read); ok {
			return n, last, nil
		}
	}
	return c.bus.CountAfter(ctx, room, read)
}
