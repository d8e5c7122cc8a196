"""Helpers of the lumira-orders e2e tests (test_checkout, test_webhook, test_orders, test_desk).

Everything here talks HTTP to nginx, except the few database reads that tests use to prove
what was stored (docs/ORDERS.md is the spec these helpers follow)."""

import datetime
import json
import os
import re
import time

import pytest

from conftest import (bearer, body_json, checkout, create_expert, login, n8n_headers, sign_n8n,
                      sign_stripe, stripe_event, unique_email)

CHECKOUT = "/api/stripe/create-payment-intent"
WEBHOOK = "/api/stripe/webhook"
PROCESS = "/api/expert/process-order"
CALLBACK = "/api/expert/n8n-callback"

AMOUNTS = {1: 0, 2: 1400, 3: 2900, 4: 4900}
LEVEL_NAMES = {1: "Simple", 2: "Intuitive", 3: "Alchimique", 4: "Intégrale"}
STATUSES = ("pending", "paid", "processing", "completed", "failed", "refunded")
ORDER_NUMBER = re.compile(r"^LU\d{6}\d{3,}$")
# A well-formed ObjectId that no order has (ObjectIds made now start with today's time).
UNKNOWN_ID = "000000000000000000000001"


def assert_error(r, status, code):
    """The error envelope of API.md "Conventions": status, code, and the requestId that the
    X-Request-Id header carries."""
    assert r.status_code == status, r.text
    b = body_json(r)
    assert b["code"] == code, b
    assert isinstance(b["error"], str) and b["error"], b
    assert b["requestId"] == r.headers["X-Request-Id"], (b, r.headers)
    return b


def detail_fields(body):
    return [d["field"] for d in body["details"]]


def assert_validation(r, *fields):
    """400 VALIDATION_ERROR whose details name exactly `fields` (in any order)."""
    b = assert_error(r, 400, "VALIDATION_ERROR")
    assert sorted(detail_fields(b)) == sorted(fields), b
    for d in b["details"]:
        assert isinstance(d["message"], str) and d["message"], b
    return b


def yymmdd_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%y%m%d")


def marker():
    """A unique, lower-case token to put in e-mail addresses, so that a filter can find exactly
    this test's orders among everything else in the database."""
    return "m" + os.urandom(5).hex()


def oid(text):
    import bson
    return bson.ObjectId(text)


def as_utc(dt):
    """A naive UTC datetime from pymongo as an aware one."""
    return dt.replace(tzinfo=datetime.timezone.utc) if dt.tzinfo is None else dt


def iso_ms(dt):
    """A datetime as API.md writes dates: ISO-8601 UTC with milliseconds."""
    dt = as_utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def new_order(api, level=2, email=None, **form):
    """A checkout that must succeed; returns its answer plus "email" (as sent)."""
    email = email if email is not None else unique_email("customer")
    r = checkout(api, level, email=email, **form)
    assert r.status_code == 200, r.text
    b = r.json()
    b["email"] = email
    return b


def paid_order(api, email=None, **form):
    """A level-1 order: paid at once, nobody's yet."""
    return new_order(api, 1, email=email, **form)


def post_webhook(api, body, signature=None, headers=None):
    """POSTs raw `body` to the Stripe webhook, signed now unless `signature` is given (False:
    no Stripe-Signature header at all)."""
    h = {"Content-Type": "application/json"}
    if signature is None:
        h["Stripe-Signature"] = sign_stripe(body)
    elif signature is not False:
        h["Stripe-Signature"] = signature
    h.update(headers or {})
    return api.post(WEBHOOK, data=body, headers=h)


def pay(api, order):
    """Sends the signed payment_intent.succeeded of a pending order; returns the event id."""
    body, event_id = stripe_event(order["orderId"], order["amount"])
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    return event_id


# ---------------------------------------------------------------- payment events (test_webhook)

def lifecycle_order(api, mongo_db, level=2):
    order = new_order(api, level)
    order["pi"] = "pi_" + os.urandom(12).hex()
    mongo_db.orders.update_one({"_id": oid(order["orderId"])},
                               {"$set": {"paymentIntentId": order["pi"]}})
    order["events"] = {}
    return order


def event_for(order, token):
    """The event of `token` for `order`, the same body each time it is asked for."""
    if token not in order["events"]:
        oid_, amount, pi = order["orderId"], order["amount"], order["pi"]
        other = "pi_" + os.urandom(12).hex()
        kinds = {
            "S": ("payment_intent.succeeded", amount, "eur", pi),
            "F": ("payment_intent.payment_failed", amount, "eur", pi),
            "F2": ("payment_intent.payment_failed", amount, "eur", pi),
            "C": ("payment_intent.canceled", amount, "eur", pi),
            "R": ("charge.refunded", amount, "eur", pi),
            "Rp": ("charge.refunded", 500, "eur", pi),
            "S*": ("payment_intent.succeeded", amount, "eur", other),
            "Sa": ("payment_intent.succeeded", amount - 1, "eur", pi),
            "Sc": ("payment_intent.succeeded", amount, "usd", pi),
            "R*": ("charge.refunded", amount, "eur", other),
        }
        type_, amt, currency, p = kinds[token]
        order["events"][token] = stripe_event(oid_, amt, type=type_, currency=currency, pi=p)
    return order["events"][token]


def run_sequence(api, order, tokens):
    """Posts the events of `tokens` in order; a token seen before must answer duplicate."""
    seen = set()
    answers = []
    for t in tokens:
        body, _ = event_for(order, t)
        r = post_webhook(api, body)
        assert r.status_code == 200, (tokens, t, r.text)
        if t in seen:
            assert r.json() == {"received": True, "duplicate": True}, (tokens, t, r.text)
        else:
            assert r.json().get("duplicate") is None, (tokens, t, r.text)
        answers.append(r.json())
        seen.add(t)
    return answers


def order_doc(mongo_db, order_id):
    doc = mongo_db.orders.find_one({"_id": oid(order_id)})
    assert doc is not None, order_id
    return doc


def get_order(api, token, order_id):
    r = api.get("/api/orders/" + order_id, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["order"]


def patch(api, path, token, body):
    return api.request("PATCH", path, json=body, headers=bearer(token))


def set_status(api, token, order_id, status):
    r = patch(api, "/api/orders/%s/status" % order_id, token, {"status": status})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["order"]["status"] == status, r.text
    return r.json()["order"]


# How to bring a new order to each status through the API: the level of its checkout, then the
# PATCH /status steps.
PATHS = {
    "pending": (2, ()),
    "paid": (1, ()),
    "processing": (1, ("processing",)),
    "completed": (1, ("processing", "completed")),
    "failed": (2, ("failed",)),
    "refunded": (1, ("refunded",)),
}


_SETUP_ADMIN = {}


def setup_admin(api):
    """An admin account the helpers use to bring orders where a test needs them (an admin may
    move any order, and is the only one who may mark one paid or refunded by hand)."""
    if "token" not in _SETUP_ADMIN:
        _SETUP_ADMIN.update(new_expert(api, name="Set-up Admin", role="admin"))
    return _SETUP_ADMIN


def order_in(api, status, email=None):
    """A new order brought to `status` through the API (PATHS), by an admin."""
    level, steps = PATHS[status]
    o = new_order(api, level, email=email)
    for s in steps:
        set_status(api, setup_admin(api)["token"], o["orderId"], s)
    return o


def assign(api, expert, order):
    """Assigns paid `order` to `expert` through the desk (POST .../assign), which must work."""
    r = api.post("/api/expert/orders/%s/assign" % order["orderId"], headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text
    return r.json()


def post_callback(api, obj, form="hex", signature=None, raw=None, replay=True, timestamp=None,
                  nonce=None, headers=None):
    """POSTs an n8n callback in the replay-safe form (X-Timestamp now, a fresh X-Nonce, unless
    given), signed over "<timestamp>.<nonce>.<exact bytes>" unless `signature` is given (False:
    no X-N8N-Signature header). replay=False: the body-only form, without the two headers.
    `headers` are added last (and may replace any of these)."""
    body = raw if raw is not None else json.dumps(obj, separators=(",", ":")).encode()
    h = {"Content-Type": "application/json"}
    if replay:
        h.update(n8n_headers(body, form=form, timestamp=timestamp, nonce=nonce))
    else:
        h["X-N8N-Signature"] = sign_n8n(body, form=form)
    if signature is False:
        del h["X-N8N-Signature"]
    elif signature is not None:
        h["X-N8N-Signature"] = signature
    h.update(headers or {})
    return api.post(CALLBACK, data=body, headers=h)


def new_expert(api, name="Desk Expert", role="expert"):
    """A fresh expert with a token: {"email", "password", "name", "role", "id", "token"}."""
    e = create_expert(role=role, name=name)
    e["token"] = login(api, e)
    return e


@pytest.fixture(scope="module")
def expert(api):
    """One expert shared by a module's tests (fresh experts where counts must start at 0)."""
    return new_expert(api, name="Orders Expert")


def read_log_lines(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def elapsed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0
