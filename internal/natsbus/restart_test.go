package natsbus

import (
	"fmt"
	"slices"
	"testing"
)

func TestReplayAndHistorySurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startTestServer(t, dir, "")
	b := connectTest(t, Config{Server: s})
	var want []uint64
	for i := range 5 {
		want = append(want, mustPublish(t, b, "chat.lobby", fmt.Sprint(i), fmt.Sprint("id", i)))
	}
	b.Close()
	s.Shutdown()

	s = startTestServer(t, dir, "")
	b = connectTest(t, Config{Server: s})
	if !b.Ready() {
		t.Fatalf("not ready after restart: %s", b.Status())
	}
	got, _ := replayAll(t, b, "chat.lobby", want[1])
	if !slices.Equal(seqs(got), want[2:]) {
		t.Fatalf("Replay after restart = %v, want %v", seqs(got), want[2:])
	}
	hist, err := b.History(ctxT(t), "chat.lobby", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(hist), want[2:]) {
		t.Fatalf("History after restart = %v, want %v", seqs(hist), want[2:])
	}
	// Sequences continue, and the dedupe window survived too.
	if seq := mustPublish(t, b, "chat.lobby", "new", "id-new"); seq <= want[4] {
		t.Fatalf("seq after restart %d <= %d", seq, want[4])
	}
	seq, dup, err := b.PublishDurable(ctxT(t), "chat.lobby", []byte("again"), "id4")
	if err != nil || !dup || seq != want[4] {
		t.Fatalf("dup after restart: seq=%d dup=%v err=%v, want %d true", seq, dup, err, want[4])
	}
}
