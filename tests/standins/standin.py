"""What the stand-ins share: their HTTP servers, the API port that the "refuse" mode stops, the
control port (GET /__standin/state, POST /__standin/reset and /__standin/fault) and the options
and main loop. stripe_standin.py, n8n_standin.py and mongo_proxy.py import it from their own
directory (the database proxy brings its own listener: it relays TCP, not HTTP).
Standard library only.
"""

import argparse
import http.server
import json
import socket
import socketserver
import threading
import time


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1, no request log, JSON answers."""
    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, fmt, *args):  # quiet: the tests read state, not logs
        pass

    def _send(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class ApiHandler(QuietHandler):
    """The base of a stand-in's API handler."""

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs
        # add 40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _hang(self, state, gen):
        """Holds the connection until the mode changes or the client gives up."""
        while True:
            time.sleep(0.05)
            with state.lock:
                if state.generation != gen or state.mode != "hang":
                    break
        self.close_connection = True


class Listener:
    """The API port: the "refuse" mode stops it, a reset or another mode starts it again."""

    def __init__(self, handler):
        self.handler = handler
        self.addr = None  # (host, port), set by run()
        self.server = None
        self.lock = threading.Lock()

    def set_listening(self, on):
        with self.lock:
            if on and self.server is None:
                self.server = ThreadingServer(self.addr, self.handler)
                threading.Thread(target=self.server.serve_forever, daemon=True).start()
            elif not on and self.server is not None:
                self.server.shutdown()
                self.server.server_close()
                self.server = None


class ControlHandler(QuietHandler):
    """The control port. A stand-in subclasses it and sets:

    state         its State: lock, reset() and snapshot()
    listener      its Listener
    modes         the modes /__standin/fault takes
    default_mode  the mode of a fault request that names none ("ok" unless set)
    objects_only  whether a JSON body that is not an object is refused (400)
    set_fault()   applies a fault request whose mode is known
    """
    state = None
    listener = None
    modes = ()
    default_mode = "ok"
    objects_only = False

    def set_fault(self, mode, req):
        """Records the fault; returns an error message (answered 400) or None."""
        raise NotImplementedError

    def do_GET(self):
        if self.path == "/__standin/state":
            self._send(200, self.state.snapshot())
        else:
            self._send(404, {"error": "unknown control path"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b"{}"
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": "body must be JSON"})
            return
        if self.objects_only and not isinstance(req, dict):
            self._send(400, {"error": "body must be a JSON object"})
            return
        if self.path == "/__standin/reset":
            self.state.reset()
            self.listener.set_listening(True)
            self._send(200, self.state.snapshot())
            return
        if self.path != "/__standin/fault":
            self._send(404, {"error": "unknown control path"})
            return
        mode = req.get("mode", self.default_mode)
        if mode not in self.modes:
            self._send(400, {"error": "unknown mode %r" % (mode,)})
            return
        error = self.set_fault(mode, req)
        if error:
            self._send(400, {"error": error})
            return
        self.listener.set_listening(mode != "refuse")
        self._send(200, self.state.snapshot())


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def arguments(doc, listen_help):
    """The options of every stand-in; the caller may add its own before parse_args()."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--listen", required=True, help=listen_help)
    ap.add_argument("--control", required=True, help="host:port of the control endpoint")
    return ap


def run(args, control_handler, banner):
    """Starts the API port on --listen and serves the control port on --control until
    interrupted."""
    control_handler.listener.addr = parse_addr(args.listen)
    control_handler.listener.set_listening(True)
    control = ThreadingServer(parse_addr(args.control), control_handler)
    print(banner, flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
