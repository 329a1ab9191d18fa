package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tickroom/tickroom/feeds/cli"
)

// startFeeds runs the simulated market, analytics and alerts in-process on
// the bus's connection (in-process to the embedded server: no TCP hop), as
// a part of the node: they stop at Shutdown, and a feed that fails fails
// the node.
func (n *Node) startFeeds() error {
	log := n.log.With("part", "feeds")
	n.goPart("feeds", func(ctx context.Context) error {
		err := cli.RunAll(ctx, n.bus.Conn(), log)
		if ctx.Err() != nil {
			return nil // stopped by Shutdown
		}
		return err
	})
	return nil
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
