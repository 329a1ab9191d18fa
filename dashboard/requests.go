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
// session are handled in order, one at a time, so replies come in the
// order asked. A success reply is sent only when the request carried an
// id (a request without one is fire-and-forget); errors always are.
func (ss *Session) handleFrame(frame []byte) {
	req, perr := protocol.DecodeRequest(frame)
	if perr == nil {
		var ok []byte
		ok, perr = ss.serve(&req)
		if ok != nil && len(req.ID) > 0 {
			ss.reply(ok)
		}
	}
	if perr != nil {
		ss.s.metrics.errors.inc(perr.Code)
		ss.reply(protocol.AppendError(nil, req.ID, perr))
	}
}

// serve is the one request dispatch, for every transport: it answers a
// validated request with a success frame or an error. A subscribe queues
// its own reply (ahead of the replay) and returns neither.
func (ss *Session) serve(req *protocol.Request) (ok []byte, perr *protocol.Error) {
	if ss.client == nil && req.Op != protocol.OpPublish {
		return nil, protocol.NewError(protocol.CodeBadRequest, "only publish is served over HTTP; open a WebSocket or /sse")
	}
	ctx, cancel := ss.s.requestContext()
	defer cancel()
	switch req.Op {
	case protocol.OpPing:
		return okFrame(req.ID), nil
	case protocol.OpSubscribe:
		if !ss.subscribe.Allow() {
			return nil, protocol.NewError(protocol.CodeRateLimited, "too many subscribe requests; slow down")
		}
		read := ss.readFields(ctx, req.Channel) // chat rooms: read position and unread count
		return nil, ss.subscribeChannel(ctx, req.Channel, req.Since, func(o resumeOutcome) []byte {
			return withFields(o.appendTo(okFrame(req.ID)), read...)
		})
	case protocol.OpUnsubscribe:
		ss.s.hub.Unsubscribe(ss.client, req.Channel)
		return okFrame(req.ID), nil
	case protocol.OpPublish:
		return ss.publish(ctx, req)
	case protocol.OpHistory:
		if protocol.Kind(req.Channel) == protocol.KindCandle {
			return ss.s.candleHistory(ctx, ss.id, req) // candles.go
		}
		if perr := ss.s.mayRead(ss.id, req.Channel); perr != nil {
			return nil, perr
		}
		raw, err := ss.s.historyJSON(ctx, req.Channel, req.Before, req.Limit)
		if err != nil {
			return nil, protocol.NewError(protocol.CodeUnavailable, "history is unavailable; retry later")
		}
		return protocol.AppendOKField(nil, req.ID, "messages", raw), nil
	case protocol.OpPresence:
		if perr := ss.s.mayRead(ss.id, req.Channel); perr != nil {
			return nil, perr
		}
		users, err := ss.s.usersIn(ctx, req.Channel)
		if err != nil {
			return nil, protocol.NewError(protocol.CodeUnavailable, "presence is unavailable; retry later")
		}
		if users == nil {
			users = []string{}
		}
		raw, _ := json.Marshal(users)
		return protocol.AppendOKField(nil, req.ID, "users", raw), nil
	}
	return ss.serveChatOp(ctx, req) // read, rooms, edit, delete, mute, alerts (chatops.go)
}

// requestContext bounds one request's NATS work and ends with the server.
func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, 5*time.Second)
}

func (ss *Session) publish(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	if protocol.Kind(req.Channel) != protocol.KindChat {
		return nil, errPublishForbidden
	}
	if perr := ss.s.mayWrite(ss.id, req.Channel); perr != nil {
		return nil, perr
	}
	if perr := ss.mayChat(ctx, req.Channel); perr != nil { // muted
		return nil, perr
	}
	if !ss.chat.Allow() {
		return nil, ss.s.chatRateError()
	}
	seq, perr := ss.s.publishChat(ctx, ss.id.User, req.Channel, req.Data, req.MsgID)
	if perr != nil {
		return nil, perr
	}
	ss.s.chat.afterPublish(req.Channel, seq, ss.id.User, req.Data) // mentions
	return protocol.AppendOKSeq(nil, req.ID, seq), nil
}

// subscribeChannel subscribes the session to channel: the reply (built by
// reply, queued first), then the replay (since) or the last values, then
// live events — in that order, with no gap and no duplicate. It returns
// the error to reply with instead; nil also when the session is closing
// (there is nobody to tell).
func (ss *Session) subscribeChannel(ctx context.Context, channel string, since *uint64, reply func(resumeOutcome) []byte) *protocol.Error {
	s, client := ss.s, ss.client
	if perr := s.mayRead(ss.id, channel); perr != nil {
		return perr
	}
	if client.Subscriptions() >= s.cfg.MaxSubscriptions && !client.Subscribed(channel) {
		return protocol.NewError(protocol.CodeForbidden,
			fmt.Sprintf("subscription limit of %d reached", s.cfg.MaxSubscriptions))
	}
	kind := protocol.Kind(channel)
	var (
		start   hub.Start
		outcome resumeOutcome
	)
	switch {
	case since != nil && protocol.Persisted(kind):
		start.Since = *since
		outcome = s.resumeOutcome(ctx, channel, *since)
		if kind == protocol.KindCandle {
			start.Backfill = func(ctx context.Context, out *hub.Replay) error {
				return s.replayCandles(ctx, out, channel, *since)
			}
		} else {
			start.Backfill = func(ctx context.Context, out *hub.Replay) error {
				if entries, _, ok := s.up.recent.get(channel).after(ctx, *since); ok {
					return s.replayRecent(ctx, out, channel, *since, entries) // from memory (recent.go)
				}
				_, err := s.chat.replay(ctx, channel, *since, func(m natsbus.Msg) error { // with erased messages' stand-ins (chaterase.go)
					ev, err := s.upstreamEncode(m)
					if err != nil {
						return nil // invalid stored messages are skipped, as live ones are
					}
					return out.Send(ev)
				})
				return err
			}
		}
	case protocol.HasLastValue(kind):
		start.Backfill = func(ctx context.Context, out *hub.Replay) error {
			return s.sendLastValues(ctx, channel, out)
		}
	}
	start.Reply = reply(outcome)
	_, _, err := s.hub.Subscribe(ctx, client, channel, start)
	if err == nil {
		return nil
	}
	var cl *protocol.Close
	if errors.As(err, &cl) {
		return nil // the connection is closing
	}
	if !client.Subscribed(channel) {
		s.log.Warn("subscribe failed", "channel", channel, "err", err)
		return protocol.NewError(protocol.CodeUnavailable, "the feed is unavailable; retry shortly")
	}
	// The subscription is live but its backfill failed. A resume cannot be
	// partial without saying so: a client that asked for a replay must know
	// it did not get one, so close it and let it resume again.
	s.log.Warn("replay failed", "channel", channel, "err", err)
	if since != nil {
		client.Close(protocol.CloseTryAgainLater, "replay unavailable; reconnect and resume with since")
	}
	return nil
}

// replayCandles replays stored bars compacted to the last version of each
// (channel, start): a bar in progress is stored each time it is re-sent,
// and a chart needs only the final one. The subscription then resumes after
// the highest seq read.
func (s *Server) replayCandles(ctx context.Context, out *hub.Replay, pattern string, since uint64) error {
	if entries, last, ok := s.up.recent.get(pattern).after(ctx, since); ok {
		// The window holds the bars already compacted, in seq order.
		if err := s.replayRecent(ctx, out, pattern, since, entries); err != nil {
			return err
		}
		out.SkipTo(last)
		return nil
	}
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
		if err := out.Send(ev); err != nil {
			return err
		}
	}
	out.SkipTo(last)
	return nil
}

// replayRecent replays a window's entries after since (recent.go) the way
// chatOps.replay replays JetStream's: in seq order, invalid messages
// skipped, and in a chat room the stand-ins of erased messages in their
// places (chaterase.go) — a stand-in goes before each held message with a
// greater seq, and only once a message follows it, as there.
func (s *Server) replayRecent(ctx context.Context, out *hub.Replay, channel string, since uint64, entries []*recentEntry) error {
	var ins []natsbus.Msg
	if protocol.Kind(channel) == protocol.KindChat && len(entries) > 0 {
		s.chat.waitSynced(ctx)
		ins = s.chat.standIns(channel, since, ^uint64(0))
	}
	next, prev := 0, since
	for _, e := range entries {
		for next < len(ins) && ins[next].Seq < e.msg.Seq {
			if ins[next].Seq > prev {
				if ev, err := s.upstreamEncode(ins[next]); err == nil {
					if err := out.Send(ev); err != nil {
						return err
					}
				}
			}
			next++
		}
		prev = e.msg.Seq
		if ev := s.up.recentEvent(e); ev != nil {
			if err := out.Send(ev); err != nil {
				return err
			}
		}
	}
	return nil
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
	seq, err := s.chat.publishChat(ctx, channel, data, dedupeID(user, channel, msgID)) // stamped
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

// historyJSON is a JSON array of the stored events before `before`, oldest
// first; invalid stored messages are left out.
func (s *Server) historyJSON(ctx context.Context, channel string, before uint64, limit int) ([]byte, error) {
	msgs, err := s.bus.History(ctx, channel, before, limit)
	if err != nil {
		return nil, err
	}
	msgs = s.chat.withStandIns(ctx, channel, msgs, before, limit) // erased messages' places (chaterase.go)
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
	return newestFirstArray(frames), nil
}

// newestFirstArray is the JSON array of frames, collected newest first,
// in oldest-first order (the order history replies use).
func newestFirstArray(frames [][]byte) []byte {
	slices.Reverse(frames)
	out := []byte{'['}
	for i, f := range frames {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, f...)
	}
	return append(out, ']')
}

// upstreamEncode validates and encodes a stored message like a live one.
func (s *Server) upstreamEncode(m natsbus.Msg) (*hub.Event, error) {
	return s.up.encode(m)
}
