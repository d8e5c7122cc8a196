"""Expert authentication through nginx (API.md "Expert authentication") and lumira-admin."""

import base64
import json
import os
import statistics
import subprocess
import time

import bcrypt
import pytest

from conftest import (ADMIN_BIN, VAR, b64url, bearer, body_json, claims_for, create_expert,
                      lumira_admin, login, make_jwt, program_env, read_secrets, unique_email,
                      wait_until)

LOGIN = "/api/expert/login"


def decode_payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    b = body_json(r)
    assert b["code"] == code, b
    assert b["requestId"] == r.headers["X-Request-Id"]
    return b


@pytest.fixture
def expert():
    return create_expert()


# ---------------------------------------------------------------- login

@pytest.mark.smoke
def test_login_valid_returns_a_token_for_the_expert(api, expert, mongo_db):
    r = api.post(LOGIN, json={"email": expert["email"], "password": expert["password"]})
    assert r.status_code == 200, r.text
    b = body_json(r)
    assert b["success"] is True
    assert b["expiresIn"] == "8h"
    assert b["expert"] == {"_id": expert["id"], "id": expert["id"], "email": expert["email"],
                           "name": expert["name"], "role": "expert", "lastLogin": None}
    header = json.loads(base64.urlsafe_b64decode(b["token"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    claims = decode_payload(b["token"])
    assert claims["sub"] == expert["id"] and claims["role"] == "expert"
    assert claims["iss"] == "lumira" and claims["exp"] - claims["iat"] == 8 * 3600
    doc = mongo_db.experts.find_one({"email": expert["email"]})
    assert doc["lastLogin"] is not None
    assert abs(doc["lastLogin"].timestamp() - time.time()) < 120


def test_login_shows_the_login_before_it(api, expert, mongo_db):
    """API.md (compat): `lastLogin` is the previous login, null on the first."""
    first = api.post(LOGIN, json={"email": expert["email"], "password": expert["password"]})
    assert first.status_code == 200, first.text
    assert first.json()["expert"]["lastLogin"] is None
    stored = mongo_db.experts.find_one({"email": expert["email"]})["lastLogin"]
    second = api.post(LOGIN, json={"email": expert["email"], "password": expert["password"]})
    assert second.status_code == 200, second.text
    shown = second.json()["expert"]["lastLogin"]
    assert shown == stored.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stored.microsecond // 1000)
    assert mongo_db.experts.find_one({"email": expert["email"]})["lastLogin"] >= stored
    r = api.get("/api/expert/verify", headers=bearer(second.json()["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["expert"]["_id"] == expert["id"]
    assert r.json()["expert"]["lastLogin"] is not None


def test_login_email_is_trimmed_and_case_insensitive(api, expert):
    r = api.post(LOGIN, json={"email": "  " + expert["email"].upper() + " ",
                              "password": expert["password"]})
    assert r.status_code == 200, r.text


def test_login_wrong_password_is_401(api, expert):
    b = assert_error(api.post(LOGIN, json={"email": expert["email"], "password": "wrong-password"}),
                     401, "INVALID_CREDENTIALS")
    assert "token" not in b


def test_login_unknown_email_is_the_same_401(api, expert):
    unknown = assert_error(api.post(LOGIN, json={"email": unique_email("nobody"),
                                                 "password": "whatever1"}),
                           401, "INVALID_CREDENTIALS")
    wrong = assert_error(api.post(LOGIN, json={"email": expert["email"], "password": "whatever1"}),
                         401, "INVALID_CREDENTIALS")
    assert unknown["error"] == wrong["error"]


def test_login_unknown_email_costs_a_password_hash(api, expert):
    """Without the dummy hash an unknown address answers ~50x faster than a wrong password.
    Medians of several tries, and a generous band: it proves the hash, not a speed."""
    def median_ms(email):
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            r = api.post(LOGIN, json={"email": email, "password": "not-the-password"})
            times.append((time.monotonic() - t0) * 1000)
            assert r.status_code == 401
        return statistics.median(times)

    unknown = median_ms(unique_email("nobody"))
    wrong = median_ms(expert["email"])
    assert unknown > wrong * 0.3, "unknown %.1f ms, wrong password %.1f ms" % (unknown, wrong)


def test_login_disabled_account_is_403(api, expert):
    r = lumira_admin("set-active", "--email", expert["email"], "--active", "false")
    assert r.returncode == 0, r.stderr
    assert_error(api.post(LOGIN, json={"email": expert["email"], "password": expert["password"]}),
                 403, "ACCOUNT_DISABLED")
    # A wrong password on a disabled account says nothing about the account.
    assert_error(api.post(LOGIN, json={"email": expert["email"], "password": "wrong-password"}),
                 401, "INVALID_CREDENTIALS")
    assert lumira_admin("set-active", "--email", expert["email"], "--active", "true").returncode == 0
    assert api.post(LOGIN, json={"email": expert["email"],
                                 "password": expert["password"]}).status_code == 200


def test_login_malformed_json_is_400(api):
    r = api.post(LOGIN, data=b'{"email": "a@b.co", "password": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_JSON")


def test_login_body_not_an_object_is_400(api):
    assert_error(api.post(LOGIN, json=["a@b.co", "secret12"]), 400, "INVALID_JSON")


def test_login_wrong_types_are_validation_errors(api):
    b = assert_error(api.post(LOGIN, json={"email": 12, "password": ["x"]}), 400, "VALIDATION_ERROR")
    assert {d["field"] for d in b["details"]} == {"email", "password"}


def test_login_missing_fields_are_validation_errors(api):
    b = assert_error(api.post(LOGIN, json={}), 400, "VALIDATION_ERROR")
    assert {d["field"] for d in b["details"]} == {"email", "password"}


def test_login_invalid_email_is_a_validation_error(api):
    b = assert_error(api.post(LOGIN, json={"email": "not-an-address", "password": "secret123"}),
                     400, "VALIDATION_ERROR")
    assert [d["field"] for d in b["details"]] == ["email"]


@pytest.mark.parametrize("pw", ["12345", "x" * 129])
def test_login_password_length_is_checked(api, pw):
    b = assert_error(api.post(LOGIN, json={"email": "a@example.com", "password": pw}),
                     400, "VALIDATION_ERROR")
    assert [d["field"] for d in b["details"]] == ["password"]


def test_login_without_json_content_type_is_415(api):
    r = api.post(LOGIN, data="email=a@b.co", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_login_get_is_405(api):
    r = api.get(LOGIN)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in r.headers["Allow"]


def test_login_accepts_a_2a_hash_made_by_another_bcrypt(api, mongo_db):
    """The original's bcryptjs wrote $2a$ hashes: python3-bcrypt makes one the same way."""
    email, pw = unique_email("legacy"), "legacy-password"
    hashed = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(10, prefix=b"2a")).decode()
    assert hashed.startswith("$2a$10$")
    mongo_db.experts.insert_one({"email": email, "password": hashed, "name": "Legacy",
                                 "role": "expert", "isActive": True})
    r = api.post(LOGIN, json={"email": email, "password": pw})
    assert r.status_code == 200, r.text
    assert_error(api.post(LOGIN, json={"email": email, "password": pw + "x"}), 401,
                 "INVALID_CREDENTIALS")


def test_login_legacy_document_without_is_active_counts_as_active(api, mongo_db):
    email, pw = unique_email("legacy"), "legacy-password"
    hashed = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4, prefix=b"2b")).decode()
    mongo_db.experts.insert_one({"email": email, "password": hashed, "name": "Legacy",
                                 "role": "expert"})
    assert api.post(LOGIN, json={"email": email, "password": pw}).status_code == 200


def test_login_with_a_plaintext_stored_password_is_refused(api, mongo_db):
    email = unique_email("plain")
    mongo_db.experts.insert_one({"email": email, "password": "plaintext1", "name": "Plain",
                                 "role": "expert", "isActive": True})
    assert_error(api.post(LOGIN, json={"email": email, "password": "plaintext1"}), 401,
                 "INVALID_CREDENTIALS")


# ---------------------------------------------------------------- tokens

VERIFY = "/api/expert/verify"


@pytest.mark.smoke
def test_verify_with_a_fresh_token(api, expert):
    r = api.get(VERIFY, headers=bearer(login(api, expert)))
    assert r.status_code == 200, r.text
    b = body_json(r)
    assert b["valid"] is True
    assert b["expert"]["id"] == expert["id"] and b["expert"]["email"] == expert["email"]


def test_profile_has_last_login_and_created_at(api, expert):
    r = api.get("/api/expert/profile", headers=bearer(login(api, expert)))
    assert r.status_code == 200, r.text
    e = body_json(r)["expert"]
    assert e["email"] == expert["email"] and e["role"] == "expert"
    assert e["lastLogin"].endswith("Z") and e["createdAt"].endswith("Z")
    assert "password" not in e


def test_verify_without_authorization_is_no_token(api):
    assert_error(api.get(VERIFY), 401, "NO_TOKEN")


@pytest.mark.parametrize("value", ["{tok}", "Token {tok}", "Basic {tok}", "Bearer", "Bearer  "])
def test_verify_without_bearer_scheme_is_no_token(api, expert, value):
    tok = make_jwt(claims_for(expert))
    assert_error(api.get(VERIFY, headers={"Authorization": value.format(tok=tok)}), 401, "NO_TOKEN")


def test_verify_own_token_made_here_is_accepted(api, expert):
    """The hostile cases below change one thing of this token, which is accepted."""
    assert api.get(VERIFY, headers=bearer(make_jwt(claims_for(expert)))).status_code == 200


def test_verify_tampered_payload_is_invalid(api, expert):
    tok = login(api, expert)
    h, p, s = tok.split(".")
    claims = decode_payload(tok)
    claims["role"] = "admin"
    forged = h + "." + b64url(json.dumps(claims).encode()) + "." + s
    assert_error(api.get(VERIFY, headers=bearer(forged)), 401, "INVALID_TOKEN")


def test_verify_tampered_signature_is_invalid(api, expert):
    tok = login(api, expert)
    h, p, s = tok.split(".")
    s = ("A" if s[0] != "A" else "B") + s[1:]
    assert_error(api.get(VERIFY, headers=bearer(h + "." + p + "." + s)), 401, "INVALID_TOKEN")


def test_verify_alg_none_is_invalid(api, expert):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims_for(expert)).encode())
    for tok in (header + "." + payload + ".", header + "." + payload):
        assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_alg_none_header_with_a_valid_hs256_signature_is_invalid(api, expert):
    tok = make_jwt(claims_for(expert), header={"alg": "none", "typ": "JWT"})
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_alg_hs512_is_invalid(api, expert):
    for alg in ("sha512", "sha256"):
        tok = make_jwt(claims_for(expert), header={"alg": "HS512", "typ": "JWT"}, alg=alg)
        assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_expired_token(api, expert):
    now = int(time.time())
    tok = make_jwt(claims_for(expert, iat=now - 7200, exp=now - 60))
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "TOKEN_EXPIRED")


def test_verify_wrong_issuer_is_invalid(api, expert):
    tok = make_jwt(claims_for(expert, iss="someone-else"))
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_token_signed_with_another_secret_is_invalid(api, expert):
    tok = make_jwt(claims_for(expert), secret="another-secret-of-at-least-32-bytes!")
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("tok", ["garbage", "a.b.c", "%%%.***.###", "eyJ.eyJ.", "..", "a.b.c.d"])
def test_verify_garbage_tokens_are_invalid(api, tok):
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_token_over_the_cap_is_invalid(api, expert):
    tok = make_jwt(claims_for(expert, name="n" * 100, pad="x" * 3000))
    assert 3000 < len(tok) < 8000
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_10kb_token_is_refused_as_json(api, expert):
    # Past nginx's 8 KiB header line buffer: nginx refuses it itself, as JSON.
    tok = make_jwt(claims_for(expert, pad="x" * 10000))
    r = api.get(VERIFY, headers=bearer(tok))
    assert r.status_code in (400, 401), r.text
    assert body_json(r)["code"] in ("BAD_REQUEST", "INVALID_TOKEN")


def test_verify_after_the_expert_is_disabled_is_401(api, expert):
    tok = login(api, expert)
    assert api.get(VERIFY, headers=bearer(tok)).status_code == 200
    assert lumira_admin("set-active", "--email", expert["email"], "--active", "false").returncode == 0
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")
    assert_error(api.get("/api/expert/profile", headers=bearer(tok)), 401, "INVALID_TOKEN")


def test_verify_after_the_expert_is_deleted_is_401(api, expert, mongo_db):
    tok = login(api, expert)
    mongo_db.experts.delete_one({"email": expert["email"]})
    assert_error(api.get(VERIFY, headers=bearer(tok)), 401, "INVALID_TOKEN")


# ---------------------------------------------------------------- register

REGISTER = "/api/expert/register"


def test_register_without_token_is_401(api):
    body = {"email": unique_email(), "password": "secret123", "name": "New"}
    assert_error(api.post(REGISTER, json=body), 401, "NO_TOKEN")


def test_register_with_expert_token_is_403(api, expert):
    body = {"email": unique_email(), "password": "secret123", "name": "New"}
    assert_error(api.post(REGISTER, json=body, headers=bearer(login(api, expert))), 403, "FORBIDDEN")


@pytest.mark.smoke
def test_register_with_admin_token_is_201_and_the_expert_can_log_in(api, admin_token, mongo_db):
    email = unique_email("new")
    body = {"email": email.upper(), "password": "secret123", "name": "  New Expert  "}
    r = api.post(REGISTER, json=body, headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    e = body_json(r)["expert"]
    assert e["email"] == email and e["name"] == "New Expert" and e["role"] == "expert"
    assert len(e["id"]) == 24
    doc = mongo_db.experts.find_one({"email": email})
    assert doc["password"].startswith("$2b$10$") and doc["isActive"] is True
    assert "secret123" not in json.dumps(doc, default=str)
    assert api.post(LOGIN, json={"email": email, "password": "secret123"}).status_code == 200


def test_register_admin_role(api, admin_token):
    r = api.post(REGISTER, json={"email": unique_email("admin"), "password": "secret123",
                                 "name": "Second Admin", "role": "admin"}, headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    assert body_json(r)["expert"]["role"] == "admin"


def test_register_duplicate_is_409(api, admin_token, expert, mongo_db):
    body = {"email": expert["email"], "password": "secret123", "name": "Again"}
    assert_error(api.post(REGISTER, json=body, headers=bearer(admin_token)), 409, "EMAIL_TAKEN")
    assert mongo_db.experts.count_documents({"email": expert["email"]}) == 1


def test_register_validation_names_each_bad_field(api, admin_token):
    body = {"email": "nope", "password": "123", "name": "x" * 101, "role": "root"}
    b = assert_error(api.post(REGISTER, json=body, headers=bearer(admin_token)), 400,
                     "VALIDATION_ERROR")
    assert {d["field"] for d in b["details"]} == {"email", "password", "name", "role"}


def test_register_name_of_100_characters_is_accepted(api, admin_token):
    body = {"email": unique_email(), "password": "secret123", "name": "é" * 100}
    assert api.post(REGISTER, json=body, headers=bearer(admin_token)).status_code == 201


def test_register_body_over_one_mib_is_413(api, admin_token):
    body = '{"name": "' + "x" * (1024 * 1024 + 10) + '"}'
    r = api.post(REGISTER, data=body, headers=dict(bearer(admin_token),
                                                   **{"Content-Type": "application/json"}))
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


def test_concurrent_registrations_of_one_email_make_one_expert(api, admin_token, mongo_db):
    from concurrent.futures import ThreadPoolExecutor
    email = unique_email("race")
    body = {"email": email, "password": "secret123", "name": "Racer"}
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: api.post(REGISTER, json=body,
                                                 headers=bearer(admin_token)).status_code, range(8)))
    assert sorted(codes) == [201] + [409] * 7, codes
    assert mongo_db.experts.count_documents({"email": email}) == 1


# ---------------------------------------------------------------- deep health

DEEP = "/api/health/deep"


def test_deep_health_without_token_is_401(api):
    assert_error(api.get(DEEP), 401, "NO_TOKEN")


def test_deep_health_with_expert_token_is_403(api, expert):
    assert_error(api.get(DEEP, headers=bearer(login(api, expert))), 403, "FORBIDDEN")


@pytest.mark.smoke
def test_deep_health_with_admin_token_has_counts(api, admin_token, mongo_db):
    r = api.get(DEEP, headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    b = body_json(r)
    assert b["status"] in ("healthy", "degraded")
    assert isinstance(b["database"]["responseTime"], int)
    counts = b["counts"]
    assert set(counts) == {"users", "orders", "ordersLast24h", "awaitingReview"}
    assert all(isinstance(v, int) and v >= 0 for v in counts.values())
    assert counts["users"] == mongo_db.users.count_documents({})


def test_deep_health_counts_follow_the_data(api, admin_token, mongo_db):
    import datetime
    before = body_json(api.get(DEEP, headers=bearer(admin_token)))["counts"]
    now = datetime.datetime.now(datetime.timezone.utc)
    tag = os.urandom(4).hex()
    mongo_db.users.insert_one({"email": "u-%s@example.com" % tag})
    mongo_db.orders.insert_many([
        {"orderNumber": "T%s1" % tag, "createdAt": now, "expertReview": {"status": "pending"}},
        {"orderNumber": "T%s2" % tag, "createdAt": now - datetime.timedelta(days=3)},
    ])
    after = body_json(api.get(DEEP, headers=bearer(admin_token)))["counts"]
    assert after["users"] == before["users"] + 1
    assert after["orders"] == before["orders"] + 2
    assert after["ordersLast24h"] == before["ordersLast24h"] + 1
    assert after["awaitingReview"] == before["awaitingReview"] + 1


def test_deep_health_database_down_is_503(api, admin_token, database_stopped):
    # The admin's account cannot be checked: refused before any count is tried.
    assert_error(api.get(DEEP, headers=bearer(admin_token)), 503, "DATABASE_UNAVAILABLE")


def test_login_database_down_is_503(api, expert, database_stopped):
    r = api.post(LOGIN, json={"email": expert["email"], "password": expert["password"]})
    assert_error(r, 503, "DATABASE_UNAVAILABLE")


# ---------------------------------------------------------------- start-up and the CLI

def run_auth_cgi(env):
    prog = os.path.join(os.path.dirname(ADMIN_BIN), "lumira-auth")
    # MONGOC_DISABLE_SHM as the unit sets it: else a stale /dev/shm/mongoc-<pid> of a killed
    # process (same pid) makes libmongoc print a plain-text warning as it loads.
    base = {"PATH": "/usr/bin:/bin", "REQUEST_METHOD": "GET", "PATH_INFO": "/api/expert/verify",
            "MONGODB_URI": "mongodb://127.0.0.1:1/lumira", "MONGOC_DISABLE_SHM": "1"}
    base.update(env)
    return subprocess.run([prog], env={k: v for k, v in base.items() if v is not None},
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("secret", [None, "", "REPLACE_WITH_A_LONG_RANDOM_SECRET",
                                    "changeme-changeme-changeme-changeme", "short-secret-31-bytes-long-xxxx"])
def test_auth_refuses_to_start_without_a_sound_jwt_secret(secret):
    r = run_auth_cgi({"JWT_SECRET": secret})
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)
    lines = [json.loads(l) for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0]["level"] == "error"
    assert "JWT_SECRET" in lines[0]["msg"]
    if secret:
        assert secret not in r.stderr
    assert r.stdout == ""


def test_auth_refuses_to_start_without_a_database_uri():
    r = run_auth_cgi({"JWT_SECRET": "a" * 32, "MONGODB_URI": None})
    assert r.returncode == 78
    assert "MONGODB_URI" in r.stderr


def test_auth_without_jwt_secret_in_the_stack_is_a_json_502(api):
    log = os.path.join(VAR, "log", "auth.log")
    with program_env("auth", "-JWT_SECRET"):
        r = api.post(LOGIN, json={"email": "a@example.com", "password": "secret123"})
        assert r.status_code == 502
        assert body_json(r)["code"] == "BAD_GATEWAY"
        assert r.headers["Retry-After"] == "5"
        wait_until(lambda: "JWT_SECRET is missing" in open(log).read(), 10, what="the log line")
    wait_until(lambda: api.post(LOGIN, json={"email": "a@example.com", "password": "secret123"}
                                ).status_code == 401, 10, what="lumira-auth back")


def test_admin_cli_refuses_bad_input():
    r = lumira_admin("create-expert", "--email", "bad", "--name", "", password="123")
    assert r.returncode == 65
    assert "--email" in r.stderr and "--name" in r.stderr and "--password" in r.stderr
    assert lumira_admin("create-expert", "--email", "a@example.com").returncode == 64
    assert lumira_admin("frobnicate").returncode == 64
    assert lumira_admin("set-active", "--email", unique_email(), "--active", "true").returncode == 67
    assert lumira_admin("set-active", "--email", "a@example.com", "--active", "maybe").returncode == 64


def test_admin_cli_refuses_a_duplicate(expert):
    r = lumira_admin("create-expert", "--email", expert["email"], "--name", "Again", password="secret123")
    assert r.returncode == 73
    assert "exists" in r.stderr


def test_admin_cli_password_comes_from_stdin_only(expert):
    r = lumira_admin("create-expert", "--email", unique_email(), "--name", "No Password")
    assert r.returncode == 65
    assert "password" in r.stderr


def test_secrets_never_in_auth_logs(api, expert):
    login(api, expert)
    log = open(os.path.join(VAR, "log", "auth.log")).read()
    for name, value in read_secrets().items():
        assert value not in log, name
    assert expert["password"] not in log
    assert expert["email"] not in log
