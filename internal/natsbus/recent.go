package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamState is what a resume needs to know about the stream behind a
// persisted channel: the seqs it retains and its incarnation.
type StreamState struct {
	FirstSeq uint64 // first retained seq (0 when the stream never held one)
	LastSeq  uint64 // last seq the stream stored
	Epoch    string // the stream's creation time; changes when it is recreated

	// What retention removes on its own (no API request tells of it):
	MaxAge        time.Duration // messages older than this (0: no age limit)
	MaxPerSubject int64         // a subject's oldest beyond this many (0: no limit)
	// StreamLimited: the stream also drops messages by its total count or
	// size, which no one subject's view can follow.
	StreamLimited bool
}

// Recovered reports whether a resume after since reads every message the
// stream stored after since: since is not beyond what the stream ever
// stored (a seq of another epoch), and retention has not dropped anything
// after it (PROTOCOL §4).
func (st StreamState) Recovered(since uint64) bool {
	return since <= st.LastSeq && (st.FirstSeq == 0 || st.FirstSeq <= since+1)
}

func stateOf(info *jetstream.StreamInfo) StreamState {
	return StreamState{
		FirstSeq:      info.State.FirstSeq,
		LastSeq:       info.State.LastSeq,
		Epoch:         info.Created.UTC().Format(time.RFC3339Nano),
		MaxAge:        info.Config.MaxAge,
		MaxPerSubject: max(info.Config.MaxMsgsPerSubject, 0),
		StreamLimited: info.Config.MaxMsgs > 0 || info.Config.MaxBytes > 0,
	}
}

// State returns the state of the stream behind the persisted channel
// pattern. One JetStream API call.
func (b *Bus) State(ctx context.Context, pattern string) (StreamState, error) {
	const op = "stream state"
	if !PersistedKind(kindOf(pattern)) {
		return StreamState{}, fmt.Errorf("%w: %q has no history to resume", ErrNotStored, pattern)
	}
	stream, err := streamFor(pattern)
	if err != nil {
		return StreamState{}, err
	}
	info, err := b.streamInfo(ctx, op, stream)
	if err != nil {
		return StreamState{}, err
	}
	return stateOf(info), nil
}

// streamInfo reads stream's info (one STREAM.INFO) within the bound on
// reads in flight (acquire), for op's errors.
func (b *Bus) streamInfo(ctx context.Context, op, stream string) (*jetstream.StreamInfo, error) {
	if err := b.usable(op); err != nil {
		return nil, err
	}
	release, err := b.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	st, err := b.js.Stream(ctx, stream)
	release()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return st.CachedInfo(), nil
}

// Recent returns the newest limit stored messages on subject, oldest
// first (History(subject, 0, limit)), and the state of its stream as read
// just before them: every message on subject with a seq in
// (state.LastSeq, …] was stored after the read began.
func (b *Bus) Recent(ctx context.Context, subject string, limit int) ([]Msg, StreamState, error) {
	if !PersistedKind(kindOf(subject)) {
		return nil, StreamState{}, fmt.Errorf("%w: %q has no history", ErrNotStored, subject)
	}
	return b.history(ctx, "recent", subject, 0, limit)
}
