"""The aiohttp application: a Request-Id and one log line for every request, /v1 to `Api`,
/_sim and /_config to `Control`."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from .api import Api
from .control import Control
from .faults import Faults
from .state import ACCOUNT_API_VERSION, State, new_id
from .webhooks import Webhooks

log = logging.getLogger("stripe_sim")


def _log_line(request: web.Request, status: int, started: float) -> None:
    entry = request.get("log") or {}
    extra = ""
    if entry.get("idempotency_key"):
        extra += f" idempotency_key={entry['idempotency_key']}"
    if entry.get("replayed"):
        extra += " replayed"
    if entry.get("fault"):
        extra += " fault"
    log.info("%s %s %d %.1fms %s%s", request.method, request.path_qs, status,
             (time.monotonic() - started) * 1000, request["request_id"], extra)


@web.middleware
async def request_id_and_log(request: web.Request, handler) -> web.StreamResponse:
    request["request_id"] = new_id("req_", 14)
    started = time.monotonic()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Request-Id"] = request["request_id"]
        _log_line(request, exc.status, started)
        raise
    except BaseException:
        _log_line(request, 500, started)
        raise
    response.headers["Request-Id"] = request["request_id"]
    _log_line(request, response.status, started)
    return response


def create_app(*, api_version: str = ACCOUNT_API_VERSION, webhook_delay: float = 0.2,
               retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0), idempotency_ttl: float = 24 * 3600,
               require_return_url: bool = True) -> web.Application:
    state = State(api_version=api_version, idempotency_ttl=idempotency_ttl)
    state.require_return_url = require_return_url
    webhooks = Webhooks(state, delay=webhook_delay, retry_delays=retry_delays)
    faults = Faults()
    api = Api(state, faults)
    control = Control(state, webhooks, faults)

    app = web.Application(middlewares=[request_id_and_log], client_max_size=8 * 1024 * 1024)
    app["state"], app["webhooks"], app["faults"] = state, webhooks, faults
    app.add_routes(control.routes())
    app.router.add_route("*", "/v1/{tail:.*}", api.handle)
    app.on_startup.append(webhooks.start)
    app.on_cleanup.append(webhooks.stop)
    return app
