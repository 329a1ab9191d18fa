package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Candle history limits (PROTOCOL §4).
const MaxCandleHistoryLimit = 1000

// Bar intervals a candle history may ask for, shortest first. The first is
// the default and the interval live candle.<SYMBOL> events carry.
var CandleIntervals = []string{"1m", "5m", "15m", "1h", "1D"}

var candleIntervals = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"1h": time.Hour, "1D": 24 * time.Hour,
}

// DefaultCandleInterval is the interval of a candle history that names none.
const DefaultCandleInterval = "1m"

// CandleInterval returns the length of a bar interval and whether it is
// one of CandleIntervals. Names are case-sensitive: 1m is a minute, 1D a day.
func CandleInterval(name string) (time.Duration, bool) {
	d, ok := candleIntervals[name]
	return d, ok
}

// ParseBeforeTime parses a candle history's before as given in an HTTP
// query: RFC 3339 or unix milliseconds.
func ParseBeforeTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > 1e15 {
			return time.Time{}, fmt.Errorf("before %d is out of range", ms)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("before must be an RFC 3339 time or unix milliseconds")
	}
	return t, nil
}

// requestWire decodes a Request whose before may be a number (a seq, or
// unix ms for candles) or a string (an RFC 3339 time, candles only): the
// shallower Before field shadows the embedded one.
type requestWire struct {
	*requestFields
	Before json.RawMessage `json:"before,omitempty"`
}

type requestFields Request // Request without its methods

func decodeRequest(data []byte, req *Request) error {
	w := requestWire{requestFields: (*requestFields)(req)}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	raw := w.Before
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("before must be a sequence number, or for candles an RFC 3339 time or unix milliseconds")
		}
		req.BeforeTime = t
		return nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return fmt.Errorf("before must be a non-negative integer (a sequence number, or unix milliseconds for candles)")
	}
	req.Before = n
	return nil
}

// validateCandleHistory checks a history request that is about bars: the
// channel must be a candle channel, the interval known (default 1m), before
// a time (a numeric before is unix ms), limit at most MaxCandleHistoryLimit.
func (r *Request) validateCandleHistory() *Error {
	if Kind(r.Channel) != KindCandle {
		return NewError(CodeBadRequest, "interval and a time before apply only to candle channels")
	}
	if r.Interval == "" {
		r.Interval = DefaultCandleInterval
	}
	if _, ok := CandleInterval(r.Interval); !ok {
		return NewError(CodeBadRequest, fmt.Sprintf("unknown interval %q: want one of 1m, 5m, 15m, 1h, 1D", truncate(r.Interval, 16)))
	}
	if r.Before != 0 {
		if r.Before > 1e15 {
			return NewError(CodeBadRequest, "before is out of range for unix milliseconds")
		}
		r.BeforeTime, r.Before = time.UnixMilli(int64(r.Before)).UTC(), 0
	}
	if r.Limit < 0 {
		return NewError(CodeBadRequest, "limit must not be negative")
	}
	if r.Limit == 0 {
		r.Limit = DefaultHistoryLimit
	}
	r.Limit = min(r.Limit, MaxCandleHistoryLimit)
	return nil
}
