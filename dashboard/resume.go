package dashboard

import (
	"context"
	"encoding/json"
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
	epoch, _ := json.Marshal(o.Epoch)
	reply = append(reply, epoch...)
	return append(reply, '}')
}

// resumeOutcome tells whether a resume after since is complete: from the
// channel's recent window when it holds everything after since (recent.go),
// else from the stream. When NATS cannot tell, the reply goes without the
// fields and the replay itself decides (a failed replay closes with 1013).
func (s *Server) resumeOutcome(ctx context.Context, channel string, since uint64) resumeOutcome {
	if st, ok := s.up.recent.get(channel).resumeState(ctx, since); ok {
		return resumeOutcome{Known: true, Recovered: st.Recovered(since), Epoch: st.Epoch}
	}
	recovered, epoch, err := s.bus.ResumeInfo(ctx, channel, since)
	if err != nil {
		s.log.Debug("resume info unavailable", "channel", channel, "err", err)
		return resumeOutcome{}
	}
	return resumeOutcome{Known: true, Recovered: recovered, Epoch: epoch}
}
