package protocol

import (
	"encoding/json"
	"strconv"
	"time"
)

// AppendOK appends {"id":…,"ok":true} to dst. Replies are small and rare next
// to events, but building them by hand keeps the id verbatim.
func AppendOK(dst []byte, id json.RawMessage) []byte {
	dst = appendReplyHead(dst, id)
	return append(dst, `"ok":true}`...)
}

// AppendOKSeq appends {"id":…,"ok":true,"seq":N}.
func AppendOKSeq(dst []byte, id json.RawMessage, seq uint64) []byte {
	dst = appendReplyHead(dst, id)
	dst = append(dst, `"ok":true,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

// AppendOKField appends {"id":…,"ok":true,"<field>":<raw JSON>}.
func AppendOKField(dst []byte, id json.RawMessage, field string, raw []byte) []byte {
	dst = appendReplyHead(dst, id)
	dst = append(dst, `"ok":true,`...)
	dst = strconv.AppendQuote(dst, field)
	dst = append(dst, ':')
	dst = append(dst, raw...)
	return append(dst, '}')
}

// AppendError appends {"id":…,"ok":false,"error":{…}}; the id is omitted
// when the request had none.
func AppendError(dst []byte, id json.RawMessage, e *Error) []byte {
	dst = appendReplyHead(dst, id)
	dst = append(dst, `"ok":false,"error":`...)
	b, _ := json.Marshal(e) // cannot fail: two strings
	dst = append(dst, b...)
	return append(dst, '}')
}

func appendReplyHead(dst []byte, id json.RawMessage) []byte {
	dst = append(dst, '{')
	if len(id) > 0 {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, ',')
	}
	return dst
}

// Event names the gateway itself emits.
const (
	EventWelcome = "welcome"
	EventJoin    = "join"
	EventLeave   = "leave"
	EventStatus  = "status"
)

// TimeFormat is how the gateway writes times: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// AppendEvent appends one server event object:
// {"channel":…,"event":…,"seq":N,"time":…,"data":<raw>}. seq is omitted when
// zero and time when zero. channel and event must already be validated (they
// are written without escaping); data must be valid JSON. The gateway calls
// this once per event, never per client.
func AppendEvent(dst []byte, channel, event string, seq uint64, t time.Time, data []byte) []byte {
	dst = append(dst, '{')
	if channel != "" {
		dst = append(dst, `"channel":"`...)
		dst = append(dst, channel...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"event":"`...)
	dst = append(dst, event...)
	dst = append(dst, '"')
	if seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
	}
	if !t.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = t.UTC().AppendFormat(dst, TimeFormat)
		dst = append(dst, '"')
	}
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// Welcome is the data of the first event on every connection.
type Welcome struct {
	User        string `json:"user"`
	Session     string `json:"session"`
	Node        string `json:"node"`
	Protocol    int    `json:"protocol"`
	HeartbeatMS int64  `json:"heartbeat_ms"`
	// Moderator: the user may delete any chat message and mute users.
	Moderator bool `json:"moderator,omitempty"`
}
