package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// A Start that fails late (the gateway's address is taken, after NATS,
// the bus and the gateway were built) returns an error and cleans up what
// it started: no panic, no goroutine left (TestMain checks).
func TestStartFailureReturnsError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.Addr = taken.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg, testLogger(t))
	if err == nil {
		shutdownNode(t, n)
		t.Fatal("Start on a taken address succeeded")
	}
	if n != nil {
		t.Fatalf("Start failed (%v) but returned a node", err)
	}
	if !strings.Contains(err.Error(), "listen") {
		t.Fatalf("error %q does not say what failed", err)
	}
}

// A part that fails while running (here: the gateway's listener) ends Wait
// with an error naming it, so the process exits instead of running unready.
func TestFailingPartEndsWait(t *testing.T) {
	n := startNode(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.ln.Close() // the listener dies under the gateway
	err := n.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("Wait did not return after the listener failed")
	}
	if err == nil || !strings.Contains(err.Error(), "gateway listener") {
		t.Fatalf("Wait = %v, want the gateway listener's failure", err)
	}
}

// Wait returns nil when its context ends: a signal is not a failure.
func TestWaitEndsWithContext(t *testing.T) {
	n := startNode(t, testConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Wait(ctx); err != nil {
		t.Fatalf("Wait after cancel = %v, want nil", err)
	}
}
