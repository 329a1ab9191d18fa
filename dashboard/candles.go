package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/bars"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Candle history (PROTOCOL §4) is read, on each request, from two places:
//
//   - bars.<SYMBOL>.<interval> (the BARS stream): closed bars a price
//     producer stored per interval — the simulator's backfill and its live
//     closed bars, or an outside producer's own history;
//   - candle.<SYMBOL> (the CANDLES stream): the live 1-minute bars,
//     including the one in progress.
//
// The bars of an interval are its stored bars, then — for the windows after
// the newest stored one — the bars derived from the next shorter interval
// (itself stored bars, then derived ones, down to the live 1m bars) with
// bars.Aggregate. So a 1D chart is the stored days, then today made of
// today's stored hours, the current hour's quarters and so on down to the
// minute in progress; and a producer that stores nothing still gets every
// interval, derived from its live 1m bars. The gateway keeps no candle
// state: any gateway answers any request the same way.

// barReader is what candle history needs from the bus beyond Bus.
type barReader interface {
	ReadSince(ctx context.Context, subject string, from time.Time, fn func(natsbus.Msg) error) error
}

var _ barReader = (*natsbus.Bus)(nil)

var errNoBarReader = errors.New("dashboard: the bus cannot read stored bars")

// candleQuery reads the bars of one candle channel.
type candleQuery struct {
	br      barReader
	channel string // candle.<SYMBOL>
	symbol  string
	stored  bool // the symbol is one token, so bars.<SYMBOL>.<iv> exists
}

// candleHistory answers history on a candle channel.
func (s *Server) candleHistory(ctx context.Context, id auth.Identity, req *protocol.Request) ([]byte, *protocol.Error) {
	if perr := s.mayRead(id, req.Channel); perr != nil {
		return nil, perr
	}
	raw, err := s.candleHistoryJSON(ctx, req)
	if err != nil {
		if !errors.Is(err, natsbus.ErrUnavailable) {
			s.log.Warn("candle history failed", "channel", req.Channel, "interval", req.Interval, "err", err)
		}
		return nil, protocol.NewError(protocol.CodeUnavailable, "history is unavailable; retry later")
	}
	return protocol.AppendOKField(nil, req.ID, "messages", raw), nil
}

// httpCandleHistory is GET /api/channels/candle.<SYMBOL>/history with
// ?interval=&before=&limit=, before as RFC 3339 or unix ms: the same rules
// and reply as the history request.
func (s *Server) httpCandleHistory(c *fiber.Ctx, id auth.Identity, channel string) error {
	req := protocol.Request{Op: protocol.OpHistory, Channel: channel, Interval: c.Query("interval")}
	if v := c.Query("before"); v != "" {
		t, err := protocol.ParseBeforeTime(v)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		req.BeforeTime = t
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "limit must be a number")
		}
		req.Limit = n
	}
	if perr := protocol.ValidateRequest(&req); perr != nil {
		return fiber.NewError(fiber.StatusBadRequest, perr.Message)
	}
	if perr := s.mayRead(id, req.Channel); perr != nil {
		return fiber.NewError(fiber.StatusForbidden, perr.Message)
	}
	raw, err := s.candleHistoryJSON(c.UserContext(), &req)
	if err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "history is unavailable; retry later")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(protocol.AppendOKField(nil, nil, "messages", raw))
}

// candleHistoryJSON is the JSON array of the bars of req.Channel at
// req.Interval that start before req.BeforeTime (zero: all), the newest
// req.Limit of them, oldest first, as candle events.
func (s *Server) candleHistoryJSON(ctx context.Context, req *protocol.Request) ([]byte, error) {
	br, ok := s.bus.(barReader)
	if !ok {
		return nil, errNoBarReader
	}
	k := slices.Index(protocol.CandleIntervals, req.Interval)
	if k < 0 {
		k = 0
	}
	sym := strings.TrimPrefix(req.Channel, protocol.KindCandle+".")
	q := &candleQuery{br: br, channel: req.Channel, symbol: protocol.LastToken(req.Channel), stored: !strings.Contains(sym, ".")}
	series, err := q.at(ctx, k, time.Time{})
	if err != nil {
		return nil, err
	}
	if !req.BeforeTime.IsZero() {
		n, _ := slices.BinarySearchFunc(series, req.BeforeTime, func(b bars.Bar, t time.Time) int { return b.Start.Compare(t) })
		series = series[:n]
	}
	if len(series) > req.Limit {
		series = series[len(series)-req.Limit:]
	}
	return encodeBars(req.Channel, q.symbol, protocol.CandleIntervals[k], series, s.cfg.QueueBytes/2), nil
}

// at returns every bar of interval k with a start at or after from, oldest
// first: stored ones, then those derived from interval k-1 (or, for 1m, the
// live bars) after the newest stored one.
func (q *candleQuery) at(ctx context.Context, k int, from time.Time) ([]bars.Bar, error) {
	iv := protocol.CandleIntervals[k]
	d, _ := protocol.CandleInterval(iv)
	var stored []bars.Bar
	if q.stored {
		var err error
		if stored, err = q.read(ctx, natsbus.BarsSubject(q.symbol, iv), iv, from); err != nil {
			return nil, err
		}
	}
	tailFrom := from
	if n := len(stored); n > 0 {
		tailFrom = stored[n-1].Start.Add(d)
	}
	var tail []bars.Bar
	if k == 0 {
		var err error
		if tail, err = q.read(ctx, q.channel, iv, tailFrom); err != nil {
			return nil, err
		}
	} else {
		finer, err := q.at(ctx, k-1, tailFrom)
		if err != nil {
			return nil, err
		}
		tail = bars.Aggregate(finer, d)
	}
	return append(stored, tail...), nil
}

// read returns the valid bars of interval iv stored on subject that start
// at or after from, one per start (the last stored wins), oldest first.
// Invalid messages are skipped, as invalid live ones are.
func (q *candleQuery) read(ctx context.Context, subject, iv string, from time.Time) ([]bars.Bar, error) {
	byStart := map[int64]int{}
	var out []bars.Bar
	err := q.br.ReadSince(ctx, subject, from, func(m natsbus.Msg) error {
		got, err := protocol.DecodeBars(q.symbol, iv, m.Data)
		if err != nil {
			return nil
		}
		for _, b := range got {
			if b.Start.Before(from) {
				continue
			}
			key := b.Start.UnixMilli()
			if i, ok := byStart[key]; ok {
				out[i] = b
				continue
			}
			byStart[key] = len(out)
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b bars.Bar) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// candleData is a bar as history events carry it: the candle payload.
type candleData struct {
	Symbol   string  `json:"symbol"`
	Interval string  `json:"interval"`
	Start    string  `json:"start"`
	Open     float64 `json:"open"`
	High     float64 `json:"high"`
	Low      float64 `json:"low"`
	Close    float64 `json:"close"`
	Volume   float64 `json:"volume"`
}

// encodeBars encodes bars as a JSON array of candle events, keeping the
// newest that fit in budget bytes (a bigger reply would close the client
// as a slow consumer); the client pages further back with before.
func encodeBars(channel, symbol, interval string, series []bars.Bar, budget int) []byte {
	frames := make([][]byte, 0, len(series))
	for i := len(series) - 1; i >= 0; i-- {
		b := series[i]
		data, err := json.Marshal(candleData{
			Symbol: symbol, Interval: interval, Start: b.Start.UTC().Format(protocol.TimeFormat),
			Open: b.Open, High: b.High, Low: b.Low, Close: b.Close, Volume: b.Volume,
		})
		if err != nil {
			continue // a NaN cannot get here: DecodeBars and Aggregate keep values finite
		}
		f := protocol.AppendEvent(make([]byte, 0, 64+len(channel)+len(data)), channel, protocol.KindCandle, 0, b.Start, data)
		if budget -= len(f) + 1; budget < 0 {
			break
		}
		frames = append(frames, f)
	}
	return newestFirstArray(frames)
}
