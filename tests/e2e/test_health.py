"""GET /api/health through nginx (API.md "Health")."""

import re
import subprocess
import time

import pytest

from conftest import CountingProxy, body_json, dev, mongo_port, program_env, wait_status

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


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


def test_health_makes_no_database_round_trip_per_request(api):
    proxy = CountingProxy(mongo_port())
    try:
        with program_env("health", "MONGODB_URI=mongodb://127.0.0.1:%d/lumira" % proxy.port):
            # Warm both workers up (connection handshake and a first ping each).
            for _ in range(10):
                assert api.get("/api/health").status_code == 200
            time.sleep(0.5)
            before = proxy.count()
            for _ in range(60):
                assert api.get("/api/health").status_code == 200
            sent = proxy.count() - before
            # 60 requests: at most one refresh per worker (2 workers) may fall in this window,
            # and a refresh is one ping (plus a handshake if a connection was renewed).
            assert sent <= 6, "%d database messages for 60 health requests" % sent
    finally:
        proxy.close()


@pytest.mark.smoke
def test_health_rejects_post(api):
    r = api.post("/api/health", json={})
    assert r.status_code == 405
    assert body_json(r)["code"] == "METHOD_NOT_ALLOWED"
