package dashboard

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// fakeRecent stands in for the bus's Recent: the stored messages of one
// channel, oldest first, and a stream state; started/gate let a test hold
// a load in the middle of its read.
type fakeRecent struct {
	msgs    []natsbus.Msg
	st      natsbus.StreamState
	calls   atomic.Int32
	started chan struct{}
	gate    chan struct{}
}

func (f *fakeRecent) Recent(ctx context.Context, _ string, limit int) ([]natsbus.Msg, natsbus.StreamState, error) {
	f.calls.Add(1)
	msgs := f.msgs
	if len(msgs) > limit {
		msgs = msgs[len(msgs)-limit:]
	}
	if f.started != nil {
		close(f.started)
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, natsbus.StreamState{}, ctx.Err()
		}
	}
	return slices.Clone(msgs), f.st, nil
}

func alertAt(seq uint64, at time.Time) natsbus.Msg {
	return natsbus.Msg{Subject: "alert.AAPL", Seq: seq, Time: at,
		Data: []byte(fmt.Sprintf(`{"symbol":"AAPL","level":"info","text":"a%d"}`, seq))}
}

func testWindows(f *fakeRecent, perChannel int) *recentWindows {
	return &recentWindows{ctx: context.Background(), reader: f, up: testUpstream(), perChannel: perChannel, budget: 1 << 20}
}

func seqsOf(entries []*recentEntry) []uint64 {
	out := make([]uint64, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.msg.Seq)
	}
	return out
}

// The window answers exactly the resumes it holds everything for: since
// at the message before its oldest, or later up to the newest seq known;
// not a since older than that, nor one ahead of the stream. One read
// loads it, however many resumes ask.
func TestRecentWindowBoundaries(t *testing.T) {
	f := &fakeRecent{st: natsbus.StreamState{FirstSeq: 10, LastSeq: 30, Epoch: "e1"}}
	now := time.Now()
	for seq := uint64(10); seq <= 24; seq += 2 { // 10 12 … 24: other channels hold the seqs between
		f.msgs = append(f.msgs, alertAt(seq, now))
	}
	w := testWindows(f, 5).open("alert.AAPL")
	ctx := context.Background()

	entries, last, ok := w.after(ctx, 15) // the oldest held is 16: since = oldest − 1
	if !ok || !slices.Equal(seqsOf(entries), []uint64{16, 18, 20, 22, 24}) || last != 24 {
		t.Fatalf("after(15) = %v, last %d, %v; want 16…24 from memory", seqsOf(entries), last, ok)
	}
	if st, ok := w.resumeState(ctx, 15); !ok || !st.Recovered(15) || st.Epoch != "e1" {
		t.Fatalf("resumeState(15) = %+v, %v; want recovered in e1", st, ok)
	}
	if _, _, ok := w.after(ctx, 14); ok {
		t.Fatal("after(14): 14 is older than the window (14 may be this channel's), yet answered from memory")
	}
	if _, ok := w.resumeState(ctx, 3); ok {
		t.Fatal("resumeState(3): older than the window and the stream, yet answered from memory")
	}
	if entries, _, ok := w.after(ctx, 24); !ok || len(entries) != 0 {
		t.Fatalf("after(24) = %v, %v; want nothing to replay, from memory", seqsOf(entries), ok)
	}
	if _, ok := w.resumeState(ctx, 30); !ok { // the stream's last seq (another channel's)
		t.Fatal("resumeState at the stream's last seq not answered from memory")
	}
	if _, ok := w.resumeState(ctx, 31); ok {
		t.Fatal("resumeState ahead of the stream answered from memory")
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d reads to load the window, want 1", n)
	}

	// Live messages extend it; the count stays bounded, raising the floor.
	w.add(alertAt(32, now), nil)
	if _, _, ok := w.after(ctx, 31); !ok {
		t.Fatal("a since the live subscription made known is not answered")
	}
	if _, _, ok := w.after(ctx, 15); ok {
		t.Fatal("the window held 6 messages, or answered from below its floor")
	}
	if entries, _, ok := w.after(ctx, 17); !ok || !slices.Equal(seqsOf(entries), []uint64{18, 20, 22, 24, 32}) {
		t.Fatalf("after(17) = %v, %v; want 18…32", seqsOf(entries), ok)
	}
}

// A window that holds all the channel retains answers since:0, with the
// stream's rule for recovered: false when the stream already dropped
// messages before it loaded.
func TestRecentWindowComplete(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		first uint64
		want  bool
	}{{1, true}, {0, true}, {5, false}} {
		f := &fakeRecent{st: natsbus.StreamState{FirstSeq: tc.first, LastSeq: 7, Epoch: "e"}}
		for seq := uint64(5); seq <= 7; seq++ {
			f.msgs = append(f.msgs, alertAt(seq, now))
		}
		w := testWindows(f, 10).open("alert.AAPL")
		st, ok := w.resumeState(context.Background(), 0)
		if !ok || st.Recovered(0) != tc.want {
			t.Errorf("first seq %d: resumeState(0) = %+v, %v; want recovered=%v from memory", tc.first, st, ok, tc.want)
		}
		if entries, _, ok := w.after(context.Background(), 0); !ok || len(entries) != 3 {
			t.Errorf("first seq %d: after(0) = %v, %v; want all three", tc.first, seqsOf(entries), ok)
		}
	}
}

// Live messages that arrive while the window loads — some also in what
// the load read, some after it — end up held once each, in order.
func TestRecentWindowLoadWhileLive(t *testing.T) {
	now := time.Now()
	f := &fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 6, Epoch: "e"},
		started: make(chan struct{}), gate: make(chan struct{})}
	for seq := uint64(1); seq <= 6; seq++ {
		f.msgs = append(f.msgs, alertAt(seq, now))
	}
	w := testWindows(f, 100).open("alert.AAPL")
	w.add(alertAt(5, now), nil) // delivered live before the read
	done := make(chan bool)
	go func() { done <- w.ensureLoaded(context.Background()) }()
	<-f.started
	done2 := make(chan bool) // a second resume while the load is in flight
	go func() { done2 <- w.ensureLoaded(context.Background()) }()
	w.add(alertAt(6, now), nil) // stored before the read, delivered during it
	w.add(alertAt(7, now), nil) // after the read
	close(f.gate)
	if !<-done || !<-done2 {
		t.Fatal("load failed")
	}
	w.add(alertAt(7, now), nil) // a late duplicate
	w.add(alertAt(8, now), nil)
	entries, last, ok := w.after(context.Background(), 0)
	if !ok || !slices.Equal(seqsOf(entries), []uint64{1, 2, 3, 4, 5, 6, 7, 8}) || last != 8 {
		t.Fatalf("after(0) = %v, last %d, %v; want 1…8 once each", seqsOf(entries), last, ok)
	}
	// The resume that came during the load shared it.
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
}

// Candles are held as replays send them: the last version of each bar,
// in seq order; a dropped old version leaves the bar's newer one.
func TestRecentWindowCandles(t *testing.T) {
	bar := func(seq uint64, start string, close float64) natsbus.Msg {
		return natsbus.Msg{Subject: "candle.AAPL", Seq: seq, Time: time.Now(), Data: []byte(fmt.Sprintf(
			`{"symbol":"AAPL","interval":"1m","start":%q,"open":1,"high":2,"low":0.5,"close":%g,"volume":1}`, start, close))}
	}
	const a, b = "2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z"
	f := &fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 3, Epoch: "e"},
		msgs: []natsbus.Msg{bar(1, a, 1), bar(2, a, 1.5), bar(3, b, 1)}}
	w := testWindows(f, 100).open("candle.AAPL")
	w.add(bar(4, b, 1.2), nil)
	w.add(natsbus.Msg{Subject: "candle.AAPL", Seq: 5, Time: time.Now(), Data: []byte(`not json`)}, nil)
	entries, last, ok := w.after(context.Background(), 0)
	if !ok || !slices.Equal(seqsOf(entries), []uint64{2, 4}) || last != 5 {
		t.Fatalf("after(0) = %v, last %d, %v; want bars at 2 and 4, resuming after 5", seqsOf(entries), last, ok)
	}
	if entries, _, _ := w.after(context.Background(), 2); !slices.Equal(seqsOf(entries), []uint64{4}) {
		t.Fatalf("after(2) = %v, want 4", seqsOf(entries))
	}
}

// The window keeps no more than the stream does: its per-subject count,
// its max age, the memory budget; a purge or delete empties it until the
// next resume loads it again.
func TestRecentWindowFollowsRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	f := &fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 6, Epoch: "e", MaxPerSubject: 4}}
	for seq := uint64(1); seq <= 4; seq++ {
		f.msgs = append(f.msgs, alertAt(seq, now))
	}
	r := testWindows(f, 10)
	w := r.open("alert.AAPL")
	w.add(alertAt(5, now), nil)
	if _, _, ok := w.after(ctx, 0); ok { // the stream dropped seq 1 for the fifth
		t.Fatal("after(0) answered from memory with 5 held over a per-subject limit of 4")
	}
	if entries, _, ok := w.after(ctx, 1); !ok || !slices.Equal(seqsOf(entries), []uint64{2, 3, 4, 5}) {
		t.Fatalf("after(1) = %v, %v; want 2…5", seqsOf(entries), ok)
	}

	old := now.Add(-2 * time.Hour)
	f2 := &fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 3, Epoch: "e", MaxAge: time.Hour},
		msgs: []natsbus.Msg{alertAt(1, old), alertAt(2, old), alertAt(3, now)}}
	w2 := testWindows(f2, 10).open("alert.AAPL")
	if _, _, ok := w2.after(ctx, 0); ok {
		t.Fatal("after(0) answered from memory with messages past the max age")
	}
	if entries, _, ok := w2.after(ctx, 2); !ok || !slices.Equal(seqsOf(entries), []uint64{3}) {
		t.Fatalf("after(2) = %v, %v; want 3", seqsOf(entries), ok)
	}

	f3 := &fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 3, StreamLimited: true}, msgs: f2.msgs}
	if _, _, ok := testWindows(f3, 10).open("alert.AAPL").after(ctx, 2); ok {
		t.Fatal("a stream limited by total size was answered from memory")
	}

	// A purge or delete on the stream empties its windows.
	r.streamChanged(protocol.StreamChat, 0)
	if _, _, ok := w.after(ctx, 1); !ok || f.calls.Load() != 1 {
		t.Fatal("a change to another stream emptied the window")
	}
	r.streamChanged(protocol.StreamAlerts, 4) // one message deleted
	if entries, _, ok := w.after(ctx, 1); !ok || !slices.Equal(seqsOf(entries), []uint64{2, 3, 5}) || f.calls.Load() != 1 {
		t.Fatalf("after a message delete: after(1) = %v, %v; want 2, 3, 5 without a read", seqsOf(entries), ok)
	}
	r.streamChanged(protocol.StreamAlerts, 0)
	if r.bytes.Load() != 0 {
		t.Fatalf("%d bytes accounted after the reset, want 0", r.bytes.Load())
	}
	f.msgs = f.msgs[2:] // the purge removed 1 and 2
	if entries, _, ok := w.after(ctx, 2); !ok || !slices.Equal(seqsOf(entries), []uint64{3, 4}) || f.calls.Load() != 2 {
		t.Fatalf("after the change: after(2) = %v, %v (%d reads); want 3, 4 from a second read", seqsOf(entries), ok, f.calls.Load())
	}

	// The budget: each window gives up its oldest to stay within it.
	tiny := testWindows(&fakeRecent{st: natsbus.StreamState{FirstSeq: 1, LastSeq: 2}, msgs: []natsbus.Msg{alertAt(1, now), alertAt(2, now)}}, 100)
	tiny.budget = 1
	tw := tiny.open("alert.AAPL")
	tw.add(alertAt(1, now), nil)
	tw.add(alertAt(2, now), nil)
	if entries, _, ok := tw.after(ctx, 0); ok || len(entries) != 0 {
		t.Fatalf("over budget: after(0) = %v, %v; want JetStream", seqsOf(entries), ok)
	}
	tiny.close("alert.AAPL", tw)
	tw.add(alertAt(3, now), nil) // a live callback still in flight
	if tiny.bytes.Load() != 0 || tiny.get("alert.AAPL") != nil {
		t.Fatalf("%d bytes accounted after close, want 0 and no window", tiny.bytes.Load())
	}
}

// Nothing is windowed that a replay could not be answered from.
func TestWindowedChannels(t *testing.T) {
	for ch, want := range map[string]bool{
		"chat.lobby": true, "candle.AAPL": true, "alert.AAPL": true, "user.ana": false,
		"chat.*": false, "chat.>": false, "market.AAPL": false, "feed.news": false,
	} {
		if got := windowed(ch); got != want {
			t.Errorf("windowed(%q) = %v, want %v", ch, got, want)
		}
	}
}
