package market

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/lograte"
)

// maxLag is how far the wall clock may run ahead of the simulated clock
// (a suspended laptop, a stalled process) before Run skips ahead instead of
// publishing the backlog in a burst.
const maxLag = 2 * time.Second

// RefEvery is how often Run re-publishes every symbol's ref.<SYMBOL>.
// Reference data is a last value, so a page that opens later gets it from
// the store; the re-send restores it after the store lost it.
const RefEvery = time.Minute

// Run publishes the simulation in real time until ctx is done, then returns
// nil: market.<SYMBOL> for every tick, book.<SYMBOL> after each tick (unless
// NoBooks), ref.<SYMBOL> for the universe at start and every RefEvery, and
// the chart history on bars.<SYMBOL>.<interval> (see Backfill: a symbol's
// backfill goes out just before its first tick, then each closed bar as
// its window ends). It first anchors the simulated clock to the wall
// clock, so tick times are publish times. Publish errors are logged (at a
// bounded rate) and do not stop the run. Run starts no goroutine.
func (s *Sim) Run(ctx context.Context, pub feeds.Publisher) error {
	if pub == nil {
		return errors.New("market: nil publisher")
	}
	errLog := &lograte.Limiter{Logger: s.cfg.Logger}
	send := func(subject string, data []byte) {
		if err := pub.Publish(subject, data); err != nil {
			errLog.Error("market: publish failed", "subject", subject, "err", err)
		}
	}
	sendJSON := func(subject string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			errLog.Error("market: encode failed", "subject", subject, "err", err)
			return
		}
		send(subject, data)
	}
	publishRefs := func() {
		for _, st := range s.syms {
			sendJSON(feeds.Subject(feeds.KindRef, st.Name), st.Symbol.Ref())
		}
	}
	s.resync(time.Now(), true)
	publishRefs()
	nextRef := time.Now().Add(RefEvery)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var out []outMsg
	for {
		now := time.Now()
		if !now.Before(nextRef) {
			publishRefs()
			nextRef = now.Add(RefEvery)
		}
		next := s.Peek()
		if now.Sub(next) > maxLag {
			s.resync(now, false)
			continue
		}
		if wait := next.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		st, t := s.next()
		// History first: a chart that sees the tick finds the bars before it.
		out = s.storeBars(st, t, out[:0])
		for _, m := range out {
			send(m.subject, m.data)
		}
		sendJSON(feeds.Subject(feeds.KindMarket, t.Symbol), t)
		if !s.cfg.NoBooks {
			sendJSON(feeds.Subject(feeds.KindBook, t.Symbol), st.book)
		}
	}
}
