package main

// Hostile HTTP over real TCP against a real Node: malformed heads,
// slowloris sockets, bad WebSocket handshakes.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func hostPortOf(n *Node) string {
	return strings.TrimPrefix(strings.TrimPrefix(n.URL(), "http://"), "https://")
}

// rawExchange sends req on a new connection and returns the status line
// and whether the server then closed the connection, within d.
func rawExchange(t *testing.T, addr, req string, d time.Duration, waitClose bool) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "no response: " + err.Error(), false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !waitClose {
		return resp.Status, false
	}
	_, err = br.ReadByte()
	return resp.Status, err == io.EOF
}

func TestHTTPGuardMalformedRequests(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	addr := hostPortOf(n)
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's sample: 16 bytes
	ws := func(extra string) string {
		return "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + extra + "\r\n"
	}
	for name, tc := range map[string]struct {
		req, want string
		closed    bool
	}{
		"last header line without colon":   {"GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nthis line has no colon\r\n\r\n", "400", true},
		"middle header line without colon": {"GET / HTTP/1.1\r\nno colon here\r\nHost: " + addr + "\r\n\r\n", "400", true},
		"bare LF, no colon":                {"GET / HTTP/1.1\nHost: x\nbroken\n\n", "400", true},
		"key not base64":                   {ws("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: not base64!\r\n"), "400", false},
		"key of 15 bytes":                  {ws("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAECAwQFBgcICQoLDA0O\r\n"), "400", false},
		"no key":                           {ws("Sec-WebSocket-Version: 13\r\n"), "400", false},
		"version 8":                        {ws("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " + key + "\r\n"), "400", false},
		"good handshake":                   {ws("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"), "101", false},
		"plain request still served":       {"GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", "200", false},
	} {
		t.Run(name, func(t *testing.T) {
			status, closed := rawExchange(t, addr, tc.req, 3*time.Second, tc.closed)
			if !strings.HasPrefix(status, tc.want) {
				t.Fatalf("status %q, want %s", status, tc.want)
			}
			if tc.closed && !closed {
				t.Fatal("connection left open after the 400")
			}
		})
	}
}

func TestHTTPGuardSlowloris(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.ReadHeaderTimeout = 500 * time.Millisecond
	cfg.HTTP.MaxHalfOpenPerIP = 5
	n := startNode(t, cfg)
	addr := hostPortOf(n)

	// Half-sent heads: at most 5 are held; the rest are closed on accept;
	// the held ones get 408 and are closed after the header timeout.
	var conns []net.Conn
	for range 12 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conns = append(conns, c)
	}
	timedOut, refused := 0, 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		switch {
		case strings.HasPrefix(string(b), "HTTP/1.1 408"):
			timedOut++
		case len(b) == 0 && (err == nil || errors.Is(err, syscall.ECONNRESET)):
			refused++ // closed on accept without a word (reset: its head was unread)
		default:
			t.Fatalf("slow socket got %q, %v", b, err)
		}
	}
	if timedOut != 5 || refused != 7 {
		t.Fatalf("timed out %d (want 5), refused on accept %d (want 7)", timedOut, refused)
	}

	// A slot is free again: a complete request from the same IP is served,
	// and a keep-alive connection that dribbles its second head is cut too.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("complete request after the slowloris: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHo")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("dribbled second head: %v %v, want 408", resp, err)
	}
}
