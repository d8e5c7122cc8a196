#ifndef LUMIRA_HTTP_H
#define LUMIRA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"
#include "jsonw.h"
#include "lumira_limits.h"

/* One HTTP request and its response, independent of how they travel (FastCGI or CGI: see
 * server.h). Everything in a request is untrusted.
 *
 * Ownership: a request borrows its strings from the environment it was made from (envp: under
 * FastCGI, libfcgi's request, valid until FCGX_Finish_r(), which lumira_serve() calls only after
 * the response is rendered), and owns its body. Route parameters point into the path. A
 * response owns its header and body buffers; the lumira_resp_* functions that take a json-c
 * object take it whatever happens (the caller must not put it afterwards). */

struct lumira_route_param {
    const char *name; /* from the pattern, without ':'; not NUL-terminated */
    size_t name_len;
    const char *value; /* points into the request path: not NUL-terminated */
    size_t len;
};

struct lumira_req {
    /* read-only */
    const char *method; /* REQUEST_METHOD, never NULL */
    const char *path;   /* PATH_INFO or DOCUMENT_URI (decoded by the server), else the
                           raw path of REQUEST_URI; never NULL */
    size_t path_len;    /* without one trailing slash */
    const char *query;  /* raw QUERY_STRING, "" when none */
    size_t query_len;
    const char *content_type; /* CONTENT_TYPE or NULL */
    char reqid[LUMIRA_REQID_MAX + 1];
    int64_t start_ms;       /* monotonic */
    struct lumira_buf body; /* read before the handler runs, for requests that carry one */
    size_t nparams;
    struct lumira_route_param params[LUMIRA_MAX_ROUTE_PARAMS];
    /* private */
    char *const *envp;
};

struct lumira_resp {
    /* public: set by handlers through the functions below */
    int status;
    struct lumira_buf headers; /* "Name: value\r\n" lines */
    struct lumira_buf body;
    const char *content_type; /* static string; JSON unless changed */
};

/* A handler fills `resp`; it never writes to the client itself. `ctx` is the program's. */
typedef void (*lumira_handler)(struct lumira_req *req, struct lumira_resp *resp, void *ctx);

struct lumira_route {
    const char *method;  /* "GET", "POST", ... (HEAD is served by GET routes) */
    const char *pattern; /* "/api/orders/:id/status": ":name" matches one non-empty segment */
    lumira_handler handler;
};

/* Initialises `req` from `envp` (NAME=value strings, NULL-terminated): method, path (PATH_INFO
 * when set, else DOCUMENT_URI, else REQUEST_URI up to '?'), query and request id (a sane
 * X-Request-Id is kept, otherwise a random one is made). Returns LUMIRA_EINVAL when the method
 * or path is missing or unusable (the request must then get a 400), LUMIRA_ETOOBIG when the path
 * or query is over its cap (414). `req` can be cleaned up in every case. */
enum lumira_err lumira_req_init(struct lumira_req *req, char *const *envp) LUMIRA_WARN_UNUSED;

/* Frees what the request owns (its body). */
void lumira_req_cleanup(struct lumira_req *req);

/* Returns the value of the CGI/FastCGI parameter `name` (e.g. "HTTP_X_REQUEST_ID") or NULL. */
const char *lumira_req_env(const struct lumira_req *req, const char *name);

/* Returns route parameter `name` and its length, or NULL when the route has none. */
const char *lumira_req_param(const struct lumira_req *req, const char *name, size_t *len);

/* True when `id` (len bytes) is a sane request id: 1-64 chars of [A-Za-z0-9._-]. */
bool lumira_reqid_valid(const char *id, size_t len);

/* Reads the body through `read` into req->body, bounded by LUMIRA_MAX_BODY. `read` returns the
 * bytes read (0 at end of input) or -1 on error. CONTENT_LENGTH, when present, must be strict
 * digits and at most the cap; exactly that many bytes are then read (input past them is left
 * alone, as a CGI server need not close stdin), and fewer is a truncated body.
 * LUMIRA_ETOOBIG: over the cap (413); LUMIRA_EINVAL: bad or unmet CONTENT_LENGTH (400);
 * LUMIRA_EIO: the read failed; LUMIRA_ENOMEM. */
typedef long (*lumira_read_fn)(void *stream, char *buf, size_t len);
enum lumira_err lumira_req_read_body(struct lumira_req *req, lumira_read_fn read,
                                     void *stream) LUMIRA_WARN_UNUSED;

/* True when the request's method carries a body (POST, PUT, PATCH). */
bool lumira_req_has_body_method(const struct lumira_req *req);

/* True when CONTENT_TYPE is application/json, with or without parameters, in any case. */
bool lumira_req_is_json(const struct lumira_req *req);

/* Finds the route for the request. On a match, fills req->params and returns it. Otherwise
 * returns NULL and, when the path matched under other methods, writes them to `allow`
 * ("GET, HEAD") for a 405; `allow` is "" for a 404. */
const struct lumira_route *lumira_route_match(const struct lumira_route *routes, size_t n,
                                              struct lumira_req *req, char *allow, size_t allowlen);

/* Finds parameter `name` in the raw query string (`qlen` bytes) and percent-decodes it ('+' is a
 * space) into `out` (`size` bytes, NUL-terminated). The first occurrence wins.
 * LUMIRA_ENOTFOUND: absent; LUMIRA_EINVAL: bad escape or a NUL byte; LUMIRA_ETOOBIG: the value
 * does not fit. *outlen (may be NULL) gets the decoded length on success. */
enum lumira_err lumira_query_get(const char *query, size_t qlen, const char *name, char *out,
                                 size_t size, size_t *outlen) LUMIRA_WARN_UNUSED;

/* Prepares an empty 200 response. */
void lumira_resp_init(struct lumira_resp *resp);
void lumira_resp_cleanup(struct lumira_resp *resp);

/* Makes a response that served a request as new for the next one, keeping its buffers' memory
 * (up to LUMIRA_RESP_KEEP bytes each; a bigger one is freed), so that a worker does not allocate
 * them again for every request. */
void lumira_resp_reuse(struct lumira_resp *resp);

/* Adds a header. Refuses (LUMIRA_EINVAL) names or values with CR, LF or NUL, and names outside
 * the token characters. */
enum lumira_err lumira_resp_header(struct lumira_resp *resp, const char *name,
                                   const char *value) LUMIRA_WARN_UNUSED;

/* Sets the status and serialises `obj` as the body. Takes `obj` (may be NULL: then a 500 is
 * sent). On failure the response becomes a plain 500 INTERNAL. */
void lumira_resp_json(struct lumira_resp *resp, const struct lumira_req *req, int status,
                      struct json_object *obj);

/* A JSON body written in place with jsonw.h, without json-c objects (the hot paths): begin
 * empties the body and points `w` at it; end sets `status` when the writer finished, else a plain
 * 500 INTERNAL (and a log line). */
void lumira_resp_jw_begin(struct lumira_resp *resp, struct lumira_jw *w);
void lumira_resp_jw_end(struct lumira_resp *resp, const struct lumira_req *req, int status,
                        struct lumira_jw *w);

/* Sets an error response: {"error": msg, "code": code, "requestId": ...}, plus "details" when
 * `details` (taken) is not NULL. */
void lumira_resp_error(struct lumira_resp *resp, const struct lumira_req *req, int status,
                       const char *code, const char *msg, struct json_object *details);

/* The same envelope with the members of `extra` (taken; may be NULL) added after requestId:
 * {"error", "code", "requestId", "orderId": ..., ...}. */
void lumira_resp_error_with(struct lumira_resp *resp, const struct lumira_req *req, int status,
                            const char *code, const char *msg, struct json_object *extra);

/* Answers for a failed data access, the one place that turns such errors into a status:
 * LUMIRA_EUNAVAIL and LUMIRA_ETIMEDOUT give 503 DATABASE_UNAVAILABLE, anything else 500 INTERNAL
 * (never with the driver's message: the caller logs that). */
void lumira_resp_fail(struct lumira_resp *resp, const struct lumira_req *req, enum lumira_err err);

/* lumira_resp_fail() after one log line "<what>: <err>" (module "db"; a warning when the
 * database is unreachable, an error otherwise): how every handler reports a failed data access. */
void lumira_resp_db_failed(struct lumira_resp *resp, const struct lumira_req *req,
                           enum lumira_err res, const char *what, const char *err);

/* Writes the status line, headers (those of `resp` plus Content-Type, Content-Length,
 * X-Request-Id and X-Response-Time) and, unless `head`, the body into `out`, in CGI form
 * ("Status: 200 OK"). */
enum lumira_err lumira_resp_render(const struct lumira_resp *resp, const struct lumira_req *req,
                                   bool head, int64_t elapsed_ms,
                                   struct lumira_buf *out) LUMIRA_WARN_UNUSED;

/* The reason phrase of `status` ("Not Found"), "Unknown" for codes we do not use. */
const char *lumira_http_reason(int status);

#endif
