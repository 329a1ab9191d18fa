package dashboard

import "sync"

// bufferPool lends write buffers to connections only while they write, so
// an idle connection holds none (the websocket package's BufferPool).
var bufferPool = poolAdapter{}

type poolAdapter struct{ p sync.Pool }

func (a *poolAdapter) Get() interface{}  { return a.p.Get() }
func (a *poolAdapter) Put(x interface{}) { a.p.Put(x) }
