package dashboard

import "sync"

// tracker counts the goroutines and connection handlers a Server's
// Shutdown waits for. It is the one way to start one: enter (or Go)
// refuses once Shutdown has begun, so nothing new starts while Shutdown
// waits, and an enter never races the wait from zero.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// enter counts one more running thing, unless the tracker is closed. The
// caller calls leave when it ends.
func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) leave() { t.wg.Done() }

// Go runs fn in a counted goroutine; false (and fn not run) after close.
func (t *tracker) Go(fn func()) bool {
	if !t.enter() {
		return false
	}
	go func() {
		defer t.leave()
		fn()
	}()
	return true
}

// close refuses everything new; wait then waits for what runs.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

func (t *tracker) wait() { t.wg.Wait() }
