"""One driver per platform simulator, so the end-to-end tests and the demo drive
every platform the same way through the simulators' shared control API
(`/_sim/orders`, `/_sim/orders/{id}` with its `summary`, `/_sim/orders/{id}/webhook`,
`/_sim/faults`, `/_sim/requests`). What differs between platforms is data here:
which request reads an order, which one records a payment, how a poll lists."""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Route:
    """A platform request as the simulator's fault and request-log filters see it."""
    method: str
    path: str


class PlatformSim:
    name: str
    title: str
    store: str
    poller_key: str
    # the payment method Tally does not collect, as this platform names it
    other_payment_method: str
    # the text a simulated 400 carries, as the platform's error body renders it
    bad_request_text: str
    # whether a recorded payment carries the Stripe charge id as the platform's transaction id
    records_transaction_id: bool

    # whether the platform sends an event when a customer is saved; where it does not, the stack sets
    # `customer_poll` to run Tally's poll, which is how that platform's customers reach Tally
    customer_events = True

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.customer_poll = None

    def _customer_saved(self, notify: bool) -> None:
        if notify and not self.customer_events and self.customer_poll:
            self.customer_poll()

    def sim(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.base}/_sim/{path}", timeout=60, **kw)

    def place_order(self, currency: str = "USD", items=None, notify: bool = True,
                    payment_method: str = "stripe_payments", **extra) -> dict:
        """Places an order; answers {"id", "number", ...}. `notify` sends the platform's order event."""
        spec = {
            "currency": currency,
            "items": items or [{"sku": "TEE-BLK-M", "name": "Black tee", "qty": 2, "price": "19.99"}],
            "customer": {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"},
            "payment_method": payment_method, "notify": notify, **extra,
        }
        r = self.sim("POST", "orders", json=spec)
        r.raise_for_status()
        return r.json()

    def create_customer(self, email: str, firstname: str, lastname: str, notify: bool = True, **extra) -> str:
        """A shopper registering; answers the platform's customer id. `notify` sends its customer event."""
        r = self.sim("POST", "customers", json={"email": email, "firstname": firstname, "lastname": lastname,
                                                "notify": notify, **extra})
        r.raise_for_status()
        self._customer_saved(notify)
        return r.json()["id"]

    def edit_customer(self, customer_id, notify: bool = True, **fields) -> dict:
        r = self.sim("PATCH", f"customers/{customer_id}", json={"notify": notify, **fields})
        r.raise_for_status()
        self._customer_saved(notify)
        return r.json()

    def customer(self, customer_id) -> dict:
        """`{"customer": native record, "summary": {"email", "name", "stripe_customer_id", ...}}`."""
        r = self.sim("GET", f"customers/{customer_id}")
        r.raise_for_status()
        return r.json()

    def announce_customer(self, customer_id) -> dict:
        """Sends the customer's event again (a duplicate delivery); with no events, runs the poll again."""
        if not self.customer_events:
            return self.customer_poll() if self.customer_poll else {}
        r = self.sim("POST", f"customers/{customer_id}/webhook")
        r.raise_for_status()
        return r.json()

    def order(self, order_id) -> dict:
        r = self.sim("GET", f"orders/{order_id}")
        r.raise_for_status()
        return r.json()

    def summary(self, order_id) -> dict:
        return self.order(order_id)["summary"]

    def webhook_deliveries(self, order_id) -> list[dict]:
        """The platform's webhook calls for the order: [{"time", "status", ...}]."""
        found = self.sim("GET", "webhooks").json().get("deliveries", [])
        return [d for d in found if str(d.get("order_id")) == str(order_id)]

    def announce(self, order_id) -> int:
        """Sends the platform's order event for the order again; the receiver's HTTP status."""
        return self.sim("POST", f"orders/{order_id}/webhook").json()["status"]

    def requests_log(self, **query) -> list:
        return self.sim("GET", "requests", params=query).json()["requests"]

    def fault(self, route: Route, **spec) -> None:
        self.sim("POST", "faults", json={"method": route.method, "path_contains": route.path, **spec}).raise_for_status()

    def clear_faults(self) -> None:
        self.sim("DELETE", "faults")

    # --- what differs ---

    def read(self, order_id) -> Route:
        raise NotImplementedError

    def payment_write(self, order_id) -> Route:
        """The first call that records a payment on the order."""
        raise NotImplementedError

    def listing(self) -> Route:
        """The poller's list call."""
        raise NotImplementedError

    def notes(self, order_id) -> list[dict]:
        """The order's comments or notes: [{"text", "notified", "status", "at"}], oldest first."""
        raise NotImplementedError

    def customer_write(self, customer_id) -> Route:
        """The call that saves a customer."""
        raise NotImplementedError

    def customer_phone(self, customer_id) -> str | None:
        raise NotImplementedError

    def customer_writes(self, customer_id) -> list[dict]:
        """The requests that saved this customer, as the simulator logged them."""
        route = self.customer_write(customer_id)
        return [r for r in self.requests_log(path_contains=route.path, method=route.method)
                if r["path"].endswith(route.path)]


class MagentoSim(PlatformSim):
    name, store, poller_key = "magento", "default", "MAGENTO_POLLER_FUNCTION"
    title = "Magento"
    # what a refund made on the platform is called there
    refund_record = "credit memo"
    # an invoice through REST cannot set the payment's last_trans_id: the charge goes in a comment
    records_transaction_id = False
    other_payment_method, bad_request_text = "checkmo", "Simulated bad request"

    def __init__(self, base: str, store: str = "default"):
        super().__init__(base)
        self.store = store

    def place_order(self, currency="USD", items=None, notify=True, payment_method="stripe_payments", **extra):
        return super().place_order(currency, items, notify, payment_method,
                                   **{"shipping_amount": "0", "tax_amount": "0", **extra})

    def read(self, order_id) -> Route:
        return Route("GET", f"/orders/{order_id}")

    def payment_write(self, order_id) -> Route:
        return Route("POST", f"/order/{order_id}/invoice")

    def listing(self) -> Route:
        return Route("GET", "/V1/orders")

    def refund_note_route(self, refund_id) -> Route:
        """The call naming the Stripe refund on a credit memo."""
        return Route("POST", f"/creditmemo/{refund_id}/comments")

    def customer_write(self, customer_id) -> Route:
        return Route("PUT", f"/V1/customers/{customer_id}")

    def customer_phone(self, customer_id) -> str | None:
        # Magento keeps the phone on the default billing address
        addresses = self.customer(customer_id)["customer"]["addresses"]
        return addresses[0].get("telephone") if addresses else None

    def notes(self, order_id) -> list[dict]:
        histories = self.order(order_id)["order"]["status_histories"]
        return [{"text": h.get("comment") or "", "notified": h.get("is_customer_notified") in (1, True),
                 "status": h.get("status"), "at": h.get("created_at")} for h in reversed(histories)]


class ZnodeSim(PlatformSim):
    name, store, poller_key = "znode", "1", "ZNODE_POLLER_FUNCTION"
    title = "Znode"
    refund_record = "return"
    records_transaction_id = True
    other_payment_method, bad_request_text = "cod", "Simulated failure"

    def read(self, order_id) -> Route:
        return Route("GET", f"/orders/{order_id}")

    def payment_write(self, order_id) -> Route:
        # Znode changes payment status and transaction id through GETs
        return Route("GET", f"/orders/updateordertransactionid/{order_id}/")

    def listing(self) -> Route:
        return Route("GET", "/orders/list")

    def refund_note_route(self, refund_id) -> Route:
        """The call moving a return to Refund Processed with the note naming the Stripe refund."""
        return Route("POST", "/rmareturn/submitorderreturn")

    def notes(self, order_id) -> list[dict]:
        return [{"text": n["Notes"], "notified": False, "status": None, "at": n["CreatedDate"]}
                for n in self.order(order_id)["order"]["OrderNotes"]]

    # Znode 9.x sends no customer events: Tally's poll reads customers
    customer_events = False

    def customer_write(self, customer_id) -> Route:
        # one route saves every user, the whole row in the body
        return Route("PUT", "/customeraccount/updatecustomer")

    def customer_writes(self, customer_id) -> list[dict]:
        def user_of(body) -> str:
            body = json.loads(body) if isinstance(body, str) and body else body
            return str(body.get("UserId")) if isinstance(body, dict) else ""
        return [r for r in super().customer_writes(customer_id) if user_of(r["body"]) == str(customer_id)]

    def customer_phone(self, customer_id) -> str | None:
        return self.customer(customer_id)["customer"]["PhoneNumber"] or None


class KenticoSim(PlatformSim):
    name, store, poller_key = "kentico", "DancingGoat", "KENTICO_POLLER_FUNCTION"
    title = "Kentico"
    refund_record = "refund request"
    # the payment result Tally writes carries the charge id as `transactionid`
    records_transaction_id = True
    other_payment_method, bad_request_text = "cod", "Simulated failure"

    def read(self, order_id) -> Route:
        return Route("GET", f"/rest/ecommerce.order/{order_id}")

    def payment_write(self, order_id) -> Route:
        # Kentico changes an order with one PUT of its fields (notes included)
        return Route("PUT", f"/rest/ecommerce.order/{order_id}")

    def listing(self) -> Route:
        return Route("GET", "/rest/ecommerce.order/site/")

    def customer_write(self, customer_id) -> Route:
        return Route("PUT", f"/rest/ecommerce.customer/{customer_id}")

    def customer_phone(self, customer_id) -> str | None:
        return self.customer(customer_id)["customer"]["CustomerPhone"] or None

    def refund_note_route(self, refund_id) -> Route:
        """The call writing the Stripe refund id onto the refund request row."""
        return Route("PUT", f"/rest/customtableitem.tally.refund/{refund_id}")

    def notes(self, order_id) -> list[dict]:
        order = self.order(order_id)["order"]
        return [{"text": line, "notified": False, "status": None, "at": order["OrderLastModified"]}
                for line in (order.get("OrderNote") or "").splitlines() if line.strip()]


class RestStoreSim(PlatformSim):
    """A declarative platform's store (tests/simulators/rest_store.py), in one preset's shape."""
    title = "REST store"
    refund_record = "refund"
    records_transaction_id = True
    other_payment_method, bad_request_text = "cod", "Simulated failure"
    orders_path = customers_path = ""

    def read(self, order_id) -> Route:
        return Route("GET", f"{self.orders_path}/{order_id}")

    def payment_write(self, order_id) -> Route:
        return Route("POST", f"{self.orders_path}/{order_id}/payments")

    def listing(self) -> Route:
        # the store matches faults with the query: only the listing has one
        return Route("GET", f"{self.orders_path}?")

    def refund_note_route(self, refund_id) -> Route:
        """The call naming the Stripe refund on the store's refund record."""
        return Route("PATCH", f"/refunds/{refund_id}")

    def notes(self, order_id) -> list[dict]:
        return [{"text": n["text"], "notified": n["notified"], "status": None, "at": n["at"]}
                for n in self.summary(order_id)["notes"]]

    customer_method = "PUT"

    def customer_write(self, customer_id) -> Route:
        return Route(self.customer_method, f"{self.customers_path}/{customer_id}")

    def customer_phone(self, customer_id) -> str | None:
        return self.customer(customer_id)["summary"]["phone"]


class ClaritySim(RestStoreSim):
    name, store, poller_key = "clarity", "default", "CLARITY_POLLER_FUNCTION"
    title = "Clarity"
    orders_path, customers_path = "/api/v1/orders", "/api/v1/customers"


class StorefrontSim(RestStoreSim):
    name, store, poller_key = "storefront", "main", "STOREFRONT_POLLER_FUNCTION"
    title = "storefront"
    orders_path, customers_path = "/v2/orders", "/v2/customers"
    customer_method = "PATCH"


def platforms_of(env: dict) -> dict[str, PlatformSim]:
    """The platforms a local stack serves (`TALLY_PLATFORMS` in its env file)."""
    known = {"magento": lambda: MagentoSim(env["MAGENTO_BASE_URL"], env.get("MAGENTO_STORE_CODE", "default")),
             "znode": lambda: ZnodeSim(env["ZNODE_BASE_URL"]),
             "kentico": lambda: KenticoSim(env["KENTICO_BASE_URL"]),
             "clarity": lambda: ClaritySim(env["CLARITY_BASE_URL"]),
             "storefront": lambda: StorefrontSim(env["STOREFRONT_BASE_URL"])}
    names = [n.strip() for n in env.get("TALLY_PLATFORMS", "magento").split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RuntimeError(f"no simulator driver for {unknown}: {json.dumps(names)}")
    return {n: known[n]() for n in names}
