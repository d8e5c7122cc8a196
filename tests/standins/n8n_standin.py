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

import argparse
import http.server
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

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
API = {"server": None, "thread": None, "addr": None}


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "n8n-standin"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs
        # add 40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet: the tests read state, not logs
        pass

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
            # Hold the connection until the mode changes or the client gives up.
            while True:
                time.sleep(0.05)
                with STATE.lock:
                    if STATE.generation != gen or STATE.mode != "hang":
                        break
            self.close_connection = True
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

    def _send(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_api():
    server = ThreadingServer(API["addr"], WebhookHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    API["server"], API["thread"] = server, thread


def stop_api():
    server = API["server"]
    if server is not None:
        server.shutdown()
        server.server_close()
        API["server"] = None


LISTEN_LOCK = threading.Lock()


def set_listening(on):
    with LISTEN_LOCK:
        if on and API["server"] is None:
            start_api()
        elif not on and API["server"] is not None:
            stop_api()


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/__standin/state":
            self._reply(200, STATE.snapshot())
        else:
            self._reply(404, {"error": "unknown control path"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b"{}"
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._reply(400, {"error": "body must be JSON"})
            return
        if not isinstance(req, dict):
            self._reply(400, {"error": "body must be a JSON object"})
            return
        if self.path == "/__standin/reset":
            STATE.reset()
            set_listening(True)
            self._reply(200, STATE.snapshot())
            return
        if self.path != "/__standin/fault":
            self._reply(404, {"error": "unknown control path"})
            return
        mode = req.get("mode", "ok")
        if mode not in MODES:
            self._reply(400, {"error": "unknown mode %r" % (mode,)})
            return
        try:
            status = int(req.get("status", 500))
            delay_ms = int(req.get("delay_ms", 0))
        except (TypeError, ValueError):
            self._reply(400, {"error": "status and delay_ms must be integers"})
            return
        if not 100 <= status <= 599:
            self._reply(400, {"error": "status must be an HTTP status"})
            return
        with STATE.lock:
            STATE.mode = mode
            STATE.status = status
            STATE.delay_ms = delay_ms
            STATE.generation += 1
        set_listening(mode != "refuse")
        self._reply(200, STATE.snapshot())


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="host:port of the n8n webhook stand-in")
    ap.add_argument("--control", required=True, help="host:port of the control endpoint")
    args = ap.parse_args()
    API["addr"] = parse_addr(args.listen)
    start_api()
    control = ThreadingServer(parse_addr(args.control), ControlHandler)
    print("n8n stand-in on %s (control %s)" % (args.listen, args.control), flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
