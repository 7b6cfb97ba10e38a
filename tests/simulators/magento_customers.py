"""Magento customers, as the Magento simulator serves them (facts: ../shared/platforms/magento.md §3).

REST (the integration token, resource Magento_Customer::manage):
- GET /V1/customers/{id}: `customer-data-customer-interface` (id, email, firstname, lastname, website_id,
  store_id, created_at, updated_at, default_billing, addresses[], custom_attributes[]).
- PUT /V1/customers/{id} `{"customer": {...}}`: replaces the record (addresses included, as sent); email,
  firstname and lastname are required, the email must be valid and unused on the website; stamps updated_at.
- GET /V1/customers/search (searchCriteria, e.g. email or updated_at).
- POST /V1/customers `{"customer": {...}}`: a new customer, checked as PUT is; answers the saved record.

Control API (the shared one every platform simulator offers):
- POST /_sim/customers `{"email", "firstname", "lastname", "telephone"?, "address"?: {"street": [...],
  "city", "postcode", "country_id", "region_code"}, "notify"?}` -> `{"id"}`: a shopper registering. The
  email is not validated here, as a record imported straight into the database is not.
- PATCH /_sim/customers/{id} (the same fields) -> the customer: an edit in the Admin or My Account.
- GET /_sim/customers/{id} -> `{"customer": native, "summary": {"email", "name", "stripe_customer_id", "updated_at",
  "address"}}` (the default billing address),
  the Stripe id being the `stripe_customer_id` attribute Tally writes.
- POST /_sim/customers/{id}/webhook: the save event sent again (a duplicate delivery).
- GET /_sim/customers[?email=]: the customers, or those with that email (any case).

Every save (REST or control) is sent to the webhook targets as Adobe Commerce's signed
`observer.customer_save_after`, carrying the saved customer."""

from __future__ import annotations

import copy
import re

from . import _search
from ._common import Request, Response, dumps, json_response, magento_time, post_webhook

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SAVE_EVENT = "observer.customer_save_after"
STRIPE_ATTRIBUTE = "stripe_customer_id"


class Customers:
    """Mixed into MagentoSimulator: uses its lock, ids, request helpers, `Error` and webhook signing."""

    def customer_routes(self, authed) -> None:
        self.customers: dict[int, dict] = {}
        self.rest.add("GET", r"customers/search", authed("Magento_Customer::manage", self.search_customers))
        self.rest.add("POST", r"customers", authed("Magento_Customer::manage", self.post_customer))
        self.rest.add("GET", r"customers/(?P<id>[^/]+)", authed("Magento_Customer::manage", self.get_customer))
        self.rest.add("PUT", r"customers/(?P<id>[^/]+)", authed("Magento_Customer::manage", self.put_customer))
        self.sim.add("POST", r"/_sim/customers", self.sim_create_customer)
        self.sim.add("GET", r"/_sim/customers", self.sim_list_customers)
        self.sim.add("PATCH", r"/_sim/customers/(?P<id>\d+)", self.sim_patch_customer)
        self.sim.add("GET", r"/_sim/customers/(?P<id>\d+)", self.sim_get_customer)
        self.sim.add("POST", r"/_sim/customers/(?P<id>\d+)/webhook", self.sim_reemit_customer)

    def customer_or_404(self, customer_id: int) -> dict:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise self.Error(404, 'No such entity with %fieldName = %fieldValue',
                             {"fieldName": "customerId", "fieldValue": customer_id})
        return customer

    def get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            return json_response(200, copy.deepcopy(self.customer_or_404(self.entity_id(id))), php=True)

    def search_customers(self, req: Request) -> Response:
        criteria = _search.parse(req.params)
        with self.lock:
            # the customer collection's id field is entity_id; the data interface calls it id
            rows = [dict(copy.deepcopy(c), entity_id=c["id"]) for c in self.customers.values()]
        items, total = _search.run(rows, criteria)
        for item in items:
            item.pop("entity_id", None)
        return json_response(200, {"items": items, "search_criteria": _search.echo(criteria), "total_count": total},
                             php=True)

    def _checked(self, sent) -> dict:
        if not isinstance(sent, dict):
            raise self.Error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "customer"})
        for field in ("email", "firstname", "lastname"):
            if not isinstance(sent.get(field), str) or not sent[field].strip():
                raise self.Error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": field})
        if not EMAIL.match(sent["email"]):
            raise self.Error(400, '"%fieldName" is not a valid email address.', {"fieldName": "Email"})
        return sent

    def _email_taken(self, email: str, other_than: int | None) -> None:
        if any(c["email"].lower() == email.lower() and c["id"] != other_than for c in self.customers.values()):
            raise self.Error(400, "A customer with the same email address already exists in an associated website.")

    def post_customer(self, req: Request) -> Response:
        """CustomerRepository::save of a new customer (AccountManagement::createAccount without a password)."""
        sent = self._checked(self.body(req).get("customer"))
        with self.lock:
            self._email_taken(sent["email"], None)
            customer_id = self.new_id("customer")
            now = magento_time()
            customer = {"id": customer_id, "group_id": 1, "email": sent["email"], "firstname": sent["firstname"],
                        "lastname": sent["lastname"], "website_id": sent.get("website_id", 1), "store_id": 1,
                        "created_at": now, "updated_at": now, "created_in": "Default Store View", "addresses": [],
                        "custom_attributes": copy.deepcopy(sent.get("custom_attributes") or []),
                        "disable_auto_group_change": 0, "extension_attributes": {"is_subscribed": False}}
            self.customers[customer_id] = customer
            answer = copy.deepcopy(customer)
        self.emit_customer(customer_id)
        return json_response(200, answer, php=True)

    def sim_list_customers(self, req: Request) -> Response:
        email = (req.arg("email") or "").lower()
        with self.lock:
            found = [copy.deepcopy(c) for c in self.customers.values() if not email or c["email"].lower() == email]
        return json_response(200, {"items": found})

    def put_customer(self, req: Request, id: str) -> Response:
        customer_id = self.entity_id(id)
        sent = self._checked(self.body(req).get("customer"))
        with self.lock:
            current = self.customer_or_404(customer_id)
            self._email_taken(sent["email"], customer_id)
            saved = copy.deepcopy(current)
            for field in ("email", "firstname", "lastname", "default_billing", "custom_attributes"):
                if field in sent:
                    saved[field] = copy.deepcopy(sent[field])
            if "addresses" in sent:
                saved["addresses"] = [self._address(a, saved, n) for n, a in enumerate(sent["addresses"] or [])]
            saved["updated_at"] = magento_time()
            self.customers[customer_id] = saved
            answer = copy.deepcopy(saved)
        self.emit_customer(customer_id)
        return json_response(200, answer, php=True)

    def _address(self, sent: dict, customer: dict, n: int) -> dict:
        if not isinstance(sent, dict):
            raise self.Error(400, f"addresses[{n}] must be an object")
        address = copy.deepcopy(sent)
        address.setdefault("id", self.new_id("address"))
        address["customer_id"] = customer["id"]
        return address

    # --- the control API ---

    def _apply(self, customer: dict, spec: dict) -> None:
        for field in ("email", "firstname", "lastname"):
            if field in spec:
                customer[field] = spec[field]
        if "telephone" in spec or "address" in spec:
            address = next((a for a in customer["addresses"] if a.get("default_billing")), None)
            if address is None:
                address = {"id": self.new_id("address"), "customer_id": customer["id"], "default_billing": True,
                           "default_shipping": True, "firstname": customer["firstname"],
                           "lastname": customer["lastname"], "street": [], "city": None, "postcode": None,
                           "country_id": None, "telephone": None}
                customer["addresses"].append(address)
                customer["default_billing"] = str(address["id"])
            if "telephone" in spec:
                address["telephone"] = spec["telephone"]
            parts = spec.get("address") or {}
            for field in ("street", "city", "postcode", "country_id"):
                if field in parts:
                    address[field] = parts[field]
            if "region_code" in parts:
                address["region"] = {"region_code": parts["region_code"], "region": parts["region_code"]}
        customer["updated_at"] = magento_time()

    def sim_create_customer(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict) or not spec.get("email"):
            raise self.SimError("email is required")
        with self.lock:
            customer_id = self.new_id("customer")
            now = magento_time()
            customer = {"id": customer_id, "group_id": 1, "email": spec["email"],
                        "firstname": spec.get("firstname") or "Jane", "lastname": spec.get("lastname") or "Doe",
                        "website_id": 1, "store_id": 1, "created_at": now, "updated_at": now,
                        "created_in": "Default Store View", "addresses": [], "custom_attributes": [],
                        "disable_auto_group_change": 0, "extension_attributes": {"is_subscribed": False}}
            self._apply(customer, spec)
            self.customers[customer_id] = customer
        if spec.get("notify", True):
            self.emit_customer(customer_id)
        return json_response(201, {"id": str(customer_id)})

    def sim_patch_customer(self, req: Request, id: str) -> Response:
        spec = req.json() or {}
        with self.lock:
            customer = self.customers.get(int(id))
            if customer is None:
                return json_response(404, {"error": "no such customer"})
            self._apply(customer, spec)
            answer = copy.deepcopy(customer)
        if spec.get("notify", True):
            self.emit_customer(int(id))
        return json_response(200, answer)

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            customer = self.customers.get(int(id))
            if customer is None:
                return json_response(404, {"error": "no such customer"})
            linked = next((a.get("value") for a in customer.get("custom_attributes") or []
                           if a.get("attribute_code") == STRIPE_ATTRIBUTE), None)
            billing = next((a for a in customer["addresses"] if a.get("default_billing")), None)
            address = None if billing is None else {
                "line1": (billing.get("street") or [None])[0], "line2": ", ".join(billing.get("street", [])[1:]) or None,
                "city": billing.get("city"), "postal_code": billing.get("postcode"), "country": billing.get("country_id"),
                "state": (billing.get("region") or {}).get("region_code")}
            summary = {"email": customer["email"], "name": f'{customer["firstname"]} {customer["lastname"]}',
                       "stripe_customer_id": linked, "updated_at": customer["updated_at"], "address": address}
            return json_response(200, {"customer": copy.deepcopy(customer), "summary": summary})

    def sim_reemit_customer(self, req: Request, id: str) -> Response:
        """Sends the customer's save event again, as a webhook retry or a duplicate would."""
        with self.lock:
            if int(id) not in self.customers:
                return json_response(404, {"error": "no such customer"})
        results = self.emit_customer(int(id))
        return json_response(200, {"deliveries": results})

    def emit_customer(self, customer_id: int) -> list[dict]:
        """The saved customer to each webhook target, outside the lock (a receiver may call back)."""
        with self.lock:
            payload = {"eventName": SAVE_EVENT, "data": {"customer": copy.deepcopy(self.customers[customer_id])}}
            targets = self.targets_for(SAVE_EVENT)
        if not targets:
            return []
        body = dumps(payload, php=True).encode()
        signature = self.sign_webhook(self.private_key_pem, body)
        results = [{"customer_id": customer_id, **post_webhook(url, body, {self.SIGNATURE_HEADER: signature},
                                                               self.webhook_timeout)} for url in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results
