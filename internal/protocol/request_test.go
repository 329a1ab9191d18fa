package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeRequestValid(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name  string
		frame string
		want  Request
	}{
		{"subscribe", `{"op":"subscribe","id":1,"channel":"market.AAPL"}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`1`), Channel: "market.AAPL"}},
		{"subscribe star", `{"op":"subscribe","id":2,"channel":"market.*"}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`2`), Channel: "market.*"}},
		{"subscribe gt", `{"op":"subscribe","id":2,"channel":"feed.>"}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`2`), Channel: "feed.>"}},
		{"subscribe since", `{"op":"subscribe","id":3,"channel":"chat.lobby","since":1041}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`3`), Channel: "chat.lobby", Since: u(1041)}},
		{"subscribe since zero", `{"op":"subscribe","id":3,"channel":"candle.AAPL","since":0}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`3`), Channel: "candle.AAPL", Since: u(0)}},
		{"subscribe since wildcard persisted", `{"op":"subscribe","id":3,"channel":"alert.*","since":5}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`3`), Channel: "alert.*", Since: u(5)}},
		{"subscribe since null", `{"op":"subscribe","id":3,"channel":"market.AAPL","since":null}`,
			Request{Op: OpSubscribe, ID: json.RawMessage(`3`), Channel: "market.AAPL"}},
		{"unsubscribe", `{"op":"unsubscribe","id":4,"channel":"market.AAPL"}`,
			Request{Op: OpUnsubscribe, ID: json.RawMessage(`4`), Channel: "market.AAPL"}},
		{"unsubscribe wildcard", `{"op":"unsubscribe","id":4,"channel":"market.*"}`,
			Request{Op: OpUnsubscribe, ID: json.RawMessage(`4`), Channel: "market.*"}},
		{"publish", `{"op":"publish","id":5,"channel":"chat.lobby","data":{"text":"hi"},"msgid":"c1-000017"}`,
			Request{Op: OpPublish, ID: json.RawMessage(`5`), Channel: "chat.lobby", Data: json.RawMessage(`{"text":"hi"}`), MsgID: "c1-000017"}},
		{"history", `{"op":"history","id":6,"channel":"chat.lobby","before":1041,"limit":50}`,
			Request{Op: OpHistory, ID: json.RawMessage(`6`), Channel: "chat.lobby", Before: 1041, Limit: 50}},
		{"history default limit", `{"op":"history","id":6,"channel":"chat.lobby"}`,
			Request{Op: OpHistory, ID: json.RawMessage(`6`), Channel: "chat.lobby", Limit: DefaultHistoryLimit}},
		{"history clamp", `{"op":"history","id":6,"channel":"alert.AAPL","limit":100000}`,
			Request{Op: OpHistory, ID: json.RawMessage(`6`), Channel: "alert.AAPL", Limit: MaxHistoryLimit}},
		{"history max", `{"op":"history","id":6,"channel":"candle.AAPL","limit":500}`,
			Request{Op: OpHistory, ID: json.RawMessage(`6`), Channel: "candle.AAPL", Limit: 500}},
		{"history one", `{"op":"history","id":6,"channel":"candle.AAPL","limit":1}`,
			Request{Op: OpHistory, ID: json.RawMessage(`6`), Channel: "candle.AAPL", Limit: 1}},
		{"presence", `{"op":"presence","id":7,"channel":"chat.lobby"}`,
			Request{Op: OpPresence, ID: json.RawMessage(`7`), Channel: "chat.lobby"}},
		{"ping", `{"op":"ping","id":8}`, Request{Op: OpPing, ID: json.RawMessage(`8`)}},
		{"ping no id", `{"op":"ping"}`, Request{Op: OpPing}},
		{"ping string id", `{"op":"ping","id":"abc"}`, Request{Op: OpPing, ID: json.RawMessage(`"abc"`)}},
		{"ping float id", `{"op":"ping","id":-1.5e3}`, Request{Op: OpPing, ID: json.RawMessage(`-1.5e3`)}},
		{"surrounding whitespace", " \n\t{\"op\":\"ping\",\"id\":8}\r\n ", Request{Op: OpPing, ID: json.RawMessage(`8`)}},
		{"unknown fields ignored", `{"op":"ping","id":8,"extra":[1,2,{"x":null}]}`, Request{Op: OpPing, ID: json.RawMessage(`8`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.frame))
			if err != nil {
				t.Fatalf("DecodeRequest(%s) error %v", tt.frame, err)
			}
			if !requestsEqual(got, tt.want) {
				t.Fatalf("DecodeRequest(%s)\n got %+v\nwant %+v", tt.frame, show(got), show(tt.want))
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		code  string
		id    string // "" means no id must be echoed
	}{
		{"empty", ``, CodeBadRequest, ""},
		{"whitespace", "  \n", CodeBadRequest, ""},
		{"not JSON", `hello`, CodeBadRequest, ""},
		{"JSON array", `[{"op":"ping","id":1}]`, CodeBadRequest, ""},
		{"JSON string", `"ping"`, CodeBadRequest, ""},
		{"JSON number", `42`, CodeBadRequest, ""},
		{"JSON null", `null`, CodeBadRequest, ""},
		{"truncated object", `{"op":"ping","id":1`, CodeBadRequest, ""},
		{"trailing garbage", `{"op":"ping","id":1} xyz`, CodeBadRequest, ""},
		{"two objects", `{"op":"ping","id":1}{"op":"ping","id":2}`, CodeBadRequest, ""},
		{"two objects newline", "{\"op\":\"ping\",\"id\":1}\n{\"op\":\"ping\",\"id\":2}", CodeBadRequest, ""},
		{"no op", `{"id":1}`, CodeBadRequest, "1"},
		{"no op no id", `{}`, CodeBadRequest, ""},
		{"empty op", `{"op":"","id":1}`, CodeBadRequest, "1"},
		{"unknown op keeps id", `{"op":"dance","id":9}`, CodeUnknownOp, "9"},
		{"unknown op string id", `{"op":"dance","id":"q-1"}`, CodeUnknownOp, `"q-1"`},
		{"unknown op no id", `{"op":"dance"}`, CodeUnknownOp, ""},
		{"op case sensitive", `{"op":"PING","id":9}`, CodeUnknownOp, "9"},
		{"id object rejected", `{"op":"ping","id":{"a":1}}`, CodeBadRequest, ""},
		{"id array rejected", `{"op":"ping","id":[1]}`, CodeBadRequest, ""},
		{"id bool rejected", `{"op":"ping","id":true}`, CodeBadRequest, ""},
		{"id null rejected", `{"op":"ping","id":null}`, CodeBadRequest, ""},
		{"id huge number rejected", `{"op":"ping","id":1e999}`, CodeBadRequest, ""},
		{"id long string rejected", `{"op":"ping","id":"` + strings.Repeat("x", 65) + `"}`, CodeBadRequest, ""},
		{"id object with bad field", `{"op":"ping","id":{"a":1},"channel":5}`, CodeBadRequest, ""},
		{"op wrong type keeps id", `{"op":5,"id":10}`, CodeBadRequest, "10"},
		{"channel wrong type keeps id", `{"op":"subscribe","id":11,"channel":["market.AAPL"]}`, CodeBadRequest, "11"},
		{"since wrong type keeps id", `{"op":"subscribe","id":"s","channel":"chat.lobby","since":"1"}`, CodeBadRequest, `"s"`},
		{"since negative keeps id", `{"op":"subscribe","id":12,"channel":"chat.lobby","since":-1}`, CodeBadRequest, "12"},
		{"limit wrong type keeps id", `{"op":"history","id":13,"channel":"chat.lobby","limit":"x"}`, CodeBadRequest, "13"},
		{"limit fraction keeps id", `{"op":"history","id":13,"channel":"chat.lobby","limit":1.5}`, CodeBadRequest, "13"},
		{"msgid wrong type keeps id", `{"op":"publish","id":14,"channel":"chat.lobby","data":{"text":"a"},"msgid":1}`, CodeBadRequest, "14"},

		{"subscribe no channel", `{"op":"subscribe","id":20}`, CodeBadRequest, "20"},
		{"subscribe bad channel", `{"op":"subscribe","id":20,"channel":"market..AAPL"}`, CodeBadRequest, "20"},
		{"subscribe unknown kind", `{"op":"subscribe","id":20,"channel":"stocks.AAPL"}`, CodeBadRequest, "20"},
		{"subscribe since market", `{"op":"subscribe","id":21,"channel":"market.AAPL","since":0}`, CodeBadRequest, "21"},
		{"subscribe since analytics", `{"op":"subscribe","id":21,"channel":"analytics.AAPL","since":3}`, CodeBadRequest, "21"},
		{"subscribe since feed wildcard", `{"op":"subscribe","id":21,"channel":"feed.>","since":3}`, CodeBadRequest, "21"},
		{"unsubscribe bad channel", `{"op":"unsubscribe","id":22,"channel":"*.x"}`, CodeBadRequest, "22"},
		{"publish wildcard", `{"op":"publish","id":23,"channel":"chat.*","data":{"text":"a"}}`, CodeBadRequest, "23"},
		{"publish no data", `{"op":"publish","id":23,"channel":"chat.lobby"}`, CodeBadRequest, "23"},
		{"publish data string", `{"op":"publish","id":23,"channel":"chat.lobby","data":"hi"}`, CodeBadRequest, "23"},
		{"publish data array", `{"op":"publish","id":23,"channel":"chat.lobby","data":[1]}`, CodeBadRequest, "23"},
		{"publish data null", `{"op":"publish","id":23,"channel":"chat.lobby","data":null}`, CodeBadRequest, "23"},
		{"publish data number", `{"op":"publish","id":23,"channel":"chat.lobby","data":1}`, CodeBadRequest, "23"},
		{"publish long msgid", `{"op":"publish","id":23,"channel":"chat.lobby","data":{"text":"a"},"msgid":"` + strings.Repeat("m", 65) + `"}`, CodeBadRequest, "23"},
		{"history wildcard", `{"op":"history","id":24,"channel":"chat.*"}`, CodeBadRequest, "24"},
		{"history market", `{"op":"history","id":24,"channel":"market.AAPL"}`, CodeBadRequest, "24"},
		{"history negative limit", `{"op":"history","id":24,"channel":"chat.lobby","limit":-1}`, CodeBadRequest, "24"},
		{"presence wildcard", `{"op":"presence","id":25,"channel":"chat.>"}`, CodeBadRequest, "25"},
		{"presence no channel", `{"op":"presence","id":25}`, CodeBadRequest, "25"},
		{"channel too long", `{"op":"subscribe","id":26,"channel":"feed.` + strings.Repeat("a", 300) + `"}`, CodeBadRequest, "26"},
		{"channel too many tokens", `{"op":"subscribe","id":26,"channel":"feed` + strings.Repeat(".a", 16) + `"}`, CodeBadRequest, "26"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.frame))
			if err == nil {
				t.Fatalf("DecodeRequest(%s) = %+v, want error %s", tt.frame, show(got), tt.code)
			}
			if err.Code != tt.code {
				t.Fatalf("DecodeRequest(%s) code %q (%v), want %q", tt.frame, err.Code, err, tt.code)
			}
			if err.Message == "" {
				t.Fatalf("DecodeRequest(%s): empty message", tt.frame)
			}
			if string(got.ID) != tt.id {
				t.Fatalf("DecodeRequest(%s) id %q, want %q", tt.frame, got.ID, tt.id)
			}
			checkReply(t, AppendError(nil, got.ID, err), got.ID, false)
		})
	}
}

// The contract says a frame is UTF-8 JSON. Whatever the decoder accepts, the
// id it hands back is echoed verbatim into a text frame, so it must be UTF-8.
func TestDecodeRequestInvalidUTF8(t *testing.T) {
	for _, frame := range []string{
		"{\"op\":\"ping\",\"id\":\"\xff\"}",
		"{\"op\":\"dance\",\"id\":\"\xc3\"}",
		"{\"op\":\"publish\",\"id\":1,\"channel\":\"chat.lobby\",\"data\":{\"text\":\"\xff\xfe\"}}",
	} {
		req, err := DecodeRequest([]byte(frame))
		if !utf8.Valid(req.ID) {
			t.Errorf("DecodeRequest(%q) returned an id that is not UTF-8: %q", frame, req.ID)
		}
		if err == nil && !utf8.Valid(req.Data) {
			t.Errorf("DecodeRequest(%q) accepted data that is not UTF-8", frame)
		}
		if err != nil && err.Code != CodeBadRequest {
			t.Errorf("DecodeRequest(%q) code %q, want bad_request", frame, err.Code)
		}
	}
}

func requestsEqual(a, b Request) bool {
	if (a.Since == nil) != (b.Since == nil) || a.Since != nil && *a.Since != *b.Since {
		return false
	}
	return a.Op == b.Op && string(a.ID) == string(b.ID) && a.Channel == b.Channel &&
		a.Before == b.Before && a.Limit == b.Limit && string(a.Data) == string(b.Data) && a.MsgID == b.MsgID
}

func show(r Request) string {
	b, _ := json.Marshal(r)
	return string(b)
}

var knownOps = map[string]bool{
	OpSubscribe: true, OpUnsubscribe: true, OpPublish: true,
	OpHistory: true, OpPresence: true, OpPing: true,
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","id":1,"channel":"market.AAPL"}`,
		`{"op":"subscribe","id":2,"channel":"market.*"}`,
		`{"op":"subscribe","id":3,"channel":"chat.lobby","since":1041}`,
		`{"op":"unsubscribe","id":4,"channel":"market.AAPL"}`,
		`{"op":"publish","id":5,"channel":"chat.lobby","data":{"text":"hi"},"msgid":"c1-000017"}`,
		`{"op":"history","id":6,"channel":"chat.lobby","before":1041,"limit":50}`,
		`{"op":"presence","id":7,"channel":"chat.lobby"}`,
		`{"op":"ping","id":8}`,
		`{"op":"ping","id":"x"}`,
		`{"op":"ping","id":{"a":1}}`,
		`{"op":"ping","id":null}`,
		`{"op":"dance","id":9}`,
		`{"op":5,"id":10}`,
		`{"op":"history","id":6,"channel":"chat.lobby","limit":-3}`,
		`{"op":"publish","id":5,"channel":"chat.lobby","data":" {"}`,
		`{"op":"publish","id":5,"channel":"chat.lobby","data":[]}`,
		`{"op":"ping","id":1} junk`,
		`[1,2]`, `"s"`, `null`, ``, `{`, `{}`, "{\"op\":\"ping\",\"id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := DecodeRequest(frame)
		if len(req.ID) > 0 && !validID(req.ID) {
			t.Fatalf("returned id %q is not a valid id", req.ID)
		}
		var reply []byte
		if err == nil {
			if !knownOps[req.Op] {
				t.Fatalf("accepted unknown op %q", req.Op)
			}
			switch req.Op {
			case OpSubscribe, OpUnsubscribe:
				if e := ValidateChannel(req.Channel, true); e != nil {
					t.Fatalf("accepted %s on %q: %v", req.Op, req.Channel, e)
				}
				if req.Since != nil && !Persisted(Kind(req.Channel)) {
					t.Fatalf("accepted since on %q", req.Channel)
				}
			case OpPublish:
				if e := ValidateChannel(req.Channel, false); e != nil {
					t.Fatalf("accepted publish on %q: %v", req.Channel, e)
				}
				if len(req.MsgID) > MaxMsgIDBytes {
					t.Fatalf("accepted msgid of %d bytes", len(req.MsgID))
				}
				var obj map[string]json.RawMessage
				if json.Unmarshal(req.Data, &obj) != nil || obj == nil {
					t.Fatalf("accepted publish data %q that is not an object", req.Data)
				}
			case OpHistory:
				if e := ValidateChannel(req.Channel, false); e != nil || !Persisted(Kind(req.Channel)) {
					t.Fatalf("accepted history on %q: %v", req.Channel, e)
				}
				if req.Limit < 1 || req.Limit > MaxHistoryLimit {
					t.Fatalf("history limit %d out of range", req.Limit)
				}
			case OpPresence:
				if e := ValidateChannel(req.Channel, false); e != nil {
					t.Fatalf("accepted presence on %q: %v", req.Channel, e)
				}
			}
			reply = AppendOK(nil, req.ID)
		} else {
			if err.Code != CodeBadRequest && err.Code != CodeUnknownOp {
				t.Fatalf("unexpected code %q", err.Code)
			}
			reply = AppendError(nil, req.ID, err)
		}
		checkReply(t, reply, req.ID, err == nil)
		checkReply(t, AppendOKSeq(nil, req.ID, 7), req.ID, true)
	})
}

func BenchmarkDecodeRequest(b *testing.B) {
	frames := [][]byte{
		[]byte(`{"op":"subscribe","id":1,"channel":"market.AAPL"}`),
		[]byte(`{"op":"publish","id":5,"channel":"chat.lobby","data":{"text":"hi"},"msgid":"c1-000017"}`),
		[]byte(`{"op":"history","id":6,"channel":"chat.lobby","before":1041,"limit":50}`),
		[]byte(`{"op":"ping","id":8}`),
	}
	for _, fr := range frames {
		b.Run(func() string { r, _ := DecodeRequest(fr); return r.Op }(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fr)))
			for b.Loop() {
				if _, err := DecodeRequest(fr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
