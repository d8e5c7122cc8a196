/* libFuzzer entry for webhook signatures: lumira_stripe_sig_verify() with a fixed secret and
 * body on the input as a Stripe-Signature header; then on a header whose first items are a
 * VALID t and v1 for the input as the body, followed by the input's first line as more items
 * (so the item parser runs behind a good signature too); and lumira_n8n_sig_verify() on the
 * input as an X-N8N-Signature header. Headers and bodies are heap copies of exactly their length
 * (ASan sees any read past them). What is accepted must keep the header's promises; anything
 * else aborts. Frees all it allocates. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "lumira_limits.h"
#include "str.h"
#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "whsec_fuzzFuzzFuzzFuzzFuzzFuzzFuzz0123";
static const char body[] = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
/* 2026-01-01T00:00:00Z */
#define NOW 1767225600
#define TOL 300

/* A heap copy of exactly `len` bytes (1 when empty, never read then). */
static char *copy_of(const void *p, size_t len)
{
    char *c = malloc(len > 0 ? len : 1);

    if (c == NULL)
        abort();
    if (len > 0)
        memcpy(c, p, len);
    return c;
}

/* `why` must be terminated, "" exactly on LUMIRA_OK, and never hold the secret. */
static void check_why(enum lumira_err err, const char *why, size_t size)
{
    if (strnlen(why, size) == size || (err == LUMIRA_OK) != (why[0] == '\0') ||
        strstr(why, secret) != NULL || strstr(why, "whsec_") != NULL)
        abort();
}

/* Verifies `hlen` bytes of `header` against `blen` bytes of `b` (heap copies) at `now`. */
static enum lumira_err stripe(const char *header, size_t hlen, const char *b, size_t blen,
                              int64_t now)
{
    char *h = copy_of(header, hlen), *bc = copy_of(b, blen), why[128];
    enum lumira_err err;

    err = lumira_stripe_sig_verify(h, hlen, bc, blen, secret, now, TOL, why, sizeof(why));
    check_why(err, why, sizeof(why));
    if (err != LUMIRA_OK && err != LUMIRA_EINVAL && err != LUMIRA_EEXPIRED)
        abort();
    /* Nothing is accepted past the header cap. */
    if (err == LUMIRA_OK && hlen > LUMIRA_MAX_SIG_HEADER)
        abort();
    free(h);
    free(bc);
    return err;
}

/* The input as a header over the fixed body: no one can sign without the secret. */
static void check_raw_header(const uint8_t *data, size_t size)
{
    if (stripe((const char *)data, size, body, sizeof(body) - 1, NOW) == LUMIRA_OK)
        abort();
}

/* "t=NOW,v1=<valid for the input as the body>" then ",<first line of the input>" when it has
 * one. Without the extra items this must be accepted, and never for another body; with them
 * the answer is OK or EINVAL (they may be malformed, a second t, too many), never EEXPIRED. */
static void check_signed(const uint8_t *data, size_t size)
{
    unsigned char mac[LUMIRA_SHA256_LEN];
    char prefix[32], hex[2 * LUMIRA_SHA256_LEN + 1], *h;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t extra = nl != NULL ? (size_t)(nl - data) : 0, hlen;
    int plen = snprintf(prefix, sizeof(prefix), "%d.", NOW);
    enum lumira_err err;

    if (plen <= 0 || (size_t)plen >= sizeof(prefix))
        abort();
    if (lumira_hmac_sha256_cat(secret, sizeof(secret) - 1, prefix, (size_t)plen, data, size,
                               mac) != LUMIRA_OK)
        abort();
    lumira_hex_encode(mac, sizeof(mac), hex);
    h = malloc(16 + sizeof(hex) + 1 + extra);
    if (h == NULL)
        abort();
    hlen = (size_t)snprintf(h, 16 + sizeof(hex), "t=%d,v1=%s", NOW, hex);
    if (stripe(h, hlen, (const char *)data, size, NOW) != LUMIRA_OK)
        abort();
    if (stripe(h, hlen, (const char *)data, size, NOW + TOL + 1) != LUMIRA_EEXPIRED)
        abort();
    if (size > 0 && stripe(h, hlen, (const char *)data, size - 1, NOW) != LUMIRA_EINVAL)
        abort();
    if (extra > 0) {
        h[hlen] = ',';
        memcpy(h + hlen + 1, data, extra);
        err = stripe(h, hlen + 1 + extra, (const char *)data, size, NOW);
        if (err != LUMIRA_OK && err != LUMIRA_EINVAL)
            abort();
    }
    free(h);
}

/* The input as an X-N8N-Signature over the fixed body: unforgeable, and no other answer. */
static void check_n8n(const uint8_t *data, size_t size)
{
    char *h = copy_of(data, size), why[128];
    enum lumira_err err;

    err = lumira_n8n_sig_verify(h, size, body, sizeof(body) - 1, secret, why, sizeof(why));
    check_why(err, why, sizeof(why));
    if (err != LUMIRA_EINVAL)
        abort();
    free(h);
}

/* The input split at its first two newlines as X-Timestamp, X-Nonce and X-N8N-Signature of the
 * replay-safe form over the fixed body: the header parsers must agree with the verifier, and
 * nothing forged passes. */
static void check_n8n_replay(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *nl1, *nl2;
    char *ts, *nonce, *h, why[128];
    size_t tslen, nlen, hlen;
    int64_t ms;
    enum lumira_err err;

    nl1 = memchr(s, '\n', size);
    if (nl1 == NULL)
        return;
    nl2 = memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - s));
    if (nl2 == NULL)
        return;
    tslen = (size_t)(nl1 - s);
    nlen = (size_t)(nl2 - nl1 - 1);
    hlen = size - (size_t)(nl2 + 1 - s);
    ts = copy_of(data, tslen);
    nonce = copy_of((const uint8_t *)nl1 + 1, nlen);
    h = copy_of((const uint8_t *)nl2 + 1, hlen);
    err = lumira_n8n_sig_verify_replay(h, hlen, ts, tslen, nonce, nlen, body, sizeof(body) - 1,
                                       secret, why, sizeof(why));
    check_why(err, why, sizeof(why));
    if (err != LUMIRA_EINVAL)
        abort();
    if (lumira_n8n_timestamp_parse(ts, tslen, &ms) && (ms < 0 || tslen > LUMIRA_MAX_TIMESTAMP_DIGITS))
        abort();
    if (lumira_n8n_nonce_valid(nonce, nlen) && (nlen == 0 || nlen > LUMIRA_MAX_NONCE))
        abort();
    free(ts);
    free(nonce);
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_raw_header(data, size);
    check_signed(data, size);
    check_n8n(data, size);
    check_n8n_replay(data, size);
    return 0;
}
