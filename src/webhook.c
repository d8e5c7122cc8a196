#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "str.h"
#include "webhook.h"

/* Digits of a Stripe timestamp: 11 reach the year 5138, and keep t + "." in a small buffer. */
#define MAX_T_DIGITS 11
#define MAX_T 99999999999ULL
/* Text lengths of a SHA-256 MAC in hex and in padded base64. */
#define MAC_HEX_LEN (2 * LUMIRA_SHA256_LEN)
#define MAC_B64_LEN 44

/* A Stripe-Signature header taken apart: the t text as received (it is part of the signed
 * payload) and the v1 signatures that decoded to 32 bytes. */
struct stripe_sig {
    const char *t;
    size_t tlen;
    uint64_t tval;
    size_t v1_seen; /* v1 items, well-formed or not */
    size_t v1_good; /* entries used in v1[] */
    unsigned char v1[LUMIRA_MAX_SIG_ITEMS][LUMIRA_SHA256_LEN];
};

/* Writes the reason for the log into `why` when there is room for one. */
static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* The blanks tolerated around a header item: space and tab. */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Drops spaces and tabs at both ends of *s (*len bytes). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

/* True when the `klen` bytes at `key` are the NUL-terminated `name`. */
static bool key_is(const char *key, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(key, name, klen) == 0;
}

/* Takes one `key=value` item (already trimmed) into `sig`. LUMIRA_EINVAL, with the reason in
 * `why`, for an item without '=', a second t or a t that is not a timestamp. */
static enum lumira_err take_item(const char *it, size_t len, struct stripe_sig *sig, char *why,
                                 size_t whylen)
{
    const char *eq = memchr(it, '=', len);
    const char *val;
    size_t klen, vlen, outlen = 0;
    uint64_t t;

    if (eq == NULL) {
        say(why, whylen, "malformed signature header: an item has no '='");
        return LUMIRA_EINVAL;
    }
    klen = (size_t)(eq - it);
    val = eq + 1;
    vlen = len - klen - 1;
    if (key_is(it, klen, "t")) {
        if (sig->t != NULL) {
            say(why, whylen, "malformed signature header: more than one t");
            return LUMIRA_EINVAL;
        }
        if (vlen > MAX_T_DIGITS || lumira_parse_u64(val, vlen, MAX_T, &t) != LUMIRA_OK) {
            say(why, whylen, "malformed signature header: t is not a timestamp");
            return LUMIRA_EINVAL;
        }
        sig->t = val;
        sig->tlen = vlen;
        sig->tval = t;
    } else if (key_is(it, klen, "v1")) {
        /* A v1 that is not 64 hex digits is kept out of v1[]: it matches nothing. */
        sig->v1_seen++;
        if (vlen == MAC_HEX_LEN &&
            lumira_hex_decode(val, vlen, sig->v1[sig->v1_good], LUMIRA_SHA256_LEN, &outlen) ==
                LUMIRA_OK &&
            outlen == LUMIRA_SHA256_LEN)
            sig->v1_good++;
    }
    return LUMIRA_OK;
}

/* Splits a Stripe-Signature header (1 to LUMIRA_MAX_SIG_HEADER bytes) into `sig`. LUMIRA_EINVAL
 * with the reason in `why` when it is malformed, has no t or no v1. */
static enum lumira_err parse_stripe(const char *h, size_t hlen, struct stripe_sig *sig, char *why,
                                    size_t whylen)
{
    size_t pos = 0, items = 0;
    enum lumira_err err;

    for (;;) {
        const char *comma = memchr(h + pos, ',', hlen - pos);
        size_t stop = comma != NULL ? (size_t)(comma - h) : hlen;
        const char *it = h + pos;
        size_t len = stop - pos;

        if (++items > LUMIRA_MAX_SIG_ITEMS) {
            say(why, whylen, "malformed signature header: more than %d items",
                LUMIRA_MAX_SIG_ITEMS);
            return LUMIRA_EINVAL;
        }
        trim(&it, &len);
        if (len == 0) {
            say(why, whylen, "malformed signature header: an empty item");
            return LUMIRA_EINVAL;
        }
        err = take_item(it, len, sig, why, whylen);
        if (err != LUMIRA_OK)
            return err;
        if (comma == NULL)
            break;
        pos = stop + 1;
    }
    if (sig->t == NULL) {
        say(why, whylen, "malformed signature header: no t");
        return LUMIRA_EINVAL;
    }
    if (sig->v1_seen == 0) {
        say(why, whylen, "no v1 signature in the header");
        return LUMIRA_EINVAL;
    }
    return LUMIRA_OK;
}

/* The checks both verifications start with: a secret to check against, a header of a sane
 * size. Empties `why` ("" on LUMIRA_OK). `what` names the secret in the reason. */
static enum lumira_err precheck(const char *header, size_t hlen, const char *secret,
                                const char *what, char *why, size_t whylen)
{
    say(why, whylen, "%s", "");
    if (secret == NULL || secret[0] == '\0') {
        say(why, whylen, "no %s secret configured", what);
        return LUMIRA_ECONFIG;
    }
    if (header == NULL || hlen == 0) {
        say(why, whylen, "missing signature header");
        return LUMIRA_EINVAL;
    }
    if (hlen > LUMIRA_MAX_SIG_HEADER) {
        say(why, whylen, "signature header longer than %d bytes", LUMIRA_MAX_SIG_HEADER);
        return LUMIRA_EINVAL;
    }
    return LUMIRA_OK;
}

enum lumira_err lumira_stripe_sig_verify(const char *header, size_t hlen, const char *body,
                                         size_t blen, const char *secret, int64_t now_s,
                                         int64_t tolerance_s, char *why, size_t whylen)
{
    struct stripe_sig sig;
    unsigned char mac[LUMIRA_SHA256_LEN];
    char prefix[MAX_T_DIGITS + 1];
    int64_t t, age;
    bool match = false;
    enum lumira_err err;
    size_t i;

    err = precheck(header, hlen, secret, "webhook", why, whylen);
    if (err != LUMIRA_OK)
        return err;
    memset(&sig, 0, sizeof(sig));
    err = parse_stripe(header, hlen, &sig, why, whylen);
    if (err != LUMIRA_OK)
        return err;

    /* The signed payload is the t text as received, '.', then the raw body. */
    memcpy(prefix, sig.t, sig.tlen);
    prefix[sig.tlen] = '.';
    err = lumira_hmac_sha256_cat(secret, strlen(secret), prefix, sig.tlen + 1, body, blen, mac);
    if (err != LUMIRA_OK) {
        say(why, whylen, "HMAC failed");
        goto out;
    }
    /* Every v1 is compared, whatever the others gave. */
    for (i = 0; i < sig.v1_good; i++)
        match |= lumira_ct_equal(mac, sig.v1[i], LUMIRA_SHA256_LEN);
    if (!match) {
        say(why, whylen, "no matching v1 signature (%zu given)", sig.v1_seen);
        err = LUMIRA_EINVAL;
        goto out;
    }

    /* Only now the time: t is at most MAX_T, so it fits; now_s - t may not. */
    t = (int64_t)sig.tval;
    if (tolerance_s < 0)
        tolerance_s = 0;
    if (__builtin_sub_overflow(now_s, t, &age)) {
        say(why, whylen, "timestamp outside the tolerance");
        err = LUMIRA_EEXPIRED;
    } else if (age > tolerance_s) {
        say(why, whylen, "timestamp %llds old (tolerance %llds)", (long long)age,
            (long long)tolerance_s);
        err = LUMIRA_EEXPIRED;
    } else if (age < -tolerance_s) {
        /* -age in unsigned arithmetic: age may be INT64_MIN. */
        say(why, whylen, "timestamp %llus in the future (tolerance %llds)",
            0ULL - (unsigned long long)age, (long long)tolerance_s);
        err = LUMIRA_EEXPIRED;
    }
out:
    OPENSSL_cleanse(mac, sizeof(mac));
    return err;
}

bool lumira_n8n_timestamp_parse(const char *s, size_t len, int64_t *ms)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || len == 0 || len > LUMIRA_MAX_TIMESTAMP_DIGITS)
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 15 digits cannot overflow */
    }
    *ms = (int64_t)v;
    return true;
}

bool lumira_n8n_nonce_valid(const char *s, size_t len)
{
    size_t i;

    if (s == NULL || len == 0 || len > LUMIRA_MAX_NONCE)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* The check of both forms: X-N8N-Signature against HMAC(secret, prefix + body), `prefix`
 * (`plen` bytes) empty for the body-only form. */
static enum lumira_err n8n_verify(const char *header, size_t hlen, const char *prefix,
                                  size_t plen, const char *body, size_t blen, const char *secret,
                                  char *why, size_t whylen)
{
    unsigned char got[LUMIRA_SHA256_LEN], mac[LUMIRA_SHA256_LEN];
    const char *s = header;
    size_t len = hlen, outlen = 0;
    enum lumira_err err;

    err = precheck(header, hlen, secret, "callback", why, whylen);
    if (err != LUMIRA_OK)
        return err;
    trim(&s, &len);
    if (len >= 7 && strncasecmp(s, "sha256=", 7) == 0) { /* API.md: the prefix in any case */
        s += 7;
        len -= 7;
    }
    if (len == MAC_HEX_LEN) {
        err = lumira_hex_decode(s, len, got, sizeof(got), &outlen);
    } else if (len == MAC_B64_LEN) {
        err = lumira_b64_decode(s, len, got, sizeof(got), &outlen);
    } else {
        say(why, whylen, "signature is %zu characters, not 64 (hex) or 44 (base64)", len);
        return LUMIRA_EINVAL;
    }
    if (err != LUMIRA_OK || outlen != LUMIRA_SHA256_LEN) {
        say(why, whylen, "signature is not valid %s", len == MAC_HEX_LEN ? "hex" : "base64");
        return LUMIRA_EINVAL;
    }
    err = lumira_hmac_sha256_cat(secret, strlen(secret), prefix, plen, blen > 0 ? body : "",
                                 blen, mac);
    if (err != LUMIRA_OK) {
        say(why, whylen, "HMAC failed");
    } else if (!lumira_ct_equal(mac, got, sizeof(mac))) {
        say(why, whylen, "signature does not match%s", plen > 0 ? " (timestamp.nonce.body)" : "");
        err = LUMIRA_EINVAL;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return err;
}

enum lumira_err lumira_n8n_sig_verify(const char *header, size_t hlen, const char *body,
                                      size_t blen, const char *secret, char *why, size_t whylen)
{
    return n8n_verify(header, hlen, "", 0, body, blen, secret, why, whylen);
}

enum lumira_err lumira_n8n_sig_verify_replay(const char *header, size_t hlen, const char *ts,
                                             size_t tslen, const char *nonce, size_t noncelen,
                                             const char *body, size_t blen, const char *secret,
                                             char *why, size_t whylen)
{
    char prefix[LUMIRA_MAX_TIMESTAMP_DIGITS + 1 + LUMIRA_MAX_NONCE + 1];
    int64_t ms;

    if (!lumira_n8n_timestamp_parse(ts, tslen, &ms) || !lumira_n8n_nonce_valid(nonce, noncelen)) {
        say(why, whylen, "malformed timestamp or nonce");
        return LUMIRA_EINVAL;
    }
    memcpy(prefix, ts, tslen);
    prefix[tslen] = '.';
    memcpy(prefix + tslen + 1, nonce, noncelen);
    prefix[tslen + 1 + noncelen] = '.';
    return n8n_verify(header, hlen, prefix, tslen + noncelen + 2, body, blen, secret, why,
                      whylen);
}
