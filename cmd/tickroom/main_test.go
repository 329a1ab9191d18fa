package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any goroutine outlives the tests: every
// Node is shut down by its test, and Shutdown must stop everything it
// started (gateway handlers and writers, the presence loop, the bus, the
// embedded nats-server).
//
// Two known fasthttp background goroutines are ignored, both by the fasthttp
// function under their time.Sleep top frame (IgnoreTopFunction would have
// to ignore every sleeping goroutine):
//
//   - updateServerDate.func1 (header.go:2407): started once per process by
//     the first Server, refreshes the cached Date header every second and
//     never exits, by design.
//   - (*workerPool).Start.func2 (workerpool.go:60), the worker-pool
//     cleaner: Stop closes its stop channel, but it only looks between
//     sleeps of MaxIdleWorkerDuration (10s, not settable through Fiber), so
//     it outlives a clean shutdown by up to 10s and then exits.
//
// And one nats-server race, by the two goroutines a file-backed stream
// starts: a stream create the server is still working on when it shuts
// down (a client's API request already read, or a clustered stream
// assignment; tests stop servers under connected gateways and cluster
// peers) is added after shutdownJetStream has collected the streams to
// stop, because addStream does not check isShuttingDown (v2.15.2,
// stream.go). That stream's state-flush loop and the shared access-time
// ticker it registered then never stop. A whole leaked server would still
// be caught by its other goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// VerifyTestMain exits the process: remove the deployment tests'
		// tickroom binary first.
		goleak.Cleanup(func(code int) { removeBuiltBinary(); os.Exit(code) }),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}
