package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
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

	// The writer runs on demand: a goroutine exists only while there is
	// something to write (events, a ping, the close), so an idle connection
	// holds one goroutine — its reader — not two. writing is true while a
	// flush goroutine runs, and stays true once the close frame is out.
	writing    atomic.Bool
	pingDue    atomic.Bool
	writerDone chan struct{} // closed by the flush that ended the connection
	batch      []*hub.Event  // flush goroutine only (one at a time)
	lastWrite  time.Time     // flush goroutine only
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
	c.writerDone = make(chan struct{})
	client.OnWake(c.wake)
	// Anything that happened before the hook was set (a shutdown closing
	// every client) woke nobody: look once now.
	c.wake()
	s.registry.add(client, ip, c.ping)
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

	c.readLoop()
	c.client.Close(protocol.CloseNormal, "") // no-op if something closed it first
	<-c.writerDone
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
	// Once the client is closed the writer has expired the read deadline
	// to wake us; renewing it afterwards (a buffered frame, a pong) would
	// let a peer that ignores our close frame hold the handler open. So
	// every renewal is followed by a look at Done.
	ws.SetPongHandler(func(string) error {
		if err := ws.SetReadDeadline(time.Now().Add(deadline)); err != nil {
			return err
		}
		if c.closed() {
			return errClosing
		}
		return nil
	})
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			c.client.Close(closeFor(err))
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(deadline))
		if c.closed() {
			return
		}
		if typ != websocket.TextMessage {
			c.client.Close(protocol.CloseUnsupportedData, "binary frames are not supported; send UTF-8 JSON text")
			return
		}
		c.handleFrame(frame)
	}
}

var (
	errClosing      = errors.New("connection closing")
	errSlowConsumer = errors.New("slow consumer")
)

func (c *conn) closed() bool {
	select {
	case <-c.client.Done():
		return true
	default:
		return false
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

// wake starts a flush goroutine unless one is running. It is the hub's
// OnWake hook (called under the client's lock) and the pinger's.
func (c *conn) wake() {
	if c.writing.CompareAndSwap(false, true) {
		// Tracked like every goroutine of the server. Its handler holds a
		// count of the same group until the last flush has finished, so
		// this Add never races Shutdown's Wait from zero.
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			c.flush()
		}()
	}
}

// ping asks the writer to send a WebSocket ping; the server's pinger calls
// it every heartbeat for every connection.
func (c *conn) ping() {
	c.pingDue.Store(true)
	c.wake()
}

// flush is the only writer of the socket while it runs: it writes until
// there is nothing left, then exits — unless the connection ended, in
// which case it leaves writing set so no writer starts again.
func (c *conn) flush() {
	for {
		if c.flushOnce() {
			return
		}
		c.writing.Store(false)
		// A wake that came while we were finishing saw writing set and
		// left: look again before leaving, so nothing is stranded.
		n, _ := c.client.Queued()
		if n == 0 && !c.pingDue.Load() && c.client.Reason() == nil {
			return
		}
		if !c.writing.CompareAndSwap(false, true) {
			return // another flush took over
		}
	}
}

// flushOnce writes what is due: the close (then it reports done), a ping,
// and the queued events as '\n'-joined frames.
func (c *conn) flushOnce() (done bool) {
	ws := c.ws
	select {
	case <-c.client.Done():
		r := c.client.Reason()
		if r.Code != protocol.CloseSlowConsumer {
			// Say what is already queued (replies, last events) first.
			_ = c.writeBatch(c.client.Drain(c.batch[:0]))
		}
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(r.Code, r.Reason), time.Now().Add(time.Second))
		c.finish()
		return true
	default:
	}
	if c.pingDue.Swap(false) {
		if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
			c.broken()
			return true
		}
	}
	// Coalesce: the first event after a quiet spell goes out at once; while
	// events keep coming, write at most once per WriteDelay, so a busy
	// client costs one write syscall per window instead of one per event.
	if d := c.s.cfg.WriteDelay; d > 0 {
		if n, _ := c.client.Queued(); n > 0 {
			if wait := d - time.Since(c.lastWrite); wait > 0 {
				time.Sleep(wait)
			}
		}
	}
	c.batch = c.client.Drain(c.batch[:0])
	if len(c.batch) == 0 {
		return false
	}
	err := c.writeBatch(c.batch)
	clear(c.batch) // do not pin events until the next write
	if err != nil {
		c.broken()
		return true
	}
	c.lastWrite = time.Now()
	return false
}

// broken ends a connection whose socket failed while writing.
func (c *conn) broken() {
	c.client.Close(protocol.CloseNormal, "")
	c.finish()
}

// finish wakes the reader (contrib#698: Close does not) and lets the
// handler return.
func (c *conn) finish() {
	_ = c.ws.SetReadDeadline(time.Now())
	close(c.writerDone)
}

// maxOutFrame caps one outgoing frame; a bigger batch becomes several.
const maxOutFrame = 64 << 10

func (c *conn) writeBatch(batch []*hub.Event) error {
	c.s.metrics.observeBatch(len(batch))
	ws := c.ws
	for start := 0; start < len(batch); {
		_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
		// A slow consumer's hook expired the deadline to cut a stuck write
		// short; the line above must not give the next frame 10s again.
		if r := c.client.Reason(); r != nil && r.Code == protocol.CloseSlowConsumer {
			return errSlowConsumer
		}
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
		frame := batch[start:i]
		start = i
		if err := w.Close(); err != nil {
			return err
		}
		c.s.metrics.framesOut.Add(1)
		c.s.metrics.bytesOut.Add(int64(n))
		c.s.metrics.frameWritten(frame, time.Now())
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
