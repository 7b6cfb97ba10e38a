# Sourced by up.sh/down.sh: the simulators the local stack talks to, each a
# host process with its pid in .tally/<name>.pid and its log in .tally/<name>.log.
#   magento     Magento 2 REST + signed Adobe Commerce webhooks  (main stack)
#   magento-ls  a second Magento store for the localstripe stack
#   magento-tr  a third, for the stack whose ERP is Tryton
#   magento-trs a fourth, for the stack that posts sales orders to Tryton (ids start at the clock:
#               Tryton's ledger outlives the simulators, and a sale's key is its order's id)
#   znode       Znode 9.x REST (Basic "domain|key", BaseResponse envelopes)
#   znode-token the same in Znode's token mode, tokens lasting 3 s (adapter tests)
#   kentico     Kentico Xperience 13 REST (Basic user:password, 403 without)
#   kentico-quiet  the same with no connector: the adapter contract writes customers there, where no
#               Tally reacts to its writes (adapter tests)
#   clarity     a REST store in the shape of Tally's Clarity preset (OAuth 2.0 client credentials)
#   storefront  the same store in another shape: a custom storefront (API key, minor units, cursors)
#   clarity-quiet, storefront-quiet  the same with no Tally listening: the customer contract writes there
#   erp         the ERP middleware (signed journal entries)
#   stripe-sim  the project's Stripe simulator                  (main stack)
#   stripe-sim-tr  another one, so each stack sees only its own events (Tryton stack)
#   stripe-sim-trs and one more for the Tryton sales stack
#   localstripe the independent fake Stripe (PyPI)               (localstripe stack)
#   tryton      Tryton 7.0, a real ledger (JSON-RPC), its database made once per .tally/
#   netsuite    NetSuite SuiteTalk REST's journal entries (token-based auth)
SIM_HOST="${TALLY_SIM_BIND:-127.0.0.1}"
MAGENTO_PORT=4610
export MAGENTO_LS_PORT=4611
MAGENTO_TR_PORT=4612
MAGENTO_TRS_PORT=4613
ERP_PORT=4620
ZNODE_PORT=4640
export ZNODE_TOKEN_PORT=4641
ZNODE_DOMAIN="localhost:4640"
ZNODE_KEY="znode-local-api-key"
KENTICO_PORT=4650
export KENTICO_QUIET_PORT=4651
KENTICO_USER="tally-integration"
KENTICO_PASSWORD="kentico-local-password"
# the declarative platforms: Clarity's preset (OAuth tokens lasting 30 s, so runs renew them) and a custom storefront
# (the ports are given to the main stack only; the credentials are read where a port is given)
CLARITY_PORT=4680 STOREFRONT_PORT=4681
export CLARITY_QUIET_PORT=4682 STOREFRONT_QUIET_PORT=4683
export CLARITY_CLIENT_ID="tally-local" CLARITY_CLIENT_SECRET="clarity-local-client-secret"
export STOREFRONT_API_KEY="storefront-local-api-key"
STRIPE_SIM_PORT=4630
STRIPE_TR_PORT=4632
STRIPE_TRS_PORT=4633
export LOCALSTRIPE_PORT=8420
MAGENTO_TOKEN="magento-local-integration-token"
ERP_SECRET="erp_tally_local_signing_secret"
TRYTON_PORT=4660
TRYTON_DATABASE="tally"
TRYTON_LOGIN="tally"
TRYTON_PASSWORD="tally-local-ledger"
export NETSUITE_PORT=4670 NETSUITE_ACCOUNT="1234567_SB1"
export NETSUITE_CONSUMER_KEY="tally-local-consumer-key" NETSUITE_CONSUMER_SECRET="tally-local-consumer-secret"
export NETSUITE_TOKEN_ID="tally-local-token-id" NETSUITE_TOKEN_SECRET="tally-local-token-secret"

answering() { [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/$2")" != "000" ]; }

start_sim() { # name port health-path command...
  local name=$1 port=$2 path=$3; shift 3
  if answering "$port" "$path"; then log "$name already answering on :$port"; return; fi
  log "starting $name on :$port"
  # exec, so the recorded pid is the simulator itself and no shell holds our stdout.
  (cd "$ROOT/tests" && exec nohup "$@" >"$TALLY_DIR/$name.log" 2>&1 </dev/null) &
  echo $! >"$TALLY_DIR/$name.pid"
  for _ in $(seq 1 60); do answering "$port" "$path" && return; sleep 0.25; done
  log "$name did not start; see .tally/$name.log"; tail -20 "$TALLY_DIR/$name.log" >&2; exit 1
}

start_simulators() {
  local py="$VENV/bin/python"
  start_sim magento "$MAGENTO_PORT" _sim/orders "$py" -m simulators.magento --host "$SIM_HOST" --port "$MAGENTO_PORT" \
    --token "$MAGENTO_TOKEN" --private-key "$TALLY_DIR/magento-webhook-key.pem"
  start_sim magento-ls "$MAGENTO_LS_PORT" _sim/orders "$py" -m simulators.magento --host "$SIM_HOST" --port "$MAGENTO_LS_PORT" \
    --token "$MAGENTO_TOKEN" --private-key "$TALLY_DIR/magento-webhook-key.pem"
  # The Tryton stacks' stores number their orders from the clock: Tryton's ledger outlives the simulators.
  start_sim magento-tr "$MAGENTO_TR_PORT" _sim/orders "$py" -m simulators.magento --host "$SIM_HOST" \
    --port "$MAGENTO_TR_PORT" --token "$MAGENTO_TOKEN" --private-key "$TALLY_DIR/magento-webhook-key.pem" \
    --first-id "$(date +%s)"
  start_sim magento-trs "$MAGENTO_TRS_PORT" _sim/orders "$py" -m simulators.magento --host "$SIM_HOST" \
    --port "$MAGENTO_TRS_PORT" --token "$MAGENTO_TOKEN" --private-key "$TALLY_DIR/magento-webhook-key.pem" \
    --first-id "$(date +%s)"
  start_sim znode "$ZNODE_PORT" _sim/orders "$py" -m simulators.znode --host "$SIM_HOST" --port "$ZNODE_PORT" \
    --domain "$ZNODE_DOMAIN" --key "$ZNODE_KEY"
  start_sim znode-token "$ZNODE_TOKEN_PORT" _sim/orders "$py" -m simulators.znode --host "$SIM_HOST" \
    --port "$ZNODE_TOKEN_PORT" --domain "$ZNODE_DOMAIN" --key "$ZNODE_KEY" --auth token --token-minutes 0.05
  start_sim kentico "$KENTICO_PORT" _sim/health "$py" -m simulators.kentico --host "$SIM_HOST" --port "$KENTICO_PORT" \
    --user "$KENTICO_USER" --password "$KENTICO_PASSWORD"
  start_sim kentico-quiet "$KENTICO_QUIET_PORT" _sim/health "$py" -m simulators.kentico --host "$SIM_HOST" \
    --port "$KENTICO_QUIET_PORT" --user "$KENTICO_USER" --password "$KENTICO_PASSWORD"
  start_sim clarity "$CLARITY_PORT" _sim/health "$py" -m simulators.rest_store --preset clarity --host "$SIM_HOST" \
    --port "$CLARITY_PORT" --client-id "$CLARITY_CLIENT_ID" --client-secret "$CLARITY_CLIENT_SECRET" --token-seconds 30
  start_sim storefront "$STOREFRONT_PORT" _sim/health "$py" -m simulators.rest_store --preset storefront \
    --host "$SIM_HOST" --port "$STOREFRONT_PORT" --api-key "$STOREFRONT_API_KEY"
  start_sim clarity-quiet "$CLARITY_QUIET_PORT" _sim/health "$py" -m simulators.rest_store --preset clarity \
    --host "$SIM_HOST" --port "$CLARITY_QUIET_PORT" --client-id "$CLARITY_CLIENT_ID" --client-secret "$CLARITY_CLIENT_SECRET"
  start_sim storefront-quiet "$STOREFRONT_QUIET_PORT" _sim/health "$py" -m simulators.rest_store --preset storefront \
    --host "$SIM_HOST" --port "$STOREFRONT_QUIET_PORT" --api-key "$STOREFRONT_API_KEY"
  start_sim erp "$ERP_PORT" _sim/entries "$py" -m simulators.erp --host "$SIM_HOST" --port "$ERP_PORT" --secret "$ERP_SECRET"
  start_sim stripe-sim "$STRIPE_SIM_PORT" _sim/health "$py" -m simulators.stripe_sim --host "$SIM_HOST" --port "$STRIPE_SIM_PORT"
  start_sim stripe-sim-tr "$STRIPE_TR_PORT" _sim/health "$py" -m simulators.stripe_sim --host "$SIM_HOST" --port "$STRIPE_TR_PORT"
  start_sim stripe-sim-trs "$STRIPE_TRS_PORT" _sim/health "$py" -m simulators.stripe_sim --host "$SIM_HOST" \
    --port "$STRIPE_TRS_PORT"
  start_sim localstripe "$LOCALSTRIPE_PORT" v1/customers "$VENV/bin/localstripe" --port "$LOCALSTRIPE_PORT" --from-scratch
  start_sim netsuite "$NETSUITE_PORT" _sim/requests "$py" -m simulators.netsuite --host "$SIM_HOST" \
    --port "$NETSUITE_PORT" --account "$NETSUITE_ACCOUNT" --consumer "$NETSUITE_CONSUMER_KEY:$NETSUITE_CONSUMER_SECRET" \
    --token "$NETSUITE_TOKEN_ID:$NETSUITE_TOKEN_SECRET"
  start_tryton
}

# Tryton: the database (SQLite) and its ledger are made once per .tally/ directory
# (about 17 s: trytond-admin with account, account_invoice and sale, then scripts/tryton_ledger.py),
# then the server starts.
start_tryton() {
  local tryton="$ROOT/.venv-tryton/bin" dir="$TALLY_DIR/tryton"
  mkdir -p "$dir/db"
  cat >"$dir/trytond.conf" <<CONF
[database]
uri = sqlite://
path = $dir/db
[web]
listen = $SIM_HOST:$TRYTON_PORT
CONF
  # the marker names what the ledger was made with: a ledger made before the sale module is made again
  if [ ! -f "$dir/db/.ledger-ready-fx" ] && ! answering "$TRYTON_PORT" ""; then
    log "creating the Tryton ledger (database $TRYTON_DATABASE, company, fiscal years, accounts, journal, user)"
    rm -f "$dir/db/$TRYTON_DATABASE.sqlite" && touch "$dir/db/$TRYTON_DATABASE.sqlite"
    echo "tally-local-tryton-admin" >"$dir/admin-password"
    TRYTONPASSFILE="$dir/admin-password" "$tryton/trytond-admin" -c "$dir/trytond.conf" -d "$TRYTON_DATABASE" --all \
      -u account account_invoice sale --activate-dependencies --email admin@localhost >"$TALLY_DIR/tryton-init.log" 2>&1 \
      || { tail -20 "$TALLY_DIR/tryton-init.log"; exit 1; }
    "$tryton/python" "$ROOT/scripts/tryton_ledger.py" "$dir/trytond.conf" "$TRYTON_DATABASE" "$TRYTON_LOGIN" \
      "$TRYTON_PASSWORD" >>"$TALLY_DIR/tryton-init.log" 2>&1 || { tail -20 "$TALLY_DIR/tryton-init.log"; exit 1; }
    touch "$dir/db/.ledger-ready-fx"
  fi
  start_sim tryton "$TRYTON_PORT" "" "$tryton/trytond" -c "$dir/trytond.conf"
}

SIMULATORS="magento magento-ls magento-tr magento-trs znode znode-token kentico kentico-quiet clarity storefront clarity-quiet storefront-quiet erp netsuite stripe-sim stripe-sim-tr
stripe-sim-trs localstripe tryton"
