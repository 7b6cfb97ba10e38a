"""Kentico customers (`ecommerce.customer`, COM_Customer), as the Kentico simulator serves them.

REST: the generic object routes serve `GET /rest/ecommerce.customer/{id}`, the site listing with `where`,
`orderby` and `topn`, and `PUT /rest/ecommerce.customer/{id}` (the columns sent). A save moves
`CustomerLastModified` and, as the merchant's integration-bus connector subscribes to customers too,
posts Tally's signed task `{"TaskType":"UpdateObject","ObjectType":"ecommerce.customer","ObjectID":id}`.
Columns: KX13's COM_Customer (CustomerID, CustomerFirstName, CustomerLastName, CustomerEmail, CustomerPhone,
CustomerFax, CustomerCompany, CustomerUserID, CustomerGUID, CustomerTaxRegistrationID,
CustomerOrganizationID, CustomerLastModified, CustomerSiteID, CustomerCreated) and the custom field
`CustomerStripeID` the README asks merchants to add for the linked Stripe customer id.

Control API (the shared one): POST /_sim/customers `{"email", "firstname", "lastname", "telephone"?,
"notify"?}` -> `{"id"}`; PATCH /_sim/customers/{id} (the same fields); GET /_sim/customers/{id} ->
`{"customer", "summary": {"email", "name", "stripe_customer_id", "updated_at"}}`;
POST /_sim/customers/{id}/webhook sends the task again."""

from __future__ import annotations

import copy
import uuid

from ._common import Request, Response, dumps, post_webhook

CUSTOMER = "ecommerce.customer"
STRIPE_FIELD = "CustomerStripeID"


class KenticoCustomers:
    """Mixed into KenticoSimulator: uses its lock, tables, webhooks and the helpers set on the class."""

    def customer_routes(self) -> None:
        s = self.sim
        s.add("POST", r"/_sim/customers", self.sim_create_customer)
        s.add("PATCH", r"/_sim/customers/(?P<id>\d+)", self.sim_patch_customer)
        s.add("GET", r"/_sim/customers/(?P<id>\d+)", self.sim_get_customer)
        s.add("POST", r"/_sim/customers/(?P<id>\d+)/webhook", self.sim_reemit_customer)

    def customer_row(self, customer_id: int) -> dict:
        stamp = self.now()
        return {"CustomerID": customer_id, "CustomerFirstName": "", "CustomerLastName": "", "CustomerEmail": "",
                "CustomerPhone": "", "CustomerFax": "", "CustomerCompany": "", "CustomerUserID": None,
                "CustomerGUID": str(uuid.uuid4()), "CustomerTaxRegistrationID": "", "CustomerOrganizationID": "",
                "CustomerLastModified": stamp, "CustomerSiteID": self.SITE_ID, "CustomerCreated": stamp,
                STRIPE_FIELD: ""}

    def _apply(self, row: dict, spec: dict) -> None:
        for field, column in (("email", "CustomerEmail"), ("firstname", "CustomerFirstName"),
                              ("lastname", "CustomerLastName"), ("telephone", "CustomerPhone")):
            if field in spec:
                row[column] = spec[field]
        row["CustomerLastModified"] = self.now()

    def customer_saved(self, row: dict) -> None:
        """The object API's save: called by the generic PUT for customers, under the lock."""
        row["CustomerLastModified"] = self.now()

    def sim_create_customer(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict) or not spec.get("email"):
            raise self.SimError("email is required")
        with self.lock:
            table = self.tables[CUSTOMER]
            customer_id = max(table, default=0) + 1
            row = self.customer_row(customer_id)
            self._apply(row, spec)
            table[customer_id] = row
        if spec.get("notify", True):
            self.emit_customer(customer_id, "CreateObject")
        return self.json(201, {"id": str(customer_id)})

    def sim_patch_customer(self, req: Request, id: str) -> Response:
        spec = req.json() or {}
        with self.lock:
            row = self.tables[CUSTOMER].get(int(id))
            if row is None:
                return self.json(404, {"error": "no such customer"})
            self._apply(row, spec)
            answer = copy.deepcopy(row)
        if spec.get("notify", True):
            self.emit_customer(int(id))
        return self.json(200, answer)

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            row = self.tables[CUSTOMER].get(int(id))
            if row is None:
                return self.json(404, {"error": "no such customer"})
            summary = {"email": row["CustomerEmail"], "name": f'{row["CustomerFirstName"]} {row["CustomerLastName"]}',
                       "stripe_customer_id": row[STRIPE_FIELD] or None, "updated_at": row["CustomerLastModified"]}
            return self.json(200, {"customer": copy.deepcopy(row), "summary": summary})

    def sim_reemit_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            if int(id) not in self.tables[CUSTOMER]:
                return self.json(404, {"error": "no such customer"})
        return self.json(200, {"deliveries": self.emit_customer(int(id))})

    def emit_customer(self, customer_id: int, task: str = "UpdateObject") -> list[dict]:
        """The connector's signed customer task to each target, outside the lock."""
        with self.lock:
            targets = list(self.webhooks)
        body = dumps({"TaskType": task, "ObjectType": CUSTOMER, "ObjectID": customer_id}).encode()
        results = [{"customer_id": customer_id, **post_webhook(t["url"], body,
                                                               {"X-Tally-Signature": self.sign_task(t["secret"], body)}, 30)}
                   for t in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results
