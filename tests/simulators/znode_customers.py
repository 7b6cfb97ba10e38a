"""Znode users (`ZnodeUser`), as the Znode simulator serves them (facts: ../shared/platforms/znode.md §1.8).

GET useraccounts/{userId}/{portalId} answers `{"User": UserModel}` (204 when there is none).
PUT customeraccount/updatecustomer is UserService.UpdateCustomer(model, true): the model sent becomes the
whole ZnodeUser row (`_userRepository.Update(model.ToEntity<ZnodeUser>())`), so a column left out is
cleared, and a row without its CreatedDate fails in SQL (DateTime.MinValue), a 500; the save moves
ModifiedDate. GET customeraccount/list/{loggedUserAccountId} runs Znode_AdminUsers for the portals of that
admin: `filter=key~op~value,...` over its columns (dates to the minute), `sort=key~dir`, `page=index~n,size~m`,
rows with the procedure's columns only (no Custom1..5); an unknown column fails in its SQL (500).
Znode 9.x sends no customer events. A guest checkout leaves a ZnodeUser without AspNetUserId; an order
names its user (`UserId`).

Addresses are ZnodeAddress rows mapped to users by ZnodeUserAddress (CustomerService): GET customer/addresslist
(`filter` userid/addressid, AddressModels with UserId and UserAddressId: `{"AddressList": [...]}`);
POST customer/createcustomeraddress (UserId >= 1, else 500; a default billing address clears the user's other
defaults; answers `{"Address"}`); PUT customer/updatecustomeraddress (AddressId >= 1; the model sent becomes the
whole row, a missing CreatedDate failing in SQL; ModifiedDate moves). GET address/list (AddressService) lists
ZnodeAddress rows with `filter`/`sort`/`page` over their columns. Saving an address does not touch its user's
row. Znode keeps the country's two-letter code in CountryName and the state's code in StateName.

Control API (the shared one): POST /_sim/customers `{"email", "firstname", "lastname", "telephone"?,
"address"?: {"street": [..], "city", "postcode", "country_id", "region_code"?}}` -> `{"id"}`;
PATCH /_sim/customers/{id} (the same fields; an address changes the default billing one, or makes it);
GET /_sim/customers?email= -> `{"items"}`; GET /_sim/customers/{id} -> `{"customer", "addresses",
"summary": {"email", "name", "stripe_customer_id", "updated_at", "address"}}`;
POST /_sim/customers/{id}/webhook answers 409: Znode has no customer event to send (Tally's poll reads
customers). `notify` is accepted and does nothing, for the same reason."""

from __future__ import annotations

import copy
import math
import uuid

from ._common import Request, Response, json_response, magento_time

ADMIN_USER_ID = 2  # the portal's admin, whose id the list is asked as
STRIPE_FIELD = "Custom1"  # the column the local stack gives the Stripe customer id
USER_COLUMNS = ("UserId", "AccountId", "AspNetUserId", "FirstName", "LastName", "MiddleName", "CustomerPaymentGUID",
                "BudgetAmount", "Email", "PhoneNumber", "EmailOptIn", "ReferralStatus", "ReferralCommission",
                "ReferralCommissionTypeId", "IsActive", "ExternalId", "IsShowMessage", "CreatedBy", "CreatedDate",
                "ModifiedBy", "ModifiedDate", "Custom1", "Custom2", "Custom3", "Custom4", "Custom5", "IsVerified",
                "MediaId", "UserVerificationType", "UserName", "SMSOptIn")
ADDRESS_COLUMNS = ("AddressId", "Address1", "Address2", "Address3", "CountryName", "StateName", "CityName",
                   "PostalCode", "PhoneNumber", "Mobilenumber", "AlternateMobileNumber", "FaxNumber", "IsDefaultBilling",
                   "IsDefaultShipping", "IsActive", "ExternalId", "CompanyName", "DisplayName", "FirstName", "LastName",
                   "IsShipping", "IsBilling", "EmailAddress", "CreatedBy", "CreatedDate", "ModifiedBy", "ModifiedDate")
ADDRESS_LIST_COLUMNS = {c.lower(): c for c in ADDRESS_COLUMNS}
# Znode_AdminUsers' result columns a filter or sort may name (lower-cased)
LIST_COLUMNS = {"userid": "UserId", "aspnetuserid": "AspNetUserId", "username": "UserName", "firstname": "FirstName",
                "lastname": "LastName", "email": "Email", "phonenumber": "PhoneNumber", "createddate": "CreatedDate",
                "modifieddate": "ModifiedDate", "externalid": "ExternalId", "isactive": "IsActive",
                "portalid": "PortalId"}


class Customers:
    """Mixed into ZnodeSimulator: uses its lock, `ZnodeError`, `envelope`, `compare` (set at module end of znode.py)."""

    def customer_routes(self) -> None:
        r, s = self.rest, self.sim
        r.add("GET", r"/useraccounts/(?P<id>\d+)/(?P<portal>\d+)", self.get_user)
        r.add("PUT", r"/customeraccount/updatecustomer", self.update_user)
        r.add("GET", r"/customeraccount/list/(?P<admin>\d+)", self.list_users)
        r.add("GET", r"/customer/addresslist", self.user_address_list)
        r.add("POST", r"/customer/createcustomeraddress", self.create_address)
        r.add("PUT", r"/customer/updatecustomeraddress", self.update_address)
        r.add("GET", r"/address/list", self.address_list)
        s.add("POST", r"/_sim/customers", self.sim_create_customer)
        s.add("GET", r"/_sim/customers", self.sim_find_customers)
        s.add("PATCH", r"/_sim/customers/(?P<id>\d+)", self.sim_patch_customer)
        s.add("GET", r"/_sim/customers/(?P<id>\d+)", self.sim_get_customer)
        s.add("POST", r"/_sim/customers/(?P<id>\d+)/webhook",
              lambda req, id: json_response(409, {"error": "Znode 9.x sends no customer events; Tally polls customers"}))

    def reset_customers(self) -> None:
        self.users: dict[int, dict] = {}
        self.next_user = 100
        self.addresses: dict[int, dict] = {}  # ZnodeAddress
        self.user_addresses: dict[int, dict] = {}  # ZnodeUserAddress: UserAddressId -> {UserId, AddressId}

    # --- addresses ---

    def address_model(self, mapping: dict) -> dict:
        row = self.addresses[mapping["AddressId"]]
        return copy.deepcopy(row) | {"UserId": mapping["UserId"], "UserAddressId": mapping["UserAddressId"],
                                     "StateCode": row["StateName"], "CountryCode": None}

    def insert_address(self, model: dict) -> dict:
        """CreateCustomerAddress (under the lock): the row, its mapping, and a default billing one
        clears the user's other defaults (AddressHelper.SetAddressFlagsToFalse)."""
        user_id = int(model.get("UserId") or 0)
        if user_id < 1 or user_id not in self.users:
            raise self.ZnodeError(500, "User ID can not be less than one.", 5)
        if model.get("IsDefaultBilling"):
            for m in self.user_addresses.values():
                if m["UserId"] == user_id:
                    self.addresses[m["AddressId"]]["IsDefaultBilling"] = False
        now = magento_time()
        address_id = max(self.addresses, default=0) + 1
        row = {c: model.get(c) for c in ADDRESS_COLUMNS} | {
            "AddressId": address_id, "IsActive": True, "CreatedBy": ADMIN_USER_ID, "CreatedDate": now,
            "ModifiedBy": ADMIN_USER_ID, "ModifiedDate": now}
        for flag in ("IsDefaultBilling", "IsDefaultShipping", "IsShipping", "IsBilling"):
            row[flag] = bool(row[flag])
        self.addresses[address_id] = row
        mapping_id = max(self.user_addresses, default=0) + 1
        self.user_addresses[mapping_id] = {"UserAddressId": mapping_id, "UserId": user_id, "AddressId": address_id}
        return self.address_model(self.user_addresses[mapping_id])

    def user_address_list(self, req: Request) -> Response:
        filters = self.filters_of(req)
        with self.lock:
            models = [self.address_model(m) for m in self.user_addresses.values()]
        for key, op, value in filters:
            if key not in ("userid", "addressid", "useraddressid"):
                raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
            column = {"userid": "UserId", "addressid": "AddressId", "useraddressid": "UserAddressId"}[key]
            models = [m for m in models if self.compare(m[column], op, value, False)]
        return self.paged(req, models, "AddressList", "AddressId", "addressid~asc", ADDRESS_LIST_COLUMNS)

    def create_address(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise self.ZnodeError(500, "Model can not be null.", 1)
        with self.lock:
            return json_response(200, self.envelope(Address=self.insert_address(body)))

    def update_address(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise self.ZnodeError(500, "Model can not be null.", 1)
        with self.lock:
            row = self.addresses.get(int(body.get("AddressId") or 0))
            if row is None:
                raise self.ZnodeError(500, "Address ID can not be less than one.", 5)
            if not body.get("CreatedDate"):
                raise self.ZnodeError(500, "The conversion of a datetime2 data type to a datetime data type "
                                           "resulted in an out-of-range value.", None)
            row.update({c: body.get(c) for c in ADDRESS_COLUMNS if c != "AddressId"})
            row["ModifiedDate"] = magento_time()
            return json_response(200, self.envelope(Address=body))

    def address_list(self, req: Request) -> Response:
        filters = self.filters_of(req)
        with self.lock:
            rows = [copy.deepcopy(a) for a in self.addresses.values()]
        for key, op, value in filters:
            if key not in ADDRESS_LIST_COLUMNS:
                raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
            rows = [r for r in rows if self.compare(r[ADDRESS_LIST_COLUMNS[key]], op, value, key.endswith("date"))]
        return self.paged(req, rows, "AddressList", "AddressId", "addressid~asc", ADDRESS_LIST_COLUMNS)

    def filters_of(self, req: Request) -> list[tuple[str, str, str]]:
        filters = []
        for item in (req.arg("filter") or "").split(","):
            if item.strip():
                parts = item.split("~")
                if len(parts) != 3:
                    raise self.ZnodeError(500, f"Invalid filter '{item}'", 5)
                filters.append((parts[0].lower(), parts[1].lower(), parts[2].lower()))
        return filters

    def paged(self, req: Request, rows: list[dict], key: str, id_column: str, default_sort: str,
              columns: dict[str, str]) -> Response:
        """`sort=key~dir` (ties in id order, as the SQL's second key) and `page=index~n,size~m`."""
        sort_key, _, direction = (req.arg("sort") or default_sort).partition("~")
        if sort_key.lower() not in columns:
            raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
        column = columns[sort_key.lower()]
        rows.sort(key=lambda r: (str(r[column]).zfill(12), r[id_column]), reverse=direction.lower() == "desc")
        page = dict(p.split("~", 1) for p in (req.arg("page") or "index~1,size~50").split(",") if "~" in p)
        index, size = max(int(page.get("index", 1)), 1), max(int(page.get("size", 50)), 1)
        return json_response(200, self.envelope(**{key: rows[(index - 1) * size: index * size]}, PageIndex=index,
                                                PageSize=size, TotalResults=len(rows),
                                                TotalPages=math.ceil(len(rows) / size)))

    def billing_of(self, user_id: int) -> dict | None:
        """The user's default billing address row, else the latest-modified (under the lock)."""
        rows = [self.addresses[m["AddressId"]] for m in self.user_addresses.values() if m["UserId"] == user_id]
        return next((r for r in rows if r["IsDefaultBilling"]), None) or max(
            rows, key=lambda r: (r["ModifiedDate"], r["AddressId"]), default=None)

    def _apply_address(self, user_id: int, spec: dict) -> None:
        """A shopper's address book edit: the default billing address changed, or made; the user row untouched."""
        street = spec.get("street") or [""]
        fields = {"Address1": street[0], "Address2": ", ".join(street[1:]) or None, "CityName": spec.get("city"),
                  "PostalCode": spec.get("postcode"), "CountryName": spec.get("country_id"),
                  "StateName": spec.get("region_code")}
        row = self.billing_of(user_id)
        if row is None:
            user = self.users[user_id]
            self.insert_address(fields | {"UserId": user_id, "FirstName": user["FirstName"], "LastName": user["LastName"],
                                          "DisplayName": f'{street[0]}, {spec.get("city")}', "PhoneNumber": user["PhoneNumber"],
                                          "IsDefaultBilling": True, "IsBilling": True})
        else:
            row.update(fields)
            row["ModifiedDate"] = magento_time()

    def new_user(self, email: str, firstname: str, lastname: str, registered: bool) -> dict:
        """A ZnodeUser row (under the lock): a registered shopper or a guest checkout's user."""
        now = magento_time()
        user_id = self.next_user
        self.next_user += 1
        row = {c: None for c in USER_COLUMNS} | {
            "UserId": user_id, "AspNetUserId": str(uuid.uuid4()) if registered else None,
            "UserName": email if registered else None, "Email": email, "FirstName": firstname, "LastName": lastname,
            "EmailOptIn": False, "SMSOptIn": False, "IsActive": True, "IsVerified": registered,
            "CreatedBy": ADMIN_USER_ID, "CreatedDate": now, "ModifiedBy": ADMIN_USER_ID, "ModifiedDate": now}
        self.users[user_id] = row
        return row

    def user_for_order(self, email: str, firstname: str, lastname: str) -> int:
        """The order's user: the one with the email (a registered one first), else a guest user made now."""
        with self.lock:
            same = sorted((u for u in self.users.values() if (u["Email"] or "").lower() == email.lower()),
                          key=lambda u: (u["AspNetUserId"] is None, u["UserId"]))
            return same[0]["UserId"] if same else self.new_user(email, firstname, lastname, False)["UserId"]

    def user_model(self, row: dict) -> dict:
        """UserModel as GetUserById maps it: the row plus what the model derives."""
        return copy.deepcopy(row) | {"PortalId": 1, "FullName": f'{row["FirstName"] or ""} {row["LastName"] or ""}'.strip(),
                                     "IsGuestUser": row["AspNetUserId"] is None, "RoleName": "Customer",
                                     "Addresses": None, "Profiles": None, "WishList": None}

    # --- REST ---

    def get_user(self, req: Request, id: str, portal: str) -> Response:
        with self.lock:
            row = self.users.get(int(id))
            return Response(204) if row is None else json_response(200, self.envelope(User=self.user_model(row)))

    def update_user(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise self.ZnodeError(500, "User model can not be null.", 1)
        with self.lock:
            row = self.users.get(int(body.get("UserId") or 0))
            if row is None:  # UpdateCustomer returns false: CreateInternalServerErrorResponse()
                raise self.ZnodeError(500, None, None)
            if not body.get("CreatedDate"):
                raise self.ZnodeError(500, "The conversion of a datetime2 data type to a datetime data type "
                                           "resulted in an out-of-range value.", None)
            row.update({c: body.get(c) for c in USER_COLUMNS if c != "UserId"})
            row["ModifiedDate"] = magento_time()
            return json_response(200, self.envelope(User=body))

    def list_users(self, req: Request, admin: str) -> Response:
        filters = self.filters_of(req)
        with self.lock:
            # the admin's portals bound the list; a user who is not the portal's admin sees none
            rows = [] if int(admin) != ADMIN_USER_ID else [
                {LIST_COLUMNS[k]: u.get(LIST_COLUMNS[k]) for k in LIST_COLUMNS} | {"PortalId": 1}
                for u in self.users.values()]
        for key, op, value in filters:
            if key not in LIST_COLUMNS:
                raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
            rows = [r for r in rows if self.compare(r[LIST_COLUMNS[key]], op, value, key.endswith("date"))]
        # ties keep the id order, as the procedure's RANK() over (order, UserId) does
        return self.paged(req, rows, "Users", "UserId", "userid~desc", LIST_COLUMNS)

    # --- control ---

    def _apply(self, row: dict, spec: dict) -> None:
        """The user's own columns; an edit of the address alone leaves the user row as it was."""
        touched = False
        for field, column in (("email", "Email"), ("firstname", "FirstName"), ("lastname", "LastName"),
                              ("telephone", "PhoneNumber")):
            if field in spec:
                row[column] = spec[field]
                touched = True
        if touched:
            row["ModifiedDate"] = magento_time()

    def sim_create_customer(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict) or not spec.get("email"):
            raise self.SimError("email is required")
        with self.lock:
            row = self.new_user(spec["email"], spec.get("firstname") or "", spec.get("lastname") or "", True)
            self._apply(row, spec)
            if spec.get("address"):
                self._apply_address(row["UserId"], spec["address"])
        return json_response(201, {"id": str(row["UserId"])})

    def sim_find_customers(self, req: Request) -> Response:
        email = (req.arg("email") or "").lower()
        with self.lock:
            found = [copy.deepcopy(u) for u in self.users.values() if not email or (u["Email"] or "").lower() == email]
        return json_response(200, {"items": found})

    def sim_patch_customer(self, req: Request, id: str) -> Response:
        spec = req.json() or {}
        with self.lock:
            row = self.users.get(int(id))
            if row is None:
                return json_response(404, {"error": "no such customer"})
            self._apply(row, spec)
            if spec.get("address"):
                self._apply_address(int(id), spec["address"])
            return json_response(200, copy.deepcopy(row))

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            row = self.users.get(int(id))
            if row is None:
                return json_response(404, {"error": "no such customer"})
            billing = self.billing_of(int(id))
            address = None if billing is None else {
                "line1": billing["Address1"], "line2": billing["Address2"] or None, "city": billing["CityName"],
                "postal_code": billing["PostalCode"], "country": billing["CountryName"], "state": billing["StateName"]}
            addresses = [self.address_model(m) for m in self.user_addresses.values() if m["UserId"] == int(id)]
            summary = {"email": row["Email"], "name": f'{row["FirstName"] or ""} {row["LastName"] or ""}'.strip(),
                       "stripe_customer_id": row[STRIPE_FIELD] or None, "updated_at": row["ModifiedDate"],
                       "address": address}
            return json_response(200, {"customer": copy.deepcopy(row), "addresses": addresses, "summary": summary})
