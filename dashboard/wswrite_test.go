package dashboard

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/tickroom/tickroom/dashboard/hub"
)

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, r io.Reader) (op byte, payload []byte) {
	t.Helper()
	var h [10]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		_, _ = io.ReadFull(r, h[2:4])
		n = int(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		_, _ = io.ReadFull(r, h[2:10])
		n = int(binary.BigEndian.Uint64(h[2:10]))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return h[0], payload
}

// A batch is joined with '\n' into frames of at most maxOutFrame, and a
// delivery allocates nothing.
func TestWSWriteBatch(t *testing.T) {
	client, server := tcpPair(t) // deadline_test.go
	tr := &wsTransport{conn: server}
	ev := func(c byte, n int) *hub.Event { return &hub.Event{Frame: bytes.Repeat([]byte{c}, n)} }
	batch := []*hub.Event{ev('a', 30000), ev('b', 30000), ev('c', 30000)}
	type result struct {
		frames, bytes int
		err           error
	}
	wrote := make(chan result, 1)
	go func() {
		n, size, err := tr.WriteBatch(batch)
		wrote <- result{n, size, err}
	}()
	var frames [][]byte
	for range 2 {
		op, p := readServerFrame(t, client)
		if op != 0x81 {
			t.Errorf("frame op byte %#x, want a whole text frame", op)
		}
		frames = append(frames, p)
	}
	if r := <-wrote; r.err != nil || r.frames != 2 || r.bytes != 90001 {
		t.Fatalf("WriteBatch: %d frames, %d bytes, %v; want 2, 90001", r.frames, r.bytes, r.err)
	}
	want0 := append(append(append([]byte{}, batch[0].Frame...), '\n'), batch[1].Frame...)
	if !bytes.Equal(frames[0], want0) || !bytes.Equal(frames[1], batch[2].Frame) {
		t.Fatalf("frames of %d and %d bytes, want the first two events joined, then the third", len(frames[0]), len(frames[1]))
	}

	go func() { _, _ = io.Copy(io.Discard, client) }()
	one := []*hub.Event{ev('x', 120)}
	if a := testing.AllocsPerRun(200, func() { _, _, _ = tr.WriteBatch(one) }); a != 0 {
		t.Fatalf("a one-event write allocates %.1f times, want 0", a)
	}

}
