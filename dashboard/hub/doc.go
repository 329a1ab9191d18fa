// Package hub is tickroom's transport-agnostic fan-out core: it owns the
// registry of topics (channel patterns) and their subscribers, and each
// client's bounded outbound queue.
//
// Data flow: an Upstream (NATS, in production) delivers each event once per
// topic, already encoded; the hub appends a pointer to that shared Event to
// the queue of every subscriber — no per-client encoding or copying. A
// transport (WebSocket or SSE) runs one writer per client, woken by
// Client.OnWake, that takes everything queued with Client.Drain and writes it
// as few frames as fit.
//
// Subscribing is one call, Hub.Subscribe, which queues the reply, then the
// replay or last values (Start.Backfill), then the live events — so a
// caller cannot get the order wrong.
//
// Queues are bounded in bytes. Droppable events (ticks) are conflated: a new
// tick for a channel replaces the one still queued for it, so a slow client
// gets the latest value rather than a backlog. Strict events (chat, alerts,
// replies) are never dropped: when they would overflow the queue the client
// is closed with protocol.CloseSlowConsumer and resumes with since.
//
// Concurrency: every exported method is safe for concurrent use. Fan-out
// reads a copy-on-write subscriber slice without locks; each client has one
// mutex that guards its queue and subscription states; the hub mutex guards
// the registry and is never held across I/O or a call into the Upstream.
// Lock order: Hub.mu before Client.mu.
package hub
