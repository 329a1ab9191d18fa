package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds/alerts"
)

// Unread counts follow the user: two connections of ana (two browsers)
// see the read position the other stored.
func TestChatUnreadAcrossConnections(t *testing.T) {
	n := startNode(t, testConfig(t))
	bob := signedIn(t, n, "bob")
	var seqs []uint64
	for i, text := range []string{"one", "two", "three @ana"} {
		seqs = append(seqs, bob.publish("chat.lobby", text, "u"+string(rune('0'+i))))
	}
	bob.publish("chat.other", "elsewhere", "o1")

	ana1 := signedIn(t, n, "ana")
	r := ana1.mustOK(ana1.request(map[string]any{"op": "subscribe", "channel": "chat.lobby"}))
	var reply struct {
		Read   uint64 `json:"read"`
		Unread uint64 `json:"unread"`
	}
	_ = json.Unmarshal(r.Raw, &reply)
	if reply.Read != 0 || reply.Unread != 3 {
		t.Fatalf("subscribe reply %s: want read 0, unread 3", r.Raw)
	}
	r = ana1.mustOK(ana1.request(map[string]any{"op": "read", "channel": "chat.lobby", "seq": seqs[1]}))
	_ = json.Unmarshal(r.Raw, &reply)
	if reply.Read != seqs[1] || reply.Unread != 1 {
		t.Fatalf("read reply %s: want read %d, unread 1", r.Raw, seqs[1])
	}
	// An older position does not move it back.
	ana1.mustOK(ana1.request(map[string]any{"op": "read", "channel": "chat.lobby", "seq": seqs[0]}))

	ana2 := signedIn(t, n, "ana")
	r = ana2.mustOK(ana2.request(map[string]any{"op": "subscribe", "channel": "chat.lobby"}))
	_ = json.Unmarshal(r.Raw, &reply)
	if reply.Read != seqs[1] || reply.Unread != 1 {
		t.Fatalf("second connection's subscribe reply %s: want read %d, unread 1", r.Raw, seqs[1])
	}
	var rooms struct {
		Rooms []struct {
			Channel  string `json:"channel"`
			LastSeq  uint64 `json:"last_seq"`
			Read     uint64 `json:"read"`
			Unread   uint64 `json:"unread"`
			Mentions int    `json:"mentions"`
		} `json:"rooms"`
	}
	eventually(t, "the mention is stored", func() error {
		r = ana2.mustOK(ana2.request(map[string]any{"op": "rooms"}))
		_ = json.Unmarshal(r.Raw, &rooms)
		if len(rooms.Rooms) != 2 || rooms.Rooms[0].Mentions != 1 {
			return fmt.Errorf("rooms %s", r.Raw)
		}
		return nil
	})
	lobby, other := rooms.Rooms[0], rooms.Rooms[1]
	if lobby.Channel != "chat.lobby" || lobby.Unread != 1 || lobby.Read != seqs[1] || lobby.LastSeq != seqs[2] {
		t.Errorf("lobby summary %+v", lobby)
	}
	if other.Channel != "chat.other" || other.Unread != 1 || other.Read != 0 {
		t.Errorf("other summary %+v", other)
	}
}

// An alert fires exactly once with two gateways and two evaluators on one
// NATS, within a second of the crossing tick, and survives... being raced.
func TestChatPriceAlertFiresOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.NATSListen = "127.0.0.1:0"
	n1 := startNode(t, cfg)
	cfg2 := testConfig(t)
	cfg2.Node = "gw-test-2"
	cfg2.NATSURLs = []string{n1.NATSURL()}
	n2 := startNode(t, cfg2)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		nc, err := nats.Connect(n1.NATSURL())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = (&alerts.PriceAlerts{NC: nc, Log: testLogger(t)}).Run(ctx)
		}()
		t.Cleanup(nc.Close)
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	nc := n1.natsConnForTest()
	tick := func(price float64) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"symbol": "AAPL", "price": price})
		if err := nc.Publish("market.AAPL", b); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
	}
	ana := signedIn(t, n1, "ana")
	if r := ana.request(map[string]any{"op": "alert_set", "symbol": "AAPL", "above": 230.0}); r.errCode() != "not_found" {
		t.Fatalf("alert on a symbol without data: %s, want not_found", r.Raw)
	}
	tick(200)
	var set msg
	eventually(t, "AAPL known", func() error {
		set = ana.request(map[string]any{"op": "alert_set", "symbol": "AAPL", "above": 230.0, "note": "breakout"})
		if set.errCode() != "" {
			return fmt.Errorf("%s", set.Raw)
		}
		return nil
	})
	var armed struct {
		Alert struct {
			ID string `json:"id"`
		} `json:"alert"`
	}
	_ = json.Unmarshal(set.Raw, &armed)
	if armed.Alert.ID == "" {
		t.Fatalf("alert_set reply %s", set.Raw)
	}
	if r := ana.request(map[string]any{"op": "alert_delete", "alert": "a-nope"}); r.errCode() != "not_found" {
		t.Errorf("delete unknown alert: %s, want not_found", r.Raw)
	}
	bob := signedIn(t, n2, "bob")
	if r := bob.mustOK(bob.request(map[string]any{"op": "alert_list"})); string(r.Raw) == "" || len(listOf(t, r)) != 0 {
		t.Errorf("bob's alerts: %s, want none", r.Raw)
	}

	// ana listens on the other gateway.
	ana2 := signedIn(t, n2, "ana")
	if got := listOf(t, ana2.mustOK(ana2.request(map[string]any{"op": "alert_list"}))); len(got) != 1 {
		t.Fatalf("ana's alerts from gateway 2: %v, want 1", got)
	}
	ana2.subscribe("user.ana", 0)
	time.Sleep(200 * time.Millisecond) // both evaluators have the alert from their watch
	tick(229)
	tick(231)
	tick(232)
	ev := ana2.waitEvent("price_alert", func(m msg) bool { return m.Event == "price_alert" })
	d := dataOf(t, ev.Data)
	if d["id"] != armed.Alert.ID || d["price"] != 231.0 || d["note"] != "breakout" {
		t.Errorf("price_alert %s, want alert %s at 231", ev.Raw, armed.Alert.ID)
	}
	tick(240)
	time.Sleep(500 * time.Millisecond)
	h := ana2.mustOK(ana2.request(map[string]any{"op": "history", "channel": "user.ana"}))
	count := 0
	for _, raw := range h.Messages {
		var m msg
		_ = json.Unmarshal(raw, &m)
		if m.Event == "price_alert" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("stored %d price_alert events, want exactly 1: %s", count, h.Raw)
	}
	if got := listOf(t, ana.mustOK(ana.request(map[string]any{"op": "alert_list"}))); len(got) != 0 {
		t.Errorf("after firing ana has alerts %v, want none", got)
	}
}

func listOf(t *testing.T, r msg) []json.RawMessage {
	t.Helper()
	var out struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(r.Raw, &out); err != nil {
		t.Fatalf("alert_list %s: %v", r.Raw, err)
	}
	return out.Alerts
}

// An armed alert survives a restart of the node (gateway and NATS, same
// data directory) and fires after it.
func TestChatPriceAlertSurvivesRestart(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	b, _ := json.Marshal(map[string]any{"symbol": "EURUSD", "price": 1.08})
	if err := n.natsConnForTest().Publish("market.EURUSD", b); err != nil {
		t.Fatal(err)
	}
	ana := signedIn(t, n, "ana")
	eventually(t, "EURUSD known", func() error {
		if r := ana.request(map[string]any{"op": "alert_set", "symbol": "EURUSD", "below": 1.05}); r.errCode() != "" {
			return fmt.Errorf("%s", r.Raw)
		}
		return nil
	})
	ana.close()
	shutdownNode(t, n)

	n2 := startNode(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&alerts.PriceAlerts{NC: n2.natsConnForTest(), Log: testLogger(t)}).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	ana = signedIn(t, n2, "ana")
	if got := listOf(t, ana.mustOK(ana.request(map[string]any{"op": "alert_list"}))); len(got) != 1 {
		t.Fatalf("after restart ana has %d alerts, want 1", len(got))
	}
	ana.subscribe("user.ana")
	nc := n2.natsConnForTest()
	// Ticks until the evaluator (started just now) has loaded the alert.
	stop := make(chan struct{})
	go func() {
		for p := 1.049; ; p -= 0.0001 {
			b, _ := json.Marshal(map[string]any{"symbol": "EURUSD", "price": p})
			_ = nc.Publish("market.EURUSD", b)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	ev := ana.waitEvent("price_alert", func(m msg) bool { return m.Event == "price_alert" })
	close(stop)
	if d := dataOf(t, ev.Data); d["symbol"] != "EURUSD" || d["below"] != 1.05 {
		t.Errorf("price_alert %s", ev.Raw)
	}
}
