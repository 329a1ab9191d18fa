package feeds

import "github.com/tickroom/tickroom/internal/protocol"

// Subject kinds (the first token of a channel) the feeds publish: the
// wire contract's, named here for the producers' convenience.
const (
	KindMarket    = protocol.KindMarket
	KindAnalytics = protocol.KindAnalytics
	KindCandle    = protocol.KindCandle
	KindAlert     = protocol.KindAlert
)

// Subject returns kind + "." + symbol.
func Subject(kind, symbol string) string { return kind + "." + symbol }
