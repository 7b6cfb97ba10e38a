"""Adobe Commerce webhook subscriptions over REST, as the Magento simulator serves them
(Magento_AdobeCommerceWebhooksSubscriber; facts: AdobeDocs commerce-extensibility
`webhooks/api.md`, admin token required):

- GET /V1/webhooks/list: every subscription, each as it was subscribed.
- POST /V1/webhooks/subscribe `{"webhook": {webhook_method, webhook_type, batch_name, hook_name, url, ...}}`:
  the five are required; `hook_name` and `batch_name` take English letters, digits and `_` only;
  `webhook_method` is `observer.<event>` or `plugin.<...>`; `webhook_type` is `before` or `after`;
  `timeout`, `soft_timeout` and `ttl` are non-negative integers. A hook is identified by method,
  type, batch and hook name (the keys of env.php's `webhooks` section), so subscribing one again
  replaces it. The answer is the void service method's (`[]`); callers read the list back.
- POST /V1/webhooks/unsubscribe `{"webhook": {webhook_method, webhook_type, batch_name, hook_name}}`.

A subscribed URL is called for its event exactly as a target registered through the control API
(`POST /_sim/webhooks`, standing for webhooks.xml or the Admin), once per URL."""

from __future__ import annotations

import re

from ._common import Request, Response, json_response

NAME = re.compile(r"^[A-Za-z0-9_]+$")
METHOD = re.compile(r"^(observer|plugin)\.[A-Za-z0-9_.]+$")
IDENTITY = ("webhook_method", "webhook_type", "batch_name", "hook_name")


class WebhookSubscriptions:
    """Mixed into MagentoSimulator: uses its lock, `webhooks` (control targets) and `Error`."""

    def webhook_subscription_routes(self, authed) -> None:
        self.subscriptions: list[dict] = []
        self.rest.add("GET", r"webhooks/list", authed("Magento_AdobeCommerceWebhooks::webhooks_list", self.list_hooks))
        self.rest.add("POST", r"webhooks/subscribe",
                      authed("Magento_AdobeCommerceWebhooks::webhooks_list", self.subscribe_hook))
        self.rest.add("POST", r"webhooks/unsubscribe",
                      authed("Magento_AdobeCommerceWebhooks::webhooks_list", self.unsubscribe_hook))

    def targets_for(self, webhook_method: str) -> list[str]:
        """Where an event goes: the control targets, then each subscribed URL, each URL once."""
        with self.lock:
            urls = list(self.webhooks) + [h["url"] for h in self.subscriptions
                                          if h["webhook_method"] == webhook_method]
        return list(dict.fromkeys(urls))

    def _hook(self, req: Request, fields) -> dict:
        body = req.json()
        hook = body.get("webhook") if isinstance(body, dict) else None
        if not isinstance(hook, dict):
            raise self.Error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "webhook"})
        for field in fields:
            if not isinstance(hook.get(field), str) or not hook[field]:
                raise self.Error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": field})
        for field in ("batch_name", "hook_name"):
            if not NAME.match(hook[field]):
                raise self.Error(400, f"The {field} can contain only English letters, digits and underscores.")
        if not METHOD.match(hook["webhook_method"]):
            raise self.Error(400, "The webhook_method must be in the form <observer|plugin>.<webhook_name>.")
        if hook["webhook_type"] not in ("before", "after"):
            raise self.Error(400, 'The webhook_type must be "before" or "after".')
        return hook

    def list_hooks(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, list(self.subscriptions), php=True)

    def subscribe_hook(self, req: Request) -> Response:
        hook = self._hook(req, IDENTITY + ("url",))
        for field in ("timeout", "soft_timeout", "ttl"):
            value = hook.get(field)
            if value is not None and not (isinstance(value, int) and value >= 0):
                raise self.Error(400, f"The {field} must be a non-negative integer.")
        if not hook["url"].startswith(("http://", "https://")):
            raise self.Error(400, "The url must be an HTTP endpoint.")
        key = tuple(hook[f] for f in IDENTITY)
        with self.lock:
            self.subscriptions = [h for h in self.subscriptions if tuple(h[f] for f in IDENTITY) != key]
            self.subscriptions.append(hook)
        return json_response(200, [], php=True)

    def unsubscribe_hook(self, req: Request) -> Response:
        hook = self._hook(req, IDENTITY)
        key = tuple(hook[f] for f in IDENTITY)
        with self.lock:
            kept = [h for h in self.subscriptions if tuple(h[f] for f in IDENTITY) != key]
            if len(kept) == len(self.subscriptions):
                raise self.Error(404, "The webhook with the given identifiers was not found.")
            self.subscriptions = kept
        return json_response(200, [], php=True)
