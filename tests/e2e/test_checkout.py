"""Checkout through nginx: POST /api/stripe/create-payment-intent (API.md "Checkout and
payments", docs/ORDERS.md "Checkout", "Order numbers")."""

import concurrent.futures
import json
import time

import pytest

from conftest import checkout, program_env, unique_email
from orders_util import (AMOUNTS, CHECKOUT, LEVEL_NAMES, ORDER_NUMBER, assert_error,
                         assert_validation, marker, new_order, order_doc, yymmdd_now)


def valid_form(**over):
    form = {"firstName": "Ada", "lastName": "Lovelace", "email": unique_email("customer")}
    form.update(over)
    return form


def post(api, body):
    return api.post(CHECKOUT, json=body)


def assert_number_of_today(number, before, after):
    assert ORDER_NUMBER.match(number), number
    assert number[2:8] in (before, after), (number, before, after)


# ---------------------------------------------------------------- happy paths

@pytest.mark.smoke
def test_level_1_is_paid_at_once(api, mongo_db):
    email = unique_email("free")
    day = yymmdd_now()
    r = checkout(api, 1, email=email)
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"success", "orderId", "orderNumber", "amount", "status", "requiresPayment",
                      "message"}, b
    assert b["success"] is True and b["amount"] == 0 and b["status"] == "paid"
    assert b["requiresPayment"] is False and b["message"]
    assert_number_of_today(b["orderNumber"], day, yymmdd_now())
    doc = order_doc(mongo_db, b["orderId"])
    assert doc["orderNumber"] == b["orderNumber"]
    assert doc["status"] == "paid" and doc["paidAt"] is not None
    assert doc["level"] == 1 and doc["levelName"] == "Simple" and doc["amount"] == 0
    assert doc["currency"] == "eur" and doc["userEmail"] == email
    assert "paymentIntentId" not in doc
    user = mongo_db.users.find_one({"email": email})
    assert user is not None and doc["userId"] == user["_id"]
    assert user["totalOrders"] == 1 and user["lastOrderAt"] is not None


@pytest.mark.parametrize("level", [2, 3, 4, "2", "3", "4"])
def test_paid_levels_get_a_client_secret(api, standin, mongo_db, level):
    """`level` as a JSON integer, or as the original customer app sends it: "2" (compat)."""
    email = unique_email("paying")
    day = yymmdd_now()
    r = checkout(api, level, email=email)
    level = int(level)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["success"] is True and b["status"] == "pending" and b["requiresPayment"] is True
    assert b["amount"] == AMOUNTS[level] and b["currency"] == "eur"
    assert isinstance(b["clientSecret"], str) and "_secret_" in b["clientSecret"]
    assert_number_of_today(b["orderNumber"], day, yymmdd_now())
    doc = order_doc(mongo_db, b["orderId"])
    assert doc["status"] == "pending" and doc["orderNumber"] == b["orderNumber"]
    assert doc["level"] == level and doc["levelName"] == LEVEL_NAMES[level]
    assert doc["amount"] == AMOUNTS[level] and doc["currency"] == "eur"
    assert doc["paymentIntentId"].startswith("pi_")
    assert "paidAt" not in doc
    user = mongo_db.users.find_one({"email": email})
    assert user["stripeCustomerId"].startswith("cus_")
    assert doc["userId"] == user["_id"]
    # What Stripe was asked for (the stand-in records the last request).
    last = standin.state()["last"]
    assert last["path"] == "/v1/payment_intents"
    assert last["idempotencyKey"] == "lumira-pi-" + b["orderId"]
    assert last["form"]["amount"] == str(AMOUNTS[level])
    assert last["form"]["currency"] == "eur"
    assert last["form"]["customer"] == user["stripeCustomerId"]
    assert last["form"]["automatic_payment_methods[enabled]"] == "true"
    assert last["form"]["metadata[orderId]"] == b["orderId"]
    assert last["form"]["metadata[orderNumber]"] == b["orderNumber"]
    assert last["form"]["metadata[level]"] == str(level)
    assert last["form"]["metadata[userEmail]"] == email


def test_second_checkout_reuses_the_user_and_the_stripe_customer(api, standin, mongo_db):
    email = unique_email("again")
    first = new_order(api, 2, email=email)
    after_first = standin.state()["byPath"]
    # The same address, written otherwise: the same user.
    second = new_order(api, 3, email="  " + email.upper() + " ", firstName="Grace")
    state = standin.state()
    assert after_first.get("/v1/customers") == 1
    assert state["byPath"].get("/v1/customers") == 1, state  # no second customer
    assert state["byPath"].get("/v1/payment_intents") == 2, state
    assert state["last"]["idempotencyKey"] == "lumira-pi-" + second["orderId"]
    users = list(mongo_db.users.find({"email": email}))
    assert len(users) == 1
    user = users[0]
    assert user["firstName"] == "Test"  # what the user had stays (API.md, **(fix)**)
    assert state["last"]["form"]["customer"] == user["stripeCustomerId"]
    a, b = order_doc(mongo_db, first["orderId"]), order_doc(mongo_db, second["orderId"])
    assert a["userId"] == b["userId"] == user["_id"]
    assert b["userEmail"] == email
    assert b["formData"]["firstName"] == "Grace"  # the order keeps its own formData
    assert a["orderNumber"] != b["orderNumber"]


def test_anonymous_checkout_never_overwrites_a_known_customer(api, mongo_db):
    """Knowing a customer's address is not enough to change their names, phone or date of
    birth: a checkout only fills what the user document lacks; the order keeps its own form."""
    email = unique_email("victim")
    first = new_order(api, 1, email=email, firstName="Ada", lastName="Lovelace",
                      phone="+33 1 23 45 67 89")
    before = mongo_db.users.find_one({"email": email})
    assert before["firstName"] == "Ada" and before["phone"] == "+33 1 23 45 67 89"
    assert "dateOfBirth" not in before
    second = new_order(api, 1, email=email.upper(), firstName="Mallory", lastName="Evil",
                       phone="+1 555 0000", dateOfBirth="1990-01-01")
    users = list(mongo_db.users.find({"email": email}))
    assert len(users) == 1
    user = users[0]
    # Nothing it held was written over...
    assert (user["firstName"], user["lastName"], user["phone"]) == \
        ("Ada", "Lovelace", "+33 1 23 45 67 89"), user
    # ...what it lacked was filled...
    assert user["dateOfBirth"] == "1990-01-01"
    # ...and each order keeps the form it was sent with.
    a, b = order_doc(mongo_db, first["orderId"]), order_doc(mongo_db, second["orderId"])
    assert a["formData"]["firstName"] == "Ada" and b["formData"]["firstName"] == "Mallory"
    assert b["formData"]["phone"] == "+1 555 0000" and a["userId"] == b["userId"] == user["_id"]
    # A third checkout cannot change the date of birth the second one filled.
    new_order(api, 1, email=email, dateOfBirth="2000-12-31", firstName="Eve")
    user = mongo_db.users.find_one({"email": email})
    assert user["dateOfBirth"] == "1990-01-01" and user["firstName"] == "Ada", user


def test_checkout_fills_empty_user_fields(api, mongo_db):
    """A user document whose fields are empty or null (written by the original, or by hand) gets
    them from the next checkout."""
    email = unique_email("sparse")
    new_order(api, 1, email=email)
    mongo_db.users.update_one({"email": email}, {"$set": {"firstName": "", "phone": None},
                                                 "$unset": {"lastName": ""}})
    new_order(api, 1, email=email, firstName="Ada", lastName="Lovelace", phone="+33 6")
    user = mongo_db.users.find_one({"email": email})
    assert (user["firstName"], user["lastName"], user["phone"]) == ("Ada", "Lovelace", "+33 6")


def test_form_data_is_stored_as_validated(api, mongo_db):
    email = unique_email("form")
    form = valid_form(email="  " + email.replace("form", "FoRm") + " ", firstName="x" * 100,
                      lastName="y" * 100, phone="+33 1 23 45 67 89 01 23 45 67 8901"[:32],
                      dateOfBirth="1990-01-02", specificQuestion="line one\nline two" + "z" * 1983,
                      preferences={"audioVoice": "female", "deliveryFormat": "pdf"},
                      unknownMember="dropped")
    assert len(form["specificQuestion"]) == 2000 and len(form["phone"]) == 32
    r = post(api, {"level": 1, "formData": form})
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, r.json()["orderId"])
    assert doc["userEmail"] == email
    stored = doc["formData"]
    assert stored["email"] == email
    assert stored["firstName"] == form["firstName"] and stored["lastName"] == form["lastName"]
    assert stored["phone"] == form["phone"] and stored["dateOfBirth"] == "1990-01-02"
    assert stored["specificQuestion"] == form["specificQuestion"]
    assert stored["preferences"] == {"audioVoice": "female", "deliveryFormat": "pdf"}
    assert "unknownMember" not in stored


def test_order_numbers_follow_each_other(api):
    a = new_order(api, 1)["orderNumber"]
    b = new_order(api, 1)["orderNumber"]
    if a[2:8] == b[2:8]:  # not across midnight UTC
        assert int(b[8:]) > int(a[8:]), (a, b)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("level", [0, 5, -1, "0", "5", "01", " 2", "2 ", "2.0", "", "two", 2.0,
                                   2.5, True, None, [2], {"level": 2}],
                         ids=["0", "5", "-1", "string-0", "string-5", "string-01", "string-space-2",
                              "string-2-space", "string-2.0", "string-empty", "string-word",
                              "float-2.0", "float-2.5", "bool", "null", "array", "object"])
def test_bad_level_is_a_validation_error(api, mongo_db, level):
    form = valid_form()
    assert_validation(post(api, {"level": level, "formData": form}), "level")
    assert mongo_db.orders.count_documents({"userEmail": form["email"]}) == 0


def test_missing_level_is_a_validation_error(api):
    assert_validation(post(api, {"formData": valid_form()}), "level")


@pytest.mark.parametrize("form", [None, "x", [], 3, True], ids=["null", "string", "array",
                                                                  "number", "bool"])
def test_form_data_must_be_an_object(api, form):
    assert_validation(post(api, {"level": 1, "formData": form}), "formData")


def test_missing_form_data_is_a_validation_error(api):
    assert_validation(post(api, {"level": 2}), "formData")


BAD_FIELDS = [
    ("firstName", None), ("firstName", ""), ("firstName", "x" * 101), ("firstName", 12),
    ("lastName", None), ("lastName", "y" * 101), ("lastName", ["a"]),
    ("email", None), ("email", "not-an-address"), ("email", "a@"), ("email", "a..b@example.com"),
    ("email", 42), ("email", "a" * 64 + "@" + "b" * 186 + ".com"),
    ("phone", "1" * 33), ("phone", 612345678),
    ("dateOfBirth", "d" * 101), ("dateOfBirth", 19900101),
    ("specificQuestion", "q" * 2001), ("specificQuestion", {"q": 1}),
]


def _bad_id(name, value):
    if value is None:
        return name + "-missing"
    if isinstance(value, str):
        return "%s-str%d" % (name, len(value))
    return "%s-%s" % (name, type(value).__name__)


@pytest.mark.parametrize("name,value", BAD_FIELDS, ids=[_bad_id(n, v) for n, v in BAD_FIELDS])
def test_each_bad_form_field_is_named(api, mongo_db, name, value):
    form = valid_form()
    if value is None:
        del form[name]
    else:
        form[name] = value
    assert_validation(post(api, {"level": 2, "formData": form}), "formData." + name)
    if name != "email":
        assert mongo_db.orders.count_documents({"userEmail": form["email"]}) == 0


@pytest.mark.parametrize("name,value,ok", [
    ("firstName", "é" * 100, True), ("firstName", "é" * 101, False),
    ("lastName", "名" * 100, True), ("lastName", "名" * 101, False),
    ("specificQuestion", "ü" * 2000, True), ("specificQuestion", "ü" * 2001, False),
    ("firstName", "Ada\x01", False), ("lastName", "Love\nlace", False),
    ("specificQuestion", "tab\tand\r\nbreaks", True),
], ids=["first-100-accented", "first-101-accented", "last-100-cjk", "last-101-cjk",
        "question-2000-umlaut", "question-2001-umlaut", "first-control-char", "last-newline",
        "question-line-breaks"])
def test_lengths_are_counted_in_characters(api, mongo_db, name, value, ok):
    form = valid_form(**{name: value})
    r = post(api, {"level": 1, "formData": form})
    if ok:
        assert r.status_code == 200, r.text
        assert order_doc(mongo_db, r.json()["orderId"])["formData"][name] == value
    else:
        assert_validation(r, "formData." + name)


@pytest.mark.parametrize("prefs", ["voice", ["a"], 1], ids=["string", "array", "number"])
def test_preferences_must_be_an_object(api, prefs):
    assert_validation(post(api, {"level": 1, "formData": valid_form(preferences=prefs)}),
                      "formData.preferences")


@pytest.mark.parametrize("name,value", [("audioVoice", "v" * 101), ("audioVoice", 3),
                                        ("deliveryFormat", "f" * 101), ("deliveryFormat", False)])
def test_preference_fields_are_bounded(api, name, value):
    assert_validation(post(api, {"level": 1, "formData": valid_form(preferences={name: value})}),
                      "formData.preferences." + name)


def test_every_bad_field_is_named_in_one_answer(api):
    b = assert_validation(post(api, {"level": 9, "formData": {
        "firstName": "x" * 101, "lastName": 5, "email": "nope", "phone": "1" * 33,
        "specificQuestion": "q" * 2001, "preferences": "loud"}}),
        "level", "formData.firstName", "formData.lastName", "formData.email", "formData.phone",
        "formData.specificQuestion", "formData.preferences")
    assert len(b["details"]) == 7


def test_invalid_json_is_400(api):
    r = api.post(CHECKOUT, data=b'{"level": 2, "formData": {', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_JSON")


@pytest.mark.parametrize("body", [b"[]", b"2", b'"x"', b"null"])
def test_body_that_is_not_an_object_is_400(api, body):
    r = api.post(CHECKOUT, data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_JSON")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(api, mongo_db, ctype):
    email = unique_email("ctype")
    body = json.dumps({"level": 1, "formData": valid_form(email=email)})
    r = api.post(CHECKOUT, data=body, headers={"Content-Type": ctype})
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert mongo_db.orders.count_documents({"userEmail": email}) == 0


# ---------------------------------------------------------------- many at once

def test_200_concurrent_checkouts_get_200_distinct_numbers(api, mongo_db):
    tag = marker()
    day = yymmdd_now()

    def one(i):
        level = 2 if i % 3 == 0 else 1
        return level, checkout(api, level, email="conc-%s-%03d@example.com" % (tag, i))

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(200)))
    bad = [(lvl, r.status_code, r.text) for lvl, r in results if r.status_code != 200]
    assert not bad, bad[:5]
    answers = [(lvl, r.json()) for lvl, r in results]
    numbers = [b["orderNumber"] for _, b in answers]
    assert len(set(numbers)) == 200
    for number in numbers:
        assert_number_of_today(number, day, yymmdd_now())
    for lvl, b in answers:
        assert b["status"] == ("pending" if lvl == 2 else "paid"), b
    docs = list(mongo_db.orders.find({"userEmail": {"$regex": "^conc-%s-" % tag}}))
    assert len(docs) == 200
    assert sorted(d["orderNumber"] for d in docs) == sorted(numbers)
    assert {str(d["_id"]) for d in docs} == {b["orderId"] for _, b in answers}
    for d in docs:
        i = int(d["userEmail"].split("-")[2].split("@")[0])
        if i % 3 == 0:
            assert d["status"] == "pending" and d["paymentIntentId"].startswith("pi_"), d
        else:
            assert d["status"] == "paid", d
    # No order number twice anywhere in the database.
    dup = list(mongo_db.orders.aggregate([{"$group": {"_id": "$orderNumber", "n": {"$sum": 1}}},
                                          {"$match": {"n": {"$gt": 1}}}]))
    assert dup == []
    assert mongo_db.users.count_documents({"email": {"$regex": "^conc-%s-" % tag}}) == 200


# ---------------------------------------------------------------- Stripe failing

def assert_failed_checkout(r, mongo_db, reason_part):
    b = assert_error(r, 502, "PAYMENT_PROVIDER_ERROR")
    assert ORDER_NUMBER.match(b["orderNumber"]), b
    doc = order_doc(mongo_db, b["orderId"])
    assert doc["orderNumber"] == b["orderNumber"]
    assert doc["status"] == "failed", doc
    assert doc["failedAt"] is not None
    assert reason_part in doc["failureReason"].lower(), doc["failureReason"]
    assert "paymentIntentId" not in doc
    return doc


def test_stripe_500_is_502_and_the_order_failed(api, standin, mongo_db):
    standin.fault("error", status=500)
    r = checkout(api, 2)
    doc = assert_failed_checkout(r, mongo_db, "http 500")
    assert doc["failureReason"].startswith("stripe: HTTP 500")
    # Nothing of Stripe's answer or key reaches the client.
    assert "sk_test" not in r.text and "stand-in" not in r.text


def test_stripe_500_on_the_payment_intent_only(api, standin, mongo_db):
    """A user whose customer exists: the PaymentIntent call alone fails."""
    email = unique_email("pifail")
    new_order(api, 2, email=email)
    standin.fault("error", status=503)
    r = checkout(api, 4, email=email)
    assert_failed_checkout(r, mongo_db, "http 503")
    assert standin.state()["last"]["path"] == "/v1/payment_intents"


def test_stripe_refusing_connections_is_502(api, standin, mongo_db):
    new_order(api, 2)  # the workers may keep a connection to Stripe warm: refused all the same
    standin.fault("refuse")
    for _ in range(3):  # whichever worker answers
        assert_failed_checkout(checkout(api, 3), mongo_db, "stripe:")


def test_stripe_hanging_is_502_within_the_timeout(api, standin, mongo_db):
    with program_env("orders", "STRIPE_TIMEOUT_MS=2000"):
        standin.fault("hang")
        t0 = time.monotonic()
        r = checkout(api, 2)
        took = time.monotonic() - t0
        standin.reset()
    assert took < 10, took
    assert took >= 1.9, took  # it did wait for Stripe
    assert_failed_checkout(r, mongo_db, "timeout")


# ---------------------------------------------------------------- database down

def test_database_down_is_503_before_any_stripe_call(api, standin, database_stopped):
    r = checkout(api, 2)
    b = assert_error(r, 503, "DATABASE_UNAVAILABLE")
    assert set(b) == {"error", "code", "requestId"}
    state = standin.state()
    assert state["byPath"].get("/v1/customers", 0) == 0, state
    assert state["byPath"].get("/v1/payment_intents", 0) == 0, state
