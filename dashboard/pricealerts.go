package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Price alerts: the gateway arms, lists and removes them in
// protocol.PriceAlertBucket; the alert feed's evaluators (feeds/alerts)
// fire them. The gateway never evaluates.

func (ss *Session) alertBucket(ctx context.Context) (*natsbus.Bucket, *protocol.Error) {
	b, err := ss.s.chat.bus.Bucket(ctx, protocol.PriceAlertBucket)
	if err != nil {
		return nil, unavailable(err)
	}
	return b, nil
}

// userAlerts lists the user's armed alerts, oldest first.
func (ss *Session) userAlerts(ctx context.Context, b *natsbus.Bucket) ([]protocol.PriceAlert, *protocol.Error) {
	keys, err := b.Keys(ctx, protocol.UserToken(ss.id.User)+".*")
	if err != nil {
		return nil, unavailable(err)
	}
	out := []protocol.PriceAlert{}
	for _, k := range keys {
		e, err := b.Get(ctx, k)
		if errors.Is(err, natsbus.ErrKeyNotFound) {
			continue // fired meanwhile
		}
		if err != nil {
			return nil, unavailable(err)
		}
		var a protocol.PriceAlert
		if json.Unmarshal(e.Value, &a) == nil && a.User == ss.id.User {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b protocol.PriceAlert) int { return strings.Compare(a.Created+a.ID, b.Created+b.ID) })
	return out, nil
}

func (ss *Session) alertSet(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	if ss.id.User == "" {
		return nil, protocol.NewError(protocol.CodeForbidden, "sign in to set alerts")
	}
	known := false
	err := ss.s.bus.LastValues(ctx, protocol.KindMarket+"."+req.Symbol, func(natsbus.Msg) error {
		known = true
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if !known {
		return nil, protocol.NewError(protocol.CodeNotFound, "no market data for "+req.Symbol)
	}
	b, perr := ss.alertBucket(ctx)
	if perr != nil {
		return nil, perr
	}
	have, perr := ss.userAlerts(ctx, b)
	if perr != nil {
		return nil, perr
	}
	if len(have) >= protocol.MaxAlertsPerUser {
		return nil, protocol.NewError(protocol.CodeTooLarge, "at most 50 armed alerts per user; delete one first")
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	a := protocol.PriceAlert{
		ID: "a-" + hex.EncodeToString(id[:]), User: ss.id.User, Symbol: req.Symbol,
		Above: req.Above, Below: req.Below, Note: req.Note,
		Created: time.Now().UTC().Format(protocol.TimeFormat),
	}
	raw, _ := json.Marshal(a)
	if _, err := b.Create(ctx, protocol.PriceAlertKey(a.User, a.ID), raw); err != nil {
		return nil, unavailable(err)
	}
	return protocol.AppendOKField(nil, req.ID, "alert", raw), nil
}

func (ss *Session) alertList(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	b, perr := ss.alertBucket(ctx)
	if perr != nil {
		return nil, perr
	}
	list, perr := ss.userAlerts(ctx, b)
	if perr != nil {
		return nil, perr
	}
	raw, _ := json.Marshal(list)
	return protocol.AppendOKField(nil, req.ID, "alerts", raw), nil
}

func (ss *Session) alertDelete(ctx context.Context, req *protocol.Request) ([]byte, *protocol.Error) {
	b, perr := ss.alertBucket(ctx)
	if perr != nil {
		return nil, perr
	}
	notFound := protocol.NewError(protocol.CodeNotFound, "no armed alert "+req.Alert)
	if !protocol.ValidToken(req.Alert) {
		return nil, notFound
	}
	key := protocol.PriceAlertKey(ss.id.User, req.Alert)
	e, err := b.Get(ctx, key)
	if errors.Is(err, natsbus.ErrKeyNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	// With its revision: an alert claimed by an evaluator meanwhile fires
	// rather than vanishing half-delivered.
	if err := b.Delete(ctx, key, e.Revision); err != nil {
		if errors.Is(err, natsbus.ErrRevision) {
			return nil, protocol.NewError(protocol.CodeNotFound, "alert "+req.Alert+" has just fired")
		}
		return nil, unavailable(err)
	}
	return okFrame(req.ID), nil
}
