/* Unit tests of src/webhook.c: the Stripe-Signature and X-N8N-Signature checks, with MACs
 * computed here by OpenSSL's HMAC() (independently of src/crypto.c) and fixed known-answer
 * vectors from `openssl dgst -sha256 -hmac`. */
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

#include "webhook.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SECRET "whsec_5Yb2Jq8mN4pR7tV1xZ3cF6hK9LdS0aWe"
#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define TOL 300
#define BODY "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{}}}"
/* A v1 that is well-formed but signs nothing of ours. */
#define BAD_V1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* printf '%s' "123.{}" | openssl dgst -sha256 -hmac whsec_test */
#define KAT_STRIPE "d20efd4f60a3b3852bcd133de6be0f49d4b7ebea5fdd09e892abb9540ff8640b"
/* printf '%s' '{"orderId":"65a1","success":true}' | openssl dgst -sha256 -hmac n8n-callback-secret
 * (and with -binary | base64) */
#define N8N_SECRET "n8n-callback-secret"
#define N8N_BODY "{\"orderId\":\"65a1\",\"success\":true}"
#define KAT_N8N_HEX "ed8cbc165d0d067657aa3f003c53d77061de5b5d2eaed1f4d34cc0fa8fbd5c22"
#define KAT_N8N_B64 "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCI="
/* printf '%s' '1767225600123.n-1:a_b.{"orderId":"65a1","success":true}' |
 *     openssl dgst -sha256 -hmac n8n-callback-secret */
#define N8N_TS "1767225600123"
#define N8N_NONCE "n-1:a_b"
#define KAT_N8N_REPLAY "301f8714d19eb91c4a4cac1061b901aec2e5999d91d22b02af71716a083dda1e"

/* HMAC-SHA256 of `len` bytes under `secret` by OpenSSL, as lowercase hex into out[65]. */
static void ref_hex(const char *secret, const void *data, size_t len, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0, i;

    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), data, len, mac, &maclen));
    assert_int_equal(maclen, 32);
    for (i = 0; i < maclen; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* The v1 Stripe would send for `t` and `body` under `secret`: HMAC of "t.body", joined here. */
static void stripe_v1(const char *secret, long long t, const char *body, char out[65])
{
    size_t blen = strlen(body), cap = 32 + blen;
    char *payload = malloc(cap);
    int n;

    assert_non_null(payload);
    n = snprintf(payload, cap, "%lld.%s", t, body);
    assert_true(n > 0 && (size_t)n < cap);
    ref_hex(secret, payload, (size_t)n, out);
    free(payload);
}

/* Verifies a NUL-terminated header against BODY and SECRET at NOW, from a heap copy of exactly
 * its length (so that ASan sees any read past it), and checks that `why` leaks nothing. */
static enum lumira_err verify_full(const char *header, const char *body, const char *secret,
                                   int64_t now, int64_t tol, char *why, size_t whylen)
{
    size_t hlen = strlen(header), blen = strlen(body);
    char *h = malloc(hlen > 0 ? hlen : 1), *b = malloc(blen > 0 ? blen : 1);
    enum lumira_err err;

    assert_non_null(h);
    assert_non_null(b);
    memcpy(h, header, hlen);
    memcpy(b, body, blen);
    err = lumira_stripe_sig_verify(h, hlen, b, blen, secret, now, tol, why, whylen);
    free(h);
    free(b);
    if (whylen > 0) {
        assert_true(strnlen(why, whylen) < whylen);
        if (whylen > 1)
            assert_true((err == LUMIRA_OK) == (why[0] == '\0'));
        if (secret != NULL && secret[0] != '\0')
            assert_null(strstr(why, secret));
        assert_null(strstr(why, "v1="));
        assert_null(strstr(why, BAD_V1));
    }
    return err;
}

static enum lumira_err verify(const char *header)
{
    char why[128];

    return verify_full(header, BODY, SECRET, NOW, TOL, why, sizeof(why));
}

/* A header "t=<t>,v1=<good>" for BODY under SECRET. */
static void good_header(long long t, char *out, size_t size)
{
    char v1[65];

    stripe_v1(SECRET, t, BODY, v1);
    snprintf(out, size, "t=%lld,v1=%s", t, v1);
}

static void test_stripe_sig_known_answer(void **state)
{
    char v1[65], why[128];

    (void)state;
    /* The helper agrees with openssl(1). */
    stripe_v1("whsec_test", 123, "{}", v1);
    assert_string_equal(v1, KAT_STRIPE);
    assert_int_equal(verify_full("t=123,v1=" KAT_STRIPE, "{}", "whsec_test", 123, TOL, why,
                                 sizeof(why)),
                     LUMIRA_OK);
    assert_string_equal(why, "");
    /* Hex in capitals is the same signature. */
    assert_int_equal(verify_full("t=123,v1=D20EFD4F60A3B3852BCD133DE6BE0F49D4B7EBEA5FDD09E892ABB9"
                                 "540FF8640B",
                                 "{}", "whsec_test", 123, TOL, why, sizeof(why)),
                     LUMIRA_OK);
    /* The key is the whole secret, "whsec_" included. */
    assert_int_equal(verify_full("t=123,v1=" KAT_STRIPE, "{}", "test", 123, TOL, why, sizeof(why)),
                     LUMIRA_EINVAL);
}

static void test_stripe_sig_valid_single_v1(void **state)
{
    char h[256], why[128];

    (void)state;
    good_header(NOW, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_OK);
    assert_string_equal(why, "");
    /* why may be left out. */
    assert_int_equal(lumira_stripe_sig_verify(h, strlen(h), BODY, strlen(BODY), SECRET, NOW, TOL,
                                              NULL, 0),
                     LUMIRA_OK);
}

/* Several v1 (the good one last), v0 and unknown keys skipped, spaces around items. */
static void test_stripe_sig_valid_among_several(void **state)
{
    char v1[65], h[512];

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    snprintf(h, sizeof(h), "t=%d,v1=" BAD_V1 ",v0=%s,v1=%.63s,scheme=x,v1=%s", NOW, v1, v1, v1);
    assert_int_equal(verify(h), LUMIRA_OK);
    snprintf(h, sizeof(h), " v1=%s ,\tt=%d\t, v0=" BAD_V1 " ", v1, NOW);
    assert_int_equal(verify(h), LUMIRA_OK);
    /* A malformed v1 next to the good one matches nothing, and spoils nothing. */
    snprintf(h, sizeof(h), "t=%d,v1=zz,v1=%s,v1=", NOW, v1);
    assert_int_equal(verify(h), LUMIRA_OK);
}

static void test_stripe_sig_v0_only(void **state)
{
    char v1[65], h[256], why[128];

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    snprintf(h, sizeof(h), "t=%d,v0=%s", NOW, v1); /* the right MAC, under the wrong scheme */
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "no v1 signature in the header");
}

static void test_stripe_sig_tampered_body(void **state)
{
    char h[256], why[128];

    (void)state;
    good_header(NOW, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY " ", SECRET, NOW, TOL, why, sizeof(why)),
                     LUMIRA_EINVAL);
    assert_string_equal(why, "no matching v1 signature (1 given)");
    assert_int_equal(verify_full(h, "", SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
}

static void test_stripe_sig_wrong_secret(void **state)
{
    char h[256], why[128];

    (void)state;
    good_header(NOW, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY, SECRET "x", NOW, TOL, why, sizeof(why)),
                     LUMIRA_EINVAL);
    assert_int_equal(verify_full(h, BODY, "whsec_other", NOW, TOL, why, sizeof(why)),
                     LUMIRA_EINVAL);
    /* No secret at all: nothing is checked. */
    assert_int_equal(verify_full(h, BODY, "", NOW, TOL, why, sizeof(why)), LUMIRA_ECONFIG);
    assert_int_equal(verify_full(h, BODY, NULL, NOW, TOL, why, sizeof(why)), LUMIRA_ECONFIG);
}

/* The tolerance at 300 s both ways, and one second past it. */
static void test_stripe_sig_timestamp_edges(void **state)
{
    static const struct {
        long long offset; /* t - NOW */
        enum lumira_err want;
        const char *why;
    } cases[] = {
        {0, LUMIRA_OK, ""},
        {-300, LUMIRA_OK, ""},
        {300, LUMIRA_OK, ""},
        {-301, LUMIRA_EEXPIRED, "timestamp 301s old (tolerance 300s)"},
        {301, LUMIRA_EEXPIRED, "timestamp 301s in the future (tolerance 300s)"},
        {-NOW, LUMIRA_EEXPIRED, "timestamp 1767225600s old (tolerance 300s)"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char h[256], why[128];

        good_header(NOW + cases[i].offset, h, sizeof(h));
        assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)),
                         cases[i].want);
        assert_string_equal(why, cases[i].why);
    }
}

/* The MAC is checked before the time: a forged header with an old t learns nothing of time. */
static void test_stripe_sig_forged_old_is_einval(void **state)
{
    char h[256];

    (void)state;
    snprintf(h, sizeof(h), "t=%d,v1=" BAD_V1, NOW - 100000);
    assert_int_equal(verify(h), LUMIRA_EINVAL);
}

/* Extreme clocks and tolerances: no overflow (UBSan), a sane answer. */
static void test_stripe_sig_extreme_now_and_tolerance(void **state)
{
    char h[256], why[128];

    (void)state;
    good_header(NOW, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY, SECRET, INT64_MIN, TOL, why, sizeof(why)),
                     LUMIRA_EEXPIRED);
    assert_int_equal(verify_full(h, BODY, SECRET, INT64_MAX, TOL, why, sizeof(why)),
                     LUMIRA_EEXPIRED);
    assert_int_equal(verify_full(h, BODY, SECRET, INT64_MIN, INT64_MAX, why, sizeof(why)),
                     LUMIRA_EEXPIRED);
    assert_int_equal(verify_full(h, BODY, SECRET, 0, INT64_MAX, why, sizeof(why)), LUMIRA_OK);
    /* A negative tolerance is 0: the same second only. */
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, -5, why, sizeof(why)), LUMIRA_OK);
    assert_int_equal(verify_full(h, BODY, SECRET, NOW + 1, -5, why, sizeof(why)),
                     LUMIRA_EEXPIRED);
    /* t = 0 and the largest t (11 digits), both correctly signed. */
    good_header(0, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY, SECRET, 0, TOL, why, sizeof(why)), LUMIRA_OK);
    /* now - t is exactly INT64_MIN. */
    assert_int_equal(verify_full(h, BODY, SECRET, INT64_MIN, TOL, why, sizeof(why)),
                     LUMIRA_EEXPIRED);
    assert_string_equal(why, "timestamp 9223372036854775808s in the future (tolerance 300s)");
    good_header(99999999999LL, h, sizeof(h));
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EEXPIRED);
}

static void test_stripe_sig_missing_t(void **state)
{
    char v1[65], h[256], why[128];

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    snprintf(h, sizeof(h), "v1=%s", v1);
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "malformed signature header: no t");
    snprintf(h, sizeof(h), "T=%d,v1=%s", NOW, v1); /* keys are case-sensitive */
    assert_int_equal(verify(h), LUMIRA_EINVAL);
}

static void test_stripe_sig_two_t(void **state)
{
    char v1[65], h[256], why[128];

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    snprintf(h, sizeof(h), "t=%d,v1=%s,t=%d", NOW, v1, NOW);
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "malformed signature header: more than one t");
}

static void test_stripe_sig_bad_t(void **state)
{
    static const char *const ts[] = {"",         "12a",          "-1767225600", "+1767225600",
                                     "1.5",      "0x10",         "1767225600 0", "१२३",
                                     "1e9",      "999999999999", "000000000001", "17672256OO"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(ts); i++) {
        char h[256], why[128];

        snprintf(h, sizeof(h), "t=%s,v1=" BAD_V1, ts[i]);
        assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)),
                         LUMIRA_EINVAL);
        assert_string_equal(why, "malformed signature header: t is not a timestamp");
    }
}

/* v1 values that are not 64 hex digits match nothing, even when they are a prefix of the MAC. */
static void test_stripe_sig_bad_hex(void **state)
{
    char v1[65], bad[80], h[256], why[128];
    size_t i;

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    for (i = 0; i < 7; i++) {
        switch (i) {
        case 0: /* odd: 63 */
            snprintf(bad, sizeof(bad), "%.63s", v1);
            break;
        case 1: /* short: 62 */
            snprintf(bad, sizeof(bad), "%.62s", v1);
            break;
        case 2: /* long: 66 */
            snprintf(bad, sizeof(bad), "%s00", v1);
            break;
        case 3: /* 65 */
            snprintf(bad, sizeof(bad), "%s0", v1);
            break;
        case 4: /* a non-hex digit */
            snprintf(bad, sizeof(bad), "%.63sg", v1);
            break;
        case 5: /* empty */
            bad[0] = '\0';
            break;
        default: /* base64 of the same MAC is not hex */
            snprintf(bad, sizeof(bad), "%s", "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCI=");
            break;
        }
        snprintf(h, sizeof(h), "t=%d,v1=%s", NOW, bad);
        assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)),
                         LUMIRA_EINVAL);
        assert_string_equal(why, "no matching v1 signature (1 given)");
    }
}

static void test_stripe_sig_empty_header(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(verify_full("", BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "missing signature header");
    assert_int_equal(lumira_stripe_sig_verify(NULL, 0, BODY, strlen(BODY), SECRET, NOW, TOL, why,
                                              sizeof(why)),
                     LUMIRA_EINVAL);
    assert_int_equal(verify(" "), LUMIRA_EINVAL);
    assert_int_equal(verify(","), LUMIRA_EINVAL);
}

/* Empty items, items without '=', another separator: refused even around a good signature. */
static void test_stripe_sig_malformed_items(void **state)
{
    /* The header is before "t=NOW" between "v1=<good>" after. */
    static const struct {
        const char *before, *between, *after;
    } cases[] = {
        {"", ",,", ""},  {"", ",", ","},        {",", ",", ""},
        {"", ",", ", ,"}, {"", ",", ",garbage"}, {"", ";", ""},
    };
    char v1[65];
    size_t i;

    (void)state;
    stripe_v1(SECRET, NOW, BODY, v1);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char h[256];

        snprintf(h, sizeof(h), "%st=%d%sv1=%s%s", cases[i].before, NOW, cases[i].between, v1,
                 cases[i].after);
        assert_int_equal(verify(h), LUMIRA_EINVAL);
    }
}

/* A correctly signed header padded with an unknown item to exactly `total` bytes. */
static void padded_header(size_t total, char *out)
{
    char h[256];
    size_t len, pad;

    good_header(NOW, h, sizeof(h));
    len = strlen(h);
    assert_true(total > len + 3);
    pad = total - len - 3; /* ",x=" then `pad` bytes */
    memcpy(out, h, len);
    memcpy(out + len, ",x=", 3);
    memset(out + len + 3, 'a', pad);
    out[total] = '\0';
}

/* The length cap at max - 1, max and max + 1, and far over it. */
static void test_stripe_sig_huge_header(void **state)
{
    char *h = malloc(4 * LUMIRA_MAX_SIG_HEADER + 1), why[128];

    (void)state;
    assert_non_null(h);
    assert_int_equal(LUMIRA_MAX_SIG_HEADER, 4096);
    padded_header(LUMIRA_MAX_SIG_HEADER - 1, h);
    assert_int_equal(verify(h), LUMIRA_OK);
    padded_header(LUMIRA_MAX_SIG_HEADER, h);
    assert_int_equal(verify(h), LUMIRA_OK);
    padded_header(LUMIRA_MAX_SIG_HEADER + 1, h);
    assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "signature header longer than 4096 bytes");
    padded_header(4 * LUMIRA_MAX_SIG_HEADER, h);
    assert_int_equal(verify(h), LUMIRA_EINVAL);
    free(h);
}

/* The item cap: 16 items pass, 17 do not, even with the good v1 first. */
static void test_stripe_sig_item_cap(void **state)
{
    size_t n;

    (void)state;
    assert_int_equal(LUMIRA_MAX_SIG_ITEMS, 16);
    for (n = 15; n <= 17; n++) {
        char h[2048], why[128];
        size_t i;

        good_header(NOW, h, sizeof(h)); /* 2 items */
        for (i = 2; i < n; i++) {
            size_t len = strlen(h);

            snprintf(h + len, sizeof(h) - len, ",v0=%s", BAD_V1);
        }
        assert_int_equal(verify_full(h, BODY, SECRET, NOW, TOL, why, sizeof(why)),
                         n <= 16 ? LUMIRA_OK : LUMIRA_EINVAL);
        if (n > 16)
            assert_string_equal(why, "malformed signature header: more than 16 items");
    }
}

/* Header and body are read by length: bytes after them (here a would-be good item) are not. */
static void test_stripe_sig_by_length(void **state)
{
    char good[256], h[512];
    size_t hlen;

    (void)state;
    good_header(NOW, good, sizeof(good));
    snprintf(h, sizeof(h), "t=%d,v1=" BAD_V1, NOW);
    hlen = strlen(h);
    snprintf(h + hlen, sizeof(h) - hlen, ",%s", strchr(good, 'v'));
    assert_int_equal(lumira_stripe_sig_verify(h, hlen, BODY, strlen(BODY), SECRET, NOW, TOL, NULL,
                                              0),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_stripe_sig_verify(h, strlen(h), BODY, strlen(BODY), SECRET, NOW, TOL,
                                              NULL, 0),
                     LUMIRA_OK);
    /* The body too: one byte fewer is another body. */
    assert_int_equal(lumira_stripe_sig_verify(good, strlen(good), BODY "x", strlen(BODY), SECRET,
                                              NOW, TOL, NULL, 0),
                     LUMIRA_OK);
    assert_int_equal(lumira_stripe_sig_verify(good, strlen(good), BODY, strlen(BODY) - 1, SECRET,
                                              NOW, TOL, NULL, 0),
                     LUMIRA_EINVAL);
}

/* A `why` too small for its reason is cut, still terminated. */
static void test_stripe_sig_small_why(void **state)
{
    char why[8];

    (void)state;
    assert_int_equal(verify_full("", BODY, SECRET, NOW, TOL, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "missing");
    memset(why, 'z', sizeof(why));
    assert_int_equal(verify_full("t=1", BODY, SECRET, NOW, TOL, why, 1), LUMIRA_EINVAL);
    assert_int_equal(why[0], '\0');
    assert_int_equal(why[1], 'z');
}

/* --- n8n --- */

static enum lumira_err n8n(const char *header, const char *body, const char *secret, char *why,
                           size_t whylen)
{
    size_t hlen = strlen(header);
    char *h = malloc(hlen > 0 ? hlen : 1);
    enum lumira_err err;

    assert_non_null(h);
    memcpy(h, header, hlen);
    err = lumira_n8n_sig_verify(h, hlen, body, strlen(body), secret, why, whylen);
    free(h);
    if (whylen > 0) {
        assert_true((err == LUMIRA_OK) == (why[0] == '\0'));
        if (secret != NULL && secret[0] != '\0')
            assert_null(strstr(why, secret));
        assert_null(strstr(why, KAT_N8N_HEX));
    }
    return err;
}

static enum lumira_err n8n_kat(const char *header)
{
    char why[128];

    return n8n(header, N8N_BODY, N8N_SECRET, why, sizeof(why));
}

static void test_n8n_sig_accepted_forms(void **state)
{
    static const char *const ok[] = {
        KAT_N8N_HEX,
        "ED8CBC165D0D067657AA3F003C53D77061DE5B5D2EAED1F4D34CC0FA8FBD5C22",
        "ed8cbc165d0d067657aa3f003c53d77061DE5B5D2EAED1F4D34CC0FA8FBD5C22",
        KAT_N8N_B64,
        "sha256=" KAT_N8N_HEX,
        "SHA256=" KAT_N8N_HEX, /* API.md: the prefix in any case */
        "Sha256=" KAT_N8N_HEX,
        "sha256=" KAT_N8N_B64,
        "  " KAT_N8N_HEX " ",
        "\tsha256=" KAT_N8N_B64 "\t ",
    };
    char hex[65];
    size_t i;

    (void)state;
    ref_hex(N8N_SECRET, N8N_BODY, strlen(N8N_BODY), hex);
    assert_string_equal(hex, KAT_N8N_HEX);
    for (i = 0; i < ARRAY_LEN(ok); i++)
        assert_int_equal(n8n_kat(ok[i]), LUMIRA_OK);
}

static void test_n8n_sig_computed(void **state)
{
    static const char *const bodies[] = {"", "{}", "{\"orderId\":\"x\",\"success\":false,"
                                                   "\"error\":\"caf\xc3\xa9\"}"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bodies); i++) {
        char hex[65], why[128];

        ref_hex("s3cr3t-n8n-callback-key", bodies[i], strlen(bodies[i]), hex);
        assert_int_equal(n8n(hex, bodies[i], "s3cr3t-n8n-callback-key", why, sizeof(why)),
                         LUMIRA_OK);
        assert_int_equal(n8n(hex, bodies[i], "s3cr3t-n8n-callback-kez", why, sizeof(why)),
                         LUMIRA_EINVAL);
    }
}

static void test_n8n_sig_wrong(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(n8n(KAT_N8N_HEX, N8N_BODY " ", N8N_SECRET, why, sizeof(why)),
                     LUMIRA_EINVAL);
    assert_string_equal(why, "signature does not match");
    assert_int_equal(n8n(KAT_N8N_B64, N8N_BODY, "other-secret", why, sizeof(why)),
                     LUMIRA_EINVAL);
    assert_int_equal(n8n_kat(BAD_V1), LUMIRA_EINVAL);
    /* The last hex digit changed. */
    assert_int_equal(n8n_kat("ed8cbc165d0d067657aa3f003c53d77061de5b5d2eaed1f4d34cc0fa8fbd5c23"),
                     LUMIRA_EINVAL);
}

static void test_n8n_sig_truncated_or_long(void **state)
{
    static const char *const bad[] = {
        "ed8cbc165d0d067657aa3f003c53d77061de5b5d2eaed1f4d34cc0fa8fbd5c2",   /* 63 */
        "ed8cbc165d0d067657aa3f003c53d77061de5b5d2eaed1f4d34cc0fa8fbd5c",    /* 62 */
        "ed8cbc165d0d067657aa3f003c53d77061de5b5d2eaed1f4d34cc0fa8fbd5c2200", /* 66 */
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCI",                        /* 43, unpadded */
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XC==",                       /* 31 bytes */
        "sha256=",
        "sha256",
        "sha256:" KAT_N8N_HEX,
        "sha256=sha256=" KAT_N8N_HEX,
        KAT_N8N_HEX "," KAT_N8N_HEX,
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(n8n_kat(bad[i]), LUMIRA_EINVAL);
}

static void test_n8n_sig_empty(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(n8n("", N8N_BODY, N8N_SECRET, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "missing signature header");
    assert_int_equal(lumira_n8n_sig_verify(NULL, 0, N8N_BODY, strlen(N8N_BODY), N8N_SECRET, why,
                                           sizeof(why)),
                     LUMIRA_EINVAL);
    assert_int_equal(n8n_kat("   "), LUMIRA_EINVAL);
    assert_int_equal(n8n(KAT_N8N_HEX, N8N_BODY, "", why, sizeof(why)), LUMIRA_ECONFIG);
    assert_int_equal(n8n(KAT_N8N_HEX, N8N_BODY, NULL, why, sizeof(why)), LUMIRA_ECONFIG);
}

static void test_n8n_sig_garbage_base64(void **state)
{
    static const char *const bad[] = {
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XC!=",  /* '!' */
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA-o-9XCI=",  /* base64url alphabet */
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCJ=",  /* unused bits set */
        "7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCIA",  /* 33 bytes, no padding */
        "7Yy8Fl0NBnZXqj8APFPXcGHe W10urtH000zA+o+9XCI=", /* inner space (45) */
        "7Yy8Fl0NBnZXqj8APFPXcGHe=10urtH000zA+o+9XCI=",  /* '=' inside */
        "============================================",
        "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg", /* 64, not hex */
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(n8n_kat(bad[i]), LUMIRA_EINVAL);
}

static void test_n8n_sig_huge_header(void **state)
{
    size_t n = LUMIRA_MAX_SIG_HEADER + 1;
    char *h = malloc(n + 1), why[128];

    (void)state;
    assert_non_null(h);
    /* The right signature in spaces: refused for its length alone. */
    memset(h, ' ', n);
    memcpy(h + 10, KAT_N8N_HEX, 64);
    h[n] = '\0';
    assert_int_equal(n8n(h, N8N_BODY, N8N_SECRET, why, sizeof(why)), LUMIRA_EINVAL);
    assert_string_equal(why, "signature header longer than 4096 bytes");
    h[n - 1] = '\0'; /* 4096 bytes: allowed */
    assert_int_equal(n8n(h, N8N_BODY, N8N_SECRET, why, sizeof(why)), LUMIRA_OK);
    free(h);
}

/* ---- replay-safe n8n callbacks ---- */

static enum lumira_err n8n_replay(const char *header, const char *ts, const char *nonce,
                                  const char *body)
{
    char why[128];

    return lumira_n8n_sig_verify_replay(header, strlen(header), ts, strlen(ts), nonce,
                                        strlen(nonce), body, strlen(body), N8N_SECRET, why,
                                        sizeof(why));
}

static void test_n8n_replay_sig_known_answer(void **state)
{
    (void)state;
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, N8N_TS, N8N_NONCE, N8N_BODY), LUMIRA_OK);
    assert_int_equal(n8n_replay("sha256=" KAT_N8N_REPLAY, N8N_TS, N8N_NONCE, N8N_BODY),
                     LUMIRA_OK);
    /* Each part is covered: another timestamp, nonce or body does not match. */
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, "1767225600124", N8N_NONCE, N8N_BODY),
                     LUMIRA_EINVAL);
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, N8N_TS, "n-2:a_b", N8N_BODY), LUMIRA_EINVAL);
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, N8N_TS, N8N_NONCE, N8N_BODY " "),
                     LUMIRA_EINVAL);
    /* The body-only MAC is not the replay-safe one, nor the other way round. */
    assert_int_equal(n8n_replay(KAT_N8N_HEX, N8N_TS, N8N_NONCE, N8N_BODY), LUMIRA_EINVAL);
    {
        char why[128];

        assert_int_equal(lumira_n8n_sig_verify(KAT_N8N_REPLAY, strlen(KAT_N8N_REPLAY), N8N_BODY,
                                               strlen(N8N_BODY), N8N_SECRET, why, sizeof(why)),
                         LUMIRA_EINVAL);
    }
    /* Malformed replay headers: nothing is computed. */
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, "", N8N_NONCE, N8N_BODY), LUMIRA_EINVAL);
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, N8N_TS, "", N8N_BODY), LUMIRA_EINVAL);
    assert_int_equal(n8n_replay(KAT_N8N_REPLAY, N8N_TS, "a b", N8N_BODY), LUMIRA_EINVAL);
}

static void test_n8n_timestamp_parse(void **state)
{
    static const char *const bad[] = {"",     "-1",  "+1",   "1.5", "1e3", " 1",
                                      "1 ",   "0x1", "abc",  "1a",  "1234567890123456"};
    int64_t ms = -1;
    size_t i;

    (void)state;
    assert_true(lumira_n8n_timestamp_parse("0", 1, &ms));
    assert_int_equal(ms, 0);
    assert_true(lumira_n8n_timestamp_parse(N8N_TS, strlen(N8N_TS), &ms));
    assert_int_equal(ms, INT64_C(1767225600123));
    /* 15 digits (the cap) pass, 16 do not. */
    assert_true(lumira_n8n_timestamp_parse("999999999999999", 15, &ms));
    assert_int_equal(ms, INT64_C(999999999999999));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lumira_n8n_timestamp_parse(bad[i], strlen(bad[i]), &ms))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(lumira_n8n_timestamp_parse(NULL, 0, &ms));
}

static void test_n8n_nonce_valid(void **state)
{
    static const char *const bad[] = {"", "a b", "a/b", "a,b", "a=b", "a\tb", "\xc3\xa9",
                                      "a\"b", "a+b"};
    char n[LUMIRA_MAX_NONCE + 2];
    size_t i;

    (void)state;
    assert_true(lumira_n8n_nonce_valid("Az09._:-", 8));
    memset(n, 'x', sizeof(n));
    assert_true(lumira_n8n_nonce_valid(n, 1));
    assert_true(lumira_n8n_nonce_valid(n, LUMIRA_MAX_NONCE - 1));
    assert_true(lumira_n8n_nonce_valid(n, LUMIRA_MAX_NONCE));
    assert_false(lumira_n8n_nonce_valid(n, LUMIRA_MAX_NONCE + 1));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lumira_n8n_nonce_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(lumira_n8n_nonce_valid(NULL, 0));
    /* A NUL inside is not a nonce character either. */
    assert_false(lumira_n8n_nonce_valid("a\0b", 3));
}

/* The longest timestamp and nonce together fit the prefix buffer. */
static void test_n8n_replay_sig_longest_headers(void **state)
{
    char nonce[LUMIRA_MAX_NONCE + 1], hex[65], *msg;
    const char *ts = "999999999999999";
    size_t len;

    (void)state;
    memset(nonce, 'n', LUMIRA_MAX_NONCE);
    nonce[LUMIRA_MAX_NONCE] = '\0';
    len = strlen(ts) + 1 + LUMIRA_MAX_NONCE + 1 + strlen(N8N_BODY);
    msg = malloc(len + 1);
    assert_non_null(msg);
    snprintf(msg, len + 1, "%s.%s.%s", ts, nonce, N8N_BODY);
    ref_hex(N8N_SECRET, msg, len, hex);
    assert_int_equal(n8n_replay(hex, ts, nonce, N8N_BODY), LUMIRA_OK);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_sig_known_answer),
        cmocka_unit_test(test_stripe_sig_valid_single_v1),
        cmocka_unit_test(test_stripe_sig_valid_among_several),
        cmocka_unit_test(test_stripe_sig_v0_only),
        cmocka_unit_test(test_stripe_sig_tampered_body),
        cmocka_unit_test(test_stripe_sig_wrong_secret),
        cmocka_unit_test(test_stripe_sig_timestamp_edges),
        cmocka_unit_test(test_stripe_sig_forged_old_is_einval),
        cmocka_unit_test(test_stripe_sig_extreme_now_and_tolerance),
        cmocka_unit_test(test_stripe_sig_missing_t),
        cmocka_unit_test(test_stripe_sig_two_t),
        cmocka_unit_test(test_stripe_sig_bad_t),
        cmocka_unit_test(test_stripe_sig_bad_hex),
        cmocka_unit_test(test_stripe_sig_empty_header),
        cmocka_unit_test(test_stripe_sig_malformed_items),
        cmocka_unit_test(test_stripe_sig_huge_header),
        cmocka_unit_test(test_stripe_sig_item_cap),
        cmocka_unit_test(test_stripe_sig_by_length),
        cmocka_unit_test(test_stripe_sig_small_why),
        cmocka_unit_test(test_n8n_sig_accepted_forms),
        cmocka_unit_test(test_n8n_sig_computed),
        cmocka_unit_test(test_n8n_sig_wrong),
        cmocka_unit_test(test_n8n_sig_truncated_or_long),
        cmocka_unit_test(test_n8n_sig_empty),
        cmocka_unit_test(test_n8n_sig_garbage_base64),
        cmocka_unit_test(test_n8n_sig_huge_header),
        cmocka_unit_test(test_n8n_replay_sig_known_answer),
        cmocka_unit_test(test_n8n_timestamp_parse),
        cmocka_unit_test(test_n8n_nonce_valid),
        cmocka_unit_test(test_n8n_replay_sig_longest_headers),
    };

    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
