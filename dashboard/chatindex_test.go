package dashboard

import "testing"

func TestRoomIndexUnread(t *testing.T) {
	x := &roomIndex{}
	if _, _, ok := x.unread(0); ok {
		t.Fatal("an index not loaded answered")
	}
	for _, s := range []uint64{5, 9, 7, 9, 12} { // out of order and a duplicate: history and live overlap
		x.add(s)
	}
	x.loaded, x.complete = true, true
	for read, want := range map[uint64]uint64{0: 4, 5: 3, 8: 2, 12: 0, 99: 0} {
		if n, last, ok := x.unread(read); !ok || n != want || last != 12 {
			t.Errorf("unread(%d) = %d, %d, %v; want %d, 12, true", read, n, last, ok, want)
		}
	}
	for s := uint64(100); s < 100+maxIndexed; s++ {
		x.add(s)
	}
	if len(x.seqs) != maxIndexed || x.complete {
		t.Fatalf("held %d seqs, complete %v; want the newest %d, incomplete", len(x.seqs), x.complete, maxIndexed)
	}
	if _, _, ok := x.unread(3); ok {
		t.Error("a read position older than the index answered from it")
	}
	if n, _, ok := x.unread(100 + maxIndexed - 3); !ok || n != 2 {
		t.Errorf("unread near the end = %d, %v; want 2", n, ok)
	}
}
