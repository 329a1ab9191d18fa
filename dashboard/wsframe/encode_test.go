package wsframe

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
)

// The frames the encoder writes read back through fasthttp/websocket's
// client, the other side of a real socket: lengths at each header form's
// edges, control frames, a close with a reason cut at a rune boundary.
func TestEncodeReadsBackInTheLibrary(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 0xffff, 0x10000, 200000}
	longReason := strings.Repeat("é", 100) // 200 bytes
	var out []byte
	for _, n := range sizes {
		out = append(AppendHeader(out, Text, n), bytes.Repeat([]byte{'a'}, n)...)
	}
	out = AppendControl(out, Ping, []byte(strings.Repeat("p", 200)))
	out = AppendClose(out, 4001, longReason)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_, _ = c.NetConn().Write(out) // our frames, not the library's
		_, _, _ = c.ReadMessage()     // until the client goes
		_ = c.Close()
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var ping string
	ws.SetPingHandler(func(p string) error { ping = p; return nil })
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, n := range sizes {
		typ, p, err := ws.ReadMessage()
		if err != nil || typ != websocket.TextMessage || len(p) != n {
			t.Fatalf("size %d: type %d, %d bytes, %v", n, typ, len(p), err)
		}
	}
	_, _, err = ws.ReadMessage()
	ce, ok := err.(*websocket.CloseError)
	if !ok || ce.Code != 4001 {
		t.Fatalf("close: %v", err)
	}
	if len(ce.Text) != 122 || !utf8.ValidString(ce.Text) || !strings.HasPrefix(longReason, ce.Text) {
		t.Fatalf("reason cut to %d bytes (%q), want the 61 whole runes that fit", len(ce.Text), ce.Text)
	}
	if len(ping) != 125 {
		t.Fatalf("ping payload %d bytes, want cut to 125", len(ping))
	}
	if got := AppendClose(nil, 1005, "ignored"); !bytes.Equal(got, []byte{0x88, 0}) {
		t.Fatalf("close 1005: % x, want an empty body", got)
	}
}
