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
// Its JetStream requests (the create, each fetch) take a read slot
// (readlimit.go) and wait for one as long as ctx allows; fn runs with no
// slot held, on a batch already read, so a caller that blocks in fn (a
// replay waiting for a slow client) or reads again from fn holds up no
// other read.
//
// A plain pull consumer rather than an ordered one: ordered consumers
// retry their creation forever with no context, which would make a read
// during an outage hang instead of failing with ErrUnavailable.
func (b *Bus) scan(ctx context.Context, op, stream string, cc jetstream.ConsumerConfig, fn scanFunc) error {
	cc.AckPolicy = jetstream.AckNonePolicy
	cc.MemoryStorage = true
	cc.Replicas = 1
	cc.InactiveThreshold = scanInactive
	release, err := b.acquire(ctx, op)
	if err != nil {
		return err
	}
	cons, err := b.js.CreateConsumer(ctx, stream, cc)
	release()
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
		batch, err := b.fetch(ctx, op, cons, int(min(pending-delivered, scanBatch)))
		if err != nil {
			return err
		}
		for _, r := range batch {
			delivered++
			if more, err := fn(r.jm, r.m, r.meta); err != nil || !more {
				return err
			}
			if r.meta.NumPending == 0 {
				return nil // limits removed the rest while we read
			}
			if err := ctx.Err(); err != nil {
				return wrapErr(op, err)
			}
		}
		if len(batch) == 0 {
			return nil
		}
	}
	return nil
}

type scanned struct {
	jm   jetstream.Msg
	m    Msg
	meta *jetstream.MsgMetadata
}

// fetch reads one batch of up to n messages, holding a read slot.
func (b *Bus) fetch(ctx context.Context, op string, cons jetstream.Consumer, n int) ([]scanned, error) {
	release, err := b.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	out := make([]scanned, 0, n)
	for jm := range batch.Messages() {
		m, meta, err := fromJS(jm)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, scanned{jm, m, meta})
	}
	if err := batch.Error(); err != nil {
		return nil, wrapErr(op, err)
	}
	return out, nil
}
