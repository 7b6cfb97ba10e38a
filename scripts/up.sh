#!/usr/bin/env bash
# Brings up the local stack: the emulator (unless one already answers), the SAM
# application built for this machine and deployed with `sam deploy`, seeded
# secrets, and .tally/local.env describing it all.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/simulators.sh"
"$ROOT/scripts/install-tools.sh"
start_simulators

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
log "building the functions for $arch (sam build; the first build takes a few minutes)"
# The emulator needs working binaries, not the smallest ones: without fat LTO and a single
# codegen unit the cold build of all four functions drops from ~13 to ~2.5 minutes and a
# one-crate change relinks in seconds. Builds for AWS (plain `sam build`) keep the size profile.
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
CARGO_PROFILE_RELEASE_INCREMENTAL=true CARGO_PROFILE_RELEASE_DEBUG=0 \
sam build --config-env local --parameter-overrides "Architecture=$arch" >"$TALLY_DIR/sam-build.log" 2>&1 \
  || { tail -40 "$TALLY_DIR/sam-build.log"; exit 1; }
local_overrides=$(sed -n '/^\[local.deploy.parameters\]/,/^\[/ s/^parameter_overrides = "\(.*\)"/\1/p' samconfig.toml)
# Where the Lambdas reach the simulators: this host for ministack (it runs them
# as host processes); LocalStack users set TALLY_SIM_HOST=host.docker.internal.
sim_host="${TALLY_SIM_HOST:-127.0.0.1}"
deploy() { # stack-name tally-config-json
  log "deploying stack $1 (sam deploy)"
  sam deploy --config-env local --stack-name "$1" --no-progressbar \
    --parameter-overrides "$local_overrides Architecture=$arch TallyConfig='$2'" >"$TALLY_DIR/sam-deploy-$1.log" 2>&1 \
    || { tail -40 "$TALLY_DIR/sam-deploy-$1.log"; exit 1; }
}
config() { "$VENV/bin/python" "$ROOT/scripts/local_env.py" config "$@"; }
# The main stack uses the project's Stripe simulator (idempotency keys, charge.* events);
# the second one runs the same code against localstripe, a Stripe we did not write.
# The main stack serves Magento, Znode, Kentico, Clarity and a custom storefront; the localstripe one Magento only.
# The main stack posts each paid order as a journal entry and as a sales order (erp.paid_orders both).
deploy "$STACK_NAME" "$(ERP_PAID_ORDERS=both ZNODE_PORT="$ZNODE_PORT" KENTICO_PORT="$KENTICO_PORT" \
  CLARITY_PORT="$CLARITY_PORT" STOREFRONT_PORT="$STOREFRONT_PORT" config "$sim_host" "$STRIPE_SIM_PORT" "$MAGENTO_PORT" "$ERP_PORT" true default)"
deploy "$STACK_NAME-localstripe" "$(config "$sim_host" "$LOCALSTRIPE_PORT" "$MAGENTO_LS_PORT" "$ERP_PORT" false ls)"
# The third posts to Tryton, a real ledger, with a Stripe simulator and a Magento store of its own.
deploy "$STACK_NAME-tryton" "$(ERP_ADAPTER=tryton config "$sim_host" "$STRIPE_TR_PORT" "$MAGENTO_TR_PORT" "$TRYTON_PORT" true tr)"
# The fourth posts each paid order to Tryton as a sale (erp.paid_orders sales_order).
deploy "$STACK_NAME-tryton-sales" "$(ERP_ADAPTER=tryton ERP_PAID_ORDERS=sales_order config "$sim_host" "$STRIPE_TRS_PORT" \
  "$MAGENTO_TRS_PORT" "$TRYTON_PORT" true trs)"

ZNODE_PORT="$ZNODE_PORT" ZNODE_DOMAIN="$ZNODE_DOMAIN" ZNODE_KEY="$ZNODE_KEY" \
KENTICO_PORT="$KENTICO_PORT" KENTICO_USER="$KENTICO_USER" KENTICO_PASSWORD="$KENTICO_PASSWORD" \
CLARITY_PORT="$CLARITY_PORT" STOREFRONT_PORT="$STOREFRONT_PORT" \
TRYTON_PORT="$TRYTON_PORT" TRYTON_DATABASE="$TRYTON_DATABASE" TRYTON_LOGIN="$TRYTON_LOGIN" TRYTON_PASSWORD="$TRYTON_PASSWORD" \
ERP_PAID_ORDERS=both "$VENV/bin/python" "$ROOT/scripts/local_env.py" write "$STACK_NAME" "$TALLY_DIR/local.env" \
  "$STRIPE_SIM_PORT" "$MAGENTO_PORT" "$ERP_PORT" "$MAGENTO_TOKEN" "$ERP_SECRET" default
"$VENV/bin/python" "$ROOT/scripts/local_env.py" write "$STACK_NAME-localstripe" "$TALLY_DIR/localstripe.env" \
  "$LOCALSTRIPE_PORT" "$MAGENTO_LS_PORT" "$ERP_PORT" "$MAGENTO_TOKEN" "$ERP_SECRET" ls
ERP_ADAPTER=tryton TRYTON_PORT="$TRYTON_PORT" TRYTON_DATABASE="$TRYTON_DATABASE" TRYTON_LOGIN="$TRYTON_LOGIN" \
TRYTON_PASSWORD="$TRYTON_PASSWORD" "$VENV/bin/python" "$ROOT/scripts/local_env.py" write "$STACK_NAME-tryton" \
  "$TALLY_DIR/tryton.env" "$STRIPE_TR_PORT" "$MAGENTO_TR_PORT" "$TRYTON_PORT" "$MAGENTO_TOKEN" "$ERP_SECRET" tr
ERP_ADAPTER=tryton ERP_PAID_ORDERS=sales_order TRYTON_PORT="$TRYTON_PORT" TRYTON_DATABASE="$TRYTON_DATABASE" \
TRYTON_LOGIN="$TRYTON_LOGIN" TRYTON_PASSWORD="$TRYTON_PASSWORD" "$VENV/bin/python" "$ROOT/scripts/local_env.py" write \
  "$STACK_NAME-tryton-sales" "$TALLY_DIR/tryton-sales.env" "$STRIPE_TRS_PORT" "$MAGENTO_TRS_PORT" "$TRYTON_PORT" \
  "$MAGENTO_TOKEN" "$ERP_SECRET" trs
log "stacks are up; endpoints and names are in .tally/local.env, localstripe.env, tryton.env and tryton-sales.env"
