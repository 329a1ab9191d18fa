package hub

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
)

func sortedPresence(h *Hub) map[string][]string {
	p := h.Presence()
	for _, users := range p {
		sort.Strings(users)
	}
	return p
}

func TestPresence(t *testing.T) {
	var log presenceLog
	h, _ := newTestHub(t, Config{Linger: tinyLinger, OnPresence: log.record})
	alice1 := mustRegister(t, h, "alice1", "alice")
	alice2 := mustRegister(t, h, "alice2", "alice")
	bob := mustRegister(t, h, "bob", "bob")
	anon := mustRegister(t, h, "anon", "")

	subscribeLive(t, h, alice1, "chat.room")
	log.expect(t, "alice joined chat.room")

	// Second connection of the same user, wildcards, other kinds: no call.
	subscribeLive(t, h, alice2, "chat.room")
	subscribeLive(t, h, alice1, "chat.>")
	subscribeLive(t, h, alice1, "chat.*")
	subscribeLive(t, h, alice1, "market.AAPL")
	subscribeLive(t, h, alice1, "alert.AAPL")
	subscribeLive(t, h, anon, "chat.room")
	log.expect(t)

	subscribeLive(t, h, bob, "chat.room")
	subscribeLive(t, h, bob, "chat.lobby")
	log.expect(t, "bob joined chat.room", "bob joined chat.lobby")

	want := map[string][]string{"chat.room": {"alice", "bob"}, "chat.lobby": {"bob"}}
	if got := sortedPresence(h); !reflect.DeepEqual(got, want) {
		t.Fatalf("Presence = %v, want %v", got, want)
	}
	// The snapshot is a copy.
	h.Presence()["chat.room"][0] = "mallory"
	if got := sortedPresence(h); !reflect.DeepEqual(got, want) {
		t.Fatalf("Presence changed through a snapshot: %v", got)
	}

	// alice leaves only with her last literal subscription.
	h.Unsubscribe(alice1, "chat.room")
	h.Unsubscribe(alice1, "chat.>")
	log.expect(t)
	h.Unregister(alice2)
	log.expect(t, "alice left chat.room")

	h.Unregister(bob)
	log.expect(t, "bob left chat.room", "bob left chat.lobby")
	h.Unregister(anon)
	h.Unregister(alice1)
	log.expect(t)
	if got := h.Presence(); len(got) != 0 {
		t.Fatalf("Presence after everyone left = %v", got)
	}
}

func TestPresenceWithoutCallback(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "carol")
	subscribeLive(t, h, c, "chat.room")
	if got := h.Presence(); !reflect.DeepEqual(got, map[string][]string{"chat.room": {"carol"}}) {
		t.Fatalf("Presence = %v", got)
	}
	h.Unregister(c)
	if got := h.Presence(); len(got) != 0 {
		t.Fatalf("Presence = %v", got)
	}
}

// A subscribe that fails upstream never joined: it must not report a leave,
// and must leave no presence behind.
func TestPresenceUpstreamFailure(t *testing.T) {
	var log presenceLog
	h, up := newTestHub(t, Config{Linger: tinyLinger, OnPresence: log.record})
	c := mustRegister(t, h, "c", "dave")
	up.failNext("chat.room", errUpstream)
	if _, _, err := h.subscribe(ctx, c, "chat.room"); err == nil {
		t.Fatal("Subscribe succeeded")
	}
	log.expect(t)
	if got := h.Presence(); len(got) != 0 {
		t.Fatalf("Presence after a failed subscribe = %v", got)
	}

	// Two connections of one user waiting on the same failing upstream.
	entered, release := up.hold("chat.room")
	up.failNext("chat.room", errUpstream)
	c2 := mustRegister(t, h, "c2", "dave")
	errs := make(chan error, 2)
	for _, cl := range []*Client{c, c2} {
		go func() {
			_, _, err := h.subscribe(ctx, cl, "chat.room")
			errs <- err
		}()
	}
	<-entered
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
		if n := h.Stats().Subscriptions; n != 2 {
			return fmt.Errorf("%d subscriptions waiting", n)
		}
		return nil
	})
	release()
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("Subscribe succeeded")
		}
	}
	log.expect(t)

	// Then a working subscribe joins as usual.
	subscribeLive(t, h, c, "chat.room")
	log.expect(t, "dave joined chat.room")
}
