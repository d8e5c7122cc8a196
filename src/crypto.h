#ifndef LUMIRA_CRYPTO_H
#define LUMIRA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Primitives shared by the JWT, Stripe webhook and n8n callback checks: HMAC-SHA256 over
 * OpenSSL, constant-time comparison, and strict base64url / base64 / hex decoding. Nothing here
 * allocates; every output buffer is the caller's and is bounded by its size argument. */

#define LUMIRA_SHA256_LEN 32

/* HMAC-SHA256 of `len` bytes of `data` under `key` (`keylen` bytes) into `mac`.
 * LUMIRA_EINTERNAL only if OpenSSL fails. */
enum lumira_err lumira_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                                   unsigned char mac[LUMIRA_SHA256_LEN]) LUMIRA_WARN_UNUSED;

/* HMAC-SHA256 of the `alen` bytes of `a` followed by the `blen` bytes of `b` (key, a and b may
 * each be NULL when their length is 0), without joining them in memory: for a short prefix
 * before a large body (the Stripe webhook's "t." + body). Same errors as lumira_hmac_sha256(). */
enum lumira_err lumira_hmac_sha256_cat(const void *key, size_t keylen, const void *a, size_t alen,
                                       const void *b, size_t blen,
                                       unsigned char mac[LUMIRA_SHA256_LEN]) LUMIRA_WARN_UNUSED;

/* True when a and b hold the same `len` bytes; the time taken does not depend on where they
 * differ (CRYPTO_memcmp). */
bool lumira_ct_equal(const void *a, const void *b, size_t len);

/* Length of the unpadded base64url text of `len` bytes. */
size_t lumira_b64url_encoded_len(size_t len);

/* Writes the unpadded base64url form of `len` bytes to `out` (lumira_b64url_encoded_len(len) + 1
 * bytes: NUL-terminated). */
void lumira_b64url_encode(const unsigned char *in, size_t len, char *out);

/* Decodes unpadded base64url text (`len` bytes) into `out` (`size` bytes). Strict: only the
 * alphabet [A-Za-z0-9_-], no padding, no whitespace, a length that is not 1 mod 4, and unused
 * trailing bits zero (so every value has exactly one text). LUMIRA_EINVAL on any of those,
 * LUMIRA_ETOOBIG when the result does not fit. *outlen gets the decoded length on success. */
enum lumira_err lumira_b64url_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                     size_t *outlen) LUMIRA_WARN_UNUSED;

/* Decodes standard base64 (`+/`, '=' padding required to a multiple of 4), same rules and errors
 * as lumira_b64url_decode() otherwise. */
enum lumira_err lumira_b64_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                  size_t *outlen) LUMIRA_WARN_UNUSED;

/* Decodes hex text (either case, even length) into `out` (`size` bytes). LUMIRA_EINVAL on a
 * non-hex byte or odd length, LUMIRA_ETOOBIG when it does not fit. */
enum lumira_err lumira_hex_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                  size_t *outlen) LUMIRA_WARN_UNUSED;

#endif
