package natsbus

import (
	"fmt"
	"slices"
	"testing"
)

func TestHistory(t *testing.T) {
	_, b := newEmbedded(t)
	var a []uint64
	for i := range 40 {
		a = append(a, mustPublish(t, b, "chat.a", fmt.Sprint("a", i), ""))
		mustPublish(t, b, "chat.b", fmt.Sprint("b", i), "")
		mustPublish(t, b, "chat.b", fmt.Sprint("b", i), "")
	}

	check := func(before uint64, limit int, want []uint64) {
		t.Helper()
		got, err := b.History(ctxT(t), "chat.a", before, limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), want) {
			t.Fatalf("History(before=%d, limit=%d) = %v, want %v", before, limit, seqs(got), want)
		}
		for _, m := range got {
			if m.Subject != "chat.a" {
				t.Fatalf("foreign subject %s", m.Subject)
			}
		}
	}
	check(0, 5, a[35:])
	check(a[20], 5, a[15:20])
	check(a[20]+1, 5, a[16:21]) // before is exclusive
	check(a[3], 50, a[:3])      // fewer than limit
	check(a[0], 10, nil)
	check(0, 1000, a)
	check(0, 0, nil)
}

// A quiet subject far behind a busy one makes History widen its window.
func TestHistorySparseSubject(t *testing.T) {
	_, b := newEmbedded(t)
	r1 := mustPublish(t, b, "alert.RARE", "r1", "")
	r2 := mustPublish(t, b, "alert.RARE", "r2", "")
	for i := range 700 {
		mustPublish(t, b, fmt.Sprint("alert.BUSY", i%3), "x", "")
	}
	r3 := mustPublish(t, b, "alert.RARE", "r3", "")

	got, err := b.History(ctxT(t), "alert.RARE", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{r1, r2, r3}; !slices.Equal(seqs(got), want) {
		t.Fatalf("History = %v, want %v", seqs(got), want)
	}
	got, err = b.History(ctxT(t), "alert.RARE", r3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{r2}; !slices.Equal(seqs(got), want) {
		t.Fatalf("History before r3 = %v, want %v", seqs(got), want)
	}
}
