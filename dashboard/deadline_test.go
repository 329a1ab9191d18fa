package dashboard

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countConn counts the write deadlines that reach the socket.
type countConn struct {
	net.Conn
	calls int
}

func (c *countConn) SetWriteDeadline(t time.Time) error {
	c.calls++
	return c.Conn.SetWriteDeadline(t)
}

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestGuardConnWriteDeadline(t *testing.T) {
	_, server := tcpPair(t)
	cc := &countConn{Conn: server}
	gc := &guardConn{Conn: cc}

	// The same deadline set again (as the WebSocket library did before
	// every frame) reaches the socket once.
	d := time.Now().Add(time.Hour)
	for range 5 {
		if err := gc.SetWriteDeadline(d); err != nil {
			t.Fatal(err)
		}
	}
	if cc.calls != 1 {
		t.Fatalf("same deadline 5 times: %d socket calls, want 1", cc.calls)
	}
	if err := gc.SetWriteDeadline(time.Time{}); err != nil || cc.calls != 2 {
		t.Fatalf("clearing the deadline: calls %d err %v, want 2 calls", cc.calls, err)
	}

	// After a cut, later and cleared deadlines are ignored: the write fails
	// at once instead of waiting for a peer that does not read.
	gc.CutWrites()
	_ = gc.SetWriteDeadline(time.Now().Add(time.Hour))
	_ = gc.SetWriteDeadline(time.Time{})
	if _, err := gc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after CutWrites: %v, want a deadline error", err)
	}
}

// A peer that never reads fills the socket buffers; a cut makes the blocked
// write return.
func TestCutWritesEndsBlockedWrite(t *testing.T) {
	_, server := tcpPair(t)
	gc := &guardConn{Conn: server}
	_ = gc.SetWriteDeadline(time.Now().Add(time.Minute))
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := gc.Write(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the buffers fill
	cutWrites(gc)
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked write ended with %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked write did not return after CutWrites")
	}
}

// wrapper is a hijack wrapper like fasthttp's: it hides CutWrites.
type wrapper struct{ net.Conn }

func (w wrapper) UnsafeConn() net.Conn { return w.Conn }

// cutWrites reaches the guard through fasthttp's hijack wrapper, so the cut
// stays: a later deadline does not undo it.
func TestCutWritesThroughHijackWrapper(t *testing.T) {
	_, server := tcpPair(t)
	gc := &guardConn{Conn: server}
	cutWrites(wrapper{gc})
	_ = gc.SetWriteDeadline(time.Now().Add(time.Hour))
	if _, err := gc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after a cut through the wrapper: %v, want a deadline error", err)
	}
}
