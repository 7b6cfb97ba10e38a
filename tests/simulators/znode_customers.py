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

Control API (the shared one): POST /_sim/customers `{"email", "firstname", "lastname", "telephone"?}` ->
`{"id"}`; PATCH /_sim/customers/{id} (the same fields); GET /_sim/customers?email= -> `{"items"}`;
GET /_sim/customers/{id} -> `{"customer", "summary": {"email", "name", "stripe_customer_id", "updated_at"}}`;
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
        s.add("POST", r"/_sim/customers", self.sim_create_customer)
        s.add("GET", r"/_sim/customers", self.sim_find_customers)
        s.add("PATCH", r"/_sim/customers/(?P<id>\d+)", self.sim_patch_customer)
        s.add("GET", r"/_sim/customers/(?P<id>\d+)", self.sim_get_customer)
        s.add("POST", r"/_sim/customers/(?P<id>\d+)/webhook",
              lambda req, id: json_response(409, {"error": "Znode 9.x sends no customer events; Tally polls customers"}))

    def reset_customers(self) -> None:
        self.users: dict[int, dict] = {}
        self.next_user = 100

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
        filters = []
        for item in (req.arg("filter") or "").split(","):
            if item.strip():
                parts = item.split("~")
                if len(parts) != 3:
                    raise self.ZnodeError(500, f"Invalid filter '{item}'", 5)
                filters.append((parts[0].lower(), parts[1].lower(), parts[2].lower()))
        with self.lock:
            # the admin's portals bound the list; a user who is not the portal's admin sees none
            rows = [] if int(admin) != ADMIN_USER_ID else [
                {LIST_COLUMNS[k]: u.get(LIST_COLUMNS[k]) for k in LIST_COLUMNS} | {"PortalId": 1}
                for u in self.users.values()]
        for key, op, value in filters:
            if key not in LIST_COLUMNS:
                raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
            rows = [r for r in rows if self.compare(r[LIST_COLUMNS[key]], op, value, key.endswith("date"))]
        sort_key, _, direction = (req.arg("sort") or "userid~desc").partition("~")
        if sort_key.lower() not in LIST_COLUMNS:
            raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
        column = LIST_COLUMNS[sort_key.lower()]
        # ties keep the id order, as the procedure's RANK() over (order, UserId) does
        rows.sort(key=lambda r: (str(r[column]).zfill(12), r["UserId"]), reverse=direction.lower() == "desc")
        page = dict(p.split("~", 1) for p in (req.arg("page") or "index~1,size~50").split(",") if "~" in p)
        index, size = max(int(page.get("index", 1)), 1), max(int(page.get("size", 50)), 1)
        return json_response(200, self.envelope(Users=rows[(index - 1) * size: index * size], PageIndex=index,
                                                PageSize=size, TotalResults=len(rows),
                                                TotalPages=math.ceil(len(rows) / size)))

    # --- control ---

    def _apply(self, row: dict, spec: dict) -> None:
        for field, column in (("email", "Email"), ("firstname", "FirstName"), ("lastname", "LastName"),
                              ("telephone", "PhoneNumber")):
            if field in spec:
                row[column] = spec[field]
        row["ModifiedDate"] = magento_time()

    def sim_create_customer(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict) or not spec.get("email"):
            raise self.SimError("email is required")
        with self.lock:
            row = self.new_user(spec["email"], spec.get("firstname") or "", spec.get("lastname") or "", True)
            self._apply(row, spec)
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
            return json_response(200, copy.deepcopy(row))

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            row = self.users.get(int(id))
            if row is None:
                return json_response(404, {"error": "no such customer"})
            summary = {"email": row["Email"], "name": f'{row["FirstName"] or ""} {row["LastName"] or ""}'.strip(),
                       "stripe_customer_id": row[STRIPE_FIELD] or None, "updated_at": row["ModifiedDate"]}
            return json_response(200, {"customer": copy.deepcopy(row), "summary": summary})
