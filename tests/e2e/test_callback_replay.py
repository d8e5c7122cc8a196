"""Replay-safe n8n callbacks (API.md "Expert desk", issue 12 s. 4).

The signature covers "<X-Timestamp>.<X-Nonce>.<raw body>" (the original's later form, so an n8n
workflow made for it works unchanged); a timestamp more than N8N_CALLBACK_MAX_SKEW_MS from now
is 400 STALE_CALLBACK, a nonce seen before 409 REPLAY (nonces in MongoDB under a unique _id), and
a callback without both headers 400 REPLAY_HEADERS_REQUIRED while
N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION is true. Every refusal changes nothing."""

import calendar
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import (BASE, ROOT, VAR, bearer, n8n_headers, program_env, read_secrets,
                      sign_n8n)
from orders_util import (CALLBACK, PROCESS, UNKNOWN_ID, assert_error, assert_validation,
                         expert, order_doc, paid_order, post_callback)  # noqa: F401

CONTENT = {"reading": "The cards say...", "summary": "Short"}
SKEW_MS = 300000


def now_ms():
    return int(time.time() * 1000)


def processing(api, token):
    """A paid order that `token`'s expert sent to n8n: status processing."""
    o = paid_order(api)
    r = api.post(PROCESS, json={"orderId": o["orderId"], "expertPrompt": "Write the reading."},
                 headers=bearer(token))
    assert r.status_code == 200, r.text
    return o


def raw(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def success_body(order):
    return raw({"orderId": order["orderId"], "success": True, "generatedContent": CONTENT})


def send(api, body, headers):
    return api.post(CALLBACK, data=body, headers=dict({"Content-Type": "application/json"},
                                                      **headers))


def unchanged(mongo_db, order, status="processing"):
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == status, doc["status"]
    assert "generatedContent" not in doc and "expertReview" not in doc
    return doc


def test_replay_safe_callback_is_applied_and_its_nonce_kept(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    r = send(api, body, h)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["generatedContent"] == CONTENT and doc["expertReview"]["status"] == "pending"
    kept = mongo_db.n8n_nonces.find_one({"_id": h["X-Nonce"]})
    assert kept is not None
    # Kept for as long as a callback with this timestamp could be fresh.
    expires = calendar.timegm(kept["expiresAt"].utctimetuple()) * 1000
    assert abs(expires - (int(h["X-Timestamp"]) + SKEW_MS)) < 1000


@pytest.mark.parametrize("form", ["hex", "base64", "sha256="])
def test_replay_safe_signature_forms(api, n8n, expert, mongo_db, form):
    order = processing(api, expert["token"])
    r = post_callback(api, {"orderId": order["orderId"], "success": True,
                            "generatedContent": CONTENT}, form=form)
    assert r.status_code == 200, r.text


def test_n8n_prefixed_header_aliases(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    r = send(api, body, {"X-N8N-Timestamp": h["X-Timestamp"], "X-N8N-Nonce": h["X-Nonce"],
                         "X-N8N-Signature": h["X-N8N-Signature"]})
    assert r.status_code == 200, r.text
    assert mongo_db.n8n_nonces.find_one({"_id": h["X-Nonce"]}) is not None


def test_replayed_failure_does_not_push_the_order_back_again(api, n8n, expert, mongo_db):
    """The attack of the issue: a captured {"success": false} sent again later."""
    order = processing(api, expert["token"])
    body = raw({"orderId": order["orderId"], "success": False, "error": "model overloaded"})
    captured = n8n_headers(body)
    assert send(api, body, captured).status_code == 200
    assert order_doc(mongo_db, order["orderId"])["status"] == "paid"
    # The expert sends it to n8n again; the captured failure comes back.
    r = api.post(PROCESS, json={"orderId": order["orderId"], "expertPrompt": "Again, please."},
                 headers=bearer(expert["token"]))
    assert r.status_code == 200, r.text
    before = order_doc(mongo_db, order["orderId"])
    assert before["status"] == "processing"
    assert_error(send(api, body, captured), 409, "REPLAY")
    after = order_doc(mongo_db, order["orderId"])
    assert after["status"] == "processing" and after["updatedAt"] == before["updatedAt"]


def test_replayed_success_is_409_and_changes_nothing(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    assert send(api, body, h).status_code == 200
    before = order_doc(mongo_db, order["orderId"])
    for _ in range(3):
        assert_error(send(api, body, h), 409, "REPLAY")
    assert order_doc(mongo_db, order["orderId"]) == before
    assert mongo_db.n8n_nonces.count_documents({"_id": h["X-Nonce"]}) == 1


def test_a_new_nonce_under_the_old_signature_is_forged(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    h2 = dict(h, **{"X-Nonce": os.urandom(8).hex()})
    assert_error(send(api, body, h2), 401, "INVALID_SIGNATURE")
    h3 = dict(h, **{"X-Timestamp": str(int(h["X-Timestamp"]) + 1)})
    assert_error(send(api, body, h3), 401, "INVALID_SIGNATURE")
    # A body-only signature does not count once the two headers are there.
    h4 = dict(h, **{"X-N8N-Signature": sign_n8n(body)})
    assert_error(send(api, body, h4), 401, "INVALID_SIGNATURE")
    unchanged(mongo_db, order)
    assert mongo_db.n8n_nonces.count_documents({"_id": {"$in": [h["X-Nonce"],
                                                                h2["X-Nonce"]]}}) == 0


@pytest.mark.parametrize("offset_ms", [-(SKEW_MS + 60000), SKEW_MS + 60000, -10 ** 12],
                         ids=["past", "future", "far-past"])
def test_stale_timestamp_is_400(api, n8n, expert, mongo_db, offset_ms):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body, timestamp=now_ms() + offset_ms)
    assert_error(send(api, body, h), 400, "STALE_CALLBACK")
    unchanged(mongo_db, order)
    assert mongo_db.n8n_nonces.find_one({"_id": h["X-Nonce"]}) is None


def test_timestamp_within_the_skew_is_accepted(api, n8n, expert, mongo_db):
    for offset in (-(SKEW_MS - 30000), SKEW_MS - 30000):
        order = processing(api, expert["token"])
        body = success_body(order)
        r = send(api, body, n8n_headers(body, timestamp=now_ms() + offset))
        assert r.status_code == 200, (offset, r.text)


def test_stale_timestamp_badly_signed_is_401(api, n8n, expert, mongo_db):
    """The time is judged only once the signature matched."""
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body, timestamp=now_ms() - 10 * SKEW_MS, secret="not-the-secret")
    assert_error(send(api, body, h), 401, "INVALID_SIGNATURE")
    unchanged(mongo_db, order)


@pytest.mark.parametrize("drop", [("X-Timestamp", "X-Nonce"), ("X-Timestamp",), ("X-Nonce",)],
                         ids=["both", "timestamp", "nonce"])
def test_missing_replay_headers_are_400_when_required(api, n8n, expert, mongo_db, drop):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    for name in drop:
        del h[name]
    if len(drop) == 2:
        h["X-N8N-Signature"] = sign_n8n(body)  # the body-only form, correctly signed
    assert_error(send(api, body, h), 400, "REPLAY_HEADERS_REQUIRED")
    unchanged(mongo_db, order)


@pytest.mark.parametrize("nonce", ["a" * 129, "a b", "nonce/1", "nonce\u00e9", "a,b", "",
                                   "x" * 4000], ids=["129-chars", "space", "slash",
                                                     "non-ascii", "comma", "empty", "4000-chars"])
def test_bad_nonce_is_a_validation_error(api, n8n, expert, mongo_db, nonce):
    order = processing(api, expert["token"])
    body = success_body(order)
    ts = str(now_ms())
    h = {"X-Timestamp": ts, "X-Nonce": nonce,
         "X-N8N-Signature": sign_n8n(body, timestamp=ts, nonce=nonce)}
    h = {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in h.items()}
    r = send(api, body, h)
    if nonce == "":
        # An empty header is no header.
        assert_error(r, 400, "REPLAY_HEADERS_REQUIRED")
    else:
        assert_validation(r, "X-Nonce")
    unchanged(mongo_db, order)


def test_nonce_of_128_allowed_characters_is_accepted(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = success_body(order)
    nonce = ("Az09._:-" * 16)[:120] + os.urandom(4).hex()
    assert len(nonce) == 128
    r = send(api, body, n8n_headers(body, nonce=nonce))
    assert r.status_code == 200, r.text
    assert mongo_db.n8n_nonces.find_one({"_id": nonce}) is not None


@pytest.mark.parametrize("ts", ["12.5", "-1", "1e12", "0x10", "1 2", "1" * 16, "now"],
                         ids=["decimal", "negative", "exponent", "hex", "space", "16-digits",
                              "word"])
def test_bad_timestamp_is_a_validation_error(api, n8n, expert, mongo_db, ts):
    order = processing(api, expert["token"])
    body = success_body(order)
    nonce = os.urandom(8).hex()
    h = {"X-Timestamp": ts, "X-Nonce": nonce,
         "X-N8N-Signature": sign_n8n(body, timestamp=ts, nonce=nonce)}
    assert_validation(send(api, body, h), "X-Timestamp")
    unchanged(mongo_db, order)


def test_timestamp_in_seconds_is_stale(api, n8n, expert, mongo_db):
    """The unit is milliseconds: a sender that signs with seconds is told so by the refusal."""
    order = processing(api, expert["token"])
    body = success_body(order)
    assert_error(send(api, body, n8n_headers(body, timestamp=int(time.time()))), 400,
                 "STALE_CALLBACK")
    unchanged(mongo_db, order)


def test_same_nonce_sent_concurrently_applies_once(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    body = raw({"orderId": order["orderId"], "success": False, "error": "once"})
    h = n8n_headers(body)
    results, start = [], threading.Barrier(8)

    def one():
        start.wait()
        results.append(send(api, body, h))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 7, codes
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "REPLAY")
    doc = order_doc(mongo_db, order["orderId"])
    assert doc["status"] == "paid" and doc["n8nError"] == "once"


def test_callback_for_an_order_not_processing_is_refused(api, mongo_db):
    order = paid_order(api)
    body = success_body(order)
    b = assert_error(send(api, body, n8n_headers(body)), 409, "INVALID_TRANSITION")
    assert b["from"] == "paid"
    unchanged(mongo_db, order, "paid")


def test_callback_for_an_unknown_order_forgets_its_nonce(api, mongo_db):
    """Not applied (404): the nonce is given back, so the same callback may come again."""
    body = raw({"orderId": UNKNOWN_ID, "success": True, "generatedContent": CONTENT})
    h = n8n_headers(body)
    assert_error(send(api, body, h), 404, "ORDER_NOT_FOUND")
    assert mongo_db.n8n_nonces.find_one({"_id": h["X-Nonce"]}) is None
    assert_error(send(api, body, h), 404, "ORDER_NOT_FOUND")


def test_database_failing_while_the_nonce_is_recorded_is_503(api, n8n, expert, mongo_db,
                                                             dbproxy):
    order = processing(api, expert["token"])
    body = success_body(order)
    h = n8n_headers(body)
    # The nonce is the callback's first database command: every command is dropped from now.
    dbproxy.fault("drop", after_commands=1, repeat=True)
    try:
        r = send(api, body, h)
    finally:
        dbproxy.reset()
    assert_error(r, 503, "DATABASE_UNAVAILABLE")
    unchanged(mongo_db, order)
    assert mongo_db.n8n_nonces.find_one({"_id": h["X-Nonce"]}) is None
    # Nothing was recorded: n8n's retry of the very same request is applied.
    deadline = time.monotonic() + 20
    while True:
        r = send(api, body, h)
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    assert order_doc(mongo_db, order["orderId"])["generatedContent"] == CONTENT


def test_body_only_callbacks_when_replay_protection_is_off(api, n8n, expert, mongo_db):
    with program_env("orders", "N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION=false"):
        order = processing(api, expert["token"])
        r = post_callback(api, {"orderId": order["orderId"], "success": True,
                                "generatedContent": CONTENT}, replay=False)
        assert r.status_code == 200, r.text
        # The replay-safe form still works, and still refuses a replay.
        order2 = processing(api, expert["token"])
        body = success_body(order2)
        h = n8n_headers(body)
        assert send(api, body, h).status_code == 200
        assert_error(send(api, body, h), 409, "REPLAY")
        # Half the headers is still refused.
        order3 = processing(api, expert["token"])
        body = success_body(order3)
        h = n8n_headers(body)
        del h["X-Nonce"]
        assert_error(send(api, body, h), 400, "REPLAY_HEADERS_REQUIRED")
        unchanged(mongo_db, order3)
    # Restored: the body-only form is refused again.
    order4 = processing(api, expert["token"])
    r = post_callback(api, {"orderId": order4["orderId"], "success": True,
                            "generatedContent": CONTENT}, replay=False)
    assert_error(r, 400, "REPLAY_HEADERS_REQUIRED")
    unchanged(mongo_db, order4)


def test_max_skew_is_configurable(api, n8n, expert, mongo_db):
    with program_env("orders", "N8N_CALLBACK_MAX_SKEW_MS=5000"):
        order = processing(api, expert["token"])
        body = success_body(order)
        assert_error(send(api, body, n8n_headers(body, timestamp=now_ms() - 20000)), 400,
                     "STALE_CALLBACK")
        unchanged(mongo_db, order)
        r = send(api, body, n8n_headers(body, timestamp=now_ms() - 1000))
        assert r.status_code == 200, r.text


def run_script(*args):
    path = os.path.join(ROOT, "scripts", "n8n-callback")
    return subprocess.run([path, "--url", BASE + CALLBACK, "--env", os.path.join(VAR, "lumira.env"),
                           *args], capture_output=True, text=True, timeout=60)


def test_scripts_n8n_callback_sends_the_replay_safe_form(api, n8n, expert, mongo_db):
    order = processing(api, expert["token"])
    nonce = "script-" + os.urandom(6).hex()
    r = run_script("--order", order["orderId"], "--nonce", nonce,
                   "--content", '{"reading": "From the script."}')
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout.splitlines()[0]) == {"received": True}
    assert order_doc(mongo_db, order["orderId"])["generatedContent"] == {"reading": "From the script."}
    assert mongo_db.n8n_nonces.find_one({"_id": nonce}) is not None
    # The same nonce again: the replay is refused.
    r = run_script("--order", order["orderId"], "--nonce", nonce)
    assert r.returncode == 1
    assert json.loads(r.stdout.splitlines()[0])["code"] == "REPLAY"
    # The body-only form, refused while replay protection is required.
    r = run_script("--order", order["orderId"], "--body-only")
    assert r.returncode == 1
    assert json.loads(r.stdout.splitlines()[0])["code"] == "REPLAY_HEADERS_REQUIRED"
    # --print shows the three headers, never the secret.
    r = run_script("--order", order["orderId"], "--print")
    assert r.returncode == 0
    for h in ("X-Timestamp: ", "X-Nonce: ", "X-N8N-Signature: sha256="):
        assert h in r.stdout
    assert read_secrets()["N8N_CALLBACK_SECRET"] not in r.stdout + r.stderr


def orders_log_lines(since):
    """lumira-orders' log lines after the first `since`, parsed."""
    path = os.path.join(VAR, "log", "orders.log")
    with open(path, errors="replace") as f:
        lines = f.readlines()
    return [json.loads(line) for line in lines[since:] if line.startswith("{")], len(lines)


def orders_log_len():
    path = os.path.join(VAR, "log", "orders.log")
    with open(path, errors="replace") as f:
        return len(f.readlines())


def test_a_server_without_ttl_indexes_is_no_error(api, n8n, expert, mongo_db):
    """FerretDB does not implement TTL indexes: each worker says so at start (info) and goes on;
    the nonces still refuse replays (the unique _id does that, not the TTL)."""
    since = orders_log_len()
    with program_env("orders"):
        order = processing(api, expert["token"])
        body = success_body(order)
        h = n8n_headers(body)
        assert send(api, body, h).status_code == 200
        assert_error(send(api, body, h), 409, "REPLAY")
    lines, _ = orders_log_lines(since)
    ttl = [l for l in lines if "TTL" in l["msg"]]
    names = [i["name"] for i in mongo_db.n8n_nonces.list_indexes()]
    if "expiresAt_ttl" in names:  # a server with TTL indexes (MongoDB): made, nothing said
        info = mongo_db.n8n_nonces.index_information()["expiresAt_ttl"]
        assert info["expireAfterSeconds"] == 0 and not ttl
    else:
        assert ttl and all(l["level"] == "info" for l in ttl), lines
    assert not [l for l in lines if l["level"] == "error" and "index" in l["msg"]], lines


def test_a_foreign_index_of_the_ttl_name_is_reported(api, n8n, expert, mongo_db):
    """An index named expiresAt_ttl without the expiry is the operator's to mend: one error line
    at start; callbacks still work."""
    if "expiresAt_ttl" in [i["name"] for i in mongo_db.n8n_nonces.list_indexes()]:
        pytest.skip("the server made the real TTL index")
    mongo_db.n8n_nonces.create_index("expiresAt", name="expiresAt_ttl")
    since = orders_log_len()
    try:
        with program_env("orders"):
            order = processing(api, expert["token"])
            body = success_body(order)
            assert send(api, body, n8n_headers(body)).status_code == 200
        lines, _ = orders_log_lines(since)
        assert [l for l in lines if l["level"] == "error" and "expiresAt_ttl" in l["msg"]], lines
    finally:
        mongo_db.n8n_nonces.drop_index("expiresAt_ttl")
