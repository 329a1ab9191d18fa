package natsbus

import (
	"fmt"
	"log/slog"
	"sync"
)

// serverLogger adapts nats-server's printf logger to slog and remembers the
// first fatal message so StartServer can return it. Fatalf never exits: the
// process belongs to tickroom, not to the embedded server.
type serverLogger struct {
	l     *slog.Logger
	mu    sync.Mutex
	fatal string
}

func newServerLogger(l *slog.Logger) *serverLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &serverLogger{l: l.With("component", "nats-server")}
}

func (s *serverLogger) fatalMsg() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func (s *serverLogger) Noticef(format string, v ...any) { s.l.Info(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Tracef(format string, v ...any)  {}

func (s *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.mu.Lock()
	if s.fatal == "" {
		s.fatal = msg
	}
	s.mu.Unlock()
	s.l.Error(msg)
}
