/* libFuzzer entry for bearer tokens: lumira_jwt_verify() with a fixed secret on the input as a
 * token, then on a token made from the input with a VALID signature (so the header and claims
 * checks behind the signature are reached too), and lumira_b64url_decode() on the input. What
 * is accepted must keep the header's promises; anything else aborts. Frees all it allocates. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "jwt.h"
#include "lumira_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-jwt-secret-of-at-least-32-bytes!";
#define SLEN (sizeof(secret) - 1)
/* 2026-01-01T00:00:00Z */
#define NOW 1767225600

static bool is_oid_hex(const char *s)
{
    return strlen(s) == LUMIRA_OID_HEX && strspn(s, "0123456789abcdef") == LUMIRA_OID_HEX;
}

/* Verifies `len` bytes (copied to the heap with nothing after them, for ASan) and checks the
 * outcome against jwt.h. On LUMIRA_OK, signs the claims again and verifies that token too. */
static void check_verify(const char *tok, size_t len, int64_t now)
{
    struct lumira_jwt_claims c, again;
    struct lumira_buf out;
    char *copy = malloc(len > 0 ? len : 1);
    enum lumira_err err;

    if (copy == NULL)
        abort();
    memcpy(copy, tok, len);
    err = lumira_jwt_verify(secret, SLEN, copy, len, now, &c);
    free(copy);
    if (err == LUMIRA_EINVAL || err == LUMIRA_EEXPIRED || err == LUMIRA_ENOMEM)
        return;
    if (err != LUMIRA_OK)
        abort();
    /* Accepted: the promises of lumira_jwt_verify(). */
    if (len > LUMIRA_MAX_JWT || !is_oid_hex(c.sub) || c.email[0] == '\0' || c.name[0] == '\0' ||
        strnlen(c.email, sizeof(c.email)) == sizeof(c.email) ||
        strnlen(c.name, sizeof(c.name)) == sizeof(c.name) || lumira_role_name(c.role) == NULL ||
        c.exp <= c.iat || c.iat > now + LUMIRA_JWT_LEEWAY_S || now >= c.exp)
        abort();
    /* What we accept we can sign again, and that verifies to the same claims. */
    lumira_buf_init(&out, LUMIRA_MAX_JWT);
    err = lumira_jwt_sign(secret, SLEN, &c, &out);
    if (err == LUMIRA_OK) {
        if (lumira_jwt_verify(secret, SLEN, out.ptr, out.len, now, &again) != LUMIRA_OK ||
            strcmp(again.sub, c.sub) != 0 || strcmp(again.email, c.email) != 0 ||
            strcmp(again.name, c.name) != 0 || again.role != c.role || again.iat != c.iat ||
            again.exp != c.exp)
            abort();
    } else if (err != LUMIRA_ETOOBIG && err != LUMIRA_ENOMEM) {
        abort();
    }
    lumira_buf_cleanup(&out);
}

/* Base64url of `len` bytes, appended to `b`. */
static void add_b64url(struct lumira_buf *b, const void *p, size_t len)
{
    char *enc = malloc(lumira_b64url_encoded_len(len) + 1);

    if (enc == NULL)
        abort();
    lumira_b64url_encode(p, len, enc);
    if (lumira_buf_adds(b, enc) != LUMIRA_OK)
        abort();
    free(enc);
}

/* The input as "header JSON\npayload JSON" (or only the payload, with the HS256 header), made
 * into a token with a valid HS256 signature. */
static void check_signed(const uint8_t *data, size_t size)
{
    static const char hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const uint8_t *nl = memchr(data, '\n', size);
    unsigned char mac[LUMIRA_SHA256_LEN];
    struct lumira_buf tok;

    lumira_buf_init(&tok, 4 * size + 256);
    if (nl != NULL) {
        add_b64url(&tok, data, (size_t)(nl - data));
        if (lumira_buf_add(&tok, ".", 1) != LUMIRA_OK)
            abort();
        add_b64url(&tok, nl + 1, size - (size_t)(nl + 1 - data));
    } else {
        add_b64url(&tok, hs256, sizeof(hs256) - 1);
        if (lumira_buf_add(&tok, ".", 1) != LUMIRA_OK)
            abort();
        add_b64url(&tok, data, size);
    }
    if (lumira_hmac_sha256(secret, SLEN, tok.ptr, tok.len, mac) != LUMIRA_OK)
        abort();
    if (lumira_buf_add(&tok, ".", 1) != LUMIRA_OK)
        abort();
    add_b64url(&tok, mac, sizeof(mac));
    check_verify(tok.ptr, tok.len, NOW);
    check_verify(tok.ptr, tok.len, INT64_MAX / 4);
    lumira_buf_cleanup(&tok);
}

/* lumira_b64url_decode() into buffers of several sizes (exactly that big on the heap). The
 * decoder is strict, so what it accepts encodes back to the very same text. */
static void check_b64url(const char *in, size_t len)
{
    size_t sizes[] = {0, 1, 32, len / 4 * 3 + 2, len}, i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *out = malloc(sizes[i] > 0 ? sizes[i] : 1);
        size_t outlen = SIZE_MAX;
        enum lumira_err err;

        if (out == NULL)
            abort();
        err = lumira_b64url_decode(in, len, out, sizes[i], &outlen);
        if (err == LUMIRA_OK) {
            char *back;

            if (outlen > sizes[i])
                abort();
            back = malloc(lumira_b64url_encoded_len(outlen) + 1);
            if (back == NULL)
                abort();
            lumira_b64url_encode(out, outlen, back);
            if (strlen(back) != len || memcmp(back, in, len) != 0)
                abort();
            free(back);
        } else if (err != LUMIRA_EINVAL && err != LUMIRA_ETOOBIG) {
            abort();
        }
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_verify((const char *)data, size, NOW);
    if (size <= 2 * LUMIRA_MAX_JWT_PART)
        check_signed(data, size);
    check_b64url((const char *)data, size);
    return 0;
}
