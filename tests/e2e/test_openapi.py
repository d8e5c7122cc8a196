"""docs/openapi.yaml itself: complete against the programs' route tables and nginx's locations,
every operation answered, every $ref resolved, every schema valid JSON Schema 2020-12, every
error code the code can send named in the envelope's enum; and the check that holds the suite's
answers to it (openapi_check.py) refusing what it must refuse.

These read files only: the stack the suite runs against is not needed."""

import glob
import os
import re

import jsonschema
import pytest
from requests.structures import CaseInsensitiveDict

import openapi_check

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DOC = openapi_check.Document()
OPERATIONS = {(m.upper(), path) for path, item in DOC.doc["paths"].items()
              for m in item if m in openapi_check.METHODS}


def route_tables():
    """(method, path template) of every entry of every program's `routes[]`, `:name` as
    `{name}`."""
    routes = set()
    for path in glob.glob(os.path.join(ROOT, "cgi-bin", "*.c")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"struct lumira_route routes\[\] = \{(.*?)\n\};", text, re.S)
        if not m:
            continue
        for method, pattern in re.findall(r'\{"([A-Z]+)", "(/[^"]*)",', m.group(1)):
            routes.add((method, re.sub(r":([A-Za-z]+)", r"{\1}", pattern)))
    return routes


def nginx_locations(limited=False):
    """[(kind, path)] of the API's locations in etc/nginx/groups/*.conf.in ('=' exact, '' a
    prefix); with `limited`, (kind, path, whether the location has a limit_req)."""
    out = []
    for path in glob.glob(os.path.join(ROOT, "etc", "nginx", "groups", "*.conf.in")):
        with open(path, encoding="utf-8") as f:
            for kind, loc, block in re.findall(r"^location (=?) ?(/api/\S*) \{(.*?)^\}", f.read(),
                                               re.M | re.S):
                out.append((kind, loc, "limit_req " in block) if limited else (kind, loc))
    return out


def location_of(path):
    """nginx's location for a concrete path: the exact one, else the longest prefix."""
    locs = nginx_locations(limited=True)
    exact = [l for l in locs if l[0] == "=" and l[1] == path]
    if exact:
        return exact[0]
    prefixes = sorted((l for l in locs if l[0] == "" and path.startswith(l[1])),
                      key=lambda l: -len(l[1]))
    return prefixes[0] if prefixes else None


def test_every_route_of_every_program_is_documented():
    routes = route_tables()
    assert len(routes) >= 24, routes  # the parse found the tables
    assert sorted(routes - OPERATIONS) == []


def test_every_documented_operation_is_a_route():
    assert sorted(OPERATIONS - route_tables()) == []


def test_every_nginx_location_is_documented_and_every_path_reaches_a_program():
    locations = nginx_locations()
    assert len(locations) >= 10, locations
    paths = set(DOC.doc["paths"])
    for kind, loc in locations:
        if kind == "=":
            assert loc in paths, loc
        else:
            assert any(p.startswith(loc) for p in paths), loc
    for path in paths:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert any(concrete == loc if kind == "=" else concrete.startswith(loc)
                   for kind, loc in locations), path


def test_429_is_documented_where_nginx_rate_limits():
    for path, item in DOC.doc["paths"].items():
        loc = location_of(re.sub(r"\{[^}]+\}", "x", path))
        assert loc is not None, path
        for m, op in item.items():
            if m in openapi_check.METHODS:
                assert ("429" in op["responses"]) == loc[2], (m, path, loc)


def test_document_shape():
    d = DOC.doc
    assert d["openapi"].startswith("3.1.")
    assert d["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    ids = [op["operationId"] for item in d["paths"].values() for m, op in item.items()
           if m in openapi_check.METHODS]
    assert len(ids) == len(set(ids)) == len(OPERATIONS)
    assert set(d["components"]["securitySchemes"]) == {"bearer", "stripeSignature", "n8nSignature"}
    for path, item in d["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for m, op in item.items():
            if m not in openapi_check.METHODS:
                continue
            assert op.get("responses"), (m, path)
            for status, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5][0-9][0-9]|default", status), (m, path, status)
                assert DOC.deref(resp).get("description"), (m, path, status)
            declared = {DOC.deref(p)["name"] for p in op.get("parameters", [])
                        if DOC.deref(p)["in"] == "path"}
            assert declared == names, (m, path)
            for sec in op.get("security", []):
                assert set(sec) <= set(d["components"]["securitySchemes"]), (m, path)
            # An error answer of the programs is always the envelope: no 4xx/5xx without JSON.
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/json" in DOC.deref(resp).get("content", {}), (m, path, status)


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def test_every_ref_resolves():
    refs = [(p, n["$ref"]) for p, n in walk(DOC.doc) if isinstance(n, dict) and "$ref" in n]
    assert len(refs) > 100
    for where, ref in refs:
        assert ref.startswith("#/"), (where, ref)
        DOC.resolver.resolve(ref)  # raises RefResolutionError when it does not


def test_every_component_is_used():
    refs = {n["$ref"] for _, n in walk(DOC.doc) if isinstance(n, dict) and "$ref" in n}
    for kind in ("schemas", "responses", "parameters", "headers"):
        for name in DOC.doc["components"][kind]:
            assert "#/components/%s/%s" % (kind, name) in refs, (kind, name)


def schemas():
    """Every schema of the document: the components' and each inline one of a media type, a
    header or a parameter."""
    out = [("components/schemas/" + k, v) for k, v in DOC.doc["components"]["schemas"].items()]
    for where, node in walk(DOC.doc):
        if isinstance(node, dict) and isinstance(node.get("schema"), dict) and \
                where[-1:] != ("properties",):
            out.append(("/".join(map(str, where)) + "/schema", node["schema"]))
    return out


def test_every_schema_passes_the_2020_12_meta_schema():
    found = schemas()
    assert len(found) > 80, len(found)
    for where, schema in found:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            pytest.fail("%s: %s" % (where, e.message))


def codes_in_document():
    """Every error code a response of the document names (`code` const or enum)."""
    out = set()
    for _, node in walk(DOC.doc):
        if isinstance(node, dict) and isinstance(node.get("properties"), dict):
            code = node["properties"].get("code")
            if isinstance(code, dict):
                if "const" in code:
                    out.add(code["const"])
                out.update(code.get("enum", []))
    return out


def codes_in_code():
    """The error codes the programs and nginx can answer, read from their sources."""
    out = set()
    for path in glob.glob(os.path.join(ROOT, "src", "*.c")) + \
            glob.glob(os.path.join(ROOT, "cgi-bin", "*.c")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        out.update(re.findall(r'(?:lumira_resp_error(?:_with)?|order_error)\(\s*resp,\s*req,\s*'
                              r'[0-9]+,\s*"([A-Z][A-Z0-9_]+)"', text))
        out.update(re.findall(r'order_error\(\s*req,\s*resp,\s*[0-9]+,\s*"([A-Z][A-Z0-9_]+)"',
                              text))
        out.update(re.findall(r'"code", "([A-Z][A-Z0-9_]+)"', text))
        out.update(re.findall(r'\\"code\\":\\"([A-Z][A-Z0-9_]+)\\"', text))
    for path in glob.glob(os.path.join(ROOT, "etc", "nginx", "*.in")):
        with open(path, encoding="utf-8") as f:
            out.update(re.findall(r'"code":"([A-Z][A-Z0-9_]+)"', f.read()))
    return out


def test_every_error_code_is_in_the_envelope_enum_and_some_response():
    enum = set(DOC.doc["components"]["schemas"]["ErrorCode"]["enum"])
    in_code = codes_in_code()
    assert {"NOT_FOUND", "INVALID_JSON", "RATE_LIMITED", "ORDER_NOT_FOUND"} <= in_code, in_code
    assert sorted(in_code - enum) == []
    used = codes_in_document()
    assert sorted(used - enum) == []
    # A code in the enum that no response names is one the document forgot to place.
    assert sorted(enum - used) == []
    assert sorted(in_code - used) == []


# ---------------------------------------------------------------- the check can fail

def answer(status, body, content_type="application/json; charset=utf-8", **headers):
    h = CaseInsensitiveDict({"X-Request-Id": "t-1", "X-Response-Time": "1ms",
                             "Content-Type": content_type})
    for k, v in headers.items():
        h[k.replace("_", "-")] = v
    return h, body if isinstance(body, bytes) else body.encode()


HEALTH = ('{"status":"healthy","timestamp":"2026-01-01T00:00:00.000Z","uptime":1.5,'
          '"version":"1.0.0","commitSha":"abc","environment":"test","services":'
          '{"database":"connected","stripe":"configured"},"memory":{"used":1,"total":2,'
          '"percentage":50}}')


def test_check_accepts_a_conforming_answer():
    h, b = answer(200, HEALTH, Cache_Control="no-cache, no-store, must-revalidate")
    assert DOC.check("GET", "/api/health", 200, h, b) == []
    assert DOC.check("GET", "/api/health/", 200, h, b) == []
    assert DOC.check("HEAD", "/api/health", 200, h, b"") == []


def test_check_refuses_a_schema_mismatch_with_its_pointer():
    h, b = answer(200, HEALTH.replace('"connected"', '"up"'),
                  Cache_Control="no-cache, no-store, must-revalidate")
    [p] = DOC.check("GET", "/api/health", 200, h, b)
    assert "GET /api/health -> 200" in p and "/services/database" in p, p


def test_check_refuses_an_undocumented_status_path_or_member():
    h, b = answer(200, HEALTH, Cache_Control="no-cache, no-store, must-revalidate")
    [p] = DOC.check("GET", "/api/health", 418, h, b)
    assert "no response for this method, path and status" in p, p
    [p] = DOC.check("GET", "/api/nothing", 200, h, b)
    assert "GET /api/nothing -> 200" in p, p
    h, b = answer(200, HEALTH[:-1] + ',"extra":1}', Cache_Control="no-cache, no-store, must-revalidate")
    assert DOC.check("GET", "/api/health", 200, h, b)
    # An error envelope with a code the route does not answer.
    h, b = answer(401, '{"error":"x","code":"ORDER_NOT_FOUND","requestId":"t-1"}')
    assert DOC.check("GET", "/api/expert/verify", 401, h, b)
    h, b = answer(401, '{"error":"x","code":"NO_TOKEN","requestId":"t-1"}')
    assert DOC.check("GET", "/api/expert/verify", 401, h, b) == []


def test_check_refuses_a_missing_header_and_a_wrong_content_type():
    h, b = answer(200, HEALTH)  # no Cache-Control
    [p] = DOC.check("GET", "/api/health", 200, h, b)
    assert "header Cache-Control is missing" in p, p
    h, b = answer(200, HEALTH, "text/html", Cache_Control="no-cache, no-store, must-revalidate")
    [p] = DOC.check("GET", "/api/health", 200, h, b)
    assert "Content-Type 'text/html'" in p, p
    h, b = answer(405, '{"error":"x","code":"METHOD_NOT_ALLOWED","requestId":"t-1"}')
    [p] = DOC.check("DELETE", "/api/health", 405, h, b)
    assert "header Allow is missing" in p, p
    h["Allow"] = "GET, HEAD"
    assert DOC.check("DELETE", "/api/health", 405, h, b) == []


def test_check_matches_the_most_literal_template_and_nginx_normalisation():
    h, b = answer(400, '{"error":"x","code":"INVALID_ID","requestId":"t-1"}')
    assert DOC.check("GET", "/api/orders/stats", 400, h, b) == []  # /api/orders/{id}
    h, b = answer(404, '{"error":"x","code":"ORDER_NOT_FOUND","requestId":"t-1"}')
    assert DOC.check("GET", "/api/orders/number/LU260101001", 404, h, b) == []
    assert DOC.check("GET", "/api/orders/x/../number/LU260101001", 404, h, b) == []
    assert DOC.check("GET", "/api/orders//number/LU260101001", 404, h, b) == []
    # The metrics answer is text, not JSON: only its type is checked.
    h, b = answer(200, "# HELP x\n", "text/plain; version=0.0.4")
    assert DOC.check("GET", "/api/metrics", 200, h, b) == []
    h, b = answer(200, "{}", "application/json")
    assert DOC.check("GET", "/api/metrics", 200, h, b)


def test_a_key_given_twice_in_the_document_is_refused(tmp_path):
    """yaml.safe_load would keep the second of two keys silently (one response replacing
    another); the document is read with a loader that refuses it."""
    bad = tmp_path / "openapi.yaml"
    bad.write_text("openapi: 3.1.0\ncomponents:\n  responses:\n    A: {description: one}\n"
                   "    A: {description: two}\n")
    with pytest.raises(Exception, match="given twice"):
        openapi_check.Document(str(bad))
