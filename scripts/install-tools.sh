#!/usr/bin/env bash
# Installs the pinned local-stack tools into .venv/, once per lock-file change.
source "$(dirname "$0")/lib.sh"
stamp="$VENV/.tally-lock-$(sha256sum "$ROOT/scripts/requirements.lock" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing pinned tools into .venv/ (ministack, aws-sam-cli, cargo-lambda, localstripe, ...)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.lock"
  touch "$stamp"
fi

# Tryton in its own venv: its pins (Werkzeug among them) are not the AWS tools'.
TRYTON_VENV="$ROOT/.venv-tryton"
tryton_stamp="$TRYTON_VENV/.tally-lock-$(sha256sum "$ROOT/scripts/tryton-requirements.lock" | cut -c1-16)"
if [ ! -f "$tryton_stamp" ]; then
  log "installing pinned Tryton into .venv-tryton/ (trytond 7.0 with account, account_invoice, sale)"
  [ -x "$TRYTON_VENV/bin/python" ] || python3 -m venv "$TRYTON_VENV"
  "$TRYTON_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/tryton-requirements.lock"
  touch "$tryton_stamp"
fi
