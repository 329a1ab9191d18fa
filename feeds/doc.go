// Package feeds holds what the tickroom feed producers share: the payloads
// of PROTOCOL section 1 as Go types, the subject rules, and the two small
// interfaces every runner needs to reach a message bus.
//
// The packages under feeds never import the gateway (dashboard) and the
// gateway never imports them: they meet only through NATS subjects.
//
//   - feeds/market     a seeded simulated market, publishes market.<SYM>
//   - feeds/analytics  indicator math and the runner market.* → analytics.<SYM>, candle.<SYM>
//   - feeds/alerts     market.*, analytics.* → alert.<SYM>
//   - feeds/replay     ticks from a CSV file at the original pace × speed
//   - feeds/producer   a tiny nats.go client for third-party producers
//   - feeds/natsfeed   Publisher and Subscriber over a *nats.Conn
//   - feeds/memfeed    an in-memory Publisher and Subscriber for tests
//   - feeds/cli        the `tickroom feed <name>` entry points and RunAll
package feeds

// Publisher sends one message. Implementations must be safe for concurrent
// use; Publish should not block for long (nats.go buffers).
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Subscriber delivers the messages on subject (NATS wildcards * and >
// allowed) to fn until unsubscribe is called. Calls of fn for one
// subscription are sequential; calls for different subscriptions may run
// concurrently. fn must not keep data after it returns.
type Subscriber interface {
	Subscribe(subject string, fn func(subject string, data []byte)) (unsubscribe func() error, err error)
}
