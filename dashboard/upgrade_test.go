package dashboard

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tickroom/tickroom/internal/protocol"
)

// serveTest runs s on a loopback listener until the test's cleanup
// (testServer's Shutdown) and returns its address.
func serveTest(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() { // runs before testServer's Shutdown: close the listener so Serve returns
		_ = ln.Close()
		<-served
	})
	return ln.Addr().String()
}

func dialWS(t testing.TB, addr string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+addr+"/ws", header)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, statusOf(resp))
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// readUntil reads text frames (each may hold several '\n'-joined events)
// until one line contains want, and returns that line.
func readUntil(t *testing.T, ws *websocket.Conn, want string) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		for _, line := range strings.Split(string(msg), "\n") {
			if strings.Contains(line, want) {
				return line
			}
		}
	}
}

// maskedText is a client's text frame (RFC 6455 §5.2), masked as a client
// must mask.
func maskedText(payload []byte) []byte {
	frame := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n < 1<<16:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	key := []byte{0x11, 0x22, 0x33, 0x44}
	frame = append(frame, key...)
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	return frame
}

// A client that sends a frame in the same write as its handshake, before
// the server's response (which RFC 6455 says it must wait for), is served
// all the same: the frame already sits in fasthttp's read buffer and is
// read from there, and a connection opened after it (which may be handed
// that buffer once fasthttp pools it) hears only its own replies.
func TestUpgradeClientFrameBeforeResponse(t *testing.T) {
	s := testServer(t, newFakeBus(), nil)
	addr := serveTest(t, s)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), maskedText([]byte(`{"op":"ping","id":41}`))...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s, want 101", resp.Status)
	}

	other := dialWS(t, addr, nil)
	readUntil(t, other, `"welcome"`)
	if err := other.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":42}`)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, other, `"id":42`)

	// The early client's frames: the welcome, then the reply to id 41.
	var got bytes.Buffer
	for !strings.Contains(got.String(), `"id":41`) {
		var hdr [2]byte
		if _, err := br.Read(hdr[:1]); err != nil {
			t.Fatalf("early client: %v after %q", err, got.String())
		}
		if _, err := br.Read(hdr[1:]); err != nil {
			t.Fatal(err)
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := fullRead(br, ext[:]); err != nil {
				t.Fatal(err)
			}
			n = int(binary.BigEndian.Uint16(ext[:]))
		case 127:
			t.Fatal("unexpected 64-bit frame length")
		}
		payload := make([]byte, n)
		if _, err := fullRead(br, payload); err != nil {
			t.Fatal(err)
		}
		got.Write(payload)
		got.WriteByte('\n')
	}
	if strings.Contains(got.String(), `"id":42`) {
		t.Fatalf("the early client heard another connection's reply: %q", got.String())
	}
}

func fullRead(br *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := br.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// The upgrade request's memory is reused once the handshake is out; what a
// session keeps of it (its user, from the token in the query) stays right
// while other requests go through the same server buffers.
func TestUpgradeIdentityOutlivesRequest(t *testing.T) {
	s := testServer(t, newFakeBus(), nil)
	addr := serveTest(t, s)
	token, _, err := s.ids.Sessions.Issue("alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+addr+"/ws?token="+token, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, statusOf(resp))
	}
	defer ws.Close()
	readUntil(t, ws, `"user":"alice"`) // the welcome
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz?token="+strings.Repeat("x", len(token)), nil)
		req.Header.Set("Cookie", sessionCookie+"="+strings.Repeat(fmt.Sprint(i%10), len(token)))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":1,"channel":"chat.lobby"}`)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, `"id":1`)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"publish","id":2,"channel":"chat.lobby","data":{"text":"hi"}}`)); err != nil {
		t.Fatal(err)
	}
	line := readUntil(t, ws, `"hi"`)
	if !strings.Contains(line, `"user":"alice"`) {
		t.Fatalf("chat message stamped %q, want user alice", line)
	}
}

// A handshake whose header is big but within the server's read buffer
// (fiber's 4 KiB default) upgrades; one beyond it is refused (431), not
// upgraded.
func TestUpgradeLargeRequestHeader(t *testing.T) {
	s := testServer(t, newFakeBus(), nil)
	addr := serveTest(t, s)
	big := http.Header{"Cookie": {"other=" + strings.Repeat("c", 3000)}}
	ws := dialWS(t, addr, big)
	readUntil(t, ws, `"welcome"`)

	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	huge := http.Header{"Cookie": {"other=" + strings.Repeat("c", 8000)}}
	// The server answers 431 and closes while the client may still be
	// writing, so the client sees the 431 or a reset — never an upgrade.
	if ws, resp, err := d.Dial("ws://"+addr+"/ws", huge); err == nil {
		ws.Close()
		t.Fatal("an 8 KB request header was upgraded")
	} else if resp != nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("8 KB request header: %v (%v), want 431", err, statusOf(resp))
	}
}

// The read buffer is small; what the protocol reads still reads: a frame
// of exactly the frame limit is answered, one byte more closes 1009, and a
// ping with the largest control payload is answered with the same payload.
func TestReadFramesUpToTheLimit(t *testing.T) {
	s := testServer(t, newFakeBus(), nil)
	addr := serveTest(t, s)
	limit := s.cfg.MaxFrameBytes

	ws := dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	payload := strings.Repeat("p", 125)
	pong := make(chan string, 1)
	ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	head := `{"op":"ping","id":9`
	exact := head + strings.Repeat(" ", limit-len(head)-1) + "}"
	if err := ws.WriteMessage(websocket.TextMessage, []byte(exact)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, `"id":9`) // reading also runs the pong handler
	select {
	case got := <-pong:
		if got != payload {
			t.Fatalf("pong payload %d bytes, want the ping's 125", len(got))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong for a 125-byte ping")
	}

	over := dialWS(t, addr, nil)
	readUntil(t, over, `"welcome"`)
	if err := over.WriteMessage(websocket.TextMessage, []byte(exact+" ")); err != nil {
		t.Fatal(err)
	}
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := over.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, protocol.CloseTooLarge) {
			t.Fatalf("a frame one byte over the limit: %v, want close %d", err, protocol.CloseTooLarge)
		}
		break
	}
}

// Frames RFC 6455 forbids close the connection with the RFC's code, read
// by wsframe: an unmasked client frame 1002, text that is not UTF-8 1007;
// a binary frame 1003 (the protocol's rule). A client's close is echoed
// with its code, and a message cut into fragments with a ping between them
// is answered whole.
func TestWSFrameRules(t *testing.T) {
	s := testServer(t, newFakeBus(), nil)
	addr := serveTest(t, s)
	closedWith := func(ws *websocket.Conn) int {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			if err != nil {
				t.Fatalf("read: %v, want a close frame", err)
			}
		}
	}
	raw := func(send []byte) int {
		t.Helper()
		ws := dialWS(t, addr, nil)
		readUntil(t, ws, `"welcome"`)
		if _, err := ws.NetConn().Write(send); err != nil {
			t.Fatal(err)
		}
		return closedWith(ws)
	}
	if got := raw([]byte{0x81, 0x02, 'h', 'i'}); got != 1002 {
		t.Errorf("unmasked frame: close %d, want 1002", got)
	}
	ws := dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	_ = ws.WriteMessage(websocket.TextMessage, []byte{0xc3, 0x28})
	if got := closedWith(ws); got != 1007 {
		t.Errorf("text not UTF-8: close %d, want 1007", got)
	}
	ws = dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte("{}"))
	if got := closedWith(ws); got != protocol.CloseUnsupportedData {
		t.Errorf("binary frame: close %d, want %d", got, protocol.CloseUnsupportedData)
	}
	ws = dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4321, "bye"), time.Now().Add(time.Second))
	if got := closedWith(ws); got != 4321 {
		t.Errorf("client's close 4321 echoed as %d", got)
	}

	// Fragments: {"op":"ping", | ping | "id":5}. The library writes
	// fragments only from NextWriter with a small buffer, so write them raw.
	ws = dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	masked := func(b0 byte, p string) []byte {
		out := []byte{b0, 0x80 | byte(len(p)), 1, 2, 3, 4}
		for i := range len(p) {
			out = append(out, p[i]^byte(1+i%4))
		}
		return out
	}
	msg := append(masked(0x01, `{"op":"ping",`), masked(0x89, "")...)
	msg = append(msg, masked(0x80, `"id":5}`)...)
	if _, err := ws.NetConn().Write(msg); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, `"id":5`)
}

// After more than writeWait of quiet the socket's write deadline has
// passed; a client's ping and close are still answered, because the writer
// answers them and renews the deadline first. (The reader used to write
// them itself, under the lapsed deadline: the pong was lost and the close
// went unanswered.) The wait makes the condition; nothing is timed.
func TestAnswersAfterAQuietSpell(t *testing.T) {
	if testing.Short() {
		t.Skip("waits writeWait for the write deadline to lapse")
	}
	t.Parallel()
	s := testServer(t, newFakeBus(), nil) // heartbeat 1h: no ping renews the deadline
	addr := serveTest(t, s)
	ws := dialWS(t, addr, nil)
	readUntil(t, ws, `"welcome"`)
	time.Sleep(writeWait + 500*time.Millisecond)

	pong := make(chan string, 1)
	ws.SetPongHandler(func(p string) error { pong <- p; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("still there?"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":3}`)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, `"id":3`) // reading runs the pong handler; the pong comes first
	select {
	case p := <-pong:
		if p != "still there?" {
			t.Fatalf("pong %q", p)
		}
	default:
		t.Fatal("no pong before the reply that followed the ping")
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4321, ""), time.Now().Add(time.Second))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 4321 {
				t.Fatalf("close echoed as %d, want 4321", ce.Code)
			}
			return
		}
		if err != nil {
			t.Fatalf("no close frame in answer: %v", err)
		}
	}
}
