// Command tickroom runs the tickroom live market dashboard.
//
//	tickroom [run] [flags]     all-in-one: embedded NATS, gateway, simulated feeds
//	tickroom gateway -nats URL only the gateway, on external NATS
//	tickroom feed NAME [flags] one feed producer (market, analytics, alerts, replay)
//
// Every flag can also come from a YAML file (-config) or the environment
// (TICKROOM_<FLAG>); `tickroom -h` lists them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "tickroom:", err)
		os.Exit(1)
	}
}
