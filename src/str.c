#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "str.h"

/* Strict decimal parser: digits only, 1..20 of them, value <= max. Never reads past len. */
enum lumira_err lumira_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || len == 0)
        return LUMIRA_EINVAL;
    for (i = 0; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return LUMIRA_EINVAL;
        d = (unsigned)(s[i] - '0');
        /* curl strparse.c: check before multiplying; d > max first, or max - d wraps. */
        if (d > max || v > (max - d) / 10)
            return LUMIRA_ETOOBIG;
        v = v * 10 + d;
    }
    *out = v;
    return LUMIRA_OK;
}

/* Bounded copy that reports truncation. */
size_t lumira_fmt_i64(int64_t v, char out[LUMIRA_I64_SIZE])
{
    char digits[20];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;

    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = digits[--n];
    out[len] = '\0';
    return len;
}

enum lumira_err lumira_strscpy(char *dst, const char *src, size_t size)
{
    size_t n;

    if (size == 0)
        return LUMIRA_ETOOBIG;
    n = strnlen(src, size);
    if (n == size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return LUMIRA_ETOOBIG;
    }
    memcpy(dst, src, n + 1);
    return LUMIRA_OK;
}

/* Formats with a bound; reports whether anything was cut. */
bool lumira_str_fmt(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        out[0] = '\0';
        return true;
    }
    return (size_t)n >= size;
}

/* Prefix test on a counted string. */
bool lumira_str_has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Naive case-insensitive search; inputs here are short (environment values). */
bool lumira_str_contains_nocase(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    size_t i, j;

    if (n == 0)
        return true;
    for (i = 0; n <= len && i <= len - n; i++) {
        for (j = 0; j < n && ascii_lower(s[i + j]) == ascii_lower(needle[j]); j++)
            ;
        if (j == n)
            return true;
    }
    return false;
}

/* Lowercase hex, NUL-terminated. */
int lumira_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void lumira_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Strict UTF-8 (RFC 3629): the lead byte fixes the length, continuations are 10xxxxxx, and the
 * code point must need that length and not be a surrogate. */
size_t lumira_utf8_seq(const unsigned char *s, size_t len)
{
    size_t n, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Walks the whole input; an empty string is valid. */
bool lumira_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t n = lumira_utf8_seq(u + i, len - i);

        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* getrandom() until `len` bytes are filled; EINTR is retried. */
enum lumira_err lumira_random_bytes(void *out, size_t len)
{
    unsigned char *p = out;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return LUMIRA_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return LUMIRA_OK;
}

enum lumira_err lumira_regex_literal(const char *s, size_t len, struct lumira_buf *out)
{
    enum lumira_err err;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch >= 0x80;

        if (!word && (err = lumira_buf_add(out, "\\", 1)) != LUMIRA_OK)
            return err;
        if ((err = lumira_buf_add(out, &s[i], 1)) != LUMIRA_OK)
            return err;
    }
    return lumira_buf_add(out, "", 1); /* NUL-terminated for bson */
}
