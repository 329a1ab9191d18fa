package dashboard

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// flushPool runs the writers' flushes on a few goroutines it keeps, in
// turn. Measured on a broadcast to 1,000 subscribers on one core (issue 13):
//
//   - A goroutine started per wake grew its stack from scratch every time
//     (a flush is deep: WebSocket frame → TCP write): a fifth of the CPU
//     went to copying stacks. A kept worker's stack stays grown.
//   - A thousand runnable writers queued the goroutines of the publish
//     path (the publisher's reader, NATS, JetStream) behind them, each hop
//     of it a whole round of writes later, so latency jumped to seconds
//     just above the rate where every event still got its own frame. With
//     a few workers that yield each millisecond, the publish path runs
//     between their turns (never yielding, it waited seconds again).
//   - Coalescing comes from taking turns: a writer that still has events
//     after its write goes to the back of the line, so the busier the
//     server, the more events its next frame carries, at no added delay
//     when the server keeps up (issue 13 item 3).
//
// At most limit workers run at once. A flush blocked on a peer that reads
// slowly would hold its worker: the janitor counts a worker busy for
// longer than stuckAfter as stuck and lets one more run in its place, so
// slow peers cannot stall the others. Parked workers wait on their own
// channel; one parked for longer than idleAfter is stopped, so a quiet
// server keeps none.
//
// Concurrency: run may be called from any goroutine (the hub's wake hook,
// under a client's lock: it never blocks). close stops the janitor and the
// parked workers and waits for the busy ones to finish their turn; from
// then on run gives every job a goroutine of its own.
type flushPool struct {
	limit      int // workers running at once, stuck ones not counted
	stuckAfter time.Duration
	idleAfter  time.Duration

	mu      sync.Mutex
	queue   []flushJob // waiting for a worker, oldest first, from head
	head    int
	running int            // workers not parked
	stuck   int            // of them, busy for longer than stuckAfter
	parked  []*flushWorker // oldest first
	all     map[*flushWorker]struct{}
	closed  bool

	workers sync.WaitGroup
	stop    chan struct{}
	janitor sync.WaitGroup
	started chan struct{} // a worker was started: the janitor has work again
}

// flushJob is what a worker runs: a writer's turn. step writes what is
// due and reports whether there is more (the job goes back in line);
// finished is called once it reports none.
type flushJob interface {
	step() (more bool)
	finished()
}

type flushWorker struct {
	work   chan flushJob
	busy   atomic.Int64 // unix ns the current turn started; 0 between turns
	parked time.Time    // under the pool's mu
}

const (
	// flushIdleAfter is how long the server keeps a worker no flush needed.
	flushIdleAfter = 10 * time.Second
	// flushStuckAfter is how long one turn may take before the worker
	// counts as stuck on a slow peer and another may run in its place.
	flushStuckAfter = 20 * time.Millisecond
	// flushYieldAfter is how long a worker takes turns before it yields.
	flushYieldAfter = time.Millisecond
)

func newFlushPool(limit int, stuckAfter, idleAfter time.Duration) *flushPool {
	p := &flushPool{
		limit: max(limit, 1), stuckAfter: stuckAfter, idleAfter: idleAfter,
		all: map[*flushWorker]struct{}{}, stop: make(chan struct{}), started: make(chan struct{}, 1),
	}
	p.janitor.Add(1)
	go p.clean()
	return p
}

// defaultFlushWorkers: a few per core, enough that a write that blocks
// for a moment does not idle the core.
func defaultFlushWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// run gives job a turn: on a parked worker, a new one, or in line.
func (p *flushPool) run(job flushJob) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go runAlone(job)
		return
	}
	p.enqueueLocked(job)
	p.mu.Unlock()
}

// enqueueLocked hands job to a parked worker when one may run, starts a
// new one when none is parked, or else queues it.
func (p *flushPool) enqueueLocked(job flushJob) {
	if p.running-p.stuck >= p.limit {
		p.queue = append(p.queue, job)
		return
	}
	p.startLocked(job)
}

// startLocked gives job to a parked worker, or a new one.
func (p *flushPool) startLocked(job flushJob) {
	p.running++
	if n := len(p.parked); n > 0 {
		wk := p.parked[n-1]
		p.parked[n-1] = nil
		p.parked = p.parked[:n-1]
		wk.work <- job // buffered; the worker waits for it alone
		return
	}
	wk := &flushWorker{work: make(chan flushJob, 1)}
	p.all[wk] = struct{}{}
	p.workers.Add(1)
	wk.work <- job
	go p.serve(wk)
	select {
	case p.started <- struct{}{}:
	default: // the janitor has been told already
	}
}

func runAlone(job flushJob) {
	for job.step() {
	}
	job.finished()
}

// serve is one worker: take turns until parked for too long or closed.
func (p *flushPool) serve(wk *flushWorker) {
	defer p.workers.Done()
	for job := range wk.work {
		slice := time.Now()
		for job != nil {
			start := time.Now()
			wk.busy.Store(start.UnixNano())
			more := job.step()
			wk.busy.Store(0)
			if !more {
				job.finished()
			}
			// Let the publish path and the hub run once this worker has
			// had the core for flushYieldAfter. Not after every turn: a
			// yielded goroutine waits behind everything runnable, and
			// during a reconnect storm that is thousands of handshakes, so
			// yielding per turn starved the writers (resumes took 9 s
			// instead of 5).
			if start.Sub(slice) >= flushYieldAfter {
				runtime.Gosched()
				slice = time.Now()
			}
			job = p.next(wk, job, more)
		}
	}
}

// next puts a job that has more back in line and takes the oldest one;
// nil parks wk (it then waits on its channel).
func (p *flushPool) next(wk *flushWorker, job flushJob, more bool) flushJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	if more {
		if p.closed {
			go runAlone(job)
		} else {
			p.queue = append(p.queue, job)
		}
	}
	if p.head < len(p.queue) && !p.closed && p.running-p.stuck <= p.limit {
		return p.popLocked()
	}
	p.running--
	if p.closed {
		close(wk.work) // the range in serve ends
		delete(p.all, wk)
		return nil
	}
	wk.parked = time.Now()
	p.parked = append(p.parked, wk)
	return nil
}

// popLocked takes the oldest job in line (there must be one). The line
// is a slice read from head; once head passes half of it, the rest moves
// to the front, so a line that never empties (more busy writers than
// workers) does not grow its array by one slot per turn.
func (p *flushPool) popLocked() flushJob {
	job := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	if p.head*2 >= len(p.queue) {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return job
}

// clean runs every stuckAfter while the pool has workers: it counts stuck
// workers, lets others run in their place, and stops workers parked for
// longer than idleAfter. Once none is left it sleeps until one starts, so
// a quiet server does not wake for it.
func (p *flushPool) clean() {
	defer p.janitor.Done()
	t := time.NewTicker(p.stuckAfter)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if p.tick(now) {
				continue
			}
			t.Stop()
			select {
			case <-p.stop:
				return
			case <-p.started:
			}
			t.Reset(p.stuckAfter)
		}
	}
}

// tick is one round of clean; it reports whether any worker is left.
func (p *flushPool) tick(now time.Time) (workers bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stuck := 0
	for wk := range p.all {
		if b := wk.busy.Load(); b != 0 && now.UnixNano()-b > int64(p.stuckAfter) {
			stuck++
		}
	}
	p.stuck = stuck
	for p.head < len(p.queue) && p.running-p.stuck < p.limit {
		p.startLocked(p.popLocked())
	}
	n := 0
	for n < len(p.parked) && now.Sub(p.parked[n].parked) > p.idleAfter {
		close(p.parked[n].work)
		delete(p.all, p.parked[n])
		n++
	}
	if n > 0 {
		p.parked = append(p.parked[:0], p.parked[n:]...)
		clear(p.parked[len(p.parked):cap(p.parked)])
	}
	return len(p.all) > 0
}

// close stops the pool and waits for its goroutines. Jobs still in line
// get goroutines of their own.
func (p *flushPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, wk := range p.parked {
		close(wk.work)
		delete(p.all, wk)
	}
	p.parked = nil
	for _, job := range p.queue[p.head:] {
		go runAlone(job)
	}
	p.queue, p.head = nil, 0
	p.mu.Unlock()
	close(p.stop)
	p.janitor.Wait()
	p.workers.Wait()
}
