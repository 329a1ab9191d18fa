package dashboard

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// The SSE stream's message encoding and its resume id (PROTOCOL §3).

// sseStarts is the since each persisted channel of a stream starts from:
// its Last-Event-ID entry, else ?since=. Other channels start live.
func sseStarts(channels []string, since *uint64, lastID map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for _, ch := range channels {
		if !protocol.Persisted(protocol.Kind(ch)) {
			continue
		}
		if seq, ok := lastID[ch]; ok {
			out[ch] = seq
		} else if since != nil {
			out[ch] = *since
		}
	}
	return out
}

// sseSubscribeReply is the message that reports a subscribe's outcome.
func sseSubscribeReply(channel string, o resumeOutcome, perr *protocol.Error) []byte {
	name, _ := json.Marshal(channel) // user input: escape it
	b := append([]byte(`{"op":"subscribe","channel":`), name...)
	if perr == nil {
		return o.appendTo(append(b, `,"ok":true}`...))
	}
	e, _ := json.Marshal(perr)
	b = append(b, `,"ok":false,"error":`...)
	b = append(b, e...)
	return append(b, '}')
}

// appendSSEData appends one SSE message carrying frame. A frame is one JSON
// object; should it hold raw line breaks (whitespace a producer left in its
// payload), each line gets its own data: field, which the client joins
// back with '\n' — still the same JSON.
func appendSSEData(dst, frame []byte) []byte {
	for {
		i := bytes.IndexAny(frame, "\r\n")
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, frame[:i]...)
		dst = append(dst, '\n')
		if frame[i] == '\r' && i+1 < len(frame) && frame[i+1] == '\n' {
			i++
		}
		frame = frame[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, frame...)
	return append(dst, "\n\n"...)
}

// resumePoints tracks, per persisted pattern of a stream, the last seq
// delivered on it: the stream's SSE id.
type resumePoints struct {
	patterns []string
	seqs     []uint64
	known    []bool
}

func newResumePoints(channels []string, starts map[string]uint64) *resumePoints {
	r := &resumePoints{}
	for _, ch := range channels {
		if !protocol.Persisted(protocol.Kind(ch)) {
			continue
		}
		seq, ok := starts[ch]
		r.patterns = append(r.patterns, ch)
		r.seqs = append(r.seqs, seq)
		r.known = append(r.known, ok)
	}
	return r
}

// observe records ev; it reports whether any resume point moved.
func (r *resumePoints) observe(ev *hub.Event) bool {
	if ev.Seq == 0 || ev.Channel == "" {
		return false
	}
	moved := false
	for i, p := range r.patterns {
		if (!r.known[i] || ev.Seq > r.seqs[i]) && protocol.Match(p, ev.Channel) {
			r.seqs[i], r.known[i] = ev.Seq, true
			moved = true
		}
	}
	return moved
}

// appendID appends the id: "chat.lobby=1042,alert.*=77".
func (r *resumePoints) appendID(dst []byte) []byte {
	first := true
	for i, p := range r.patterns {
		if !r.known[i] {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, p...)
		dst = append(dst, '=')
		dst = strconv.AppendUint(dst, r.seqs[i], 10)
	}
	return dst
}

// parseResumeID reads an id written by appendID. Malformed entries are
// ignored: the worst a bad id does is resume a channel live.
func parseResumeID(id string) map[string]uint64 {
	out := map[string]uint64{}
	for _, part := range strings.Split(id, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || protocol.ValidateChannel(name, true) != nil {
			continue
		}
		seq, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		out[name] = seq
	}
	return out
}
