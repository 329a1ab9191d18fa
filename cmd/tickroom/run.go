package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/config"
)

// Main parses the subcommand and its flags and runs it until ctx ends. It
// is the whole program minus signal handling, so tests run it in-process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	mode := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	switch mode {
	case "run", "gateway":
		fs := flag.NewFlagSet("tickroom "+mode, flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfg, err := config.Load(fs, args, getenv)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return err
		}
		if mode == "gateway" && len(cfg.NATSURLs) == 0 {
			return errors.New("gateway: -nats URL[,URL…] is required (the gateway runs no embedded NATS)")
		}
		if mode == "gateway" {
			cfg.Feeds = false
		}
		logger := newLogger(stderr, cfg.LogLevel)
		n, err := Start(ctx, cfg, logger)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tickroom %s: open %s\n", mode, n.URL())
		// Until a signal, or until a part fails: then the process ends
		// with that part's error rather than running unready.
		failed := n.Wait(ctx)
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return errors.Join(failed, n.Shutdown(sctx))
	case "feed":
		return runFeed(ctx, args, stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", mode, usage)
}

const usage = `usage:
  tickroom [run] [flags]        all-in-one: embedded NATS + JetStream, gateway, simulated feeds
  tickroom gateway -nats URL    the gateway alone, on external NATS
  tickroom feed NAME [flags]    a feed producer: market, analytics, alerts, replay
  tickroom run -h               every flag, its default and its environment variable`

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
