"""Seeds the local stack's secrets with test values and writes .tally/local.env
from the stack's outputs: every endpoint and name a test or a person needs."""

import json
import os
import sys
from urllib.parse import urlparse

import boto3

# Local test values only; the template's production secret starts empty.
LOCAL_STRIPE_SECRET = {
    "api_key": "sk_test_tally_local",
    "webhook_signing_secrets": ["whsec_tally_local_primary", "whsec_tally_local_secondary"],
}


def function_url(endpoint: str, stack_url: str) -> str:
    """A Function URL reachable from this machine. LocalStack reports a local
    http:// URL already; ministack reports the AWS-style https://{id}.lambda-url...on.aws/
    and serves it path-based at {endpoint}/_aws/lambda-url/{id}/."""
    if stack_url.startswith("http://"):
        return stack_url
    url_id = urlparse(stack_url).hostname.split(".")[0]
    return f"{endpoint.rstrip('/')}/_aws/lambda-url/{url_id}/"


def main(stack: str, out_path: str) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    boto3.client("secretsmanager").put_secret_value(
        SecretId=outputs["StripeSecretArn"], SecretString=json.dumps(LOCAL_STRIPE_SECRET)
    )
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": os.environ["AWS_REGION"],
        "AWS_DEFAULT_REGION": os.environ["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "TALLY_STACK_NAME": stack,
        "STRIPE_WEBHOOK_URL": function_url(endpoint, outputs["StripeWebhookUrl"]),
        "STRIPE_WEBHOOK_SECRET": LOCAL_STRIPE_SECRET["webhook_signing_secrets"][0],
        "STRIPE_WEBHOOK_SECRET_SECONDARY": LOCAL_STRIPE_SECRET["webhook_signing_secrets"][1],
        "STRIPE_SECRET_ID": outputs["StripeSecretArn"],
        "IDEMPOTENCY_TABLE": outputs["IdempotencyTableName"],
        "EVENTS_TABLE": outputs["EventsTableName"],
    }
    for flow in ("Payments", "Refunds", "Customers", "Payouts"):
        env[f"{flow.upper()}_QUEUE_URL"] = outputs[f"{flow}QueueUrl"]
        env[f"{flow.upper()}_DLQ_URL"] = outputs[f"{flow}DeadLetterQueueUrl"]
    with open(out_path, "w") as f:
        f.write("# Written by `make up`; source it: set -a; . .tally/local.env; set +a\n")
        for key, value in env.items():
            f.write(f"{key}={value}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
