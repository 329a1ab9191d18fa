package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// findChromium returns the browser binary, or skips the test with a clear
// message — unless TICKROOM_REQUIRE_BROWSER is set (as .ci/run does), in
// which case a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser test needs Chromium (Debian: apt-get install chromium); .ci/run installs it"
	if os.Getenv("TICKROOM_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + " — TICKROOM_REQUIRE_BROWSER is set, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

// newPage starts a headless Chromium of its own and returns its page
// context. Each has its own profile — cookies and storage — like two people
// on two machines.
func newPage(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	// Not t.TempDir: Chromium's helper processes can still be writing to
	// the profile for a moment after the browser exited, which failed
	// TempDir's cleanup ("directory not empty") in a CI run.
	profile, err := os.MkdirTemp("", "tickroom-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1440, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		removeProfile(t, profile)
	})
	return ctx
}

// removeProfile removes a browser profile, retrying while late writes
// land; what is left after that is logged, not failed.
func removeProfile(t *testing.T, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("browser profile %s not removed: %v", dir, err)
}

// run runs actions with a deadline so a broken page fails the test rather
// than hanging it.
func run(t *testing.T, page context.Context, timeout time.Duration, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, timeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		screenshot(t, page, "failure")
		t.Fatalf("browser: %v", err)
	}
}

// byName selects the element whose accessible name is name: aria-label,
// aria-labelledby or a <label for>. It is how a person (or a screen
// reader) finds the message box, not how the markup happens to be nested.
func byName(name string) string {
	return fmt.Sprintf(`[aria-label=%q]`, name)
}

// textOf returns the visible text of the element with the accessible name.
func textOf(name string, out *string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%q)||{}).innerText||""`, byName(name)), out)
}

// waitText polls until the named element's text contains want.
func waitText(name, want string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var got string
		for {
			if err := chromedp.Run(ctx, textOf(name, &got)); err != nil {
				return err
			}
			if strings.Contains(got, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%q never contained %q; it shows %q: %w", name, want, truncateText(got), ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func truncateText(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// screenshot saves a full-page PNG as a test artifact (TICKROOM_ARTIFACTS,
// or the test's temp dir).
func screenshot(t *testing.T, page context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("TICKROOM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	var png []byte
	ctx, cancel := context.WithTimeout(page, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(dir, t.Name()+"-"+name+".png")
	path = strings.ReplaceAll(path, "/"+t.Name(), "/"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}

// waitState polls until the connection status element reports state (its
// data-state: connecting, connected, reconnecting, offline).
func waitState(want string) chromedp.Action {
	return pollState("status "+want, func(got string) bool { return got == want })
}

// waitStateNot polls until the status leaves state.
func waitStateNot(state string) chromedp.Action {
	return pollState("status not "+state, func(got string) bool { return got != state })
}

func pollState(what string, ok func(string) bool) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var got string
		expr := fmt.Sprintf(`(document.querySelector(%q)||{dataset:{}}).dataset.state||""`, byName("Connection status"))
		for {
			if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &got)); err != nil {
				return err
			}
			if ok(got) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: connection status stayed %q: %w", what, got, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// TestBrowserChat is the product's first promise: two people on the page,
// one types "hi" and presses Enter, the other sees it without a reload —
// and it is still there after the server restarts, while the pages
// reconnect by themselves.
func TestBrowserChat(t *testing.T) {
	findChromium(t) // skip before starting anything
	cfg := testConfig(t)
	n := startNode(t, cfg)

	ana, bob := newPage(t), newPage(t)
	run(t, ana, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"))
	run(t, bob, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=bob"), waitState("connected"))

	var before string
	run(t, bob, 5*time.Second, textOf("Chat messages", &before))
	if strings.Contains(before, "hi") {
		t.Fatalf("bob's chat shows %q before anyone typed", before)
	}
	run(t, ana, 10*time.Second, chromedp.SendKeys(byName("Message"), "hi"+kb.Enter))
	run(t, bob, 10*time.Second, waitText("Chat messages", "hi"))
	run(t, bob, 5*time.Second, waitText("Chat messages", "ana"))

	// Restart the server on the same address and data: the pages notice,
	// reconnect by themselves, and chat goes on.
	addr := n.ln.Addr().String()
	shutdownNode(t, n)
	run(t, ana, 10*time.Second, waitStateNot("connected"))
	cfg.Addr = addr
	n2 := startNode(t, cfg)
	// Someone speaks the moment the server is back, likely before the
	// pages have reconnected: they must catch up (resume with since).
	carol := dial(t, n2, "carol", dialOpts{})
	carol.welcome()
	carol.publish("chat.lobby", "said while you were away", "carol-1")
	run(t, ana, 30*time.Second, waitState("connected"))
	run(t, bob, 30*time.Second, waitState("connected"))
	run(t, ana, 10*time.Second, chromedp.SendKeys(byName("Message"), "back after the restart"+kb.Enter))
	run(t, bob, 10*time.Second, waitText("Chat messages", "back after the restart"),
		waitText("Chat messages", "said while you were away"))

	// A fresh load shows both, from the durable history.
	run(t, bob, 30*time.Second, chromedp.Reload(), waitState("connected"),
		waitText("Chat messages", "back after the restart"), waitText("Chat messages", "hi"))
	// Exactly once each: resume and history must not duplicate.
	var counts []int
	run(t, bob, 5*time.Second, chromedp.Evaluate(`['hi', 'back after the restart'].map(w =>
		[...document.querySelectorAll('[aria-label="Chat messages"] .text')].filter(e => e.textContent.trim() === w).length)`, &counts))
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 1 {
		t.Errorf("messages shown %v times after reconnect and reload, want exactly once each", counts)
	}
	screenshot(t, bob, "chat")
}
