package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// presenceEventPrefix is the core subject prefix of join/leave events. The
// leading underscore keeps it out of every stream and every client pattern.
const presenceEventPrefix = "_tickroom.presence."

// PutPresence stores node's whole local snapshot (channel -> users),
// replacing its previous one. Snapshots expire after Config.PresenceTTL, so
// a gateway refreshes its own well within it (every TTL/3, say) and a
// crashed gateway's users disappear on their own. node must be a valid KV
// key (letters, digits, "-", "_", "=", "/", ".").
func (b *Bus) PutPresence(ctx context.Context, node string, snapshot map[string][]string) error {
	const op = "put presence"
	if err := b.usable(op); err != nil {
		return err
	}
	kv := b.presenceKV()
	if kv == nil {
		return fmt.Errorf("natsbus: %s: %w (bucket not ready)", op, ErrUnavailable)
	}
	data, err := json.Marshal(snapshot)
	if err != nil {
		return fmt.Errorf("natsbus: %s: %w", op, err)
	}
	if _, err := kv.Put(ctx, node, data); err != nil {
		return wrapErr(op, err)
	}
	return nil
}

// DeletePresence removes node's snapshot at once (on graceful shutdown),
// instead of letting it expire.
func (b *Bus) DeletePresence(ctx context.Context, node string) error {
	const op = "delete presence"
	if err := b.usable(op); err != nil {
		return err
	}
	kv := b.presenceKV()
	if kv == nil {
		return fmt.Errorf("natsbus: %s: %w (bucket not ready)", op, ErrUnavailable)
	}
	return wrapErr(op, kv.Delete(ctx, node))
}

// Presence merges the snapshots of every gateway and returns the users on
// channel, sorted and unique. It reads them from memory: the first call
// starts a watch of the presence bucket (one JetStream consumer for the
// Bus's life, recreated by nats.go after a reconnect) and waits, bounded by
// ctx, for its initial values; later calls cost NATS nothing. Another
// gateway's change shows up as soon as the watch delivers it (milliseconds),
// not at once.
func (b *Bus) Presence(ctx context.Context, channel string) ([]string, error) {
	const op = "presence"
	if err := b.usable(op); err != nil {
		return nil, err
	}
	v, err := b.watchPresence(ctx)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	// Server-side expiry removes old snapshots without telling watchers,
	// so the age is checked here: the TTL stays exact for readers.
	cutoff := time.Now().Add(-b.cfg.PresenceTTL)
	var users []string
	v.mu.Lock()
	for _, e := range v.nodes {
		if e.at.After(cutoff) {
			users = append(users, e.snap[channel]...)
		}
	}
	v.mu.Unlock()
	slices.Sort(users)
	return slices.Compact(users), nil
}

// presenceView is the in-memory copy of the presence bucket.
type presenceView struct {
	mu      sync.Mutex
	nodes   map[string]presenceEntry // by KV key (the node)
	started bool                     // a watch runs (or is being started)
	synced  chan struct{}            // closed once the watch delivered its initial values
	failed  error                    // why the last start failed; a later call retries
}

type presenceEntry struct {
	snap map[string][]string
	at   time.Time // when the snapshot was written
}

// watchPresence returns the view, starting its watch on first use.
func (b *Bus) watchPresence(ctx context.Context) (*presenceView, error) {
	v := &b.presence
	v.mu.Lock()
	if !v.started {
		kv := b.presenceKV()
		if kv == nil {
			v.mu.Unlock()
			return nil, fmt.Errorf("%w (bucket not ready)", ErrUnavailable)
		}
		v.started, v.failed = true, nil
		v.nodes = map[string]presenceEntry{}
		v.synced = make(chan struct{})
		markSynced := sync.OnceFunc(func() { close(v.synced) })
		v.mu.Unlock()
		if err := b.startPresenceWatch(kv, markSynced); err != nil {
			v.mu.Lock()
			v.started, v.failed = false, err
			v.mu.Unlock()
			markSynced()
			return nil, err
		}
		v.mu.Lock()
	}
	synced := v.synced
	v.mu.Unlock()
	select {
	case <-synced:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	v.mu.Lock()
	err := v.failed
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// startPresenceWatch runs the watch's goroutine, which applies every update
// to the view. The Bus tracks it like a live subscription: Close stops it
// and waits for the goroutine.
func (b *Bus) startPresenceWatch(kv jetstream.KeyValue, markSynced func()) error {
	w, err := kv.WatchAll(b.ctx)
	if err != nil {
		return err
	}
	v := &b.presence
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-stop:
				return
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e == nil { // the initial values are all in
				markSynced()
				continue
			}
			v.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(v.nodes, e.Key())
			} else {
				var snap map[string][]string
				if err := json.Unmarshal(e.Value(), &snap); err != nil {
					b.log.Warn("natsbus: bad presence snapshot", "key", e.Key(), "err", err)
					delete(v.nodes, e.Key())
				} else {
					v.nodes[e.Key()] = presenceEntry{snap: snap, at: e.Created()}
				}
			}
			v.mu.Unlock()
		}
	}()
	_, err = b.track(&liveSub{stop: func() error {
		err := w.Stop()
		close(stop)
		<-done
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
			return nil
		}
		return err
	}})
	return err
}

// PublishPresenceEvent fans a join/leave event for channel out to every
// gateway (core NATS, fire and forget). The publishing gateway receives
// it too; tag data with the node if it must skip its own.
func (b *Bus) PublishPresenceEvent(channel string, data []byte) error {
	const op = "publish presence event"
	if err := b.usable(op); err != nil {
		return err
	}
	return wrapErr(op, b.nc.Publish(presenceEventPrefix+channel, data))
}

// SubscribePresenceEvents calls fn for every presence event of every
// channel, with Msg.Subject set to the channel (prefix stripped).
func (b *Bus) SubscribePresenceEvents(fn func(Msg)) (Subscription, error) {
	if err := b.usable("subscribe presence events"); err != nil {
		return nil, err
	}
	return b.subscribeCore(presenceEventPrefix+">", fn, func(m *nats.Msg) Msg {
		msg := fromCore(m)
		msg.Subject = strings.TrimPrefix(m.Subject, presenceEventPrefix)
		return msg
	})
}
