package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// tickroom.js imports its parts from client/; the gateway must serve them,
// and they follow the same rules as the page's own scripts.
func TestClientModulesEmbedded(t *testing.T) {
	imports := regexp.MustCompile(`from '\./(client/[a-z]+\.js)'`)
	main, err := fs.ReadFile(Files(), "tickroom.js")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range imports.FindAllSubmatch(main, -1) {
		want[string(m[1])] = true
	}
	for _, name := range []string{"client/transport.js", "client/requests.js", "client/subscriptions.js", "client/events.js"} {
		if !want[name] {
			t.Errorf("tickroom.js does not import %s", name)
		}
	}
	unsafe := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	err = fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") || strings.HasPrefix(path, "vendor/") {
			return err
		}
		delete(want, path)
		b, _ := fs.ReadFile(Files(), path)
		if loc := unsafe.FindIndex(b); loc != nil {
			t.Errorf("%s uses %q; build DOM nodes and set textContent instead", path, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("%s is imported by tickroom.js but not embedded", name)
	}
	for _, name := range []string{"chat_test.mjs", "testfakes.mjs"} {
		if _, err := fs.Stat(Files(), name); err == nil {
			t.Errorf("%s is served; node tests and their fakes must not be", name)
		}
	}
	if _, err := fs.Stat(Files(), "chatlog.js"); err != nil {
		t.Errorf("chatlog.js (chat.js's data) is not embedded: %v", err)
	}
}
