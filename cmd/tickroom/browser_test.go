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

// newBrowser starts one headless Chromium for the test and returns its
// context; every page made from it with newPage gets its own cookies and
// storage, like two people on two machines.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
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
	})
	return ctx
}

func newPage(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return ctx
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
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 90)); err != nil {
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
