package natsbus

import (
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
	streamUsers   = protocol.StreamUsers

	presenceBucket = "tickroom_presence"
)

// streamConfigs is the declared shape of every stream, built from Config.
func (c *Config) streamConfigs() []jetstream.StreamConfig {
	r := c.Retention
	return []jetstream.StreamConfig{
		{
			Name:              streamChat,
			Subjects:          protocol.StreamSubjects(streamChat),
			Storage:           jetstream.FileStorage,
			Replicas:          c.Replicas,
			MaxAge:            r.ChatMaxAge,
			MaxMsgsPerSubject: r.ChatMaxMsgs,
			Duplicates:        dupeWindow(c.DupeWindow, r.ChatMaxAge),
			AllowDirect:       true,
		},
		{
			Name:              streamUsers,
			Subjects:          protocol.StreamSubjects(streamUsers),
			Storage:           jetstream.FileStorage,
			Replicas:          c.Replicas,
			MaxAge:            r.UserMaxAge,
			MaxMsgsPerSubject: r.UserMaxMsgs,
			Duplicates:        dupeWindow(c.DupeWindow, r.UserMaxAge),
			AllowDirect:       true,
		},
		{
			Name:              streamAlerts,
			Subjects:          protocol.StreamSubjects(streamAlerts),
			Storage:           jetstream.FileStorage,
			Replicas:          c.Replicas,
			MaxAge:            r.AlertMaxAge,
			MaxMsgsPerSubject: r.AlertMaxMsgs,
			Duplicates:        dupeWindow(c.DupeWindow, r.AlertMaxAge),
			AllowDirect:       true,
		},
		{
			Name:     streamCandles,
			Subjects: protocol.StreamSubjects(streamCandles),
			Storage:  jetstream.FileStorage,
			Replicas: c.Replicas,
			MaxAge:   r.CandleMaxAge,
			// A bar in progress is re-sent as it changes (about every 2s),
			// so a bar costs ~30 messages: 8000 keep about four hours of
			// one-minute bars. The gateway compacts them on replay.
			MaxMsgsPerSubject: r.CandleMaxMsgs,
			Duplicates:        dupeWindow(c.DupeWindow, r.CandleMaxAge),
			AllowDirect:       true,
		},
		{
			Name:     streamLast,
			Subjects: protocol.StreamSubjects(streamLast),
			Storage:  jetstream.FileStorage,
			Replicas: c.Replicas,
			MaxAge:   r.FeedMaxAge,
			// A few per subject, not one: producer messages are stored
			// before the gateway validates them, and an invalid last one
			// must not erase the last valid value (see LastValidKeep).
			MaxMsgsPerSubject: r.FeedMaxMsgs,
			Discard:           jetstream.DiscardOld,
			// Ticks are rarely re-sent with an id; a short window keeps the
			// dedupe table of a hot stream small.
			Duplicates:  dupeWindow(time.Second, r.FeedMaxAge),
			AllowDirect: true,
		},
		c.barsStreamConfig(), // candles.go
	}
}

// LastValidKeep is how many recent messages the LAST stream keeps per
// subject, so a reader can skip invalid ones back to the last valid value.
const LastValidKeep = 8

// Retention is what each stream keeps: an age (0 = no age limit) and a
// count of messages per subject (0 = no count limit). Zero fields take the
// defaults below; the operator owns them after creation (see ensureStreams).
type Retention struct {
	ChatMaxAge    time.Duration // CHAT, per room; default 30 days
	ChatMaxMsgs   int64         // CHAT messages per room; default no limit
	AlertMaxAge   time.Duration // ALERTS; default no age limit
	AlertMaxMsgs  int64         // ALERTS per symbol; default 1000
	CandleMaxAge  time.Duration // CANDLES; default no age limit
	CandleMaxMsgs int64         // CANDLES per symbol; default 8000
	FeedMaxAge    time.Duration // LAST (market, analytics, feed.*); default no age limit
	FeedMaxMsgs   int64         // LAST per subject; default LastValidKeep
	UserMaxAge    time.Duration // USERS (user.<name> notifications); default 30 days
	UserMaxMsgs   int64         // USERS per user; default 1000
}

// DefaultRetention is the retention of a Config that sets none.
var DefaultRetention = Retention{
	ChatMaxAge:    30 * 24 * time.Hour,
	AlertMaxMsgs:  1000,
	CandleMaxMsgs: 8000,
	FeedMaxMsgs:   LastValidKeep,
	UserMaxAge:    30 * 24 * time.Hour,
	UserMaxMsgs:   1000,
}

// withDefaults fills the fields left at zero. A negative value means "no
// limit" explicitly and is stored as JetStream's 0.
func (r Retention) withDefaults() Retention {
	d := DefaultRetention
	ages := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&r.ChatMaxAge, d.ChatMaxAge}, {&r.AlertMaxAge, d.AlertMaxAge},
		{&r.CandleMaxAge, d.CandleMaxAge}, {&r.FeedMaxAge, d.FeedMaxAge},
		{&r.UserMaxAge, d.UserMaxAge},
	}
	for _, a := range ages {
		switch {
		case *a.v == 0:
			*a.v = a.def
		case *a.v < 0:
			*a.v = 0
		}
	}
	counts := []struct {
		v   *int64
		def int64
	}{
		{&r.ChatMaxMsgs, d.ChatMaxMsgs}, {&r.AlertMaxMsgs, d.AlertMaxMsgs},
		{&r.CandleMaxMsgs, d.CandleMaxMsgs}, {&r.FeedMaxMsgs, d.FeedMaxMsgs},
		{&r.UserMaxMsgs, d.UserMaxMsgs},
	}
	for _, c := range counts {
		switch {
		case *c.v == 0:
			*c.v = c.def
		case *c.v < 0:
			*c.v = 0
		}
	}
	return r
}

// dupeWindow caps the dedupe window at the stream's age limit: JetStream
// refuses a window longer than MaxAge.
func dupeWindow(w, maxAge time.Duration) time.Duration {
	if maxAge > 0 && w > maxAge {
		return maxAge
	}
	return w
}
