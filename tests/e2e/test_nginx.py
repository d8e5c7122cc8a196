"""What nginx adds in front of the programs (etc/nginx): CORS, security headers, routing of the
route groups, rate limits and their JSON 429.

Local stacks do not rate limit 127.0.0.1 (scripts/dev local_limits), so that the rest of the
suite is never throttled; the limits are tested here as shipped, from other loopback addresses
(Linux answers on all of 127.0.0.0/8), each test from an address of its own.
"""

import http.client
import json
import os
import random
import ssl
from urllib.parse import urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

import openapi_check
from conftest import BASE, VAR, body_json

ALLOWED = "https://desk.oraclelumira.com"
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def fresh_source():
    """A loopback address no other test has used in this nginx's life (not 127.0.0.1)."""
    return "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(1, 254))


def connection(source):
    """One keep-alive connection to nginx from `source`."""
    u = urlsplit(BASE)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=30, context=ctx,
                                           source_address=(source, 0))
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=(source, 0))


def send(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    openapi_check.record(method, path, r.status, CaseInsensitiveDict(r.getheaders()), data,
                         kind="raw")
    return r.status, dict(r.getheaders()), data


def check_rate_limited(status, headers, data):
    assert status == 429
    assert headers["Content-Type"].startswith("application/json")
    b = json.loads(data)
    assert b["code"] == "RATE_LIMITED"
    assert b["requestId"]


@pytest.mark.smoke
def test_cors_allowed_origin_gets_its_headers(api):
    r = api.get("/api/health", headers={"Origin": ALLOWED})
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"]
    assert "Origin" in r.headers["Vary"]
    # Only preflights say what may be sent.
    assert "Access-Control-Allow-Methods" not in r.headers


@pytest.mark.smoke
def test_cors_other_origin_gets_no_cors_header(api):
    for origin in ("https://evil.example", "https://oraclelumira.com.evil.example", "null"):
        r = api.get("/api/health", headers={"Origin": origin})
        assert r.status_code == 200
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], origin


@pytest.mark.smoke
def test_cors_preflight_is_answered_by_nginx(api):
    r = api.request("OPTIONS", "/api/expert/login", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    r = api.request("OPTIONS", "/api/expert/login", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.smoke
def test_security_headers_on_program_and_nginx_answers(api):
    answers = [api.get("/api/health"), api.get("/api/nothing"), api.get("/"),
               api.post("/api/ready", data=b"x" * (1024 * 1024 + 1),
                        headers={"Content-Type": "application/json"})]
    assert [r.status_code for r in answers] == [200, 404, 404, 413]
    for r in answers:
        for name, value in SECURITY.items():
            assert r.headers.get(name) == value, (r.url, name)
    # HSTS only over TLS.
    hsts = answers[0].headers.get("Strict-Transport-Security")
    if BASE.startswith("https:"):
        assert hsts.startswith("max-age=")
    else:
        assert hsts is None


@pytest.mark.smoke
def test_auth_paths_are_exact(api):
    # GET on a POST-only path reaches lumira-auth, which names the method it takes.
    r = api.get("/api/expert/login")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    for path in ("/api/expert/login/x", "/api/expert/loginx", "/api/expert/whoami"):
        r = api.post(path, json={})
        assert r.status_code == 404, path
        assert body_json(r)["code"] == "NOT_FOUND"


@pytest.mark.smoke
def test_orders_paths_answer_json_never_a_gateway_error(api):
    """lumira-orders' paths: its program's answer once installed, nginx's JSON 404 before."""
    for method, path in (("GET", "/api/orders"), ("GET", "/api/orders/number/LU260101001"),
                         ("POST", "/api/stripe/create-payment-intent"),
                         ("POST", "/api/stripe/webhook"), ("GET", "/api/expert/orders/pending"),
                         ("POST", "/api/expert/process-order"),
                         ("POST", "/api/expert/n8n-callback"), ("GET", "/api/expert/stats")):
        r = api.request(method, path, json={} if method == "POST" else None)
        assert r.status_code not in (502, 503, 504), (path, r.status_code)
        assert body_json(r)["code"], path


def quick_until_limited(path, most, method="GET", body=None, source=None):
    """Sends `path` from a fresh address (or `source`) on one connection, as fast as it goes,
    until the first 429 or `most` requests; returns the statuses."""
    conn = connection(source or fresh_source())
    statuses = []
    try:
        for _ in range(most):
            status, headers, data = send(conn, method, path, body)
            statuses.append(status)
            if status == 429:
                check_rate_limited(status, headers, data)
                break
    finally:
        conn.close()
    return statuses


@pytest.mark.smoke
def test_general_limit_answers_json_429_after_the_burst():
    conn = connection(fresh_source())
    statuses, limited = [], None
    try:
        for _ in range(300):
            # A cheap route of the general zone: no token, 401 before any database work.
            status, headers, data = send(conn, "GET", "/api/expert/verify")
            statuses.append(status)
            if status == 429:
                limited = (status, headers, data)
                break
    finally:
        conn.close()
    assert limited, "no 429 in %d quick requests" % len(statuses)
    check_rate_limited(*limited)
    # 20 r/s with a burst of 100: the burst is served in full.
    assert statuses.count(401) >= 100, statuses.count(401)


@pytest.mark.smoke
@pytest.mark.parametrize("path", ["/api/health", "/api/ready"])
def test_probe_limit_is_small(path):
    """/api/ready and /api/health: 2 r/s with a burst of 20, a zone of their own."""
    statuses = quick_until_limited(path, 60)
    assert statuses[-1] == 429, statuses
    served = len(statuses) - 1
    # The burst in full, and not much more (a few tokens come back while the requests run).
    assert 20 <= served <= 30, statuses
    # A probe zone of its own: the general API from the same address is not spent.
    src = fresh_source()
    quick_until_limited(path, 60, source=src)
    conn = connection(src)
    try:
        assert send(conn, "GET", "/api/expert/verify")[0] == 401
    finally:
        conn.close()


def test_signed_endpoints_have_a_larger_zone_of_their_own():
    """Unsigned posts to the n8n callback (refused by the program at once): more than the general
    zone's burst passes, then 429; the Stripe webhook shares that zone."""
    src = fresh_source()
    statuses = quick_until_limited("/api/expert/n8n-callback", 3000, "POST", {}, source=src)
    assert statuses[-1] == 429, (len(statuses), statuses[-3:])
    assert len(statuses) - 1 >= 200, len(statuses)
    assert set(statuses[:-1]) == {400}, set(statuses)
    # The zone refills one request every 10 ms, so a request or two may pass again on a slow
    # machine; a zone of the webhook's own would let its whole burst (200) through first.
    statuses = quick_until_limited("/api/stripe/webhook", 50, "POST", {}, source=src)
    assert statuses[-1] == 429, (len(statuses), statuses[-3:])
    conn = connection(src)
    try:
        # The general zone of that address is untouched.
        assert send(conn, "GET", "/api/expert/verify")[0] == 401
    finally:
        conn.close()


def test_rejections_are_not_logged_with_their_query_string():
    """A probe with an e-mail address in its query goes over the limit: nginx's error log has no
    line of it, and the access log records the 429 with the path alone."""
    err_log = os.path.join(VAR, "log", "nginx-error.log")
    access_log = os.path.join(VAR, "log", "nginx-access.log")
    if not (os.path.exists(err_log) and os.path.exists(access_log)):
        pytest.skip("not a scripts/dev stack: its nginx logs are elsewhere")
    marker = "someone-%s@example.com" % os.urandom(4).hex()
    statuses = quick_until_limited("/api/ready?email=" + marker, 60)
    assert statuses[-1] == 429, statuses
    with open(err_log, errors="replace") as f:
        text = f.read()
    assert marker not in text
    assert "limiting requests" not in text
    rejected = []
    with open(access_log, errors="replace") as f:
        for line in f:
            assert marker not in line
            entry = json.loads(line)
            if entry["status"] == 429 and entry["path"] == "/api/ready":
                rejected.append(entry)
    assert rejected, "no 429 of /api/ready in the access log"


@pytest.mark.smoke
def test_login_limit_is_5_attempts_then_429():
    conn = connection(fresh_source())
    statuses = []
    try:
        for i in range(7):
            status, headers, data = send(conn, "POST", "/api/expert/login",
                                         {"email": "nobody-%d@example.com" % i,
                                          "password": "wrong-password"})
            statuses.append(status)
            if status == 429:
                check_rate_limited(status, headers, data)
    finally:
        conn.close()
    assert 429 not in statuses[:5], statuses
    assert statuses[5:] == [429, 429], statuses


def test_rate_limited_answer_is_readable_by_allowed_origin():
    conn = connection(fresh_source())
    try:
        for _ in range(6):
            conn.request("POST", "/api/expert/login", body="{}",
                         headers={"Content-Type": "application/json", "Origin": ALLOWED})
            r = conn.getresponse()
            r.read()
        assert r.status == 429
        assert r.getheader("Access-Control-Allow-Origin") == ALLOWED
    finally:
        conn.close()
