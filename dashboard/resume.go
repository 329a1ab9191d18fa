package dashboard

import (
	"context"
	"strconv"
)

// resumeOutcome is what a subscribe with since learns about the stream it
// resumes (PROTOCOL §4): whether everything after since is still retained,
// and the stream's incarnation. Known is false when it could not be told
// (no since, or NATS did not answer): the reply then carries neither field.
type resumeOutcome struct {
	Known     bool
	Recovered bool
	Epoch     string
}

// appendTo adds the outcome's fields to a reply object ending in '}'.
func (o resumeOutcome) appendTo(reply []byte) []byte {
	if !o.Known || len(reply) == 0 || reply[len(reply)-1] != '}' {
		return reply
	}
	reply = reply[:len(reply)-1]
	reply = append(reply, `,"recovered":`...)
	reply = strconv.AppendBool(reply, o.Recovered)
	reply = append(reply, `,"epoch":`...)
	reply = strconv.AppendQuote(reply, o.Epoch)
	return append(reply, '}')
}

// resumeOutcome asks the stream behind channel whether a resume after since
// is complete.
func (s *Server) resumeOutcome(ctx context.Context, channel string, since uint64) resumeOutcome {
	return resumeOutcome{}
}
