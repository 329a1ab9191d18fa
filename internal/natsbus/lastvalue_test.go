package natsbus

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestLastValues(t *testing.T) {
	_, b := newEmbedded(t)
	nc := b.Conn()
	// Producers publish ticks with core NATS; the LAST stream captures them.
	for i := range 3 {
		if err := nc.Publish("market.AAPL", fmt.Appendf(nil, "aapl-%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("market.MSFT", fmt.Appendf(nil, "msft-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	m := nats.NewMsg("feed.news")
	m.Header.Set(EventHeader, "headline")
	m.Data = []byte("news")
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, "chat.lobby", "not a last value", "")

	collect := func(pattern string) map[string]Msg {
		out := map[string]Msg{}
		err := b.LastValues(ctxT(t), pattern, func(m Msg) error {
			if _, seen := out[m.Subject]; seen {
				return fmt.Errorf("subject %s twice", m.Subject)
			}
			out[m.Subject] = m
			return nil
		})
		if err != nil {
			t.Fatalf("LastValues(%s): %v", pattern, err)
		}
		return out
	}
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		got := collect("market.*")
		if len(got) != 2 || string(got["market.AAPL"].Data) != "aapl-2" || string(got["market.MSFT"].Data) != "msft-2" {
			return fmt.Errorf("market.* = %v", got)
		}
		return nil
	})
	if got := collect("market.MSFT"); len(got) != 1 || got["market.MSFT"].Seq == 0 {
		t.Fatalf("market.MSFT = %v", got)
	}
	all := collect(">")
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[feed.news market.AAPL market.MSFT]" {
		t.Fatalf("> = %v", keys)
	}
	if ev := all["feed.news"].Event; ev != "headline" {
		t.Fatalf("feed.news event = %q", ev)
	}
	if got := collect("chat.*"); len(got) != 0 {
		t.Fatalf("chat.* last values = %v, want none", got)
	}
	if got := collect("*"); len(got) != 0 {
		t.Fatalf("* = %v, want none", got)
	}
}
