package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// dialer opens TCP connections, rotating over loopback source addresses so
// that more connections than one address's ephemeral ports can exist.
type dialer struct {
	srcs []*net.TCPAddr
	next atomic.Uint64
}

// newDialer makes k source addresses 127.0.0.2 … 127.0.0.(k+1); k ≤ 0 uses
// the kernel's choice of source.
func newDialer(k int) *dialer {
	d := &dialer{}
	for i := range k {
		d.srcs = append(d.srcs, &net.TCPAddr{IP: net.IPv4(127, 0, byte((i+2)>>8), byte((i+2)&0xff))})
	}
	return d
}

func (d *dialer) dial(network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if len(d.srcs) > 0 {
		nd.LocalAddr = d.srcs[d.next.Add(1)%uint64(len(d.srcs))]
	}
	return nd.Dial(network, addr)
}

// autoSources picks how many loopback source addresses n connections need:
// one per 20,000 (the kernel's default range holds about 28,000 ports, and
// TIME_WAIT sockets from earlier runs use some).
func autoSources(n int) int {
	if n <= 20000 {
		return 0
	}
	return (n + 19999) / 20000
}

// isLoopbackHost reports whether host (a name or IP) is on this machine's
// loopback.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// endpoint is where and how to connect: tickroom's /ws, Socket.IO's
// Engine.IO WebSocket transport, or Centrifugo's JSON protocol at
// /connection/websocket.
type endpoint struct {
	target string // "tickroom", "socketio" or "centrifugo"
	wsURL  string
	token  string
	d      *dialer
	rbuf   int
}

func newEndpoint(raw, target string, d *dialer, rbuf int) (*endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("-url: scheme %q: want http, https, ws or wss", u.Scheme)
	}
	switch target {
	case "tickroom":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/ws"
		}
	case "socketio":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/socket.io/"
		}
		q := u.Query()
		q.Set("EIO", "4")
		q.Set("transport", "websocket")
		u.RawQuery = q.Encode()
	case "centrifugo":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/connection/websocket"
		}
	default:
		return nil, fmt.Errorf("-target %q: want tickroom, socketio or centrifugo", target)
	}
	return &endpoint{target: target, wsURL: u.String(), d: d, rbuf: rbuf}, nil
}

// conn is one benchmark WebSocket. Only its own goroutine reads; writes are
// serialised by wmu (the publisher writes while the reader answers pings).
type conn struct {
	ep  *endpoint
	ws  *websocket.Conn
	wmu sync.Mutex
	buf []byte

	done chan struct{} // closed when the reader started by startReader ends
}

var errHandshake = errors.New("handshake")

// connect dials, reads the greeting (tickroom's welcome; Engine.IO's open
// and Socket.IO's connect) and, if channel is set, subscribes to it and
// waits for the reply. Lines that arrive before the reply go to nowhere.
func (ep *endpoint) connect(channel string) (*conn, error) {
	d := websocket.Dialer{
		NetDial:          ep.d.dial,
		HandshakeTimeout: 15 * time.Second,
		ReadBufferSize:   ep.rbuf,
		WriteBufferSize:  1024,
	}
	u := ep.wsURL
	if ep.target == "tickroom" {
		d.Subprotocols = []string{"tickroom.v1"}
		if ep.token != "" {
			u += "?token=" + url.QueryEscape(ep.token)
		}
	}
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &conn{ep: ep, ws: ws}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = ws.SetReadDeadline(time.Time{}) }()
	switch ep.target {
	case "socketio":
		err = c.sioHandshake()
	case "centrifugo":
		err = c.cfHandshake(channel)
	default:
		err = c.trHandshake(channel)
	}
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) trHandshake(channel string) error {
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("%w: welcome: %v", errHandshake, err)
	}
	if !bytes.Contains(f, []byte(`"event":"welcome"`)) {
		return fmt.Errorf("%w: first frame is not a welcome: %.120s", errHandshake, f)
	}
	if channel == "" {
		return nil
	}
	// A comma list (idle: the page's chat room and market.*) subscribes to
	// each in turn, request id i+1 for the i-th.
	for i, ch := range strings.Split(channel, ",") {
		if err := c.trSubscribe(uint64(i+1), ch); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) trSubscribe(id uint64, channel string) error {
	if err := c.write([]byte(`{"op":"subscribe","id":` + strconv.FormatUint(id, 10) + `,"channel":` + strconv.Quote(channel) + `}`)); err != nil {
		return err
	}
	for {
		f, err := c.read()
		if err != nil {
			return fmt.Errorf("%w: subscribe: %v", errHandshake, err)
		}
		var done bool
		var failed []byte
		forEachLine(f, func(line []byte) {
			if got, ok := replyID(line); ok && got == id {
				done = true
				if _, good := isReply(line); !good {
					failed = append([]byte(nil), line...)
				}
			}
		})
		if failed != nil {
			return fmt.Errorf("%w: subscribe refused: %s", errHandshake, failed)
		}
		if done {
			return nil
		}
	}
}

func (c *conn) sioHandshake() error {
	f, err := c.read()
	if err != nil || len(f) == 0 || f[0] != eioOpen {
		return fmt.Errorf("%w: Engine.IO open: %v %.80q", errHandshake, err, f)
	}
	if err := c.write([]byte{eioMessage, sioConnect}); err != nil {
		return err
	}
	for {
		f, err := c.read()
		if err != nil {
			return fmt.Errorf("%w: Socket.IO connect: %v", errHandshake, err)
		}
		switch {
		case len(f) == 1 && f[0] == eioPing:
			if err := c.write([]byte{eioPong}); err != nil {
				return err
			}
		case len(f) >= 2 && f[0] == eioMessage && f[1] == sioConnect:
			return nil
		case len(f) >= 2 && f[0] == eioMessage && f[1] == '4': // CONNECT_ERROR
			return fmt.Errorf("%w: Socket.IO connect error: %.120s", errHandshake, f)
		}
	}
}

// read returns the next text message in c's reused buffer (valid until the
// next read).
func (c *conn) read() ([]byte, error) {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return nil, err
		}
		c.buf = c.buf[:0]
		for {
			if len(c.buf) == cap(c.buf) {
				c.buf = append(c.buf, 0)[:len(c.buf)]
			}
			n, err := r.Read(c.buf[len(c.buf):cap(c.buf)])
			c.buf = c.buf[:len(c.buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
		}
		if typ == websocket.TextMessage {
			return c.buf, nil
		}
	}
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// loop reads until the connection fails, calling fn with the receive time
// for every tickroom or Centrifugo line or every Socket.IO packet but
// pings, which it answers. WebSocket pings are answered by the library.
func (c *conn) loop(fn func(now int64, line []byte)) error {
	for {
		f, err := c.read()
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if c.ep.target == "socketio" {
			if len(f) == 1 && f[0] == eioPing {
				if err := c.write([]byte{eioPong}); err != nil {
					return err
				}
				continue
			}
			fn(now, f)
			continue
		}
		if c.ep.target == "centrifugo" {
			var werr error
			forEachLine(f, func(line []byte) {
				if isCfPing(line) {
					werr = c.write(cfPong)
					return
				}
				fn(now, line)
			})
			if werr != nil {
				return werr
			}
			continue
		}
		forEachLine(f, func(line []byte) { fn(now, line) })
	}
}

// close sends a normal close and closes the socket.
func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// closeCode extracts a WebSocket close code from a read error (0 if none).
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
