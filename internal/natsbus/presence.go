package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// presenceEventPrefix is the core subject prefix of join/leave events. The
// leading underscore keeps it out of every stream and every client pattern.
const presenceEventPrefix = "_tickroom.presence."

// kvOpHeader marks KV delete and purge tombstones.
const kvOpHeader = "KV-Operation"

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
// channel, sorted and unique. Each call reads all live snapshots once
// (one small message per gateway).
func (b *Bus) Presence(ctx context.Context, channel string) ([]string, error) {
	const op = "presence"
	if err := b.usable(op); err != nil {
		return nil, err
	}
	// Server-side expiry runs on a timer; checking the age here as well
	// makes the TTL exact for readers.
	cutoff := time.Now().Add(-b.cfg.PresenceTTL)
	var users []string
	err := b.scan(ctx, op, presenceStream, jetstream.ConsumerConfig{
		FilterSubject: presenceFilter,
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	}, func(jm jetstream.Msg, m Msg, _ *jetstream.MsgMetadata) (bool, error) {
		if jm.Headers().Get(kvOpHeader) != "" || m.Time.Before(cutoff) {
			return true, nil // deleted or expired node
		}
		var snap map[string][]string
		if err := json.Unmarshal(m.Data, &snap); err != nil {
			b.log.Warn("natsbus: bad presence snapshot", "key", m.Subject, "err", err)
			return true, nil
		}
		users = append(users, snap[channel]...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(users)
	return slices.Compact(users), nil
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
