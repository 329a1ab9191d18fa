package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on channel names, from the contract.
const (
	MaxChannelBytes  = 255
	MaxChannelTokens = 16
)

// Channel kinds the product ships. The kind is a channel's first token and
// its default event name.
const (
	KindMarket    = "market"
	KindAnalytics = "analytics"
	KindCandle    = "candle"
	KindAlert     = "alert"
	KindChat      = "chat"
	KindFeed      = "feed"
	KindRef       = "ref"  // instrument reference data, last value (PROTOCOL §4)
	KindBook      = "book" // top of the order book, droppable last value (PROTOCOL §4)
)

// Stream names: the JetStream stream that stores each kind. They are part
// of the deployment (operators see them in `nats stream ls`), so they do not
// change lightly.
const (
	StreamChat    = "CHAT"
	StreamAlerts  = "ALERTS"
	StreamCandles = "CANDLES"
	StreamLast    = "LAST"  // last value per subject, not a history
	StreamUsers   = "USERS" // user.<name>: private notifications, retained on their own
)

// KindTraits are the facts the program knows about a channel kind. They are
// declared once, in [kindTable]; natsbus (which stream stores a subject),
// the gateway (what a client may replay, what may be conflated) and the
// metrics (labels) all read them from here.
type KindTraits struct {
	// Name is the kind: the channel's first token and default event name.
	Name string
	// Persisted events carry a stream sequence and can be replayed with
	// since and read with history.
	Persisted bool
	// Droppable events may be conflated to the latest value per channel
	// when a client falls behind.
	Droppable bool
	// LastValue: a subscription first delivers the channel's last value.
	LastValue bool
	// Stream is the JetStream stream that stores the kind.
	Stream string
	// Metric is the value of the kind label on per-kind metrics.
	Metric string
}

// kindTable is the one list of channel kinds. Adding a kind is one row
// here (plus, for a new stream, that stream's declaration in natsbus).
var kindTable = []KindTraits{
	{Name: KindMarket, LastValue: true, Droppable: true, Stream: StreamLast, Metric: KindMarket},
	{Name: KindAnalytics, LastValue: true, Droppable: true, Stream: StreamLast, Metric: KindAnalytics},
	{Name: KindFeed, LastValue: true, Droppable: true, Stream: StreamLast, Metric: KindFeed},
	{Name: KindRef, LastValue: true, Droppable: true, Stream: StreamLast, Metric: KindRef},
	{Name: KindBook, LastValue: true, Droppable: true, Stream: StreamLast, Metric: KindBook},
	{Name: KindCandle, Persisted: true, Stream: StreamCandles, Metric: KindCandle},
	{Name: KindAlert, Persisted: true, Stream: StreamAlerts, Metric: KindAlert},
	{Name: KindChat, Persisted: true, Stream: StreamChat, Metric: KindChat},
	// user.<name>: one user's private notifications, in their own stream
	// with their own retention, so a user who was offline finds them on
	// return.
	{Name: KindUser, Persisted: true, Stream: StreamUsers, Metric: KindUser},
}

var kindByName = func() map[string]KindTraits {
	m := make(map[string]KindTraits, len(kindTable))
	for _, k := range kindTable {
		m[k.Name] = k
	}
	return m
}()

// Kinds returns every shipped kind's traits, in declaration order. The
// slice is a copy.
func Kinds() []KindTraits { return append([]KindTraits(nil), kindTable...) }

// Traits returns kind's traits; ok is false for an unknown kind.
func Traits(kind string) (t KindTraits, ok bool) {
	t, ok = kindByName[kind]
	return t, ok
}

// KnownKind reports whether kind is one of the shipped channel kinds.
func KnownKind(kind string) bool { _, ok := kindByName[kind]; return ok }

// Persisted reports whether events of kind carry a stream sequence and can
// be replayed with since and read with history.
func Persisted(kind string) bool { return kindByName[kind].Persisted }

// HasLastValue reports whether a subscription to kind first delivers the
// channel's last value.
func HasLastValue(kind string) bool { return kindByName[kind].LastValue }

// Droppable reports whether events of kind may be conflated to the latest
// value per channel when a client falls behind. Chat, alerts and candles are
// never dropped.
func Droppable(kind string) bool { return kindByName[kind].Droppable }

// StreamOf returns the stream that stores kind, or "" for an unknown kind.
func StreamOf(kind string) string { return kindByName[kind].Stream }

// StreamSubjects returns the subject filters of a stream: "<kind>.>" for
// every kind it stores, in declaration order.
func StreamSubjects(stream string) []string {
	var out []string
	for _, k := range kindTable {
		if k.Stream == stream {
			out = append(out, k.Name+".>")
		}
	}
	return out
}

// Kind returns the first token of a channel name.
func Kind(channel string) string {
	if i := strings.IndexByte(channel, '.'); i >= 0 {
		return channel[:i]
	}
	return channel
}

// ErrChannel is wrapped by every channel validation error.
var ErrChannel = errors.New("invalid channel")

// ValidateChannel checks a channel name against the contract. Wildcard
// tokens ("*" anywhere after the kind, ">" as the last token) are accepted
// only when wildcard is true. The kind must be a literal, known kind.
func ValidateChannel(channel string, wildcard bool) error {
	if channel == "" {
		return fmt.Errorf("%w: empty", ErrChannel)
	}
	if len(channel) > MaxChannelBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrChannel, MaxChannelBytes)
	}
	tokens := 0
	for start := 0; start <= len(channel); {
		end := strings.IndexByte(channel[start:], '.')
		if end < 0 {
			end = len(channel)
		} else {
			end += start
		}
		tok := channel[start:end]
		tokens++
		if tokens > MaxChannelTokens {
			return fmt.Errorf("%w: more than %d tokens", ErrChannel, MaxChannelTokens)
		}
		if tok == "" {
			return fmt.Errorf("%w: empty token", ErrChannel)
		}
		switch {
		case tok == "*" || tok == ">":
			if !wildcard {
				return fmt.Errorf("%w: wildcards are only allowed in subscribe and unsubscribe", ErrChannel)
			}
			if tokens == 1 {
				return fmt.Errorf("%w: the first token must be a channel kind", ErrChannel)
			}
			if tok == ">" && end != len(channel) {
				return fmt.Errorf("%w: '>' must be the last token", ErrChannel)
			}
		case !validToken(tok):
			return fmt.Errorf("%w: token %q has characters outside [A-Za-z0-9_-]", ErrChannel, truncate(tok, 32))
		}
		if tokens == 1 && !KnownKind(tok) {
			return fmt.Errorf("%w: unknown kind %q", ErrChannel, truncate(tok, 32))
		}
		start = end + 1
	}
	if tokens < 2 {
		return fmt.Errorf("%w: a channel is <kind>.<name>", ErrChannel)
	}
	return nil
}

// IsWildcard reports whether a (valid) channel name holds a wildcard token.
func IsWildcard(channel string) bool {
	return strings.HasSuffix(channel, ".>") || strings.HasSuffix(channel, ".*") ||
		strings.Contains(channel, ".*.")
}

// Match reports whether the literal subject matches pattern under NATS
// wildcard rules.
func Match(pattern, subject string) bool {
	for {
		pi := strings.IndexByte(pattern, '.')
		si := strings.IndexByte(subject, '.')
		ptok, stok := pattern, subject
		if pi >= 0 {
			ptok = pattern[:pi]
		}
		if si >= 0 {
			stok = subject[:si]
		}
		if ptok == ">" {
			return stok != ""
		}
		if ptok != "*" && ptok != stok {
			return false
		}
		if pi < 0 || si < 0 {
			return pi < 0 && si < 0
		}
		pattern, subject = pattern[pi+1:], subject[si+1:]
	}
}

// LastToken returns the last token of a subject (the symbol of market.AAPL).
func LastToken(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

func validToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidToken reports whether s is a usable subject token on its own (a
// symbol, a room, an event name): 1 to 64 bytes of [A-Za-z0-9_-].
func ValidToken(s string) bool {
	return s != "" && len(s) <= 64 && validToken(s)
}

// ValidEventName reports whether name can be used as an event name (the
// Tickroom-Event header): one token.
func ValidEventName(name string) bool { return ValidToken(name) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
