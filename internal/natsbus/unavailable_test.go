package natsbus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNATSDownAndBack(t *testing.T) {
	dir, listen := t.TempDir(), hostPort(freePort(t))
	s := startTestServer(t, dir, listen)
	b := connectTest(t, Config{URLs: []string{s.ClientURL()}})

	changes := make(chan bool, 16)
	b.OnStatus(func(r bool) {
		select {
		case changes <- r:
		default:
		}
	})
	var r recorder
	sub, err := b.SubscribeLive("chat.lobby", r.add)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	s1 := mustPublish(t, b, "chat.lobby", "before", "")
	r.waitLen(t, 1)

	s.Shutdown()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if b.Ready() {
			return errors.New("still ready")
		}
		return nil
	})
	if st := b.Status(); st == "connected" {
		t.Fatalf("status %q while down", st)
	}

	// Fails fast with ErrUnavailable instead of waiting out ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err = b.PublishDurable(ctx, "chat.lobby", []byte("lost"), "lost-1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PublishDurable while down: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("PublishDurable took %s while down", d)
	}
	if _, err := b.Replay(ctx, "chat.lobby", 0, func(Msg) error { return nil }); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Replay while down: %v", err)
	}
	if _, err := b.History(ctx, "chat.lobby", 0, 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("History while down: %v", err)
	}
	if err := b.PutPresence(ctx, "gw-1", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PutPresence while down: %v", err)
	}

	startTestServer(t, dir, listen) // back on the same port and store
	checkFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if !b.Ready() {
			return fmt.Errorf("not ready: %s", b.Status())
		}
		return nil
	})
	s2 := mustPublish(t, b, "chat.lobby", "after", "")
	if s2 <= s1 {
		t.Fatalf("seq after restart %d <= %d", s2, s1)
	}
	// The live consumer recreated itself and resumes after what it saw.
	got := r.waitLen(t, 2)
	if fmtSeq(got) != fmt.Sprint([]uint64{s1, s2}) {
		t.Fatalf("live across restart = %v, want [%d %d]", seqs(got), s1, s2)
	}
	// The message that failed while down must not have been stored later.
	all, _ := replayAll(t, b, "chat.lobby", 0)
	if len(all) != 2 {
		t.Fatalf("stored %q, want 2 messages", datas(all))
	}

	var seen []bool
	for len(changes) > 0 {
		seen = append(seen, <-changes)
	}
	if fmt.Sprint(seen) != "[false true]" {
		t.Fatalf("OnStatus saw %v, want [false true]", seen)
	}
}

func TestConnectWhileDown(t *testing.T) {
	dir, listen := t.TempDir(), hostPort(freePort(t))
	start := time.Now()
	b := connectTest(t, Config{URLs: []string{"nats://" + listen}})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Connect blocked %s with NATS down", d)
	}
	if b.Ready() {
		t.Fatal("ready with NATS down")
	}
	startTestServer(t, dir, listen)
	checkFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if !b.Ready() {
			return fmt.Errorf("not ready: %s", b.Status())
		}
		return nil
	})
	mustPublish(t, b, "chat.lobby", "hi", "")
}

func TestCloseWhileDown(t *testing.T) {
	b, err := Connect(context.Background(), Config{URLs: []string{"nats://" + hostPort(freePort(t))}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s with NATS down", d)
	}
}
