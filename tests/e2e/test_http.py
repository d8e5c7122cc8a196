"""Conventions every route shares, checked through nginx (API.md "Conventions")."""

import json
import re

import pytest

from conftest import body_json


@pytest.mark.smoke
def test_unknown_route_is_json_404_with_request_id(api):
    for path in ("/api/nothing", "/api/health/nothing", "/api/ready/verbose/x"):
        r = api.get(path)
        assert r.status_code == 404, path
        b = body_json(r)
        assert b["code"] == "NOT_FOUND"
        assert b["requestId"] == r.headers["X-Request-Id"]


@pytest.mark.smoke
def test_sane_request_id_is_kept_and_echoed(api):
    rid = "abc-DEF_123.x"
    r = api.get("/api/health", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid


def test_request_id_of_64_chars_is_kept(api):
    rid = "a" * 64
    assert api.get("/api/health", headers={"X-Request-Id": rid}).headers["X-Request-Id"] == rid


@pytest.mark.smoke
def test_insane_request_id_is_replaced(api):
    for rid in ("a" * 65, "has space", "semi;colon", "<script>", "é"):
        r = api.get("/api/ready", headers={"X-Request-Id": rid.encode("utf-8")})
        got = r.headers["X-Request-Id"]
        assert got != rid
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", got), got


@pytest.mark.smoke
def test_error_body_request_id_matches_header(api):
    r = api.post("/api/health", json={})
    assert body_json(r)["requestId"] == r.headers["X-Request-Id"]


@pytest.mark.smoke
def test_body_over_one_mib_is_json_413(api):
    r = api.post("/api/ready", data=b"x" * (1024 * 1024 + 1),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert body_json(r)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.smoke
def test_request_logs_are_json_lines_without_secrets(api):
    """Every program log line is one JSON object with the fields API.md names."""
    import os
    from conftest import VAR, read_secrets
    rid = "log-check-1"
    api.get("/api/health", headers={"X-Request-Id": rid})
    api.get("/api/ready", headers={"X-Request-Id": rid})
    secrets = read_secrets()
    seen_request = False
    for name in ("ready.log", "health.log"):
        with open(os.path.join(VAR, "log", name), encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                for key in ("ts", "level", "prog", "pid", "reqId", "msg"):
                    assert key in entry, (name, line)
                for secret_name, value in secrets.items():
                    assert value not in line, (name, secret_name)
                if entry["reqId"] == rid and entry["msg"] == "request":
                    seen_request = True
                    for key in ("method", "path", "status", "durMs"):
                        assert key in entry
    assert seen_request


def raw_request(data):
    """Sends bytes as they are and returns (status line, body)."""
    import socket
    from urllib.parse import urlsplit
    u = urlsplit(__import__("conftest").BASE)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if lines[0].startswith(b"HTTP/1."):
        from requests.structures import CaseInsensitiveDict
        import openapi_check
        headers = CaseInsensitiveDict(
            (k.strip(), v.strip()) for k, _, v in (l.decode("latin-1").partition(":") for l in lines[1:]))
        openapi_check.check_raw(data, int(lines[0].split(b" ")[1]), headers, body)
    return lines[0].decode(), body


def test_request_nginx_cannot_parse_is_json_400(api):
    for data in (b"GARBAGE\r\n\r\n",
                 b"GET /api/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"):
        status, body = raw_request(data)
        assert " 400 " in status, status
        assert json.loads(body)["code"] == "BAD_REQUEST"


@pytest.mark.smoke
def test_path_too_long_for_nginx_is_json_414(api):
    r = api.get("/api/health/" + "a" * 9000)
    assert r.status_code == 414
    assert body_json(r)["code"] == "URI_TOO_LONG"
    assert body_json(r)["requestId"] == r.headers["X-Request-Id"]


@pytest.mark.smoke
def test_query_too_long_for_the_program_is_json_414(api):
    r = api.get("/api/health?q=" + "a" * 5000)
    assert r.status_code == 414
    assert body_json(r)["code"] == "URI_TOO_LONG"


@pytest.mark.smoke
def test_paths_outside_the_api_are_json_404(api):
    for path in ("/", "/index.html", "/__lumira_errors/400"):
        r = api.get(path)
        assert r.status_code == 404, path
        assert body_json(r)["code"] == "NOT_FOUND"
        assert body_json(r)["requestId"] == r.headers["X-Request-Id"], path
