package natsbus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The BARS stream stores closed OHLCV bars per symbol and interval, one
// message per bar, on bars.<SYMBOL>.<interval> (interval one of 1m 5m 15m
// 1h 1D): the chart history a price producer keeps for its symbols (the
// simulator's backfill and its live closed bars; an outside producer's
// own). It is not a channel: browsers read it only through candle history.
// A bar stored again with the same start replaces the earlier one when
// read (last one wins).
const streamBars = "BARS"

// BarsKeep bounds the BARS stream: the newest BarsKeep bars per symbol and
// interval (33 hours of 1m bars, a week of 5m, 83 days of 1h, 5 years of
// 1D). Only the five intervals are stored, so the stream grows with the
// number of symbols, at about 1.7 MB per symbol when full.
const BarsKeep = 2000

// barIntervals are the intervals the BARS stream stores.
var barIntervals = []string{"1m", "5m", "15m", "1h", "1D"}

func (c *Config) barsStreamConfig() jetstream.StreamConfig {
	subjects := make([]string, len(barIntervals))
	for i, iv := range barIntervals {
		subjects[i] = "bars.*." + iv
	}
	return jetstream.StreamConfig{
		Name:              streamBars,
		Subjects:          subjects,
		Storage:           jetstream.FileStorage,
		Replicas:          c.Replicas,
		MaxMsgsPerSubject: BarsKeep,
		Discard:           jetstream.DiscardOld,
		Duplicates:        c.DupeWindow,
		AllowDirect:       true,
	}
}

// BarsSubject is the subject storing symbol's closed bars of interval.
func BarsSubject(symbol, interval string) string { return "bars." + symbol + "." + interval }

// ReadSince calls fn, in stream order, for every message stored on the
// literal subject (a bars.<SYM>.<interval> of the BARS stream, or a subject
// of another stream, e.g. candle.<SYM>) that was stored at or after from;
// a zero from reads them all. Bounded like Replay. An error from fn stops
// it and is returned as is.
//
// Stream time is when a message was stored, so for bars, which are stored
// when they close or later, "stored at or after from" is a superset of
// "starts at or after from": callers filter on the bar's own start.
func (b *Bus) ReadSince(ctx context.Context, subject string, from time.Time, fn func(Msg) error) error {
	const op = "read bars"
	stream := streamBars
	if kindOf(subject) != "bars" {
		s, err := streamFor(subject)
		if err != nil {
			return err
		}
		stream = s
	}
	if err := b.usable(op); err != nil {
		return err
	}
	cc := jetstream.ConsumerConfig{FilterSubject: subject, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !from.IsZero() {
		st := from
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &st
	}
	return b.scan(ctx, op, stream, cc, func(_ jetstream.Msg, m Msg, _ *jetstream.MsgMetadata) (bool, error) {
		return true, fn(m)
	})
}
