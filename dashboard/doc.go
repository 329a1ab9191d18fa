// Package dashboard is the tickroom gateway: the Fiber app that serves the
// page and the browser client, upgrades WebSockets, authenticates them,
// speaks the wire protocol (internal/protocol) on each connection, and
// bridges NATS (through the Bus it is given) to the fan-out hub.
//
// Lifecycle and concurrency: New builds a Server; Serve runs it on a
// listener; Shutdown closes every WebSocket with 1001, stops accepting, and
// waits for every goroutine the Server started (one reader — the Fiber
// handler — and one writer per connection, plus the presence loop). Nothing
// keeps a *websocket.Conn past its handler: contrib/websocket pools them.
package dashboard
