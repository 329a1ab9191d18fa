package natsbus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// Three gateways' buses connect at the same moment to a cluster whose nodes
// have just started (no meta leader yet), as docker-compose starts them.
// Each must be ready, shared secret included, within 10 s.
func TestColdStartConcurrentBuses(t *testing.T) {
	nodes := startCluster(t, 3)
	urls := []string{nodes[0].ClientURL(), nodes[1].ClientURL(), nodes[2].ClientURL()}
	start := time.Now()
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := Connect(ctx, Config{URLs: urls, Replicas: 3, Logger: quietLogger(), Name: "gw"})
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(b.Close)
			for !b.Ready() {
				if ctx.Err() != nil {
					errs[i] = errors.New("not ready: " + b.Status())
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := b.SharedSecret(ctx, "k", func() ([]byte, error) { return []byte("v"), nil }); err != nil {
				errs[i] = err
				return
			}
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("bus %d: %v", i, err)
		}
	}
	t.Logf("ready after %v", took)
}

// An operator's edit of a stream (what `nats stream edit` sends) survives
// a new bus and its reconnects; only UpdateStreams puts the configured
// settings back.
func TestOperatorEditSurvivesRestart(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s})
	st, err := b.js.Stream(ctxT(t), streamChat)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != DefaultRetention.ChatMaxAge {
		t.Fatalf("created with MaxAge %v", cfg.MaxAge)
	}
	cfg.MaxAge = 2 * time.Hour
	cfg.MaxMsgsPerSubject = 77
	if _, err := b.js.UpdateStream(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	b.Close()

	check := func(b *Bus, wantAge time.Duration, wantMsgs int64) {
		t.Helper()
		st, err := b.js.Stream(ctxT(t), streamChat)
		if err != nil {
			t.Fatal(err)
		}
		if c := st.CachedInfo().Config; c.MaxAge != wantAge || c.MaxMsgsPerSubject != wantMsgs {
			t.Fatalf("CHAT MaxAge %v MaxMsgsPerSubject %d, want %v %d", c.MaxAge, c.MaxMsgsPerSubject, wantAge, wantMsgs)
		}
	}
	b2 := connectTest(t, Config{Server: s, Retention: Retention{ChatMaxAge: 48 * time.Hour}})
	if !b2.Ready() {
		t.Fatal(b2.Status())
	}
	check(b2, 2*time.Hour, 77)
	b2.warnMu.Lock()
	warned := b2.warned[streamChat]
	b2.warnMu.Unlock()
	if warned == "" {
		t.Fatal("no warning about the difference")
	}
	b2.Close()

	b3 := connectTest(t, Config{Server: s, Retention: Retention{ChatMaxAge: 48 * time.Hour}, UpdateStreams: true})
	check(b3, 48*time.Hour, -1)
}

// An upgrade that stores a new kind in an existing stream (ref.> and book.>
// joined LAST) adds its subjects to the stream an earlier version created,
// and keeps the operator's edits.
func TestUpgradeAddsMissingSubjects(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	b := connectTest(t, Config{Server: s})
	st, err := b.js.Stream(ctxT(t), streamLast)
	if err != nil {
		t.Fatal(err)
	}
	old := st.CachedInfo().Config
	want := slices.Clone(old.Subjects)
	old.Subjects = old.Subjects[:1] // as an older version declared it
	old.MaxAge = 2 * time.Hour      // and an operator edited it
	if _, err := b.js.UpdateStream(ctxT(t), old); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b2 := connectTest(t, Config{Server: s})
	if !b2.Ready() {
		t.Fatal(b2.Status())
	}
	st, err = b2.js.Stream(ctxT(t), streamLast)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if len(want) < 2 || !sameSet(c.Subjects, want) {
		t.Fatalf("LAST subjects %v, want %v", c.Subjects, want)
	}
	if c.MaxAge != 2*time.Hour {
		t.Fatalf("LAST MaxAge %v: the operator's edit was undone", c.MaxAge)
	}
}
