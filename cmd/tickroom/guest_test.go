package main

import (
	"net/http"
	"strings"
	"testing"
)

// A guest who never signs in, as the default page does: the page load sets
// a signed guest session cookie, and the browser sends it on every
// connection. The same msgid published over two connections (an outbox
// retry after a reconnect) is stored once, and both connections are the
// same user. A WebSocket opened without any cookie gets one on its 101.
func TestGuestStableAcrossConnections(t *testing.T) {
	n := startNode(t, testConfig(t))
	resp, err := http.Get(n.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "tickroom_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("page load set no HttpOnly guest session cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	a := dial(t, n, "first connection", dialOpts{header: h})
	wa := a.welcome()
	s1 := a.publish("chat.lobby", "hello", "g-1")
	a.close()

	b := dial(t, n, "after reconnect", dialOpts{header: h})
	wb := b.welcome()
	if wa.User != wb.User || !strings.HasPrefix(wa.User, "guest-") {
		t.Fatalf("guest changed across connections: %q then %q", wa.User, wb.User)
	}
	s2 := b.publish("chat.lobby", "hello", "g-1")
	if s1 != s2 {
		t.Fatalf("same msgid from the same guest stored twice: seq %d then %d", s1, s2)
	}
	hist := b.mustOK(b.request(map[string]any{"op": "history", "channel": "chat.lobby"}))
	if len(hist.Messages) != 1 {
		t.Fatalf("history holds %d messages, want 1", len(hist.Messages))
	}

	// No cookie at all: the 101 carries one, and it names the same guest.
	c := dial(t, n, "cookieless", dialOpts{})
	wc := c.welcome()
	var set *http.Cookie
	for _, ck := range c.resp.Cookies() {
		if ck.Name == "tickroom_session" {
			set = ck
		}
	}
	if set == nil {
		t.Fatal("the upgrade of a cookieless guest set no session cookie")
	}
	d := dial(t, n, "cookieless, again", dialOpts{header: http.Header{"Cookie": {set.Name + "=" + set.Value}}})
	if wd := d.welcome(); wd.User != wc.User {
		t.Fatalf("cookie from the 101 names %q, the connection was %q", wd.User, wc.User)
	}
}
