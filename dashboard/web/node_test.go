package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeClientTests runs the node tests of the browser client library and
// the chat panel (*_test.mjs: a fake WebSocket, EventSource and DOM; see
// testfakes.mjs) with `node --test`. Without node it skips with a message —
// unless TICKROOM_REQUIRE_NODE is set (as .ci/run does), in which case the
// missing tool is a failure.
func TestNodeClientTests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		msg := "node not found in PATH: the client library's node tests (dashboard/web/*_test.mjs) did not run"
		if os.Getenv("TICKROOM_REQUIRE_NODE") != "" {
			t.Fatal(msg + " — TICKROOM_REQUIRE_NODE is set, so this is a failure")
		}
		t.Skip(msg)
	}
	files, err := filepath.Glob("*_test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no node test files found (err %v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test"}, files...)...)
	cmd.WaitDelay = 5 * time.Second // a hung test's children must not keep go test waiting
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("node --test %v did not finish in time (a test left a timer or socket open?):\n%s", files, out)
	}
	if err != nil {
		t.Fatalf("node --test %v: %v\n%s", files, err, out)
	}
	if testing.Verbose() {
		t.Logf("node --test %v:\n%s", files, out)
	}
}
