package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Operations a client may request.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpPublish     = "publish"
	OpHistory     = "history"
	OpPresence    = "presence"
	OpPing        = "ping"
)

// History limits.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 500
	MaxMsgIDBytes       = 64
)

// Request is one decoded client frame. ID is kept as raw JSON (a number or a
// string) so the reply echoes exactly what the client sent.
type Request struct {
	Op      string          `json:"op"`
	ID      json.RawMessage `json:"id,omitempty"`
	Channel string          `json:"channel,omitempty"`
	Since   *uint64         `json:"since,omitempty"`
	Before  uint64          `json:"before,omitempty"`
	Limit   int             `json:"limit,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	MsgID   string          `json:"msgid,omitempty"`

	// Candle history (PROTOCOL §4): the bar interval (default 1m) and
	// before as a time (a JSON string in RFC 3339 or a number of unix ms);
	// validate moves a numeric before of a candle history here.
	Interval   string    `json:"interval,omitempty"`
	BeforeTime time.Time `json:"-"`

	// Fields of the chat operations (chatops.go).
	Seq     uint64   `json:"seq,omitempty"`     // read, edit, delete
	User    string   `json:"user,omitempty"`    // mute, unmute
	Seconds int64    `json:"seconds,omitempty"` // mute
	Symbol  string   `json:"symbol,omitempty"`  // alert_set
	Above   *float64 `json:"above,omitempty"`   // alert_set
	Below   *float64 `json:"below,omitempty"`   // alert_set
	Note    string   `json:"note,omitempty"`    // alert_set
	Alert   string   `json:"alert,omitempty"`   // alert_delete
}

// DecodeRequest parses and validates one client frame. On failure it returns
// the request decoded so far (its ID is set only when the frame was a JSON
// object with a usable id, so the reply can carry it) and an *Error.
func DecodeRequest(frame []byte) (Request, *Error) {
	var req Request
	trimmed := trimJSONSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return req, NewError(CodeBadRequest, "a frame must hold exactly one JSON object")
	}
	if !utf8.Valid(trimmed) { // the id and data are echoed verbatim into text frames
		return req, NewError(CodeBadRequest, "a frame must be UTF-8")
	}
	if err := decodeRequest(trimmed, &req); err != nil {
		// Keep the id when only a field was wrong, so the client can match.
		req = Request{ID: salvageID(trimmed)}
		return req, NewError(CodeBadRequest, "invalid request: "+jsonProblem(err))
	}
	if len(req.ID) > 0 && !validID(req.ID) {
		req.ID = nil
		return req, NewError(CodeBadRequest, "id must be a number or a string of at most 64 bytes")
	}
	if req.Op == "" {
		return req, NewError(CodeBadRequest, "missing op")
	}
	err := req.validate() // before reading req: validate fills in the history limit
	return req, err
}

// ValidateRequest checks a request built by other means (an HTTP query)
// with the same rules as a decoded frame, filling in defaults.
func ValidateRequest(r *Request) *Error { return r.validate() }

func (r *Request) validate() *Error {
	switch r.Op {
	case OpPing:
		return nil
	case OpSubscribe, OpUnsubscribe:
		if err := ValidateChannel(r.Channel, true); err != nil {
			return NewError(CodeBadRequest, err.Error())
		}
		if r.Since != nil && !Persisted(Kind(r.Channel)) {
			return NewError(CodeBadRequest, "since applies only to persisted channels (chat, alert, candle)")
		}
	case OpPublish:
		if err := ValidateChannel(r.Channel, false); err != nil {
			return NewError(CodeBadRequest, err.Error())
		}
		if len(r.MsgID) > MaxMsgIDBytes {
			return NewError(CodeBadRequest, fmt.Sprintf("msgid longer than %d bytes", MaxMsgIDBytes))
		}
		if len(r.Data) == 0 || trimJSONSpace(r.Data)[0] != '{' {
			return NewError(CodeBadRequest, "data must be a JSON object")
		}
	case OpHistory:
		if err := ValidateChannel(r.Channel, false); err != nil {
			return NewError(CodeBadRequest, err.Error())
		}
		if Kind(r.Channel) == KindCandle || r.Interval != "" || !r.BeforeTime.IsZero() {
			return r.validateCandleHistory()
		}
		if !Persisted(Kind(r.Channel)) {
			return NewError(CodeBadRequest, "history applies only to persisted channels (chat, alert, candle)")
		}
		if r.Limit < 0 {
			return NewError(CodeBadRequest, "limit must not be negative")
		}
		if r.Limit == 0 {
			r.Limit = DefaultHistoryLimit
		}
		if r.Limit > MaxHistoryLimit {
			r.Limit = MaxHistoryLimit
		}
	case OpPresence:
		if err := ValidateChannel(r.Channel, false); err != nil {
			return NewError(CodeBadRequest, err.Error())
		}
	default:
		return r.validateChatOp()
	}
	return nil
}

func validID(id json.RawMessage) bool {
	if len(id) > 66 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		var s string
		return json.Unmarshal(id, &s) == nil
	case c == '-' || c >= '0' && c <= '9':
		var f float64
		return json.Unmarshal(id, &f) == nil
	}
	return false
}

// salvageID recovers the id of an object whose other fields did not decode.
func salvageID(frame []byte) json.RawMessage {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(frame, &probe) != nil || len(probe.ID) == 0 || !validID(probe.ID) {
		return nil
	}
	return probe.ID
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type.String())
	}
	return err.Error()
}

// trimJSONSpace trims the four whitespace bytes JSON allows. bytes.TrimSpace
// would also drop '\v', '\f' and Unicode spaces, which JSON forbids: the
// trimmed bytes would validate while the untrimmed ones, which the gateway
// forwards, are not JSON.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
