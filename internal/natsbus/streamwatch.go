package natsbus

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tickroom/tickroom/internal/protocol"
)

// auditSubject carries nats-server's JetStream API audit advisories: one
// per API request, sent after its response.
const auditSubject = "$JS.EVENT.ADVISORY.API"

// msgDeleteAPI is the prefix of a request that deletes one message.
const msgDeleteAPI = "$JS.API.STREAM.MSG.DELETE."

// changeAPIs are the API requests that change what a stream holds other
// than a publish or its own retention limits.
var changeAPIs = []string{
	"$JS.API.STREAM.PURGE.",
	msgDeleteAPI,
	"$JS.API.STREAM.DELETE.",
	"$JS.API.STREAM.CREATE.",
	"$JS.API.STREAM.UPDATE.",
}

// WatchStreamChanges calls fn with the name of a tickroom stream each time
// a JetStream API request of this account may have removed messages from
// it or replaced it: a purge, a message delete (then seq is the deleted
// message's; otherwise 0: anything may have changed), the stream's delete,
// create or update (limits). It reads the server's API audit advisories,
// which come after the request's response, so what fn does next already
// sees the change. fn runs on the subscription's goroutine, serially.
// Messages removed by the stream's own limits (age, count) are not told.
func (b *Bus) WatchStreamChanges(fn func(stream string, seq uint64)) (Subscription, error) {
	if b.closed.Load() {
		return nil, ErrClosed // while NATS is away nats.go subscribes on reconnect
	}
	known := map[string]bool{}
	for _, k := range protocol.Kinds() { // every stored kind: a new one is one row there
		if k.Persisted {
			known[k.Stream] = true
		}
	}
	return b.subscribeCore(auditSubject, func(m Msg) {
		stream, seq := changedStream(m.Data)
		if known[stream] {
			fn(stream, seq)
		}
	}, fromCore)
}

// changedStream is the stream an audit advisory says a change API request
// was made on, or "", and for a message delete the message's seq.
func changedStream(adv []byte) (string, uint64) {
	hit := false
	for _, api := range changeAPIs {
		if bytes.Contains(adv, []byte(api)) {
			hit = true
			break
		}
	}
	if !hit {
		return "", 0 // most advisories: consumer creates, infos
	}
	var a struct {
		Subject string `json:"subject"`
		Request string `json:"request"`
	}
	if json.Unmarshal(adv, &a) != nil {
		return "", 0
	}
	for _, api := range changeAPIs {
		name, ok := strings.CutPrefix(a.Subject, api)
		if !ok || name == "" || strings.Contains(name, ".") {
			continue
		}
		var seq uint64
		if api == msgDeleteAPI {
			var req struct {
				Seq uint64 `json:"seq"`
			}
			if json.Unmarshal([]byte(a.Request), &req) != nil {
				req.Seq = 0 // unknown: treat as any change
			}
			seq = req.Seq
		}
		return name, seq
	}
	return "", 0
}
