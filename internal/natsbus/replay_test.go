package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestReplay(t *testing.T) {
	_, b := newEmbedded(t)

	var lobby, all []uint64
	for i := range 6 {
		s := mustPublish(t, b, "chat.lobby", fmt.Sprint("l", i), "")
		lobby, all = append(lobby, s), append(all, s)
		s = mustPublish(t, b, "chat.other", fmt.Sprint("o", i), "")
		all = append(all, s)
	}
	mustPublish(t, b, "alert.AAPL", "a", "") // another stream: never in a chat replay

	after := lobby[2]
	got, last := replayAll(t, b, "chat.lobby", after)
	if want := lobby[3:]; !slices.Equal(seqs(got), want) {
		t.Fatalf("Replay after %d = %v, want %v", after, seqs(got), want)
	}
	if last != lobby[5] {
		t.Fatalf("last = %d, want %d", last, lobby[5])
	}
	for _, m := range got {
		if m.Subject != "chat.lobby" || m.Time.IsZero() {
			t.Fatalf("bad message %+v", m)
		}
	}

	got, _ = replayAll(t, b, "chat.*", after)
	want := slices.DeleteFunc(slices.Clone(all), func(s uint64) bool { return s <= after })
	if !slices.Equal(seqs(got), want) {
		t.Fatalf("wildcard Replay = %v, want %v", seqs(got), want)
	}

	// Nothing newer: returns at once with `after`.
	got, last = replayAll(t, b, "chat.lobby", lobby[5])
	if len(got) != 0 || last != lobby[5] {
		t.Fatalf("Replay past the end = %v, %d", seqs(got), last)
	}
}

func TestReplayIsBounded(t *testing.T) {
	_, b := newEmbedded(t)
	for i := range 300 { // more than one fetch batch
		mustPublish(t, b, "chat.lobby", fmt.Sprint(i), "")
	}
	// A writer keeps publishing during the replay; the replay must still end.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _, _ = b.PublishDurable(ctx, "chat.lobby", []byte("live"), "")
		}
	}()
	defer func() { stop(); <-done }()

	start := time.Now()
	got, _ := replayAll(t, b, "chat.lobby", 0)
	if len(got) < 300 {
		t.Fatalf("replayed %d, want >= 300", len(got))
	}
	if !slices.IsSorted(seqs(got)) {
		t.Fatal("replay out of order")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("replay took %s", d)
	}
}

func TestReplayStopsOnCallbackError(t *testing.T) {
	_, b := newEmbedded(t)
	s1 := mustPublish(t, b, "candle.AAPL", "1", "")
	mustPublish(t, b, "candle.AAPL", "2", "")
	boom := errors.New("boom")
	n := 0
	last, err := b.Replay(ctxT(t), "candle.AAPL", 0, func(Msg) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || last != s1 || n != 2 {
		t.Fatalf("last=%d n=%d err=%v, want %d 2 boom", last, n, err, s1)
	}
}

func TestReplayUnstoredPattern(t *testing.T) {
	_, b := newEmbedded(t)
	if _, err := b.Replay(ctxT(t), "*.lobby", 0, func(Msg) error { return nil }); !errors.Is(err, ErrNotStored) {
		t.Fatalf("err = %v, want ErrNotStored", err)
	}
}
