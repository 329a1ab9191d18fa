package dashboard

import (
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
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
	ss.start(&wsTransport{ws: ws})
	handedOff = true
	src, onServerBuffer := readSource(ws.NetConn())
	if onServerBuffer {
		// The client sent bytes after its handshake without waiting for
		// ours (RFC 6455 §4.1 says it must wait): they sit in fasthttp's
		// read buffer, which fasthttp takes back when this handler
		// returns. Read here, then, on this goroutine, until the end.
		s.readWS(ws, ss, src)
		return
	}
	go s.readWS(ws, ss, src)
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
func (s *Server) readWS(ws *websocket.Conn, ss *Session, src io.Reader) {
	defer s.readerDone(ws, ss)
	deadline := 2 * s.cfg.Heartbeat
	conn := ws.NetConn()
	rd := wsframe.New(src, s.cfg.MaxFrameBytes)
	_ = conn.SetReadDeadline(time.Now().Add(deadline))
	for {
		op, p, err := rd.Next()
		if err != nil {
			ss.close(closeFor(err))
			return
		}
		// Any frame, a pong included, shows the peer alive. Once the
		// session is closed the writer has expired the deadline to wake
		// us; renewing it afterwards would let a peer that ignores our
		// close frame hold the reader open, so every renewal is followed
		// by a look at closing.
		_ = conn.SetReadDeadline(time.Now().Add(deadline))
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
			offStack(ss, func() { _ = ws.WriteControl(websocket.PongMessage, p, time.Now().Add(writeWait)) })
		case wsframe.Close:
			// Echo the peer's code (RFC 6455 §5.5.1); the session's own
			// close frame then finds the close sent and is dropped.
			offStack(ss, func() { writeClose(ws, wsframe.CloseCode(p), "") })
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

func writeClose(ws *websocket.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
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

var (
	errClosing      = errors.New("connection closing")
	errSlowConsumer = errors.New("slow consumer")
)

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

// maxOutFrame caps one outgoing frame (the pooled write buffer's size); a
// bigger batch becomes several frames.
const maxOutFrame = 64 << 10

// wsTransport is the WebSocket side of a session: events joined with '\n'
// into as few text frames as fit maxOutFrame.
type wsTransport struct {
	ws *websocket.Conn // closed by readWS once the session ended, which waits for the writer
}

var _ Transport = (*wsTransport)(nil)

func (t *wsTransport) Name() string { return "websocket" }

// SetWriteDeadline sets the library's deadline, which it applies to the
// socket before every frame (the socket skips an unchanged one); setting
// the socket's alone would be undone by the next frame.
func (t *wsTransport) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }

func (t *wsTransport) CutWrite() { cutWrites(t.ws.NetConn()) }

func (t *wsTransport) Ping() error {
	return t.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
}

func (t *wsTransport) WriteBatch(batch []*hub.Event) (frames, bytes int, err error) {
	for start := 0; start < len(batch); frames++ {
		w, err := t.ws.NextWriter(websocket.TextMessage)
		if err != nil {
			return frames, bytes, err
		}
		n, i := 0, start
		for ; i < len(batch); i++ {
			f := batch[i].Frame
			if i > start {
				if n+1+len(f) > maxOutFrame {
					break
				}
				_, _ = w.Write(newline)
				n++
			}
			_, _ = w.Write(f)
			n += len(f)
		}
		start = i
		if err := w.Close(); err != nil {
			return frames, bytes, err
		}
		bytes += n
	}
	return frames, bytes, nil
}

var newline = []byte{'\n'}

// Close sends the close frame (when the socket still works) and wakes the
// reader: conn.Close from another goroutine does not (contrib#698).
func (t *wsTransport) Close(r *protocol.Close) {
	if r != nil {
		_ = t.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(r.Code, r.Reason), time.Now().Add(time.Second))
	}
	_ = t.ws.SetReadDeadline(time.Now())
}
