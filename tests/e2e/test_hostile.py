"""Hostile input on every route of every program, through nginx (API.md "Conventions"; STYLE.md
10: each hostile case is its own named test).

Every `test_refused_*` case sends one hostile request and checks three things: the exact 4xx and
`code` of the contract, the error envelope (JSON, "error", "code", "requestId" equal to the
X-Request-Id header), and that nothing was written: the collections a route could write are
snapshotted before and after (their counts, and a hash of the documents the cases aim at: this
module's orders, their users, its experts and the order-number counters).

The requests are built so that the hostile part is the only thing wrong: tokens are valid, the
Stripe and n8n signatures are valid over the exact hostile bytes, and the rest of each body
would succeed, and write, if the hostile part were let through (a duplicate member puts the good
value last, where json-c would have taken it).

Where the right answer is not an error by design, `test_behaviour_*` checks what it is instead
(HEAD on a GET route, the OPTIONS preflight, a body on a GET, a Content-Length or chunks that
promise more than the client sends); those are not part of the catalogue.

Raw requests go over a socket (`Raw`), so that nothing (requests, urllib3) re-encodes a path or
fixes a header on the way. A request whose declared body never comes is dropped by nginx after
client_body_timeout (10 s, as in production): those few run in the background from the start of
the module and are checked at its end.
"""

import gzip
import hashlib
import json
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import bson
import pymongo
import pytest
from requests.structures import CaseInsensitiveDict

import openapi_check
from conftest import BASE, MONGO_URI, bearer, n8n_headers, sign_stripe, unique_email
from orders_util import CALLBACK, CHECKOUT, PROCESS, WEBHOOK, new_expert, new_order, order_in

COLLECTIONS = ("experts", "users", "orders", "counters", "processed_events", "order_assignments",
               "n8n_nonces", "payment_locks")
# nginx drops a request whose body does not come after client_body_timeout (10 s): the longest
# anything here may take, with a margin.
SLOW_LIMIT_S = 16


# ---------------------------------------------------------------- the module's world

# What each route could write if a case got through (API.md "Data", docs/ORDERS.md): the
# collections it could insert into, counted, and the documents of this module it could change,
# hashed. A snapshot covers the routes a case sends to; the module as a whole is checked against
# every collection at its end (test_the_module_wrote_nothing).
DOCS = ("expert", "admin", "paid", "processing", "pending", "paid-user", "pending-user",
        "counters")
WRITES = {
    "login": ((), ("expert",)),
    "register": (("experts",), ("admin",)),
    "checkout": (("orders", "users"), ("counters",)),
    "webhook": (("processed_events", "payment_locks"), ("pending", "pending-user")),
    "orders-status": ((), ("paid", "paid-user")),
    "orders-review": ((), ("paid",)),
    "orders-content": ((), ("paid",)),
    "orders-delivered": ((), ("processing",)),
    "desk-assign": (("order_assignments",), ("paid",)),
    "desk-process": (("order_assignments",), ("paid",)),
    "desk-callback": (("n8n_nonces",), ("processing",)),
    "any": (COLLECTIONS, DOCS),
}
# The GET routes write nothing; their snapshot is the experts their tokens name.
GET_WRITES = ((), ("expert", "admin"))


class World:
    """What the cases aim at: one expert, the admin, and three orders (paid, processing,
    pending with its PaymentIntent), plus a database client for the snapshots."""

    def __init__(self, api, admin, admin_token):
        self.db_client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
        self.db = self.db_client.get_default_database()
        self.expert = new_expert(api, name="Hostile Expert")
        self.admin = dict(admin, token=admin_token)
        self.paid = new_order(api, 1)
        self.processing = order_in(api, "processing")
        self.pending = new_order(api, 2)
        oids = {name: bson.ObjectId(o["orderId"]) for name, o in (
            ("paid", self.paid), ("processing", self.processing), ("pending", self.pending))}
        paid, pending = (self.db.orders.find_one({"_id": oids[n]}) for n in ("paid", "pending"))
        self.pending_pi = pending["paymentIntentId"]
        self.targets = {name: ("orders", oid) for name, oid in oids.items()}
        self.targets["paid-user"] = ("users", paid["userId"])
        self.targets["pending-user"] = ("users", pending["userId"])
        self.targets["expert"] = ("experts", bson.ObjectId(self.expert["id"]))
        self.targets["admin"] = ("experts", bson.ObjectId(admin["id"]))
        self.last = None  # (what, snapshot) after the last case: the one before the next
        self.start = self.snapshot(("any",))

    def token(self, who):
        return {"expert": self.expert, "admin": self.admin}[who]["token"]

    def snapshot(self, routes):
        """The counts and hashed documents that `routes` could write (WRITES). Cheap on
        FerretDB, which scans a collection to count or filter it: collStats counts, and
        documents are read by _id, the one lookup it does not scan for."""
        counts, docs = set(), set()
        for route in routes:
            c, d = WRITES.get(route, GET_WRITES)
            counts.update(c)
            docs.update(d)
        values = {c: self.db.command("collStats", c)["count"] for c in sorted(counts)}
        for name in sorted(docs):
            if name == "counters":
                found = list(self.db.counters.find().sort("_id", 1))
            else:
                coll, oid = self.targets[name]
                found = [self.db[coll].find_one({"_id": oid})]
            values[name] = hashlib.sha256(b"".join(bson.encode(d) for d in found if d)).hexdigest()
        return values

    def unchanged(self, send, routes):
        """Runs send() and returns its answer with the snapshots of `routes` before and after.
        The snapshot after one case is the one before the next when they cover the same routes:
        nothing else in this module writes, and a call that raises leaves none to reuse."""
        what = tuple(sorted(routes))
        if self.last is not None and self.last[0] == what:
            before = self.last[1]
        else:
            before = self.snapshot(what)
        self.last = None
        r = send()
        after = self.snapshot(what)
        self.last = (what, after)
        return r, before, after


@pytest.fixture(scope="module")
def world(api, admin, admin_token):
    w = World(api, admin, admin_token)
    yield w
    w.db_client.close()


# ---------------------------------------------------------------- raw HTTP

class Raw:
    """A reply read off the socket, shaped like a requests.Response for assert_envelope()."""

    def __init__(self, data, elapsed):
        self.raw = data
        self.elapsed_s = elapsed
        head, sep, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status_code = 0
        self.headers = CaseInsensitiveDict()
        if sep and lines[0].startswith(b"HTTP/1."):
            self.status_code = int(lines[0].split(b" ")[1])
            for line in lines[1:]:
                name, _, value = line.decode("latin-1").partition(":")
                self.headers[name.strip()] = value.strip()
        # Only the first answer (nginx may answer a second "request" made of what was left).
        n = int(self.headers.get("Content-Length", len(body)))
        self.content = body[:n]
        self.text = self.content.decode("utf-8", "replace")


def raw_send(data, timeout=5.0, shut=False):
    """Sends `data` to nginx as it is; reads until nginx closes (every request here says
    Connection: close) or `timeout` passes. Returns a Raw; a timeout is a failure."""
    u = urlsplit(BASE)
    t0 = time.monotonic()
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AssertionError("no answer within %.0f s to %r" % (timeout, data[:120]))
            if not chunk:
                break
            reply += chunk
    r = Raw(reply, time.monotonic() - t0)
    openapi_check.check_raw(data, r.status_code, r.headers, r.content)
    return r


def raw_request(method, path, headers=(), body=None, version=b"HTTP/1.1", timeout=5.0):
    """A well-formed request line and headers around the given parts (bytes or str); adds Host,
    Connection: close and, for a body, Content-Length unless a header already frames it."""
    enc = (lambda v: v if isinstance(v, bytes) else v.encode())
    lines = [enc(method) + b" " + enc(path) + b" " + version, b"Host: 127.0.0.1",
             b"Connection: close"]
    names = set()
    for name, value in headers:
        lines.append(enc(name) + b": " + enc(value))
        names.add(enc(name).lower())
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    return raw_send(b"\r\n".join(lines) + b"\r\n\r\n" + (body or b""), timeout=timeout)


def chunked(body, size=None):
    """`body` as one chunk (of declared `size`, by default its length) and the last chunk."""
    return b"%x\r\n" % (len(body) if size is None else size) + body + b"\r\n0\r\n\r\n"


# ---------------------------------------------------------------- checks

def assert_envelope(r, status, code):
    """The error envelope of API.md "Conventions"; returns the body."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    b = json.loads(r.text)
    assert b["code"] == code, b
    assert isinstance(b["error"], str) and b["error"], b
    assert b["requestId"] == r.headers["X-Request-Id"], (b, dict(r.headers))
    return b


def refused(w, routes, send, status, code, fields=None):
    """Runs `send` (a request to `routes`), then checks its answer (and, when `fields` is given,
    that the details name exactly those) and that nothing those routes could write changed.
    Returns the answer."""
    r, before, after = w.unchanged(send, routes)
    b = assert_envelope(r, status, code)
    if fields is not None:
        assert sorted(d["field"] for d in b["details"]) == sorted(fields), b
        assert all(isinstance(d["message"], str) and d["message"] for d in b["details"]), b
    assert after == before, "a refused request wrote: %r -> %r" % (before, after)
    return r


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ---------------------------------------------------------------- the routes

# name: (method, path template, credentials, Allow). {paid}, {processing} and {number} are this
# module's orders. Credentials: None, "expert" or "admin" (a bearer token), "stripe" or "n8n" (a
# signature over the exact body).
ROUTES = {
    "ready": ("GET", "/api/ready", None, "GET, HEAD"),
    "ready-verbose": ("GET", "/api/ready/verbose", None, "GET, HEAD"),
    "health": ("GET", "/api/health", None, "GET, HEAD"),
    "health-deep": ("GET", "/api/health/deep", "admin", "GET, HEAD"),
    "login": ("POST", "/api/expert/login", None, "POST"),
    "register": ("POST", "/api/expert/register", "admin", "POST"),
    "verify": ("GET", "/api/expert/verify", "expert", "GET, HEAD"),
    "profile": ("GET", "/api/expert/profile", "expert", "GET, HEAD"),
    "checkout": ("POST", CHECKOUT, None, "POST"),
    "webhook": ("POST", WEBHOOK, "stripe", "POST"),
    "orders-list": ("GET", "/api/orders", "expert", "GET, HEAD"),
    "orders-get": ("GET", "/api/orders/{paid}", "expert", "GET, HEAD"),
    "orders-status": ("PATCH", "/api/orders/{paid}/status", "admin", "PATCH"),
    "orders-review": ("PATCH", "/api/orders/{paid}/expert-review", "admin", "PATCH"),
    "orders-content": ("PATCH", "/api/orders/{paid}/content", "admin", "PATCH"),
    "orders-delivered": ("PATCH", "/api/orders/{processing}/delivered", "admin", "PATCH"),
    "orders-overview": ("GET", "/api/orders/stats/overview", "admin", "GET, HEAD"),
    "orders-number": ("GET", "/api/orders/number/{number}", "expert", "GET, HEAD"),
    "desk-pending": ("GET", "/api/expert/orders/pending", "expert", "GET, HEAD"),
    "desk-assigned": ("GET", "/api/expert/orders/assigned", "expert", "GET, HEAD"),
    "desk-assign": ("POST", "/api/expert/orders/{paid}/assign", "expert", "POST"),
    "desk-process": ("POST", PROCESS, "expert", "POST"),
    "desk-callback": ("POST", CALLBACK, "n8n", "POST"),
    "desk-stats": ("GET", "/api/expert/stats", "expert", "GET, HEAD"),
}
GET_ROUTES = [n for n, r in ROUTES.items() if r[0] == "GET"]
BODY_ROUTES = [n for n, r in ROUTES.items() if r[0] != "GET"]
# The lookup by number reads its query first: experts may omit the e-mail address.
TOKEN_ROUTES = [n for n, r in ROUTES.items() if r[2] in ("expert", "admin") and
                n != "orders-number"]


def route_path(w, name, **ids):
    values = {"paid": w.paid["orderId"], "processing": w.processing["orderId"],
              "number": w.paid["orderNumber"]}
    values.update(ids)
    return ROUTES[name][1].format(**values)


def credentials(w, name, body, token=True):
    """The headers that make `body` acceptable but for what the case makes hostile."""
    cred = ROUTES[name][2]
    if cred in ("expert", "admin"):
        return bearer(w.token(cred)) if token else {}
    if cred == "stripe":
        return {"Stripe-Signature": sign_stripe(body)}
    if cred == "n8n":
        return n8n_headers(body)
    return {}


def send(api, w, name, body=b"", content_type="application/json", method=None, path=None,
         headers=None, token=True):
    """Sends raw `body` to route `name` with its credentials (signed over `body`)."""
    h = {"Content-Type": content_type} if content_type else {}
    h.update(credentials(w, name, body, token))
    h.update(headers or {})
    return api.request(method or ROUTES[name][0], path or route_path(w, name), data=body,
                       headers=h)


# The body of each route that takes one, which would succeed (and write) as it is. Its first
# member is the one the duplicate cases repeat (`DUP_FIRST`, a value that would be refused if it
# were the one kept); VALUE is the string field the value cases replace, and how the validation
# error names it; NESTED the object inside which the nested duplicate goes (None: an unknown
# member holding one is added, which must be refused all the same).
def good_body(w, name):
    if name == "login":
        return {"email": w.expert["email"], "password": w.expert["password"]}
    if name == "register":
        return {"role": "admin", "email": unique_email("hostile-reg"), "password": "secret-123",
                "name": "Hostile Registered"}
    if name == "checkout":
        return {"level": 1, "formData": {"email": unique_email("hostile"), "firstName": "Eve",
                                         "lastName": "Hostile"}}
    if name == "webhook":
        return {"id": "evt_" + os.urandom(12).hex(), "type": "payment_intent.succeeded",
                "object": "event", "created": int(time.time()), "livemode": False,
                "data": {"object": {"id": w.pending_pi, "object": "payment_intent",
                                    "amount": w.pending["amount"],
                                    "amount_received": w.pending["amount"], "currency": "eur",
                                    "status": "succeeded",
                                    "metadata": {"orderId": w.pending["orderId"]}}}}
    if name == "orders-status":
        return {"status": "processing"}
    if name == "orders-review":
        return {"status": "approved", "notes": "hostile notes"}
    if name == "orders-content":
        return {"generatedContent": {"reading": "hostile reading"}}
    if name == "orders-delivered":
        return {"deliveryMethod": "email"}
    if name == "desk-process":
        return {"orderId": w.paid["orderId"], "expertPrompt": "hostile prompt"}
    if name == "desk-callback":
        return {"orderId": w.processing["orderId"], "success": True,
                "generatedContent": {"reading": "hostile reading"}}
    raise KeyError(name)


DUP_FIRST = {"login": b'"nobody@example.com"', "register": b'"root"', "checkout": b"9",
             "webhook": b'"evt_first"', "orders-status": b'"bogus"',
             "orders-review": b'"bogus"', "orders-content": b'"text"',
             "orders-delivered": b"5", "desk-process": b'"not-an-id"', "desk-callback": b"0"}
VALUE = {"login": (("email",), "email"), "register": (("email",), "email"),
         "checkout": (("formData", "email"), "formData.email"), "webhook": (("id",), "id"),
         "orders-status": (("status",), "status"), "orders-review": (("status",), "status"),
         "orders-content": (("generatedContent", "reading"), "generatedContent.reading"),
         "orders-delivered": (("deliveryMethod",), "deliveryMethod"),
         "desk-process": (("orderId",), "orderId"), "desk-callback": (("orderId",), "orderId")}
NESTED = {"checkout": ("formData",), "webhook": ("data", "object"),
          "orders-content": ("generatedContent",), "desk-callback": ("generatedContent",)}
JSON_ROUTES = list(DUP_FIRST)
PLACEHOLDER = "\u2063hostile\u2063"


def with_value(body, path, raw):
    """`body` serialised with the value at `path` replaced by the raw JSON bytes `raw`."""
    obj = json.loads(json.dumps(body))
    cur = obj
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = PLACEHOLDER
    return dumps(obj).replace(dumps(PLACEHOLDER), raw)


def first_key_raw(obj_text, key, raw_key):
    """`obj_text` (an object's serialisation) with its first member's name written as
    `raw_key`."""
    head = b'{' + dumps(key) + b':'
    assert obj_text.startswith(head), obj_text[:40]
    return b'{' + raw_key + b':' + obj_text[len(head):]


def nested_text(body, path, transform):
    """`body` serialised with the object at `path` replaced by transform(its text)."""
    obj = json.loads(json.dumps(body))
    cur = obj
    for key in path[:-1]:
        cur = cur[key]
    inner = dumps(cur[path[-1]])
    cur[path[-1]] = PLACEHOLDER
    return dumps(obj).replace(dumps(PLACEHOLDER), transform(inner))


def dup_top(w, name):
    body = good_body(w, name)
    first = next(iter(body))
    return b'{' + dumps(first) + b':' + DUP_FIRST[name] + b',' + dumps(body)[1:]


def dup_escaped(w, name):
    """The duplicate spelled with an escape: "email" and "\\u0065mail" are one name."""
    body = good_body(w, name)
    first = next(iter(body))
    escaped = ('"\\u%04x' % ord(first[0]) + first[1:] + '"').encode()
    return b'{' + dumps(first) + b':' + DUP_FIRST[name] + b',' + \
        first_key_raw(dumps(body), first, escaped)[1:]


def dup_nested(w, name):
    body = good_body(w, name)
    if name not in NESTED:
        return dumps(body)[:-1] + b',"meta":{"source":"a","source":"b"}}'
    path = NESTED[name]
    cur = body
    for key in path:
        cur = cur[key]
    first = next(iter(cur))
    return nested_text(body, path, lambda t: b'{' + dumps(first) + b':0,' + t[1:])


def nul_in_name(w, name):
    """json-c cut a name at \\u0000: "email\\u0000x" was read as "email"."""
    body = good_body(w, name)
    first = next(iter(body))
    return first_key_raw(dumps(body), first, dumps(first)[:-1] + b'\\u0000x"')


def value_case(raw):
    return lambda w, name: with_value(good_body(w, name), VALUE[name][0], raw)


# case id: (body maker, status, code, names the field?)
JSON_CASES = {
    "duplicate-member": (dup_top, 400, "INVALID_JSON", False),
    "duplicate-member-escaped": (dup_escaped, 400, "INVALID_JSON", False),
    "duplicate-member-nested": (dup_nested, 400, "INVALID_JSON", False),
    "nul-escape-in-member-name": (nul_in_name, 400, "INVALID_JSON", False),
    "nul-escape-in-value": (value_case(b'"x\\u0000y"'), 400, "VALIDATION_ERROR", True),
    "lone-high-surrogate": (value_case(b'"x\\ud800"'), 400, "INVALID_JSON", False),
    "lone-low-surrogate": (value_case(b'"\\udc00x"'), 400, "INVALID_JSON", False),
    "reversed-surrogate-pair": (value_case(b'"\\ude00\\ud83d"'), 400, "INVALID_JSON", False),
    "overlong-utf8": (value_case(b'"\xc0\xae\xc0\xae"'), 400, "INVALID_JSON", False),
    "utf8-surrogate-bytes": (value_case(b'"\xed\xa0\x80"'), 400, "INVALID_JSON", False),
    "raw-control-character": (value_case(b'"a\x1bb"'), 400, "INVALID_JSON", False),
    "number-1e400": (value_case(b"1e400"), 400, "INVALID_JSON", False),
    "number-without-fraction-digits": (value_case(b"1."), 400, "INVALID_JSON", False),
    "operator-object": (value_case(b'{"$ne":null}'), 400, "VALIDATION_ERROR", True),
    "boolean-for-a-string": (value_case(b"true"), 400, "VALIDATION_ERROR", True),
    "nesting-33": (lambda w, n: dumps(good_body(w, n))[:-1] + b',"meta":' + b"[" * 32 +
                   b"]" * 32 + b"}", 400, "INVALID_JSON", False),
    "truncated-in-a-string": (lambda w, n: dumps(good_body(w, n)).split(b'":"')[0] + b'":"ab',
                              400, "INVALID_JSON", False),
    "nul-byte": (lambda w, n: dumps(good_body(w, n))[:-1] + b"\x00}", 400, "INVALID_JSON", False),
    "trailing-data": (lambda w, n: dumps(good_body(w, n)) + b'{"x":1}', 400, "INVALID_JSON",
                      False),
    "array-root": (lambda w, n: b"[" + dumps(good_body(w, n)) + b"]", 400, "INVALID_JSON", False),
    "empty-body": (lambda w, n: b"", 400, "INVALID_JSON", False),
}
# What test_checkout.py already covers for the checkout, and what is not an error by design (an
# empty body to delivered means no deliveryMethod).
JSON_SKIP = {("checkout", "array-root"), ("orders-delivered", "empty-body")}
JSON_MATRIX = [(r, c) for r in JSON_ROUTES for c in JSON_CASES if (r, c) not in JSON_SKIP]


@pytest.mark.parametrize("route,case", JSON_MATRIX, ids=["%s-%s" % rc for rc in JSON_MATRIX])
def test_refused_json_body(api, world, route, case):
    make, status, code, names = JSON_CASES[case]
    body = make(world, route)
    refused(world, [route], lambda: send(api, world, route, body), status, code,
            [VALUE[route][1]] if names else None)


# The same body with another Content-Type: 415 before anything is read (signed all the same).
MEDIA = {"checkout": "multipart/form-data; boundary=x"}  # text/plain: test_checkout.py


@pytest.mark.parametrize("route", JSON_ROUTES + ["desk-assign"])
def test_refused_non_json_content_type(api, world, route):
    body = dumps(good_body(world, route)) if route != "desk-assign" else b'{"x":1}'
    refused(world, [route], lambda: send(api, world, route, body, MEDIA.get(route, "text/plain")),
            415, "UNSUPPORTED_MEDIA_TYPE")


# ---------------------------------------------------------------- route-specific bodies

def checkout_level(raw):
    return lambda w: with_value(good_body(w, "checkout"), ("level",), raw)


SPECIFIC = {
    # A second "role" made an admin: json-c kept the last one.
    "register-duplicate-role-smuggles-admin": (
        "register", lambda w: b'{"role":"expert",' + dumps(good_body(w, "register"))[1:],
        400, "INVALID_JSON", None),
    "register-role-operator": (
        "register", lambda w: with_value(good_body(w, "register"), ("role",), b'{"$in":["admin"]}'),
        400, "VALIDATION_ERROR", ["role"]),
    "register-role-with-nul": (
        "register", lambda w: with_value(good_body(w, "register"), ("role",), b'"admin\\u0000"'),
        400, "VALIDATION_ERROR", ["role"]),
    "login-password-operator": (
        "login", lambda w: with_value(good_body(w, "login"), ("password",), b'{"$gt":""}'),
        400, "VALIDATION_ERROR", ["password"]),
    "login-duplicate-password": (
        "login", lambda w: dumps(good_body(w, "login"))[:-1] + b',"password":"wrong-one"}',
        400, "INVALID_JSON", None),
    "checkout-level-minus-zero": ("checkout", checkout_level(b"-0"), 400, "VALIDATION_ERROR",
                                  ["level"]),
    "checkout-level-2-pow-63": ("checkout", checkout_level(b"9223372036854775808"), 400,
                                "VALIDATION_ERROR", ["level"]),
    "checkout-level-2-pow-64": ("checkout", checkout_level(b"18446744073709551616"), 400,
                                "VALIDATION_ERROR", ["level"]),
    "checkout-level-below-int64": ("checkout", checkout_level(b"-9223372036854775809"), 400,
                                   "VALIDATION_ERROR", ["level"]),
    "checkout-level-1e400": ("checkout", checkout_level(b"1e400"), 400, "INVALID_JSON", None),
    "checkout-level-1e-400": ("checkout", checkout_level(b"1e-400"), 400, "VALIDATION_ERROR",
                              ["level"]),
    "checkout-level-exponent": ("checkout", checkout_level(b"1E0"), 400, "VALIDATION_ERROR",
                                ["level"]),
    "checkout-level-leading-zeros": ("checkout", checkout_level(b"-01"), 400, "INVALID_JSON",
                                     None),
    "checkout-duplicate-form-data": (
        "checkout", lambda w: b'{"formData":{},' + dumps(good_body(w, "checkout"))[1:], 400,
        "INVALID_JSON", None),
    "checkout-form-data-name-cut-by-nul-escape": (
        "checkout", lambda w: dumps(good_body(w, "checkout")).replace(b'"formData"',
                                                                      b'"formData\\u0000x"'),
        400, "INVALID_JSON", None),
    "webhook-duplicate-type": (
        "webhook", lambda w: b'{"type":"charge.refunded",' + dumps(good_body(w, "webhook"))[1:],
        400, "INVALID_JSON", None),
    "webhook-duplicate-order-id-in-metadata": (
        "webhook", lambda w: nested_text(good_body(w, "webhook"), ("data", "object", "metadata"),
                                         lambda t: b'{"orderId":"x",' + t[1:]),
        400, "INVALID_JSON", None),
    "webhook-event-id-256-chars": (
        "webhook", lambda w: with_value(good_body(w, "webhook"), ("id",), b'"' + b"e" * 256 + b'"'),
        400, "VALIDATION_ERROR", ["id"]),
    "webhook-data-object-array": (
        "webhook", lambda w: with_value(good_body(w, "webhook"), ("data",), b'{"object":[]}'),
        400, "VALIDATION_ERROR", ["data.object"]),
    "webhook-amount-1e400": (
        "webhook", lambda w: with_value(good_body(w, "webhook"), ("data", "object", "amount"),
                                        b"1e400"),
        400, "INVALID_JSON", None),
    "callback-duplicate-success": (
        "desk-callback", lambda w: dumps(good_body(w, "desk-callback"))[:-1] + b',"success":true}',
        400, "INVALID_JSON", None),
    "callback-success-string": (
        "desk-callback", lambda w: with_value(good_body(w, "desk-callback"), ("success",),
                                              b'"true"'),
        400, "VALIDATION_ERROR", ["success"]),
    "callback-content-name-operator": (
        "desk-callback", lambda w: with_value(good_body(w, "desk-callback"),
                                              ("generatedContent",), b'{"$where":"x"}'),
        400, "VALIDATION_ERROR", ["generatedContent.(name)"]),
    "callback-order-id-with-spaces-inside": (
        "desk-callback", lambda w: with_value(good_body(w, "desk-callback"), ("orderId",),
                                              dumps(w.processing["orderId"][:12] + " " +
                                                    w.processing["orderId"][12:])),
        400, "VALIDATION_ERROR", ["orderId"]),
    "process-order-id-operator": (
        "desk-process", lambda w: with_value(good_body(w, "desk-process"), ("orderId",),
                                             b'{"$gt":""}'),
        400, "VALIDATION_ERROR", ["orderId"]),
    "process-prompt-lone-surrogate": (
        "desk-process", lambda w: with_value(good_body(w, "desk-process"), ("expertPrompt",),
                                             b'"prompt \\udbff"'),
        400, "INVALID_JSON", None),
    "status-duplicate-smuggles-processing": (
        "orders-status", lambda w: b'{"status":"paid","status":"processing"}', 400,
        "INVALID_JSON", None),
    "status-with-nul-escape": (
        "orders-status", lambda w: b'{"status":"processing\\u0000"}', 400, "VALIDATION_ERROR",
        ["status"]),
    "review-notes-lone-surrogate": (
        "orders-review", lambda w: with_value(good_body(w, "orders-review"), ("notes",),
                                              b'"\\ud83d"'),
        400, "INVALID_JSON", None),
    "content-duplicate-generated-content": (
        "orders-content", lambda w: b'{"generatedContent":1,' +
        dumps(good_body(w, "orders-content"))[1:], 400, "INVALID_JSON", None),
    "checkout-first-name-c1-control-escaped": (
        "checkout", lambda w: with_value(good_body(w, "checkout"), ("formData", "firstName"),
                                         b'"Eve\\u0085"'),
        400, "VALIDATION_ERROR", ["formData.firstName"]),
    "register-name-raw-c1-csi": (
        "register", lambda w: with_value(good_body(w, "register"), ("name",),
                                         b'"Eve\xc2\x9b' b'31m"'),
        400, "VALIDATION_ERROR", ["name"]),
    "register-missing-email": (
        "register", lambda w: dumps({k: v for k, v in good_body(w, "register").items()
                                     if k != "email"}),
        400, "VALIDATION_ERROR", ["email"]),
    "review-missing-status-with-notes": (
        "orders-review", lambda w: b'{"notes":"hostile notes"}', 400, "VALIDATION_ERROR",
        ["status"]),
    "content-name-with-nul-escape": (
        "orders-content", lambda w: b'{"generatedContent":{"reading\\u0000.$x":"x"}}', 400,
        "INVALID_JSON", None),
}


@pytest.mark.parametrize("case", list(SPECIFIC))
def test_refused_specific_body(api, world, case):
    route, make, status, code, fields = SPECIFIC[case]
    body = make(world)
    refused(world, [route], lambda: send(api, world, route, body), status, code, fields)


# The bytes of a checkout that would make an order, in encodings other than UTF-8 JSON: the
# program takes the body as UTF-8 whatever the headers say, and decodes nothing.
def encoded_checkout(w):
    return dumps(dict(good_body(w, "checkout"),
                      formData=dict(good_body(w, "checkout")["formData"], firstName="Zo\u00e9")))


ENCODINGS = {
    "utf8-byte-order-mark": (lambda b: b"\xef\xbb\xbf" + b, "application/json", {}),
    "utf16-le-declared": (lambda b: b.decode().encode("utf-16-le"),
                          "application/json; charset=utf-16le", {}),
    "utf16-with-bom": (lambda b: b.decode().encode("utf-16"), "application/json; charset=utf-16",
                       {}),
    "utf32-declared": (lambda b: b.decode().encode("utf-32"), "application/json; charset=utf-32",
                       {}),
    "latin1-declared": (lambda b: json.dumps(json.loads(b), ensure_ascii=False).encode("latin-1"),
                        "application/json; charset=iso-8859-1", {}),
    "gzip-content-encoding": (gzip.compress, "application/json", {"Content-Encoding": "gzip"}),
}


@pytest.mark.parametrize("case", list(ENCODINGS))
def test_refused_body_encoding(api, world, case):
    make, ctype, extra = ENCODINGS[case]
    body = make(encoded_checkout(world))
    refused(world, ["checkout"], lambda: send(api, world, "checkout", body, ctype, headers=extra),
            400, "INVALID_JSON")


# Content-Types that are not JSON, on a login that would succeed (test_auth.py has a form).
CONTENT_TYPES = {"missing": None, "json-patch": "application/json-patch+json",
                 "json-suffix-typo": "application/jsonx", "text-json": "text/json",
                 "json-as-a-parameter": "text/plain; type=application/json",
                 "json-after-a-comma": "text/plain, application/json"}


@pytest.mark.parametrize("case", list(CONTENT_TYPES))
def test_refused_content_type_that_is_not_json(api, world, case):
    body = dumps(good_body(world, "login"))
    refused(world, ["login"], lambda: send(api, world, "login", body, CONTENT_TYPES[case]), 415,
            "UNSUPPORTED_MEDIA_TYPE")


# Signed routes: a hostile body under a signature that does not match is refused at the
# signature, before the body is read.
@pytest.mark.parametrize("route,status", [("webhook", 400), ("desk-callback", 401)],
                         ids=["webhook", "desk-callback"])
@pytest.mark.parametrize("case", ["duplicate-member", "lone-high-surrogate"])
def test_refused_hostile_body_badly_signed(api, world, route, status, case):
    body = JSON_CASES[case][0](world, route)
    header = "Stripe-Signature" if route == "webhook" else "X-N8N-Signature"
    good = credentials(world, route, body)[header]
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    refused(world, [route], lambda: send(api, world, route, body, headers={header: forged}),
            status, "INVALID_SIGNATURE")


# ---------------------------------------------------------------- tokens first

@pytest.mark.parametrize("route", TOKEN_ROUTES)
def test_refused_without_token_before_the_body(api, world, route):
    """The token is the first check: a hostile body (a duplicate, a lone surrogate, truncated)
    is not even read."""
    body = b'{"a":1,"a":{"b":"\\ud800"}' if ROUTES[route][0] != "GET" else b""
    refused(world, [route], lambda: send(api, world, route, body, token=False), 401, "NO_TOKEN")


def test_refused_authorization_with_underscore_is_not_authorization(world):
    """nginx drops header names with '_' (no Authorization_ or HTTP_AUTHORIZATION smuggling)."""
    tok = world.token("expert")
    refused(world, ["verify"], lambda: raw_request("GET", "/api/expert/verify",
                                       [("Authorization_", "Bearer " + tok),
                                        ("HTTP_AUTHORIZATION", "Bearer " + tok)]),
            401, "NO_TOKEN")


# ---------------------------------------------------------------- methods

@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_refused_method(api, world, route, method):
    body = dumps(good_body(world, route)) if route in JSON_ROUTES else b""
    h = {"Content-Type": "application/json"}
    h.update(credentials(world, route, body))
    r = refused(world, [route], lambda: api.request(method, route_path(world, route), data=body,
                                                    headers=h), 405, "METHOD_NOT_ALLOWED")
    assert r.headers["Allow"] == ROUTES[route][3]


@pytest.mark.parametrize("route,method", [("login", "PATCH"), ("checkout", "GET"),
                                          ("orders-status", "POST"), ("desk-assign", "PATCH"),
                                          ("desk-process", "GET"), ("orders-list", "POST"),
                                          ("health-deep", "POST"), ("ready", "OPTIONSX")],
                         ids=["login-patch", "checkout-get", "status-post", "assign-patch",
                              "process-get", "list-post", "health-deep-post", "ready-unknown"])
def test_refused_other_method(api, world, route, method):
    body = dumps(good_body(world, route)) if route in JSON_ROUTES else b""
    h = {"Content-Type": "application/json"}
    h.update(credentials(world, route, body))
    r = refused(world, [route], lambda: api.request(method, route_path(world, route), data=body,
                                                    headers=h), 405, "METHOD_NOT_ALLOWED")
    assert r.headers["Allow"] == ROUTES[route][3]


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_refused_head_on_a_body_route(api, world, route):
    """405 like any other method; HEAD answers carry no body, so the envelope is in the
    headers only (JSON Content-Type and its length, the request id, Allow)."""
    r, before, after = world.unchanged(
        lambda: api.request("HEAD", route_path(world, route),
                            headers=credentials(world, route, b"")), [route])
    assert after == before
    assert r.status_code == 405, r.status_code
    assert r.headers["Allow"] == ROUTES[route][3]
    assert r.headers["Content-Type"].startswith("application/json")
    assert int(r.headers["Content-Length"]) > 0 and r.content == b""
    assert r.headers["X-Request-Id"]


@pytest.mark.parametrize("method,path", [("TRACE", "/api/ready"), ("TRACE", "/api/health"),
                                         ("TRACE", "/api/expert/login"),
                                         ("TRACE", "/api/orders"), ("CONNECT", "/api/orders")],
                         ids=["trace-ready", "trace-health", "trace-login", "trace-orders",
                              "connect-orders"])
def test_refused_method_nginx_answers_itself(world, method, path):
    refused(world, ["any"], lambda: raw_request(method, path), 405, "METHOD_NOT_ALLOWED")


# ---------------------------------------------------------------- ids in paths

ID_ROUTES = ["orders-get", "orders-status", "orders-review", "orders-content",
             "orders-delivered", "desk-assign"]


# case id: (the :id as sent, made from a real one; status; code). nginx decodes the path once
# and resolves dot segments; programs see that decoded path.
ID_CASES = {
    "dot-dot-encoded": (lambda oid: "%2e%2e", 404, "NOT_FOUND"),
    "nul-encoded": (lambda oid: "%00", 400, "BAD_REQUEST"),
    "id-then-nul-encoded": (lambda oid: oid + "%00", 400, "BAD_REQUEST"),
    "double-encoded-dot-dot": (lambda oid: "%252e%252e", 400, "INVALID_ID"),
    "double-encoded-last-char": (lambda oid: oid[:-1] + "%25" + "%02x" % ord(oid[-1]), 400,
                                 "INVALID_ID"),
    "double-encoded-nul": (lambda oid: oid + "%2500", 400, "INVALID_ID"),
    "crlf-encoded": (lambda oid: oid + "%0d%0aX-Injected:%201", 400, "INVALID_ID"),
    "overlong-utf8-dots": (lambda oid: "%c0%ae%c0%ae", 400, "INVALID_ID"),
    "trailing-space": (lambda oid: oid + "%20", 400, "INVALID_ID"),
    "operator-object": (lambda oid: "%7B%22%24ne%22%3Anull%7D", 400, "INVALID_ID"),
    "fullwidth-digit": (lambda oid: "%EF%BC%96" + oid[1:], 400, "INVALID_ID"),
    "too-long-for-the-program": (lambda oid: "a" * 3000, 414, "URI_TOO_LONG"),
}
ID_MATRIX = [(r, c) for r in ID_ROUTES for c in ID_CASES]


@pytest.mark.parametrize("route,case", ID_MATRIX, ids=["%s-%s" % rc for rc in ID_MATRIX])
def test_refused_path_id(world, route, case):
    """The path is sent byte for byte (a raw request): the id is the only thing wrong."""
    make, status, code = ID_CASES[case]
    bad = make(world.paid["orderId"])
    body = dumps(good_body(world, route)) if route in JSON_ROUTES else None
    path = route_path(world, route, paid=bad, processing=bad)
    h = list(credentials(world, route, body or b"").items())
    if body is not None:
        h.append(("Content-Type", "application/json"))
    refused(world, [route], lambda: raw_request(ROUTES[route][0], path, h, body), status, code)


# ---------------------------------------------------------------- query strings

LIST_QUERIES = [
    ("page=-0", "page"), ("page=1e400", "page"), ("page=9223372036854775808", "page"),
    ("page=18446744073709551616", "page"), ("page=%2B1", "page"), ("page=0x10", "page"),
    ("page=1.0", "page"), ("page=%00", "page"), ("page=1%00", "page"), ("limit=%ff", "limit"),
    ("limit=-0", "limit"), ("level=2.0", "level"), ("level=%EF%BC%92", "level"),
    ("status=paid%00", "status"), ("status=%ff", "status"), ("status=paid%0d%0a", "status"),
    ("email=%00", "email"), ("email=a%0d%0ab%40c.co", "email"), ("email=%ff", "email"),
    ("email=" + "a" * 255, "email"), ("dateFrom=%00", "dateFrom"),
    ("dateFrom=2026-02-30", "dateFrom"), ("dateTo=9999999-01-01", "dateTo"),
    ("dateFrom=1e400", "dateFrom"), ("dateFrom=2026-01-01T00:00:00.000%2B01:00", "dateFrom"),
    ("page=x&page=1", "page"),
]


@pytest.mark.parametrize("query,field", LIST_QUERIES, ids=[q for q, _ in LIST_QUERIES])
def test_refused_list_query(world, query, field):
    h = list(bearer(world.token("expert")).items())
    refused(world, ["orders-list"], lambda: raw_request("GET", "/api/orders?" + query, h), 400,
            "VALIDATION_ERROR", [field])


# case id: (the number as sent, the query, made from a real pair; status; code; fields).
NUMBER_CASES = {
    "number-nul-encoded": (lambda n, e: ("%00", "email=" + e), 400, "BAD_REQUEST", None),
    "number-double-encoded": (lambda n, e: ("%252e%252e", "email=" + e), 404, "ORDER_NOT_FOUND",
                              None),
    "number-lower-case": (lambda n, e: (n.lower(), "email=" + e), 404, "ORDER_NOT_FOUND", None),
    "number-trailing-space": (lambda n, e: (n + "%20", "email=" + e), 404, "ORDER_NOT_FOUND",
                              None),
    "number-operator-object": (lambda n, e: ("%7B%22%24ne%22%3Anull%7D", "email=" + e), 404,
                               "ORDER_NOT_FOUND", None),
    "email-nul-encoded": (lambda n, e: (n, "email=%00"), 400, "VALIDATION_ERROR", ["email"]),
    "email-invalid-utf8": (lambda n, e: (n, "email=%ff%40b.co"), 400, "VALIDATION_ERROR",
                           ["email"]),
    "email-crlf-inside": (lambda n, e: (n, "email=" + e[:1] + "%0d%0a" + e[1:]), 400,
                          "VALIDATION_ERROR", ["email"]),
    "email-operator-object": (lambda n, e: (n, "email=%7B%22%24ne%22%3Anull%7D"), 400,
                              "VALIDATION_ERROR", ["email"]),
    "email-wrong-first-right-second": (lambda n, e: (n, "email=x%40example.com&email=" + e), 404,
                                       "ORDER_NOT_FOUND", None),
}


@pytest.mark.parametrize("case", list(NUMBER_CASES))
def test_refused_order_number_lookup(world, case):
    """The public lookup, without a token: the e-mail address is the key."""
    make, status, code, fields = NUMBER_CASES[case]
    number, query = make(world.paid["orderNumber"], world.paid["email"])
    refused(world, ["orders-number"],
            lambda: raw_request("GET", "/api/orders/number/%s?%s" % (number, query)),
            status, code, fields)


# ---------------------------------------------------------------- HTTP framing (raw)

def checkout_bytes():
    """A checkout body that would make an order (level 1, no Stripe call)."""
    return dumps({"level": 1, "formData": {"firstName": "Raw", "lastName": "Socket",
                                          "email": unique_email("raw")}})


JSON_CT = ("Content-Type", "application/json")


TE_CHUNKED = ("Transfer-Encoding", "chunked")


def to_checkout(headers=(), payload=None, version=b"HTTP/1.1", content_type=True):
    """A raw POST of a checkout body that would make an order, with `headers` (each a (name,
    value) pair, or a function of the body that gives one) and the body as `payload` makes it."""
    def make(w, body, tok):
        h = [JSON_CT] if content_type else []
        h += [x(body) if callable(x) else x for x in headers]
        return raw_request("POST", CHECKOUT, h, payload(body) if payload else body,
                           version=version)
    return make


def to_verify(value):
    """A raw GET of verify with Authorization `value` (a function of the expert's token)."""
    return lambda w, body, tok: raw_request("GET", "/api/expert/verify",
                                            [("Authorization", value(tok.encode()))])


def length(delta=0):
    return lambda b: ("Content-Length", str(len(b) + delta))


# case id: (a function of the world, the checkout body and an expert's token that sends the
# request and returns the Raw reply; status; code).
FRAMING = {
    "content-length-smaller-than-body": (to_checkout([length(-5)]), 400, "INVALID_JSON"),
    "content-length-twice": (to_checkout([length(), ("Content-Length", "5")]), 400,
                             "BAD_REQUEST"),
    "content-length-twice-same": (to_checkout([length(), length()]), 400, "BAD_REQUEST"),
    "content-length-negative": (to_checkout([("Content-Length", "-1")]), 400, "BAD_REQUEST"),
    "content-length-not-a-number": (to_checkout([("Content-Length", "0x10")]), 400,
                                    "BAD_REQUEST"),
    "content-length-list": (to_checkout([lambda b: ("Content-Length", "%d, %d" % (len(b),
                                                                                  len(b)))]),
                            400, "BAD_REQUEST"),
    "content-length-past-64-bits": (to_checkout([("Content-Length", "9" * 20)]), 400,
                                    "BAD_REQUEST"),
    "content-length-and-chunked": (to_checkout([TE_CHUNKED, ("Content-Length", "3")],
                                               chunked), 400, "BAD_REQUEST"),
    "chunk-size-not-hex": (to_checkout([TE_CHUNKED], lambda b: b"zz\r\n" + b + b"\r\n0\r\n\r\n"),
                           400, "BAD_REQUEST"),
    "chunk-size-negative": (to_checkout([TE_CHUNKED],
                                        lambda b: b"-5\r\n" + b + b"\r\n0\r\n\r\n"),
                            400, "BAD_REQUEST"),
    "chunk-size-past-64-bits": (to_checkout([TE_CHUNKED],
                                            lambda b: b"f" * 17 + b"\r\n" + b + b"\r\n0\r\n\r\n"),
                                400, "BAD_REQUEST"),
    "chunk-longer-than-its-size": (to_checkout([TE_CHUNKED], lambda b: chunked(b, len(b) - 4)),
                                   400, "BAD_REQUEST"),
    "chunked-body-truncated-json": (to_checkout([TE_CHUNKED], lambda b: chunked(b[:-2])), 400,
                                    "INVALID_JSON"),
    "chunked-body-duplicate-member": (to_checkout([TE_CHUNKED],
                                                  lambda b: chunked(b'{"level":9,' + b[1:])),
                                      400, "INVALID_JSON"),
    "chunked-signed-webhook-duplicate-member": (
        lambda w, body, tok: (lambda b: raw_request(
            "POST", WEBHOOK, [JSON_CT, TE_CHUNKED, ("Stripe-Signature", sign_stripe(b))],
            chunked(b)))(dup_top(w, "webhook")), 400, "INVALID_JSON"),
    "chunked-body-over-1-mib": (to_checkout([TE_CHUNKED], lambda b: chunked(
        b[:-1] + b" " * (1024 * 1024) + b"}")), 413, "PAYLOAD_TOO_LARGE"),
    "transfer-encoding-gzip": (to_checkout([("Transfer-Encoding", "gzip")], chunked), 400,
                               "BAD_REQUEST"),
    "transfer-encoding-gzip-chunked": (to_checkout([("Transfer-Encoding", "gzip, chunked")],
                                                   chunked), 400, "BAD_REQUEST"),
    "transfer-encoding-twice": (to_checkout([TE_CHUNKED, TE_CHUNKED], chunked), 400,
                                "BAD_REQUEST"),
    "transfer-encoding-on-http-1-0": (to_checkout([TE_CHUNKED], chunked, version=b"HTTP/1.0"),
                                      400, "BAD_REQUEST"),
    "cr-in-header-value": (to_verify(lambda t: b"Bearer " + t[:20] + b"\r" + t[20:]), 400,
                           "BAD_REQUEST"),
    "cr-in-request-id": (to_checkout([("X-Request-Id", b"abc\rSet-Cookie: x")]), 400,
                         "BAD_REQUEST"),
    "folded-header-line": (to_checkout([("X-Note", b"a\r\n  folded")]), 400, "BAD_REQUEST"),
    "nul-in-header-value": (to_checkout([("X-Request-Id", b"ab\x00c")]), 400, "BAD_REQUEST"),
    "nul-in-authorization": (to_verify(lambda t: b"Bearer " + t + b"\x00x"), 400,
                             "BAD_REQUEST"),
    "nul-in-content-type": (to_checkout([("Content-Type", b"application/json\x00")],
                                        content_type=False), 400, "BAD_REQUEST"),
    "nul-in-request-line": (
        lambda w, body, tok: raw_request("POST", b"/api/stripe/create-payment\x00-intent",
                                         [JSON_CT], body), 400, "BAD_REQUEST"),
    "nul-in-method": (lambda w, body, tok: raw_request(b"PO\x00ST", CHECKOUT, [JSON_CT], body),
                      400, "BAD_REQUEST"),
    "space-in-header-name": (to_checkout([("Content Length", "2")]), 400, "BAD_REQUEST"),
    "duplicate-authorization": (
        lambda w, body, tok: raw_request("GET", "/api/expert/verify",
                                         [("Authorization", "Bearer " + tok)] * 2),
        400, "BAD_REQUEST"),
    "http-1-1-without-host": (
        lambda w, body, tok: raw_send(b"POST " + CHECKOUT.encode() + b" HTTP/1.1\r\n"
                                      b"Connection: close\r\nContent-Type: application/json\r\n"
                                      b"Content-Length: %d\r\n\r\n" % len(body) + body),
        400, "BAD_REQUEST"),
    "http-version-9": (to_checkout(version=b"HTTP/9.9"), 400, "BAD_REQUEST"),
    "http-version-2-on-http-1": (to_checkout(version=b"HTTP/2.0"), 400, "BAD_REQUEST"),
    "lower-case-method": (lambda w, body, tok: raw_request("post", CHECKOUT, [JSON_CT], body),
                          400, "BAD_REQUEST"),
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_refused_http_framing(world, case):
    make, status, code = FRAMING[case]
    body, tok = checkout_bytes(), world.token("expert")
    refused(world, ["checkout", "webhook", "verify"], lambda: make(world, body, tok), status,
            code)


# ---------------------------------------------------------------- not errors, by design

@pytest.mark.parametrize("route", GET_ROUTES)
def test_behaviour_head_on_a_get_route_is_served_without_a_body(api, world, route):
    path = route_path(world, route)
    h = credentials(world, route, b"")
    get = api.get(path, headers=h)
    head = api.request("HEAD", path, headers=h)
    assert head.status_code == get.status_code, (head.status_code, get.text[:200])
    assert head.content == b""
    assert head.headers["Content-Type"].startswith("application/json")
    assert head.headers["X-Request-Id"]


@pytest.mark.parametrize("route", list(ROUTES))
def test_behaviour_options_is_the_preflight_nginx_answers(api, world, route):
    """OPTIONS never reaches a program (lumira-api.conf): 204 without a body, nothing written."""
    r, before, after = world.unchanged(lambda: api.request(
        "OPTIONS", route_path(world, route),
        headers={"Origin": "https://desk.oraclelumira.com",
                 "Access-Control-Request-Method": ROUTES[route][0]}), [route])
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "https://desk.oraclelumira.com"
    assert after == before


def comparable(r):
    """An answer without what changes from one request to the next."""
    try:
        b = r.json()
    except ValueError:
        return r.status_code, r.text
    for key in ("timestamp", "uptime", "requestId", "memory", "services", "database",
                "process"):
        b.pop(key, None)
    return r.status_code, b


@pytest.mark.parametrize("route", GET_ROUTES)
def test_behaviour_a_body_on_a_get_is_ignored(api, world, route):
    """Even a hostile one: GET routes read no body."""
    path = route_path(world, route)
    h = credentials(world, route, b"")
    plain = api.get(path, headers=h)
    with_body, before, after = world.unchanged(lambda: api.get(
        path, data=dup_top(world, "login"),
        headers=dict(h, **{"Content-Type": "application/json"})), [route, "login"])
    assert after == before
    assert comparable(with_body) == comparable(plain)


def test_behaviour_a_chunked_body_on_a_get_is_ignored(world):
    r = raw_request("GET", "/api/health", [("Transfer-Encoding", "chunked")],
                    chunked(b'{"a":1,"a":2}'))
    assert r.status_code == 200 and json.loads(r.text)["status"] == "healthy"


def test_behaviour_a_bare_lf_ends_a_header_line(world):
    """RFC 9112 lets a recipient take a bare LF as a line end, as nginx does: what follows is a
    header of its own, not part of the request id."""
    r = raw_send(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\nX-Other: 1\r\n"
                 b"Connection: close\r\n\r\n")
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == "abc"


def test_behaviour_a_client_that_closes_its_side_gets_nothing_and_writes_nothing(world):
    """A body cut short by the client's own close: nginx has no one to answer, and passes
    nothing on."""
    body = checkout_bytes()
    r, before, after = world.unchanged(lambda: raw_send(
        b"POST " + CHECKOUT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 10) + body,
        shut=True), ["checkout"])
    assert r.raw == b"" or r.headers["Content-Type"].startswith("application/json"), r.raw
    assert after == before


# Requests whose body never comes in full. nginx waits client_body_timeout for it, then drops the
# connection without an answer (it has nothing to answer to), and passes nothing to a program.
# They start together when the module does, so the wait is paid once.
SLOW = {
    "content-length-larger-than-body": lambda b: (
        b"POST " + CHECKOUT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(b) + 10) + b),
    "chunk-shorter-than-its-size": lambda b: (
        b"POST " + CHECKOUT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        chunked(b, len(b) + 10)),
    "chunked-without-the-last-chunk": lambda b: (
        b"POST " + CHECKOUT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        b"%x\r\n" % len(b) + b + b"\r\n"),
    "get-with-content-length-larger-than-body": lambda b: (
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % (len(b) + 10) + b),
}


@pytest.fixture(scope="module", autouse=True)
def slow_replies():
    """Starts every SLOW request in the background; the tests at the end of the module wait."""
    results = {}

    def run(name, body):
        try:
            results[name] = raw_send(SLOW[name](body), timeout=SLOW_LIMIT_S)
        except Exception as e:  # reported by the test of that case
            results[name] = e

    threads = {}
    for name in SLOW:
        body = checkout_bytes()
        t = threading.Thread(target=run, args=(name, body), daemon=True)
        t.start()
        threads[name] = (t, json.loads(body)["formData"]["email"])
    return threads, results


@pytest.mark.parametrize("case", list(SLOW))
def test_behaviour_a_promised_body_that_never_comes_is_dropped(world, slow_replies, case):
    threads, results = slow_replies
    t, email = threads[case]
    t.join(SLOW_LIMIT_S + 5)
    assert not t.is_alive(), "still waiting after %d s" % SLOW_LIMIT_S
    r = results[case]
    assert not isinstance(r, Exception), r
    assert r.elapsed_s < SLOW_LIMIT_S
    # No answer, or a JSON one: never a 5xx or a page of HTML.
    assert r.raw == b"" or (r.status_code < 500 and
                            r.headers["Content-Type"].startswith("application/json")), r.raw
    assert world.db.orders.count_documents({"userEmail": email}) == 0
    assert world.db.users.count_documents({"email": email}) == 0


def test_the_module_wrote_nothing(world):
    """Every collection and every document this module aims at, as they were before its first
    case (the background requests above included: they are over by now)."""
    assert world.snapshot(("any",)) == world.start
