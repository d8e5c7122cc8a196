/* Unit tests of src/http.c: request parsing from CGI parameters, routing, query strings, body
 * reading with its caps, and the response envelope and rendering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <json-c/json.h>

#include "http.h"
#include "lumira_limits.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Makes "NAME=" followed by `n` copies of `c`, then `tail` (heap; the caller frees). */
static char *env_fill(const char *name, const char *head, char c, size_t n, const char *tail)
{
    size_t nl = strlen(name), hl = strlen(head), tl = strlen(tail);
    char *s = malloc(nl + 1 + hl + n + tl + 1);

    assert_non_null(s);
    memcpy(s, name, nl);
    s[nl] = '=';
    memcpy(s + nl + 1, head, hl);
    memset(s + nl + 1 + hl, c, n);
    memcpy(s + nl + 1 + hl + n, tail, tl + 1);
    return s;
}

static bool is_hex32(const char *s)
{
    return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* ---- lumira_req_init: method and path ---- */

static void test_req_init_path_info_preferred(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/a", "DOCUMENT_URI=/api/bb",
                   "REQUEST_URI=/api/ccc?x=1", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    assert_string_equal(req.method, "GET");
    assert_int_equal(req.path_len, 6);
    assert_memory_equal(req.path, "/api/a", 6);
    assert_string_equal(req.query, "");
    assert_int_equal(req.query_len, 0);
    assert_null(req.content_type);
    assert_int_equal(req.nparams, 0);
    assert_int_equal(req.body.len, 0);
    lumira_req_cleanup(&req);
}

static void test_req_init_document_uri_when_no_path_info(void **state)
{
    char *env_empty[] = {"REQUEST_METHOD=GET", "PATH_INFO=", "DOCUMENT_URI=/api/bb",
                         "REQUEST_URI=/api/ccc", NULL};
    char *env_absent[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/bb", "REQUEST_URI=/api/ccc",
                          NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env_empty), LUMIRA_OK);
    assert_int_equal(req.path_len, 7);
    assert_memory_equal(req.path, "/api/bb", 7);
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, env_absent), LUMIRA_OK);
    assert_int_equal(req.path_len, 7);
    assert_memory_equal(req.path, "/api/bb", 7);
    lumira_req_cleanup(&req);
}

static void test_req_init_request_uri_cut_at_query(void **state)
{
    char *env_q[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/api/ccc?x=1&y=/z", "QUERY_STRING=x=1&y=/z",
                     NULL};
    char *env_frag[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/api/ccc#frag", NULL};
    char *env_only_query[] = {"REQUEST_METHOD=GET", "REQUEST_URI=?x=1", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env_q), LUMIRA_OK);
    assert_int_equal(req.path_len, 8);
    assert_memory_equal(req.path, "/api/ccc", 8);
    assert_int_equal(req.query_len, 8);
    assert_string_equal(req.query, "x=1&y=/z");
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, env_frag), LUMIRA_OK);
    assert_int_equal(req.path_len, 8);
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, env_only_query), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
}

static void test_req_init_trailing_slash_dropped(void **state)
{
    static const struct {
        const char *env;
        size_t len;
    } cases[] = {
        {"PATH_INFO=/api/orders/", 11}, /* one slash dropped */
        {"PATH_INFO=/api/orders", 11},
        {"PATH_INFO=/api//", 5}, /* only one */
        {"PATH_INFO=/", 1},      /* the root keeps its slash */
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *env[] = {"REQUEST_METHOD=GET", (char *)(uintptr_t)cases[i].env, NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        assert_int_equal(req.path_len, cases[i].len);
        lumira_req_cleanup(&req);
    }
}

static void test_req_init_missing_method_einval(void **state)
{
    char *env_none[] = {"PATH_INFO=/api/a", NULL};
    char *env_empty[] = {"REQUEST_METHOD=", "PATH_INFO=/api/a", NULL};
    char *env_prefix[] = {"REQUEST_METHODX=GET", "PATH_INFO=/api/a", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env_none), LUMIRA_EINVAL);
    /* Still usable for an error reply: a request id and empty strings, never NULL. */
    assert_true(is_hex32(req.reqid));
    assert_non_null(req.method);
    assert_non_null(req.path);
    assert_non_null(req.query);
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, env_empty), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, env_prefix), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
    assert_int_equal(lumira_req_init(&req, NULL), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
}

static void test_req_init_bad_method_einval(void **state)
{
    static const char *const bad[] = {
        "REQUEST_METHOD=get",
        "REQUEST_METHOD=Get",
        "REQUEST_METHOD=G3T",
        "REQUEST_METHOD=GET ",
        "REQUEST_METHOD= GET",
        "REQUEST_METHOD=GET\r\n",
        "REQUEST_METHOD=ABCDEFGHIJKLMNOPQ", /* 17 letters */
    };
    char *env_ok16[] = {"REQUEST_METHOD=ABCDEFGHIJKLMNOP", "PATH_INFO=/", NULL};
    struct lumira_req req;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        char *env[] = {(char *)(uintptr_t)bad[i], "PATH_INFO=/api/a", NULL};

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_EINVAL);
        lumira_req_cleanup(&req);
    }
    assert_int_equal(lumira_req_init(&req, env_ok16), LUMIRA_OK);
    assert_string_equal(req.method, "ABCDEFGHIJKLMNOP");
    lumira_req_cleanup(&req);
}

static void test_req_init_path_without_slash_einval(void **state)
{
    static const char *const bad[] = {"PATH_INFO=api/a", "DOCUMENT_URI=api/a",
                                      "REQUEST_URI=api/a?x", "REQUEST_URI=http://x/api",
                                      "REQUEST_URI="};
    char *env_none[] = {"REQUEST_METHOD=GET", NULL};
    struct lumira_req req;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        char *env[] = {"REQUEST_METHOD=GET", (char *)(uintptr_t)bad[i], NULL};

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_EINVAL);
        lumira_req_cleanup(&req);
    }
    assert_int_equal(lumira_req_init(&req, env_none), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
}

/* The path cap at max - 1, max and max + 1, through PATH_INFO and through REQUEST_URI. */
static void test_req_init_path_cap_edges(void **state)
{
    static const struct {
        const char *name, *tail;
        size_t len;
        enum lumira_err want;
    } cases[] = {
        {"PATH_INFO", "", LUMIRA_MAX_PATH - 1, LUMIRA_OK},
        {"PATH_INFO", "", LUMIRA_MAX_PATH, LUMIRA_OK},
        {"PATH_INFO", "", LUMIRA_MAX_PATH + 1, LUMIRA_ETOOBIG},
        {"REQUEST_URI", "?q=1", LUMIRA_MAX_PATH, LUMIRA_OK},
        {"REQUEST_URI", "?q=1", LUMIRA_MAX_PATH + 1, LUMIRA_ETOOBIG},
        {"PATH_INFO", "", LUMIRA_MAX_PATH * 4, LUMIRA_ETOOBIG},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        /* "/" then len - 1 letters: the path is exactly len bytes. */
        char *p = env_fill(cases[i].name, "/", 'a', cases[i].len - 1, cases[i].tail);
        char *env[] = {"REQUEST_METHOD=GET", p, NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), cases[i].want);
        if (cases[i].want == LUMIRA_OK)
            assert_int_equal(req.path_len, cases[i].len);
        lumira_req_cleanup(&req);
        free(p);
    }
}

static void test_req_init_query_cap_edges(void **state)
{
    static const struct {
        size_t len;
        enum lumira_err want;
    } cases[] = {
        {0, LUMIRA_OK},
        {LUMIRA_MAX_QUERY - 1, LUMIRA_OK},
        {LUMIRA_MAX_QUERY, LUMIRA_OK},
        {LUMIRA_MAX_QUERY + 1, LUMIRA_ETOOBIG},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *q = env_fill("QUERY_STRING", "", 'q', cases[i].len, "");
        char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/a", q, NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), cases[i].want);
        if (cases[i].want == LUMIRA_OK) {
            assert_int_equal(req.query_len, cases[i].len);
            assert_int_equal(strlen(req.query), cases[i].len);
        }
        lumira_req_cleanup(&req);
        free(q);
    }
}

static void test_req_init_content_type(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/a",
                   "CONTENT_TYPE=application/json; charset=utf-8", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    assert_string_equal(req.content_type, "application/json; charset=utf-8");
    lumira_req_cleanup(&req);
}

/* ---- request id ---- */

static void test_req_init_reqid_sane_kept(void **state)
{
    static const char *const ids[] = {
        "HTTP_X_REQUEST_ID=a",
        "HTTP_X_REQUEST_ID=req-1.2_3",
        /* 64 characters, every allowed class */
        "HTTP_X_REQUEST_ID=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
    };
    size_t i;

    (void)state;
    assert_int_equal(strlen(ids[2]) - strlen("HTTP_X_REQUEST_ID="), 65);
    for (i = 0; i < ARRAY_LEN(ids); i++) {
        const char *want = ids[i] + strlen("HTTP_X_REQUEST_ID=");
        char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/", (char *)(uintptr_t)ids[i], NULL};
        char *p64 = NULL;
        struct lumira_req req;

        if (strlen(want) > LUMIRA_REQID_MAX) {
            /* Trim the table's long entry to exactly 64 characters. */
            p64 = strdup(ids[i]);
            assert_non_null(p64);
            p64[strlen("HTTP_X_REQUEST_ID=") + LUMIRA_REQID_MAX] = '\0';
            env[2] = p64;
            want = p64 + strlen("HTTP_X_REQUEST_ID=");
            assert_int_equal(strlen(want), 64);
        }
        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        assert_string_equal(req.reqid, want);
        lumira_req_cleanup(&req);
        free(p64);
    }
}

static void test_req_init_reqid_bad_replaced(void **state)
{
    char *long65 = env_fill("HTTP_X_REQUEST_ID", "", 'a', LUMIRA_REQID_MAX + 1, "");
    char *long1k = env_fill("HTTP_X_REQUEST_ID", "", 'b', 1000, "");
    const char *const bad[] = {
        long65,
        long1k,
        "HTTP_X_REQUEST_ID=",
        "HTTP_X_REQUEST_ID=abc def",
        "HTTP_X_REQUEST_ID=abc/def",
        "HTTP_X_REQUEST_ID=a\"b",
        "HTTP_X_REQUEST_ID=a\r\nX: y",
        "HTTP_X_REQUEST_ID=caf\xc3\xa9",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/", (char *)(uintptr_t)bad[i], NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        assert_true(is_hex32(req.reqid));
        lumira_req_cleanup(&req);
    }
    free(long65);
    free(long1k);
}

static void test_req_init_reqid_generated_differ(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/", NULL};
    struct lumira_req a, b;

    (void)state;
    assert_int_equal(lumira_req_init(&a, env), LUMIRA_OK);
    assert_int_equal(lumira_req_init(&b, env), LUMIRA_OK);
    assert_true(is_hex32(a.reqid));
    assert_true(is_hex32(b.reqid));
    assert_string_not_equal(a.reqid, b.reqid);
    lumira_req_cleanup(&a);
    lumira_req_cleanup(&b);
}

static void test_reqid_valid_edges(void **state)
{
    char id[LUMIRA_REQID_MAX + 2];

    (void)state;
    memset(id, 'x', sizeof(id));
    assert_false(lumira_reqid_valid(NULL, 1));
    assert_false(lumira_reqid_valid(id, 0));
    assert_true(lumira_reqid_valid(id, 1));
    assert_true(lumira_reqid_valid(id, LUMIRA_REQID_MAX - 1));
    assert_true(lumira_reqid_valid(id, LUMIRA_REQID_MAX));
    assert_false(lumira_reqid_valid(id, LUMIRA_REQID_MAX + 1));
    assert_true(lumira_reqid_valid("a.b_c-D9", 8));
    assert_false(lumira_reqid_valid("a b", 3));
    assert_false(lumira_reqid_valid("a\0b", 3)); /* a NUL inside the counted length */
    assert_false(lumira_reqid_valid("a+b", 3));
    assert_false(lumira_reqid_valid("a%b", 3));
}

/* lumira_req_init() finds its variables in one pass over the environment: names that share a
 * prefix with theirs, short ones and empty strings are not taken, and the first of a name wins
 * (as lumira_req_env() returns it). */
static void test_req_init_one_pass_lookalikes(void **state)
{
    char *env[] = {"",
                   "R",
                   "REQ",
                   "REQUEST_",
                   "REQUEST_M=PUT",
                   "REQUEST_METHODS=POST",
                   "REQUEST_URIS=/no",
                   "P",
                   "PATH_INFOS=/no",
                   "D=",
                   "DOCUMENT_URIS=/no",
                   "QUERY=no",
                   "QUERY_STRINGS=no",
                   "C",
                   "CONTENT_LENGTH=0",
                   "CONTENT_TYPES=text/no",
                   "H",
                   "HTTP_X_REQUEST_IDS=nope",
                   "HTTP_HOST=example.com",
                   "REQUEST_METHOD=GET",
                   "REQUEST_URI=/api/from-uri?x=1",
                   "QUERY_STRING=a=1",
                   "CONTENT_TYPE=application/json",
                   "HTTP_X_REQUEST_ID=first-id",
                   "REQUEST_METHOD=POST",
                   "QUERY_STRING=b=2",
                   "CONTENT_TYPE=text/plain",
                   "HTTP_X_REQUEST_ID=second-id",
                   NULL};
    char *env_empty_method[] = {"REQUEST_METHOD=", "PATH_INFO=/", NULL};
    char *env_doc[] = {"PATH_INFO=", "DOCUMENT_URI=/api/doc", "DOCUMENT_URI=/api/later",
                       "REQUEST_METHOD=HEAD", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    assert_string_equal(req.method, "GET");
    assert_int_equal(req.path_len, strlen("/api/from-uri"));
    assert_memory_equal(req.path, "/api/from-uri", req.path_len);
    assert_string_equal(req.query, "a=1");
    assert_int_equal(req.query_len, 3);
    assert_string_equal(req.content_type, "application/json");
    assert_string_equal(req.reqid, "first-id");
    lumira_req_cleanup(&req);

    assert_int_equal(lumira_req_init(&req, env_empty_method), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);

    assert_int_equal(lumira_req_init(&req, env_doc), LUMIRA_OK);
    assert_string_equal(req.method, "HEAD");
    assert_string_equal(req.path, "/api/doc");
    assert_string_equal(req.query, "");
    assert_null(req.content_type);
    lumira_req_cleanup(&req);
}

static void test_req_env_exact_name(void **state)
{
    char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/",   "HTTP_X_A_LONGER=1",
                   "HTTP_X_A=2",         "HTTP_X_EMPTY=", NULL};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    assert_string_equal(lumira_req_env(&req, "HTTP_X_A"), "2");
    assert_string_equal(lumira_req_env(&req, "HTTP_X_A_LONGER"), "1");
    assert_string_equal(lumira_req_env(&req, "HTTP_X_EMPTY"), "");
    assert_null(lumira_req_env(&req, "HTTP_X"));
    assert_null(lumira_req_env(&req, "HTTP_X_MISSING"));
    lumira_req_cleanup(&req);
}

/* ---- routing ---- */

static void h_none(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    (void)req;
    (void)resp;
    (void)ctx;
}

static const struct lumira_route routes[] = {
    {"GET", "/api/health", h_none},              /* 0 */
    {"GET", "/api/orders", h_none},              /* 1 */
    {"POST", "/api/orders", h_none},             /* 2 */
    {"GET", "/api/orders/:id", h_none},          /* 3 */
    {"PATCH", "/api/orders/:id/status", h_none}, /* 4 */
    {"GET", "/api/x/:id/:idx", h_none},          /* 5 */
    {"GET", "/api/y/:idx/:id", h_none},          /* 6 */
    {"POST", "/api/expert/login", h_none},       /* 7 */
    {"GET", "/api/:thing", h_none},              /* 8: overlaps 0 and 1 */
    {"POST", "/api/:thing", h_none},             /* 9: overlaps 2 */
    {"GET", "/api/p/:a/x", h_none},              /* 10 */
    {"GET", "/api/p/q/y", h_none},               /* 11 */
    {"GET", "/api/four/:a/:b/:c/:d", h_none},    /* 12 */
    {"GET", "/api/five/:a/:b/:c/:d/:e", h_none}, /* 13: more params than we capture */
    {"GET", "/", h_none},                        /* 14 */
};

/* Routes `method` `path` and returns the index of the route found, or -1. The request borrows
 * static storage: it is valid until the next call. */
static int route(const char *method, const char *path, struct lumira_req *req, char *allow,
                 size_t allowlen)
{
    static char m[64], p[LUMIRA_MAX_PATH + 32];
    char *env[] = {m, p, NULL};
    const struct lumira_route *r;

    snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
    snprintf(p, sizeof(p), "PATH_INFO=%s", path);
    assert_int_equal(lumira_req_init(req, env), LUMIRA_OK);
    req->envp = NULL; /* env itself dies with this frame */
    r = lumira_route_match(routes, ARRAY_LEN(routes), req, allow, allowlen);
    return r == NULL ? -1 : (int)(r - routes);
}

static void test_route_match_exact(void **state)
{
    struct lumira_req req;
    char allow[128] = "junk";

    (void)state;
    assert_int_equal(route("GET", "/api/health", &req, allow, sizeof(allow)), 0);
    assert_int_equal(req.nparams, 0);
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/", &req, allow, sizeof(allow)), 14);
    lumira_req_cleanup(&req);
    assert_int_equal(route("POST", "/api/expert/login", &req, allow, sizeof(allow)), 7);
    lumira_req_cleanup(&req);
    /* Case matters. */
    assert_int_equal(route("GET", "/API/HEALTH", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
}

static void test_route_match_trailing_slash(void **state)
{
    struct lumira_req req;
    char allow[128];

    (void)state;
    assert_int_equal(route("GET", "/api/health/", &req, allow, sizeof(allow)), 0);
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/api/health//", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
}

static void test_route_match_param_captured(void **state)
{
    struct lumira_req req;
    char allow[128];
    const char *v;
    size_t len = 0;

    (void)state;
    assert_int_equal(route("PATCH", "/api/orders/65a1b2c3/status", &req, allow, sizeof(allow)), 4);
    assert_int_equal(req.nparams, 1);
    v = lumira_req_param(&req, "id", &len);
    assert_non_null(v);
    assert_int_equal(len, 8);
    assert_memory_equal(v, "65a1b2c3", 8);
    assert_null(lumira_req_param(&req, "status", &len));
    lumira_req_cleanup(&req);
    /* A trailing slash is not part of the value. */
    assert_int_equal(route("GET", "/api/orders/abc/", &req, allow, sizeof(allow)), 3);
    v = lumira_req_param(&req, "id", &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "abc", 3);
    lumira_req_cleanup(&req);
}

static void test_route_param_prefix_names(void **state)
{
    struct lumira_req req;
    char allow[128];
    const char *v;
    size_t len = 0;

    (void)state;
    assert_int_equal(route("GET", "/api/x/1/22", &req, allow, sizeof(allow)), 5);
    assert_int_equal(req.nparams, 2);
    v = lumira_req_param(&req, "id", &len);
    assert_non_null(v);
    assert_int_equal(len, 1);
    assert_memory_equal(v, "1", 1);
    v = lumira_req_param(&req, "idx", &len);
    assert_non_null(v);
    assert_int_equal(len, 2);
    assert_memory_equal(v, "22", 2);
    assert_null(lumira_req_param(&req, "i", &len));
    assert_null(lumira_req_param(&req, "idxx", &len));
    assert_null(lumira_req_param(&req, "", &len));
    lumira_req_cleanup(&req);

    assert_int_equal(route("GET", "/api/y/333/4444", &req, allow, sizeof(allow)), 6);
    v = lumira_req_param(&req, "id", &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, "4444", 4);
    v = lumira_req_param(&req, "idx", &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "333", 3);
    lumira_req_cleanup(&req);
}

/* A route that captured a parameter and then failed must leave nothing behind. */
static void test_route_match_params_from_matching_route_only(void **state)
{
    struct lumira_req req;
    char allow[128];
    size_t len;

    (void)state;
    assert_int_equal(route("GET", "/api/p/q/y", &req, allow, sizeof(allow)), 11);
    assert_int_equal(req.nparams, 0);
    assert_null(lumira_req_param(&req, "a", &len));
    lumira_req_cleanup(&req);
}

static void test_route_match_param_limit(void **state)
{
    struct lumira_req req;
    char allow[128];
    size_t len = 0;
    const char *v;

    (void)state;
    assert_int_equal(route("GET", "/api/four/1/2/3/4", &req, allow, sizeof(allow)), 12);
    assert_int_equal(req.nparams, LUMIRA_MAX_ROUTE_PARAMS);
    v = lumira_req_param(&req, "d", &len);
    assert_non_null(v);
    assert_memory_equal(v, "4", len);
    lumira_req_cleanup(&req);
    /* More parameters than can be captured: the route never matches (nothing overflows). */
    assert_int_equal(route("GET", "/api/five/1/2/3/4/5", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
}

static void test_route_match_404_empty_allow(void **state)
{
    struct lumira_req req;
    char allow[128] = "junk";

    (void)state;
    assert_int_equal(route("GET", "/nope", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "");
    lumira_req_cleanup(&req);
    snprintf(allow, sizeof(allow), "junk");
    assert_int_equal(route("DELETE", "/nope/deeper", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "");
    lumira_req_cleanup(&req);
}

static void test_route_match_405_allow_without_duplicates(void **state)
{
    struct lumira_req req;
    char allow[128];

    (void)state;
    /* /api/orders: GET (routes 1 and 8) and POST (routes 2 and 9), each listed once. */
    assert_int_equal(route("DELETE", "/api/orders", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "GET, HEAD, POST");
    lumira_req_cleanup(&req);
    /* POST only: no HEAD is offered. */
    assert_int_equal(route("GET", "/api/expert/login", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "POST");
    lumira_req_cleanup(&req);
    assert_int_equal(route("HEAD", "/api/expert/login", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "POST");
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/api/orders/1/status", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "PATCH");
    lumira_req_cleanup(&req);
}

static void test_route_match_405_allow_cut_safely(void **state)
{
    struct lumira_req req;
    char allow[8];

    (void)state;
    memset(allow, 'z', sizeof(allow));
    assert_int_equal(route("DELETE", "/api/orders", &req, allow, sizeof(allow)), -1);
    assert_int_equal(strnlen(allow, sizeof(allow)), sizeof(allow) - 1);
    assert_memory_equal(allow, "GET, HE", 7);
    lumira_req_cleanup(&req);
    /* allowlen 0: the buffer is not touched at all. */
    assert_int_equal(route("DELETE", "/api/orders", &req, NULL, 0), -1);
    lumira_req_cleanup(&req);
}

static void test_route_match_head_served_by_get(void **state)
{
    struct lumira_req req;
    char allow[128];

    (void)state;
    assert_int_equal(route("HEAD", "/api/health", &req, allow, sizeof(allow)), 0);
    assert_string_equal(req.method, "HEAD"); /* the request keeps its own method */
    lumira_req_cleanup(&req);
    assert_int_equal(route("HEAD", "/api/orders/7", &req, allow, sizeof(allow)), 3);
    assert_int_equal(req.nparams, 1);
    lumira_req_cleanup(&req);
}

static void test_route_match_empty_segment_not_a_param(void **state)
{
    struct lumira_req req;
    char allow[128];

    (void)state;
    assert_int_equal(route("PATCH", "/api/orders//status", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "");
    lumira_req_cleanup(&req);
    /* "/api/orders/" is "/api/orders" once the slash goes: the list, not an order. */
    assert_int_equal(route("GET", "/api/orders/", &req, allow, sizeof(allow)), 1);
    assert_int_equal(req.nparams, 0);
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/api/x//2", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
}

static void test_route_match_segment_count(void **state)
{
    struct lumira_req req;
    char allow[128];

    (void)state;
    assert_int_equal(route("GET", "/api/orders/1/status/extra", &req, allow, sizeof(allow)), -1);
    assert_string_equal(allow, "");
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/api/health/x", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/api", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
    assert_int_equal(route("GET", "/apihealth", &req, allow, sizeof(allow)), -1);
    lumira_req_cleanup(&req);
}

/* ---- lumira_query_get ---- */

static enum lumira_err qget(const char *q, const char *name, char *out, size_t size, size_t *len)
{
    return lumira_query_get(q, strlen(q), name, out, size, len);
}

static void test_query_get_first_occurrence_wins(void **state)
{
    char out[32];
    size_t len = 99;

    (void)state;
    assert_int_equal(qget("a=1&a=2", "a", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "1");
    assert_int_equal(len, 1);
    assert_int_equal(qget("b=0&a=first&a=second", "a", out, sizeof(out), NULL), LUMIRA_OK);
    assert_string_equal(out, "first");
}

static void test_query_get_decodes_plus_and_escapes(void **state)
{
    char out[32];
    size_t len = 0;

    (void)state;
    assert_int_equal(qget("q=a+b%20c%2B%41%7e", "q", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "a b c+A~");
    assert_int_equal(len, 8);
    assert_int_equal(qget("e=j%C3%A9r%c3%b4me%40x.fr", "e", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "j\xc3\xa9r\xc3\xb4me@x.fr");
    assert_int_equal(len, 13);
    assert_int_equal(qget("s=a%26b%3Dc", "s", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "a&b=c");
}

static void test_query_get_nul_rejected(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(qget("a=x%00y", "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
    assert_int_equal(qget("a=%00", "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
}

static void test_query_get_bad_escapes(void **state)
{
    static const char *const bad[] = {"a=%",  "a=%4",  "a=%zz",  "a=%g0", "a=%0g",
                                      "a=x%", "a=x%4", "a=%%41", "a=%-1", "a=% 1"};
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(qget(bad[i], "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
    /* A truncated escape just before '&' does not borrow the next pair's bytes. */
    assert_int_equal(qget("a=%4&b=1", "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
    assert_int_equal(qget("a=%&41", "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
    /* A bad pair does not hide the others. */
    assert_int_equal(qget("a=%zz&b=1", "b", out, sizeof(out), NULL), LUMIRA_OK);
    assert_string_equal(out, "1");
    assert_int_equal(qget("%zz=1&b=2", "b", out, sizeof(out), NULL), LUMIRA_OK);
    assert_string_equal(out, "2");
}

/* The out buffer at value length size - 1 (fits), size and size + 1 (do not). */
static void test_query_get_out_size_edges(void **state)
{
    char out[9];
    size_t len = 0;

    (void)state;
    memset(out, 'z', sizeof(out));
    assert_int_equal(qget("v=1234567", "v", out, 8, &len), LUMIRA_OK);
    assert_string_equal(out, "1234567");
    assert_int_equal(len, 7);
    assert_int_equal(out[8], 'z'); /* nothing written past size */
    memset(out, 'z', sizeof(out));
    assert_int_equal(qget("v=12345678", "v", out, 8, NULL), LUMIRA_ETOOBIG);
    assert_int_equal(out[8], 'z');
    assert_int_equal(qget("v=123456789", "v", out, 8, NULL), LUMIRA_ETOOBIG);
    assert_int_equal(out[8], 'z');
    /* The decoded length counts, not the encoded one. */
    assert_int_equal(qget("v=%41%42%43%44%45%46%47", "v", out, 8, &len), LUMIRA_OK);
    assert_string_equal(out, "ABCDEFG");
    assert_int_equal(qget("v=%41%42%43%44%45%46%47%48", "v", out, 8, NULL), LUMIRA_ETOOBIG);
    /* size 1 holds only the empty value. */
    assert_int_equal(qget("v=", "v", out, 1, &len), LUMIRA_OK);
    assert_string_equal(out, "");
    assert_int_equal(qget("v=x", "v", out, 1, NULL), LUMIRA_ETOOBIG);
}

/* size 0 holds nothing, not even the terminating NUL: nothing may be written. */
static void test_query_get_size_zero_writes_nothing(void **state)
{
    char out[2] = {'z', 'z'};

    (void)state;
    assert_int_equal(qget("v=", "v", out, 0, NULL), LUMIRA_ETOOBIG);
    assert_int_equal(qget("v", "v", out, 0, NULL), LUMIRA_ETOOBIG);
    assert_int_equal(qget("v=1", "v", out, 0, NULL), LUMIRA_ETOOBIG);
    assert_int_equal(out[0], 'z');
}

static void test_query_get_key_without_equals(void **state)
{
    char out[8];
    size_t len = 99;

    (void)state;
    assert_int_equal(qget("flag&b=2", "flag", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
    assert_int_equal(qget("b=2&flag", "flag", out, sizeof(out), &len), LUMIRA_OK);
    assert_int_equal(len, 0);
    assert_int_equal(qget("a=", "a", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "");
    /* The value stops at the first '=' only: later ones belong to it. */
    assert_int_equal(qget("a=b=c", "a", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "b=c");
}

static void test_query_get_encoded_key(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(qget("metadata%5BorderId%5D=5", "metadata[orderId]", out, sizeof(out), NULL),
                     LUMIRA_OK);
    assert_string_equal(out, "5");
    assert_int_equal(qget("a+b=1", "a b", out, sizeof(out), NULL), LUMIRA_OK);
    assert_string_equal(out, "1");
    assert_int_equal(qget("%61=2", "a", out, sizeof(out), NULL), LUMIRA_OK);
    assert_string_equal(out, "2");
}

static void test_query_get_absent(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(qget("ab=1&b=2", "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
    assert_int_equal(qget("a=1", "ab", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
    assert_int_equal(qget("A=1", "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
    assert_int_equal(qget("&&=&", "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
    assert_int_equal(qget("x=a%3D1", "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
}

static void test_query_get_empty_query(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(lumira_query_get("", 0, "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_query_get("a=1", 0, "a", out, sizeof(out), NULL), LUMIRA_ENOTFOUND);
}

/* The query is a counted string: nothing past qlen is read. */
static void test_query_get_counted_string(void **state)
{
    char out[16];
    size_t len = 0;

    (void)state;
    assert_int_equal(lumira_query_get("a=12345&b=1", 4, "a", out, sizeof(out), &len), LUMIRA_OK);
    assert_string_equal(out, "12");
    assert_int_equal(len, 2);
    assert_int_equal(lumira_query_get("a=12&b=1", 4, "b", out, sizeof(out), NULL),
                     LUMIRA_ENOTFOUND);
    /* An escape cut by qlen is a truncated escape. */
    assert_int_equal(lumira_query_get("a=%41", 4, "a", out, sizeof(out), NULL), LUMIRA_EINVAL);
}

/* ---- lumira_req_read_body ---- */

struct mem_stream {
    const char *data;
    size_t len, pos;
    size_t chunk; /* most bytes handed out per call; 0 for as many as asked */
    long fail_at; /* return -1 once pos reaches this; -1 for never */
    long extra;   /* return this many bytes more than asked (a broken reader); 0 normally */
    int calls;
};

static long mem_read(void *stream, char *buf, size_t len)
{
    struct mem_stream *m = stream;
    size_t n = m->len - m->pos;

    m->calls++;
    if (m->fail_at >= 0 && m->pos >= (size_t)m->fail_at)
        return -1;
    if (m->extra > 0)
        return (long)len + m->extra;
    if (n > len)
        n = len;
    if (m->chunk > 0 && n > m->chunk)
        n = m->chunk;
    if (m->fail_at >= 0 && m->pos + n > (size_t)m->fail_at)
        n = (size_t)m->fail_at - m->pos;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

/* Reads `len` bytes of `data` (or a filler body when data is NULL) with CONTENT_LENGTH `cl`
 * (absent when NULL). Returns the result; *calls gets the number of reads. */
static enum lumira_err read_body(const char *cl, const char *data, size_t len, size_t chunk,
                                 long fail_at, int *calls, struct lumira_req *req)
{
    static char clbuf[128];
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/a", NULL, NULL};
    struct mem_stream m = {data, len, 0, chunk, fail_at, 0, 0};
    char *filler = NULL;
    enum lumira_err err;

    if (cl != NULL) {
        snprintf(clbuf, sizeof(clbuf), "CONTENT_LENGTH=%s", cl);
        env[2] = clbuf;
    }
    if (data == NULL && len > 0) {
        filler = malloc(len);
        assert_non_null(filler);
        memset(filler, 'b', len);
        m.data = filler;
    }
    assert_int_equal(lumira_req_init(req, env), LUMIRA_OK);
    err = lumira_req_read_body(req, mem_read, &m);
    req->envp = NULL;
    if (calls != NULL)
        *calls = m.calls;
    free(filler);
    return err;
}

static void test_req_read_body_exact_length(void **state)
{
    static const char body[] = "{\"amount\":14}";
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body("13", body, 13, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 13);
    assert_memory_equal(req.body.ptr, body, 13);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("0", "", 0, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 0);
    lumira_req_cleanup(&req);
}

static void test_req_read_body_small_chunks(void **state)
{
    char body[1000];
    struct lumira_req req;
    int calls = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    assert_int_equal(read_body("1000", body, sizeof(body), 7, -1, &calls, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 1000);
    assert_memory_equal(req.body.ptr, body, 1000);
    assert_true(calls >= 1000 / 7);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body(NULL, body, sizeof(body), 1, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 1000);
    assert_memory_equal(req.body.ptr, body, 1000);
    lumira_req_cleanup(&req);
}

static void test_req_read_body_truncated_einval(void **state)
{
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body("20", "0123456789", 10, 0, -1, NULL, &req), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("20", "0123456789", 10, 3, -1, NULL, &req), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("1", "", 0, 0, -1, NULL, &req), LUMIRA_EINVAL);
    lumira_req_cleanup(&req);
}

/* Input past CONTENT_LENGTH is not read: a CGI server need not close stdin after the body. */
static void test_req_read_body_stops_at_declared_length(void **state)
{
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body("5", "0123456789", 10, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 5);
    assert_memory_equal(req.body.ptr, "01234", 5);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("5", "0123456789", 10, 2, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 5);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("0", "x", 1, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 0);
    lumira_req_cleanup(&req);
}

/* CONTENT_LENGTH at the cap - 1, the cap and the cap + 1 (refused before any read). */
static void test_req_read_body_cap_edges(void **state)
{
    char cl[32];
    struct lumira_req req;
    int calls = 0;

    (void)state;
    snprintf(cl, sizeof(cl), "%d", LUMIRA_MAX_BODY - 1);
    assert_int_equal(read_body(cl, NULL, LUMIRA_MAX_BODY - 1, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, LUMIRA_MAX_BODY - 1);
    lumira_req_cleanup(&req);
    snprintf(cl, sizeof(cl), "%d", LUMIRA_MAX_BODY);
    assert_int_equal(read_body(cl, NULL, LUMIRA_MAX_BODY, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, LUMIRA_MAX_BODY);
    lumira_req_cleanup(&req);
    snprintf(cl, sizeof(cl), "%d", LUMIRA_MAX_BODY + 1);
    assert_int_equal(read_body(cl, NULL, LUMIRA_MAX_BODY + 1, 0, -1, &calls, &req), LUMIRA_ETOOBIG);
    assert_int_equal(calls, 0);
    assert_null(req.body.ptr);
    lumira_req_cleanup(&req);
}

/* Declared lengths far over the cap, up to past 64 bits: over the cap, never read. */
static void test_req_read_body_huge_content_length_toobig(void **state)
{
    static const char *const huge[] = {"10000000000000", "9223372036854775807",
                                       "18446744073709551615", "18446744073709551616",
                                       "99999999999999999999999"};
    struct lumira_req req;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(huge); i++) {
        int calls = -1;

        assert_int_equal(read_body(huge[i], "x", 1, 0, -1, &calls, &req), LUMIRA_ETOOBIG);
        assert_int_equal(calls, 0);
        lumira_req_cleanup(&req);
    }
}

static void test_req_read_body_bad_content_length_einval(void **state)
{
    static const char *const bad[] = {"abc",
                                      "-1",
                                      " 5",
                                      "5 ",
                                      "+5",
                                      "0x10",
                                      "1e3",
                                      "5abc",
                                      "5.0",
                                      "\t5",
                                      "-0",
                                      "9999999abc",
                                      "99999999999999999999999x"};
    struct lumira_req req;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        int calls = -1;

        assert_int_equal(read_body(bad[i], "12345", 5, 0, -1, &calls, &req), LUMIRA_EINVAL);
        assert_int_equal(calls, 0);
        lumira_req_cleanup(&req);
    }
}

static void test_req_read_body_empty_content_length_is_absent(void **state)
{
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body("", "abc", 3, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, 3);
    lumira_req_cleanup(&req);
}

static void test_req_read_body_no_length_cap(void **state)
{
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body(NULL, NULL, LUMIRA_MAX_BODY, 0, -1, NULL, &req), LUMIRA_OK);
    assert_int_equal(req.body.len, LUMIRA_MAX_BODY);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body(NULL, NULL, LUMIRA_MAX_BODY + 1, 0, -1, NULL, &req), LUMIRA_ETOOBIG);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body(NULL, NULL, LUMIRA_MAX_BODY + 1, 4093, -1, NULL, &req),
                     LUMIRA_ETOOBIG);
    lumira_req_cleanup(&req);
    /* A declared length at the cap takes exactly the cap, never more. */
    {
        char cl[32];

        snprintf(cl, sizeof(cl), "%d", LUMIRA_MAX_BODY);
        assert_int_equal(read_body(cl, NULL, LUMIRA_MAX_BODY + 1, 0, -1, NULL, &req), LUMIRA_OK);
        assert_int_equal(req.body.len, LUMIRA_MAX_BODY);
        lumira_req_cleanup(&req);
    }
}

static void test_req_read_body_reader_error_eio(void **state)
{
    struct lumira_req req;

    (void)state;
    assert_int_equal(read_body("10", "0123456789", 10, 0, 0, NULL, &req), LUMIRA_EIO);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body("10", "0123456789", 10, 2, 4, NULL, &req), LUMIRA_EIO);
    lumira_req_cleanup(&req);
    assert_int_equal(read_body(NULL, "0123456789", 10, 0, 5, NULL, &req), LUMIRA_EIO);
    lumira_req_cleanup(&req);
}

static void test_req_read_body_reader_overreport_eio(void **state)
{
    char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/a", NULL};
    struct mem_stream m = {"x", 1, 0, 0, -1, 1, 0};
    struct lumira_req req;

    (void)state;
    assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
    assert_int_equal(lumira_req_read_body(&req, mem_read, &m), LUMIRA_EIO);
    lumira_req_cleanup(&req);
}

static void test_req_has_body_method(void **state)
{
    static const struct {
        const char *env;
        bool want;
    } cases[] = {
        {"REQUEST_METHOD=POST", true},   {"REQUEST_METHOD=PUT", true},
        {"REQUEST_METHOD=PATCH", true},  {"REQUEST_METHOD=GET", false},
        {"REQUEST_METHOD=HEAD", false},  {"REQUEST_METHOD=DELETE", false},
        {"REQUEST_METHOD=POSTX", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *env[] = {(char *)(uintptr_t)cases[i].env, "PATH_INFO=/", NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        assert_int_equal(lumira_req_has_body_method(&req), cases[i].want);
        lumira_req_cleanup(&req);
    }
}

static void test_req_is_json_variants(void **state)
{
    static const struct {
        const char *env;
        bool want;
    } cases[] = {
        {"CONTENT_TYPE=application/json", true},
        {"CONTENT_TYPE=Application/JSON; charset=utf-8", true},
        {"CONTENT_TYPE=application/json;charset=UTF-8", true},
        {"CONTENT_TYPE=application/json ; charset=utf-8", true},
        {"CONTENT_TYPE= application/json", true},
        {"CONTENT_TYPE=application/jsonx", false},
        {"CONTENT_TYPE=application/json-patch+json", false},
        {"CONTENT_TYPE=application/js", false},
        {"CONTENT_TYPE=text/plain", false},
        {"CONTENT_TYPE=text/json", false},
        {"CONTENT_TYPE=", false},
        {"CONTENT_TYPE_X=application/json", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/", (char *)(uintptr_t)cases[i].env, NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        if (lumira_req_is_json(&req) != cases[i].want)
            fail_msg("lumira_req_is_json(%s) != %d", cases[i].env, cases[i].want);
        lumira_req_cleanup(&req);
    }
    {
        char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/", NULL};
        struct lumira_req req;

        assert_int_equal(lumira_req_init(&req, env), LUMIRA_OK);
        assert_false(lumira_req_is_json(&req));
        lumira_req_cleanup(&req);
    }
}

/* ---- responses ---- */

static void make_req(struct lumira_req *req, const char *method, const char *reqid_env)
{
    static char m[64];
    static char *env[4];

    snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
    env[0] = m;
    env[1] = "PATH_INFO=/api/a";
    env[2] = (char *)(uintptr_t)reqid_env;
    env[3] = NULL;
    assert_int_equal(lumira_req_init(req, env), LUMIRA_OK);
}

static void test_resp_init_defaults(void **state)
{
    struct lumira_resp resp;

    (void)state;
    lumira_resp_init(&resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.headers.len, 0);
    assert_int_equal(resp.body.len, 0);
    assert_string_equal(resp.content_type, "application/json; charset=utf-8");
    lumira_resp_cleanup(&resp);
    lumira_resp_cleanup(NULL);
}

/* A response used again starts as new (status, headers, body, type) and keeps its buffers'
 * memory, unless one grew past LUMIRA_RESP_KEEP. */
static void test_resp_reuse_keeps_small_buffers(void **state)
{
    struct lumira_resp resp;
    char *body;
    static char big[LUMIRA_RESP_KEEP + 1];

    (void)state;
    lumira_resp_init(&resp);
    resp.status = 404;
    resp.content_type = "text/plain";
    assert_int_equal(lumira_resp_header(&resp, "X-A", "1"), LUMIRA_OK);
    assert_int_equal(lumira_buf_adds(&resp.body, "{\"a\":1}"), LUMIRA_OK);
    body = resp.body.ptr;
    lumira_resp_reuse(&resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/json; charset=utf-8");
    assert_int_equal(resp.headers.len, 0);
    assert_int_equal(resp.body.len, 0);
    assert_ptr_equal(resp.body.ptr, body); /* the same memory */
    assert_string_equal(resp.body.ptr, "");
    memset(big, 'x', sizeof(big));
    assert_int_equal(lumira_buf_add(&resp.body, big, sizeof(big)), LUMIRA_OK);
    lumira_resp_reuse(&resp);
    assert_null(resp.body.ptr); /* past the keep: freed */
    assert_int_equal(resp.body.len, 0);
    lumira_resp_cleanup(&resp);
}

static void test_resp_header_adds_line(void **state)
{
    struct lumira_resp resp;

    (void)state;
    lumira_resp_init(&resp);
    assert_int_equal(lumira_resp_header(&resp, "Cache-Control", "no-cache, no-store"), LUMIRA_OK);
    assert_int_equal(lumira_resp_header(&resp, "X-Ready-Status", "ok"), LUMIRA_OK);
    assert_string_equal(resp.headers.ptr,
                        "Cache-Control: no-cache, no-store\r\nX-Ready-Status: ok\r\n");
    lumira_resp_cleanup(&resp);
}

static void test_resp_header_rejects_crlf_and_bad_names(void **state)
{
    static const char *const bad_values[] = {"a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "\r\n"};
    static const char *const bad_names[] = {"",     "Bad Name", "Bad:Name",  "X\r\nY", "X-Test\n",
                                            "X(y)", "X\"",      "X\xc3\xa9", "X/Y"};
    struct lumira_resp resp;
    size_t i;

    (void)state;
    lumira_resp_init(&resp);
    for (i = 0; i < ARRAY_LEN(bad_values); i++)
        assert_int_equal(lumira_resp_header(&resp, "X-Test", bad_values[i]), LUMIRA_EINVAL);
    for (i = 0; i < ARRAY_LEN(bad_names); i++)
        assert_int_equal(lumira_resp_header(&resp, bad_names[i], "v"), LUMIRA_EINVAL);
    assert_int_equal(resp.headers.len, 0); /* nothing half-written */
    /* Every letter, digit and '-' is a name's. */
    assert_int_equal(lumira_resp_header(&resp, "azAZ09-", "v"), LUMIRA_OK);
    assert_int_equal(lumira_resp_header(&resp, "-", "v"), LUMIRA_OK);
    assert_int_equal(resp.headers.len, strlen("azAZ09-: v\r\n-: v\r\n"));
    lumira_resp_cleanup(&resp);
}

/* Parses resp->body as JSON (owned by the caller). */
static struct json_object *body_json(const struct lumira_resp *resp)
{
    struct json_object *o;

    assert_non_null(resp->body.ptr);
    o = json_tokener_parse(resp->body.ptr);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_object));
    return o;
}

static void test_resp_error_envelope(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *o;

    (void)state;
    make_req(&req, "GET", "HTTP_X_REQUEST_ID=abc-123");
    lumira_resp_init(&resp);
    lumira_resp_error(&resp, &req, 404, "ORDER_NOT_FOUND", "Order \"x\" not found", NULL);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/json; charset=utf-8");
    o = body_json(&resp);
    assert_string_equal(tu_json_str(o, "error"), "Order \"x\" not found");
    assert_string_equal(tu_json_str(o, "code"), "ORDER_NOT_FOUND");
    assert_string_equal(tu_json_str(o, "requestId"), "abc-123");
    assert_false(json_object_object_get_ex(o, "details", NULL));
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

/* An extra member that is JSON null is kept as null (json-c holds it as a NULL value: it was
 * once taken for a failed allocation, and the answer became a 500). */
static void test_resp_error_with_null_member(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *o, *extra = json_object_new_object(), *v = NULL;

    (void)state;
    make_req(&req, "PATCH", NULL);
    lumira_resp_init(&resp);
    json_object_object_add(extra, "from", NULL);
    json_object_object_add(extra, "to", json_object_new_string("paid"));
    lumira_resp_error_with(&resp, &req, 409, "INVALID_TRANSITION", "No", extra);
    assert_int_equal(resp.status, 409);
    o = body_json(&resp);
    assert_true(json_object_object_get_ex(o, "from", &v));
    assert_null(v);
    assert_string_equal(tu_json_str(o, "to"), "paid");
    assert_string_equal(tu_json_str(o, "code"), "INVALID_TRANSITION");
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_resp_error_with_details(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *o, *details, *d0, *arr;

    (void)state;
    make_req(&req, "POST", NULL);
    lumira_resp_init(&resp);
    details = json_object_new_array();
    d0 = json_object_new_object();
    json_object_object_add(d0, "field", json_object_new_string("email"));
    json_object_object_add(d0, "message", json_object_new_string("must be an e-mail address"));
    json_object_array_add(details, d0);
    lumira_resp_error(&resp, &req, 400, "VALIDATION_ERROR", "Invalid input", details);
    assert_int_equal(resp.status, 400);
    o = body_json(&resp);
    assert_string_equal(tu_json_str(o, "code"), "VALIDATION_ERROR");
    assert_string_equal(tu_json_str(o, "requestId"), req.reqid);
    assert_true(json_object_object_get_ex(o, "details", &arr));
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 1);
    assert_string_equal(tu_json_str(json_object_array_get_idx(arr, 0), "field"), "email");
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

/* An error after a body was already set replaces it entirely. */
static void test_resp_error_replaces_body(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *o;

    (void)state;
    make_req(&req, "GET", NULL);
    lumira_resp_init(&resp);
    o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    lumira_resp_json(&resp, &req, 201, o);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.body.ptr, "{\"ok\":true}");
    lumira_resp_error(&resp, &req, 500, "INTERNAL", "Internal error", NULL);
    assert_int_equal(resp.status, 500);
    o = body_json(&resp);
    assert_false(json_object_object_get_ex(o, "ok", NULL));
    assert_string_equal(tu_json_str(o, "code"), "INTERNAL");
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_resp_json_null_is_internal(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *o;

    (void)state;
    make_req(&req, "GET", "HTTP_X_REQUEST_ID=r1");
    lumira_resp_init(&resp);
    lumira_resp_json(&resp, &req, 200, NULL);
    assert_int_equal(resp.status, 500);
    o = body_json(&resp);
    assert_string_equal(tu_json_str(o, "code"), "INTERNAL");
    assert_string_equal(tu_json_str(o, "requestId"), "r1");
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

/* Finds header `name` in the head of a rendered response; returns its value (copied). */
static bool head_value(const char *head, size_t headlen, const char *name, char *out, size_t size)
{
    const char *p = head, *end = head + headlen;
    size_t n = strlen(name);

    while (p < end) {
        const char *eol = strstr(p, "\r\n");

        if (eol == NULL || eol > end)
            eol = end;
        if ((size_t)(eol - p) > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;

            v += strspn(v, " ");
            snprintf(out, size, "%.*s", (int)(eol - v), v);
            return true;
        }
        p = eol + 2;
    }
    return false;
}

static void test_resp_render_status_and_headers(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct lumira_buf out;
    const char *sep;
    char v[128];
    size_t headlen;

    (void)state;
    make_req(&req, "GET", "HTTP_X_REQUEST_ID=render-1");
    lumira_resp_init(&resp);
    lumira_resp_error(&resp, &req, 404, "NOT_FOUND", "No such route", NULL);
    assert_int_equal(lumira_resp_header(&resp, "Cache-Control", "no-cache"), LUMIRA_OK);
    lumira_buf_init(&out, 1 << 20);
    assert_int_equal(lumira_resp_render(&resp, &req, false, 12, &out), LUMIRA_OK);
    assert_true(strncmp(out.ptr, "Status: 404 Not Found\r\n", 23) == 0);
    sep = strstr(out.ptr, "\r\n\r\n");
    assert_non_null(sep);
    headlen = (size_t)(sep - out.ptr) + 2;
    assert_true(head_value(out.ptr, headlen, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json; charset=utf-8");
    assert_true(head_value(out.ptr, headlen, "Content-Length", v, sizeof(v)));
    assert_int_equal(strtoul(v, NULL, 10), strlen(sep + 4));
    assert_int_equal(strtoul(v, NULL, 10), resp.body.len);
    assert_true(head_value(out.ptr, headlen, "X-Request-Id", v, sizeof(v)));
    assert_string_equal(v, "render-1");
    assert_true(head_value(out.ptr, headlen, "X-Response-Time", v, sizeof(v)));
    assert_string_equal(v, "12ms");
    assert_true(head_value(out.ptr, headlen, "Cache-Control", v, sizeof(v)));
    assert_string_equal(v, "no-cache");
    assert_memory_equal(sep + 4, resp.body.ptr, resp.body.len);
    assert_int_equal(out.len, headlen + 2 + resp.body.len);
    lumira_buf_cleanup(&out);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_resp_render_head_omits_body(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct lumira_buf out;
    struct json_object *o;
    const char *sep;
    char v[64];

    (void)state;
    make_req(&req, "HEAD", NULL);
    lumira_resp_init(&resp);
    o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("healthy"));
    lumira_resp_json(&resp, &req, 200, o);
    lumira_buf_init(&out, 1 << 20);
    assert_int_equal(lumira_resp_render(&resp, &req, true, 0, &out), LUMIRA_OK);
    assert_true(strncmp(out.ptr, "Status: 200 OK\r\n", 16) == 0);
    sep = strstr(out.ptr, "\r\n\r\n");
    assert_non_null(sep);
    assert_string_equal(sep, "\r\n\r\n"); /* nothing after the head */
    assert_true(head_value(out.ptr, (size_t)(sep - out.ptr) + 2, "Content-Length", v, sizeof(v)));
    assert_int_equal(strtoul(v, NULL, 10), resp.body.len); /* what GET would send */
    assert_true(resp.body.len > 0);
    assert_true(head_value(out.ptr, (size_t)(sep - out.ptr) + 2, "X-Response-Time", v, sizeof(v)));
    assert_string_equal(v, "0ms");
    lumira_buf_cleanup(&out);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_resp_render_empty_body(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct lumira_buf out;

    (void)state;
    make_req(&req, "GET", NULL);
    lumira_resp_init(&resp);
    resp.status = 204;
    lumira_buf_init(&out, 1 << 20);
    assert_int_equal(lumira_resp_render(&resp, &req, false, 3, &out), LUMIRA_OK);
    assert_true(strncmp(out.ptr, "Status: 204 No Content\r\n", 24) == 0);
    assert_non_null(strstr(out.ptr, "\r\nContent-Length: 0\r\n"));
    assert_string_equal(strstr(out.ptr, "\r\n\r\n"), "\r\n\r\n");
    lumira_buf_cleanup(&out);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_resp_render_respects_out_cap(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct lumira_buf out;

    (void)state;
    make_req(&req, "GET", NULL);
    lumira_resp_init(&resp);
    lumira_resp_error(&resp, &req, 400, "INVALID_JSON", "bad", NULL);
    lumira_buf_init(&out, 32);
    assert_int_equal(lumira_resp_render(&resp, &req, false, 1, &out), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&out);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_http_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(lumira_http_reason(200), "OK");
    assert_string_equal(lumira_http_reason(201), "Created");
    assert_string_equal(lumira_http_reason(400), "Bad Request");
    assert_string_equal(lumira_http_reason(404), "Not Found");
    assert_string_equal(lumira_http_reason(405), "Method Not Allowed");
    assert_string_equal(lumira_http_reason(408), "Request Timeout");
    assert_string_equal(lumira_http_reason(413), "Payload Too Large");
    assert_string_equal(lumira_http_reason(414), "URI Too Long");
    assert_string_equal(lumira_http_reason(415), "Unsupported Media Type");
    assert_string_equal(lumira_http_reason(503), "Service Unavailable");
    assert_string_equal(lumira_http_reason(299), "Unknown");
    assert_string_equal(lumira_http_reason(-1), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_init_path_info_preferred),
        cmocka_unit_test(test_req_init_document_uri_when_no_path_info),
        cmocka_unit_test(test_req_init_request_uri_cut_at_query),
        cmocka_unit_test(test_req_init_trailing_slash_dropped),
        cmocka_unit_test(test_req_init_missing_method_einval),
        cmocka_unit_test(test_req_init_bad_method_einval),
        cmocka_unit_test(test_req_init_path_without_slash_einval),
        cmocka_unit_test(test_req_init_path_cap_edges),
        cmocka_unit_test(test_req_init_query_cap_edges),
        cmocka_unit_test(test_req_init_content_type),
        cmocka_unit_test(test_req_init_reqid_sane_kept),
        cmocka_unit_test(test_req_init_reqid_bad_replaced),
        cmocka_unit_test(test_req_init_reqid_generated_differ),
        cmocka_unit_test(test_reqid_valid_edges),
        cmocka_unit_test(test_req_init_one_pass_lookalikes),
        cmocka_unit_test(test_req_env_exact_name),
        cmocka_unit_test(test_route_match_exact),
        cmocka_unit_test(test_route_match_trailing_slash),
        cmocka_unit_test(test_route_match_param_captured),
        cmocka_unit_test(test_route_param_prefix_names),
        cmocka_unit_test(test_route_match_params_from_matching_route_only),
        cmocka_unit_test(test_route_match_param_limit),
        cmocka_unit_test(test_route_match_404_empty_allow),
        cmocka_unit_test(test_route_match_405_allow_without_duplicates),
        cmocka_unit_test(test_route_match_405_allow_cut_safely),
        cmocka_unit_test(test_route_match_head_served_by_get),
        cmocka_unit_test(test_route_match_empty_segment_not_a_param),
        cmocka_unit_test(test_route_match_segment_count),
        cmocka_unit_test(test_query_get_first_occurrence_wins),
        cmocka_unit_test(test_query_get_decodes_plus_and_escapes),
        cmocka_unit_test(test_query_get_nul_rejected),
        cmocka_unit_test(test_query_get_bad_escapes),
        cmocka_unit_test(test_query_get_out_size_edges),
        cmocka_unit_test(test_query_get_size_zero_writes_nothing),
        cmocka_unit_test(test_query_get_key_without_equals),
        cmocka_unit_test(test_query_get_encoded_key),
        cmocka_unit_test(test_query_get_absent),
        cmocka_unit_test(test_query_get_empty_query),
        cmocka_unit_test(test_query_get_counted_string),
        cmocka_unit_test(test_req_read_body_exact_length),
        cmocka_unit_test(test_req_read_body_small_chunks),
        cmocka_unit_test(test_req_read_body_truncated_einval),
        cmocka_unit_test(test_req_read_body_stops_at_declared_length),
        cmocka_unit_test(test_req_read_body_cap_edges),
        cmocka_unit_test(test_req_read_body_huge_content_length_toobig),
        cmocka_unit_test(test_req_read_body_bad_content_length_einval),
        cmocka_unit_test(test_req_read_body_empty_content_length_is_absent),
        cmocka_unit_test(test_req_read_body_no_length_cap),
        cmocka_unit_test(test_req_read_body_reader_error_eio),
        cmocka_unit_test(test_req_read_body_reader_overreport_eio),
        cmocka_unit_test(test_req_has_body_method),
        cmocka_unit_test(test_req_is_json_variants),
        cmocka_unit_test(test_resp_init_defaults),
        cmocka_unit_test(test_resp_reuse_keeps_small_buffers),
        cmocka_unit_test(test_resp_header_adds_line),
        cmocka_unit_test(test_resp_header_rejects_crlf_and_bad_names),
        cmocka_unit_test(test_resp_error_envelope),
        cmocka_unit_test(test_resp_error_with_details),
        cmocka_unit_test(test_resp_error_replaces_body),
        cmocka_unit_test(test_resp_json_null_is_internal),
        cmocka_unit_test(test_resp_render_status_and_headers),
        cmocka_unit_test(test_resp_render_head_omits_body),
        cmocka_unit_test(test_resp_render_empty_body),
        cmocka_unit_test(test_resp_render_respects_out_cap),
        cmocka_unit_test(test_http_reason_phrases),
        cmocka_unit_test(test_resp_error_with_null_member),
    };

    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
