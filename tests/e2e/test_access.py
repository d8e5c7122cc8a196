"""The stored account decides, on every request (API.md "Expert authentication", issue 12 s. 2).

Every protected route of every program loads the token's expert by `sub`, refuses a deleted or
disabled account with 401 and takes the role from the stored account (403 when it no longer
allows the route), whatever role the token says. Each refusal writes nothing."""


import bson
import pytest

from conftest import (bearer, body_json, claims_for, create_expert, lumira_admin, login,
                      make_jwt, unique_email)
from orders_util import PROCESS, assert_error, order_doc, paid_order

REGISTER = "/api/expert/register"
DEEP = "/api/health/deep"

# Every route that needs a token, in every program: (method, path, body). {id} is an order
# of the test's own (paid, assigned to nobody); each request is one that would change or show
# it if the caller were let in.
TOKEN_ROUTES = [
    ("GET", "/api/expert/verify", None),
    ("GET", "/api/expert/profile", None),
    ("POST", REGISTER, "register"),
    ("GET", DEEP, None),
    ("GET", "/api/orders", None),
    ("GET", "/api/orders/stats/overview", None),
    ("GET", "/api/orders/number/{number}", None),
    ("GET", "/api/orders/{id}", None),
    ("PATCH", "/api/orders/{id}/status", {"status": "processing"}),
    ("PATCH", "/api/orders/{id}/expert-review", {"status": "approved", "notes": "in"}),
    ("PATCH", "/api/orders/{id}/content", {"generatedContent": {"reading": "in"}}),
    ("PATCH", "/api/orders/{id}/delivered", {}),
    ("GET", "/api/expert/orders/pending", None),
    ("GET", "/api/expert/orders/assigned", None),
    ("POST", "/api/expert/orders/{id}/assign", {}),
    ("POST", PROCESS, {"orderId": "{id}", "expertPrompt": "A prompt long enough to pass."}),
    ("GET", "/api/expert/stats", None),
]
ADMIN_ROUTES = [r for r in TOKEN_ROUTES if r[1] in (REGISTER, DEEP)]


def send(api, token, route, order, new_email):
    method, path, body = route
    path = path.format(id=order["orderId"], number=order["orderNumber"])
    if body == "register":
        body = {"email": new_email, "password": "secret-123", "name": "Never Made",
                "role": "admin"}
    elif isinstance(body, dict):
        body = {k: (v.format(id=order["orderId"]) if isinstance(v, str) else v)
                for k, v in body.items()}
    kw = {"headers": bearer(token)}
    if body is not None:
        kw["json"] = body
    return api.request(method, path, **kw)


def snapshot(mongo_db, order, expert_id):
    doc = order_doc(mongo_db, order["orderId"])
    acc = mongo_db.experts.find_one({"_id": bson.ObjectId(expert_id)})
    return doc, acc, mongo_db.order_assignments.count_documents(
        {"_id": bson.ObjectId(order["orderId"])})


def refused_everywhere(api, mongo_db, token, account_id, routes, status, code):
    """Sends every route in `routes` with `token`; each must be refused with `status`/`code`,
    and neither the order, the account, the assignments nor the experts may change."""
    order = paid_order(api)
    new_email = unique_email("never")
    before = snapshot(mongo_db, order, account_id)
    experts_before = mongo_db.experts.count_documents({})
    for route in routes:
        r = send(api, token, route, order, new_email)
        assert r.status_code == status, (route, r.text)
        assert_error(r, status, code)
    assert snapshot(mongo_db, order, account_id) == before
    assert mongo_db.experts.count_documents({}) == experts_before
    assert mongo_db.experts.find_one({"email": new_email}) is None


@pytest.fixture
def fresh_admin(api):
    a = create_expert(role="admin", name="Doomed Admin")
    a["token"] = login(api, a)
    # The token works everywhere before the account changes.
    assert api.get(DEEP, headers=bearer(a["token"])).status_code == 200
    return a


def test_disabled_admin_token_is_401_on_every_route(api, mongo_db, fresh_admin):
    assert lumira_admin("set-active", "--email", fresh_admin["email"],
                        "--active", "false").returncode == 0
    refused_everywhere(api, mongo_db, fresh_admin["token"], fresh_admin["id"], TOKEN_ROUTES,
                       401, "INVALID_TOKEN")


def test_deleted_admin_token_is_401_on_every_route(api, mongo_db, fresh_admin):
    mongo_db.experts.delete_one({"_id": bson.ObjectId(fresh_admin["id"])})
    refused_everywhere(api, mongo_db, fresh_admin["token"], fresh_admin["id"], TOKEN_ROUTES,
                       401, "INVALID_TOKEN")


def test_deleted_expert_token_is_401_on_every_route(api, mongo_db):
    e = create_expert(name="Deleted Expert")
    tok = login(api, e)
    mongo_db.experts.delete_one({"_id": bson.ObjectId(e["id"])})
    refused_everywhere(api, mongo_db, tok, e["id"], TOKEN_ROUTES, 401, "INVALID_TOKEN")


def test_demoted_admin_token_is_403_on_admin_routes(api, mongo_db, fresh_admin):
    mongo_db.experts.update_one({"_id": bson.ObjectId(fresh_admin["id"])},
                                {"$set": {"role": "expert"}})
    refused_everywhere(api, mongo_db, fresh_admin["token"], fresh_admin["id"], ADMIN_ROUTES,
                       403, "FORBIDDEN")
    # Still an expert: the expert routes answer, and show the stored role.
    r = api.get("/api/expert/verify", headers=bearer(fresh_admin["token"]))
    assert r.status_code == 200, r.text
    assert body_json(r)["expert"]["role"] == "expert"


def test_a_token_that_claims_admin_for_an_expert_is_403(api, mongo_db):
    """A token whose role says admin (signed with the real secret: only the account says who
    is admin) gets nowhere an expert cannot go."""
    e = create_expert(name="Claims Admin")
    forged = make_jwt(claims_for(e, role="admin"))
    refused_everywhere(api, mongo_db, forged, e["id"], ADMIN_ROUTES, 403, "FORBIDDEN")


def test_a_promoted_expert_is_admin_with_the_token_it_has(api, mongo_db, admin):
    e = create_expert(name="Promoted Expert")
    tok = login(api, e)
    assert_error(api.get(DEEP, headers=bearer(tok)), 403, "FORBIDDEN")
    mongo_db.experts.update_one({"_id": bson.ObjectId(e["id"])}, {"$set": {"role": "admin"}})
    assert api.get(DEEP, headers=bearer(tok)).status_code == 200
    email = unique_email("by-promoted")
    r = api.post(REGISTER, json={"email": email, "password": "secret-123", "name": "Made"},
                 headers=bearer(tok))
    assert r.status_code == 201, r.text
    assert mongo_db.experts.find_one({"email": email}) is not None


def test_a_disabled_admin_cannot_register_an_admin(api, mongo_db, fresh_admin):
    assert lumira_admin("set-active", "--email", fresh_admin["email"],
                        "--active", "false").returncode == 0
    email = unique_email("rogue")
    r = api.post(REGISTER, json={"email": email, "password": "secret-123", "name": "Rogue",
                                 "role": "admin"}, headers=bearer(fresh_admin["token"]))
    assert_error(r, 401, "INVALID_TOKEN")
    assert mongo_db.experts.find_one({"email": email}) is None


def test_account_check_database_down_is_503(api, fresh_admin, database_stopped):
    for path in ("/api/expert/verify", DEEP):
        assert_error(api.get(path, headers=bearer(fresh_admin["token"])), 503,
                     "DATABASE_UNAVAILABLE")
