package dashboard

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/auth"
)

// snapshotBus records every presence snapshot written.
type snapshotBus struct {
	*fakeBus
	mu    sync.Mutex
	snaps []map[string][]string
}

func (b *snapshotBus) PutPresence(_ context.Context, _ string, snap map[string][]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snaps = append(b.snaps, snap)
	return nil
}

func (b *snapshotBus) written() (n int, last map[string][]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.snaps) == 0 {
		return 0, nil
	}
	return len(b.snaps), b.snaps[len(b.snaps)-1]
}

// Users joining a room in a burst share snapshot writes (at most one per
// presenceMinGap after the first), and the last snapshot lists them all.
func TestPresenceSnapshotsCoalesce(t *testing.T) {
	bus := &snapshotBus{fakeBus: newFakeBus()}
	s := testServer(t, bus, func(c *Config) { c.MaxConnectionsPerIP = 1000 })
	const users = 60
	start := time.Now()
	for i := range users {
		ss, _ := openTestSession(t, s, auth.Identity{User: fmt.Sprintf("u%02d", i)})
		ss.handleFrame([]byte(`{"op":"subscribe","id":1,"channel":"chat.lobby"}`))
	}
	joined := time.Since(start)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, last := bus.written()
		if len(last["chat.lobby"]) == users {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last snapshot lists %d of %d users", len(last["chat.lobby"]), users)
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, last := bus.written()
	if allowed := 2 + int(joined/presenceMinGap); n > allowed {
		t.Fatalf("%d snapshots written for %d joins in %v, want at most %d", n, users, joined, allowed)
	}
	got := slices.Sorted(slices.Values(last["chat.lobby"]))
	if got[0] != "u00" || got[users-1] != fmt.Sprintf("u%02d", users-1) {
		t.Fatalf("last snapshot %v", got)
	}
}
