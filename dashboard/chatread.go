package dashboard

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Read positions, room summaries, mentions and notices. A read position is
// the highest seq a user has read in a room, kept in the tickroom_read
// bucket under "<user token>.<room>", so it follows the user to any
// browser and any gateway.

// maxMentions bounds the mention events one message produces.
const maxMentions = 10

// maxRooms bounds a rooms reply.
const maxRooms = 200

func readKey(user, room string) string { return userToken(user) + "." + room }

// readPosition returns user's read seq in room (0 when never read).
func (c *chatOps) readPosition(ctx context.Context, user, room string) (uint64, error) {
	b, err := c.bus.Bucket(ctx, readBucket)
	if err != nil {
		return 0, err
	}
	e, err := b.Get(ctx, readKey(user, room))
	if err == natsbus.ErrKeyNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	seq, _ := strconv.ParseUint(string(e.Value), 10, 64)
	return seq, nil
}

// readFields are the "read" and "unread" of a subscribe reply on a chat
// room; none when NATS cannot tell (the subscribe still succeeds).
func (ss *Session) readFields(ctx context.Context, channel string) []any {
	c := ss.s.chat
	if c.bus == nil || protocol.Kind(channel) != protocol.KindChat || protocol.IsWildcard(channel) {
		return nil
	}
	read, err := c.readPosition(ctx, ss.id.User, channel)
	if err != nil {
		return nil
	}
	unread, _, err := c.countAfter(ctx, channel, read)
	if err != nil {
		return nil
	}
	return []any{"read", read, "unread", unread}
}

func (ss *Session) read(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	if perr := ss.s.mayRead(ss.id, req.Channel); perr != nil {
		return nil, perr
	}
	b, err := c.bus.Bucket(ctx, readBucket)
	if err != nil {
		return nil, unavailable(err)
	}
	key := readKey(ss.id.User, req.Channel)
	// Positions only move forward: a stale tab must not mark read messages
	// unread again. Compare-and-set, so two tabs do not undo each other.
	for range 5 {
		cur, rev := uint64(0), uint64(0)
		if e, err := b.Get(ctx, key); err == nil {
			cur, _ = strconv.ParseUint(string(e.Value), 10, 64)
			rev = e.Revision
		} else if err != natsbus.ErrKeyNotFound {
			return nil, unavailable(err)
		}
		if req.Seq <= cur {
			break
		}
		val := []byte(strconv.FormatUint(req.Seq, 10))
		if rev == 0 {
			_, err = b.Create(ctx, key, val)
		} else {
			_, err = b.Update(ctx, key, val, rev)
		}
		if err == nil {
			break
		}
		if err != natsbus.ErrKeyExists && err != natsbus.ErrRevision {
			return nil, unavailable(err)
		}
	}
	read, err := c.readPosition(ctx, ss.id.User, req.Channel)
	if err != nil {
		return nil, unavailable(err)
	}
	unread, _, err := c.countAfter(ctx, req.Channel, read)
	if err != nil {
		return nil, unavailable(err)
	}
	return withFields(okFrame(req.ID), "read", read, "unread", unread), nil
}

type roomSummary struct {
	Channel  string `json:"channel"`
	LastSeq  uint64 `json:"last_seq"`
	Read     uint64 `json:"read"`
	Unread   uint64 `json:"unread"`
	Mentions int    `json:"mentions"`
}

func (ss *Session) rooms(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	subjects, err := c.bus.Subjects(ctx, protocol.KindChat+".>")
	if err != nil {
		return nil, unavailable(err)
	}
	names := make([]string, 0, len(subjects))
	for room := range subjects {
		if ss.s.mayRead(ss.id, room) == nil {
			names = append(names, room)
		}
	}
	slices.Sort(names)
	if len(names) > maxRooms {
		names = names[:maxRooms]
	}
	mentions := ss.mentionSeqs(ctx)
	out := make([]roomSummary, 0, len(names))
	for _, room := range names {
		read, err := c.readPosition(ctx, ss.id.User, room)
		if err != nil {
			return nil, unavailable(err)
		}
		unread, last, err := c.countAfter(ctx, room, read)
		if err != nil {
			return nil, unavailable(err)
		}
		r := roomSummary{Channel: room, LastSeq: last, Read: read, Unread: unread}
		for _, seq := range mentions[room] {
			if seq > read {
				r.Mentions++
			}
		}
		out = append(out, r)
	}
	raw, _ := json.Marshal(out)
	return protocol.AppendOKField(nil, req.ID, "rooms", raw), nil
}

// mentionSeqs maps room → seqs of the recent mentions of the user (the
// last 500 events of their channel).
func (ss *Session) mentionSeqs(ctx context.Context) map[string][]uint64 {
	msgs, err := ss.s.bus.History(ctx, protocol.UserChannel(ss.id.User), 0, protocol.MaxHistoryLimit)
	if err != nil {
		return nil
	}
	out := map[string][]uint64{}
	for _, m := range msgs {
		if m.Event != protocol.EventMention {
			continue
		}
		var d struct {
			Channel string `json:"channel"`
			Seq     uint64 `json:"seq"`
		}
		if json.Unmarshal(m.Data, &d) == nil {
			out[d.Channel] = append(out[d.Channel], d.Seq)
		}
	}
	return out
}

// mentionRe finds @name: letters, digits, _ - . (a trailing dot is
// punctuation, not part of the name).
var mentionRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_])@([\p{L}\p{N}_.-]{1,64})`)

// mentioned returns the distinct names text mentions, at most maxMentions.
func mentioned(text string) []string {
	var names []string
	for _, m := range mentionRe.FindAllStringSubmatch(text, -1) {
		name := strings.TrimRight(m[1], ".")
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
		if len(names) == maxMentions {
			break
		}
	}
	return names
}

// afterPublish sends a mention event to every user the message names
// (in the background: the sender's ack does not wait for it).
func (c *chatOps) afterPublish(room string, seq uint64, user string, data json.RawMessage) {
	var d chatData
	if c.bus == nil || json.Unmarshal(data, &d) != nil {
		return
	}
	for _, name := range mentioned(d.Text) {
		if name == user {
			continue
		}
		c.notify(name, protocol.EventMention, map[string]any{
			"channel": room, "seq": seq, "user": user, "text": d.Text,
		})
	}
}

// notify stores an event on user's private channel, in the background.
func (c *chatOps) notify(user, event string, data map[string]any) {
	ch := protocol.UserChannel(user)
	if ch == "" || protocol.ValidateChannel(ch, false) != nil {
		return
	}
	raw, _ := json.Marshal(data)
	c.s.tracked.Go(func() {
		ctx, cancel := context.WithTimeout(c.s.ctx, 5*time.Second)
		defer cancel()
		if _, err := c.publish(ctx, ch, event, raw, ""); err != nil {
			c.s.log.Warn("notification not stored", "channel", ch, "event", event, "err", err)
		}
	})
}
