// Package lograte logs repeated errors at a bounded rate. It is the one
// rate-limited logger of the program: the feeds use it for their publish
// errors, the gateway for invalid producer messages, so a hostile or
// broken producer cannot flood the log.
//
// # Concurrency
//
// A Limiter is safe for concurrent use: its goroutines share one budget.
// It starts no goroutines of its own.
package lograte

import (
	"context"
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
func (l *Limiter) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args) }

// Warn logs msg at warning level unless one was logged less than Every ago.
func (l *Limiter) Warn(msg string, args ...any) { l.log(slog.LevelWarn, msg, args) }

func (l *Limiter) log(level slog.Level, msg string, args []any) {
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
	l.Logger.Log(context.Background(), level, msg, args...)
}
