"""The chaos run: business events through every flow and platform on the deployed local stack while
Stripe, every platform and the ERP fail about one call in five, one platform is down for longer
than an invocation's retries, and the emulator's Lambda workers are killed (SIGKILL) at random.
Then faults stop, `tally dlq redrive` runs once, and the invariants are checked against the
systems of record (Stripe, each platform, the ERP), printed as a table.

  chaos.py [--events N] [--seed S] [--fault-rate R] [--concurrency C] [--report FILE]

What an event is: an order placed (its platform event), its payment outcome (Stripe's event), a
refund made in Stripe, a refund made on the platform, a customer saved, a customer changed, a
payout. Each is delivered one to three times, concurrently: platform events by the platform's
webhook (re-sent) or its poll, Stripe events by the simulator and again by this script, some
signed minutes "late" (inside the tolerance), and whatever Stripe could not deliver is re-sent
(as Stripe retries for days) or found by the backfill. Exit status 0 only when lost and double
effects are both 0 and the DLQs are empty after the redrive."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_checks import Checks  # noqa: E402
from tally_local import ROOT, LocalStack, post, sign  # noqa: E402

EXPONENT = {"USD": 2, "JPY": 0, "KWD": 3}
PRICES = {"USD": ["19.99", "5.00", "123.45"], "JPY": ["500", "2500"], "KWD": ["6.170", "1.230"]}
# what a chaos fault answers: mostly rate limits and server errors, some resets and timeouts
PLATFORM_FAULTS = [429, 429, 429, 500, 500, 502, 502, 503, 503, 503, "reset", "reset", "reset", "reset", "timeout"]
STRIPE_FAULTS = [429, 429, 500, 502, 503]
# the functions whose workers are killed
KILLED = ("payments-handler", "payouts-handler", "stripe-webhook", "magento-webhook", "znode-webhook",
          "kentico-webhook", "rest-webhook")


@dataclass
class OrderPlan:
    n: int
    platform: str
    currency: str
    price: str
    qty: int
    outcome: str  # "paid" | "declined"
    stripe_refund: bool
    platform_refund: bool
    deliveries: int
    order_id: str | None = None
    announced: bool = False
    pi: str | None = None
    confirmed: bool = False
    charge: str | None = None
    paid_at: float | None = None
    stripe_refunded: bool = False
    platform_refunded: bool = False
    notes: list = field(default_factory=list)

    @property
    def driven(self) -> bool:
        return self.confirmed and (self.outcome == "declined" or (
            self.stripe_refunded == self.stripe_refund and self.platform_refunded == self.platform_refund))

    @property
    def total(self) -> Decimal:
        return Decimal(self.price) * self.qty

    def minor(self, amount: Decimal) -> int:
        return int(amount.scaleb(EXPONENT[self.currency]))

    @property
    def stripe_refund_minor(self) -> int:
        """40% of the total, in Stripe's step for the currency (10 fils for KWD)."""
        step = 10 if self.currency == "KWD" else 1
        return max(step, self.minor(self.total) * 2 // 5 // step * step)

    @property
    def platform_refund_major(self) -> Decimal:
        """30% of the total, to the currency's minor unit (10 fils for KWD)."""
        step = 10 if self.currency == "KWD" else 1
        minor = max(step, self.minor(self.total) * 3 // 10 // step * step)
        return Decimal(minor).scaleb(-EXPONENT[self.currency])

    @property
    def events(self) -> int:
        return 2 + self.stripe_refund + self.platform_refund


@dataclass
class CustomerPlan:
    n: int
    platform: str
    email: str
    deliveries: int
    customer_id: str | None = None
    announced: bool = False
    edited: bool = False
    events: int = 2
    notes: list = field(default_factory=list)

    @property
    def driven(self) -> bool:
        return self.edited


FORGED_ACCEPTED = "stripe (forged, ACCEPTED)"


def forged_outcome(status: int) -> str:
    """A forged delivery must get 400. A worker SIGKILLed before answering gives the sender a 5xx,
    which is neither acceptance nor refusal (nothing is enqueued before the signature is verified);
    a 2xx is acceptance and fails the run."""
    if status == 400:
        return "stripe (forged, refused)"
    if 200 <= status < 300:
        return FORGED_ACCEPTED
    return f"stripe (forged, {status}" + (": its worker was killed)" if status >= 500 else ")")


def plan(rng: random.Random, events: int, platforms: list[str], run: str) -> list:
    units, count, n = [], 0, 0
    while count < events:
        n += 1
        platform = rng.choice(platforms)
        if rng.random() < 0.1:
            unit = CustomerPlan(n, platform, f"chaos-{run}-c{n}@example.com", rng.randint(1, 3))
        else:
            currency = rng.choice(list(PRICES))
            paid = rng.random() < 0.8
            unit = OrderPlan(n, platform, currency, rng.choice(PRICES[currency]), rng.randint(1, 3),
                             "paid" if paid else "declined", paid and rng.random() < 0.2,
                             paid and rng.random() < 0.15, rng.randint(1, 3))
        units.append(unit)
        count += unit.events
    return units


class Stripe:
    """The script's own Stripe calls: retried through the injected faults with one idempotency key,
    as an integration following Stripe's advice would."""

    def __init__(self, base: str, key: str):
        self.base, self.key = base.rstrip("/"), key

    def call(self, method: str, path: str, data=None, params=None, idem: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}", "Stripe-Version": "2024-06-20"}
        if idem:
            headers["Idempotency-Key"] = idem
        for attempt in range(80):
            try:
                r = requests.request(method, self.base + path, data=data, params=params, headers=headers, timeout=20)
                if r.status_code not in (409, 429) and r.status_code < 500:
                    return r
            except requests.RequestException:
                pass
            time.sleep(min(0.1 * 2 ** attempt, 2.0))
        raise RuntimeError(f"Stripe {method} {path} kept failing")

    def search(self, kind: str, query: str) -> list:
        r = self.call("GET", f"/v1/{kind}/search", params={"query": query, "limit": 100})
        return r.json().get("data", [])


class Chaos:
    def __init__(self, stack: LocalStack, args):
        self.s, self.args = stack, args
        self.rng = random.Random(args.seed)
        self.stripe = Stripe(stack.env["STRIPE_API_BASE"], stack.env["STRIPE_API_KEY"])
        self.stop = threading.Event()
        self.kills: Counter = Counter()
        self.deliveries: Counter = Counter()
        self.backfilled: dict = {}
        self.lock = threading.Lock()
        self.payouts: list[dict] = []
        self.error_bodies: list[str] = []
        self.faults_stopped = threading.Event()
        # the simulator's deliveries before this run: not this run's to send again
        self.deliveries_before = len(requests.get(f"{stack.stripe.base}/_sim/deliveries", timeout=120).json())
        self.run = f"{args.seed}-{int(time.time())}"

    # --- faults -----------------------------------------------------------------------------------

    def faults_on(self) -> None:
        rate = self.args.fault_rate
        for i, (name, p) in enumerate(self.s.platforms.items()):
            p.clear_faults()
            p.sim("POST", "faults", json={"rate": rate, "statuses": PLATFORM_FAULTS, "seed": self.args.seed + i})
        erp = self.s.env["ERP_BASE_URL"]
        requests.delete(f"{erp}/_sim/faults", timeout=10)
        requests.post(f"{erp}/_sim/faults", json={"rate": rate, "statuses": PLATFORM_FAULTS,
                                                  "seed": self.args.seed + 100}, timeout=10).raise_for_status()
        base = self.s.env["STRIPE_API_BASE"]
        requests.delete(f"{base}/_sim/faults", timeout=10)
        requests.post(f"{base}/_sim/faults", json={"rate": rate, "statuses": STRIPE_FAULTS, "lost_share": 0.3,
                                                   "seed": self.args.seed + 200}, timeout=10).raise_for_status()

    def faults_off(self) -> None:
        for p in self.s.platforms.values():
            p.clear_faults()
        requests.delete(f"{self.s.env['ERP_BASE_URL']}/_sim/faults", timeout=10)
        requests.delete(f"{self.s.env['STRIPE_API_BASE']}/_sim/faults", timeout=10)

    def outage(self, name: str, seconds: float) -> None:
        """The platform answers nothing but 503 for `seconds`: longer than one invocation retries."""
        p = self.s.platforms[name]
        p.clear_faults()
        p.sim("POST", "faults", json={"rate": 1.0, "statuses": [503], "seed": 0})
        print(f"[chaos] {name} down for {seconds:.0f}s", flush=True)
        self.stop.wait(seconds)
        p.clear_faults()
        if not self.faults_stopped.is_set():
            p.sim("POST", "faults", json={"rate": self.args.fault_rate, "statuses": PLATFORM_FAULTS,
                                          "seed": self.args.seed + 50})
        print(f"[chaos] {name} back", flush=True)

    # --- background actors ------------------------------------------------------------------------

    def killer(self) -> None:
        """SIGKILLs a running Lambda worker of the emulator every 2-6 s."""
        rng = random.Random(self.args.seed + 300)
        while not self.stop.wait(rng.uniform(2, 6)):
            workers = lambda_workers()
            if workers:
                pid, function = rng.choice(workers)
                try:
                    os.kill(pid, signal.SIGKILL)
                    with self.lock:
                        self.kills[function] += 1
                except ProcessLookupError:
                    pass

    def poller(self) -> None:
        """Each platform's scheduled poll (orders, refunds, customers), every 3 s."""
        while not self.stop.wait(3):
            for name in self.s.platforms:
                try:
                    self.s.poll(name)
                except Exception:  # noqa: BLE001 - a poll that met a fault runs again next time
                    pass

    def redeliver(self) -> None:
        """Stripe's side of at-least-once: every event the simulator sent is sent again 0-2 times,
        some signed up to four minutes late; one the simulator gave up on is sent until taken."""
        rng = random.Random(self.args.seed + 400)
        offset, failed = self.deliveries_before, set()
        url, secret = self.s.env["STRIPE_WEBHOOK_URL"], self.s.env["STRIPE_WEBHOOK_SECRET"]
        while not self.stop.wait(2):
            try:
                records = requests.get(f"{self.s.stripe.base}/_sim/deliveries", params={"offset": offset},
                                       timeout=30).json()
            except requests.RequestException:
                continue
            # only advance past records whose delivery ended
            first_open = next((i for i, r in enumerate(records) if r["state"] not in ("delivered", "failed")),
                              len(records))
            offset += first_open
            for r in records[:first_open]:
                with self.lock:
                    self.deliveries["stripe (simulator)"] += len(r["attempts"])
                copies = rng.choice([0, 0, 1, 2])
                if r["state"] == "failed":
                    failed.add(r["event_id"])
                for _ in range(copies):
                    self.send_event(r["event_id"], url, secret, late=rng.random() < 0.3, rng=rng)
            failed = {e for e in failed if not self.send_event(e, url, secret, late=False, rng=rng)}

    def send_event(self, event_id: str, url: str, secret: str, late: bool, rng: random.Random) -> bool:
        r = self.stripe.call("GET", f"/v1/events/{event_id}")
        if r.status_code != 200:
            return False
        body = r.content
        at = int(time.time()) - (rng.randint(60, 240) if late else 0)
        if rng.random() < 0.05:
            # a forgery among them: it must be refused, and its answer is kept for the secrets check
            status, answer = post(url, body, sign(body, "whsec_forged_by_the_chaos_run", at))
            with self.lock:
                self.deliveries[forged_outcome(status)] += 1
                self.error_bodies.append(json.dumps(answer))
        status, answer = post(url, body, sign(body, secret, at))
        with self.lock:
            self.deliveries["stripe (again" + (", late)" if late else ")")] += 1
            if status >= 300 and len(self.error_bodies) < 500:
                self.error_bodies.append(json.dumps(answer))
        return 200 <= status < 300

    # --- units ------------------------------------------------------------------------------------

    def announce(self, p, order_id, times: int) -> None:
        """The platform's order event `times` times; a refused delivery is sent again, as senders do."""
        for _ in range(times):
            for attempt in range(10):
                try:
                    status = p.announce(order_id)
                except (requests.RequestException, KeyError, ValueError):
                    status = 0
                with self.lock:
                    self.deliveries[f"{p.name} webhook"] += 1
                if status and 200 <= status < 300:
                    break
                if status in (None, 0) and attempt >= 2:
                    break  # no webhook target: the poll is the intake
                time.sleep(min(0.2 * 2 ** attempt, 3))

    def order(self, u: OrderPlan) -> None:
        """The shopper's and the merchant's side of one order, resumable: a unit whose
        PaymentIntent came only after the redrive is taken up again where it stopped."""
        p = self.s.platforms[u.platform]
        if u.order_id is None:
            placed = p.place_order(currency=u.currency, notify=False,
                                   items=[{"sku": "CHAOS", "name": "Chaos tee", "qty": u.qty, "price": u.price}],
                                   customer={"email": f"chaos-{self.run}-o{u.n}@example.com", "firstname": "Chaos",
                                             "lastname": f"Order{u.n}"})
            u.order_id = str(placed["id"])
        if not u.announced:
            self.announce(p, u.order_id, u.deliveries)
            u.announced = True
        query = f"metadata['order_id']:'{u.order_id}' AND metadata['platform']:'{u.platform}'"
        deadline = time.monotonic() + self.args.unit_timeout
        while time.monotonic() < deadline and not u.pi:
            found = self.stripe.search("payment_intents", query)
            if found:
                u.pi = found[0]["id"]
            else:
                time.sleep(1)
        if not u.pi:
            return  # the order's message is waiting for a retry or in the DLQ: taken up after the redrive
        if not u.confirmed:
            method = "pm_card_visa" if u.outcome == "paid" else "pm_card_chargeDeclined"
            r = self.stripe.call("POST", f"/v1/payment_intents/{u.pi}/confirm",
                                 {"payment_method": method, "return_url": "https://shop.example.com/return"},
                                 idem=f"chaos-confirm-{u.pi}")
            u.paid_at = time.time()
            if u.outcome == "paid" and r.status_code != 200:
                u.notes.append(f"confirm answered {r.status_code}: {r.text[:120]}")
                return
            u.confirmed = True
            u.charge = r.json().get("latest_charge") if r.status_code == 200 else None
        if u.outcome == "declined":
            return
        if u.stripe_refund and not u.stripe_refunded:
            self.stripe.call("POST", "/v1/refunds", {"payment_intent": u.pi, "amount": u.stripe_refund_minor},
                             idem=f"chaos-refund-{u.pi}")
            u.stripe_refunded = True
        if u.platform_refund and not u.platform_refunded:
            deadline = time.monotonic() + self.args.unit_timeout
            while time.monotonic() < deadline:
                if p.summary(u.order_id)["payment_state"] in ("paid", "partially_refunded"):
                    made = p.sim("POST", f"orders/{u.order_id}/refunds",
                                 json={"amount": str(u.platform_refund_major), "notify": False})
                    if made.status_code != 201:
                        u.notes.append(f"platform refund refused: {made.text[:120]}")
                    u.platform_refunded = True
                    return
                time.sleep(1)

    def customer(self, u: CustomerPlan) -> None:
        p = self.s.platforms[u.platform]
        if u.customer_id is None:
            u.customer_id = str(p.create_customer(u.email, "Chaos", "Customer", notify=False))
        if not u.announced:
            for _ in range(u.deliveries):
                self.retry(lambda: p.announce_customer(u.customer_id))
            u.announced = True
        if not u.edited:
            self.retry(lambda: p.edit_customer(u.customer_id, lastname="Changed"))
            u.edited = True

    @staticmethod
    def retry(action, attempts: int = 8):
        """A platform-side action whose poll or event met a fault: the platform sends it again."""
        for attempt in range(attempts):
            try:
                return action()
            except Exception:  # noqa: BLE001
                time.sleep(min(0.3 * 2 ** attempt, 3))
        return None

    def unit(self, u) -> None:
        try:
            (self.order if isinstance(u, OrderPlan) else self.customer)(u)
        except Exception as exc:  # noqa: BLE001 - recorded; the checks decide what it cost
            u.notes.append(f"driver: {exc!r}")

    # --- the run ----------------------------------------------------------------------------------

    def drive(self, units: list) -> float:
        actors = [threading.Thread(target=f, daemon=True) for f in (self.killer, self.poller, self.redeliver)]
        for a in actors:
            a.start()
        started = time.monotonic()
        shuffled = units[:]
        self.rng.shuffle(shuffled)
        outage_at = len(shuffled) * 2 // 5
        down = self.rng.choice(list(self.s.platforms))
        with concurrent.futures.ThreadPoolExecutor(self.args.concurrency) as pool:
            futures = []
            for i, u in enumerate(shuffled):
                if i == outage_at:
                    futures.append(pool.submit(self.outage, down, self.args.outage_seconds))
                futures.append(pool.submit(self.unit, u))
            for i, f in enumerate(concurrent.futures.as_completed(futures), 1):
                f.result()
                if i % 100 == 0:
                    print(f"[chaos] {i}/{len(futures)} units driven, {time.monotonic() - started:.0f}s", flush=True)
        for currency in EXPONENT:
            r = requests.post(f"{self.s.stripe.base}/_sim/payouts", json={"currency": currency.lower()}, timeout=60)
            if r.status_code == 200:
                self.payouts.append(r.json())
        print(f"[chaos] units driven in {time.monotonic() - started:.0f}s; {len(self.payouts)} payouts", flush=True)
        return started

    def finish(self, units: list) -> int:
        """Faults off and the DLQs redriven: the units the run could not carry to the end (their
        order's PaymentIntent came only with the redrive) are taken up where they stopped."""
        left = [u for u in units if not u.driven]
        with concurrent.futures.ThreadPoolExecutor(self.args.concurrency) as pool:
            list(pool.map(self.unit, left))
        return len(left)

    def settle(self) -> None:
        """Faults stop; the killer stops; what Stripe could not deliver is sent or backfilled."""
        self.faults_stopped.set()
        self.faults_off()
        time.sleep(5)
        self.stop.set()
        self.stop = threading.Event()
        poll = threading.Thread(target=self.poller, daemon=True)
        redeliver = threading.Thread(target=self.redeliver, daemon=True)
        poll.start()
        redeliver.start()
        since, resume = int(time.time()) - 6 * 3600, None
        try:
            while True:  # resuming where a run stops, as `tally backfill` does
                report = self.s.backfill(since_secs=since, min_age_secs=0, resume_after=resume)
                for key in ("pages", "listed", "recovered"):
                    self.backfilled[key] = self.backfilled.get(key, 0) + report.get(key, 0)
                resume = report.get("resume_after")
                if not (report.get("truncated") and resume):
                    break
        except Exception as exc:  # noqa: BLE001
            print(f"[chaos] backfill: {exc}", flush=True)
        print(f"[chaos] backfill: {self.backfilled}", flush=True)
        self.drain()

    def drain(self, quiet_for: float = 8, timeout: float = 900) -> None:
        queues = [self.s.env["PAYMENTS_QUEUE_URL"], self.s.env["PAYOUTS_QUEUE_URL"]]
        deadline, quiet_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if sum(self.s.queue_depth(q) for q in queues) == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_for:
                    return
            else:
                quiet_since = None
            time.sleep(2)
        print("[chaos] queues did not drain in time", flush=True)

    def redrive(self) -> dict:
        subprocess.run(["cargo", "build", "--quiet", "-p", "tally-cli", "--bin", "tally"], cwd=ROOT, check=True)
        env = {**os.environ, **{k: v for k, v in self.s.env.items() if k.startswith("AWS_")},
               "TALLY_STACK_NAME": self.s.env["TALLY_STACK_NAME"]}
        moved = {}
        for queue in ("payments", "payouts"):
            done = subprocess.run([str(ROOT / "target" / "debug" / "tally"), "dlq", "redrive", queue, "--json"],
                                  env=env, capture_output=True, text=True, timeout=600)
            try:
                moved[queue] = json.loads(done.stdout or "{}")
            except ValueError:
                moved[queue] = {"error": (done.stdout + done.stderr)[-300:]}
        return moved


def lambda_workers() -> list[tuple[int, str]]:
    """The emulator's running worker processes of Tally's functions: (pid, function)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
            if not exe.endswith("/bootstrap"):
                continue
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        name = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")), "")
        if any(k.replace("-", "").lower() in name.replace("-", "").lower() for k in KILLED):
            out.append((int(entry), name))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--outage-seconds", type=float, default=30)
    parser.add_argument("--unit-timeout", type=float, default=90)
    parser.add_argument("--report", type=Path, default=ROOT / ".tally" / "reports" / "chaos.json")
    args = parser.parse_args()
    s = LocalStack()
    chaos = Chaos(s, args)
    units = plan(chaos.rng, args.events, list(s.platforms), chaos.run)
    events = sum(u.events for u in units) + len(EXPONENT)
    print(f"[chaos] seed {args.seed}: {events} events in {len(units)} units on {', '.join(s.platforms)}; "
          f"faults at {args.fault_rate:.0%}", flush=True)
    chaos.faults_on()
    try:
        started = chaos.drive(units)
        driven = time.monotonic() - started
        dead_before = Checks(s, chaos.stripe).dead_letters()
        chaos.settle()
        settled = time.monotonic() - started
        moved = chaos.redrive()
        chaos.drain()
        finished = chaos.finish(units)
        print(f"[chaos] {finished} units taken up after the redrive", flush=True)
        chaos.drain()
    finally:
        chaos.faults_off()
        chaos.stop.set()
    checks = Checks(s, chaos.stripe)
    result = checks.run(units, chaos.payouts, settle_timeout=args.unit_timeout)
    result["forged_accepted"] = chaos.deliveries.get(FORGED_ACCEPTED, 0)
    result["ok"] = result["ok"] and result["forged_accepted"] == 0
    result.update({"seed": args.seed, "events": events, "units": len(units), "fault_rate": args.fault_rate,
                   "kills": dict(chaos.kills), "deliveries": dict(chaos.deliveries), "backfill": chaos.backfilled,
                   "error_bodies": chaos.error_bodies,
                   "dead_lettered_under_faults": dead_before, "redrive": moved,
                   "units_finished_after_redrive": finished,
                   "driver_notes": [f"{u.platform} {getattr(u, 'order_id', None) or getattr(u, 'customer_id', None)}: {n}"
                                    for u in units for n in u.notes][:50],
                   "drive_seconds": round(driven, 1), "settled_seconds": round(settled, 1),
                   "events_per_second": round(events / driven, 1)})
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(result, indent=2, default=str))
    print(checks.table(result))
    print(f"[chaos] report: {args.report}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
