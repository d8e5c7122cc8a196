/* Unit tests of src/jwt.c: roles, signing, and verification against hostile tokens. Each hostile
 * token is made here with the real HMAC (lumira_hmac_sha256 + lumira_b64url_encode) so that it
 * carries a VALID signature unless the test is about the signature: a test then fails only
 * because of the check it names. Each hostile case also has a control that is accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "crypto.h"
#include "jwt.h"
#include "lumira_limits.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char secret[] = "unit-test-jwt-secret-of-at-least-32-bytes";
#define SLEN (sizeof(secret) - 1)

/* 2026-01-01T00:00:00Z, the iat of every standard payload; exp is 8 hours later. */
#define IAT 1767225600
#define EXP (IAT + 8 * 3600)
/* A time at which the standard payload is valid. */
#define NOW (IAT + 100)

static const char hs256_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- helpers: every string they return is freed after the test (free_kept) ---- */

static void *kept[256];
static size_t nkept;

static void *keep(void *p)
{
    assert_non_null(p);
    assert_true(nkept < ARRAY_LEN(kept));
    kept[nkept++] = p;
    return p;
}

static int free_kept(void **state)
{
    (void)state;
    while (nkept > 0)
        free(kept[--nkept]);
    return 0;
}

/* The base64url form of `len` bytes. */
static char *b64n(const void *data, size_t len)
{
    char *out = keep(malloc(lumira_b64url_encoded_len(len) + 1));

    lumira_b64url_encode(data, len, out);
    return out;
}

static char *b64(const char *s)
{
    return b64n(s, strlen(s));
}

/* "p1.p2.sig" where sig is the base64url HMAC-SHA256 of "p1.p2" under `key`: a correctly signed
 * token whatever p1 and p2 hold. */
static char *sign_parts_key(const char *p1, const char *p2, const char *key, size_t keylen)
{
    size_t l1 = strlen(p1), l2 = strlen(p2);
    char *tok = keep(malloc(l1 + 1 + l2 + 1 + 43 + 1));
    unsigned char mac[LUMIRA_SHA256_LEN];

    memcpy(tok, p1, l1);
    tok[l1] = '.';
    memcpy(tok + l1 + 1, p2, l2);
    assert_int_equal(lumira_hmac_sha256(key, keylen, tok, l1 + 1 + l2, mac), LUMIRA_OK);
    tok[l1 + 1 + l2] = '.';
    lumira_b64url_encode(mac, sizeof(mac), tok + l1 + 1 + l2 + 1);
    return tok;
}

static char *sign_parts(const char *p1, const char *p2)
{
    return sign_parts_key(p1, p2, secret, SLEN);
}

/* A correctly signed token of the given header and payload JSON texts. */
static char *token_json(const char *header, const char *payload)
{
    return sign_parts(b64(header), b64(payload));
}

/* "a.b.c" of three texts. */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = keep(malloc(n));

    snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

struct claim {
    const char *key;
    const char *value; /* raw JSON */
};

static const struct claim base_claims[] = {
    {"sub", "\"65a1b2c3d4e5f60718293a4b\""},
    {"email", "\"jane@example.com\""},
    {"name", "\"Jane Doe\""},
    {"role", "\"expert\""},
    {"iat", "1767225600"},
    {"exp", "1767254400"},
    {"iss", "\"lumira\""},
};

/* The standard payload with member `key` set to the raw JSON `value`, or left out when `value`
 * is NULL, or added at the end when it is not a standard claim; key NULL: the standard payload. */
static char *payload_with(const char *key, const char *value)
{
    char *s = keep(malloc(8192));
    size_t used = 0, i;
    bool found = false;

    s[used++] = '{';
    for (i = 0; i < ARRAY_LEN(base_claims); i++) {
        const char *v = base_claims[i].value;

        if (key != NULL && strcmp(key, base_claims[i].key) == 0) {
            found = true;
            if (value == NULL)
                continue;
            v = value;
        }
        used += (size_t)snprintf(s + used, 8192 - used, "%s\"%s\":%s", used > 1 ? "," : "",
                                 base_claims[i].key, v);
    }
    if (key != NULL && !found && value != NULL)
        used += (size_t)snprintf(s + used, 8192 - used, ",\"%s\":%s", key, value);
    assert_true(used < 8190);
    s[used++] = '}';
    s[used] = '\0';
    return s;
}

/* lumira_jwt_verify() on a heap copy of exactly `len` bytes (no NUL after it, so ASan sees any
 * read past the token). */
static enum lumira_err verify_full(const char *key, size_t keylen, const char *tok, size_t len,
                                   int64_t now, struct lumira_jwt_claims *c)
{
    char *copy = malloc(len > 0 ? len : 1);
    enum lumira_err err;

    assert_non_null(copy);
    memcpy(copy, tok, len);
    err = lumira_jwt_verify(key, keylen, copy, len, now, c);
    free(copy);
    return err;
}

static enum lumira_err verify_at(const char *tok, int64_t now)
{
    struct lumira_jwt_claims c;

    return verify_full(secret, SLEN, tok, strlen(tok), now, &c);
}

static enum lumira_err verify(const char *tok)
{
    return verify_at(tok, NOW);
}

/* Fails with the token named when verify() does not give `want`. */
static void expect(const char *what, const char *tok, enum lumira_err want)
{
    enum lumira_err err = verify(tok);

    if (err != want)
        fail_msg("%s: got %s, want %s", what, lumira_strerror(err), lumira_strerror(want));
}

static void std_claims(struct lumira_jwt_claims *c, enum lumira_role role, int64_t iat, int64_t exp)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->sub, "65a1b2c3d4e5f60718293a4b", LUMIRA_OID_HEX + 1);
    memcpy(c->email, "jane@example.com", 17);
    memcpy(c->name, "Jane Doe", 9);
    c->role = role;
    c->iat = iat;
    c->exp = exp;
}

/* A token made by lumira_jwt_sign() (kept until the end of the test). */
static char *signed_token(enum lumira_role role, int64_t iat, int64_t exp)
{
    struct lumira_jwt_claims c;
    struct lumira_buf out;
    char *tok;

    std_claims(&c, role, iat, exp);
    lumira_buf_init(&out, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &out), LUMIRA_OK);
    tok = keep(lumira_buf_take(&out));
    return tok;
}

/* ---- lumira_role_name / lumira_role_parse ---- */

static void test_role_name(void **state)
{
    (void)state;
    assert_string_equal(lumira_role_name(LUMIRA_ROLE_EXPERT), "expert");
    assert_string_equal(lumira_role_name(LUMIRA_ROLE_ADMIN), "admin");
    assert_null(lumira_role_name(LUMIRA_ROLE_NONE));
}

static void test_role_parse(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        enum lumira_role want;
    } cases[] = {
        {"expert", 6, LUMIRA_ROLE_EXPERT},       {"admin", 5, LUMIRA_ROLE_ADMIN},
        {"administrator", 5, LUMIRA_ROLE_ADMIN}, /* only `len` bytes are read */
        {"experts", 6, LUMIRA_ROLE_EXPERT},      {"administrator", 13, LUMIRA_ROLE_NONE},
        {"experts", 7, LUMIRA_ROLE_NONE},        {"Admin", 5, LUMIRA_ROLE_NONE},
        {"ADMIN", 5, LUMIRA_ROLE_NONE},          {"Expert", 6, LUMIRA_ROLE_NONE},
        {"root", 4, LUMIRA_ROLE_NONE},           {"admin ", 6, LUMIRA_ROLE_NONE},
        {" admin", 6, LUMIRA_ROLE_NONE},         {"admin\0", 6, LUMIRA_ROLE_NONE},
        {"admi", 4, LUMIRA_ROLE_NONE},           {"", 0, LUMIRA_ROLE_NONE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        if (lumira_role_parse(cases[i].s, cases[i].len) != cases[i].want)
            fail_msg("case %zu \"%.*s\"", i, (int)cases[i].len, cases[i].s);
    }
}

/* ---- lumira_jwt_sign ---- */

static void test_jwt_sign_verify_round_trip(void **state)
{
    struct lumira_jwt_claims in, out;
    struct lumira_buf buf;
    const char *dot;

    (void)state;
    std_claims(&in, LUMIRA_ROLE_ADMIN, IAT, EXP);
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &in, &buf), LUMIRA_OK);
    /* The fixed header, then two more parts. */
    dot = strchr(buf.ptr, '.');
    assert_non_null(dot);
    assert_int_equal(dot - buf.ptr, strlen(b64(hs256_header)));
    assert_memory_equal(buf.ptr, b64(hs256_header), (size_t)(dot - buf.ptr));
    assert_int_equal(strlen(strrchr(buf.ptr, '.') + 1), 43);
    memset(&out, 0xa5, sizeof(out));
    assert_int_equal(verify_full(secret, SLEN, buf.ptr, buf.len, NOW, &out), LUMIRA_OK);
    assert_string_equal(out.sub, in.sub);
    assert_string_equal(out.email, in.email);
    assert_string_equal(out.name, in.name);
    assert_int_equal(out.role, LUMIRA_ROLE_ADMIN);
    assert_int_equal(out.iat, IAT);
    assert_int_equal(out.exp, EXP);
    lumira_buf_cleanup(&buf);
}

/* Byte for byte what PyJWT 2.6 makes of the same claims (same member order, compact JSON):
 * jwt.encode({"sub": ..., "email": ..., "name": ..., "role": "admin", "iat": 1767225600,
 * "exp": 1767254400, "iss": "lumira"}, "pyjwt-interop-secret-of-32-bytes!!", algorithm="HS256"). */
static const char pyjwt_secret[] = "pyjwt-interop-secret-of-32-bytes!!";
static const char pyjwt_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI2NWExYjJjM2Q0ZTVmNjA3MTgyOTNhNGIiLCJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20iLCJuYW1lIjoi"
    "SmFuZSBEb2UiLCJyb2xlIjoiYWRtaW4iLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzI1NDQwMCwiaXNzIjoibHVt"
    "aXJhIn0.8ul3b9PtdF7NQQobwBPWk8-NXsYCvxy-dVk-IYxB6dA";

static void test_jwt_sign_matches_pyjwt(void **state)
{
    struct lumira_jwt_claims in;
    struct lumira_buf buf;

    (void)state;
    std_claims(&in, LUMIRA_ROLE_ADMIN, IAT, EXP);
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(pyjwt_secret, sizeof(pyjwt_secret) - 1, &in, &buf), LUMIRA_OK);
    assert_string_equal(buf.ptr, pyjwt_token);
    lumira_buf_cleanup(&buf);
}

static void test_jwt_verify_pyjwt_token(void **state)
{
    struct lumira_jwt_claims c;

    (void)state;
    assert_int_equal(verify_full(pyjwt_secret, sizeof(pyjwt_secret) - 1, pyjwt_token,
                                 strlen(pyjwt_token), NOW, &c),
                     LUMIRA_OK);
    assert_string_equal(c.sub, "65a1b2c3d4e5f60718293a4b");
    assert_string_equal(c.email, "jane@example.com");
    assert_int_equal(c.role, LUMIRA_ROLE_ADMIN);
}

static void test_jwt_sign_appends(void **state)
{
    struct lumira_jwt_claims in;
    struct lumira_buf buf;

    (void)state;
    std_claims(&in, LUMIRA_ROLE_EXPERT, IAT, EXP);
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_buf_adds(&buf, "Bearer "), LUMIRA_OK);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &in, &buf), LUMIRA_OK);
    assert_memory_equal(buf.ptr, "Bearer ", 7);
    assert_int_equal(verify_full(secret, SLEN, buf.ptr + 7, buf.len - 7, NOW, &in), LUMIRA_OK);
    lumira_buf_cleanup(&buf);
}

static void test_jwt_sign_refuses_bad_claims(void **state)
{
    struct lumira_jwt_claims c;
    struct lumira_buf buf;

    (void)state;
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    std_claims(&c, LUMIRA_ROLE_NONE, IAT, EXP);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &buf), LUMIRA_EINVAL);
    std_claims(&c, LUMIRA_ROLE_EXPERT, IAT, IAT);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &buf), LUMIRA_EINVAL);
    std_claims(&c, LUMIRA_ROLE_EXPERT, IAT, IAT - 1);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &buf), LUMIRA_EINVAL);
    assert_int_equal(buf.len, 0);
    lumira_buf_cleanup(&buf);
}

/* The output buffer's cap is honoured, and a payload over LUMIRA_MAX_JWT_PART is refused. */
static void test_jwt_sign_too_big(void **state)
{
    struct lumira_jwt_claims c;
    struct lumira_buf buf;

    (void)state;
    std_claims(&c, LUMIRA_ROLE_EXPERT, IAT, EXP);
    lumira_buf_init(&buf, 100);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &buf), LUMIRA_ETOOBIG);
    assert_int_equal(buf.len, 0);
    lumira_buf_cleanup(&buf);
    /* 400 control characters become 2400 bytes of \u0001 escapes in the payload. */
    memset(c.name, 1, sizeof(c.name) - 1);
    c.name[sizeof(c.name) - 1] = '\0';
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &c, &buf), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&buf);
}

/* The largest claims: an e-mail of LUMIRA_MAX_EMAIL bytes and a name of LUMIRA_MAX_NAME_CHARS
 * four-byte characters sign and verify. */
static void test_jwt_sign_verify_largest_claims(void **state)
{
    struct lumira_jwt_claims in, out;
    struct lumira_buf buf;
    size_t i;

    (void)state;
    std_claims(&in, LUMIRA_ROLE_EXPERT, IAT, EXP);
    memset(in.email, 'e', LUMIRA_MAX_EMAIL);
    memcpy(in.email + LUMIRA_MAX_EMAIL - 12, "@example.com", 13);
    for (i = 0; i < LUMIRA_MAX_NAME_CHARS; i++)
        memcpy(in.name + 4 * i, "\xf0\x9d\x84\x9e", 4); /* U+1D11E */
    in.name[4 * LUMIRA_MAX_NAME_CHARS] = '\0';
    lumira_buf_init(&buf, LUMIRA_MAX_JWT);
    assert_int_equal(lumira_jwt_sign(secret, SLEN, &in, &buf), LUMIRA_OK);
    assert_true(buf.len <= LUMIRA_MAX_JWT);
    assert_int_equal(verify_full(secret, SLEN, buf.ptr, buf.len, NOW, &out), LUMIRA_OK);
    assert_string_equal(out.email, in.email);
    assert_string_equal(out.name, in.name);
    lumira_buf_cleanup(&buf);
}

/* ---- lumira_jwt_verify: the token as a whole ---- */

static void test_jwt_verify_hand_made_token_ok(void **state)
{
    struct lumira_jwt_claims c;
    const char *tok;

    (void)state;
    /* The control for every hostile case below: the helpers make tokens that verify. */
    tok = token_json(hs256_header, payload_with(NULL, NULL));
    assert_int_equal(verify_full(secret, SLEN, tok, strlen(tok), NOW, &c), LUMIRA_OK);
    assert_int_equal(c.role, LUMIRA_ROLE_EXPERT);
    assert_string_equal(c.name, "Jane Doe");
    /* Unknown claims and header members are ignored; typ may be absent. */
    expect("extra claim", token_json(hs256_header, payload_with("jti", "\"x\"")), LUMIRA_OK);
    expect(
        "kid",
        token_json("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", payload_with(NULL, NULL)),
        LUMIRA_OK);
    expect("no typ", token_json("{\"alg\":\"HS256\"}", payload_with(NULL, NULL)), LUMIRA_OK);
}

/* The claims are written only on success. */
static void test_jwt_verify_claims_untouched_on_error(void **state)
{
    struct lumira_jwt_claims c, before;
    const char *tok = signed_token(LUMIRA_ROLE_ADMIN, IAT, IAT + 10);

    (void)state;
    memset(&c, 0xa5, sizeof(c));
    memcpy(&before, &c, sizeof(c));
    assert_int_equal(verify_full(secret, SLEN, tok, strlen(tok), IAT + 10, &c), LUMIRA_EEXPIRED);
    assert_memory_equal(&c, &before, sizeof(c));
    assert_int_equal(verify_full("other", 5, tok, strlen(tok), IAT, &c), LUMIRA_EINVAL);
    assert_memory_equal(&c, &before, sizeof(c));
}

/* Only `len` bytes are read: a token followed by more text verifies. */
static void test_jwt_verify_not_nul_terminated(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, EXP);
    size_t len = strlen(tok);
    char *more = keep(malloc(len + 8));
    struct lumira_jwt_claims c;

    (void)state;
    memcpy(more, tok, len);
    memcpy(more + len, ".xx.yy", 7);
    assert_int_equal(lumira_jwt_verify(secret, SLEN, more, len, NOW, &c), LUMIRA_OK);
    assert_int_equal(lumira_jwt_verify(secret, SLEN, more, len + 3, NOW, &c), LUMIRA_EINVAL);
}

/* The payload re-encoded with another role, the old signature kept. */
static void test_jwt_verify_payload_tampered(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, EXP);
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char header[128];
    struct lumira_jwt_claims c;
    char *forged;

    (void)state;
    assert_int_equal(verify(tok), LUMIRA_OK);
    memcpy(header, tok, (size_t)(dot1 - tok));
    header[dot1 - tok] = '\0';
    forged = join3(header, b64(payload_with("role", "\"admin\"")), dot2 + 1);
    assert_int_equal(verify(forged), LUMIRA_EINVAL);
    /* Control: the same forged payload with its own valid signature is an admin token. */
    forged = sign_parts(header, b64(payload_with("role", "\"admin\"")));
    assert_int_equal(verify_full(secret, SLEN, forged, strlen(forged), NOW, &c), LUMIRA_OK);
    assert_int_equal(c.role, LUMIRA_ROLE_ADMIN);
}

/* Each character of the signature in turn replaced by another. */
static void test_jwt_verify_signature_tampered(void **state)
{
    char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, EXP);
    char *sig = strrchr(tok, '.') + 1;
    size_t i;

    (void)state;
    assert_int_equal(strlen(sig), 43);
    for (i = 0; i < 43; i++) {
        char was = sig[i];

        sig[i] = was == 'A' ? 'B' : 'A';
        if (verify(tok) != LUMIRA_EINVAL)
            fail_msg("signature changed at %zu accepted", i);
        sig[i] = was;
    }
    assert_int_equal(verify(tok), LUMIRA_OK);
}

static void test_jwt_verify_wrong_secret(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_ADMIN, IAT, EXP);
    struct lumira_jwt_claims c;
    char longer[sizeof(secret) + 1];
    size_t len = strlen(tok);

    (void)state;
    memcpy(longer, secret, SLEN);
    longer[SLEN] = 'x';
    assert_int_equal(verify_full(secret, SLEN, tok, len, NOW, &c), LUMIRA_OK);
    assert_int_equal(verify_full("another-secret-of-at-least-32-bytes!!", 37, tok, len, NOW, &c),
                     LUMIRA_EINVAL);
    assert_int_equal(verify_full(secret, SLEN - 1, tok, len, NOW, &c), LUMIRA_EINVAL);
    assert_int_equal(verify_full(longer, SLEN + 1, tok, len, NOW, &c), LUMIRA_EINVAL);
    assert_int_equal(verify_full("", 0, tok, len, NOW, &c), LUMIRA_EINVAL);
}

/* ---- alg and typ ---- */

static void test_jwt_verify_alg_none_empty_signature(void **state)
{
    const char *h = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    const char *p = b64(payload_with(NULL, NULL));
    char *tok = keep(malloc(strlen(h) + strlen(p) + 3));

    (void)state;
    snprintf(tok, strlen(h) + strlen(p) + 3, "%s.%s.", h, p);
    expect("none, empty signature", tok, LUMIRA_EINVAL);
    tok[strlen(tok) - 1] = '\0';
    expect("none, no signature part", tok, LUMIRA_EINVAL);
}

/* A none header with a signature that is a valid HS256 one over it: the algorithm is pinned. */
static void test_jwt_verify_alg_none_with_valid_hs256_signature(void **state)
{
    (void)state;
    expect("none", token_json("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
    expect("None", token_json("{\"alg\":\"None\",\"typ\":\"JWT\"}", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
    expect("control", token_json(hs256_header, payload_with(NULL, NULL)), LUMIRA_OK);
}

/* HS512 with a real HMAC-SHA512 signature (64 bytes) made with OpenSSL. */
static void test_jwt_verify_alg_hs512_real_signature(void **state)
{
    const char *h = b64("{\"alg\":\"HS512\",\"typ\":\"JWT\"}");
    const char *p = b64(payload_with(NULL, NULL));
    char *input = keep(malloc(strlen(h) + strlen(p) + 2));
    unsigned char mac[64];
    unsigned int maclen = 0;

    (void)state;
    snprintf(input, strlen(h) + strlen(p) + 2, "%s.%s", h, p);
    assert_non_null(HMAC(EVP_sha512(), secret, (int)SLEN, (const unsigned char *)input,
                         strlen(input), mac, &maclen));
    assert_int_equal(maclen, 64);
    expect("HS512", join3(h, p, b64n(mac, maclen)), LUMIRA_EINVAL);
}

/* HS512 named in the header, but the signature is a valid HS256 one. */
static void test_jwt_verify_alg_hs512_with_hs256_signature(void **state)
{
    (void)state;
    expect("HS512", token_json("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
}

static void test_jwt_verify_alg_missing(void **state)
{
    (void)state;
    expect("no alg", token_json("{\"typ\":\"JWT\"}", payload_with(NULL, NULL)), LUMIRA_EINVAL);
    expect("alg null", token_json("{\"alg\":null,\"typ\":\"JWT\"}", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
    expect("empty header", token_json("{}", payload_with(NULL, NULL)), LUMIRA_EINVAL);
}

static void test_jwt_verify_alg_other_values(void **state)
{
    static const char *const headers[] = {
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",   "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS384\",\"typ\":\"JWT\"}",   "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"\",\"typ\":\"JWT\"}",        "{\"alg\":256,\"typ\":\"JWT\"}",
        "{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}", "{\"alg\":\"HS256\\u0000\",\"typ\":\"JWT\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(headers); i++)
        expect(headers[i], token_json(headers[i], payload_with(NULL, NULL)), LUMIRA_EINVAL);
}

static void test_jwt_verify_typ_not_jwt(void **state)
{
    static const char *const headers[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"\"}",    "{\"alg\":\"HS256\",\"typ\":1}",
        "{\"alg\":\"HS256\",\"typ\":{}}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(headers); i++)
        expect(headers[i], token_json(headers[i], payload_with(NULL, NULL)), LUMIRA_EINVAL);
}

/* ---- times ---- */

static void test_jwt_verify_expired_at_exp(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, IAT + 3600);

    (void)state;
    assert_int_equal(verify_at(tok, IAT + 3599), LUMIRA_OK);
    assert_int_equal(verify_at(tok, IAT + 3600), LUMIRA_EEXPIRED);
}

static void test_jwt_verify_expired_after_exp(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, IAT + 3600);

    (void)state;
    assert_int_equal(verify_at(tok, IAT + 3601), LUMIRA_EEXPIRED);
    assert_int_equal(verify_at(tok, IAT + 86400 * 365), LUMIRA_EEXPIRED);
}

/* An expired token with another defect is not reported as expired. */
static void test_jwt_verify_expired_but_wrong_iss(void **state)
{
    (void)state;
    assert_int_equal(verify_at(token_json(hs256_header, payload_with("iss", "\"x\"")), EXP + 1),
                     LUMIRA_EINVAL);
    assert_int_equal(verify_at(token_json(hs256_header, payload_with(NULL, NULL)), EXP + 1),
                     LUMIRA_EEXPIRED);
}

static void test_jwt_verify_iat_in_future(void **state)
{
    const int64_t now = IAT;
    const char *edge = signed_token(LUMIRA_ROLE_EXPERT, now + LUMIRA_JWT_LEEWAY_S, now + 7200);
    const char *over = signed_token(LUMIRA_ROLE_EXPERT, now + LUMIRA_JWT_LEEWAY_S + 1, now + 7200);

    (void)state;
    assert_int_equal(verify_at(edge, now), LUMIRA_OK);
    assert_int_equal(verify_at(over, now), LUMIRA_EINVAL);
    assert_int_equal(verify_at(over, now + 1), LUMIRA_OK);
}

/* exp == iat and exp < iat, both still in the future at `now` (so only that check refuses). */
static void test_jwt_verify_exp_not_after_iat(void **state)
{
    char p[256];

    (void)state;
    snprintf(p, sizeof(p),
             "{\"sub\":\"65a1b2c3d4e5f60718293a4b\",\"email\":\"a@b.co\",\"name\":\"N\","
             "\"role\":\"admin\",\"iat\":%d,\"exp\":%d,\"iss\":\"lumira\"}",
             IAT + 10, IAT + 10);
    assert_int_equal(verify_at(token_json(hs256_header, p), IAT), LUMIRA_EINVAL);
    snprintf(p, sizeof(p),
             "{\"sub\":\"65a1b2c3d4e5f60718293a4b\",\"email\":\"a@b.co\",\"name\":\"N\","
             "\"role\":\"admin\",\"iat\":%d,\"exp\":%d,\"iss\":\"lumira\"}",
             IAT + 30, IAT + 20);
    assert_int_equal(verify_at(token_json(hs256_header, p), IAT), LUMIRA_EINVAL);
    /* Control: exp one second after iat. */
    snprintf(p, sizeof(p),
             "{\"sub\":\"65a1b2c3d4e5f60718293a4b\",\"email\":\"a@b.co\",\"name\":\"N\","
             "\"role\":\"admin\",\"iat\":%d,\"exp\":%d,\"iss\":\"lumira\"}",
             IAT + 10, IAT + 11);
    assert_int_equal(verify_at(token_json(hs256_header, p), IAT), LUMIRA_OK);
}

/* ---- claims ---- */

static void test_jwt_verify_wrong_iss(void **state)
{
    static const char *const values[] = {"\"lumira2\"",  "\"Lumira\"",       "\"lumira \"",
                                         "\"\"",         "\"lumi\"",         "1",
                                         "[\"lumira\"]", "\"lumira\\u0000\""};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++)
        expect(values[i], token_json(hs256_header, payload_with("iss", values[i])), LUMIRA_EINVAL);
}

static void test_jwt_verify_missing_each_claim(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(base_claims); i++) {
        expect(base_claims[i].key, token_json(hs256_header, payload_with(base_claims[i].key, NULL)),
               LUMIRA_EINVAL);
        /* null counts as absent */
        expect(base_claims[i].key,
               token_json(hs256_header, payload_with(base_claims[i].key, "null")), LUMIRA_EINVAL);
    }
}

static void test_jwt_verify_sub_not_24_hex(void **state)
{
    static const char *const values[] = {
        "\"65a1b2c3d4e5f60718293a4\"",   /* 23 */
        "\"65a1b2c3d4e5f60718293a4bc\"", /* 25 */
        "\"65A1B2C3D4E5F60718293A4B\"",  /* upper case */
        "\"65a1b2c3d4e5f60718293a4g\"",  "\"65a1b2c3d4e5f60718293a4 \"",
        "\"zzzzzzzzzzzzzzzzzzzzzzzz\"",  "\"\"",
        "123456789012345678901234",      "{\"$oid\":\"65a1b2c3d4e5f60718293a4b\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++)
        expect(values[i], token_json(hs256_header, payload_with("sub", values[i])), LUMIRA_EINVAL);
}

static void test_jwt_verify_role_not_expert_or_admin(void **state)
{
    static const char *const values[] = {"\"root\"",       "\"Admin\"", "\"\"", "\"admin \"",
                                         "\"superadmin\"", "1",         "true", "[\"admin\"]"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++)
        expect(values[i], token_json(hs256_header, payload_with("role", values[i])), LUMIRA_EINVAL);
}

static void test_jwt_verify_iat_exp_wrong_types(void **state)
{
    static const struct claim cases[] = {
        {"iat", "\"1767225600\""},
        {"iat", "1767225600.0"},
        {"iat", "1767225600.5"},
        {"iat", "1.7672256e9"},
        {"iat", "-1"},
        {"iat", "true"},
        {"exp", "\"1767254400\""},
        {"exp", "1767254400.0"},
        {"exp", "1e30"},
        {"exp", "9223372036854775807"},
        {"exp", "4611686018427387904"}, /* INT64_MAX / 2 + 1 */
        {"exp", "{}"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++)
        expect(cases[i].value, token_json(hs256_header, payload_with(cases[i].key, cases[i].value)),
               LUMIRA_EINVAL);
    /* Control: the largest exp accepted. */
    expect("exp max", token_json(hs256_header, payload_with("exp", "4611686018427387903")),
           LUMIRA_OK);
}

static void test_jwt_verify_email_name_wrong_types(void **state)
{
    static const struct claim cases[] = {
        {"email", "\"\""}, {"email", "1"},    {"email", "[]"}, {"email", "\"a\\u0000b@c.d\""},
        {"name", "\"\""},  {"name", "false"}, {"name", "{}"},  {"name", "\"a\\u0000\""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++)
        expect(cases[i].value, token_json(hs256_header, payload_with(cases[i].key, cases[i].value)),
               LUMIRA_EINVAL);
}

/* The claim buffers' caps: max - 1 and max fit, max + 1 is refused. */
static void test_jwt_verify_email_name_length_edges(void **state)
{
    static const struct {
        const char *key;
        size_t len;
        enum lumira_err want;
    } cases[] = {
        {"email", LUMIRA_MAX_EMAIL - 1, LUMIRA_OK},
        {"email", LUMIRA_MAX_EMAIL, LUMIRA_OK},
        {"email", LUMIRA_MAX_EMAIL + 1, LUMIRA_EINVAL},
        {"name", LUMIRA_UTF8_BYTES(LUMIRA_MAX_NAME_CHARS) - 1, LUMIRA_OK},
        {"name", LUMIRA_UTF8_BYTES(LUMIRA_MAX_NAME_CHARS), LUMIRA_OK},
        {"name", LUMIRA_UTF8_BYTES(LUMIRA_MAX_NAME_CHARS) + 1, LUMIRA_EINVAL},
    };
    char value[512];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        value[0] = '"';
        memset(value + 1, 'n', cases[i].len);
        value[1 + cases[i].len] = '"';
        value[2 + cases[i].len] = '\0';
        if (verify(token_json(hs256_header, payload_with(cases[i].key, value))) != cases[i].want)
            fail_msg("%s of %zu bytes", cases[i].key, cases[i].len);
    }
}

/* ---- structure ---- */

static void test_jwt_verify_garbage_base64_header(void **state)
{
    const char *p = b64(payload_with(NULL, NULL));
    const char *h = b64(hs256_header); /* "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", 36 chars */
    char bad[5][64];
    size_t i;

    (void)state;
    snprintf(bad[0], sizeof(bad[0]), "%s==", h); /* padding */
    snprintf(bad[1], sizeof(bad[1]), "%sA", h);  /* length 1 mod 4 */
    snprintf(bad[2], sizeof(bad[2]), "+%s", h + 1);
    snprintf(bad[3], sizeof(bad[3]), "%.10s %s", h, h + 10);
    snprintf(bad[4], sizeof(bad[4]), "%.35s*", h);
    for (i = 0; i < ARRAY_LEN(bad); i++)
        expect(bad[i], sign_parts(bad[i], p), LUMIRA_EINVAL);
    expect("control", sign_parts(h, p), LUMIRA_OK);
}

static void test_jwt_verify_garbage_base64_payload(void **state)
{
    const char *h = b64(hs256_header);
    const char *p = b64(payload_with(NULL, NULL));
    size_t plen = strlen(p);
    char *bad = keep(malloc(plen + 8));

    (void)state;
    snprintf(bad, plen + 8, "%s=", p);
    expect("payload padded", sign_parts(h, bad), LUMIRA_EINVAL);
    snprintf(bad, plen + 8, "%s\n", p);
    expect("payload newline", sign_parts(h, bad), LUMIRA_EINVAL);
    memcpy(bad, p, plen + 1);
    bad[5] = '/';
    expect("payload '/'", sign_parts(h, bad), LUMIRA_EINVAL);
    memcpy(bad, p, plen + 1);
    bad[plen / 2] = '!';
    expect("payload '!'", sign_parts(h, bad), LUMIRA_EINVAL);
    /* Cut to a length of 1 mod 4. */
    memcpy(bad, p, plen + 1);
    bad[plen - plen % 4 - 3] = '\0';
    assert_int_equal(strlen(bad) % 4, 1);
    expect("payload cut", sign_parts(h, bad), LUMIRA_EINVAL);
}

static void test_jwt_verify_garbage_base64_signature(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, EXP);
    size_t len = strlen(tok);
    char *bad = keep(malloc(len + 8));
    const char *p;
    size_t idx;

    (void)state;
    snprintf(bad, len + 8, "%s=", tok);
    expect("signature padded", bad, LUMIRA_EINVAL);
    snprintf(bad, len + 8, "%sA", tok); /* 44 characters: 33 bytes */
    expect("signature 44 chars", bad, LUMIRA_EINVAL);
    snprintf(bad, len + 8, "%sAA", tok); /* 45: 1 mod 4 */
    expect("signature 45 chars", bad, LUMIRA_EINVAL);
    snprintf(bad, len + 8, "%.*s", (int)(len - 1), tok); /* 42 characters: 31 bytes */
    expect("signature 42 chars", bad, LUMIRA_EINVAL);
    snprintf(bad, len + 8, "%.*s+", (int)(len - 1), tok);
    expect("signature '+'", bad, LUMIRA_EINVAL);
    snprintf(bad, len + 8, "%s ", tok);
    expect("signature space", bad, LUMIRA_EINVAL);
    /* The last character with a trailing bit set: the same 32 bytes, a second spelling. */
    memcpy(bad, tok, len + 1);
    p = strchr(b64url_chars, bad[len - 1]);
    assert_non_null(p);
    idx = (size_t)(p - b64url_chars);
    assert_int_equal(idx & 3, 0);
    bad[len - 1] = b64url_chars[idx + 1];
    expect("signature trailing bits", bad, LUMIRA_EINVAL);
}

static void test_jwt_verify_two_and_four_parts(void **state)
{
    const char *tok = signed_token(LUMIRA_ROLE_EXPERT, IAT, EXP);
    const char *h = b64(hs256_header), *p = b64(payload_with(NULL, NULL));
    size_t len = strlen(tok);
    char *bad = keep(malloc(2 * len + 8));

    (void)state;
    snprintf(bad, 2 * len + 8, "%s.%s", h, p);
    expect("two parts", bad, LUMIRA_EINVAL);
    snprintf(bad, 2 * len + 8, "%s.%s", h, strrchr(tok, '.') + 1);
    expect("header.signature", bad, LUMIRA_EINVAL);
    snprintf(bad, 2 * len + 8, "%s.x", tok);
    expect("four parts", bad, LUMIRA_EINVAL);
    snprintf(bad, 2 * len + 8, "%s.", tok);
    expect("trailing dot", bad, LUMIRA_EINVAL);
    snprintf(bad, 2 * len + 8, "%s.%s", h, tok);
    expect("header twice", bad, LUMIRA_EINVAL);
    expect("no dot", b64(hs256_header), LUMIRA_EINVAL);
}

static void test_jwt_verify_empty_parts(void **state)
{
    const char *h = b64(hs256_header), *p = b64(payload_with(NULL, NULL));
    struct lumira_jwt_claims c;

    (void)state;
    expect("empty header", sign_parts("", p), LUMIRA_EINVAL);
    expect("empty payload", sign_parts(h, ""), LUMIRA_EINVAL);
    expect("empty both", sign_parts("", ""), LUMIRA_EINVAL);
    expect("..", "..", LUMIRA_EINVAL);
    expect(".", ".", LUMIRA_EINVAL);
    expect("...", "...", LUMIRA_EINVAL);
    assert_int_equal(verify_full(secret, SLEN, "", 0, NOW, &c), LUMIRA_EINVAL);
}

/* A correctly signed token of exactly `total` bytes: the header carries a "kid" and the payload
 * a "pad" claim, both of filler, sized to reach `total`. */
static char *padded_token(size_t total)
{
    size_t ppad = 600, penc, henc, hraw,
           base = strlen("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\"}");
    char *pad, *payload, *header, *tok;

    for (;;) {
        pad = keep(malloc(ppad + 3));
        pad[0] = '"';
        memset(pad + 1, 'y', ppad);
        memcpy(pad + 1 + ppad, "\"", 2);
        payload = payload_with("pad", pad);
        penc = lumira_b64url_encoded_len(strlen(payload));
        henc = total - 2 - 43 - penc;
        if (henc % 4 != 1)
            break;
        ppad++;
    }
    hraw = henc / 4 * 3 + (henc % 4 == 0 ? 0 : henc % 4 - 1);
    assert_true(hraw >= base);
    header = keep(malloc(hraw + 1));
    memcpy(header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"", base - 2);
    memset(header + base - 2, 'k', hraw - base);
    memcpy(header + hraw - 2, "\"}", 3);
    tok = token_json(header, payload);
    assert_int_equal(strlen(tok), total);
    return tok;
}

static void test_jwt_verify_max_jwt_bytes_ok(void **state)
{
    (void)state;
    expect("LUMIRA_MAX_JWT - 1", padded_token(LUMIRA_MAX_JWT - 1), LUMIRA_OK);
    expect("LUMIRA_MAX_JWT", padded_token(LUMIRA_MAX_JWT), LUMIRA_OK);
}

/* One byte more, otherwise sound (each part decodes within its cap): refused for its length. */
static void test_jwt_verify_max_jwt_plus_one_refused(void **state)
{
    (void)state;
    expect("LUMIRA_MAX_JWT + 1", padded_token(LUMIRA_MAX_JWT + 1), LUMIRA_EINVAL);
}

static void test_jwt_verify_10k_token_refused(void **state)
{
    (void)state;
    expect("10 KiB", padded_token(10 * 1024), LUMIRA_EINVAL);
}

/* A part that decodes to more than LUMIRA_MAX_JWT_PART bytes, in a token under LUMIRA_MAX_JWT. */
static void test_jwt_verify_part_over_cap(void **state)
{
    char pad[LUMIRA_MAX_JWT_PART + 3];

    (void)state;
    pad[0] = '"';
    memset(pad + 1, 'y', LUMIRA_MAX_JWT_PART);
    memcpy(pad + 1 + LUMIRA_MAX_JWT_PART, "\"", 2);
    expect("payload over cap", token_json(hs256_header, payload_with("pad", pad)), LUMIRA_EINVAL);
}

static void test_jwt_verify_header_not_json_object(void **state)
{
    static const char *const headers[] = {
        "[]", "[\"HS256\"]", "\"HS256\"", "null", "1", "true", "{", "alg=HS256", "\xff\xfe",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(headers); i++)
        expect(headers[i], token_json(headers[i], payload_with(NULL, NULL)), LUMIRA_EINVAL);
}

static void test_jwt_verify_payload_not_json_object(void **state)
{
    static const char *const payloads[] = {
        "[]",         "[{\"role\":\"admin\"}]", "\"admin\"", "null", "42", "{\"sub\":",
        "role=admin", "{\"name\":\"\xff\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(payloads); i++)
        expect(payloads[i], token_json(hs256_header, payloads[i]), LUMIRA_EINVAL);
}

static void test_jwt_verify_trailing_garbage_after_json(void **state)
{
    char p[1024];

    (void)state;
    expect("header x", token_json("{\"alg\":\"HS256\",\"typ\":\"JWT\"}x", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
    expect("header {}",
           token_json("{\"alg\":\"HS256\",\"typ\":\"JWT\"}{}", payload_with(NULL, NULL)),
           LUMIRA_EINVAL);
    snprintf(p, sizeof(p), "%s}", payload_with(NULL, NULL));
    expect("payload }", token_json(hs256_header, p), LUMIRA_EINVAL);
    snprintf(p, sizeof(p), "%s,{\"role\":\"admin\"}", payload_with(NULL, NULL));
    expect("payload second object", token_json(hs256_header, p), LUMIRA_EINVAL);
    snprintf(p, sizeof(p), "%s%c", payload_with(NULL, NULL), '\0');
    expect("payload NUL", sign_parts(b64(hs256_header), b64n(p, strlen(p) + 1)), LUMIRA_EINVAL);
}

#define T(f) cmocka_unit_test_teardown(f, free_kept)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_role_name),
        T(test_role_parse),
        T(test_jwt_sign_verify_round_trip),
        T(test_jwt_sign_matches_pyjwt),
        T(test_jwt_verify_pyjwt_token),
        T(test_jwt_sign_appends),
        T(test_jwt_sign_refuses_bad_claims),
        T(test_jwt_sign_too_big),
        T(test_jwt_sign_verify_largest_claims),
        T(test_jwt_verify_hand_made_token_ok),
        T(test_jwt_verify_claims_untouched_on_error),
        T(test_jwt_verify_not_nul_terminated),
        T(test_jwt_verify_payload_tampered),
        T(test_jwt_verify_signature_tampered),
        T(test_jwt_verify_wrong_secret),
        T(test_jwt_verify_alg_none_empty_signature),
        T(test_jwt_verify_alg_none_with_valid_hs256_signature),
        T(test_jwt_verify_alg_hs512_real_signature),
        T(test_jwt_verify_alg_hs512_with_hs256_signature),
        T(test_jwt_verify_alg_missing),
        T(test_jwt_verify_alg_other_values),
        T(test_jwt_verify_typ_not_jwt),
        T(test_jwt_verify_expired_at_exp),
        T(test_jwt_verify_expired_after_exp),
        T(test_jwt_verify_expired_but_wrong_iss),
        T(test_jwt_verify_iat_in_future),
        T(test_jwt_verify_exp_not_after_iat),
        T(test_jwt_verify_wrong_iss),
        T(test_jwt_verify_missing_each_claim),
        T(test_jwt_verify_sub_not_24_hex),
        T(test_jwt_verify_role_not_expert_or_admin),
        T(test_jwt_verify_iat_exp_wrong_types),
        T(test_jwt_verify_email_name_wrong_types),
        T(test_jwt_verify_email_name_length_edges),
        T(test_jwt_verify_garbage_base64_header),
        T(test_jwt_verify_garbage_base64_payload),
        T(test_jwt_verify_garbage_base64_signature),
        T(test_jwt_verify_two_and_four_parts),
        T(test_jwt_verify_empty_parts),
        T(test_jwt_verify_max_jwt_bytes_ok),
        T(test_jwt_verify_max_jwt_plus_one_refused),
        T(test_jwt_verify_10k_token_refused),
        T(test_jwt_verify_part_over_cap),
        T(test_jwt_verify_header_not_json_object),
        T(test_jwt_verify_payload_not_json_object),
        T(test_jwt_verify_trailing_garbage_after_json),
    };

    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
