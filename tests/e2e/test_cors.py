"""The CORS allowlist of the local stacks: the file of origins scripts/dev writes into the stack's
nginx directory (lumira-cors-origins.conf, included by the map as the installed site includes
its own), with the production origins and the front ends' development servers, the expert
desk's http://localhost:5174 among them. An origin not on the list gets no CORS header at all.

The installed stack's list (the configure value) is checked by scripts/dev test-install; the
headers of an allowed production origin by test_nginx.py's smoke tests.
"""

import os

import pytest

from conftest import VAR

DESK_DEV = "http://localhost:5174"
STACK_ORIGINS = ["https://oraclelumira.com", "https://desk.oraclelumira.com",
                 "http://localhost:3000", "http://localhost:5173", DESK_DEV]
NOT_LISTED = [
    "http://localhost:5175",           # a port not listed
    "http://localhost",                # no port: another origin
    "https://localhost:5174",          # the desk's port over https: another origin
    "http://127.0.0.1:5174",           # the same server by address: another origin
    "http://localhost:51740",          # a listed origin as a prefix
    "http://localhost:5174.evil.example",
    "http://evil.localhost:5174",
    "http://localhost:5174/",          # not an origin as a browser sends it
    "null",
]


def cors_headers(r):
    return {h: v for h, v in r.headers.items() if h.lower().startswith("access-control-")}


def preflight(api, path, origin, method="POST", headers="authorization, content-type"):
    return api.request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})


def test_stack_map_includes_the_generated_origins_file():
    nginx = os.path.join(VAR, "nginx")
    origins = os.path.join(nginx, "lumira-cors-origins.conf")
    with open(os.path.join(nginx, "nginx.conf")) as f:
        conf = f.read()
    m = conf[conf.index("map $http_origin $lumira_cors_origin {"):]
    m = m[:m.index("}")]
    # The map holds no origin of its own: the file is the whole list.
    assert [l.strip() for l in m.splitlines()[1:] if l.strip()] == \
        ['default "";', "include %s;" % origins]
    with open(origins) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    assert lines == ['"%s" $http_origin;' % o for o in STACK_ORIGINS]


def test_desk_dev_server_preflight(api):
    for path in ("/api/expert/login", "/api/expert/orders/pending", "/api/expert/process-order"):
        r = preflight(api, path, DESK_DEV, headers="authorization, content-type, x-request-id")
        assert r.status_code == 204, path
        assert r.headers["Access-Control-Allow-Origin"] == DESK_DEV, path
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        methods = [m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")]
        assert set(methods) == {"GET", "POST", "PATCH", "OPTIONS"}, methods
        allowed = [h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")]
        assert set(allowed) == {"authorization", "content-type", "x-request-id"}, allowed
        assert int(r.headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in r.headers["Vary"]


def test_desk_dev_server_get(api):
    r = api.get("/api/health", headers={"Origin": DESK_DEV})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == DESK_DEV
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = [h.strip() for h in r.headers["Access-Control-Expose-Headers"].split(",")]
    assert "X-Request-Id" in exposed
    assert "Origin" in r.headers["Vary"]
    # Only preflights say what may be sent.
    for h in ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
              "Access-Control-Max-Age"):
        assert h not in r.headers
    # A refusal by a program carries them too: the desk must read its 401 to send the expert to
    # the login page.
    r = api.get("/api/expert/orders/pending", headers={"Origin": DESK_DEV})
    assert r.status_code == 401
    assert r.json()["code"]
    assert r.headers["Access-Control-Allow-Origin"] == DESK_DEV
    assert r.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize("origin", STACK_ORIGINS)
def test_every_listed_origin_is_allowed(api, origin):
    r = api.get("/api/health", headers={"Origin": origin})
    assert r.headers["Access-Control-Allow-Origin"] == origin
    r = preflight(api, "/api/orders", origin)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in r.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", NOT_LISTED)
def test_origin_not_listed_gets_no_cors_header(api, origin):
    r = api.get("/api/health", headers={"Origin": origin})
    assert r.status_code == 200
    assert cors_headers(r) == {}, origin
    r = preflight(api, "/api/expert/login", origin)
    # nginx answers the preflight as for any origin, but with nothing that allows the call.
    assert r.status_code == 204
    assert cors_headers(r) == {}, origin
    r = api.get("/api/expert/orders/pending", headers={"Origin": origin})
    assert r.status_code == 401
    assert cors_headers(r) == {}, origin
