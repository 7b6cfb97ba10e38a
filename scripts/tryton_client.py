"""Tryton's ledger read over its JSON-RPC as the user Tally posts as: what the Tryton e2e tests and `make demo`
read back, so Tally's postings are checked by Tryton's own arithmetic."""

import base64
from decimal import Decimal

import requests


class Ledger:
    """Tryton's JSON-RPC, logged in as the user Tally posts as."""

    def __init__(self, s):
        self.url = f"{s['TRYTON_URL']}/{s['TRYTON_DATABASE']}/"
        user, session = self.rpc("common.db.login", [s["TRYTON_LOGIN"], {"password": s["TRYTON_PASSWORD"]}, "en"])[:2]
        self.auth = "Session " + base64.b64encode(f"{s['TRYTON_LOGIN']}:{user}:{session}".encode()).decode()
        self.company = self.rpc("model.res.user.get_preferences", [False, {}])["company"]

    def rpc(self, method, params):
        headers = {"Authorization": self.auth} if hasattr(self, "auth") else {}
        answer = requests.post(self.url, json={"id": 1, "method": method, "params": params}, headers=headers,
                               timeout=30).json()
        assert "error" not in answer or answer["error"] is None, answer
        return answer["result"]

    def search_read(self, model, domain, fields):
        return self.rpc(f"model.{model}.search_read", [domain, 0, None, None, fields, {"company": self.company}])

    def balance(self, code) -> Decimal:
        return Decimal(self.search_read("account.account", [["code", "=", code]], ["balance"])[0]["balance"]["decimal"])

    def moves(self, text):
        """Tally's moves whose description names `text`, each with its lines as {account code: debit - credit}."""
        found = []
        for move in self.search_read("account.move", [["description", "like", f"%{text}%"]],
                                     ["description", "state", "post_number"]):
            lines = {}
            for line in self.search_read("account.move.line", [["move", "=", move["id"]]],
                                         ["account", "debit", "credit"]):
                code = self.search_read("account.account", [["id", "=", line["account"]]], ["code"])[0]["code"]
                lines[code] = lines.get(code, Decimal(0)) + Decimal(line["debit"]["decimal"]) \
                    - Decimal(line["credit"]["decimal"])
            found.append({**move, "lines": lines})
        return found

    def trial_balance(self, codes) -> dict:
        """{code: (name, balance)} for the accounts `codes`."""
        found = self.search_read("account.account", [["code", "in", list(codes)]], ["code", "name", "balance"])
        return {a["code"]: (a["name"], Decimal(a["balance"]["decimal"])) for a in found}
