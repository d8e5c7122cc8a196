#!/usr/bin/python3
"""Stripe stand-in for the local stack and the e2e tests.

Speaks the few Stripe endpoints Lumira calls. With --upstream it forwards every request to
Stripe's own stripe-mock (the real API shapes); without it, it answers them itself. Either
way it can be told to misbehave, through a separate control port, so tests can prove how our
programs cope:

  POST /__standin/fault  {"mode": "ok"|"slow"|"error"|"hang"|"reset"|"refuse",
                          "delay_ms": 3000, "status": 500}
      slow    wait delay_ms, then answer normally
      error   answer `status` (default 500) with a Stripe-style error body
      hang    accept and never answer (until the mode changes)
      reset   close the connection without an answer
      refuse  stop listening: connections are refused (and a request on a connection kept
              alive from before is closed without an answer)
  POST /__standin/reset  back to "ok", counters to zero
  GET  /__standin/state  {"mode", "delay_ms", "status", "requests", "byPath", "last"}

"last" describes the last request without its secrets: method, path, whether an
Authorization header came and its scheme, the Idempotency-Key and the form fields.
Standard library only; binds where it is told (scripts/dev uses 127.0.0.1).
"""

import http.client
import secrets
import sys
import threading
import time
import urllib.parse

import standin

MODES = ("ok", "slow", "error", "hang", "reset", "refuse")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.mode = "ok"
            self.delay_ms = 0
            self.status = 500
            self.requests = 0
            self.by_path = {}
            self.last = None
            self.generation = getattr(self, "generation", 0) + 1
            self.idem = {}

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "delay_ms": self.delay_ms, "status": self.status,
                    "requests": self.requests, "byPath": dict(self.by_path), "last": self.last}


STATE = State()
UPSTREAM = {"url": None}


def stripe_error(status, message, typ="api_error"):
    return status, {"error": {"message": message, "type": typ}}


def valid_key(auth):
    """Stripe keys here must look like sk_test_123: a Bearer token in exactly three parts."""
    if not auth or not auth.startswith("Bearer "):
        return False
    parts = auth[len("Bearer "):].split("_")
    return len(parts) == 3 and parts[0] in ("sk", "rk") and parts[1] in ("test", "live") and parts[2]


def builtin_answer(method, path, form, auth):
    """The endpoints Lumira uses, answered without stripe-mock."""
    if not valid_key(auth):
        return stripe_error(401, "Invalid API Key provided", "invalid_request_error")
    now = int(time.time())
    if method == "GET" and path == "/v1/balance":
        return 200, {"object": "balance", "livemode": False,
                     "available": [{"amount": 0, "currency": "eur"}],
                     "pending": [{"amount": 0, "currency": "eur"}]}
    if method == "POST" and path == "/v1/customers":
        return 200, {"id": "cus_" + secrets.token_hex(7), "object": "customer", "created": now,
                     "email": form.get("email"), "name": form.get("name"),
                     "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
    if method == "POST" and path == "/v1/payment_intents":
        try:
            amount = int(form.get("amount", ""))
        except ValueError:
            return stripe_error(400, "Missing required param: amount.", "invalid_request_error")
        pid = "pi_" + secrets.token_hex(12)
        return 200, {"id": pid, "object": "payment_intent", "amount": amount,
                     "currency": form.get("currency", "eur"), "customer": form.get("customer"),
                     "status": "requires_payment_method", "created": now,
                     "client_secret": pid + "_secret_" + secrets.token_hex(12),
                     "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
    return stripe_error(404, "Unrecognized request URL (%s: %s)." % (method, path),
                        "invalid_request_error")


class ApiHandler(standin.ApiHandler):
    server_version = "stripe-standin"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urllib.parse.urlsplit(self.path).path
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        auth = self.headers.get("Authorization")
        with STATE.lock:
            STATE.requests += 1
            STATE.by_path[path] = STATE.by_path.get(path, 0) + 1
            STATE.last = {"method": self.command, "path": path,
                          "authorization": auth.split(" ")[0] if auth else None,
                          "idempotencyKey": self.headers.get("Idempotency-Key"),
                          "form": form}
            mode, delay_ms, status, gen = STATE.mode, STATE.delay_ms, STATE.status, STATE.generation
        if mode == "hang":
            self._hang(STATE, gen)
            return
        if mode in ("reset", "refuse"):
            # "refuse" here: a connection kept alive from before the listener stopped (libcurl
            # keeps them warm). A server that is gone does not answer on it either.
            self.close_connection = True
            self.connection.close()
            return
        if mode == "slow":
            time.sleep(delay_ms / 1000.0)
        if mode == "error":
            self._send(*stripe_error(status, "stand-in fault: HTTP %d" % status))
            return
        if UPSTREAM["url"]:
            self._proxy(body)
            return
        idem = self.headers.get("Idempotency-Key")
        if idem and self.command == "POST":
            with STATE.lock:
                cached = STATE.idem.get((path, idem))
            if cached:
                self._send(*cached)
                return
        answer = builtin_answer(self.command, path, form, auth)
        if idem and self.command == "POST" and answer[0] == 200:
            with STATE.lock:
                STATE.idem[(path, idem)] = answer
        self._send(*answer)

    def _proxy(self, body):
        u = urllib.parse.urlsplit(UPSTREAM["url"])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length")}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            self._send(*stripe_error(502, "stand-in: upstream stripe-mock failed: %s" % e))
            return
        finally:
            conn.close()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status, obj):
        super()._send(status, obj, {"Request-Id": "req_" + secrets.token_hex(7)})

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle


class ControlHandler(standin.ControlHandler):
    state = STATE
    listener = standin.Listener(ApiHandler)
    modes = MODES

    def set_fault(self, mode, req):
        with STATE.lock:
            STATE.mode = mode
            STATE.delay_ms = int(req.get("delay_ms", STATE.delay_ms or 0))
            STATE.status = int(req.get("status", 500))
            STATE.generation += 1


def main():
    ap = standin.arguments(__doc__, "host:port of the Stripe API stand-in")
    ap.add_argument("--upstream", help="base URL of stripe-mock to forward to")
    args = ap.parse_args()
    UPSTREAM["url"] = args.upstream
    return standin.run(args, ControlHandler, "stripe stand-in on %s (control %s, upstream %s)"
                       % (args.listen, args.control, args.upstream or "none: built-in answers"))


if __name__ == "__main__":
    sys.exit(main())
