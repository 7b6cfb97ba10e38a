"""The NetSuite simulator against SuiteTalk REST's published behaviour (../shared/platforms/erp.md §1), run as a
subprocess exactly as the stack runs it. No AWS needed. Requests are signed here by this file's own OAuth 1.0a
code (RFC 5849), checked first against the RFC's example, so the simulator's check is not its own echo."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import date
from urllib.parse import quote, urlsplit, parse_qsl

import pytest
import requests

from test_simulators import Simulator

ACCOUNT, CONSUMER, TOKEN = "7654321_SB2", ("ck-test", "cs-test"), ("tk-test", "ts-test")
RECORDS = "/services/rest/record/v1"


def enc(text: str) -> str:
    return quote(text, safe="-._~")


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    normalized = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in params))
    return f"{method}&{enc(url)}&{enc(normalized)}"


def test_our_signing_matches_rfc_5849():
    params = [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b"), ("oauth_consumer_key", "9djdj82h48djs9d2"),
              ("oauth_token", "kkk9d7dh3k39sjv7"), ("oauth_signature_method", "HMAC-SHA1"),
              ("oauth_timestamp", "137131201"), ("oauth_nonce", "7d8f3e4a"), ("c2", ""), ("a3", "2 q")]
    assert base_string("POST", "http://example.com/request", params) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540"
        "%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC"
        "-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7")


def authorization(method: str, url: str, nonce: str | None = None, stamp: int | None = None,
                  token_secret: str = TOKEN[1], realm: str = ACCOUNT) -> str:
    parts = urlsplit(url)
    oauth = {"oauth_consumer_key": CONSUMER[0], "oauth_token": TOKEN[0], "oauth_signature_method": "HMAC-SHA256",
             "oauth_timestamp": str(stamp or int(time.time())), "oauth_nonce": nonce or secrets.token_hex(8),
             "oauth_version": "1.0"}
    base = base_string(method, f"{parts.scheme}://{parts.netloc}{parts.path}",
                       list(oauth.items()) + parse_qsl(parts.query, keep_blank_values=True))
    key = f"{enc(CONSUMER[1])}&{enc(token_secret)}".encode()
    oauth["oauth_signature"] = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    return f'OAuth realm="{realm}", ' + ", ".join(f'{k}="{enc(v)}"' for k, v in oauth.items())


@pytest.fixture(scope="module")
def netsuite(tmp_path_factory):
    sim = Simulator("netsuite", ["--account", ACCOUNT, "--consumer", ":".join(CONSUMER), "--token", ":".join(TOKEN)],
                    tmp_path_factory.mktemp("logs") / "netsuite.log")
    yield sim.url
    assert sim.stop() == 0


def call(netsuite, method, path, body=None, **auth):
    url = netsuite + path
    headers = {"Authorization": authorization(method, url, **auth)}
    data = json.dumps(body) if body is not None else None
    return requests.request(method, url, data=data, headers=headers, timeout=10)


def journal(external=None, debit="12.30", credit="12.30", currency="1", day=None, account="1150") -> dict:
    body = {"tranDate": day or date.today().isoformat(), "memo": "test", "subsidiary": {"id": "1"},
            "currency": {"id": currency},
            "line": {"items": [{"account": {"id": account}, "debit": json.loads(debit)},
                               {"account": {"id": "1200"}, "credit": json.loads(credit)}]}}
    if external:
        body["externalId"] = external
    return body


def raw_journal(amount_text: str, currency: str) -> str:
    """A body whose amounts keep their exact text (json.dumps would write floats)."""
    return (f'{{"tranDate":"{date.today().isoformat()}","subsidiary":{{"id":"1"}},"currency":{{"id":"{currency}"}},'
            f'"line":{{"items":[{{"account":{{"id":"1150"}},"debit":{amount_text}}},'
            f'{{"account":{{"id":"1200"}},"credit":{amount_text}}}]}}}}')


def test_create_answers_204_with_the_record_in_location_and_upsert_finds_it_again(netsuite):
    created = call(netsuite, "POST", f"{RECORDS}/journalentry", journal())
    assert created.status_code == 204 and created.content == b""
    assert created.headers["Location"].startswith(f"{netsuite}{RECORDS}/journalentry/")
    record_id = created.headers["Location"].rsplit("/", 1)[1]

    first = call(netsuite, "PUT", f"{RECORDS}/journalEntry/eid:je-up-1", journal())
    assert first.status_code == 204
    again = call(netsuite, "PUT", f"{RECORDS}/journalentry/eid:je-up-1", journal(debit="5", credit="5"))
    assert again.headers["Location"] == first.headers["Location"], "upsert updates the same record"
    assert first.headers["Location"] != created.headers["Location"]

    plain = call(netsuite, "GET", f"{RECORDS}/journalentry/eid:je-up-1").json()
    assert plain["externalId"] == "je-up-1" and "items" not in plain["line"], "sublists are links unless expanded"
    expanded = call(netsuite, "GET", f"{RECORDS}/journalentry/eid:je-up-1?expandSubResources=true").json()
    assert [line.get("debit") for line in expanded["line"]["items"]] == [5, None]
    assert call(netsuite, "GET", f"{RECORDS}/journalentry/{record_id}").status_code == 200
    missing = call(netsuite, "GET", f"{RECORDS}/journalentry/eid:nobody")
    assert missing.status_code == 404
    assert missing.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


def test_token_based_auth_refuses_a_bad_signature_a_replayed_nonce_and_an_old_timestamp(netsuite):
    path = f"{RECORDS}/journalentry/eid:nobody"
    assert call(netsuite, "GET", path).status_code == 404, "a good signature gets through to the record"
    for auth in ({"token_secret": "wrong"}, {"realm": "OTHER"}, {"stamp": int(time.time()) - 3600}):
        refused = call(netsuite, "GET", path, **auth)
        assert refused.status_code == 401, auth
        assert refused.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert call(netsuite, "GET", path, nonce="once-only").status_code == 404
    assert call(netsuite, "GET", path, nonce="once-only").status_code == 401, "a nonce is taken once"
    url = netsuite + path
    signed_without_query = authorization("GET", url)
    assert requests.get(url + "?expandSubResources=true", headers={"Authorization": signed_without_query},
                        timeout=10).status_code == 401, "the query is signed"
    assert requests.get(url, timeout=10).status_code == 401


def test_the_ledger_refuses_what_netsuite_refuses(netsuite):
    def refused(body, external="je-bad"):
        answer = call(netsuite, "PUT", f"{RECORDS}/journalentry/eid:{external}", body)
        assert answer.status_code == 400, answer.text
        detail = answer.json()["o:errorDetails"][0]
        return detail["o:errorCode"], detail["detail"]

    assert refused(journal(credit="12.31"))[1] == "The debits and credits are not equal."
    assert refused(journal(account="9999")) == ("INVALID_KEY_OR_REF", "Invalid account reference key 9999.")
    assert "closed" in refused(journal(day=f"{date.today().year - 1}-06-30"))[1]
    assert refused(journal(currency="99"))[0] == "INVALID_KEY_OR_REF"
    assert refused(journal(), external="has.dot")[0] in ("INVALID_ID", "INVALID_REQUEST")
    assert refused(journal(external="other"))[0] == "INVALID_FLD_VALUE"
    url = f"{netsuite}{RECORDS}/journalentry/eid:je-jpy"
    for text, status in (("1500.5", 400), ("1500", 204)):
        answer = requests.put(url, data=raw_journal(text, "5"), timeout=10,
                              headers={"Authorization": authorization("PUT", url)})
        assert answer.status_code == status, (text, answer.text)


def test_faults_answer_in_netsuite_shape(netsuite):
    requests.post(f"{netsuite}/_sim/faults", json={"status": 429, "path_contains": "eid:busy"}, timeout=10)
    busy = call(netsuite, "GET", f"{RECORDS}/journalentry/eid:busy")
    assert busy.status_code == 429
    assert busy.json()["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    log = requests.get(f"{netsuite}/_sim/requests", params={"path_contains": "eid:busy"}, timeout=10).json()
    assert log["requests"][0]["headers"]["authorization"] == "<redacted>"


def header(external: str, currency: str = "1") -> dict:
    return {"externalId": external, "tranDate": date.today().isoformat(), "subsidiary": {"id": "1"},
            "currency": {"id": currency}}


def test_a_sales_order_its_deposit_and_a_credit_paid_back_follow_netsuites_rules(netsuite):
    order = {**header("so-1"), "entity": {"id": "501"}, "item": {"items": [
        {"item": {"id": "20"}, "quantity": 2, "amount": 40, "description": "TEE Tee"},
        {"item": {"id": "21"}, "quantity": 1, "amount": 5},
        {"item": {"id": "23"}, "quantity": 1, "amount": -3}]}}
    assert call(netsuite, "PUT", f"{RECORDS}/salesOrder/eid:so-1", order).status_code == 204
    found = call(netsuite, "GET", f"{RECORDS}/salesorder/eid:so-1?expandSubResources=true").json()
    assert found["total"] == 42 and [i["amount"] for i in found["item"]["items"]] == [40, 5, -3]
    unknown_item = {**order, **header("so-2"), "item": {"items": [{"item": {"id": "99"}, "amount": 1}]}}
    refused = call(netsuite, "PUT", f"{RECORDS}/salesorder/eid:so-2", unknown_item)
    assert refused.status_code == 400 and refused.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_KEY_OR_REF"

    deposit = {**header("dep-1"), "customer": {"id": "501"}, "salesOrder": {"id": found["id"]},
               "account": {"id": "1150"}, "payment": 42}
    assert call(netsuite, "PUT", f"{RECORDS}/customerdeposit/eid:dep-1", deposit).status_code == 204
    in_euros = {**deposit, **header("dep-2", currency="4")}
    assert call(netsuite, "PUT", f"{RECORDS}/customerdeposit/eid:dep-2", in_euros).status_code == 400
    orphan = {**deposit, **header("dep-3"), "salesOrder": {"id": "0"}}
    assert call(netsuite, "PUT", f"{RECORDS}/customerdeposit/eid:dep-3", orphan).status_code == 400

    for n, amount in enumerate([10, 7]):
        memo = {**header(f"so-1-cm-{n}"), "entity": {"id": "501"},
                "item": {"items": [{"item": {"id": "25"}, "quantity": 1, "amount": amount}]}}
        assert call(netsuite, "PUT", f"{RECORDS}/creditmemo/eid:so-1-cm-{n}", memo).status_code == 204
    memos = call(netsuite, "GET", f'{RECORDS}/creditmemo?q=externalId START_WITH "so-1-cm-"').json()
    assert memos["totalResults"] == 2 and not memos["hasMore"]
    first = call(netsuite, "GET", f"{RECORDS}/creditmemo/{memos['items'][0]['id']}").json()
    assert (first["externalId"], first["total"], first["amountRemaining"]) == ("so-1-cm-0", 10, 10)
    exact = call(netsuite, "GET", f'{RECORDS}/creditmemo?q=externalId IS "so-1-cm-1"').json()
    assert [i["id"] for i in exact["items"]] == [memos["items"][1]["id"]]
    assert call(netsuite, "GET", f"{RECORDS}/creditmemo?q=total GREATER 1").status_code == 400

    def refund(external: str, amount) -> dict:
        return {**header(external), "customer": {"id": "501"}, "account": {"id": "1150"},
                "apply": {"items": [{"doc": {"id": first["id"]}, "apply": True, "amount": amount}]}}
    assert call(netsuite, "PUT", f"{RECORDS}/customerrefund/eid:rf-1", refund("rf-1", 6)).status_code == 204
    again = call(netsuite, "PUT", f"{RECORDS}/customerrefund/eid:rf-1", refund("rf-1", 6))
    assert again.status_code == 204, "an update re-applies, it does not apply twice"
    beyond = call(netsuite, "PUT", f"{RECORDS}/customerrefund/eid:rf-2", refund("rf-2", 5))
    assert beyond.status_code == 400 and "more than remains" in beyond.json()["o:errorDetails"][0]["detail"]
    left = call(netsuite, "GET", f"{RECORDS}/creditmemo/{first['id']}").json()
    assert left["amountRemaining"] == 4
