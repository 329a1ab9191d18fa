package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// A deleted message is erased from the chat stream (its bytes overwritten),
// so its text is gone from disk too. Its place in the room stays: history
// and replays put back a stand-in, {"user":…,"deleted":true} at the
// original's seq and time, made from the delete's amendment (which keeps
// the author, the time and the msgid, never the text).

// syncWait bounds how long a history or replay waits for this gateway's
// view of tickroom_chat after a (re)start, so a stand-in is not missing.
const syncWait = 3 * time.Second

type chatEraser interface {
	Erase(ctx context.Context, subject string, seq uint64) error
}

var _ chatEraser = (*natsbus.Bus)(nil)

// erase removes the original of a deleted message (best effort: until it
// succeeds the gateway still hides its text).
func (c *chatOps) erase(ctx context.Context, room string, seq uint64) {
	e, ok := c.s.bus.(chatEraser)
	if !ok {
		return
	}
	if err := e.Erase(ctx, room, seq); err != nil {
		c.s.log.Warn("deleted message not erased from the stream", "room", room, "seq", seq, "err", err)
	}
}

// waitSynced waits (bounded) until the view of tickroom_chat is loaded.
func (c *chatOps) waitSynced(ctx context.Context) {
	if c.bus == nil || c.synced.Load() {
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(syncWait)
	for !c.synced.Load() {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
	}
}

// standIns are the deleted messages of rooms matching pattern with a seq
// in (after, upTo], in seq order, as stored messages.
func (c *chatOps) standIns(pattern string, after, upTo uint64) []natsbus.Msg {
	if c.bus == nil || protocol.Kind(pattern) != protocol.KindChat {
		return nil
	}
	key := c.stampKey(c.s.ctx)
	if key == nil {
		return nil
	}
	c.mu.RLock()
	var out []natsbus.Msg
	for k, a := range c.amends {
		if !a.Deleted || a.Author == "" {
			continue
		}
		i := strings.LastIndexByte(k, '.')
		room := k[:i]
		seq, err := strconv.ParseUint(k[i+1:], 10, 64)
		if err != nil || seq <= after || seq > upTo || !protocol.Match(pattern, room) {
			continue
		}
		d := map[string]any{"user": a.Author}
		if a.MsgID != "" {
			d["msgid"] = a.MsgID
		}
		data, _ := json.Marshal(d)
		out = append(out, natsbus.Msg{Subject: room, Seq: seq, Time: a.Time, Data: data, Stamp: stampOf(key, room, "", data)})
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(x, y natsbus.Msg) int { return cmp.Compare(x.Seq, y.Seq) })
	return out
}

// replay is Bus.Replay with the stand-ins of erased messages in their
// places.
func (c *chatOps) replay(ctx context.Context, pattern string, since uint64, fn func(natsbus.Msg) error) (uint64, error) {
	if protocol.Kind(pattern) != protocol.KindChat {
		return c.s.bus.Replay(ctx, pattern, since, fn)
	}
	c.waitSynced(ctx)
	var (
		ins  []natsbus.Msg
		next int
	)
	prev := since
	last, err := c.s.bus.Replay(ctx, pattern, since, func(m natsbus.Msg) error {
		if ins == nil {
			ins = c.standIns(pattern, since, ^uint64(0))
		}
		for next < len(ins) && ins[next].Seq < m.Seq {
			if ins[next].Seq > prev {
				if err := fn(ins[next]); err != nil {
					return err
				}
			}
			next++
		}
		prev = m.Seq
		return fn(m)
	})
	return last, err
}

// withStandIns merges the stand-ins of erased messages into a history page
// (msgs oldest first, read before `before`, 0 = the latest): those between
// the page's first message and its end, or every one before `before` when
// the page reached the start of the room.
func (c *chatOps) withStandIns(ctx context.Context, room string, msgs []natsbus.Msg, before uint64, limit int) []natsbus.Msg {
	if protocol.Kind(room) != protocol.KindChat {
		return msgs
	}
	c.waitSynced(ctx)
	upTo := ^uint64(0)
	if before > 0 {
		upTo = before - 1
	}
	var from uint64
	if len(msgs) >= limit && len(msgs) > 0 {
		from = msgs[0].Seq
	}
	ins := c.standIns(room, from, upTo)
	if len(ins) == 0 {
		return msgs
	}
	out := append(slices.Clone(msgs), ins...)
	slices.SortFunc(out, func(x, y natsbus.Msg) int { return cmp.Compare(x.Seq, y.Seq) })
	return out
}
