package natsbus

import "context"

// maxReads bounds the stored-message reads (throwaway consumers, stream
// infos) the Bus has in flight at once. A reconnect storm that misses the
// gateway's memory would otherwise send thousands of consumer creates at
// once; the server answers them one after another anyway, and a backlog
// that large makes every one of them late. Past the bound a read waits its
// turn, for as long as its ctx allows, instead of failing.
const maxReads = 32

// readSlots is the Bus's read bound: a counting semaphore.
type readSlots chan struct{}

// acquire waits for a read slot until ctx ends; the error then is ctx's,
// wrapped as ErrUnavailable (NATS did not answer in time).
func (b *Bus) acquire(ctx context.Context, op string) (release func(), err error) {
	select {
	case b.reads <- struct{}{}:
		return func() { <-b.reads }, nil
	default:
	}
	select {
	case b.reads <- struct{}{}:
		return func() { <-b.reads }, nil
	case <-ctx.Done():
		return nil, wrapErr(op+": waiting for a read slot", ctx.Err())
	}
}
