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

// Run publishes the simulation on market.<SYMBOL> in real time until ctx is
// done, then returns nil. It first anchors the simulated clock to the wall
// clock, so tick times are publish times. Publish errors are logged (at a
// bounded rate) and do not stop the run. Run starts no goroutine.
func (s *Sim) Run(ctx context.Context, pub feeds.Publisher) error {
	if pub == nil {
		return errors.New("market: nil publisher")
	}
	errLog := &lograte.Limiter{Logger: s.cfg.Logger}
	s.resync(time.Now(), true)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
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
		t := s.Next()
		data, err := json.Marshal(t)
		if err == nil {
			err = pub.Publish(feeds.Subject(feeds.KindMarket, t.Symbol), data)
		}
		if err != nil {
			errLog.Error("market: publish failed", "symbol", t.Symbol, "err", err)
		}
	}
}
