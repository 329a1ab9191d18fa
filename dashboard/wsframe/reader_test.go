package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// frame encodes one client frame: masked unless unmasked is set, the
// length in its shortest form unless longLen forces the 64-bit form.
func frame(fin bool, op Op, payload []byte, opts ...string) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	unmasked, longLen, rsv := false, false, false
	for _, o := range opts {
		switch o {
		case "unmasked":
			unmasked = true
		case "long":
			longLen = true
		case "rsv":
			rsv = true
		}
	}
	if rsv {
		b0 |= 0x40
	}
	out := []byte{b0}
	m := byte(0x80)
	if unmasked {
		m = 0
	}
	n := len(payload)
	switch {
	case longLen || n > 0xffff:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	case n > 125:
		out = append(out, m|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, m|byte(n))
	}
	if unmasked {
		return append(out, payload...)
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i&3])
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

type got struct {
	op  Op
	p   string
	err error
}

// readAll reads frames until an error, through whole reads and through
// one byte at a time: the answers must not depend on how bytes arrive.
func readAll(t *testing.T, in []byte, limit int) []got {
	t.Helper()
	var runs [2][]got
	for i, src := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
		rd := New(src, limit)
		for {
			op, p, err := rd.Next()
			runs[i] = append(runs[i], got{op, string(p), err})
			if err != nil {
				if _, _, again := rd.Next(); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				break
			}
		}
	}
	if len(runs[0]) != len(runs[1]) {
		t.Fatalf("whole reads %v, byte reads %v", runs[0], runs[1])
	}
	for i := range runs[0] {
		a, b := runs[0][i], runs[1][i]
		if a.op != b.op || a.p != b.p || !sameErr(a.err, b.err) {
			t.Fatalf("frame %d: whole reads %v, byte reads %v", i, a, b)
		}
	}
	return runs[0]
}

func sameErr(a, b error) bool {
	var ea, eb *Error
	if errors.As(a, &ea) && errors.As(b, &eb) {
		return ea.Code == eb.Code && ea.Reason == eb.Reason
	}
	return errors.Is(a, b)
}

func codeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestMessages(t *testing.T) {
	long := strings.Repeat("x", 70000)
	in := cat(
		frame(true, Text, []byte(`{"op":"subscribe","channel":"chat.lobby","id":1}`)),
		frame(true, Text, nil),
		frame(true, Binary, []byte{0xff, 0x00}),             // binary need not be UTF-8
		frame(true, Text, []byte(strings.Repeat("é", 100))), // 16-bit length
		frame(true, Text, []byte(long)),                     // 64-bit length
		frame(false, Text, []byte("he")),
		frame(true, Ping, []byte("p")), // between fragments
		frame(false, Continuation, []byte("ll")),
		frame(true, Continuation, []byte("o")),
		frame(true, Pong, nil),
		frame(true, Close, binary.BigEndian.AppendUint16(nil, 1001)),
	)
	want := []got{
		{Text, `{"op":"subscribe","channel":"chat.lobby","id":1}`, nil},
		{Text, "", nil},
		{Binary, "\xff\x00", nil},
		{Text, strings.Repeat("é", 100), nil},
		{Text, long, nil},
		{Ping, "p", nil},
		{Text, "hello", nil},
		{Pong, "", nil},
		{Close, "\x03\xe9", nil},
		{0, "", io.EOF},
	}
	res := readAll(t, in, 1<<20)
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d: %v", len(res), len(want), res)
	}
	for i := range want {
		if res[i].op != want[i].op || res[i].p != want[i].p || !sameErr(res[i].err, want[i].err) {
			t.Errorf("%d: got %v %.20q %v, want %v %.20q %v", i, res[i].op, res[i].p, res[i].err, want[i].op, want[i].p, want[i].err)
		}
	}
	if CloseCode([]byte(res[8].p)) != 1001 || CloseCode(nil) != 1005 {
		t.Errorf("CloseCode: %d, %d", CloseCode([]byte(res[8].p)), CloseCode(nil))
	}
}

func TestRefusals(t *testing.T) {
	code := func(c uint16, reason string) []byte { return append(binary.BigEndian.AppendUint16(nil, c), reason...) }
	cases := []struct {
		name string
		in   []byte
		code int
	}{
		{"unmasked", frame(true, Text, []byte("hi"), "unmasked"), CodeProtocolError},
		{"reserved bit", frame(true, Text, []byte("hi"), "rsv"), CodeProtocolError},
		{"unknown opcode", frame(true, Op(3), nil), CodeProtocolError},
		{"fragmented ping", frame(false, Ping, nil), CodeProtocolError},
		{"long ping", frame(true, Ping, make([]byte, 126)), CodeProtocolError},
		{"lone continuation", frame(true, Continuation, []byte("x")), CodeProtocolError},
		{"message inside a message", cat(frame(false, Text, []byte("a")), frame(true, Text, []byte("b"))), CodeProtocolError},
		{"length not shortest", frame(true, Text, []byte("short"), "long"), CodeProtocolError},
		{"over the limit", frame(true, Text, make([]byte, 101)), CodeTooLarge},
		{"fragments over the limit", cat(frame(false, Text, make([]byte, 60)), frame(true, Continuation, make([]byte, 41))), CodeTooLarge},
		{"text not UTF-8", frame(true, Text, []byte{0xc3, 0x28}), CodeInvalidData},
		{"fragmented text not UTF-8", cat(frame(false, Text, []byte{0xc3}), frame(true, Continuation, []byte{0x28})), CodeInvalidData},
		{"one-byte close", frame(true, Close, []byte{3}), CodeProtocolError},
		{"close 1005", frame(true, Close, code(1005, "")), CodeProtocolError},
		{"close 2000", frame(true, Close, code(2000, "")), CodeProtocolError},
		{"close reason not UTF-8", frame(true, Close, code(1000, "\xff")), CodeInvalidData},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := readAll(t, c.in, 100)
			last := res[len(res)-1]
			if codeOf(last.err) != c.code {
				t.Fatalf("got %v, want close %d", last.err, c.code)
			}
		})
	}
	// A split fragment keeps its place: the UTF-8 check is on the whole
	// message, so a rune across two fragments is fine.
	res := readAll(t, cat(frame(false, Text, []byte{0xc3}), frame(true, Continuation, []byte{0xa9})), 100)
	if res[0].p != "é" {
		t.Fatalf("rune across fragments: %v", res[0])
	}
	if !errors.Is(readAll(t, frame(true, Text, make([]byte, 101)), 100)[0].err, ErrTooLarge) {
		t.Fatal("errors.Is(ErrTooLarge)")
	}
}

func TestTruncated(t *testing.T) {
	f := frame(true, Text, []byte("hello, world"))
	for cut := 1; cut < len(f); cut++ {
		res := readAll(t, f[:cut], 100)
		if !errors.Is(res[0].err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", cut, res[0].err)
		}
	}
	rd := New(io.MultiReader(bytes.NewReader(f), iotest.ErrReader(iotest.ErrTimeout)), 100)
	if _, _, err := rd.Next(); err != nil { // the first read succeeds
		t.Fatal(err)
	}
	if _, _, err := rd.Next(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("a source error is returned as it is: %v", err)
	}
}

func TestSendableCode(t *testing.T) {
	for c, want := range map[int]bool{999: false, 1000: true, 1003: true, 1004: false, 1005: false, 1006: false,
		1007: true, 1011: true, 1014: true, 1015: false, 2999: false, 3000: true, 4999: true, 5000: false} {
		if SendableCode(c) != want {
			t.Errorf("SendableCode(%d) = %v", c, !want)
		}
	}
}

// FuzzReader: any bytes give the same answers however they arrive, and
// what is returned keeps the rules: within the limit, text in UTF-8,
// control frames small.
func FuzzReader(f *testing.F) {
	f.Add(frame(true, Text, []byte(`{"op":"ping"}`)))
	f.Add(cat(frame(false, Text, []byte("a")), frame(true, Ping, nil), frame(true, Continuation, []byte("b"))))
	f.Add(frame(true, Close, []byte{3, 232, 'b', 'y', 'e'}))
	f.Add(frame(true, Binary, make([]byte, 300)))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, r := range readAll(t, in, 256) {
			switch {
			case r.err != nil:
			case len(r.p) > 256:
				t.Fatalf("payload %d over the limit", len(r.p))
			case r.op == Text && !utf8Valid(r.p):
				t.Fatal("text not UTF-8")
			case r.op >= Close && len(r.p) > maxControl:
				t.Fatal("control frame too long")
			case r.op == Continuation:
				t.Fatal("a continuation returned")
			}
		}
	})
}

// FuzzRoundTrip: a message cut into fragments at any points, with pings
// between them, reads back whole.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte{2, 1})
	f.Fuzz(func(t *testing.T, msg, cuts []byte) {
		var in []byte
		rest, op := msg, Binary
		for i, c := range cuts {
			k := min(int(c), len(rest))
			in = append(in, frame(false, op, rest[:k])...)
			if i%2 == 1 {
				in = append(in, frame(true, Ping, []byte{c})...)
			}
			rest, op = rest[k:], Continuation
		}
		in = append(in, frame(true, op, rest)...)
		var back []byte
		for _, r := range readAll(t, in, 1<<20) {
			if r.err != nil {
				if r.err != io.EOF {
					t.Fatal(r.err)
				}
				break
			}
			if r.op == Binary {
				back = []byte(r.p)
			}
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("read %q, sent %q", back, msg)
		}
	})
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// A frame's declared length is the client's word: a reader holds what has
// arrived (at most about twice), not what the header promised.
func TestDeclaredLengthIsNotAllocated(t *testing.T) {
	f := frame(true, Text, make([]byte, 60000))
	in := io.MultiReader(bytes.NewReader(f[:8+10]), iotest.ErrReader(iotest.ErrTimeout)) // header, mask, 10 bytes
	rd := New(in, 1<<20)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if _, _, err := rd.Next(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("got %v, want the source's timeout", err)
	}
	runtime.ReadMemStats(&m1)
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 8<<10 {
		t.Fatalf("a frame that declared 60,000 bytes and sent 10 cost %d bytes", got)
	}
}
