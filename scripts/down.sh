#!/usr/bin/env bash
# Stops what `make up` started, by pid. ministack stops its Lambda workers with it.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/simulators.sh"
for name in ministack $SIMULATORS; do
  pidfile="$TALLY_DIR/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
rm -f "$TALLY_DIR/local.env" "$TALLY_DIR/localstripe.env" "$TALLY_DIR/tryton.env" "$TALLY_DIR/tryton-sales.env"
