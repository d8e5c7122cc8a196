#!/usr/bin/python3
"""Start-up time of the Lumira programs, for scripts/bench: from exec to the first answer.

  startup.py --build DIR --env FILE [--runs 7] [--json]

For each program, RUNS times: make a listening unix socket, spawn the program with it as
descriptor 0 (as spawn-fcgi does: the listening socket is fd 0, so libfcgi serves FastCGI on it)
and the environment of FILE (the dev stack's lumira.env) plus LOG_FILE=/dev/null, connect at
once, send one FastCGI request (BEGIN_REQUEST, PARAMS, empty STDIN) and time from just before the
spawn (fork + exec included) until the first STDOUT record of the answer arrives. The program is
then stopped (SIGTERM, which a worker idle in accept obeys at once) and reaped.

Two requests are timed, each against a fresh process:
  "404"    GET /__bench/nothing: start-up and the accept loop alone (no handler, no database);
  "route"  a cheap real route of the program (ROUTES below): start-up plus what its first
           request costs (health and ready: the lazy database connection and a ping, ready's
           Stripe call; auth and orders: a route refused for want of a token, no database).
The programs connect to the database the env file names (the dev stack's proxy) and lumira-auth
and lumira-orders create their indexes before they accept: that is part of their start-up.

Prints a table, or with --json one object: {program: {"404": [ms...], "route": [ms...],
"route_path": path, "route_status": status}}.
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROUTES = {
    "health": ("GET", "/api/health"),
    "ready": ("GET", "/api/ready"),
    "auth": ("GET", "/api/expert/verify"),  # no token: 401, no database
    "orders": ("GET", "/api/orders/000000000000000000000000"),  # no token: 401, no database
}
FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6
TIMEOUT_S = 20.0


def record(rtype, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, req_id, len(content), pad, 0) + content + b"\0" * pad


def nv(name, value):
    def ln(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return ln(len(name)) + ln(len(value)) + name + value


def request_bytes(method, uri):
    path, _, query = uri.partition("?")
    params = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
              "DOCUMENT_URI": path, "REQUEST_URI": uri, "QUERY_STRING": query,
              "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "REMOTE_ADDR": "127.0.0.1",
              "REMOTE_PORT": "50000", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
              "CONTENT_LENGTH": "", "CONTENT_TYPE": "", "HTTP_HOST": "localhost",
              "HTTP_X_REQUEST_ID": "bench-startup"}
    body = b"".join(nv(k, v) for k, v in params.items())
    return (record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0)) + record(FCGI_PARAMS, body) +
            record(FCGI_PARAMS, b"") + record(FCGI_STDIN, b""))


def read_env(path):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, _, v = line.partition("=")
            env[k] = v
    env["LOG_FILE"] = "/dev/null"
    return env


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def first_answer(prog, env, method, uri):
    """(ms from spawn to the first STDOUT record, HTTP status of the answer)."""
    tmp = tempfile.mkdtemp(prefix="lumira-startup-")
    path = os.path.join(tmp, "s.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    req = request_bytes(method, uri)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(TIMEOUT_S)
    t0 = time.monotonic()
    p = subprocess.Popen([prog], stdin=lsock.fileno(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, close_fds=True)
    try:
        c.connect(path)
        c.sendall(req)
        first = None
        out = b""
        while True:
            h = recv_exact(c, 8)
            _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", h)
            content = recv_exact(c, clen + plen)[:clen]
            if rtype == FCGI_STDOUT and first is None:
                first = (time.monotonic() - t0) * 1000.0
            if rtype == FCGI_STDOUT:
                out += content
            if rtype == FCGI_END_REQUEST or len(out) > 512:
                break
        status = 200
        head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n"):
            if line.lower().startswith("status:"):
                status = int(line.split()[1])
        return first, status
    finally:
        c.close()
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        lsock.close()
        os.unlink(path)
        os.rmdir(tmp)


def measure(build, envfile, runs, hello=None):
    """{program: {"404": [ms...], "route": [ms...], "route_path", "route_status"}} for the four
    programs of `build`, and "hello" for the binary `hello` when given."""
    env = read_env(envfile)
    progs = [(g, os.path.join(build, "cgi-bin", "lumira-" + g), ROUTES[g]) for g in ROUTES]
    if hello:
        progs.append(("hello", hello, ("GET", "/__bench/fcgi-hello")))
    res = {}
    for g, prog, (method, route) in progs:
        r = {"404": [], "route": [], "route_path": route, "route_status": None}
        for _ in range(runs):
            ms, _ = first_answer(prog, env, "GET", "/__bench/nothing")
            r["404"].append(round(ms, 2))
            ms, r["route_status"] = first_answer(prog, env, method, route)
            r["route"].append(round(ms, 2))
        res[g] = r
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="the build directory (var/build)")
    ap.add_argument("--env", required=True, help="the stack's lumira.env")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--hello", help="also time this program (the libfcgi hello-world)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = measure(a.build, a.env, a.runs, a.hello)
    if a.json:
        print(json.dumps(res))
        return
    print("%-8s %12s %12s   %s" % ("program", "404 p50 ms", "route p50 ms", "route"))
    for g, r in res.items():
        print("%-8s %12.1f %12.1f   GET %s -> %s" % (g, statistics.median(r["404"]),
                                                   statistics.median(r["route"]), r["route_path"],
                                                   r["route_status"]))


if __name__ == "__main__":
    sys.exit(main())
