package natsbus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Declaring streams and buckets is safe under concurrency and never
// changes what an operator set:
//
//   - what exists is left alone (a difference from the configured settings
//     is logged once per stream), unless Config.UpdateStreams asks for the
//     configured settings to be applied, once per process;
//   - what is missing is created, and "already exists" (another gateway won
//     the race) counts as success; that includes the subjects a stream must
//     hold for a kind this version stores (an upgrade that adds a kind adds
//     its subjects to the existing stream, keeping every other setting);
//   - every JetStream API call has its own short timeout and is retried with
//     jittered backoff: on a cluster that is still electing its meta leader
//     or a new stream's leader, requests time out or fail with "no suitable
//     peers" for a few seconds, and one long wait would waste the time in
//     which a retry would have succeeded.
const (
	ensureCallTimeout = 2 * time.Second
	ensureRetryMin    = 50 * time.Millisecond
	ensureRetryMax    = time.Second
)

// ensureStreams makes sure every stream and the presence bucket exist. It
// runs after every (re)connect: a NATS that lost its state gets the streams
// back without an operator, and one that kept them is not touched.
func (b *Bus) ensureStreams(ctx context.Context) error {
	update := b.cfg.UpdateStreams && !b.updated.Load()
	for _, sc := range b.cfg.streamConfigs() {
		if err := b.ensureStream(ctx, sc, update); err != nil {
			return fmt.Errorf("natsbus: ensure stream %s on %s: %w", sc.Name, b.servers(), err)
		}
	}
	kv, err := b.ensureBucket(ctx, b.presenceBucketConfig(), update)
	if err != nil {
		return fmt.Errorf("natsbus: ensure bucket %s on %s: %w", presenceBucket, b.servers(), err)
	}
	b.setPresenceKV(kv)
	if update {
		b.updated.Store(true)
	}
	return nil
}

func (b *Bus) presenceBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:   presenceBucket,
		TTL:      b.cfg.PresenceTTL,
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
	}
}

// ensureStream creates sc if it is missing; if it exists it compares, and
// updates only when update is set.
func (b *Bus) ensureStream(ctx context.Context, sc jetstream.StreamConfig, update bool) error {
	return retryJS(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = b.js.CreateStream(ctx, sc)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return errRetryNow // created concurrently: look at it
			}
			if err == nil {
				b.log.Info("natsbus: created stream", "stream", sc.Name, "replicas", sc.Replicas)
			}
			return err
		}
		if err != nil {
			return err
		}
		return b.reconcile(ctx, sc, s.CachedInfo().Config, update)
	})
}

// reconcile reports (or, when asked, removes) differences between the
// declared config and the existing one.
func (b *Bus) reconcile(ctx context.Context, want, have jetstream.StreamConfig, update bool) error {
	if missing := missingSubjects(want.Subjects, have.Subjects); len(missing) > 0 && !update {
		grown := have
		grown.Subjects = append(slices.Clone(have.Subjects), missing...)
		if _, err := b.js.UpdateStream(ctx, grown); err != nil {
			return fmt.Errorf("add subjects %v: %w", missing, err)
		}
		b.log.Info("natsbus: added the subjects this version stores to an existing stream; its other settings are kept",
			"stream", want.Name, "subjects", missing)
		have = grown
	}
	diff := streamDiff(want, have)
	if diff == "" {
		b.forgetWarning(want.Name)
		return nil
	}
	if update {
		if _, err := b.js.UpdateStream(ctx, want); err != nil {
			return fmt.Errorf("update (-nats-update-streams) %s: %w", diff, err)
		}
		b.log.Warn("natsbus: updated stream to the configured settings", "stream", want.Name, "was", diff)
		return nil
	}
	b.warnOnce(want.Name, diff)
	return nil
}

// ensureBucket returns the bucket, creating it when missing. The bucket's
// stream is compared like any other stream.
func (b *Bus) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig, update bool) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retryJS(ctx, func(ctx context.Context) error {
		var err error
		kv, err = b.js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = b.js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				return errRetryNow
			}
			return err
		}
		if err != nil {
			return err
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return err
		}
		bs, ok := st.(*jetstream.KeyValueBucketStatus)
		if !ok {
			return nil
		}
		have := bs.StreamInfo().Config
		want := have
		want.MaxAge, want.Replicas = cfg.TTL, cfg.Replicas
		if cfg.History > 0 {
			want.MaxMsgsPerSubject = int64(cfg.History)
		}
		if update && streamDiff(want, have) != "" {
			if _, err := b.js.UpdateKeyValue(ctx, cfg); err != nil {
				return fmt.Errorf("update (-nats-update-streams): %w", err)
			}
			return nil
		}
		b.reportDiff(want, have)
		return nil
	})
	return kv, err
}

func (b *Bus) reportDiff(want, have jetstream.StreamConfig) {
	if d := streamDiff(want, have); d != "" {
		b.warnOnce(want.Name, d)
	} else {
		b.forgetWarning(want.Name)
	}
}

// warnOnce logs a stream's difference from the configuration the first
// time it is seen (and again only if it changes): reconnects do not repeat
// it.
func (b *Bus) warnOnce(stream, diff string) {
	b.warnMu.Lock()
	defer b.warnMu.Unlock()
	if b.warned[stream] == diff {
		return
	}
	b.warned[stream] = diff
	b.log.Warn("natsbus: existing stream differs from the configured settings; keeping the existing ones (pass -nats-update-streams to apply the configured ones)",
		"stream", stream, "differences", diff)
}

func (b *Bus) forgetWarning(stream string) {
	b.warnMu.Lock()
	delete(b.warned, stream)
	b.warnMu.Unlock()
}

// missingSubjects lists the subjects of want that have does not hold.
func missingSubjects(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// streamDiff lists the settings tickroom declares that differ between want
// and have, as "field: have → want" items; "" when they agree. Settings
// tickroom does not declare (JetStream's defaults) are not compared.
func streamDiff(want, have jetstream.StreamConfig) string {
	var d []string
	add := func(field string, h, w any) { d = append(d, fmt.Sprintf("%s: %v (configured %v)", field, h, w)) }
	if !sameSet(want.Subjects, have.Subjects) {
		add("subjects", have.Subjects, want.Subjects)
	}
	if want.Replicas != have.Replicas && !(want.Replicas <= 1 && have.Replicas <= 1) {
		add("replicas", have.Replicas, want.Replicas)
	}
	if want.MaxAge != have.MaxAge {
		add("max_age", age(have.MaxAge), age(want.MaxAge))
	}
	if limit(want.MaxMsgsPerSubject) != limit(have.MaxMsgsPerSubject) {
		add("max_msgs_per_subject", limit(have.MaxMsgsPerSubject), limit(want.MaxMsgsPerSubject))
	}
	if limit(want.MaxMsgs) != limit(have.MaxMsgs) {
		add("max_msgs", limit(have.MaxMsgs), limit(want.MaxMsgs))
	}
	if want.Duplicates != 0 && want.Duplicates != have.Duplicates {
		add("duplicate_window", have.Duplicates, want.Duplicates)
	}
	if want.Storage != have.Storage {
		add("storage", have.Storage, want.Storage)
	}
	return strings.Join(d, "; ")
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// limit normalizes JetStream's "no limit" spellings (0 and -1).
func limit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

func age(d time.Duration) string {
	if d <= 0 {
		return "unlimited"
	}
	return d.String()
}

// errRetryNow makes retryJS try again at once: the state changed under us
// (another gateway created the stream) and the next look will see it.
var errRetryNow = errors.New("natsbus: retry now")

// retryJS runs fn, each call with its own ensureCallTimeout, until it
// succeeds, fails with an error retrying cannot fix, or ctx ends; it then
// returns the last error.
func retryJS(ctx context.Context, fn func(context.Context) error) error {
	wait := ensureRetryMin
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, ensureCallTimeout)
		err := fn(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, errRetryNow) {
			continue
		}
		last = err
		if permanentJSError(err) {
			return err
		}
		// Full jitter: gateways started together spread their retries.
		d := time.Duration(rand.Int64N(int64(wait))) + ensureRetryMin/2
		select {
		case <-ctx.Done():
			if ctx.Err() != nil && errors.Is(last, context.DeadlineExceeded) {
				return fmt.Errorf("%w (JetStream did not answer; is a meta leader elected and are enough nodes up for the replicas?)", last)
			}
			return last
		case <-time.After(d):
		}
		wait = min(wait*2, ensureRetryMax)
	}
}

// permanentJSError reports JetStream answers that no retry changes: a
// configuration the server refuses. Timeouts, "no suitable peers", "not
// enough resources" (a cluster still forming) and "no responders" are
// retried.
func permanentJSError(err error) bool {
	var ge *generateError
	if errors.As(err, &ge) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamNameInUse, jetstream.JSErrCodeStreamNotFound:
		return false
	}
	if strings.Contains(apiErr.Description, "not supported") {
		return true // e.g. replicas > 1 on a server that is not clustered
	}
	switch apiErr.Code {
	case 400: // bad config: invalid settings, subjects overlap, replicas unsupported
		return !strings.Contains(strings.ToLower(apiErr.Description), "peers") &&
			!strings.Contains(strings.ToLower(apiErr.Description), "insufficient")
	case 403: // permissions
		return true
	}
	return false
}
