/* Unit tests of src/fetch.c: the outbound HTTP client against loopback peers (testutil's HTTP
 * server and silent listener, and a raw one-shot peer here for replies testutil cannot make):
 * bodies and statuses, timeouts, refusals, the reply cap, JSON POSTs, what is refused before
 * anything is sent, and reuse of one handle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Slack on top of a timeout before a test calls it ignored: machines are shared and noisy. */
#define MARGIN_MS 1500
#define CAP 4096

static int group_setup(void **state)
{
    (void)state;
    lumira_fetch_global_init();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    lumira_fetch_global_cleanup();
    return 0;
}

static struct lumira_fetch *client(void)
{
    struct lumira_fetch *f = NULL;

    assert_int_equal(lumira_fetch_new(&f), LUMIRA_OK);
    assert_non_null(f);
    return f;
}

/* "<base><path>" of a testutil server (static storage, one at a time). */
static const char *url_of(struct tu_http_server *srv, const char *path)
{
    static char url[128];

    snprintf(url, sizeof(url), "%s%s", tu_http_base(srv), path);
    return url;
}

/* A peer that accepts one connection, reads the request head and then its Content-Length bytes
 * of body (counted, not kept), and answers `raw` byte for byte (status line and headers
 * included), then closes. */
struct raw_peer {
    int fd, port;
    const char *raw;
    size_t len;
    pthread_t thread;
    char head[8192];   /* the request head, NUL-terminated */
    size_t body_bytes; /* bytes of request body read */
};

/* Reads the body announced by the head in p->head, of which `have` bytes came with it. */
static void raw_drain(struct raw_peer *p, int c, size_t have)
{
    const char *cl = strcasestr(p->head, "\r\nContent-Length:");
    size_t want = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
    char buf[65536];

    p->body_bytes = have;
    while (p->body_bytes < want) {
        ssize_t n = read(c, buf, sizeof(buf));

        if (n <= 0)
            return;
        p->body_bytes += (size_t)n;
    }
}

static void *raw_main(void *arg)
{
    struct raw_peer *p = arg;
    char req[sizeof(p->head)];
    size_t used = 0;
    int c = accept(p->fd, NULL, NULL);

    if (c < 0)
        return NULL;
    while (used < sizeof(req) - 1) {
        ssize_t n = read(c, req + used, sizeof(req) - 1 - used);
        char *end;

        if (n <= 0)
            break;
        used += (size_t)n;
        req[used] = '\0';
        if ((end = strstr(req, "\r\n\r\n")) != NULL) {
            size_t hlen = (size_t)(end + 4 - req);

            memcpy(p->head, req, hlen);
            p->head[hlen] = '\0';
            raw_drain(p, c, used - hlen);
            break;
        }
    }
    for (size_t off = 0; off < p->len;) {
        ssize_t n = send(c, p->raw + off, p->len - off, MSG_NOSIGNAL);

        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(c);
    return NULL;
}

static void raw_start(struct raw_peer *p, const char *raw, size_t len)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);

    memset(p, 0, sizeof(*p));
    p->raw = raw;
    p->len = len;
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(p->fd, 4), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&sa, &slen), 0);
    p->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, raw_main, p), 0);
}

static void raw_stop(struct raw_peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->fd);
}

static void test_fetch_call_2xx_with_body(void **state)
{
    struct tu_http_opts o = {.status = 201, .body = "{\"id\":\"x1\",\"ok\":true}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    const char *req;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(
        lumira_fetch_call(f, "GET", url_of(srv, "/v1/thing?a=1"), NULL, NULL, 0, 3000, &reply),
        LUMIRA_OK);
    assert_int_equal(reply.status, 201);
    assert_int_equal(reply.body.len, strlen(o.body));
    assert_string_equal(reply.body.ptr, o.body);
    assert_string_equal(reply.error, "");
    assert_true(reply.elapsed_ms >= 0 && reply.elapsed_ms < 3000);
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "GET /v1/thing?a=1 HTTP/1.1\r\n", 28) == 0);
    assert_non_null(strstr(req, "\r\nUser-Agent: lumira/"));
    assert_null(strstr(req, "Expect:"));
    assert_null(strstr(req, "Content-Type:"));
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

static void test_fetch_call_500_is_ok(void **state)
{
    struct tu_http_opts o = {.status = 500, .body = "{\"error\":\"boom\"}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 500);
    assert_string_equal(reply.body.ptr, o.body);
    assert_string_equal(reply.error, "");
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* A redirect is an answer like any other: its status comes back, the Location is not followed. */
static void test_fetch_call_redirect_not_followed(void **state)
{
    static const char raw[] = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
                              "Content-Length: 5\r\nConnection: close\r\n\r\nmoved";
    struct raw_peer peer;
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    char url[64];

    (void)state;
    raw_start(&peer, raw, sizeof(raw) - 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/start", peer.port);
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "GET", url, NULL, NULL, 0, 3000, &reply), LUMIRA_OK);
    assert_int_equal(reply.status, 302);
    assert_string_equal(reply.body.ptr, "moved");
    raw_stop(&peer);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
}

/* A peer that accepts and never answers: ETIMEDOUT within the bound, "timeout after Nms". */
static void test_fetch_call_timeout_silent_peer(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    char url[64];
    long long t0, took;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", tu_silent_port(peer));
    lumira_fetch_reply_init(&reply, CAP);
    t0 = tu_now_ms();
    assert_int_equal(
        lumira_fetch_post_json(f, url, "{\"a\":1}", 7, NULL, 300, &reply), LUMIRA_ETIMEDOUT);
    took = tu_now_ms() - t0;
    assert_true(took >= 250 && took < 300 + MARGIN_MS);
    assert_true(strncmp(reply.error, "timeout after ", 14) == 0);
    assert_non_null(strstr(reply.error, "ms"));
    assert_int_equal(reply.status, 0);
    assert_true(tu_silent_connections(peer) > 0);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_silent_stop(peer);
}

/* A timeout below 1 ms is taken as 1 ms, not as "no timeout" (curl's 0). */
static void test_fetch_call_zero_timeout_still_bounded(void **state)
{
    struct tu_http_opts o = {.delay_ms = 1000};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 0, &reply),
                     LUMIRA_ETIMEDOUT);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, -5, &reply),
                     LUMIRA_ETIMEDOUT);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

static void test_fetch_call_refused_unavail(void **state)
{
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    char url[64];
    long long t0;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", tu_closed_port());
    lumira_fetch_reply_init(&reply, CAP);
    t0 = tu_now_ms();
    assert_int_equal(lumira_fetch_call(f, "GET", url, NULL, NULL, 0, 3000, &reply),
                     LUMIRA_EUNAVAIL);
    assert_true(tu_now_ms() - t0 < MARGIN_MS);
    assert_int_equal(reply.status, 0);
    assert_true(reply.error[0] != '\0');
    assert_null(strstr(reply.error, "/hook")); /* curl names the host, never the path */
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
}

static void test_fetch_call_close_early_unavail(void **state)
{
    struct tu_http_opts o = {.close_early = 1};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 3000, &reply),
                     LUMIRA_EUNAVAIL);
    assert_int_equal(reply.status, 0);
    assert_true(reply.error[0] != '\0');
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* Fills `n` bytes of 'x' into a new string. */
static char *filler(size_t n)
{
    char *p = malloc(n + 1);

    assert_non_null(p);
    memset(p, 'x', n);
    p[n] = '\0';
    return p;
}

/* The cap at max - 1, max and max + 1, with a declared Content-Length (refused before the body
 * is read) and far over it. */
static void test_fetch_call_cap_edges_content_length(void **state)
{
    static const struct {
        size_t len;
        enum lumira_err want;
    } cases[] = {
        {CAP - 1, LUMIRA_OK},
        {CAP, LUMIRA_OK},
        {CAP + 1, LUMIRA_ETOOBIG},
        {16 * CAP, LUMIRA_ETOOBIG},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *body = filler(cases[i].len);
        struct tu_http_opts o = {.body = body};
        struct tu_http_server *srv = tu_http_start(&o);
        struct lumira_fetch *f = client();
        struct lumira_fetch_reply reply;

        lumira_fetch_reply_init(&reply, CAP);
        assert_int_equal(
            lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 5000, &reply),
            cases[i].want);
        if (cases[i].want == LUMIRA_OK) {
            assert_int_equal(reply.status, 200);
            assert_int_equal(reply.body.len, cases[i].len);
        } else {
            assert_int_equal(reply.status, 0);
            assert_true(reply.body.len <= CAP);
            assert_string_equal(reply.error, "reply larger than 4096 bytes");
        }
        lumira_fetch_reply_cleanup(&reply);
        lumira_fetch_free(f);
        tu_http_stop(srv);
        free(body);
    }
}

/* The same edges when the peer declares no length and closes at the end: the body callback
 * enforces the cap as the bytes come. */
static void test_fetch_call_cap_edges_streamed(void **state)
{
    static const size_t lens[] = {CAP - 1, CAP, CAP + 1, 16 * CAP};
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Connection: close\r\n\r\n";
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(lens); i++) {
        size_t hlen = sizeof(head) - 1, total = hlen + lens[i];
        char *raw = malloc(total);
        struct raw_peer peer;
        struct lumira_fetch *f = client();
        struct lumira_fetch_reply reply;
        char url[64];
        enum lumira_err err;

        assert_non_null(raw);
        memcpy(raw, head, hlen);
        memset(raw + hlen, 'y', lens[i]);
        raw_start(&peer, raw, total);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", peer.port);
        lumira_fetch_reply_init(&reply, CAP);
        err = lumira_fetch_call(f, "GET", url, NULL, NULL, 0, 5000, &reply);
        if (lens[i] <= CAP) {
            assert_int_equal(err, LUMIRA_OK);
            assert_int_equal(reply.body.len, lens[i]);
        } else {
            assert_int_equal(err, LUMIRA_ETOOBIG);
            assert_int_equal(reply.status, 0);
            assert_true(reply.body.len <= CAP);
            assert_string_equal(reply.error, "reply larger than 4096 bytes");
        }
        lumira_fetch_reply_cleanup(&reply);
        lumira_fetch_free(f);
        raw_stop(&peer);
        free(raw);
    }
}

static void test_fetch_post_json_sends_body_and_type(void **state)
{
    static const char json[] =
        "{\"orderId\":\"65a1\",\"level\":2,\"formData\":{\"x\":\"caf\xc3\xa9\"}}";
    static const char *const extra[] = {"X-Lumira-Order: LU261130001", NULL};
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    const char *req, *body;
    char cl[64];

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_post_json(f, url_of(srv, "/webhook/lumira"), json,
                                            sizeof(json) - 1, extra, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body.ptr, "{}");
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "POST /webhook/lumira HTTP/1.1\r\n", 31) == 0);
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    assert_null(strstr(req, "x-www-form-urlencoded"));
    assert_non_null(strstr(req, "\r\nX-Lumira-Order: LU261130001\r\n"));
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", sizeof(json) - 1);
    assert_non_null(strstr(req, cl));
    assert_null(strstr(req, "Expect:"));
    body = strstr(req, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, json);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* A body over curl's Expect threshold (1 MiB in curl 7.88) goes out at once, with no
 * 100-continue round trip (curl would wait 1 s for a "100 Continue" the peer never sends); and a
 * JSON body is sent by its length, not up to a NUL. */
static void test_fetch_post_json_large_no_expect_by_length(void **state)
{
    static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                              "Connection: close\r\n\r\n{}";
    struct tu_http_server *srv = tu_http_start(NULL);
    struct raw_peer peer;
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    size_t n = 1024 * 1024 + 1;
    char *json = filler(n), url[64];
    const char *req;
    long long t0;

    (void)state;
    raw_start(&peer, raw, sizeof(raw) - 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", peer.port);
    lumira_fetch_reply_init(&reply, CAP);
    t0 = tu_now_ms();
    assert_int_equal(lumira_fetch_post_json(f, url, json, n, NULL, 5000, &reply), LUMIRA_OK);
    assert_true(tu_now_ms() - t0 < 900);
    raw_stop(&peer);
    assert_int_equal(reply.status, 200);
    assert_null(strstr(peer.head, "Expect:"));
    assert_non_null(strstr(peer.head, "\r\nContent-Length: 1048577\r\n"));
    assert_int_equal(peer.body_bytes, n);
    /* By length: 3 bytes of "abcdef". */
    assert_int_equal(lumira_fetch_post_json(f, url_of(srv, "/short"), "abcdef", 3, NULL, 3000,
                                            &reply),
                     LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_string_equal(strstr(req, "\r\n\r\n") + 4, "abc");
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
    free(json);
}

static void test_fetch_call_post_form_default_type(void **state)
{
    static const char *const headers[] = {"Authorization: Bearer t0k", "Idempotency-Key: k-1",
                                          NULL};
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    const char *req;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(
        lumira_fetch_call(f, "POST", url_of(srv, "/v1/x"), headers, "a=1&b=2", 7, 3000, &reply),
        LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(req, "\r\nAuthorization: Bearer t0k\r\n"));
    assert_non_null(strstr(req, "\r\nIdempotency-Key: k-1\r\n"));
    assert_string_equal(strstr(req, "\r\n\r\n") + 4, "a=1&b=2");
    /* POST with no body: an empty body, not a GET. */
    assert_int_equal(lumira_fetch_call(f, "POST", url_of(srv, "/v1/y"), NULL, NULL, 0, 3000,
                                       &reply),
                     LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "POST /v1/y ", 11) == 0);
    assert_non_null(strstr(req, "\r\nContent-Length: 0\r\n"));
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* Refused before anything is sent: another method, a URL that is not http(s), a header line
 * that would smuggle another one. */
static void test_fetch_call_refuses_before_sending(void **state)
{
    static const char *const crlf[] = {"X-A: 1", "X-B: 2\r\nX-Evil: 1", NULL};
    static const char *const lf[] = {"X-B: 2\nX-Evil: 1", NULL};
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    char url[128], ftp[128];

    (void)state;
    snprintf(url, sizeof(url), "%s/", tu_http_base(srv));
    snprintf(ftp, sizeof(ftp), "ftp://127.0.0.1:%d/", tu_http_port(srv));
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "PUT", url, NULL, "x", 1, 3000, &reply), LUMIRA_EINVAL);
    assert_string_equal(reply.error, "unsupported method PUT");
    assert_int_equal(lumira_fetch_call(f, "get", url, NULL, NULL, 0, 3000, &reply),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_fetch_call(f, "GET", ftp, NULL, NULL, 0, 3000, &reply),
                     LUMIRA_EINVAL);
    assert_string_equal(reply.error, "not an http(s) URL");
    assert_int_equal(lumira_fetch_call(f, "GET", "file:///etc/passwd", NULL, NULL, 0, 3000,
                                       &reply),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_fetch_call(f, "GET", "127.0.0.1/x", NULL, NULL, 0, 3000, &reply),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_fetch_call(f, "GET", url, crlf, NULL, 0, 3000, &reply),
                     LUMIRA_EINVAL);
    assert_string_equal(reply.error, "header line with CR or LF");
    assert_int_equal(lumira_fetch_post_json(f, url, "{}", 2, lf, 3000, &reply), LUMIRA_EINVAL);
    assert_int_equal(reply.status, 0);
    assert_int_equal(tu_http_requests(srv), 0);
    assert_int_equal(tu_http_connections(srv), 0);
    /* A scheme in capitals is still http. */
    snprintf(url, sizeof(url), "HTTP://127.0.0.1:%d/", tu_http_port(srv));
    assert_int_equal(lumira_fetch_call(f, "GET", url, NULL, NULL, 0, 3000, &reply), LUMIRA_OK);
    assert_int_equal(tu_http_requests(srv), 1);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* Three calls on one handle over one kept-alive connection; each starts from reset options and
 * an emptied reply. */
static void test_fetch_call_reuses_handle_and_connection(void **state)
{
    static const char *const h1[] = {"X-Once: 1", NULL};
    struct tu_http_opts o = {.body = "{\"n\":1}", .keep_alive = 1};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;
    const char *req;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_post_json(f, url_of(srv, "/a"), "{}", 2, h1, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/b"), NULL, NULL, 0, 3000, &reply),
                     LUMIRA_OK);
    assert_string_equal(reply.body.ptr, "{\"n\":1}"); /* not appended to the first body */
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "GET /b ", 7) == 0);
    assert_null(strstr(req, "X-Once"));
    assert_null(strstr(req, "Content-Type"));
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/c"), NULL, NULL, 0, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(tu_http_requests(srv), 3);
    assert_int_equal(tu_http_connections(srv), 1);
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

/* A handle that failed once still works for the next call, and the reply is reset. */
static void test_fetch_call_recovers_after_failure(void **state)
{
    struct tu_http_opts slow = {.delay_ms = 800, .keep_alive = 1};
    struct tu_http_server *srv = tu_http_start(&slow);
    struct lumira_fetch *f = client();
    struct lumira_fetch_reply reply;

    (void)state;
    lumira_fetch_reply_init(&reply, CAP);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 200, &reply),
                     LUMIRA_ETIMEDOUT);
    assert_int_equal(lumira_fetch_call(f, "GET", url_of(srv, "/"), NULL, NULL, 0, 5000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.error, "");
    lumira_fetch_reply_cleanup(&reply);
    lumira_fetch_free(f);
    tu_http_stop(srv);
}

static void test_fetch_free_null(void **state)
{
    (void)state;
    lumira_fetch_free(NULL);
    lumira_fetch_reply_cleanup(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_call_2xx_with_body),
        cmocka_unit_test(test_fetch_call_500_is_ok),
        cmocka_unit_test(test_fetch_call_redirect_not_followed),
        cmocka_unit_test(test_fetch_call_timeout_silent_peer),
        cmocka_unit_test(test_fetch_call_zero_timeout_still_bounded),
        cmocka_unit_test(test_fetch_call_refused_unavail),
        cmocka_unit_test(test_fetch_call_close_early_unavail),
        cmocka_unit_test(test_fetch_call_cap_edges_content_length),
        cmocka_unit_test(test_fetch_call_cap_edges_streamed),
        cmocka_unit_test(test_fetch_post_json_sends_body_and_type),
        cmocka_unit_test(test_fetch_post_json_large_no_expect_by_length),
        cmocka_unit_test(test_fetch_call_post_form_default_type),
        cmocka_unit_test(test_fetch_call_refuses_before_sending),
        cmocka_unit_test(test_fetch_call_reuses_handle_and_connection),
        cmocka_unit_test(test_fetch_call_recovers_after_failure),
        cmocka_unit_test(test_fetch_free_null),
    };

    return cmocka_run_group_tests_name("fetch", tests, group_setup, group_teardown);
}
