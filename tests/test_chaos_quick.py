"""The quick variant of the chaos run (`make chaos` is the full one; RELIABILITY.md has its figures):
a few hundred events through every flow and platform under faults, an outage and killed Lambda
workers must end with nothing lost, nothing done twice and empty DLQs after one redrive. Then no
secret the stack holds may appear in any log line the functions wrote, nor in any error body the
run's senders were answered with."""

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / ".tally" / "reports" / "chaos-quick.json"


@pytest.fixture(scope="module")
def chaos_report(stack) -> dict:
    env = {**os.environ, **stack.env}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "chaos.py"), "--events", "200", "--seed", "7",
                          "--outage-seconds", "15", "--unit-timeout", "90", "--report", str(REPORT)],
                         env=env, capture_output=True, text=True, timeout=1500)
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert REPORT.exists(), run.stderr[-3000:]
    report = json.loads(REPORT.read_text())
    report["exit"] = run.returncode
    return report


def test_the_quick_chaos_run_loses_nothing_and_does_nothing_twice(chaos_report):
    r = chaos_report
    assert r["events"] >= 200
    assert sum(r["kills"].values()) > 0, "workers were killed"
    assert (r["lost"], r["double_effects"], r["unbalanced_postings"]) == (0, 0, []), json.dumps(r["rows"], indent=1)
    assert r["dlq_after_redrive"]["count"] == 0, r["dlq_after_redrive"]
    assert r["deliveries"].get("stripe (forged, refused)", 0) > 0 and r["forged_accepted"] == 0, r["deliveries"]
    assert r["exit"] == 0


def secret_values(stack) -> set[str]:
    """Every secret the stack holds: each string in each Secrets Manager secret, and the local
    test credentials the simulators were given."""
    found = set()
    pages = stack.secrets.get_paginator("list_secrets").paginate()
    for secret in (s for page in pages for s in page["SecretList"]):
        text = stack.secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]
        try:
            leaves = list(_strings(json.loads(text)))
        except ValueError:
            leaves = [text]
        found.update(leaves)
    found.update(v for k, v in stack.env.items()
                 if k.endswith(("_SECRET", "_SECRET_SECONDARY", "_TOKEN", "_API_KEY", "_PASSWORD", "_KEY")))
    # long enough to be a credential, not a word that happens to be in a secret's JSON
    return {v for v in found if isinstance(v, str) and len(v) >= 12 and not v.startswith(("http://", "https://"))}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def function_logs(stack) -> list[str]:
    logs = boto3.client("logs", endpoint_url=stack["AWS_ENDPOINT_URL"], region_name=stack["AWS_REGION"],
                        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"], aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])
    lines = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/"):
        for group in page["logGroups"]:
            kw = {"logGroupName": group["logGroupName"]}
            while True:
                out = logs.filter_log_events(**kw)
                lines.extend(e["message"] for e in out.get("events", []))
                if not out.get("nextToken"):
                    break
                kw["nextToken"] = out["nextToken"]
    return lines


def test_no_secret_appears_in_any_log_line_or_error_body_after_the_chaos_run(stack, chaos_report):
    secrets = secret_values(stack)
    assert len(secrets) >= 8, "the stack's secrets were read"
    lines = function_logs(stack)
    assert len(lines) > 1000, "the functions' logs were read"
    bodies = chaos_report["error_bodies"]
    assert bodies, "the run met refusals whose bodies are checked"
    leaks = [(secret[:4] + "…", where[:120]) for secret in secrets
             for where in (*lines, *bodies) if secret in where]
    assert leaks == []
