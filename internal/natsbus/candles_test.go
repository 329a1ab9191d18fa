package natsbus

import (
	"fmt"
	"testing"
	"time"
)

func TestRefAndBookAreLastValues(t *testing.T) {
	_, b := newEmbedded(t)
	nc := b.Conn()
	for i := range 3 {
		for _, subj := range []string{"ref.EURUSD", "book.AAPL"} {
			if err := nc.Publish(subj, fmt.Appendf(nil, "%s-%d", subj, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, pattern := range []string{"ref.*", "book.>"} {
		checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			var got []string
			if err := b.LastValues(ctxT(t), pattern, func(m Msg) error {
				got = append(got, m.Subject+"="+string(m.Data))
				return nil
			}); err != nil {
				return err
			}
			if len(got) != 1 || got[0][len(got[0])-1] != '2' {
				return fmt.Errorf("LastValues(%s) = %q, want the third message only", pattern, got)
			}
			return nil
		})
	}
}

func TestReadSinceBars(t *testing.T) {
	_, b := newEmbedded(t)
	nc := b.Conn()
	subj := BarsSubject("AAPL", "5m")
	for i := range 5 {
		if err := nc.Publish(subj, fmt.Appendf(nil, "bar-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Not a stored interval: the stream does not take it.
	if err := nc.Publish("bars.AAPL.7m", []byte("x")); err != nil {
		t.Fatal(err)
	}
	read := func(from time.Time) []string {
		var got []string
		if err := b.ReadSince(ctxT(t), subj, from, func(m Msg) error {
			got = append(got, string(m.Data))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got := read(time.Time{}); len(got) != 5 || got[0] != "bar-0" || got[4] != "bar-4" {
			return fmt.Errorf("read %q", got)
		}
		return nil
	})
	if got := read(time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("read from the future: %q", got)
	}
	cut := time.Now()
	if err := nc.Publish(subj, []byte("bar-5")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got := read(cut); len(got) != 1 || got[0] != "bar-5" {
			return fmt.Errorf("read since %v: %q", cut, got)
		}
		return nil
	})
	var n int
	if err := b.ReadSince(ctxT(t), "bars.AAPL.7m", time.Time{}, func(Msg) error { n++; return nil }); err == nil && n > 0 {
		t.Fatalf("read %d messages of an interval the stream does not store", n)
	}
	// candle.<SYM> lives in CANDLES; ReadSince reads it there.
	mustPublish(t, b, "candle.AAPL", "live", "")
	var live []string
	if err := b.ReadSince(ctxT(t), "candle.AAPL", time.Time{}, func(m Msg) error { live = append(live, string(m.Data)); return nil }); err != nil || len(live) != 1 {
		t.Fatalf("candle.AAPL: %q %v", live, err)
	}
}
