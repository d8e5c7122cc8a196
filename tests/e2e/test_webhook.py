"""The Stripe webhook through nginx: POST /api/stripe/webhook (API.md "Checkout and payments",
docs/ORDERS.md "Webhook")."""

import datetime
import json
import os
import time

import pytest

from conftest import VAR, dev, sign_stripe, stripe_event, wait_ready, wait_until
from orders_util import (UNKNOWN_ID, as_utc, assert_error, assert_validation, new_order, oid,
                         order_doc, paid_order, post_webhook, read_log_lines)

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
    body, event_id = stripe_event(order["orderId"], 1400, pi="pi_" + os.urandom(10).hex())
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


def test_payment_failed_marks_the_order_failed_with_stripes_reason(api, mongo_db):
    order = new_order(api, 3)
    body, event_id = stripe_event(order["orderId"], 2900, type="payment_intent.payment_failed")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "failed"
    assert doc["failureReason"] == "Your card was declined."
    assert doc["failedAt"] is not None and "paidAt" not in doc
    assert mongo_db.users.find_one({"_id": doc["userId"]}).get("totalOrders", 0) == 0
    assert [e["outcome"] for e in events(mongo_db, event_id)] == ["failed"]


def test_canceled_marks_the_order_failed(api, mongo_db):
    order = new_order(api, 4)
    body, _ = stripe_event(order["orderId"], 4900, type="payment_intent.canceled")
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "failed"
    assert doc["failureReason"] == "payment_intent.canceled"


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
    request.getfixturevalue("database_stopped")
    return order


def test_database_down_is_500_and_stripes_retry_does_the_work(api, order_then_database_stopped,
                                                              mongo_db):
    order = order_then_database_stopped
    body, event_id = stripe_event(order["orderId"], 1400)
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
