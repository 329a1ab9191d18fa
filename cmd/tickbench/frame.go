package main

import "bytes"

// forEachLine calls fn for every JSON object in a tickroom server frame: the
// server joins the events it batches with '\n' (no trailing newline). Empty
// lines are skipped.
func forEachLine(frame []byte, fn func(line []byte)) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			fn(frame)
			return
		}
		if i > 0 {
			fn(frame[:i])
		}
		frame = frame[i+1:]
	}
}

// benchMarker starts the text of every message the publisher stamps:
// "tb|<publish seq>|<unix ns at publish>|<padding>". It needs no JSON
// escaping, so it reads the same in a tickroom event and a Socket.IO packet.
var benchMarker = []byte("tb|")

// parseStamp finds a publisher stamp in line without decoding JSON.
func parseStamp(line []byte) (seq uint64, ns int64, ok bool) {
	i := bytes.Index(line, benchMarker)
	if i < 0 {
		return 0, 0, false
	}
	rest := line[i+len(benchMarker):]
	seq, rest, ok = parseUint(rest)
	if !ok || len(rest) == 0 || rest[0] != '|' {
		return 0, 0, false
	}
	v, rest, ok := parseUint(rest[1:])
	if !ok || len(rest) == 0 || rest[0] != '|' {
		return 0, 0, false
	}
	return seq, int64(v), true
}

// tickMarker precedes the producer's send time (unix ns) in a market tick.
var tickMarker = []byte(`"ts":`)

// parseTickStamp finds a market tick's "ts" field without decoding JSON.
func parseTickStamp(line []byte) (ns int64, ok bool) {
	i := bytes.Index(line, tickMarker)
	if i < 0 {
		return 0, false
	}
	v, _, ok := parseUint(line[i+len(tickMarker):])
	return int64(v), ok
}

// parseUint reads leading decimal digits (at most 19).
func parseUint(b []byte) (v uint64, rest []byte, ok bool) {
	n := 0
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, b[n:], n > 0
}

// isReply reports whether a tickroom line is a reply ({"id":…,"ok":…}) and
// whether it succeeded; the gateway writes "id" first and "ok" next.
func isReply(line []byte) (reply, ok bool) {
	if !bytes.HasPrefix(line, []byte(`{"id":`)) {
		return false, false
	}
	if bytes.Contains(line, []byte(`"ok":true`)) {
		return true, true
	}
	return true, false
}

// replyID parses the numeric id of a reply line ({"id":123,…}).
func replyID(line []byte) (uint64, bool) {
	if !bytes.HasPrefix(line, []byte(`{"id":`)) {
		return 0, false
	}
	v, _, ok := parseUint(line[len(`{"id":`):])
	return v, ok
}

// Engine.IO v4 packet types (the first byte of a WebSocket text frame).
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
)

// Socket.IO v5 packet types (the byte after an Engine.IO message's '4').
const (
	sioConnect = '0'
	sioEvent   = '2'
)
