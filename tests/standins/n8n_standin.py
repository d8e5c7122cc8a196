#!/usr/bin/python3
"""n8n stand-in for the local stack and the e2e tests.

Stands in for the n8n workflow that lumira-orders posts an order to (N8N_WEBHOOK_URL, from
POST /api/expert/process-order): any path takes a POST with a JSON body and answers 200
{"received": true}. Through a separate control port it can be told to misbehave, so tests can
prove how lumira-orders copes, and it tells what it received:

  POST /__standin/fault  {"mode": "ok"|"slow"|"error"|"hang"|"refuse",
                          "status": 500, "delay_ms": 3000}
      slow    wait delay_ms, then answer normally
      error   answer `status` (default 500) with an n8n-style error body
      hang    accept and never answer (until the mode changes)
      refuse  stop listening: connections are refused (and a request on a connection kept
              alive from before is closed without an answer)
  POST /__standin/reset  back to "ok", counters and the received list emptied
  GET  /__standin/state  {"mode", "status", "delay_ms", "requests", "received"}

"requests" counts every request on the webhook port; "received" lists the last 50 POSTs, oldest
first, as {"path", "headers": {"content-type": ...}, "json"} ("json" is null when the body is
not JSON). Posts are recorded in every mode, before the answer. Other methods answer 405.
Standard library only; binds where it is told (scripts/dev uses 127.0.0.1).
"""

import json
import sys
import threading
import time
import urllib.parse

import standin

KEEP = 50
MODES = ("ok", "slow", "error", "hang", "refuse")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0
        self.reset()

    def reset(self):
        with self.lock:
            self.mode = "ok"
            self.status = 500
            self.delay_ms = 0
            self.requests = 0
            self.received = []
            self.generation += 1

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "status": self.status, "delay_ms": self.delay_ms,
                    "requests": self.requests, "received": list(self.received)}


STATE = State()


class WebhookHandler(standin.ApiHandler):
    server_version = "n8n-standin"
    content_type = "application/json; charset=utf-8"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urllib.parse.urlsplit(self.path).path
        with STATE.lock:
            refused = STATE.mode == "refuse"
        if refused:
            # A connection kept alive from before the listener stopped (libcurl keeps them
            # warm): a server that is gone does not answer on it either, nor records anything.
            self.close_connection = True
            self.connection.close()
            return
        with STATE.lock:
            STATE.requests += 1
            if self.command == "POST":
                try:
                    doc = json.loads(body.decode("utf-8"))
                except ValueError:
                    doc = None
                STATE.received.append({"path": path,
                                       "headers": {"content-type": self.headers.get("Content-Type")},
                                       "json": doc})
                del STATE.received[:-KEEP]
            mode, status, delay_ms, gen = STATE.mode, STATE.status, STATE.delay_ms, STATE.generation
        if mode == "hang":
            self._hang(STATE, gen)
            return
        if mode == "slow":
            time.sleep(delay_ms / 1000.0)
        if self.command != "POST":
            self._send(405, {"code": 405, "message": "This webhook takes POST only"},
                       {"Allow": "POST"})
            return
        if mode == "error":
            self._send(status, {"code": status, "message": "stand-in fault: HTTP %d" % status})
            return
        self._send(200, {"received": True})

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


class ControlHandler(standin.ControlHandler):
    state = STATE
    listener = standin.Listener(WebhookHandler)
    modes = MODES
    objects_only = True

    def set_fault(self, mode, req):
        try:
            status = int(req.get("status", 500))
            delay_ms = int(req.get("delay_ms", 0))
        except (TypeError, ValueError):
            return "status and delay_ms must be integers"
        if not 100 <= status <= 599:
            return "status must be an HTTP status"
        with STATE.lock:
            STATE.mode = mode
            STATE.status = status
            STATE.delay_ms = delay_ms
            STATE.generation += 1
        return None


def main():
    args = standin.arguments(__doc__, "host:port of the n8n webhook stand-in").parse_args()
    return standin.run(args, ControlHandler,
                       "n8n stand-in on %s (control %s)" % (args.listen, args.control))


if __name__ == "__main__":
    sys.exit(main())
