package dashboard

// Server-Sent Events fallback (PROTOCOL §3), for networks that break
// WebSockets: GET /sse streams what a WebSocket connection would receive,
// POST /api/publish is its uplink.
//
// GET /sse?channel=A&channel=B[&since=N][&lastEventId=…][&token=…]
//
//   - Same authentication as /ws (session cookie, ?token=, dev guests) and
//     the same Origin rule: a foreign Origin gets 403. A failed
//     authentication is a plain 401 (an EventSource then stops retrying);
//     a full or stopping server is 503 with Retry-After.
//   - The channel set is fixed for the life of the stream (wildcards
//     allowed; none is fine too: a stream of welcome and status events);
//     to change it, open a new stream with lastEventId.
//   - Every message is one JSON object on a `data:` line (a payload with
//     raw line breaks is split over several `data:` lines, which the
//     browser joins back). Messages have no `event:` field, so they all
//     reach EventSource.onmessage:
//     the welcome event first, then, per channel in request order, the
//     subscribe outcome — {"op":"subscribe","channel":"chat.lobby","ok":true}
//     or {"op":"subscribe","channel":"x","ok":false,"error":{code,message}}
//     (the stream goes on with the other channels) — then the same event
//     objects a WebSocket client gets (last values or replay first, then
//     live, status events). An error is deliberately not an `event: error`:
//     that name collides with EventSource's own connection-error event.
//   - Events on persisted channels (chat, alert, candle) carry
//     `id: <pattern>=<seq>,<pattern>=<seq>…`: for every persisted pattern of
//     the stream, the last seq delivered on it (or the since it was opened
//     with). Channel names cannot contain ',' or '='. An EventSource sends
//     it back as Last-Event-ID when it reconnects; each listed pattern then
//     resumes with that since: no gap, no duplicate. Other clients may pass
//     the same string as ?lastEventId= (header entries win over query
//     entries for the same pattern); ?since=N applies
//     to every persisted channel the id does not list. A persisted pattern
//     that has seen no event and was opened without since is not in the id
//     and resumes live, as a WebSocket subscribe without since would. With
//     overlapping persisted patterns (chat.lobby and chat.*) an event
//     advances every pattern it matches.
//   - A comment `: ping` every heartbeat keeps proxies from timing the
//     stream out; a failed write ends the stream (a dead peer).
//   - When the server ends the stream it says why first:
//     `event: close` with data {"code":4000|1001|1008|1013,"reason":"…"} —
//     the WebSocket close codes (slow consumer, shutdown, expired session,
//     replay unavailable). A client reconnects (and resumes) except on
//     1008.
//
// POST /api/publish {"channel":"chat.lobby","data":{"text":"hi"},"msgid":"c1-17"}
//
//   - Same authentication and Origin rule; chat.* only; the same msgid is
//     stored once; the user's chat rate is the same bucket as their
//     WebSocket connections'.
//   - 200 {"ok":true,"seq":N}, or {"ok":false,"error":{code,message}} with
//     400 bad_request, 401/403 forbidden, 413 too_large, 429 rate_limited
//     (with Retry-After), 503 unavailable, 500 internal.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// sseRetryMS is the reconnect delay the stream asks EventSource to use.
const sseRetryMS = 2000

// maxLastEventID bounds the resume string a client may send back.
const maxLastEventID = 16 << 10

// sseStream is one /sse connection. Everything in it is copied out of the
// request: fasthttp runs the stream writer after the handler returned and
// reuses the request's memory.
type sseStream struct {
	s        *Server
	client   *hub.Client
	id       auth.Identity
	ip       string
	conn     net.Conn // for write deadlines; writes go through fasthttp
	log      *slog.Logger
	channels []string
	since    map[string]uint64 // resume point per persisted channel, when known
	resume   *resumePoints
}

func (s *Server) handleSSE(c *fiber.Ctx) error {
	if s.closing.Load() {
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	if !s.originAllowed(c) {
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
	}
	var channels []string
	seen := map[string]bool{}
	for _, b := range c.Context().QueryArgs().PeekMulti("channel") {
		ch := string(b) // a copy
		if !seen[ch] {
			seen[ch] = true
			channels = append(channels, ch)
		}
	}
	if len(channels) > s.cfg.MaxSubscriptions {
		return fiber.NewError(fiber.StatusBadRequest, "too many channels: the limit is "+strconv.Itoa(s.cfg.MaxSubscriptions))
	}
	var since *uint64
	if v := c.Query("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "since must be a sequence number")
		}
		since = &n
	}
	// The header is what an EventSource sends back when it reconnects by
	// itself, so it is newer than the query the stream was opened with.
	queryID, headerID := c.Query("lastEventId"), c.Get("Last-Event-ID")
	if len(queryID) > maxLastEventID || len(headerID) > maxLastEventID {
		return fiber.NewError(fiber.StatusBadRequest, "Last-Event-ID too long")
	}
	resumeAt := parseResumeID(queryID)
	maps.Copy(resumeAt, parseResumeID(headerID))
	starts := sseStarts(channels, since, resumeAt)

	id, err := s.identify(c.Cookies(sessionCookie), c.Query("token"))
	if err != nil {
		return fiber.NewError(fiber.StatusUnauthorized, "authentication failed: "+err.Error())
	}
	ip := strings.Clone(c.IP())
	if ok, reason := s.limits.acquire(ip); !ok {
		s.metrics.refused.Add(1)
		c.Set(fiber.HeaderRetryAfter, "5")
		return fiber.NewError(fiber.StatusServiceUnavailable, reason)
	}
	session := newSessionID()
	client, err := s.hub.Register(session, id.User)
	if err != nil { // shutting down
		s.limits.release(ip)
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	s.metrics.connsTotal.Add(1)
	s.registry.add(client, ip, nil)
	st := &sseStream{
		s: s, client: client, id: id, ip: ip,
		conn:     c.Context().Conn(),
		log:      s.log.With("session", session, "user", id.User, "transport", "sse"),
		channels: channels,
		since:    starts,
		resume:   newResumePoints(channels, starts),
	}
	welcome, _ := json.Marshal(protocol.Welcome{
		User: id.User, Session: session, Node: s.cfg.Node,
		Protocol: protocol.Version, HeartbeatMS: s.cfg.Heartbeat.Milliseconds(),
	})
	_ = client.Send(protocol.AppendEvent(nil, "", protocol.EventWelcome, 0, time.Time{}, welcome))
	if !s.bus.Ready() {
		_ = client.Send(statusFrame(false))
	}

	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	// Counted now, in the handler, so Shutdown cannot miss the stream.
	s.wg.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.wg.Done()
		st.run(w)
	})
	return nil
}

// sseStarts is the since each persisted channel of a stream starts from:
// its Last-Event-ID entry, else ?since=. Other channels start live.
func sseStarts(channels []string, since *uint64, lastID map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for _, ch := range channels {
		if !protocol.Persisted(protocol.Kind(ch)) {
			continue
		}
		if seq, ok := lastID[ch]; ok {
			out[ch] = seq
		} else if since != nil {
			out[ch] = *since
		}
	}
	return out
}

// run is the stream: it subscribes in the background and writes until the
// client is closed or the peer is gone, then releases everything.
func (st *sseStream) run(w *bufio.Writer) {
	s, client := st.s, st.client
	ctx, cancel := context.WithCancel(s.ctx)
	var subs sync.WaitGroup
	subs.Add(1)
	go func() {
		defer subs.Done()
		st.subscribeAll(ctx)
	}()
	var expiry *time.Timer
	if !st.id.Expires.IsZero() {
		expiry = time.AfterFunc(time.Until(st.id.Expires.Add(s.cfg.ExpiryGrace)), func() {
			client.Close(protocol.ClosePolicy, "session expired; sign in again")
		})
	}
	defer func() {
		if expiry != nil {
			expiry.Stop()
		}
		client.Close(protocol.CloseNormal, "") // no-op when already closed
		cancel()
		subs.Wait() // a subscribe in flight ends before the client goes
		s.hub.Unregister(client)
		s.registry.remove(client)
		s.limits.release(st.ip)
		if r := client.Reason(); r != nil {
			s.metrics.closes.inc(strconv.Itoa(r.Code))
			if r.Code != protocol.CloseNormal {
				st.log.Info("stream closed", "code", r.Code, "reason", r.Reason)
			}
		}
	}()
	st.writeLoop(w)
}

// subscribeAll subscribes the stream's channels in order, through the same
// path as a WebSocket subscribe; each outcome becomes a message.
func (st *sseStream) subscribeAll(ctx context.Context) {
	s, client := st.s, st.client
	for _, ch := range st.channels {
		if ctx.Err() != nil {
			return
		}
		var since *uint64
		if seq, ok := st.since[ch]; ok {
			since = &seq
		}
		req := protocol.Request{Op: protocol.OpSubscribe, Channel: ch, Since: since}
		perr := protocol.ValidateRequest(&req)
		if perr == nil {
			perr = s.mayRead(st.id, ch)
		}
		if perr == nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			perr = s.subscribe(rctx, client, ch, since, func() {
				_ = client.Send(sseSubscribeReply(ch, nil))
			})
			cancel()
		}
		if perr != nil {
			s.metrics.errors.inc(perr.Code)
			_ = client.Send(sseSubscribeReply(ch, perr))
		}
	}
}

// sseSubscribeReply is the message that reports a subscribe's outcome.
func sseSubscribeReply(channel string, perr *protocol.Error) []byte {
	name, _ := json.Marshal(channel) // user input: escape it
	b := append([]byte(`{"op":"subscribe","channel":`), name...)
	if perr == nil {
		return append(b, `,"ok":true}`...)
	}
	e, _ := json.Marshal(perr)
	b = append(b, `,"ok":false,"error":`...)
	b = append(b, e...)
	return append(b, '}')
}

// writeLoop mirrors the WebSocket writer: drain on Ready, a comment per
// heartbeat, and on close say why and end.
func (st *sseStream) writeLoop(w *bufio.Writer) {
	s, client := st.s, st.client
	ping := time.NewTicker(s.cfg.Heartbeat)
	defer ping.Stop()
	var (
		batch []*hub.Event
		buf   []byte
	)
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, sseRetryMS, 10)
	buf = append(buf, "\n\n"...)
	if st.flush(w, buf) != nil {
		return
	}
	for {
		select {
		case <-client.Ready():
			batch = client.Drain(batch[:0])
			buf = st.appendBatch(buf[:0], batch)
			s.metrics.observeBatch(len(batch))
			oldest := oldestReceived(batch)
			clear(batch)
			if st.flush(w, buf) != nil {
				return
			}
			s.metrics.fanoutSince(oldest, time.Now())
		case <-ping.C:
			if st.flush(w, append(buf[:0], ": ping\n\n"...)) != nil {
				return
			}
		case <-client.Done():
			r := client.Reason()
			buf = buf[:0]
			if r.Code != protocol.CloseSlowConsumer {
				buf = st.appendBatch(buf, client.Drain(batch[:0]))
			}
			if r.Code != protocol.CloseNormal {
				data, _ := json.Marshal(struct {
					Code   int    `json:"code"`
					Reason string `json:"reason"`
				}{r.Code, r.Reason})
				buf = append(buf, "event: close\ndata: "...)
				buf = append(buf, data...)
				buf = append(buf, "\n\n"...)
			}
			_ = st.flush(w, buf)
			return
		}
	}
}

// appendBatch encodes events as SSE messages, with an id line on those
// that advance a persisted channel's resume point.
func (st *sseStream) appendBatch(dst []byte, batch []*hub.Event) []byte {
	for _, ev := range batch {
		if st.resume.observe(ev) {
			dst = append(dst, "id: "...)
			dst = st.resume.appendID(dst)
			dst = append(dst, '\n')
		}
		dst = appendSSEData(dst, ev.Frame)
	}
	return dst
}

// flush writes b and pushes it to the peer. fasthttp's write deadline is
// set once per response; a stream outlives it, so each write gets its own.
func (st *sseStream) flush(w *bufio.Writer, b []byte) error {
	if st.conn != nil {
		_ = st.conn.SetWriteDeadline(time.Now().Add(writeWait))
	}
	_, err := w.Write(b)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		st.client.Close(protocol.CloseNormal, "")
		return err
	}
	if len(b) > 0 {
		st.s.metrics.framesOut.Add(1)
		st.s.metrics.bytesOut.Add(int64(len(b)))
	}
	return nil
}

// appendSSEData appends one SSE message carrying frame. A frame is one JSON
// object; should it hold raw line breaks (whitespace a producer left in its
// payload), each line gets its own data: field, which the client joins
// back with '\n' — still the same JSON.
func appendSSEData(dst, frame []byte) []byte {
	for {
		i := bytes.IndexAny(frame, "\r\n")
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, frame[:i]...)
		dst = append(dst, '\n')
		if frame[i] == '\r' && i+1 < len(frame) && frame[i+1] == '\n' {
			i++
		}
		frame = frame[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, frame...)
	return append(dst, "\n\n"...)
}

// resumePoints tracks, per persisted pattern of a stream, the last seq
// delivered on it: the stream's SSE id.
type resumePoints struct {
	patterns []string
	seqs     []uint64
	known    []bool
}

func newResumePoints(channels []string, starts map[string]uint64) *resumePoints {
	r := &resumePoints{}
	for _, ch := range channels {
		if !protocol.Persisted(protocol.Kind(ch)) {
			continue
		}
		seq, ok := starts[ch]
		r.patterns = append(r.patterns, ch)
		r.seqs = append(r.seqs, seq)
		r.known = append(r.known, ok)
	}
	return r
}

// observe records ev; it reports whether any resume point moved.
func (r *resumePoints) observe(ev *hub.Event) bool {
	if ev.Seq == 0 || ev.Channel == "" {
		return false
	}
	moved := false
	for i, p := range r.patterns {
		if (!r.known[i] || ev.Seq > r.seqs[i]) && protocol.Match(p, ev.Channel) {
			r.seqs[i], r.known[i] = ev.Seq, true
			moved = true
		}
	}
	return moved
}

// appendID appends the id: "chat.lobby=1042,alert.*=77".
func (r *resumePoints) appendID(dst []byte) []byte {
	first := true
	for i, p := range r.patterns {
		if !r.known[i] {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, p...)
		dst = append(dst, '=')
		dst = strconv.AppendUint(dst, r.seqs[i], 10)
	}
	return dst
}

// parseResumeID reads an id written by appendID. Malformed entries are
// ignored: the worst a bad id does is resume a channel live.
func parseResumeID(id string) map[string]uint64 {
	out := map[string]uint64{}
	for _, part := range strings.Split(id, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || protocol.ValidateChannel(name, true) != nil {
			continue
		}
		seq, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		out[name] = seq
	}
	return out
}

// httpPublish is POST /api/publish, the uplink of the SSE transport.
func (s *Server) httpPublish(c *fiber.Ctx) error {
	if !s.originAllowed(c) {
		return s.publishFail(c, fiber.StatusForbidden, protocol.NewError(protocol.CodeForbidden, "origin not allowed"))
	}
	id, err := s.identify(c.Cookies(sessionCookie), c.Query("token"))
	if err != nil {
		return s.publishFail(c, fiber.StatusUnauthorized, protocol.NewError(protocol.CodeForbidden, "authentication failed: "+err.Error()))
	}
	var body struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
		MsgID   string          `json:"msgid"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return s.publishFail(c, fiber.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest,
			`body must be JSON: {"channel":"chat.lobby","data":{"text":"…"},"msgid":"…"}`))
	}
	req := protocol.Request{Op: protocol.OpPublish, Channel: body.Channel, Data: body.Data, MsgID: body.MsgID}
	if perr := protocol.ValidateRequest(&req); perr != nil {
		return s.publishFail(c, fiber.StatusBadRequest, perr)
	}
	if protocol.Kind(req.Channel) != protocol.KindChat {
		return s.publishFail(c, fiber.StatusForbidden, errPublishForbidden)
	}
	if perr := s.mayWrite(id, req.Channel); perr != nil {
		return s.publishFail(c, fiber.StatusForbidden, perr)
	}
	lim := s.chatRate.acquire(id.User)
	s.releaseChatRateLater(id.User)
	if !lim.Allow() {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(1/max(s.cfg.ChatRate, 0.01)))))
		return s.publishFail(c, fiber.StatusTooManyRequests, s.chatRateError())
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	seq, perr := s.publishChat(ctx, id.User, req.Channel, req.Data, req.MsgID)
	if perr != nil {
		return s.publishFail(c, httpStatus(perr.Code), perr)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(protocol.AppendOKSeq(nil, nil, seq))
}

// releaseChatRateLater keeps the user's bucket for as long as it takes to
// refill: a user who publishes only over HTTP (no connection holding the
// bucket) must not get a fresh, full bucket with every request.
func (s *Server) releaseChatRateLater(user string) {
	refill := time.Minute
	if s.cfg.ChatRate > 0 {
		refill = min(refill, time.Duration(float64(s.cfg.ChatBurst)/s.cfg.ChatRate*float64(time.Second))+time.Second)
	}
	time.AfterFunc(refill, func() { s.chatRate.release(user) })
}

func (s *Server) publishFail(c *fiber.Ctx, status int, perr *protocol.Error) error {
	s.metrics.errors.inc(perr.Code)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(protocol.AppendError(nil, nil, perr))
}
