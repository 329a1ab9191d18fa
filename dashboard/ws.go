package dashboard

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// handleWS is the contrib/websocket handler: the WebSocket adapter of a
// Session. The reader runs here; it returns only after the session's
// writer stopped, so the pooled *Conn is never used after release.
func (s *Server) handleWS(ws *fws.Conn) {
	defer s.tracked.leave() // entered by checkUpgrade
	ip, _ := ws.Locals(localIP).(string)
	if msg, failed := ws.Locals(localAuthErr).(string); failed {
		s.limits.release(ip)
		s.metrics.closes.inc(strconv.Itoa(protocol.ClosePolicy))
		writeClose(ws, protocol.ClosePolicy, "authentication failed: "+msg)
		return
	}
	id, _ := ws.Locals(localIdentity).(auth.Identity)
	ss, err := s.openSession(id, ip, "websocket")
	if err != nil {
		writeClose(ws, protocol.CloseGoingAway, "server shutting down")
		return
	}
	ss.start(&wsTransport{ws: ws})
	wsReadLoop(ws, ss, s.cfg.MaxFrameBytes, 2*s.cfg.Heartbeat)
	ss.end()
}

func writeClose(ws *fws.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// wsReadLoop reads client frames until the connection fails or the session
// is closed (the writer then expires the read deadline to wake it).
func wsReadLoop(ws *fws.Conn, ss *Session, maxFrame int, deadline time.Duration) {
	ws.SetReadLimit(int64(maxFrame))
	_ = ws.SetReadDeadline(time.Now().Add(deadline))
	// Once the session is closed the writer has expired the read deadline
	// to wake us; renewing it afterwards (a buffered frame, a pong) would
	// let a peer that ignores our close frame hold the handler open. So
	// every renewal is followed by a look at closing.
	ws.SetPongHandler(func(string) error {
		if err := ws.SetReadDeadline(time.Now().Add(deadline)); err != nil {
			return err
		}
		if ss.closing() {
			return errClosing
		}
		return nil
	})
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			ss.close(closeFor(err))
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(deadline))
		if ss.closing() {
			return
		}
		if typ != websocket.TextMessage {
			ss.close(protocol.CloseUnsupportedData, "binary frames are not supported; send UTF-8 JSON text")
			return
		}
		ss.handleFrame(frame)
	}
}

var (
	errClosing      = errors.New("connection closing")
	errSlowConsumer = errors.New("slow consumer")
)

// closeFor maps a read error to the close the connection ends with.
func closeFor(err error) (code int, reason string) {
	var (
		ce *websocket.CloseError
		ne net.Error
	)
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return protocol.CloseTooLarge, "frame too large"
	case errors.As(err, &ce):
		return protocol.CloseNormal, "" // the peer closed; echo normally
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
	ws *fws.Conn // valid only until handleWS returns, which waits for the writer
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
