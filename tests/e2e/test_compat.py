"""Issue 13: the original's own web apps against us, unchanged (API.md, the **(compat)** places).

Each test replays what a client of the original sends, read from its source (the public
repository tachfineamnay/oracle-lumira):
- the expert desk at commit 15dd128 (apps/expert-desk/src: utils/api.ts, hooks/useAuth.ts,
  App.tsx, pages/LoginPage.tsx, pages/DeskPage.tsx, components/OrdersQueue.tsx,
  components/ContentGenerator.tsx): an axios 1.x instance whose every call sends
  `Accept: application/json` and `Authorization: Bearer <the token in localStorage>`, and
  `Content-Type: application/json` only with a body (axios drops the header of a call without
  data), from the desk's dev server origin http://localhost:5174 through nginx;
- the customer app's checkout at commit e87a00f (apps/main-app/src/pages/CommandeTemple.tsx):
  fetch POST /api/stripe/create-payment-intent with `{"level": <the URL's ?level=, a string>,
  "formData": {...}}`;
- the documents the original's models (apps/api-backend/src/models/*.ts at 15dd128) wrote into
  MongoDB, read back through every route that shows them.
Each asserts on every field those files read."""

import datetime
import json
import os
import re
import threading
import time
from urllib.parse import urlsplit

import bcrypt
import bson
import pytest

from conftest import (BASE, ENV_FILE, bearer, claims_for, create_expert, make_jwt, unique_email)
from orders_util import (AMOUNTS, CHECKOUT, LEVEL_NAMES, as_utc, assert_error,
                         assert_validation, iso_ms, marker, new_expert, new_order, oid, order_doc,
                         paid_order, set_status)
from test_desk import Listener

DESK_ORIGIN = "http://localhost:5174"  # the desk's Vite dev server (apps/expert-desk)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
NOBODY = object()


def is_int(v):
    return type(v) is int  # bool is an int subclass in Python: not a JSON number


def n8n_webhook_path():
    """The path of the stack's own N8N_WEBHOOK_URL (its environment file)."""
    with open(ENV_FILE) as f:
        for line in f:
            name, _, value = line.strip().partition("=")
            if name == "N8N_WEBHOOK_URL":
                return urlsplit(value).path
    raise AssertionError("N8N_WEBHOOK_URL not in " + ENV_FILE)


class Desk:
    """The desk's axios instance in a browser page of the desk's dev server. `token` is what
    localStorage holds (expert_token), None after a logout."""

    def __init__(self, api, token=None):
        import requests
        self.api = api
        self.token = token
        # As a browser does: keep-alive connections, reused from one call to the next (a call
        # whose body nginx or a program framed wrongly would break the next one on the line).
        self.session = requests.Session()

    def send(self, method, path, body=NOBODY, content_type=False):
        """`path` under the axios baseURL (.../api). With `body`, JSON.stringify's bytes and
        Content-Type: application/json; without, no body and no Content-Type, unless
        content_type is True (the variant of a client that keeps the header)."""
        h = {"Accept": "application/json", "User-Agent": FIREFOX,
             "Accept-Encoding": "gzip, deflate, br", "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5",
             "Origin": DESK_ORIGIN, "Referer": DESK_ORIGIN + "/", "Sec-Fetch-Dest": "empty",
             "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site", "Connection": "keep-alive"}
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not NOBODY:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            h["Content-Type"] = "application/json"
        elif content_type:
            h["Content-Type"] = "application/json"
        return self.session.request(method, self.api.base + "/api" + path, data=data, headers=h,
                                    timeout=30, allow_redirects=False)

    def get(self, path):
        return self.send("GET", path)

    def post(self, path, body=NOBODY, content_type=False):
        return self.send("POST", path, body, content_type)


def desk_error(r, status, code):
    """An error answer as the desk shows it: it reads `error` (a string) and shows it."""
    b = assert_error(r, status, code)
    assert isinstance(b["error"], str) and b["error"].strip(), b
    return b


def check_expert(e, expert):
    """The expert object of login and verify: the desk reads _id (login), id, name, email."""
    assert e["_id"] == expert["id"] and e["id"] == expert["id"], e
    assert e["name"] == expert["name"] and e["email"] == expert["email"], e


def check_listed(o, made, form, doc, assigned_to):
    """One order of the desk's pending list as OrdersQueue and ContentGenerator read it."""
    assert o["_id"] == made["orderId"] and o["id"] == made["orderId"], o
    assert o["orderNumber"] == made["orderNumber"], o
    assert is_int(o["level"]) and o["level"] == doc["level"], o
    assert o["levelName"] == LEVEL_NAMES[doc["level"]], o
    assert is_int(o["amount"]) and o["amount"] == AMOUNTS[doc["level"]], o
    assert o["status"] == "paid", o
    for k in ("firstName", "lastName", "email", "phone", "dateOfBirth", "specificQuestion"):
        assert o["formData"][k] == form[k], (k, o["formData"])
    assert isinstance(o["createdAt"], str) and ISO_MS.match(o["createdAt"]), o
    assert o["createdAt"] == iso_ms(doc["createdAt"]), (o["createdAt"], doc["createdAt"])
    assert "assignedExpertId" in o, o
    assert o["assignedExpertId"] == assigned_to, o


def desk_orders(r):
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"orders", "count"}, b
    assert is_int(b["count"]) and b["count"] >= len(b["orders"]), b
    # Newest first (API.md "Expert desk").
    created = [o["createdAt"] for o in b["orders"]]
    assert created == sorted(created, reverse=True), created
    return {o["_id"]: o for o in b["orders"]}


STATS = ("pending", "paid", "processing", "completed", "treatedToday", "totalTreated",
         "assigned", "awaitingReview")


def desk_stats(r, mongo_db):
    """GET /api/expert/stats as DeskPage reads it: a flat object (setStats(response.data));
    `paid`, `processing`, `completed` are every order in that status."""
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(s) == set(STATS), s
    for k in STATS:
        assert is_int(s[k]) and s[k] >= 0, (k, s)
    for k in ("paid", "processing", "completed"):
        assert s[k] == mongo_db.orders.count_documents({"status": k}), (k, s)
    return s


def parallel(*calls):
    """Runs the calls at the same time (DeskPage's Promise.all); their answers in order."""
    out = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i):
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def prompt_for(form):
    """ContentGenerator's level template for a Simple reading, as the expert edits it: its
    leading and trailing blank lines are trimmed by the desk before sending."""
    return ("\n  CONSULTATION ORACLE LUMIRA - NIVEAU SIMPLE\n\nClient: %s %s\n"
            "Date de naissance: 01/01/1990\nEmail: %s\nTéléphone: %s\n\n"
            "Question du client: \"%s\"\n\nCONSIGNES POUR LA LECTURE SIMPLE:\n"
            "- Tirer 1 carte oracle et interpréter son message\n\nPERSONNALISATION:\n"
            "Une guidance douce.\n\n" % (form["firstName"], form["lastName"], form["email"],
                                         form["phone"], form["specificQuestion"]))


# ---------------------------------------------------------------- the desk session

def test_compat_desk_session(api, n8n, mongo_db):
    me = create_expert(name="Élise Desk")
    rival = new_expert(api, "Rival Desk")
    m = marker()
    forms = {}
    made = {}
    for tag, dob in (("a", "1990-01-01"), ("b", "1985-12-31")):
        forms[tag] = {"firstName": "Anaïs", "lastName": "Test-" + tag, "phone": "0601020304",
                      "email": "%s-%s@example.com" % (m, tag), "dateOfBirth": dob,
                      "specificQuestion": "Que dit la carte pour %s ?" % tag}
        f = dict(forms[tag])
        made[tag] = paid_order(api, email=f.pop("email"), **f)
    unpaid = new_order(api, 2, email="%s-unpaid@example.com" % m)
    a, b = made["a"]["orderId"], made["b"]["orderId"]
    desk = Desk(api)

    # The mount of useAuth with a token left in localStorage by an earlier session, expired:
    # 401 (the desk logs out) with an error it can show.
    now = int(time.time())
    desk.token = make_jwt(claims_for(me, iat=now - 7200, exp=now - 3600))
    desk_error(desk.get("/expert/verify"), 401, "TOKEN_EXPIRED")
    desk.token = None

    # LoginPage: POST /expert/login {email, password}; useAuth keeps token and expert._id.
    r = desk.post("/expert/login", {"email": me["email"], "password": me["password"]})
    assert r.status_code == 200, r.text
    login = r.json()
    assert login["success"] is True, login
    assert isinstance(login["token"], str) and login["token"].count(".") == 2, login
    check_expert(login["expert"], me)
    assert login["expert"]["role"] == "expert", login
    assert login["expert"]["lastLogin"] is None, login  # the first login
    first_login = mongo_db.experts.find_one({"_id": oid(me["id"])})["lastLogin"]
    assert first_login is not None
    desk.token = login["token"]

    # A reload: the mount verifies the stored token.
    r = desk.get("/expert/verify")
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is True, r.text
    check_expert(r.json()["expert"], me)

    # DeskPage's fetchData: pending orders and stats at once.
    r_orders, r_stats = parallel(lambda: desk.get("/expert/orders/pending"),
                                 lambda: desk.get("/expert/stats"))
    listed = desk_orders(r_orders)
    s1 = desk_stats(r_stats, mongo_db)
    assert unpaid["orderId"] not in listed
    for tag in ("a", "b"):
        assert made[tag]["orderId"] in listed, tag
        check_listed(listed[made[tag]["orderId"]], made[tag], forms[tag],
                     order_doc(mongo_db, made[tag]["orderId"]), None)
    assert list(listed).index(b) < list(listed).index(a)  # b is newer
    assert (s1["treatedToday"], s1["totalTreated"], s1["assigned"], s1["awaitingReview"]) == \
        (0, 0, 0, 0), s1

    # "Prendre cette commande": api.post(`/expert/orders/${order._id}/assign`), no data.
    r = desk.post("/expert/orders/%s/assign" % a)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True, r.text
    doc = order_doc(mongo_db, a)
    assert doc["assignedExpertId"] == oid(me["id"]) and doc["status"] == "paid"

    # Another expert's desk takes the same order: 409, and the desk shows `error`.
    desk_error(Desk(api, rival["token"]).post("/expert/orders/%s/assign" % a), 409,
               "ALREADY_ASSIGNED")
    assert order_doc(mongo_db, a)["assignedExpertId"] == oid(me["id"])

    # handleTakeOrder's fetchOrders: the order just taken is still there, mine.
    listed = desk_orders(desk.get("/expert/orders/pending"))
    assert a in listed and b in listed
    check_listed(listed[a], made["a"], forms["a"], order_doc(mongo_db, a), me["id"])
    check_listed(listed[b], made["b"], forms["b"], order_doc(mongo_db, b), None)
    rivals = desk_orders(Desk(api, rival["token"]).get("/expert/orders/pending"))
    assert a not in rivals and b in rivals
    s2 = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert s2["pending"] == s1["pending"] - 1, (s1, s2)
    assert (s2["paid"], s2["processing"]) == (s1["paid"], s1["processing"]), (s1, s2)
    assert (s2["assigned"], s2["treatedToday"], s2["totalTreated"]) == (1, 0, 0), s2

    # endpoints.orderDetails: the order document itself, unwrapped.
    r = desk.get("/expert/orders/%s" % a)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert "order" not in detail, detail
    check_listed(detail, made["a"], forms["a"], order_doc(mongo_db, a), me["id"])
    assert detail["userEmail"] == forms["a"]["email"], detail

    # ContentGenerator's sendToAssistant: the trimmed prompt, an empty instructions textarea,
    # and an n8n URL typed into its field, which must be ignored.
    listener = Listener()
    try:
        prompt = prompt_for(forms["a"]).strip()
        r = desk.post("/expert/process-order", {"orderId": a, "expertPrompt": prompt,
                                                "expertInstructions": "",
                                                "n8nWebhookUrl": listener.url})
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True, "orderId": a,
                            "orderNumber": made["a"]["orderNumber"], "status": "processing"}
        received = n8n.received()
        assert [p["path"] for p in received] == [n8n_webhook_path()], received
        sent = received[0]["json"]
        assert sent["orderId"] == a and sent["expertPrompt"] == prompt, sent
        assert "expertInstructions" not in sent, sent  # "" is the same as none
        assert sent["expertId"] == me["id"], sent
        time.sleep(0.5)  # anything posted to the listener would have arrived by now
        assert listener.requests == []
    finally:
        listener.close()
    doc = order_doc(mongo_db, a)
    assert doc["status"] == "processing" and doc["expertPrompt"] == prompt
    assert "expertInstructions" not in doc and "n8nWebhookUrl" not in doc, doc
    assert listener.url not in json.dumps(doc, default=str)

    # handleOrderUpdate's refreshOrders: pending, then stats.
    listed = desk_orders(desk.get("/expert/orders/pending"))
    assert a not in listed and b in listed  # sent to n8n: no longer work to take up
    s3 = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert s3["pending"] == s2["pending"], (s2, s3)
    assert s3["paid"] == s2["paid"] - 1 and s3["processing"] == s2["processing"] + 1, (s2, s3)
    assert (s3["assigned"], s3["treatedToday"], s3["totalTreated"]) == (1, 0, 0), s3

    # The next session's login shows the previous login's time.
    r = Desk(api).post("/expert/login", {"email": me["email"], "password": me["password"]})
    assert r.status_code == 200, r.text
    assert r.json()["expert"]["lastLogin"] == iso_ms(first_login), r.text


def test_compat_desk_without_a_token_is_401_everywhere(api):
    """After a logout (no token in localStorage) or with one the server refuses, every call the
    desk makes is 401 with an `error` it can show (its interceptor then goes to /login)."""
    calls = (("GET", "/expert/verify", NOBODY), ("GET", "/expert/orders/pending", NOBODY),
             ("GET", "/expert/stats", NOBODY), ("GET", "/expert/orders/" + "a" * 24, NOBODY),
             ("POST", "/expert/orders/%s/assign" % ("a" * 24), NOBODY),
             ("POST", "/expert/process-order", {"orderId": "a" * 24, "expertPrompt": "p",
                                                "expertInstructions": ""}))
    for token, code in ((None, "NO_TOKEN"), ("not.a.token", "INVALID_TOKEN")):
        desk = Desk(api, token)
        for method, path, body in calls:
            desk_error(desk.send(method, path, body), 401, code)


def test_compat_desk_login_with_a_stale_token_still_in_storage(api):
    """The interceptor adds the stored token to every call, the login's too: a stale or broken
    one left in localStorage does not stand in the way of logging in."""
    me = create_expert(name="Stale Storage")
    now = int(time.time())
    for stale in (make_jwt(claims_for(me, iat=now - 7200, exp=now - 3600)), "garbage",
                  make_jwt(claims_for(me), secret="x" * 40)):
        r = Desk(api, stale).post("/expert/login", {"email": me["email"],
                                                    "password": me["password"]})
        assert r.status_code == 200, (stale, r.text)
        check_expert(r.json()["expert"], me)


UNKNOWN_MEMBERS = {"string": "https://n8n.example/webhook/x", "number": 12, "null": None,
                   "bool": False, "array": [1, "two", {"three": 3}],
                   "object": {"url": "http://127.0.0.1:1/", "headers": {"X": "y"}}}


@pytest.mark.parametrize("kind", sorted(UNKNOWN_MEMBERS))
def test_compat_unknown_members_of_any_type_are_ignored(api, n8n, mongo_db, kind):
    """API.md: unknown members of a JSON body are ignored, never an error, whatever their
    type: on the desk's process-order and login, and on the customer's checkout."""
    value = UNKNOWN_MEMBERS[kind]
    me = new_expert(api, "Lenient")
    order = paid_order(api)
    r = Desk(api, me["token"]).post("/expert/process-order", {
        "orderId": order["orderId"], "expertPrompt": "Lecture", "n8nWebhookUrl": value,
        "somethingElse": value})
    assert r.status_code == 200, r.text
    assert [p["path"] for p in n8n.received()] == [n8n_webhook_path()]
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing"
    assert "n8nWebhookUrl" not in doc and "somethingElse" not in doc, doc
    r = Desk(api).post("/expert/login", {"email": me["email"], "password": me["password"],
                                         "remember": value})
    assert r.status_code == 200, r.text
    form = temple_form(unique_email("lenient"))
    form["extra"] = value
    r = temple_fetch(api, {"level": 1, "formData": form, "coupon": value})
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, r.json()["orderId"])
    assert "coupon" not in doc and "extra" not in doc["formData"], doc


def test_compat_desk_take_with_json_content_type_and_empty_body(api, mongo_db):
    """A client that keeps Content-Type: application/json on a call without data (an empty
    body): the same take."""
    me = new_expert(api, "Typed Taker")
    order = paid_order(api)
    r = Desk(api, me["token"]).post("/expert/orders/%s/assign" % order["orderId"],
                                    content_type=True)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True, r.text
    assert order_doc(mongo_db, order["orderId"])["assignedExpertId"] == oid(me["id"])
    # And once more, now mine: 200 again, nothing changes.
    r = Desk(api, me["token"]).post("/expert/orders/%s/assign" % order["orderId"],
                                    content_type=True)
    assert r.status_code == 200, r.text


def test_compat_desk_stats_count_what_the_expert_treated(api, mongo_db):
    """treatedToday and totalTreated: the orders this expert completed since 00:00 UTC / ever
    (completion time: deliveredAt, which PATCH .../delivered sets)."""
    me = new_expert(api, "Treating Expert")
    desk = Desk(api, me["token"])
    before = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert (before["treatedToday"], before["totalTreated"]) == (0, 0), before
    done = []
    for _ in range(2):
        o = paid_order(api)
        assert desk.post("/expert/orders/%s/assign" % o["orderId"]).status_code == 200
        set_status(api, me["token"], o["orderId"], "processing")
        r = api.request("PATCH", "/api/orders/%s/delivered" % o["orderId"], json={},
                        headers=bearer(me["token"]))
        assert r.status_code == 200, r.text
        done.append(o["orderId"])
    s = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert (s["treatedToday"], s["totalTreated"]) == (2, 2), s
    assert s["completed"] == before["completed"] + 2, (before, s)
    # One of them completed yesterday: still treated, not today.
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    mongo_db.orders.update_one({"_id": oid(done[0])}, {"$set": {"deliveredAt": yesterday}})
    s = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert (s["treatedToday"], s["totalTreated"]) == (1, 2), s
    # Another expert's numbers are their own.
    other = desk_stats(Desk(api, new_expert(api, "Idle")["token"]).get("/expert/stats"), mongo_db)
    assert (other["treatedToday"], other["totalTreated"], other["assigned"]) == (0, 0, 0), other


def test_compat_desk_dev_origin_cors(api):
    """The browser's side of the desk on its dev server (http://localhost:5174): the preflights
    of its calls are answered 204 with the origin and the headers allowed, and its answers carry
    the origin so that the page may read them."""
    for method, path, asked in (("POST", "/api/expert/orders/%s/assign" % ("a" * 24),
                                 "authorization"),
                                ("POST", "/api/expert/process-order", "authorization,content-type"),
                                ("POST", "/api/expert/login", "authorization,content-type"),
                                ("GET", "/api/expert/orders/pending", "authorization")):
        r = api.request("OPTIONS", path, headers={
            "Origin": DESK_ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": asked, "User-Agent": FIREFOX})
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert r.headers.get("Access-Control-Allow-Origin") == DESK_ORIGIN, (path, r.headers)
        methods = [x.strip() for x in r.headers.get("Access-Control-Allow-Methods", "").split(",")]
        assert method in methods, (path, r.headers)
        allowed = [x.strip().lower() for x in
                   r.headers.get("Access-Control-Allow-Headers", "").split(",")]
        for h in asked.split(","):
            assert h in allowed, (path, h, r.headers)
    r = Desk(api).get("/expert/verify")
    assert r.status_code == 401
    assert r.headers.get("Access-Control-Allow-Origin") == DESK_ORIGIN, r.headers


# ---------------------------------------------------------------- the customer checkout

def temple_fetch(api, body):
    """CommandeTemple's createPaymentIntent: fetch('/api/stripe/create-payment-intent', {method:
    'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(...)}) from the
    customer app's own origin."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(BASE))
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return api.post(CHECKOUT, data=data, headers={
        "Content-Type": "application/json", "Accept": "*/*", "User-Agent": FIREFOX,
        "Accept-Encoding": "gzip, deflate, br", "Origin": origin,
        "Referer": origin + "/commande?level=2", "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin"})


def temple_form(email="test@example.com"):
    """CommandeTemple's mockFormData (its own e-mail address unless another is given)."""
    return {"firstName": "Test", "lastName": "User", "email": email, "dateOfBirth": "1990-01-01"}


def test_compat_checkout_level_2_as_a_string(api, standin, mongo_db):
    r = temple_fetch(api, {"level": "2", "formData": temple_form()})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["requiresPayment"] is True, b
    assert isinstance(b["clientSecret"], str) and "_secret_" in b["clientSecret"], b
    assert isinstance(b["orderId"], str) and HEX24.match(b["orderId"]), b
    assert (b["success"], b["status"], b["amount"], b["currency"]) == \
        (True, "pending", 1400, "eur"), b
    doc = order_doc(mongo_db, b["orderId"])
    assert is_int(doc["level"]) and doc["level"] == 2, doc  # stored as the number
    assert (doc["levelName"], doc["amount"], doc["status"]) == ("Intuitive", 1400, "pending")
    assert doc["formData"] == temple_form(), doc["formData"]
    assert doc["orderNumber"] == b["orderNumber"] and doc["paymentIntentId"]


def test_compat_checkout_level_1_as_a_string(api, mongo_db):
    email = unique_email("temple")
    r = temple_fetch(api, {"level": "1", "formData": temple_form(email)})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["requiresPayment"] is False, b
    assert isinstance(b["orderId"], str) and HEX24.match(b["orderId"]), b
    assert isinstance(b["message"], str) and b["message"], b
    assert (b["success"], b["status"], b["amount"]) == (True, "paid", 0), b
    assert "clientSecret" not in b, b
    doc = order_doc(mongo_db, b["orderId"])
    assert (doc["level"], doc["levelName"], doc["status"]) == (1, "Simple", "paid"), doc


@pytest.mark.parametrize("level", [1, 2, 3, 4, "3", "4"],
                         ids=["1", "2", "3", "4", "string-3", "string-4"])
def test_compat_checkout_levels_as_numbers_and_strings(api, standin, mongo_db, level):
    r = temple_fetch(api, {"level": level, "formData": temple_form(unique_email("temple"))})
    assert r.status_code == 200, r.text
    b = r.json()
    n = int(level)
    assert b["requiresPayment"] is (n != 1), b
    assert b["amount"] == AMOUNTS[n], b
    doc = order_doc(mongo_db, b["orderId"])
    assert is_int(doc["level"]) and doc["level"] == n, doc
    assert doc["levelName"] == LEVEL_NAMES[n] and doc["amount"] == AMOUNTS[n], doc


BAD_LEVELS = ["5", "0", "01", " 2", "2 ", "+2", "-1", "2.0", "1e0", "0x2", "²", "٢", "2\u0000",
              "", 2.5, 2.0, 0, 5, -1, True, False, None, [2], {"level": 2}]


@pytest.mark.parametrize("level", BAD_LEVELS, ids=[json.dumps(x) for x in BAD_LEVELS])
def test_compat_checkout_other_levels_are_refused(api, standin, mongo_db, level):
    email = unique_email("badlevel")
    orders, users = mongo_db.orders.count_documents({}), mongo_db.users.count_documents({})
    assert_validation(temple_fetch(api, {"level": level, "formData": temple_form(email)}), "level")
    assert mongo_db.orders.count_documents({}) == orders
    assert mongo_db.users.count_documents({}) == users
    assert mongo_db.users.find_one({"email": email}) is None
    assert standin.state()["requests"] == 0  # nothing asked of Stripe either


def test_compat_checkout_without_level_is_refused(api, mongo_db):
    orders = mongo_db.orders.count_documents({})
    assert_validation(temple_fetch(api, {"formData": temple_form(unique_email("nolevel"))}),
                      "level")
    assert mongo_db.orders.count_documents({}) == orders


# ---------------------------------------------------------------- legacy documents

LEGACY_PASSWORD = "legacy-Pass-2024"


def now_ms():
    """Now, at the millisecond precision BSON dates keep."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def shown(value):
    """A stored BSON value as the API shows it (API.md: ids 24 hex, dates ISO-8601 UTC ms)."""
    if isinstance(value, bson.ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        return iso_ms(value)
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


LIST_OMITS = ("generatedContent", "expertPrompt", "expertInstructions", "n8nError")


def check_legacy(o, doc, assigned_to, listed=False, desk=False):
    """Order `o` of an answer shows legacy `doc` as stored: every stored field with its value
    (lists leave out the large free-text fields), its id as _id and id, and who it is
    assigned to. Filled in for the client: nothing but levelName (from the level) and
    assignedExpertId (which the desk's answers always carry, null when free)."""
    want = shown(doc)
    want["id"] = want["_id"]
    if listed:
        for k in LIST_OMITS:
            want.pop(k, None)
        if "notes" in want.get("expertReview", {}):
            del want["expertReview"]["notes"]
    extra = set(o) - set(want)
    assert extra <= {"assignedExpertId", "levelName"}, (extra, o)
    if "levelName" in extra:
        assert o["levelName"] == LEVEL_NAMES[doc["level"]], o
    if desk:
        assert "assignedExpertId" in o, o
    if assigned_to is not None or "assignedExpertId" in o:
        assert o["assignedExpertId"] == assigned_to, o
    for k, v in want.items():
        assert k in o and o[k] == v, (k, o.get(k), v)


def legacy_sequence():
    """A daily sequence number of 6 digits, which ours (a counter from 1) does not reach in a
    run of the suite; random, so that sets of documents do not collide with each other."""
    return 100000 + int.from_bytes(os.urandom(4), "big") % 900000


class Legacy:
    """Documents written as the original's models made them (mongoose, `__v`, bcryptjs $2a$
    hashes), under one marker so that GET /api/orders?email= finds exactly them."""

    def __init__(self, mongo_db):
        self.db = mongo_db
        self.made = []  # (collection, _id) of every document written here
        self.m = marker()
        self.day = datetime.datetime.now(datetime.timezone.utc).strftime("%y%m%d")

    def expert(self, name="Ancien Expert", **over):
        t = now_ms() - datetime.timedelta(days=200)
        doc = {"_id": bson.ObjectId(), "email": "%s-expert@example.com" % self.m,
               "password": bcrypt.hashpw(LEGACY_PASSWORD.encode(),
                                         bcrypt.gensalt(10, prefix=b"2a")).decode(),
               "name": name, "role": "expert", "isActive": True, "createdAt": t,
               "updatedAt": t, "__v": 0}
        doc.update(over)
        assert doc["password"].startswith("$2a$10$")
        self.db.experts.insert_one(doc)
        self.made.append(("experts", doc["_id"]))
        return {"id": str(doc["_id"]), "email": doc["email"], "name": name, "role": "expert",
                "password": LEGACY_PASSWORD, "doc": doc}

    def user(self, tag="client"):
        t = now_ms() - datetime.timedelta(days=100)
        doc = {"_id": bson.ObjectId(), "email": "%s-%s@example.com" % (self.m, tag),
               "firstName": "Ancienne", "lastName": "Cliente", "phone": "+33601020304",
               "dateOfBirth": datetime.datetime(1979, 3, 4, tzinfo=datetime.timezone.utc),
               "subscriptionStatus": "inactive", "createdAt": t, "updatedAt": t, "__v": 0}
        self.db.users.insert_one(doc)
        self.made.append(("users", doc["_id"]))
        return doc

    def remove(self):
        """Takes the documents out again, so that the rest of the suite, which makes its own,
        does not meet these shapes (and what the desk wrote of them: their claims)."""
        for coll, _id in self.made:
            self.db[coll].delete_one({"_id": _id})
            if coll == "orders":
                self.db.order_assignments.delete_one({"_id": _id})

    def order(self, user, level=2, status="paid", drop=(), **fields):
        """An order as the original's Order model saved it; `drop` names fields it lacks."""
        t = now_ms()
        doc = {"_id": bson.ObjectId(), "orderNumber": "LU%s%d" % (self.day, legacy_sequence()),
               "userId": user["_id"], "userEmail": user["email"], "level": level,
               "levelName": LEVEL_NAMES[level], "amount": AMOUNTS[level], "currency": "eur",
               "status": status,
               "formData": {"firstName": user["firstName"], "lastName": user["lastName"],
                            "email": user["email"], "phone": user["phone"],
                            "dateOfBirth": user["dateOfBirth"],
                            "specificQuestion": "Quel chemin ?",
                            "preferences": {"audioVoice": "feminine", "deliveryFormat": "email"}},
               "files": [], "clientInputs": {"birthTime": "06:30", "birthPlace": "Lyon"},
               "paidAt": t - datetime.timedelta(minutes=5), "createdAt": t, "updatedAt": t,
               "__v": 0}
        for k in drop:
            doc.pop(k)
        doc.update(fields)
        self.db.orders.insert_one(doc)
        self.made.append(("orders", doc["_id"]))
        return self.db.orders.find_one({"_id": doc["_id"]})  # as pymongo reads it back


def expert_review(expert, **more):
    """The original's assign: expertReview.expertId the expert's id as a string."""
    r = {"expertId": expert["id"], "expertName": expert["name"],
         "assignedAt": now_ms() - datetime.timedelta(minutes=1)}
    r.update(more)
    return r


@pytest.fixture(scope="module")
def legacy(api):
    """The original's documents: its expert (logged in), a customer, and five orders of his:
    free (no expertReview; dateOfBirth a date; no currency, updatedAt or levelName); taken
    (the original's assign: expertReview {expertId as a string, assignedAt}, no review status,
    no assignedExpertId; dateOfBirth a string); working (processing, content back, awaiting
    the review); and two he completed, yesterday and today."""
    import pymongo
    from conftest import MONGO_URI
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    lg = Legacy(db)
    old = lg.expert()
    user = lg.user()
    free = lg.order(user, level=3, drop=("currency", "updatedAt", "levelName"))
    taken = lg.order(user, level=2, expertReview={"expertId": old["id"], "assignedAt": now_ms()})
    db.orders.update_one({"_id": taken["_id"]}, {"$set": {"formData.dateOfBirth": "1979-03-04"}})
    taken = db.orders.find_one({"_id": taken["_id"]})
    working = lg.order(user, level=4, status="processing",
                       expertReview=expert_review(old, status="pending", notes="À revoir"),
                       expertPrompt="Prompt", expertInstructions="Consignes",
                       generatedContent={"reading": "La lecture", "archetype": "L'Ermite"})
    yesterday = now_ms() - datetime.timedelta(days=1)
    done_old = lg.order(user, level=2, status="completed", deliveredAt=yesterday,
                        deliveryMethod="email",
                        expertReview=expert_review(old, status="approved", reviewedAt=yesterday))
    done_now = lg.order(user, level=1, status="completed", deliveredAt=now_ms(),
                        deliveryMethod="email",
                        expertReview=expert_review(old, status="approved", reviewedAt=now_ms()))
    docs = {"free": free, "taken": taken, "working": working, "done_old": done_old,
            "done_now": done_now}
    owner = {str(d["_id"]): (None if k == "free" else old["id"]) for k, d in docs.items()}
    r = Desk(api).post("/expert/login", {"email": old["email"], "password": LEGACY_PASSWORD})
    old["login"] = r
    old["desk"] = Desk(api, r.json().get("token") if r.status_code == 200 else None)
    try:
        yield {"lg": lg, "old": old, "user": user, "docs": docs, "owner": owner}
    finally:
        lg.remove()
        client.close()


@pytest.fixture
def make_legacy(mongo_db):
    """Legacy(mongo_db) sets for one test, removed after it."""
    sets = []

    def make():
        sets.append(Legacy(mongo_db))
        return sets[-1]

    yield make
    for lg in sets:
        lg.remove()


def ids(d):
    return str(d["_id"])


def test_compat_legacy_expert_logs_in(api, legacy):
    """The original's expert: a $2a$ hash of bcryptjs, no lastLogin yet."""
    old = legacy["old"]
    r = old["login"]
    assert r.status_code == 200, r.text
    check_expert(r.json()["expert"], old)
    assert r.json()["expert"]["lastLogin"] is None, r.text
    assert_error(api.post("/api/expert/login", json={"email": old["email"],
                                                     "password": LEGACY_PASSWORD + "x"}),
                 401, "INVALID_CREDENTIALS")
    r = old["desk"].get("/expert/verify")
    assert r.status_code == 200 and r.json()["valid"] is True, r.text
    check_expert(r.json()["expert"], old)
    r = api.get("/api/expert/profile", headers=bearer(old["desk"].token))
    assert r.status_code == 200, r.text
    assert r.json()["expert"]["createdAt"] == iso_ms(old["doc"]["createdAt"]), r.text


def test_compat_legacy_orders_through_the_orders_api(api, legacy, admin_token):
    """GET /api/orders (expert and admin) and GET /api/orders/:id show them as stored."""
    docs = legacy["docs"]
    other = new_expert(api, "Orders Reader")
    for token in (other["token"], admin_token):
        r = api.get("/api/orders?limit=100&email=" + legacy["lg"].m, headers=bearer(token))
        assert r.status_code == 200, r.text
        got = {o["_id"]: o for o in r.json()["orders"]}
        assert set(got) == set(legacy["owner"]), (sorted(got), sorted(legacy["owner"]))
        assert r.json()["pagination"]["count"] == len(docs), r.text
        for d in docs.values():
            check_legacy(got[ids(d)], d, legacy["owner"][ids(d)], listed=True)
        for d in docs.values():
            r = api.get("/api/orders/" + ids(d), headers=bearer(token))
            assert r.status_code == 200, r.text
            check_legacy(r.json()["order"], d, legacy["owner"][ids(d)])


def test_compat_legacy_order_details_on_the_desk(api, legacy):
    """GET /api/expert/orders/:id: the document itself, assigned as the original assigned it."""
    desk = Desk(api, new_expert(api, "Detail Reader")["token"])
    for d in legacy["docs"].values():
        r = desk.get("/expert/orders/%s" % d["_id"])
        assert r.status_code == 200, r.text
        check_legacy(r.json(), d, legacy["owner"][ids(d)], desk=True)


def test_compat_legacy_orders_in_the_desk_queues(api, legacy):
    docs, old = legacy["docs"], legacy["old"]
    desk = Desk(api, new_expert(api, "Queue Reader")["token"])
    # Another expert's queue: the free one only, free.
    mine = desk_orders(desk.get("/expert/orders/pending"))
    assert ids(docs["free"]) in mine
    check_legacy(mine[ids(docs["free"])], docs["free"], None, listed=True, desk=True)
    for k in ("taken", "working", "done_old", "done_now"):
        assert ids(docs[k]) not in mine, k
    assert desk_orders(desk.get("/expert/orders/assigned")) == {}
    # The original's expert: the free one, and the paid one he took, his.
    his = desk_orders(old["desk"].get("/expert/orders/pending"))
    assert ids(docs["free"]) in his and ids(docs["taken"]) in his, sorted(his)
    check_legacy(his[ids(docs["taken"])], docs["taken"], old["id"], listed=True, desk=True)
    for k in ("working", "done_old", "done_now"):
        assert ids(docs[k]) not in his, k
    # His assigned list: paid or processing, his.
    r = old["desk"].get("/expert/orders/assigned")
    assigned = desk_orders(r)
    assert set(assigned) == {ids(docs["taken"]), ids(docs["working"])}, sorted(assigned)
    assert r.json()["count"] == 2, r.text
    check_legacy(assigned[ids(docs["taken"])], docs["taken"], old["id"], listed=True, desk=True)
    check_legacy(assigned[ids(docs["working"])], docs["working"], old["id"], listed=True, desk=True)


def test_compat_legacy_orders_in_the_stats(api, legacy, mongo_db, make_legacy):
    """A free legacy order is in the queue (`pending`), one the original assigned is not; the
    original's expert's treated and awaiting-review orders count as his."""
    old = legacy["old"]
    desk = Desk(api, new_expert(api, "Stats Reader")["token"])
    s0 = desk_stats(desk.get("/expert/stats"), mongo_db)
    hs = desk_stats(old["desk"].get("/expert/stats"), mongo_db)
    assert (hs["treatedToday"], hs["totalTreated"], hs["awaitingReview"]) == (1, 2, 1), hs
    assert (s0["treatedToday"], s0["totalTreated"], s0["assigned"]) == (0, 0, 0), s0
    assert hs["pending"] == s0["pending"], (hs, s0)
    more = make_legacy()  # under a marker of its own: the fixture's set stays as it is
    buyer = more.user()
    more.order(buyer)
    s1 = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert s1["pending"] == s0["pending"] + 1 and s1["paid"] == s0["paid"] + 1, (s0, s1)
    more.order(buyer, expertReview=expert_review(old))
    s2 = desk_stats(desk.get("/expert/stats"), mongo_db)
    assert s2["pending"] == s1["pending"] and s2["paid"] == s1["paid"] + 1, (s1, s2)


def test_compat_legacy_assigned_order_cannot_be_taken_by_another(api, legacy, mongo_db):
    docs, old = legacy["docs"], legacy["old"]
    taken = docs["taken"]
    desk = Desk(api, new_expert(api, "Late Taker")["token"])
    desk_error(desk.post("/expert/orders/%s/assign" % taken["_id"]), 409, "ALREADY_ASSIGNED")
    assert order_doc(mongo_db, ids(taken)) == taken  # nothing written
    assert mongo_db.order_assignments.count_documents({"_id": taken["_id"]}) == 0
    r = desk.post("/expert/process-order", {"orderId": ids(taken), "expertPrompt": "p"})
    desk_error(r, 409, "ALREADY_ASSIGNED")
    assert order_doc(mongo_db, ids(taken)) == taken
    # He can: it is his.
    r = old["desk"].post("/expert/orders/%s/assign" % taken["_id"])
    assert r.status_code == 200, r.text
    assert r.json()["order"]["assignedExpertId"] == old["id"], r.text
    assert order_doc(mongo_db, ids(taken))["status"] == "paid"


def test_compat_legacy_free_order_can_be_taken(api, legacy, mongo_db):
    free, old = legacy["docs"]["free"], legacy["old"]
    me = new_expert(api, "First Taker")
    r = Desk(api, me["token"]).post("/expert/orders/%s/assign" % free["_id"])
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, ids(free))["assignedExpertId"] == oid(me["id"])
    desk_error(old["desk"].post("/expert/orders/%s/assign" % free["_id"]), 409,
               "ALREADY_ASSIGNED")


def test_compat_legacy_user_without_total_orders(api, mongo_db, make_legacy):
    """A user document of the original without totalOrders (nor lastOrderAt): a checkout by
    the same e-mail address finds it, keeps what it holds and brings its stats up to date."""
    lg = make_legacy()
    user = lg.user("buyer")
    r = temple_fetch(api, {"level": 1, "formData": temple_form(user["email"].upper())})
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, r.json()["orderId"])
    assert doc["userId"] == user["_id"] and doc["userEmail"] == user["email"]
    after = mongo_db.users.find_one({"_id": user["_id"]})
    for k in ("email", "firstName", "lastName", "phone", "subscriptionStatus", "__v"):
        assert after[k] == user[k], k
    assert as_utc(after["dateOfBirth"]) == user["dateOfBirth"]
    assert after["totalOrders"] == 1 and after["lastOrderAt"] is not None, after
    assert mongo_db.users.count_documents({"email": user["email"]}) == 1


@pytest.mark.parametrize("expert_id", [None, "", "not-an-expert-id", "0" * 23],
                         ids=["null", "empty", "not-hex", "23-hex"])
def test_compat_legacy_expert_id_that_names_nobody_is_free(api, mongo_db, make_legacy,
                                                           expert_id):
    """The original's PATCH /api/orders/:id/expert-review stored whatever expertId its body
    held (routes/orders.ts): one that is not an expert's id (24 hex characters) assigns the
    order to nobody, so it is in the queue, counted in `pending`, and anyone may take it."""
    lg = make_legacy()
    me = new_expert(api, "Queue Expert")
    desk = Desk(api, me["token"])
    s0 = desk_stats(desk.get("/expert/stats"), mongo_db)
    doc = lg.order(lg.user(), expertReview={"expertId": expert_id, "status": "pending"})
    listed = desk_orders(desk.get("/expert/orders/pending"))
    s1 = desk_stats(desk.get("/expert/stats"), mongo_db)
    r = desk.post("/expert/orders/%s/assign" % doc["_id"])
    # The three views of one order must agree: in the queue, counted, and takeable.
    assert (ids(doc) in listed, s1["pending"] - s0["pending"], s1["paid"] - s0["paid"],
            r.status_code) == (True, 1, 1, 200), (expert_id, r.text)
    check_legacy(listed[ids(doc)], doc, None, listed=True, desk=True)
    assert order_doc(mongo_db, ids(doc))["assignedExpertId"] == oid(me["id"])


def test_compat_legacy_expert_id_in_upper_case_is_that_experts(api, mongo_db, legacy,
                                                               make_legacy):
    """An expertId written in upper-case hex (the original's expert-review route stored the
    string it was given) names the same expert: his, on his lists, not anyone else's."""
    old = legacy["old"]
    lg = make_legacy()
    doc = lg.order(lg.user(), expertReview={"expertId": old["id"].upper(),
                                            "assignedAt": now_ms()})
    other = Desk(api, new_expert(api, "Upper Reader")["token"])
    in_queue = ids(doc) in desk_orders(other.get("/expert/orders/pending"))
    r_other = other.post("/expert/orders/%s/assign" % doc["_id"])
    assigned = desk_orders(old["desk"].get("/expert/orders/assigned"))
    r_his = old["desk"].post("/expert/orders/%s/assign" % doc["_id"])
    # Held (nobody else's), and his to see and to work on: not an order nobody can process.
    assert (in_queue, r_other.status_code, ids(doc) in assigned, r_his.status_code) == \
        (False, 409, True, 200), (r_other.text, r_his.text)
    assert assigned[ids(doc)]["assignedExpertId"] == old["id"], assigned[ids(doc)]
    desk_error(r_other, 409, "ALREADY_ASSIGNED")


def test_compat_legacy_held_order_goes_through_the_desk(api, mongo_db, n8n, legacy,
                                                       make_legacy):
    """An order the original assigned, in flight when the data moved over: its expert sends it
    to n8n from the desk, the content comes back, he delivers it; another expert may change
    none of it (403 NOT_ASSIGNED), and nothing of theirs is written."""
    from orders_util import post_callback
    old = legacy["old"]
    lg = make_legacy()
    doc = lg.order(lg.user(), level=3, expertReview=expert_review(old))
    oid_ = ids(doc)
    other = new_expert(api, "Bystander")
    before = desk_stats(old["desk"].get("/expert/stats"), mongo_db)
    for path, body in (("/status", {"status": "processing"}),
                       ("/expert-review", {"status": "approved"}),
                       ("/content", {"generatedContent": {"reading": "x"}}),
                       ("/delivered", {})):
        r = api.request("PATCH", "/api/orders/" + oid_ + path, json=body,
                        headers=bearer(other["token"]))
        assert_error(r, 403, "NOT_ASSIGNED")
    assert order_doc(mongo_db, oid_) == doc
    r = old["desk"].post("/expert/process-order", {"orderId": oid_, "expertPrompt": "Lecture",
                                                   "expertInstructions": ""})
    assert r.status_code == 200, r.text
    assert [p["json"]["orderId"] for p in n8n.received()] == [oid_]
    assert n8n.received()[0]["json"]["expertId"] == old["id"]
    after = order_doc(mongo_db, oid_)
    assert after["status"] == "processing" and after["expertReview"]["expertId"] == old["id"]
    assert ids(doc) not in desk_orders(old["desk"].get("/expert/orders/pending"))
    assert ids(doc) in desk_orders(old["desk"].get("/expert/orders/assigned"))
    r = post_callback(api, {"orderId": oid_, "success": True,
                            "generatedContent": {"reading": "La lecture"}})
    assert r.status_code == 200, r.text
    mid = desk_stats(old["desk"].get("/expert/stats"), mongo_db)
    assert mid["awaitingReview"] == before["awaitingReview"] + 1, (before, mid)
    r = api.request("PATCH", "/api/orders/%s/delivered" % oid_, json={"deliveryMethod": "email"},
                    headers=bearer(old["desk"].token))
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, oid_)["status"] == "completed"
    s = desk_stats(old["desk"].get("/expert/stats"), mongo_db)
    assert s["totalTreated"] == before["totalTreated"] + 1, (before, s)
    assert s["treatedToday"] == before["treatedToday"] + 1, (before, s)


def test_compat_legacy_order_the_original_marked_ready(api, mongo_db, legacy, make_legacy,
                                                       admin_token):
    """The original's n8n callback (routes/expert.ts, findByIdAndUpdate: no enum check) wrote
    status "ready", generatedContent {rawText, files, levelContent} and deliveredAt. Such an
    order is shown as stored everywhere, and what cannot apply to it is refused cleanly: no
    transition out of a status we do not know (409 INVALID_TRANSITION), no take, nothing
    written."""
    old = legacy["old"]
    lg = make_legacy()
    doc = lg.order(lg.user(), level=2, status="ready", deliveredAt=now_ms(),
                   expertPrompt="Prompt", expertInstructions="",
                   expertReview={"expertId": old["id"], "status": "approved",
                                 "reviewedAt": now_ms(),
                                 "notes": "Envoyé à l'assistant IA pour génération"},
                   generatedContent={"rawText": {"reading": "La lecture"}, "files": [],
                                     "levelContent": {}})
    r = api.get("/api/orders?limit=100&email=%s-client" % lg.m, headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert [o["_id"] for o in r.json()["orders"]] == [ids(doc)], r.text
    check_legacy(r.json()["orders"][0], doc, old["id"], listed=True)
    r = api.get("/api/orders/" + ids(doc), headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    check_legacy(r.json()["order"], doc, old["id"])
    r = old["desk"].get("/expert/orders/" + ids(doc))
    assert r.status_code == 200, r.text
    check_legacy(r.json(), doc, old["id"], desk=True)
    for listing in ("pending", "assigned"):
        assert ids(doc) not in desk_orders(old["desk"].get("/expert/orders/" + listing)), listing
    answers = {}
    for status in ("completed", "paid", "processing", "refunded"):
        answers["status " + status] = api.request(
            "PATCH", "/api/orders/%s/status" % doc["_id"], json={"status": status},
            headers=bearer(admin_token))
    answers["process-order"] = old["desk"].post("/expert/process-order",
                                                {"orderId": ids(doc), "expertPrompt": "p"})
    # The same, assigned to nobody: nobody can take it up.
    free = lg.order(lg.user("free"), level=2, status="ready", deliveredAt=now_ms(),
                    generatedContent={"rawText": "La lecture", "files": [], "levelContent": {}})
    anyone = Desk(api, new_expert(api, "Ready Reader")["token"])
    answers["free: assign"] = anyone.post("/expert/orders/%s/assign" % free["_id"])
    answers["free: process-order"] = anyone.post("/expert/process-order",
                                                 {"orderId": ids(free), "expertPrompt": "p"})
    got = {k: (r.status_code, r.json().get("code"), r.json().get("from"))
           for k, r in answers.items()}
    assert got == {k: (409, "INVALID_TRANSITION", "ready") for k in answers}, got
    for r in answers.values():
        desk_error(r, 409, "INVALID_TRANSITION")
    assert order_doc(mongo_db, ids(doc)) == doc
    assert order_doc(mongo_db, ids(free)) == free
    assert mongo_db.order_assignments.count_documents({"_id": free["_id"]}) == 0


def test_compat_legacy_pending_order_without_currency_is_paid_by_its_event(api, mongo_db,
                                                                         make_legacy):
    """An order of the original waiting for its payment, without `currency` (ours are all
    eur, API.md): Stripe's payment_intent.succeeded for it makes it paid."""
    from conftest import stripe_event
    from orders_util import post_webhook
    lg = make_legacy()
    pi = "pi_" + os.urandom(12).hex()
    doc = lg.order(lg.user(), level=2, status="pending", drop=("currency", "paidAt"),
                   paymentIntentId=pi)
    body, _ = stripe_event(ids(doc), AMOUNTS[2], pi=pi)
    r = post_webhook(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}, r.text
    after = order_doc(mongo_db, ids(doc))
    assert after["status"] == "paid" and after["paidAt"] is not None, after
