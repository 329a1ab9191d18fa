package natsbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// secretsBucket holds secrets every gateway of a deployment must share, such
// as the key that signs dev session tokens: a token issued by one gateway
// must be accepted by any other. Restrict $KV.tickroom_secrets.> to the
// gateways' NATS user in production.
const secretsBucket = "tickroom_secrets"

// SharedSecret returns the secret stored under name, creating it from
// generate when none exists. Concurrent callers on different gateways agree
// on one value: the first create wins and the others read it.
func (b *Bus) SharedSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if err := b.usable("shared secret"); err != nil {
		return nil, err
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   secretsBucket,
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
		History:  1,
	})
	if err != nil {
		return nil, wrapErr("shared secret", err)
	}
	if e, err := kv.Get(ctx, name); err == nil {
		return e.Value(), nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, wrapErr("shared secret", err)
	}
	v, err := generate()
	if err != nil {
		return nil, fmt.Errorf("natsbus: generate secret %s: %w", name, err)
	}
	if _, err := kv.Create(ctx, name, v); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, wrapErr("shared secret", err)
		}
		e, err := kv.Get(ctx, name) // another gateway created it first
		if err != nil {
			return nil, wrapErr("shared secret", err)
		}
		return e.Value(), nil
	}
	return v, nil
}
