package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		c.reply(protocol.AppendOK(nil, req.ID))
	case protocol.OpSubscribe:
		c.handleSubscribe(&req)
	case protocol.OpUnsubscribe:
		c.s.hub.Unsubscribe(c.client, req.Channel)
		c.reply(protocol.AppendOK(nil, req.ID))
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
	if c.client.Subscriptions() >= c.s.cfg.MaxSubscriptions {
		c.fail(req.ID, protocol.NewError(protocol.CodeForbidden,
			fmt.Sprintf("subscription limit of %d reached", c.s.cfg.MaxSubscriptions)))
		return
	}
	sub, created, err := c.s.hub.Subscribe(c.client, req.Channel)
	if err != nil {
		var cl *protocol.Close
		if errors.As(err, &cl) {
			return // the connection is closing
		}
		c.log.Warn("subscribe failed", "channel", req.Channel, "err", err)
		c.fail(req.ID, protocol.NewError(protocol.CodeUnavailable, "the feed is unavailable; retry shortly"))
		return
	}
	c.reply(protocol.AppendOK(nil, req.ID))
	if !created {
		return // already subscribed: nothing to replay twice
	}
	// Reply first, then replayed or last values, then live events (held by
	// the subscription until Live).
	defer sub.Live()
	kind := protocol.Kind(req.Channel)
	ctx, cancel := c.requestContext()
	defer cancel()
	send := func(m natsbus.Msg) error {
		ev, err := c.s.upstreamEncode(m)
		if err != nil {
			return nil // invalid stored messages are skipped, as live ones are
		}
		return sub.Replay(ctx, ev)
	}
	switch {
	case req.Since != nil && kind == protocol.KindCandle:
		sub.SetLastSeq(*req.Since)
		err = c.replayCandles(ctx, sub, req.Channel, *req.Since)
	case req.Since != nil && protocol.Persisted(kind):
		sub.SetLastSeq(*req.Since)
		_, err = c.s.bus.Replay(ctx, req.Channel, *req.Since, send)
	case protocol.HasLastValue(kind):
		err = c.s.bus.LastValues(ctx, req.Channel, func(m natsbus.Msg) error {
			ev, err := c.s.lastValid(ctx, m)
			if err != nil || ev == nil {
				return nil // nothing valid stored for this channel
			}
			return sub.Replay(ctx, ev)
		})
	}
	if err != nil {
		var cl *protocol.Close
		if errors.As(err, &cl) {
			return
		}
		// Resume cannot be partial without saying so: a client that asked
		// for a replay must know it did not get one, so close and let it
		// resume again.
		c.log.Warn("replay failed", "channel", req.Channel, "err", err)
		if req.Since != nil {
			c.client.Close(protocol.CloseTryAgainLater, "replay unavailable; reconnect and resume with since")
		}
	}
}

// replayCandles replays stored bars compacted to the last version of each
// (channel, start): a bar in progress is stored each time it is re-sent,
// and a chart needs only the final one. Bars go out in the order of their
// first appearance, i.e. by start time, and the subscription then resumes
// after the highest seq read.
func (c *conn) replayCandles(ctx context.Context, sub *hub.Sub, pattern string, since uint64) error {
	type key struct {
		channel string
		start   int64
	}
	var (
		bars  []*hub.Event
		index = map[key]int{}
		last  uint64
	)
	_, err := c.s.bus.Replay(ctx, pattern, since, func(m natsbus.Msg) error {
		last = max(last, m.Seq)
		start, err := protocol.ValidatePayload(m.Subject, m.Data)
		if err != nil {
			return nil
		}
		ev, err := c.s.upstreamEncode(m)
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
	for _, ev := range bars {
		// Seq order is not bar order after compaction: send without the
		// per-event seq check, then resume after the highest seq read.
		unordered := *ev
		unordered.Seq = 0
		if err := sub.Replay(ctx, &unordered); err != nil {
			return err
		}
	}
	sub.SetLastSeq(last)
	return nil
}

func (c *conn) handlePublish(req *protocol.Request) {
	if protocol.Kind(req.Channel) != protocol.KindChat {
		c.fail(req.ID, protocol.NewError(protocol.CodeForbidden, "browsers may publish only to chat.* channels"))
		return
	}
	if !c.chat.Allow() {
		c.fail(req.ID, protocol.NewError(protocol.CodeRateLimited,
			fmt.Sprintf("chat rate limit: %g messages per second", c.s.cfg.ChatRate)))
		return
	}
	data, perr := protocol.ChatData(req.Data, c.id.User, req.MsgID, c.s.cfg.MaxChatBytes)
	if perr != nil {
		c.fail(req.ID, perr)
		return
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	start := time.Now()
	seq, _, err := c.s.bus.PublishDurable(ctx, req.Channel, data, req.MsgID)
	if err != nil {
		c.s.metrics.pubFailures.Add(1)
		code := protocol.CodeUnavailable
		msg := "chat is unavailable (NATS down); the message was not stored, retry later"
		if !errors.Is(err, natsbus.ErrUnavailable) && !errors.Is(err, ctx.Err()) {
			code, msg = protocol.CodeInternal, "the message could not be stored"
			c.log.Error("chat publish failed", "channel", req.Channel, "err", err)
		}
		c.fail(req.ID, protocol.NewError(code, msg))
		return
	}
	c.s.metrics.ackLatency.observe(time.Since(start))
	c.s.metrics.publishes.Add(1)
	c.reply(protocol.AppendOKSeq(nil, req.ID, seq))
}

func (c *conn) handleHistory(req *protocol.Request) {
	ctx, cancel := c.requestContext()
	defer cancel()
	raw, err := c.s.historyJSON(ctx, req.Channel, req.Before, req.Limit)
	if err != nil {
		c.fail(req.ID, protocol.NewError(protocol.CodeUnavailable, "history is unavailable; retry later"))
		return
	}
	c.reply(protocol.AppendOKField(nil, req.ID, "messages", raw))
}

func (c *conn) handlePresence(req *protocol.Request) {
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
	c.reply(protocol.AppendOKField(nil, req.ID, "users", raw))
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
	out := []byte{'['}
	for _, m := range msgs {
		ev, err := s.upstreamEncode(m)
		if err != nil {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, ev.Frame...)
	}
	return append(out, ']'), nil
}

// upstreamEncode validates and encodes a stored message like a live one.
func (s *Server) upstreamEncode(m natsbus.Msg) (*hub.Event, error) {
	return s.up.encode(m)
}
