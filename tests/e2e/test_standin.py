"""The stand-ins on their own, each a second instance on free ports (the stack's are left alone).

The Stripe stand-in's built-in answers (its fallback when stripe-mock cannot be installed): the
stack runs it in front of stripe-mock; here an instance without --upstream proves that they keep
the local stack usable without stripe-mock. The n8n stand-in's modes, which the orders tests use
to make n8n fail."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

STANDIN = os.path.join(os.path.dirname(__file__), "..", "standins", "stripe_standin.py")
N8N_STANDIN = os.path.join(os.path.dirname(__file__), "..", "standins", "n8n_standin.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_standin(script):
    """Starts `script` on two free ports; yields (base, control) once it answers, then stops it."""
    api, ctl = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, script, "--listen", "127.0.0.1:%d" % api,
                             "--control", "127.0.0.1:%d" % ctl],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, control = "http://127.0.0.1:%d" % api, "http://127.0.0.1:%d" % ctl
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(control + "/__standin/state", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "stand-in did not start"
                time.sleep(0.1)
        yield base, control
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def builtin():
    yield from run_standin(STANDIN)


AUTH = {"Authorization": "Bearer sk_test_123"}


def test_standin_balance_needs_a_three_part_key(builtin):
    base, _ = builtin
    assert requests.get(base + "/v1/balance", headers=AUTH, timeout=5).status_code == 200
    for auth in (None, "Bearer sk_test", "Bearer pk_test_123", "Basic abc"):
        headers = {"Authorization": auth} if auth else {}
        r = requests.get(base + "/v1/balance", headers=headers, timeout=5)
        assert r.status_code == 401, auth


def test_standin_payment_intent_is_idempotent(builtin):
    base, control = builtin
    form = {"amount": "1400", "currency": "eur", "metadata[orderId]": "abc"}
    h = dict(AUTH, **{"Idempotency-Key": "order-abc"})
    a = requests.post(base + "/v1/payment_intents", data=form, headers=h, timeout=5).json()
    b = requests.post(base + "/v1/payment_intents", data=form, headers=h, timeout=5).json()
    assert a["id"] == b["id"] and a["client_secret"].startswith(a["id"] + "_secret_")
    assert a["amount"] == 1400 and a["metadata"] == {"orderId": "abc"}
    last = requests.get(control + "/__standin/state", timeout=5).json()["last"]
    assert last["idempotencyKey"] == "order-abc"
    assert last["authorization"] == "Bearer"  # the scheme only, never the key


def test_standin_fault_switches(builtin):
    base, control = builtin
    requests.post(control + "/__standin/fault", json={"mode": "error", "status": 503}, timeout=5)
    assert requests.get(base + "/v1/balance", headers=AUTH, timeout=5).status_code == 503
    requests.post(control + "/__standin/fault", json={"mode": "refuse"}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/v1/balance", headers=AUTH, timeout=5)
    requests.post(control + "/__standin/reset", json={}, timeout=5)
    assert requests.get(base + "/v1/balance", headers=AUTH, timeout=5).status_code == 200
    r = requests.post(control + "/__standin/fault", json={"mode": "bogus"}, timeout=5)
    assert r.status_code == 400


# ---------------------------------------------------------------- the n8n stand-in

@pytest.fixture(scope="module")
def n8n_process():
    yield from run_standin(N8N_STANDIN)


@pytest.fixture
def n8n_alone(n8n_process):
    requests.post(n8n_process[1] + "/__standin/reset", json={}, timeout=5).raise_for_status()
    return n8n_process


def test_stack_runs_the_n8n_standin(n8n):
    # The stack's own, where N8N_WEBHOOK_URL points (conftest's fixture resets it).
    state = n8n.state()
    assert (state["mode"], state["requests"], state["received"]) == ("ok", 0, [])


def test_n8n_standin_records_posts(n8n_alone):
    base, control = n8n_alone
    order = {"orderId": "abc", "formData": {"firstName": "Zoé"}}
    r = requests.post(base + "/webhook/lumira", json=order, timeout=5)
    assert r.status_code == 200 and r.json() == {"received": True}
    requests.post(base + "/webhook/other", data=b"not json",
                  headers={"Content-Type": "text/plain", "Authorization": "Bearer x"}, timeout=5)
    assert requests.get(base + "/webhook/lumira", timeout=5).status_code == 405
    state = requests.get(control + "/__standin/state", timeout=5).json()
    assert state["mode"] == "ok" and state["requests"] == 3
    assert state["received"] == [
        {"path": "/webhook/lumira", "headers": {"content-type": "application/json"}, "json": order},
        {"path": "/webhook/other", "headers": {"content-type": "text/plain"}, "json": None},
    ]
    # The last 50 posts only.
    for i in range(60):
        requests.post(base + "/webhook/lumira", json={"i": i}, timeout=5)
    received = requests.get(control + "/__standin/state", timeout=5).json()["received"]
    assert [p["json"]["i"] for p in received] == list(range(10, 60))


def test_n8n_standin_error_and_reset(n8n_alone):
    base, control = n8n_alone
    r = requests.post(control + "/__standin/fault", json={"mode": "error", "status": 503}, timeout=5)
    assert r.json()["mode"] == "error"
    r = requests.post(base + "/webhook/lumira", json={"orderId": "abc"}, timeout=5)
    assert r.status_code == 503
    requests.post(control + "/__standin/fault", json={"mode": "error"}, timeout=5)
    assert requests.post(base + "/webhook/lumira", json={}, timeout=5).status_code == 500
    # A failed post is still recorded: the program did send it.
    assert len(requests.get(control + "/__standin/state", timeout=5).json()["received"]) == 2
    state = requests.post(control + "/__standin/reset", json={}, timeout=5).json()
    assert (state["mode"], state["requests"], state["received"]) == ("ok", 0, [])
    assert requests.post(base + "/webhook/lumira", json={}, timeout=5).status_code == 200
    for bad in ({"mode": "bogus"}, {"mode": "error", "status": "x"}, {"mode": "error", "status": 99}):
        assert requests.post(control + "/__standin/fault", json=bad, timeout=5).status_code == 400


def test_n8n_standin_hangs_until_the_mode_changes(n8n_alone):
    base, control = n8n_alone
    requests.post(control + "/__standin/fault", json={"mode": "hang"}, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(base + "/webhook/lumira", json={"orderId": "abc"}, timeout=1)
    assert time.monotonic() - t0 >= 0.9
    requests.post(control + "/__standin/fault", json={"mode": "ok"}, timeout=5)
    assert requests.post(base + "/webhook/lumira", json={}, timeout=5).status_code == 200


def test_n8n_standin_refuses_connections(n8n_alone):
    base, control = n8n_alone
    requests.post(control + "/__standin/fault", json={"mode": "refuse"}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.post(base + "/webhook/lumira", json={}, timeout=5)
    requests.post(control + "/__standin/reset", json={}, timeout=5)
    assert requests.post(base + "/webhook/lumira", json={}, timeout=5).status_code == 200
