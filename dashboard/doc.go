// Package dashboard is the tickroom gateway: the Fiber app that serves the
// page and the browser client, admits and authenticates connections,
// speaks the wire protocol (internal/protocol) on each, and bridges NATS
// (through the Bus it is given) to the fan-out hub.
//
// Shape: a Session (session.go) owns one client's life — identity, its
// slot under the connection limits (one client-IP resolver, admit.go),
// welcome, request dispatch (requests.go), subscriptions, expiry, status,
// metrics and the close — over a small Transport (transport.go). The
// WebSocket (ws.go) and Server-Sent Events (sse.go) adapters hold only what
// is specific to their transport (on a WebSocket, gofiber/contrib/websocket
// does the handshake and wsframe reads and writes the frames); one writer
// (writer.go) serves both, and
// POST /api/publish goes through the same dispatch. Last values of the
// topics the gateway carries are served from memory (lastvalues.go).
//
// Lifecycle and concurrency: New builds a Server; Serve runs it on a
// listener; Shutdown closes every session with 1001, stops accepting, and
// waits — bounded by its context — for every goroutine the Server started:
// per connection, its reader (the WebSocket reader readWS, or the SSE
// stream writer) and, only while it has something to write, turns of its
// writer on the flush pool (flushpool.go: a few workers per core, stopped
// by Shutdown once every session ended); plus the presence loop, the
// pinger and the chat loops. Every one but the flush pool's is started
// through the Server's tracker, which refuses new ones once Shutdown
// began. The WebSocket reader owns its *websocket.Conn and closes it after the
// session's writer stopped; it never writes: a client's ping and close are
// answered by the writer, the socket's only writer.
package dashboard
