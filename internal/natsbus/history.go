package natsbus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

const historyMinWindow = 64

// History returns up to limit stored messages on subject with Seq < before
// (before == 0: the latest), oldest first. A limit <= 0 returns nothing.
//
// JetStream reads only forwards, so History reads a window of sequences
// ending just before `before` and, while that window holds fewer than limit
// messages for subject, reads the window before it, eight times wider each
// time. Each stored message is read at most once; a quiet room in a busy
// stream costs a few extra round trips, not a full scan per page.
func (b *Bus) History(ctx context.Context, subject string, before uint64, limit int) ([]Msg, error) {
	msgs, _, err := b.history(ctx, "history", subject, before, limit)
	return msgs, err
}

// history is History, also returning the stream's state as read before
// the messages (zero when it read none).
func (b *Bus) history(ctx context.Context, op, subject string, before uint64, limit int) ([]Msg, StreamState, error) {
	stream, err := streamFor(subject)
	if err != nil {
		return nil, StreamState{}, err
	}
	if limit <= 0 || before == 1 {
		return nil, StreamState{}, nil
	}
	info, err := b.streamInfo(ctx, op, stream)
	if err != nil {
		return nil, StreamState{}, err
	}
	ss := stateOf(info)
	state := info.State
	first, end := state.FirstSeq, state.LastSeq
	if before != 0 && before-1 < end {
		end = before - 1
	}
	if state.Msgs == 0 || end < first {
		return nil, ss, nil
	}

	var out []Msg // newest `limit` found so far, oldest first
	window := uint64(max(limit*4, historyMinWindow))
	for {
		start := first
		if end-first >= window {
			start = end - window + 1
		}
		var got []Msg
		err := b.scan(ctx, op, stream, jetstream.ConsumerConfig{
			FilterSubject: subject,
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   start,
		}, func(_ jetstream.Msg, m Msg, _ *jetstream.MsgMetadata) (bool, error) {
			if m.Seq > end {
				return false, nil
			}
			got = append(got, m)
			return true, nil
		})
		if err != nil {
			return nil, StreamState{}, err
		}
		// Only the newest of this older window fill the remaining slots.
		if need := limit - len(out); len(got) > need {
			got = got[len(got)-need:]
		}
		out = append(got, out...)
		if len(out) >= limit || start == first {
			return out, ss, nil
		}
		end = start - 1
		window *= 8
	}
}
