"""Shared fixtures of the black-box e2e suite.

The suite talks HTTP to nginx only (LUMIRA_TEST_BASE). It changes the stack only through
scripts/dev (restart a program with another environment, stop or start the database) and the
control ports of the Stripe and n8n stand-ins and of the database proxy the programs go through,
and looks into the database (straight, not through the proxy) only to set up or to prove that
nothing was lost. scripts/dev test starts a fresh stack and sets the variables below.
"""

import contextlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest
import requests

BASE = os.environ.get("LUMIRA_TEST_BASE", "http://127.0.0.1:18080")
MONGO_URI = os.environ.get("LUMIRA_TEST_MONGO_URI", "mongodb://127.0.0.1:27317/lumira")
STANDIN_CTL = os.environ.get("LUMIRA_TEST_STANDIN_CTL", "http://127.0.0.1:12124")
N8N_CTL = os.environ.get("LUMIRA_TEST_N8N_CTL", "http://127.0.0.1:12126")
DBPROXY_CTL = os.environ.get("LUMIRA_TEST_DBPROXY_CTL", "http://127.0.0.1:12127")
DEV = os.environ.get("LUMIRA_TEST_DEV", os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "dev"))
VAR = os.environ.get("LUMIRA_TEST_VAR", os.path.join(os.path.dirname(__file__), "..", "..", "var", "test"))
# The secrets of the test stack, to prove they never show up in any output.
STRIPE_KEY = "sk_test_123"


def dev(*args, check=True, workers=None):
    env = dict(os.environ, LUMIRA_STACK="test")
    if workers is not None:
        env["LUMIRA_WORKERS"] = str(workers)  # scripts/dev's workers per program
    return subprocess.run([DEV, *args], env=env, check=check, capture_output=True, text=True,
                          timeout=120)


def read_secrets():
    values = {"STRIPE_SECRET_KEY": STRIPE_KEY}
    path = os.path.join(VAR, "secrets.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, _, value = line.strip().partition("=")
                if value:
                    values[name] = value
    return values


class Api:
    """HTTP to nginx, one fresh connection per request (as a load balancer would)."""

    def __init__(self, base):
        self.base = base

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def timed_get(self, path, **kw):
        t0 = time.monotonic()
        r = self.get(path, **kw)
        return r, (time.monotonic() - t0) * 1000.0


class Standin:
    """The Stripe stand-in's control port."""

    def fault(self, mode, **kw):
        r = requests.post(STANDIN_CTL + "/__standin/fault", json=dict(mode=mode, **kw), timeout=10)
        r.raise_for_status()
        return r.json()

    def reset(self):
        requests.post(STANDIN_CTL + "/__standin/reset", json={}, timeout=10).raise_for_status()

    def state(self):
        return requests.get(STANDIN_CTL + "/__standin/state", timeout=10).json()


class N8n:
    """The n8n stand-in's control port (tests/standins/n8n_standin.py): the workflow that
    lumira-orders posts orders to (N8N_WEBHOOK_URL)."""

    def fault(self, mode, **kw):
        """mode: ok, slow (delay_ms), error (status, default 500), hang, refuse."""
        r = requests.post(N8N_CTL + "/__standin/fault", json=dict(mode=mode, **kw), timeout=10)
        r.raise_for_status()
        return r.json()

    def reset(self):
        requests.post(N8N_CTL + "/__standin/reset", json={}, timeout=10).raise_for_status()

    def state(self):
        """{"mode", "status", "delay_ms", "requests", "received": [{"path", "headers":
        {"content-type"}, "json"}, ...] (the last 50 posts, oldest first)}"""
        return requests.get(N8N_CTL + "/__standin/state", timeout=10).json()

    def received(self):
        return self.state()["received"]


class DbProxy:
    """The control port of a database fault proxy (tests/standins/mongo_proxy.py); by default
    the stack's, between the programs and FerretDB."""

    def __init__(self, ctl=DBPROXY_CTL):
        self.ctl = ctl

    def fault(self, mode, **kw):
        """mode: pass; refuse; hang; drop (after_commands=N, default 1; after_bytes=B: forward
        the N-th command and let only B bytes of its reply through; repeat=True: every counted
        command from the N-th on); delay (delay_ms). Returns the state."""
        r = requests.post(self.ctl + "/__standin/fault", json=dict(mode=mode, **kw), timeout=10)
        r.raise_for_status()
        return r.json()

    def reset(self):
        """Back to pass (listening again), every counter zero. Returns the state."""
        r = requests.post(self.ctl + "/__standin/reset", json={}, timeout=10)
        r.raise_for_status()
        return r.json()

    def state(self):
        """{"mode", "after_commands", "after_bytes", "repeat", "fired", "delay_ms", "commands",
        "by_name": {"find": n, ...}, "handshakes", "connections", "open", "dropped",
        "dropped_commands"}"""
        r = requests.get(self.ctl + "/__standin/state", timeout=10)
        r.raise_for_status()
        return r.json()

    def commands(self):
        """The counted commands since the last reset: everything but the handshake and
        authentication commands (hello, isMaster, saslStart, ...)."""
        return self.state()["commands"]


@pytest.fixture(scope="session")
def api():
    return Api(BASE)


@pytest.fixture
def standin():
    s = Standin()
    s.reset()
    yield s
    s.reset()


@pytest.fixture
def n8n():
    s = N8n()
    s.reset()
    yield s
    s.reset()


@pytest.fixture
def dbproxy():
    """The stack's database proxy, reset (pass, counters zero) before and after the test."""
    p = DbProxy()
    p.reset()
    yield p
    p.reset()


def wait_until(fn, timeout=20.0, interval=0.2, what="condition"):
    """Polls fn() until it returns a true value; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


def wait_status(api, path, status, timeout=20.0):
    """Polls GET `path` until it answers `status`; returns that response."""
    box = []

    def probe():
        r = api.get(path)
        if r.status_code == status:
            box.append(r)
            return True
        return False

    wait_until(probe, timeout, what="GET %s -> %d" % (path, status))
    return box[0]


def wait_ready(api, timeout=30.0):
    # After the database comes back, a single-threaded driver may skip it for ~5 s (DESIGN.md).
    wait_until(lambda: api.get("/api/ready").status_code == 200, timeout, what="/api/ready 200")


@contextlib.contextmanager
def program_env(group, *changes, workers=None):
    """Runs the body with program `group` restarted with its environment changed
    (NAME=VALUE or -NAME), and with `workers` workers when given; restores the stack's own
    environment (and worker count) afterwards."""
    dev("restart", group, *changes, workers=workers)
    try:
        yield
    finally:
        dev("restart", group)


@pytest.fixture
def database_stopped(api):
    """Stops the database for the test; starts it again and waits for readiness afterwards."""
    dev("db-stop")
    try:
        yield
    finally:
        dev("db-start")
        wait_ready(api)


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never answers: a database that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self.stopped = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def mongo_port():
    return int(MONGO_URI.rsplit(":", 1)[1].split("/")[0])


def body_json(r):
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return json.loads(r.text)


# ---------------------------------------------------------------- experts and tokens

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
# The operator's CLI and the environment file it reads (the installed-stack test points these
# at the installed binary and its environment file).
ADMIN_BIN = os.environ.get("LUMIRA_TEST_ADMIN", os.path.join(ROOT, "var", "build", "cgi-bin", "lumira-admin"))
ENV_FILE = os.environ.get("LUMIRA_TEST_ENV_FILE", os.path.join(VAR, "lumira.env"))


def lumira_admin(*args, password=None):
    """Runs lumira-admin with a bare environment: its settings come from ENV_FILE only."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return subprocess.run([ADMIN_BIN, "--env-file", ENV_FILE, *args], env=env,
                          input=(password + "\n") if password is not None else "",
                          capture_output=True, text=True, timeout=60)


def unique_email(tag="expert"):
    return "%s-%s@example.com" % (tag, os.urandom(6).hex())


def create_expert(role="expert", name="Test Expert", password=None, email=None):
    """Makes an expert with lumira-admin; returns {"email", "password", "name", "role", "id"}."""
    email = email or unique_email(role)
    password = password or "pw-" + os.urandom(8).hex()
    r = lumira_admin("create-expert", "--email", email, "--name", name, "--role", role,
                     password=password)
    assert r.returncode == 0, r.stderr
    ident = r.stdout.strip().rsplit("id ", 1)[1].rstrip(")")
    return {"email": email, "password": password, "name": name, "role": role, "id": ident}


def login(api, expert):
    r = api.post("/api/expert/login", json={"email": expert["email"], "password": expert["password"]})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, secret=None, header=None, alg="sha256"):
    """A JWT signed like ours (or with `alg` as the HMAC digest), for hostile cases."""
    import hashlib
    import hmac
    secret = secret if secret is not None else read_secrets()["JWT_SECRET"]
    header = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing.encode(), getattr(hashlib, alg)).digest()
    return signing + "." + b64url(sig)


def claims_for(expert, **over):
    now = int(time.time())
    c = {"sub": expert["id"], "email": expert["email"], "name": expert["name"],
         "role": expert["role"], "iat": now, "exp": now + 3600, "iss": "lumira"}
    c.update(over)
    return c


@pytest.fixture(scope="session")
def admin():
    return create_expert(role="admin", name="Test Admin")


@pytest.fixture(scope="session")
def admin_token(api, admin):
    return login(api, admin)


@pytest.fixture
def mongo_db():
    import pymongo
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()
    finally:
        client.close()


# ---------------------------------------------------------------- processes

def supervisor_pid(group):
    with open(os.path.join(VAR, "run", group + ".pid")) as f:
        return int(f.read())


def workers(group):
    pid = supervisor_pid(group)
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return sorted(int(p) for p in f.read().split())


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for our purpose: it no longer serves.
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ")[1].startswith("Z")


# ---------------------------------------------------------------- sanitizer build

# Where the workers of a sanitizer build of the stack write their reports (scripts/dev sets it
# for the ASan/UBSan run of the suite): lumira-<group>.<pid>, one file per process that found
# something.
SANITIZER_DIR = os.environ.get("LUMIRA_TEST_SANITIZER_DIR") or None


def sanitizer_reports():
    """{path: size} of every report so far."""
    if SANITIZER_DIR is None or not os.path.isdir(SANITIZER_DIR):
        return {}
    out = {}
    for name in os.listdir(SANITIZER_DIR):
        path = os.path.join(SANITIZER_DIR, name)
        if name.startswith("lumira-") and os.path.isfile(path):
            out[path] = os.path.getsize(path)
    return out


@pytest.fixture(autouse=True)
def no_sanitizer_report(request):
    """Under a sanitizer build, fails the test during which a worker wrote a report, naming the
    program, its pid and the report's first lines (the whole report stays in the file)."""
    if SANITIZER_DIR is None:
        yield
        return
    before = sanitizer_reports()
    yield
    # A worker that halts writes its report before it exits; give one that is halting now a
    # moment to finish writing.
    after = sanitizer_reports()
    new = [p for p, size in after.items() if size != before.get(p)]
    if not new:
        return
    time.sleep(0.5)
    lines = []
    for path in sorted(new):
        prog, _, pid = os.path.basename(path).rpartition(".")
        with open(path, errors="replace") as f:
            text = f.read()
        keep = [l for l in text.splitlines() if "ERROR" in l or "SUMMARY" in l or "runtime error" in l]
        lines.append("%s (pid %s), %s:\n  %s" % (prog, pid, path, "\n  ".join(keep[:4] or text.splitlines()[:4])))
    pytest.fail("sanitizer report during %s from %s" % (request.node.nodeid, "; ".join(lines)),
                pytrace=False)


# ---------------------------------------------------------------- the OpenAPI document

@pytest.fixture(scope="session", autouse=True)
def openapi_installed():
    """Every answer from nginx that reaches the suite through requests is held to
    docs/openapi.yaml (tests/e2e/openapi_check.py)."""
    import openapi_check
    openapi_check.install(BASE)
    yield openapi_check
    openapi_check.uninstall()
    left = openapi_check.take()
    if left:
        pytest.fail("answers not as docs/openapi.yaml says, after the last test:\n  " +
                    "\n  ".join(left), pytrace=False)


def pytest_terminal_summary(terminalreporter):
    import openapi_check
    n = openapi_check.checked()
    if n["requests"] or n["raw"]:
        seen, every = openapi_check.coverage()
        # Which documented answers no test received, for whoever adds tests.
        with contextlib.suppress(OSError):
            with open(os.path.join(VAR, "openapi-not-received.txt"), "w") as f:
                f.write("".join(r + "\n" for r in every if r not in seen))
        terminalreporter.write_line("docs/openapi.yaml: %d answers checked (%d through requests, "
                                    "%d read off a socket); %d of the %d responses of its "
                                    "operations received" % (n["requests"] + n["raw"],
                                                             n["requests"], n["raw"], len(seen),
                                                             len(every)))


@pytest.fixture(autouse=True)
def openapi_conformance(openapi_installed):
    """Fails the test during which (or during whose fixtures) an answer did not conform."""
    yield
    problems = openapi_installed.take()
    if problems:
        pytest.fail("%d answer(s) not as docs/openapi.yaml says:\n  %s"
                    % (len(problems), "\n  ".join(problems)), pytrace=False)


def pytest_configure(config):
    # `-m smoke`: the representative set that scripts/dev test-install also runs against the
    # installed stack (no scripts/dev restart or db-stop there).
    config.addinivalue_line("markers", "smoke: also run against the installed stack")


# ---------------------------------------------------------------- checkout, webhooks, n8n

def sign_stripe(body, secret=None, t=None, extra_v1=()):
    """The Stripe-Signature header value for raw `body` (bytes), as Stripe makes it:
    t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the webhook secret>. `t` defaults to
    now; each of `extra_v1` is sent as another v1= before the real one (as during a secret
    rotation, or to prove that any matching v1 counts)."""
    import hashlib
    import hmac
    secret = secret if secret is not None else read_secrets()["STRIPE_WEBHOOK_SECRET"]
    t = int(time.time()) if t is None else int(t)
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return ",".join(["t=%d" % t] + ["v1=" + v for v in extra_v1] + ["v1=" + mac])


def stored_payment_intent(order_id):
    """The paymentIntentId the checkout stored on order `order_id`, None when it has none (or
    the database cannot be read)."""
    import bson
    import pymongo
    if not bson.ObjectId.is_valid(order_id):
        return None
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000)
    try:
        doc = client.get_default_database().orders.find_one({"_id": bson.ObjectId(order_id)},
                                                            {"paymentIntentId": 1})
        return doc.get("paymentIntentId") if doc else None
    except pymongo.errors.PyMongoError:
        return None
    finally:
        client.close()


def stripe_event(order_id, amount, type="payment_intent.succeeded", event_id=None, currency="eur",
                 pi=None, metadata=True):
    """A Stripe event about the PaymentIntent of order `order_id` (its metadata.orderId), shaped
    like Stripe's (and like scripts/stripe-event's). The PaymentIntent is `pi`, by default the one
    the order has stored (a random one when it has none). For "charge.refunded", `amount` is the
    charge's amount_refunded (its refunds so far) and data.object is the charge, with the
    PaymentIntent in payment_intent. Returns (body bytes, event id)."""
    event_id = event_id or "evt_" + os.urandom(12).hex()
    if pi is None:
        pi = stored_payment_intent(order_id) or "pi_" + os.urandom(12).hex()
    succeeded = type == "payment_intent.succeeded"
    if type == "charge.refunded":
        obj = {"id": "ch_" + os.urandom(12).hex(), "object": "charge", "amount": amount,
               "amount_refunded": amount, "currency": currency, "payment_intent": pi,
               "refunded": True, "status": "succeeded"}
    else:
        obj = {"id": pi, "object": "payment_intent",
               "amount": amount, "amount_received": amount if succeeded else 0,
               "currency": currency,
               "status": {"payment_intent.payment_failed": "requires_payment_method",
                          "payment_intent.canceled": "canceled"}.get(type, "succeeded")}
    if metadata:
        obj["metadata"] = {"orderId": order_id}
    if type == "payment_intent.payment_failed":
        obj["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                     "message": "Your card was declined."}
    event = {"id": event_id, "object": "event", "type": type, "created": int(time.time()),
             "livemode": False, "data": {"object": obj}}
    return json.dumps(event, separators=(",", ":")).encode(), event_id


def sign_n8n(body, secret=None, form="hex", timestamp=None, nonce=None):
    """The X-N8N-Signature header value for raw `body` (bytes): HMAC-SHA256 keyed with
    N8N_CALLBACK_SECRET, as `form` "hex", "base64" or "sha256=" (prefixed hex). With `timestamp`
    and `nonce` (the X-Timestamp and X-Nonce values, as text), over "<timestamp>.<nonce>.<body>"
    (the replay-safe form of API.md); else over the body alone."""
    import base64
    import hashlib
    import hmac
    secret = secret if secret is not None else read_secrets()["N8N_CALLBACK_SECRET"]
    signed = body
    if timestamp is not None or nonce is not None:
        signed = ("%s.%s." % (timestamp, nonce)).encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256)
    if form == "hex":
        return mac.hexdigest()
    if form == "base64":
        return base64.b64encode(mac.digest()).decode()
    if form in ("sha256=", "sha256"):
        return "sha256=" + mac.hexdigest()
    raise ValueError("form must be hex, base64 or sha256=, not %r" % (form,))


def n8n_headers(body, secret=None, form="hex", timestamp=None, nonce=None):
    """The headers of a replay-safe n8n callback of raw `body`: X-Timestamp (now, Unix ms,
    unless given), X-Nonce (fresh unless given) and X-N8N-Signature over both and the body."""
    timestamp = str(int(time.time() * 1000)) if timestamp is None else str(timestamp)
    nonce = os.urandom(12).hex() if nonce is None else nonce
    return {"X-Timestamp": timestamp, "X-Nonce": nonce,
            "X-N8N-Signature": sign_n8n(body, secret, form, timestamp, nonce)}


def checkout(api, level, email=None, **form_over):
    """POSTs a valid create-payment-intent body for `level`; returns the response. formData has
    firstName, lastName and an e-mail unique to this call (unless `email` is given); each of
    `form_over` replaces or adds a formData member, and a None value removes it."""
    form = {"firstName": "Test", "lastName": "Customer",
            "email": email if email is not None else unique_email("customer")}
    for name, value in form_over.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    return api.post("/api/stripe/create-payment-intent", json={"level": level, "formData": form})
