// Package natsfeed adapts a *nats.Conn to feeds.Publisher and
// feeds.Subscriber, so the feed runners can be wired to NATS:
//
//	bus := natsfeed.New(nc)
//	go analyticsRunner.Run(ctx, bus, bus)
package natsfeed

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds"
)

// Conn is a *nats.Conn seen as a feeds.Publisher and feeds.Subscriber. It
// is safe for concurrent use, as nats.Conn is. It does not own the
// connection: closing is the caller's business.
type Conn struct{ nc *nats.Conn }

var (
	_ feeds.Publisher  = (*Conn)(nil)
	_ feeds.Subscriber = (*Conn)(nil)
)

// New wraps nc.
func New(nc *nats.Conn) *Conn { return &Conn{nc: nc} }

// NATS is the underlying connection, for feeds that need JetStream (the
// price-alert evaluator).
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Publish publishes data on subject (buffered by nats.go; while
// reconnecting it is kept in the reconnect buffer).
func (c *Conn) Publish(subject string, data []byte) error {
	if err := c.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("natsfeed: publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe subscribes to subject (wildcards allowed) with an asynchronous
// NATS subscription: fn runs on that subscription's goroutine, one message
// at a time. data is only valid during the call.
func (c *Conn) Subscribe(subject string, fn func(subject string, data []byte)) (func() error, error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Subject, m.Data) })
	if err != nil {
		return nil, fmt.Errorf("natsfeed: subscribe %s: %w", subject, err)
	}
	return sub.Unsubscribe, nil
}
