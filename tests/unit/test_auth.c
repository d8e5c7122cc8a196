/* Unit tests of src/auth.c: the Bearer scheme parser, the token check in front of protected
 * handlers and the role rule, driven through requests made from an environment with HTTP_AUTHORIZATION. Each
 * refusal checks the status AND the "code" of the JSON body. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char secret[] = "unit-test-auth-secret-of-at-least-32-bytes";

/* ---- helpers ---- */

/* A token signed with `key` for `role`, valid from iat to exp (seconds from now). */
static char *make_token(const char *key, enum lumira_role role, int64_t iat_from_now,
                        int64_t exp_from_now)
{
    struct lumira_jwt_claims c;
    struct lumira_buf out;
    int64_t now = lumira_wall_ms() / 1000;
    char *tok;

    memset(&c, 0, sizeof(c));
    memcpy(c.sub, "65a1b2c3d4e5f60718293a4b", LUMIRA_OID_HEX + 1);
    memcpy(c.email, "jane@example.com", 17);
    memcpy(c.name, "Jane Doe", 9);
    c.role = role;
    c.iat = now + iat_from_now;
    c.exp = now + exp_from_now;
    lumira_buf_init(&out, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(key, strlen(key), &c, &out), LUMIRA_OK);
    tok = lumira_buf_take(&out);
    assert_non_null(tok);
    return tok;
}

/* Runs lumira_auth_token() on a GET whose Authorization header is `authz` (none when NULL).
 * Fills `resp` (the caller cleans it up) and returns the result. */
static bool require(const char *authz, const char *key, struct lumira_resp *resp,
                    struct lumira_jwt_claims *claims)
{
    char *header = NULL;
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/expert/verify",
                   "HTTP_X_REQUEST_ID=req-auth-1", NULL, NULL};
    struct lumira_req req;
    bool ok;

    if (authz != NULL) {
        size_t n = strlen("HTTP_AUTHORIZATION=") + strlen(authz) + 1;

        header = malloc(n);
        assert_non_null(header);
        snprintf(header, n, "HTTP_AUTHORIZATION=%s", authz);
        env[3] = header;
    }
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    lumira_resp_init(resp);
    ok = lumira_auth_token(&req, resp, key, claims);
    lumira_req_cleanup(&req);
    free(header);
    return ok;
}

/* "Bearer <tok>" (freed by the caller). */
static char *bearer(const char *tok)
{
    size_t n = strlen(tok) + 8;
    char *s = malloc(n);

    assert_non_null(s);
    snprintf(s, n, "Bearer %s", tok);
    return s;
}

/* Checks that `resp` is the error `status` with `code`, then cleans it up. */
static void expect_refusal(struct lumira_resp *resp, int status, const char *code)
{
    json_object_put(tu_expect_error(resp, status, code, "req-auth-1"));
    lumira_resp_cleanup(resp);
}

/* Expects a refusal of `authz` under `key` with `status` and `code`. */
static void expect_require_fails(const char *authz, const char *key, int status, const char *code)
{
    struct lumira_resp resp;
    struct lumira_jwt_claims c;

    if (require(authz, key, &resp, &c))
        fail_msg("accepted: %.40s", authz != NULL ? authz : "(no header)");
    expect_refusal(&resp, status, code);
}

/* ---- lumira_auth_bearer ---- */

static void test_auth_bearer_accepted(void **state)
{
    static const struct {
        const char *value, *tok;
    } cases[] = {
        {"Bearer x", "x"},     {"bearer x", "x"},
        {"BEARER   x  ", "x"}, {"BeArEr abc.def.ghi", "abc.def.ghi"},
        {"Bearer a b", "a b"}, /* the token is what lies between; the verifier judges it */
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        const char *tok = NULL;
        size_t len = 0;

        if (!lumira_auth_bearer(cases[i].value, &tok, &len))
            fail_msg("refused \"%s\"", cases[i].value);
        assert_int_equal(len, strlen(cases[i].tok));
        assert_memory_equal(tok, cases[i].tok, len);
        /* Borrowed from the value, not copied. */
        assert_true(tok > cases[i].value && tok < cases[i].value + strlen(cases[i].value));
    }
}

static void test_auth_bearer_refused(void **state)
{
    static const char *const values[] = {
        "Basic x", "Bearer", "Bearer ", "Bearer     ", "Bearerx", " Bearer x", "Bearer\tx",
        "Token x", "Bear x", "",        "x",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++) {
        const char *tok;
        size_t len;

        if (lumira_auth_bearer(values[i], &tok, &len))
            fail_msg("accepted \"%s\"", values[i]);
    }
}

static void test_auth_bearer_null(void **state)
{
    const char *tok;
    size_t len;

    (void)state;
    assert_false(lumira_auth_bearer(NULL, &tok, &len));
}

/* ---- lumira_auth_token ---- */

static void test_auth_require_no_header_401_no_token(void **state)
{
    (void)state;
    expect_require_fails(NULL, secret, 401, "NO_TOKEN");
    expect_require_fails(NULL, secret, 401, "NO_TOKEN");
}

static void test_auth_require_other_scheme_401_no_token(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_ADMIN, -10, 3600);
    char value[1024];

    (void)state;
    expect_require_fails("Basic dXNlcjpwYXNzd29yZA==", secret, 401, "NO_TOKEN");
    expect_require_fails("Bearer ", secret, 401, "NO_TOKEN");
    expect_require_fails("", secret, 401, "NO_TOKEN");
    /* A good token under another scheme, or with no scheme, is no token at all. */
    snprintf(value, sizeof(value), "Token %s", tok);
    expect_require_fails(value, secret, 401, "NO_TOKEN");
    expect_require_fails(tok, secret, 401, "NO_TOKEN");
    free(tok);
}

static void test_auth_require_bad_token_401_invalid_token(void **state)
{
    char *other = make_token("another-secret-of-at-least-32-bytes!!", LUMIRA_ROLE_ADMIN, -10, 3600);
    char *good = make_token(secret, LUMIRA_ROLE_ADMIN, -10, 3600);
    char *authz;

    (void)state;
    expect_require_fails("Bearer not.a.token", secret, 401, "INVALID_TOKEN");
    expect_require_fails("Bearer x", secret, 401, "INVALID_TOKEN");
    authz = bearer(other);
    expect_require_fails(authz, secret, 401, "INVALID_TOKEN");
    free(authz);
    /* One character of the signature changed. */
    good[strlen(good) - 5] = good[strlen(good) - 5] == 'A' ? 'B' : 'A';
    authz = bearer(good);
    expect_require_fails(authz, secret, 401, "INVALID_TOKEN");
    free(authz);
    free(other);
    free(good);
}

/* A none token built by hand: header {"alg":"none"}, a valid payload, no signature. */
static void test_auth_require_alg_none_401_invalid_token(void **state)
{
    static const char header[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *good = make_token(secret, LUMIRA_ROLE_ADMIN, -10, 3600);
    char h[64], value[2048];
    const char *payload = strchr(good, '.') + 1;
    size_t plen = (size_t)(strrchr(good, '.') - payload);

    (void)state;
    lumira_b64url_encode((const unsigned char *)header, sizeof(header) - 1, h);
    snprintf(value, sizeof(value), "Bearer %s.%.*s.", h, (int)plen, payload);
    expect_require_fails(value, secret, 401, "INVALID_TOKEN");
    free(good);
}

static void test_auth_require_expired_401_token_expired(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_ADMIN, -7200, -60);
    char *authz = bearer(tok);

    (void)state;
    expect_require_fails(authz, secret, 401, "TOKEN_EXPIRED");
    expect_require_fails(authz, secret, 401, "TOKEN_EXPIRED");
    free(authz);
    free(tok);
}

/* The token's role is no permission: lumira_auth_token() lets an expert's token through to
 * the account check (which decides with the stored role), and hands its role back as it is. */
static void test_auth_require_expert_token_passes_to_the_account_check(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_EXPERT, -10, 3600);
    char *authz = bearer(tok);
    struct lumira_resp resp;
    struct lumira_jwt_claims c;

    (void)state;
    assert_true(require(authz, secret, &resp, &c));
    assert_int_equal(resp.status, 200);
    assert_int_equal(c.role, LUMIRA_ROLE_EXPERT);
    lumira_resp_cleanup(&resp);
    free(authz);
    free(tok);
}

/* ---- lumira_auth_role_allows ---- */

static void test_auth_role_allows_table(void **state)
{
    static const struct {
        enum lumira_role have, need;
        bool allowed;
    } cases[] = {
        {LUMIRA_ROLE_EXPERT, LUMIRA_ROLE_EXPERT, true}, {LUMIRA_ROLE_ADMIN, LUMIRA_ROLE_EXPERT, true},
        {LUMIRA_ROLE_ADMIN, LUMIRA_ROLE_ADMIN, true},   {LUMIRA_ROLE_EXPERT, LUMIRA_ROLE_ADMIN, false},
        {LUMIRA_ROLE_NONE, LUMIRA_ROLE_EXPERT, false},  {LUMIRA_ROLE_NONE, LUMIRA_ROLE_ADMIN, false},
        {LUMIRA_ROLE_ADMIN, LUMIRA_ROLE_NONE, false},   {LUMIRA_ROLE_NONE, LUMIRA_ROLE_NONE, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++)
        if (lumira_auth_role_allows(cases[i].have, cases[i].need) != cases[i].allowed)
            fail_msg("case %zu: have %d need %d", i, (int)cases[i].have, (int)cases[i].need);
}

/* Success leaves the response alone and fills the claims. */
static void test_auth_require_admin_ok(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_ADMIN, -10, 3600);
    char *authz = bearer(tok);
    struct lumira_resp resp;
    struct lumira_jwt_claims c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_true(require(authz, secret, &resp, &c));
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    assert_int_equal(c.role, LUMIRA_ROLE_ADMIN);
    assert_string_equal(c.sub, "65a1b2c3d4e5f60718293a4b");
    assert_string_equal(c.email, "jane@example.com");
    lumira_resp_cleanup(&resp);
    /* An admin may use expert routes too. */
    assert_true(require(authz, secret, &resp, &c));
    assert_int_equal(resp.status, 200);
    lumira_resp_cleanup(&resp);
    free(authz);
    free(tok);
}

static void test_auth_require_expert_ok_on_expert_route(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_EXPERT, -10, 3600);
    char value[2048];
    struct lumira_resp resp;
    struct lumira_jwt_claims c;

    (void)state;
    snprintf(value, sizeof(value), "bearer   %s  ", tok);
    memset(&c, 0, sizeof(c));
    assert_true(require(value, secret, &resp, &c));
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    assert_int_equal(c.role, LUMIRA_ROLE_EXPERT);
    lumira_resp_cleanup(&resp);
    free(tok);
}

/* A token issued a little in the future (another VM's clock) passes within the leeway. */
static void test_auth_require_iat_within_leeway_ok(void **state)
{
    char *tok = make_token(secret, LUMIRA_ROLE_EXPERT, LUMIRA_JWT_LEEWAY_S - 5, 3600);
    char *far = make_token(secret, LUMIRA_ROLE_EXPERT, LUMIRA_JWT_LEEWAY_S + 60, 3600);
    char *authz = bearer(tok), *authz_far = bearer(far);
    struct lumira_resp resp;
    struct lumira_jwt_claims c;

    (void)state;
    assert_true(require(authz, secret, &resp, &c));
    lumira_resp_cleanup(&resp);
    expect_require_fails(authz_far, secret, 401, "INVALID_TOKEN");
    free(authz);
    free(authz_far);
    free(tok);
    free(far);
}

/* Without a usable JWT_SECRET no token can be checked: 503, whatever the token. */
static void test_auth_require_no_secret_503(void **state)
{
    static const char *const unusable[] = {
        NULL,
        "",
        "REPLACE_WITH_A_LONG_RANDOM_SECRET",
        "changeme-changeme-changeme-changeme",
        "my-CHANGEME-secret-of-at-least-32-bytes",
    };
    char *tok = make_token(secret, LUMIRA_ROLE_ADMIN, -10, 3600);
    char *authz = bearer(tok);
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(unusable); i++) {
        expect_require_fails(authz, unusable[i], 503, "SERVICE_UNAVAILABLE");
        expect_require_fails(authz, unusable[i], 503, "SERVICE_UNAVAILABLE");
    }
    /* Even a token signed with the placeholder itself is not accepted. */
    free(authz);
    free(tok);
    tok = make_token(unusable[2], LUMIRA_ROLE_ADMIN, -10, 3600);
    authz = bearer(tok);
    expect_require_fails(authz, unusable[2], 503, "SERVICE_UNAVAILABLE");
    free(authz);
    free(tok);
}

/* The refusals are logged, but never the token. */
static void test_auth_require_never_logs_token(void **state)
{
    char path[] = "/tmp/lumira-test-auth-XXXXXX";
    char *expired = make_token(secret, LUMIRA_ROLE_ADMIN, -7200, -60);
    char *expert = make_token(secret, LUMIRA_ROLE_EXPERT, -10, 3600);
    char *authz_expired = bearer(expired), *authz_expert = bearer(expert);
    const char *sig_expired = strrchr(expired, '.') + 1, *sig_expert = strrchr(expert, '.') + 1;
    char text[16384];
    FILE *f;
    size_t n;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lumira_log_open("test_auth", path, LUMIRA_LOG_DEBUG), LUMIRA_OK);
    expect_require_fails(authz_expired, secret, 401, "TOKEN_EXPIRED");
    expect_require_fails("Bearer abc.def.secretsignature", secret, 401,
                         "INVALID_TOKEN");
    expect_require_fails(authz_expert, NULL, 503, "SERVICE_UNAVAILABLE");
    lumira_log_close();
    assert_int_equal(lumira_log_open("lumira", NULL, LUMIRA_LOG_INFO), LUMIRA_OK);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    /* One line per refusal. */
    assert_non_null(strstr(text, "expired"));
    assert_non_null(strstr(text, "rejected"));
    assert_non_null(strstr(text, "JWT_SECRET"));
    assert_null(strstr(text, sig_expired));
    assert_null(strstr(text, sig_expert));
    assert_null(strstr(text, "secretsignature"));
    assert_null(strstr(text, secret));
    free(authz_expired);
    free(authz_expert);
    free(expired);
    free(expert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_bearer_accepted),
        cmocka_unit_test(test_auth_bearer_refused),
        cmocka_unit_test(test_auth_bearer_null),
        cmocka_unit_test(test_auth_require_no_header_401_no_token),
        cmocka_unit_test(test_auth_require_other_scheme_401_no_token),
        cmocka_unit_test(test_auth_require_bad_token_401_invalid_token),
        cmocka_unit_test(test_auth_require_alg_none_401_invalid_token),
        cmocka_unit_test(test_auth_require_expired_401_token_expired),
        cmocka_unit_test(test_auth_require_expert_token_passes_to_the_account_check),
        cmocka_unit_test(test_auth_role_allows_table),
        cmocka_unit_test(test_auth_require_admin_ok),
        cmocka_unit_test(test_auth_require_expert_ok_on_expert_route),
        cmocka_unit_test(test_auth_require_iat_within_leeway_ok),
        cmocka_unit_test(test_auth_require_no_secret_503),
        cmocka_unit_test(test_auth_require_never_logs_token),
    };

    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
