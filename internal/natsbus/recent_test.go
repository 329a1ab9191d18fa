package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Recent returns the newest messages of a subject with the stream state
// read before them, including the retention the stream applies on its own.
func TestRecentAndState(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s, Retention: Retention{ChatMaxAge: time.Hour, AlertMaxMsgs: 7}})
	ctx := ctxT(t)
	var lobby []uint64
	for i := range 6 {
		lobby = append(lobby, mustPublish(t, b, "chat.lobby", fmt.Sprint("m", i), ""))
		mustPublish(t, b, "chat.other", "x", "")
	}
	msgs, st, err := b.Recent(ctx, "chat.lobby", 4)
	if err != nil || !slices.Equal(seqs(msgs), lobby[2:]) {
		t.Fatalf("Recent(4) = %v, %v; want %v", seqs(msgs), err, lobby[2:])
	}
	if st.FirstSeq != 1 || st.LastSeq != lobby[5]+1 || st.Epoch == "" || st.MaxAge != time.Hour || st.StreamLimited {
		t.Fatalf("state %+v: want first 1, last %d, an epoch, max age 1h, no stream-wide limit", st, lobby[5]+1)
	}
	if all, _, err := b.Recent(ctx, "chat.lobby", 100); err != nil || len(all) != 6 {
		t.Fatalf("Recent(100) = %v, %v; want all 6", seqs(all), err)
	}
	st2, err := b.State(ctx, "chat.lobby")
	if err != nil || st2.Epoch != st.Epoch || st2.LastSeq != st.LastSeq {
		t.Fatalf("State = %+v, %v; want %+v", st2, err, st)
	}
	if !st2.Recovered(0) || !st2.Recovered(st2.LastSeq) || st2.Recovered(st2.LastSeq+1) {
		t.Fatalf("Recovered on %+v: want true for 0 and the last seq, false beyond", st2)
	}
	if ast, err := b.State(ctx, "alert.AAPL"); err != nil || ast.MaxPerSubject != 7 {
		t.Fatalf("alerts state %+v, %v: want 7 per subject", ast, err)
	}
	if _, _, err := b.Recent(ctx, "market.AAPL", 3); err == nil {
		t.Fatal("Recent on a last-value kind: want an error")
	}
}

// A purge, a message delete and a stream's recreation are told, with the
// stream's name, after they happened; reads and consumer creates are not.
func TestWatchStreamChanges(t *testing.T) {
	_, b := newEmbedded(t)
	ctx := ctxT(t)
	type change struct {
		stream string
		seq    uint64
	}
	got := make(chan change, 16)
	sub, err := b.WatchStreamChanges(func(stream string, seq uint64) { got <- change{stream, seq} })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = b.Conn().Flush()
	seq := mustPublish(t, b, "chat.lobby", "a", "")
	mustPublish(t, b, "chat.lobby", "b", "")
	replayAll(t, b, "chat.lobby", 0) // a consumer create and delete
	if _, err := b.State(ctx, "chat.lobby"); err != nil {
		t.Fatal(err)
	}
	expect := func(what string, seq uint64) {
		t.Helper()
		select {
		case c := <-got:
			if c.stream != streamChat || c.seq != seq {
				t.Fatalf("%s: told %+v, want %s seq %d", what, c, streamChat, seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not told", what)
		}
	}
	st, err := b.js.Stream(ctx, streamChat)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, seq); err != nil {
		t.Fatal(err)
	}
	expect("message delete", seq)
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	expect("purge", 0)
	if err := b.js.DeleteStream(ctx, streamChat); err != nil {
		t.Fatal(err)
	}
	expect("stream delete", 0)
	select {
	case c := <-got:
		t.Fatalf("told %+v for a read or consumer create", c)
	default:
	}
	if stream, _ := changedStream([]byte(`{"subject":"$JS.API.STREAM.PURGE.CHAT"`)); stream != "" {
		t.Fatalf("a truncated advisory told %q", stream)
	}
}

// More reads at once than the bound: every one waits its turn and
// succeeds; a read whose ctx ends while it waits fails as unavailable.
func TestReadsBeyondTheBoundWait(t *testing.T) {
	_, b := newEmbedded(t)
	for i := range 3 {
		mustPublish(t, b, "chat.lobby", fmt.Sprint("m", i), "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*maxReads)
	for range 4 * maxReads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			_, err := b.Replay(ctxT(t), "chat.lobby", 0, func(Msg) error { n++; return nil })
			if err == nil && n != 3 {
				err = fmt.Errorf("replayed %d, want 3", n)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every slot taken: a read waits, and gives up with its ctx.
	for range maxReads {
		b.reads <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Replay(ctx, "chat.lobby", 0, func(Msg) error { return nil })
	for range maxReads {
		<-b.reads
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a read past its ctx while waiting: %v, want ErrUnavailable", err)
	}
}
