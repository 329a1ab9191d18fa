package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestValidatePayload(t *testing.T) {
	tickTime := time.Date(2026, 11, 26, 12, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name    string
		subject string
		data    string
		ok      bool
		time    time.Time // checked when ok
	}{
		// market
		{"market contract example", "market.AAPL",
			`{"symbol":"AAPL","price":189.32,"bid":189.31,"ask":189.33,"size":100,"volume":1200345,"time":"2026-11-26T12:00:00.123Z"}`,
			true, tickTime},
		{"market minimal", "market.AAPL", `{"symbol":"AAPL","price":1}`, true, time.Time{}},
		{"market unix ms", "market.AAPL", `{"symbol":"AAPL","price":1,"time":1795694400123}`, true, time.UnixMilli(1795694400123)},
		{"market time offset", "market.AAPL", `{"symbol":"AAPL","price":1,"time":"2026-11-26T13:00:00.123+01:00"}`, true, tickTime},
		{"market time null", "market.AAPL", `{"symbol":"AAPL","price":1,"time":null}`, true, time.Time{}},
		{"market unknown fields", "market.AAPL", `{"symbol":"AAPL","price":1,"exchange":"XNAS"}`, true, time.Time{}},
		{"market whitespace", "market.AAPL", " \n{\"symbol\":\"AAPL\",\"price\":1}\n", true, time.Time{}},
		{"market BTC-USD", "market.BTC-USD", `{"symbol":"BTC-USD","price":90000.5}`, true, time.Time{}},
		{"market wrong symbol", "market.AAPL", `{"symbol":"MSFT","price":1}`, false, time.Time{}},
		{"market symbol case", "market.AAPL", `{"symbol":"aapl","price":1}`, false, time.Time{}},
		{"market missing symbol", "market.AAPL", `{"price":1}`, false, time.Time{}},
		{"market symbol number", "market.AAPL", `{"symbol":1,"price":1}`, false, time.Time{}},
		{"market NaN token", "market.AAPL", `{"symbol":"AAPL","price":NaN}`, false, time.Time{}},
		{"market Infinity token", "market.AAPL", `{"symbol":"AAPL","price":Infinity}`, false, time.Time{}},
		{"market -Infinity token", "market.AAPL", `{"symbol":"AAPL","price":-Infinity}`, false, time.Time{}},
		{"market NaN string", "market.AAPL", `{"symbol":"AAPL","price":"NaN"}`, false, time.Time{}},
		{"market 1e999", "market.AAPL", `{"symbol":"AAPL","price":1e999}`, false, time.Time{}},
		{"market bid 1e999", "market.AAPL", `{"symbol":"AAPL","price":1,"bid":1e999}`, false, time.Time{}},
		{"market negative price", "market.AAPL", `{"symbol":"AAPL","price":-1}`, false, time.Time{}},
		{"market zero price", "market.AAPL", `{"symbol":"AAPL","price":0}`, false, time.Time{}},
		{"market missing price", "market.AAPL", `{"symbol":"AAPL"}`, false, time.Time{}},
		{"market null price", "market.AAPL", `{"symbol":"AAPL","price":null}`, false, time.Time{}},
		{"market string price", "market.AAPL", `{"symbol":"AAPL","price":"1"}`, false, time.Time{}},
		{"market negative bid", "market.AAPL", `{"symbol":"AAPL","price":1,"bid":-1}`, false, time.Time{}},
		{"market negative volume", "market.AAPL", `{"symbol":"AAPL","price":1,"volume":-5}`, false, time.Time{}},
		{"market bad time string", "market.AAPL", `{"symbol":"AAPL","price":1,"time":"yesterday"}`, false, time.Time{}},
		{"market time date only", "market.AAPL", `{"symbol":"AAPL","price":1,"time":"2026-11-26"}`, false, time.Time{}},
		{"market time bool", "market.AAPL", `{"symbol":"AAPL","price":1,"time":true}`, false, time.Time{}},
		{"market time object", "market.AAPL", `{"symbol":"AAPL","price":1,"time":{}}`, false, time.Time{}},
		{"market time negative ms", "market.AAPL", `{"symbol":"AAPL","price":1,"time":-1}`, false, time.Time{}},
		{"market time huge ms", "market.AAPL", `{"symbol":"AAPL","price":1,"time":1e300}`, false, time.Time{}},
		{"market time 1e999", "market.AAPL", `{"symbol":"AAPL","price":1,"time":1e999}`, false, time.Time{}},
		{"market array", "market.AAPL", `[{"symbol":"AAPL","price":1}]`, false, time.Time{}},
		{"market string", "market.AAPL", `"AAPL"`, false, time.Time{}},
		{"market number", "market.AAPL", `1`, false, time.Time{}},
		{"market null", "market.AAPL", `null`, false, time.Time{}},
		{"market empty", "market.AAPL", ``, false, time.Time{}},
		{"market not JSON", "market.AAPL", `symbol=AAPL`, false, time.Time{}},
		{"market truncated", "market.AAPL", `{"symbol":"AAPL","price":1`, false, time.Time{}},
		{"market trailing garbage", "market.AAPL", `{"symbol":"AAPL","price":1} x`, false, time.Time{}},
		{"market invalid UTF-8", "market.AAPL", "{\"symbol\":\"AAPL\",\"price\":1,\"note\":\"\xff\"}", false, time.Time{}},

		// analytics
		{"analytics contract example", "analytics.AAPL",
			`{"symbol":"AAPL","time":"2026-11-26T12:00:00.123Z","vwap":189.1,"sma20":188.7,"ema20":188.9,"rsi14":61.2,"volatility":0.21,"change_pct":1.4}`,
			true, tickTime},
		{"analytics pass-through", "analytics.AAPL", `{"symbol":"AAPL","custom":{"a":[1,2]}}`, true, time.Time{}},
		{"analytics unix ms", "analytics.AAPL", `{"symbol":"AAPL","time":1795694400123}`, true, time.UnixMilli(1795694400123)},
		{"analytics wrong symbol", "analytics.AAPL", `{"symbol":"MSFT"}`, false, time.Time{}},
		{"analytics symbol number", "analytics.AAPL", `{"symbol":5}`, false, time.Time{}},
		{"analytics missing symbol", "analytics.AAPL", `{"vwap":1}`, false, time.Time{}},
		{"analytics bad time", "analytics.AAPL", `{"symbol":"AAPL","time":"soon"}`, false, time.Time{}},
		{"analytics NaN", "analytics.AAPL", `{"symbol":"AAPL","vwap":NaN}`, false, time.Time{}},
		{"analytics array", "analytics.AAPL", `[]`, false, time.Time{}},

		// candle
		{"candle contract example", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00.123Z","open":189.1,"high":189.5,"low":188.9,"close":189.3,"volume":1200}`,
			true, tickTime},
		{"candle unix ms start", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":1795694400123,"open":1,"high":1,"low":1,"close":1}`,
			true, time.UnixMilli(1795694400123)},
		{"candle low above high", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":2,"high":2,"low":3,"close":2}`, false, time.Time{}},
		{"candle missing close", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":2,"high":2,"low":1}`, false, time.Time{}},
		{"candle missing start", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","open":2,"high":2,"low":1,"close":2}`, false, time.Time{}},
		{"candle bad start", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"x","open":2,"high":2,"low":1,"close":2}`, false, time.Time{}},
		{"candle zero open", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":0,"high":2,"low":1,"close":2}`, false, time.Time{}},
		{"candle negative volume", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":2,"high":2,"low":1,"close":2,"volume":-1}`, false, time.Time{}},
		{"candle wrong symbol", "candle.AAPL",
			`{"symbol":"MSFT","interval":"1m","start":"2026-11-26T12:00:00Z","open":2,"high":2,"low":1,"close":2}`, false, time.Time{}},
		{"candle 1e999 high", "candle.AAPL",
			`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":2,"high":1e999,"low":1,"close":2}`, false, time.Time{}},

		// alert
		{"alert contract example", "alert.AAPL",
			`{"symbol":"AAPL","level":"warn","text":"AAPL +3.1% in 5m","time":"2026-11-26T12:00:00.123Z"}`, true, tickTime},
		{"alert info", "alert.AAPL", `{"symbol":"AAPL","level":"info","text":"x"}`, true, time.Time{}},
		{"alert critical", "alert.AAPL", `{"symbol":"AAPL","level":"critical","text":"x"}`, true, time.Time{}},
		{"alert bad level", "alert.AAPL", `{"symbol":"AAPL","level":"panic","text":"x"}`, false, time.Time{}},
		{"alert level case", "alert.AAPL", `{"symbol":"AAPL","level":"WARN","text":"x"}`, false, time.Time{}},
		{"alert missing level", "alert.AAPL", `{"symbol":"AAPL","text":"x"}`, false, time.Time{}},
		{"alert empty text", "alert.AAPL", `{"symbol":"AAPL","level":"info","text":"  "}`, false, time.Time{}},
		{"alert wrong symbol", "alert.AAPL", `{"symbol":"MSFT","level":"info","text":"x"}`, false, time.Time{}},
		{"alert bad time", "alert.AAPL", `{"symbol":"AAPL","level":"info","text":"x","time":"x"}`, false, time.Time{}},

		// chat (bots)
		{"chat bot", "chat.lobby", `{"user":"vwap-bot","text":"AAPL crossed VWAP"}`, true, time.Time{}},
		{"chat missing user", "chat.lobby", `{"text":"hi"}`, false, time.Time{}},
		{"chat missing text", "chat.lobby", `{"user":"bot"}`, false, time.Time{}},
		{"chat blank text", "chat.lobby", `{"user":"bot","text":" \t"}`, false, time.Time{}},
		{"chat text number", "chat.lobby", `{"user":"bot","text":5}`, false, time.Time{}},
		{"chat array", "chat.lobby", `["hi"]`, false, time.Time{}},

		// feed
		{"feed object", "feed.news", `{"headline":"x","n":[1,{"a":null}]}`, true, time.Time{}},
		{"feed empty object", "feed.news.tech", `{}`, true, time.Time{}},
		{"feed nested deep key", "feed.a.b.c", `{"a":{"b":{"c":1}}}`, true, time.Time{}},
		{"feed array", "feed.news", `[1]`, false, time.Time{}},
		{"feed string", "feed.news", `"x"`, false, time.Time{}},
		{"feed NaN", "feed.news", `{"x":NaN}`, false, time.Time{}},
		{"feed invalid UTF-8", "feed.news", "{\"x\":\"\xc3\x28\"}", false, time.Time{}},
		{"feed trailing garbage", "feed.news", `{}{}`, false, time.Time{}},

		// unknown kind
		{"unknown kind", "stocks.AAPL", `{"symbol":"AAPL","price":1}`, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidatePayload(tt.subject, []byte(tt.data))
			if (err == nil) != tt.ok {
				t.Fatalf("ValidatePayload(%q, %s) = %v, want ok=%v", tt.subject, tt.data, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrPayload) {
					t.Fatalf("error %v does not wrap ErrPayload", err)
				}
				if !got.IsZero() {
					t.Fatalf("error with a non-zero time %v", got)
				}
				return
			}
			if !got.Equal(tt.time) {
				t.Fatalf("time = %v, want %v", got, tt.time)
			}
		})
	}
}

func TestChatData(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		user     string
		msgID    string
		max      int
		code     string // "" means success
		wantKeys map[string]string
	}{
		{"plain", `{"text":"hi"}`, "ana", "c1-000017", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`, "msgid": `"c1-000017"`}},
		{"stamps over client user and msgid", `{"text":"hi","user":"mallory","msgid":"forged"}`, "ana", "c1-1", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`, "msgid": `"c1-1"`}},
		{"client msgid dropped without server msgid", `{"text":"hi","msgid":"forged"}`, "ana", "", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`}},
		{"client user object replaced", `{"text":"hi","user":{"admin":true}}`, "ana", "", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`}},
		{"extra fields kept", `{"text":"hi","reply_to":1041,"meta":{"a":[1]}}`, "ana", "m", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`, "msgid": `"m"`, "reply_to": `1041`, "meta": `{"a":[1]}`}},
		{"user needs escaping", `{"text":"hi"}`, "a\"<b>", "", 0, "",
			map[string]string{"text": `"hi"`, "user": `"a\"\u003cb\u003e"`}},
		{"whitespace around", " {\"text\":\"hi\"} ", "ana", "", 0, "",
			map[string]string{"text": `"hi"`, "user": `"ana"`}},
		{"at the limit", `{"text":"hi"}`, "ana", "", len(`{"text":"hi","user":"ana"}`), "",
			map[string]string{"text": `"hi"`, "user": `"ana"`}},

		{"over the limit", `{"text":"hi"}`, "ana", "", len(`{"text":"hi","user":"ana"}`) - 1, CodeTooLarge, nil},
		{"long text over the limit", `{"text":"` + strings.Repeat("x", 5000) + `"}`, "ana", "m", 4096, CodeTooLarge, nil},
		{"missing text", `{"body":"hi"}`, "ana", "", 0, CodeBadRequest, nil},
		{"null text", `{"text":null}`, "ana", "", 0, CodeBadRequest, nil},
		{"empty text", `{"text":""}`, "ana", "", 0, CodeBadRequest, nil},
		{"blank text", `{"text":"  \n"}`, "ana", "", 0, CodeBadRequest, nil},
		{"number text", `{"text":5}`, "ana", "", 0, CodeBadRequest, nil},
		{"object text", `{"text":{"a":1}}`, "ana", "", 0, CodeBadRequest, nil},
		{"array", `["hi"]`, "ana", "", 0, CodeBadRequest, nil},
		{"string", `"hi"`, "ana", "", 0, CodeBadRequest, nil},
		{"null", `null`, "ana", "", 0, CodeBadRequest, nil},
		{"empty", ``, "ana", "", 0, CodeBadRequest, nil},
		{"not JSON", `text=hi`, "ana", "", 0, CodeBadRequest, nil},
		{"invalid UTF-8 in another field", "{\"text\":\"hi\",\"x\":\"\xff\"}", "ana", "", 0, CodeBadRequest, nil},
		{"invalid UTF-8 in text", "{\"text\":\"h\xc3\"}", "ana", "", 0, CodeBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ChatData(json.RawMessage(tt.data), tt.user, tt.msgID, tt.max)
			if tt.code != "" {
				if err == nil {
					t.Fatalf("ChatData(%s) = %s, want %s", tt.data, out, tt.code)
				}
				if err.Code != tt.code {
					t.Fatalf("ChatData(%s) code %q (%v), want %q", tt.data, err.Code, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("ChatData(%s) error %v", tt.data, err)
			}
			if tt.max > 0 && len(out) > tt.max {
				t.Fatalf("output %d bytes over the limit %d", len(out), tt.max)
			}
			var m map[string]json.RawMessage
			if e := json.Unmarshal(out, &m); e != nil {
				t.Fatalf("output %s is not an object: %v", out, e)
			}
			if len(m) != len(tt.wantKeys) {
				t.Fatalf("output %s has keys %v, want %v", out, keys(m), tt.wantKeys)
			}
			for k, v := range tt.wantKeys {
				if string(m[k]) != v {
					t.Errorf("output %s: %s = %s, want %s", out, k, m[k], v)
				}
			}
		})
	}
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func FuzzValidatePayload(f *testing.F) {
	seeds := []string{
		`{"symbol":"AAPL","price":189.32,"bid":189.31,"ask":189.33,"size":100,"volume":1200345,"time":"2026-11-26T12:00:00.123Z"}`,
		`{"symbol":"AAPL","time":1795694400123,"vwap":1,"rsi14":50}`,
		`{"symbol":"AAPL","interval":"1m","start":"2026-11-26T12:00:00Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":10}`,
		`{"symbol":"AAPL","interval":"1m","start":1,"open":1,"high":1,"low":2,"close":1}`,
		`{"symbol":"AAPL","level":"warn","text":"AAPL +3.1% in 5m","time":1}`,
		`{"user":"vwap-bot","text":"hi"}`,
		`{"headline":"x"}`,
		`{"symbol":"AAPL","price":1e999}`,
		`{"symbol":"AAPL","price":NaN}`,
		`{"symbol":"AAPL","price":1,"time":"x"}`,
		`[1]`, `null`, ``, `{`, "{\"a\":\"\xff\"}", `{"symbol":null,"price":null,"time":null}`,
	}
	subjects := []string{"market.AAPL", "analytics.AAPL", "candle.AAPL", "alert.AAPL", "chat.lobby", "feed.news.x", "stocks.AAPL", "", "market"}
	for i, s := range seeds {
		f.Add(subjects[i%len(subjects)], []byte(s))
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		// Every kind gets the bytes, whatever subject the fuzzer picked.
		for _, subj := range []string{subject, "market.AAPL", "analytics.AAPL", "candle.AAPL", "alert.AAPL", "chat.lobby", "feed.x"} {
			tm, err := ValidatePayload(subj, data)
			if err != nil {
				if !errors.Is(err, ErrPayload) {
					t.Fatalf("ValidatePayload(%q): error %v does not wrap ErrPayload", subj, err)
				}
				if !tm.IsZero() {
					t.Fatalf("ValidatePayload(%q): error with time %v", subj, tm)
				}
				continue
			}
			if !utf8.Valid(data) {
				t.Fatalf("ValidatePayload(%q) accepted invalid UTF-8", subj)
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(data, &obj) != nil || obj == nil {
				t.Fatalf("ValidatePayload(%q) accepted a non-object %q", subj, data)
			}
			if k := Kind(subj); k != KindChat && k != KindFeed {
				var p struct {
					Symbol string `json:"symbol"`
				}
				if json.Unmarshal(data, &p) != nil || p.Symbol != LastToken(subj) {
					t.Fatalf("ValidatePayload(%q) accepted symbol %q", subj, p.Symbol)
				}
			}
		}
	})
}

func FuzzChatData(f *testing.F) {
	f.Add([]byte(`{"text":"hi"}`), "ana", "c1-000017", 0)
	f.Add([]byte(`{"text":"hi","user":"mallory","msgid":"x"}`), "ana", "", 100)
	f.Add([]byte(`{"text":"hi","extra":{"a":[1,2]}}`), "a\"<b>", "m", 20)
	f.Add([]byte(`{"text":null}`), "ana", "", 0)
	f.Add([]byte(`["hi"]`), "ana", "", 0)
	f.Add([]byte(`null`), "ana", "", 0)
	f.Add([]byte("{\"text\":\"hi\",\"x\":\"\xff\"}"), "ana", "", 0)
	f.Add([]byte(`{"text":"hi"}`), "\xff", "\xfe", -1)
	f.Fuzz(func(t *testing.T, data []byte, user, msgID string, max int) {
		out, err := ChatData(json.RawMessage(data), user, msgID, max)
		if err != nil {
			if err.Code != CodeBadRequest && err.Code != CodeTooLarge {
				t.Fatalf("unexpected code %q", err.Code)
			}
			return
		}
		if !utf8.Valid(out) {
			t.Fatalf("ChatData(%q) output is not UTF-8: %q", data, out)
		}
		if max > 0 && len(out) > max {
			t.Fatalf("output %d bytes over the limit %d", len(out), max)
		}
		var m map[string]json.RawMessage
		if e := json.Unmarshal(out, &m); e != nil || m == nil {
			t.Fatalf("output %q is not a JSON object: %v", out, e)
		}
		var gotUser, text string
		if e := json.Unmarshal(m["user"], &gotUser); e != nil {
			t.Fatalf("output user %s: %v", m["user"], e)
		}
		// json.Marshal coerces invalid UTF-8 in the given user to U+FFFD.
		if want := strings.ToValidUTF8(user, "\uFFFD"); gotUser != want && utf8.ValidString(user) {
			t.Fatalf("output user %q, want %q", gotUser, want)
		}
		if json.Unmarshal(m["text"], &text) != nil || strings.TrimSpace(text) == "" {
			t.Fatalf("output text %s", m["text"])
		}
		if msgID == "" {
			if _, ok := m["msgid"]; ok {
				t.Fatalf("output %s keeps a client msgid", out)
			}
		} else {
			var gotID string
			if json.Unmarshal(m["msgid"], &gotID) != nil || (utf8.ValidString(msgID) && gotID != msgID) {
				t.Fatalf("output msgid %s, want %q", m["msgid"], msgID)
			}
		}
	})
}
