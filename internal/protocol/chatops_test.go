package protocol

import (
	"encoding/json"
	"testing"
	"time"
)

func TestUserChannel(t *testing.T) {
	for in, want := range map[string]string{
		"ana": "user.ana", "ana smith": "user.ana_20smith", "a_b": "user.a_5Fb", "a.b": "user.a_2Eb",
		"José": "user.Jos_C3_A9", "": "",
	} {
		if got := UserChannel(in); got != want {
			t.Errorf("UserChannel(%q) = %q, want %q", in, got, want)
		}
		if want != "" && ValidateChannel(UserChannel(in), false) != nil {
			t.Errorf("UserChannel(%q) is not a valid channel", in)
		}
	}
}

func TestChatDataRef(t *testing.T) {
	now := time.Now().UTC()
	ok := []string{
		`{"symbol":"AAPL","time":"2026-01-02T10:00:00Z","price":228.4,"interval":"5m"}`,
		`{"symbol":"EURUSD","time":1767348000000}`,
	}
	bad := []string{
		`"AAPL"`, `{"time":"2026-01-02T10:00:00Z"}`, `{"symbol":"a.b","time":"2026-01-02T10:00:00Z"}`,
		`{"symbol":"AAPL"}`, `{"symbol":"AAPL","time":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`,
		`{"symbol":"AAPL","time":"2026-01-02T10:00:00Z","price":-1}`,
		`{"symbol":"AAPL","time":"2026-01-02T10:00:00Z","price":"NaN"}`,
		`{"symbol":"AAPL","time":"2026-01-02T10:00:00Z","interval":"7m"}`,
	}
	for _, r := range ok {
		if _, perr := ChatData(json.RawMessage(`{"text":"look","ref":`+r+`}`), "ana", "", 4096); perr != nil {
			t.Errorf("ref %s: %v", r, perr)
		}
	}
	for _, r := range bad {
		if _, perr := ChatData(json.RawMessage(`{"text":"look","ref":`+r+`}`), "ana", "", 4096); perr == nil || perr.Code != CodeBadRequest {
			t.Errorf("ref %s: %v, want bad_request", r, perr)
		}
	}
	out, _ := ChatData(json.RawMessage(`{"text":"x","bot":true,"edited":true,"deleted":true}`), "ana", "", 0)
	if string(out) != `{"text":"x","user":"ana"}` {
		t.Errorf("client-set flags kept: %s", out)
	}
}

func TestChatOpValidation(t *testing.T) {
	for frame, code := range map[string]string{
		`{"op":"edit","channel":"chat.lobby","seq":1}`:                   CodeBadRequest,
		`{"op":"edit","channel":"market.AAPL","seq":1,"data":{}}`:        CodeBadRequest,
		`{"op":"delete","channel":"chat.lobby"}`:                         CodeBadRequest,
		`{"op":"mute","channel":"chat.lobby","user":"m"}`:                CodeBadRequest,
		`{"op":"alert_set","symbol":"AAPL"}`:                             CodeBadRequest,
		`{"op":"alert_set","symbol":"AAPL","above":1,"below":2}`:         CodeBadRequest,
		`{"op":"alert_set","symbol":"AAPL","above":-1}`:                  CodeBadRequest,
		`{"op":"alert_delete"}`:                                          CodeBadRequest,
		`{"op":"read","channel":"chat.*"}`:                               CodeBadRequest,
		`{"op":"nope"}`:                                                  CodeUnknownOp,
		`{"op":"rooms"}`:                                                 "",
		`{"op":"alert_set","symbol":"AAPL","below":3.5,"note":"cheap"}`:  "",
		`{"op":"mute","channel":"chat.lobby","user":"m","seconds":60}`:   "",
		`{"op":"edit","channel":"chat.lobby","seq":9,"data":{"text":1}}`: "",
	} {
		_, perr := DecodeRequest([]byte(frame))
		got := ""
		if perr != nil {
			got = perr.Code
		}
		if got != code {
			t.Errorf("%s: code %q, want %q", frame, got, code)
		}
	}
}
