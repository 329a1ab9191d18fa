package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateChannel(t *testing.T) {
	long := "feed." + strings.Repeat("a", MaxChannelBytes-len("feed."))
	tokens16 := "feed" + strings.Repeat(".a", MaxChannelTokens-1)
	tests := []struct {
		name     string
		channel  string
		wildcard bool
		ok       bool
	}{
		{"market literal", "market.AAPL", false, true},
		{"analytics literal", "analytics.MSFT", false, true},
		{"candle literal", "candle.BTC-USD", false, true},
		{"alert literal", "alert.AAPL", false, true},
		{"chat literal", "chat.lobby", false, true},
		{"feed multi token", "feed.news.tech_01", false, true},
		{"literal with wildcard flag", "chat.lobby", true, true},
		{"all allowed chars", "feed.azAZ09_-", false, true},
		{"exactly 255 bytes", long, false, true},
		{"exactly 16 tokens", tokens16, false, true},

		{"empty", "", false, false},
		{"empty wildcard", "", true, false},
		{"256 bytes", long + "a", false, false},
		{"17 tokens", tokens16 + ".a", false, false},
		{"17 tokens wildcard", tokens16 + ".>", true, false},
		{"empty middle token", "feed..x", false, false},
		{"empty last token", "market.AAPL.", false, false},
		{"empty first token", ".AAPL", false, false},
		{"only dot", ".", false, false},
		{"space", "chat.lob by", false, false},
		{"slash", "chat.a/b", false, false},
		{"colon", "chat.a:b", false, false},
		{"non-ascii", "chat.café", false, false},
		{"NUL byte", "chat.a\x00", false, false},
		{"tab", "chat.a\tb", false, false},
		{"newline", "chat.a\n", false, false},
		{"quote", `chat.a"b`, false, false},
		{"backslash", `chat.a\b`, false, false},
		{"star inside token", "market.AA*PL", true, false},
		{"gt inside token", "market.A>", true, false},
		{"bad chars in kind", "mar ket.AAPL", false, false},

		{"star allowed", "market.*", true, true},
		{"gt allowed", "market.>", true, true},
		{"star in middle", "feed.*.x", true, true},
		{"star then gt", "feed.*.>", true, true},
		{"two stars", "feed.*.*", true, true},
		{"star not allowed", "market.*", false, false},
		{"gt not allowed", "market.>", false, false},
		{"star middle not allowed", "feed.*.x", false, false},
		{"gt not last", "feed.>.x", true, false},
		{"gt twice", "feed.>.>", true, false},
		{"star as first token", "*.AAPL", true, false},
		{"gt as first token", ">", true, false},
		{"gt as first token with more", ">.x", true, false},
		{"star alone", "*", true, false},

		{"unknown kind", "stocks.AAPL", false, false},
		{"unknown kind wildcard", "stocks.>", true, false},
		{"kind is case sensitive", "Market.AAPL", false, false},
		{"single token known kind", "market", false, false},
		{"single token chat", "chat", true, false},
		{"single token unknown", "foo", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateChannel(tt.channel, tt.wildcard)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateChannel(%q, %v) = %v, want ok=%v", tt.channel, tt.wildcard, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrChannel) {
				t.Fatalf("error %v does not wrap ErrChannel", err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"market.AAPL", "market.AAPL", true},
		{"market.AAPL", "market.MSFT", false},
		{"market.AAPL", "market.AAPLX", false},
		{"market.AAPL", "market.AAP", false},
		{"market.AAPL", "analytics.AAPL", false},
		{"market.*", "market.AAPL", true},
		{"market.*", "market", false},
		{"market.*", "market.AAPL.x", false},
		{"market.*", "analytics.AAPL", false},
		{"feed.*.x", "feed.news.x", true},
		{"feed.*.x", "feed.news.y", false},
		{"feed.*.x", "feed.news", false},
		{"feed.*.*", "feed.a.b", true},
		{"feed.*.*", "feed.a", false},
		{"market.>", "market.AAPL", true},
		{"market.>", "market.AAPL.x.y", true},
		{"market.>", "market", false}, // '>' needs at least one token
		{"market.>", "analytics.AAPL", false},
		{"feed.*.>", "feed.a.b", true},
		{"feed.*.>", "feed.a", false},
		{"feed.*.>", "feed.a.b.c.d", true},
		{"feed.a.b", "feed.a", false}, // length mismatch
		{"feed.a", "feed.a.b", false}, // length mismatch
		{"feed.a.b.c", "feed.a.b", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.subject); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
	}
}

func TestKindLastTokenIsWildcard(t *testing.T) {
	tests := []struct {
		channel  string
		kind     string
		last     string
		wildcard bool
	}{
		{"market.AAPL", "market", "AAPL", false},
		{"feed.news.tech", "feed", "tech", false},
		{"chat", "chat", "chat", false},
		{"", "", "", false},
		{"market.*", "market", "*", true},
		{"market.>", "market", ">", true},
		{"feed.*.x", "feed", "x", true},
		{"feed.a.*", "feed", "*", true},
		{"feed.a.>", "feed", ">", true},
		{"feed.a.b", "feed", "b", false},
	}
	for _, tt := range tests {
		if got := Kind(tt.channel); got != tt.kind {
			t.Errorf("Kind(%q) = %q, want %q", tt.channel, got, tt.kind)
		}
		if got := LastToken(tt.channel); got != tt.last {
			t.Errorf("LastToken(%q) = %q, want %q", tt.channel, got, tt.last)
		}
		if got := IsWildcard(tt.channel); got != tt.wildcard {
			t.Errorf("IsWildcard(%q) = %v, want %v", tt.channel, got, tt.wildcard)
		}
	}
}

func TestKindProperties(t *testing.T) {
	tests := []struct {
		kind                                   string
		known, persisted, lastValue, droppable bool
	}{
		{KindMarket, true, false, true, true},
		{KindAnalytics, true, false, true, true},
		{KindCandle, true, true, false, false},
		{KindAlert, true, true, false, false},
		{KindChat, true, true, false, false},
		{KindFeed, true, false, true, true},
		{KindRef, true, false, true, true},
		{KindBook, true, false, true, true},
		{"stocks", false, false, false, false},
		{"", false, false, false, false},
	}
	for _, tt := range tests {
		if KnownKind(tt.kind) != tt.known || Persisted(tt.kind) != tt.persisted ||
			HasLastValue(tt.kind) != tt.lastValue || Droppable(tt.kind) != tt.droppable {
			t.Errorf("kind %q: known=%v persisted=%v lastValue=%v droppable=%v, want %v %v %v %v",
				tt.kind, KnownKind(tt.kind), Persisted(tt.kind), HasLastValue(tt.kind), Droppable(tt.kind),
				tt.known, tt.persisted, tt.lastValue, tt.droppable)
		}
	}
}

func TestValidEventName(t *testing.T) {
	for name, want := range map[string]bool{
		"headline":              true,
		"market":                true,
		"a-b_C9":                true,
		strings.Repeat("e", 64): true,
		strings.Repeat("e", 65): false,
		"":                      false,
		"a.b":                   false,
		"a b":                   false,
		`a"b`:                   false,
		"*":                     false,
	} {
		if got := ValidEventName(name); got != want {
			t.Errorf("ValidEventName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{
		"market.AAPL", "market.*", "market.>", "feed.*.x", "feed.>.x", "*.AAPL", ">",
		"", ".", "chat..x", "chat.lobby.", "chat", "stocks.AAPL", "chat.café",
		"feed" + strings.Repeat(".a", 16), "feed." + strings.Repeat("a", 251),
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, ch string, wildcard bool) {
		err := ValidateChannel(ch, wildcard)
		if err != nil {
			if !errors.Is(err, ErrChannel) {
				t.Fatalf("error %v does not wrap ErrChannel", err)
			}
			return
		}
		if len(ch) > MaxChannelBytes {
			t.Fatalf("valid channel of %d bytes", len(ch))
		}
		toks := strings.Split(ch, ".")
		if len(toks) > MaxChannelTokens || len(toks) < 2 {
			t.Fatalf("valid channel with %d tokens", len(toks))
		}
		if !KnownKind(Kind(ch)) {
			t.Fatalf("valid channel %q with unknown kind", ch)
		}
		if IsWildcard(ch) && !wildcard {
			t.Fatalf("wildcard channel %q accepted without the wildcard flag", ch)
		}
		if !IsWildcard(ch) {
			if !Match(ch, ch) {
				t.Fatalf("Match(%q, %q) = false for a valid literal channel", ch, ch)
			}
			if ValidateChannel(ch, !wildcard) != nil {
				t.Fatalf("literal %q valid with wildcard=%v but not %v", ch, wildcard, !wildcard)
			}
			// A literal is matched by its own kind's full wildcard.
			if !Match(Kind(ch)+".>", ch) {
				t.Fatalf("Match(%q, %q) = false", Kind(ch)+".>", ch)
			}
		}
	})
}

// The kind table is the one source; these are the rules its rows obey.
func TestKindTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if seen[k.Name] {
			t.Errorf("kind %q declared twice", k.Name)
		}
		seen[k.Name] = true
		if !ValidToken(k.Name) || k.Stream == "" || k.Metric == "" {
			t.Errorf("kind %+v: name, stream and metric label are required", k)
		}
		if k.Persisted == (k.Stream == StreamLast) {
			t.Errorf("kind %q: persisted kinds have a history stream, others the last-value stream", k.Name)
		}
		if k.Droppable && k.Persisted {
			t.Errorf("kind %q: a persisted kind is never dropped", k.Name)
		}
		found := false
		for _, s := range StreamSubjects(k.Stream) {
			found = found || s == k.Name+".>"
		}
		if !found {
			t.Errorf("kind %q missing from stream %s's subjects", k.Name, k.Stream)
		}
		if got, ok := Traits(k.Name); !ok || got != k {
			t.Errorf("Traits(%q) = %+v, %v", k.Name, got, ok)
		}
	}
	if _, ok := Traits("nope"); ok || StreamOf("nope") != "" {
		t.Error("unknown kind has traits")
	}
}
