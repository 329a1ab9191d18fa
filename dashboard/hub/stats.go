package hub

import "sync/atomic"

type counters struct {
	clients       atomic.Int64
	topics        atomic.Int64
	subscriptions atomic.Int64
	conflated     atomic.Int64
	slowCloses    atomic.Int64
}

// Stats is a snapshot of the hub's gauges and counters, for metrics.
type Stats struct {
	Clients       int64 // registered clients
	Topics        int64 // patterns with an upstream subscription
	Subscriptions int64 // client subscriptions
	Conflated     int64 // ticks replaced in a queue before being written
	SlowCloses    int64 // clients closed because their queue overflowed
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Clients:       h.stats.clients.Load(),
		Topics:        h.stats.topics.Load(),
		Subscriptions: h.stats.subscriptions.Load(),
		Conflated:     h.stats.conflated.Load(),
		SlowCloses:    h.stats.slowCloses.Load(),
	}
}
