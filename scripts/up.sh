#!/usr/bin/env bash
# Brings up the local stack: the emulator (unless one already answers), the SAM
# application built for this machine and deployed with `sam deploy`, seeded
# secrets, and .tally/local.env describing it all.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/install-tools.sh"

health() { curl -fsS -m 2 "$AWS_ENDPOINT_URL/_ministack/health" >/dev/null 2>&1 || curl -fsS -m 2 "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null 2>&1; }

if health; then
  log "emulator already answering at $AWS_ENDPOINT_URL; using it"
elif [ "$AWS_ENDPOINT_URL" != "http://127.0.0.1:4566" ]; then
  log "nothing answers at AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL; start your emulator first"; exit 1
else
  log "starting ministack on 127.0.0.1:4566"
  ms="$TALLY_DIR/ministack"
  rm -rf "$ms" && mkdir -p "$ms/state" "$ms/s3" "$ms/tmp"
  (
    cd "$ms"
    # ministack hands AWS_ENDPOINT_URL to the Lambda binaries it runs.
    BIND_HOST=127.0.0.1 GATEWAY_PORT=4566 PERSIST_STATE=0 IOT_MTLS_ENABLED=0 \
    STATE_DIR="$ms/state" S3_DATA_DIR="$ms/s3" TMPDIR="$ms/tmp" \
      nohup "$VENV/bin/ministack" >"$TALLY_DIR/ministack.log" 2>&1 &
    echo $! >"$TALLY_DIR/ministack.pid"
  )
  for _ in $(seq 1 60); do health && break; sleep 0.5; done
  health || { log "ministack did not start; see .tally/ministack.log"; exit 1; }
fi

case "$(uname -m)" in
  aarch64|arm64) arch=arm64 ;;
  *) arch=x86_64 ;;
esac
cd "$ROOT"
# The emulator execs the binaries directly, so they are built for this machine.
log "building the functions for $arch (sam build; first build takes minutes)"
sam build --config-env local --parameter-overrides "Architecture=$arch" >"$TALLY_DIR/sam-build.log" 2>&1 \
  || { tail -40 "$TALLY_DIR/sam-build.log"; exit 1; }
log "deploying stack $STACK_NAME (sam deploy)"
local_overrides=$(sed -n '/^\[local.deploy.parameters\]/,/^\[/ s/^parameter_overrides = "\(.*\)"/\1/p' samconfig.toml)
sam deploy --config-env local --stack-name "$STACK_NAME" --no-progressbar \
  --parameter-overrides "$local_overrides Architecture=$arch" >"$TALLY_DIR/sam-deploy.log" 2>&1 \
  || { tail -40 "$TALLY_DIR/sam-deploy.log"; exit 1; }

"$VENV/bin/python" "$ROOT/scripts/local_env.py" "$STACK_NAME" "$TALLY_DIR/local.env"
log "stack is up; endpoints and names are in .tally/local.env"
