package dashboard

import "sync"

// topicMap holds one value per open topic, by its pattern: the last-value
// caches, the recent windows and the chat room indexes. A topic that
// closes removes only its own value, because a newer topic of the same
// pattern may already have put one (a client re-subscribing while the old
// topic drains). Safe for concurrent use; the zero value is ready.
type topicMap[T comparable] struct {
	mu sync.Mutex
	m  map[string]T
}

// put makes v the value of pattern, replacing any.
func (t *topicMap[T]) put(pattern string, v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]T{}
	}
	t.m[pattern] = v
}

// remove forgets pattern's value if it is still v.
func (t *topicMap[T]) remove(pattern string, v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[pattern] == v {
		delete(t.m, pattern)
	}
}

// get is pattern's value, or the zero T.
func (t *topicMap[T]) get(pattern string) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[pattern]
}

// where is the values that match, in no order.
func (t *topicMap[T]) where(match func(T) bool) []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]T, 0, len(t.m))
	for _, v := range t.m {
		if match(v) {
			out = append(out, v)
		}
	}
	return out
}
