package dashboard

import (
	"fmt"
	"strings"

	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/config"
	"github.com/tickroom/tickroom/internal/protocol"
)

// RoomRule restricts the channels matching Pattern to the users and roles
// it lists; it is internal/config's type (which parses the room-read and
// room-write flags), so there is one declaration. Rules only ever
// restrict: a channel no rule matches is open to every authenticated user
// (guests included, in dev mode), and a channel several rules match is
// open only to who every one of them allows.
type RoomRule = config.RoomRule

// ruleAllows reports whether id is listed by r, by name or by role.
func ruleAllows(r RoomRule, id auth.Identity) bool {
	for _, u := range r.Users {
		if u == id.User {
			return true
		}
	}
	for _, role := range r.Roles {
		if id.HasRole(role) {
			return true
		}
	}
	return false
}

func validateRules(kind string, rules []RoomRule) error {
	for _, r := range rules {
		if err := protocol.ValidateChannel(r.Pattern, true); err != nil {
			return fmt.Errorf("%s rule %q: %w", kind, r.Pattern, err)
		}
	}
	return nil
}

// mayRead checks a subscribe, history or presence request. A wildcard
// pattern is refused when it could match any channel the user may not
// read: a subscription is filtered by nobody after it is made.
func (s *Server) mayRead(id auth.Identity, channel string) *protocol.Error {
	if perr := mayReadUser(id, channel); perr != nil { // user.<name>: that user only
		return perr
	}
	if r, ok := firstRefusal(s.cfg.ReadRules, id, channel); !ok {
		if protocol.IsWildcard(channel) {
			return protocol.NewError(protocol.CodeForbidden,
				fmt.Sprintf("%s includes %s, which you may not read", channel, r.Pattern))
		}
		return protocol.NewError(protocol.CodeForbidden, "you may not read "+channel)
	}
	return nil
}

// mayWrite checks a publish (on top of the chat.*-only rule).
func (s *Server) mayWrite(id auth.Identity, channel string) *protocol.Error {
	if _, ok := firstRefusal(s.cfg.WriteRules, id, channel); !ok {
		return protocol.NewError(protocol.CodeForbidden, "you may not write to "+channel)
	}
	return nil
}

// firstRefusal returns the first rule that overlaps channel and does not
// allow id; ok is true when there is none.
func firstRefusal(rules []RoomRule, id auth.Identity, channel string) (RoomRule, bool) {
	for _, r := range rules {
		if overlaps(r.Pattern, channel) && !ruleAllows(r, id) {
			return r, false
		}
	}
	return RoomRule{}, true
}

// overlaps reports whether some subject matches both NATS patterns (either
// may be a literal subject, for which it is plain matching).
func overlaps(a, b string) bool {
	for {
		ta, restA, moreA := strings.Cut(a, ".")
		tb, restB, moreB := strings.Cut(b, ".")
		if ta == ">" || tb == ">" {
			return true // '>' takes one or more tokens; both have one here
		}
		if ta != "*" && tb != "*" && ta != tb {
			return false
		}
		if !moreA || !moreB {
			return moreA == moreB
		}
		a, b = restA, restB
	}
}
