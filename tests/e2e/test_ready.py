"""GET /api/ready and /api/ready/verbose through nginx (API.md "Readiness")."""

import json
import os
import re
import time

import pytest

from conftest import (VAR, SilentListener, body_json, program_env, read_secrets, wait_ready,
                      STRIPE_KEY)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Generous: these machines are shared and noisy. The point is "bounded", not "fast".
MARGIN_MS = 1500


def check_headers(r, status, ready_status):
    """The three headers of API.md, on every status."""
    assert r.status_code == status, r.text
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert re.fullmatch(r"\d+ms", r.headers["X-Response-Time"]), r.headers["X-Response-Time"]
    assert r.headers["X-Ready-Status"] == ready_status
    assert r.headers["X-Request-Id"]


@pytest.mark.smoke
def test_ready_all_healthy_reports_every_field_and_header(api, standin):
    r = api.get("/api/ready")
    check_headers(r, 200, "ok")
    b = body_json(r)
    assert b["ready"] is True
    assert ISO_MS.match(b["timestamp"])
    assert b["version"] == "1.0.0"
    assert b["environment"] == "development"
    s = b["services"]
    assert s["mongodb"]["connected"] is True
    assert isinstance(s["mongodb"]["responseTime"], int) and s["mongodb"]["responseTime"] >= 0
    assert "error" not in s["mongodb"]
    assert s["stripe"]["initialized"] is True
    assert isinstance(s["stripe"]["responseTime"], int) and s["stripe"]["responseTime"] >= 0
    assert "error" not in s["stripe"]
    assert isinstance(s["uptime"], (int, float)) and s["uptime"] >= 0
    assert set(s["memory"]) == {"status", "used", "free", "percentage"}
    # The Stripe check is GET /v1/balance with the key as a Bearer token.
    last = standin.state()["last"]
    assert last["method"] == "GET" and last["path"] == "/v1/balance"
    assert last["authorization"] == "Bearer"


def test_ready_memory_fields_match_the_host(api):
    b = body_json(api.get("/api/ready"))
    mem = b["services"]["memory"]
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) for line in f}
    total_mb = info["MemTotal"] // 1024
    assert all(isinstance(mem[k], int) for k in ("used", "free", "percentage"))
    assert 0 <= mem["percentage"] <= 100
    assert 0 < mem["used"] < total_mb and 0 < mem["free"] < total_mb
    assert abs(mem["used"] + mem["free"] - total_mb) <= 2
    # Both sides read the same host a moment apart: allow a few percent of drift.
    assert abs(mem["percentage"] - round(100 * mem["used"] / total_mb)) <= 1
    expected = "critical" if mem["percentage"] > 85 else "warning" if mem["percentage"] > 70 else "ok"
    assert mem["status"] == expected


def test_ready_database_stopped_is_503_not_ready(api, standin, database_stopped):
    r = api.get("/api/ready")
    check_headers(r, 503, "not-ready")
    b = body_json(r)
    assert b["ready"] is False
    assert b["services"]["mongodb"]["connected"] is False
    assert b["services"]["mongodb"]["error"]
    assert b["services"]["stripe"]["initialized"] is True


def test_ready_database_back_after_stop_is_200_again(api, database_stopped):
    assert api.get("/api/ready").status_code == 503
    from conftest import dev
    dev("db-start")
    wait_ready(api)
    check_headers(api.get("/api/ready"), 200, "ok")


def test_ready_database_accepting_but_silent_times_out(api, standin):
    silent = SilentListener()
    try:
        with program_env("ready", "MONGODB_URI=mongodb://127.0.0.1:%d/lumira" % silent.port,
                         "READY_MONGO_TIMEOUT_MS=1000"):
            r, ms = api.timed_get("/api/ready")
            check_headers(r, 503, "not-ready")
            mongo = body_json(r)["services"]["mongodb"]
            assert mongo["connected"] is False
            assert "timeout" in mongo["error"]
            assert ms < 1000 + MARGIN_MS, ms
    finally:
        silent.close()


def test_ready_stripe_key_missing_sends_nothing_to_stripe(api, standin):
    with program_env("ready", "-STRIPE_SECRET_KEY"):
        standin.reset()
        r = api.get("/api/ready")
        check_headers(r, 503, "not-ready")
        stripe = body_json(r)["services"]["stripe"]
        assert stripe["initialized"] is False
        assert stripe["error"] == "STRIPE_SECRET_KEY not configured"
        assert standin.state()["requests"] == 0


def test_ready_stripe_key_placeholder_counts_as_missing(api, standin):
    for key in ("REPLACE_WITH_STRIPE_SECRET_IN_COOLIFY", "sk_test_changeme"):
        with program_env("ready", "STRIPE_SECRET_KEY=" + key):
            standin.reset()
            r = api.get("/api/ready")
            check_headers(r, 503, "not-ready")
            b = body_json(r)
            assert b["services"]["stripe"]["error"] == "STRIPE_SECRET_KEY not configured"
            assert standin.state()["requests"] == 0
            assert key not in r.text


@pytest.mark.smoke
def test_ready_stripe_5xx_is_503(api, standin):
    standin.fault("error", status=500)
    r = api.get("/api/ready")
    check_headers(r, 503, "not-ready")
    stripe = body_json(r)["services"]["stripe"]
    assert stripe["initialized"] is False
    assert "500" in stripe["error"]


def test_ready_stripe_connection_refused_is_503(api, standin):
    standin.fault("refuse")
    r = api.get("/api/ready")
    check_headers(r, 503, "not-ready")
    assert body_json(r)["services"]["stripe"]["initialized"] is False


def test_ready_stripe_closing_without_answer_is_503(api, standin):
    standin.fault("reset")
    r = api.get("/api/ready")
    check_headers(r, 503, "not-ready")
    assert body_json(r)["services"]["stripe"]["error"]


def test_ready_stripe_slower_than_its_timeout_is_503_timeout(api, standin):
    with program_env("ready", "READY_STRIPE_TIMEOUT_MS=1000"):
        standin.fault("slow", delay_ms=4000)
        r, ms = api.timed_get("/api/ready")
        check_headers(r, 503, "not-ready")
        stripe = body_json(r)["services"]["stripe"]
        assert stripe["initialized"] is False
        assert "timeout" in stripe["error"]
        assert ms < 1000 + MARGIN_MS, ms
        # The database check was not held up by Stripe.
        assert body_json(r)["services"]["mongodb"]["connected"] is True


def test_ready_whole_check_past_its_budget_is_408(api, standin):
    with program_env("ready", "READY_TIMEOUT_MS=700"):
        standin.fault("hang")
        r, ms = api.timed_get("/api/ready")
        check_headers(r, 408, "timeout")
        b = body_json(r)
        assert b["ready"] is False
        # The body still says what is known.
        assert b["services"]["mongodb"]["connected"] is True
        assert "timeout" in b["services"]["stripe"]["error"]
        assert ms < 700 + MARGIN_MS, ms


def test_ready_checks_run_concurrently(api, standin):
    """A slow Stripe and a silent database together take about as long as the slower one."""
    silent = SilentListener()
    try:
        with program_env("ready", "MONGODB_URI=mongodb://127.0.0.1:%d/lumira" % silent.port,
                         "READY_MONGO_TIMEOUT_MS=1500", "READY_STRIPE_TIMEOUT_MS=1500"):
            standin.fault("hang")
            r, ms = api.timed_get("/api/ready")
            check_headers(r, 503, "not-ready")
            b = body_json(r)
            assert "timeout" in b["services"]["mongodb"]["error"]
            assert "timeout" in b["services"]["stripe"]["error"]
            # In sequence this would take 3000 ms or more.
            assert ms < 2900, ms
    finally:
        silent.close()


def test_ready_verbose_is_forbidden_in_production(api):
    with program_env("ready", "LUMIRA_ENV=production"):
        r = api.get("/api/ready/verbose")
        assert r.status_code == 403
        assert re.fullmatch(r"\d+ms", r.headers["X-Response-Time"])
        b = body_json(r)
        assert b["code"] == "FORBIDDEN"
        assert b["hint"] == "set LUMIRA_ENV=development"
        assert b["requestId"] == r.headers["X-Request-Id"]
        # The plain check still works in production.
        r = api.get("/api/ready")
        check_headers(r, 200, "ok")
        assert body_json(r)["environment"] == "production"


@pytest.mark.smoke
def test_ready_verbose_in_development_has_details_and_no_secret(api):
    r = api.get("/api/ready/verbose")
    check_headers(r, 200, "ok")
    b = body_json(r)
    mongo, stripe = b["services"]["mongodb"], b["services"]["stripe"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", mongo["host"])
    assert mongo["database"] == "lumira"
    assert stripe["keyConfigured"] is True
    assert stripe["mode"] == "test"
    assert isinstance(b["process"]["pid"], int)
    assert b["process"]["rss"] > 0
    assert ISO_MS.match(b["process"]["startedAt"])
    assert b["timeouts"] == {"total": 5000, "mongodb": 2000, "stripe": 3000}
    for name, value in read_secrets().items():
        assert value not in r.text, name
    assert "sk_" not in r.text and STRIPE_KEY[-3:] + '"' not in r.text


def test_ready_verbose_never_shows_database_credentials(api):
    from conftest import mongo_port
    uri = "mongodb://lumirauser:S3cretPassw0rd@127.0.0.1:%d/lumira?authSource=admin" % mongo_port()
    with program_env("ready", "MONGODB_URI=" + uri):
        r = api.get("/api/ready/verbose")
        assert r.status_code in (200, 503)
        assert "S3cretPassw0rd" not in r.text
        assert "lumirauser" not in r.text
        assert body_json(r)["services"]["mongodb"]["host"] == "127.0.0.1:%d" % mongo_port()


@pytest.mark.smoke
def test_ready_rejects_other_methods_with_allow(api):
    r = api.post("/api/ready", json={})
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    assert body_json(r)["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.smoke
def test_ready_head_has_headers_and_no_body(api):
    r = api.request("HEAD", "/api/ready")
    assert r.status_code == 200
    assert r.headers["X-Ready-Status"] == "ok"
    assert r.content == b""


# ---------------------------------------------------------------- cache (READY_CACHE_MS)

def ready_with(*changes):
    """lumira-ready restarted with `changes` and one worker: every request meets the same
    cache."""
    return program_env("ready", *changes, workers=1)


def pings(dbproxy):
    return dbproxy.state()["by_app"].get("lumira-ready-probe", {}).get("ping", 0)


def test_ready_cache_reuses_the_last_result_within_its_time(api, dbproxy, standin):
    with ready_with("READY_CACHE_MS=1500"):
        check_headers(api.get("/api/ready"), 200, "ok")  # the worker's first check
        time.sleep(1.6)
        dbproxy.reset()
        standin.reset()
        first = body_json(api.get("/api/ready"))
        second = body_json(api.get("/api/ready"))
        # One check (one ping, one Stripe call) for both answers, and its time in both.
        assert pings(dbproxy) == 1
        assert standin.state()["requests"] == 1
        assert first["timestamp"] == second["timestamp"]
        assert first["ready"] is True and second["ready"] is True
        time.sleep(1.6)
        third = body_json(api.get("/api/ready"))
        assert pings(dbproxy) == 2
        assert third["timestamp"] > first["timestamp"]


def test_ready_cache_keeps_a_not_ready_result_too(api, dbproxy, standin):
    """Probes of a service that is down cost one check per READY_CACHE_MS, not one each."""
    with ready_with("READY_CACHE_MS=60000"):
        standin.fault("error", status=500)
        r = api.get("/api/ready")
        check_headers(r, 503, "not-ready")
        dbproxy.reset()
        standin.reset()  # Stripe is fine again, but the result is kept
        for _ in range(5):
            r = api.get("/api/ready")
            check_headers(r, 503, "not-ready")
            assert "500" in body_json(r)["services"]["stripe"]["error"]
        assert pings(dbproxy) == 0
        assert standin.state()["requests"] == 0


def test_ready_cache_never_keeps_a_cut_check(api, standin):
    with ready_with("READY_CACHE_MS=60000", "READY_TIMEOUT_MS=700"):
        standin.fault("hang")
        check_headers(api.get("/api/ready"), 408, "timeout")
        standin.reset()
        check_headers(api.get("/api/ready"), 200, "ok")


def test_ready_cache_zero_checks_every_time(api, dbproxy):
    with ready_with("READY_CACHE_MS=0"):
        api.get("/api/ready")
        dbproxy.reset()
        stamps = [body_json(api.get("/api/ready"))["timestamp"] for _ in range(3)]
        assert pings(dbproxy) == 3
        assert len(set(stamps)) == 3 or stamps == sorted(stamps)


def test_ready_verbose_always_checks_afresh(api, dbproxy):
    with ready_with("READY_CACHE_MS=60000"):
        api.get("/api/ready")
        dbproxy.reset()
        for _ in range(3):
            check_headers(api.get("/api/ready/verbose"), 200, "ok")
        assert pings(dbproxy) == 3


# ---------------------------------------------------------------- production error strings

GENERIC = re.compile(r"^(timeout|connection failed|authentication failed|HTTP \d{3}|"
                     r"invalid answer|[A-Z_]+ not configured)$")


def leaks(r):
    """What a production answer must never carry: an address, a port, driver or curl text
    (anywhere in the body; a port-like ":<digits>" in the error strings)."""
    found = [w for w in ("127.0.0.1", "localhost", "Failed to connect", "mongoc", "curl",
                         "No suitable servers", "Connection refused", "port", "server selection")
             if w.lower() in r.text.lower()]
    s = body_json(r)["services"]
    for name in ("mongodb", "stripe"):
        found += re.findall(r":\d+", s[name].get("error", ""))
    return found


def test_ready_production_errors_are_generic(api, dbproxy, standin):
    log = os.path.join(VAR, "log", "ready.log")
    with program_env("ready", "LUMIRA_ENV=production", "READY_CACHE_MS=0"):
        dbproxy.fault("refuse")
        standin.fault("refuse")
        try:
            r = api.get("/api/ready")
        finally:
            dbproxy.reset()
            standin.reset()
        check_headers(r, 503, "not-ready")
        s = body_json(r)["services"]
        assert s["mongodb"]["connected"] is False and s["stripe"]["initialized"] is False
        assert GENERIC.match(s["mongodb"]["error"]), s["mongodb"]["error"]
        assert s["mongodb"]["error"] in ("connection failed", "timeout")
        assert s["stripe"]["error"] == "connection failed"
        assert not leaks(r), leaks(r)
        # The detail went to the log.
        detail = [json.loads(line) for line in open(log, errors="replace")
                  if "not ready" in line and r.headers["X-Request-Id"] in line]
        assert detail, "no log line of the failed check"
        assert "127.0.0.1" in detail[-1]["msg"] or "refused" in detail[-1]["msg"].lower()
        # Stripe answering 500, and a missing key, are generic too.
        standin.fault("error", status=500)
        try:
            r = api.get("/api/ready")
        finally:
            standin.reset()
        assert body_json(r)["services"]["stripe"]["error"] == "HTTP 500"
        assert not leaks(r), leaks(r)


def test_ready_production_missing_key_says_so(api, standin):
    with program_env("ready", "LUMIRA_ENV=production", "-STRIPE_SECRET_KEY"):
        r = api.get("/api/ready")
        assert body_json(r)["services"]["stripe"]["error"] == "STRIPE_SECRET_KEY not configured"


def test_ready_development_errors_keep_the_detail(api, standin):
    standin.fault("refuse")
    r = api.get("/api/ready")
    err = body_json(r)["services"]["stripe"]["error"]
    assert err != "connection failed" and len(err) > len("connection failed")
