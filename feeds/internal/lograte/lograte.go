// Package lograte logs repeated errors at a bounded rate.
package lograte

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter logs at most one record per Every; the records it suppressed are
// counted in the next one it writes. The zero Every means 10 seconds. Safe
// for concurrent use.
type Limiter struct {
	Logger *slog.Logger // nil: discard
	Every  time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Error logs msg at error level unless one was logged less than Every ago.
func (l *Limiter) Error(msg string, args ...any) {
	if l == nil || l.Logger == nil {
		return
	}
	every := l.Every
	if every == 0 {
		every = 10 * time.Second
	}
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.suppressed, l.last = 0, now
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.Logger.Error(msg, args...)
}
