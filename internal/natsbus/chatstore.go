package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StampHeader carries a gateway's MAC over a message it stored for a
// person (dashboard/chatops.go makes and checks it). The bus only moves it.
const StampHeader = "Tickroom-Stamp"

// PublishStamped is PublishDurable with the event name (Tickroom-Event,
// omitted when "") and a stamp (Tickroom-Stamp, omitted when "") as
// headers. The same guarantees: the seq returned is stored, a repeated
// msgID within the dedupe window returns the first seq with dup=true.
func (b *Bus) PublishStamped(ctx context.Context, subject, event string, data []byte, msgID, stamp string) (seq uint64, dup bool, err error) {
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
	if event != "" {
		m.Header.Set(EventHeader, event)
	}
	if stamp != "" {
		m.Header.Set(StampHeader, stamp)
	}
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

// ErrNoMessage: no stored message on that subject with that seq.
var ErrNoMessage = errors.New("natsbus: no such message")

// Stored returns the stored message seq of subject's stream; ErrNoMessage
// when there is none or it belongs to another subject.
func (b *Bus) Stored(ctx context.Context, subject string, seq uint64) (Msg, error) {
	const op = "get message"
	stream, err := streamFor(subject)
	if err != nil {
		return Msg{}, err
	}
	if err := b.usable(op); err != nil {
		return Msg{}, err
	}
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return Msg{}, wrapErr(op, err)
	}
	raw, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Msg{}, ErrNoMessage
	}
	if err != nil {
		return Msg{}, wrapErr(op, err)
	}
	if raw.Subject != subject {
		return Msg{}, ErrNoMessage
	}
	return Msg{
		Subject: raw.Subject, Seq: raw.Sequence, Time: raw.Time,
		Event: raw.Header.Get(EventHeader), Stamp: raw.Header.Get(StampHeader), Data: raw.Data,
	}, nil
}

// CountAfter returns how many stored messages subject holds with Seq >
// after, and the subject's last seq (0 when it has none). One throwaway
// consumer: its pending count is the answer.
func (b *Bus) CountAfter(ctx context.Context, subject string, after uint64) (count, last uint64, err error) {
	const op = "count"
	stream, err := streamFor(subject)
	if err != nil {
		return 0, 0, err
	}
	if err := b.usable(op); err != nil {
		return 0, 0, err
	}
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, wrapErr(op, err)
	}
	lm, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, wrapErr(op, err)
	}
	last = lm.Sequence
	if after >= last {
		return 0, last, nil
	}
	cons, err := b.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		FilterSubject: subject, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: after + 1, AckPolicy: jetstream.AckNonePolicy,
		MemoryStorage: true, Replicas: 1, InactiveThreshold: scanInactive,
	})
	if err != nil {
		return 0, 0, wrapErr(op, err)
	}
	count = cons.CachedInfo().NumPending
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scanDeleteAfter)
	defer cancel()
	_ = b.js.DeleteConsumer(dctx, stream, cons.CachedInfo().Name)
	return count, last, nil
}

// Subjects returns the subjects matching filter that hold stored messages,
// with their message counts.
func (b *Bus) Subjects(ctx context.Context, filter string) (map[string]uint64, error) {
	const op = "subjects"
	stream, err := streamFor(filter)
	if err != nil {
		return nil, err
	}
	if err := b.usable(op); err != nil {
		return nil, err
	}
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return info.State.Subjects, nil
}

// Entry is one key of a Bucket.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool // a delete or purge marker (Watch only)
}

// Bucket errors.
var (
	ErrKeyNotFound = errors.New("natsbus: key not found")
	ErrKeyExists   = errors.New("natsbus: key exists")
	// ErrRevision: the key changed since the revision given (someone else
	// won a compare-and-set).
	ErrRevision = errors.New("natsbus: key revision changed")
)

// Bucket is a JetStream key-value bucket: shared state every gateway (and
// feed) of the deployment sees. Its methods are safe for concurrent use.
type Bucket struct {
	b  *Bus
	kv jetstream.KeyValue
}

// bucketCache holds the buckets opened so far, by name.
type bucketCache struct {
	mu sync.Mutex
	m  map[string]*Bucket
}

// Bucket opens the key-value bucket name, creating it (file storage, the
// bus's replicas) when it does not exist; every caller of one name shares
// one handle.
func (b *Bus) Bucket(ctx context.Context, name string) (*Bucket, error) {
	const op = "bucket"
	b.buckets.mu.Lock()
	defer b.buckets.mu.Unlock()
	if k := b.buckets.m[name]; k != nil {
		return k, nil
	}
	if err := b.usable(op); err != nil {
		return nil, err
	}
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = b.js.KeyValue(ctx, name)
	}
	if err != nil {
		return nil, wrapErr(op+" "+name, err)
	}
	if b.buckets.m == nil {
		b.buckets.m = map[string]*Bucket{}
	}
	k := &Bucket{b: b, kv: kv}
	b.buckets.m[name] = k
	return k, nil
}

func (k *Bucket) err(op string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return ErrKeyNotFound
	case errors.Is(err, jetstream.ErrKeyExists):
		return ErrKeyExists
	case errors.Is(err, jetstream.ErrKeyDeleted):
		return ErrKeyNotFound
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return ErrRevision
	}
	return wrapErr(op, err)
}

// Get returns key's value; ErrKeyNotFound when it has none.
func (k *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, k.err("kv get", err)
	}
	return Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision()}, nil
}

// Put sets key and returns its new revision.
func (k *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Put(ctx, key, value)
	if err != nil {
		return 0, k.err("kv put", err)
	}
	return rev, nil
}

// Create sets key only when it has no value; ErrKeyExists otherwise.
func (k *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Create(ctx, key, value)
	if err != nil {
		return 0, k.err("kv create", err)
	}
	return rev, nil
}

// Update sets key only when its revision is still rev; ErrRevision
// otherwise.
func (k *Bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := k.kv.Update(ctx, key, value, rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrRevision
		}
		return 0, k.err("kv update", err)
	}
	return n, nil
}

// Delete removes key; with rev > 0 only when its revision is still rev
// (ErrRevision otherwise), so of several deleters exactly one succeeds.
func (k *Bucket) Delete(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	if err := k.kv.Delete(ctx, key, opts...); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrRevision
		}
		return k.err("kv delete", err)
	}
	return nil
}

// Keys lists the keys matching filter (NATS wildcards); none is not an
// error.
func (k *Bucket) Keys(ctx context.Context, filter string) ([]string, error) {
	lister, err := k.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, k.err("kv keys", err)
	}
	var keys []string
	for key := range lister.Keys() {
		keys = append(keys, key)
	}
	return keys, nil
}

// Watch calls fn for the current value of every key matching filter, then
// synced once, then fn for every change, until ctx ends (it returns nil)
// or the watch fails. fn and synced run on the caller's goroutine.
func (k *Bucket) Watch(ctx context.Context, filter string, fn func(Entry), synced func()) error {
	w, err := k.kv.Watch(ctx, filter)
	if err != nil {
		return k.err("kv watch", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil // the watch ends with ctx
				}
				return fmt.Errorf("natsbus: kv watch %s: %w", filter, ErrUnavailable)
			}
			if e == nil {
				if synced != nil {
					synced()
				}
				continue
			}
			fn(Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision(),
				Deleted: e.Operation() != jetstream.KeyValuePut})
		}
	}
}

// Erase removes the stored message seq of subject and overwrites its bytes
// on disk (a deleted chat message's text must not stay readable). Erasing
// what is already gone is not an error.
func (b *Bus) Erase(ctx context.Context, subject string, seq uint64) error {
	const op = "erase"
	stream, err := streamFor(subject)
	if err != nil {
		return err
	}
	if err := b.usable(op); err != nil {
		return err
	}
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return wrapErr(op, err)
	}
	if err := st.SecureDeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		return wrapErr(op, err)
	}
	return nil
}
