package dashboard

import (
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Transport is what a Session needs from a connection: the few things that
// differ between a WebSocket and a Server-Sent Events stream. Only the
// session's writer calls it, from one goroutine at a time, so
// implementations need no locking of their own — except CutWrite, which
// the slow-consumer hook calls from another goroutine.
type Transport interface {
	// Name is the transport's name in logs ("websocket", "sse").
	Name() string
	// SetWriteDeadline bounds the writes that follow; the writer renews it
	// only when less than half of writeWait is left (writer.arm).
	SetWriteDeadline(t time.Time) error
	// CutWrite expires the write in flight and every later one, so a
	// writer stuck on a peer that does not read returns now. Safe from any
	// goroutine.
	CutWrite()
	// WriteBatch writes events, as many per frame as fit the transport's
	// write buffer, and returns how many frames and payload bytes it wrote.
	WriteBatch(batch []*hub.Event) (frames, bytes int, err error)
	// Ping sends a keepalive.
	Ping() error
	// Pong answers a client's ping with its payload (WebSocket only: no
	// ping arrives over SSE).
	Pong(payload []byte) error
	// Close ends the connection. With a reason it first tells the peer why
	// (a close frame, an SSE close event); nil means the connection is
	// already broken and nothing more can be written. Either way it wakes
	// whatever reads the connection.
	Close(reason *protocol.Close)
}
