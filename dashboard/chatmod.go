package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"
)

// Moderation: moderators mute users in a room; mutes live in the
// tickroom_chat bucket ("mute.<room>.<user token>"), so every gateway
// enforces them, and each action is a key "action.<unix nanos>.<room>" so
// /admin lists them from any gateway.

// maxActions bounds the moderation actions a gateway keeps in memory.
const maxActions = 200

// modAction is one moderation action, as /admin lists it.
type modAction struct {
	Time    time.Time `json:"time"`
	Room    string    `json:"room"`
	Action  string    `json:"action"` // delete, mute, unmute
	By      string    `json:"by"`
	User    string    `json:"user,omitempty"`
	Seq     uint64    `json:"seq,omitempty"`
	Seconds int64     `json:"seconds,omitempty"`
}

// mayChat is the mute check of a publish or an edit: a muted user gets
// forbidden with the seconds left.
func (ss *Session) mayChat(ctx context.Context, room string) *protocol.Error {
	c := ss.s.chat
	key := room + "." + userToken(ss.id.User)
	var m mute
	var ok bool
	if c.synced.Load() {
		c.mu.RLock()
		m, ok = c.mutes[key]
		c.mu.RUnlock()
	} else if c.bus != nil {
		ok = c.getJSON(ctx, chatStateBucket, "mute."+key, &m) == nil
	}
	if !ok {
		return nil
	}
	if left := time.Until(m.Until); left > 0 {
		secs := int64(math.Ceil(left.Seconds()))
		return protocol.NewError(protocol.CodeForbidden,
			fmt.Sprintf("you are muted in %s for %d more seconds", room, secs))
	}
	return nil
}

func (ss *Session) mute(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	if !ss.s.isModerator(ss.id) {
		return nil, protocol.NewError(protocol.CodeForbidden, "only moderators may mute or unmute")
	}
	key := "mute." + req.Channel + "." + userToken(req.User)
	b, err := c.bus.Bucket(ctx, chatStateBucket)
	if err != nil {
		return nil, unavailable(err)
	}
	ev := map[string]any{"user": req.User, "by": ss.id.User}
	if req.Op == protocol.OpMute {
		until := time.Now().Add(time.Duration(req.Seconds) * time.Second).UTC()
		m := mute{User: req.User, Until: until, By: ss.id.User}
		if err := c.putJSON(ctx, chatStateBucket, key, m); err != nil {
			return nil, unavailable(err)
		}
		c.mu.Lock() // this gateway enforces it at once; the watch tells the others
		c.mutes[strings.TrimPrefix(key, "mute.")] = m
		c.mu.Unlock()
		ev["until"] = until.Format(protocol.TimeFormat)
	} else {
		if err := b.Delete(ctx, key, 0); err != nil {
			return nil, unavailable(err)
		}
		c.mu.Lock()
		delete(c.mutes, strings.TrimPrefix(key, "mute."))
		c.mu.Unlock()
		ev["until"] = time.Now().UTC().Format(protocol.TimeFormat)
		ev["unmuted"] = true
	}
	c.recordAction(req.Channel, req.Op, ss.id.User, req.User, 0, req.Seconds)
	data, _ := json.Marshal(ev)
	seq, err := c.publish(ctx, req.Channel, protocol.EventMute, data, "")
	if err != nil {
		return nil, unavailable(err)
	}
	ss.s.chat.notify(req.User, protocol.EventNotice, map[string]any{
		"channel": req.Channel, "action": req.Op, "by": ss.id.User, "until": ev["until"],
	})
	return protocol.AppendOKSeq(nil, req.ID, seq), nil
}

// recordAction stores a moderation action for /admin (best effort: the
// action itself is already a room event).
func (c *chatOps) recordAction(room, action, by, user string, seq uint64, seconds int64) {
	a := modAction{Time: time.Now().UTC(), Room: room, Action: action, By: by, User: user, Seq: seq, Seconds: seconds}
	c.s.tracked.Go(func() {
		ctx, cancel := context.WithTimeout(c.s.ctx, 5*time.Second)
		defer cancel()
		key := "action." + strconv.FormatInt(a.Time.UnixNano(), 10) + "." + room
		if err := c.putJSON(ctx, chatStateBucket, key, a); err != nil {
			c.s.log.Warn("moderation action not recorded", "err", err)
		}
	})
}

// moderationLog returns the latest moderation actions, newest first (by
// the time each was taken), and
// the mutes in force.
func (c *chatOps) moderationLog() (actions []modAction, mutes []map[string]any) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	actions = slices.Clone(c.actions)
	now := time.Now()
	for k, m := range c.mutes {
		if m.Until.After(now) {
			room, _ := splitLast(k)
			mutes = append(mutes, map[string]any{"room": room, "user": m.User, "until": m.Until, "by": m.By})
		}
	}
	// Actions are stored concurrently (one put each), so the bucket's order
	// is not the order they happened in: sort by when they were taken.
	slices.SortStableFunc(actions, func(a, b modAction) int { return b.Time.Compare(a.Time) })
	return actions, mutes
}

func splitLast(k string) (string, string) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return k, ""
	}
	return k[:i], k[i+1:]
}

// adminModeration is the moderation part of /admin/api/state.
func (c *chatOps) adminModeration() map[string]any {
	actions, mutes := c.moderationLog()
	if actions == nil {
		actions = []modAction{}
	}
	if mutes == nil {
		mutes = []map[string]any{}
	}
	return map[string]any{"actions": actions, "mutes": mutes}
}
