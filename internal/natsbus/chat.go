package natsbus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishAttemptTimeout bounds one JetStream publish (an R3 ack on a
// healthy cluster takes milliseconds).
const publishAttemptTimeout = 2 * time.Second

// PublishDurable stores data on subject and returns its stream sequence
// once JetStream has acknowledged it. A non-empty msgID becomes the
// Nats-Msg-Id header: a second publish with the same id within the dedupe
// window is not stored again and returns the original sequence with
// dup=true (JetStream answers duplicates with the first message's seq).
//
// Any stored kind is accepted (chat, alert, candle, and last-value kinds);
// other kinds fail with ErrNotStored. When NATS is down, or does not answer
// within 2 s (or before ctx ends), the error wraps
// ErrUnavailable: there is never an ack for a message that was not stored.
func (b *Bus) PublishDurable(ctx context.Context, subject string, data []byte, msgID string) (seq uint64, dup bool, err error) {
	const op = "publish"
	stream, err := streamFor(subject)
	if err != nil {
		return 0, false, err
	}
	if err := b.usable(op); err != nil {
		return 0, false, err
	}
	m := nats.NewMsg(subject)
	m.Data = data
	// nats.go retries "no responders" twice (a leader election blip in a
	// cluster); ctx still bounds the whole call.
	opts := []jetstream.PublishOpt{
		// Guards against another stream capturing the subject by accident.
		jetstream.WithExpectStream(stream),
	}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	// One attempt is bounded well below the caller's usual 5 s: a request
	// lost with a node that died (sent, never answered) is then reported
	// unavailable quickly, and the client's retry with the same msgid is
	// deduplicated if it was stored after all.
	ctx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
	defer cancel()
	ack, err := b.js.PublishMsg(ctx, m, opts...)
	if err != nil {
		return 0, false, wrapErr(op, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}
