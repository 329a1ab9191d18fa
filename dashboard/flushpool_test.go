package dashboard

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testJob takes turns until it has run turns times.
type testJob struct {
	turns int
	run   func(turn int)
	done  *sync.WaitGroup
	n     int
}

func (j *testJob) step() bool {
	j.n++
	if j.run != nil {
		j.run(j.n)
	}
	return j.n < j.turns
}

func (j *testJob) finished() { j.done.Done() }

func (p *flushPool) parkedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A turn stuck on a slow peer holds one worker; once it counts as stuck,
// the others run beside it.
func TestFlushPoolStuckWorkerDoesNotStallOthers(t *testing.T) {
	p := newFlushPool(1, 10*time.Millisecond, time.Minute)
	defer p.close()
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(11)
	p.run(&testJob{turns: 1, run: func(int) { <-release }, done: &wg})
	var ran atomic.Int32
	for range 10 {
		p.run(&testJob{turns: 1, run: func(int) { ran.Add(1) }, done: &wg})
	}
	waitFor(t, "flushes waited behind a stuck one", 5*time.Second, func() bool { return ran.Load() == 10 })
	close(release)
	wg.Wait()
}

// A job with more to write goes to the back of the line: the others get
// their turn before its next one.
func TestFlushPoolTakesTurns(t *testing.T) {
	p := newFlushPool(1, time.Minute, time.Minute)
	defer p.close()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		order []string
		gate  = make(chan struct{})
	)
	log := func(name string) func(int) {
		return func(turn int) {
			if name == "a" && turn == 1 {
				<-gate // hold the only worker until b and c are in line
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
	}
	wg.Add(3)
	p.run(&testJob{turns: 3, run: log("a"), done: &wg})
	p.run(&testJob{turns: 1, run: log("b"), done: &wg})
	p.run(&testJob{turns: 2, run: log("c"), done: &wg})
	close(gate)
	wg.Wait()
	got := ""
	for _, s := range order {
		got += s
	}
	if got != "abcaca" {
		t.Fatalf("turns ran in order %q, want abcaca", got)
	}
}

// Workers are kept while used and stopped once parked for idleAfter.
func TestFlushPoolReusesThenStopsIdleWorkers(t *testing.T) {
	p := newFlushPool(4, time.Minute, time.Minute)
	defer p.close()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		p.run(&testJob{turns: 1, done: &wg})
		wg.Wait() // one at a time: one worker serves all
		waitFor(t, "the worker did not park", 5*time.Second, func() bool { return p.parkedCount() == 1 })
	}
	p.mu.Lock()
	workers := len(p.all)
	p.mu.Unlock()
	if workers != 1 {
		t.Fatalf("100 flushes one after another used %d workers, want 1", workers)
	}
	if !p.tick(time.Now()) { // parked for less than idleAfter: kept
		t.Fatal("tick says no worker is left while one is parked")
	}
	if n := p.parkedCount(); n != 1 {
		t.Fatalf("a worker parked for less than idleAfter was stopped (%d parked)", n)
	}
	if p.tick(time.Now().Add(2 * time.Minute)) { // as the janitor would, later; then it sleeps
		t.Fatal("tick says a worker is left after the last one stopped")
	}
	if n := p.parkedCount(); n != 0 {
		t.Fatalf("a worker parked for longer than idleAfter was kept (%d parked)", n)
	}
	// A worker that starts now wakes the sleeping janitor.
	select {
	case <-p.started: // the first worker's signal, which this janitor (ticking every minute) never took
	default:
	}
	wg.Add(1)
	p.run(&testJob{turns: 1, done: &wg})
	wg.Wait()
	select {
	case <-p.started:
	default:
		t.Fatal("a new worker did not signal the janitor")
	}
}

// close waits for a busy worker; afterwards run still runs the job.
func TestFlushPoolClose(t *testing.T) {
	p := newFlushPool(2, time.Minute, time.Minute)
	var wg sync.WaitGroup
	var finished atomic.Bool
	started, release := make(chan struct{}), make(chan struct{})
	wg.Add(1)
	p.run(&testJob{turns: 1, run: func(int) { close(started); <-release; finished.Store(true) }, done: &wg})
	<-started
	closed := make(chan struct{})
	go func() { p.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a worker was busy")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if !finished.Load() {
		t.Fatal("close returned before the busy worker finished")
	}
	var ran atomic.Bool
	wg.Add(1)
	p.run(&testJob{turns: 2, run: func(int) { ran.Store(true) }, done: &wg})
	wg.Wait()
	if !ran.Load() {
		t.Fatal("run after close did not run the job")
	}
	p.close() // twice is fine
}

// A long line behind stuck workers drains: each one that counts as stuck
// lets one more run, and handing them the line requeues nothing.
func TestFlushPoolLongLineBehindStuckWorkers(t *testing.T) {
	p := newFlushPool(1, 10*time.Millisecond, time.Minute)
	defer p.close()
	var wg sync.WaitGroup
	release := make(chan struct{})
	var running, most atomic.Int32
	const n = 100
	wg.Add(n)
	for range n {
		p.run(&testJob{turns: 1, done: &wg, run: func(int) {
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			<-release
			running.Add(-1)
		}})
	}
	waitFor(t, "the line did not get past its stuck workers", 10*time.Second, func() bool { return most.Load() == n })
	close(release)
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if left := len(p.queue) - p.head; left != 0 {
		t.Fatalf("%d jobs still in line after all finished", left)
	}
}

// A line that never empties (more busy writers than workers) keeps its
// array bounded: taking from it moves the rest to the front.
func TestFlushPoolLineStaysBounded(t *testing.T) {
	p := &flushPool{limit: 1, all: map[*flushWorker]struct{}{}}
	for range 8 {
		p.queue = append(p.queue, &testJob{})
	}
	for range 10000 { // take one, put it back: the line stays 8 long
		p.queue = append(p.queue, p.popLocked())
	}
	if len(p.queue)-p.head != 8 || cap(p.queue) > 64 {
		t.Fatalf("line of 8 after 10,000 turns: len %d, head %d, cap %d", len(p.queue), p.head, cap(p.queue))
	}
}
