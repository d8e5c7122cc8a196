#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "lumira_limits.h"
#include "str.h"

static void set_why(char *why, size_t whylen, const char *msg)
{
    if (why != NULL && whylen > 0)
        (void)lumira_strscpy(why, msg, whylen);
}

/* Checks what json-c's strict mode lets through: returns NULL when no object or array in `v`
 * (itself included) is nested more than `left` deep and every number is finite, else the reason.
 * json-c counts a scalar as a level of its own, so its own depth limit is set one higher and the
 * containers are counted here; it also accepts NaN, Infinity and 1e999, which are not JSON and
 * could not be written back. Adds the members of every object in `v` to *members. Recursion is
 * bounded by json-c's limit. */
static const char *check_values(struct json_object *v, int left, size_t *members)
{
    const char *bad = NULL;
    size_t i, n;

    switch (json_object_get_type(v)) {
    case json_type_object: {
        struct json_object_iterator it, end;

        if (left <= 0)
            return "nesting too deep";
        *members += (size_t)json_object_object_length(v);
        it = json_object_iter_begin(v);
        end = json_object_iter_end(v);
        for (; bad == NULL && !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
            bad = check_values(json_object_iter_peek_value(&it), left - 1, members);
        return bad;
    }
    case json_type_array:
        if (left <= 0)
            return "nesting too deep";
        n = json_object_array_length(v);
        for (i = 0; bad == NULL && i < n; i++)
            bad = check_values(json_object_array_get_idx(v, i), left - 1, members);
        return bad;
    case json_type_double:
        return isfinite(json_object_get_double(v)) ? NULL : "numbers must be finite";
    default:
        return NULL;
    }
}

/* The code point of the 4 hex digits at `s` (a \u escape), -1 when they are not 4 hex digits. */
static long hex4(const char *s)
{
    long cp = 0;
    int i, d;

    for (i = 0; i < 4; i++) {
        d = lumira_hex_digit(s[i]);
        if (d < 0)
            return -1;
        cp = cp * 16 + d;
    }
    return cp;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The length of the number (RFC 8259 section 6) that starts `len` bytes at `s`, 0 when none
 * does: json-c also takes "1.", "1.e5", "01" and "-01", which are not JSON. */
static size_t number_len(const char *s, size_t len)
{
    size_t i = 0;

    if (i < len && s[i] == '-')
        i++;
    if (i < len && s[i] == '0') {
        i++;
    } else if (i < len && is_digit(s[i])) {
        while (i < len && is_digit(s[i]))
            i++;
    } else {
        return 0;
    }
    if (i < len && s[i] == '.') {
        if (++i >= len || !is_digit(s[i]))
            return 0;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return 0;
        while (i < len && is_digit(s[i]))
            i++;
    }
    /* What json-c read as one number must end here. */
    if (i < len && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' ||
                    s[i] == '-'))
        return 0;
    return i;
}

/* Scans `len` bytes that json-c accepted as JSON. Counts the ':' separators outside strings into
 * *separators: in valid JSON each one stands for exactly one object member. A string ends at the
 * first '"' that is not escaped: "a:b" and "\":" hold no separator, while "\\": is a string and
 * one. Returns NULL, or the reason when a string holds what json-c would change silently:
 * - a \u escape of a lone surrogate (json-c writes U+FFFD in its place; a high surrogate counts
 *   only when a low one follows at once, as one more \u escape);
 * - \u0000 in a member name (json-c cuts the name there: "formData\u0000x" would be read as
 *   "formData"). In a value it is left to the getters, which refuse it where it matters.
 * It also refuses what json-c's strict mode takes but JSON does not: a control character
 * (U+0000-U+001F) that is not escaped in a string, and numbers outside RFC 8259's grammar.
 * Never reads past `len`, even on text json-c would not have accepted. */
static const char *scan_text(const char *s, size_t len, size_t *separators)
{
    size_t i = 0;
    bool nul;
    long cp, lo;

    *separators = 0;
    while (i < len) {
        if (s[i] == '-' || is_digit(s[i])) {
            size_t n = number_len(s + i, len - i);

            if (n == 0)
                return "invalid number";
            i += n;
            continue;
        }
        if (s[i] != '"') {
            if (s[i] == ':')
                (*separators)++;
            i++;
            continue;
        }
        nul = false;
        for (i++; i < len && s[i] != '"';) {
            if ((unsigned char)s[i] < 0x20)
                return "control character not escaped in a string";
            if (s[i] != '\\') {
                i++;
                continue;
            }
            if (len - i < 6 || s[i + 1] != 'u') {
                i += 2; /* the escaped character, '"' or '\\' included */
                continue;
            }
            cp = hex4(s + i + 2);
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return "lone surrogate escape in a string";
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                lo = (len - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') ? hex4(s + i + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return "lone surrogate escape in a string";
                i += 6; /* the pair is one character */
            }
            nul = nul || cp == 0;
        }
        i++; /* the closing quote */
        if (nul) {
            size_t j = i;

            while (j < len && is_ws(s[j]))
                j++;
            if (j < len && s[j] == ':')
                return "\\u0000 in a member name";
        }
    }
    return NULL;
}

/* json-c's tokener takes an int length: the cap is checked before narrowing. json-c's own UTF-8
 * check lets overlong forms and surrogates through, so the whole body is checked first. json-c
 * keeps the last of two members with the same name, silently: the members of the tree it built
 * are counted against the separators of the text, and fewer means a duplicate somewhere (json-c
 * compares decoded names, so "a" and "\u0061" are the same). The text is scanned for the escapes
 * json-c would quietly change, too (scan_text()). */
enum lumira_err lumira_json_parse_object(const char *data, size_t len, struct json_object **out,
                                         char *why, size_t whylen)
{
    struct json_tokener *tok;
    struct json_object *obj = NULL;
    enum json_tokener_error jerr;
    enum lumira_err err = LUMIRA_OK;
    const char *bad;
    size_t members = 0, separators;

    *out = NULL;
    if (len > LUMIRA_MAX_BODY) {
        set_why(why, whylen, "body too large");
        return LUMIRA_ETOOBIG;
    }
    if (len == 0) {
        set_why(why, whylen, "empty body");
        return LUMIRA_EINVAL;
    }
    if (!lumira_utf8_valid(data, len)) {
        set_why(why, whylen, "invalid UTF-8");
        return LUMIRA_EINVAL;
    }
    tok = json_tokener_new_ex(LUMIRA_JSON_MAX_DEPTH + 1);
    if (tok == NULL)
        return LUMIRA_ENOMEM;
    /* No JSON_TOKENER_VALIDATE_UTF8: the whole body already passed the stricter check above. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, data, (int)len);
    jerr = json_tokener_get_error(tok);
    if (jerr != json_tokener_success) {
        /* json_tokener_continue: the input ended inside a value (truncated). */
        set_why(why, whylen,
                jerr == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(jerr));
        err = LUMIRA_EINVAL;
        goto out;
    }
    if (json_tokener_get_parse_end(tok) != len) {
        /* A NUL byte stops json-c early: whatever follows is trailing data. */
        set_why(why, whylen, "unexpected data after the JSON value");
        err = LUMIRA_EINVAL;
        goto out;
    }
    /* A root of null parses to NULL, which is of json_type_null. */
    if (!json_object_is_type(obj, json_type_object)) {
        set_why(why, whylen, "the body must be a JSON object");
        err = LUMIRA_EINVAL;
        goto out;
    }
    bad = check_values(obj, LUMIRA_JSON_MAX_DEPTH, &members);
    if (bad == NULL)
        bad = scan_text(data, len, &separators);
    if (bad == NULL && members != separators)
        bad = "duplicate member";
    if (bad != NULL) {
        set_why(why, whylen, bad);
        err = LUMIRA_EINVAL;
        goto out;
    }
    *out = obj;
    obj = NULL;
out:
    json_object_put(obj);
    json_tokener_free(tok);
    return err;
}

/* Finds `key`, treating an explicit null as absent. */
static struct json_object *member(const struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return json_object_is_type(v, json_type_null) ? NULL : v;
}

enum lumira_err lumira_json_get_str(const struct json_object *obj, const char *key, size_t max,
                                    const char **s, size_t *len)
{
    struct json_object *v = member(obj, key);
    const char *p;
    int n;

    if (v == NULL)
        return LUMIRA_ENOTFOUND;
    if (!json_object_is_type(v, json_type_string))
        return LUMIRA_EINVAL;
    p = json_object_get_string(v);
    n = json_object_get_string_len(v);
    if (n < 0 || memchr(p, '\0', (size_t)n) != NULL)
        return LUMIRA_EINVAL;
    if ((size_t)n > max)
        return LUMIRA_ETOOBIG;
    *s = p;
    *len = (size_t)n;
    return LUMIRA_OK;
}

enum lumira_err lumira_json_get_i64(const struct json_object *obj, const char *key, int64_t min,
                                    int64_t max, int64_t *v)
{
    struct json_object *m = member(obj, key);
    int64_t n;

    if (m == NULL)
        return LUMIRA_ENOTFOUND;
    if (!json_object_is_type(m, json_type_int))
        return LUMIRA_EINVAL;
    /* Values past INT64_MAX are kept as uint64 by json-c and read back saturated. */
    n = json_object_get_int64(m);
    if (n < min || n > max || (n == INT64_MAX && json_object_get_uint64(m) > INT64_MAX))
        return LUMIRA_EINVAL;
    *v = n;
    return LUMIRA_OK;
}

enum lumira_err lumira_json_get_bool(const struct json_object *obj, const char *key, bool *v)
{
    struct json_object *m = member(obj, key);

    if (m == NULL)
        return LUMIRA_ENOTFOUND;
    if (!json_object_is_type(m, json_type_boolean))
        return LUMIRA_EINVAL;
    *v = json_object_get_boolean(m) != 0;
    return LUMIRA_OK;
}

enum lumira_err lumira_json_get_object(const struct json_object *obj, const char *key,
                                       struct json_object **v)
{
    struct json_object *m = member(obj, key);

    if (m == NULL)
        return LUMIRA_ENOTFOUND;
    if (!json_object_is_type(m, json_type_object))
        return LUMIRA_EINVAL;
    *v = m;
    return LUMIRA_OK;
}

void lumira_json_put(struct json_object *obj, const char *key, struct json_object *val, bool *ok)
{
    if (obj == NULL || val == NULL || json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        *ok = false;
    }
}

void lumira_json_put_str(struct json_object *obj, const char *key, const char *s, bool *ok)
{
    if (s == NULL) {
        /* json-c represents null as a NULL value. */
        if (obj == NULL || json_object_object_add(obj, key, NULL) != 0)
            *ok = false;
        return;
    }
    lumira_json_put(obj, key, json_object_new_string(s), ok);
}

void lumira_json_put_strn(struct json_object *obj, const char *key, const char *s, size_t len,
                          bool *ok)
{
    if (len > INT32_MAX) {
        *ok = false;
        return;
    }
    lumira_json_put(obj, key, json_object_new_string_len(s, (int)len), ok);
}

void lumira_json_put_int(struct json_object *obj, const char *key, int64_t v, bool *ok)
{
    lumira_json_put(obj, key, json_object_new_int64(v), ok);
}

void lumira_json_put_bool(struct json_object *obj, const char *key, bool v, bool *ok)
{
    lumira_json_put(obj, key, json_object_new_boolean(v), ok);
}

/* JSON has no NaN or Infinity: a value that is not finite is written as null. */
void lumira_json_put_fixed(struct json_object *obj, const char *key, double v, int decimals,
                           bool *ok)
{
    char text[400]; /* "%.*f" of the largest double has 309 digits before the point */

    if (!isfinite(v)) {
        lumira_json_put_str(obj, key, NULL, ok);
        return;
    }
    if (decimals < 0 || decimals > 20)
        decimals = 20;
    snprintf(text, sizeof(text), "%.*f", decimals, v);
    lumira_json_put(obj, key, json_object_new_double_s(v, text), ok);
}

void lumira_json_put_time(struct json_object *obj, const char *key, int64_t epoch_ms, bool *ok)
{
    char ts[LUMIRA_ISO8601_SIZE];

    lumira_iso8601(epoch_ms, ts);
    lumira_json_put_str(obj, key, ts, ok);
}

struct json_object *lumira_json_done(struct json_object *obj, bool ok)
{
    if (ok)
        return obj;
    json_object_put(obj);
    return NULL;
}

struct json_object *lumira_json_new_object(bool *ok)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL)
        *ok = false;
    return o;
}

enum lumira_err lumira_json_serialize(const struct json_object *obj, struct lumira_buf *out)
{
    size_t len = 0;
    const char *s;

    /* json-c's serialiser takes a non-const object; it does not change what it prints. */
    s = json_object_to_json_string_length((struct json_object *)(uintptr_t)obj,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                          &len);
    if (s == NULL)
        return LUMIRA_ENOMEM;
    return lumira_buf_add(out, s, len);
}
