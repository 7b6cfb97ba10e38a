"""The local stacks' configuration and wiring.

  local_env.py config HOST STRIPE_PORT MAGENTO_PORT ERP_PORT SEND_DESCRIPTION STORE_CODE
      prints the TallyConfig document (compact JSON without spaces or single quotes:
      sam's --parameter-overrides takes it single-quoted), pointing a stack at the simulators.
  local_env.py write STACK OUT STRIPE_PORT MAGENTO_PORT ERP_PORT MAGENTO_TOKEN ERP_SECRET STORE_CODE
      seeds the stack's secrets with local test values, registers its webhook
      URLs with the Stripe and Magento simulators, and writes OUT (an env file)
      from the stack's outputs: every endpoint and name a test or a person needs.
"""

import json
import os
import sys
import urllib.request
from urllib.parse import urlencode, urlparse

import boto3

# Fast retries against local simulators; production keeps the defaults.
LOCAL_HTTP = {"max_retries": 2, "retry_base_ms": 100, "max_backoff_ms": 1000, "timeout_ms": 5000}


def tally_config(host: str, stripe_port: str, magento_port: str, erp_port: str, send_description: str,
                 store_code: str) -> str:
    doc = {
        # a customer made in Stripe becomes a customer of the main stack's Magento store
        **({"customers": {"create_from_stripe_in": "magento/default"}} if store_code == "default" else {}),
        "stripe": {
            "api_base": f"http://{host}:{stripe_port}",
            "send_description": send_description == "true",
            # localstripe lists no customers by email: its stack runs without customer sync
            "sync_customers": send_description == "true",
            "http": LOCAL_HTTP,
        },
        # the simulator's option id for the Refund resolution of returns (Adobe Commerce RMA)
        "magento": {"base_url": f"http://{host}:{magento_port}", "store_code": store_code, "http": LOCAL_HTTP,
                    "rma_refund_resolutions": ["refund"],
                    # the customer attribute the simulated merchant created for the Stripe customer id
                    "stripe_customer_attribute": "stripe_customer_id"},
        "erp": {"base_url": f"http://{host}:{erp_port}", "http": LOCAL_HTTP},
    }
    if os.environ.get("ERP_ADAPTER") == "tryton":
        doc["erp"]["adapter"] = "tryton"
    if os.environ.get("ERP_PAID_ORDERS"):
        doc["erp"]["paid_orders"] = os.environ["ERP_PAID_ORDERS"]
    if os.environ.get("ZNODE_PORT"):
        # Custom1 holds the Stripe customer id; user 2 is the simulated portal's admin, whom the customer list runs as
        doc["znode"] = {"base_url": f"http://{host}:{os.environ['ZNODE_PORT']}", "http": LOCAL_HTTP,
                        "stripe_customer_field": "Custom1", "customer_list_user_id": 2}
    if os.environ.get("KENTICO_PORT"):
        # CustomerStripeID: the custom field the simulated merchant added to the customer class
        doc["kentico"] = {"base_url": f"http://{host}:{os.environ['KENTICO_PORT']}", "http": LOCAL_HTTP,
                          "stripe_customer_field": "CustomerStripeID"}
    # the declarative platforms, each from its preset
    for name in ("clarity", "storefront"):
        if os.environ.get(f"{name.upper()}_PORT"):
            doc.setdefault("rest_platforms", {})[name] = {
                "preset": name, "base_url": f"http://{host}:{os.environ[name.upper() + '_PORT']}", "http": LOCAL_HTTP}
    return json.dumps(doc, separators=(",", ":"))


def http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> bytes:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()

# Local test values only; the template's production secret starts empty.
LOCAL_STRIPE_API_KEY = "sk_test_tally_local"
LOCAL_ZNODE_WEBHOOK_SECRET = "znode-local-webhook-secret"
LOCAL_KENTICO_WEBHOOK_SECRET = "kentico-local-connector-secret"
LOCAL_CLARITY_WEBHOOK_SECRET = "clarity-local-webhook-secret"
LOCAL_STOREFRONT_WEBHOOK_SECRET = "storefront-local-webhook-secret"
LOCAL_STRIPE_SIGNING_SECRETS = ["whsec_tally_local_primary", "whsec_tally_local_secondary"]


def function_url(endpoint: str, stack_url: str) -> str:
    """A Function URL reachable from this machine. LocalStack reports a local
    http:// URL already; ministack reports the AWS-style https://{id}.lambda-url...on.aws/
    and serves it path-based at {endpoint}/_aws/lambda-url/{id}/."""
    if stack_url.startswith("http://"):
        return stack_url
    url_id = urlparse(stack_url).hostname.split(".")[0]
    return f"{endpoint.rstrip('/')}/_aws/lambda-url/{url_id}/"


def write(stack: str, out_path: str, stripe_port: str, magento_port: str, erp_port: str,
          magento_token: str, erp_secret: str, store_code: str) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    stripe_api = f"http://127.0.0.1:{stripe_port}"
    magento = f"http://127.0.0.1:{magento_port}"
    erp = f"http://127.0.0.1:{erp_port}"
    public_key = http("GET", f"{magento}/_sim/webhook-public-key").decode()
    secrets = boto3.client("secretsmanager")
    put = lambda arn, value: secrets.put_secret_value(SecretId=outputs[arn], SecretString=json.dumps(value))  # noqa: E731
    put("StripeWebhookSecretArn", {"webhook_signing_secrets": LOCAL_STRIPE_SIGNING_SECRETS})
    put("StripeApiSecretArn", {"api_key": LOCAL_STRIPE_API_KEY})
    put("MagentoWebhookSecretArn", {"webhook_public_keys": [public_key]})
    put("MagentoApiSecretArn", {"access_token": magento_token})
    if os.environ.get("ZNODE_PORT"):
        put("ZnodeApiSecretArn", {"domain": os.environ["ZNODE_DOMAIN"], "key": os.environ["ZNODE_KEY"]})
        put("ZnodeWebhookSecretArn", {"shared_secrets": [LOCAL_ZNODE_WEBHOOK_SECRET]})
    if os.environ.get("KENTICO_PORT"):
        put("KenticoApiSecretArn", {"username": os.environ["KENTICO_USER"], "password": os.environ["KENTICO_PASSWORD"]})
        put("KenticoWebhookSecretArn", {"signing_secrets": [LOCAL_KENTICO_WEBHOOK_SECRET]})
    if os.environ.get("CLARITY_PORT"):
        put("ClarityApiSecretArn", {"client_id": os.environ["CLARITY_CLIENT_ID"],
                                    "client_secret": os.environ["CLARITY_CLIENT_SECRET"]})
        put("ClarityWebhookSecretArn", {"signing_secrets": [LOCAL_CLARITY_WEBHOOK_SECRET]})
    if os.environ.get("STOREFRONT_PORT"):
        put("StorefrontApiSecretArn", {"api_key": os.environ["STOREFRONT_API_KEY"]})
        put("StorefrontWebhookSecretArn", {"signing_secrets": [LOCAL_STOREFRONT_WEBHOOK_SECRET]})
    if os.environ.get("ERP_ADAPTER") == "tryton":
        put("ErpSecretArn", {"login": os.environ["TRYTON_LOGIN"], "password": os.environ["TRYTON_PASSWORD"]})
    else:
        put("ErpSecretArn", {"signing_secret": erp_secret})

    stripe_webhook = function_url(endpoint, outputs["StripeWebhookUrl"])
    magento_webhook = function_url(endpoint, outputs["MagentoWebhookUrl"])
    # Both fake Stripes take localstripe's config call: deliver every event, signed.
    http("POST", f"{stripe_api}/_config/webhooks/tally",
         urlencode({"url": stripe_webhook, "secret": LOCAL_STRIPE_SIGNING_SECRETS[0]}).encode(),
         "application/x-www-form-urlencoded")
    http("DELETE", f"{magento}/_sim/webhooks")
    http("POST", f"{magento}/_sim/webhooks", json.dumps({"url": magento_webhook}).encode())
    if os.environ.get("ZNODE_PORT"):
        # The local Znode stands in for a Znode 10 whose Webhook Consumer calls Tally with the
        # shared secret in the URL (README, "Znode"); its poller is the 9.x path and runs too.
        znode = f"http://127.0.0.1:{os.environ['ZNODE_PORT']}"
        znode_webhook = function_url(endpoint, outputs["ZnodeWebhookUrl"])
        http("DELETE", f"{znode}/_sim/webhooks")
        http("POST", f"{znode}/_sim/webhooks", json.dumps(
            {"url": f"{znode_webhook}?{urlencode({'tally_secret': LOCAL_ZNODE_WEBHOOK_SECRET})}"}).encode())
    if os.environ.get("KENTICO_PORT"):
        # The local Kentico stands in for a site with Tally's integration-bus connector (README, "Kentico").
        kentico = f"http://127.0.0.1:{os.environ['KENTICO_PORT']}"
        http("DELETE", f"{kentico}/_sim/webhooks")
        http("POST", f"{kentico}/_sim/webhooks", json.dumps(
            {"url": function_url(endpoint, outputs["KenticoWebhookUrl"]), "secret": LOCAL_KENTICO_WEBHOOK_SECRET}).encode())
    for name, secret in (("clarity", LOCAL_CLARITY_WEBHOOK_SECRET), ("storefront", LOCAL_STOREFRONT_WEBHOOK_SECRET)):
        if os.environ.get(f"{name.upper()}_PORT"):
            # the store calls Tally's webhook for each order, signed under Tally's contract
            store = f"http://127.0.0.1:{os.environ[name.upper() + '_PORT']}"
            http("DELETE", f"{store}/_sim/webhooks")
            http("POST", f"{store}/_sim/webhooks", json.dumps(
                {"url": function_url(endpoint, outputs[f"{name.title()}WebhookUrl"]), "secret": secret}).encode())
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": os.environ["AWS_REGION"],
        "AWS_DEFAULT_REGION": os.environ["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "TALLY_STACK_NAME": stack,
        "STRIPE_WEBHOOK_URL": function_url(endpoint, outputs["StripeWebhookUrl"]),
        "STRIPE_WEBHOOK_SECRET": LOCAL_STRIPE_SIGNING_SECRETS[0],
        "STRIPE_WEBHOOK_SECRET_SECONDARY": LOCAL_STRIPE_SIGNING_SECRETS[1],
        "STRIPE_WEBHOOK_SECRET_ID": outputs["StripeWebhookSecretArn"],
        "STRIPE_API_SECRET_ID": outputs["StripeApiSecretArn"],
        "IDEMPOTENCY_TABLE": outputs["IdempotencyTableName"],
        "EVENTS_TABLE": outputs["EventsTableName"],
        "STRIPE_API_BASE": stripe_api,
        "STRIPE_API_KEY": LOCAL_STRIPE_API_KEY,
        "MAGENTO_BASE_URL": magento,
        "MAGENTO_TOKEN": magento_token,
        "MAGENTO_STORE_CODE": store_code,
        "MAGENTO_WEBHOOK_URL": magento_webhook,
        "MAGENTO_WEBHOOK_SECRET_ID": outputs["MagentoWebhookSecretArn"],
        "MAGENTO_API_SECRET_ID": outputs["MagentoApiSecretArn"],
        "MAGENTO_POLLER_FUNCTION": outputs["MagentoOrderPollerName"],
        "PAYMENTS_HANDLER_FUNCTION": outputs["PaymentsHandlerName"],
        "ERP_BASE_URL": erp,
        "ERP_SECRET_ID": outputs["ErpSecretArn"],
        "ERP_SIGNING_SECRET": erp_secret,
        "ERP_PAID_ORDERS": os.environ.get("ERP_PAID_ORDERS", "journal_entry"),
        "LOCALSTRIPE_API_BASE": f"http://127.0.0.1:{os.environ['LOCALSTRIPE_PORT']}",
        # the localstripe stack's store, whose stack syncs no customers: the adapter contract writes customers there
        "MAGENTO_QUIET_BASE_URL": f"http://127.0.0.1:{os.environ['MAGENTO_LS_PORT']}",
    }
    env["TALLY_PLATFORMS"] = ",".join(["magento"] + [p for p in ("znode", "kentico", "clarity", "storefront")
                                                     if os.environ.get(f"{p.upper()}_PORT")])
    if os.environ.get("CLARITY_PORT"):
        env.update(CLARITY_POLLER_FUNCTION=outputs["ClarityOrderPollerName"],
                   CLARITY_WEBHOOK_URL=function_url(endpoint, outputs["ClarityWebhookUrl"]),
                   CLARITY_WEBHOOK_SECRET=LOCAL_CLARITY_WEBHOOK_SECRET,
                   CLARITY_BASE_URL=f"http://127.0.0.1:{os.environ['CLARITY_PORT']}",
                   CLARITY_QUIET_BASE_URL=f"http://127.0.0.1:{os.environ['CLARITY_QUIET_PORT']}",
                   CLARITY_CLIENT_ID=os.environ["CLARITY_CLIENT_ID"], CLARITY_CLIENT_SECRET=os.environ["CLARITY_CLIENT_SECRET"])
    if os.environ.get("STOREFRONT_PORT"):
        env.update(STOREFRONT_POLLER_FUNCTION=outputs["StorefrontOrderPollerName"],
                   STOREFRONT_WEBHOOK_URL=function_url(endpoint, outputs["StorefrontWebhookUrl"]),
                   STOREFRONT_WEBHOOK_SECRET=LOCAL_STOREFRONT_WEBHOOK_SECRET,
                   STOREFRONT_BASE_URL=f"http://127.0.0.1:{os.environ['STOREFRONT_PORT']}",
                   STOREFRONT_QUIET_BASE_URL=f"http://127.0.0.1:{os.environ['STOREFRONT_QUIET_PORT']}",
                   STOREFRONT_API_KEY=os.environ["STOREFRONT_API_KEY"])
    if os.environ.get("ZNODE_PORT"):
        # The Znode simulator, which the main stack serves beside Magento.
        env.update(ZNODE_POLLER_FUNCTION=outputs["ZnodeOrderPollerName"],
                   ZNODE_WEBHOOK_URL=function_url(endpoint, outputs["ZnodeWebhookUrl"]),
                   ZNODE_WEBHOOK_SECRET=LOCAL_ZNODE_WEBHOOK_SECRET,
                   ZNODE_BASE_URL=f"http://127.0.0.1:{os.environ['ZNODE_PORT']}",
                   ZNODE_TOKEN_MODE_BASE_URL=f"http://127.0.0.1:{os.environ['ZNODE_TOKEN_PORT']}",
                   ZNODE_DOMAIN=os.environ["ZNODE_DOMAIN"], ZNODE_KEY=os.environ["ZNODE_KEY"])
    if os.environ.get("KENTICO_PORT"):
        env.update(KENTICO_POLLER_FUNCTION=outputs["KenticoOrderPollerName"],
                   KENTICO_WEBHOOK_URL=function_url(endpoint, outputs["KenticoWebhookUrl"]),
                   KENTICO_WEBHOOK_SECRET=LOCAL_KENTICO_WEBHOOK_SECRET,
                   KENTICO_BASE_URL=f"http://127.0.0.1:{os.environ['KENTICO_PORT']}",
                   # a Kentico no stack listens to, where the adapter contract writes customers
                   KENTICO_QUIET_BASE_URL=f"http://127.0.0.1:{os.environ['KENTICO_QUIET_PORT']}",
                   KENTICO_USER=os.environ["KENTICO_USER"], KENTICO_PASSWORD=os.environ["KENTICO_PASSWORD"])
    env["PAYOUTS_HANDLER_FUNCTION"] = outputs["PayoutsHandlerName"]
    env["STRIPE_BACKFILL_FUNCTION"] = outputs["StripeBackfillName"]
    env["PAYOUT_REPORTS_TABLE"] = outputs["PayoutReportsTableName"]
    if os.environ.get("TRYTON_PORT"):
        # Tryton, the real ledger beside the ERP simulator (shared/http/tests/erp_contract.rs).
        env.update(TRYTON_URL=f"http://127.0.0.1:{os.environ['TRYTON_PORT']}",
                   TRYTON_DATABASE=os.environ["TRYTON_DATABASE"], TRYTON_LOGIN=os.environ["TRYTON_LOGIN"],
                   TRYTON_PASSWORD=os.environ["TRYTON_PASSWORD"])
    if os.environ.get("NETSUITE_PORT"):
        # The NetSuite simulator, in the ERP contract suite (shared/http/tests/erp_contract.rs).
        env.update(NETSUITE_URL=f"http://127.0.0.1:{os.environ['NETSUITE_PORT']}",
                   **{k: os.environ[k] for k in ("NETSUITE_ACCOUNT", "NETSUITE_CONSUMER_KEY",
                                                 "NETSUITE_CONSUMER_SECRET", "NETSUITE_TOKEN_ID",
                                                 "NETSUITE_TOKEN_SECRET")})
    for flow in ("Payments", "Payouts"):
        env[f"{flow.upper()}_QUEUE_URL"] = outputs[f"{flow}QueueUrl"]
        env[f"{flow.upper()}_DLQ_URL"] = outputs[f"{flow}DeadLetterQueueUrl"]
    with open(out_path, "w") as f:
        f.write("# Written by `make up`; source it: set -a; . .tally/local.env; set +a\n")
        for key, value in env.items():
            f.write(f"{key}={value}\n")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "config":
        print(tally_config(*args))
    elif command == "write":
        write(*args)
    else:
        sys.exit(f"unknown command {command}")
