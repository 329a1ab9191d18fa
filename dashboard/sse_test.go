package dashboard

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

func TestParseResumeID(t *testing.T) {
	got := parseResumeID("chat.lobby=1042, alert.*=77,bad,=3,market.X=x,chat..y=5,chat.z=")
	want := map[string]uint64{"chat.lobby": 1042, "alert.*": 77}
	if !maps.Equal(got, want) {
		t.Errorf("parseResumeID = %v, want %v", got, want)
	}
	if got := parseResumeID(""); len(got) != 0 {
		t.Errorf("parseResumeID(\"\") = %v, want empty", got)
	}
}

func TestSSEStarts(t *testing.T) {
	ten := uint64(10)
	chans := []string{"chat.lobby", "alert.*", "market.*", "candle.AAPL"}
	got := sseStarts(chans, &ten, map[string]uint64{"chat.lobby": 42, "market.*": 9, "chat.other": 1})
	want := map[string]uint64{"chat.lobby": 42, "alert.*": 10, "candle.AAPL": 10}
	if !maps.Equal(got, want) {
		t.Errorf("sseStarts = %v, want %v", got, want)
	}
	got = sseStarts(chans, nil, map[string]uint64{"alert.*": 3})
	if want := map[string]uint64{"alert.*": 3}; !maps.Equal(got, want) {
		t.Errorf("sseStarts without since = %v, want %v", got, want)
	}
}

func TestResumePoints(t *testing.T) {
	r := newResumePoints([]string{"market.*", "chat.lobby", "chat.*", "alert.*"}, map[string]uint64{"alert.*": 5})
	id := func() string { return string(r.appendID(nil)) }
	if got := id(); got != "alert.*=5" {
		t.Fatalf("initial id %q", got)
	}
	if r.observe(&hub.Event{Channel: "market.AAPL"}) {
		t.Error("a tick moved a resume point")
	}
	if !r.observe(&hub.Event{Channel: "chat.lobby", Seq: 7}) {
		t.Error("chat.lobby seq 7 did not move")
	}
	if got := id(); got != "chat.lobby=7,chat.*=7,alert.*=5" {
		t.Errorf("id %q", got)
	}
	if !r.observe(&hub.Event{Channel: "chat.desk", Seq: 8}) {
		t.Error("chat.desk seq 8 did not move chat.*")
	}
	if r.observe(&hub.Event{Channel: "chat.lobby", Seq: 7}) || r.observe(&hub.Event{Channel: "alert.X", Seq: 4}) {
		t.Error("an old seq moved a resume point")
	}
	if got := id(); got != "chat.lobby=7,chat.*=8,alert.*=5" {
		t.Errorf("id %q", got)
	}
	// What is written is what is read back.
	if got, want := parseResumeID(id()), map[string]uint64{"chat.lobby": 7, "chat.*": 8, "alert.*": 5}; !maps.Equal(got, want) {
		t.Errorf("round trip %v, want %v", got, want)
	}
}

func TestAppendSSEData(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, "data: {\"a\":1}\n\n"},
		{"{\"a\":\n1}", "data: {\"a\":\ndata: 1}\n\n"},
		{"{\r\n\"a\":1\r}", "data: {\ndata: \"a\":1\ndata: }\n\n"},
	} {
		if got := string(appendSSEData(nil, []byte(c.in))); got != c.want {
			t.Errorf("appendSSEData(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSSESubscribeReply(t *testing.T) {
	var ok struct {
		Op, Channel string
		OK          bool
	}
	if err := json.Unmarshal(sseSubscribeReply("chat.lobby", resumeOutcome{}, nil), &ok); err != nil || ok.Op != "subscribe" || ok.Channel != "chat.lobby" || !ok.OK {
		t.Errorf("ok reply: %+v %v", ok, err)
	}
	var resumed struct {
		OK        bool
		Recovered *bool
		Epoch     string
	}
	if err := json.Unmarshal(sseSubscribeReply("chat.lobby", resumeOutcome{Known: true, Epoch: "e1"}, nil), &resumed); err != nil ||
		!resumed.OK || resumed.Recovered == nil || *resumed.Recovered || resumed.Epoch != "e1" {
		t.Errorf("resumed reply: %+v %v", resumed, err)
	}
	var bad struct {
		Channel string
		OK      bool
		Error   protocol.Error
	}
	raw := sseSubscribeReply("chat.\"x\n", resumeOutcome{}, protocol.NewError(protocol.CodeBadRequest, "no"))
	if err := json.Unmarshal(raw, &bad); err != nil || bad.OK || bad.Channel != "chat.\"x\n" || bad.Error.Code != protocol.CodeBadRequest {
		t.Errorf("error reply %s: %+v %v", raw, bad, err)
	}
}

func TestHTTPStatusBothWays(t *testing.T) {
	for code, want := range map[string]int{
		protocol.CodeBadRequest: 400, protocol.CodeForbidden: 403, protocol.CodeTooLarge: 413,
		protocol.CodeRateLimited: 429, protocol.CodeUnavailable: 503, protocol.CodeInternal: 500,
	} {
		if got := httpStatus(code); got != want {
			t.Errorf("httpStatus(%s) = %d, want %d", code, got, want)
		}
		if code != protocol.CodeInternal && httpCode(want) != code {
			t.Errorf("httpCode(%d) = %s, want %s", want, httpCode(want), code)
		}
	}
	if httpCode(401) != protocol.CodeForbidden || httpCode(426) != protocol.CodeBadRequest || httpCode(418) != protocol.CodeInternal {
		t.Error("httpCode: 401 → forbidden, 426 → bad_request, anything unknown → internal")
	}
}

// FuzzParseResumeID: Last-Event-ID comes from the client. Parsing never
// panics, and what it accepts round-trips through the id we write.
func FuzzParseResumeID(f *testing.F) {
	for _, s := range []string{"", "chat.lobby=1042", "chat.lobby=1042,alert.*=77", "=", ",,", "chat.lobby=-1", "x=18446744073709551616", "chat.>=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := parseResumeID(id)
		for pattern, seq := range got {
			if strings.ContainsAny(pattern, ",=") || protocol.ValidateChannel(pattern, true) != nil {
				t.Fatalf("parseResumeID(%q) kept pattern %q (seq %d)", id, pattern, seq)
			}
		}
	})
}
