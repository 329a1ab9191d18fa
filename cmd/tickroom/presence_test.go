package main

import (
	"fmt"
	"testing"
	"time"
)

// TestPresenceEventsStopInBigRooms: join/leave are broadcast only while a
// room has at most 200 users on the gateway — each one goes to every
// member, so a room filling to N users would otherwise cost N²/2 events.
// The presence request still lists everyone.
func TestPresenceEventsStopInBigRooms(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnectionsPerIP = 1000
	n := startNode(t, cfg)

	const total = 230 // the cap (200) plus 30 who join silently
	first := dial(t, n, "first", dialOpts{})
	first.welcome()
	first.subscribe("chat.big")
	for i := 1; i < total; i++ {
		c := dial(t, n, fmt.Sprint("u", i), dialOpts{})
		c.welcome()
		c.subscribe("chat.big")
	}

	users := first.presence("chat.big")
	if len(users) != total {
		t.Fatalf("presence lists %d users, want %d", len(users), total)
	}
	// Joins of users 2…200 reach the first member (its own may too); the
	// 30 after the cap never do. Read until the stream has been quiet for a
	// moment: a late join past the cap would be counted.
	joins := 0
	for {
		m, err := first.nextWithin(500 * time.Millisecond)
		if err != nil {
			break
		}
		if m.Event == "join" {
			joins++
		}
	}
	if joins < 199 || joins > 200 {
		t.Fatalf("first member saw %d join events, want 199 or 200 (none past 200 users)", joins)
	}
}
