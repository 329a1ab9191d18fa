package natsbus

import (
	"fmt"
	"strings"

	"github.com/tickroom/tickroom/internal/protocol"
)

// The kinds and the stream storing each are protocol's table
// ([protocol.Kinds]); these helpers only read it.

// PersistedKind reports whether kind keeps a sequenced history (chat, alert,
// candle): such channels have seq, replay and history.
func PersistedKind(kind string) bool { return protocol.Persisted(kind) }

// LastValueKind reports whether kind keeps only the last value per subject
// (market, analytics, feed).
func LastValueKind(kind string) bool { return protocol.StreamOf(kind) == streamLast }

// kindOf returns the first token of a subject or pattern.
func kindOf(subject string) string {
	kind, _, _ := strings.Cut(subject, ".")
	return kind
}

// streamFor returns the stream that stores subject (a literal subject or a
// pattern whose first token is a literal kind).
func streamFor(subject string) (string, error) {
	if s := protocol.StreamOf(kindOf(subject)); s != "" {
		return s, nil
	}
	return "", fmt.Errorf("%w: %q", ErrNotStored, subject)
}
