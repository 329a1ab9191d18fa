package dashboard

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

var errSlowConsumer = errors.New("slow consumer")

// writeWait bounds one batch's writes; a peer that does not read for this
// long is dropped rather than holding its writer.
const writeWait = 10 * time.Second

// writer is a session's only writer, the same for every transport. It runs
// on demand, in turns on the server's flush pool (flushpool.go), so an idle
// connection holds no goroutine. A turn batches (everything queued goes
// out in as few frames as fit); a writer that still has events after its
// turn goes back in line, which is how events coalesce under load. It
// renews the write deadline only when half of it is used (arm), sends
// pings, answers the client's pings and, at the end, the close.
//
// Concurrency: wake, ping, pong and echoClose may be called from any goroutine (wake is the
// hub's OnWake hook, called under the client's lock). Turns never overlap:
// writing is the token. done is closed by the turn that ended the
// connection; after it nothing writes to the transport again.
type writer struct {
	t       Transport
	client  *hub.Client
	metrics *metrics
	pool    *flushPool // runs the turns; nil: a goroutine per flush

	writing atomic.Bool // a turn runs or waits; stays true once the connection ended
	pingDue atomic.Bool
	pongDue atomic.Pointer[[]byte] // a client's ping to answer (the latest: RFC 6455 §5.5.3)
	echo    atomic.Int32           // the code of the client's close frame, which the close answers
	flushes sync.WaitGroup         // flushes in progress; the session waits for them
	done    chan struct{}

	// The turn's goroutine only (one at a time).
	batch    []*hub.Event
	deadline time.Time // the write deadline set (arm)
}

func newWriter(t Transport, client *hub.Client, m *metrics, pool *flushPool) *writer {
	return &writer{t: t, client: client, metrics: m, pool: pool, done: make(chan struct{})}
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
// and every flush has finished.
func (w *writer) stop() {
	<-w.done
	w.flushes.Done()
	w.flushes.Wait()
}

// wake gives the writer a turn unless it has one.
func (w *writer) wake() {
	if w.writing.CompareAndSwap(false, true) {
		w.flushes.Add(1)
		if w.pool != nil {
			w.pool.run(w)
		} else {
			go runAlone(w)
		}
	}
}

// ping asks for a keepalive; the server's pinger calls it every heartbeat.
func (w *writer) ping() {
	w.pingDue.Store(true)
	w.wake()
}

// pong asks for an answer to a client's ping (the reader calls it).
func (w *writer) pong(payload []byte) {
	w.pongDue.Store(&payload)
	w.wake()
}

// echoClose makes the close frame answer the client's close with its code;
// the reader calls it before closing the client.
func (w *writer) echoClose(code int) { w.echo.Store(int32(code)) }

// step is one turn (flushJob): it writes what is due and reports whether
// the writer still has something to write. If so it keeps the token and
// goes back in line; what queues meanwhile shares its next frame. Once the
// connection ended it leaves writing set, so no turn starts again.
func (w *writer) step() (more bool) {
	if w.flushOnce() {
		return false
	}
	if w.due() {
		return true
	}
	w.writing.Store(false)
	// A wake that came while we were finishing saw writing set and left:
	// look again before leaving, so nothing is stranded.
	if !w.due() {
		return false
	}
	return w.writing.CompareAndSwap(false, true) // or another turn took over
}

// due: events queued, a ping asked for, or the client closed.
func (w *writer) due() bool {
	n, _ := w.client.Queued()
	return n > 0 || w.pingDue.Load() || w.pongDue.Load() != nil || w.client.Closed()
}

// finished ends a flush (flushJob): the session's stop waits for it.
func (w *writer) finished() { w.flushes.Done() }

// flushOnce writes what is due: the close (then it reports ended), a
// ping, and the queued events.
func (w *writer) flushOnce() (ended bool) {
	if w.client.Closed() {
		w.finish()
		return true
	}
	if w.pingDue.Swap(false) {
		w.arm()
		if err := w.t.Ping(); err != nil {
			w.broken()
			return true
		}
	}
	if p := w.pongDue.Swap(nil); p != nil {
		w.arm()
		if err := w.t.Pong(*p); err != nil {
			w.broken()
			return true
		}
	}
	w.batch = w.client.Drain(w.batch[:0])
	if len(w.batch) == 0 {
		return false
	}
	err := w.write(w.batch)
	clear(w.batch) // do not pin events until the next write
	if err != nil {
		w.broken()
		return true
	}
	return false
}

// arm makes sure the writes that follow have at least writeWait/2 left
// before their deadline, renewing it to writeWait only when less is left:
// a deadline costs a runtime timer update, so a busy connection renews it
// every few seconds rather than once per batch. A peer that does not read
// is dropped after between writeWait/2 and writeWait.
func (w *writer) arm() {
	now := time.Now()
	if w.deadline.Sub(now) > writeWait/2 {
		return
	}
	w.deadline = now.Add(writeWait)
	_ = w.t.SetWriteDeadline(w.deadline)
}

// write sends one batch.
func (w *writer) write(batch []*hub.Event) error {
	w.arm()
	// A slow consumer's hook cut the writes short (CutWrite); stop here
	// rather than start frames that can only fail.
	if w.client.Closed() {
		if r := w.client.Reason(); r != nil && r.Code == protocol.CloseSlowConsumer {
			return errSlowConsumer
		}
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
	if code := w.echo.Load(); code != 0 {
		r = &protocol.Close{Code: int(code)}
	}
	w.deadline = time.Now().Add(time.Second)
	_ = w.t.SetWriteDeadline(w.deadline)
	w.t.Close(r)
	close(w.done)
}

// broken ends a connection whose transport failed while writing.
func (w *writer) broken() {
	w.client.Close(protocol.CloseNormal, "")
	w.t.Close(nil)
	close(w.done)
}
