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
	// Create the bucket if missing, never change it: see ensureStreams.
	kv, err := b.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:   secretsBucket,
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
		History:  1,
	}, false)
	if err != nil {
		return nil, wrapErr("shared secret", err)
	}
	// A new bucket's stream may have no leader for a moment ("no
	// responders"): retry within ctx. A Create that timed out but was
	// stored shows up as ErrKeyExists on the retry and is read back.
	var secret []byte
	err = retryJS(ctx, func(ctx context.Context) error {
		if e, err := kv.Get(ctx, name); err == nil {
			secret = e.Value()
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		v, err := generate()
		if err != nil {
			return &generateError{err}
		}
		if _, err := kv.Create(ctx, name, v); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return errRetryNow // another gateway created it first: read theirs
			}
			return err
		}
		secret = v
		return nil
	})
	var ge *generateError
	if errors.As(err, &ge) {
		return nil, fmt.Errorf("natsbus: generate secret %s: %w", name, ge.err)
	}
	if err != nil {
		return nil, wrapErr("shared secret", err)
	}
	return secret, nil
}

// generateError marks a failure of the caller's generate function, which
// no retry fixes.
type generateError struct{ err error }

func (e *generateError) Error() string { return e.err.Error() }
