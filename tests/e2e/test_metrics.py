"""GET /api/metrics (docs/OPERATIONS.md "Metrics"): the Prometheus text exposition that
lumira-health serves for every group from the groups' scoreboard files, checked by Debian's
promtool and scraped by a real Prometheus; counters that add up across a group's workers and
survive a worker's SIGKILL; the dependency, webhook and order counters after the calls that move
them; nginx's allow list (127.0.0.1 is listed, other loopback addresses are not, and no header
makes one listed)."""

import concurrent.futures
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

import pytest
import requests

from conftest import (BASE, VAR, checkout, dev, login, create_expert, sign_stripe, stripe_event,
                      wait_until, workers, gone)
from orders_util import PROCESS, WEBHOOK, assert_error, new_order, paid_order, post_webhook

METRICS = "/api/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(api):
    r = api.get(METRICS)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == CONTENT_TYPE
    return r.text


def parse(text):
    """{(name, frozenset of (label, value)): float} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def requests_of(samples, group, route=None, status=None):
    labels = {"group": group}
    if route is not None:
        labels["route"] = route
    if status is not None:
        labels["status"] = status
    return value(samples, "lumira_http_requests_total", **labels)


def metrics_now(api):
    return parse(scrape(api))


# ---------------------------------------------------------------- the format

@pytest.mark.smoke
def test_metrics_answer_passes_promtool_check_metrics(api):
    checkout(api, 1)
    api.get("/api/health")
    text = scrape(api)
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b"", (p.stdout, p.stderr)
    s = parse(text)
    for group in ("ready", "health", "auth", "orders"):
        assert value(s, "lumira_scoreboard_up", group=group) == 1, group
        assert value(s, "lumira_workers", group=group) == 2, group
    # Every family has its HELP and TYPE, names carry their unit, counters end in _total.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["lumira_http_requests_total"] == "counter"
    assert types["lumira_http_request_duration_seconds"] == "histogram"
    assert types["lumira_process_resident_memory_bytes"] == "gauge"
    for name, kind in types.items():
        assert ("# HELP %s " % name) in text
        assert (kind == "counter") == name.endswith("_total"), name
    # Route patterns, never raw paths.
    assert value(s, "lumira_http_requests_total", group="orders",
                 route="/api/stripe/create-payment-intent") >= 1
    assert not re.search(r'route="[^"]*[0-9a-f]{24}', text)


def test_metrics_unmatched_and_pattern_labels(api):
    before = metrics_now(api)
    r = api.get("/api/orders/0123456789abcdef01234567")  # no token: 401, under its pattern
    assert r.status_code == 401
    r = api.get("/api/health/nope")  # lumira-health has no such route: 404
    assert r.status_code == 404
    after = metrics_now(api)
    assert (requests_of(after, "orders", "/api/orders/:id", "4xx") -
            requests_of(before, "orders", "/api/orders/:id", "4xx")) == 1
    assert (requests_of(after, "health", "unmatched", "4xx") -
            requests_of(before, "health", "unmatched", "4xx")) == 1


def test_metrics_histogram_is_cumulative_and_counts_match(api):
    for _ in range(5):
        api.get("/api/health")
    s = metrics_now(api)
    labels = {"group": "health", "route": "/api/health"}
    buckets = sorted(((float(dict(ls)["le"]), v) for (n, ls), v in s.items()
                      if n == "lumira_http_request_duration_seconds_bucket" and
                      set(labels.items()) <= set(ls)), key=lambda b: b[0])
    assert len(buckets) == 14 and buckets[-1][0] == float("inf")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == value(s, "lumira_http_request_duration_seconds_count", **labels)
    assert counts[-1] == requests_of(s, "health", "/api/health")
    assert value(s, "lumira_http_request_duration_seconds_sum", **labels) > 0


# ---------------------------------------------------------------- two workers, restarts

def test_metrics_requests_add_up_across_the_two_workers_of_a_group(api):
    tag = "mtest%08x" % random.getrandbits(32)
    n = 60
    before = metrics_now(api)

    def one(i):
        r = api.get("/api/health", headers={"X-Request-Id": "%s-%d" % (tag, i)})
        assert r.status_code == 200, r.text

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(n)))
    after = metrics_now(api)
    # Exactly n more /api/health, and the one scrape before (a lumira-health request too).
    assert requests_of(after, "health", "/api/health") - requests_of(before, "health",
                                                                     "/api/health") == n
    assert requests_of(after, "health", "/api/metrics") - requests_of(before, "health",
                                                                      "/api/metrics") == 1
    # Both workers served some of them (the log names the worker of each request).
    pids = set()
    with open(os.path.join(VAR, "log", "health.log"), errors="replace") as f:
        for line in f:
            if tag in line:
                rec = json.loads(line)
                if rec.get("reqId", "").startswith(tag + "-"):
                    pids.add(rec["pid"])
    assert pids <= set(workers("health")), pids
    assert len(pids) == 2, pids


def test_metrics_worker_killed_and_restarted_keeps_the_group_totals(api):
    for _ in range(10):
        api.get("/api/ready")
    before = metrics_now(api)
    victim = workers("ready")[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: gone(victim) and len(workers("ready")) == 2 and victim not in workers("ready"),
               10, what="multiwatch to replace the killed worker")
    wait_until(lambda: value(metrics_now(api), "lumira_workers", group="ready") == 2, 10,
               what="the new worker in the scoreboard")
    api.get("/api/ready")
    after = metrics_now(api)
    # Nothing went down, the request after the kill counted, and the restart was seen.
    for key, v in before.items():
        if key[0].endswith("_total") and not key[0].startswith("lumira_process_") and \
                dict(key[1]).get("group") == "ready":
            assert after.get(key, 0) >= v, (key, v, after.get(key))
    assert requests_of(after, "ready", "/api/ready") == requests_of(before, "ready", "/api/ready") + 1
    assert value(after, "lumira_worker_restarts_total", group="ready") == \
        value(before, "lumira_worker_restarts_total", group="ready") + 1
    # The new worker's process figures are there, under the slot it took.
    starts = [v for (n, ls), v in after.items()
              if n == "lumira_process_start_time_seconds" and dict(ls)["group"] == "ready"]
    assert len(starts) == 2 and max(starts) > time.time() - 60, starts


def test_metrics_unusable_runtime_dir_serves_without_metrics(api):
    """A worker that cannot set up its scoreboard still serves (one warning each), and
    /api/metrics says the groups cannot be read; restored afterwards."""
    log = os.path.join(VAR, "log", "health.log")
    size = os.path.getsize(log)
    try:
        dev("restart", "health", "LUMIRA_RUNTIME_DIR=/nonexistent/lumira-metrics")
        wait_until(lambda: api.get("/api/health").status_code == 200, 20, what="health back")
        for _ in range(4):
            assert api.get("/api/health").status_code == 200
        s = metrics_now(api)
        assert value(s, "lumira_scoreboard_up", group="health") == 0
        assert value(s, "lumira_scoreboard_up") == 0
        with open(log, errors="replace") as f:
            f.seek(size)
            warnings = [json.loads(l) for l in f if '"module":"metrics"' in l]
        assert len(warnings) == 2 and all("serving without metrics" in w["msg"] for w in warnings), \
            warnings
    finally:
        dev("restart", "health")
        wait_until(lambda: api.get("/api/health").status_code == 200, 20, what="health back")
    assert value(metrics_now(api), "lumira_scoreboard_up", group="health") == 1


# ---------------------------------------------------------------- dependencies and business

def test_metrics_checkout_moves_database_stripe_and_order_counters(api):
    before = metrics_now(api)
    order = new_order(api, 2)
    after = metrics_now(api)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("lumira_dependency_calls_total", group="orders", dependency="mongodb",
                 outcome="ok") >= 3
    assert delta("lumira_dependency_calls_total", group="orders", dependency="stripe",
                 outcome="ok") >= 2  # the customer, then the PaymentIntent
    assert delta("lumira_dependency_call_duration_seconds_count", group="orders",
                 dependency="stripe") >= 2
    assert delta("lumira_orders_created_total", group="orders", level="2") == 1
    assert delta("lumira_orders_paid_total", group="orders") == 0
    assert delta("lumira_http_requests_total", group="orders",
                 route="/api/stripe/create-payment-intent", status="2xx") == 1
    assert order["status"] == "pending"


def test_metrics_stripe_failure_counted_as_error(api, standin):
    before = metrics_now(api)
    standin.fault("error", status=500)
    try:
        r = checkout(api, 3)
    finally:
        standin.reset()
    assert_error(r, 502, "PAYMENT_PROVIDER_ERROR")
    after = metrics_now(api)
    assert value(after, "lumira_dependency_calls_total", group="orders", dependency="stripe",
                 outcome="error") > value(before, "lumira_dependency_calls_total", group="orders",
                                          dependency="stripe", outcome="error")
    assert requests_of(after, "orders", "/api/stripe/create-payment-intent", "5xx") == \
        requests_of(before, "orders", "/api/stripe/create-payment-intent", "5xx") + 1


def test_metrics_database_unavailable_counted(api, database_stopped):
    before = metrics_now(api)
    r = checkout(api, 1)
    assert_error(r, 503, "DATABASE_UNAVAILABLE")
    after = metrics_now(api)
    assert value(after, "lumira_dependency_calls_total", group="orders", dependency="mongodb",
                 outcome="unavailable") > value(before, "lumira_dependency_calls_total",
                                                group="orders", dependency="mongodb",
                                                outcome="unavailable")


def test_metrics_free_order_counts_created_and_paid(api):
    before = metrics_now(api)
    paid_order(api)
    after = metrics_now(api)
    for name in ("lumira_orders_created_total", "lumira_orders_paid_total"):
        assert value(after, name, level="1") - value(before, name, level="1") == 1, name


def test_metrics_webhook_events_by_type_and_outcome(api):
    order = new_order(api, 4)
    before = metrics_now(api)
    body, _ = stripe_event(order["orderId"], order["amount"])
    assert post_webhook(api, body).status_code == 200
    assert post_webhook(api, body).status_code == 200  # the same event again
    r = post_webhook(api, body, signature="t=1,v1=" + "0" * 64)
    assert_error(r, 400, "INVALID_SIGNATURE")
    refund, _ = stripe_event(order["orderId"], order["amount"], type="charge.refunded")
    assert post_webhook(api, refund).status_code == 200
    other, _ = stripe_event(order["orderId"], order["amount"], type="customer.created")
    assert post_webhook(api, other).status_code == 200
    after = metrics_now(api)

    def delta(**labels):
        return (value(after, "lumira_webhook_events_total", group="orders", **labels) -
                value(before, "lumira_webhook_events_total", group="orders", **labels))

    assert delta(type="payment_intent.succeeded", outcome="applied") == 1
    assert delta(type="payment_intent.succeeded", outcome="duplicate") == 1
    assert delta(type="unknown", outcome="refused") == 1
    assert delta(type="charge.refunded", outcome="applied") == 1
    assert delta(type="other", outcome="ignored") == 1
    assert delta() == 5
    assert (value(after, "lumira_orders_paid_total", level="4") -
            value(before, "lumira_orders_paid_total", level="4")) == 1


def test_metrics_n8n_call_counted(api, n8n):
    me = create_expert(name="Metrics Expert")
    token = login(api, me)
    order = paid_order(api)
    before = metrics_now(api)
    r = api.post(PROCESS, json={"orderId": order["orderId"], "expertPrompt": "Write."},
                 headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    n8n.fault("error", status=500)
    try:
        order2 = paid_order(api)
        r2 = api.post(PROCESS, json={"orderId": order2["orderId"], "expertPrompt": "Write."},
                      headers={"Authorization": "Bearer " + token})
    finally:
        n8n.reset()
    assert r2.status_code >= 500, r2.text
    after = metrics_now(api)
    for outcome in ("ok", "error"):
        assert (value(after, "lumira_dependency_calls_total", group="orders", dependency="n8n",
                      outcome=outcome) -
                value(before, "lumira_dependency_calls_total", group="orders", dependency="n8n",
                      outcome=outcome)) == 1, outcome


# ---------------------------------------------------------------- who may read it

def from_address(source, path, headers=None):
    u = urlsplit(BASE)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_metrics_location_and_allow_list_are_generated():
    nginx = os.path.join(VAR, "nginx")
    with open(os.path.join(nginx, "groups", "health.conf")) as f:
        conf = f.read()
    loc = conf[conf.index("location = /api/metrics {"):]
    loc = loc[:loc.index("}")]
    allow = os.path.join(nginx, "lumira-metrics-allow.conf")
    assert "include %s;" % allow in loc
    assert loc.index("include %s;" % allow) < loc.index("deny all;")
    with open(allow) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    assert lines == ["allow 127.0.0.1;", "allow ::1;"]


def test_metrics_refused_from_an_address_not_listed(api):
    before = metrics_now(api)
    source = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                               random.randint(1, 254))
    for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "127.0.0.1"}):
        status, h, body = from_address(source, METRICS, headers)
        assert status == 403, (headers, status, body)
        assert h["Content-Type"].startswith("application/json")
        b = json.loads(body)
        assert b["code"] == "FORBIDDEN" and b["requestId"] == h["X-Request-Id"], b
    # The rest of the API answers that address as usual.
    status, _, _ = from_address(source, "/api/health")
    assert status == 200
    # The refused requests never reached lumira-health.
    after = metrics_now(api)
    assert requests_of(after, "health", "/api/metrics") == \
        requests_of(before, "health", "/api/metrics") + 1
    status, h, body = from_address("127.0.0.1", METRICS)
    assert status == 200 and h["Content-Type"] == CONTENT_TYPE


# ---------------------------------------------------------------- a real Prometheus

def free_port(preferred):
    for port in [preferred] + list(range(preferred + 1, preferred + 50)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port near %d" % preferred)


def test_metrics_scraped_by_a_real_prometheus(api):
    u = urlsplit(BASE)
    # A port derived from the stack's own (LUMIRA_PORT_OFFSET moves both).
    port = free_port(u.port + 9)
    work = tempfile.mkdtemp(prefix="prometheus-", dir=VAR)
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: lumira\n    metrics_path: /api/metrics\n"
                "    static_configs:\n      - targets: ['%s:%d']\n" % (u.hostname, u.port))
    out = open(os.path.join(work, "prometheus.out"), "w")
    proc = subprocess.Popen(
        ["/usr/bin/prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(work, "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    q = "http://127.0.0.1:%d/api/v1/query" % port
    try:
        def query(expr):
            try:
                r = requests.get(q, params={"query": expr}, timeout=5)
            except requests.ConnectionError:
                return None
            if r.status_code != 200:
                return None
            res = r.json()["data"]["result"]
            return float(res[0]["value"][1]) if res else None

        wait_until(lambda: query('up{job="lumira"}') == 1.0, 60, interval=0.5,
                   what="Prometheus to scrape the stack")
        first = query('sum(lumira_http_requests_total{group="health",route="/api/health"})') or 0
        for _ in range(25):
            assert api.get("/api/health").status_code == 200
        wait_until(lambda: (query('sum(lumira_http_requests_total{group="health",'
                                  'route="/api/health"})') or 0) >= first + 25,
                   30, interval=0.5, what="the 25 requests in Prometheus")
        assert query('sum(lumira_workers{group="orders"})') == 2.0
        assert query('lumira_scoreboard_up{group="auth"}') == 1.0
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()
        shutil.rmtree(work, ignore_errors=True)
