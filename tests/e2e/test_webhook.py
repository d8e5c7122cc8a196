"""The Stripe webhook through nginx: POST /api/stripe/webhook (API.md "Checkout and payments",
docs/ORDERS.md "Webhook")."""

import concurrent.futures
import datetime
import itertools
import json
import os
import time

import pytest

from conftest import VAR, dev, sign_stripe, stripe_event, wait_ready, wait_until
from orders_util import (UNKNOWN_ID, as_utc, assert_error, assert_validation, event_for,
                         lifecycle_order, new_order, oid, order_doc, paid_order, post_webhook,
                         read_log_lines, run_sequence)

ORDERS_LOG = os.path.join(VAR, "log", "orders.log")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def events(mongo_db, event_id):
    return list(mongo_db.processed_events.find({"_id": event_id}))


def assert_untouched(mongo_db, order, event_id):
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "pending", doc
    assert "paidAt" not in doc and "failedAt" not in doc
    assert events(mongo_db, event_id) == []
    return doc


def transitions_logged(number, to):
    return [l for l in read_log_lines(ORDERS_LOG)
            if l.get("msg") == "order status changed" and l.get("orderNumber") == number
            and l.get("to") == to]


# ---------------------------------------------------------------- the happy path

@pytest.mark.smoke
def test_payment_succeeded_marks_the_order_paid(api, mongo_db):
    order = new_order(api, 2)
    t0 = now_utc()
    body, event_id = stripe_event(order["orderId"], 1400)  # the order's own PaymentIntent
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid"
    assert abs((as_utc(doc["paidAt"]) - t0).total_seconds()) < 60
    assert doc["paymentIntentId"] == json.loads(body)["data"]["object"]["id"]
    user = mongo_db.users.find_one({"_id": doc["userId"]})
    assert user["totalOrders"] == 1
    assert abs((as_utc(user["lastOrderAt"]) - t0).total_seconds()) < 60
    recorded = events(mongo_db, event_id)
    assert len(recorded) == 1
    assert recorded[0]["type"] == "payment_intent.succeeded"
    assert recorded[0]["outcome"] == "paid"
    assert str(recorded[0]["orderId"]) == order["orderId"]
    assert recorded[0]["receivedAt"] is not None


def test_user_stats_count_every_paid_order(api, mongo_db):
    email = "stats-%s@example.com" % os.urandom(5).hex()
    paid_order(api, email=email)
    order = new_order(api, 3, email=email)
    body, _ = stripe_event(order["orderId"], 2900)
    assert post_webhook(api, body).status_code == 200
    user = mongo_db.users.find_one({"email": email})
    assert user["totalOrders"] == 2


def test_order_found_by_its_payment_intent_without_metadata(api, mongo_db):
    order = new_order(api, 4)
    pi = "pi_" + os.urandom(12).hex()
    # Set-up: a PaymentIntent id of this order alone (stripe-mock answers the same id to all).
    mongo_db.orders.update_one({"_id": oid(order["orderId"])}, {"$set": {"paymentIntentId": pi}})
    event = json.loads(stripe_event(order["orderId"], 4900, pi=pi)[0])
    del event["data"]["object"]["metadata"]["orderId"]
    body = json.dumps(event).encode()
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"


# ---------------------------------------------------------------- signatures

def test_wrong_secret_is_400_and_changes_nothing(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    r = post_webhook(api, body, signature=sign_stripe(body, secret="whsec_not_the_secret"))
    b = assert_error(r, 400, "INVALID_SIGNATURE")
    assert "whsec" not in r.text and set(b) == {"error", "code", "requestId"}
    assert_untouched(mongo_db, order, event_id)


def test_missing_signature_header_is_400(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    assert_error(post_webhook(api, body, signature=False), 400, "INVALID_SIGNATURE")
    assert_untouched(mongo_db, order, event_id)


@pytest.mark.parametrize("header", ["", "garbage", "t=,v1=", "v1={mac}", "t={t}",
                                    "t=notanumber,v1={mac}", "t={t},v1=zz{mac}", "t={t},v0={mac}",
                                    "t={t},v1={mac_upper}"],
                         ids=["empty", "garbage", "empty-parts", "no-t", "no-v1", "t-not-number",
                              "v1-not-hex", "v0-only", "v1-upper-case-other-value"])
def test_malformed_signature_headers_are_400(api, mongo_db, header):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    good = sign_stripe(body)
    t, mac = good.split(",")[0][2:], good.split("v1=")[1]
    # "mac_upper" flips one hex digit too, so that it differs however the case is compared.
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    h = header.format(t=t, mac=mac, mac_upper=flipped.upper())
    assert_error(post_webhook(api, body, signature=h), 400, "INVALID_SIGNATURE")
    assert_untouched(mongo_db, order, event_id)


def test_signature_of_another_body_is_400(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    other, _ = stripe_event(order["orderId"], 1, event_id=event_id)
    assert_error(post_webhook(api, body, signature=sign_stripe(other)), 400, "INVALID_SIGNATURE")
    # The same body with one byte changed after signing.
    sig = sign_stripe(body)
    tampered = body.replace(b'"amount":1400', b'"amount":1500')
    assert tampered != body
    assert_error(post_webhook(api, tampered, signature=sig), 400, "INVALID_SIGNATURE")
    assert_untouched(mongo_db, order, event_id)


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_timestamp_out_of_tolerance_is_400(api, mongo_db, offset):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    sig = sign_stripe(body, t=time.time() + offset)
    assert_error(post_webhook(api, body, signature=sig), 400, "INVALID_SIGNATURE")
    assert_untouched(mongo_db, order, event_id)


def test_timestamp_within_tolerance_is_accepted(api, mongo_db):
    order = new_order(api, 2)
    body, _ = stripe_event(order["orderId"], 1400)
    r = post_webhook(api, body, signature=sign_stripe(body, t=time.time() - 240))
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"


def test_a_valid_v1_among_several_is_accepted(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    old = sign_stripe(body, secret="whsec_the_previous_secret").split("v1=")[1]
    sig = sign_stripe(body, extra_v1=("0" * 64, old))
    assert sig.count("v1=") == 3
    r = post_webhook(api, body, signature=sig)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"
    assert len(events(mongo_db, event_id)) == 1


def test_only_wrong_v1s_is_400(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    sig = sign_stripe(body, secret="whsec_wrong", extra_v1=("0" * 64, "f" * 64))
    assert_error(post_webhook(api, body, signature=sig), 400, "INVALID_SIGNATURE")
    assert_untouched(mongo_db, order, event_id)


# ---------------------------------------------------------------- exactly once

def test_replayed_event_is_a_duplicate_and_changes_nothing(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400)
    r = post_webhook(api, body)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    first = order_doc(mongo_db, order["orderId"])
    user_first = mongo_db.users.find_one({"_id": first["userId"]})
    assert first["status"] == "paid" and user_first["totalOrders"] == 1
    for _ in range(3):  # Stripe may deliver the same event again, freshly signed each time
        r = post_webhook(api, body)
        assert r.status_code == 200, r.text
        assert r.json() == {"received": True, "duplicate": True}
    again = order_doc(mongo_db, order["orderId"])
    assert again["status"] == "paid"
    assert again["paidAt"] == first["paidAt"] and again["updatedAt"] == first["updatedAt"]
    user = mongo_db.users.find_one({"_id": first["userId"]})
    assert user["totalOrders"] == 1
    assert user["lastOrderAt"] == user_first["lastOrderAt"]
    assert len(events(mongo_db, event_id)) == 1
    if os.path.exists(ORDERS_LOG):
        assert len(transitions_logged(order["orderNumber"], "paid")) == 1


def test_a_second_event_for_a_paid_order_is_ignored(api, mongo_db):
    order = new_order(api, 2)
    body, _ = stripe_event(order["orderId"], 1400)
    assert post_webhook(api, body).status_code == 200
    before = order_doc(mongo_db, order["orderId"])
    user_before = mongo_db.users.find_one({"_id": before["userId"]})
    body2, event2 = stripe_event(order["orderId"], 1400)  # another event id, same payment
    r = post_webhook(api, body2)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "status_paid"}
    after = order_doc(mongo_db, order["orderId"])
    assert after["paidAt"] == before["paidAt"] and after["status"] == "paid"
    assert mongo_db.users.find_one({"_id": before["userId"]})["totalOrders"] == \
        user_before["totalOrders"] == 1
    assert [e["outcome"] for e in events(mongo_db, event2)] == ["status_paid"]


def test_failure_event_for_a_paid_order_is_ignored(api, mongo_db):
    order = paid_order(api)
    body, event_id = stripe_event(order["orderId"], 0, type="payment_intent.payment_failed")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "status_paid"}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and "failureReason" not in doc


# ---------------------------------------------------------------- outcomes

@pytest.mark.parametrize("amount,currency", [(1399, "eur"), (1401, "eur"), (0, "eur"),
                                             (1400, "usd")])
def test_amount_mismatch_is_ignored(api, mongo_db, amount, currency):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], amount, currency=currency)
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "amount_mismatch"}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "pending" and "paidAt" not in doc
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["amount_mismatch"]


def test_unknown_order_is_ignored(api, mongo_db):
    body, event_id = stripe_event(UNKNOWN_ID, 1400)
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "unknown_order"}
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["unknown_order"]


def test_unknown_event_type_is_ignored_and_recorded(api, mongo_db):
    order = new_order(api, 2)
    body, event_id = stripe_event(order["orderId"], 1400, type="charge.refund.updated")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "event_type"}
    recorded = events(mongo_db, event_id)
    assert len(recorded) == 1 and recorded[0]["type"] == "charge.refund.updated"
    assert order_doc(mongo_db, order["orderId"])["status"] == "pending"
    # Recorded: the same event again is a duplicate.
    assert post_webhook(api, body).json() == {"received": True, "duplicate": True}


def test_payment_failed_keeps_the_order_pending_with_stripes_reason(api, mongo_db):
    """A declined card leaves the PaymentIntent requires_payment_method: the customer may pay
    again, so the order stays pending, with the failure recorded."""
    order = new_order(api, 3)
    t0 = now_utc()
    body, event_id = stripe_event(order["orderId"], 2900, type="payment_intent.payment_failed")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "pending"
    assert doc["paymentFailures"] == 1
    err = doc["lastPaymentError"]
    assert err["message"] == "Your card was declined." and err["code"] == "card_declined"
    assert err["eventId"] == event_id
    assert err["paymentIntentId"] == json.loads(body)["data"]["object"]["id"]
    assert abs((as_utc(err["at"]) - t0).total_seconds()) < 60
    assert "failedAt" not in doc and "paidAt" not in doc and "failureReason" not in doc
    assert mongo_db.users.find_one({"_id": doc["userId"]}).get("totalOrders", 0) == 0
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["payment_failure_recorded"]


def test_canceled_marks_the_order_failed(api, mongo_db):
    order = new_order(api, 4)
    body, event_id = stripe_event(order["orderId"], 4900, type="payment_intent.canceled")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "failed"
    assert doc["failureReason"] == "canceled" and doc["failedAt"] is not None
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["failed"]


# ---------------------------------------------------------------- bad bodies

def test_signed_invalid_json_is_400(api):
    body = b'{"id": "evt_1", "type": '
    assert_error(post_webhook(api, body), 400, "INVALID_JSON")


@pytest.mark.parametrize("drop,field", [("id", "id"), ("type", "type"), ("data", "data.object")])
def test_event_without_its_members_is_a_validation_error(api, mongo_db, drop, field):
    order = new_order(api, 2)
    event = json.loads(stripe_event(order["orderId"], 1400)[0])
    del event[drop]
    body = json.dumps(event).encode()
    assert_validation(post_webhook(api, body), field)
    assert order_doc(mongo_db, order["orderId"])["status"] == "pending"


def test_webhook_needs_no_token(api):
    body, _ = stripe_event(UNKNOWN_ID, 1400)
    r = post_webhook(api, body, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- database down

@pytest.fixture
def order_then_database_stopped(api, request):
    """A pending order, then the database stopped (database_stopped starts it again after)."""
    order = new_order(api, 2)
    order["event"] = stripe_event(order["orderId"], 1400)  # its PaymentIntent, read while up
    request.getfixturevalue("database_stopped")
    return order


def test_database_down_is_500_and_stripes_retry_does_the_work(api, order_then_database_stopped,
                                                              mongo_db):
    order = order_then_database_stopped
    body, event_id = order["event"]
    r = post_webhook(api, body)
    assert_error(r, 500, "DATABASE_UNAVAILABLE")
    assert "mongo" not in r.text.lower()
    dev("db-start")
    wait_ready(api)
    # Nothing was recorded: the event is not taken for done.
    assert events(mongo_db, event_id) == []
    assert order_doc(mongo_db, order["orderId"])["status"] == "pending"
    # Stripe retries (freshly signed each time) until it gets a 2xx; a worker's driver may skip
    # the database for a few seconds after it came back (DESIGN.md).
    answers = []

    def retry():
        r = post_webhook(api, body)
        answers.append(r.status_code)
        return r if r.status_code == 200 else None

    r = wait_until(retry, timeout=30, interval=0.5, what="the retried event to be taken")
    assert r.json() == {"received": True}, r.text
    assert set(answers[:-1]) <= {500}, answers
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and doc["paidAt"] is not None
    assert mongo_db.users.find_one({"_id": doc["userId"]})["totalOrders"] == 1
    recorded = events(mongo_db, event_id)
    assert len(recorded) == 1 and recorded[0]["outcome"] == "paid"
    # And once more: a duplicate.
    assert post_webhook(api, body).json() == {"received": True, "duplicate": True}
    assert len(events(mongo_db, event_id)) == 1


# ---------------------------------------------------------------- the payment lifecycle
#
# Every sequence of events Stripe can send about one order's PaymentIntent (API.md "Checkout and
# payments", docs/ORDERS.md "Payment lifecycle"), with replays of an event id and events out of
# order. Each order gets a PaymentIntent id of its own (stripe-mock gives every PaymentIntent the
# same one), stored as the checkout stores it. In a sequence, each token is one event: the same
# token twice is the same event delivered again (same id, freshly signed).
#   S   payment_intent.succeeded, the order's amount    F, F2  payment_intent.payment_failed
#   C   payment_intent.canceled                          R      charge.refunded, in full
#   Rp  charge.refunded of 500 (a partial refund)        S*     succeeded, another PaymentIntent
#   Sa  succeeded, one cent short                        Sc     succeeded, in usd
#   R*  charge.refunded of another PaymentIntent

def assert_final(mongo_db, order, tokens, status, failures=0, refunded=0, total=None):
    doc = order_doc(mongo_db, order["orderId"])
    what = (tokens, doc)
    assert doc["status"] == status, what
    assert doc.get("paymentFailures", 0) == failures, what
    assert doc.get("amountRefunded", 0) == refunded, what
    assert doc["paymentIntentId"] == order["pi"], what  # never the id of another PaymentIntent
    assert ("paidAt" in doc) == (status in ("paid", "refunded") and "S" in tokens), what
    assert ("refundedAt" in doc) == (status == "refunded"), what
    if status == "failed":
        assert doc["failureReason"] == "canceled" and doc["failedAt"] is not None, what
    if failures:
        assert doc["lastPaymentError"]["message"] == "Your card was declined.", what
    if total is None:
        total = 1 if status == "paid" else 0
    user = mongo_db.users.find_one({"_id": doc["userId"]})
    assert user.get("totalOrders", 0) == total, (tokens, user)
    # No payment lock left behind.
    assert mongo_db.payment_locks.count_documents({"_id": oid(order["orderId"])}) == 0, what
    # Each distinct event recorded exactly once, whatever it did.
    for t in set(tokens):
        assert len(events(mongo_db, event_for(order, t)[1])) == 1, (tokens, t)
    return doc


# (tokens, final status, paymentFailures, amountRefunded (None: the order's amount), totalOrders
# (None: 1 when paid, else 0))
SEQUENCES = [
    ("S", "paid", 0, 0, None),
    ("S S S", "paid", 0, 0, None),
    ("F", "pending", 1, 0, None),
    ("F F", "pending", 1, 0, None),
    ("F F2", "pending", 2, 0, None),
    ("F F2 F F2", "pending", 2, 0, None),
    # The declined first card, then the second card: paid (issue 12).
    ("F S", "paid", 1, 0, None),
    ("F F2 S", "paid", 2, 0, None),
    ("F S F", "paid", 1, 0, None),
    # Reversed: a failure arriving after the success changes nothing.
    ("S F", "paid", 0, 0, None),
    ("S F F2 S", "paid", 0, 0, None),
    ("C", "failed", 0, 0, None),
    ("C C", "failed", 0, 0, None),
    ("F C", "failed", 1, 0, None),
    ("C F", "failed", 0, 0, None),
    # A success after the order failed still pays it (failed -> paid, the webhook's alone).
    ("C S", "paid", 0, 0, None),
    ("F C S", "paid", 1, 0, None),
    ("S C", "paid", 0, 0, None),
    ("S R", "refunded", 0, None, 1),
    ("S R R", "refunded", 0, None, 1),
    ("S Rp", "paid", 0, 500, None),
    ("S Rp Rp", "paid", 0, 500, None),
    ("S Rp R", "refunded", 0, None, 1),
    # Reversed refunds: the older, smaller total changes nothing.
    ("S R Rp", "refunded", 0, None, 1),
    ("S R S F C", "refunded", 0, None, 1),
    ("F S R Rp", "refunded", 1, None, 1),
    # The refund first: the money came and went back; never paid.
    ("R", "pending", 0, None, None),
    ("R S", "refunded", 0, None, 0),
    ("Rp S", "paid", 0, 500, None),
    ("Rp R S", "refunded", 0, None, 0),
    ("R Rp S R", "refunded", 0, None, 0),
    # Another PaymentIntent, or the wrong amount or currency, never pays or refunds the order.
    ("S*", "pending", 0, 0, None),
    ("S* S", "paid", 0, 0, None),
    ("S S*", "paid", 0, 0, None),
    ("Sa", "pending", 0, 0, None),
    ("Sc", "pending", 0, 0, None),
    ("Sa Sc S", "paid", 0, 0, None),
    ("S R*", "paid", 0, 0, None),
    ("R* S", "paid", 0, 0, None),
]


@pytest.mark.parametrize("tokens,status,failures,refunded,total", SEQUENCES,
                         ids=[s[0].replace(" ", "-") for s in SEQUENCES])
def test_payment_event_sequence(api, mongo_db, tokens, status, failures, refunded, total):
    order = lifecycle_order(api, mongo_db)
    tokens = tokens.split()
    answers = run_sequence(api, order, tokens)
    assert_final(mongo_db, order, tokens, status, failures,
                 order["amount"] if refunded is None else refunded, total)
    # What did nothing says why.
    for t, a in zip(tokens, answers):
        if t in ("S*", "R*"):
            assert a in ({"received": True, "ignored": "payment_intent_mismatch"},
                         {"received": True, "duplicate": True}), (tokens, t, a)
        if t in ("Sa", "Sc"):
            assert a == {"received": True, "ignored": "amount_mismatch"}, (tokens, t, a)


@pytest.mark.parametrize("perm", [" ".join(p) for p in itertools.permutations(["F", "S", "Rp",
                                                                               "R"])])
def test_every_order_of_failure_success_and_refunds(api, mongo_db, perm):
    """The four events of a declined card, the payment, a partial and a full refund, in every
    order Stripe might deliver them, then all again (every one a duplicate): refunded in the end,
    with the failure counted only when it came before the success, and the customer's
    totalOrders counting the order only when it was paid before the full refund came."""
    order = lifecycle_order(api, mongo_db, level=4)
    tokens = perm.split()
    run_sequence(api, order, tokens + tokens[::-1])
    assert_final(mongo_db, order, tokens, "refunded",
                 failures=1 if tokens.index("F") < tokens.index("S") else 0,
                 refunded=order["amount"],
                 total=1 if tokens.index("S") < tokens.index("R") else 0)


def test_failed_order_paid_later_reaches_the_desk(api, mongo_db, admin_token):
    """The money taken after a failure is on a paid order that the desk's queue shows."""
    order = lifecycle_order(api, mongo_db)
    run_sequence(api, order, ["F", "C", "S"])
    r = api.get("/api/orders?status=paid&email=" + order["email"],
                headers={"Authorization": "Bearer " + admin_token})
    assert r.status_code == 200, r.text
    assert [o["_id"] for o in r.json()["orders"]] == [order["orderId"]]


def test_refund_found_by_its_payment_intent_alone(api, mongo_db):
    """A charge names its PaymentIntent; it need not carry the order's metadata."""
    order = lifecycle_order(api, mongo_db)
    run_sequence(api, order, ["S"])
    body, event_id = stripe_event(order["orderId"], order["amount"], type="charge.refunded",
                                  pi=order["pi"], metadata=False)
    r = post_webhook(api, body)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "refunded" and doc["amountRefunded"] == order["amount"]
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["refunded"]


def test_refund_of_an_unknown_payment_intent_is_ignored(api, mongo_db):
    body, event_id = stripe_event(UNKNOWN_ID, 1400, type="charge.refunded", metadata=False)
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "ignored": "unknown_order"}
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["unknown_order"]


def test_refund_of_a_processing_order_ends_it(api, mongo_db, admin_token):
    order = lifecycle_order(api, mongo_db)
    run_sequence(api, order, ["S"])
    r = api.request("PATCH", "/api/orders/%s/status" % order["orderId"],
                    json={"status": "processing"},
                    headers={"Authorization": "Bearer " + admin_token})
    assert r.status_code == 200, r.text
    run_sequence(api, order, ["Rp", "R"])
    assert_final(mongo_db, order, ["S", "Rp", "R"], "refunded", refunded=order["amount"], total=1)


def test_success_for_an_order_without_a_stored_payment_intent_binds_it(api, mongo_db):
    """An order whose PaymentIntent id was lost after the checkout (only logged) is still paid by
    the PaymentIntent whose metadata names it, which it then keeps: another is refused after."""
    order = new_order(api, 2)
    mongo_db.orders.update_one({"_id": oid(order["orderId"])}, {"$unset": {"paymentIntentId": ""}})
    pi = "pi_" + os.urandom(12).hex()
    body, _ = stripe_event(order["orderId"], 1400, pi=pi)
    assert post_webhook(api, body).json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and doc["paymentIntentId"] == pi
    body, event_id = stripe_event(order["orderId"], 1400, type="charge.refunded",
                                  pi="pi_" + os.urandom(12).hex())
    r = post_webhook(api, body)
    assert r.json() == {"received": True, "ignored": "payment_intent_mismatch"}, r.text
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"


def test_the_same_event_delivered_at_once_applies_once(api, mongo_db):
    """Stripe may deliver an event twice at the same time: one delivery applies it, the other
    answers duplicate (or finds it applied); the customer's count moves once."""
    order = lifecycle_order(api, mongo_db)
    body, event_id = event_for(order, "S")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: post_webhook(api, body), range(6)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert sum(1 for r in answers if r.json() == {"received": True}) == 1, \
        [r.text for r in answers]
    assert_final(mongo_db, order, ["S"], "paid")


def test_failure_and_success_at_once_end_paid(api, mongo_db):
    """A late failure racing the success: whichever the database sees first, the order ends paid
    (a failure after the success changes nothing)."""
    for _ in range(3):
        order = lifecycle_order(api, mongo_db)
        bodies = [event_for(order, t)[0] for t in ("F", "S", "F2")]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda b: post_webhook(api, b), bodies))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        doc = order_doc(mongo_db, order["orderId"])
        assert doc["status"] == "paid" and doc["paymentIntentId"] == order["pi"], doc
        assert doc.get("paymentFailures", 0) <= 2
        assert mongo_db.users.find_one({"_id": doc["userId"]})["totalOrders"] == 1


def test_database_down_after_a_failure_is_counted_once(api, mongo_db):
    """The failure recorded, then the event's record lost (the retry must not count it twice):
    the update is conditioned on lastPaymentError.eventId."""
    order = lifecycle_order(api, mongo_db)
    body, event_id = event_for(order, "F")
    assert post_webhook(api, body).json() == {"received": True}
    # As if the event's record had been lost after the change: Stripe sends it again.
    mongo_db.processed_events.delete_one({"_id": event_id})
    r = post_webhook(api, body)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "pending" and doc["paymentFailures"] == 1, doc
    assert len(events(mongo_db, event_id)) == 1


# ---------------------------------------------------------------- the payment lock

def hold_lock(mongo_db, order, event_id="evt_someone_else", age_s=0):
    import bson
    mongo_db.payment_locks.insert_one({
        "_id": oid(order["orderId"]), "token": bson.ObjectId(), "eventId": event_id,
        "at": datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)})


def test_an_event_waits_for_the_orders_lock_then_500(api, mongo_db):
    """Another event of the same order in hand (its lock held): this one waits up to 3 s, then
    answers 500 unrecorded, and Stripe's retry applies it once the lock is gone."""
    order = lifecycle_order(api, mongo_db)
    hold_lock(mongo_db, order)
    body, event_id = event_for(order, "S")
    t0 = time.monotonic()
    r = post_webhook(api, body)
    took = time.monotonic() - t0
    assert_error(r, 500, "DATABASE_UNAVAILABLE")
    assert 2.5 < took < 10, took
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "pending" and "paidAt" not in doc
    assert events(mongo_db, event_id) == []
    assert mongo_db.payment_locks.find_one({"_id": oid(order["orderId"])})["eventId"] == \
        "evt_someone_else"  # not ours to remove
    mongo_db.payment_locks.delete_one({"_id": oid(order["orderId"])})
    r = post_webhook(api, body)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    assert_final(mongo_db, order, ["S"], "paid")


def test_a_stale_lock_is_taken_over(api, mongo_db):
    """A lock older than 30 s was left by a worker that died: the next event takes it."""
    order = lifecycle_order(api, mongo_db)
    hold_lock(mongo_db, order, age_s=60)
    r = post_webhook(api, event_for(order, "S")[0])
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    assert_final(mongo_db, order, ["S"], "paid")


def test_a_lock_left_by_the_same_event_is_taken(api, mongo_db):
    """The lock's insert made but its reply lost: Stripe's retry of that event takes it at once."""
    order = lifecycle_order(api, mongo_db)
    body, event_id = event_for(order, "F")
    hold_lock(mongo_db, order, event_id=event_id)
    r = post_webhook(api, body)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    assert_final(mongo_db, order, ["F"], "pending", failures=1)


def test_scripts_stripe_event_drives_the_lifecycle(api, mongo_db):
    """scripts/stripe-event (README) with the order's PaymentIntent: a decline, the payment, a
    partial and then a full refund."""
    import subprocess
    from conftest import BASE, DEV, read_secrets
    order = lifecycle_order(api, mongo_db)
    script = os.path.join(os.path.dirname(DEV), "stripe-event")
    env = dict(os.environ, STRIPE_WEBHOOK_SECRET=read_secrets()["STRIPE_WEBHOOK_SECRET"])
    for type_, amount in (("payment_intent.payment_failed", 1400),
                          ("payment_intent.succeeded", 1400), ("charge.refunded", 500),
                          ("charge.refunded", 1400)):
        out = subprocess.run([script, "--url", BASE + "/api/stripe/webhook", "--order",
                              order["orderId"], "--payment-intent", order["pi"], "--type", type_,
                              "--amount", str(amount)],
                             env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"received": True}, (type_, out.stdout)
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "refunded" and doc["paymentFailures"] == 1
    assert doc["amountRefunded"] == 1400
