"""Webhook endpoints (https://docs.stripe.com/api/webhook_endpoints?api-version=2024-06-20): create
(the only answer that carries the signing `secret`), list, retrieve, update `enabled_events`, `url`
or `disabled`. An enabled endpoint gets the events it asked for, signed with its secret, as the
endpoints registered through `/_config/webhooks` do."""

from __future__ import annotations

from typing import Any

from . import params as P
from .errors import invalid
from .state import Ctx, State, new_id, public
from .views import paginate
from .webhooks import Endpoint


def _events(data: dict[str, Any], required: bool) -> list[str] | None:
    events = P.string_list(data, "enabled_events")
    if events is None and required:
        raise invalid("Missing required param: enabled_events.", "enabled_events")
    if events is not None and not events:
        raise invalid("enabled_events must list at least one event type or '*'.", "enabled_events")
    return events


def _deliver(state: State, endpoint: dict[str, Any]) -> None:
    """(Re)registers the endpoint for delivery, or removes it while disabled."""
    if state.deliverer is None:
        return
    state.deliverer.unregister(endpoint["id"])
    if endpoint["status"] == "enabled":
        state.deliverer.register(Endpoint(endpoint["id"], endpoint["url"], endpoint["_secret"], endpoint["enabled_events"]))


def create(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["url", "enabled_events", "description", "api_version", "metadata", "connect"])
    url = P.optional_text(data, "url")
    if not url or not url.startswith(("http://", "https://")):
        raise invalid("Invalid URL: a webhook endpoint needs an http(s) url.", "url")
    secret = new_id("whsec_", 32)
    endpoint = state.put("webhook_endpoint", {
        "id": new_id("we_"), "object": "webhook_endpoint", "url": url, "enabled_events": _events(data, True),
        "status": "enabled", "description": P.optional_text(data, "description"),
        "api_version": P.optional_text(data, "api_version"), "application": None, "created": ctx.now,
        "livemode": False, "metadata": P.metadata(data) or {}, "_secret": secret})
    _deliver(state, endpoint)
    return {**public(endpoint), "secret": secret}


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    return public(state.require("webhook_endpoint", id))


def update(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["url", "enabled_events", "description", "disabled", "metadata"])
    endpoint = state.require("webhook_endpoint", id)
    events = _events(data, False)
    if events is not None:
        endpoint["enabled_events"] = events
    url = P.optional_text(data, "url")
    if url:
        endpoint["url"] = url
    disabled = P.boolean(data, "disabled")
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    _deliver(state, endpoint)
    return public(endpoint)


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["limit", "starting_after", "ending_before"])
    return paginate(state, "webhook_endpoint", state.all("webhook_endpoint"), data, "/v1/webhook_endpoints")
