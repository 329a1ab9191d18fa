// Package wsframe owns the WebSocket framing of RFC 6455 §5 after the
// handshake (which stays with gofiber/contrib/websocket): reading what a
// client sends (masked frames, possibly fragmented, with control frames
// between the fragments) and encoding what the server sends.
//
// The reader exists for the stack an idle connection parks on. A connection's
// reader waits in Read for as long as the client is quiet, and Go keeps a
// parked goroutine's stack at the largest size it ever needed (it halves
// one at a GC only while less than a quarter of it, plus 800 bytes, is in
// use, which a goroutine blocked in the netpoller never is). Read through
// fasthttp/websocket the wait sits under ~1.35 KiB of frames, which takes a
// 4 KiB stack; through a Reader on the socket itself, under about 0.7 KiB,
// which fits the 2 KiB a goroutine starts with (dashboard's
// BenchmarkIdleReaderStack).
//
// The encoder exists for the fan-out: a frame is a header before the
// event's bytes, appended to a buffer the caller pools, so a delivery
// allocates nothing (the library allocates a message writer per frame and
// boxes its pooled buffer on every return, which at 10,000 subscribers made
// a GC every few seconds).
//
// A Reader is used by one goroutine at a time; the encoding functions only
// append to the caller's slice.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// Op is a frame's opcode.
type Op byte

// The opcodes of RFC 6455 §5.2.
const (
	Continuation Op = 0x0
	Text         Op = 0x1
	Binary       Op = 0x2
	Close        Op = 0x8
	Ping         Op = 0x9
	Pong         Op = 0xA
)

// Close codes a Reader's errors carry (RFC 6455 §7.4.1).
const (
	CodeProtocolError = 1002
	CodeInvalidData   = 1007 // text that is not UTF-8
	CodeTooLarge      = 1009
)

// Error is a client's breach of the protocol: the connection is to be
// closed with Code. Later calls to Next return it again.
type Error struct {
	Code   int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.Reason, e.Code) }

// maxControl is the largest control-frame payload (§5.5).
const maxControl = 125

// bufSize holds a frame header and a small request whole: a page's
// subscribe is about 60 bytes. A longer payload is read straight into its
// message.
const bufSize = 128

// Reader reads one client's frames from src (the connection).
type Reader struct {
	src   io.Reader
	limit int // largest message, all fragments together
	err   error

	buf  [bufSize]byte
	r, w int // buf[r:w] is read from src and not yet consumed

	msg   []byte // the fragments of a message so far
	msgOp Op     // its opcode (Text or Binary) while fragmented
	frag  bool
}

// New reads frames from src; a message longer than limit bytes is refused
// with CodeTooLarge.
func New(src io.Reader, limit int) *Reader { return &Reader{src: src, limit: limit} }

// Next returns the next whole message (Text or Binary, fragments joined)
// or the next control frame (Close, Ping, Pong); the payload is the
// caller's. An error from
// src is returned as it is (io.EOF at a frame boundary, io.ErrUnexpectedEOF
// inside one, a timeout), a breach of the protocol as an *Error.
func (rd *Reader) Next() (Op, []byte, error) {
	if rd.err != nil {
		return 0, nil, rd.err
	}
	op, p, err := rd.next()
	if err != nil {
		rd.err = err
	}
	return op, p, err
}

func (rd *Reader) next() (Op, []byte, error) {
	for {
		if err := rd.fill(2); err != nil {
			return 0, nil, err
		}
		b0, b1 := rd.buf[rd.r], rd.buf[rd.r+1]
		fin, op, n := b0&0x80 != 0, Op(b0&0x0f), int64(b1&0x7f)
		if b0&0x70 != 0 { // no extension is negotiated
			return 0, nil, protoErr("reserved bits set")
		}
		if b1&0x80 == 0 {
			return 0, nil, protoErr("a client frame must be masked")
		}
		hdr := 2
		switch n {
		case 126:
			hdr += 2
		case 127:
			hdr += 8
		}
		if err := rd.fill(hdr + 4); err != nil {
			return 0, nil, unexpected(err)
		}
		h := rd.buf[rd.r : rd.r+hdr+4]
		switch n {
		case 126:
			if n = int64(binary.BigEndian.Uint16(h[2:4])); n < 126 {
				return 0, nil, protoErr("length not in its shortest form")
			}
		case 127:
			u := binary.BigEndian.Uint64(h[2:10])
			if u>>63 != 0 {
				return 0, nil, protoErr("length over 2^63")
			}
			if n = int64(u); n <= 0xffff {
				return 0, nil, protoErr("length not in its shortest form")
			}
		}
		var mask [4]byte
		copy(mask[:], h[hdr:])
		rd.r += hdr + 4

		switch op {
		case Close, Ping, Pong:
			if !fin || n > maxControl {
				return 0, nil, protoErr("a control frame must be whole and at most 125 bytes")
			}
			p, err := rd.appendPayload(nil, int(n), mask) // most are empty: a pong to our nil ping
			if err != nil {
				return 0, nil, err
			}
			if op == Close {
				if err := checkClose(p); err != nil {
					return 0, nil, err
				}
			}
			return op, p, nil
		case Text, Binary:
			if rd.frag {
				return 0, nil, protoErr("a new message inside a fragmented one")
			}
			if n > int64(rd.limit) {
				return 0, nil, ErrTooLarge
			}
			p, err := rd.appendPayload(nil, int(n), mask)
			if err != nil {
				return 0, nil, err
			}
			if !fin {
				rd.msg, rd.msgOp, rd.frag = p, op, true
				continue
			}
			return op, p, checkText(op, p)
		case Continuation:
			if !rd.frag {
				return 0, nil, protoErr("a continuation frame with no message to continue")
			}
			if n > int64(rd.limit-len(rd.msg)) {
				return 0, nil, ErrTooLarge
			}
			var err error
			if rd.msg, err = rd.appendPayload(rd.msg, int(n), mask); err != nil {
				return 0, nil, err
			}
			if !fin {
				continue
			}
			p, mop := rd.msg, rd.msgOp
			rd.msg, rd.frag = nil, false
			return mop, p, checkText(mop, p)
		default:
			return 0, nil, protoErr("an unknown opcode")
		}
	}
}

// fill makes buf[r:w] hold at least n bytes (n ≤ bufSize).
func (rd *Reader) fill(n int) error {
	if rd.w-rd.r >= n {
		return nil
	}
	if rd.r+n > bufSize { // move the rest to the front
		rd.w = copy(rd.buf[:], rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	for empty := 0; rd.w-rd.r < n; {
		k, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += k
		if rd.w-rd.r >= n {
			return nil
		}
		if err != nil {
			if err == io.EOF && rd.w > rd.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if k == 0 {
			if empty++; empty == 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// firstChunk is the most a payload's buffer holds before its bytes
// arrive: a frame's declared length is the client's word, and 10,000
// clients each declaring 64 KiB and sending nothing must not cost 640 MB.
const firstChunk = 1 << 10

// appendPayload appends the next n payload bytes to dst, unmasked: what is
// buffered, then straight from src. The buffer grows with what has
// arrived (at most doubling it), not with what the header promised.
func (rd *Reader) appendPayload(dst []byte, n int, mask [4]byte) ([]byte, error) {
	start := len(dst)
	k := min(n, rd.w-rd.r)
	dst = append(dst, rd.buf[rd.r:rd.r+k]...)
	rd.r += k
	for empty := 0; len(dst)-start < n; {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(n-(len(dst)-start), max(firstChunk, len(dst)-start)))
		}
		room := dst[len(dst):min(cap(dst), start+n)]
		m, err := rd.src.Read(room)
		dst = dst[:len(dst)+m]
		if len(dst)-start == n {
			break
		}
		if err != nil {
			return nil, unexpected(err)
		}
		if m == 0 {
			if empty++; empty == 100 {
				return nil, io.ErrNoProgress
			}
		}
	}
	for i, p := 0, dst[start:]; i < len(p); i++ {
		p[i] ^= mask[i&3]
	}
	return dst, nil
}

// checkClose checks a close frame's body: empty, or a code that may be
// sent (§7.4) and a UTF-8 reason.
func checkClose(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return protoErr("a close frame with a one-byte body")
	}
	if !SendableCode(int(binary.BigEndian.Uint16(p))) {
		return protoErr("a close code that may not be sent")
	}
	if !utf8.Valid(p[2:]) {
		return &Error{Code: CodeInvalidData, Reason: "a close reason that is not UTF-8"}
	}
	return nil
}

// CloseCode is a valid close frame's code; 1005 (no code) for an empty
// body.
func CloseCode(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

// SendableCode reports whether code may appear in a close frame: the
// defined codes an endpoint may send, and the ranges for libraries (3000s)
// and applications (4000s).
func SendableCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

func checkText(op Op, p []byte) error {
	if op == Text && !utf8.Valid(p) {
		return &Error{Code: CodeInvalidData, Reason: "a text message that is not UTF-8"}
	}
	return nil
}

// ErrTooLarge is the error of a message over the limit.
var ErrTooLarge = &Error{Code: CodeTooLarge, Reason: "frame too large"}

func protoErr(reason string) *Error { return &Error{Code: CodeProtocolError, Reason: reason} }

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
