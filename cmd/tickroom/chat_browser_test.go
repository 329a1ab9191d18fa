package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickroom/tickroom/feeds/alerts"
)

// TestBrowserChatDesk: in real Chromium, a bot claiming to be ana shows as
// a bot; @ana is highlighted and counts as unread in another room, in the
// title, and in a second browser of ana's; an edit shows "(edited)" and a
// delete "message removed"; a message with a ref is a card that opens the
// chart; a price alert set in the page fires as a toast.
func TestBrowserChatDesk(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = (&alerts.PriceAlerts{NC: nc, Log: testLogger(t)}).Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	tick := func(price float64) {
		b, _ := json.Marshal(map[string]any{"symbol": "AAPL", "price": price})
		_ = nc.Publish("market.AAPL", b)
	}
	tick(200)

	ana := newPage(t)
	run(t, ana, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"),
		waitJS("AAPL on the board", `document.querySelector('[aria-label="Tickers"] tbody tr[data-sym="AAPL"]')`))
	if err := nc.Publish("chat.lobby", []byte(`{"user":"ana","text":"I am ana, trust me"}`)); err != nil {
		t.Fatal(err)
	}
	run(t, ana, 10*time.Second, waitJS("bot badge on the impostor", `[...document.querySelectorAll('[aria-label="Chat messages"] li.msg')]
		.some(li => li.textContent.includes('trust me') && li.querySelector('.bot-badge'))`))

	bob := signedIn(t, n, "bob")
	s := bob.publish("chat.lobby", "helo @ana", "b1")
	run(t, ana, 10*time.Second, waitJS("@ana highlighted", `[...document.querySelectorAll('[aria-label="Chat messages"] .mention.me')].some(e => e.textContent === '@ana')`))
	bob.mustOK(bob.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": s, "data": map[string]any{"text": "hello @ana"}}))
	run(t, ana, 10*time.Second, waitJS("(edited)", `[...document.querySelectorAll('[aria-label="Chat messages"] li.msg')]
		.some(li => li.textContent.includes('hello @ana') && li.textContent.includes('(edited)'))`))
	s2 := bob.publish("chat.lobby", "oops secret", "b2")
	run(t, ana, 10*time.Second, waitText("Chat messages", "oops secret"))
	bob.mustOK(bob.request(map[string]any{"op": "delete", "channel": "chat.lobby", "seq": s2}))
	run(t, ana, 10*time.Second, waitJS("removed", `![...document.querySelectorAll('[aria-label="Chat messages"]')].some(e => e.textContent.includes('oops secret'))
		&& document.querySelector('[aria-label="Chat messages"] li.deleted')`))

	// A mention elsewhere: the room list and the title count it.
	bob.publish("chat.AAPL", "@ana look at this", "b3")
	run(t, ana, 15*time.Second, waitJS("unread in the room list", `[...document.getElementById('room').options].some(o => o.value === 'chat.AAPL' && o.textContent.includes('(1)'))`),
		waitJS("title", `document.title === '(1) tickroom'`))
	ana2 := newPage(t)
	run(t, ana2, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"),
		waitJS("the second browser has the same count", `[...document.getElementById('room').options].some(o => o.value === 'chat.AAPL' && o.textContent.includes('(1)'))`))

	// A message pointing at the data: a card that opens the chart.
	bob.mustOK(bob.request(map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{
		"text": "this moment", "ref": map[string]any{"symbol": "AAPL", "time": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "price": 190.0}}}))
	run(t, ana, 10*time.Second, waitJS("ref card", `document.querySelector('[aria-label="Chat messages"] .ref-card[data-ref-sym="AAPL"]')`),
		waitJS("change since", `/\+5\.26% since/.test(document.querySelector('.ref-card .ref-change').textContent)`),
		chromedp.Click(`.ref-card[data-ref-sym="AAPL"]`, chromedp.ByQuery),
		waitJS("chart on AAPL", `document.getElementById('chart-sym').textContent.includes('AAPL')`))

	// A price alert from the page, fired by a tick: a toast.
	run(t, ana, 10*time.Second,
		chromedp.SendKeys(`[aria-label="Symbol"]`, "AAPL", chromedp.ByQuery),
		chromedp.SetValue(`[aria-label="Price level"]`, "230", chromedp.ByQuery),
		chromedp.SetValue(`[aria-label="Direction"]`, "above", chromedp.ByQuery),
		chromedp.SendKeys(`[aria-label="Note"]`, "breakout", chromedp.ByQuery),
		chromedp.Click(`.alert-form button[type=submit]`, chromedp.ByQuery))
	run(t, ana, 10*time.Second,
		waitJS("alert listed", `document.querySelector('[aria-label="My price alerts"]').textContent.includes('AAPL')`))
	tick(231)
	run(t, ana, 10*time.Second, waitJS("toast", `[...document.querySelectorAll('.toast.price-alert')].some(e => e.textContent.includes('AAPL crossed above') && e.textContent.includes('breakout'))`),
		waitJS("list emptied", `!document.querySelector('[aria-label="My price alerts"] button[data-alert]')`))
	screenshot(t, ana, "chat-desk")
}

// TestBrowserChatModeration: a moderator deletes and mutes from the page;
// the lobby shows recent alerts again after a reload.
func TestBrowserChatModeration(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	cfg.Moderators = []string{"mod"}
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	b, _ := json.Marshal(map[string]any{"symbol": "AAPL", "price": 200})
	_ = nc.Publish("market.AAPL", b)
	alert := `{"symbol":"AAPL","level":"warn","text":"AAPL moved (before the reload)","time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	if err := nc.Publish("alert.AAPL", []byte(alert)); err != nil {
		t.Fatal(err)
	}
	mod := newPage(t)
	run(t, mod, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=mod"), waitState("connected"),
		waitJS("alert in the lobby", `document.querySelector('[aria-label="Chat messages"]').textContent.includes('AAPL moved (before the reload)')`))
	run(t, mod, 30*time.Second, chromedp.Reload(), waitState("connected"),
		waitJS("alert in the lobby after the reload", `document.querySelector('[aria-label="Chat messages"]').textContent.includes('AAPL moved (before the reload)')`))

	mal := signedIn(t, n, "mallory")
	mal.publish("chat.lobby", "buy my course", "s1")
	spam := `[...document.querySelectorAll('[aria-label="Chat messages"] li.msg')].find(li => li.textContent.includes('buy my course'))`
	run(t, mod, 10*time.Second, waitJS("spam with moderator buttons", spam+`?.querySelector('button[data-act="delete"]')`),
		chromedp.Evaluate(spam+`.querySelector('button[data-act="mute"]').click()`, nil),
		waitJS("mute noted", `document.querySelector('[aria-label="Chat messages"]').textContent.includes('mallory was muted by mod')`),
		chromedp.Evaluate(`[...document.querySelectorAll('[aria-label="Chat messages"] li.msg')].find(li => li.textContent.includes('buy my course')).querySelector('button[data-act="delete"]').click()`, nil),
		waitJS("spam removed", `!document.querySelector('[aria-label="Chat messages"]').textContent.includes('buy my course')`))
	if r := mal.request(map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{"text": "again"}}); r.errCode() != "forbidden" {
		t.Errorf("muted mallory publishes: %s, want forbidden", r.Raw)
	}
}
