package feeds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"
)

// TimeLayout is how the feeds write times: RFC 3339, milliseconds, UTC.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime formats t with TimeLayout in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid payload")

// Time is a time.Time that marshals as RFC 3339 with milliseconds in UTC
// and unmarshals from an RFC 3339 string or unix milliseconds (the two forms
// PROTOCOL section 1 allows). The zero Time marshals as null and an absent or
// null time unmarshals as the zero Time.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + FormatTime(t.Time) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%w: time %q is not RFC 3339", ErrInvalid, s)
		}
		t.Time = v
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(ms) || ms < 0 || ms > 1e15 {
		return fmt.Errorf("%w: time must be RFC 3339 or unix milliseconds", ErrInvalid)
	}
	t.Time = time.UnixMilli(int64(ms)).UTC()
	return nil
}

// Tick is the payload of market.<SYMBOL>. Bid, Ask, Size, Volume, BidSize
// and AskSize are optional: zero means absent and is omitted from the JSON.
// Volume is the cumulative traded volume of the session; Size the size of
// this trade; BidSize and AskSize the sizes quoted at Bid and Ask.
type Tick struct {
	Symbol  string  `json:"symbol"`
	Price   float64 `json:"price"`
	Bid     float64 `json:"bid,omitempty"`
	Ask     float64 `json:"ask,omitempty"`
	Size    float64 `json:"size,omitempty"`
	Volume  float64 `json:"volume,omitempty"`
	BidSize float64 `json:"bid_size,omitempty"`
	AskSize float64 `json:"ask_size,omitempty"`
	Time    Time    `json:"time,omitzero"`
}

// Validate applies the gateway's rules for market payloads — the schema
// has one owner, protocol.ValidatePayload, so a tick the feed accepts is
// one the gateway accepts: the symbol is a valid subject token, price is
// finite and > 0, the optional numbers are finite and >= 0.
func (t Tick) Validate() error {
	if !protocol.ValidToken(t.Symbol) {
		return fmt.Errorf("%w: symbol %q is not a subject token [A-Za-z0-9_-]", ErrInvalid, t.Symbol)
	}
	data, err := json.Marshal(t)
	if err != nil { // NaN or ±Inf
		return fmt.Errorf("%w: %s: numbers must be finite", ErrInvalid, t.Symbol)
	}
	return validate(Subject(KindMarket, t.Symbol), data)
}

// validate checks data against the wire schema of subject's kind.
func validate(subject string, data []byte) error {
	if _, err := protocol.ValidatePayload(subject, data); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, protocol.LastToken(subject), err)
	}
	return nil
}

// DecodeTick decodes and validates a market payload received on subject;
// the symbol must equal the subject's last token.
func DecodeTick(subject string, data []byte) (Tick, error) {
	if err := validate(subject, data); err != nil {
		return Tick{}, err
	}
	var t Tick
	if err := json.Unmarshal(data, &t); err != nil {
		return Tick{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return t, nil
}

// Candle is the payload of candle.<SYMBOL>: an OHLCV bar. A bar in progress
// is sent again with the same Start; the last one wins.
type Candle struct {
	Symbol   string  `json:"symbol"`
	Interval string  `json:"interval"`
	Start    Time    `json:"start"`
	Open     float64 `json:"open"`
	High     float64 `json:"high"`
	Low      float64 `json:"low"`
	Close    float64 `json:"close"`
	Volume   float64 `json:"volume"`
}

// Alert levels.
const (
	LevelInfo     = "info"
	LevelWarn     = "warn"
	LevelCritical = "critical"
)

// Alert is the payload of alert.<SYMBOL>.
type Alert struct {
	Symbol string `json:"symbol"`
	Level  string `json:"level"`
	Text   string `json:"text"`
	Time   Time   `json:"time,omitzero"`
}

// Analytics is the payload of analytics.<SYMBOL>. A NaN field is not
// available yet (too few bars) and is left out of the JSON; a missing field
// decodes as NaN. See feeds/analytics for the definitions.
type Analytics struct {
	Symbol string
	Time   time.Time

	Price      float64 // last trade
	Open       float64 // first trade of the session (UTC day)
	High       float64 // session high
	Low        float64 // session low
	ChangePct  float64 // (Price-Open)/Open × 100
	Volume     float64 // session volume
	VWAP       float64 // session volume-weighted average price
	SMA20      float64 // simple moving average of the last 20 one-minute closes
	EMA20      float64 // exponential moving average, 20 one-minute closes
	RSI14      float64 // Wilder's RSI over 14 one-minute closes
	Volatility float64 // annualised stdev of one-minute log returns (last 20)
}

// analyticsFields lists the JSON names and the fields of Analytics, in order.
func (a *Analytics) fields() []struct {
	name string
	v    *float64
} {
	return []struct {
		name string
		v    *float64
	}{
		{"price", &a.Price}, {"open", &a.Open}, {"high", &a.High}, {"low", &a.Low},
		{"change_pct", &a.ChangePct}, {"volume", &a.Volume}, {"vwap", &a.VWAP},
		{"sma20", &a.SMA20}, {"ema20", &a.EMA20}, {"rsi14", &a.RSI14}, {"volatility", &a.Volatility},
	}
}

// NewAnalytics returns an Analytics with every indicator NaN (absent).
func NewAnalytics(symbol string, t time.Time) Analytics {
	a := Analytics{Symbol: symbol, Time: t}
	for _, f := range a.fields() {
		*f.v = math.NaN()
	}
	return a
}

// MarshalJSON implements json.Marshaler, leaving out NaN and infinite fields.
func (a Analytics) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"symbol":`)
	sym, err := json.Marshal(a.Symbol)
	if err != nil {
		return nil, err
	}
	b.Write(sym)
	if !a.Time.IsZero() {
		b.WriteString(`,"time":"` + FormatTime(a.Time) + `"`)
	}
	for _, f := range a.fields() {
		if !finite(*f.v) {
			continue
		}
		b.WriteString(`,"` + f.name + `":`)
		b.Write(strconv.AppendFloat(nil, *f.v, 'g', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler; absent indicators become NaN.
func (a *Analytics) UnmarshalJSON(data []byte) error {
	var raw struct {
		Symbol string   `json:"symbol"`
		Time   Time     `json:"time"`
		Price  *float64 `json:"price"`
		Open   *float64 `json:"open"`
		High   *float64 `json:"high"`
		Low    *float64 `json:"low"`
		Chg    *float64 `json:"change_pct"`
		Vol    *float64 `json:"volume"`
		VWAP   *float64 `json:"vwap"`
		SMA    *float64 `json:"sma20"`
		EMA    *float64 `json:"ema20"`
		RSI    *float64 `json:"rsi14"`
		Sigma  *float64 `json:"volatility"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*a = NewAnalytics(raw.Symbol, raw.Time.Time)
	src := []*float64{raw.Price, raw.Open, raw.High, raw.Low, raw.Chg, raw.Vol, raw.VWAP, raw.SMA, raw.EMA, raw.RSI, raw.Sigma}
	for i, f := range a.fields() {
		if src[i] != nil {
			*f.v = *src[i]
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
