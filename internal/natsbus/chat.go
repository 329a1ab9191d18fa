package natsbus

import (
	"context"
	"time"
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
	return b.PublishStamped(ctx, subject, "", data, msgID, "")
}
