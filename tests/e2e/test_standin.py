"""The stand-ins on their own, each a second instance on free ports (the stack's are left alone).

The Stripe stand-in's built-in answers (its fallback when stripe-mock cannot be installed): the
stack runs it in front of stripe-mock; here an instance without --upstream proves that they keep
the local stack usable without stripe-mock. The n8n stand-in's modes, which the orders tests use
to make n8n fail. The database fault proxy's modes and counters, with pymongo (and raw wire
messages) straight at a second proxy in front of the stack's FerretDB; and the stack's own proxy,
which the programs' MONGODB_URI points at."""

import os
import socket
import struct
import subprocess
import sys
import time

import bson
import pymongo
import pymongo.errors
import pytest
import requests

from conftest import DbProxy, bearer, create_expert, login, mongo_port

STANDIN = os.path.join(os.path.dirname(__file__), "..", "standins", "stripe_standin.py")
N8N_STANDIN = os.path.join(os.path.dirname(__file__), "..", "standins", "n8n_standin.py")
MONGO_PROXY = os.path.join(os.path.dirname(__file__), "..", "standins", "mongo_proxy.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_standin(script, *extra):
    """Starts `script` on two free ports (and `extra` options); yields (base, control) once it
    answers, then stops it."""
    api, ctl = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, script, "--listen", "127.0.0.1:%d" % api,
                             "--control", "127.0.0.1:%d" % ctl, *extra],
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


# ---------------------------------------------------------------- the database fault proxy

COLL = "dbproxy_selftest"


@pytest.fixture(scope="module")
def proxy_process():
    """A second proxy, in front of the stack's FerretDB: (its database port, DbProxy)."""
    proc = run_standin(MONGO_PROXY, "--upstream", "127.0.0.1:%d" % mongo_port())
    base, control = next(proc)
    try:
        yield int(base.rsplit(":", 1)[1]), DbProxy(control)
    finally:
        proc.close()
    direct = pymongo.MongoClient("127.0.0.1", mongo_port(), serverSelectionTimeoutMS=5000)
    try:
        direct.lumira.drop_collection(COLL)
    finally:
        direct.close()


@pytest.fixture
def proxy(proxy_process):
    proxy_process[1].reset()
    return proxy_process


@pytest.fixture
def clients():
    """Makes pymongo clients (straight at a port, short timeouts, no retries); closes them."""
    made = []

    def make(port, timeout_ms=2000):
        c = pymongo.MongoClient("127.0.0.1", port, directConnection=True,
                                serverSelectionTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms,
                                connectTimeoutMS=timeout_ms, retryWrites=False, retryReads=False)
        made.append(c)
        return c.lumira[COLL]

    yield make
    for c in made:
        c.close()


def op_msg(doc, request_id=1):
    """An OP_MSG with one body section."""
    body = struct.pack("<I", 0) + b"\x00" + bson.encode(doc)
    return struct.pack("<iiii", 16 + len(body), request_id, 0, 2013) + body


def read_all(sock):
    """Everything sock sends until it closes."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_message(sock):
    data = b""
    while len(data) < 4 or len(data) < struct.unpack("<i", data[:4])[0]:
        chunk = sock.recv(65536)
        assert chunk, "closed after %d bytes" % len(data)
        data += chunk
    return data


def test_dbproxy_relays_and_counts_commands_by_name(proxy, clients):
    port, ctl = proxy
    coll = clients(port)
    coll.insert_one({"k": "relay"})
    assert coll.find_one({"k": "relay"})["k"] == "relay"
    assert coll.find_one({"k": "nothing"}) is None
    state = ctl.state()
    assert state["mode"] == "pass"
    assert state["commands"] == 3 and ctl.commands() == 3
    by_name = state["by_name"]
    assert (by_name["insert"], by_name["find"]) == (1, 2)
    # The driver's handshakes (its monitor's and each pooled connection's) are not commands.
    shakes = sum(n for name, n in by_name.items() if name.lower() in ("hello", "ismaster"))
    assert shakes >= 1 and state["handshakes"] == shakes
    assert state["connections"] >= 1 and state["open"] >= 1 and state["dropped"] == 0


def test_dbproxy_refuse_closes_and_refuses_until_reset(proxy, clients):
    port, ctl = proxy
    warm = clients(port)
    warm.find_one()
    state = ctl.fault("refuse")
    assert state["mode"] == "refuse" and state["open"] == 0 and state["dropped"] >= 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(pymongo.errors.ConnectionFailure):
        warm.find_one()  # its connection was closed
    with pytest.raises(pymongo.errors.ConnectionFailure):
        clients(port, timeout_ms=500).find_one()
    ctl.reset()
    assert clients(port).find_one({"k": "nothing"}) is None


def test_dbproxy_hang_times_out_then_pass_works(proxy, clients):
    port, ctl = proxy
    warm = clients(port, timeout_ms=1000)
    warm.find_one()
    ctl.fault("hang")
    t0 = time.monotonic()
    with pytest.raises(pymongo.errors.NetworkTimeout):
        warm.find_one()  # an open connection: nothing is forwarded
    assert time.monotonic() - t0 >= 0.9
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        clients(port, timeout_ms=500).find_one()  # a new one: its handshake is never answered
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}))
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)
        assert ctl.state()["mode"] == "hang"
        # The mode changes: the connections that hung are closed, unanswered.
        assert ctl.fault("pass")["dropped"] >= 1
        s.settimeout(5)
        assert read_all(s) == b""
    assert clients(port).find_one({"k": "nothing"}) is None


def test_dbproxy_drop_breaks_exactly_the_next_command(proxy, clients):
    port, ctl = proxy
    state = ctl.fault("drop")
    assert (state["mode"], state["after_commands"], state["repeat"], state["fired"]) == \
        ("drop", 1, False, False)
    coll = clients(port)  # its handshake is never dropped
    dropped, passed = "dropped-" + os.urandom(6).hex(), "passed-" + os.urandom(6).hex()
    with pytest.raises(pymongo.errors.AutoReconnect):
        coll.insert_one({"k": dropped})
    coll.insert_one({"k": passed})
    assert coll.find_one({"k": passed}) is not None
    # Closed without being forwarded: the dropped insert never reached the database.
    assert coll.find_one({"k": dropped}) is None
    state = ctl.state()
    assert (state["mode"], state["fired"], state["dropped"]) == ("drop", True, 1)
    assert state["by_name"]["insert"] == 2


def test_dbproxy_drop_with_repeat_keeps_dropping(proxy, clients):
    port, ctl = proxy
    coll = clients(port)
    coll.find_one()
    ctl.fault("drop", after_commands=2, repeat=True)
    assert coll.find_one({"k": "nothing"}) is None  # the first since the fault passes
    for _ in range(3):
        with pytest.raises(pymongo.errors.AutoReconnect):
            coll.find_one()
    state = ctl.state()
    # Each of the three was refused (a connection closed for each, unless the client had closed
    # it first: "dropped" may then count fewer; it once read 2 under the asan run's timing).
    assert state["fired"] is True and state["dropped_commands"] == 3, state
    assert 1 <= state["dropped"] <= 3, state
    ctl.fault("pass")
    assert coll.find_one({"k": "nothing"}) is None


def test_dbproxy_drop_after_bytes_cuts_the_reply(proxy, clients):
    port, ctl = proxy
    coll = clients(port)
    ctl.fault("drop", after_bytes=20)
    forwarded = "forwarded-" + os.urandom(6).hex()
    with pytest.raises(pymongo.errors.AutoReconnect):
        coll.insert_one({"k": forwarded})
    # The command was forwarded (and done): only its answer was cut.
    assert coll.find_one({"k": forwarded}) is not None
    assert ctl.state()["dropped"] == 1
    # On the wire: exactly the first after_bytes bytes of the reply, then the end.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, 7))
        whole = read_message(s)
        ctl.fault("drop", after_bytes=21)
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, 8))
        cut = read_all(s)
    assert len(whole) > 21 and len(cut) == 21
    assert cut[8:12] == struct.pack("<i", 8)  # responseTo: the dropped ping's reply


def test_dbproxy_delay_holds_each_reply(proxy, clients):
    port, ctl = proxy
    coll = clients(port)
    coll.find_one()
    assert ctl.fault("delay", delay_ms=300)["delay_ms"] == 300
    t0 = time.monotonic()
    assert coll.find_one({"k": "nothing"}) is None
    assert time.monotonic() - t0 >= 0.3
    ctl.fault("pass")
    took = []
    for _ in range(3):  # the best of three: the machine may be busy
        t0 = time.monotonic()
        coll.find_one({"k": "nothing"})
        took.append(time.monotonic() - t0)
    assert min(took) < 0.3, took


def test_dbproxy_rejects_bad_control_requests(proxy):
    _, ctl = proxy
    for bad in ({"mode": "bogus"}, {"mode": "drop", "after_commands": 0},
                {"mode": "drop", "after_commands": "1"}, {"mode": "drop", "after_commands": 1.5},
                {"mode": "drop", "after_bytes": "10"}, {"mode": "drop", "after_bytes": -1},
                {"mode": "drop", "repeat": "yes"}, {"mode": "delay", "delay_ms": -1},
                {"mode": "delay", "delay_ms": True}, ["drop"]):
        r = requests.post(ctl.ctl + "/__standin/fault", json=bad, timeout=5)
        assert r.status_code == 400 and "error" in r.json(), bad
    r = requests.post(ctl.ctl + "/__standin/fault", data=b"{not json", timeout=5)
    assert r.status_code == 400
    assert requests.get(ctl.ctl + "/__standin/other", timeout=5).status_code == 404
    assert ctl.state()["mode"] == "pass"  # nothing was applied


def test_dbproxy_reset_zeroes_every_counter(proxy, clients):
    port, ctl = proxy
    coll = clients(port)
    coll.find_one()
    ctl.fault("drop", after_commands=1, after_bytes=5, repeat=True)
    with pytest.raises(pymongo.errors.AutoReconnect):
        coll.find_one()
    assert ctl.state()["commands"] == 2
    state = ctl.reset()
    assert {k: v for k, v in state.items() if k != "open"} == {
        "mode": "pass", "after_commands": 1, "after_bytes": None, "repeat": False,
        "fired": False, "delay_ms": 0, "commands": 0, "by_name": {}, "by_app": {},
        "handshakes": 0, "connections": 0, "dropped": 0, "dropped_commands": 0}


def test_dbproxy_counts_by_application_name(proxy):
    """Commands are counted again under the application name each connection's handshake gave,
    "?" for a connection that gave none."""
    port, ctl = proxy
    named = pymongo.MongoClient("127.0.0.1", port, directConnection=True, appname="test-app-a",
                                serverSelectionTimeoutMS=2000, retryReads=False)
    other = pymongo.MongoClient("127.0.0.1", port, directConnection=True, appname="test-app-b",
                                serverSelectionTimeoutMS=2000, retryReads=False)
    try:
        named.lumira[COLL].find_one()
        named.lumira[COLL].find_one()
        other.lumira[COLL].count_documents({})
        state = ctl.state()
        assert state["by_app"]["test-app-a"] == {"find": 2}, state
        assert state["by_app"]["test-app-b"] == {"aggregate": 1}, state
        assert sum(sum(n.values()) for n in state["by_app"].values()) == state["commands"]
    finally:
        named.close()
        other.close()


def test_dbproxy_closes_at_once_when_the_database_is_gone(clients):
    # A proxy whose database does not listen: accepted, then closed at once; nothing counted.
    proc = run_standin(MONGO_PROXY, "--upstream", "127.0.0.1:%d" % free_port())
    base, control = next(proc)
    try:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert read_all(s) == b""  # closed before the client said anything
        with pytest.raises(pymongo.errors.ConnectionFailure):
            clients(port, timeout_ms=500).find_one()
        state = DbProxy(control).state()
        assert (state["commands"], state["handshakes"], state["connections"]) == (0, 0, 0)
    finally:
        proc.close()


def test_dbproxy_closes_on_a_length_out_of_bounds(proxy):
    port, ctl = proxy
    for length in (8, 48 * 1024 * 1024 + 1):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(struct.pack("<iiii", length, 1, 0, 2013))
            assert read_all(s) == b""
    assert ctl.state()["commands"] == 0


def test_stack_programs_go_through_the_dbproxy(api, dbproxy):
    # The stack's proxy (conftest's fixture resets it): a program's request is counted there.
    expert = create_expert()
    token = login(api, expert)
    dbproxy.reset()
    r = api.get("/api/expert/verify", headers=bearer(token))
    assert r.status_code == 200, r.text
    state = dbproxy.state()
    assert state["commands"] >= 1 and state["by_name"].get("find", 0) >= 1, state
    assert dbproxy.reset()["commands"] == 0
