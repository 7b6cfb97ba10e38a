"""Kentico customers (`ecommerce.customer`, COM_Customer), as the Kentico simulator serves them.

REST: the generic object routes serve `GET /rest/ecommerce.customer/{id}`, the site listing with `where`,
`orderby` and `topn`, and `PUT /rest/ecommerce.customer/{id}` (the columns sent). A save moves
`CustomerLastModified` and, as the merchant's integration-bus connector subscribes to customers too,
posts Tally's signed task `{"TaskType":"UpdateObject","ObjectType":"ecommerce.customer","ObjectID":id}`.
Columns: KX13's COM_Customer (CustomerID, CustomerFirstName, CustomerLastName, CustomerEmail, CustomerPhone,
CustomerFax, CustomerCompany, CustomerUserID, CustomerGUID, CustomerTaxRegistrationID,
CustomerOrganizationID, CustomerLastModified, CustomerSiteID, CustomerCreated) and the custom field
`CustomerStripeID` the README asks merchants to add for the linked Stripe customer id.

Addresses are `ecommerce.address` objects (KX13's COM_Address: AddressID, AddressName, AddressLine1,
AddressLine2, AddressCity, AddressZip, AddressPhone, AddressCustomerID, AddressCountryID, AddressStateID,
AddressPersonalName, AddressGUID, AddressLastModified) naming `cms.country` (CountryTwoLetterCode) and
`cms.state` (StateCode, CountryID) rows by id. They are read, listed, changed with PUT and created with POST
(AddressName, AddressLine1, AddressCity, AddressZip, AddressPersonalName, AddressCustomerID and an existing
AddressCountryID required). `POST /rest/ecommerce.customer/site/{site}` makes a customer of the site.
Saving an address does not move its customer's CustomerLastModified; the
README's connector posts the customer's task for it (an address is part of its customer for Tally).

Control API (the shared one): POST /_sim/customers `{"email", "firstname", "lastname", "telephone"?,
"address"?: {"street": [..], "city", "postcode", "country_id", "region_code"?}, "notify"?}` -> `{"id"}`;
PATCH /_sim/customers/{id} (the same fields; an address changes the customer's latest one);
GET /_sim/customers/{id} -> `{"customer", "addresses", "summary": {"email", "name", "stripe_customer_id",
"updated_at", "address"}}`; POST /_sim/customers/{id}/webhook sends the task again."""

from __future__ import annotations

import copy
import uuid

from ._common import Request, Response, dumps, post_webhook

CUSTOMER = "ecommerce.customer"
ADDRESS = "ecommerce.address"
STRIPE_FIELD = "CustomerStripeID"
# cms.country: (id, two-letter code, name); cms.state: (id, code, name, country id)
COUNTRIES = [(1, "US", "United States"), (2, "CA", "Canada"), (3, "GB", "United Kingdom"), (4, "DE", "Germany"),
             (5, "JP", "Japan"), (6, "KW", "Kuwait")]
STATES = [(1, "TX", "Texas", 1), (2, "CA", "California", 1), (3, "NV", "Nevada", 1), (4, "NY", "New York", 1),
          (5, "ON", "Ontario", 2)]
ADDRESS_REQUIRED = ("AddressName", "AddressLine1", "AddressCity", "AddressZip", "AddressPersonalName")


class KenticoCustomers:
    """Mixed into KenticoSimulator: uses its lock, tables, webhooks and the helpers set on the class."""

    def customer_routes(self) -> None:
        s = self.sim
        s.add("POST", r"/_sim/customers", self.sim_create_customer)
        s.add("PATCH", r"/_sim/customers/(?P<id>\d+)", self.sim_patch_customer)
        s.add("GET", r"/_sim/customers/(?P<id>\d+)", self.sim_get_customer)
        s.add("POST", r"/_sim/customers/(?P<id>\d+)/webhook", self.sim_reemit_customer)

    def customer_tables(self, stamp) -> dict[str, dict[int, dict]]:
        return {ADDRESS: {},
                "cms.country": {i: {"CountryID": i, "CountryDisplayName": n, "CountryName": n.replace(" ", ""),
                                    "CountryTwoLetterCode": c, "CountryGUID": str(uuid.uuid4()),
                                    "CountryLastModified": stamp} for i, c, n in COUNTRIES},
                "cms.state": {i: {"StateID": i, "StateDisplayName": n, "StateName": n.replace(" ", ""), "StateCode": c,
                                  "CountryID": country, "StateGUID": str(uuid.uuid4()), "StateLastModified": stamp}
                              for i, c, n, country in STATES}}

    def address_row(self, address_id: int, customer_id: int) -> dict:
        return {"AddressID": address_id, "AddressName": "", "AddressLine1": "", "AddressLine2": None,
                "AddressCity": "", "AddressZip": "", "AddressPhone": None, "AddressCustomerID": customer_id,
                "AddressCountryID": 0, "AddressStateID": None, "AddressPersonalName": "",
                "AddressGUID": str(uuid.uuid4()), "AddressLastModified": self.now()}

    def customer_addresses(self, customer_id: int) -> list[dict]:
        """The customer's addresses, the latest-modified first (under the lock)."""
        return sorted((a for a in self.tables[ADDRESS].values() if a["AddressCustomerID"] == customer_id),
                      key=lambda a: (a["AddressLastModified"], a["AddressID"]), reverse=True)

    def check_address(self, row: dict) -> None:
        missing = [k for k in ADDRESS_REQUIRED if row.get(k) is None]  # NOT NULL columns
        if missing:
            raise self.KenticoError(400, f"Cannot insert the value NULL into column '{missing[0]}'.")
        if row["AddressCountryID"] not in self.tables["cms.country"]:
            raise self.KenticoError(400, f"AddressCountryID {row['AddressCountryID']} does not exist.")
        if row["AddressCustomerID"] not in self.tables[CUSTOMER]:
            raise self.KenticoError(400, f"AddressCustomerID {row['AddressCustomerID']} does not exist.")

    def create_address(self, fields: dict) -> dict:
        """The object API's insert of an address (REST POST), under the lock."""
        table = self.tables[ADDRESS]
        row = self.address_row(max(table, default=0) + 1, int(fields.get("AddressCustomerID") or 0))
        unknown = [k for k in fields if k not in row]
        if unknown:
            raise self.KenticoError(400, f"Unknown field(s) {', '.join(unknown)}.")
        row.update({k: v for k, v in fields.items() if k not in ("AddressID", "AddressGUID", "AddressLastModified")})
        self.check_address(row)
        table[row["AddressID"]] = row
        return row

    def _apply_address(self, customer_id: int, spec: dict) -> None:
        """A shopper's address book edit: the latest address changed, or a first one made."""
        countries = {c["CountryTwoLetterCode"]: i for i, c in self.tables["cms.country"].items()}
        country = countries.get(str(spec.get("country_id") or "").upper())
        if country is None:
            raise self.SimError(f"no cms.country with code {spec.get('country_id')!r}")
        state = next((i for i, st in self.tables["cms.state"].items() if st["CountryID"] == country
                      and st["StateCode"] == str(spec.get("region_code") or "").upper()), None)
        street = spec.get("street") or [""]
        customer = self.tables[CUSTOMER][customer_id]
        personal = f'{customer["CustomerFirstName"]} {customer["CustomerLastName"]}'.strip() or customer["CustomerEmail"]
        fields = {"AddressLine1": street[0], "AddressLine2": ", ".join(street[1:]) or None,
                  "AddressCity": spec.get("city") or "", "AddressZip": spec.get("postcode") or "",
                  "AddressCountryID": country, "AddressStateID": state, "AddressPersonalName": personal,
                  "AddressName": f'{personal}, {street[0]}, {spec.get("city") or ""}', "AddressCustomerID": customer_id}
        found = self.customer_addresses(customer_id)
        if found:
            found[0].update(fields)
            self.check_address(found[0])
            found[0]["AddressLastModified"] = self.now()
        else:
            self.create_address(fields)

    def address_summary(self, row: dict | None) -> dict | None:
        if row is None:
            return None
        country = self.tables["cms.country"].get(row["AddressCountryID"]) or {}
        state = self.tables["cms.state"].get(row["AddressStateID"] or 0) or {}
        return {"line1": row["AddressLine1"], "line2": row["AddressLine2"], "city": row["AddressCity"],
                "postal_code": row["AddressZip"], "country": country.get("CountryTwoLetterCode"),
                "state": state.get("StateCode")}

    def customer_row(self, customer_id: int) -> dict:
        stamp = self.now()
        return {"CustomerID": customer_id, "CustomerFirstName": "", "CustomerLastName": "", "CustomerEmail": "",
                "CustomerPhone": "", "CustomerFax": "", "CustomerCompany": "", "CustomerUserID": None,
                "CustomerGUID": str(uuid.uuid4()), "CustomerTaxRegistrationID": "", "CustomerOrganizationID": "",
                "CustomerLastModified": stamp, "CustomerSiteID": self.SITE_ID, "CustomerCreated": stamp,
                STRIPE_FIELD: ""}

    def create_customer_object(self, fields: dict) -> dict:
        """The object API's insert of a customer (REST POST, the site's), under the lock."""
        table = self.tables[CUSTOMER]
        row = self.customer_row(max(table, default=0) + 1)
        unknown = [k for k in fields if k not in row]
        if unknown:
            raise self.KenticoError(400, f"Unknown field(s) {', '.join(unknown)}.")
        row.update({k: v for k, v in fields.items() if k not in ("CustomerID", "CustomerGUID", "CustomerSiteID")})
        table[row["CustomerID"]] = row
        return row

    def _apply(self, row: dict, spec: dict) -> None:
        """The customer's own columns; an edit of the address alone leaves the customer row as it was."""
        touched = False
        for field, column in (("email", "CustomerEmail"), ("firstname", "CustomerFirstName"),
                              ("lastname", "CustomerLastName"), ("telephone", "CustomerPhone")):
            if field in spec:
                row[column] = spec[field]
                touched = True
        if touched:
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
            if spec.get("address"):
                self._apply_address(customer_id, spec["address"])
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
            if spec.get("address"):
                self._apply_address(int(id), spec["address"])
            answer = copy.deepcopy(row)
        if spec.get("notify", True):
            self.emit_customer(int(id))
        return self.json(200, answer)

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            row = self.tables[CUSTOMER].get(int(id))
            if row is None:
                return self.json(404, {"error": "no such customer"})
            addresses = self.customer_addresses(int(id))
            summary = {"email": row["CustomerEmail"], "name": f'{row["CustomerFirstName"]} {row["CustomerLastName"]}',
                       "stripe_customer_id": row[STRIPE_FIELD] or None, "updated_at": row["CustomerLastModified"],
                       "address": self.address_summary(addresses[0] if addresses else None)}
            return self.json(200, {"customer": copy.deepcopy(row), "addresses": copy.deepcopy(addresses),
                                   "summary": summary})

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
