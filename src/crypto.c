#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"
#include "str.h"

enum lumira_err lumira_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                                   unsigned char mac[LUMIRA_SHA256_LEN])
{
    unsigned int maclen = 0;

    /* HMAC() takes the key length as an int. */
    if (keylen > (size_t)INT32_MAX)
        return LUMIRA_EINVAL;
    if (HMAC(EVP_sha256(), key, (int)keylen, data, len, mac, &maclen) == NULL ||
        maclen != LUMIRA_SHA256_LEN)
        return LUMIRA_EINTERNAL;
    return LUMIRA_OK;
}

enum lumira_err lumira_hmac_sha256_cat(const void *key, size_t keylen, const void *a, size_t alen,
                                       const void *b, size_t blen,
                                       unsigned char mac[LUMIRA_SHA256_LEN])
{
    /* EVP_DigestSign with an HMAC key: one code path for OpenSSL 1.1.1 and 3 (HMAC_CTX is
     * deprecated in 3, EVP_MAC is missing from 1.1.1). */
    static const unsigned char none[1] = {0};
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    size_t maclen = LUMIRA_SHA256_LEN;
    enum lumira_err err = LUMIRA_EINTERNAL;

    if (keylen > (size_t)INT32_MAX)
        return LUMIRA_EINVAL;
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, keylen > 0 ? key : none, keylen);
    ctx = EVP_MD_CTX_new();
    if (pkey == NULL || ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1)
        goto out;
    if ((alen > 0 && EVP_DigestSignUpdate(ctx, a, alen) != 1) ||
        (blen > 0 && EVP_DigestSignUpdate(ctx, b, blen) != 1))
        goto out;
    if (EVP_DigestSignFinal(ctx, mac, &maclen) != 1 || maclen != LUMIRA_SHA256_LEN)
        goto out;
    err = LUMIRA_OK;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return err;
}

bool lumira_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t lumira_b64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

void lumira_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i = 0, o = 0;

    for (; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        out[o++] = b64url_alphabet[in[i] >> 2];
        out[o++] = b64url_alphabet[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        unsigned long v = (unsigned long)in[i] << 8 | in[i + 1];

        out[o++] = b64url_alphabet[v >> 10 & 63];
        out[o++] = b64url_alphabet[v >> 4 & 63];
        out[o++] = b64url_alphabet[(v & 15) << 2];
    }
    out[o] = '\0';
}

/* The 6-bit value of `c` in `alphabet`, or -1. */
static int b64_value(const char *alphabet, char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(alphabet, c);
    return p == NULL ? -1 : (int)(p - alphabet);
}

/* Decodes `len` bytes of unpadded text in `alphabet`; see lumira_b64url_decode(). */
static enum lumira_err b64_decode_unpadded(const char *alphabet, const char *in, size_t len,
                                           unsigned char *out, size_t size, size_t *outlen)
{
    size_t need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1), i, o = 0;
    unsigned long acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return LUMIRA_EINVAL;
    if (need > size)
        return LUMIRA_ETOOBIG;
    for (i = 0; i < len; i++) {
        int v = b64_value(alphabet, in[i]);

        if (v < 0)
            return LUMIRA_EINVAL;
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Leftover bits must be zero: "AB" and "AC" may not both decode to the same byte. */
    if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
        return LUMIRA_EINVAL;
    *outlen = o;
    return LUMIRA_OK;
}

enum lumira_err lumira_b64url_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                     size_t *outlen)
{
    return b64_decode_unpadded(b64url_alphabet, in, len, out, size, outlen);
}

enum lumira_err lumira_b64_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                  size_t *outlen)
{
    size_t pad = 0;

    if (len % 4 != 0)
        return LUMIRA_EINVAL;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    return b64_decode_unpadded(b64_alphabet, in, len - pad, out, size, outlen);
}

enum lumira_err lumira_hex_decode(const char *in, size_t len, unsigned char *out, size_t size,
                                  size_t *outlen)
{
    size_t i;

    if (len % 2 != 0)
        return LUMIRA_EINVAL;
    if (len / 2 > size)
        return LUMIRA_ETOOBIG;
    for (i = 0; i < len; i += 2) {
        int hi = lumira_hex_digit(in[i]), lo = lumira_hex_digit(in[i + 1]);

        if (hi < 0 || lo < 0)
            return LUMIRA_EINVAL;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *outlen = len / 2;
    return LUMIRA_OK;
}
