package dashboard

import (
	"testing"

	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"chat.desk", "chat.desk", true},
		{"chat.desk", "chat.lobby", false},
		{"chat.*", "chat.desk", true},
		{"chat.desk", "chat.*", true},
		{"chat.>", "chat.desk.x", true},
		{"chat.desk", "chat.>", true},
		{">", "chat.desk", true},
		{"chat.*", "chat.desk.x", false},
		{"chat.desk.*", "chat.*.x", true},
		{"chat.desk", "chat.desk.x", false},
		{"chat.desk.x", "chat.desk", false},
		{"market.*", "chat.desk", false},
		{"chat.*.a", "chat.>", true},
	} {
		if got := overlaps(c.a, c.b); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := overlaps(c.b, c.a); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v (symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestRoomRules(t *testing.T) {
	s := &Server{cfg: Config{
		ReadRules: []RoomRule{
			{Pattern: "chat.desk", Users: []string{"ana"}, Roles: []string{"trader"}},
			{Pattern: "chat.desk-*", Users: []string{"ana"}}, // hyphen is a token char: a literal
			{Pattern: "chat.>", Users: []string{"ana", "bob", "carol"}, Roles: []string{"trader"}},
		},
		WriteRules: []RoomRule{{Pattern: "chat.news"}},
	}}
	ana := auth.Identity{User: "ana"}
	bob := auth.Identity{User: "bob"}
	trader := auth.Identity{User: "tim", Roles: []string{"trader"}}
	dave := auth.Identity{User: "dave"}
	ok := func(e *protocol.Error) bool { return e == nil }
	for _, c := range []struct {
		id      auth.Identity
		channel string
		read    bool
	}{
		{ana, "chat.desk", true},
		{trader, "chat.desk", true},
		{bob, "chat.desk", false},
		{bob, "chat.lobby", true},
		{bob, "chat.*", false}, // would include chat.desk
		{ana, "chat.*", true},
		{dave, "chat.lobby", false}, // every matching rule must allow
		{dave, "market.AAPL", true},
		{dave, "market.*", true},
	} {
		if got := ok(s.mayRead(c.id, c.channel)); got != c.read {
			t.Errorf("%s read %s: %v, want %v", c.id.User, c.channel, got, c.read)
		}
	}
	if e := s.mayWrite(ana, "chat.news"); e == nil || e.Code != protocol.CodeForbidden {
		t.Errorf("write to a room nobody may write: %v", e)
	}
	if e := s.mayWrite(ana, "chat.desk"); e != nil {
		t.Errorf("write to an unrestricted room: %v", e)
	}
}
