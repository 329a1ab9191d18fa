package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// KindUser is the kind of a user's private channel, user.<name> (see
// [UserChannel]): only that user may read it.
const KindUser = "user"

// Chat operations (PROTOCOL §4).
const (
	OpRead        = "read"
	OpRooms       = "rooms"
	OpEdit        = "edit"
	OpDelete      = "delete"
	OpMute        = "mute"
	OpUnmute      = "unmute"
	OpAlertSet    = "alert_set"
	OpAlertList   = "alert_list"
	OpAlertDelete = "alert_delete"
)

// Event names of the chat additions. Edit, delete and mute are events in a
// room; mention, price_alert and notice are events on user.<name>.
const (
	EventChat       = "chat"
	EventEdit       = "edit"
	EventDelete     = "delete"
	EventMute       = "mute"
	EventMention    = "mention"
	EventPriceAlert = "price_alert"
	EventNotice     = "notice"
)

// Chat rules.
const (
	// EditWindow is how long after sending an author may edit a message.
	EditWindow = 15 * time.Minute
	// MaxMuteSeconds bounds a mute (30 days).
	MaxMuteSeconds = 30 * 24 * 3600
	// MaxNoteBytes bounds a price alert's note.
	MaxNoteBytes = 200
)

// UserChannel is the private channel of user. A name that is a usable
// token is the channel's second token as is ("ana" → user.ana); any other
// byte (a space, a dot, an underscore, a non-ASCII letter) is written _XX
// in hex, so distinct names never share a channel ("ana smith" →
// user.ana_20smith, "a_b" → user.a_5Fb). The empty name has none ("").
func UserChannel(user string) string {
	if user == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(KindUser + ".")
	for i := 0; i < len(user); i++ {
		c := user[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

func (r *Request) validateChatOp() *Error {
	chatRoom := func() *Error {
		if err := ValidateChannel(r.Channel, false); err != nil {
			return NewError(CodeBadRequest, err.Error())
		}
		if Kind(r.Channel) != KindChat {
			return NewError(CodeBadRequest, r.Op+" applies only to chat rooms (chat.*)")
		}
		return nil
	}
	switch r.Op {
	case OpRooms, OpAlertList:
		return nil
	case OpRead:
		return chatRoom()
	case OpEdit, OpDelete:
		if err := chatRoom(); err != nil {
			return err
		}
		if r.Seq == 0 {
			return NewError(CodeBadRequest, "seq (the message's) is required")
		}
		if r.Op == OpEdit && (len(r.Data) == 0 || trimJSONSpace(r.Data)[0] != '{') {
			return NewError(CodeBadRequest, "data must be a JSON object")
		}
	case OpMute, OpUnmute:
		if err := chatRoom(); err != nil {
			return err
		}
		if strings.TrimSpace(r.User) == "" {
			return NewError(CodeBadRequest, "user is required")
		}
		if r.Op == OpMute && (r.Seconds <= 0 || r.Seconds > MaxMuteSeconds) {
			return NewError(CodeBadRequest, fmt.Sprintf("seconds must be 1 to %d", MaxMuteSeconds))
		}
	case OpAlertSet:
		if !ValidToken(r.Symbol) {
			return NewError(CodeBadRequest, "symbol must be a symbol token ([A-Za-z0-9_-], 1 to 64 bytes)")
		}
		if (r.Above == nil) == (r.Below == nil) {
			return NewError(CodeBadRequest, "give exactly one of above and below")
		}
		level := r.Above
		if level == nil {
			level = r.Below
		}
		if !finite(*level) || *level <= 0 {
			return NewError(CodeBadRequest, "the level must be a finite number > 0")
		}
		if len(r.Note) > MaxNoteBytes {
			return NewError(CodeTooLarge, fmt.Sprintf("note longer than %d bytes", MaxNoteBytes))
		}
	case OpAlertDelete:
		if r.Alert == "" || len(r.Alert) > 64 {
			return NewError(CodeBadRequest, "alert (its id) is required")
		}
	default:
		return NewError(CodeUnknownOp, fmt.Sprintf("unknown op %q", truncate(r.Op, 32)))
	}
	return nil
}

// ChatRef is the moment in the data a chat message points at.
type ChatRef struct {
	Symbol   string   `json:"symbol"`
	Time     string   `json:"time"`
	Price    *float64 `json:"price,omitempty"`
	Interval string   `json:"interval,omitempty"`
}

// refIntervals are the chart intervals a ref may name.
var refIntervals = map[string]bool{"1m": true, "5m": true, "15m": true, "1h": true, "1D": true}

// refFutureSlack tolerates a client clock slightly ahead of the server's.
const refFutureSlack = time.Minute

// ValidateChatRef checks a chat message's ref: a symbol token, a time (RFC
// 3339 or unix ms) not in the future, an optional finite positive price and
// an optional known interval.
func ValidateChatRef(raw json.RawMessage, now time.Time) *Error {
	var ref ChatRef
	if len(raw) == 0 || trimJSONSpace(raw)[0] != '{' {
		return NewError(CodeBadRequest, "data.ref must be an object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return NewError(CodeBadRequest, "data.ref: "+jsonProblem(err))
	}
	var sym string
	if json.Unmarshal(obj["symbol"], &sym) != nil || !ValidToken(sym) {
		return NewError(CodeBadRequest, "data.ref.symbol must be a symbol token")
	}
	t, err := parseTime(obj["time"])
	if err != nil || t.IsZero() {
		return NewError(CodeBadRequest, "data.ref.time must be an RFC 3339 time or unix milliseconds")
	}
	if t.After(now.Add(refFutureSlack)) {
		return NewError(CodeBadRequest, "data.ref.time is in the future")
	}
	if p, ok := obj["price"]; ok {
		var f float64
		if json.Unmarshal(p, &f) != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
			return NewError(CodeBadRequest, "data.ref.price must be a finite number > 0")
		}
		ref.Price = &f
	}
	if iv, ok := obj["interval"]; ok {
		if json.Unmarshal(iv, &ref.Interval) != nil || !refIntervals[ref.Interval] {
			return NewError(CodeBadRequest, "data.ref.interval must be one of 1m, 5m, 15m, 1h, 1D")
		}
	}
	return nil
}

// PriceAlertBucket is the key-value bucket holding every armed price
// alert, key "<user token>.<alert id>" (the token as in [UserChannel]).
// Gateways write it (alert_set, alert_delete); the alert feed's
// evaluators read it and remove an alert when it fires.
const PriceAlertBucket = "tickroom_price_alerts"

// MaxAlertsPerUser bounds a user's armed alerts; alert_set over it is
// too_large.
const MaxAlertsPerUser = 50

// PriceAlert is an armed alert as stored and as alert_list returns it.
// Firing is set by the evaluator that claimed it (then the alert is about
// to be delivered and removed).
type PriceAlert struct {
	ID      string   `json:"id"`
	User    string   `json:"user"`
	Symbol  string   `json:"symbol"`
	Above   *float64 `json:"above,omitempty"`
	Below   *float64 `json:"below,omitempty"`
	Note    string   `json:"note,omitempty"`
	Created string   `json:"created"`
	Firing  *Firing  `json:"firing,omitempty"`
}

// Firing is the tick that crossed an alert's level.
type Firing struct {
	Price float64 `json:"price"`
	Time  string  `json:"time"`
	At    string  `json:"at"` // when the evaluator claimed it
}

// PriceAlertKey is the alert's key in PriceAlertBucket.
func PriceAlertKey(user, id string) string {
	return UserToken(user) + "." + id
}

// UserToken is user's second token in [UserChannel].
func UserToken(user string) string {
	return strings.TrimPrefix(UserChannel(user), KindUser+".")
}

// Crossed reports whether price fires the alert: at or above Above, or at
// or below Below.
func (a PriceAlert) Crossed(price float64) bool {
	if a.Above != nil {
		return price >= *a.Above
	}
	return a.Below != nil && price <= *a.Below
}
