#!/usr/bin/python3
"""MongoDB wire-protocol fault stand-in: a TCP proxy between the programs and the database.

The local stacks run it between the programs (their MONGODB_URI points at --listen) and FerretDB
(--upstream). It relays whole wire messages both ways, counts the commands clients send (per
request counts for performance tests), and can be told to misbehave through a separate control
port, so that tests can prove how the programs cope with a database that refuses, hangs, drops
the connection in the middle of a command or answers slowly:

  POST /__standin/fault  {"mode": "pass"|"refuse"|"hang"|"drop"|"delay", options}
      pass    relay both ways (the default)
      refuse  stop listening (connections are refused) and close every open client connection
      hang    keep accepting, forward and answer nothing (on open connections too) until the
              mode changes; then the connections that hung are closed
      drop    "after_commands": N (>= 1, default 1), "after_bytes": B (optional),
              "repeat": false|true (default false). Counting counted commands from the moment
              the fault is set, across all connections, the N-th is not answered: without
              after_bytes its connection is closed without forwarding it; with after_bytes
              it is forwarded and only the first B bytes of its reply reach the client before
              the connection is closed. Without repeat only that one command is dropped (the
              mode stays "drop" with "fired": true); with repeat every counted command from the
              N-th on is dropped that way.
      delay   "delay_ms": D: each reply is held D ms before it is relayed
      An unknown mode or an option of the wrong type or range answers 400 {"error": ...}; a
      body without "mode" means "pass".
  POST /__standin/reset  back to "pass" (listening again), every counter to zero
  GET  /__standin/state  {"mode", "after_commands", "after_bytes", "repeat", "fired",
                          "delay_ms", "commands", "by_name": {"find": n, ...},
                          "by_app": {"lumira-auth": {"find": n, ...}, ...}, "handshakes",
                          "connections", "open", "dropped", "dropped_commands"}

Counting (since the last reset): every whole message a client sends is named by its command
(OP_MSG: the first key of its body section; OP_QUERY: the first key of its query, the driver's
legacy isMaster; OP_COMPRESSED: "compressed"; any other opcode: "opcode <n>") and counted in
"by_name". Handshake and authentication commands (hello, isMaster, ismaster, saslStart,
saslContinue, getnonce, authenticate, endSessions, and buildInfo/buildinfo before a
connection's first other command) count in "handshakes", never in "commands", and are never
dropped; every other one is a counted command ("commands"). Messages are counted when they
arrive, whatever the fault then does with them. "connections" counts client connections
accepted (with the database reached), "open" those open now, "dropped" the connections this
proxy closed because of a fault (drop, refuse, the end of a hang), "dropped_commands" the
commands a drop fault refused to forward (each closes its connection, unless the client or the
other side already had: then "dropped" does not count it again). "by_app" has the counted
commands again, by the application name the connection's handshake gave (client.application.name:
the programs send their own, "lumira-orders", and their probe threads "<program>-probe"), "?"
for a connection that gave none.

When the database cannot be reached, a client connection is accepted and closed at once, as a
dead database looks to a driver, and nothing is counted. A message shorter than its 16-byte
header or longer than 48 MiB closes its connection. Standard library only; binds where it is
told (scripts/dev uses 127.0.0.1).
"""

import socket
import struct
import sys
import threading
import time
import traceback

import standin

MODES = ("pass", "refuse", "hang", "drop", "delay")
HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
INT32 = struct.Struct("<i")
MAX_MESSAGE = 48 * 1024 * 1024
OP_QUERY, OP_COMPRESSED, OP_MSG = 2004, 2012, 2013
HANDSHAKE = frozenset(("hello", "isMaster", "ismaster", "saslStart", "saslContinue", "getnonce",
                       "authenticate", "endSessions"))
# Drivers ask for buildInfo while they set a connection up; later it is an ordinary command.
HANDSHAKE_FIRST = frozenset(("buildInfo", "buildinfo"))
UPSTREAM_CONNECT_S = 5.0
MAX_DELAY_MS = 600000


def log(fmt, *args):
    sys.stderr.write("%s mongo-proxy: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), fmt % args))
    sys.stderr.flush()


# ---------------------------------------------------------------- the wire protocol

def cstring(buf, pos):
    end = buf.index(b"\0", pos)
    return bytes(buf[pos:end]).decode("utf-8", "replace"), end + 1


def first_key(buf, pos, unwrap=False):
    """The first key of the BSON document at buf[pos:], or None when it is empty. With unwrap,
    a legacy {"$query": {...}} wrapper gives the first key of the document inside."""
    (size,) = INT32.unpack_from(buf, pos)
    if size < 5 or pos + size > len(buf) or buf[pos + 4] == 0:
        return None
    kind = buf[pos + 4]
    key, after = cstring(buf, pos + 5)
    if unwrap and kind == 3 and key in ("$query", "query"):
        return first_key(buf, after) or key
    return key


def app_name(msg):
    """The client.application.name of a handshake message, or None. A search for the field
    rather than a BSON parser: the document is the driver's own and small."""
    i = msg.find(b"application\x00")
    j = msg.find(b"\x02name\x00", i) if i >= 0 else -1
    if j < 0 or j + 10 > len(msg):
        return None
    (n,) = INT32.unpack_from(msg, j + 6)
    if n < 1 or j + 10 + n > len(msg):
        return None
    return bytes(msg[j + 10:j + 9 + n]).decode("utf-8", "replace")


def command_name(opcode, msg):
    """The name a client's message `msg` (header included) counts under."""
    try:
        if opcode == OP_MSG:
            (flags,) = struct.unpack_from("<I", msg, 16)
            end = len(msg) - 4 if flags & 1 else len(msg)  # checksumPresent: a CRC32 last
            pos = 20
            while pos < end:
                kind = msg[pos]
                pos += 1
                if kind == 0:
                    return first_key(msg, pos) or "unknown"
                if kind != 1:
                    break
                (size,) = INT32.unpack_from(msg, pos)  # size, identifier, documents
                if size < 4:
                    break
                pos += size
            return "unknown"
        if opcode == OP_QUERY:
            _, pos = cstring(msg, 20)  # flags, fullCollectionName
            return first_key(msg, pos + 8, unwrap=True) or "unknown"  # skip, return, query
        if opcode == OP_COMPRESSED:
            return "compressed"
        return "opcode %d" % opcode
    except (IndexError, ValueError, struct.error):
        return "unknown"


def recv_into(sock, view):
    """Fills view from sock; False when it closed first."""
    got, n = 0, len(view)
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return False
        got += k
    return True


def recv_message(sock, who):
    """(header fields, whole message) of the next message on sock; None when it closed or sent
    a length out of bounds."""
    header = bytearray(16)
    if not recv_into(sock, memoryview(header)):
        return None
    fields = HEADER.unpack(header)
    length = fields[0]
    if length < 16 or length > MAX_MESSAGE:
        log("%s sent a message of length %d: closing the connection", who, length)
        return None
    msg = bytearray(length)
    msg[:16] = header
    if not recv_into(sock, memoryview(msg)[16:]):
        return None
    return fields, msg


# ---------------------------------------------------------------- state

FORWARD, WITHHOLD, CLOSE = "forward", "withhold", "close"


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.conns = set()
        self.mode = "pass"
        self.upstream_down = False
        self.reset()

    def _clear(self):
        self.mode = "pass"
        self.after_commands = 1
        self.after_bytes = None
        self.repeat = False
        self.fired = False
        self.delay_ms = 0
        self.seen = 0  # counted commands since the fault was set

    def reset(self):
        with self.lock:
            hung = [c for c in self.conns if c.hung]
            if self.mode != "pass":
                log("reset (was %s)", self.mode)
            self._clear()
        for c in hung:
            c.close()
        with self.lock:
            self.commands = 0
            self.by_name = {}
            self.by_app = {}
            self.handshakes = 0
            self.connections = 0
            self.dropped = 0
            self.dropped_commands = 0

    def set_fault(self, mode, opts):
        with self.lock:
            self._clear()
            self.mode = mode
            for name, value in opts.items():
                setattr(self, name, value)
            if mode == "refuse":
                closing = list(self.conns)
            elif mode != "hang":
                closing = [c for c in self.conns if c.hung]
            else:
                closing = []
        shown = {"drop": ("after_commands", "after_bytes", "repeat"), "delay": ("delay_ms",)}
        log("fault %s%s", mode, "".join(" %s=%s" % (k, opts[k]) for k in shown.get(mode, ())))
        self.close_conns(closing)

    def close_conns(self, conns):
        """Closes conns because of a fault."""
        n = sum(1 for c in conns if c.close())
        if n:
            with self.lock:
                self.dropped += n

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "after_commands": self.after_commands,
                    "after_bytes": self.after_bytes, "repeat": self.repeat, "fired": self.fired,
                    "delay_ms": self.delay_ms, "commands": self.commands,
                    "by_name": dict(self.by_name),
                    "by_app": {a: dict(n) for a, n in self.by_app.items()},
                    "handshakes": self.handshakes,
                    "connections": self.connections, "open": len(self.conns),
                    "dropped": self.dropped, "dropped_commands": self.dropped_commands}

    def on_message(self, conn, name, request_id, app=None):
        """Counts a client's message (`app`: the application name a handshake gave); returns
        what to do with it."""
        with self.lock:
            self.by_name[name] = self.by_name.get(name, 0) + 1
            handshake = name in HANDSHAKE or (name in HANDSHAKE_FIRST and not conn.commanded)
            if handshake:
                self.handshakes += 1
                if app is not None:
                    conn.app = app
            else:
                conn.commanded = True
                self.commands += 1
                counts = self.by_app.setdefault(conn.app, {})
                counts[name] = counts.get(name, 0) + 1
            if self.mode == "hang":
                conn.hung = True
                return WITHHOLD
            if self.mode == "refuse":
                return CLOSE
            if self.mode == "drop" and not handshake:
                self.seen += 1
                if self.seen >= self.after_commands and (self.repeat or not self.fired):
                    self.fired = True
                    if self.after_bytes is None:
                        self.dropped_commands += 1
                        return CLOSE
                    conn.truncate = (request_id, self.after_bytes)
            return FORWARD

    def on_reply(self, conn, response_to):
        """(mode, delay_ms, bytes to cut the reply to or None) for a server's reply."""
        with self.lock:
            cut = None
            if conn.truncate is not None and conn.truncate[0] == response_to:
                cut = conn.truncate[1]
                conn.truncate = None
            if self.mode == "hang":
                conn.hung = True
            return self.mode, self.delay_ms, cut


STATE = State()
UPSTREAM = {"addr": None}


# ---------------------------------------------------------------- connections

class Conn:
    """One client connection and its connection to the database: the thread that reads the
    client (which connects upstream first) and the one that reads the database."""

    def __init__(self, client):
        self.client = client
        self.upstream = None
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.users = 1  # threads still using the sockets
        self.hung = False  # these three under STATE.lock
        self.truncate = None  # (requestID, bytes) of the reply to cut
        self.commanded = False
        self.app = "?"  # client.application.name from the handshake

    def close(self):
        """Shuts both sides down (the threads wake and leave); True when this call did it."""
        with self.lock:
            if self.closed.is_set():
                return False
            self.closed.set()
            socks = [s for s in (self.client, self.upstream) if s is not None]
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with STATE.lock:
            STATE.conns.discard(self)
        return True

    def _release(self):
        self.close()
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            for s in (self.client, self.upstream):
                if s is not None:
                    s.close()

    def _guard(self, fn):
        try:
            fn()
        except OSError:
            pass
        except Exception:  # a bug here must not leave the connection half open
            log("connection failed:\n%s", traceback.format_exc())
        finally:
            self._release()

    def start(self):
        with STATE.lock:
            STATE.conns.add(self)
        try:
            threading.Thread(target=self._guard, args=(self._client_side,), daemon=True).start()
        except BaseException:
            with STATE.lock:
                STATE.conns.discard(self)
            raise

    def _connect(self):
        try:
            up = socket.create_connection(UPSTREAM["addr"], timeout=UPSTREAM_CONNECT_S)
        except OSError as e:
            with STATE.lock:
                first, STATE.upstream_down = not STATE.upstream_down, True
            if first:
                log("database %s:%d unreachable (%s): closing client connections at once",
                    UPSTREAM["addr"][0], UPSTREAM["addr"][1], e)
            return False
        up.settimeout(None)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            if self.closed.is_set():
                up.close()
                return False
            self.upstream = up
            self.users += 1
        with STATE.lock:
            if STATE.upstream_down:
                log("database reachable again")
            STATE.upstream_down = False
            STATE.connections += 1
        return True

    def _client_side(self):
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._connect():
            return
        try:
            threading.Thread(target=self._guard, args=(self._server_side,), daemon=True).start()
        except BaseException:
            with self.lock:
                self.users -= 1  # the upstream side's thread never started
            raise
        while True:
            got = recv_message(self.client, "a client")
            if got is None:
                return
            (_, request_id, _, opcode), msg = got
            name = command_name(opcode, msg)
            app = app_name(msg) if name in HANDSHAKE else None
            action = STATE.on_message(self, name, request_id, app)
            if action == CLOSE:
                STATE.close_conns([self])
                return
            if action == FORWARD:
                self.upstream.sendall(msg)
            # WITHHOLD: keep reading, so that a client that gives up is seen to close

    def _server_side(self):
        while True:
            got = recv_message(self.upstream, "the database")
            if got is None:
                return
            (_, _, response_to, _), msg = got
            mode, delay_ms, cut = STATE.on_reply(self, response_to)
            if mode == "hang":
                self.closed.wait()  # a hung connection is closed when the mode changes
                return
            if mode == "delay" and delay_ms > 0 and self.closed.wait(delay_ms / 1000.0):
                return
            if cut is not None:
                self.client.sendall(memoryview(msg)[:cut])
                STATE.close_conns([self])
                return
            self.client.sendall(msg)


class Listener:
    """The database port: "refuse" stops it, a reset or another mode starts it again."""

    def __init__(self):
        self.addr = None  # (host, port), set by standin.run()
        self.sock = None
        self.thread = None
        self.lock = threading.Lock()

    def set_listening(self, on):
        with self.lock:
            if on and self.sock is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(self.addr)
                s.listen(128)
                self.sock = s
                self.thread = threading.Thread(target=self._accept, args=(s,), daemon=True)
                self.thread.start()
            elif not on and self.sock is not None:
                s, self.sock = self.sock, None
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes accept(); new connections are refused
                except OSError:
                    pass
                self.thread.join(5)
                s.close()
        if not on:  # and whatever was accepted meanwhile
            with STATE.lock:
                conns = list(STATE.conns)
            STATE.close_conns(conns)

    def _accept(self, s):
        while self.sock is s:
            try:
                c, _ = s.accept()
            except Exception as e:  # EMFILE and the like: wait, never leave
                if self.sock is not s:
                    return
                log("accept failed: %s", e)
                time.sleep(0.05)
                continue
            try:
                Conn(c).start()
            except Exception:
                log("cannot serve a connection:\n%s", traceback.format_exc())
                c.close()


# ---------------------------------------------------------------- control

class BadOption(ValueError):
    pass


def int_option(req, name, default, low, high, nullable=False):
    value = req.get(name, default)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadOption("%s must be an integer%s" % (name, " or null" if nullable else ""))
    if not low <= value <= high:
        raise BadOption("%s must be between %d and %d" % (name, low, high))
    return value


def fault_options(req):
    repeat = req.get("repeat", False)
    if not isinstance(repeat, bool):
        raise BadOption("repeat must be true or false")
    return {"after_commands": int_option(req, "after_commands", 1, 1, 2 ** 31 - 1),
            "after_bytes": int_option(req, "after_bytes", None, 0, MAX_MESSAGE, nullable=True),
            "repeat": repeat,
            "delay_ms": int_option(req, "delay_ms", 0, 0, MAX_DELAY_MS)}


class ControlHandler(standin.ControlHandler):
    state = STATE
    listener = Listener()
    modes = MODES
    default_mode = "pass"
    objects_only = True

    def set_fault(self, mode, req):
        try:
            opts = fault_options(req)
        except BadOption as e:
            return str(e)
        STATE.set_fault(mode, opts)
        return None


def main():
    ap = standin.arguments(__doc__, "host:port of the database port the programs use")
    ap.add_argument("--upstream", required=True, help="host:port of the database (FerretDB)")
    args = ap.parse_args()
    UPSTREAM["addr"] = standin.parse_addr(args.upstream)
    return standin.run(args, ControlHandler, "mongo proxy on %s (control %s, upstream %s)"
                       % (args.listen, args.control, args.upstream))


if __name__ == "__main__":
    sys.exit(main())
