#include <string.h>

#include "json.h"
#include "str.h"
#include "valid.h"

void lumira_valid_init(struct lumira_valid *v)
{
    v->details = NULL;
    v->prefix = NULL;
    v->oom = false;
}

void lumira_valid_prefix(struct lumira_valid *v, const char *prefix)
{
    v->prefix = prefix;
}

void lumira_valid_cleanup(struct lumira_valid *v)
{
    json_object_put(v->details);
    lumira_valid_init(v);
}

void lumira_valid_fail(struct lumira_valid *v, const char *field, const char *message)
{
    struct json_object *d;
    char name[128];
    bool ok = true;

    if (v->prefix != NULL && !lumira_str_fmt(name, sizeof(name), "%s.%s", v->prefix, field))
        field = name;
    if (v->details == NULL && (v->details = json_object_new_array()) == NULL) {
        v->oom = true;
        return;
    }
    d = lumira_json_new_object(&ok);
    lumira_json_put_str(d, "field", field, &ok);
    lumira_json_put_str(d, "message", message, &ok);
    if (!ok || json_object_array_add(v->details, d) != 0) {
        json_object_put(d);
        v->oom = true;
    }
}

bool lumira_valid_failed(const struct lumira_valid *v)
{
    return v->details != NULL || v->oom;
}

const struct json_object *lumira_valid_details(const struct lumira_valid *v)
{
    return v->details;
}

void lumira_valid_respond(struct lumira_valid *v, struct lumira_resp *resp,
                          const struct lumira_req *req)
{
    if (v->oom) {
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
        lumira_valid_cleanup(v);
        return;
    }
    lumira_resp_error(resp, req, 400, "VALIDATION_ERROR", "Invalid request", v->details);
    v->details = NULL;
}

bool lumira_valid_body(const struct lumira_req *req, struct lumira_resp *resp,
                       struct json_object **obj)
{
    char why[128];
    enum lumira_err err;

    err = lumira_json_parse_object(req->body.ptr != NULL ? req->body.ptr : "", req->body.len, obj,
                                   why, sizeof(why));
    if (err == LUMIRA_OK)
        return true;
    if (err == LUMIRA_ETOOBIG)
        lumira_resp_error(resp, req, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 1 MiB", NULL);
    else if (err == LUMIRA_EINVAL)
        lumira_resp_error(resp, req, 400, "INVALID_JSON", why, NULL);
    else
        lumira_resp_fail(resp, req, err);
    return false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims ASCII white space from both ends of s/len. */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/* Counts the characters of valid UTF-8 text; returns SIZE_MAX on a control character that is
 * not allowed (C0 except, with `multiline`, tab, CR and LF; DEL; and the C1 controls
 * U+0080-U+009F, which terminals obey as ESC sequences), unless `any`. */
static size_t count_chars(const char *s, size_t len, bool multiline, bool any)
{
    size_t i = 0, n = 0, step;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];

        if (!any &&
            ((c < 0x20 && !(multiline && (c == '\t' || c == '\r' || c == '\n'))) || c == 0x7f))
            return SIZE_MAX;
        step = lumira_utf8_seq((const unsigned char *)s + i, len - i);
        if (step == 0 || (!any && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0))
            return SIZE_MAX;
        i += step;
        n++;
    }
    return n;
}

bool lumira_valid_str(struct lumira_valid *v, const struct json_object *obj, const char *key,
                      unsigned flags, size_t min_chars, size_t max_chars, const char **s,
                      size_t *len)
{
    char msg[96];
    size_t n;
    enum lumira_err err;

    *s = NULL;
    *len = 0;
    /* Bytes are at most 4 per character, plus spaces trimmed later: a cheap first bound. */
    err = lumira_json_get_str(obj, key, LUMIRA_UTF8_BYTES(max_chars) + 64, s, len);
    if (err == LUMIRA_ENOTFOUND) {
        if (!(flags & LUMIRA_VALID_REQUIRED))
            return true;
        lumira_valid_fail(v, key, "is required");
        return false;
    }
    if (err == LUMIRA_EINVAL) {
        lumira_valid_fail(v, key, "must be a string");
        goto bad;
    }
    if (err == LUMIRA_OK && !(flags & LUMIRA_VALID_VERBATIM))
        trim(s, len);
    if (err != LUMIRA_OK)
        n = SIZE_MAX - 1; /* LUMIRA_ETOOBIG: too long whatever it holds */
    else if (flags & LUMIRA_VALID_VERBATIM)
        n = count_chars(*s, *len, true, true);
    else
        n = count_chars(*s, *len, flags & LUMIRA_VALID_MULTILINE, false);
    if (n == SIZE_MAX) {
        lumira_valid_fail(v, key, "must not contain control characters");
        goto bad;
    }
    /* Not for LUMIRA_ETOOBIG, whose *len is 0 too: that string is too long, not missing. */
    if (err == LUMIRA_OK && *len == 0 && (flags & LUMIRA_VALID_REQUIRED)) {
        lumira_valid_fail(v, key, "is required");
        goto bad;
    }
    if (n > max_chars || (*len > 0 && n < min_chars)) {
        if (min_chars > 0)
            (void)lumira_str_fmt(msg, sizeof(msg), "must be %zu to %zu characters", min_chars,
                                 max_chars);
        else
            (void)lumira_str_fmt(msg, sizeof(msg), "must be at most %zu characters", max_chars);
        lumira_valid_fail(v, key, msg);
        goto bad;
    }
    if (*len == 0)
        *s = NULL;
    return true;
bad:
    *s = NULL;
    *len = 0;
    return false;
}

/* Characters allowed in an address besides letters and digits. */
static bool email_char(char c, bool local)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (unsigned char)c >= 0x80)
        return true;
    if (c == '.' || c == '-')
        return true;
    /* strchr() finds the terminating NUL too: a NUL byte is not a special character. */
    return local && c != '\0' && strchr("!#$%&'*+/=?^_`{|}~", c) != NULL;
}

bool lumira_email_normalize(const char *s, size_t len, char out[LUMIRA_MAX_EMAIL + 1])
{
    size_t i, at = SIZE_MAX;
    bool dot = false;

    trim(&s, &len);
    if (len < 3 || len > LUMIRA_MAX_EMAIL)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
        if (c == '@') {
            if (at != SIZE_MAX)
                return false;
            at = i;
        } else if (!email_char(c, at == SIZE_MAX)) {
            return false;
        } else if (c == '.') {
            /* No empty label in the domain, and a dot-atom local part (RFC 5321): no dot at
             * either end of a part, none doubled. */
            if (i == 0 || i == at + 1 || i == len - 1 || out[i - 1] == '.' ||
                (at == SIZE_MAX && i + 1 < len && s[i + 1] == '@'))
                return false;
            dot = dot || at != SIZE_MAX;
        }
    }
    out[len] = '\0';
    /* A local part of 1-64 bytes, a domain with at least one dot. */
    if (at == SIZE_MAX || at == 0 || at > 64 || at == len - 1 || !dot)
        return false;
    return lumira_utf8_valid(out, len);
}

bool lumira_valid_email(struct lumira_valid *v, const struct json_object *obj, const char *key,
                        unsigned flags, char out[LUMIRA_MAX_EMAIL + 1])
{
    const char *s;
    size_t len;

    out[0] = '\0';
    if (!lumira_valid_str(v, obj, key, flags, 0, LUMIRA_MAX_EMAIL, &s, &len))
        return false;
    if (s == NULL)
        return true;
    if (!lumira_email_normalize(s, len, out)) {
        out[0] = '\0';
        lumira_valid_fail(v, key, "must be a valid e-mail address");
        return false;
    }
    return true;
}

bool lumira_valid_query_str(struct lumira_valid *v, const struct lumira_req *req, const char *name,
                            char *out, size_t size, size_t *len)
{
    enum lumira_err res = lumira_query_get(req->query, req->query_len, name, out, size, len);

    if (res == LUMIRA_ENOTFOUND)
        return false;
    if (res == LUMIRA_ETOOBIG) {
        lumira_valid_fail(v, name, "is too long");
        return false;
    }
    if (res != LUMIRA_OK || !lumira_utf8_valid(out, *len)) {
        lumira_valid_fail(v, name, "is not a valid value");
        return false;
    }
    return *len > 0;
}

int64_t lumira_valid_query_int(struct lumira_valid *v, const struct lumira_req *req,
                               const char *name, int64_t min, int64_t max, int64_t def)
{
    char buf[32], msg[64];
    size_t len;
    uint64_t n;

    if (!lumira_valid_query_str(v, req, name, buf, sizeof(buf), &len))
        return def;
    if (lumira_parse_u64(buf, len, (uint64_t)max, &n) != LUMIRA_OK || (int64_t)n < min) {
        (void)lumira_str_fmt(msg, sizeof(msg), "must be an integer from %lld to %lld",
                             (long long)min, (long long)max);
        lumira_valid_fail(v, name, msg);
        return def;
    }
    return (int64_t)n;
}
