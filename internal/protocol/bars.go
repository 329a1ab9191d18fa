package protocol

import (
	"encoding/json"
	"fmt"

	"github.com/tickroom/tickroom/internal/bars"
)

// Bar is one OHLCV bar of chart history as producers store it: the one
// bar type, owned by internal/bars.
type Bar = bars.Bar

// wireBar is a bar's JSON: the candle payload's fields.
type wireBar struct {
	Symbol   string          `json:"symbol"`
	Interval string          `json:"interval"`
	Start    json.RawMessage `json:"start"`
	Open     *float64        `json:"open"`
	High     *float64        `json:"high"`
	Low      *float64        `json:"low"`
	Close    *float64        `json:"close"`
	Volume   *float64        `json:"volume"`
}

// DecodeBars decodes a message of stored chart history for symbol at
// interval (docs/feeds.md): either one candle payload
// {"symbol","interval","start","open","high","low","close","volume"} or a
// batch {"symbol","interval","bars":[{"start",…},…]} whose bars may leave
// out symbol and interval. Every bar follows the candle rules (prices finite
// and > 0, low <= high, volume finite and >= 0, a start time); symbol must
// match, and interval too where a bar or batch names one (a message without
// an interval is a 1m bar). One bad bar rejects the whole message.
func DecodeBars(symbol, interval string, data []byte) ([]Bar, error) {
	var msg struct {
		wireBar
		Bars []wireBar `json:"bars"`
	}
	if err := unmarshal(trimJSONSpace(data), &msg); err != nil {
		return nil, err
	}
	if msg.Symbol != symbol {
		return nil, fmt.Errorf("%w: symbol %q, want %q", ErrPayload, truncate(msg.Symbol, 32), symbol)
	}
	checkInterval := func(iv string) error {
		if iv == "" {
			iv = DefaultCandleInterval
		}
		if iv != interval {
			return fmt.Errorf("%w: interval %q, want %q", ErrPayload, truncate(iv, 16), interval)
		}
		return nil
	}
	if err := checkInterval(msg.Interval); err != nil {
		return nil, err
	}
	if msg.Bars == nil {
		b, err := msg.wireBar.bar()
		if err != nil {
			return nil, err
		}
		return []Bar{b}, nil
	}
	out := make([]Bar, 0, len(msg.Bars))
	for i, wb := range msg.Bars {
		if (wb.Symbol != "" && wb.Symbol != symbol) || (wb.Interval != "" && wb.Interval != interval) {
			return nil, fmt.Errorf("%w: bars[%d] is of another symbol or interval", ErrPayload, i)
		}
		b, err := wb.bar()
		if err != nil {
			return nil, fmt.Errorf("bars[%d]: %w", i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (w *wireBar) bar() (Bar, error) {
	for name, v := range map[string]*float64{"open": w.Open, "high": w.High, "low": w.Low, "close": w.Close} {
		if v == nil || !finite(*v) || *v <= 0 {
			return Bar{}, fmt.Errorf("%w: %s must be a finite number > 0", ErrPayload, name)
		}
	}
	if *w.Low > *w.High {
		return Bar{}, fmt.Errorf("%w: low above high", ErrPayload)
	}
	b := Bar{Open: *w.Open, High: *w.High, Low: *w.Low, Close: *w.Close}
	if w.Volume != nil {
		if !finite(*w.Volume) || *w.Volume < 0 {
			return Bar{}, fmt.Errorf("%w: volume must be a finite number >= 0", ErrPayload)
		}
		b.Volume = *w.Volume
	}
	start, err := parseTime(w.Start)
	if err != nil || start.IsZero() {
		return Bar{}, fmt.Errorf("%w: start must be an RFC 3339 time or unix milliseconds", ErrPayload)
	}
	b.Start = start.UTC()
	return b, nil
}
