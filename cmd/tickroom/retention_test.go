package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The retain-* flags shape the streams a gateway creates; an operator's
// later edit (the JetStream API call `nats stream edit` makes) survives a
// gateway restart with the same flags; -nats-update-streams applies the
// flags again.
func TestRetentionFlagsAndOperatorEdits(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention.ChatMaxAge = 48 * time.Hour
	cfg.Retention.ChatMaxMsgs = 500
	cfg.Retention.AlertMaxMsgs = 50
	chat := func(n *Node) jetstream.StreamConfig {
		t.Helper()
		js, err := jetstream.New(n.natsConnForTest())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		st, err := js.Stream(ctx, "CHAT")
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config
	}

	n := startNode(t, cfg)
	if c := chat(n); c.MaxAge != 48*time.Hour || c.MaxMsgsPerSubject != 500 {
		t.Fatalf("created CHAT with max_age %v, max_msgs_per_subject %d; want 48h, 500", c.MaxAge, c.MaxMsgsPerSubject)
	}
	edited := chat(n)
	edited.MaxAge = 2 * time.Hour
	js, _ := jetstream.New(n.natsConnForTest())
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := js.UpdateStream(ctx, edited); err != nil {
		t.Fatal(err)
	}
	shutdownNode(t, n)

	n = startNode(t, cfg)
	if c := chat(n); c.MaxAge != 2*time.Hour {
		t.Fatalf("after a restart CHAT max_age is %v, want the operator's 2h", c.MaxAge)
	}
	shutdownNode(t, n)

	cfg.NATSUpdateStreams = true
	n = startNode(t, cfg)
	if c := chat(n); c.MaxAge != 48*time.Hour {
		t.Fatalf("with -nats-update-streams CHAT max_age is %v, want 48h", c.MaxAge)
	}
}
