"""Faults survived end to end (docs/RELIABILITY.md): the database killed, restarted or
misbehaving, Stripe and n8n hanging, a worker killed in the middle of a request, a log file that
can no longer be written. Each test looks into the database afterwards: nothing answered 2xx is
lost or doubled."""

import concurrent.futures
import json
import os
import signal
import threading
import time

import pytest

from conftest import (VAR, bearer, checkout, create_expert, dev, login, program_env,
                      stripe_event, wait_until, workers)
from orders_util import ORDER_NUMBER, assert_error, marker

GROUPS = ("ready", "health", "auth", "orders")


def report(name, **figures):
    """Keeps the figures of a fault test in var/test/faults.json (docs/RELIABILITY.md quotes
    them) and prints them (shown by pytest -s or on failure)."""
    path = os.path.join(VAR, "faults.json")
    try:
        with open(path) as f:
            all_figures = json.load(f)
    except (OSError, ValueError):
        all_figures = {}
    all_figures[name] = figures
    with open(path, "w") as f:
        json.dump(all_figures, f, indent=1, sort_keys=True)
    print(name, figures)


def assert_envelope(r, status=None):
    """A JSON error envelope, whatever program or nginx wrote it."""
    assert r.headers.get("Content-Type", "").startswith("application/json"), (r.status_code, r.text)
    b = r.json()
    assert isinstance(b.get("error"), str) and isinstance(b.get("code"), str), b
    assert b.get("requestId") == r.headers.get("X-Request-Id"), b
    if status is not None:
        assert r.status_code == status, (r.status_code, b)
    return b


@pytest.fixture
def token(api):
    return login(api, create_expert(name="Fault Expert"))


def all_workers():
    return {g: workers(g) for g in GROUPS}


def wait_database_back(mongo_db):
    wait_until(lambda: mongo_db.command("ping").get("ok") == 1.0, 30, what="the database back")


# ---------------------------------------------------------------- the database killed

def test_database_killed_during_200_concurrent_checkouts_loses_nothing(api, mongo_db):
    """SIGKILL of the database while 200 checkouts run 32 at a time, then a restart: every 2xx
    order exists exactly once under its number, no number is used twice, every other answer is
    a JSON 503, and the orders left behind by 5xx answers are counted and reported."""
    tag = marker()
    answered = []
    lock = threading.Lock()
    restarted = []

    def one(i):
        level = 2 if i % 4 == 0 else 1
        if i >= 100:
            # The second half waits for the database to be back: the group must serve again.
            wait_until(lambda: restarted, 60, interval=0.01, what="the database restarted")
        sent = time.monotonic()
        r = checkout(api, level, email="kill-%s-%03d@example.com" % (tag, i))
        with lock:
            answered.append(i)
        return i, level, sent, r

    def killer():
        wait_until(lambda: len(answered) >= 40, 60, interval=0.01, what="40 answers")
        dev("db-kill")
        dev("db-start")
        restarted.append(time.monotonic())

    t = threading.Thread(target=killer)
    t.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(200)))
    t.join()
    ok, failed = {}, {}
    for i, level, sent, r in results:
        if r.status_code == 200:
            b = r.json()
            assert ORDER_NUMBER.match(b["orderNumber"]), b
            ok[i] = (level, b)
        else:
            assert_error(r, 503, "DATABASE_UNAVAILABLE")
            failed[i] = r.status_code
            # Once the database was back, a new checkout was served.
            assert i < 100, ("a checkout sent after the restart failed", i, r.text)
    assert len(ok) >= 140 and failed, (len(ok), len(failed))  # the kill fell in the middle

    wait_database_back(mongo_db)
    docs = list(mongo_db.orders.find({"userEmail": {"$regex": "^kill-%s-" % tag}}))
    by_id = {str(d["_id"]): d for d in docs}
    for i, (level, b) in ok.items():
        same = [d for d in docs if d["orderNumber"] == b["orderNumber"]]
        assert len(same) == 1, (b, same)
        d = by_id[b["orderId"]]
        assert d["orderNumber"] == b["orderNumber"]
        assert d["userEmail"] == "kill-%s-%03d@example.com" % (tag, i)
        assert d["status"] == b["status"] == ("paid" if level == 1 else "pending"), (b, d)
    dup = list(mongo_db.orders.aggregate([{"$group": {"_id": "$orderNumber", "n": {"$sum": 1}}},
                                          {"$match": {"n": {"$gt": 1}}}]))
    assert dup == []
    left = [d for d in docs if int(d["userEmail"].split("-")[2].split("@")[0]) in failed]
    # One order per checkout at most: a 5xx answer never left two.
    assert len(left) == len({d["userEmail"] for d in left})
    report("database killed during 200 checkouts", answered_2xx=len(ok), answered_503=len(failed),
           orders_left_by_5xx=len(left),
           left_by_status={s: sum(1 for d in left if d["status"] == s)
                           for s in sorted({d["status"] for d in left})})


# ---------------------------------------------------------------- the database restarted

def test_database_restart_every_group_serves_again_within_10s_without_new_workers(
        api, token, mongo_db):
    before = all_workers()
    dev("db-stop")
    try:
        r = api.get("/api/orders", headers=bearer(token))
        assert_error(r, 503, "DATABASE_UNAVAILABLE")
        assert_error(api.get("/api/expert/verify", headers=bearer(token)), 503,
                     "DATABASE_UNAVAILABLE")
        assert api.get("/api/ready").status_code == 503
    finally:
        dev("db-start")
    t0 = time.monotonic()
    checks = {
        "ready": lambda: api.get("/api/ready").status_code == 200,
        "health": lambda: api.get("/api/health").json()["services"]["database"] == "connected",
        "auth": lambda: api.get("/api/expert/verify", headers=bearer(token)).status_code == 200,
        "orders": lambda: api.get("/api/orders", headers=bearer(token)).status_code == 200,
    }
    back = {}
    while len(back) < len(checks) and time.monotonic() - t0 < 10:
        for group, check in checks.items():
            if group not in back and check():
                back[group] = round(time.monotonic() - t0, 2)
        time.sleep(0.1)
    assert set(back) == set(checks), ("not back within 10 s", back)
    assert all_workers() == before  # no worker was restarted to get there
    report("database restarted", seconds_until_back=back)


# ---------------------------------------------------------------- Stripe and n8n hanging

def test_stripe_hanging_checkout_is_502_at_its_timeout_and_other_groups_answer(
        api, standin, token, mongo_db):
    """Both lumira-orders workers wait on a Stripe that never answers; meanwhile every request to
    lumira-health and lumira-auth is answered 200 (a slow Stripe never stalls another group)."""
    with program_env("orders", "STRIPE_TIMEOUT_MS=3000"):
        standin.fault("hang")
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            t0 = time.monotonic()
            pending = [pool.submit(lambda: (checkout(api, 2), time.monotonic() - t0))
                       for _ in range(2)]
            others = []
            while not all(f.done() for f in pending):
                others.append(api.get("/api/health").status_code)
                others.append(api.get("/api/expert/verify", headers=bearer(token)).status_code)
            answers = [f.result() for f in pending]
        standin.reset()
    assert len(others) >= 10 and set(others) == {200}, others
    for r, took in answers:
        b = assert_error(r, 502, "PAYMENT_PROVIDER_ERROR")
        assert 2.9 <= took < 10, took
        d = mongo_db.orders.find_one({"orderNumber": b["orderNumber"]})
        assert d["status"] == "failed" and "timeout" in d["failureReason"], d
    report("Stripe hanging", requests_to_other_groups=len(others),
           checkout_seconds=[round(t, 2) for _, t in answers])


# ---------------------------------------------------------------- a worker killed

def busy_worker(group):
    """The one worker of `group` that is not waiting in accept(2) (syscall 43): the one with a
    request in hand. None while there is not exactly one."""
    busy = []
    for pid in workers(group):
        try:
            with open("/proc/%d/syscall" % pid) as f:
                nr = f.read().split()[0]
        except OSError:
            continue
        if nr != "43":
            busy.append(pid)
    return busy[0] if len(busy) == 1 else None


def test_worker_killed_in_the_middle_of_a_request_fails_only_that_request(
        api, standin, token, mongo_db):
    standin.fault("slow", delay_ms=4000)
    tag = marker()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(checkout, api, 2, "killed-%s@example.com" % tag)
        victim = wait_until(lambda: busy_worker("orders"), 10, interval=0.02,
                            what="a lumira-orders worker busy with the checkout")
        os.kill(victim, signal.SIGKILL)
        r = slow.result()
    standin.reset()
    b = assert_envelope(r, 502)
    assert b["code"] == "BAD_GATEWAY"
    # The other worker kept serving, and multiwatch brings the group back to two workers.
    wait_until(lambda: len(workers("orders")) == 2 and victim not in workers("orders"), 10,
               what="multiwatch to replace the killed worker")
    for _ in range(6):
        assert api.get("/api/orders?limit=1", headers=bearer(token)).status_code == 200
    ok = checkout(api, 1)
    assert ok.status_code == 200, ok.text
    # The order the killed request had written is there once, as it was left (pending).
    left = list(mongo_db.orders.find({"userEmail": "killed-%s@example.com" % tag}))
    assert len(left) <= 1 and all(d["status"] == "pending" for d in left), left
    report("worker killed mid-request", orders_left=len(left))


# ---------------------------------------------------------------- the log file

def test_unwritable_log_file_requests_still_served_with_one_warning_per_worker(api):
    out = os.path.join(VAR, "log", "spawn-health.out")
    start = os.path.getsize(out) if os.path.exists(out) else 0
    def stderr_lines():
        with open(out, errors="replace") as f:
            f.seek(start)
            return [l for l in f.read().splitlines() if l.strip()]

    def log_warnings():
        return [json.loads(l) for l in stderr_lines() if "cannot write to LOG_FILE /dev/full" in l]

    with program_env("health", "LOG_FILE=/dev/full"):
        pids = workers("health")
        for _ in range(20):
            r = api.get("/api/health")
            assert r.status_code == 200, r.text
        assert workers("health") == pids  # nothing crashed
        # Each worker's first lost line (its start-up line at the latest) is told once.
        wait_until(lambda: len(log_warnings()) >= len(pids), 10, what="a warning from each worker")
        lines = stderr_lines()
    warnings = log_warnings()
    assert sorted(w["pid"] for w in warnings) == sorted(pids), lines
    assert all(w["level"] == "warn" and w["prog"] == "lumira-health" for w in warnings)
    # Nothing else went to standard error: the lost request lines are not repeated there.
    assert len(lines) == len(warnings), lines


# ---------------------------------------------------------------- the database misbehaving

# The switches of the database proxy (tests/standins/mongo_proxy.py) between the programs and
# the database. "hang" costs each route its driver timeout (socketTimeoutMS 5 s). A single drop
# may be survived: libmongoc retries a read once on a new connection (retryable reads), and that
# answer is then the route's normal one; a write is not retried on a standalone server.
DB_FAULTS = {
    "refused": {"mode": "refuse"},
    "hanging": {"mode": "hang"},
    "dropped-once-on-a-command": {"mode": "drop", "after_commands": 1},
    "dropped-once-mid-reply": {"mode": "drop", "after_commands": 1, "after_bytes": 20},
    "dropping-every-command": {"mode": "drop", "after_commands": 1, "repeat": True},
    "dropping-every-reply-mid-read": {"mode": "drop", "after_commands": 1, "after_bytes": 20,
                                      "repeat": True},
}
SURVIVABLE = {"dropped-once-on-a-command", "dropped-once-mid-reply"}


class Route:
    """One route under a database fault: `call(ctx)` sends the request; `faulted(r)` checks the
    answer while the fault holds (the documented JSON status); `healthy(r)` is true for the
    answer once the database passes again; `check(ctx, mongo_db)` proves afterwards that no
    write answered 2xx was lost or doubled."""

    def __init__(self, group, call, faulted, healthy, check=None, setup=None):
        self.group, self.call, self.faulted, self.healthy = group, call, faulted, healthy
        self.check, self.setup = check, setup


def unavailable(r):
    assert_error(r, 503, "DATABASE_UNAVAILABLE")


def ready_down(r):
    b = assert_status_json(r, 503)
    assert b["ready"] is False and b["services"]["mongodb"]["connected"] is False, b


def deep_down(r):
    # The admin's account is looked up first (the stored account decides): a database down
    # from the start fails there, with the error envelope; one that fails later, during the
    # counts, gives the health body with the failure (API.md "Health": 503).
    b = assert_status_json(r, 503)
    if "code" in b:
        assert_error(r, 503, "DATABASE_UNAVAILABLE")
    else:
        assert isinstance(b["database"]["error"], str) and "counts" in b, b


def assert_status_json(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return r.json()


def checkout_call(ctx):
    email = "dbfault-%s@example.com" % os.urandom(6).hex()
    ctx.setdefault("emails", []).append(email)
    return checkout(ctx["api"], 1, email=email)


def checkout_check(ctx, mongo_db):
    # One order per checkout at most; every 2xx one exactly once, paid.
    for email, r in zip(ctx["emails"], ctx["answers"]):
        docs = list(mongo_db.orders.find({"userEmail": email}))
        if r.status_code == 200:
            assert len(docs) == 1 and docs[0]["status"] == "paid", docs
            assert str(docs[0]["_id"]) == r.json()["orderId"]
        else:
            assert len(docs) <= 1, docs


def webhook_setup(ctx):
    from orders_util import new_order
    order = new_order(ctx["api"], 2)
    doc = ctx["mongo_db"].orders.find_one({"orderNumber": order["orderNumber"]})
    ctx["order"] = order
    ctx["event"] = stripe_event(order["orderId"], order["amount"], pi=doc.get("paymentIntentId"))


def webhook_call(ctx):
    from orders_util import post_webhook
    return post_webhook(ctx["api"], ctx["event"][0])


def webhook_faulted(r):
    assert_error(r, 500, "DATABASE_UNAVAILABLE")


def webhook_check(ctx, mongo_db):
    # Stripe's retry did the work, once: paid, one event record, and the next one a duplicate.
    from orders_util import order_doc, post_webhook
    doc = order_doc(mongo_db, ctx["order"]["orderId"])
    assert doc["status"] == "paid", doc
    assert mongo_db.processed_events.count_documents({"_id": ctx["event"][1]}) == 1
    again = post_webhook(ctx["api"], ctx["event"][0])
    assert again.json() == {"received": True, "duplicate": True}, again.text


ROUTES = {
    "ready": Route("ready", lambda c: c["api"].get("/api/ready"), ready_down,
                   lambda r: r.status_code == 200),
    "health-deep": Route("health", lambda c: c["api"].get("/api/health/deep",
                                                          headers=bearer(c["admin_token"])),
                         deep_down, lambda r: r.status_code == 200),
    "login": Route("auth", lambda c: c["api"].post("/api/expert/login", json=c["credentials"]),
                   unavailable, lambda r: r.status_code == 200),
    "verify": Route("auth", lambda c: c["api"].get("/api/expert/verify",
                                                   headers=bearer(c["token"])),
                    unavailable, lambda r: r.status_code == 200),
    "orders-list": Route("orders", lambda c: c["api"].get("/api/orders?limit=5",
                                                          headers=bearer(c["token"])),
                         unavailable, lambda r: r.status_code == 200),
    "checkout": Route("orders", checkout_call, unavailable, lambda r: r.status_code == 200,
                      check=checkout_check),
    "webhook": Route("orders", webhook_call, webhook_faulted,
                     lambda r: r.status_code == 200 and r.json().get("received") is True,
                     check=webhook_check, setup=webhook_setup),
}


@pytest.fixture(scope="module")
def fault_accounts(api):
    expert = create_expert(name="DB Fault Expert")
    admin = create_expert(role="admin", name="DB Fault Admin")
    return {"credentials": {"email": expert["email"], "password": expert["password"]},
            "token": login(api, expert), "admin_token": login(api, admin)}


@pytest.mark.parametrize("fault", list(DB_FAULTS))
@pytest.mark.parametrize("route", list(ROUTES))
def test_database_fault(api, dbproxy, mongo_db, fault_accounts, route, fault):
    """Through the database proxy: while the fault holds, the route gives its documented JSON
    answer within its timeout; once the proxy passes again the same workers answer 200; no write
    answered 2xx is lost or doubled."""
    spec = ROUTES[route]
    ctx = dict(fault_accounts, api=api, mongo_db=mongo_db, answers=[])
    if spec.setup:
        spec.setup(ctx)
    # Warm: the workers hold connections to the database before the fault.
    for _ in range(2):
        api.get("/api/ready")
    before = workers(spec.group)
    dbproxy.fault(**DB_FAULTS[fault])
    t0 = time.monotonic()
    r = spec.call(ctx)
    took = time.monotonic() - t0
    ctx["answers"].append(r)
    if not (fault in SURVIVABLE and spec.healthy(r)):
        spec.faulted(r)
    assert took < 12, took  # bounded by the driver's timeouts, never a hang
    dbproxy.reset()

    def healthy_again():
        r = spec.call(ctx)
        ctx["answers"].append(r)
        return spec.healthy(r)

    wait_until(healthy_again, 10, interval=0.2, what="%s answering 200 again" % route)
    assert workers(spec.group) == before, "a worker was restarted"
    if spec.check:
        spec.check(ctx, mongo_db)
