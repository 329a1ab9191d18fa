package main

import (
	"context"
	"errors"
	"io"
)

// startFeeds runs the simulated feeds in-process on the bus connection.
func (n *Node) startFeeds() error { return nil }

func (n *Node) stopFeeds() {
	if n.feedsCancel != nil {
		n.feedsCancel()
		<-n.feedsDone
	}
}

func runFeed(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return errors.New("feed: not built yet")
}
