"""`python -m simulators.stripe_sim --host 127.0.0.1 --port 4630` (from tests/)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from .app import create_app
from .state import ACCOUNT_API_VERSION

log = logging.getLogger("stripe_sim")


def _delays(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}") from exc
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("delays must be non-negative")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.stripe_sim",
                                     description="A Stripe API simulator for Tally's tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4630)
    parser.add_argument("--api-version", default=ACCOUNT_API_VERSION,
                        help="the account's API version: events' api_version and the default Stripe-Version")
    parser.add_argument("--webhook-delay", type=float, default=0.2,
                        help="seconds between an event and its first delivery attempt (default 0.2)")
    parser.add_argument("--webhook-retry-delays", type=_delays, default=(0.5, 1.0, 2.0),
                        help="backoff before each retry of a failed delivery (default 0.5,1,2)")
    parser.add_argument("--idempotency-ttl", type=float, default=24 * 3600,
                        help="seconds an idempotency key is remembered (default 86400)")
    parser.add_argument("--no-return-url-check", dest="require_return_url", action="store_false",
                        help="confirm intents with automatic payment methods without a return_url")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    return parser.parse_args(argv)


async def serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("stripe simulator listening on http://%s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stripe simulator stopping")
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    app = create_app(api_version=args.api_version, webhook_delay=args.webhook_delay,
                     retry_delays=args.webhook_retry_delays, idempotency_ttl=args.idempotency_ttl,
                     require_return_url=args.require_return_url)
    asyncio.run(serve(app, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
