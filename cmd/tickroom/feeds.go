package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tickroom/tickroom/feeds/cli"
)

// startFeeds runs the simulated market, analytics and alerts in-process on
// the bus's connection (in-process to the embedded server: no TCP hop).
func (n *Node) startFeeds() error {
	ctx, cancel := context.WithCancel(context.Background())
	n.feedsCancel = cancel
	n.feedsDone = make(chan struct{})
	go func() {
		defer close(n.feedsDone)
		if err := cli.RunAll(ctx, n.bus.Conn(), n.log.With("part", "feeds")); err != nil {
			n.log.Error("feeds stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) stopFeeds() {
	if n.feedsCancel != nil {
		n.feedsCancel()
		<-n.feedsDone
	}
}

// runFeed is `tickroom feed NAME [flags]`: one producer as its own process
// against any NATS.
func runFeed(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stdout, "usage: tickroom feed %v [-nats URL] [flags]\n", cli.Names)
		return nil
	}
	err := cli.Main(ctx, args[0], args[1:], stdout, stderr)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
