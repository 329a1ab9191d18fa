package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/protocol"
)

// Stream and bucket names. They are part of the deployment (operators see
// them in `nats stream ls`), so they do not change lightly.
const (
	streamChat    = protocol.StreamChat
	streamAlerts  = protocol.StreamAlerts
	streamCandles = protocol.StreamCandles
	streamLast    = protocol.StreamLast

	presenceBucket = "tickroom_presence"
	// presenceStream and presenceFilter are how JetStream stores the bucket;
	// Presence reads them directly to get every key and value in one pass.
	presenceStream = "KV_" + presenceBucket
	presenceFilter = "$KV." + presenceBucket + ".>"
)

// streamConfigs is the declared shape of every stream, built from Config.
func (c *Config) streamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        streamChat,
			Subjects:    protocol.StreamSubjects(streamChat),
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
			MaxAge:      c.ChatMaxAge,
			Duplicates:  c.DupeWindow,
			AllowDirect: true,
		},
		{
			Name:              streamAlerts,
			Subjects:          protocol.StreamSubjects(streamAlerts),
			Storage:           jetstream.FileStorage,
			Replicas:          c.Replicas,
			MaxMsgsPerSubject: 1000,
			Duplicates:        c.DupeWindow,
			AllowDirect:       true,
		},
		{
			Name:     streamCandles,
			Subjects: protocol.StreamSubjects(streamCandles),
			Storage:  jetstream.FileStorage,
			Replicas: c.Replicas,
			// A bar in progress is re-sent as it changes (about every 2s),
			// so a bar costs ~30 messages: 8000 keep about four hours of
			// one-minute bars. The gateway compacts them on replay.
			MaxMsgsPerSubject: 8000,
			Duplicates:        c.DupeWindow,
			AllowDirect:       true,
		},
		{
			Name:     streamLast,
			Subjects: protocol.StreamSubjects(streamLast),
			Storage:  jetstream.FileStorage,
			Replicas: c.Replicas,
			// A few per subject, not one: producer messages are stored
			// before the gateway validates them, and an invalid last one
			// must not erase the last valid value (see LastValidKeep).
			MaxMsgsPerSubject: LastValidKeep,
			Discard:           jetstream.DiscardOld,
			// Ticks are rarely re-sent with an id; a short window keeps the
			// dedupe table of a hot stream small.
			Duplicates:  time.Second,
			AllowDirect: true,
		},
		c.barsStreamConfig(), // candles.go
	}
}

// LastValidKeep is how many recent messages the LAST stream keeps per
// subject, so a reader can skip invalid ones back to the last valid value.
const LastValidKeep = 8

// ensureStreams creates or updates every stream and the presence bucket.
// It is idempotent, so it runs on every (re)connect: a NATS that lost its
// state gets it back without an operator.
func (b *Bus) ensureStreams(ctx context.Context) error {
	for _, sc := range b.cfg.streamConfigs() {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("natsbus: ensure stream %s: %w", sc.Name, err)
		}
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   presenceBucket,
		TTL:      b.cfg.PresenceTTL,
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsbus: ensure bucket %s: %w", presenceBucket, err)
	}
	b.setPresenceKV(kv)
	return nil
}
