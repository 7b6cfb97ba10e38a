# Shared by the scripts: paths, the emulator endpoint, and dummy credentials.
# Everything an emulator run needs is under .tally/ (ignored by git).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TALLY_DIR="$ROOT/.tally"
VENV="$ROOT/.venv"
mkdir -p "$TALLY_DIR"

# The emulator: ministack by default; any LocalStack-compatible endpoint if set.
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export SAM_CLI_TELEMETRY=0
export PATH="$VENV/bin:$PATH"
STACK_NAME="${TALLY_STACK_NAME:-tally-local}"

log() { printf '\033[1m[tally]\033[0m %s\n' "$*" >&2; }
