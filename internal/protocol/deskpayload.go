package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Limits of the desk payloads (PROTOCOL §4).
const (
	MaxBookLevels     = 50 // per side of a book.<SYMBOL> snapshot
	MaxPriceDecimals  = 10 // ref.<SYMBOL> price_decimals is 0..MaxPriceDecimals
	maxRefStringBytes = 200
)

// validateRef checks a ref.<SYMBOL> payload: symbol equals the subject's
// token, tick_size is a finite number > 0, price_decimals an integer
// 0..MaxPriceDecimals; name, asset_class and currency, when present, are
// short strings. Other fields pass through. Reference data carries no time.
func validateRef(subject string, data []byte) (time.Time, error) {
	var p struct {
		Symbol        string          `json:"symbol"`
		Name          json.RawMessage `json:"name"`
		AssetClass    json.RawMessage `json:"asset_class"`
		Currency      json.RawMessage `json:"currency"`
		TickSize      *float64        `json:"tick_size"`
		PriceDecimals *float64        `json:"price_decimals"`
		Time          json.RawMessage `json:"time"`
	}
	if err := unmarshal(data, &p); err != nil {
		return time.Time{}, err
	}
	if err := checkSymbol(subject, p.Symbol); err != nil {
		return time.Time{}, err
	}
	if p.TickSize == nil || !finite(*p.TickSize) || *p.TickSize <= 0 {
		return time.Time{}, fmt.Errorf("%w: tick_size must be a finite number > 0", ErrPayload)
	}
	if d := p.PriceDecimals; d == nil || *d != math.Trunc(*d) || *d < 0 || *d > MaxPriceDecimals {
		return time.Time{}, fmt.Errorf("%w: price_decimals must be an integer from 0 to %d", ErrPayload, MaxPriceDecimals)
	}
	for name, raw := range map[string]json.RawMessage{"name": p.Name, "asset_class": p.AssetClass, "currency": p.Currency} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > maxRefStringBytes {
			return time.Time{}, fmt.Errorf("%w: %s must be a string of at most %d bytes", ErrPayload, name, maxRefStringBytes)
		}
	}
	return parseTime(p.Time)
}

// validateBook checks a book.<SYMBOL> payload: a full snapshot of at most
// MaxBookLevels [price, size] levels a side, bids strictly descending, asks
// strictly ascending, prices finite and > 0, sizes finite and >= 0, and the
// best bid below the best ask. Either side may be empty.
func validateBook(subject string, data []byte) (time.Time, error) {
	var p struct {
		Symbol string          `json:"symbol"`
		Time   json.RawMessage `json:"time"`
		Bids   *[][]float64    `json:"bids"`
		Asks   *[][]float64    `json:"asks"`
	}
	if err := unmarshal(data, &p); err != nil {
		return time.Time{}, err
	}
	if err := checkSymbol(subject, p.Symbol); err != nil {
		return time.Time{}, err
	}
	if p.Bids == nil || p.Asks == nil {
		return time.Time{}, fmt.Errorf("%w: a book needs bids and asks (arrays of [price, size])", ErrPayload)
	}
	if err := checkLevels("bids", *p.Bids, -1); err != nil {
		return time.Time{}, err
	}
	if err := checkLevels("asks", *p.Asks, +1); err != nil {
		return time.Time{}, err
	}
	if len(*p.Bids) > 0 && len(*p.Asks) > 0 && (*p.Bids)[0][0] >= (*p.Asks)[0][0] {
		return time.Time{}, fmt.Errorf("%w: best bid %v is not below best ask %v", ErrPayload, (*p.Bids)[0][0], (*p.Asks)[0][0])
	}
	return parseTime(p.Time)
}

// checkLevels checks one side of a book; dir is -1 for strictly descending
// prices (bids), +1 for strictly ascending (asks).
func checkLevels(side string, levels [][]float64, dir float64) error {
	if len(levels) > MaxBookLevels {
		return fmt.Errorf("%w: %s has %d levels; at most %d", ErrPayload, side, len(levels), MaxBookLevels)
	}
	for i, lv := range levels {
		if len(lv) != 2 {
			return fmt.Errorf("%w: %s[%d] must be [price, size]", ErrPayload, side, i)
		}
		if !finite(lv[0]) || lv[0] <= 0 {
			return fmt.Errorf("%w: %s[%d] price must be a finite number > 0", ErrPayload, side, i)
		}
		if !finite(lv[1]) || lv[1] < 0 {
			return fmt.Errorf("%w: %s[%d] size must be a finite number >= 0", ErrPayload, side, i)
		}
		if i > 0 && (lv[0]-levels[i-1][0])*dir <= 0 {
			order := "descending"
			if dir > 0 {
				order = "ascending"
			}
			return fmt.Errorf("%w: %s prices must be strictly %s (level %d)", ErrPayload, side, order, i)
		}
	}
	return nil
}

// checkSizes checks a tick's optional bid_size and ask_size.
func checkSizes(bidSize, askSize *float64) error {
	for name, v := range map[string]*float64{"bid_size": bidSize, "ask_size": askSize} {
		if v != nil && (!finite(*v) || *v < 0) {
			return fmt.Errorf("%w: %s must be a finite number >= 0", ErrPayload, name)
		}
	}
	return nil
}
