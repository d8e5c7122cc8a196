"""The expert desk through nginx (API.md "Expert desk", docs/ORDERS.md "Expert desk"): the
queues, assignment, process-order with the n8n stand-in, the signed n8n callback, and an
expert's statistics."""

import datetime
import json
import os
import threading
import time

import pytest

from conftest import VAR, bearer, program_env, sign_n8n, wait_until
from orders_util import (PROCESS, UNKNOWN_ID, assert_error, assert_validation,
                         expert, new_expert, new_order, oid, order_doc, order_in,  # noqa: F401
                         paid_order, post_callback, read_log_lines, set_status)


def assign(api, token, order_id):
    return api.post("/api/expert/orders/%s/assign" % order_id, headers=bearer(token))


def process(api, token, order_id, prompt="Write the reading.", instructions=None):
    body = {"orderId": order_id, "expertPrompt": prompt}
    if instructions is not None:
        body["expertInstructions"] = instructions
    return api.post(PROCESS, json=body, headers=bearer(token))


def desk_list(api, token, which):
    r = api.get("/api/expert/orders/" + which, headers=bearer(token))
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"orders", "count"}
    return b


# Free: no assignedExpertId, and no expertReview.expertId string (the original's assignment).
FREE = {"assignedExpertId": None, "expertReview.expertId": {"$not": {"$type": "string"}}}
QUEUE = dict(FREE, status="paid")


def free_or_mine(expert_id):
    """API.md: what the desk's pending list holds for this expert."""
    return {"status": "paid", "$or": [FREE, {"assignedExpertId": oid(expert_id)},
                                      {"assignedExpertId": None,
                                       "expertReview.expertId": expert_id}]}


# ---------------------------------------------------------------- queues

def test_pending_lists_free_and_my_paid_orders_newest_first(api, expert, mongo_db):
    before = desk_list(api, expert["token"], "pending")["count"]
    paid_order(api)
    new_order(api, 2)  # pending payment: not in the queue
    b = desk_list(api, expert["token"], "pending")
    assert b["count"] == before + 1
    assert b["count"] == mongo_db.orders.count_documents(free_or_mine(expert["id"]))
    expected = [str(d["_id"]) for d in mongo_db.orders.find(free_or_mine(expert["id"]))
                .sort([("createdAt", -1), ("_id", -1)]).limit(100)]
    assert [o["id"] for o in b["orders"]] == expected
    assert len(b["orders"]) == min(b["count"], 100)
    for o in b["orders"]:
        assert o["status"] == "paid" and o["assignedExpertId"] in (None, expert["id"])
        assert o["_id"] == o["id"]


def test_pending_keeps_the_order_i_took_until_it_goes_to_n8n(api, n8n, mongo_db):
    """API.md (compat): the desk reloads the pending list after "take" and must still find the
    order it took; another expert no longer sees it; once sent to n8n it leaves the list, and
    when n8n refuses it comes back."""
    me, other = new_expert(api, "Keeper"), new_expert(api, "Onlooker")
    order = paid_order(api)
    mine = [o for o in desk_list(api, me["token"], "pending")["orders"]
            if o["id"] == order["orderId"]]
    assert len(mine) == 1 and mine[0]["assignedExpertId"] is None
    assert assign(api, me["token"], order["orderId"]).status_code == 200
    mine = [o for o in desk_list(api, me["token"], "pending")["orders"]
            if o["id"] == order["orderId"]]
    assert len(mine) == 1 and mine[0]["assignedExpertId"] == me["id"]
    assert order["orderId"] not in [o["id"] for o in
                                    desk_list(api, other["token"], "pending")["orders"]]
    n8n.fault("error", status=500)
    assert process(api, me["token"], order["orderId"]).status_code == 502
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"
    assert order["orderId"] in [o["id"] for o in desk_list(api, me["token"], "pending")["orders"]]
    n8n.fault("ok")
    assert process(api, me["token"], order["orderId"]).status_code == 200
    assert order["orderId"] not in [o["id"] for o in
                                    desk_list(api, me["token"], "pending")["orders"]]


def test_assigned_lists_my_orders_newest_first(api, mongo_db):
    me, other = new_expert(api, "Mine"), new_expert(api, "Other")
    assert desk_list(api, me["token"], "assigned") == {"orders": [], "count": 0}
    first, second, theirs = paid_order(api), paid_order(api), paid_order(api)
    for o, who in ((first, me), (second, me), (theirs, other)):
        assert assign(api, who["token"], o["orderId"]).status_code == 200
    b = desk_list(api, me["token"], "assigned")
    assert b["count"] == 2
    expected = [str(d["_id"]) for d in mongo_db.orders.find(
        {"assignedExpertId": oid(me["id"])}).sort([("createdAt", -1), ("_id", -1)])]
    assert [o["id"] for o in b["orders"]] == expected
    assert set(expected) == {first["orderId"], second["orderId"]}
    assert all(o["assignedExpertId"] == me["id"] for o in b["orders"])
    # Out of the free queue: each expert's pending list holds only their own.
    queue = [o["id"] for o in desk_list(api, me["token"], "pending")["orders"]]
    assert first["orderId"] in queue and theirs["orderId"] not in queue
    queue = [o["id"] for o in desk_list(api, other["token"], "pending")["orders"]]
    assert first["orderId"] not in queue and theirs["orderId"] in queue


@pytest.mark.parametrize("status", ["completed", "refunded", "failed"])
def test_assigned_lists_only_work_in_hand(api, mongo_db, status):
    """API.md: the assigned list is "mine, paid or processing"."""
    me = new_expert(api, "InHand")
    done, held = paid_order(api), paid_order(api)
    for o in (done, held):
        assert assign(api, me["token"], o["orderId"]).status_code == 200
    mongo_db.orders.update_one({"_id": oid(held["orderId"])}, {"$set": {"status": "processing"}})
    mongo_db.orders.update_one({"_id": oid(done["orderId"])}, {"$set": {"status": status}})
    b = desk_list(api, me["token"], "assigned")
    assert [o["id"] for o in b["orders"]] == [held["orderId"]]
    assert b["count"] == 1 and b["orders"][0]["status"] == "processing"


# ---------------------------------------------------------------- assign

def test_assign_makes_the_order_mine(api, mongo_db):
    me, other = new_expert(api, "Taker"), new_expert(api, "Late")
    order = paid_order(api)
    r = assign(api, me["token"], order["orderId"])
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["success"] is True
    assert b["order"]["assignedExpertId"] == me["id"]
    assert b["order"]["assignedExpertName"] == "Taker"
    assert b["order"]["status"] == "paid"
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["assignedExpertId"] == oid(me["id"]) and doc["assignedAt"] is not None
    assert mongo_db.order_assignments.count_documents({"_id": oid(order["orderId"])}) == 1
    # Mine already: 200 again, nothing changes.
    r = assign(api, me["token"], order["orderId"])
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["assignedAt"] == doc["assignedAt"]
    # Someone else: 409.
    assert_error(assign(api, other["token"], order["orderId"]), 409, "ALREADY_ASSIGNED")
    assert order_doc(mongo_db, order["orderId"])["assignedExpertId"] == oid(me["id"])


@pytest.mark.parametrize("status", ["pending", "failed", "refunded", "completed"])
def test_only_paid_orders_can_be_assigned(api, expert, mongo_db, status):
    order = order_in(api, status)
    b = assert_error(assign(api, expert["token"], order["orderId"]), 409, "INVALID_TRANSITION")
    assert b["from"] == status
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == status and "assignedExpertId" not in doc
    assert mongo_db.order_assignments.count_documents({"_id": oid(order["orderId"])}) == 0


def test_assign_race_has_exactly_one_winner(api, mongo_db):
    experts = [new_expert(api, "Racer A"), new_expert(api, "Racer B")]
    for round_ in range(10):
        order = paid_order(api)
        barrier = threading.Barrier(2)
        results = [None, None]

        def go(i):
            barrier.wait()
            results[i] = assign(api, experts[i]["token"], order["orderId"])

        threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], (round_, [r.text for r in results])
        winner = 0 if results[0].status_code == 200 else 1
        assert_error(results[1 - winner], 409, "ALREADY_ASSIGNED")
        assert results[winner].json()["order"]["assignedExpertId"] == experts[winner]["id"]
        doc = order_doc(mongo_db, order["orderId"])
        assert doc["assignedExpertId"] == oid(experts[winner]["id"]), round_
        assert doc["assignedExpertName"] == experts[winner]["name"]
        claims = list(mongo_db.order_assignments.find({"_id": oid(order["orderId"])}))
        assert len(claims) == 1


# ---------------------------------------------------------------- process-order

class Listener:
    """An HTTP server on a free local port that records every request it gets: the address a
    forged n8nWebhookUrl points to."""

    def __init__(self):
        import http.server

        got = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                got.append((self.path, self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/webhook/forged" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_process_order_ignores_the_n8n_url_the_desk_sends(api, n8n, mongo_db):
    """The desk sends n8nWebhookUrl with process-order: it is ignored; the order goes only to
    N8N_WEBHOOK_URL (the n8n stand-in), never to an address a caller names."""
    me = new_expert(api, "URL Expert")
    order = paid_order(api)
    listener = Listener()
    try:
        r = api.post(PROCESS, headers=bearer(me["token"]),
                     json={"orderId": order["orderId"], "expertPrompt": "Write the reading.",
                           "n8nWebhookUrl": listener.url})
        assert r.status_code == 200, r.text
        received = n8n.received()
        assert len(received) == 1 and received[0]["path"] == "/webhook/lumira"
        assert received[0]["json"]["orderId"] == order["orderId"]
        time.sleep(0.5)  # anything sent to the listener would have arrived by now
        assert listener.requests == []
    finally:
        listener.close()
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing" and "n8nWebhookUrl" not in doc
    assert listener.url not in json.dumps(doc, default=str)


def test_process_order_posts_the_order_to_n8n(api, n8n, mongo_db):
    me = new_expert(api, "Processing Expert")
    order = paid_order(api, phone="0102030405", specificQuestion="Will it rain?")
    r = process(api, me["token"], order["orderId"], prompt="Prompt\nline 2",
                instructions="Be gentle")
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "orderId": order["orderId"],
                        "orderNumber": order["orderNumber"], "status": "processing"}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing"
    assert doc["assignedExpertId"] == oid(me["id"])
    assert doc["expertPrompt"] == "Prompt\nline 2" and doc["expertInstructions"] == "Be gentle"
    assert doc["processingStartedAt"] is not None
    received = n8n.received()
    assert len(received) == 1
    post = received[0]
    assert post["path"] == "/webhook/lumira"
    assert post["headers"]["content-type"].startswith("application/json")
    sent = post["json"]
    assert sent["orderId"] == order["orderId"]
    assert sent["orderNumber"] == order["orderNumber"]
    assert sent["level"] == 1 and sent["levelName"] == "Simple"
    assert sent["userEmail"] == order["email"]
    assert sent["formData"]["specificQuestion"] == "Will it rain?"
    assert sent["formData"]["phone"] == "0102030405"
    assert sent["expertPrompt"] == "Prompt\nline 2"
    assert sent["expertInstructions"] == "Be gentle"
    assert sent["expertId"] == me["id"] and sent["expertName"] == "Processing Expert"


def test_process_order_of_another_experts_order_is_409(api, n8n, mongo_db):
    me, other = new_expert(api, "Slow"), new_expert(api, "Fast")
    order = paid_order(api)
    assert assign(api, other["token"], order["orderId"]).status_code == 200
    assert_error(process(api, me["token"], order["orderId"]), 409, "ALREADY_ASSIGNED")
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and "expertPrompt" not in doc
    assert n8n.received() == []


@pytest.mark.parametrize("status", ["pending", "processing", "failed"])
def test_process_order_needs_a_paid_order(api, expert, n8n, mongo_db, status):
    order = order_in(api, status)
    b = assert_error(process(api, expert["token"], order["orderId"]), 409, "INVALID_TRANSITION")
    assert b["from"] == status and b["to"] == "processing"
    assert order_doc(mongo_db, order["orderId"])["status"] == status
    assert n8n.received() == []


def test_process_order_unknown_order_is_404(api, expert, n8n):
    assert_error(process(api, expert["token"], UNKNOWN_ID), 404, "ORDER_NOT_FOUND")
    assert n8n.received() == []


@pytest.mark.parametrize("body,fields", [
    ({"expertPrompt": "p"}, ["orderId"]),
    ({"orderId": "nothex", "expertPrompt": "p"}, ["orderId"]),
    ({"orderId": 12, "expertPrompt": "p"}, ["orderId"]),
    ({"orderId": UNKNOWN_ID}, ["expertPrompt"]),
    ({"orderId": UNKNOWN_ID, "expertPrompt": ""}, ["expertPrompt"]),
    ({"orderId": UNKNOWN_ID, "expertPrompt": "p" * 20001}, ["expertPrompt"]),
    ({"orderId": UNKNOWN_ID, "expertPrompt": "p", "expertInstructions": "i" * 20001},
     ["expertInstructions"]),
    ({"orderId": UNKNOWN_ID, "expertPrompt": ["p"], "expertInstructions": 3},
     ["expertPrompt", "expertInstructions"]),
], ids=["no-id", "bad-id", "number-id", "no-prompt", "empty-prompt", "prompt-20001",
        "instructions-20001", "wrong-types"])
def test_process_order_validation(api, expert, n8n, body, fields):
    r = api.post(PROCESS, json=body, headers=bearer(expert["token"]))
    assert_validation(r, *fields)
    assert n8n.received() == []


def assert_back_to_paid(r, mongo_db, order, reason_part):
    b = assert_error(r, 502, "N8N_ERROR")
    assert b["orderId"] == order["orderId"] and b["orderNumber"] == order["orderNumber"]
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid", doc
    assert reason_part in doc["n8nError"].lower(), doc["n8nError"]
    return doc


def test_n8n_error_puts_the_order_back(api, n8n, mongo_db):
    me = new_expert(api, "Unlucky")
    order = paid_order(api)
    n8n.fault("error", status=500)
    r = process(api, me["token"], order["orderId"])
    doc = assert_back_to_paid(r, mongo_db, order, "500")
    assert len(n8n.received()) == 1  # it was offered the order
    # Still mine, and it can be tried again once n8n is back.
    assert doc["assignedExpertId"] == oid(me["id"])
    n8n.reset()
    r = process(api, me["token"], order["orderId"])
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["status"] == "processing"


def test_n8n_failure_logs_the_move_back(api, n8n, mongo_db):
    """docs/ORDERS.md: every change logs one info line "order status changed" with orderNumber,
    from, to and by (checkout, webhook, expert, n8n)."""
    me = new_expert(api, "Logged")
    order = paid_order(api)
    n8n.fault("error", status=503)
    assert_back_to_paid(process(api, me["token"], order["orderId"]), mongo_db, order, "503")
    log = os.path.join(VAR, "log", "orders.log")
    lines = wait_until(lambda: [l for l in read_log_lines(log)
                                if l.get("msg") == "order status changed"
                                and l.get("orderNumber") == order["orderNumber"]
                                and l.get("from") == "processing"] or None,
                       timeout=5, what="the move back in orders.log")
    assert len(lines) == 1 and lines[0]["to"] == "paid", lines
    assert lines[0]["by"] in ("checkout", "webhook", "expert", "n8n"), lines[0]


def test_n8n_refusing_connections_is_502(api, n8n, mongo_db):
    me = new_expert(api, "Refused")
    warm = paid_order(api)  # the workers may keep a connection to n8n warm: refused all the same
    assert process(api, me["token"], warm["orderId"]).status_code == 200
    n8n.fault("refuse")
    for _ in range(3):  # whichever worker answers
        order = paid_order(api)
        assert_back_to_paid(process(api, me["token"], order["orderId"]), mongo_db, order, "n8n")
    assert len(n8n.received()) == 1  # the warm-up only


def test_n8n_hanging_is_502_within_the_timeout(api, n8n, mongo_db):
    me = new_expert(api, "Patient")
    order = paid_order(api)
    with program_env("orders", "N8N_TIMEOUT_MS=2000"):
        n8n.fault("hang")
        t0 = time.monotonic()
        r = process(api, me["token"], order["orderId"])
        took = time.monotonic() - t0
        n8n.reset()
    assert took < 10, took
    assert took >= 1.9, took
    assert_back_to_paid(r, mongo_db, order, "timeout")


# ---------------------------------------------------------------- n8n callback

def processing_order(api, token):
    return order_in(api, "processing")


CONTENT = {"reading": "The cards say...\nMore.", "summary": "Short"}


@pytest.mark.parametrize("form", ["hex", "base64", "sha256="])
def test_callback_stores_the_content(api, expert, mongo_db, form):
    order = processing_order(api, expert["token"])
    r = post_callback(api, {"orderId": order["orderId"], "success": True,
                            "generatedContent": CONTENT}, form=form)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing"
    assert doc["generatedContent"] == CONTENT
    assert doc["contentGeneratedAt"] is not None
    assert doc["expertReview"]["status"] == "pending"


def test_callback_hex_signature_in_upper_case(api, expert, mongo_db):
    order = processing_order(api, expert["token"])
    body = json.dumps({"orderId": order["orderId"], "success": True,
                       "generatedContent": CONTENT}).encode()
    ts, nonce = str(int(time.time() * 1000)), os.urandom(8).hex()
    r = post_callback(api, None, raw=body, timestamp=ts, nonce=nonce,
                      signature=sign_n8n(body, timestamp=ts, nonce=nonce).upper())
    assert r.status_code == 200, r.text


def forged_signatures(body, order_id):
    other = json.dumps({"orderId": order_id, "success": True,
                        "generatedContent": {"reading": "other"}}).encode()
    good = sign_n8n(body)
    return {"none": False, "empty": "", "wrong-secret": sign_n8n(body, secret="not-the-secret"),
            "other-body": sign_n8n(other), "garbage": "sha256=zz",
            "truncated": good[:-2], "one-digit-changed": good[:-1] + ("0" if good[-1] != "0" else "1"),
            "other-prefix": "sha1=" + good}


def test_forged_callbacks_are_401_and_store_nothing(api, expert, mongo_db):
    order = processing_order(api, expert["token"])
    body = json.dumps({"orderId": order["orderId"], "success": True,
                       "generatedContent": {"reading": "forged"}}).encode()
    for name, sig in forged_signatures(body, order["orderId"]).items():
        r = post_callback(api, None, raw=body, signature=sig)
        assert r.status_code == 401, (name, r.text)
        assert_error(r, 401, "INVALID_SIGNATURE")
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing"
    assert "generatedContent" not in doc and "expertReview" not in doc
    # A forged failure does not send the order back either.
    fail = json.dumps({"orderId": order["orderId"], "success": False, "error": "x"}).encode()
    assert_error(post_callback(api, None, raw=fail, signature=sign_n8n(fail, secret="nope")), 401,
                 "INVALID_SIGNATURE")
    assert order_doc(mongo_db, order["orderId"])["status"] == "processing"


def test_callback_for_an_order_not_processing_is_409(api, mongo_db):
    order = paid_order(api)
    r = post_callback(api, {"orderId": order["orderId"], "success": True,
                            "generatedContent": CONTENT})
    b = assert_error(r, 409, "INVALID_TRANSITION")
    assert b["from"] == "paid"
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and "generatedContent" not in doc


def test_callback_for_an_unknown_order_is_404(api):
    r = post_callback(api, {"orderId": UNKNOWN_ID, "success": True, "generatedContent": CONTENT})
    assert_error(r, 404, "ORDER_NOT_FOUND")


def test_callback_failure_puts_the_order_back(api, expert, mongo_db):
    order = processing_order(api, expert["token"])
    r = post_callback(api, {"orderId": order["orderId"], "success": False,
                            "error": "model overloaded"})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and doc["n8nError"] == "model overloaded"
    assert "generatedContent" not in doc


@pytest.mark.parametrize("body,fields", [
    ({"success": True, "generatedContent": CONTENT}, ["orderId"]),
    ({"orderId": "xyz", "success": True, "generatedContent": CONTENT}, ["orderId"]),
    ({"orderId": "{id}", "generatedContent": CONTENT}, ["success"]),
    ({"orderId": "{id}", "success": "yes", "generatedContent": CONTENT}, ["success"]),
    ({"orderId": "{id}", "success": True}, ["generatedContent"]),
    ({"orderId": "{id}", "success": True, "generatedContent": "text"}, ["generatedContent"]),
    ({"orderId": "{id}", "success": True, "generatedContent": {"reading": 3}},
     ["generatedContent.reading"]),
], ids=["no-id", "bad-id", "no-success", "success-string", "no-content", "content-string",
        "content-number"])
def test_callback_validation(api, expert, mongo_db, body, fields):
    order = processing_order(api, expert["token"])
    body = json.loads(json.dumps(body).replace("{id}", order["orderId"]))
    assert_validation(post_callback(api, body), *fields)
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "processing" and "generatedContent" not in doc


def test_signed_callback_with_invalid_json_is_400(api):
    assert_error(post_callback(api, None, raw=b'{"orderId": '), 400, "INVALID_JSON")


# ---------------------------------------------------------------- statistics

def stats(api, token):
    r = api.get("/api/expert/stats", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def every_order(mongo_db):
    """The four numbers of every order that the desk's tiles show."""
    return {"pending": mongo_db.orders.count_documents(QUEUE),
            "paid": mongo_db.orders.count_documents({"status": "paid"}),
            "processing": mongo_db.orders.count_documents({"status": "processing"}),
            "completed": mongo_db.orders.count_documents({"status": "completed"})}


def test_expert_stats(api, n8n, mongo_db):
    """API.md (compat): flat, as the desk reads it."""
    me = new_expert(api, "Counting Expert")
    s = stats(api, me["token"])
    assert s == dict(every_order(mongo_db), treatedToday=0, totalTreated=0, assigned=0,
                     awaitingReview=0)
    just_assigned, reviewed, running, done, old_done = (paid_order(api) for _ in range(5))
    assert assign(api, me["token"], just_assigned["orderId"]).status_code == 200
    for o in (reviewed, running):
        assert process(api, me["token"], o["orderId"]).status_code == 200
    assert post_callback(api, {"orderId": reviewed["orderId"], "success": True,
                               "generatedContent": CONTENT}).status_code == 200
    for o in (done, old_done):
        assert assign(api, me["token"], o["orderId"]).status_code == 200
        set_status(api, me["token"], o["orderId"], "processing")
        r = api.request("PATCH", "/api/orders/%s/delivered" % o["orderId"], json={},
                        headers=bearer(me["token"]))
        assert r.status_code == 200, r.text
    # Delivered yesterday: treated, not today.
    mongo_db.orders.update_one({"_id": oid(old_done["orderId"])},
                               {"$set": {"deliveredAt": datetime.datetime.now(
                                   datetime.timezone.utc) - datetime.timedelta(days=2)}})
    s = stats(api, me["token"])
    assert s == dict(every_order(mongo_db), treatedToday=1, totalTreated=2, assigned=3,
                     awaitingReview=1)
    # Another expert's numbers are their own.
    other = stats(api, new_expert(api, "Other Counter")["token"])
    assert other == dict(every_order(mongo_db), treatedToday=0, totalTreated=0, assigned=0,
                         awaitingReview=0)


# ---------------------------------------------------------------- the original's assignments

def legacy_assigned(mongo_db, order_id, expert_id, status=None):
    """Makes an order look as the original assigned it: no assignedExpertId, and
    expertReview.expertId the expert's id as a string, without a review status."""
    change = {"$unset": {"assignedExpertId": ""},
              "$set": {"expertReview": {"expertId": expert_id,
                                        "assignedAt": datetime.datetime.now(datetime.timezone.utc)}}}
    if status is not None:
        change["$set"]["status"] = status
    mongo_db.orders.update_one({"_id": oid(order_id)}, change)


def test_the_originals_assignment_survives_a_review(api, mongo_db):
    """API.md (compat): an order the original assigned is its expert's; a review, which replaces
    expertReview, must not set it free (it keeps the holder as assignedExpertId)."""
    me, other = new_expert(api, "Original Holder"), new_expert(api, "Newcomer")
    order = paid_order(api)
    legacy_assigned(mongo_db, order["orderId"], me["id"])
    assert order["orderId"] not in [o["id"] for o in
                                    desk_list(api, other["token"], "pending")["orders"]]
    assert_error(assign(api, other["token"], order["orderId"]), 409, "ALREADY_ASSIGNED")
    assert mongo_db.order_assignments.count_documents({"_id": oid(order["orderId"])}) == 0
    r = api.request("PATCH", "/api/orders/%s/expert-review" % order["orderId"],
                    json={"status": "approved"}, headers=bearer(me["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["order"]["assignedExpertId"] == me["id"]
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["assignedExpertId"] == oid(me["id"]) and doc["expertReview"]["status"] == "approved"
    assert order["orderId"] not in [o["id"] for o in
                                    desk_list(api, other["token"], "pending")["orders"]]
    assert_error(assign(api, other["token"], order["orderId"]), 409, "ALREADY_ASSIGNED")
    # An admin's review keeps it too.
    other_order = paid_order(api)
    legacy_assigned(mongo_db, other_order["orderId"], me["id"])
    admin = new_expert(api, "Reviewing Admin", role="admin")
    r = api.request("PATCH", "/api/orders/%s/expert-review" % other_order["orderId"],
                    json={"status": "rejected"}, headers=bearer(admin["token"]))
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, other_order["orderId"])
    assert doc["assignedExpertId"] == oid(me["id"]) and doc["expertReview"]["expertId"] == \
        oid(admin["id"])
    assert other_order["orderId"] in [o["id"] for o in
                                      desk_list(api, me["token"], "assigned")["orders"]]


def test_the_originals_assignment_survives_n8ns_content(api, mongo_db):
    """The original sent an order to n8n (processing, expertReview.expertId its expert); the
    content arrives through our callback: the order stays that expert's, who delivers it."""
    me = new_expert(api, "Original Sender")
    order = paid_order(api)
    legacy_assigned(mongo_db, order["orderId"], me["id"], status="processing")
    r = post_callback(api, {"orderId": order["orderId"], "success": True,
                            "generatedContent": CONTENT})
    assert r.status_code == 200, r.text
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["assignedExpertId"] == oid(me["id"])
    assert doc["expertReview"]["status"] == "pending"
    assert order["orderId"] in [o["id"] for o in desk_list(api, me["token"], "assigned")["orders"]]
    r = api.request("PATCH", "/api/orders/%s/delivered" % order["orderId"], json={},
                    headers=bearer(me["token"]))
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["status"] == "completed"
