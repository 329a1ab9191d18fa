package alerts

// Price alerts of users (PROTOCOL §4): gateways arm them in the
// protocol.PriceAlertBucket key-value bucket; every replica of this feed
// runs a PriceAlerts evaluator. Each alert fires exactly once, however many
// evaluators see the crossing tick:
//
//  1. claim: an evaluator rewrites the alert with "firing" set, by
//     compare-and-set on the revision it knows. Of several evaluators
//     racing for one alert, exactly one succeeds; the others see a
//     revision mismatch and drop it.
//  2. deliver: the winner stores the price_alert event on user.<name> with
//     the Nats-Msg-Id "price-alert-<id>", so a retry is stored once.
//  3. remove: it deletes the key (compare-and-set again).
//
// An evaluator that dies between 1 and 3 leaves a claimed alert; any
// evaluator finishes a claim older than claimTimeout (2 and 3 again; the
// msg id makes a second delivery a no-op within the stream's dedupe window).
//
// Evaluation: the key-value watch alone arms and disarms alerts in an
// in-memory index (priceindex.go); a tick costs a binary search in its
// symbol's sorted levels, and key-value work only for the alerts it fires.
//
// Concurrency: Run owns everything; the tick subscription's callback only
// records the latest tick per symbol and wakes Run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/protocol"
)

// claimTimeout is how old a claim must be before another evaluator
// finishes it.
const claimTimeout = 5 * time.Second

// maxQueuedTicks bounds the ticks of one symbol waiting for an evaluation
// pass.
const maxQueuedTicks = 64

// PriceAlerts evaluates users' price alerts against market ticks.
type PriceAlerts struct {
	NC  *nats.Conn
	Log *slog.Logger
}

type armed struct {
	alert protocol.PriceAlert
	rev   uint64
}

type tick struct {
	price float64
	time  string
}

// Run evaluates until ctx ends; it returns nil then. It waits for NATS and
// the bucket when they are not there yet.
func (p *PriceAlerts) Run(ctx context.Context) error {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(p.NC)
	if err != nil {
		return fmt.Errorf("price alerts: %w", err)
	}
	for ctx.Err() == nil {
		err := p.run(ctx, js, log)
		if ctx.Err() != nil {
			break
		}
		log.Warn("price alerts: restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (p *PriceAlerts) run(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := js.CreateKeyValue(bctx, jetstream.KeyValueConfig{Bucket: protocol.PriceAlertBucket, Storage: jetstream.FileStorage})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(bctx, protocol.PriceAlertBucket)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("bucket: %w", err)
	}

	var (
		mu     sync.Mutex
		latest = map[string][]tick{} // per symbol, in arrival order, since the last pass
		wake   = make(chan struct{}, 1)
	)
	sub, err := p.NC.Subscribe(protocol.KindMarket+".*", func(m *nats.Msg) {
		var t struct {
			Symbol string          `json:"symbol"`
			Price  float64         `json:"price"`
			Time   json.RawMessage `json:"time"`
		}
		if _, err := protocol.ValidatePayload(m.Subject, m.Data); err != nil || json.Unmarshal(m.Data, &t) != nil {
			return
		}
		ts := time.Now().UTC().Format(protocol.TimeFormat)
		if len(t.Time) > 0 && t.Time[0] == '"' {
			_ = json.Unmarshal(t.Time, &ts)
		}
		mu.Lock()
		q := latest[t.Symbol]
		if len(q) >= maxQueuedTicks { // overload: the crossing is then found at a later tick
			q = q[1:]
		}
		latest[t.Symbol] = append(q, tick{price: t.Price, time: ts})
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() { _ = w.Stop() }()

	// The watch alone arms and disarms: alerts holds every known alert,
	// idx the unclaimed ones by symbol and level (a tick looks only at
	// those it crosses), claimed the ones some evaluator is delivering
	// (the sweep looks only at those). No tick does key-value work unless
	// an alert fires.
	alerts := map[string]armed{}     // key → alert
	idx := newPriceIndex()           // unclaimed alerts of alerts
	claimed := map[string]struct{}{} // claimed alerts of alerts
	forget := func(key string) {
		delete(alerts, key)
		idx.remove(key)
		delete(claimed, key)
	}
	var fired []string // reused by each pass
	sweep := time.NewTicker(claimTimeout)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch ended")
			}
			if e == nil {
				continue // the initial values are in
			}
			key := e.Key()
			forget(key)
			var a protocol.PriceAlert
			if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &a) != nil || a.Symbol == "" {
				continue
			}
			alerts[key] = armed{alert: a, rev: e.Revision()}
			if a.Firing != nil {
				claimed[key] = struct{}{}
			} else {
				idx.add(key, a)
			}
		case <-sweep.C:
			for key := range claimed {
				a := alerts[key]
				if at, err := time.Parse(time.RFC3339Nano, a.alert.Firing.At); err != nil || time.Since(at) > claimTimeout {
					p.deliver(ctx, js, kv, key, a, log)
					forget(key)
				}
			}
		case <-wake:
			mu.Lock()
			ticks := latest
			latest = map[string][]tick{}
			mu.Unlock()
			for sym, q := range ticks {
				for _, t := range q {
					fired = idx.crossed(sym, t.price, fired[:0])
					for _, key := range fired {
						a := alerts[key]
						forget(key)
						p.fire(ctx, js, kv, key, a, t, log)
					}
				}
			}
		}
	}
}

// fire claims the alert and, when this evaluator won, delivers it.
func (p *PriceAlerts) fire(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, key string, a armed, t tick, log *slog.Logger) {
	a.alert.Firing = &protocol.Firing{Price: t.price, Time: t.time, At: time.Now().UTC().Format(time.RFC3339Nano)}
	raw, _ := json.Marshal(a.alert)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rev, err := kv.Update(cctx, key, raw, a.rev)
	if err != nil {
		return // another evaluator claimed it, or the user deleted it
	}
	a.rev = rev
	p.deliver(ctx, js, kv, key, a, log)
}

// deliver stores the price_alert event and removes the claimed alert.
func (p *PriceAlerts) deliver(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, key string, a armed, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	f := a.alert.Firing
	ev := map[string]any{"id": a.alert.ID, "symbol": a.alert.Symbol, "note": a.alert.Note,
		"created": a.alert.Created, "price": f.Price, "time": f.Time}
	if a.alert.Above != nil {
		ev["above"] = *a.alert.Above
	} else {
		ev["below"] = *a.alert.Below
	}
	data, _ := json.Marshal(ev)
	ch := protocol.UserChannel(a.alert.User)
	if ch == "" || protocol.ValidateChannel(ch, false) != nil || !strings.HasPrefix(key, protocol.UserToken(a.alert.User)+".") {
		_ = kv.Delete(ctx, key, jetstream.LastRevision(a.rev)) // not a valid alert
		return
	}
	m := nats.NewMsg(ch)
	m.Header.Set("Tickroom-Event", protocol.EventPriceAlert)
	m.Data = data
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID("price-alert-"+a.alert.ID)); err != nil {
		log.Warn("price alert not delivered; retrying later", "alert", a.alert.ID, "err", err)
		return // the claim stays; the sweep retries
	}
	if err := kv.Delete(ctx, key, jetstream.LastRevision(a.rev)); err != nil {
		log.Debug("price alert not removed", "alert", a.alert.ID, "err", err)
	}
}
