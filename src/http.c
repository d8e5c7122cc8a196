#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "str.h"

#define JSON_CONTENT_TYPE "application/json; charset=utf-8"
/* Random bytes in a request id we make (hex, so twice as many characters). */
#define REQID_RANDOM_BYTES 16

const char *lumira_req_env(const struct lumira_req *req, const char *name)
{
    size_t n = strlen(name);
    char *const *e;

    for (e = req->envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

bool lumira_reqid_valid(const char *id, size_t len)
{
    size_t i;

    if (id == NULL || len == 0 || len > LUMIRA_REQID_MAX)
        return false;
    for (i = 0; i < len; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The variables lumira_req_init() reads, found in one pass over the environment (a FastCGI
 * request from nginx carries about 15-20 of them; a lookup each would scan it 6 or 7 times).
 * Each is the first of its name, as lumira_req_env() would return it; NULL when absent. */
struct req_vars {
    const char *method, *path_info, *document_uri, *request_uri, *query, *content_type, *reqid;
};

/* The value of `e` when it is "<name>=value" (`n` is strlen(name)), else NULL. */
static const char *env_value(const char *e, const char *name, size_t n)
{
    return strncmp(e, name, n) == 0 && e[n] == '=' ? e + n + 1 : NULL;
}

/* Sets `slot` to the value of `e` if `e` is the first `name` seen. */
#define ENV_TAKE(slot, e, name)                                                                    \
    do {                                                                                           \
        if ((slot) == NULL)                                                                        \
            (slot) = env_value((e), (name), sizeof(name) - 1);                                     \
    } while (0)

static void scan_env(char *const *envp, struct req_vars *v)
{
    char *const *e;

    memset(v, 0, sizeof(*v));
    for (e = envp; e != NULL && *e != NULL; e++) {
        const char *s = *e;

        /* By the first byte, so that most variables cost one comparison or none. */
        switch (s[0]) {
        case 'R':
            if (strncmp(s, "REQUEST_", 8) == 0) { /* then s[8] is the name's or the NUL */
                if (s[8] == 'M')
                    ENV_TAKE(v->method, s, "REQUEST_METHOD");
                else if (s[8] == 'U')
                    ENV_TAKE(v->request_uri, s, "REQUEST_URI");
            }
            break;
        case 'P':
            ENV_TAKE(v->path_info, s, "PATH_INFO");
            break;
        case 'D':
            ENV_TAKE(v->document_uri, s, "DOCUMENT_URI");
            break;
        case 'Q':
            ENV_TAKE(v->query, s, "QUERY_STRING");
            break;
        case 'C':
            ENV_TAKE(v->content_type, s, "CONTENT_TYPE");
            break;
        case 'H':
            ENV_TAKE(v->reqid, s, "HTTP_X_REQUEST_ID");
            break;
        default:
            break;
        }
    }
}

/* Keeps a sane incoming id, else makes a random one. Never fails: if the kernel's random source
 * fails, the id is made of the pid and the time, which is unique enough to trace a request. */
static void set_reqid(struct lumira_req *req, const char *in)
{
    unsigned char rnd[REQID_RANDOM_BYTES];

    if (in != NULL && lumira_reqid_valid(in, strnlen(in, LUMIRA_REQID_MAX + 1))) {
        (void)lumira_strscpy(req->reqid, in, sizeof(req->reqid));
        return;
    }
    if (lumira_random_bytes(rnd, sizeof(rnd)) == LUMIRA_OK) {
        lumira_hex_encode(rnd, sizeof(rnd), req->reqid);
        return;
    }
    snprintf(req->reqid, sizeof(req->reqid), "%ld-%lld", (long)getpid(),
             (long long)lumira_wall_ms());
}

/* 1 to 16 capital letters (a loop: strspn() with a set builds a table on every call). */
static bool method_valid(const char *m)
{
    size_t n;

    for (n = 0; m[n] >= 'A' && m[n] <= 'Z'; n++) {
        if (n == 16)
            return false;
    }
    return n > 0 && m[n] == '\0';
}

enum lumira_err lumira_req_init(struct lumira_req *req, char *const *envp)
{
    struct req_vars v;
    const char *p;
    size_t len;

    memset(req, 0, sizeof(*req));
    req->envp = envp;
    req->start_ms = lumira_mono_ms();
    lumira_buf_init(&req->body, LUMIRA_MAX_BODY);
    scan_env(envp, &v);
    set_reqid(req, v.reqid);
    req->method = "";
    req->path = "";
    req->query = "";

    p = v.method;
    if (p == NULL || !method_valid(p))
        return LUMIRA_EINVAL;
    req->method = p;

    p = v.path_info;
    if (p == NULL || p[0] == '\0')
        p = v.document_uri;
    if (p != NULL && p[0] != '\0') {
        len = strnlen(p, LUMIRA_MAX_PATH + 1);
    } else {
        p = v.request_uri;
        if (p == NULL)
            return LUMIRA_EINVAL;
        len = strcspn(p, "?#");
    }
    if (len > LUMIRA_MAX_PATH)
        return LUMIRA_ETOOBIG;
    if (len == 0 || p[0] != '/')
        return LUMIRA_EINVAL;
    req->path = p;
    req->path_len = (len > 1 && p[len - 1] == '/') ? len - 1 : len;

    p = v.query;
    if (p != NULL) {
        len = strnlen(p, LUMIRA_MAX_QUERY + 1);
        if (len > LUMIRA_MAX_QUERY)
            return LUMIRA_ETOOBIG;
        req->query = p;
        req->query_len = len;
    }
    req->content_type = v.content_type;
    return LUMIRA_OK;
}

void lumira_req_cleanup(struct lumira_req *req)
{
    if (req != NULL)
        lumira_buf_cleanup(&req->body);
}

const char *lumira_req_param(const struct lumira_req *req, const char *name, size_t *len)
{
    size_t i;

    for (i = 0; i < req->nparams; i++) {
        if (req->params[i].name_len == strlen(name) &&
            memcmp(req->params[i].name, name, req->params[i].name_len) == 0) {
            *len = req->params[i].len;
            return req->params[i].value;
        }
    }
    return NULL;
}

bool lumira_req_has_body_method(const struct lumira_req *req)
{
    return strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
           strcmp(req->method, "PATCH") == 0;
}

bool lumira_req_is_json(const struct lumira_req *req)
{
    static const char json[] = "application/json";
    const char *ct = req->content_type, *rest;

    if (ct == NULL)
        return false;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, json, sizeof(json) - 1) != 0)
        return false;
    rest = ct + sizeof(json) - 1;
    rest += strspn(rest, " \t");
    return *rest == '\0' || *rest == ';';
}

enum lumira_err lumira_req_read_body(struct lumira_req *req, lumira_read_fn read, void *stream)
{
    const char *cl = lumira_req_env(req, "CONTENT_LENGTH");
    uint64_t declared = 0;
    bool has_declared = false;
    char chunk[16384];
    enum lumira_err err;

    if (cl != NULL && cl[0] != '\0') {
        size_t cllen = strlen(cl);

        /* Anything but digits is a 400; digits over the cap are a 413 whatever their number
         * (past 64 bits too). Both are refused before reading or allocating anything. */
        if (strspn(cl, "0123456789") != cllen)
            return LUMIRA_EINVAL;
        if (lumira_parse_u64(cl, cllen, LUMIRA_MAX_BODY, &declared) != LUMIRA_OK)
            return LUMIRA_ETOOBIG;
        has_declared = true;
    }
    for (;;) {
        /* With CONTENT_LENGTH, exactly that many bytes are read: a CGI server need not signal
         * end of input after them (RFC 3875 4.2). Without it, reads go on to the end of input
         * and the buffer refuses to grow past LUMIRA_MAX_BODY. */
        size_t want = sizeof(chunk);
        long n;

        if (has_declared) {
            if (req->body.len == declared)
                break;
            if (declared - req->body.len < want)
                want = (size_t)(declared - req->body.len);
        }
        n = read(stream, chunk, want);
        if (n < 0)
            return LUMIRA_EIO;
        if (n == 0)
            break;
        if ((size_t)n > want)
            return LUMIRA_EIO;
        err = lumira_buf_add(&req->body, chunk, (size_t)n);
        if (err != LUMIRA_OK)
            return err; /* LUMIRA_ETOOBIG past LUMIRA_MAX_BODY, or LUMIRA_ENOMEM */
    }
    if (has_declared && req->body.len != declared)
        return LUMIRA_EINVAL; /* truncated */
    return LUMIRA_OK;
}

/* Compares one pattern segment with one path segment, capturing ":name" segments. */
static bool segment_match(const char *pat, size_t plen, const char *seg, size_t slen,
                          struct lumira_route_param *params, size_t *nparams)
{
    if (plen > 0 && pat[0] == ':') {
        if (slen == 0 || *nparams >= LUMIRA_MAX_ROUTE_PARAMS)
            return false;
        params[*nparams].name = pat + 1; /* not NUL-terminated: see name_len */
        params[*nparams].name_len = plen - 1;
        params[*nparams].value = seg;
        params[*nparams].len = slen;
        (*nparams)++;
        return true;
    }
    return plen == slen && memcmp(pat, seg, slen) == 0;
}

/* Matches `path` against `pattern` segment by segment. */
static bool path_match(const char *pattern, const char *path, size_t path_len,
                       struct lumira_route_param *params, size_t *nparams)
{
    const char *pp = pattern, *sp = path, *send = path + path_len;

    *nparams = 0;
    for (;;) {
        const char *pe = pp + strcspn(pp, "/");
        const char *se = memchr(sp, '/', (size_t)(send - sp));

        if (se == NULL)
            se = send;
        if (!segment_match(pp, (size_t)(pe - pp), sp, (size_t)(se - sp), params, nparams))
            return false;
        if (*pe == '\0' || se == send)
            return *pe == '\0' && se == send;
        pp = pe + 1;
        sp = se + 1;
    }
}

static void allow_add(char *allow, size_t allowlen, const char *method)
{
    size_t used = strlen(allow);
    const char *p = allow;
    size_t n = strlen(method);

    /* Skip methods already listed. */
    while ((p = strstr(p, method)) != NULL) {
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return;
        p += n;
    }
    snprintf(allow + used, allowlen - used, "%s%s", used > 0 ? ", " : "", method);
}

const struct lumira_route *lumira_route_match(const struct lumira_route *routes, size_t n,
                                              struct lumira_req *req, char *allow, size_t allowlen)
{
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    struct lumira_route_param params[LUMIRA_MAX_ROUTE_PARAMS];
    size_t i, np;

    if (allowlen > 0)
        allow[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!path_match(routes[i].pattern, req->path, req->path_len, params, &np))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            memcpy(req->params, params, sizeof(params));
            req->nparams = np;
            return &routes[i];
        }
        if (allowlen > 0) {
            allow_add(allow, allowlen, routes[i].method);
            if (strcmp(routes[i].method, "GET") == 0)
                allow_add(allow, allowlen, "HEAD");
        }
    }
    return NULL;
}

/* Decodes `len` bytes of a query component into `out` (`size` bytes with its NUL). */
static enum lumira_err pct_decode(const char *s, size_t len, char *out, size_t size, size_t *outlen)
{
    size_t i, o = 0;

    if (size == 0)
        return LUMIRA_ETOOBIG; /* not even room for the NUL */
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == '\0') {
            return LUMIRA_EINVAL; /* a raw NUL in a counted query */
        } else if (c == '%') {
            int hi, lo;

            if (len - i < 3)
                return LUMIRA_EINVAL;
            hi = lumira_hex_digit(s[i + 1]);
            lo = lumira_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return LUMIRA_EINVAL;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return LUMIRA_EINVAL;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= size)
            return LUMIRA_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    if (outlen != NULL)
        *outlen = o;
    return LUMIRA_OK;
}

enum lumira_err lumira_query_get(const char *query, size_t qlen, const char *name, char *out,
                                 size_t size, size_t *outlen)
{
    const char *p = query, *end = query + qlen;
    char key[128];

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq != NULL ? eq : pe;
        size_t klen;

        if (pct_decode(p, (size_t)(ke - p), key, sizeof(key), &klen) == LUMIRA_OK &&
            strcmp(key, name) == 0) {
            if (eq == NULL) {
                if (size == 0)
                    return LUMIRA_ETOOBIG;
                out[0] = '\0';
                if (outlen != NULL)
                    *outlen = 0;
                return LUMIRA_OK;
            }
            return pct_decode(eq + 1, (size_t)(pe - eq - 1), out, size, outlen);
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return LUMIRA_ENOTFOUND;
}

void lumira_resp_init(struct lumira_resp *resp)
{
    resp->status = 200;
    lumira_buf_init(&resp->headers, LUMIRA_MAX_RESPONSE_HEADERS);
    lumira_buf_init(&resp->body, LUMIRA_MAX_RESPONSE);
    resp->content_type = JSON_CONTENT_TYPE;
}

/* Empties `b` for the next request; memory past `keep` bytes goes back to malloc. */
static void buf_reuse(struct lumira_buf *b, size_t keep)
{
    if (b->cap > keep)
        lumira_buf_cleanup(b);
    else
        lumira_buf_reset(b);
}

void lumira_resp_reuse(struct lumira_resp *resp)
{
    resp->status = 200;
    buf_reuse(&resp->headers, LUMIRA_RESP_KEEP);
    buf_reuse(&resp->body, LUMIRA_RESP_KEEP);
    resp->content_type = JSON_CONTENT_TYPE;
}

void lumira_resp_cleanup(struct lumira_resp *resp)
{
    if (resp == NULL)
        return;
    lumira_buf_cleanup(&resp->headers);
    lumira_buf_cleanup(&resp->body);
}

/* Letters, digits and '-', at least one (a loop: strspn() with a set builds a table on every
 * call, about 500 instructions for each header of every answer). */
static bool header_name_valid(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return n > 0;
}

/* Appends "name: value\r\n" to `b`; all or nothing. */
static enum lumira_err add_header_line(struct lumira_buf *b, const char *name, const char *value)
{
    size_t start = b->len;
    enum lumira_err err = lumira_buf_adds(b, name);

    if (err == LUMIRA_OK)
        err = lumira_buf_add(b, ": ", 2);
    if (err == LUMIRA_OK)
        err = lumira_buf_adds(b, value);
    if (err == LUMIRA_OK)
        err = lumira_buf_add(b, "\r\n", 2);
    if (err != LUMIRA_OK)
        lumira_buf_truncate(b, start);
    return err;
}

enum lumira_err lumira_resp_header(struct lumira_resp *resp, const char *name, const char *value)
{
    if (!header_name_valid(name) || strpbrk(value, "\r\n") != NULL)
        return LUMIRA_EINVAL;
    return add_header_line(&resp->headers, name, value);
}

/* The last resort when even an error body cannot be built: a fixed 500. The request id holds
 * only [A-Za-z0-9._-], so it can be printed into JSON as is. */
static void resp_internal(struct lumira_resp *resp, const struct lumira_req *req)
{
    resp->status = 500;
    resp->content_type = JSON_CONTENT_TYPE;
    lumira_buf_reset(&resp->body);
    if (lumira_buf_addf(&resp->body,
                        "{\"error\":\"Internal error\",\"code\":\"INTERNAL\",\"requestId\":\"%s\"}",
                        req->reqid) != LUMIRA_OK)
        lumira_buf_cleanup(&resp->body);
}

void lumira_resp_json(struct lumira_resp *resp, const struct lumira_req *req, int status,
                      struct json_object *obj)
{
    lumira_buf_reset(&resp->body);
    if (obj == NULL || lumira_json_serialize(obj, &resp->body) != LUMIRA_OK) {
        json_object_put(obj);
        resp_internal(resp, req);
        return;
    }
    json_object_put(obj);
    resp->status = status;
    resp->content_type = JSON_CONTENT_TYPE;
}

void lumira_resp_jw_begin(struct lumira_resp *resp, struct lumira_jw *w)
{
    lumira_buf_reset(&resp->body);
    lumira_jw_init(w, &resp->body);
}

void lumira_resp_jw_end(struct lumira_resp *resp, const struct lumira_req *req, int status,
                        struct lumira_jw *w)
{
    enum lumira_err err = lumira_jw_finish(w);

    if (err != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "http", "cannot write a reply: %s", lumira_strerror(err));
        resp_internal(resp, req);
        return;
    }
    resp->status = status;
    resp->content_type = JSON_CONTENT_TYPE;
}

void lumira_resp_error(struct lumira_resp *resp, const struct lumira_req *req, int status,
                       const char *code, const char *msg, struct json_object *details)
{
    struct json_object *extra = NULL;
    bool ok = true;

    if (details != NULL) {
        extra = lumira_json_new_object(&ok);
        lumira_json_put(extra, "details", details, &ok);
        if (!ok) {
            json_object_put(extra);
            resp_internal(resp, req);
            return;
        }
    }
    lumira_resp_error_with(resp, req, status, code, msg, extra);
}

void lumira_resp_error_with(struct lumira_resp *resp, const struct lumira_req *req, int status,
                            const char *code, const char *msg, struct json_object *extra)
{
    bool ok = true;
    struct json_object *o = lumira_json_new_object(&ok);

    lumira_json_put_str(o, "error", msg, &ok);
    lumira_json_put_str(o, "code", code, &ok);
    lumira_json_put_str(o, "requestId", req->reqid, &ok);
    if (extra != NULL && ok) {
        json_object_object_foreach(extra, key, val)
        {
            if (val == NULL) /* json-c's null: lumira_json_put() would take it for no memory */
                lumira_json_put_str(o, key, NULL, &ok);
            else
                lumira_json_put(o, key, json_object_get(val), &ok);
        }
    }
    json_object_put(extra);
    if (!ok) {
        json_object_put(o);
        resp_internal(resp, req);
        return;
    }
    lumira_resp_json(resp, req, status, o);
}

void lumira_resp_fail(struct lumira_resp *resp, const struct lumira_req *req, enum lumira_err err)
{
    if (err == LUMIRA_EUNAVAIL || err == LUMIRA_ETIMEDOUT)
        lumira_resp_error(resp, req, 503, "DATABASE_UNAVAILABLE",
                          "Database temporarily unavailable", NULL);
    else
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

const char *lumira_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* Copies `len` bytes of `s` to `p`; returns the end. */
static char *put_bytes(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

enum lumira_err lumira_resp_render(const struct lumira_resp *resp, const struct lumira_req *req,
                                   bool head, int64_t elapsed_ms, struct lumira_buf *out)
{
    char status[LUMIRA_I64_SIZE], length[LUMIRA_I64_SIZE], took[LUMIRA_I64_SIZE];
    const char *reason = lumira_http_reason(resp->status);
    size_t nstatus, nlength, ntook, nreason = strlen(reason), ntype = strlen(resp->content_type);
    size_t nid = strlen(req->reqid), need;
    enum lumira_err err;
    char *p, *start;

    /* Written in one reservation, by hand rather than with printf: this runs on every request. */
    nstatus = lumira_fmt_i64(resp->status, status);
    nlength = lumira_fmt_i64((int64_t)resp->body.len, length);
    ntook = lumira_fmt_i64(elapsed_ms, took);
    need = sizeof("Status:  \r\nContent-Type: \r\nContent-Length: \r\nX-Request-Id: \r\n"
                  "X-Response-Time: ms\r\n") -
           1 + nstatus + nreason + ntype + nlength + nid + ntook;
    start = p = lumira_buf_space(out, need, &err);
    if (p == NULL)
        return err;
    p = put_bytes(p, "Status: ", 8);
    p = put_bytes(p, status, nstatus);
    *p++ = ' ';
    p = put_bytes(p, reason, nreason);
    p = put_bytes(p, "\r\nContent-Type: ", 16);
    p = put_bytes(p, resp->content_type, ntype);
    p = put_bytes(p, "\r\nContent-Length: ", 18);
    p = put_bytes(p, length, nlength);
    p = put_bytes(p, "\r\nX-Request-Id: ", 16);
    p = put_bytes(p, req->reqid, nid);
    p = put_bytes(p, "\r\nX-Response-Time: ", 19);
    p = put_bytes(p, took, ntook);
    p = put_bytes(p, "ms\r\n", 4);
    lumira_buf_commit(out, (size_t)(p - start));
    if (resp->headers.len > 0)
        err = lumira_buf_add(out, resp->headers.ptr, resp->headers.len);
    if (err == LUMIRA_OK)
        err = lumira_buf_add(out, "\r\n", 2);
    if (err == LUMIRA_OK && !head && resp->body.len > 0)
        err = lumira_buf_add(out, resp->body.ptr, resp->body.len);
    return err;
}

void lumira_resp_db_failed(struct lumira_resp *resp, const struct lumira_req *req,
                           enum lumira_err res, const char *what, const char *err)
{
    lumira_log(res == LUMIRA_EUNAVAIL ? LUMIRA_LOG_WARN : LUMIRA_LOG_ERROR, "db", "%s: %s", what,
               err);
    lumira_resp_fail(resp, req, res);
}
