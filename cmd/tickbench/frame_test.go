package main

import (
	"reflect"
	"strings"
	"testing"
)

func lines(frame string) []string {
	var out []string
	forEachLine([]byte(frame), func(l []byte) { out = append(out, string(l)) })
	return out
}

func TestForEachLine(t *testing.T) {
	for _, c := range []struct {
		frame string
		want  []string
	}{
		{`{"a":1}`, []string{`{"a":1}`}},
		{"{\"a\":1}\n{\"b\":2}\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{"{\"a\":1}\n", []string{`{"a":1}`}},
		{"\n\n{\"a\":1}\n\n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}},
		{"", nil},
		// a '\n' inside a JSON string is always escaped, so a raw one separates
		{`{"text":"a\nb"}`, []string{`{"text":"a\nb"}`}},
	} {
		if got := lines(c.frame); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.frame, got, c.want)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, target := range []string{"tickroom", "socketio"} {
		m := message(nil, target, "chat.bench", "ab12", 42, 1732000000123456789, 100)
		seq, ns, ok := parseStamp(m)
		if !ok || seq != 42 || ns != 1732000000123456789 {
			t.Fatalf("%s: parseStamp(%s) = %d %d %v", target, m, seq, ns, ok)
		}
		// the data object {"text":"…"} is -size bytes
		i := strings.Index(string(m), "tb|")
		j := strings.Index(string(m[i:]), `"`)
		if got := len(`{"text":""}`) + j; got != 100 {
			t.Errorf("%s: data object %d bytes, want 100: %s", target, got, m)
		}
	}
	if m := string(message(nil, "socketio", "", "", 1, 2, 100)); !strings.HasPrefix(m, `42["chat message","tb|1|2|`) || !strings.HasSuffix(m, `"]`) {
		t.Errorf("socket.io packet %s", m)
	}
	if m := string(message(nil, "tickroom", "chat.bench", "ab12", 7, 2, 100)); !strings.HasPrefix(m, `{"op":"publish","id":7,"channel":"chat.bench","data":{"text":"tb|7|2|`) ||
		!strings.HasSuffix(m, `"},"msgid":"tb-ab12-7"}`) {
		t.Errorf("publish request %s", m)
	}
}

func TestParseStampInEvents(t *testing.T) {
	frame := `{"channel":"chat.bench","event":"join","data":{"user":"guest-1a2b3c"}}` + "\n" +
		`{"channel":"chat.bench","event":"chat","seq":9,"time":"2026-11-26T14:05:27.883Z","data":{"msgid":"tb-x-5","text":"tb|5|1700000000000000001|xxxx","user":"guest-00aa11"}}` + "\n" +
		`{"id":5,"ok":true,"seq":9}`
	var stamps, replies, oks int
	forEachLine([]byte(frame), func(l []byte) {
		if seq, ns, ok := parseStamp(l); ok {
			stamps++
			if seq != 5 || ns != 1700000000000000001 {
				t.Errorf("stamp %d %d", seq, ns)
			}
		}
		if r, ok := isReply(l); r {
			replies++
			if ok {
				oks++
			}
			if id, _ := replyID(l); id != 5 {
				t.Errorf("reply id %d", id)
			}
		}
	})
	if stamps != 1 || replies != 1 || oks != 1 {
		t.Fatalf("stamps %d replies %d ok %d", stamps, replies, oks)
	}
	for _, bad := range []string{`tb|`, `tb|x|1|`, `tb|1|`, `tb|1|2`, `{"text":"tb|12"}`} {
		if _, _, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("parseStamp(%q) ok", bad)
		}
	}
	if r, ok := isReply([]byte(`{"id":3,"ok":false,"error":{"code":"rate_limited","message":"x"}}`)); !r || ok {
		t.Error("failed reply not recognised")
	}
	if r, _ := isReply([]byte(`{"ok":false,"error":{"code":"bad_request","message":"x"}}`)); r {
		t.Error("an id-less error is not a reply to a publish")
	}
}

func TestTickStamp(t *testing.T) {
	tk := tick(nil, "TB007", 3, 1700000000000000042)
	ev := `{"channel":"market.TB007","event":"market","time":"2026-11-26T14:05:27.883Z","data":` + string(tk) + `}`
	ns, ok := parseTickStamp([]byte(ev))
	if !ok || ns != 1700000000000000042 {
		t.Fatalf("parseTickStamp(%s) = %d %v", ev, ns, ok)
	}
	if !strings.Contains(string(tk), `"symbol":"TB007"`) || !strings.Contains(string(tk), `"price":103.25`) {
		t.Errorf("tick %s", tk)
	}
	if _, ok := parseTickStamp([]byte(`{"data":{"price":1}}`)); ok {
		t.Error("no ts but ok")
	}
}

func TestProcParsing(t *testing.T) {
	rss, err := parseVmRSS([]byte("Name:\ttickroom\nVmPeak:\t  999 kB\nVmRSS:\t   123456 kB\nThreads: 9\n"))
	if err != nil || rss != 123456 {
		t.Fatalf("rss %d %v", rss, err)
	}
	// the command name may hold spaces and parentheses
	stat := "4242 (tick room) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3.25 {
		t.Fatalf("cpu %v %v", cpu, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestFlags(t *testing.T) {
	var sb strings.Builder
	if _, err := parseFlags([]string{"-url", "http://10.0.0.5:8080"}, &sb); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("remote target accepted without -allow-remote: %v", err)
	}
	if _, err := parseFlags([]string{"-scenario", "market", "-nats", "nats://192.168.1.2:4222"}, &sb); err == nil {
		t.Error("remote NATS accepted without -allow-remote")
	}
	if _, err := parseFlags([]string{"-target", "socketio", "-scenario", "market"}, &sb); err == nil {
		t.Error("socketio market accepted")
	}
	o, err := parseFlags([]string{"-scenario", "idle", "-n", "45000", "-url", "http://localhost:8080"}, &sb)
	if err != nil || o.srcIPs != 3 {
		t.Errorf("auto source addresses for 45000: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-scenario", "market"}, &sb)
	if err != nil || o.channel != "market.*" {
		t.Errorf("market default channel: %+v %v", o, err)
	}
}

func TestEndpointURLs(t *testing.T) {
	ep, err := newEndpoint("http://127.0.0.1:8080", "tickroom", newDialer(0), 1024)
	if err != nil || ep.wsURL != "ws://127.0.0.1:8080/ws" {
		t.Errorf("%v %v", ep, err)
	}
	ep, err = newEndpoint("http://127.0.0.1:3000", "socketio", newDialer(0), 1024)
	if err != nil || ep.wsURL != "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket" {
		t.Errorf("%v %v", ep, err)
	}
	d := newDialer(3)
	if len(d.srcs) != 3 || d.srcs[0].IP.String() != "127.0.0.2" || d.srcs[2].IP.String() != "127.0.0.4" {
		t.Errorf("sources %v", d.srcs)
	}
}
