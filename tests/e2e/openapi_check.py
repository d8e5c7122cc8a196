"""Holds every answer the e2e suite receives to docs/openapi.yaml.

install(base) wraps requests' lowest common level (requests.adapters.HTTPAdapter.send, through
which every requests call goes, Session or not): each answer from `base` (nginx) is checked
against the document, and what does not conform is recorded; conftest.py fails the test during
which it was received (take()). check_raw() does the same for the answers that tests read off a
socket themselves.

An answer conforms when some response the document gives for it accepts it:
- the operation of (method, path): the path matched against the document's path templates
  (after nginx's normalisation: percent-decoding, merged slashes, dot segments, one trailing
  slash), the template with the most literal segments winning; HEAD is answered as GET;
- its response for the status, else its `default` response;
- or one of the answers outside the operations (`x-lumira-outside-operations`): those of every
  request, plus those of an unknown path, of an unknown method on a known path, of the
  preflight (OPTIONS) or of the methods nginx refuses itself.
A response accepts the answer when its required headers are there and match their schemas, and
the answer's Content-Type is one of the response's media types (compared without parameters
when no exact match) and, for JSON, the body validates against that media type's schema (JSON
Schema 2020-12, $refs resolved within the document). A response without content accepts only
an empty body. HEAD answers have no body to validate; their Content-Type is still checked.
No response for the status anywhere: the answer is undocumented, which is a failure too.
"""

import json
import os
import posixpath
import re
import threading
from urllib.parse import unquote, urlsplit

import jsonschema
import yaml
from jsonschema.exceptions import best_match

DOC_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def json_pointer(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def base_type(content_type):
    return content_type.split(";", 1)[0].strip().lower()


def is_json_type(content_type):
    t = base_type(content_type)
    return t == "application/json" or t.endswith("+json")


def normalise_path(path):
    """The path as nginx hands it to a program and the program routes it (without the query
    string, which raw request targets still carry)."""
    p = unquote(path.split("?", 1)[0])
    p = re.sub("/+", "/", p) or "/"
    # Dot segments resolved as nginx does; normpath also drops the one trailing slash that the
    # programs' router ignores.
    return posixpath.normpath(p)


def _leaves(errors):
    for e in errors:
        if e.context:
            yield from _leaves(e.context)
        else:
            yield e


def describe(errors):
    """jsonschema's best match, and the deepest failing member when that is another one (an
    unevaluatedProperties or oneOf error says little of what is wrong inside)."""
    def one(e):
        msg = e.message if len(e.message) <= 300 else e.message[:300] + "..."
        return "%s at %s (schema %s)" % (msg, json_pointer(e.absolute_path),
                                         json_pointer(e.absolute_schema_path))
    best = best_match(errors)
    leaves = [e for e in _leaves(errors) if e.validator != "unevaluatedProperties"]
    deepest = max(leaves, key=lambda e: len(e.absolute_path), default=None)
    text = one(best)
    if deepest is not None and deepest is not best and \
            len(deepest.absolute_path) > len(best.absolute_path):
        text += "; deepest: " + one(deepest)
    return text


class StrictLoader(yaml.SafeLoader):
    """YAML where a key given twice in one mapping is an error (safe_load keeps the last one
    silently: a second `OrderChanged:` among the responses once replaced the first)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, "key %r given twice" % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


class Document:
    def __init__(self, path=DOC_PATH):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.load(f, Loader=StrictLoader)
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self.format_checker = jsonschema.FormatChecker()
        self.templates = []
        for template, item in self.doc.get("paths", {}).items():
            parts = template.strip("/").split("/")
            rx = "^/" + "/".join("[^/]+" if re.fullmatch(r"\{[^}]+\}", s) else re.escape(s)
                                 for s in parts) + "$"
            literal = sum(1 for s in parts if not s.startswith("{"))
            self.templates.append((re.compile(rx), literal, template, item))
        self.outside = self.doc.get("x-lumira-outside-operations", {})

    # ------------------------------------------------------------ the document

    def deref(self, obj):
        """Follows $ref (of responses, headers, parameters) within the document."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise KeyError("only local $refs are used here, not %r" % ref)
            cur = self.doc
            for part in ref[2:].split("/"):
                cur = cur[part.replace("~1", "/").replace("~0", "~")]
            obj = cur
            seen += 1
            if seen > 20:
                raise KeyError("a $ref loop at %r" % ref)
        return obj

    def validator(self, schema):
        return jsonschema.Draft202012Validator(schema, resolver=self.resolver,
                                               format_checker=self.format_checker)

    def match(self, path):
        """[(template, path item)] of the templates that match `path`, most literal first."""
        found = [(lit, t, item) for rx, lit, t, item in self.templates if rx.match(path)]
        found.sort(key=lambda x: -x[0])
        return [(t, item) for _, t, item in found]

    def candidates(self, method, path, status):
        """[(label, response object)] the document has for this answer, and what matched
        (the operation's template or None)."""
        method = method.upper()
        op_method = "get" if method == "HEAD" else method.lower()
        status = str(status)
        out, template = [], None
        matched = self.match(path)
        with_method = [(t, item) for t, item in matched if op_method in item]
        if with_method:
            template, item = with_method[0]
            responses = item[op_method].get("responses", {})
            if status in responses:
                out.append(("%s %s %s" % (op_method.upper(), template, status), responses[status]))
            elif "default" in responses:
                out.append(("%s %s default" % (op_method.upper(), template), responses["default"]))
        elif matched:
            out += self._outside("unknown-method", status)
        else:
            out += self._outside("unknown-path", status)
        for name in ("preflight", "refused-methods"):
            if method in self.outside.get(name, {}).get("methods", []):
                out += self._outside(name, status)
        out += self._outside("every-request", status)
        return out, template

    def _outside(self, name, status):
        responses = self.outside.get(name, {}).get("responses", {})
        if status in responses:
            return [("x-lumira-outside-operations %s %s" % (name, status), responses[status])]
        return []

    # ------------------------------------------------------------ one answer

    def check(self, method, path, status, headers, body):
        """Problems of one answer (an empty list when it conforms). `headers` is
        case-insensitive (requests' CaseInsensitiveDict), `body` bytes."""
        npath = normalise_path(path)
        cands, _ = self.candidates(method, npath, status)
        what = "%s %s -> %s" % (method, path, status)
        if not cands:
            return ["%s: the document has no response for this method, path and status" % what]
        problems = []
        for label, response in cands:
            p = self.check_response(self.deref(response), method, headers, body)
            if not p:
                with _lock:
                    _seen.add(label)
                return []
            problems.append("as %s: %s" % (label, "; ".join(p)))
        return ["%s does not conform to docs/openapi.yaml: %s" % (what, " | ".join(problems))]

    def check_response(self, response, method, headers, body):
        problems = []
        for name, h in (response.get("headers") or {}).items():
            h = self.deref(h)
            value = headers.get(name)
            if value is None:
                if h.get("required"):
                    problems.append("header %s is missing" % name)
                continue
            if "schema" in h:
                err = best_match(self.validator(h["schema"]).iter_errors(value))
                if err is not None:
                    problems.append("header %s: %s" % (name, err.message))
        content = response.get("content") or {}
        ctype = headers.get("Content-Type")
        head = method.upper() == "HEAD"
        if not content:
            if body:
                problems.append("a body (%d bytes, %s) where the document has no content"
                                % (len(body), ctype))
            return problems
        if ctype is None:
            if head or not body:
                # No body and no type: acceptable only for HEAD (nothing to describe).
                if not head:
                    problems.append("no Content-Type and no body where the document has content")
                return problems
            problems.append("a body without Content-Type")
            return problems
        media = content.get(ctype)
        if media is None:
            media = next((m for k, m in content.items() if base_type(k) == base_type(ctype)), None)
        if media is None:
            problems.append("Content-Type %r is not one of %s" % (ctype, sorted(content)))
            return problems
        if head or not is_json_type(ctype):
            return problems
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            problems.append("the body is not JSON (%s): %r" % (e, body[:120]))
            return problems
        schema = media.get("schema")
        if schema is None:
            problems.append("the document gives no schema for %s" % ctype)
            return problems
        errors = list(self.validator(schema).iter_errors(doc))
        if errors:
            problems.append(describe(errors))
        return problems


# ---------------------------------------------------------------- the hook into requests

_lock = threading.Lock()
_problems = []
_seen = set()  # the labels of the responses that accepted an answer
_state = {"doc": None, "base": None, "orig": None, "checked": {"requests": 0, "raw": 0}}


def document():
    if _state["doc"] is None:
        _state["doc"] = Document()
    return _state["doc"]


def _ours(url):
    u, b = urlsplit(url), urlsplit(_state["base"])
    return (u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)) == \
        (b.scheme, b.hostname, b.port or (443 if b.scheme == "https" else 80))


def record(method, path, status, headers, body, kind="requests"):
    try:
        problems = document().check(method, path, status, headers, body)
    except Exception as e:  # a fault of the check itself must not pass unnoticed
        problems = ["%s %s -> %s: the OpenAPI check failed: %r" % (method, path, status, e)]
    with _lock:
        _state["checked"][kind] += 1
        _problems.extend(problems)


def install(base):
    """Checks every answer from `base` received through requests from now on."""
    import requests.adapters
    if _state["orig"] is not None:
        return
    document()  # a broken document fails at once, not on the first answer
    _state["base"] = base
    orig = requests.adapters.HTTPAdapter.send

    def send(self, request, **kw):
        resp = orig(self, request, **kw)
        if _ours(request.url) and not kw.get("stream"):
            record(request.method, urlsplit(request.url).path, resp.status_code, resp.headers,
                   resp.content)
        return resp

    _state["orig"] = orig
    requests.adapters.HTTPAdapter.send = send


def uninstall():
    import requests.adapters
    if _state["orig"] is not None:
        requests.adapters.HTTPAdapter.send = _state["orig"]
        _state["orig"] = None


def take():
    """The problems recorded since the last call."""
    with _lock:
        out = list(_problems)
        del _problems[:]
    return out


def checked():
    """{"requests": n, "raw": n}: the answers checked so far, by how they were received."""
    return dict(_state["checked"])


def coverage():
    """(seen, all): the operations' responses (`METHOD template status`) that accepted at least
    one answer so far, and all the document has."""
    d = document()
    every = {"%s %s %s" % (m.upper(), t, st) for t, item in d.doc["paths"].items()
             for m, op in item.items() if m in METHODS for st in op.get("responses", {})}
    with _lock:
        return sorted(every & _seen), sorted(every)


def check_raw(request_bytes, status, headers, body):
    """For an answer read off a socket: the request's first line gives method and path (a
    request line that does not parse is not checked: nginx answers it before any route). An
    answer that never came (status 0) is not checked."""
    if _state["orig"] is None or not status:
        return
    line = request_bytes.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split(b" ")
    if len(line) != 3 or not line[1].startswith(b"/"):
        return
    method, target = line[0].decode("latin-1"), line[1].decode("latin-1")
    record(method, urlsplit(target).path, status, headers, body, kind="raw")
