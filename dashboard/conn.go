package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"golang.org/x/time/rate"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// writeWait bounds one frame write; a peer that does not read for this long
// is dropped rather than holding its writer.
const writeWait = 10 * time.Second

// conn is one WebSocket connection: the reader runs in the Fiber handler,
// the writer in a goroutine the handler waits for.
type conn struct {
	s      *Server
	ws     *fws.Conn // valid only until handle returns
	client *hub.Client
	id     auth.Identity
	log    *slog.Logger

	chat      *rate.Limiter // shared by the user's connections
	subscribe *rate.Limiter
}

// handle is the contrib/websocket handler. It owns the connection: it
// returns only after the writer stopped, so the pooled *Conn is never used
// after release.
func (s *Server) handle(ws *fws.Conn) {
	defer s.wg.Done()
	ip, _ := ws.Locals(localIP).(string)
	defer s.limits.release(ip)

	if msg, failed := ws.Locals(localAuthErr).(string); failed {
		s.metrics.closes.inc(strconv.Itoa(protocol.ClosePolicy))
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(protocol.ClosePolicy, "authentication failed: "+msg), time.Now().Add(time.Second))
		return
	}
	id, _ := ws.Locals(localIdentity).(auth.Identity)
	session := newSessionID()
	client, err := s.hub.Register(session, id.User)
	if err != nil { // shutting down
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(protocol.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		return
	}
	s.metrics.connsTotal.Add(1)
	c := &conn{
		s: s, ws: ws, client: client, id: id,
		log:       s.log.With("session", session, "user", id.User),
		chat:      s.chatRate.acquire(id.User),
		subscribe: newLimiter(s.cfg.SubscribeRate, s.cfg.SubscribeBurst),
	}
	defer s.chatRate.release(id.User)
	defer s.hub.Unregister(client)
	s.registry.add(client, ip)
	defer s.registry.remove(client)
	// A slow consumer's writer is usually stuck writing to a peer that does
	// not read: expire the write so its resources go now, not in writeWait.
	client.OnSlowConsumer(func() { _ = ws.NetConn().SetWriteDeadline(time.Now()) })

	welcome, _ := json.Marshal(protocol.Welcome{
		User: id.User, Session: session, Node: s.cfg.Node,
		Protocol: protocol.Version, HeartbeatMS: s.cfg.Heartbeat.Milliseconds(),
	})
	_ = client.Send(protocol.AppendEvent(nil, "", protocol.EventWelcome, 0, time.Time{}, welcome))
	// A credential that expires ends the session with it: the timer closes
	// the client (the writer then sends 1008), and costs no goroutine until
	// it fires.
	if !id.Expires.IsZero() {
		expiry := time.AfterFunc(time.Until(id.Expires.Add(s.cfg.ExpiryGrace)), func() {
			client.Close(protocol.ClosePolicy, "session expired; sign in again")
		})
		defer expiry.Stop()
	}
	if !s.bus.Ready() {
		_ = client.Send(statusFrame(false))
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	<-writerDone
	if r := client.Reason(); r != nil {
		s.metrics.closes.inc(strconv.Itoa(r.Code))
		if r.Code != protocol.CloseNormal {
			c.log.Info("connection closed", "code", r.Code, "reason", r.Reason)
		}
	}
}

// readLoop reads client frames until the connection fails or the client is
// closed (the writer then expires the read deadline to wake it).
func (c *conn) readLoop() {
	ws := c.ws
	ws.SetReadLimit(int64(c.s.cfg.MaxFrameBytes))
	deadline := 2 * c.s.cfg.Heartbeat
	_ = ws.SetReadDeadline(time.Now().Add(deadline))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(deadline))
	})
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			c.client.Close(closeFor(err))
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(deadline))
		if typ != websocket.TextMessage {
			c.client.Close(protocol.CloseUnsupportedData, "binary frames are not supported; send UTF-8 JSON text")
			return
		}
		c.handleFrame(frame)
	}
}

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

// writeLoop is the only writer of the socket: it drains the client's queue
// into one '\n'-joined frame per wake-up, sends pings, and on close sends
// the close frame and wakes the reader.
func (c *conn) writeLoop() {
	ws := c.ws
	ping := time.NewTicker(c.s.cfg.Heartbeat)
	defer ping.Stop()
	var (
		batch     []*hub.Event
		lastWrite time.Time
	)
	for {
		select {
		case <-c.client.Ready():
			// Coalesce: the first event after a quiet spell goes out at
			// once; while events keep coming, write at most once per
			// WriteDelay, so a busy client costs one write syscall per
			// window instead of one per event.
			if d := c.s.cfg.WriteDelay; d > 0 {
				if wait := d - time.Since(lastWrite); wait > 0 {
					time.Sleep(wait)
				}
			}
			batch = c.client.Drain(batch[:0])
			if err := c.writeBatch(batch); err != nil {
				c.client.Close(protocol.CloseNormal, "")
				_ = ws.SetReadDeadline(time.Now())
				return
			}
			lastWrite = time.Now()
			clear(batch) // do not pin events until the next wake-up
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				c.client.Close(protocol.CloseNormal, "")
				_ = ws.SetReadDeadline(time.Now())
				return
			}
		case <-c.client.Done():
			r := c.client.Reason()
			if r.Code != protocol.CloseSlowConsumer {
				// Say what is already queued (replies, last events) first.
				_ = c.writeBatch(c.client.Drain(batch[:0]))
			}
			_ = ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(r.Code, r.Reason), time.Now().Add(time.Second))
			_ = ws.SetReadDeadline(time.Now()) // contrib#698: Close does not wake the reader
			return
		}
	}
}

// maxOutFrame caps one outgoing frame; a bigger batch becomes several.
const maxOutFrame = 64 << 10

func (c *conn) writeBatch(batch []*hub.Event) error {
	ws := c.ws
	for start := 0; start < len(batch); {
		_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
		w, err := ws.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
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
			return err
		}
		c.s.metrics.framesOut.Add(1)
		c.s.metrics.bytesOut.Add(int64(n))
	}
	return nil
}

var newline = []byte{'\n'}

// reply queues a reply frame for this client alone.
func (c *conn) reply(frame []byte) { _ = c.client.Send(frame) }

// ok replies to a successful request — only when it carried an id: a
// request without one is fire-and-forget (errors are still reported).
func (c *conn) ok(id json.RawMessage, frame func(json.RawMessage) []byte) {
	if len(id) > 0 {
		c.reply(frame(id))
	}
}

func (c *conn) fail(id json.RawMessage, e *protocol.Error) {
	c.s.metrics.errors.inc(e.Code)
	c.reply(protocol.AppendError(nil, id, e))
}

// requestContext bounds one request's NATS work and ends with the server.
func (c *conn) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.s.ctx, 5*time.Second)
}
