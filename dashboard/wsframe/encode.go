package wsframe

import (
	"encoding/binary"
	"unicode/utf8"
)

// MaxHeader is the longest header of a server frame (unmasked, 64-bit
// length).
const MaxHeader = 10

// AppendHeader appends the header of a whole (FIN) server frame with an
// n-byte payload. Server frames are not masked (§5.1).
func AppendHeader(dst []byte, op Op, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

// AppendControl appends a control frame; a payload over 125 bytes is cut
// to 125.
func AppendControl(dst []byte, op Op, payload []byte) []byte {
	payload = payload[:min(len(payload), maxControl)]
	return append(AppendHeader(dst, op, len(payload)), payload...)
}

// AppendClose appends a close frame with code and reason: no body for 1005
// (no code), and a reason cut at a rune boundary to fit the 125 bytes a
// control frame may carry.
func AppendClose(dst []byte, code int, reason string) []byte {
	if code == 1005 {
		return AppendHeader(dst, Close, 0)
	}
	if len(reason) > maxControl-2 {
		cut := maxControl - 2
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendHeader(dst, Close, 2+len(reason))
	return append(binary.BigEndian.AppendUint16(dst, uint16(code)), reason...)
}
