package dashboard

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// BenchmarkIdleReaderStack opens real WebSocket connections, lets each
// subscribe once, and reports the goroutine stack an idle connection
// holds (StackInuse per connection, after two GCs). The reader is meant to
// park on a 2 KiB stack: wsframe's package doc says why.
func BenchmarkIdleReaderStack(b *testing.B) {
	const n = 500
	s := testServer(b, newFakeBus(), func(c *Config) { c.MaxConnectionsPerIP = 2 * n })
	addr := serveTest(b, s)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		ws := dialWS(b, addr, nil)
		conns = append(conns, ws)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"subscribe","channel":"chat.lobby"}`))
	}
	for _, ws := range conns {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if len(msg) > 0 && bytes.Contains(msg, []byte(`"id":1`)) {
				break
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(int64(m1.StackInuse)-int64(m0.StackInuse))/n, "stack-B/conn")
	for _, ws := range conns {
		_ = ws.Close()
	}
}
