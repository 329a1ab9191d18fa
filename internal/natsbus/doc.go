// Package natsbus is tickroom's only door to NATS: it runs the embedded
// nats-server, owns the client connection, declares the JetStream streams
// and the presence bucket, and turns NATS messages into plain [Msg] values.
// The gateway (dashboard) sees NATS only through it: subjects, sequences
// and byte slices. The feed producers (feeds/natsfeed, feeds/producer,
// feeds/cli) and the benchmark (cmd/tickbench) are NATS clients of their
// own and import nats.go directly.
//
// # What lives where
//
//	CHAT     chat.>                       history, replay, dedupe by msgid
//	ALERTS   alert.>                      history, replay (-retain-alert-msgs, 1000 per subject)
//	CANDLES  candle.>                     history, replay (-retain-candle-msgs, 8000 per subject)
//	LAST     market.> analytics.> feed.>  last value per subject
//	         ref.> book.>
//	USERS    user.>                       private notifications, retained on their own
//	BARS     bars.<SYM>.<interval>        closed bars per interval (candles.go)
//	KV tickroom_presence                  one presence snapshot per gateway
//	KV tickroom_secrets                   secrets all gateways share (secret.go)
//
// Other key-value buckets (the gateway's chat state, read positions and
// price alerts: dashboard/chatops.go, [protocol.PriceAlertBucket])
// are opened by their users through [Bus.Bucket].
//
// The first token of a subject is its kind, and the kind alone picks the
// stream: the kinds and their streams are declared once, in
// protocol's kind table ([protocol.Kinds]).
//
// # Concurrency
//
// Every exported method of [Bus] and [Server] is safe for concurrent use.
// Calls that talk to NATS take a context and are bounded by it. Live
// callbacks (SubscribeLive, SubscribePresenceEvents) run serially, one at
// a time per subscription, on goroutines owned by nats.go (a persisted
// pattern's callback moves to a new one when its consumer is recreated; the
// goroutine that recreates it is the subscription's, and ends with
// Unsubscribe or Close); they must not block for
// long, because a slow callback makes NATS buffer and, past its limits,
// drop messages. Replay, History and LastValues call fn on the caller's
// goroutine. OnStatus callbacks run on the bus's supervisor goroutine.
//
// # Lifecycle
//
// [Connect] never fails because NATS is down: it keeps reconnecting
// forever. A supervisor goroutine creates the streams and buckets that are
// missing (never changing existing ones unless [Config.UpdateStreams]),
// retrying while a cluster elects its leaders, and checks them again each
// time the connection comes back. [Bus.Ready] is "connected, and the
// streams were declared once": a reconnect's re-check does not make it
// false, so a failover does not take every gateway out of its balancer.
// [Bus.Close] stops the supervisor, stops every live subscription, drains
// the connection and waits for all of it. [Server.Shutdown] waits for the
// embedded server to stop. Close the Bus before shutting down the Server it
// uses.
package natsbus
