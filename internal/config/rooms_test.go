package config

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseRoomRules(t *testing.T) {
	got, err := ParseRoomRules([]string{"chat.desk=ana", "bob", "@trader", "chat.ops=@ops", "chat.news="})
	if err != nil {
		t.Fatal(err)
	}
	want := []RoomRule{
		{Pattern: "chat.desk", Users: []string{"ana", "bob"}, Roles: []string{"trader"}},
		{Pattern: "chat.ops", Roles: []string{"ops"}},
		{Pattern: "chat.news"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A YAML list item may itself hold commas.
	got, err = ParseRoomRules([]string{"chat.*=ana, bob", "market.>=@feeds"})
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0].Users, []string{"ana", "bob"}) || got[1].Pattern != "market.>" {
		t.Errorf("YAML form: %+v, %v", got, err)
	}
	for _, bad := range [][]string{
		{"ana"},               // an entry before any rule
		{"chat desk=ana"},     // not a pattern
		{"chat.>.x=ana"},      // > not last
		{"=ana"},              // no pattern
		{"chat.desk=@"},       // empty role
		{"chat.desk=ana=bob"}, // two '='
		{"chat..desk=ana"},    // empty token
		{"chat.de$k=ana,bob"}, // bad character
	} {
		if _, err := ParseRoomRules(bad); err == nil {
			t.Errorf("ParseRoomRules(%q) accepted", bad)
		}
	}
}

func TestRoomRulesFromFlagsAndValidate(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := Load(fs, []string{"-room-read", "chat.desk=ana,bob", "-room-read", "chat.ops=@ops", "-room-write", "chat.news="}, nil)
	if err != nil {
		t.Fatal(err)
	}
	read, _ := ParseRoomRules(cfg.RoomRead)
	write, _ := ParseRoomRules(cfg.RoomWrite)
	if len(read) != 2 || read[0].Pattern != "chat.desk" || len(read[0].Users) != 2 || read[1].Roles[0] != "ops" ||
		len(write) != 1 || write[0].Pattern != "chat.news" || write[0].Users != nil {
		t.Errorf("read %+v write %+v", read, write)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Load(fs, []string{"-room-write", "nope"}, nil); err == nil {
		t.Errorf("an invalid room-write rule passed validation")
	}
}
