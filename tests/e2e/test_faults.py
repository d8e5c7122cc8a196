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

from conftest import (VAR, bearer, checkout, create_expert, dev, login, program_env, wait_until,
                      workers)
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
    with program_env("health", "LOG_FILE=/dev/full"):
        pids = workers("health")
        for _ in range(20):
            r = api.get("/api/health")
            assert r.status_code == 200, r.text
        assert workers("health") == pids  # nothing crashed
        with open(out, errors="replace") as f:
            f.seek(start)
            lines = [l for l in f.read().splitlines() if l.strip()]
    warnings = [json.loads(l) for l in lines if "cannot write to LOG_FILE /dev/full" in l]
    assert sorted(w["pid"] for w in warnings) == sorted(pids), lines
    assert all(w["level"] == "warn" and w["prog"] == "lumira-health" for w in warnings)
    # Nothing else went to standard error: the lost request lines are not repeated there.
    assert len(lines) == len(warnings), lines
