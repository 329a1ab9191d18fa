package dashboard

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/internal/config"
)

// HTTPGuard bounds what a TCP connection may do before it has sent a
// complete request head. fasthttp alone has no header read timeout, keeps
// half-sent requests open until its whole-request ReadTimeout, and waits
// for more data forever on a request whose last header line has no colon
// (its header scanner reports "need more" when no ':' is left in the
// buffer, valyala/fasthttp header.go headerScanner.next). The guard wraps
// the listener and watches the bytes of each request head as they pass:
//
//   - a head not complete ReadHeaderTimeout after the connection opened
//     (or, on a kept-alive connection, after the next request's first
//     byte) gets 408 and is closed;
//   - a header line without a colon gets 400 and is closed at once;
//
// (the guard makes the pending read fail; Fiber writes the 408 or 400 and
// fasthttp closes the connection; the guard closes it anyway a second
// later.)
//   - an IP may hold at most MaxHalfOpenPerIP connections that have not yet
//     completed their first request head; more are closed on accept
//     (TrustedProxies are exempt: behind a balancer every client shares
//     its address, and the balancer sends whole heads).
//
// After a 101 (WebSocket) the guard steps aside: the bytes are frames.
//
// Its settings, their defaults and bounds are internal/config's
// (HTTPLimits); a zero field gets the default (Config.setDefaults).
type HTTPGuard = config.HTTPLimits

// guardWriteTimeout: a refused connection is closed this long after the
// refusal at the latest.
const guardWriteTimeout = time.Second

// guardListener is the wrapped listener. Accept is called by fasthttp's one
// accept loop; the half-open table is shared with every connection's
// goroutines and timers, under mu.
type guardListener struct {
	net.Listener
	cfg    HTTPGuard
	exempt []netip.Prefix

	mu       sync.Mutex
	halfOpen map[netip.Addr]int

	refusedHalfOpen atomic.Uint64
	rejected        atomic.Uint64 // 400 malformed head
	timedOut        atomic.Uint64 // 408 head too slow
}

// guard wraps ln; see HTTPGuard.
func (s *Server) guard(ln net.Listener) net.Listener {
	return newGuardListener(ln, s.cfg.HTTPGuard, s.limits.proxies)
}

func newGuardListener(ln net.Listener, cfg HTTPGuard, exempt []netip.Prefix) *guardListener {
	return &guardListener{Listener: ln, cfg: cfg, exempt: exempt, halfOpen: map[netip.Addr]int{}}
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerIP(c.RemoteAddr())
		counted := ip.IsValid() && !trusted(l.exempt, ip)
		if counted && !l.acquire(ip) {
			l.refusedHalfOpen.Add(1)
			_ = c.Close()
			continue
		}
		gc := &guardConn{Conn: c, l: l, ip: ip, counted: counted, state: stHead}
		gc.timer = time.AfterFunc(l.cfg.ReadHeaderTimeout, gc.headTimedOut)
		return gc, nil
	}
}

func (l *guardListener) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halfOpen[ip] >= l.cfg.MaxHalfOpenPerIP {
		return false
	}
	l.halfOpen[ip]++
	return true
}

func (l *guardListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halfOpen[ip] <= 1 {
		delete(l.halfOpen, ip)
	} else {
		l.halfOpen[ip]--
	}
}

func peerIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Connection states.
const (
	stHead    = iota // reading a request head: scanned, under the header timer
	stBody           // head complete, request being served
	stIdle           // response written; the next byte starts a new head
	stTunnel         // upgraded (101): not HTTP any more
	stRefused        // malformed or too slow: the error response, then close
	stDone           // closed
)

var errMalformedHead = errors.New("malformed request: a header line without a colon")

// guardConn tracks one connection's request heads. Read and Write run on
// fasthttp's connection goroutine (or the WebSocket handler after the
// upgrade); the header timer runs on its own; mu orders them.
type guardConn struct {
	net.Conn
	l       *guardListener
	ip      netip.Addr
	counted bool // holds a half-open slot until its first head completes

	tunnel atomic.Bool // fast path for WebSocket frames

	mu         sync.Mutex
	state      int
	timer      *time.Timer
	sawReqLine bool // the current head's request line has been read
	lineLen    int  // bytes of the current line, CR excluded
	colon      bool // the current line has a ':'
	closeOnce  sync.Once

	wmu  sync.Mutex
	wdl  int64 // the write deadline last applied (unix ns; 0 none)
	wcut bool  // CutWrites was called: the deadline never moves later again
}

func (c *guardConn) Read(p []byte) (int, error) {
	if c.tunnel.Load() {
		return c.Conn.Read(p)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		bad := c.state == stRefused || c.scan(p[:n])
		if bad && c.state != stRefused {
			c.refuseLocked()
			c.l.rejected.Add(1)
		}
		c.mu.Unlock()
		if bad {
			// Fiber answers a read error that is not a net.Error with 400
			// and its message; fasthttp then closes the connection.
			return 0, errMalformedHead
		}
	}
	return n, err
}

// scan follows the request head through b; it reports a header line with
// no colon. Caller holds mu.
func (c *guardConn) scan(b []byte) (bad bool) {
	for len(b) > 0 {
		switch c.state {
		case stIdle:
			// A new request on a kept-alive connection: its head gets the
			// same time bound as the first.
			c.state, c.sawReqLine, c.lineLen, c.colon = stHead, false, 0, false
			c.timer = time.AfterFunc(c.l.cfg.ReadHeaderTimeout, c.headTimedOut)
		case stHead:
		default:
			return false
		}
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i]
		}
		for _, ch := range line {
			switch ch {
			case '\r':
			case ':':
				c.colon = true
				c.lineLen++
			default:
				c.lineLen++
			}
		}
		if i < 0 {
			return false
		}
		b = b[i+1:]
		switch {
		case !c.sawReqLine:
			if c.lineLen > 0 { // blank lines before a request line are allowed (RFC 9112 §2.2)
				c.sawReqLine = true
			}
		case c.lineLen == 0:
			c.headDone()
		case !c.colon:
			return true
		}
		c.lineLen, c.colon = 0, false
	}
	return false
}

// headDone: the head is complete. Caller holds mu.
func (c *guardConn) headDone() {
	c.state = stBody
	c.timer.Stop()
	if c.counted {
		c.counted = false
		c.l.release(c.ip)
	}
}

func (c *guardConn) Write(p []byte) (int, error) {
	if !c.tunnel.Load() {
		c.mu.Lock()
		if c.state == stBody {
			switch {
			case bytes.HasPrefix(p, []byte("HTTP/1.1 101 ")):
				c.state = stTunnel
				c.tunnel.Store(true)
			case bytes.HasPrefix(p, []byte("HTTP/1.1 100 ")):
				// 100 Continue: the body is still to come
			default:
				c.state = stIdle
			}
		}
		c.mu.Unlock()
	}
	n, err := c.Conn.Write(p)
	if c.refused() {
		_ = c.Close() // the error response is out
	}
	return n, err
}

func (c *guardConn) refused() bool {
	if c.tunnel.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stRefused
}

// headTimedOut runs on the timer's goroutine. It expires the pending read
// rather than closing the socket: fasthttp then sees a timeout, Fiber
// answers 408 and fasthttp closes the connection (a closed socket would be
// reported as a 502 and logged as a server error).
func (c *guardConn) headTimedOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stHead {
		return
	}
	c.l.timedOut.Add(1)
	c.refuseLocked()
	_ = c.Conn.SetReadDeadline(time.Now())
}

// refuseLocked marks the connection as refused: no more reads, and closed
// after the error response (or guardWriteTimeout). Caller holds mu.
func (c *guardConn) refuseLocked() {
	c.state = stRefused
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(guardWriteTimeout, func() { _ = c.Close() })
}

// SetReadDeadline is fasthttp's; once refused, the expired deadline stays.
func (c *guardConn) SetReadDeadline(t time.Time) error {
	if !c.tunnel.Load() {
		c.mu.Lock()
		refused := c.state == stRefused
		c.mu.Unlock()
		if refused {
			return nil
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *guardConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline skips a call that would not change the deadline: each
// real call takes the runtime's timer locks, and when the WebSocket
// library still set its deadline before every frame that was a quarter of
// a broadcast's CPU in a profile (issue 13). After CutWrites the deadline only moves earlier,
// so a frame that follows the cut cannot give a stuck peer time again.
func (c *guardConn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ns == c.wdl || c.wcut && (ns == 0 || ns > c.wdl) {
		return nil
	}
	c.wdl = ns
	return c.Conn.SetWriteDeadline(t)
}

// CutWrites expires the write in flight and every later one; any
// goroutine may call it (the slow-consumer hook does).
func (c *guardConn) CutWrites() {
	now := time.Now()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wcut, c.wdl = true, now.UnixNano()
	_ = c.Conn.SetWriteDeadline(now)
}

// cutWrites expires conn's writes: for good on a guardConn, else once.
// A hijacked WebSocket's conn is fasthttp's wrapper around ours, which
// hands it out through UnsafeConn.
func cutWrites(conn net.Conn) {
	if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
		conn = u.UnsafeConn()
	}
	if gc, ok := conn.(interface{ CutWrites() }); ok {
		gc.CutWrites()
		return
	}
	_ = conn.SetWriteDeadline(time.Now())
}

func (c *guardConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.counted {
			c.counted = false
			c.l.release(c.ip)
		}
		c.state = stDone
		c.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}
