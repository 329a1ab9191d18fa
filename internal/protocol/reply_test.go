package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// checkReply asserts that reply is one valid UTF-8 JSON object whose id is
// exactly id (absent when id is empty) and whose ok is wantOK.
func checkReply(t testing.TB, reply []byte, id json.RawMessage, wantOK bool) map[string]json.RawMessage {
	t.Helper()
	if !utf8.Valid(reply) {
		t.Fatalf("reply is not UTF-8: %q", reply)
	}
	if !json.Valid(reply) {
		t.Fatalf("reply is not valid JSON: %s", reply)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(reply, &m); err != nil || m == nil {
		t.Fatalf("reply %s is not an object: %v", reply, err)
	}
	gotID, hasID := m["id"]
	if len(id) == 0 {
		if hasID {
			t.Fatalf("reply %s carries an id, want none", reply)
		}
	} else if string(gotID) != string(id) {
		t.Fatalf("reply %s id %s, want verbatim %s", reply, gotID, id)
	}
	var ok bool
	if err := json.Unmarshal(m["ok"], &ok); err != nil || ok != wantOK {
		t.Fatalf("reply %s ok=%s, want %v", reply, m["ok"], wantOK)
	}
	if !wantOK {
		var e Error
		if err := json.Unmarshal(m["error"], &e); err != nil || e.Code == "" {
			t.Fatalf("reply %s has no error code: %v", reply, err)
		}
	}
	return m
}

func TestAppendOK(t *testing.T) {
	for _, id := range []string{``, `1`, `"abc"`, `-1.5e3`, `"\u00e9\"x"`, `12345678901234567890123`} {
		got := AppendOK(nil, json.RawMessage(id))
		checkReply(t, got, json.RawMessage(id), true)
		if id == "" && string(got) != `{"ok":true}` {
			t.Errorf("AppendOK(nil, empty) = %s", got)
		}
		if id == "1" && string(got) != `{"id":1,"ok":true}` {
			t.Errorf("AppendOK(nil, 1) = %s", got)
		}
	}
	// Appends, never overwrites.
	got := AppendOK([]byte("x\n"), json.RawMessage(`7`))
	if string(got) != "x\n"+`{"id":7,"ok":true}` {
		t.Errorf("AppendOK onto a prefix = %q", got)
	}
}

func TestAppendOKSeq(t *testing.T) {
	for _, seq := range []uint64{0, 1, 1042, 1<<64 - 1} {
		got := AppendOKSeq(nil, json.RawMessage(`5`), seq)
		m := checkReply(t, got, json.RawMessage(`5`), true)
		var s uint64
		if err := json.Unmarshal(m["seq"], &s); err != nil || s != seq {
			t.Errorf("AppendOKSeq seq=%d: %s", seq, got)
		}
	}
	if got := AppendOKSeq(nil, json.RawMessage(`5`), 1042); string(got) != `{"id":5,"ok":true,"seq":1042}` {
		t.Errorf("AppendOKSeq = %s", got)
	}
	checkReply(t, AppendOKSeq(nil, nil, 3), nil, true)
}

func TestAppendError(t *testing.T) {
	codes := []string{CodeBadRequest, CodeUnknownOp, CodeForbidden, CodeNotFound,
		CodeTooLarge, CodeRateLimited, CodeUnavailable, CodeInternal}
	for _, code := range codes {
		for _, id := range []string{``, `5`, `"x"`} {
			e := NewError(code, "something <went> \"wrong\" \n\u2028 é")
			got := AppendError(nil, json.RawMessage(id), e)
			m := checkReply(t, got, json.RawMessage(id), false)
			var de Error
			if err := json.Unmarshal(m["error"], &de); err != nil || de != *e {
				t.Errorf("AppendError error = %s, want %+v", m["error"], *e)
			}
		}
	}
	// A message that is not UTF-8 (e.g. a truncated client value) still
	// yields valid UTF-8 JSON.
	got := AppendError(nil, nil, NewError(CodeUnknownOp, "unknown op \"\xc3"))
	checkReply(t, got, nil, false)

	want := `{"id":5,"ok":false,"error":{"code":"rate_limited","message":"slow down"}}`
	if got := AppendError(nil, json.RawMessage(`5`), NewError(CodeRateLimited, "slow down")); string(got) != want {
		t.Errorf("AppendError = %s, want %s", got, want)
	}
	if e := NewError(CodeForbidden, "no"); e.Error() != "forbidden: no" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestAppendOKField(t *testing.T) {
	tests := []struct {
		field string
		raw   string
	}{
		{"messages", `[]`},
		{"messages", `[{"channel":"chat.lobby","event":"chat","seq":1,"data":{"user":"ana","text":"hi"}}]`},
		{"users", `["ana","bob"]`},
		{"users", `null`},
	}
	for _, tt := range tests {
		got := AppendOKField(nil, json.RawMessage(`6`), tt.field, []byte(tt.raw))
		m := checkReply(t, got, json.RawMessage(`6`), true)
		if string(m[tt.field]) != tt.raw {
			t.Errorf("AppendOKField field %s = %s, want %s", tt.field, m[tt.field], tt.raw)
		}
	}
	want := `{"id":7,"ok":true,"users":["ana","bob"]}`
	if got := AppendOKField(nil, json.RawMessage(`7`), "users", []byte(`["ana","bob"]`)); string(got) != want {
		t.Errorf("AppendOKField = %s, want %s", got, want)
	}
}

func TestAppendEvent(t *testing.T) {
	ts := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	tests := []struct {
		name    string
		channel string
		event   string
		seq     uint64
		t       time.Time
		data    string
		want    string
	}{
		{"tick", "market.AAPL", "market", 0, ts, `{"symbol":"AAPL","price":189.32}`,
			`{"channel":"market.AAPL","event":"market","time":"2026-11-26T11:00:00.123Z","data":{"symbol":"AAPL","price":189.32}}`},
		{"chat", "chat.lobby", "chat", 1042, ts, `{"user":"ana","text":"hi","msgid":"c1-000017"}`,
			`{"channel":"chat.lobby","event":"chat","seq":1042,"time":"2026-11-26T11:00:00.123Z","data":{"user":"ana","text":"hi","msgid":"c1-000017"}}`},
		{"join no time no seq", "chat.lobby", EventJoin, 0, time.Time{}, `{"user":"bob"}`,
			`{"channel":"chat.lobby","event":"join","data":{"user":"bob"}}`},
		{"welcome no channel", "", EventWelcome, 0, time.Time{}, `{"user":"ana","session":"s-1","node":"gw-1","protocol":1,"heartbeat_ms":20000}`,
			`{"event":"welcome","data":{"user":"ana","session":"s-1","node":"gw-1","protocol":1,"heartbeat_ms":20000}}`},
		{"no data", "chat.lobby", EventStatus, 3, time.Time{}, ``,
			`{"channel":"chat.lobby","event":"status","seq":3}`},
		{"max seq", "alert.AAPL", "alert", 1<<64 - 1, time.Unix(0, 0), `{}`,
			`{"channel":"alert.AAPL","event":"alert","seq":18446744073709551615,"time":"1970-01-01T00:00:00.000Z","data":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendEvent(nil, tt.channel, tt.event, tt.seq, tt.t, []byte(tt.data))
			if string(got) != tt.want {
				t.Fatalf("AppendEvent =\n %s\nwant\n %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			var ev struct {
				Channel *string         `json:"channel"`
				Event   string          `json:"event"`
				Seq     *uint64         `json:"seq"`
				Time    *string         `json:"time"`
				Data    json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(got, &ev); err != nil {
				t.Fatal(err)
			}
			if (ev.Channel != nil) != (tt.channel != "") || ev.Channel != nil && *ev.Channel != tt.channel {
				t.Errorf("channel = %v, want %q", ev.Channel, tt.channel)
			}
			if ev.Event != tt.event {
				t.Errorf("event = %q, want %q", ev.Event, tt.event)
			}
			if (ev.Seq != nil) != (tt.seq != 0) || ev.Seq != nil && *ev.Seq != tt.seq {
				t.Errorf("seq = %v, want %d (omitted when zero)", ev.Seq, tt.seq)
			}
			if (ev.Time != nil) != !tt.t.IsZero() {
				t.Errorf("time = %v, want present=%v", ev.Time, !tt.t.IsZero())
			}
			if ev.Time != nil {
				pt, err := time.Parse(time.RFC3339Nano, *ev.Time)
				if err != nil || !pt.Equal(tt.t.Truncate(time.Millisecond)) {
					t.Errorf("time %q does not round-trip to %v: %v", *ev.Time, tt.t, err)
				}
			}
			if string(ev.Data) != tt.data {
				t.Errorf("data = %s, want %s", ev.Data, tt.data)
			}
		})
	}
	// Several events batched into one frame are split on '\n' by the client.
	var frame []byte
	frame = AppendEvent(frame, "market.AAPL", "market", 0, ts, []byte(`{"price":1}`))
	frame = append(frame, '\n')
	frame = AppendEvent(frame, "chat.lobby", "chat", 9, ts, []byte(`{"text":"a\nb"}`))
	for _, line := range bytes.Split(frame, []byte("\n")) {
		if !json.Valid(line) {
			t.Errorf("batched line is not JSON: %s", line)
		}
	}
}

func TestWelcomeJSON(t *testing.T) {
	w := Welcome{User: "ana", Session: "s-1", Node: "gw-1", Protocol: Version, HeartbeatMS: 20000}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"user":"ana","session":"s-1","node":"gw-1","protocol":1,"heartbeat_ms":20000}`
	if string(b) != want {
		t.Errorf("Welcome = %s, want %s", b, want)
	}
	if Subprotocol != "tickroom.v1" {
		t.Errorf("Subprotocol = %q", Subprotocol)
	}
}

func TestCloseError(t *testing.T) {
	tests := []struct {
		c    Close
		want string
	}{
		{Close{CloseSlowConsumer, "slow consumer"}, "close 4000: slow consumer"},
		{Close{CloseNormal, ""}, "close 1000: "},
		{Close{0, "x"}, "close 0: x"},
		{Close{-12, "x"}, "close -12: x"},
	}
	for _, tt := range tests {
		if got := tt.c.Error(); got != tt.want {
			t.Errorf("Close.Error() = %q, want %q", got, tt.want)
		}
	}
	for code, want := range map[int]int{
		CloseNormal: 1000, CloseGoingAway: 1001, CloseUnsupportedData: 1003, ClosePolicy: 1008,
		CloseTooLarge: 1009, CloseInternal: 1011, CloseTryAgainLater: 1013, CloseSlowConsumer: 4000,
	} {
		if code != want {
			t.Errorf("close code %d, want %d", code, want)
		}
	}
}

var sinkBuf []byte

func BenchmarkAppendEvent(b *testing.B) {
	ts := time.Date(2026, 11, 26, 12, 0, 0, 123e6, time.UTC)
	data := []byte(`{"symbol":"AAPL","price":189.32,"bid":189.31,"ask":189.33,"size":100,"volume":1200345,"time":"2026-11-26T12:00:00.123Z"}`)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], "market.AAPL", "market", 1042, ts, data)
	}
	sinkBuf = buf
}

func TestAppendEventNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation")
	}
	ts := time.Date(2026, 11, 26, 12, 0, 0, 123e6, time.UTC)
	data := []byte(`{"symbol":"AAPL","price":189.32}`)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendEvent(buf[:0], "market.AAPL", "market", 1042, ts, data)
	})
	if allocs != 0 {
		t.Errorf("AppendEvent into a reused buffer: %v allocs, want 0", allocs)
	}
}
