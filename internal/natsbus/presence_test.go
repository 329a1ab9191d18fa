package natsbus

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestPresenceMergesNodes(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	gw1 := connectTest(t, Config{Server: s, Name: "gw-1"})
	gw2 := connectTest(t, Config{Server: s, Name: "gw-2"})
	ctx := ctxT(t)

	if err := gw1.PutPresence(ctx, "gw-1", map[string][]string{
		"chat.lobby": {"bob", "ana"},
		"chat.other": {"zed"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := gw2.PutPresence(ctx, "gw-2", map[string][]string{"chat.lobby": {"ana", "cy"}}); err != nil {
		t.Fatal(err)
	}
	// Presence reads a watched copy, so another gateway's write shows up
	// once the watch delivers it: poll briefly.
	check := func(b *Bus, channel string, want ...string) {
		t.Helper()
		checkFor(t, 2*time.Second, 10*time.Millisecond, func() error {
			got, err := b.Presence(ctx, channel)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("Presence(%s) = %v, want %v", channel, got, want)
			}
			return nil
		})
	}
	check(gw1, "chat.lobby", "ana", "bob", "cy")
	check(gw2, "chat.lobby", "ana", "bob", "cy")
	check(gw2, "chat.other", "zed")
	check(gw2, "chat.empty")

	// A new snapshot replaces the node's old one.
	if err := gw1.PutPresence(ctx, "gw-1", map[string][]string{"chat.lobby": {"bob"}}); err != nil {
		t.Fatal(err)
	}
	check(gw2, "chat.lobby", "ana", "bob", "cy")
	check(gw2, "chat.other")

	if err := gw2.DeletePresence(ctx, "gw-2"); err != nil {
		t.Fatal(err)
	}
	check(gw1, "chat.lobby", "bob")
}

func TestPresenceExpires(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s, PresenceTTL: 500 * time.Millisecond})
	if err := b.PutPresence(ctxT(t), "gw-1", map[string][]string{"chat.lobby": {"ana"}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Presence(ctxT(t), "chat.lobby")
	if err != nil || len(got) != 1 {
		t.Fatalf("Presence = %v, %v", got, err)
	}
	checkFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		got, err := b.Presence(ctxT(t), "chat.lobby")
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("still present: %v", got)
		}
		return nil
	})
}

func TestPresenceEvents(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	gw1 := connectTest(t, Config{Server: s, Name: "gw-1"})
	gw2 := connectTest(t, Config{Server: s, Name: "gw-2"})

	var r recorder
	sub, err := gw2.SubscribePresenceEvents(r.add)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// Core subscriptions are async on the server: flush so it is in place.
	if err := gw2.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := gw1.PublishPresenceEvent("chat.lobby", []byte(`{"user":"ana","event":"join"}`)); err != nil {
		t.Fatal(err)
	}
	got := r.waitLen(t, 1)
	if got[0].Subject != "chat.lobby" || string(got[0].Data) != `{"user":"ana","event":"join"}` {
		t.Fatalf("event = %+v", got[0])
	}
}

// Reading presence costs no JetStream API call once the watch runs: no
// consumer is created and deleted per read.
func TestPresenceReadsFromMemory(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s, Name: "gw-1"})
	ctx := ctxT(t)
	if err := b.PutPresence(ctx, "gw-1", map[string][]string{"chat.lobby": {"ana"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Presence(ctx, "chat.lobby"); err != nil || !slices.Equal(got, []string{"ana"}) {
		t.Fatalf("Presence = %v, %v", got, err)
	}
	calls := countJSAPI(t, b)
	for range 20 {
		if _, err := b.Presence(ctx, "chat.lobby"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PutPresence(ctx, "gw-1", map[string][]string{"chat.lobby": {"ana", "bob"}}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		got, err := b.Presence(ctx, "chat.lobby")
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{"ana", "bob"}) {
			return fmt.Errorf("Presence = %v", got)
		}
		return nil
	})
	if n := calls(); n != 0 {
		t.Fatalf("%d JetStream API calls for 20+ presence reads, want 0", n)
	}
}
