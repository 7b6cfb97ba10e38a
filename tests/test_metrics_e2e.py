"""The EMF metrics on the deployed local stack: what the functions write to their log groups
(the unit tests check each line's shape against the format's rules; these check they are written):
per-call metrics for Stripe, the platform and the ERP when an order is paid, and the poller's
completed polls that the stale-poller alarm watches."""

import json
import time

import boto3

from e2e import pay, wait_for_payment_intent, wait_for_payment_state
from tally_local import wait_until


def emf_lines(stack, function_key: str, since_ms: int) -> list[dict]:
    env = stack.env
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
    function = session.client("lambda", endpoint_url=env["AWS_ENDPOINT_URL"]).get_function_configuration(
        FunctionName=env[function_key])
    group = function.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{env[function_key]}")
    logs = session.client("logs", endpoint_url=env["AWS_ENDPOINT_URL"])
    lines, kwargs = [], {"logGroupName": group, "startTime": since_ms}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page["events"]:
            if '"_aws"' in event["message"]:
                lines.append(json.loads(event["message"]))
        if not page.get("nextToken") or not page["events"]:
            return lines
        kwargs["nextToken"] = page["nextToken"]


def test_a_paid_order_counts_its_calls_by_service_and_outcome(stack):
    s, p = stack, stack.platforms["magento"]
    since = int(time.time() * 1000) - 1000
    order = p.place_order(currency="USD")["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")

    def calls():
        found = {(m["Service"], m["Outcome"]): m for m in emf_lines(s, "PAYMENTS_HANDLER_FUNCTION", since)
                 if "Service" in m}
        return found if {("stripe", "ok"), ("magento", "ok"), ("erp", "ok")} <= found.keys() else None

    found = wait_until(calls, 30, interval=1, what="call metrics for stripe, magento and the ERP")
    for line in found.values():
        assert line["Calls"] == len(line["CallLatency"]) and all(v >= 0 for v in line["CallLatency"]), line
        assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "Outcome"], ["Service"]]


def test_each_poll_is_counted_for_the_stale_poller_alarm(stack):
    since = int(time.time() * 1000) - 1000
    stack.poll("kentico")
    polls = wait_until(lambda: [m for m in emf_lines(stack, "KENTICO_POLLER_FUNCTION", since) if "PollsCompleted" in m]
                       or None, 30, interval=1, what="a PollsCompleted line")
    assert polls[-1]["Poller"] == "kentico" and polls[-1]["PollsCompleted"] == 1.0
