/* libFuzzer entry for whole requests: what lumira_serve() reads from FastCGI or CGI, run through
 * lumira_server_handle() with a route table shaped like the programs' (static routes, ":id"
 * parameters, several methods on one path, query parameters, JSON bodies).
 *
 * The input is a CGI environment and a body. Entries ("NAME=value", though anything goes) are
 * split on '\n' or NUL; the first empty entry ends them and the rest of the input is the body.
 * At most MAX_ENTRIES entries are passed on, each a heap copy of exactly its bytes and NUL (ASan
 * sees any read past it). Entries starting "FUZZ_" steer the harness and are not passed on:
 *   FUZZ_READ=<plan>  how the read function answers, one character per call, cycled: '0'-'9'
 *                     at most 2^digit bytes (short reads), 'E' an error (-1), 'Z' the end of
 *                     input (0) early, 'X' a broken reader that claims one byte more than asked,
 *                     'M' as many spaces as asked (not from the input: bodies past the cap).
 *                     Without a plan, each call gets as much as it asks for.
 *   FUZZ_OUT=<bytes>  the cap of the response buffer (default: lumira_serve()'s), to reach the
 *                     fallback for a response that does not fit.
 *
 * What must hold, else abort(): the output is one CGI response, "Status: NNN <reason>\r\n", then
 * header lines free of stray CR, LF and NUL, with exactly one Content-Type, Content-Length,
 * X-Request-Id and X-Response-Time; Content-Length is the length of the body after the blank line
 * (which is empty for HEAD); a JSON body is one strict JSON object in valid UTF-8, and an error
 * body names its code and the same request id as the header; the request id is sane and is the one
 * sent when that was sane; the body stream is never read past CONTENT_LENGTH. Handlers check the
 * request they are given against http.h. Everything allocated is freed (the leak check is on);
 * the log goes to /dev/null at debug level, so that every line is formatted but none is shown. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "clock.h"
#include "http.h"
#include "json.h"
#include "lumira_limits.h"
#include "log.h"
#include "server.h"
#include "str.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Environment entries passed on from one input. */
#define MAX_ENTRIES 64
/* The response buffer of lumira_serve(). */
#define OUT_MAX (LUMIRA_MAX_RESPONSE + LUMIRA_MAX_RESPONSE_HEADERS + 1024)
#define JSON_TYPE "application/json; charset=utf-8"
#define REQID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* The body stream and how it answers. */
struct feed {
    char *data;
    size_t len, pos;
    const char *plan; /* FUZZ_READ, not NUL-terminated */
    size_t plan_len, step;
    size_t filler; /* spaces given by 'M' */
};

/* What one input is, and what the handlers saw of it. */
struct input {
    char *env[MAX_ENTRIES + 1];
    size_t nenv;
    const char *method; /* the first REQUEST_METHOD, as the server finds it; NULL when none */
    const char *reqid;  /* the first HTTP_X_REQUEST_ID */
    const char *auth;   /* the first HTTP_AUTHORIZATION */
    bool declared;      /* CONTENT_LENGTH is digits within LUMIRA_MAX_BODY */
    uint64_t content_length;
    struct feed feed;
    int handled; /* handlers run */
};

/* The value of the first entry named `name`, as lumira_req_env() must find it, or NULL. */
static const char *env_get(const struct input *in, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < in->nenv; i++) {
        if (strncmp(in->env[i], name, n) == 0 && in->env[i][n] == '=')
            return in->env[i] + n + 1;
    }
    return NULL;
}

/* True when `s` (len bytes) is 1-64 characters of [A-Za-z0-9._-] (API.md), checked here
 * independently of lumira_reqid_valid(). */
static bool reqid_sane(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 64)
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(REQID_CHARS, s[i]) == NULL)
            return false;
    }
    return true;
}

/* Parses a CONTENT_LENGTH the way http.h says it is taken: strict digits (leading zeros
 * allowed) at most LUMIRA_MAX_BODY. False for anything else, including an empty value. */
static bool declared_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i, n = strlen(s);

    if (n == 0 || strspn(s, "0123456789") != n)
        return false;
    for (i = 0; i < n; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > LUMIRA_MAX_BODY)
            return false;
    }
    *out = v;
    return true;
}

/* The read function: answers from the body as the plan says (see the top of this file). */
static long feed_read(void *stream, char *buf, size_t len)
{
    struct feed *f = stream;
    size_t n = f->len - f->pos;
    char how = '\0';

    if (len == 0)
        abort(); /* a read of nothing could not tell the end of input from a short read */
    if (f->plan_len > 0)
        how = f->plan[f->step++ % f->plan_len];
    if (how == 'E')
        return -1;
    if (how == 'Z')
        return 0;
    if (how == 'M') {
        memset(buf, ' ', len);
        f->filler += len;
        return (long)len;
    }
    if (how >= '0' && how <= '9' && n > ((size_t)1 << (how - '0')))
        n = (size_t)1 << (how - '0');
    if (n > len)
        n = len;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return how == 'X' ? (long)len + 1 : (long)n;
}

/* Checks what every handler may rely on (http.h), whatever the input. */
static void check_req(const struct lumira_req *req, const struct input *in)
{
    size_t i, mlen = strlen(req->method);

    if (mlen == 0 || mlen > 16 || strspn(req->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != mlen)
        abort();
    if (req->path_len == 0 || req->path_len > LUMIRA_MAX_PATH || req->path[0] != '/' ||
        req->path_len > strlen(req->path))
        abort();
    if (req->query_len > LUMIRA_MAX_QUERY || strlen(req->query) != req->query_len)
        abort();
    if (!reqid_sane(req->reqid, strnlen(req->reqid, sizeof(req->reqid))))
        abort();
    if (req->nparams > LUMIRA_MAX_ROUTE_PARAMS)
        abort();
    for (i = 0; i < req->nparams; i++) {
        const struct lumira_route_param *p = &req->params[i];

        if (p->len == 0 || p->value < req->path || p->value + p->len > req->path + req->path_len ||
            memchr(p->value, '/', p->len) != NULL || p->name_len == 0)
            abort();
    }
    if (!lumira_req_has_body_method(req)) {
        if (req->body.len != 0 || in->feed.step != 0 || in->feed.pos != 0)
            abort(); /* only POST, PUT and PATCH read a body */
        return;
    }
    /* The body is what the stream gave, exactly CONTENT_LENGTH bytes of it when declared, and
     * it reaches a handler only as JSON. */
    if (req->body.len > LUMIRA_MAX_BODY || req->body.len > in->feed.pos + in->feed.filler ||
        (in->feed.filler == 0 && req->body.len > 0 &&
         memcmp(req->body.ptr, in->feed.data, req->body.len) != 0))
        abort();
    if (in->declared && req->body.len != in->content_length)
        abort();
    if (req->body.len > 0 && !lumira_req_is_json(req))
        abort();
}

/* GET /api/health, GET /api/orders/stats/overview, GET /. */
static void h_health(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct json_object *o;
    bool ok = true;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    o = lumira_json_new_object(&ok);
    lumira_json_put_str(o, "status", "ok", &ok);
    lumira_json_put_time(o, "timestamp", lumira_wall_ms(), &ok);
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
        LUMIRA_OK)
        ok = false;
    lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
}

/* An integer query parameter as the orders list reads it (lumira_valid_query_int), which must
 * stay within its bounds whatever the input. */
static int64_t query_int(const struct lumira_req *req, struct lumira_valid *v, const char *name,
                         int64_t max, int64_t def)
{
    int64_t n = lumira_valid_query_int(v, req, name, 1, max, def);

    if (n != def && (n < 1 || n > max))
        abort();
    return n;
}

/* A query parameter as the programs read it (lumira_valid_query_str): a true answer is a
 * NUL-terminated value of *len bytes with no NUL inside. */
static bool query_str(const struct lumira_req *req, struct lumira_valid *v, const char *name,
                      char *out, size_t size, size_t *len)
{
    bool got = lumira_valid_query_str(v, req, name, out, size, len);

    if (got && (*len == 0 || *len >= size || out[*len] != '\0' || memchr(out, '\0', *len)))
        abort();
    return got;
}

/* GET /api/orders?page&limit&status&email&dateFrom&dateTo: the list's filters, echoed. */
static void h_list(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct lumira_valid v;
    struct json_object *o;
    char buf[LUMIRA_MAX_QUERY_VALUE + 1], tiny[1];
    size_t len;
    int64_t page, limit, ms = 0;
    bool ok = true;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    lumira_valid_init(&v);
    page = query_int(req, &v, "page", 1000000, 1);
    limit = query_int(req, &v, "limit", 100, 20);
    /* Only an empty value fits one byte, and an empty value is no value. */
    if (query_str(req, &v, "level", tiny, sizeof(tiny), &len))
        abort();
    o = lumira_json_new_object(&ok);
    lumira_json_put_int(o, "page", page, &ok);
    lumira_json_put_int(o, "limit", limit, &ok);
    if (query_str(req, &v, "status", buf, sizeof(buf), &len))
        lumira_json_put_strn(o, "status", buf, len, &ok);
    if (query_str(req, &v, "email", buf, sizeof(buf), &len)) {
        char email[LUMIRA_MAX_EMAIL + 1];

        if (lumira_email_normalize(buf, len, email))
            lumira_json_put_str(o, "email", email, &ok);
        else
            lumira_valid_fail(&v, "email", "must be a valid e-mail address");
    }
    if (query_str(req, &v, "dateFrom", buf, sizeof(buf), &len)) {
        if (lumira_parse_date(buf, len, false, &ms))
            lumira_json_put_time(o, "dateFrom", ms, &ok);
        else
            lumira_valid_fail(&v, "dateFrom", "must be a date");
    }
    if (query_str(req, &v, "dateTo", buf, sizeof(buf), &len)) {
        if (lumira_parse_date(buf, len, true, &ms))
            lumira_json_put_time(o, "dateTo", ms, &ok);
        else
            lumira_valid_fail(&v, "dateTo", "must be a date");
    }
    if (lumira_valid_failed(&v)) {
        json_object_put(o);
        lumira_valid_respond(&v, resp, req);
    } else {
        lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
    }
    lumira_valid_cleanup(&v);
}

/* POST /api/orders: a JSON body validated as the programs do (valid.h) and partly echoed. */
static void h_create(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct lumira_valid v;
    struct json_object *body = NULL, *form = NULL, *o = NULL;
    char email[LUMIRA_MAX_EMAIL + 1];
    const char *s;
    size_t len;
    int64_t level = 0;
    bool ok = true, consent = false;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    lumira_valid_init(&v);
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_json_get_i64(body, "level", 1, 4, &level) != LUMIRA_OK)
        lumira_valid_fail(&v, "level", "must be an integer from 1 to 4");
    else if (level < 1 || level > 4)
        abort();
    (void)lumira_valid_email(&v, body, "email", LUMIRA_VALID_REQUIRED, email);
    if (lumira_json_get_bool(body, "consent", &consent) == LUMIRA_EINVAL)
        lumira_valid_fail(&v, "consent", "must be a boolean");
    if (lumira_json_get_object(body, "formData", &form) != LUMIRA_OK) {
        lumira_valid_fail(&v, "formData", "is required");
    } else {
        lumira_valid_prefix(&v, "formData");
        (void)lumira_valid_str(&v, form, "firstName", LUMIRA_VALID_REQUIRED, 1,
                               LUMIRA_MAX_NAME_CHARS, &s, &len);
        (void)lumira_valid_str(&v, form, "specificQuestion", LUMIRA_VALID_MULTILINE, 0, 2000, &s,
                               &len);
        (void)lumira_valid_email(&v, form, "email", 0, email);
        lumira_valid_prefix(&v, NULL);
    }
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    o = lumira_json_new_object(&ok);
    lumira_json_put_int(o, "level", level, &ok);
    lumira_json_put_bool(o, "consent", consent, &ok);
    lumira_json_put(o, "formData", json_object_get(form), &ok);
    lumira_resp_json(resp, req, 201, lumira_json_done(o, ok));
out:
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* GET|DELETE /api/orders/:id, GET /api/orders/number/:orderNumber,
 * PUT /api/experts/:expertId/orders/:id: the parameters echoed, and one as a header. */
static void h_item(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    static const char *const names[] = {"id", "orderNumber", "expertId", "", "i", "idx"};
    struct json_object *o;
    char value[LUMIRA_MAX_PATH + 1];
    const char *p;
    size_t i, len, found = 0;
    bool ok = true;
    enum lumira_err err;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    o = lumira_json_new_object(&ok);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        len = SIZE_MAX;
        p = lumira_req_param(req, names[i], &len);
        if (p == NULL)
            continue;
        if (len == 0 || len > req->path_len || i >= 3)
            abort(); /* only the pattern's names, and never empty */
        found++;
        if (!lumira_utf8_valid(p, len)) {
            json_object_put(o);
            lumira_resp_error(resp, req, 400, "INVALID_ID", "Malformed id", NULL);
            return;
        }
        lumira_json_put_strn(o, names[i], p, len, &ok);
        memcpy(value, p, len);
        value[len] = '\0';
        /* A header value is refused exactly when it holds CR or LF. */
        err = lumira_resp_header(resp, "X-Order-Ref", value);
        if ((err == LUMIRA_EINVAL) != (strpbrk(value, "\r\n") != NULL) ||
            (err != LUMIRA_OK && err != LUMIRA_EINVAL && err != LUMIRA_ETOOBIG))
            abort();
    }
    if (found != req->nparams || found == 0)
        abort();
    lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
}

/* PATCH /api/orders/:id/status: {"status": "..."} parsed with json.h. */
static void h_status(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct json_object *body = NULL, *o;
    char why[128];
    const char *s;
    size_t len;
    bool ok = true;
    enum lumira_err err;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    why[0] = '\0';
    err = lumira_json_parse_object(req->body.ptr != NULL ? req->body.ptr : "", req->body.len, &body,
                                   why, sizeof(why));
    if (err != LUMIRA_OK) {
        if (body != NULL || why[0] == '\0')
            abort();
        lumira_resp_error(resp, req, 400, "INVALID_JSON", why, NULL);
        return;
    }
    err = lumira_json_get_str(body, "status", 32, &s, &len);
    if (err != LUMIRA_OK) {
        json_object_put(body);
        lumira_resp_error(resp, req, 400, "VALIDATION_ERROR", "status must be a short string",
                          NULL);
        return;
    }
    o = lumira_json_new_object(&ok);
    lumira_json_put_strn(o, "status", s, len, &ok);
    json_object_put(body);
    lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
}

/* POST /api/stripe/webhook: needs a Stripe-Signature header. */
static void h_webhook(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    const char *sig = lumira_req_env(req, "HTTP_STRIPE_SIGNATURE");
    struct json_object *o;
    bool ok = true;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    if (sig == NULL || sig[0] == '\0') {
        lumira_resp_error(resp, req, 400, "INVALID_SIGNATURE", "Missing Stripe-Signature", NULL);
        return;
    }
    o = lumira_json_new_object(&ok);
    lumira_json_put_bool(o, "received", true, &ok);
    lumira_json_put_int(o, "bytes", (int64_t)req->body.len, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
}

/* GET /api/auth/me: a bearer token is looked at, never echoed. */
static void h_me(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    const char *auth = lumira_req_env(req, "HTTP_AUTHORIZATION");
    struct json_object *o;
    size_t len;
    bool ok = true;

    check_req(req, ctx);
    ((struct input *)ctx)->handled++;
    if (auth != ((struct input *)ctx)->auth)
        abort(); /* lumira_req_env() finds the first entry of that name */
    len = auth != NULL ? strnlen(auth, LUMIRA_MAX_JWT + 8) : 0;
    if (auth == NULL || !lumira_str_has_prefix(auth, len, "Bearer ") || len == 7 ||
        len > LUMIRA_MAX_JWT + 7) {
        lumira_resp_error(resp, req, 401, "UNAUTHORIZED", "Missing or invalid token", NULL);
        return;
    }
    o = lumira_json_new_object(&ok);
    lumira_json_put_int(o, "tokenBytes", (int64_t)(len - 7), &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(o, ok));
}

/* POST /:a/:b/:c/:d/:e has more parameters than LUMIRA_MAX_ROUTE_PARAMS: it never matches. */
static void h_never(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    (void)req;
    (void)resp;
    (void)ctx;
    abort();
}

static const struct lumira_route routes[] = {
    {"GET", "/api/health", h_health},
    {"GET", "/api/orders", h_list},
    {"POST", "/api/orders", h_create},
    {"GET", "/api/orders/stats/overview", h_health},
    {"GET", "/api/orders/number/:orderNumber", h_item},
    {"GET", "/api/orders/:id", h_item},
    {"DELETE", "/api/orders/:id", h_item},
    {"PATCH", "/api/orders/:id/status", h_status},
    {"PUT", "/api/experts/:expertId/orders/:id", h_item},
    {"POST", "/api/stripe/webhook", h_webhook},
    {"GET", "/api/auth/me", h_me},
    {"POST", "/:a/:b/:c/:d/:e", h_never},
    {"GET", "/", h_health},
};

/* Finds header `name` in the header block [head, end): aborts when it is there more than once;
 * returns its value (not NUL-terminated) and length, or NULL. */
static const char *find_header(const char *head, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);
    const char *p = head, *found = NULL;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (eol == NULL)
            abort();
        if ((size_t)(eol - p) >= n + 2 && strncasecmp(p, name, n) == 0 && p[n] == ':' &&
            p[n + 1] == ' ') {
            if (found != NULL)
                abort();
            found = p + n + 2;
            *len = (size_t)(eol - found);
        }
        p = eol + 2;
    }
    return found;
}

/* A JSON body: one strict JSON object in valid UTF-8; an error names its code and request id. */
static void check_json_body(const char *body, size_t len, int status, const char *reqid,
                            size_t reqid_len)
{
    struct json_tokener *tok;
    struct json_object *obj, *v;

    if (len == 0 || len > LUMIRA_MAX_RESPONSE || !lumira_utf8_valid(body, len))
        abort();
    tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH * 4);
    if (tok == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, body, (int)len);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len || !json_object_is_type(obj, json_type_object))
        abort();
    if (status >= 400) {
        if (!json_object_object_get_ex(obj, "error", &v) ||
            !json_object_is_type(v, json_type_string))
            abort();
        if (!json_object_object_get_ex(obj, "code", &v) ||
            !json_object_is_type(v, json_type_string))
            abort();
        if (!json_object_object_get_ex(obj, "requestId", &v) ||
            !json_object_is_type(v, json_type_string) ||
            (size_t)json_object_get_string_len(v) != reqid_len ||
            memcmp(json_object_get_string(v), reqid, reqid_len) != 0)
            abort();
    }
    json_object_put(obj);
    json_tokener_free(tok);
}

/* Takes the rendered response apart and checks it (see the top of this file). */
static void check_response(const struct lumira_buf *out, size_t cap, const struct input *in)
{
    const char *p = out->ptr, *end, *head, *sep, *body, *v, *want;
    size_t len, body_len, n, vlen;
    uint64_t content_length = 0;
    int status;

    if (out->len == 0) {
        if (cap >= OUT_MAX)
            abort(); /* nothing to send: only when even the fallback did not fit */
        return;
    }
    if (out->len > cap || p == NULL || out->len < 13 || memcmp(p, "Status: ", 8) != 0 ||
        strspn(p + 8, "0123456789") != 3 || p[11] != ' ')
        abort();
    status = (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
    if (status < 200 || status > 599)
        abort();
    end = p + out->len;
    sep = memmem(p, out->len, "\r\n\r\n", 4);
    if (sep == NULL)
        abort();
    /* The status line: the reason of that status, then the header lines. */
    want = lumira_http_reason(status);
    n = strlen(want);
    if ((size_t)(sep - p) < 12 + n || memcmp(p + 12, want, n) != 0 || memcmp(p + 12 + n, "\r\n", 2))
        abort();
    head = p + 12 + n + 2;
    for (v = head; v < sep + 2; v++) {
        if (*v == '\0' || ((*v == '\r' || *v == '\n') && !(v[0] == '\r' && v[1] == '\n') &&
                           !(v[0] == '\n' && v[-1] == '\r')))
            abort();
    }
    /* Each header line is "Name: value" with a token for a name. */
    for (v = head; v < sep + 2; v = (const char *)memmem(v, (size_t)(sep + 2 - v), "\r\n", 2) + 2) {
        n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
        if (n == 0 || v[n] != ':' || v[n + 1] != ' ')
            abort();
    }
    body = sep + 4;
    body_len = (size_t)(end - body);

    v = find_header(head, sep + 2, "Content-Length", &vlen);
    if (v == NULL || vlen == 0 || vlen > 10 || strspn(v, "0123456789") < vlen)
        abort();
    for (n = 0; n < vlen; n++)
        content_length = content_length * 10 + (uint64_t)(v[n] - '0');
    if (in->method != NULL && strcmp(in->method, "HEAD") == 0) {
        if (body_len != 0)
            abort(); /* no body for HEAD, whatever happened */
    } else if (content_length != body_len) {
        abort();
    }

    v = find_header(head, sep + 2, "X-Response-Time", &vlen);
    if (v == NULL || vlen < 3 || strspn(v, "0123456789") != vlen - 2 ||
        memcmp(v + vlen - 2, "ms", 2))
        abort();

    v = find_header(head, sep + 2, "X-Request-Id", &vlen);
    if (v == NULL || !reqid_sane(v, vlen))
        abort();
    len = in->reqid != NULL ? strlen(in->reqid) : 0;
    if (in->reqid != NULL && reqid_sane(in->reqid, len) &&
        (vlen != len || memcmp(v, in->reqid, len) != 0))
        abort(); /* a sane incoming id is kept */

    {
        const char *ct = find_header(head, sep + 2, "Content-Type", &len);

        if (ct == NULL)
            abort();
        if (len == strlen(JSON_TYPE) && memcmp(ct, JSON_TYPE, len) == 0 && body_len > 0)
            check_json_body(body, body_len, status, v, vlen);
    }
    if (status == 405 && find_header(head, sep + 2, "Allow", &len) == NULL)
        abort();
    if (in->handled == 0 && status != 400 && status != 404 && status != 405 && status != 413 &&
        status != 414 && status != 415 && status != 500)
        abort(); /* what the router answers by itself */
    if (in->method == NULL && status != 400)
        abort();
}

/* Splits the input into environment entries and a body (see the top of this file). */
static void parse_input(const uint8_t *data, size_t size, struct input *in, size_t *cap)
{
    size_t pos = 0;
    const char *plan = NULL;
    size_t plan_len = 0;

    memset(in, 0, sizeof(*in));
    *cap = OUT_MAX;
    while (pos < size) {
        size_t end = pos;

        while (end < size && data[end] != '\n' && data[end] != '\0')
            end++;
        if (end == pos) {
            pos++;
            break; /* the body follows */
        }
        if (end - pos > 10 && memcmp(data + pos, "FUZZ_READ=", 10) == 0) {
            plan = (const char *)data + pos + 10;
            plan_len = end - pos - 10;
        } else if (end - pos > 9 && memcmp(data + pos, "FUZZ_OUT=", 9) == 0) {
            uint64_t v;

            if (lumira_parse_u64((const char *)data + pos + 9, end - pos - 9, OUT_MAX, &v) ==
                LUMIRA_OK)
                *cap = (size_t)v;
        } else if (in->nenv < MAX_ENTRIES) {
            char *e = malloc(end - pos + 1);

            if (e == NULL)
                abort();
            memcpy(e, data + pos, end - pos);
            e[end - pos] = '\0';
            in->env[in->nenv++] = e;
        }
        pos = end + 1;
    }
    in->env[in->nenv] = NULL;
    in->feed.len = pos < size ? size - pos : 0;
    in->feed.data = malloc(in->feed.len > 0 ? in->feed.len : 1);
    if (in->feed.data == NULL)
        abort();
    if (in->feed.len > 0)
        memcpy(in->feed.data, data + pos, in->feed.len);
    in->feed.plan = plan;
    in->feed.plan_len = plan_len;
    in->method = env_get(in, "REQUEST_METHOD");
    in->reqid = env_get(in, "HTTP_X_REQUEST_ID");
    in->auth = env_get(in, "HTTP_AUTHORIZATION");
    {
        const char *cl = env_get(in, "CONTENT_LENGTH");

        in->declared = cl != NULL && declared_length(cl, &in->content_length);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool log_ready;
    struct input in;
    struct lumira_app app = {"fuzz_request", routes, sizeof(routes) / sizeof(routes[0]), NULL};
    struct lumira_buf out;
    size_t cap, i;

    if (!log_ready) {
        if (lumira_log_open("fuzz_request", "/dev/null", LUMIRA_LOG_DEBUG) != LUMIRA_OK)
            abort();
        log_ready = true;
    }
    parse_input(data, size, &in, &cap);
    app.ctx = &in;
    lumira_buf_init(&out, cap);
    lumira_server_handle(&app, in.env, feed_read, &in.feed, &out);
    /* Input past CONTENT_LENGTH is left alone. */
    if (in.declared && in.feed.pos + in.feed.filler > in.content_length)
        abort();
    check_response(&out, cap, &in);
    lumira_buf_cleanup(&out);
    for (i = 0; i < in.nenv; i++)
        free(in.env[i]);
    free(in.feed.data);
    return 0;
}
