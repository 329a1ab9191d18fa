// Package protocol is the tickroom wire contract (v1) as Go types and pure
// functions: client requests, replies, server events, error and close codes,
// channel-name rules and the schemas producers must respect.
//
// It imports no other project package and holds no state: every function is
// safe for concurrent use. The gateway decodes untrusted client frames and
// producer payloads only through this package, which is why its parsers are
// fuzzed.
package protocol

// Version is the protocol version spoken by this package.
const Version = 1

// Subprotocol is the WebSocket subprotocol a client offers for this version.
const Subprotocol = "tickroom.v1"
