package feeds

import "strings"

// Subject kinds (the first token of a channel) the feeds publish.
const (
	KindMarket    = "market"
	KindAnalytics = "analytics"
	KindCandle    = "candle"
	KindAlert     = "alert"
)

// ValidToken reports whether s is a usable subject token: 1 to 64 bytes of
// [A-Za-z0-9_-]. Symbols must be valid tokens.
func ValidToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Subject returns kind + "." + symbol.
func Subject(kind, symbol string) string { return kind + "." + symbol }

// SymbolOf returns the last token of a subject ("market.AAPL" → "AAPL").
func SymbolOf(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}

// Match reports whether subject matches pattern under NATS rules: "*"
// matches exactly one token, a final ">" matches one or more tokens.
func Match(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case pt == ">" && !pmore:
			return st != ""
		case pt != "*" && pt != st, st == "":
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}
