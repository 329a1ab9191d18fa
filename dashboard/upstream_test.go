package dashboard

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/lograte"
	"github.com/tickroom/tickroom/internal/natsbus"
)

func testUpstream() *upstream {
	return &upstream{maxSize: 64 << 10, metrics: newMetrics(),
		log: &lograte.Limiter{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Every: time.Second}}
}

// A producer's pretty-printed JSON must not break the '\n' framing.
func TestEncodeCompactsMultilinePayloads(t *testing.T) {
	u := testUpstream()
	pretty := "{\r\n  \"symbol\": \"AAPL\",\n  \"price\": 189.5,\n  \"note\": \"a\\nb\"\n}\n"
	ev, err := u.encode(natsbus.Msg{Subject: "market.AAPL", Data: []byte(pretty)})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(ev.Frame, "\r\n") {
		t.Fatalf("frame holds a raw line break: %q", ev.Frame)
	}
	var got struct {
		Data struct {
			Note string `json:"note"`
		} `json:"data"`
	}
	if err := json.Unmarshal(ev.Frame, &got); err != nil || got.Data.Note != "a\nb" {
		t.Fatalf("frame %s decodes to %+v, %v", ev.Frame, got, err)
	}
}

func TestEncodeRefusesInvalidAndOversized(t *testing.T) {
	u := testUpstream()
	for name, m := range map[string]natsbus.Msg{
		"not json":         {Subject: "market.AAPL", Data: []byte("hello")},
		"wrong symbol":     {Subject: "market.AAPL", Data: []byte(`{"symbol":"MSFT","price":1}`)},
		"bad event header": {Subject: "feed.news", Data: []byte(`{}`), Event: "bad name"},
		"oversized":        {Subject: "feed.news", Data: append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 64<<10)...), '"', '}')},
		"bad subject":      {Subject: "market..AAPL", Data: []byte(`{"symbol":"AAPL","price":1}`)},
	} {
		if _, err := u.encode(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
