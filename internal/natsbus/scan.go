package natsbus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	scanBatch       = 256
	scanInactive    = 30 * time.Second // server reaps the consumer if we vanish mid-scan
	scanDeleteAfter = 2 * time.Second
)

// scanFunc sees each stored message; it returns false to stop early. An
// error it returns is passed through unwrapped (it is the caller's).
type scanFunc func(jm jetstream.Msg, m Msg, meta *jetstream.MsgMetadata) (more bool, err error)

// scan reads stored messages through a throwaway pull consumer built from
// cc (delivery policy and filter), in stream order. It is bounded: it reads
// at most what was pending when the consumer was created, stops as soon as
// the server reports nothing pending, and never waits for new messages.
//
// A plain pull consumer rather than an ordered one: ordered consumers
// retry their creation forever with no context, which would make a read
// during an outage hang instead of failing with ErrUnavailable.
func (b *Bus) scan(ctx context.Context, op, stream string, cc jetstream.ConsumerConfig, fn scanFunc) error {
	cc.AckPolicy = jetstream.AckNonePolicy
	cc.MemoryStorage = true
	cc.Replicas = 1
	cc.InactiveThreshold = scanInactive
	cons, err := b.js.CreateConsumer(ctx, stream, cc)
	if err != nil {
		return wrapErr(op, err)
	}
	info := cons.CachedInfo()
	defer func() {
		// Best effort, and even when ctx is done: otherwise the consumer
		// lingers until InactiveThreshold.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scanDeleteAfter)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, stream, info.Name)
	}()

	pending := info.NumPending
	var delivered uint64
	for delivered < pending {
		if err := ctx.Err(); err != nil {
			return wrapErr(op, err)
		}
		batch, err := cons.FetchNoWait(int(min(pending-delivered, scanBatch)))
		if err != nil {
			return wrapErr(op, err)
		}
		n := 0
		// Leaving the loop early is fine: the batch's channel holds a whole
		// batch, so its goroutine finishes without us.
		for jm := range batch.Messages() {
			n++
			delivered++
			m, meta, err := fromJS(jm)
			if err != nil {
				return wrapErr(op, err)
			}
			if more, err := fn(jm, m, meta); err != nil || !more {
				return err
			}
			if meta.NumPending == 0 {
				return nil // limits removed the rest while we read
			}
			if err := ctx.Err(); err != nil {
				return wrapErr(op, err)
			}
		}
		if err := batch.Error(); err != nil {
			return wrapErr(op, err)
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}
