"""The orders API through nginx (API.md "Orders", docs/ORDERS.md "Orders API"), the public
lookup by number, the tokens every protected route of lumira-orders needs, and the log of a
status change."""

import datetime
import json
import os
import re

import pytest

from conftest import (VAR, bearer, claims_for, lumira_admin, make_jwt, program_env, unique_email,
                      wait_until)
from orders_util import (AMOUNTS, LEVEL_NAMES, STATUSES, UNKNOWN_ID, assert_error,
                         assert_validation, iso_ms, marker, new_expert, new_order, oid,
                         order_doc, order_in, paid_order, pay, patch, read_log_lines, assign,
                         set_status, lifecycle_order, run_sequence)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ORDERS_LOG = os.path.join(VAR, "log", "orders.log")


@pytest.fixture(scope="module")
def expert(api):
    """The account the order-change tests of this module use: an admin, who may change every
    order (API.md "Orders": an expert changes only the orders assigned to them, and marks none
    paid or refunded by hand; those rules are tested in "who may change an order" below)."""
    return new_expert(api, name="Orders Admin", role="admin")


def list_orders(api, token, **params):
    r = api.get("/api/orders", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def ids(listing):
    return [o["id"] for o in listing["orders"]]


# ---------------------------------------------------------------- list and get

@pytest.mark.smoke
def test_list_finds_a_new_order(api, admin_token):
    order = paid_order(api)
    b = list_orders(api, admin_token, email=order["email"])
    assert set(b) == {"orders", "pagination"}
    assert b["pagination"] == {"current": 1, "total": 1, "count": 1, "limit": 20}
    [o] = b["orders"]
    assert o["id"] == o["_id"] == order["orderId"]
    assert o["orderNumber"] == order["orderNumber"]
    assert o["status"] == "paid" and o["level"] == 1 and o["amount"] == 0
    assert o["userEmail"] == order["email"]
    assert ISO_MS.match(o["createdAt"]) and ISO_MS.match(o["paidAt"]), o


def test_get_returns_the_whole_order(api, expert, mongo_db):
    order = new_order(api, 3, phone="0612345678", preferences={"audioVoice": "male"})
    r = api.get("/api/orders/" + order["orderId"], headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"order"}
    o = b["order"]
    doc = order_doc(mongo_db, order["orderId"])
    assert o["id"] == o["_id"] == order["orderId"]
    assert o["userId"] == str(doc["userId"])
    for key in ("orderNumber", "userEmail", "level", "levelName", "amount", "currency", "status",
                "paymentIntentId", "formData"):
        assert o[key] == doc[key], key
    assert o["levelName"] == "Alchimique" and o["amount"] == 2900 and o["status"] == "pending"
    assert o["formData"]["phone"] == "0612345678"
    assert o["formData"]["preferences"] == {"audioVoice": "male"}
    assert o["createdAt"] == iso_ms(doc["createdAt"])
    assert o["updatedAt"] == iso_ms(doc["updatedAt"])


# ---------------------------------------------------------------- status transitions

ALLOWED = [("pending", "paid"), ("pending", "failed"), ("paid", "processing"),
           ("paid", "refunded"), ("processing", "completed"), ("processing", "failed"),
           ("completed", "refunded")]
STAMP = {"paid": "paidAt", "failed": "failedAt", "refunded": "refundedAt",
         "completed": "deliveredAt"}


@pytest.mark.parametrize("frm,to", ALLOWED, ids=["%s-%s" % p for p in ALLOWED])
def test_allowed_transition(api, expert, mongo_db, frm, to):
    order = order_in(api, frm)
    assert order_doc(mongo_db, order["orderId"])["status"] == frm
    before = order_doc(mongo_db, order["orderId"])
    r = patch(api, "/api/orders/%s/status" % order["orderId"], expert["token"], {"status": to})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["success"] is True and b["order"]["status"] == to
    assert b["order"]["id"] == order["orderId"]
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == to
    assert doc["updatedAt"] > before["updatedAt"]
    if to in STAMP:
        assert doc[STAMP[to]] is not None
        assert b["order"][STAMP[to]] == iso_ms(doc[STAMP[to]])


@pytest.mark.parametrize("frm", STATUSES)
def test_forbidden_transitions_are_409(api, expert, mongo_db, frm):
    order = order_in(api, frm)
    before = order_doc(mongo_db, order["orderId"])
    forbidden = [to for to in STATUSES if (frm, to) not in ALLOWED]
    assert forbidden
    for to in forbidden:
        r = patch(api, "/api/orders/%s/status" % order["orderId"], expert["token"], {"status": to})
        b = assert_error(r, 409, "INVALID_TRANSITION")
        assert b["from"] == frm and b["to"] == to, b
    after = order_doc(mongo_db, order["orderId"])
    assert after["status"] == frm
    assert after["updatedAt"] == before["updatedAt"]


@pytest.mark.parametrize("body,field", [({"status": "shipped"}, "status"), ({}, "status"),
                                        ({"status": 3}, "status"), ({"status": "PAID"}, "status"),
                                        ({"status": ""}, "status")],
                         ids=["unknown", "missing", "number", "upper-case", "empty"])
def test_bad_status_bodies(api, expert, mongo_db, body, field):
    order = new_order(api, 2)
    assert_validation(patch(api, "/api/orders/%s/status" % order["orderId"], expert["token"], body),
                      field)
    assert order_doc(mongo_db, order["orderId"])["status"] == "pending"


# ---------------------------------------------------------------- review, content, delivery

def test_expert_review_records_the_expert(api, mongo_db):
    me = new_expert(api, name="Reviewing Expert")
    order = paid_order(api)
    assign(api, me, order)
    r = patch(api, "/api/orders/%s/expert-review" % order["orderId"], me["token"],
              {"status": "revision_needed", "notes": "Tone it down.\nSecond line."})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["success"] is True
    review = b["order"]["expertReview"]
    assert review["status"] == "revision_needed" and review["notes"] == "Tone it down.\nSecond line."
    assert review["expertId"] == me["id"] and review["expertName"] == "Reviewing Expert"
    assert ISO_MS.match(review["reviewedAt"])
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["expertReview"]["expertId"] == oid(me["id"])
    assert doc["expertReview"]["status"] == "revision_needed"
    assert doc["status"] == "paid"  # a review does not move the order


@pytest.mark.parametrize("status", ["pending", "approved", "rejected", "revision_needed"])
def test_each_review_status_is_accepted(api, expert, mongo_db, status):
    order = paid_order(api)
    r = patch(api, "/api/orders/%s/expert-review" % order["orderId"], expert["token"],
              {"status": status})
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["expertReview"]["status"] == status and "notes" not in doc["expertReview"]


@pytest.mark.parametrize("body,field", [
    ({"status": "done"}, "status"), ({}, "status"), ({"status": 1}, "status"),
    ({"status": "approved", "notes": "n" * 5001}, "notes"),
    ({"status": "approved", "notes": ["n"]}, "notes"),
], ids=["unknown", "missing", "number", "notes-5001", "notes-array"])
def test_bad_review_bodies(api, expert, mongo_db, body, field):
    order = paid_order(api)
    assert_validation(patch(api, "/api/orders/%s/expert-review" % order["orderId"],
                            expert["token"], body), field)
    assert "expertReview" not in order_doc(mongo_db, order["orderId"])


def test_review_notes_of_5000_chars_are_accepted(api, expert, mongo_db):
    order = paid_order(api)
    notes = "é" * 5000  # characters, not bytes
    r = patch(api, "/api/orders/%s/expert-review" % order["orderId"], expert["token"],
              {"status": "approved", "notes": notes})
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["expertReview"]["notes"] == notes


def test_content_is_stored(api, expert, mongo_db):
    order = order_in(api, "processing")
    content = {"reading": "Your reading\nwith lines", "summary": "s" * 100000}
    r = patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"],
              {"generatedContent": content})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert r.json()["order"]["generatedContent"] == content
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["generatedContent"] == content
    assert doc["status"] == "processing"


def test_content_keeps_an_empty_string(api, expert, mongo_db):
    """generatedContent is {name: string} (docs/ORDERS.md): "" is a string like any other, and
    an answer of 200 means the content sent is the content stored."""
    order = order_in(api, "processing")
    content = {"reading": "text", "audioUrl": ""}
    r = patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"],
              {"generatedContent": content})
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["generatedContent"] == content


@pytest.mark.parametrize("gc,field", [
    ("text", "generatedContent"), (["a"], "generatedContent"), (None, "generatedContent"),
    ({"reading": 12}, "generatedContent.reading"),
    ({"reading": {"nested": "x"}}, "generatedContent.reading"),
    ({"reading": "r" * 100001}, "generatedContent.reading"),
], ids=["string", "array", "missing", "number-value", "object-value", "value-100001"])
def test_bad_content_bodies(api, expert, mongo_db, gc, field):
    order = order_in(api, "paid")
    body = {} if gc is None else {"generatedContent": gc}
    assert_validation(patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"], body),
                      field)
    assert "generatedContent" not in order_doc(mongo_db, order["orderId"])


def test_content_with_too_many_fields_is_refused(api, expert, mongo_db):
    order = paid_order(api)
    gc = {"f%02d" % i: "x" for i in range(33)}
    r = patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"],
              {"generatedContent": gc})
    b = assert_error(r, 400, "VALIDATION_ERROR")
    assert all(f.startswith("generatedContent") for f in [d["field"] for d in b["details"]]), b
    assert "generatedContent" not in order_doc(mongo_db, order["orderId"])
    # 32 are fine.
    del gc["f32"]
    r = patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"],
              {"generatedContent": gc})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("name", ["$set", "a.b", "", "n" * 101],
                         ids=["dollar", "dot", "empty", "101-chars"])
def test_content_field_names_are_checked(api, expert, mongo_db, name):
    order = paid_order(api)
    r = patch(api, "/api/orders/%s/content" % order["orderId"], expert["token"],
              {"generatedContent": {name: "x"}})
    b = assert_error(r, 400, "VALIDATION_ERROR")
    assert all(d["field"].startswith("generatedContent") for d in b["details"]), b
    assert "generatedContent" not in order_doc(mongo_db, order["orderId"])


def test_delivered_completes_a_processing_order(api, expert, mongo_db):
    order = order_in(api, "processing")
    r = patch(api, "/api/orders/%s/delivered" % order["orderId"], expert["token"],
              {"deliveryMethod": "email"})
    assert r.status_code == 200, r.text
    o = r.json()["order"]
    assert r.json()["success"] is True
    assert o["status"] == "completed" and o["deliveryMethod"] == "email"
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "completed" and doc["deliveryMethod"] == "email"
    assert o["deliveredAt"] == iso_ms(doc["deliveredAt"])


def test_delivered_without_a_body(api, expert, mongo_db):
    order = order_in(api, "processing")
    r = api.request("PATCH", "/api/orders/%s/delivered" % order["orderId"],
                    headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "completed" and "deliveryMethod" not in doc


@pytest.mark.parametrize("frm", ["pending", "paid", "completed", "failed"])
def test_delivered_from_another_status_is_409(api, expert, mongo_db, frm):
    order = order_in(api, frm)
    r = patch(api, "/api/orders/%s/delivered" % order["orderId"], expert["token"], {})
    b = assert_error(r, 409, "INVALID_TRANSITION")
    assert b["from"] == frm and b["to"] == "completed"
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == frm
    if frm != "completed":
        assert "deliveredAt" not in doc


@pytest.mark.parametrize("method", ["m" * 101, 5], ids=["101-chars", "number"])
def test_bad_delivery_method(api, expert, mongo_db, method):
    order = order_in(api, "processing")
    assert_validation(patch(api, "/api/orders/%s/delivered" % order["orderId"], expert["token"],
                            {"deliveryMethod": method}), "deliveryMethod")
    assert order_doc(mongo_db, order["orderId"])["status"] == "processing"


# ---------------------------------------------------------------- ids, bodies

ID_ROUTES = [("GET", "/api/orders/%s", None),
             ("PATCH", "/api/orders/%s/status", {"status": "paid"}),
             ("PATCH", "/api/orders/%s/expert-review", {"status": "approved"}),
             ("PATCH", "/api/orders/%s/content", {"generatedContent": {"a": "b"}}),
             ("PATCH", "/api/orders/%s/delivered", {}),
             ("POST", "/api/expert/orders/%s/assign", None),
             ("GET", "/api/expert/orders/%s", None)]
ID_ROUTE_IDS = ["get", "status", "review", "content", "delivered", "assign", "desk-get"]


@pytest.mark.parametrize("method,path,body", ID_ROUTES, ids=ID_ROUTE_IDS)
@pytest.mark.parametrize("bad", ["123", "z" * 24, "0" * 25, "6b0dc6a9fdc78aa9770f1a5", "stats"],
                         ids=["short", "not-hex", "25", "23", "word"])
def test_malformed_id_is_invalid_id(api, expert, method, path, body, bad):
    r = api.request(method, path % bad, json=body, headers=bearer(expert["token"]))
    assert_error(r, 400, "INVALID_ID")


@pytest.mark.parametrize("method,path,body", ID_ROUTES, ids=ID_ROUTE_IDS)
def test_unknown_id_is_order_not_found(api, expert, method, path, body):
    r = api.request(method, path % UNKNOWN_ID, json=body, headers=bearer(expert["token"]))
    assert_error(r, 404, "ORDER_NOT_FOUND")


@pytest.mark.parametrize("path", ["status", "expert-review", "content", "delivered"])
def test_patch_with_invalid_json_or_another_type(api, expert, mongo_db, path):
    order = order_in(api, "processing")
    url = "/api/orders/%s/%s" % (order["orderId"], path)
    h = dict(bearer(expert["token"]), **{"Content-Type": "application/json"})
    assert_error(api.request("PATCH", url, data=b'{"status": ', headers=h), 400, "INVALID_JSON")
    assert_error(api.request("PATCH", url, data=b'[1]', headers=h), 400, "INVALID_JSON")
    h["Content-Type"] = "text/plain"
    assert_error(api.request("PATCH", url, data=b'{"status": "completed"}', headers=h), 415,
                 "UNSUPPORTED_MEDIA_TYPE")
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing"
    assert "expertReview" not in doc and "generatedContent" not in doc


# ---------------------------------------------------------------- list parameters

@pytest.mark.parametrize("params,field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"page": "0"}, "page"), ({"page": "x"}, "page"),
    ({"status": "bogus"}, "status"), ({"status": "PAID"}, "status"), ({"level": "9"}, "level"),
    ({"level": "0"}, "level"), ({"level": "two"}, "level"),
    ({"dateFrom": "yesterday"}, "dateFrom"), ({"dateTo": "2026-13-01"}, "dateTo"),
    ({"dateFrom": "2026-01-01T25:00:00Z"}, "dateFrom"), ({"dateTo": "01/02/2026"}, "dateTo"),
], ids=["limit-0", "limit-101", "limit-word", "limit-neg", "page-0", "page-word", "status-bogus",
        "status-upper", "level-9", "level-0", "level-word", "dateFrom-word", "dateTo-month-13",
        "dateFrom-hour-25", "dateTo-slashes"])
def test_bad_list_parameters(api, expert, params, field):
    r = api.get("/api/orders", params=params, headers=bearer(expert["token"]))
    assert_validation(r, field)


def test_bad_list_parameters_are_named_together(api, expert):
    r = api.get("/api/orders", params={"limit": "0", "page": "0", "level": "9"},
                headers=bearer(expert["token"]))
    assert_validation(r, "limit", "page", "level")


def test_limits_of_limit_are_accepted(api, expert):
    for limit in (1, 100):
        b = list_orders(api, expert["token"], limit=limit)
        assert b["pagination"]["limit"] == limit
        assert len(b["orders"]) <= limit


def test_pagination_numbers(api, expert, mongo_db):
    m = marker()
    made = [paid_order(api, email="page-%s-%d@example.com" % (m, i))["orderId"] for i in range(5)]
    expected = [str(d["_id"]) for d in mongo_db.orders.find(
        {"userEmail": {"$regex": "^page-%s-" % m}}).sort([("createdAt", -1), ("_id", -1)])]
    assert sorted(expected) == sorted(made)
    seen = []
    for page, n in ((1, 2), (2, 2), (3, 1)):
        b = list_orders(api, expert["token"], email="page-" + m, limit=2, page=page)
        assert b["pagination"] == {"current": page, "total": 3, "count": 5, "limit": 2}, b
        assert len(b["orders"]) == n
        seen += ids(b)
    assert seen == expected  # newest first, each once
    b = list_orders(api, expert["token"], email="page-" + m, limit=2, page=4)
    assert b["orders"] == [] and b["pagination"] == {"current": 4, "total": 3, "count": 5,
                                                      "limit": 2}
    b = list_orders(api, expert["token"], email="page-" + m)
    assert ids(b) == expected and b["pagination"] == {"current": 1, "total": 1, "count": 5,
                                                      "limit": 20}
    # Newest first in the answer's own dates too.
    dates = [o["createdAt"] for o in b["orders"]]
    assert dates == sorted(dates, reverse=True)


def test_status_and_level_filters(api, expert):
    m = marker()
    free = paid_order(api, email="filt-%s-free@example.com" % m)
    failed = order_in(api, "failed", email="filt-%s-failed@example.com" % m)
    pending = new_order(api, 4, email="filt-%s-pending@example.com" % m)
    tok = expert["token"]
    assert ids(list_orders(api, tok, email="filt-" + m, status="paid")) == [free["orderId"]]
    assert ids(list_orders(api, tok, email="filt-" + m, status="failed")) == [failed["orderId"]]
    assert ids(list_orders(api, tok, email="filt-" + m, level=4)) == [pending["orderId"]]
    assert ids(list_orders(api, tok, email="filt-" + m, level=2, status="failed")) == \
        [failed["orderId"]]
    assert ids(list_orders(api, tok, email="filt-" + m, level=3)) == []
    every = list_orders(api, tok, status="failed", limit=100)
    assert every["orders"] and all(o["status"] == "failed" for o in every["orders"])


def test_email_filter_is_a_case_insensitive_literal_substring(api, expert):
    m = marker()
    addresses = {k: "%s%s@x.io" % (m, k) for k in ("a+b", "ab", "aab", "a.b", "axb")}
    made = {k: paid_order(api, email=v)["orderId"] for k, v in addresses.items()}
    tok = expert["token"]

    def found(q):
        return set(ids(list_orders(api, tok, email=q, limit=100)))

    assert found(m.upper()) == set(made.values())
    assert found(m + "A+B@") == {made["a+b"]}        # '+' is no quantifier
    assert found(m + "a.b@") == {made["a.b"]}        # '.' is no wildcard
    assert found(m + "AB@X.IO") == {made["ab"]}
    assert found(m[3:].upper() + "AA") == {made["aab"]}  # a substring, not only a prefix
    for q in (m + ".*", "^" + m, m + "a+b@x.io$", m + "[a]", m + "(", m + "\\", m + "a|" + m,
              ".*" + m, m + "*"):
        assert found(q) == set(), q


def test_email_filter_is_checked(api, expert):
    r = api.get("/api/orders", params={"email": "a\x01b"}, headers=bearer(expert["token"]))
    assert_validation(r, "email")
    r = api.get("/api/orders", params={"email": "x" * 255}, headers=bearer(expert["token"]))
    assert_validation(r, "email")


def test_date_filters(api, expert, mongo_db):
    m = marker()
    when = {"first": datetime.datetime(2001, 2, 3, 10, 0, 0),
            "middle": datetime.datetime(2001, 2, 4, 23, 59, 59, 999000),
            "last": datetime.datetime(2001, 2, 5, 0, 0, 0)}
    made = {}
    for k, dt in when.items():
        o = paid_order(api, email="date-%s-%s@example.com" % (m, k))
        # Set-up: orders of another day.
        mongo_db.orders.update_one({"_id": oid(o["orderId"])}, {"$set": {"createdAt": dt}})
        made[k] = o["orderId"]
    tok = expert["token"]

    def found(**params):
        b = list_orders(api, tok, email="date-" + m, **params)
        return ids(b)

    assert found(dateFrom="2001-02-04", dateTo="2001-02-04") == [made["middle"]]
    assert found(dateFrom="2001-02-04") == [made["last"], made["middle"]]
    assert found(dateTo="2001-02-04") == [made["middle"], made["first"]]
    assert found(dateFrom="2001-02-04T12:00:00.000Z", dateTo="2001-02-05T00:00:00.000Z") == \
        [made["last"], made["middle"]]
    assert found(dateTo="2001-02-04T23:59:59.998Z") == [made["first"]]
    assert found(dateFrom="2001-02-03T10:00:00.001Z", dateTo="2001-02-04T23:59:59.999Z") == \
        [made["middle"]]
    assert found(dateFrom="2001-02-06") == []
    b = list_orders(api, tok, email="date-" + m, dateFrom="2001-02-04", dateTo="2001-02-04")
    assert b["orders"][0]["createdAt"] == "2001-02-04T23:59:59.999Z"


# ---------------------------------------------------------------- statistics

def expected_overview(mongo_db):
    """The overview computed here from every order document (other suites insert bare ones,
    without status, level or amount: they count in totalOrders only, as in MongoDB)."""
    docs = list(mongo_db.orders.find({}, {"status": 1, "level": 1, "amount": 1, "createdAt": 1,
                                          "amountRefunded": 1}))
    today = datetime.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    money = ("paid", "processing", "completed")

    def status(d):
        return d.get("status")

    def amount(d):
        """What the order brought in: its amount less what was refunded of it."""
        kept = d.get("amount", 0) if isinstance(d.get("amount"), int) else 0
        back = d.get("amountRefunded", 0)
        return kept - (back if isinstance(back, int) else 0)

    return {
        "totalOrders": len(docs),
        "paidOrders": sum(status(d) == "paid" for d in docs),
        "pendingOrders": sum(status(d) == "pending" for d in docs),
        "completedOrders": sum(status(d) == "completed" for d in docs),
        "failedOrders": sum(status(d) == "failed" for d in docs),
        "totalRevenue": sum(amount(d) for d in docs if status(d) in money),
        "todayOrders": sum(isinstance(d.get("createdAt"), datetime.datetime)
                           and d["createdAt"] >= today for d in docs),
        "levelStats": [{"level": lvl, "count": sum(d.get("level") == lvl for d in docs),
                        "revenue": sum(amount(d) for d in docs
                                       if d.get("level") == lvl and status(d) in money)}
                       for lvl in (1, 2, 3, 4)],
    }


def overview(api, token):
    r = api.get("/api/orders/stats/overview", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_stats_overview_counts_what_the_database_holds(api, expert, mongo_db):
    order_in(api, "completed")
    order_in(api, "failed")
    new_order(api, 3)
    got = overview(api, expert["token"])
    assert set(got) == {"totalOrders", "paidOrders", "pendingOrders", "completedOrders",
                        "failedOrders", "totalRevenue", "todayOrders", "levelStats"}
    assert got == expected_overview(mongo_db)


def test_stats_overview_follows_a_payment(api, expert):
    before = overview(api, expert["token"])
    order = new_order(api, 2)
    mid = overview(api, expert["token"])
    assert mid["totalOrders"] == before["totalOrders"] + 1
    assert mid["pendingOrders"] == before["pendingOrders"] + 1
    assert mid["todayOrders"] == before["todayOrders"] + 1
    assert mid["totalRevenue"] == before["totalRevenue"]
    assert mid["levelStats"][1]["count"] == before["levelStats"][1]["count"] + 1
    pay(api, order)
    after = overview(api, expert["token"])
    assert after["pendingOrders"] == before["pendingOrders"]
    assert after["paidOrders"] == before["paidOrders"] + 1
    assert after["totalRevenue"] == before["totalRevenue"] + 1400
    assert after["levelStats"][1]["revenue"] == before["levelStats"][1]["revenue"] + 1400


def test_stats_overview_revenue_is_less_refunds(api, mongo_db, expert):
    """A partial refund takes its part off the revenue; a full one the whole order (refunded)."""
    before = overview(api, expert["token"])
    order = lifecycle_order(api, mongo_db, level=3)
    run_sequence(api, order, ["S", "Rp"])
    mid = overview(api, expert["token"])
    assert mid["totalRevenue"] == before["totalRevenue"] + 2900 - 500
    assert mid["levelStats"][2]["revenue"] == before["levelStats"][2]["revenue"] + 2900 - 500
    assert mid == expected_overview(mongo_db)
    run_sequence(api, order, ["R"])
    after = overview(api, expert["token"])
    assert after["totalRevenue"] == before["totalRevenue"]
    assert after["levelStats"][2]["revenue"] == before["levelStats"][2]["revenue"]


# ---------------------------------------------------------------- a full page at the maximum

LARGE = ("generatedContent", "expertPrompt", "expertInstructions", "n8nError")
WIDE = "\U0001D11E"  # four bytes of UTF-8, one character


@pytest.fixture
def full_page(api, mongo_db):
    """100 paid orders whose every free-text field is at its maximum: the form as a checkout
    takes it (one checkout at the maximum, its order copied 100 times with ids and numbers of
    their own), with the fields the desk and n8n write (prompt and instructions 20 000
    characters of four bytes each, review notes 5 000, n8nError 2 000, a content field of
    100 000), the newest orders of all (made in 2099), so that they are the desk queue's first
    page. `place`
    puts them in the database again (assigned to an expert or not). Removed after the test."""
    m = marker()
    form = {"firstName": "é" * 100, "lastName": "é" * 100, "phone": "1" * 32,
            "dateOfBirth": "d" * 100, "specificQuestion": WIDE * 2000,
            "preferences": {"audioVoice": "v" * 100, "deliveryFormat": "f" * 100}}
    first = new_order(api, 1, email="big-%s@example.com" % m, **form)
    template = order_doc(mongo_db, first["orderId"])
    mongo_db.orders.delete_one({"_id": template["_id"]})
    import bson
    old = datetime.datetime(2099, 1, 1)
    docs = []
    for i in range(100):
        d = dict(template, _id=bson.ObjectId(),
                 orderNumber="LU010101%d%03d" % (int(m[1:7], 16), i),
                 userEmail="big-%s-%03d@example.com" % (m, i),
                 createdAt=old + datetime.timedelta(seconds=i),
                 generatedContent={"reading": "r" * 100000}, expertPrompt=WIDE * 20000,
                 expertInstructions=WIDE * 20000, n8nError=WIDE * 2000,
                 expertReview={"status": "pending", "notes": WIDE * 5000})
        docs.append(d)
    ids_ = [d["_id"] for d in docs]

    def place(assigned_to=None):
        mongo_db.orders.delete_many({"_id": {"$in": ids_}})
        extra = {} if assigned_to is None else {"assignedExpertId": oid(assigned_to)}
        mongo_db.orders.insert_many([dict(d, **extra) for d in docs])

    try:
        place()
        yield {"marker": m, "ids": [str(i) for i in ids_], "docs": docs, "place": place}
    finally:
        mongo_db.orders.delete_many({"_id": {"$in": ids_}})


def assert_light(listed, mongo_db):
    """Each listed order without its large fields, with the rest (its form whole)."""
    for o in listed:
        for field in LARGE:
            assert field not in o, (field, o["_id"])
        assert "notes" not in o.get("expertReview", {}), o["_id"]
        assert o["expertReview"]["status"] == "pending"
        assert o["formData"]["specificQuestion"] == WIDE * 2000


def test_a_full_page_at_the_maximum_answers_200(api, mongo_db, expert, full_page):
    # Without the list's projection the page would be far over the 8 MiB response cap.
    stored = sum(len(json.dumps(d, default=str, ensure_ascii=False).encode())
                 for d in full_page["docs"])
    assert stored > 3 * 8 * 1024 * 1024, stored
    # The orders list.
    r = api.get("/api/orders", params={"limit": 100, "email": "big-" + full_page["marker"]},
                headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text[:300]
    listed = r.json()["orders"]
    assert len(listed) == 100 and r.json()["pagination"]["count"] == 100
    assert_light(listed, mongo_db)
    # The desk's queue, newest first: these are its newest orders.
    r = api.get("/api/expert/orders/pending", headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text[:300]
    listed = r.json()["orders"]
    assert [o["_id"] for o in listed] == full_page["ids"][::-1]
    assert_light(listed, mongo_db)
    # The desk's assigned list of an expert who holds them all.
    holder = new_expert(api, name="Busy Expert")
    full_page["place"](holder["id"])
    r = api.get("/api/expert/orders/assigned", headers=bearer(holder["token"]))
    assert r.status_code == 200, r.text[:300]
    assert r.json()["count"] == 100 and len(r.json()["orders"]) == 100
    assert_light(r.json()["orders"], mongo_db)
    # One order by its id shows everything.
    one = api.get("/api/orders/" + full_page["ids"][0],
                  headers=bearer(expert["token"])).json()["order"]
    assert one["expertPrompt"] == WIDE * 20000 and one["expertInstructions"] == WIDE * 20000
    assert one["expertReview"]["notes"] == WIDE * 5000 and one["n8nError"] == WIDE * 2000
    assert one["generatedContent"]["reading"] == "r" * 100000


# ---------------------------------------------------------------- who may change an order

def unchanged(mongo_db, order, before):
    """The order is exactly as it was: nothing written, not even updatedAt."""
    assert order_doc(mongo_db, order["orderId"]) == before


@pytest.fixture(scope="module")
def desk(api):
    """Two plain experts: `me` (whose orders are assigned to them) and `other`."""
    return {"me": new_expert(api, name="Assigned Expert"),
            "other": new_expert(api, name="Other Expert")}


def my_order(api, desk, status="paid"):
    """A paid order assigned to desk["me"], then moved by them to `status` (paid or processing)."""
    order = paid_order(api)
    assign(api, desk["me"], order)
    if status == "processing":
        set_status(api, desk["me"]["token"], order["orderId"], "processing")
    return order


@pytest.mark.parametrize("start", ["pending", "mine-pending"])
def test_an_expert_cannot_mark_an_order_paid(api, mongo_db, desk, start):
    """Paid by hand means worked on unpaid: admins only, even for an order assigned to them."""
    order = new_order(api, 2)
    if start == "mine-pending":
        mongo_db.orders.update_one({"_id": oid(order["orderId"])},
                                   {"$set": {"assignedExpertId": oid(desk["me"]["id"])}})
    before = order_doc(mongo_db, order["orderId"])
    r = patch(api, "/api/orders/%s/status" % order["orderId"], desk["me"]["token"],
              {"status": "paid"})
    assert_error(r, 403, "FORBIDDEN")
    unchanged(mongo_db, order, before)
    assert "paidAt" not in before


@pytest.mark.parametrize("frm", ["paid", "completed"])
def test_an_expert_cannot_mark_their_order_refunded(api, mongo_db, desk, frm):
    """Refunded by hand refunds nothing: admins only."""
    order = my_order(api, desk, "processing" if frm == "completed" else "paid")
    if frm == "completed":
        r = patch(api, "/api/orders/%s/delivered" % order["orderId"], desk["me"]["token"], {})
        assert r.status_code == 200, r.text
    before = order_doc(mongo_db, order["orderId"])
    assert before["status"] == frm
    r = patch(api, "/api/orders/%s/status" % order["orderId"], desk["me"]["token"],
              {"status": "refunded"})
    assert_error(r, 403, "FORBIDDEN")
    unchanged(mongo_db, order, before)


def test_an_admin_marks_orders_paid_and_refunded(api, mongo_db, expert):
    order = new_order(api, 2)
    assert set_status(api, expert["token"], order["orderId"], "paid")["status"] == "paid"
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and doc["paidAt"] is not None
    assert set_status(api, expert["token"], order["orderId"], "refunded")["status"] == "refunded"
    assert order_doc(mongo_db, order["orderId"])["refundedAt"] is not None


# Each change of an order, with the status its order must be in: (route, body, status).
CHANGES = {
    "status": ("status", {"status": "completed"}, "processing"),
    "status-failed": ("status", {"status": "failed"}, "processing"),
    "status-processing": ("status", {"status": "processing"}, "paid"),
    "expert-review": ("expert-review", {"status": "approved", "notes": "forged"}, "processing"),
    "content": ("content", {"generatedContent": {"reading": "forged"}}, "processing"),
    "delivered": ("delivered", {"deliveryMethod": "email"}, "processing"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_expert_cannot_change_another_experts_order(api, mongo_db, desk, change):
    route, body, status = CHANGES[change]
    order = my_order(api, desk, status)
    before = order_doc(mongo_db, order["orderId"])
    r = patch(api, "/api/orders/%s/%s" % (order["orderId"], route), desk["other"]["token"], body)
    assert_error(r, 403, "NOT_ASSIGNED")
    unchanged(mongo_db, order, before)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_expert_cannot_change_an_unassigned_order(api, mongo_db, desk, change):
    route, body, status = CHANGES[change]
    order = order_in(api, status)
    before = order_doc(mongo_db, order["orderId"])
    assert "assignedExpertId" not in before
    r = patch(api, "/api/orders/%s/%s" % (order["orderId"], route), desk["me"]["token"], body)
    assert_error(r, 403, "NOT_ASSIGNED")
    unchanged(mongo_db, order, before)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_assigned_expert_and_an_admin_may_change_it(api, mongo_db, desk, expert, change):
    route, body, status = CHANGES[change]
    for who in (desk["me"], expert):  # expert: this module's admin
        order = my_order(api, desk, status)
        r = patch(api, "/api/orders/%s/%s" % (order["orderId"], route), who["token"], body)
        assert r.status_code == 200, (who["name"], r.text)
        assert r.json()["success"] is True
        assert order_doc(mongo_db, order["orderId"])["updatedAt"] > \
            order_doc(mongo_db, order["orderId"])["createdAt"]


def test_unknown_order_is_404_before_not_assigned(api, desk):
    for route, body, _ in CHANGES.values():
        r = patch(api, "/api/orders/%s/%s" % (UNKNOWN_ID, route), desk["me"]["token"], body)
        assert_error(r, 404, "ORDER_NOT_FOUND")


def test_stats_overview_is_admin_only(api, desk, expert):
    r = api.get("/api/orders/stats/overview", headers=bearer(desk["me"]["token"]))
    assert_error(r, 403, "FORBIDDEN")
    assert "totalRevenue" not in r.text
    assert overview(api, expert["token"])["totalRevenue"] >= 0


def test_the_stored_role_decides_not_the_tokens(api, mongo_db):
    """An admin demoted to expert loses the admin's rights with the token they already hold; an
    expert made admin gains them."""
    demoted = new_expert(api, name="Demoted Admin", role="admin")
    promoted = new_expert(api, name="Promoted Expert")
    mongo_db.experts.update_one({"_id": oid(demoted["id"])}, {"$set": {"role": "expert"}})
    mongo_db.experts.update_one({"_id": oid(promoted["id"])}, {"$set": {"role": "admin"}})
    r = api.get("/api/orders/stats/overview", headers=bearer(demoted["token"]))
    assert_error(r, 403, "FORBIDDEN")
    order = new_order(api, 2)
    before = order_doc(mongo_db, order["orderId"])
    r = patch(api, "/api/orders/%s/status" % order["orderId"], demoted["token"],
              {"status": "paid"})
    assert_error(r, 403, "FORBIDDEN")
    unchanged(mongo_db, order, before)
    assert api.get("/api/orders/stats/overview",
                   headers=bearer(promoted["token"])).status_code == 200
    assert set_status(api, promoted["token"], order["orderId"], "paid")["status"] == "paid"


# ---------------------------------------------------------------- public lookup by number

VIEW_KEYS = {"orderNumber", "status", "level", "levelName", "amount", "currency", "createdAt"}


def by_number(api, number, email=None, headers=None):
    params = {} if email is None else {"email": email}
    return api.get("/api/orders/number/" + number, params=params, headers=headers or {})


def test_public_lookup_with_the_right_email(api, mongo_db):
    order = new_order(api, 4)
    r = by_number(api, order["orderNumber"], order["email"])
    assert r.status_code == 200, r.text
    o = r.json()["order"]
    assert set(r.json()) == {"order"} and set(o) == VIEW_KEYS
    doc = order_doc(mongo_db, order["orderId"])
    assert o == {"orderNumber": order["orderNumber"], "status": "pending", "level": 4,
                 "levelName": LEVEL_NAMES[4], "amount": AMOUNTS[4], "currency": "eur",
                 "createdAt": iso_ms(doc["createdAt"])}
    # The address as a customer may type it.
    r = by_number(api, order["orderNumber"], "  " + order["email"].upper() + " ")
    assert r.status_code == 200, r.text


def test_public_lookup_wrong_email_is_like_an_unknown_number(api):
    order = paid_order(api)
    wrong = assert_error(by_number(api, order["orderNumber"], unique_email("stranger")), 404,
                         "ORDER_NOT_FOUND")
    unknown = assert_error(by_number(api, "LU000101999", order["email"]), 404, "ORDER_NOT_FOUND")
    malformed = assert_error(by_number(api, "XX123", order["email"]), 404, "ORDER_NOT_FOUND")
    for b in (wrong, unknown, malformed):
        del b["requestId"]
    assert wrong == unknown == malformed
    assert "orderNumber" not in wrong and "status" not in wrong


def test_public_lookup_needs_an_email_or_an_expert(api, expert):
    order = paid_order(api)
    assert_validation(by_number(api, order["orderNumber"]), "email")
    assert_validation(by_number(api, order["orderNumber"], "not-an-address"), "email")
    r = by_number(api, order["orderNumber"], headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["order"]["orderNumber"] == order["orderNumber"]
    assert_error(by_number(api, order["orderNumber"], headers=bearer("not.a.token")), 401,
                 "INVALID_TOKEN")


# ---------------------------------------------------------------- tokens

PROTECTED = [
    ("GET", "/api/orders", None),
    ("GET", "/api/orders/stats/overview", None),
    ("GET", "/api/orders/{id}", None),
    ("PATCH", "/api/orders/{id}/status", {"status": "paid"}),
    ("PATCH", "/api/orders/{id}/expert-review", {"status": "approved"}),
    ("PATCH", "/api/orders/{id}/content", {"generatedContent": {"reading": "forged"}}),
    ("PATCH", "/api/orders/{id}/delivered", {"deliveryMethod": "forged"}),
    ("GET", "/api/expert/orders/pending", None),
    ("GET", "/api/expert/orders/assigned", None),
    ("POST", "/api/expert/orders/{id}/assign", None),
    ("GET", "/api/expert/orders/{id}", None),
    ("POST", "/api/expert/process-order", {"orderId": "{id}", "expertPrompt": "forged"}),
    ("GET", "/api/expert/stats", None),
]
PROTECTED_IDS = ["list", "overview", "get", "status", "review", "content", "delivered",
                 "pending", "assigned", "assign", "desk-get", "process", "stats"]


@pytest.fixture(scope="module")
def target(api):
    """A paid order that no unauthenticated request may change."""
    return paid_order(api)


@pytest.fixture(scope="module")
def disabled_token(api):
    e = new_expert(api, name="Disabled Expert")
    r = lumira_admin("set-active", "--email", e["email"], "--active", "false")
    assert r.returncode == 0, r.stderr
    return e["token"]


def call(api, route, order_id, headers):
    method, path, body = route
    if body is not None:
        body = json.loads(json.dumps(body).replace("{id}", order_id))
    return api.request(method, path.replace("{id}", order_id), json=body, headers=headers)


def assert_target_untouched(mongo_db, target):
    doc = order_doc(mongo_db, target["orderId"])
    assert doc["status"] == "paid"
    for key in ("expertReview", "generatedContent", "deliveryMethod", "assignedExpertId",
                "expertPrompt"):
        assert key not in doc, key


@pytest.mark.parametrize("route", PROTECTED, ids=PROTECTED_IDS)
def test_no_token_is_401(api, mongo_db, target, route):
    assert_error(call(api, route, target["orderId"], {}), 401, "NO_TOKEN")
    assert_target_untouched(mongo_db, target)


@pytest.mark.parametrize("route", PROTECTED, ids=PROTECTED_IDS)
def test_wrong_tokens_are_401(api, mongo_db, expert, target, route):
    forged = make_jwt(claims_for(expert), secret="x" * 40)
    expired = make_jwt(claims_for(expert, iat=1000, exp=2000))
    ghost = make_jwt(claims_for(dict(expert, id=UNKNOWN_ID)))  # well signed, no such expert
    for token in ("garbage", "a.b.c", forged, ghost):
        assert_error(call(api, route, target["orderId"], bearer(token)), 401, "INVALID_TOKEN")
    assert_error(call(api, route, target["orderId"], bearer(expired)), 401, "TOKEN_EXPIRED")
    assert_target_untouched(mongo_db, target)


@pytest.mark.parametrize("route", PROTECTED, ids=PROTECTED_IDS)
def test_disabled_experts_token_is_401(api, mongo_db, target, disabled_token, route):
    assert_error(call(api, route, target["orderId"], bearer(disabled_token)), 401,
                 "INVALID_TOKEN")
    assert_target_untouched(mongo_db, target)


def test_admin_token_is_accepted(api, admin_token):
    order = paid_order(api)
    r = api.get("/api/orders/" + order["orderId"], headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["order"]["orderNumber"] == order["orderNumber"]


def test_public_routes_need_no_token(api):
    order = new_order(api, 2)  # checkout: no token
    r = by_number(api, order["orderNumber"], order["email"])
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- log

def test_a_status_change_logs_one_line_without_the_address(api, expert):
    with program_env("orders", "LOG_LEVEL=info"):
        order = paid_order(api)
        req_id = "orders-log-" + os.urandom(6).hex()
        r = api.request("PATCH", "/api/orders/%s/status" % order["orderId"],
                        json={"status": "refunded"},
                        headers=dict(bearer(expert["token"]), **{"X-Request-Id": req_id}))
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-Id"] == req_id

    def lines():
        got = [l for l in read_log_lines(ORDERS_LOG)
               if l.get("reqId") == req_id and l.get("msg") == "order status changed"]
        return got or None

    [line] = wait_until(lines, timeout=5, what="the status change in orders.log")
    assert line["level"] == "info" and line["prog"] == "lumira-orders"
    assert line["orderNumber"] == order["orderNumber"]
    assert line["from"] == "paid" and line["to"] == "refunded" and line["by"] == "admin"
    with open(ORDERS_LOG, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert order["email"] not in text
    local, domain = order["email"].split("@")
    assert local not in text
    # The checkout's own line names the order with the address masked.
    created = [l for l in read_log_lines(ORDERS_LOG)
               if l.get("orderNumber") == order["orderNumber"] and l.get("msg") == "order created"]
    assert len(created) == 1
    assert created[0]["email"] == local[0] + "***@" + domain
