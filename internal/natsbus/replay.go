package natsbus

import (
	"context"
	"math"

	"github.com/nats-io/nats.go/jetstream"
)

// Replay calls fn, in order, for every stored message on pattern with
// Seq > after, and returns the Seq of the last message delivered (after if
// none). It reads what was stored when it started and returns; it never
// waits for new messages, so a resuming subscriber replays and then drops
// live messages with Seq <= the returned value to join without a gap or a
// duplicate. Wildcards are allowed after the kind token (chat.*), not in it:
// seqs are per stream. An error from fn stops the replay and is returned
// as is.
func (b *Bus) Replay(ctx context.Context, pattern string, after uint64, fn func(Msg) error) (uint64, error) {
	const op = "replay"
	stream, err := streamFor(pattern)
	if err != nil {
		return after, err
	}
	if after == math.MaxUint64 {
		return after, nil
	}
	if err := b.usable(op); err != nil {
		return after, err
	}
	last := after
	err = b.scan(ctx, op, stream, jetstream.ConsumerConfig{
		FilterSubject: pattern,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   after + 1,
	}, func(_ jetstream.Msg, m Msg, _ *jetstream.MsgMetadata) (bool, error) {
		if err := fn(m); err != nil {
			return false, err
		}
		last = m.Seq
		return true, nil
	})
	return last, err
}

// ResumeInfo tells a subscriber resuming pattern after since whether the
// replay will be complete, and which incarnation of the stream it reads.
// recovered is false when the stream no longer holds messages it held
// after since (its first retained seq is above since+1, because retention
// dropped them), or when since is beyond anything the stream ever stored (a
// seq of another epoch). epoch identifies the stream's incarnation (its
// creation time): it changes when the stream is deleted and created again,
// and seqs of one epoch mean nothing in another. One JetStream API call.
func (b *Bus) ResumeInfo(ctx context.Context, pattern string, since uint64) (recovered bool, epoch string, err error) {
	st, err := b.State(ctx, pattern)
	if err != nil {
		return false, "", err
	}
	return st.Recovered(since), st.Epoch, nil
}
