package dashboard

import (
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/dashboard/wsframe"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// handleWS is contrib's connection handler; it hands the connection to
// upgraded and returns, so contrib releases its Conn and fasthttp its
// request.
func (s *Server) handleWS(c *fws.Conn) {
	u, _ := c.Locals(localUpgrade).(*upgradeInfo)
	if u == nil { // not routed through checkUpgrade: nothing was reserved
		_ = c.Conn.Close()
		return
	}
	s.upgraded(c.Conn, u.ip, u.id, u.authErr)
}

// upgraded runs on fasthttp's hijack goroutine once the handshake response
// is out: it opens the session and starts the reader, then returns, so
// fasthttp releases its RequestCtx (request, response, header buffers) at
// once (Server.KeepHijackedConns: fasthttp leaves the socket open; the
// reader closes it). checkUpgrade counted the connection in s.tracked and
// reserved ip's slot; every path out of here hands both on or gives them
// back.
func (s *Server) upgraded(ws *websocket.Conn, ip string, id auth.Identity, authErr string) {
	handedOff := false
	defer func() {
		if handedOff {
			return
		}
		if r := recover(); r != nil { // a panic must not kill the process
			s.log.Error("panic in connection handler", "panic", r)
		}
		_ = ws.Close()
		s.tracked.leave()
	}()
	if authErr != "" {
		s.limits.release(ip)
		s.metrics.closes.inc(strconv.Itoa(protocol.ClosePolicy))
		writeClose(ws, protocol.ClosePolicy, "authentication failed: "+authErr)
		return
	}
	ss, err := s.openSession(id, ip, "websocket")
	if err != nil {
		writeClose(ws, protocol.CloseGoingAway, "server shutting down")
		return
	}
	t := newWSTransport(ws)
	ss.start(t)
	handedOff = true
	src, onServerBuffer := readSource(ws.NetConn())
	if onServerBuffer {
		// The client sent bytes after its handshake without waiting for
		// ours (RFC 6455 §4.1 says it must wait): they sit in fasthttp's
		// read buffer, which fasthttp takes back when this handler
		// returns. Read here, then, on this goroutine, until the end.
		s.readWS(t, ss, src)
		return
	}
	go s.readWS(t, ss, src)
}

// readWS is a connection's reader: it reads client frames from src until
// the connection fails or the session is closed (the writer then expires
// the read deadline to wake it), then ends the session, closes the socket
// and leaves s.tracked (entered by checkUpgrade).
//
// Its goroutine parks here for as long as the client is quiet, so what it
// does is kept shallow, to fit the 2 KiB stack a goroutine starts with (Go
// never shrinks the stack of a goroutine parked on a socket): frames are
// read by wsframe rather than the library, straight from the socket, and
// everything deeper (a request, a socket write) runs on a goroutine of its
// own (offStack). BenchmarkIdleReaderStack measures it.
func (s *Server) readWS(t *wsTransport, ss *Session, src io.Reader) {
	defer s.readerDone(t.ws, ss)
	deadline := 2 * s.cfg.Heartbeat
	conn := t.conn
	rd := wsframe.New(src, s.cfg.MaxFrameBytes)
	_ = conn.SetReadDeadline(time.Now().Add(deadline))
	for {
		op, p, err := rd.Next()
		if err != nil {
			ss.close(closeFor(err))
			return
		}
		// A pong or a message shows the peer answering (a ping of its own
		// does not: docs/protocol.md §10). Once the session is closed the
		// writer has expired the deadline to wake us; renewing it
		// afterwards would let a peer that ignores our close frame hold
		// the reader open, so every renewal is followed by a look at
		// closing.
		if op != wsframe.Ping {
			_ = conn.SetReadDeadline(time.Now().Add(deadline))
		}
		if ss.closing() {
			return
		}
		switch op {
		case wsframe.Text:
			offStack(ss, func() { ss.handleFrame(p) })
		case wsframe.Binary:
			ss.close(protocol.CloseUnsupportedData, "binary frames are not supported; send UTF-8 JSON text")
			return
		case wsframe.Ping:
			offStack(ss, func() { ss.w.pong(p) }) // the writer answers: it alone writes
		case wsframe.Close:
			ss.w.echoClose(wsframe.CloseCode(p)) // RFC 6455 §5.5.1
			ss.close(protocol.CloseNormal, "")
			return
		}
	}
}

// readerDone ends what readWS ran: the session (after a panic too), then
// the socket once the writer has stopped, then the tracker's count.
func (s *Server) readerDone(ws *websocket.Conn, ss *Session) {
	if r := recover(); r != nil { // a panic must not kill the process
		s.log.Error("panic in connection handler", "session", ss.client.ID, "panic", r)
	}
	ss.end()
	_ = ws.Close()
	s.tracked.leave()
}

// readSource is where a connection's frames are read from: the socket
// itself, below fasthttp's hijack wrapper and the HTTP guard (which has
// nothing left to do once the connection is a tunnel), or — when the
// client's first bytes are already in fasthttp's read buffer — the hijack
// wrapper, which reads through that buffer (onServerBuffer).
func readSource(c net.Conn) (src io.Reader, onServerBuffer bool) {
	if readsServerBuffer(c) {
		return c, true
	}
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		if gc, ok := u.UnsafeConn().(*guardConn); ok && gc.tunnel.Load() {
			return gc.Conn, false
		}
	}
	return c, false
}

// readsServerBuffer reports whether a hijacked connection reads through
// fasthttp's pooled read buffer rather than straight from the socket.
// fasthttp's hijackConn reads from its field r: the socket itself, or the
// server's bufio.Reader when the client's bytes after the handshake were
// already buffered — and fasthttp returns that buffer to its pool when the
// hijack handler returns (hijackConnHandler), KeepHijackedConns or not.
// When the field cannot be seen (another fasthttp version) the answer is
// true: reading on the hijack goroutine is always safe, only dearer.
func readsServerBuffer(c net.Conn) bool {
	u, ok := c.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return true
	}
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return true
	}
	r := v.Elem().FieldByName("r")
	if !r.IsValid() || r.Kind() != reflect.Interface || r.IsNil() {
		return true
	}
	r, raw := r.Elem(), reflect.ValueOf(u.UnsafeConn())
	if r.Type() != raw.Type() || raw.Kind() != reflect.Pointer {
		return true
	}
	return r.Pointer() != raw.Pointer()
}

// writeClose sends a close frame on a connection that has no session (so
// no writer): its only frame.
func writeClose(ws *websocket.Conn, code int, reason string) {
	_ = ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = ws.NetConn().Write(wsframe.AppendClose(nil, code, reason))
}

// offStack runs fn (a request, or a write) on a goroutine of its own while
// the reader waits for it: requests still run one at a time and in order,
// but the reader's stack, which an idle connection parks for as long as it
// lives, never grows to what a request needs (JSON decoding, a subscribe
// and its replay, a socket write). Go never shrinks the stack of a
// goroutine parked on a socket (it shrinks only stacks under a quarter
// used), so one subscribe used to leave every idle reader on 8 KiB for
// good.
func offStack(ss *Session, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil { // a panic must not kill the process
				ss.logger().Error("panic handling a request", "panic", r)
				ss.close(protocol.CloseInternal, "internal error")
			}
		}()
		fn()
	}()
	<-done
}

// closeFor maps a read error to the close the connection ends with.
func closeFor(err error) (code int, reason string) {
	var (
		fe *wsframe.Error
		ne net.Error
	)
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Reason // too large, not masked, not UTF-8…
	case errors.As(err, &ne) && ne.Timeout():
		// Silent for two heartbeats: a dead or half-open peer. The close
		// frame is a courtesy; it will most likely never arrive.
		return protocol.CloseNormal, "heartbeat timeout"
	}
	return protocol.CloseNormal, ""
}

// maxOutFrame caps one outgoing frame's payload; a bigger batch becomes
// several frames.
const maxOutFrame = 64 << 10

// frameBufs lends a frame's buffer to one write at a time, so an idle
// socket holds none. Pointers, so a Put allocates nothing.
var frameBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, wsframe.MaxHeader+maxOutFrame)
	return &b
}}

// wsTransport is the WebSocket side of a session: events joined with '\n'
// into as few text frames as fit maxOutFrame. It writes its frames to the
// socket itself (wsframe): the library only did the handshake. Only the
// session's writer calls it (the reader hands pongs and its close echo to
// the writer), so frames never interleave.
type wsTransport struct {
	ws   *websocket.Conn // the handshake's; closed by readWS once the session ended, which waits for the writer
	conn net.Conn        // the socket (through the HTTP guard, which owns its write deadline)
}

var _ Transport = (*wsTransport)(nil)

func newWSTransport(ws *websocket.Conn) *wsTransport {
	return &wsTransport{ws: ws, conn: ws.NetConn()}
}

func (t *wsTransport) Name() string { return "websocket" }

// SetWriteDeadline bounds the writes that follow.
func (t *wsTransport) SetWriteDeadline(d time.Time) error { return t.conn.SetWriteDeadline(d) }

func (t *wsTransport) CutWrite() { cutWrites(t.conn) }

func (t *wsTransport) Ping() error { return t.control(wsframe.Ping, nil) }

func (t *wsTransport) Pong(p []byte) error { return t.control(wsframe.Pong, p) }

func (t *wsTransport) control(op wsframe.Op, p []byte) error {
	var b [wsframe.MaxHeader + 125]byte
	_, err := t.conn.Write(wsframe.AppendControl(b[:0], op, p))
	return err
}

func (t *wsTransport) WriteBatch(batch []*hub.Event) (frames, bytes int, err error) {
	bp := frameBufs.Get().(*[]byte)
	defer frameBufs.Put(bp)
	for start := 0; start < len(batch); frames++ {
		n, i := len(batch[start].Frame), start+1
		for ; i < len(batch) && n+1+len(batch[i].Frame) <= maxOutFrame; i++ {
			n += 1 + len(batch[i].Frame)
		}
		b := append(wsframe.AppendHeader((*bp)[:0], wsframe.Text, n), batch[start].Frame...)
		for _, ev := range batch[start+1 : i] {
			b = append(append(b, '\n'), ev.Frame...)
		}
		// An event over maxOutFrame grows b past the pooled buffer; the
		// pool keeps *bp, not that.
		if _, err := t.conn.Write(b); err != nil {
			return frames, bytes, err
		}
		bytes += n
		start = i
	}
	return frames, bytes, nil
}

// Close sends the close frame (when the socket still works) and wakes the
// reader: conn.Close from another goroutine does not (contrib#698).
func (t *wsTransport) Close(r *protocol.Close) {
	if r != nil {
		var b [wsframe.MaxHeader + 125]byte
		_, _ = t.conn.Write(wsframe.AppendClose(b[:0], r.Code, r.Reason))
	}
	_ = t.conn.SetReadDeadline(time.Now())
}
