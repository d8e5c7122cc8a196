"""The Stripe stand-in on its own answers (its fallback when stripe-mock cannot be installed).

The stack runs it in front of stripe-mock; here a second instance without --upstream proves
that the built-in answers keep the local stack usable without stripe-mock."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

STANDIN = os.path.join(os.path.dirname(__file__), "..", "standins", "stripe_standin.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def builtin():
    api, ctl = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, STANDIN, "--listen", "127.0.0.1:%d" % api,
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
