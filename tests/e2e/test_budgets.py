"""Database commands per request, exactly (docs/BENCHMARKS.md "Database commands per route").

Each case sends one request through nginx after a warm-up and counts, with the database proxy
between the programs and the database (tests/standins/mongo_proxy.py), the commands it cost by
name, from the program that serves the route (the application name of its connections: a
health or readiness probe is "<program>-probe", and what another program does meanwhile is not
this route's); handshakes (hello, saslStart, ...) are not commands. The budget is the minimum the
contract needs: a change that adds a command fails here and must say why in
docs/BENCHMARKS.md."""

import pytest

from conftest import (bearer, checkout, create_expert, login, program_env, stripe_event,
                      unique_email)
from orders_util import new_order, paid_order, patch, post_callback, post_webhook


@pytest.fixture(scope="module")
def people(api):
    expert = create_expert(name="Budget Expert")
    admin = create_expert(role="admin", name="Budget Admin")
    return {"expert": expert, "token": login(api, expert), "admin_token": login(api, admin)}


def counted(dbproxy, send, app="lumira-orders"):
    """The commands `send()` cost `app`, by name, and its answer."""
    dbproxy.reset()
    r = send()
    state = dbproxy.state()
    assert sum(sum(n.values()) for n in state["by_app"].values()) == state["commands"], state
    return state["by_app"].get(app, {}), r


def check(dbproxy, send, budget, app, status=200):
    for _ in range(3):
        send()  # warm, both workers of the group likely: connections made, indexes done
    by_name, r = counted(dbproxy, send, app)
    assert r.status_code == status, r.text
    assert by_name == budget, (by_name, budget)


# ---------------------------------------------------------------- reads

def test_budget_verify(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/expert/verify", headers=bearer(people["token"])),
          {"find": 1}, "lumira-auth")


def test_budget_profile(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/expert/profile", headers=bearer(people["token"])),
          {"find": 1}, "lumira-auth")


def test_budget_login(api, dbproxy, people):
    e = people["expert"]
    check(dbproxy, lambda: api.post("/api/expert/login",
                                    json={"email": e["email"], "password": e["password"]}),
          {"find": 1, "update": 1}, "lumira-auth")


def test_budget_ready(api, dbproxy):
    """The readiness check is its probe's ping (the test stack runs with READY_CACHE_MS=0)."""
    check(dbproxy, lambda: api.get("/api/ready"), {"ping": 1}, "lumira-ready-probe")


def test_budget_ready_cached(api, dbproxy):
    """With READY_CACHE_MS (1000 by default), a worker's answers within that time reuse its
    last check: no command at all."""
    with program_env("ready", "READY_CACHE_MS=60000", workers=1):
        check(dbproxy, lambda: api.get("/api/ready"), {}, "lumira-ready-probe")


def test_budget_deep_health(api, dbproxy, people):
    """The admin's account (by _id: the stored role decides), its own ping and four counts (the
    probe's ping every 5 s is lumira-health-probe's)."""
    check(dbproxy, lambda: api.get("/api/health/deep", headers=bearer(people["admin_token"])),
          {"find": 1, "ping": 1, "aggregate": 4}, "lumira-health")


def test_budget_register(api, dbproxy, people):
    """The admin's account by _id, then the insert (its unique index refuses a taken address)."""
    body = lambda: {"email": unique_email("budget-reg"), "password": "secret-123", "name": "B"}
    check(dbproxy, lambda: api.post("/api/expert/register", json=body(),
                                    headers=bearer(people["admin_token"])),
          {"find": 1, "insert": 1}, "lumira-auth", status=201)


def test_budget_order_by_id(api, dbproxy, people):
    o = new_order(api, 2)
    check(dbproxy, lambda: api.get("/api/orders/" + o["orderId"], headers=bearer(people["token"])),
          {"find": 2}, "lumira-orders")


def test_budget_orders_list(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/orders?limit=20", headers=bearer(people["token"])),
          {"find": 2, "aggregate": 1}, "lumira-orders")


def test_budget_order_by_number(api, dbproxy):
    o = new_order(api, 2)
    check(dbproxy, lambda: api.get("/api/orders/number/%s?email=%s" % (o["orderNumber"],
                                                                        o["email"])),
          {"find": 1}, "lumira-orders")


def test_budget_stats_overview(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/orders/stats/overview",
                                   headers=bearer(people["admin_token"])),
          {"find": 1, "aggregate": 11}, "lumira-orders")


def test_budget_desk_pending(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/expert/orders/pending", headers=bearer(people["token"])),
          {"find": 2, "aggregate": 1}, "lumira-orders")


def test_budget_desk_assigned(api, dbproxy, people):
    check(dbproxy, lambda: api.get("/api/expert/orders/assigned", headers=bearer(people["token"])),
          {"find": 2, "aggregate": 1}, "lumira-orders")


def test_budget_desk_order(api, dbproxy, people):
    o = paid_order(api)
    check(dbproxy, lambda: api.get("/api/expert/orders/" + o["orderId"],
                                   headers=bearer(people["token"])),
          {"find": 2}, "lumira-orders")


def test_budget_expert_stats(api, dbproxy, people):
    # Six counts (the queue, paid, processing, completed; mine completed today, mine awaiting
    # review) and mine by status in one $group (in hand, completed ever).
    check(dbproxy, lambda: api.get("/api/expert/stats", headers=bearer(people["token"])),
          {"find": 1, "aggregate": 7}, "lumira-orders")


# ---------------------------------------------------------------- checkout

def test_budget_checkout_level_1_new_customer(api, dbproxy):
    check(dbproxy, lambda: checkout(api, 1),
          {"find": 1, "findAndModify": 1, "insert": 2, "update": 2, "aggregate": 1},
          "lumira-orders")


def test_budget_checkout_level_1_known_customer(api, dbproxy):
    email = unique_email("budget")
    check(dbproxy, lambda: checkout(api, 1, email=email),
          {"find": 1, "findAndModify": 1, "insert": 1, "update": 2, "aggregate": 1},
          "lumira-orders")


def test_budget_checkout_level_2_new_customer(api, dbproxy, standin):
    check(dbproxy, lambda: checkout(api, 2),
          {"find": 1, "findAndModify": 1, "insert": 2, "update": 2}, "lumira-orders")


def test_budget_checkout_level_2_known_customer(api, dbproxy, standin):
    email = unique_email("budget")
    check(dbproxy, lambda: checkout(api, 2, email=email),
          {"find": 1, "findAndModify": 1, "insert": 1, "update": 1}, "lumira-orders")


# ---------------------------------------------------------------- webhook

def test_budget_webhook_new_event(api, dbproxy):
    o = new_order(api, 2)
    body, _ = stripe_event(o["orderId"], o["amount"])
    by_name, r = counted(dbproxy, lambda: post_webhook(api, body))
    assert r.json() == {"received": True}, r.text
    # The payment lock of the order: an insert and a delete (docs/BENCHMARKS.md).
    assert by_name == {"find": 2, "update": 2, "aggregate": 1, "insert": 2, "delete": 1}, by_name
    by_name, r = counted(dbproxy, lambda: post_webhook(api, body))
    assert r.json() == {"received": True, "duplicate": True}, r.text
    assert by_name == {"find": 1}, by_name


# ---------------------------------------------------------------- orders API and desk

def test_budget_order_changes(api, dbproxy, people, n8n):
    """Each change of an order, in the order the desk makes them; the answer shows the order from
    the update's own reply."""
    token = people["token"]
    o = paid_order(api)
    steps = [
        ("assign", lambda: api.post("/api/expert/orders/%s/assign" % o["orderId"],
                                    headers=bearer(token)),
         {"find": 2, "insert": 1, "findAndModify": 1}),
        ("status", lambda: patch(api, "/api/orders/%s/status" % o["orderId"], token,
                                 {"status": "processing"}),
         {"find": 2, "findAndModify": 1}),
        ("content", lambda: patch(api, "/api/orders/%s/content" % o["orderId"], token,
                                  {"generatedContent": {"reading": "..."}}),
         {"find": 1, "findAndModify": 1}),
        ("review", lambda: patch(api, "/api/orders/%s/expert-review" % o["orderId"], token,
                                 {"status": "approved"}),
         {"find": 1, "findAndModify": 1}),
        # An admin's review reads the order first: the original's holder is kept (keep_holder).
        ("admin review", lambda: patch(api, "/api/orders/%s/expert-review" % o["orderId"],
                                       people["admin_token"], {"status": "approved"}),
         {"find": 2, "findAndModify": 1}),
        ("delivered", lambda: patch(api, "/api/orders/%s/delivered" % o["orderId"], token, {}),
         {"find": 2, "findAndModify": 1}),
    ]
    for name, send, budget in steps:
        by_name, r = counted(dbproxy, send)
        assert r.status_code == 200, (name, r.text)
        assert by_name == budget, (name, by_name, budget)


def test_budget_process_order_and_callback(api, dbproxy, people, n8n):
    o = paid_order(api)
    by_name, r = counted(dbproxy, lambda: api.post(
        "/api/expert/process-order", headers=bearer(people["token"]),
        json={"orderId": o["orderId"], "expertPrompt": "Three cards"}))
    assert r.status_code == 200, r.text
    assert by_name == {"find": 2, "insert": 1, "update": 2}, by_name
    by_name, r = counted(dbproxy, lambda: post_callback(
        api, {"orderId": o["orderId"], "success": True, "generatedContent": {"reading": "..."}}))
    assert r.status_code == 200, r.text
    # The nonce (insert into n8n_nonces under its unique _id), the order, the update.
    assert by_name == {"insert": 1, "find": 1, "update": 1}, by_name
