#include <string.h>

#include "clock.h"
#include "jsonw.h"
#include "str.h"

void lumira_jw_init(struct lumira_jw *w, struct lumira_buf *out)
{
    w->out = out;
    w->depth = 0;
    w->has_member = 0;
    w->err = LUMIRA_OK;
}

static void add(struct lumira_jw *w, const char *s, size_t len)
{
    if (w->err == LUMIRA_OK)
        w->err = lumira_buf_add(w->out, s, len);
}

/* True when `len` bytes of `s` go into a JSON string as they are: printable ASCII but '"' and
 * '\\'. The replies' keys and most of their values are. */
static bool plain(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Appends `pre`, `s` and `post` (`plen`, `len`, `qlen` bytes) with one copy each into one
 * reservation. */
static void add3(struct lumira_jw *w, const char *pre, size_t plen, const char *s, size_t len,
                 const char *post, size_t qlen)
{
    char *p;

    if (w->err != LUMIRA_OK)
        return;
    p = lumira_buf_space(w->out, plen + len + qlen, &w->err);
    if (p == NULL)
        return;
    memcpy(p, pre, plen);
    memcpy(p + plen, s, len);
    memcpy(p + plen + len, post, qlen);
    lumira_buf_commit(w->out, plen + len + qlen);
}

/* Appends `s` (`len` bytes) as the inside of a JSON string. Runs of plain characters go in with
 * one copy each; a byte that does not start valid UTF-8 becomes U+FFFD. */
static void add_escaped(struct lumira_jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    while (i < len && w->err == LUMIRA_OK) {
        unsigned char c = u[i];
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        size_t n = c < 0x80 ? 1 : lumira_utf8_seq(u + i, len - i);
        const char *rep = NULL;
        size_t replen = 2;

        if (n == 0) {
            rep = "\\ufffd", replen = 6, n = 1;
        } else if (c == '"') {
            rep = "\\\"";
        } else if (c == '\\') {
            rep = "\\\\";
        } else if (c == '\n') {
            rep = "\\n";
        } else if (c == '\r') {
            rep = "\\r";
        } else if (c == '\t') {
            rep = "\\t";
        } else if (c == '\b') {
            rep = "\\b";
        } else if (c == '\f') {
            rep = "\\f";
        } else if (c < 0x20) {
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rep = esc, replen = 6;
        }
        if (rep == NULL) {
            i += n;
            continue;
        }
        add(w, s + run, i - run);
        add(w, rep, replen);
        i += n;
        run = i;
    }
    add(w, s + run, len - run);
}

/* Writes the separator and `"key":` of a member of the object open now. */
static void member(struct lumira_jw *w, const char *key)
{
    uint32_t bit;
    size_t klen;
    int first;

    if (w->err != LUMIRA_OK)
        return;
    if (w->depth == 0 || key == NULL) {
        w->err = LUMIRA_EINVAL; /* a member outside any object, or without a name */
        return;
    }
    bit = UINT32_C(1) << w->depth;
    first = (w->has_member & bit) == 0;
    w->has_member |= bit;
    klen = strlen(key);
    if (plain(key, klen)) {
        add3(w, &",\""[first], 2 - first, key, klen, "\":", 2);
        return;
    }
    add3(w, &",\""[first], 2 - first, "", 0, "", 0);
    add_escaped(w, key, klen);
    add(w, "\":", 2);
}

void lumira_jw_begin(struct lumira_jw *w, const char *key)
{
    if (w->err != LUMIRA_OK)
        return;
    if (w->depth == 0) {
        /* The root: once, and without a name. Bit 0 says it was written. */
        if (key != NULL || (w->has_member & 1)) {
            w->err = LUMIRA_EINVAL;
            return;
        }
        w->has_member |= 1;
    } else {
        if (w->depth + 1 >= LUMIRA_JW_MAX_DEPTH) {
            w->err = LUMIRA_EINVAL;
            return;
        }
        member(w, key);
        if (w->err != LUMIRA_OK)
            return;
    }
    w->depth++;
    w->has_member &= ~(UINT32_C(1) << w->depth);
    add(w, "{", 1);
}

void lumira_jw_end(struct lumira_jw *w)
{
    if (w->err != LUMIRA_OK)
        return;
    if (w->depth == 0) {
        w->err = LUMIRA_EINVAL;
        return;
    }
    w->depth--;
    add(w, "}", 1);
}

void lumira_jw_strn(struct lumira_jw *w, const char *key, const char *s, size_t len)
{
    if (s == NULL) {
        lumira_jw_null(w, key);
        return;
    }
    member(w, key);
    if (plain(s, len)) {
        add3(w, "\"", 1, s, len, "\"", 1);
        return;
    }
    add(w, "\"", 1);
    add_escaped(w, s, len);
    add(w, "\"", 1);
}

void lumira_jw_str(struct lumira_jw *w, const char *key, const char *s)
{
    lumira_jw_strn(w, key, s, s != NULL ? strlen(s) : 0);
}

void lumira_jw_int(struct lumira_jw *w, const char *key, int64_t v)
{
    char num[LUMIRA_I64_SIZE];
    size_t n = lumira_fmt_i64(v, num);

    member(w, key);
    add(w, num, n);
}

void lumira_jw_bool(struct lumira_jw *w, const char *key, bool v)
{
    member(w, key);
    add(w, v ? "true" : "false", v ? 4 : 5);
}

void lumira_jw_null(struct lumira_jw *w, const char *key)
{
    member(w, key);
    add(w, "null", 4);
}

void lumira_jw_decimal(struct lumira_jw *w, const char *key, int64_t units, int decimals)
{
    char digits[LUMIRA_I64_SIZE], out[LUMIRA_I64_SIZE + 12];
    uint64_t u = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    size_t n = 0, len = 0;

    if (decimals < 0 || decimals > 9)
        decimals = 9;
    /* The digits, least significant first, at least decimals + 1 of them ("0.05"). */
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0 || n <= (size_t)decimals);
    if (units < 0)
        out[len++] = '-';
    while (n > 0) {
        if (n == (size_t)decimals)
            out[len++] = '.';
        out[len++] = digits[--n];
    }
    member(w, key);
    add(w, out, len);
}

void lumira_jw_time(struct lumira_jw *w, const char *key, int64_t epoch_ms)
{
    char ts[LUMIRA_ISO8601_SIZE];

    lumira_iso8601(epoch_ms, ts);
    member(w, key);
    add3(w, "\"", 1, ts, LUMIRA_ISO8601_SIZE - 1, "\"", 1);
}

enum lumira_err lumira_jw_finish(struct lumira_jw *w)
{
    if (w->err == LUMIRA_OK && (w->depth != 0 || w->has_member == 0))
        w->err = LUMIRA_EINVAL;
    return w->err;
}
