"""Init time of each function's release binary, measured directly: the binary
is started with a minimal Lambda Runtime API stand-in, and init is the time
from process start to its first `GET /runtime/invocation/next` (by then it has
loaded config, built its SDK clients and, for the webhook, read the Stripe
secret from the emulator). The emulator's own invocation overhead (about 50 ms
per warm call on ministack) is not part of it.
Run after `make up`: .venv/bin/python benches/init_time.py [RUNS]"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from tally_local import load_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_poll = None

    def do_GET(self):  # noqa: N802
        if "/invocation/next" in self.path and RuntimeApi.first_poll is None:
            RuntimeApi.first_poll = time.perf_counter()
        self.send_response(503)  # no invocation to hand out; the binary just waits/retries
        self.end_headers()

    def log_message(self, *args):
        pass


def function_env(env: dict, name: str) -> dict:
    base = {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    base.update(AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST", RUST_LOG="warn")
    if name == "stripe-webhook":
        base.update(STRIPE_WEBHOOK_SECRET_ID=env["STRIPE_WEBHOOK_SECRET_ID"], PAYMENTS_QUEUE_URL=env["PAYMENTS_QUEUE_URL"])
    else:
        config = {"magento": {"base_url": env["MAGENTO_BASE_URL"]}, "erp": {"base_url": env["ERP_BASE_URL"]},
                  "stripe": {"api_base": env["STRIPE_API_BASE"]}}
        base.update(IDEMPOTENCY_TABLE=env["IDEMPOTENCY_TABLE"], EVENTS_TABLE=env["EVENTS_TABLE"],
                    QUEUE_URL=env["PAYMENTS_QUEUE_URL"], DEAD_LETTER_QUEUE_URL=env["PAYMENTS_DLQ_URL"],
                    STRIPE_API_SECRET_ID=env["STRIPE_API_SECRET_ID"], MAGENTO_API_SECRET_ID=env["MAGENTO_API_SECRET_ID"],
                    ERP_SECRET_ID=env["ERP_SECRET_ID"], MAX_RECEIVE_COUNT="25", TALLY_CONFIG=json.dumps(config))
    return base


def measure(binary: Path, env: dict) -> float:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RuntimeApi.first_poll = None
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}", "PATH": os.environ["PATH"]}
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while RuntimeApi.first_poll is None:
            if proc.poll() is not None:
                raise RuntimeError(f"{binary} exited with {proc.returncode} during init")
            time.sleep(0.0005)
        return (RuntimeApi.first_poll - start) * 1000
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    env = load_env()
    for name, fn in (("stripe-webhook", "StripeWebhookFunction"), ("payments-handler", "PaymentsHandlerFunction")):
        binary = ROOT / ".aws-sam" / "build" / fn / "bootstrap"
        times = sorted(measure(binary, function_env(env, name)) for _ in range(runs))
        print(f"{name}: init p50 {statistics.median(times):.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms over {runs} starts")


if __name__ == "__main__":
    main()
