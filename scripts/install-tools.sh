#!/usr/bin/env bash
# Installs the pinned local-stack tools into .venv/, once per lock-file change.
source "$(dirname "$0")/lib.sh"
stamp="$VENV/.tally-lock-$(sha256sum "$ROOT/scripts/requirements.lock" | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
log "installing pinned tools into .venv/ (ministack, aws-sam-cli, cargo-lambda, localstripe, ...)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.lock"
touch "$stamp"
