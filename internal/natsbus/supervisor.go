package natsbus

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// wake nudges the supervisor. It never blocks: it runs on nats.go's
// callback goroutine, and one pending nudge is as good as many.
func (b *Bus) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// tryEnsure declares the streams and, on success, marks this connection
// epoch ready.
func (b *Bus) tryEnsure(ctx context.Context, budget time.Duration) error {
	e := b.epoch.Load()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if err := b.ensureStreams(ctx); err != nil {
		return err
	}
	b.readyEpoch.Store(e + 1)
	b.ensured.Store(true)
	return nil
}

// supervise is the Bus's one goroutine: it (re)declares the streams after
// every (re)connect, retries with backoff while that fails, and reports
// readiness changes to OnStatus callbacks. It stops on Close.
func (b *Bus) supervise() {
	defer b.wg.Done()
	backoff := ensureBackoffMin
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		// Report a reconnect at once: Ready does not wait for the re-check.
		b.notify()
		if b.nc.IsConnected() && !b.checkedSinceConnect() {
			wasReady := b.streamsReady()
			if err := b.tryEnsure(b.ctx, ensureTimeout); err != nil {
				if b.ctx.Err() != nil {
					return
				}
				if wasReady {
					// A reconnect during a failover: a stream may have no
					// leader for seconds. Publishes report that themselves.
					b.log.Info("natsbus: re-checking streams after reconnect, retrying", "err", err, "in", backoff)
				} else {
					b.log.Warn("natsbus: streams not ready, retrying", "err", err, "in", backoff)
				}
				retry.Reset(backoff)
				backoff = min(backoff*2, ensureBackoffMax)
			} else {
				if !wasReady {
					b.log.Info("natsbus: ready")
				}
				backoff = ensureBackoffMin
			}
		}
		b.notify()
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
			retry.Stop()
		case <-retry.C:
		}
	}
}

// checkedSinceConnect: the streams were ensured on the current connection.
func (b *Bus) checkedSinceConnect() bool { return b.readyEpoch.Load() == b.epoch.Load()+1 }

// streamsReady: the streams were declared once by this bus. A reconnect
// re-checks them (a NATS that lost its state gets them back) but does not
// make the bus unready meanwhile: during a cluster failover the re-check
// waits for a new stream leader for seconds, and a gateway whose /readyz
// turned 503 for that long would be taken out of its load balancer, all
// gateways at once when they shared the node that died.
func (b *Bus) streamsReady() bool { return b.ensured.Load() }

// Ready reports whether the connection is up and the streams are declared.
func (b *Bus) Ready() bool {
	return !b.closed.Load() && b.nc.IsConnected() && b.streamsReady()
}

// Status names the connection state for /readyz and metrics: one of
// "connecting", "connected" (and streams ready), "streams_pending"
// (connected, streams not declared yet), "reconnecting", "disconnected",
// "draining" or "closed".
func (b *Bus) Status() string {
	if b.closed.Load() {
		return "closed"
	}
	switch st := b.nc.Status(); st {
	case nats.CONNECTED:
		if b.streamsReady() {
			return "connected"
		}
		return "streams_pending"
	case nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return "draining"
	default:
		return strings.ToLower(st.String())
	}
}

// OnStatus registers fn to be called with the new value each time Ready
// changes after registration (call Ready for the current value). Calls are serialized on the supervisor goroutine; fn must not
// block (it may call Ready or Status).
func (b *Bus) OnStatus(fn func(ready bool)) {
	b.statusMu.Lock()
	b.fns = append(b.fns, fn)
	b.statusMu.Unlock()
}

func (b *Bus) notify() {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	r := b.Ready()
	if r == b.lastReady {
		return
	}
	b.lastReady = r
	for _, fn := range b.fns {
		fn(r)
	}
}
