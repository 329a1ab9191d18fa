package dashboard

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// writeWait bounds one batch's writes; a peer that does not read for this
// long is dropped rather than holding its writer.
const writeWait = 10 * time.Second

// minCoalesce is the first step of the adaptive coalescing delay.
const minCoalesce = 500 * time.Microsecond

// writer is a session's only writer, the same for every transport. It runs
// on demand: a goroutine exists only while there is something to write
// (events, a ping, the close), so an idle connection parks none. It
// batches (everything queued goes out in as few frames as fit), coalesces
// (while it is behind, it waits a little before the next drain so more
// events share a frame; the wait grows while the queue keeps refilling and
// drops to zero when it runs empty, so the first event after a quiet spell
// is not delayed), sets one write deadline per batch, sends pings and, at
// the end, the close.
//
// Concurrency: wake and ping may be called from any goroutine (wake is the
// hub's OnWake hook, called under the client's lock). Flush goroutines
// never overlap: writing is the token. done is closed by the flush that
// ended the connection; after it nothing writes to the transport again.
type writer struct {
	t        Transport
	client   *hub.Client
	metrics  *metrics
	maxDelay time.Duration // the coalescing delay's ceiling (Config.WriteDelay)

	writing atomic.Bool // a flush goroutine runs; stays true once the connection ended
	pingDue atomic.Bool
	flushes sync.WaitGroup // flush goroutines; the session waits for them
	done    chan struct{}

	// Flush goroutine only (one at a time).
	batch []*hub.Event
	delay time.Duration
	timer *time.Timer
	due   time.Time
}

func newWriter(t Transport, client *hub.Client, m *metrics, maxDelay time.Duration) *writer {
	return &writer{t: t, client: client, metrics: m, maxDelay: maxDelay, done: make(chan struct{})}
}

// start hooks the writer to its client and looks once for anything queued
// before the hook was set (the welcome, a shutdown that closed every client).
// The session holds one count of flushes until stop, so a wake's Add never
// races stop's Wait from zero.
func (w *writer) start() {
	w.flushes.Add(1)
	w.client.OnWake(w.wake)
	// A slow consumer's writer is usually stuck writing to a peer that does
	// not read: expire the write so its resources go now, not in writeWait.
	w.client.OnSlowConsumer(w.t.CutWrite)
	w.wake()
}

// stop waits until the connection has ended (the client must be closed)
// and every flush goroutine has returned.
func (w *writer) stop() {
	<-w.done
	w.flushes.Done()
	w.flushes.Wait()
}

// wake starts a flush goroutine unless one is running.
func (w *writer) wake() {
	if w.writing.CompareAndSwap(false, true) {
		w.flushes.Add(1)
		go func() {
			defer w.flushes.Done()
			w.flush()
		}()
	}
}

// ping asks for a keepalive; the server's pinger calls it every heartbeat.
func (w *writer) ping() {
	w.pingDue.Store(true)
	w.wake()
}

// flush writes until there is nothing left, then exits — unless the
// connection ended, in which case it leaves writing set so no flush starts
// again.
func (w *writer) flush() {
	for {
		if w.flushOnce() {
			return
		}
		w.writing.Store(false)
		// A wake that came while we were finishing saw writing set and
		// left: look again before leaving, so nothing is stranded.
		n, _ := w.client.Queued()
		if n == 0 && !w.pingDue.Load() && w.client.Reason() == nil {
			return
		}
		if !w.writing.CompareAndSwap(false, true) {
			return // another flush took over
		}
	}
}

// flushOnce writes what is due: the close (then it reports ended), a
// ping, and the queued events.
func (w *writer) flushOnce() (ended bool) {
	select {
	case <-w.client.Done():
		w.finish()
		return true
	default:
	}
	if w.pingDue.Swap(false) {
		w.arm()
		if err := w.t.Ping(); err != nil {
			w.broken()
			return true
		}
	}
	w.batch = w.client.Drain(w.batch[:0])
	if len(w.batch) == 0 {
		w.delay = 0
		return false
	}
	err := w.write(w.batch)
	clear(w.batch) // do not pin events until the next write
	if err != nil {
		w.broken()
		return true
	}
	w.coalesce()
	return false
}

// arm renews the write deadline only when less than half is left.
func (w *writer) arm() {
	now := time.Now()
	if w.due.Sub(now) > writeWait/2 {
		return
	}
	w.due = now.Add(writeWait)
	_ = w.t.SetWriteDeadline(w.due)
}

// write sends one batch.
func (w *writer) write(batch []*hub.Event) error {
	w.arm()
	if r := w.client.Reason(); r != nil && r.Code == protocol.CloseSlowConsumer {
		return errSlowConsumer
	}
	w.metrics.observeBatch(len(batch))
	frames, n, err := w.t.WriteBatch(batch)
	w.metrics.framesOut.Add(int64(frames))
	w.metrics.bytesOut.Add(int64(n))
	if err == nil {
		w.metrics.frameWritten(batch, time.Now())
	}
	return err
}

// coalesce runs after a write. If events queued up while it wrote, the
// writer is behind: it waits before draining again so the next frame
// carries more, and waits longer each time it is still behind (up to
// maxDelay). An empty queue resets the wait: the next event goes at once.
func (w *writer) coalesce() {
	if w.maxDelay <= 0 {
		return
	}
	if n, _ := w.client.Queued(); n == 0 {
		w.delay = 0
		return
	}
	w.delay = min(max(2*w.delay, minCoalesce), w.maxDelay)
	if w.timer == nil {
		w.timer = time.NewTimer(w.delay)
	} else {
		w.timer.Reset(w.delay)
	}
	select {
	case <-w.timer.C:
	case <-w.client.Done():
		w.timer.Stop()
	}
}

// finish writes the end of a closed client: what is already queued
// (replies, last events) unless it was too slow to read them, then the
// reason.
func (w *writer) finish() {
	r := w.client.Reason()
	if r.Code != protocol.CloseSlowConsumer {
		if batch := w.client.Drain(w.batch[:0]); len(batch) > 0 {
			_ = w.write(batch)
			clear(batch)
		}
	}
	w.due = time.Now().Add(time.Second)
	_ = w.t.SetWriteDeadline(w.due)
	w.t.Close(r)
	close(w.done)
}

// broken ends a connection whose transport failed while writing.
func (w *writer) broken() {
	w.client.Close(protocol.CloseNormal, "")
	w.t.Close(nil)
	close(w.done)
}
