package natsbus

import (
	"fmt"
	"testing"
	"time"
)

// Real retention drops messages: a resume from before the first retained
// message is reported as not recovered; a recreated stream has a new epoch
// and its old seqs are not recoverable.
func TestResumeInfoAfterRetentionAndRecreate(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s, Retention: Retention{ChatMaxAge: time.Second}})
	ctx := ctxT(t)

	var seqs []uint64
	for i := range 3 {
		seqs = append(seqs, mustPublish(t, b, "chat.lobby", fmt.Sprint("m", i), ""))
	}
	ok, epoch, err := b.ResumeInfo(ctx, "chat.lobby", seqs[0])
	if err != nil || !ok || epoch == "" {
		t.Fatalf("fresh resume: recovered=%v epoch=%q err=%v, want true and an epoch", ok, epoch, err)
	}
	// MaxAge expires the three messages.
	checkFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		got, _ := replayAll(t, b, "chat.lobby", 0)
		if len(got) != 0 {
			return fmt.Errorf("%d messages still retained", len(got))
		}
		return nil
	})
	next := mustPublish(t, b, "chat.lobby", "after", "")
	ok, epoch2, err := b.ResumeInfo(ctx, "chat.lobby", seqs[0])
	if err != nil || ok {
		t.Fatalf("resume after %d once %d..%d expired: recovered=%v err=%v, want false", seqs[0], seqs[1], seqs[2], ok, err)
	}
	if epoch2 != epoch {
		t.Fatalf("epoch changed without a recreate: %q → %q", epoch, epoch2)
	}
	if ok, _, err := b.ResumeInfo(ctx, "chat.lobby", next-1); err != nil || !ok {
		t.Fatalf("resume just before the first retained seq: recovered=%v err=%v, want true", ok, err)
	}
	if ok, _, err := b.ResumeInfo(ctx, "chat.lobby", next); err != nil || !ok {
		t.Fatalf("resume at the last seq: recovered=%v err=%v, want true", ok, err)
	}

	// The stream is deleted and declared again: a new incarnation.
	if err := b.js.DeleteStream(ctx, streamChat); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // creation times must differ
	if err := b.ensureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	ok, epoch3, err := b.ResumeInfo(ctx, "chat.lobby", next)
	if err != nil || ok || epoch3 == epoch {
		t.Fatalf("resume into a recreated stream: recovered=%v epoch %q (was %q) err=%v, want false and a new epoch", ok, epoch3, epoch, err)
	}
	if _, _, err := b.ResumeInfo(ctx, "market.AAPL", 1); err == nil {
		t.Fatal("resume info for a last-value kind: want an error")
	}
}
