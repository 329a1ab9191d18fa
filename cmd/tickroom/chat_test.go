package main

// End-to-end tests of the chat additions (PROTOCOL §4) over real
// WebSockets on a real node with embedded NATS.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// signedIn dials as name (a dev session token).
func signedIn(t *testing.T, n *Node, name string) *wsClient {
	t.Helper()
	tok, _ := signIn(t, n, name)
	c := dial(t, n, name, dialOpts{token: tok})
	c.welcome()
	return c
}

// dataOf decodes an event's or history message's data.
func dataOf(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("data %s: %v", raw, err)
	}
	return d
}

func TestChatUserChannelIsPrivate(t *testing.T) {
	n := startNode(t, testConfig(t))
	ana := signedIn(t, n, "ana")
	for _, ch := range []string{"user.bob", "user.*", "user.>"} {
		r := ana.request(map[string]any{"op": "subscribe", "channel": ch})
		if r.errCode() != "forbidden" {
			t.Errorf("ana subscribe %s: %s, want forbidden", ch, r.Raw)
		}
		r = ana.request(map[string]any{"op": "history", "channel": strings.ReplaceAll(ch, ">", "x")})
		if ch == "user.bob" && r.errCode() != "forbidden" {
			t.Errorf("ana history %s: %s, want forbidden", ch, r.Raw)
		}
	}
	ana.subscribe("user.ana", 0)
	r := ana.request(map[string]any{"op": "publish", "channel": "user.ana", "data": map[string]any{"text": "x"}})
	if r.errCode() != "forbidden" {
		t.Errorf("publish to user.ana: %s, want forbidden", r.Raw)
	}

	// A mention is stored on the mentioned user's channel, and found there
	// on return.
	bob := signedIn(t, n, "bob")
	seq := bob.publish("chat.lobby", "anyone? @ana", "b1")
	ev := ana.waitEvent("mention", func(m msg) bool { return m.Channel == "user.ana" })
	d := dataOf(t, ev.Data)
	if ev.Event != "mention" || d["channel"] != "chat.lobby" || d["user"] != "bob" || uint64(d["seq"].(float64)) != seq {
		t.Fatalf("mention event %s", ev.Raw)
	}
	if ev.Seq == 0 {
		t.Fatalf("mention without seq: %s", ev.Raw)
	}
}

func TestChatBotCannotImpersonate(t *testing.T) {
	n := startNode(t, testConfig(t))
	ana := signedIn(t, n, "ana")
	ana.subscribe("chat.lobby")
	nc := n.natsConnForTest()
	if err := nc.Publish("chat.lobby", []byte(`{"user":"ana","text":"I am ana, honest","msgid":"fake"}`)); err != nil {
		t.Fatal(err)
	}
	// A forged header does not make a bot a person, nor its message an edit.
	forged := nats.NewMsg("chat.lobby")
	forged.Header.Set("Tickroom-Stamp", "AAAA")
	forged.Header.Set("Tickroom-Event", "delete")
	forged.Data = []byte(`{"user":"ana","text":"forged stamp","ref_seq":1}`)
	if err := nc.PublishMsg(forged); err != nil {
		t.Fatal(err)
	}
	seq := ana.publish("chat.lobby", "the real ana", "a1")

	var got []map[string]any
	for len(got) < 3 {
		ev := ana.waitEvent("chat", func(m msg) bool { return m.Channel == "chat.lobby" && m.Event == "chat" })
		d := dataOf(t, ev.Data)
		d["_seq"] = ev.Seq
		got = append(got, d)
	}
	for _, d := range got {
		if d["user"] != "ana" {
			t.Fatalf("user = %v", d["user"])
		}
		isBot := d["bot"] == true
		if real := d["_seq"] == seq; real == isBot {
			t.Errorf("message %v: bot=%v, want bot only for the NATS ones", d, isBot)
		}
	}
	// A person cannot claim to be a bot either, nor edited.
	r := ana.mustOK(ana.request(map[string]any{"op": "publish", "channel": "chat.lobby",
		"data": map[string]any{"text": "t", "bot": true, "edited": true}}))
	h := ana.mustOK(ana.request(map[string]any{"op": "history", "channel": "chat.lobby"}))
	last := h.Messages[len(h.Messages)-1]
	var ev msg
	_ = json.Unmarshal(last, &ev)
	if d := dataOf(t, ev.Data); ev.Seq != r.Seq || d["bot"] != nil || d["edited"] != nil {
		t.Errorf("history last = %s, want seq %d without bot or edited", last, r.Seq)
	}
}

func TestChatEditDeleteSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	ana := signedIn(t, n, "ana")
	bob := signedIn(t, n, "bob")
	bob.subscribe("chat.lobby")
	s1 := ana.publish("chat.lobby", "helo", "m1")
	s2 := ana.publish("chat.lobby", "secret text", "m2")

	if r := bob.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": s1, "data": map[string]any{"text": "x"}}); r.errCode() != "forbidden" {
		t.Errorf("bob edits ana's message: %s, want forbidden", r.Raw)
	}
	if r := bob.request(map[string]any{"op": "delete", "channel": "chat.lobby", "seq": s2}); r.errCode() != "forbidden" {
		t.Errorf("bob deletes ana's message: %s, want forbidden", r.Raw)
	}
	if r := ana.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": 999999, "data": map[string]any{"text": "x"}}); r.errCode() != "not_found" {
		t.Errorf("edit of no message: %s, want not_found", r.Raw)
	}
	e := ana.mustOK(ana.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": s1, "data": map[string]any{"text": "hello"}}))
	d := ana.mustOK(ana.request(map[string]any{"op": "delete", "channel": "chat.lobby", "seq": s2}))
	if e.Seq <= s2 || d.Seq <= e.Seq {
		t.Fatalf("edit seq %d, delete seq %d: want new events after %d", e.Seq, d.Seq, s2)
	}
	ev := bob.waitEvent("edit", func(m msg) bool { return m.Event == "edit" })
	if dd := dataOf(t, ev.Data); dd["text"] != "hello" || uint64(dd["ref_seq"].(float64)) != s1 || ev.Seq != e.Seq {
		t.Errorf("edit event %s", ev.Raw)
	}
	ev = bob.waitEvent("delete", func(m msg) bool { return m.Event == "delete" })
	if dd := dataOf(t, ev.Data); uint64(dd["ref_seq"].(float64)) != s2 || ev.Seq != d.Seq {
		t.Errorf("delete event %s", ev.Raw)
	}
	if r := ana.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": s2, "data": map[string]any{"text": "back"}}); r.errCode() != "not_found" {
		t.Errorf("edit of a deleted message: %s, want not_found", r.Raw)
	}

	check := func(n *Node, where string) {
		t.Helper()
		c := signedIn(t, n, "carol")
		h := c.mustOK(c.request(map[string]any{"op": "history", "channel": "chat.lobby"}))
		var events []msg
		for _, raw := range h.Messages {
			if strings.Contains(string(raw), "secret text") {
				t.Errorf("%s: deleted text in history: %s", where, raw)
			}
			var m msg
			_ = json.Unmarshal(raw, &m)
			events = append(events, m)
		}
		if len(events) != 4 {
			t.Fatalf("%s: history has %d events, want 4 (2 messages, edit, delete): %s", where, len(events), raws(events))
		}
		m1, m2 := dataOf(t, events[0].Data), dataOf(t, events[1].Data)
		if m1["text"] != "hello" || m1["edited"] != true {
			t.Errorf("%s: edited message = %s", where, events[0].Raw)
		}
		if _, has := m2["text"]; has || m2["deleted"] != true || m2["user"] != "ana" {
			t.Errorf("%s: deleted message = %s", where, events[1].Raw)
		}
		if events[2].Event != "edit" || events[3].Event != "delete" {
			t.Errorf("%s: want the edit and delete events after: %s", where, raws(events[2:]))
		}
		// A since replay too.
		c.mustOK(c.request(map[string]any{"op": "subscribe", "channel": "chat.lobby", "since": 0}))
		for i := 0; i < 4; i++ {
			m := c.waitEvent("replay", func(m msg) bool { return m.Channel == "chat.lobby" })
			if strings.Contains(string(m.Raw), "secret text") {
				t.Errorf("%s: deleted text in replay: %s", where, m.Raw)
			}
			if m.Seq == s1 && !strings.Contains(string(m.Raw), `"edited":true`) {
				t.Errorf("%s: replayed %s, want edited", where, m.Raw)
			}
		}
	}
	check(n, "before restart")
	// The original is erased from the stream: its text is not on disk either.
	js, err := jetstream.New(n.natsConnForTest())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "CHAT")
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := st.GetMsg(context.Background(), s2); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("the deleted message is still stored: %v %v", raw, err)
	}
	ana.close()
	bob.close()
	shutdownNode(t, n)

	n2 := startNode(t, cfg)
	check(n2, "after restart")
}

func TestChatModeration(t *testing.T) {
	cfg := testConfig(t)
	cfg.Moderators = []string{"mod"}
	cfg.AdminToken = "admin-token-0123456789"
	n := startNode(t, cfg)
	mod := signedIn(t, n, "mod")
	mal := signedIn(t, n, "mallory")
	ana := signedIn(t, n, "ana")
	ana.subscribe("chat.lobby")
	s := mal.publish("chat.lobby", "spam", "s1")

	if r := ana.request(map[string]any{"op": "mute", "channel": "chat.lobby", "user": "mallory", "seconds": 60}); r.errCode() != "forbidden" {
		t.Errorf("ana mutes: %s, want forbidden", r.Raw)
	}
	mod.mustOK(mod.request(map[string]any{"op": "delete", "channel": "chat.lobby", "seq": s}))
	mod.mustOK(mod.request(map[string]any{"op": "mute", "channel": "chat.lobby", "user": "mallory", "seconds": 600}))
	ev := ana.waitEvent("mute", func(m msg) bool { return m.Event == "mute" })
	if d := dataOf(t, ev.Data); d["user"] != "mallory" || d["by"] != "mod" || d["until"] == nil {
		t.Errorf("mute event %s", ev.Raw)
	}
	r := mal.request(map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{"text": "more spam"}})
	if r.errCode() != "forbidden" || !strings.Contains(r.Error.Message, "seconds") {
		t.Errorf("muted publish: %s, want forbidden with the time left", r.Raw)
	}
	mal.publish("chat.other", "elsewhere is fine", "o1")
	mod.mustOK(mod.request(map[string]any{"op": "unmute", "channel": "chat.lobby", "user": "mallory"}))
	eventually(t, "unmuted", func() error {
		r := mal.request(map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{"text": "sorry"}})
		if r.errCode() != "" {
			return fmt.Errorf("%s", r.Raw)
		}
		return nil
	})
	eventually(t, "actions on /admin", func() error {
		req, _ := http.NewRequest("GET", n.URL()+"/admin/api/state", nil)
		req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st struct {
			Moderation struct {
				Actions []struct{ Action, By, User, Room string } `json:"actions"`
			} `json:"moderation"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		var got []string
		for _, a := range st.Moderation.Actions {
			got = append(got, a.Action+":"+a.By+":"+a.User+":"+a.Room)
		}
		want := []string{"unmute:mod:mallory:chat.lobby", "mute:mod:mallory:chat.lobby", "delete:mod:mallory:chat.lobby"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("actions %v, want %v", got, want)
		}
		return nil
	})
}
