package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The gateway serves these paths; the page and the browser tests need them.
func TestFilesEmbedded(t *testing.T) {
	for _, name := range []string{
		"index.html", "style.css", "tickroom.js", "app.js", "chat.js", "board.js", "chart.js",
		"panels.js", "session.js", "format.js", "store.js", "candles.js", "theme.js", "layout.js", "prefs.js", "search.js",
		"vendor/lightweight-charts/lightweight-charts.standalone.production.js",
		"vendor/lightweight-charts/LICENSE", "vendor/lightweight-charts/NOTICE",
	} {
		if b, err := fs.ReadFile(Files(), name); err != nil || len(b) < 2 {
			t.Errorf("%s: embedded %d bytes, err %v", name, len(b), err)
		}
	}
	for _, name := range []string{"tickroom_test.mjs", "format_test.mjs"} {
		if _, err := fs.Stat(Files(), name); err == nil {
			t.Errorf("%s: node tests must not be served", name)
		}
	}
}

// The CSP forbids inline script and style attributes in markup; user text
// must reach the DOM as text. Guard the page against regressions.
func TestCSPSafeMarkupAndScripts(t *testing.T) {
	html, err := fs.ReadFile(Files(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]*regexp.Regexp{
		"inline <script>":      regexp.MustCompile(`<script(?:\s+type="module")?\s*>`),
		"inline event handler": regexp.MustCompile(`\son[a-z]+\s*=`),
		"style attribute":      regexp.MustCompile(`\sstyle\s*=`),
		"<style> element":      regexp.MustCompile(`<style`),
	}
	for what, re := range checks {
		if loc := re.FindIndex(html); loc != nil {
			t.Errorf("index.html has %s: %q", what, html[loc[0]:min(len(html), loc[1]+30)])
		}
	}
	for _, label := range []string{`aria-label="Chat messages"`, `aria-label="Message"`, `aria-label="Connection status"`, `aria-label="Tickers"`,
		`aria-label="Interval"`, `aria-label="Order book"`, `aria-label="Time and sales"`, `aria-label="Symbol search"`, `role="alert"`} {
		if !strings.Contains(string(html), label) {
			t.Errorf("index.html lacks %s", label)
		}
	}
	unsafe := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	entries, _ := fs.ReadDir(Files(), ".")
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		b, _ := fs.ReadFile(Files(), e.Name())
		if loc := unsafe.FindIndex(b); loc != nil {
			t.Errorf("%s uses %q; build DOM nodes and set textContent instead", e.Name(), b[loc[0]:loc[1]])
		}
	}
}
