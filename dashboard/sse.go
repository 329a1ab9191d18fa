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
	"encoding/json"
	"maps"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// sseRetryMS is the reconnect delay the stream asks EventSource to use.
const sseRetryMS = 2000

// maxLastEventID bounds the resume string a client may send back.
const maxLastEventID = 16 << 10

// handleSSE is the SSE adapter of a Session. Everything the stream keeps is
// copied out of the request first: fasthttp runs the stream writer after
// the handler returned and reuses the request's memory.
func (s *Server) handleSSE(c *fiber.Ctx) error {
	if err := s.gate(c); err != nil {
		return err
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
	ip, err := s.reserveSlot(c)
	if err != nil {
		return err
	}
	// Counted now, in the handler, so Shutdown cannot miss the stream.
	if !s.tracked.enter() {
		s.limits.release(ip)
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	ss, err := s.openSession(id, ip, "sse")
	if err != nil {
		s.tracked.leave()
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	t := &sseTransport{conn: c.Context().Conn(), resume: newResumePoints(channels, starts)}

	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.tracked.leave()
		defer ss.end()
		t.w = w
		// The preamble goes out before the writer starts, so nothing races it.
		_ = t.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := t.write(strconv.AppendInt([]byte("retry: "), sseRetryMS, 10), "\n\n"); err != nil {
			ss.close(protocol.CloseNormal, "")
			return
		}
		ss.start(t)
		ss.subscribeAll(channels, starts)
		// The stream lives until the session ends: the writer writes to w
		// from its own goroutine meanwhile, and w is valid only until we
		// return.
		<-ss.done()
	})
	return nil
}

// subscribeAll subscribes the stream's channels in order, through the same
// path as a WebSocket subscribe; each outcome becomes a message.
func (ss *Session) subscribeAll(channels []string, starts map[string]uint64) {
	for _, ch := range channels {
		if ss.closing() {
			return
		}
		var since *uint64
		if seq, ok := starts[ch]; ok {
			since = &seq
		}
		req := protocol.Request{Op: protocol.OpSubscribe, Channel: ch, Since: since}
		perr := protocol.ValidateRequest(&req)
		if perr == nil {
			func() {
				ctx, cancel := ss.s.requestContext()
				defer cancel()
				perr = ss.subscribeChannel(ctx, ch, since, func(o resumeOutcome) []byte {
					return sseSubscribeReply(ch, o, nil)
				})
			}()
		}
		if perr != nil {
			ss.s.metrics.errors.inc(perr.Code)
			ss.reply(sseSubscribeReply(ch, resumeOutcome{}, perr))
		}
	}
}

// sseTransport is the SSE side of a session: every event one SSE message,
// a whole batch in one buffered write and one flush.
type sseTransport struct {
	w      *bufio.Writer // set in the stream writer; valid until it returns
	conn   net.Conn      // for write deadlines; writes go through fasthttp's w
	resume *resumePoints
	buf    []byte
}

var _ Transport = (*sseTransport)(nil)

func (t *sseTransport) Name() string { return "sse" }

// SetWriteDeadline: fasthttp's write deadline is set once per response; a
// stream outlives it, so the writer renews it (writer.arm).
func (t *sseTransport) SetWriteDeadline(d time.Time) error {
	if t.conn == nil {
		return nil
	}
	return t.conn.SetWriteDeadline(d)
}

func (t *sseTransport) CutWrite() {
	if t.conn != nil {
		cutWrites(t.conn)
	}
}

func (t *sseTransport) WriteBatch(batch []*hub.Event) (frames, bytes int, err error) {
	buf := t.buf[:0]
	for _, ev := range batch {
		if t.resume.observe(ev) {
			buf = append(buf, "id: "...)
			buf = t.resume.appendID(buf)
			buf = append(buf, '\n')
		}
		buf = appendSSEData(buf, ev.Frame)
	}
	t.buf = buf
	n, err := t.write(buf, "")
	return 1, n, err
}

// Pong is never called: an SSE client cannot ping.
func (t *sseTransport) Pong([]byte) error { return nil }

func (t *sseTransport) Ping() error {
	_, err := t.write(nil, ": ping\n\n")
	return err
}

// Close says why the server ends the stream, unless it ends normally;
// the stream writer returns once the session is done.
func (t *sseTransport) Close(r *protocol.Close) {
	if r == nil || r.Code == protocol.CloseNormal {
		return
	}
	data, _ := json.Marshal(struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}{r.Code, r.Reason})
	b := append(t.buf[:0], "event: close\ndata: "...)
	b = append(b, data...)
	_, _ = t.write(b, "\n\n")
}

// write writes b then tail and pushes them to the peer.
func (t *sseTransport) write(b []byte, tail string) (int, error) {
	if _, err := t.w.Write(b); err != nil {
		return 0, err
	}
	if _, err := t.w.WriteString(tail); err != nil {
		return 0, err
	}
	return len(b) + len(tail), t.w.Flush()
}
