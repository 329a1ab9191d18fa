package natsbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkFor polls f until it returns nil or total elapses (nats-server's
// test helper, in small).
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("condition not met after %s: %v", total, err)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startTestServer(t testing.TB, dir, listen string) *Server {
	t.Helper()
	s, err := StartServer(ServerConfig{DataDir: dir, Listen: listen, MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connectTest(t testing.TB, cfg Config) *Bus {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.Name == "" {
		cfg.Name = t.Name()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// newEmbedded is the common setup: a fresh in-process server and a ready bus.
func newEmbedded(t testing.TB) (*Server, *Bus) {
	t.Helper()
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s})
	if !b.Ready() {
		t.Fatalf("bus not ready after Connect: %s", b.Status())
	}
	return s, b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// freePort finds a port that is free now; nats' "-1" would pick a new one
// on every restart, and the reconnect test needs the same one.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func mustPublish(t testing.TB, b *Bus, subject, data, msgID string) uint64 {
	t.Helper()
	seq, dup, err := b.PublishDurable(ctxT(t), subject, []byte(data), msgID)
	if err != nil {
		t.Fatalf("PublishDurable(%s): %v", subject, err)
	}
	if dup {
		t.Fatalf("PublishDurable(%s, %q): unexpected dup", subject, msgID)
	}
	return seq
}

func seqs(ms []Msg) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func datas(ms []Msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Data)
	}
	return out
}

func replayAll(t testing.TB, b *Bus, pattern string, after uint64) ([]Msg, uint64) {
	t.Helper()
	var got []Msg
	last, err := b.Replay(ctxT(t), pattern, after, func(m Msg) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(%s, %d): %v", pattern, after, err)
	}
	return got, last
}

func fmtSeq(ms []Msg) string { return fmt.Sprint(seqs(ms)) }

// countJSAPI counts the JetStream API requests made on b's connection from
// now on ($JS.API.>, which every stream, consumer and KV management call
// uses; plain publishes and deliveries do not). The returned func reads the
// count after a flush, so requests already sent are in.
func countJSAPI(t testing.TB, b *Bus) func() int64 {
	t.Helper()
	var n atomic.Int64
	sub, err := b.Conn().Subscribe("$JS.API.>", func(*nats.Msg) { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	return func() int64 {
		_ = b.Conn().Flush()
		return n.Load()
	}
}
