"""GET /api/health through nginx (API.md "Health")."""

import re
import subprocess
import time

import pytest

from conftest import body_json, dev, program_env, wait_status, wait_until

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# lumira-health's workers (scripts/dev's LUMIRA_WORKERS; test_processes checks it) and how old
# a worker's view of the database may get before a request makes it ping again
# (DB_STATE_MAX_AGE_MS).
WORKERS = 2
DB_VIEW_MAX_AGE_S = 5.0


@pytest.mark.smoke
def test_health_healthy_has_every_field(api):
    r = api.get("/api/health")
    assert r.status_code == 200
    assert re.fullmatch(r"\d+ms", r.headers["X-Response-Time"])
    b = body_json(r)
    assert b["status"] == "healthy"
    assert ISO_MS.match(b["timestamp"])
    assert isinstance(b["uptime"], (int, float)) and b["uptime"] >= 0
    assert b["version"] == "1.0.0"
    assert b["environment"] == "development"
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    assert b["commitSha"] == (sha.stdout.strip() if sha.returncode == 0 else "unknown")
    assert b["services"] == {"database": "connected", "stripe": "configured"}
    mem = b["memory"]
    assert set(mem) == {"used", "total", "percentage"}
    assert 0 < mem["used"] < mem["total"] and 0 <= mem["percentage"] <= 100


def test_health_degraded_without_stripe_key(api):
    with program_env("health", "STRIPE_SECRET_KEY=REPLACE_WITH_STRIPE_SECRET"):
        r = api.get("/api/health")
        assert r.status_code == 200
        b = body_json(r)
        assert b["status"] == "degraded"
        assert b["services"] == {"database": "connected", "stripe": "missing"}


def test_health_unhealthy_when_database_stopped(api, database_stopped):
    # The worker's view of the database is at most a few seconds old.
    r = wait_status(api, "/api/health", 503, timeout=12)
    b = body_json(r)
    assert b["status"] == "unhealthy"
    assert b["services"]["database"] == "disconnected"
    assert re.fullmatch(r"\d+ms", r.headers["X-Response-Time"])


def test_health_recovers_when_database_returns(api, database_stopped):
    wait_status(api, "/api/health", 503, timeout=12)
    dev("db-start")
    wait_status(api, "/api/health", 200, timeout=20)


def test_health_without_database_uri_is_unhealthy(api):
    with program_env("health", "-MONGODB_URI"):
        r = api.get("/api/health")
        assert r.status_code == 503
        assert body_json(r)["services"]["database"] == "disconnected"


def test_health_makes_no_database_round_trip_per_request(api, dbproxy):
    # Fresh workers, without a view of the database yet, counted by the stack's database proxy.
    dev("restart", "health")
    dbproxy.reset()
    t0 = time.monotonic()

    # Steady state: each worker has connected and made its first ping (on its first request).
    # From then on it answers from that view and pings again only once the view is
    # DB_VIEW_MAX_AGE_S old: no request waits for the database.
    def warmed():
        assert api.get("/api/health").status_code == 200
        s = dbproxy.state()
        return s["connections"] >= WORKERS and s["by_name"].get("ping", 0) >= WORKERS

    wait_until(warmed, timeout=10, interval=0, what="a connection and a ping of each worker")
    before = dbproxy.state()
    n = 100
    for _ in range(n):
        assert api.get("/api/health").status_code == 200
    after = dbproxy.state()
    elapsed = time.monotonic() - t0
    sent = {name: count - before["by_name"].get(name, 0) for name, count in after["by_name"].items()
            if count != before["by_name"].get(name, 0)}
    commands = after["commands"] - before["commands"]
    pings = sent.get("ping", 0)
    # No data command at all, whatever the timing.
    assert commands == pings, "%d health requests sent %r" % (n, sent)
    if elapsed < DB_VIEW_MAX_AGE_S:
        # Every view was made after t0 and none is old enough to be refreshed yet.
        assert commands == 0, "%d health requests in steady state sent %r" % (n, sent)
    else:
        # A slow run: each worker may have refreshed once per DB_VIEW_MAX_AGE_S, no more.
        most = WORKERS * (1 + int(elapsed / DB_VIEW_MAX_AGE_S))
        assert pings <= most, "%d pings for %d health requests in %.1fs" % (pings, n, elapsed)


@pytest.mark.smoke
def test_health_rejects_post(api):
    r = api.post("/api/health", json={})
    assert r.status_code == 405
    assert body_json(r)["code"] == "METHOD_NOT_ALLOWED"
