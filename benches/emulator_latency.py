"""Cold vs warm latency of the deployed functions on the local emulator.
Forces a fresh execution environment (a configuration change), then times the
first signed POST to the webhook (its init included) and the time until the
payments handler has recorded it, then the same for warm invocations.
Run after `make up`: .venv/bin/python benches/emulator_latency.py [WARM_RUNS] [COLD_RUNS]"""

import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import boto3  # noqa: E402

from tally_local import Stack, load_env, post, sign, stripe_event, wait_until  # noqa: E402


def force_cold(stack: Stack) -> None:
    lam = boto3.client(
        "lambda",
        endpoint_url=stack["AWS_ENDPOINT_URL"],
        region_name=stack["AWS_REGION"],
        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
    )
    prefix = stack["TALLY_STACK_NAME"] + "-"
    for fn in lam.list_functions()["Functions"]:
        if fn["FunctionName"].startswith(prefix):
            env = fn.get("Environment", {}).get("Variables", {})
            env["BENCH_NONCE"] = uuid.uuid4().hex
            lam.update_function_configuration(FunctionName=fn["FunctionName"], Environment={"Variables": env})
    time.sleep(1)


def one(stack: Stack) -> tuple[float, float]:
    body = stripe_event("payment_intent.succeeded")
    event_id = json.loads(body)["id"]
    start = time.perf_counter()
    status, _ = post(stack["STRIPE_WEBHOOK_URL"], body, sign(body, stack["STRIPE_WEBHOOK_SECRET"]))
    answered = time.perf_counter()
    assert status == 200, status
    wait_until(lambda: stack.recorded_event(event_id), 60, 0.01, "the event recorded")
    recorded = time.perf_counter()
    return (answered - start) * 1000, (recorded - start) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    cold_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    stack = Stack(load_env())
    cold = []
    for _ in range(cold_runs):
        force_cold(stack)
        cold.append(one(stack))
    cold_answer = statistics.median(a for a, _ in cold)
    cold_recorded = statistics.median(r for _, r in cold)
    warm = [one(stack) for _ in range(runs)]
    answers = sorted(a for a, _ in warm)
    recorded = sorted(r for _, r in warm)

    def p(values, q):
        return values[min(len(values) - 1, int(q * len(values)))]

    print(f"first invocation after a configuration change (cold), median of {cold_runs}: webhook answered in {cold_answer:.1f} ms, recorded after {cold_recorded:.1f} ms")
    print(f"warm, {runs} events: webhook answer p50 {statistics.median(answers):.1f} ms, p95 {p(answers, 0.95):.1f} ms; "
          f"recorded p50 {statistics.median(recorded):.1f} ms, p95 {p(recorded, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
