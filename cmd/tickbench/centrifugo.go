package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// Centrifugo's bidirectional JSON protocol (v2 client protocol, the one
// centrifuge-js speaks): every frame holds newline-separated JSON objects.
// A command is {"id":N,"<method>":{…}}; its reply is {"id":N,"<method>":{…}}
// or {"id":N,"error":{…}}; publications arrive as
// {"push":{"channel":…,"pub":{"data":…}}}. The server's ping is an empty
// object {}, answered with {} (the connect reply says "pong":true).

var (
	cfPong     = []byte(`{}`)
	cfErrorKey = []byte(`"error":{`)
)

// isCfPing reports whether a Centrifugo line is the server's ping.
func isCfPing(line []byte) bool { return bytes.Equal(bytes.TrimSpace(line), cfPong) }

// isCfReply reports whether a Centrifugo line is a reply and whether it
// succeeded (no "error" object at its top level, which the server writes
// right after the id).
func isCfReply(line []byte) (reply, ok bool) {
	id, ok := replyID(line)
	if !ok {
		return false, false
	}
	rest := line[len(`{"id":`)+len(strconv.FormatUint(id, 10)):]
	return true, !bytes.HasPrefix(rest, append([]byte{','}, cfErrorKey...))
}

// cfHandshake sends connect (the server runs with client.insecure, so no
// token) and, if channel is set, subscribe, and waits for both replies.
func (c *conn) cfHandshake(channel string) error {
	if err := c.write([]byte(`{"id":1,"connect":{"name":"tickbench"}}`)); err != nil {
		return err
	}
	if err := c.cfAwait(1, "connect"); err != nil {
		return err
	}
	if channel == "" {
		return nil
	}
	if err := c.write([]byte(`{"id":2,"subscribe":{"channel":` + strconv.Quote(channel) + `}}`)); err != nil {
		return err
	}
	return c.cfAwait(2, "subscribe")
}

// cfAwait reads until the reply to command id, answering pings.
func (c *conn) cfAwait(id uint64, what string) error {
	for {
		f, err := c.read()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errHandshake, what, err)
		}
		var done bool
		var failed []byte
		var werr error
		forEachLine(f, func(line []byte) {
			if isCfPing(line) {
				werr = c.write(cfPong)
				return
			}
			if got, ok := replyID(line); ok && got == id {
				done = true
				if _, good := isCfReply(line); !good {
					failed = append([]byte(nil), line...)
				}
			}
		})
		if werr != nil {
			return werr
		}
		if failed != nil {
			return fmt.Errorf("%w: %s refused: %s", errHandshake, what, failed)
		}
		if done {
			return nil
		}
	}
}
