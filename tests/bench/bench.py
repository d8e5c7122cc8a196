#!/usr/bin/python3
"""The benchmark of scripts/bench: every route of the dev stack through nginx, next to a libfcgi
hello-world served the same way, in one run; writes the generated part of docs/BENCHMARKS.md.

scripts/bench starts what is needed (the dev stack, the hello-world under spawn-fcgi +
multiwatch) and calls this with the stack's ports; run it through `scripts/dev bench`.

Per route (a "row"):
  - wrk -t2 -c32 for --seconds: requests/s, p50, p99 (wrk --latency), non-2xx answers and socket
    errors; wrk's timeout is 30 s, nginx's fastcgi_read_timeout;
  - worker CPU per request: the on-CPU time of the route's program's workers (user + system,
    /proc/PID/schedstat in ns; utime + stime of /proc/PID/stat are the same time in 10 ms
    ticks, kept in var/bench/last.json), after the load minus before, over the requests wrk
    completed;
  - PSS, USS (private) and RSS of the program's processes (/proc/PID/smaps_rollup) after it;
  - then the program is drained (its listening socket's queue empty and every worker back in
    accept(2)); wrk leaves 32 requests in flight when it stops, which a program bound by the
    database serves for a long time after: a program not drained within DRAIN_S is restarted
    (`scripts/dev restart <group>`), which drops the requests still queued;
  - database commands per request: the counting proxy's counters reset, a few requests sent
    one after the other with curl (COUNT_REQUESTS, or as many as COUNT_BUDGET_S allows, at
    least COUNT_MIN), the proxy's "commands" (handshakes left out) and "by_name" divided by
    them.
Then /api/health and the hello-world again, side by side in PAIR_ROUNDS alternating rounds
(interleave): the ratios the issue's targets are judged on, as the median of rounds measured
together rather than of two rows some minutes apart. Then the start-up time of each program
(tests/bench/startup.py) and the memory table.

--only KEY,... runs only those rows (their keys: ROW_KEYS below; the hello-world's row is always
run, as every ratio is to it), for a quick repeat of a few ratios in one run; "startup" adds the
start-up table, "pairs" the interleaved rounds. Such a partial run prints its table and writes var/bench/last-only.json, and
leaves docs/BENCHMARKS.md alone (its generated part is the whole run's). The seeding and the
bench expert are skipped when no row needs them (static, hello, health and ready do not).
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import pymongo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import startup  # noqa: E402

CONNS = 32
THREADS = 2
WRK_TIMEOUT = "30s"
DRAIN_S = 10.0
COUNT_REQUESTS = 20
COUNT_MIN = 3
COUNT_BUDGET_S = 15.0
# Rows that complete fewer requests than this in the run have their CPU figure marked "~": the
# requests still in flight when wrk stops used CPU too, which is large next to few requests.
FEW = 50
HANDSHAKE = {"hello", "isMaster", "ismaster", "saslStart", "saslContinue", "getnonce",
             "authenticate", "endSessions"}
GROUPS = ("ready", "health", "auth", "orders")
# The rows, in the order they run (make_rows), for --only; "startup" is the start-up table.
ROW_KEYS = ("static", "hello", "health", "ready", "verify", "login", "order", "webhook_dup",
            "list", "number", "webhook_new", "checkout1", "checkout2")
# Rows that need neither the seeded database nor the bench expert.
NO_SETUP = {"static", "hello", "health", "ready"}
TICK = os.sysconf("SC_CLK_TCK")
# The interleaved health/hello-world rounds (interleave): the targets for /api/health.
PAIR_ROUNDS = 6
TARGET_RATE, TARGET_CPU = 0.90, 1.3
BEGIN = "<!-- bench:begin (written by scripts/bench; edit the History section below instead) -->"
END = "<!-- bench:end -->"
HISTORY = "## History"


def log(fmt, *args):
    sys.stderr.write("bench: " + (fmt % args if args else fmt) + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- processes

class Stack:
    def __init__(self, a):
        self.a = a
        self.run = os.path.join(a.var, "dev", "run")
        self.base = "http://127.0.0.1:%d" % a.http_port

    def pidfile(self, group):
        return os.path.join(self.run, ("fcgi-hello" if group == "hello" else group) + ".pid")

    def supervisor(self, group):
        with open(self.pidfile(group)) as f:
            return int(f.read())

    def workers(self, group):
        pid = self.supervisor(group)
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return sorted(int(p) for p in f.read().split())
        except OSError:
            return []

    def sock(self, group):
        return os.path.join(self.run, ("fcgi-hello" if group == "hello" else group) + ".sock")

    def cpu(self, pids):
        """(ns on CPU from /proc/PID/schedstat, utime + stime clock ticks from /proc/PID/stat),
        summed over `pids`. The kernel derives utime + stime from the same on-CPU time, scaled
        to it in 10 ms ticks: schedstat is that time to the nanosecond."""
        ns = ticks = 0
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open("/proc/%d/schedstat" % pid) as f:
                    ns += int(f.read().split()[0])
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ns, ticks

    def queued(self, group):
        """Connections waiting in the group's listening socket (ss: Recv-Q of a listener)."""
        out = subprocess.run(["ss", "-xlH", "src", self.sock(group)], capture_output=True,
                             text=True).stdout.split()
        return int(out[2]) if len(out) > 2 else 0

    def idle(self, group, want=None):
        """True when the group's socket queue is empty and all its workers (`want` of them
        when given) wait in accept(2)."""
        pids = self.workers(group)
        if not pids or (want is not None and len(pids) != want):
            return False
        for pid in pids:
            try:
                with open("/proc/%d/syscall" % pid) as f:
                    if f.read().split()[0] != "43":  # accept on x86_64
                        return False
            except OSError:
                return False
        return self.queued(group) == 0

    def wait_idle(self, group, timeout, want=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle(group, want):
                # Twice in a row, 50 ms apart: a worker between two requests is not idle.
                time.sleep(0.05)
                if self.idle(group, want):
                    return True
            time.sleep(0.05)
        return False

    def restart(self, group, *changes):
        env = dict(os.environ, LUMIRA_STACK="dev")
        subprocess.run([self.a.dev, "restart", group, *changes], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        if not self.wait_idle(group, 60, want=self.a.workers):
            raise RuntimeError("lumira-%s did not come back with %d idle workers" %
                               (group, self.a.workers))

    def drain(self, group, changes=()):
        """(seconds it took, restarted?). A restart keeps the environment `changes`."""
        t0 = time.monotonic()
        if self.wait_idle(group, DRAIN_S):
            return time.monotonic() - t0, False
        log("lumira-%s still busy %.0f s after the load: restarting it to drop what is queued",
            group, DRAIN_S)
        self.restart(group, *changes)
        return time.monotonic() - t0, True


def memory(pid):
    """{"pss", "uss", "rss"} in KiB from /proc/PID/smaps_rollup."""
    out = {"pss": 0, "uss": 0, "rss": 0}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Pss":
                out["pss"] = int(v.split()[0])
            elif k == "Rss":
                out["rss"] = int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                out["uss"] += int(v.split()[0])
    return out


PAGEMAP_PFN = (1 << 55) - 1
PAGEMAP_PRESENT = 1 << 63


def frames(pid):
    """The physical page frames mapped by `pid` (/proc/PID/pagemap), or None when they cannot
    be read: the kernel shows frame numbers to CAP_SYS_ADMIN only (zeros to anyone else)."""
    out = set()
    try:
        with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/pagemap" % pid, "rb") as pm:
            for line in maps:
                f = line.split()
                if f[-1] == "[vsyscall]":
                    continue
                lo, hi = (int(x, 16) // 4096 for x in f[0].split("-"))
                for start in range(lo, hi, 65536):
                    n = min(65536, hi - start)
                    pm.seek(start * 8)
                    data = pm.read(n * 8)
                    for i in range(0, len(data), 8):
                        e = int.from_bytes(data[i:i + 8], "little")
                        if e & PAGEMAP_PRESENT:
                            out.add(e & PAGEMAP_PFN)
    except OSError:
        return None
    if out and out == {0}:
        return None
    return out


def group_memory(stack, group):
    """Memory of a group: its workers and its multiwatch (KiB), and the set of physical frames
    they map together ("frames", None when not readable)."""
    sup = stack.supervisor(group)
    ws = stack.workers(group)
    res = {"workers": {"pss": 0, "uss": 0, "rss": 0, "n": len(ws)},
           "multiwatch": memory(sup), "frames": frames(sup)}
    for pid in ws:
        m = memory(pid)
        for k in ("pss", "uss", "rss"):
            res["workers"][k] += m[k]
        fr = frames(pid)
        res["frames"] = None if (fr is None or res["frames"] is None) else res["frames"] | fr
    return res


# ---------------------------------------------------------------- HTTP helpers

def http(method, url, body=None, headers=None, timeout=120):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def proxy_reset(a):
    http("POST", "http://127.0.0.1:%d/__standin/reset" % a.dbproxy_ctl, b"{}",
         {"Content-Type": "application/json"})


def proxy_state(a):
    return json.loads(http("GET", "http://127.0.0.1:%d/__standin/state" % a.dbproxy_ctl)[1])


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep and not k.startswith("#"):
                env[k] = v
    return env


def sign_stripe(secret, body, t=None):
    import hashlib
    import hmac
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def pi_event(event_id, order):
    """A payment_intent.succeeded event for `order` (as Stripe sends it), compact JSON bytes."""
    obj = {"id": order.get("paymentIntentId") or "pi_bench_" + str(order["_id"]),
           "object": "payment_intent", "amount": int(order["amount"]),
           "amount_received": int(order["amount"]), "currency": "eur", "status": "succeeded",
           "metadata": {"orderId": str(order["_id"])}}
    ev = {"id": event_id, "object": "event", "type": "payment_intent.succeeded",
          "created": int(time.time()), "livemode": False, "data": {"object": obj}}
    return json.dumps(ev, separators=(",", ":")).encode()


# ---------------------------------------------------------------- wrk

def lua_str(s):
    return json.dumps(s)  # a JSON string is a valid Lua string literal for our ASCII bodies


def fixed_script(method, headers, body):
    lines = ["wrk.method = %s" % lua_str(method)]
    for k, v in headers.items():
        lines.append("wrk.headers[%s] = %s" % (lua_str(k), lua_str(v)))
    if body is not None:
        lines.append("wrk.body = %s" % lua_str(body.decode()))
    return "\n".join(lines) + "\n"


def cycling_script(path, headers):
    """Each request takes the next line of `path` ("<Stripe-Signature>\\t<body>"); the threads
    take alternate lines, and a line is used again only once all are used (counted)."""
    hdrs = ", ".join("[%s] = %s" % (lua_str(k), lua_str(v)) for k, v in headers.items())
    return """
local threads = {}
local made = 0
function setup(thread)
  thread:set("tid", made)
  made = made + 1
  table.insert(threads, thread)
end
function init(args)
  lines = {}
  for l in io.lines(%s) do table.insert(lines, l) end
  nextline = tid
  reused = 0
end
function request()
  if nextline >= #lines then reused = reused + 1 end
  local sig, body = lines[nextline %% #lines + 1]:match("^([^\\t]+)\\t(.*)$")
  nextline = nextline + %d
  local h = {%s}
  h["Stripe-Signature"] = sig
  return wrk.format("POST", nil, h, body)
end
function done(summary, latency, requests)
  local r = 0
  for _, t in ipairs(threads) do r = r + t:get("reused") end
  io.write(string.format("BENCH_REUSED %%d\\n", r))
end
""" % (lua_str(path), THREADS, hdrs)


def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(a, path, script, tmpdir):
    f = os.path.join(tmpdir, "wrk.lua")
    with open(f, "w") as fh:
        fh.write(script)
    cmd = ["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % a.seconds, "--timeout", WRK_TIMEOUT,
           "--latency", "-s", f, "http://127.0.0.1:%d%s" % (a.http_port, path)]
    t = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = {"requests": 0, "rps": 0.0, "p50": None, "p99": None, "non2xx": 0, "errors": 0,
         "timeouts": 0, "reused": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", t)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    if m:
        r["rps"] = float(m.group(1))
    for p in ("50", "99"):
        m = re.search(p + r"%\s+([\d.]+)(us|ms|s|m)\b", t)
        if m and r["requests"] > 0:
            r["p" + p] = ms(*m.groups())
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
        r["timeouts"] = int(m.group(4))
    m = re.search(r"BENCH_REUSED (\d+)", t)
    if m:
        r["reused"] = int(m.group(1))
    return r


def logged_statuses(path, start, end, uri):
    """{status: count} of the non-2xx answers nginx logged for `uri` (its path) between byte
    offsets start and end of its access log, 499 (the client, wrk stopping, went away) left
    out."""
    want = uri.split("?", 1)[0]
    out = {}
    with open(path, "rb") as f:
        f.seek(start)
        for line in f.read(end - start).splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            st = int(e.get("status", 0))
            if e.get("path", "").split("?", 1)[0] == want and not 200 <= st < 300 and st != 499:
                out[st] = out.get(st, 0) + 1
    return out


# ---------------------------------------------------------------- database commands

def count_commands(a, stack, row, tmpdir):
    """Sends the row's request one at a time with curl; returns (n, commands, by_name,
    statuses, milliseconds of each)."""
    proxy_reset(a)
    statuses, times = [], []
    t0 = time.monotonic()
    k = 0
    while k < COUNT_REQUESTS and (k < COUNT_MIN or time.monotonic() - t0 < COUNT_BUDGET_S):
        method, headers, body = row["one"](k)
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X",
               method, "--max-time", "60"]
        for hk, hv in headers.items():
            cmd += ["-H", "%s: %s" % (hk, hv)]
        if body is not None:
            bf = os.path.join(tmpdir, "body")
            with open(bf, "wb") as fh:
                fh.write(body)
            cmd += ["--data-binary", "@" + bf]
        cmd.append("http://127.0.0.1:%d%s" % (a.http_port, row["path"]))
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
        statuses.append(out[0] if out else "000")
        if len(out) > 1:
            times.append(float(out[1]) * 1000.0)
        k += 1
    if row.get("group"):
        stack.wait_idle(row["group"], 30)
    st = proxy_state(a)
    by = {n: v for n, v in st["by_name"].items() if n not in HANDSHAKE}
    return k, st["commands"], by, statuses, times


# ---------------------------------------------------------------- the rows

def make_rows(a, stack, ctx):
    token = ctx["token"]
    auth = {"Authorization": "Bearer " + token}
    json_h = {"Content-Type": "application/json"}
    secret = ctx["env"]["STRIPE_WEBHOOK_SECRET"]

    def get(path, headers=None):
        headers = headers or {}
        return {"path": path, "script": fixed_script("GET", headers, None),
                "one": lambda k: ("GET", headers, None)}

    def post(path, body, headers=None):
        headers = dict(json_h, **(headers or {}))
        return {"path": path, "script": fixed_script("POST", headers, body),
                "one": lambda k: ("POST", headers, body)}

    dup_body = ctx["dup_event"]

    def signed_dup(row):
        # Signed when the row starts: Stripe-Signature is valid for 300 s.
        row.update(post("/api/stripe/webhook", dup_body,
                        {"Stripe-Signature": sign_stripe(secret, dup_body)}))
    login_body = json.dumps({"email": ctx["expert_email"], "password": ctx["expert_pw"]}).encode()

    def checkout_body(level):
        return json.dumps({"level": level, "formData": {
            "firstName": "Bench", "lastName": "Customer",
            "email": "bench-l%d-%s@example.com" % (level, ctx["run_id"])}}).encode()

    rows = [
        dict(key="static", group=None, label="`/__bench/static`",
             what="nginx answers by itself (no FastCGI)", **get("/__bench/static")),
        dict(key="hello", group="hello", label="`/__bench/fcgi-hello`",
             what="libfcgi hello-world (tests/bench/fcgi_hello.c): the floor of our shape",
             **get("/__bench/fcgi-hello")),
        dict(key="health", group="health", label="`GET /api/health`",
             what="liveness; a database ping at most every 5 s", **get("/api/health")),
        dict(key="ready", group="ready", label="`GET /api/ready`",
             what="MongoDB ping + Stripe stand-in call (GET /v1/balance)", **get("/api/ready")),
        dict(key="verify", group="auth", label="`GET /api/expert/verify`",
             what="JWT check + the expert by id", **get("/api/expert/verify", auth)),
        dict(key="login", group="auth", label="`POST /api/expert/login`",
             what="bcrypt cost 10 + the expert by e-mail + lastLogin write",
             **post("/api/expert/login", login_body)),
        dict(key="order", group="orders", label="`GET /api/orders/:id`",
             what="token, the expert by id, the order by id",
             **get("/api/orders/%s" % ctx["order_id"], auth)),
        dict(key="webhook_dup", group="orders", label="`POST /api/stripe/webhook`, seen event",
             what="signature check, the event by id: already processed (Stripe's retry)",
             path="/api/stripe/webhook", prepare=signed_dup),
        dict(key="list", group="orders", label="`GET /api/orders?limit=20`",
             what="token, the expert, a count and a sorted page of 20",
             **get("/api/orders?limit=20", auth)),
        dict(key="number", group="orders", label="`GET /api/orders/number/:n?email=`",
             what="public lookup by the unique order number",
             **get("/api/orders/number/%s?email=%s" % (ctx["order_number"], ctx["order_email"]))),
        dict(key="webhook_new", group="orders", label="`POST /api/stripe/webhook`, new event",
             what="signature, event lookup, its order by id, pending to paid, the user's stats "
                  "(a count of the user's orders), the event recorded",
             path="/api/stripe/webhook",
             prepare=lambda row: webhook_new_setup(a, row, ctx, ctx["tmpdir"])),
        dict(key="checkout1", group="orders", label="`POST /api/stripe/create-payment-intent` level 1",
             what="user find-or-create, counter, order insert, paid at once, the user's stats",
             **post("/api/stripe/create-payment-intent", checkout_body(1))),
        dict(key="checkout2", group="orders",
             label="`POST /api/stripe/create-payment-intent` level 2",
             what="user, counter, order insert, Stripe PaymentIntent (stripe-mock directly), "
                  "its id stored",
             restart=["STRIPE_API_BASE=http://127.0.0.1:%d" % a.smock_http],
             **post("/api/stripe/create-payment-intent", checkout_body(2))),
    ]
    return rows


def webhook_new_setup(a, row, ctx, tmpdir):
    """Signed new events, one per pending order: the first ones for the counted requests, the
    others in a file that the wrk script cycles through."""
    secret = ctx["env"]["STRIPE_WEBHOOK_SECRET"]
    db = ctx["db"]
    orders = list(db.orders.find({"status": "pending", "level": {"$gte": 2}},
                                 {"_id": 1, "amount": 1, "paymentIntentId": 1}).limit(a.events))
    if len(orders) < COUNT_REQUESTS + 10:
        raise RuntimeError("only %d pending orders to pay: seed more (--pending)" % len(orders))
    t = int(time.time())
    events = []
    for i, o in enumerate(orders):
        body = pi_event("evt_bench_%s_%05d" % (ctx["run_id"], i), o)
        events.append((sign_stripe(secret, body, t), body))
    counted, loaded = events[:COUNT_REQUESTS], events[COUNT_REQUESTS:]
    path = os.path.join(tmpdir, "events.tsv")
    with open(path, "w") as f:
        for sig, body in loaded:
            f.write("%s\t%s\n" % (sig, body.decode()))
    row["script"] = cycling_script(path, {"Content-Type": "application/json"})
    row["one"] = lambda k: ("POST", {"Content-Type": "application/json",
                                     "Stripe-Signature": counted[k][0]}, counted[k][1])
    row["events"] = len(loaded)


def run_row(a, stack, row, ctx, tmpdir, mem_after):
    group = row["group"]
    log("%s: %d s of wrk", row["key"], a.seconds)
    if row.get("prepare"):
        row["prepare"](row)
    if group:
        stack.wait_idle(group, 30)
    pids = stack.workers(group) if group else []
    access = os.path.join(a.var, "dev", "log", "nginx-access.log")
    off0 = os.path.getsize(access) if os.path.exists(access) else 0
    ns0, t0 = stack.cpu(pids)
    w = run_wrk(a, row["path"], row["script"], tmpdir)
    ns1, t1 = stack.cpu(pids)
    off1 = os.path.getsize(access) if os.path.exists(access) else 0
    if w["non2xx"]:
        w["bad_statuses"] = logged_statuses(access, off0, off1, row["path"])
    row.update(w)
    row["cpu_ticks"] = t1 - t0
    row["cpu_us"] = (ns1 - ns0) / 1e3 / w["requests"] if (group and w["requests"]) else None
    row["cpu_us_stat"] = (t1 - t0) * 1e6 / TICK / w["requests"] if (group and w["requests"]) \
        else None
    if group and group != "hello":
        mem = group_memory(stack, group)
        prev = mem_after.get(group)
        if prev is None or mem["workers"]["pss"] > prev["workers"]["pss"]:
            mem_after[group] = mem
    if group:
        row["drain_s"], row["restarted"] = stack.drain(group, row.get("restart", []))
    n, cmds, by, statuses, times = count_commands(a, stack, row, tmpdir)
    row["alone_ms"] = statistics.median(times) if times else None
    row["count_statuses"] = sorted(set(statuses))
    if group in (None, "hello"):
        row["count_n"], row["commands"], row["by_name"] = 0, 0, {}
        log("%s: %.1f req/s", row["key"], w["rps"])
        return
    row["count_n"], row["commands"], row["by_name"] = n, cmds, by
    log("%s: %.1f req/s, %s us CPU/req, %.2f commands/req", row["key"], w["rps"],
        "%.0f" % row["cpu_us"] if row["cpu_us"] is not None else "-", cmds / n if n else 0)


def interleave(a, stack, rows, tmpdir, rounds=PAIR_ROUNDS):
    """/api/health against the hello-world in alternating runs of half a row's time each
    (hello first in even rounds, health first in odd ones, so that a drift of the machine's load
    weighs on both alike): the rate and CPU ratios of each round. A row measured once, next to
    another measured once some minutes before, carries whatever else the machine did meanwhile
    (these runs saw 0.79 to 1.16 for the same code); the median of rounds side by side does not."""
    by_key = {r["key"]: r for r in rows}
    if "health" not in by_key or "hello" not in by_key:
        return None
    half = argparse.Namespace(**vars(a))
    half.seconds = max(3, a.seconds // 2)
    out = []
    for i in range(rounds):
        got = {}
        for key in (("hello", "health") if i % 2 == 0 else ("health", "hello")):
            row = by_key[key]
            stack.wait_idle(row["group"], 30)
            pids = stack.workers(row["group"])
            ns0, _ = stack.cpu(pids)
            w = run_wrk(half, row["path"], row["script"], tmpdir)
            ns1, _ = stack.cpu(pids)
            got[key] = (w["rps"], (ns1 - ns0) / 1e3 / w["requests"] if w["requests"] else None,
                        w["non2xx"] + w["errors"])
        (hr, hc, hb), (r, c, b) = got["hello"], got["health"]
        out.append({"hello_rps": hr, "hello_cpu": hc, "rps": r, "cpu": c, "bad": hb + b,
                    "rate": r / hr if hr else None,
                    "cpu_ratio": c / hc if (c is not None and hc) else None})
        log("interleaved round %d: health %.2f of the hello-world's rate, %.2fx its CPU", i + 1,
            out[-1]["rate"] or 0, out[-1]["cpu_ratio"] or 0)
    return {"seconds": half.seconds, "rounds": out}


def render_pairs(pairs):
    """The interleaved rounds (lines)."""
    rounds = pairs["rounds"]
    rates = [p["rate"] for p in rounds if p["rate"] is not None]
    cpus = [p["cpu_ratio"] for p in rounds if p["cpu_ratio"] is not None]
    out = []
    w = out.append
    w("### `/api/health` against the hello-world, interleaved")
    w("")
    w("After the rows, %d rounds of %d s of each, side by side (the hello-world first in odd "
      "rounds, health first in even ones), so that what else the machine does weighs on both "
      "alike: this is the figure the targets are judged on (>= %.2f of the hello-world's "
      "requests/s, <= %.1fx its worker CPU per request)." % (
          len(rounds), pairs["seconds"], TARGET_RATE, TARGET_CPU))
    w("")
    w("| round | hello-world requests/s | health requests/s | rate ratio | hello-world CPU µs | "
      "health CPU µs | CPU ratio | non-2xx / errors |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, p in enumerate(rounds):
        w("| %d | %.0f | %.0f | %s | %s | %s | %s | %d |" % (
            i + 1, p["hello_rps"], p["rps"], fmt_ratio(p["rate"]) if p["rate"] else "—",
            fmt_num(p["hello_cpu"]) if p["hello_cpu"] else "—",
            fmt_num(p["cpu"]) if p["cpu"] else "—",
            "%.2f" % p["cpu_ratio"] if p["cpu_ratio"] else "—", p["bad"]))
    if rates and cpus:
        mr, mc = statistics.median(rates), statistics.median(cpus)
        w("| **median** | | | **%s** | | | **%.2f** | |" % (fmt_ratio(mr), mc))
        w("")
        w("Median rate ratio %s (%s-%s), median CPU ratio %.2f (%.2f-%.2f): %s." % (
            fmt_ratio(mr), fmt_ratio(min(rates)), fmt_ratio(max(rates)), mc, min(cpus), max(cpus),
            "both targets met" if (mr >= TARGET_RATE and mc <= TARGET_CPU) else
            "rate target %s, CPU target %s" % ("met" if mr >= TARGET_RATE else "missed",
                                                 "met" if mc <= TARGET_CPU else "missed")))
    w("")
    return out


# ---------------------------------------------------------------- the report

def fmt_num(v, digits=0):
    if v is None:
        return "—"
    if digits == 0:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def fmt_ms(v):
    if v is None:
        return "—"
    if v >= 1000:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ratio(v):
    """Two decimals, or two significant digits below 0.01 (0.0023)."""
    if v == 0 or v >= 0.01:
        return "%.2f" % v
    import math
    return "%.*f" % (1 - int(math.floor(math.log10(v))), v)


def fmt_by(by, n):
    if not by:
        return "0"
    return ", ".join("%s %s" % (k, ("%.2f" % (v / n)).rstrip("0").rstrip("."))
                     for k, v in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))


def render(a, ctx, rows, mem_before, mem_after, hello_mem, start):
    out = []
    w = out.append
    w("## Latest run")
    w("")
    w("Taken by `%s` on %s (%d cores, commit %s): wrk %d threads, %d connections, %d s per "
      "route, through the dev stack's nginx (127.0.0.1:%d), %d workers per program. "
      "The database held **%d orders and %d users** (%d of them pending orders of levels 2-4) "
      "when the run began (`tests/bench/seed.py` tops them up to %d and %d). These machines are "
      "shared and noisy: compare ratios taken in one run, not absolute numbers across runs." % (
          ctx["command"], ctx["date"], os.cpu_count(), ctx["commit"], THREADS, CONNS, a.seconds,
          a.http_port, a.workers, ctx["seed"]["orders"], ctx["seed"]["users"],
          ctx["seed"]["pending"], a.orders, a.users))
    w("")
    out += render_table(a, rows)
    if ctx.get("pairs"):
        out += render_pairs(ctx["pairs"])
    render_rest(a, w, mem_before, mem_after, hello_mem, start)
    return "\n".join(out) + "\n"


def render_table(a, rows):
    """The routes' table and the notes under it (lines)."""
    hello = next(r for r in rows if r["key"] == "hello")
    hr, hc = hello["rps"], hello["cpu_us"]
    out = []
    w = out.append
    w("| route | what it does | requests/s | ratio to hello | p50 ms | p99 ms | one at a time, "
      "ms | CPU µs/request | CPU ratio to hello | DB commands/request | n | non-2xx / errors |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        rps = r.get("rps")
        ratio = fmt_ratio(rps / hr) if (rps is not None and hr) else "—"
        if r["key"] == "hello":
            ratio = "1.00"
        cpu = r.get("cpu_us")
        cpu_s = fmt_num(cpu) if cpu is not None else "—"
        if cpu is not None and r.get("requests", 0) < FEW:
            cpu_s = "~" + cpu_s
        cratio = ("%.1f" % (cpu / hc) if cpu / hc < 100 else "%.0f" % (cpu / hc)) \
            if (cpu is not None and hc) else "—"
        if r["key"] == "hello":
            cratio = "1.0"
        if r.get("group") in (None, "hello"):
            db = "—"
        else:
            n = r["count_n"]
            db = "%s (%s)" % (("%.2f" % (r["commands"] / n)).rstrip("0").rstrip("."),
                              fmt_by(r["by_name"], n)) if n else "—"
        rps_s = ("%.1f" % rps if rps < 100 else "%.0f" % rps) if rps is not None else "—"
        bad = "%d / %d" % (r.get("non2xx", 0), r.get("errors", 0))
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |" % (
            r["label"], r["what"], rps_s, ratio, fmt_ms(r.get("p50")), fmt_ms(r.get("p99")),
            fmt_ms(r.get("alone_ms")), cpu_s, cratio, db, r.get("requests", 0), bad))
    w("")
    w("*n* is the number of requests wrk completed in the %d s; *p50* and *p99* are theirs (the "
      "queue of 32 connections included). *One at a time* is the median time of the requests "
      "sent one after the other with curl after the load (below). *CPU µs/request* is the time "
      "the program's workers spent on CPU during the load (user and system: /proc/PID/schedstat, "
      "the nanosecond total that utime + stime of /proc/PID/stat count in 10 ms ticks) over "
      "those requests; `~` when n is under %d, as the requests still in flight when wrk stops "
      "used CPU too. *DB commands/request* is what the counting proxy saw for requests sent one "
      "at a time with curl after the load (%d, or as many as %d s allow, at least %d; "
      "handshakes left out), by command name." % (
          a.seconds, FEW, COUNT_REQUESTS, COUNT_BUDGET_S, COUNT_MIN))
    notes = []
    for r in rows:
        if r.get("restarted"):
            notes.append("%s: the program was still serving the requests wrk left in flight %d s "
                         "after the load, and was restarted to drop them before the count." % (
                             r["label"], DRAIN_S))
        if r.get("reused"):
            notes.append("%s: wrk sent %d more requests than there were new events (%d): those "
                         "were events already seen, so the row is not a clean new-event figure."
                         % (r["label"], r["reused"], r.get("events", 0)))
        if r.get("bad_statuses"):
            notes.append("%s: %d of the %d answers under load were not 2xx (nginx's log: %s)." % (
                r["label"], r["non2xx"], r["requests"], ", ".join(
                    "%s %d" % (k, v) for k, v in sorted(r["bad_statuses"].items()))))
        bad = [s for s in r.get("count_statuses", []) if not s.startswith("2")]
        if bad:
            notes.append("%s: the counted requests answered %s." % (r["label"], ", ".join(
                r.get("count_statuses", []))))
        if r.get("skipped"):
            notes.append("%s: %s" % (r["label"], r["skipped"]))
    if notes:
        w("")
    for n in notes:
        w("- " + n)
    w("")
    return out


def render_rest(a, w, mem_before, mem_after, hello_mem, start):
    """The memory and start-up tables, through `w`."""
    # Memory.
    def kib(v):
        return "%.1f" % (v / 1024.0)
    w("### Memory")
    w("")
    w("MiB, from /proc/PID/smaps_rollup and /proc/PID/pagemap. *PSS* divides each page among the "
      "processes that map it, those of other stacks on this machine included (other checkouts "
      "run the same libraries, which lowers everyone's share); *USS* is the processes' private "
      "pages alone; *RSS* counts every shared page again in each process; *alone* is the "
      "physical pages the processes map, each counted once: what their PSS would be if nothing "
      "else on the machine mapped the same files (a VM of their own; libc aside). *Before*: at "
      "the start of the run; *after*: right after the load of the program's rows (the largest "
      "of them).")
    w("")
    w("| processes | PSS before | PSS after | USS after | RSS after | alone after |")
    w("|---|---:|---:|---:|---:|---:|")

    def alone(fr):
        return kib(len(fr) * 4) if fr is not None else "—"
    tot = {"pb": 0, "pa": 0, "ua": 0, "ra": 0}
    frames_all = set()
    for g in GROUPS:
        b, af = mem_before[g], mem_after.get(g, mem_before[g])
        w("| lumira-%s: %d workers + multiwatch | %s | %s | %s | %s | %s |" % (
            g, af["workers"]["n"], kib(b["workers"]["pss"] + b["multiwatch"]["pss"]),
            kib(af["workers"]["pss"] + af["multiwatch"]["pss"]),
            kib(af["workers"]["uss"] + af["multiwatch"]["uss"]),
            kib(af["workers"]["rss"] + af["multiwatch"]["rss"]), alone(af["frames"])))
        tot["pb"] += b["workers"]["pss"] + b["multiwatch"]["pss"]
        tot["pa"] += af["workers"]["pss"] + af["multiwatch"]["pss"]
        tot["ua"] += af["workers"]["uss"] + af["multiwatch"]["uss"]
        tot["ra"] += af["workers"]["rss"] + af["multiwatch"]["rss"]
        frames_all = None if (frames_all is None or af["frames"] is None) else frames_all | af["frames"]
    w("| of which the 4 multiwatch | %s | %s | %s | %s | — |" % (
        kib(sum(mem_before[g]["multiwatch"]["pss"] for g in GROUPS)),
        kib(sum(mem_after.get(g, mem_before[g])["multiwatch"]["pss"] for g in GROUPS)),
        kib(sum(mem_after.get(g, mem_before[g])["multiwatch"]["uss"] for g in GROUPS)),
        kib(sum(mem_after.get(g, mem_before[g])["multiwatch"]["rss"] for g in GROUPS))))
    w("| **the stack: 4 programs x %d workers + 4 multiwatch** | **%s** | **%s** | %s | %s | "
      "**%s** |" % (a.workers, kib(tot["pb"]), kib(tot["pa"]), kib(tot["ua"]), kib(tot["ra"]),
                    alone(frames_all)))
    w("| hello-world: %d workers + multiwatch (for comparison) | — | %s | %s | %s | %s |" % (
        hello_mem["workers"]["n"],
        kib(hello_mem["workers"]["pss"] + hello_mem["multiwatch"]["pss"]),
        kib(hello_mem["workers"]["uss"] + hello_mem["multiwatch"]["uss"]),
        kib(hello_mem["workers"]["rss"] + hello_mem["multiwatch"]["rss"]),
        alone(hello_mem["frames"])))
    w("")
    w("Target (the performance issue): the whole stack within 24 MiB PSS. This run: %s MiB PSS "
      "after load (%s), %s MiB if it were alone on the machine (%s)." % (
          kib(tot["pa"]), "within" if tot["pa"] <= 24 * 1024 else "over",
          alone(frames_all), "—" if frames_all is None else
          ("within" if len(frames_all) * 4 <= 24 * 1024 else "over")))
    w("")

    # Start-up.
    w("### Start-up")
    w("")
    w("Milliseconds from spawning a program (fork + exec, its listening socket as fd 0, the dev "
      "stack's environment with LOG_FILE=/dev/null) to the first STDOUT record of its answer to "
      "one FastCGI request sent at once (`tests/bench/startup.py`), median of %d fresh processes "
      "(min-max). *404*: a path no route serves (start-up and the accept loop alone); *route*: a "
      "cheap route of the program, with what its first request costs. Target: the first answer "
      "within 20 ms of exec." % a.startup_runs)
    w("")
    w("| program | 404 | route | route used |")
    w("|---|---:|---:|---|")
    for g, r in start.items():
        name = "hello-world (libfcgi)" if g == "hello" else "lumira-" + g
        w("| %s | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | `GET %s` → %s |" % (
            name, statistics.median(r["404"]), min(r["404"]), max(r["404"]),
            statistics.median(r["route"]), min(r["route"]), max(r["route"]),
            r["route_path"], r["route_status"]))


DEFAULT_PROSE = """# Benchmarks

`scripts/dev bench [seconds]` (scripts/bench, tests/bench/) measures every route of the dev stack
through nginx in one run, next to two floors served the same way: nginx answering by itself, and
a libfcgi hello-world (`tests/bench/fcgi_hello.c`: accept, print a fixed JSON, finish) under
spawn-fcgi + multiwatch with as many workers as a program, behind the same nginx. The
hello-world is the floor of our shape (nginx, unix socket, libfcgi): what a route costs above it
is ours. The part between the markers below is written by the bench; the History section after
it is kept by hand (`--note` appends an entry). Benchmarks are not tests: `scripts/dev test`
never runs them. `scripts/dev bench 10 --only health,hello,static` runs only the rows named (the
keys are `ROW_KEYS` in tests/bench/bench.py, `startup` adds the start-up figures; the
hello-world's row always runs, as every ratio is to it) and prints their table without writing
this file: a quick repeat of a few ratios in one run.

How the run is made:
- Seeding: `tests/bench/seed.py` inserts, straight into FerretDB (not through the counting
  proxy), whatever is missing of 10 000 orders and 1 000 users in the shapes the programs write
  (numbers LU<yymmdd><seq> on the 365 days before the seeding, levels and statuses spread as
  checkouts leave them, paid ones with their PaymentIntent, completed ones with about 1 KiB of
  reading), and keeps at least 600 pending orders of levels 2-4 for the webhook rows to pay.
  The bench's own checkouts and webhooks add to them, so the database grows a little each run.
- New webhook events: HMAC-SHA256 is not available in wrk's Lua, so the bench signs, in Python,
  one `payment_intent.succeeded` event per pending order (a new event id each, the order's
  amount) just before the row, writes them to a file, and the wrk script sends each line once
  (the two threads take alternate lines; a reuse would be counted and reported).
- The seen-event row sends, 32 connections at a time, one event the bench had sent once before.
- The level-2 checkout row restarts lumira-orders with STRIPE_API_BASE pointing at stripe-mock
  itself (not through the Python stand-in) and restores it after.
- wrk stops with 32 requests in flight, and a program that the database holds up serves them
  for long after (nginx has passed them on; the worker reads them from its socket anyway).
  After each row the bench waits until the program's socket queue is empty and its workers are
  back in accept(2); one still busy after 10 s is restarted, which drops what is queued (said
  under the table). Only then are the database commands counted.
- Everything is measured through the dev stack of the checkout, on its own ports
  (`LUMIRA_PORT_OFFSET` moves them); what the bench starts it stops.
"""

DEFAULT_EXPLAIN = """
### Reading the figures

`GET /api/health` is our code's cost on top of the hello-world: the request parsing, routing,
JSON rendering, the JSON log line of every request, and /proc/meminfo opened and read for the
memory figures of its answer (about a tenth of its worker's CPU under perf). `GET /api/ready`
is bounded by its dependencies: each request pings the database and calls the Stripe stand-in,
a Python process forwarding to stripe-mock. `POST /api/expert/login` is bounded by bcrypt on
purpose (about 50-70 ms of one core per attempt): a VM with W workers logs in at most about
W x 15 experts a second, far above what the nginx login limit lets one address try; the local
stack exempts 127.0.0.1 from that limit, which is what lets this run measure the program.

The orders rows measure FerretDB more than lumira-orders. FerretDB's SQLite backend creates the
indexes we ask for (so the unique ones are enforced) but no query of ours uses one: it filters on
`_id` in SQL with `_ferretdb_sjson->'$._id' = ?`, not the expression its `_id_` index is built
on (`_ferretdb_sjson->"_id"`), so even a lookup by id reads the table through (`explain` says
`SCAN`; about 0.1 s at 10 000 orders here), and every other filter is applied in Go to each
document read, a few seconds per pass over 10 000 orders. A lookup by order number, a count, a
sorted page, or the user's stats after a payment (a count of the user's orders) costs such a
pass and grows with the collection; the workers spend almost no CPU meanwhile. The bench looks
up the order in the middle of the collection (FerretDB stops at the first match). On MongoDB the
same queries use the indexes made at start-up (`_id`, `orderNumber_1`, `createdAt_-1`,
`status_1_createdAt_-1`, `userEmail_1`, `userId_1`, ...). The level-1 checkout and a new webhook
event end with the user's stats: one pass each. With 32 connections on 2 workers the latency
of these rows is mostly the queue in front of them, and the *one at a time* column is the cost of
one request; some of them complete few or no requests in the run. Under that load a database
command of a checkout can wait in FerretDB longer than the programs' socketTimeoutMS (5 s): the
request then answers 503 (noted under the table with what nginx logged), as it would against
an overloaded MongoDB.
"""

DEFAULT_HISTORY = HISTORY + """

Each entry: what changed, the command that measured it, and the figures of that run (the
generated part above is only the latest). `scripts/dev bench 10 --note "TITLE"` appends one.
"""


def write_doc(path, generated, note_entry):
    """Replaces the part of `path` between BEGIN and END with `generated`; what is around it is
    kept (written from DEFAULT_* when the file has no markers yet). `note_entry`, when given, is
    appended to the History section at the end."""
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        head = old[:old.index(BEGIN)]
        tail = old[old.index(END) + len(END):].lstrip("\n")
    else:
        head = DEFAULT_PROSE + "\n"
        tail = DEFAULT_EXPLAIN.lstrip("\n") + "\n" + DEFAULT_HISTORY
    if note_entry:
        tail = tail.rstrip("\n") + "\n\n" + note_entry
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + generated + END + "\n\n" + tail)


def history_entry(a, ctx, rows, total_pss_after, alone_mib, start):
    hello = next(r for r in rows if r["key"] == "hello")
    lines = ["### %s: %s" % (ctx["date"], a.note), "",
             "`%s`, commit %s, %d orders and %d users in the database." % (
                 ctx["command"], ctx["commit"], ctx["seed"]["orders"], ctx["seed"]["users"]), "",
             "| route | requests/s | ratio to hello | p50 ms | one at a time, ms | CPU µs/request | "
             "DB commands/request |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        rps = r.get("rps") or 0
        n = r.get("count_n") or 0
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], ("%.1f" % rps if rps < 100 else "%.0f" % rps),
            fmt_ratio(rps / hello["rps"]) if hello["rps"] else "—",
            fmt_ms(r.get("p50")), fmt_ms(r.get("alone_ms")), fmt_num(r.get("cpu_us")),
            ("%.2f" % (r["commands"] / n)) if (n and r.get("group") not in (None, "hello")) else "—"))
    lines += ["", "Whole stack PSS after load: %.1f MiB (%s MiB alone). Start-up (median, 404 path): %s." % (
        total_pss_after / 1024.0, alone_mib, ", ".join("%s %.1f ms" % (g, statistics.median(r["404"]))
                                             for g, r in start.items())), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--mongo-port", type=int, required=True)
    ap.add_argument("--dbproxy-ctl", type=int, required=True)
    ap.add_argument("--smock-http", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--orders", type=int, default=10000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--pending", type=int, default=600)
    ap.add_argument("--events", type=int, default=2000, help="new events made for the webhook row")
    ap.add_argument("--startup-runs", type=int, default=7)
    ap.add_argument("--hello", required=True, help="the hello-world binary")
    ap.add_argument("--note", default="", help="also append a History entry with this title")
    ap.add_argument("--command", default="scripts/dev bench")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="",
                    help="run only these rows (comma-separated keys: %s; startup: the start-up "
                         "table); prints them and leaves --out alone" % ", ".join(ROW_KEYS))
    a = ap.parse_args()
    only = None
    if a.only:
        only = {k.strip() for k in a.only.split(",") if k.strip()}
        unknown = only - set(ROW_KEYS) - {"startup", "pairs"}
        if unknown or not only:
            ap.error("--only: unknown row %s (rows: %s, startup)" % (
                ", ".join(sorted(unknown)) or "(none)", ", ".join(ROW_KEYS)))
        if a.note:
            ap.error("--note writes a History entry of a whole run: not with --only")
        only.add("hello")
    a.var = os.path.join(a.top, "var")
    a.dev = os.path.join(a.top, "scripts", "dev")
    a.build = os.path.join(a.var, "build")
    stack = Stack(a)
    envfile = os.path.join(a.var, "dev", "lumira.env")
    ctx = {"env": read_env(envfile), "run_id": "%d%d" % (int(time.time()), os.getpid()),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
           "command": a.command,
           "commit": subprocess.run(["git", "-C", a.top, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip() or "unknown"}
    if subprocess.run(["git", "-C", a.top, "diff", "--quiet", "HEAD", "--", "src", "cgi-bin"]).returncode:
        ctx["commit"] += " (with uncommitted changes to src/ or cgi-bin/)"
    mongo_uri = "mongodb://127.0.0.1:%d/lumira" % a.mongo_port
    if only is not None and "pairs" in only:
        only |= {"health", "hello"}
    if only is not None and only <= NO_SETUP | {"startup", "pairs"}:
        run_only(a, stack, ctx, only, envfile)
        return

    log("seeding (at least %d orders, %d users, %d pending)", a.orders, a.users, a.pending)
    seed_out = subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), mongo_uri,
                               "--orders", str(a.orders), "--users", str(a.users),
                               "--pending", str(a.pending)],
                              capture_output=True, text=True, check=True).stdout
    ctx["seed"] = json.loads(seed_out.strip().splitlines()[-1])
    log("database: %s", ctx["seed"])
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=10000)
    ctx["db"] = client.get_default_database()

    # An expert, its token; an order to look up (the first one stored).
    ctx["expert_email"] = "bench-%s@example.com" % ctx["run_id"]
    ctx["expert_pw"] = "bench-password-" + ctx["run_id"]
    subprocess.run([os.path.join(a.build, "cgi-bin", "lumira-admin"), "--env-file", envfile,
                    "create-expert", "--email", ctx["expert_email"], "--name", "Bench Expert"],
                   input=ctx["expert_pw"] + "\n", text=True, check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    st, body = http("POST", stack.base + "/api/expert/login", json.dumps(
        {"email": ctx["expert_email"], "password": ctx["expert_pw"]}).encode(),
        {"Content-Type": "application/json"})
    if st != 200:
        raise RuntimeError("login of the bench expert: %d %r" % (st, body[:200]))
    ctx["token"] = json.loads(body)["token"]
    # The order in the middle of the collection: FerretDB reads its table in order until the
    # first match, so the first order stored would be found at once, and the last one after a
    # whole pass.
    o = next(ctx["db"].orders.find({}, {"_id": 1, "orderNumber": 1, "userEmail": 1})
             .skip(ctx["seed"]["orders"] // 2).limit(1))
    ctx["order_id"], ctx["order_number"], ctx["order_email"] = \
        str(o["_id"]), o["orderNumber"], o["userEmail"]
    # The seen event: one event sent once before the load.
    pend = ctx["db"].orders.find_one({"status": "pending", "level": {"$gte": 2}},
                                     {"_id": 1, "amount": 1, "paymentIntentId": 1})
    ctx["dup_event"] = pi_event("evt_bench_%s_seen" % ctx["run_id"], pend)
    st, body = http("POST", stack.base + "/api/stripe/webhook", ctx["dup_event"], {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe(ctx["env"]["STRIPE_WEBHOOK_SECRET"], ctx["dup_event"])})
    if st != 200:
        raise RuntimeError("the first sending of the seen event: %d %r" % (st, body[:200]))

    for g in GROUPS + ("hello",):
        if not stack.wait_idle(g, 30, want=a.workers):
            raise RuntimeError("lumira-%s is not idle with %d workers" % (g, a.workers))
    mem_before = {g: group_memory(stack, g) for g in GROUPS}
    mem_after = {}
    rows = make_rows(a, stack, ctx)
    if only is not None:
        run_only(a, stack, ctx, only, envfile, rows)
        return
    hello_mem = run_rows(a, stack, rows, ctx, mem_after, True)
    rows = [r for r in rows if not r.get("skipped")] + [r for r in rows if r.get("skipped")]

    log("start-up, %d runs per program", a.startup_runs)
    start = startup.measure(a.build, envfile, a.startup_runs, a.hello)

    generated = render(a, ctx, rows, mem_before, mem_after, hello_mem, start)
    total_after = sum(mem_after.get(g, mem_before[g])["workers"]["pss"] +
                      mem_after.get(g, mem_before[g])["multiwatch"]["pss"] for g in GROUPS)
    frames_all = set()
    for g in GROUPS:
        fr = mem_after.get(g, mem_before[g])["frames"]
        frames_all = None if (frames_all is None or fr is None) else frames_all | fr
    alone_mib = "%.1f" % (len(frames_all) * 4 / 1024.0) if frames_all is not None else "—"
    entry = history_entry(a, ctx, rows, total_after, alone_mib, start) if a.note else ""
    write_doc(a.out, generated, entry)
    with open(os.path.join(a.var, "bench", "last.json"), "w") as f:
        json.dump({"rows": [{k: v for k, v in r.items() if k not in ("script", "one", "prepare")}
                            for r in rows], "seed": ctx["seed"], "start": start,
                   "mem_before": strip_frames(mem_before), "mem_after": strip_frames(mem_after)},
                  f, indent=1, default=str)
    print(generated)


def run_rows(a, stack, rows, ctx, mem_after, pairs):
    """Runs `rows` in order (a row that needs stripe-mock is skipped when it is not running;
    lumira-orders is restarted for the rows that change its environment, and restored after),
    then, when `pairs`, the interleaved rounds into ctx["pairs"]. Returns the hello-world's
    memory right after its row (None when it did not run)."""
    hello_mem = None
    restored = True
    with tempfile.TemporaryDirectory(prefix="lumira-bench-") as tmpdir:
        ctx["tmpdir"] = tmpdir
        try:
            for row in rows:
                if row.get("restart"):
                    if not startup_port_open(a.smock_http):
                        row["skipped"] = "stripe-mock is not running (var/bin/stripe-mock): skipped"
                        row.update(rps=None, requests=0)
                        continue
                    log("%s: restarting lumira-orders with %s", row["key"], " ".join(row["restart"]))
                    restored = False
                    stack.restart("orders", *row["restart"])
                run_row(a, stack, row, ctx, tmpdir, mem_after)
                if row["key"] == "hello":
                    hello_mem = group_memory(stack, "hello")
            if not restored:
                log("restoring lumira-orders' environment")
                stack.restart("orders")
                restored = True
            if pairs:
                ctx["pairs"] = interleave(a, stack, rows, tmpdir)
        finally:
            if not restored:
                log("restoring lumira-orders' environment")
                stack.restart("orders")
    return hello_mem


def run_only(a, stack, ctx, only, envfile, rows=None):
    """--only: the rows asked for (in their usual order), printed; docs/BENCHMARKS.md is left
    alone. `rows` is None when the run needed no setup (placeholders stand for what the
    skipped rows' scripts would use)."""
    if rows is None:
        for k in ("token", "expert_email", "expert_pw", "order_id", "order_number",
                  "order_email", "dup_event"):
            ctx[k] = "" if k != "dup_event" else b""
        ctx["seed"] = None
        for g in ("health", "ready", "hello"):
            if not stack.wait_idle(g, 30, want=a.workers):
                raise RuntimeError("lumira-%s is not idle with %d workers" % (g, a.workers))
        rows = make_rows(a, stack, ctx)
    rows = [r for r in rows if r["key"] in only]
    run_rows(a, stack, rows, ctx, {}, "pairs" in only)
    pairs = ctx.get("pairs")
    start = None
    if "startup" in only:
        log("start-up, %d runs per program", a.startup_runs)
        start = startup.measure(a.build, envfile, a.startup_runs, a.hello)
    out = ["Partial run (`%s`, rows %s) on %s, %d cores, commit %s; %d s per row. Not written "
           "to %s." % (ctx["command"], ",".join(r["key"] for r in rows), ctx["date"],
                       os.cpu_count(), ctx["commit"], a.seconds, os.path.basename(a.out)), ""]
    out += render_table(a, rows)
    if pairs:
        out += render_pairs(pairs)
    if start is not None:
        out.append("Start-up, median ms (min-max), 404 / route:")
        for g, r in start.items():
            out.append("- %s: %.1f (%.1f-%.1f) / %.1f (%.1f-%.1f)" % (
                g, statistics.median(r["404"]), min(r["404"]), max(r["404"]),
                statistics.median(r["route"]), min(r["route"]), max(r["route"])))
    with open(os.path.join(a.var, "bench", "last-only.json"), "w") as f:
        json.dump({"rows": [{k: v for k, v in r.items() if k not in ("script", "one", "prepare")}
                            for r in rows], "start": start}, f, indent=1, default=str)
    print("\n".join(out))


def strip_frames(mem):
    return {g: {k: v for k, v in m.items() if k != "frames"} for g, m in mem.items()}


def startup_port_open(port):
    import socket
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


if __name__ == "__main__":
    main()
