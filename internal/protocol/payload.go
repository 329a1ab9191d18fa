package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrPayload is wrapped by every producer-payload validation error.
var ErrPayload = errors.New("invalid payload")

// Alert levels.
var alertLevels = map[string]bool{"info": true, "warn": true, "critical": true}

// ValidatePayload checks a producer's message on subject against the schema
// of the subject's kind (PROTOCOL section 1) and returns the time the payload
// carries (zero when it has none). It never panics, whatever the bytes; the
// caller enforces the size limit before calling it.
func ValidatePayload(subject string, data []byte) (time.Time, error) {
	if !utf8.Valid(data) {
		return time.Time{}, fmt.Errorf("%w: not UTF-8", ErrPayload)
	}
	trimmed := trimJSONSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return time.Time{}, fmt.Errorf("%w: not a JSON object", ErrPayload)
	}
	kind := Kind(subject)
	switch kind {
	case KindMarket:
		var p struct {
			Symbol string          `json:"symbol"`
			Price  *float64        `json:"price"`
			Bid    *float64        `json:"bid"`
			Ask    *float64        `json:"ask"`
			Size   *float64        `json:"size"`
			Volume *float64        `json:"volume"`
			Time   json.RawMessage `json:"time"`

			BidSize *float64 `json:"bid_size"`
			AskSize *float64 `json:"ask_size"`
		}
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		if err := checkSymbol(subject, p.Symbol); err != nil {
			return time.Time{}, err
		}
		if err := checkSizes(p.BidSize, p.AskSize); err != nil {
			return time.Time{}, err
		}
		if p.Price == nil || !finite(*p.Price) || *p.Price <= 0 {
			return time.Time{}, fmt.Errorf("%w: price must be a finite number > 0", ErrPayload)
		}
		for name, v := range map[string]*float64{"bid": p.Bid, "ask": p.Ask, "size": p.Size, "volume": p.Volume} {
			if v != nil && (!finite(*v) || *v < 0) {
				return time.Time{}, fmt.Errorf("%w: %s must be a finite number >= 0", ErrPayload, name)
			}
		}
		return parseTime(p.Time)
	case KindAnalytics:
		var p map[string]json.RawMessage
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		var sym string
		if raw, ok := p["symbol"]; ok && json.Unmarshal(raw, &sym) != nil {
			return time.Time{}, fmt.Errorf("%w: symbol must be a string", ErrPayload)
		}
		if err := checkSymbol(subject, sym); err != nil {
			return time.Time{}, err
		}
		return parseTime(p["time"])
	case KindCandle:
		var p wireBar // the candle payload's fields (bars.go)
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		if err := checkSymbol(subject, p.Symbol); err != nil {
			return time.Time{}, err
		}
		for name, v := range map[string]*float64{"open": p.Open, "high": p.High, "low": p.Low, "close": p.Close} {
			if v == nil || !finite(*v) || *v <= 0 {
				return time.Time{}, fmt.Errorf("%w: %s must be a finite number > 0", ErrPayload, name)
			}
		}
		if *p.Low > *p.High {
			return time.Time{}, fmt.Errorf("%w: low above high", ErrPayload)
		}
		if p.Volume != nil && (!finite(*p.Volume) || *p.Volume < 0) {
			return time.Time{}, fmt.Errorf("%w: volume must be a finite number >= 0", ErrPayload)
		}
		start, err := parseTime(p.Start)
		if err != nil || start.IsZero() {
			return time.Time{}, fmt.Errorf("%w: start must be an RFC 3339 time or unix milliseconds", ErrPayload)
		}
		return start, nil
	case KindAlert:
		var p struct {
			Symbol string          `json:"symbol"`
			Level  string          `json:"level"`
			Text   string          `json:"text"`
			Time   json.RawMessage `json:"time"`
		}
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		if err := checkSymbol(subject, p.Symbol); err != nil {
			return time.Time{}, err
		}
		if !alertLevels[p.Level] {
			return time.Time{}, fmt.Errorf("%w: level must be info, warn or critical", ErrPayload)
		}
		if strings.TrimSpace(p.Text) == "" {
			return time.Time{}, fmt.Errorf("%w: text is empty", ErrPayload)
		}
		return parseTime(p.Time)
	case KindChat:
		var p struct {
			User string `json:"user"`
			Text string `json:"text"`
		}
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		if strings.TrimSpace(p.User) == "" || strings.TrimSpace(p.Text) == "" {
			return time.Time{}, fmt.Errorf("%w: chat needs a user and a text", ErrPayload)
		}
		return time.Time{}, nil
	case KindRef:
		return validateRef(subject, trimmed)
	case KindBook:
		return validateBook(subject, trimmed)
	case KindFeed, KindUser:
		var p map[string]json.RawMessage
		if err := unmarshal(trimmed, &p); err != nil {
			return time.Time{}, err
		}
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("%w: unknown kind %q", ErrPayload, truncate(kind, 32))
}

func unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s", ErrPayload, jsonProblem(err))
	}
	return nil
}

func checkSymbol(subject, symbol string) error {
	if want := LastToken(subject); symbol != want {
		return fmt.Errorf("%w: symbol %q does not match the subject's %q", ErrPayload, truncate(symbol, 32), want)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// parseTime accepts an RFC 3339 string or unix milliseconds; absent is zero.
func parseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("%w: time: %v", ErrPayload, err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time must be RFC 3339 or unix milliseconds", ErrPayload)
		}
		return t, nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil || !finite(ms) || ms < 0 || ms > 1e15 {
		return time.Time{}, fmt.Errorf("%w: time must be RFC 3339 or unix milliseconds", ErrPayload)
	}
	return time.UnixMilli(int64(ms)), nil
}

// ChatData builds the stored data of a chat message a browser published:
// the client's object with the server's user and msgid stamped over any the
// client sent. The text must be a non-empty string; maxBytes bounds the
// result (0 means no bound) and yields a too_large error.
func ChatData(clientData json.RawMessage, user, msgID string, maxBytes int) ([]byte, *Error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(clientData, &obj); err != nil || obj == nil || !utf8.Valid(clientData) {
		return nil, NewError(CodeBadRequest, "data must be a JSON object")
	}
	var text string
	if err := json.Unmarshal(obj["text"], &text); err != nil || strings.TrimSpace(text) == "" {
		return nil, NewError(CodeBadRequest, "data.text must be a non-empty string")
	}
	// Only the gateway says a message is a bot's, edited or deleted.
	delete(obj, "bot")
	delete(obj, "edited")
	delete(obj, "deleted")
	if raw, ok := obj["ref"]; ok {
		if perr := ValidateChatRef(raw, time.Now()); perr != nil {
			return nil, perr
		}
	}
	obj["user"], _ = json.Marshal(user)
	if msgID != "" {
		obj["msgid"], _ = json.Marshal(msgID)
	} else {
		delete(obj, "msgid")
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, NewError(CodeBadRequest, "data: "+err.Error())
	}
	if maxBytes > 0 && len(out) > maxBytes {
		return nil, NewError(CodeTooLarge, fmt.Sprintf("chat message is %d bytes; the limit is %d", len(out), maxBytes))
	}
	return out, nil
}
