package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// handleFrame decodes one client frame and answers it. Requests on one
// connection are handled in order, one at a time, so replies come in the
// order asked.
func (c *conn) handleFrame(frame []byte) {
	req, perr := protocol.DecodeRequest(frame)
	if perr != nil {
		c.fail(req.ID, perr)
		return
	}
	switch req.Op {
	case protocol.OpPing:
		c.ok(req.ID, okFrame)
	case protocol.OpSubscribe:
		c.handleSubscribe(&req)
	case protocol.OpUnsubscribe:
		c.s.hub.Unsubscribe(c.client, req.Channel)
		c.ok(req.ID, okFrame)
	case protocol.OpPublish:
		c.handlePublish(&req)
	case protocol.OpHistory:
		c.handleHistory(&req)
	case protocol.OpPresence:
		c.handlePresence(&req)
	}
}

func (c *conn) handleSubscribe(req *protocol.Request) {
	if !c.subscribe.Allow() {
		c.fail(req.ID, protocol.NewError(protocol.CodeRateLimited, "too many subscribe requests; slow down"))
		return
	}
	if perr := c.s.mayRead(c.id, req.Channel); perr != nil {
		c.fail(req.ID, perr)
		return
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	if perr := c.s.subscribe(ctx, c.client, req.Channel, req.Since, func() {
		c.ok(req.ID, okFrame)
	}); perr != nil {
		c.fail(req.ID, perr)
	}
}

// subscribe is the transport-agnostic subscribe: it subscribes client to
// channel, calls ok to queue the success reply, then queues the replay
// (since) or the last values, then lets live events through — in that
// order, with no gap and no duplicate. It returns the error to reply with;
// nil also when the client is closing (there is nobody to tell).
func (s *Server) subscribe(ctx context.Context, client *hub.Client, channel string, since *uint64, ok func()) *protocol.Error {
	if client.Subscriptions() >= s.cfg.MaxSubscriptions && !client.Subscribed(channel) {
		return protocol.NewError(protocol.CodeForbidden,
			fmt.Sprintf("subscription limit of %d reached", s.cfg.MaxSubscriptions))
	}
	sub, created, err := s.hub.Subscribe(client, channel)
	if err != nil {
		var cl *protocol.Close
		if errors.As(err, &cl) {
			return nil // the connection is closing
		}
		s.log.Warn("subscribe failed", "channel", channel, "err", err)
		return protocol.NewError(protocol.CodeUnavailable, "the feed is unavailable; retry shortly")
	}
	ok()
	if !created {
		return nil // already subscribed: nothing to replay twice
	}
	// Live events are held by the subscription until Live.
	defer sub.Live()
	kind := protocol.Kind(channel)
	switch {
	case since != nil && kind == protocol.KindCandle:
		sub.SetLastSeq(*since)
		err = s.replayCandles(ctx, sub, channel, *since)
	case since != nil && protocol.Persisted(kind):
		sub.SetLastSeq(*since)
		_, err = s.bus.Replay(ctx, channel, *since, func(m natsbus.Msg) error {
			ev, err := s.upstreamEncode(m)
			if err != nil {
				return nil // invalid stored messages are skipped, as live ones are
			}
			return sub.Replay(ctx, ev)
		})
	case protocol.HasLastValue(kind):
		err = s.bus.LastValues(ctx, channel, func(m natsbus.Msg) error {
			ev, err := s.lastValid(ctx, m)
			if err != nil || ev == nil {
				return nil // nothing valid stored for this channel
			}
			return sub.Replay(ctx, ev)
		})
	}
	if err != nil {
		var cl *protocol.Close
		if errors.As(err, &cl) {
			return nil
		}
		// A resume cannot be partial without saying so: a client that asked
		// for a replay must know it did not get one, so close it and let it
		// resume again.
		s.log.Warn("replay failed", "channel", channel, "err", err)
		if since != nil {
			client.Close(protocol.CloseTryAgainLater, "replay unavailable; reconnect and resume with since")
		}
	}
	return nil
}

// replayCandles replays stored bars compacted to the last version of each
// (channel, start): a bar in progress is stored each time it is re-sent,
// and a chart needs only the final one. The subscription then resumes after
// the highest seq read.
func (s *Server) replayCandles(ctx context.Context, sub *hub.Sub, pattern string, since uint64) error {
	type key struct {
		channel string
		start   int64
	}
	var (
		bars  []*hub.Event
		index = map[key]int{}
		last  uint64
	)
	_, err := s.bus.Replay(ctx, pattern, since, func(m natsbus.Msg) error {
		last = max(last, m.Seq)
		start, err := protocol.ValidatePayload(m.Subject, m.Data)
		if err != nil {
			return nil
		}
		ev, err := s.upstreamEncode(m)
		if err != nil {
			return nil
		}
		k := key{m.Subject, start.UnixMilli()}
		if i, ok := index[k]; ok {
			bars[i] = ev
			return nil
		}
		index[k] = len(bars)
		bars = append(bars, ev)
		return nil
	})
	if err != nil {
		return err
	}
	// In seq order of each bar's last version: seqs stay increasing for
	// clients that deduplicate by seq, and since a bar's final version is
	// stored before the next bar's first, this is also time order.
	slices.SortFunc(bars, func(a, b *hub.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, ev := range bars {
		if err := sub.Replay(ctx, ev); err != nil {
			return err
		}
	}
	sub.SetLastSeq(last)
	return nil
}

func (c *conn) handlePublish(req *protocol.Request) {
	if protocol.Kind(req.Channel) != protocol.KindChat {
		c.fail(req.ID, errPublishForbidden)
		return
	}
	if perr := c.s.mayWrite(c.id, req.Channel); perr != nil {
		c.fail(req.ID, perr)
		return
	}
	if !c.chat.Allow() {
		c.fail(req.ID, c.s.chatRateError())
		return
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	seq, perr := c.s.publishChat(ctx, c.id.User, req.Channel, req.Data, req.MsgID)
	if perr != nil {
		c.fail(req.ID, perr)
		return
	}
	c.ok(req.ID, func(id json.RawMessage) []byte { return protocol.AppendOKSeq(nil, id, seq) })
}

// dedupeID scopes a client's msgid to its user and channel: two users (or
// rooms) that happen to pick the same msgid must not swallow each other's
// messages. Empty stays empty: no msgid, no deduplication.
func dedupeID(user, channel, msgID string) string {
	if msgID == "" {
		return ""
	}
	return user + "|" + channel + "|" + msgID
}

func okFrame(id json.RawMessage) []byte { return protocol.AppendOK(nil, id) }

var errPublishForbidden = protocol.NewError(protocol.CodeForbidden, "browsers may publish only to chat.* channels")

func (s *Server) chatRateError() *protocol.Error {
	return protocol.NewError(protocol.CodeRateLimited, fmt.Sprintf("chat rate limit: %g messages per second", s.cfg.ChatRate))
}

// publishChat stores a chat message from user durably and returns its seq.
// The caller has checked the channel kind and the rate. It never acks what
// was not stored.
func (s *Server) publishChat(ctx context.Context, user, channel string, clientData json.RawMessage, msgID string) (uint64, *protocol.Error) {
	data, perr := protocol.ChatData(clientData, user, msgID, s.cfg.MaxChatBytes)
	if perr != nil {
		return 0, perr
	}
	start := time.Now()
	seq, _, err := s.bus.PublishDurable(ctx, channel, data, dedupeID(user, channel, msgID))
	if err != nil {
		s.metrics.pubFailures.Add(1)
		if !errors.Is(err, natsbus.ErrUnavailable) && !errors.Is(err, ctx.Err()) {
			s.log.Error("chat publish failed", "channel", channel, "err", err)
			return 0, protocol.NewError(protocol.CodeInternal, "the message could not be stored")
		}
		return 0, protocol.NewError(protocol.CodeUnavailable, "chat is unavailable (NATS down); the message was not stored, retry later")
	}
	s.metrics.ackLatency.observe(time.Since(start))
	s.metrics.publishes.Add(1)
	return seq, nil
}

func (c *conn) handleHistory(req *protocol.Request) {
	if protocol.Kind(req.Channel) == protocol.KindCandle {
		c.handleCandleHistory(req) // candles.go
		return
	}
	if perr := c.s.mayRead(c.id, req.Channel); perr != nil {
		c.fail(req.ID, perr)
		return
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	raw, err := c.s.historyJSON(ctx, req.Channel, req.Before, req.Limit)
	if err != nil {
		c.fail(req.ID, protocol.NewError(protocol.CodeUnavailable, "history is unavailable; retry later"))
		return
	}
	c.ok(req.ID, func(id json.RawMessage) []byte { return protocol.AppendOKField(nil, id, "messages", raw) })
}

func (c *conn) handlePresence(req *protocol.Request) {
	if perr := c.s.mayRead(c.id, req.Channel); perr != nil {
		c.fail(req.ID, perr)
		return
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	users, err := c.s.usersIn(ctx, req.Channel)
	if err != nil {
		c.fail(req.ID, protocol.NewError(protocol.CodeUnavailable, "presence is unavailable; retry later"))
		return
	}
	if users == nil {
		users = []string{}
	}
	raw, _ := json.Marshal(users)
	c.ok(req.ID, func(id json.RawMessage) []byte { return protocol.AppendOKField(nil, id, "users", raw) })
}

// lastValid encodes a channel's stored last value, or, when that one broke
// its schema, the newest valid one before it: a hostile or buggy producer
// must not erase the price a fresh page shows.
func (s *Server) lastValid(ctx context.Context, m natsbus.Msg) (*hub.Event, error) {
	if ev, err := s.upstreamEncode(m); err == nil {
		return ev, nil
	}
	older, err := s.bus.History(ctx, m.Subject, m.Seq, natsbus.LastValidKeep)
	if err != nil {
		return nil, err
	}
	for i := len(older) - 1; i >= 0; i-- {
		if ev, err := s.upstreamEncode(older[i]); err == nil {
			return ev, nil
		}
	}
	return nil, nil
}

// historyJSON is a JSON array of the stored events before `before`, oldest
// first; invalid stored messages are left out.
func (s *Server) historyJSON(ctx context.Context, channel string, before uint64, limit int) ([]byte, error) {
	msgs, err := s.bus.History(ctx, channel, before, limit)
	if err != nil {
		return nil, err
	}
	// Keep the newest messages that fit in half the client's queue: a
	// bigger reply would close the client as a slow consumer, every time.
	// The client pages further back with before = the first seq it got.
	budget := s.cfg.QueueBytes / 2
	frames := make([][]byte, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		ev, err := s.upstreamEncode(msgs[i])
		if err != nil {
			continue
		}
		if budget -= len(ev.Frame) + 1; budget < 0 {
			break
		}
		frames = append(frames, ev.Frame)
	}
	slices.Reverse(frames)
	out := []byte{'['}
	for i, f := range frames {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, f...)
	}
	return append(out, ']'), nil
}

// upstreamEncode validates and encodes a stored message like a live one.
func (s *Server) upstreamEncode(m natsbus.Msg) (*hub.Event, error) {
	return s.up.encode(m)
}
