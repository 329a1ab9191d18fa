#!/usr/bin/env bash
# matrix.sh — the runs behind docs/benchmarks.md, side by side on one
# machine: the server under test pinned to CPU 0, tickbench pinned to CPU 1,
# loopback only. tickbench starts a fresh server (and data directory) for
# every run and every sweep step itself (-server).
#
#   cmd/tickbench/matrix.sh [OUT.jsonl] [ROW…]
#
# Rows:
#   cap        broadcast capacity sweep, 1,000 subscribers: tickroom,
#              Socket.IO, Centrifugo (history off), Centrifugo (in-memory history)
#   capmarket  market capacity sweep, 1,000 clients on market.* (tickroom)
#   storm      reconnect storm, 10,000 clients (tickroom)
#   idle       memory per idle connection, 10,000 connections (tickroom the
#              page's way and with one room; Socket.IO; Centrifugo one room)
#   bcast100 bcast1000 bcast10k market churn   single points, as before
# Default: cap capmarket storm.
#
# RUNS (default 3) rounds: one run of every cell per round; EXTRA is appended to every
# tickbench command line (the last flag wins: EXTRA="-n 50 -sweep-max 100"
# is a quick smoke test). TICKROOM_SRC (default: this
# checkout) is the tree tickroom is built from. Needs node and `npm ci` in
# cmd/tickbench/socketio, and centrifugo on PATH or in $(go env GOPATH)/bin
# (go install github.com/centrifugal/centrifugo/v6@v6.9.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=${1:-/tmp/tickbench-results.jsonl}
shift || true
ROWS=${*:-cap capmarket storm}
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}   # single-point rows
WINDOW=${WINDOW:-4s}        # each sweep step's measured window (after WARMUP)
WARMUP=${WARMUP:-1s}
BISECT=${BISECT:-2}
SRC=${TICKROOM_SRC:-$REPO}
WORK=$(mktemp -d /tmp/tickbench-matrix.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
(cd "$SRC" && go build -o "$WORK/tickroom" ./cmd/tickroom)
go build -o "$WORK/tickbench" ./cmd/tickbench
CENTRIFUGO=$(command -v centrifugo || echo "$(go env GOPATH)/bin/centrifugo")
echo "tickroom from $SRC at $(git -C "$SRC" rev-parse --short HEAD); centrifugo $("$CENTRIFUGO" version 2>/dev/null | head -1)" >&2

TR_PORT=18080 NATS_PORT=14222 SIO_PORT=13000 CF_PORT=18000
TICKROOM="taskset -c 0 $WORK/tickroom run -addr 127.0.0.1:{port} -nats-listen 127.0.0.1:$NATS_PORT -data {data} -feeds=false -max-conns 30000 -max-conns-per-ip 30000 -chat-rate 100000 -chat-burst 100000 -log-level warn"
# tickbench dials 200 connections at a time from one address: lift the
# per-IP half-open connection guard where the build has one.
TR_FLAGS=$("$WORK/tickroom" run -h 2>&1 || true)
if grep -q -- -http-max-half-open-per-ip <<<"$TR_FLAGS"; then
  TICKROOM="$TICKROOM -http-max-half-open-per-ip 100000"
fi
SOCKETIO="taskset -c 0 node $REPO/cmd/tickbench/socketio/server.js {port}"
CF_NOHIST="taskset -c 0 $CENTRIFUGO -c $REPO/cmd/tickbench/centrifugo/nohistory.json -p {port} --http_server.address 127.0.0.1"
CF_HIST="taskset -c 0 $CENTRIFUGO -c $REPO/cmd/tickbench/centrifugo/history.json -p {port} --http_server.address 127.0.0.1"

# bench NAME LABEL tickbench-args… — one run ($RUN) of a cell; NAME picks
# target, URL and server.
bench() {
  local name=$1 label=$2; shift 2
  local target url server
  case $name in
  tickroom)      target=tickroom;   url=http://127.0.0.1:$TR_PORT;  server=$TICKROOM ;;
  socketio)      target=socketio;   url=http://127.0.0.1:$SIO_PORT; server=$SOCKETIO ;;
  centrifugo)    target=centrifugo; url=http://127.0.0.1:$CF_PORT;  server=$CF_NOHIST ;;
  centrifugo-h)  target=centrifugo; url=http://127.0.0.1:$CF_PORT;  server=$CF_HIST ;;
  esac
  echo "== $(date -u +%H:%M:%S) $label $name run $RUN: tickbench $*" >&2
  taskset -c 1 "$WORK/tickbench" -target "$target" -url "$url" -server "$server" -json -q \
    -label "$label/$name#$RUN" "$@" ${EXTRA:-} >>"$OUT" || echo "run failed: $label $name $RUN" >&2
  sleep 2 # let TIME_WAIT and the CPU settle
}

SWEEP="-sweep -duration $WINDOW -warmup $WARMUP -bisect $BISECT -settle-quiet 1 -drain 2s -max-p99 100ms -min-delivered 99.9"
# Rounds outermost: every cell's run 1, then every cell's run 2, … so the
# targets alternate and a cut-short session still has every cell.
for RUN in $(seq "$RUNS"); do
for row in $ROWS; do
  case $row in
  cap)
    bench tickroom     cap1000 -scenario broadcast -n 1000 -rate 200 -sweep-max 5000 $SWEEP
    bench socketio     cap1000 -scenario broadcast -n 1000 -rate 25  -sweep-max 5000 $SWEEP
    bench centrifugo   cap1000 -scenario broadcast -n 1000 -rate 100 -sweep-max 5000 $SWEEP
    bench centrifugo-h cap1000 -scenario broadcast -n 1000 -rate 100 -sweep-max 5000 $SWEEP ;;
  capmarket)
    bench tickroom capmarket1000 -scenario market -n 1000 -symbols 100 -tps 4 -sweep-max 100 -nats nats://127.0.0.1:$NATS_PORT $SWEEP ;;
  storm)
    bench tickroom storm10k -scenario storm -n 10000 -src-ips 8 -nats nats://127.0.0.1:$NATS_PORT ;;
  idle)      # the page's way (a chat room and market.*), then one room each:
             # a Socket.IO socket is in the broadcast without subscribing
             bench tickroom   idle10k-page -scenario idle -n 10000 -duration "$DURATION" -channel 'chat.lobby,market.*'
             bench tickroom   idle10k-room -scenario idle -n 10000 -duration "$DURATION" -channel chat.lobby
             bench socketio   idle10k-room -scenario idle -n 10000 -duration "$DURATION"
             bench centrifugo idle10k-room -scenario idle -n 10000 -duration "$DURATION" -channel chat.lobby ;;
  bcast100)  for t in tickroom socketio centrifugo; do bench $t bcast1000x100 -scenario broadcast -n 1000 -rate 100 -duration "$DURATION"; done ;;
  bcast1000) for t in tickroom socketio centrifugo; do bench $t bcast1000x1000 -scenario broadcast -n 1000 -rate 1000 -duration "$DURATION"; done ;;
  bcast10k)  for t in tickroom socketio centrifugo; do bench $t bcast10000x10 -scenario broadcast -n 10000 -rate 10 -duration "$DURATION" -settle 120s; done ;;
  market)    bench tickroom market1000x100x10 -scenario market -n 1000 -symbols 100 -tps 10 -duration "$DURATION" -nats nats://127.0.0.1:$NATS_PORT ;;
  churn)     bench tickroom churn200 -scenario churn -rate 200 -n 2000 -duration "$DURATION" ;;
  *) echo "unknown row $row" >&2; exit 2 ;;
  esac
done
done
