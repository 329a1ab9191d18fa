package natsbus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// LastValues calls fn with the last stored message of every subject that
// matches pattern, in stream order. Only last-value kinds (market,
// analytics, feed) are considered; a pattern of a persisted or unknown kind
// yields nothing (those channels replay instead), and a pattern whose kind
// is a wildcard ("*.AAPL", ">") covers the last-value kinds only. Bounded
// like Replay. An error from fn stops it and is returned as is.
func (b *Bus) LastValues(ctx context.Context, pattern string, fn func(Msg) error) error {
	const op = "last values"
	switch kind := kindOf(pattern); {
	case kind == ">":
	case kind == "*" && pattern != "*": // "*" alone cannot match a two-token subject
	case LastValueKind(kind):
	default:
		return nil
	}
	if err := b.usable(op); err != nil {
		return err
	}
	return b.scan(ctx, op, streamLast, jetstream.ConsumerConfig{
		FilterSubject: pattern,
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	}, func(_ jetstream.Msg, m Msg, _ *jetstream.MsgMetadata) (bool, error) {
		return true, fn(m)
	})
}
