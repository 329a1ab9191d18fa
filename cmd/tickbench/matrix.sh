#!/usr/bin/env bash
# matrix.sh — the runs behind docs/benchmarks.md, side by side on one
# machine: a fresh server for every run (tickroom or the Socket.IO chat
# server) pinned to CPU 0, tickbench pinned to CPU 1, loopback only.
#
#   cmd/tickbench/matrix.sh [OUT.jsonl] [ROW…]
#
# Rows: idle bcast100 bcast1000 bcast10k market churn (default: all).
# RUNS (default 3) runs per row and target; DURATION (default 15s) per run.
# Needs node 20 and `npm ci` in cmd/tickbench/socketio for the Socket.IO rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/tickbench-results.jsonl}
shift || true
ROWS=${*:-idle bcast100 bcast1000 bcast10k market churn}
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}
WORK=$(mktemp -d /tmp/tickbench-matrix.XXXXXX)
go build -o "$WORK/tickroom" ./cmd/tickroom
go build -o "$WORK/tickbench" ./cmd/tickbench
SIO_DIR=cmd/tickbench/socketio
SPID=

start_tickroom() {
  rm -rf "$WORK/data"
  taskset -c 0 "$WORK/tickroom" run -addr 127.0.0.1:8080 -nats-listen 127.0.0.1:4222 -data "$WORK/data" \
    -feeds=false -max-conns 30000 -max-conns-per-ip 30000 -chat-rate 100000 -chat-burst 100000 \
    -pprof 127.0.0.1:6060 -log-level warn >"$WORK/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/readyz >/dev/null && return; sleep 0.1; done
  echo "tickroom did not start" >&2; exit 1
}
start_socketio() {
  (cd "$SIO_DIR" && exec taskset -c 0 node server.js 3000) >"$WORK/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do grep -q "chat server" "$WORK/server.log" && return; sleep 0.1; done
  echo "socket.io server did not start" >&2; exit 1
}
stop_server() {
  [ -n "$SPID" ] || return 0
  kill "$SPID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.2; done
  SPID=
  sleep 2 # let TIME_WAIT and the CPU settle
}
trap stop_server EXIT

# bench TARGET LABEL tickbench-args…
bench() {
  local target=$1 label=$2; shift 2
  for i in $(seq "$RUNS"); do
    if [ "$target" = socketio ]; then start_socketio; url=http://127.0.0.1:3000; else start_tickroom; url=http://127.0.0.1:8080; fi
    echo "== $label $target run $i: tickbench $*" >&2
    taskset -c 1 "$WORK/tickbench" -target "$target" -url "$url" -pid "$SPID" -json -q -label "$label#$i" "$@" >>"$OUT" \
      || echo "run failed: $label $target $i" >&2
    stop_server
  done
}

for row in $ROWS; do
  case $row in
  idle)      for t in tickroom socketio; do bench $t idle10k -scenario idle -n 10000 -duration "$DURATION"; done ;;
  bcast100)  for t in tickroom socketio; do bench $t bcast1000x100 -scenario broadcast -n 1000 -rate 100 -duration "$DURATION"; done ;;
  bcast1000) for t in tickroom socketio; do bench $t bcast1000x1000 -scenario broadcast -n 1000 -rate 1000 -duration "$DURATION"; done ;;
  bcast10k)  for t in tickroom socketio; do bench $t bcast10000x10 -scenario broadcast -n 10000 -rate 10 -duration "$DURATION" -settle 120s; done ;;
  market)    bench tickroom market1000x100x10 -scenario market -n 1000 -symbols 100 -tps 10 -duration "$DURATION" ;;
  churn)     bench tickroom churn200 -scenario churn -rate 200 -n 2000 -duration "$DURATION" ;;
  *) echo "unknown row $row" >&2; exit 2 ;;
  esac
done
rm -rf "$WORK"
