package natsbus

import (
	"errors"
	"fmt"
	"testing"
)

func TestPublishDurableSeqAndDedupe(t *testing.T) {
	_, b := newEmbedded(t)

	var prev uint64
	for i := range 3 {
		seq := mustPublish(t, b, "chat.lobby", fmt.Sprint("m", i), fmt.Sprint("id-", i))
		if seq <= prev {
			t.Fatalf("seq %d not greater than %d", seq, prev)
		}
		prev = seq
	}

	orig := mustPublish(t, b, "chat.lobby", "hello", "retry-1")
	seq, dup, err := b.PublishDurable(ctxT(t), "chat.lobby", []byte("hello again"), "retry-1")
	if err != nil {
		t.Fatal(err)
	}
	if !dup || seq != orig {
		t.Fatalf("duplicate publish: seq=%d dup=%v, want seq=%d dup=true", seq, dup, orig)
	}

	got, _ := replayAll(t, b, "chat.lobby", 0)
	if len(got) != 4 {
		t.Fatalf("stored %d messages, want 4 (duplicate stored once): %q", len(got), datas(got))
	}
	if last := got[3]; last.Seq != orig || string(last.Data) != "hello" {
		t.Fatalf("stored %d %q, want the original", last.Seq, last.Data)
	}
}

func TestPublishDurableRejectsUnstoredKind(t *testing.T) {
	_, b := newEmbedded(t)
	if _, _, err := b.PublishDurable(ctxT(t), "nope.x", []byte("x"), ""); !errors.Is(err, ErrNotStored) {
		t.Fatalf("err = %v, want ErrNotStored", err)
	}
}

func TestKinds(t *testing.T) {
	for _, k := range []string{"chat", "alert", "candle"} {
		if !PersistedKind(k) || LastValueKind(k) {
			t.Errorf("%s: want persisted only", k)
		}
	}
	for _, k := range []string{"market", "analytics", "feed"} {
		if PersistedKind(k) || !LastValueKind(k) {
			t.Errorf("%s: want last-value only", k)
		}
	}
	for _, k := range []string{"", "*", ">", "_tickroom", "Chat"} {
		if PersistedKind(k) || LastValueKind(k) {
			t.Errorf("%q: want neither", k)
		}
	}
}
