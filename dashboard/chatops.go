package dashboard

// The chat a desk lives in (PROTOCOL §4): private user channels, stamped
// messages (bots cannot pass as people), edit and delete, mutes, read
// positions, mentions. Its state lives in NATS, so every gateway of a
// deployment agrees:
//
//   - a stamp: a MAC over (subject, event, data) under a key every gateway
//     shares (natsbus.SharedSecret "chat-stamp-key"), in the Tickroom-Stamp
//     header of what a gateway stores for a person. A chat message without
//     a valid stamp came from elsewhere on NATS and is shown as a bot's.
//   - bucket tickroom_chat: "amend.<room>.<seq>" (an edit's text or a
//     delete) and "mute.<room>.<user>" (until when). Every gateway keeps
//     the bucket in memory through a watch, so a replay or a history page
//     shows messages as edited or deleted without a read per message.
//   - bucket tickroom_read: "<user>.<room>" → the user's read seq.
//
// A deleted message is also erased from the stream (chaterase.go); history
// and replays put a stand-in in its place.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

const (
	chatStateBucket = "tickroom_chat"
	readBucket      = "tickroom_read"
	stampKeyName    = "chat-stamp-key"
)

// chatBus is what the chat operations need from NATS beyond Bus.
// *natsbus.Bus implements it; a Bus that does not (a test fake) serves
// none of them (they answer unavailable) and every chat message shows as a
// bot's.
type chatBus interface {
	PublishStamped(ctx context.Context, subject, event string, data []byte, msgID, stamp string) (uint64, bool, error)
	Stored(ctx context.Context, subject string, seq uint64) (natsbus.Msg, error)
	CountAfter(ctx context.Context, subject string, after uint64) (count, last uint64, err error)
	Subjects(ctx context.Context, filter string) (map[string]uint64, error)
	Bucket(ctx context.Context, name string) (*natsbus.Bucket, error)
	SharedSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)
}

var _ chatBus = (*natsbus.Bus)(nil)

// amendment is the stored state of an edited or deleted message.
type amendment struct {
	Text    string `json:"text,omitempty"`
	Edited  bool   `json:"edited,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	By      string `json:"by,omitempty"`
	// Of a deleted message, for its stand-in once it is erased (chaterase.go).
	Author string    `json:"author,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	MsgID  string    `json:"msgid,omitempty"`
}

// mute is a user's mute in a room.
type mute struct {
	User  string    `json:"user"`
	Until time.Time `json:"until"`
	By    string    `json:"by"`
}

// chatOps holds the gateway's chat state. Its methods are safe for
// concurrent use; the watch runs in one goroutine the Server tracks.
type chatOps struct {
	s   *Server
	bus chatBus // nil when the Bus has no chat support

	keyMu sync.Mutex
	key   []byte

	roomIdx topicMap[*roomIndex] // chatindex.go: carried rooms' seqs

	mu sync.RWMutex
	chatView
	synced atomic.Bool // the watch has delivered the bucket's state
}

// chatView is the in-memory copy of tickroom_chat.
type chatView struct {
	amends  map[string]amendment // "<room>.<seq>"
	mutes   map[string]mute      // "<room>.<user token>"
	actions []modAction          // in arrival order, at most maxActions
}

func newChatView() chatView {
	return chatView{amends: map[string]amendment{}, mutes: map[string]mute{}}
}

func newChatOps(s *Server) *chatOps {
	c := &chatOps{s: s, chatView: newChatView()}
	c.bus, _ = s.bus.(chatBus)
	return c
}

// run keeps the in-memory view of tickroom_chat until the server stops,
// re-watching after NATS comes back.
func (c *chatOps) run() {
	if c.bus == nil {
		return
	}
	ctx := c.s.ctx
	for ctx.Err() == nil {
		err := c.watch(ctx)
		c.synced.Store(false)
		if ctx.Err() != nil {
			return
		}
		c.s.log.Debug("chat state watch ended; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *chatOps) watch(ctx context.Context) error {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	bucket, err := c.bus.Bucket(bctx, chatStateBucket)
	cancel()
	if err != nil {
		return err
	}
	fresh := newChatView()
	live := false
	return bucket.Watch(ctx, ">", func(e natsbus.Entry) {
		if !live {
			fresh.apply(e)
			return
		}
		c.mu.Lock()
		c.chatView.apply(e)
		c.mu.Unlock()
	}, func() {
		c.mu.Lock()
		c.chatView = fresh
		c.mu.Unlock()
		live = true
		c.synced.Store(true)
	})
}

// apply records one bucket entry.
func (v *chatView) apply(e natsbus.Entry) {
	kind, rest, _ := strings.Cut(e.Key, ".")
	switch kind {
	case "amend":
		setOrDelete(v.amends, rest, e)
	case "mute":
		setOrDelete(v.mutes, rest, e)
	case "action":
		var a modAction
		if e.Deleted || json.Unmarshal(e.Value, &a) != nil {
			return
		}
		v.actions = append(v.actions, a)
		if len(v.actions) > maxActions {
			v.actions = slices.Delete(v.actions, 0, len(v.actions)-maxActions)
		}
	}
}

// setOrDelete stores e's decoded value at key, or removes key when e is
// a deletion or does not decode.
func setOrDelete[T any](m map[string]T, key string, e natsbus.Entry) {
	var v T
	if e.Deleted || json.Unmarshal(e.Value, &v) != nil {
		delete(m, key)
		return
	}
	m[key] = v
}

// amendmentOf returns the amendment of room's message seq. Before the
// watch has synced it asks the bucket, so a restarted gateway never shows
// a deleted text.
func (c *chatOps) amendmentOf(room string, seq uint64) (amendment, bool) {
	key := room + "." + strconv.FormatUint(seq, 10)
	if c.synced.Load() {
		c.mu.RLock()
		a, ok := c.amends[key]
		c.mu.RUnlock()
		return a, ok
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, 3*time.Second)
	defer cancel()
	var a amendment
	if c.getJSON(ctx, chatStateBucket, "amend."+key, &a) != nil {
		return amendment{}, false
	}
	return a, true
}

// openBucket opens bucket; ErrUnavailable when the gateway has no bus.
func (c *chatOps) openBucket(ctx context.Context, bucket string) (*natsbus.Bucket, error) {
	if c.bus == nil {
		return nil, natsbus.ErrUnavailable
	}
	return c.bus.Bucket(ctx, bucket)
}

func (c *chatOps) getJSON(ctx context.Context, bucket, key string, v any) error {
	b, err := c.openBucket(ctx, bucket)
	if err != nil {
		return err
	}
	e, err := b.Get(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(e.Value, v)
}

// putAmendment stores an edit or delete and applies it to this gateway's
// view at once (the watch brings it to the others).
func (c *chatOps) putAmendment(ctx context.Context, room string, seq uint64, a amendment) error {
	if err := c.putJSON(ctx, chatStateBucket, amendKey(room, seq), a); err != nil {
		return err
	}
	c.mu.Lock()
	c.amends[room+"."+strconv.FormatUint(seq, 10)] = a
	c.mu.Unlock()
	return nil
}

func (c *chatOps) putJSON(ctx context.Context, bucket, key string, v any) error {
	b, err := c.openBucket(ctx, bucket)
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(v)
	_, err = b.Put(ctx, key, raw)
	return err
}

// stampKey returns the deployment's stamp key, fetching it once.
func (c *chatOps) stampKey(ctx context.Context) []byte {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.key != nil || c.bus == nil {
		return c.key
	}
	key, err := c.bus.SharedSecret(ctx, stampKeyName, func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		c.s.log.Warn("chat stamp key unavailable", "err", err)
		return nil
	}
	c.key = key
	return key
}

func stampOf(key []byte, subject, event string, data []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(subject))
	m.Write([]byte{0})
	m.Write([]byte(event))
	m.Write([]byte{0})
	m.Write(data)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// stamped reports whether m was stored by a gateway of this deployment.
func (c *chatOps) stamped(m natsbus.Msg) bool {
	if m.Stamp == "" {
		return false
	}
	key := c.loadedKey() // every message once the key is loaded: no context to make
	if key == nil {
		ctx, cancel := context.WithTimeout(c.s.ctx, 3*time.Second)
		defer cancel()
		key = c.stampKey(ctx)
	}
	return key != nil && hmac.Equal([]byte(m.Stamp), []byte(stampOf(key, m.Subject, m.Event, m.Data)))
}

// loadedKey is the stamp key if stampKey has loaded it.
func (c *chatOps) loadedKey() []byte {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	return c.key
}

// publish stores data on subject as the gateway, stamped.
func (c *chatOps) publish(ctx context.Context, subject, event string, data []byte, msgID string) (uint64, error) {
	if c.bus == nil {
		return 0, natsbus.ErrUnavailable
	}
	key := c.stampKey(ctx)
	if key == nil {
		return 0, natsbus.ErrUnavailable
	}
	seq, _, err := c.bus.PublishStamped(ctx, subject, event, data, msgID, stampOf(key, subject, event, data))
	return seq, err
}

// encodeChat is upstream.encode for chat subjects: a stamped message is a
// person's (with its edit or delete applied), an unstamped one a bot's
// whatever user it claims; edit, delete and mute events count only when
// a gateway stamped them.
func (u *upstream) encodeChat(m natsbus.Msg) (*hub.Event, error) {
	c := u.chat
	person := c != nil && c.stamped(m)
	amendEvent := m.Event == protocol.EventEdit || m.Event == protocol.EventDelete || m.Event == protocol.EventMute
	// A person's message is looked up once: the lookup may read the
	// bucket, and this runs on the live subscription's goroutine.
	var a amendment
	amended := false
	if person && !amendEvent {
		a, amended = c.amendmentOf(m.Subject, m.Seq)
	}
	event := protocol.EventChat
	data := m.Data
	switch {
	case person && amendEvent:
		event = m.Event
	case amended && a.Deleted:
		// Deleted (and maybe erased: m is then its stand-in): who and
		// when stay, the text and ref do not.
		var d struct {
			User  string `json:"user"`
			MsgID string `json:"msgid,omitempty"`
		}
		if err := json.Unmarshal(m.Data, &d); err != nil || d.User == "" {
			return nil, fmt.Errorf("%w: chat needs a user", protocol.ErrPayload)
		}
		out := map[string]any{"user": d.User, "deleted": true}
		if d.MsgID != "" {
			out["msgid"] = d.MsgID
		}
		data, _ = json.Marshal(out)
	default:
		if _, err := protocol.ValidatePayload(m.Subject, m.Data); err != nil {
			return nil, err
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.Data, &obj); err != nil {
			return nil, fmt.Errorf("%w: %v", protocol.ErrPayload, err)
		}
		rewrite := false
		if !person {
			obj["bot"] = json.RawMessage("true")
			delete(obj, "edited")
			delete(obj, "deleted")
			rewrite = true
		} else if amended && a.Edited { // a deleted one took the case above
			obj["text"], _ = json.Marshal(a.Text)
			obj["edited"] = json.RawMessage("true")
			rewrite = true
		}
		if rewrite {
			var err error
			if data, err = json.Marshal(obj); err != nil {
				return nil, fmt.Errorf("%w: %v", protocol.ErrPayload, err)
			}
		}
	}
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	return &hub.Event{
		Channel: m.Subject,
		Seq:     m.Seq,
		Frame:   protocol.AppendEvent(make([]byte, 0, 96+len(m.Subject)+len(data)), m.Subject, event, m.Seq, t, data),
	}, nil
}

// mayReadUser keeps user.<name> to its user: no other user, and no
// wildcard (which could match another's).
func mayReadUser(id auth.Identity, channel string) *protocol.Error {
	if protocol.Kind(channel) != protocol.KindUser {
		return nil
	}
	if channel != protocol.UserChannel(id.User) {
		return protocol.NewError(protocol.CodeForbidden, channel+" is another user's private channel")
	}
	return nil
}

// isModerator: listed by name in Moderators, or carrying ModeratorRole.
func (s *Server) isModerator(id auth.Identity) bool {
	if id.Guest {
		return false
	}
	for _, m := range s.cfg.Moderators {
		if m == id.User {
			return true
		}
	}
	role := s.cfg.ModeratorRole
	if role == "" {
		role = "moderator"
	}
	return id.HasRole(role)
}

// serveChatOp answers the chat operations (request validated).
func (ss *Session) serveChatOp(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	if c.bus == nil {
		return nil, errChatUnavailable
	}
	switch req.Op {
	case protocol.OpRead:
		return ss.read(ctx, req)
	case protocol.OpRooms:
		return ss.rooms(ctx, req)
	case protocol.OpEdit:
		return ss.edit(ctx, req)
	case protocol.OpDelete:
		return ss.deleteMsg(ctx, req)
	case protocol.OpMute, protocol.OpUnmute:
		return ss.mute(ctx, req)
	case protocol.OpAlertSet:
		return ss.alertSet(ctx, req)
	case protocol.OpAlertList:
		return ss.alertList(ctx, req)
	case protocol.OpAlertDelete:
		return ss.alertDelete(ctx, req)
	}
	return nil, protocol.NewError(protocol.CodeUnknownOp, "unknown op")
}

var errChatUnavailable = protocol.NewError(protocol.CodeUnavailable, "chat state is unavailable (NATS down); retry later")

func unavailable(err error) *protocol.Error {
	if errors.Is(err, natsbus.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return errChatUnavailable
	}
	return protocol.NewError(protocol.CodeInternal, "chat state could not be read or written")
}

// withFields appends "name":value pairs to a reply object ending in '}'.
func withFields(reply []byte, kv ...any) []byte {
	if len(reply) == 0 || reply[len(reply)-1] != '}' {
		return reply
	}
	reply = reply[:len(reply)-1]
	for i := 0; i+1 < len(kv); i += 2 {
		reply = append(reply, ',')
		reply = strconv.AppendQuote(reply, kv[i].(string))
		reply = append(reply, ':')
		v, _ := json.Marshal(kv[i+1])
		reply = append(reply, v...)
	}
	return append(reply, '}')
}

// original reads the chat message seq of room: a stored message of the
// chat event (not an edit or delete event).
func (ss *Session) original(ctx context.Context, room string, seq uint64) (natsbus.Msg, chatData, *protocol.Error) {
	m, err := ss.s.chat.bus.Stored(ctx, room, seq)
	if errors.Is(err, natsbus.ErrNoMessage) {
		return m, chatData{}, protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("no message %d in %s", seq, room))
	}
	if err != nil {
		return m, chatData{}, unavailable(err)
	}
	var d chatData
	if json.Unmarshal(m.Data, &d) != nil || (m.Event != "" && m.Event != protocol.EventChat) {
		return m, chatData{}, protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("%d in %s is not a chat message", seq, room))
	}
	// From the bucket, not the view: the view may lag a delete just made
	// on another gateway, and an edit must never undo a delete.
	var a amendment
	if err := ss.s.chat.getJSON(ctx, chatStateBucket, amendKey(room, seq), &a); err != nil && !errors.Is(err, natsbus.ErrKeyNotFound) {
		return m, chatData{}, unavailable(err)
	}
	if a.Deleted {
		return m, chatData{}, protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("message %d in %s was deleted", seq, room))
	}
	return m, d, nil
}

type chatData struct {
	User string `json:"user"`
	Text string `json:"text"`
}

func (ss *Session) edit(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	if perr := ss.mayChat(ctx, req.Channel); perr != nil {
		return nil, perr
	}
	m, d, perr := ss.original(ctx, req.Channel, req.Seq)
	if perr != nil {
		return nil, perr
	}
	if !c.stamped(m) || d.User != ss.id.User {
		return nil, protocol.NewError(protocol.CodeForbidden, "only the author may edit a message")
	}
	if time.Since(m.Time) > protocol.EditWindow {
		return nil, protocol.NewError(protocol.CodeForbidden,
			fmt.Sprintf("messages can be edited for %s after sending", protocol.EditWindow))
	}
	clean, perr := protocol.ChatData(req.Data, ss.id.User, "", ss.s.cfg.MaxChatBytes)
	if perr != nil {
		return nil, perr
	}
	var text chatData
	_ = json.Unmarshal(clean, &text)
	if perr := c.storeEdit(ctx, req.Channel, req.Seq, text.Text); perr != nil {
		return nil, perr
	}
	data, _ := json.Marshal(map[string]any{"ref_seq": req.Seq, "text": text.Text, "user": ss.id.User})
	seq, err := c.publish(ctx, req.Channel, protocol.EventEdit, data, "")
	if err != nil {
		return nil, unavailable(err)
	}
	return protocol.AppendOKSeq(nil, req.ID, seq), nil
}

// storeEdit stores an edit by compare-and-set, so it never overwrites a
// delete made meanwhile (on any gateway): a delete always wins.
func (c *chatOps) storeEdit(ctx context.Context, room string, seq uint64, text string) *protocol.Error {
	b, err := c.bus.Bucket(ctx, chatStateBucket)
	if err != nil {
		return unavailable(err)
	}
	key := amendKey(room, seq)
	a := amendment{Text: text, Edited: true}
	raw, _ := json.Marshal(a)
	for range 3 {
		var prev amendment
		e, err := b.Get(ctx, key)
		switch {
		case errors.Is(err, natsbus.ErrKeyNotFound):
			_, err = b.Create(ctx, key, raw)
		case err != nil:
			return unavailable(err)
		case json.Unmarshal(e.Value, &prev) == nil && prev.Deleted:
			return protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("message %d in %s was deleted", seq, room))
		default:
			_, err = b.Update(ctx, key, raw, e.Revision)
		}
		if err == nil {
			c.mu.Lock()
			c.amends[room+"."+strconv.FormatUint(seq, 10)] = a
			c.mu.Unlock()
			return nil
		}
		if !errors.Is(err, natsbus.ErrKeyExists) && !errors.Is(err, natsbus.ErrRevision) {
			return unavailable(err)
		}
	}
	return protocol.NewError(protocol.CodeUnavailable, "the message is being changed; retry")
}

func (ss *Session) deleteMsg(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	c := ss.s.chat
	if perr := ss.s.mayRead(ss.id, req.Channel); perr != nil {
		return nil, perr
	}
	m, d, perr := ss.original(ctx, req.Channel, req.Seq)
	if perr != nil {
		return nil, perr
	}
	author := c.stamped(m) && d.User == ss.id.User
	if !author && !ss.s.isModerator(ss.id) {
		return nil, protocol.NewError(protocol.CodeForbidden, "only the author or a moderator may delete a message")
	}
	var orig struct {
		MsgID string `json:"msgid"`
	}
	_ = json.Unmarshal(m.Data, &orig)
	if !c.stamped(m) {
		d.User = "" // a bot's message: no stand-in under a person's name
	}
	if err := c.putAmendment(ctx, req.Channel, req.Seq, amendment{Deleted: true, By: ss.id.User, Author: d.User, Time: m.Time, MsgID: orig.MsgID}); err != nil {
		return nil, unavailable(err)
	}
	ev := map[string]any{"ref_seq": req.Seq, "user": ss.id.User}
	if !author {
		ev["moderator"] = true
		ss.s.chat.recordAction(req.Channel, "delete", ss.id.User, d.User, req.Seq, 0)
	}
	data, _ := json.Marshal(ev)
	seq, err := c.publish(ctx, req.Channel, protocol.EventDelete, data, "")
	if err != nil {
		return nil, unavailable(err)
	}
	c.erase(ctx, req.Channel, req.Seq) // the text leaves the disk too (chaterase.go)
	return protocol.AppendOKSeq(nil, req.ID, seq), nil
}

func amendKey(room string, seq uint64) string {
	return "amend." + room + "." + strconv.FormatUint(seq, 10)
}

// userToken is user's token in keys: the second token of its channel.
func userToken(user string) string { return protocol.UserToken(user) }

// publishChat stores a person's chat message, stamped; on a Bus without
// chat support, unstamped (it then shows as a bot's).
func (c *chatOps) publishChat(ctx context.Context, subject string, data []byte, msgID string) (uint64, error) {
	if c.bus == nil {
		seq, _, err := c.s.bus.PublishDurable(ctx, subject, data, msgID)
		return seq, err
	}
	return c.publish(ctx, subject, "", data, msgID)
}
