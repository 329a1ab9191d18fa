#!/usr/bin/env bash
# steps.sh OUT.jsonl COMMIT… — the one-by-one measurements behind the
# "Each change, one by one" table of docs/benchmarks.md: every commit is
# built, then RUNS rounds (default 2) run, in each round every commit in
# turn: broadcast to 1,000 subscribers at 400 and at 1,600 msg/s (one
# point each, not a sweep) and the reconnect storm. STEPS picks the rows
# (default "bcast storm"; also idle: 10,000 idle connections the page's
# way, and bcast10k: 10,000 subscribers × 10 msg/s for 45 s, which
# spans two default heartbeats). Server on CPU 0,
# tickbench on CPU 1, a fresh server and data directory per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$1; shift
RUNS=${RUNS:-2}
STEPS=${STEPS:-bcast storm}
WORK=$(mktemp -d /tmp/tickbench-steps.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tickbench" ./cmd/tickbench
for c in "$@"; do
  git worktree add -q --detach "$WORK/src" "$c"
  (cd "$WORK/src" && go build -o "$WORK/tickroom-$c" ./cmd/tickroom)
  git worktree remove --force "$WORK/src"
done
for RUN in $(seq "$RUNS"); do
for c in "$@"; do
  SERVER="taskset -c 0 $WORK/tickroom-$c run -addr 127.0.0.1:{port} -nats-listen 127.0.0.1:14222 -data {data} -feeds=false -max-conns 30000 -max-conns-per-ip 30000 -chat-rate 100000 -chat-burst 100000 -http-max-half-open-per-ip 100000 -log-level warn"
  for step in $STEPS; do
  case $step in
  bcast)
    for rate in 400 1600; do
      echo "== $(date -u +%H:%M:%S) $c broadcast $rate run $RUN" >&2
      taskset -c 1 "$WORK/tickbench" -target tickroom -url http://127.0.0.1:18080 -server "$SERVER" -json -q \
        -label "step-bcast$rate/$c#$RUN" -scenario broadcast -n 1000 -rate $rate -duration 8s -warmup 1s -settle-quiet 1 -drain 5s >>"$OUT" || echo "run failed" >&2
      sleep 2
    done ;;
  storm)
    echo "== $(date -u +%H:%M:%S) $c storm run $RUN" >&2
    taskset -c 1 "$WORK/tickbench" -target tickroom -url http://127.0.0.1:18080 -server "$SERVER" -json -q \
      -label "step-storm/$c#$RUN" -scenario storm -n 10000 -src-ips 8 -nats nats://127.0.0.1:14222 >>"$OUT" || echo "run failed" >&2
    sleep 2 ;;
  idle)
    echo "== $(date -u +%H:%M:%S) $c idle run $RUN" >&2
    taskset -c 1 "$WORK/tickbench" -target tickroom -url http://127.0.0.1:18080 -server "$SERVER" -json -q \
      -label "step-idle10k-page/$c#$RUN" -scenario idle -n 10000 -duration 15s -channel 'chat.lobby,market.*' >>"$OUT" || echo "run failed" >&2
    sleep 2 ;;
  bcast10k)
    echo "== $(date -u +%H:%M:%S) $c 10k x 10 run $RUN" >&2
    taskset -c 1 "$WORK/tickbench" -target tickroom -url http://127.0.0.1:18080 -server "$SERVER" -json -q \
      -label "step-bcast10000x10-45s/$c#$RUN" -scenario broadcast -n 10000 -rate 10 -duration 45s -settle 120s >>"$OUT" || echo "run failed" >&2
    sleep 2 ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
  esac
  done
done
done
