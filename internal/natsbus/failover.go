package natsbus

import (
	"time"

	"github.com/nats-io/nats.go"
)

// failoverOptions are the connection settings that decide how fast the bus
// moves to another node when the one it uses dies. (Measured in
// cmd/tickroom/failover_test.go, TestDeployNATSFailover, and in
// docs/deploy.md: the client side reconnects at once, but the first chat
// ack after a kill came 4.1–8.1 s later (the Raft election), not the
// 2 s aimed for.)
func failoverOptions() []nats.Option {
	return []nats.Option{
		// A killed node's socket is usually reset by the kernel at once, so
		// the disconnect is seen immediately; a wait between attempts only
		// matters when every node is down.
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 200*time.Millisecond),
		// A node that vanished without a reset (a network cut) is noticed
		// by missed pings: 2 × 2 s instead of nats.go's 2 × 2 min.
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		// Dialing a dead node's address must not hold up trying the next.
		nats.Timeout(time.Second),
	}
}
