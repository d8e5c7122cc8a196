/* Unit tests of src/server.c: lumira_server_handle(), the whole of request handling minus the
 * transport, driven with a small route table and a fake body stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>

#include "http.h"
#include "json.h"
#include "lumira_limits.h"
#include "log.h"
#include "server.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What the handlers saw. */
struct seen {
    int calls;
    const char *last; /* name of the last handler run */
    size_t body_len;
};

static void h_ok(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct seen *s = ctx;
    struct json_object *o = json_object_new_object();

    s->calls++;
    s->last = "ok";
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    lumira_resp_json(resp, req, 200, o);
}

/* Echoes the parsed JSON body; an empty body answers {"empty": true}. */
static void h_echo(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct seen *s = ctx;
    struct json_object *o;
    char why[128];

    s->calls++;
    s->last = "echo";
    s->body_len = req->body.len;
    if (req->body.len == 0) {
        o = json_object_new_object();
        json_object_object_add(o, "empty", json_object_new_boolean(1));
        lumira_resp_json(resp, req, 200, o);
        return;
    }
    if (lumira_json_parse_object(req->body.ptr, req->body.len, &o, why, sizeof(why)) != LUMIRA_OK) {
        lumira_resp_error(resp, req, 400, "INVALID_JSON", why, NULL);
        return;
    }
    lumira_resp_json(resp, req, 200, o);
}

static void h_item(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct seen *s = ctx;
    struct json_object *o = json_object_new_object();
    const char *id;
    size_t len = 0;

    s->calls++;
    s->last = "item";
    id = lumira_req_param(req, "id", &len);
    assert_non_null(id);
    json_object_object_add(o, "id", json_object_new_string_len(id, (int)len));
    lumira_resp_json(resp, req, 200, o);
}

static const struct lumira_route routes[] = {
    {"GET", "/api/ping", h_ok},         {"POST", "/api/echo", h_echo},
    {"PATCH", "/api/echo", h_echo},     {"GET", "/api/items/:id", h_item},
    {"DELETE", "/api/items/:id", h_ok},
};

struct mem_stream {
    const char *data;
    size_t len, pos;
    int fail; /* every read fails */
    int calls;
};

static long mem_read(void *stream, char *buf, size_t len)
{
    struct mem_stream *m = stream;
    size_t n = m->len - m->pos;

    m->calls++;
    if (m->fail)
        return -1;
    if (n > len)
        n = len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

/* A rendered response, taken apart. */
struct result {
    int status;
    char head[4096];
    const char *body; /* points into out */
    size_t body_len;
    struct json_object *json; /* the body parsed, or NULL when empty */
    char reqid[80];
    struct lumira_buf out;
    struct seen seen;
    int reads;
};

static bool header(const struct result *r, const char *name, char *out, size_t size)
{
    const char *p = r->head;
    size_t n = strlen(name);

    while (*p != '\0') {
        const char *eol = strstr(p, "\r\n");

        if (eol == NULL)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;

            v += strspn(v, " ");
            snprintf(out, size, "%.*s", (int)(eol - v), v);
            return true;
        }
        p = *eol == '\0' ? eol : eol + 2;
    }
    return false;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Runs one request through lumira_server_handle() and checks what every response must have:
 * a status line, X-Request-Id, X-Response-Time "<n>ms", a correct Content-Length (the body is
 * absent for HEAD) and, on errors, a JSON envelope whose requestId matches the header. */
static void run(char *const *envp, const char *body, size_t body_len, int fail_read,
                struct result *r)
{
    struct lumira_app app = {"test", routes, ARRAY_LEN(routes), NULL};
    struct mem_stream m = {body, body_len, 0, fail_read, 0};
    const char *sep, *method = NULL;
    char v[128];
    size_t i, headlen;

    memset(r, 0, sizeof(*r));
    app.ctx = &r->seen;
    for (i = 0; envp[i] != NULL; i++) {
        if (strncmp(envp[i], "REQUEST_METHOD=", 15) == 0)
            method = envp[i] + 15;
    }
    lumira_buf_init(&r->out, LUMIRA_MAX_RESPONSE + LUMIRA_MAX_RESPONSE_HEADERS + 1024);
    lumira_server_handle(&app, envp, mem_read, &m, &r->out);
    r->reads = m.calls;
    assert_non_null(r->out.ptr);
    assert_true(strncmp(r->out.ptr, "Status: ", 8) == 0);
    r->status = (int)strtol(r->out.ptr + 8, NULL, 10);
    sep = strstr(r->out.ptr, "\r\n\r\n");
    assert_non_null(sep);
    headlen = (size_t)(sep - r->out.ptr) + 2;
    assert_true(headlen < sizeof(r->head));
    memcpy(r->head, r->out.ptr, headlen);
    r->head[headlen] = '\0';
    r->body = sep + 4;
    r->body_len = r->out.len - headlen - 2;

    assert_true(header(r, "X-Request-Id", r->reqid, sizeof(r->reqid)));
    assert_true(lumira_reqid_valid(r->reqid, strlen(r->reqid)));
    assert_true(header(r, "X-Response-Time", v, sizeof(v)));
    assert_true(strlen(v) > 2 && strspn(v, "0123456789") == strlen(v) - 2);
    assert_string_equal(v + strlen(v) - 2, "ms");
    assert_true(header(r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json; charset=utf-8");
    assert_true(header(r, "Content-Length", v, sizeof(v)));
    if (method != NULL && strcmp(method, "HEAD") == 0) {
        assert_int_equal(r->body_len, 0);
        assert_true(strtoul(v, NULL, 10) > 0);
        return;
    }
    assert_int_equal(strtoul(v, NULL, 10), r->body_len);
    r->json = json_tokener_parse(r->body);
    assert_non_null(r->json);
    assert_true(json_object_is_type(r->json, json_type_object));
    if (r->status >= 400) {
        assert_non_null(jstr(r->json, "error"));
        assert_non_null(jstr(r->json, "code"));
        assert_non_null(jstr(r->json, "requestId"));
        assert_string_equal(jstr(r->json, "requestId"), r->reqid);
    }
}

static void done(struct result *r)
{
    json_object_put(r->json);
    lumira_buf_cleanup(&r->out);
}

static int group_setup(void **state)
{
    (void)state;
    /* Request log lines would only clutter the TAP log. */
    return lumira_log_open("test_server", NULL, LUMIRA_LOG_ERROR) == LUMIRA_OK ? 0 : -1;
}

static void test_server_handle_get_ok(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/ping", NULL};
    struct result r;
    struct json_object *v;

    (void)state;
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.head, "Status: 200 OK\r\n", 16) == 0);
    assert_int_equal(r.seen.calls, 1);
    assert_string_equal(r.seen.last, "ok");
    assert_true(json_object_object_get_ex(r.json, "ok", &v));
    assert_true(json_object_get_boolean(v));
    assert_int_equal(r.reads, 0); /* GET: the body is not read */
    done(&r);
}

static void test_server_handle_not_found(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/nope", NULL};
    struct result r;
    char v[64];

    (void)state;
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    assert_true(strncmp(r.head, "Status: 404 Not Found\r\n", 23) == 0);
    assert_string_equal(jstr(r.json, "code"), "NOT_FOUND");
    assert_false(header(&r, "Allow", v, sizeof(v)));
    assert_int_equal(r.seen.calls, 0);
    done(&r);
}

static void test_server_handle_method_not_allowed(void **state)
{
    char *env1[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/ping", "CONTENT_LENGTH=2",
                    "CONTENT_TYPE=application/json", NULL};
    char *env2[] = {"REQUEST_METHOD=PUT", "PATH_INFO=/api/items/9", NULL};
    struct result r;
    char v[64];

    (void)state;
    run(env1, "{}", 2, 0, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(jstr(r.json, "code"), "METHOD_NOT_ALLOWED");
    assert_true(header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET, HEAD");
    assert_int_equal(r.seen.calls, 0);
    assert_int_equal(r.reads, 0); /* no body read for a request that goes nowhere */
    done(&r);
    run(env2, NULL, 0, 0, &r);
    assert_int_equal(r.status, 405);
    assert_true(header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET, HEAD, DELETE");
    done(&r);
}

static void test_server_handle_head(void **state)
{
    char *env[] = {"REQUEST_METHOD=HEAD", "PATH_INFO=/api/ping", NULL};
    char *env404[] = {"REQUEST_METHOD=HEAD", "PATH_INFO=/api/none", NULL};
    struct result r;

    (void)state;
    run(env, NULL, 0, 0, &r); /* run() checks: no body, Content-Length of the GET body */
    assert_int_equal(r.status, 200);
    assert_int_equal(r.seen.calls, 1);
    done(&r);
    run(env404, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    done(&r);
}

static void test_server_handle_post_json_echo(void **state)
{
    static const char body[] = "{\"level\":2,\"formData\":{\"email\":\"a@b.fr\"}}";
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=41",
                   "CONTENT_TYPE=application/json; charset=utf-8", NULL};
    struct result r;
    struct json_object *v, *fd;

    (void)state;
    assert_int_equal(strlen(body), 41);
    run(env, body, strlen(body), 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.seen.calls, 1);
    assert_int_equal(r.seen.body_len, 41);
    assert_true(json_object_object_get_ex(r.json, "level", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(r.json, "formData", &fd));
    assert_string_equal(jstr(fd, "email"), "a@b.fr");
    done(&r);
}

static void test_server_handle_patch_reads_body(void **state)
{
    char *env[] = {"REQUEST_METHOD=PATCH", "PATH_INFO=/api/echo/", "CONTENT_TYPE=Application/JSON",
                   NULL};
    struct result r;

    (void)state;
    run(env, "{\"a\":1}", 7, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.seen.body_len, 7);
    done(&r);
}

static void test_server_handle_post_text_plain_415(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=7",
                   "CONTENT_TYPE=text/plain", NULL};
    char *env_none[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=7", NULL};
    struct result r;

    (void)state;
    run(env, "{\"a\":1}", 7, 0, &r);
    assert_int_equal(r.status, 415);
    assert_string_equal(jstr(r.json, "code"), "UNSUPPORTED_MEDIA_TYPE");
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    run(env_none, "{\"a\":1}", 7, 0, &r); /* a body without any Content-Type */
    assert_int_equal(r.status, 415);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
}

static void test_server_handle_post_empty_body_no_type(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", NULL};
    char *env0[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=0", NULL};
    struct result r;
    struct json_object *v;

    (void)state;
    run(env, "", 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.seen.calls, 1);
    assert_true(json_object_object_get_ex(r.json, "empty", &v));
    done(&r);
    run(env0, "", 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.seen.calls, 1);
    done(&r);
}

static void test_server_handle_invalid_json_reaches_handler(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=8",
                   "CONTENT_TYPE=application/json", NULL};
    struct result r;

    (void)state;
    run(env, "{\"a\":1,}", 8, 0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(r.json, "code"), "INVALID_JSON");
    assert_int_equal(r.seen.calls, 1);
    done(&r);
}

static void test_server_handle_payload_too_large(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=1048577",
                   "CONTENT_TYPE=application/json", NULL};
    char *env_huge[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo",
                        "CONTENT_LENGTH=99999999999999999999999", "CONTENT_TYPE=application/json",
                        NULL};
    struct result r;

    (void)state;
    run(env, "{}", 2, 0, &r);
    assert_int_equal(r.status, 413);
    assert_true(strncmp(r.head, "Status: 413 Payload Too Large\r\n", 31) == 0);
    assert_string_equal(jstr(r.json, "code"), "PAYLOAD_TOO_LARGE");
    assert_int_equal(r.reads, 0);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    run(env_huge, "{}", 2, 0, &r);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.reads, 0);
    done(&r);
}

/* Without CONTENT_LENGTH, a body over 1 MiB is still cut off at the cap. */
static void test_server_handle_body_over_cap_without_length(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_TYPE=application/json",
                   NULL};
    char *big = malloc(LUMIRA_MAX_BODY + 1);
    struct result r;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', LUMIRA_MAX_BODY + 1);
    run(env, big, LUMIRA_MAX_BODY + 1, 0, &r);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    free(big);
}

static void test_server_handle_truncated_body_400(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=20",
                   "CONTENT_TYPE=application/json", NULL};
    char *env_bad[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=-1",
                       "CONTENT_TYPE=application/json", NULL};
    struct result r;

    (void)state;
    run(env, "{\"a\":1}", 7, 0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(r.json, "code"), "INVALID_JSON");
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    run(env_bad, "{}", 2, 0, &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
}

static void test_server_handle_read_error_400(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/echo", "CONTENT_LENGTH=2",
                   "CONTENT_TYPE=application/json", NULL};
    struct result r;

    (void)state;
    run(env, "{}", 2, 1, &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
}

static void test_server_handle_missing_method_400(void **state)
{
    char *env[] = {"PATH_INFO=/api/ping", "HTTP_X_REQUEST_ID=no-method", NULL};
    char *env_lower[] = {"REQUEST_METHOD=get", "PATH_INFO=/api/ping", NULL};
    char *env_nopath[] = {"REQUEST_METHOD=GET", NULL};
    struct result r;

    (void)state;
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 400);
    assert_true(strncmp(r.head, "Status: 400 Bad Request\r\n", 25) == 0);
    assert_string_equal(r.reqid, "no-method");
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    run(env_lower, NULL, 0, 0, &r);
    assert_int_equal(r.status, 400);
    done(&r);
    run(env_nopath, NULL, 0, 0, &r);
    assert_int_equal(r.status, 400);
    done(&r);
}

static void test_server_handle_long_path_414(void **state)
{
    size_t n = strlen("PATH_INFO=") + LUMIRA_MAX_PATH + 1;
    char *p = malloc(n + 1);
    char *env[] = {"REQUEST_METHOD=GET", p, NULL};
    struct result r;

    (void)state;
    assert_non_null(p);
    memcpy(p, "PATH_INFO=/", 11);
    memset(p + 11, 'a', n - 11);
    p[n] = '\0';
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 414);
    assert_true(strncmp(r.head, "Status: 414 URI Too Long\r\n", 26) == 0);
    assert_int_equal(r.seen.calls, 0);
    done(&r);
    free(p);
}

static void test_server_handle_long_query_414(void **state)
{
    size_t n = strlen("QUERY_STRING=") + LUMIRA_MAX_QUERY + 1;
    char *q = malloc(n + 1);
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/ping", q, NULL};
    struct result r;

    (void)state;
    assert_non_null(q);
    memcpy(q, "QUERY_STRING=", 13);
    memset(q + 13, 'q', n - 13);
    q[n] = '\0';
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 414);
    done(&r);
    free(q);
}

static void test_server_handle_request_id_kept(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/nope", "HTTP_X_REQUEST_ID=trace-42.a_b",
                   NULL};
    char *env_bad[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/nope",
                       "HTTP_X_REQUEST_ID=bad id\r\nX-Evil: 1", NULL};
    struct result r;
    char v[64];

    (void)state;
    run(env, NULL, 0, 0, &r);
    assert_string_equal(r.reqid, "trace-42.a_b");
    assert_string_equal(jstr(r.json, "requestId"), "trace-42.a_b");
    done(&r);
    run(env_bad, NULL, 0, 0, &r);
    assert_int_equal(strlen(r.reqid), 32);
    assert_false(header(&r, "X-Evil", v, sizeof(v)));
    done(&r);
}

static void test_server_handle_route_params(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/items/65a1b2c3d4", NULL};
    struct result r;

    (void)state;
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.seen.last, "item");
    assert_string_equal(jstr(r.json, "id"), "65a1b2c3d4");
    done(&r);
}

static void test_server_handle_get_body_ignored(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/ping", "CONTENT_LENGTH=5",
                   "CONTENT_TYPE=text/plain", NULL};
    struct result r;

    (void)state;
    run(env, "hello", 5, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.reads, 0);
    done(&r);
}

/* Two requests through one output buffer each: nothing of the first leaks into the second. */
/* A path taken from REQUEST_URI (no PATH_INFO nor DOCUMENT_URI) is logged without its query,
 * which may hold an e-mail address. */
static void test_server_handle_log_path_without_query(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/api/ping?email=jane@example.com",
                   "QUERY_STRING=email=jane@example.com", NULL};
    char path[64], text[4096];
    struct result r;
    FILE *f;
    size_t n;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/lumira-test-server-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lumira_log_open("test_server", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    run(env, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    done(&r);
    assert_int_equal(lumira_log_open("test_server", NULL, LUMIRA_LOG_ERROR), LUMIRA_OK);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    assert_non_null(strstr(text, "\"path\":\"/api/ping\""));
    assert_null(strstr(text, "jane"));
}

static void test_server_handle_requests_independent(void **state)
{
    char *env1[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/ping", NULL};
    char *env2[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/ping", NULL};
    struct result a, b;

    (void)state;
    run(env1, NULL, 0, 0, &a);
    run(env2, NULL, 0, 0, &b);
    assert_string_not_equal(a.reqid, b.reqid);
    done(&a);
    done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_handle_get_ok),
        cmocka_unit_test(test_server_handle_not_found),
        cmocka_unit_test(test_server_handle_method_not_allowed),
        cmocka_unit_test(test_server_handle_head),
        cmocka_unit_test(test_server_handle_post_json_echo),
        cmocka_unit_test(test_server_handle_patch_reads_body),
        cmocka_unit_test(test_server_handle_post_text_plain_415),
        cmocka_unit_test(test_server_handle_post_empty_body_no_type),
        cmocka_unit_test(test_server_handle_invalid_json_reaches_handler),
        cmocka_unit_test(test_server_handle_payload_too_large),
        cmocka_unit_test(test_server_handle_body_over_cap_without_length),
        cmocka_unit_test(test_server_handle_truncated_body_400),
        cmocka_unit_test(test_server_handle_read_error_400),
        cmocka_unit_test(test_server_handle_missing_method_400),
        cmocka_unit_test(test_server_handle_long_path_414),
        cmocka_unit_test(test_server_handle_long_query_414),
        cmocka_unit_test(test_server_handle_request_id_kept),
        cmocka_unit_test(test_server_handle_route_params),
        cmocka_unit_test(test_server_handle_get_body_ignored),
        cmocka_unit_test(test_server_handle_requests_independent),
        cmocka_unit_test(test_server_handle_log_path_without_query),
    };

    return cmocka_run_group_tests_name("server", tests, group_setup, NULL);
}
