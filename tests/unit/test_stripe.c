/* Unit tests of src/stripe.c: the libcurl client against a loopback HTTP peer (testutil), its
 * failure modes and timeouts, the unusable-key guard, and form encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lumira_limits.h"
#include "stripe.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KEY "sk_test_51Hx9FakeKeyForUnitTests0123"
/* Slack on top of a timeout before a test calls it ignored: machines are shared and noisy. */
#define MARGIN_MS 1500

static int group_setup(void **state)
{
    (void)state;
    lumira_stripe_global_init();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    lumira_stripe_global_cleanup();
    return 0;
}

static struct lumira_stripe *client(const char *base, const char *key)
{
    struct lumira_stripe *s = NULL;

    assert_int_equal(lumira_stripe_new(base, key, &s), LUMIRA_OK);
    assert_non_null(s);
    return s;
}

static void assert_no_key(const struct lumira_stripe_reply *reply)
{
    assert_null(strstr(reply->error, KEY));
    assert_null(strstr(reply->error, "51Hx9Fake"));
}

static void test_stripe_call_ok_body_read_back(void **state)
{
    struct tu_http_opts o = {.status = 200, .body = "{\"object\":\"balance\",\"livemode\":false}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.body.len, strlen(o.body));
    assert_string_equal(reply.body.ptr, o.body);
    assert_string_equal(reply.error, "");
    assert_true(reply.elapsed_ms >= 0 && reply.elapsed_ms < 3000);
    assert_int_equal(tu_http_requests(srv), 1);
    assert_true(strncmp(tu_http_last_request(srv), "GET /v1/balance HTTP/1.1\r\n", 26) == 0);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_call_sends_bearer_key(void **state)
{
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;
    const char *req;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_non_null(strstr(req, "\r\nAuthorization: Bearer " KEY "\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: lumira/"));
    assert_null(strstr(req, "Idempotency-Key"));
    assert_null(strstr(req, "Expect:"));
    assert_no_key(&reply);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_call_http_500_is_ok(void **state)
{
    struct tu_http_opts o = {.status = 500, .body = "{\"error\":{\"type\":\"api_error\"}}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 500);
    assert_string_equal(reply.body.ptr, o.body);
    assert_string_equal(reply.error, "");
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_call_timeout(void **state)
{
    struct tu_http_opts o = {.delay_ms = 1500};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;
    long long t0;

    (void)state;
    lumira_stripe_reply_init(&reply);
    t0 = tu_now_ms();
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 300, &reply),
                     LUMIRA_ETIMEDOUT);
    assert_true(tu_now_ms() - t0 < 300 + MARGIN_MS);
    assert_non_null(strstr(reply.error, "timeout"));
    assert_int_equal(reply.status, 0);
    assert_no_key(&reply);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* A timeout below 1 ms is taken as 1 ms, not as "no timeout" (curl's 0). */
static void test_stripe_call_zero_timeout_still_bounded(void **state)
{
    struct tu_http_opts o = {.delay_ms = 1000};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    /* With no timeout at all the call would wait out the delay and succeed. */
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 0, &reply),
                     LUMIRA_ETIMEDOUT);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, -5, &reply),
                     LUMIRA_ETIMEDOUT);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_call_refused_unavail(void **state)
{
    char base[64];
    struct lumira_stripe *s;
    struct lumira_stripe_reply reply;
    long long t0;

    (void)state;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", tu_closed_port());
    s = client(base, KEY);
    lumira_stripe_reply_init(&reply);
    t0 = tu_now_ms();
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_EUNAVAIL);
    assert_true(tu_now_ms() - t0 < MARGIN_MS);
    assert_int_equal(reply.status, 0);
    assert_true(reply.error[0] != '\0');
    assert_no_key(&reply);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
}

static void test_stripe_call_close_early_unavail(void **state)
{
    struct tu_http_opts o = {.close_early = 1};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_EUNAVAIL);
    assert_int_equal(reply.status, 0);
    assert_true(reply.error[0] != '\0');
    assert_no_key(&reply);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
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

/* The reply cap at max - 1, max and max + 1 (1048575 = 1025 x 1023, 1048577 = 61681 x 17). */
static void test_stripe_call_reply_cap_edges(void **state)
{
    static const struct {
        size_t piece, repeat;
        enum lumira_err want;
    } cases[] = {
        {1025, 1023, LUMIRA_OK},
        {1024, 1024, LUMIRA_OK},
        {61681, 17, LUMIRA_ETOOBIG},
        {65536, 64, LUMIRA_ETOOBIG},
    };
    size_t i;

    (void)state;
    assert_int_equal(LUMIRA_STRIPE_MAX_REPLY, 1025 * 1023 + 1);
    assert_int_equal(LUMIRA_STRIPE_MAX_REPLY + 1, 61681 * 17);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *piece = filler(cases[i].piece);
        struct tu_http_opts o = {.body = piece, .body_repeat = cases[i].repeat};
        struct tu_http_server *srv = tu_http_start(&o);
        struct lumira_stripe *s = client(tu_http_base(srv), KEY);
        struct lumira_stripe_reply reply;

        lumira_stripe_reply_init(&reply);
        assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 10000, &reply),
                         cases[i].want);
        if (cases[i].want == LUMIRA_OK) {
            assert_int_equal(reply.body.len, cases[i].piece * cases[i].repeat);
            assert_int_equal(reply.status, 200);
        } else {
            assert_true(reply.body.len <= LUMIRA_STRIPE_MAX_REPLY);
            assert_true(reply.error[0] != '\0');
        }
        lumira_stripe_reply_cleanup(&reply);
        lumira_stripe_free(s);
        tu_http_stop(srv);
        free(piece);
    }
}

static void test_stripe_call_post_form(void **state)
{
    struct tu_http_opts o = {.body = "{\"id\":\"pi_1\",\"client_secret\":\"pi_1_secret\"}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;
    struct lumira_buf form;
    const char *req, *body;

    (void)state;
    lumira_buf_init(&form, 4096);
    assert_int_equal(lumira_stripe_form_add(&form, "amount", "1400"), LUMIRA_OK);
    assert_int_equal(lumira_stripe_form_add(&form, "currency", "eur"), LUMIRA_OK);
    assert_int_equal(lumira_stripe_form_add(&form, "metadata[orderId]", "65a1"), LUMIRA_OK);
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "POST", "/v1/payment_intents", form.ptr, form.len,
                                        "order-65a1-pi", 3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "POST /v1/payment_intents HTTP/1.1\r\n", 35) == 0);
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(req, "\r\nIdempotency-Key: order-65a1-pi\r\n"));
    assert_non_null(strstr(req, "\r\nAuthorization: Bearer " KEY "\r\n"));
    assert_null(strstr(req, "Expect:"));
    body = strstr(req, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "amount=1400&currency=eur&metadata%5BorderId%5D=65a1");
    lumira_stripe_reply_cleanup(&reply);
    lumira_buf_cleanup(&form);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* The form is sent by length: a NUL byte inside it is not the end. */
static void test_stripe_call_post_form_by_length(void **state)
{
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;
    const char *req;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(
        lumira_stripe_call(s, "POST", "/v1/customers", "a=1&b=2XXXX", 7, NULL, 3000, &reply),
        LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_non_null(strstr(req, "\r\nContent-Length: 7\r\n"));
    assert_string_equal(strstr(req, "\r\n\r\n") + 4, "a=1&b=2");
    assert_null(strstr(req, "Idempotency-Key"));
    /* POST with no form at all: an empty body, not a GET. */
    assert_int_equal(lumira_stripe_call(s, "POST", "/v1/customers", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "POST /v1/customers ", 19) == 0);
    assert_non_null(strstr(req, "\r\nContent-Length: 0\r\n"));
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* An idempotency key that would add header lines of its own is refused, nothing sent. */
static void test_stripe_call_idempotency_key_crlf_refused(void **state)
{
    struct tu_http_server *srv = tu_http_start(NULL);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "POST", "/v1/customers", "a=1", 3,
                                        "k1\r\nX-Evil: 1", 3000, &reply),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_stripe_call(s, "POST", "/v1/customers", "a=1", 3, "k1\nX-Evil: 1",
                                        3000, &reply),
                     LUMIRA_EINVAL);
    assert_int_equal(reply.status, 0);
    assert_true(reply.error[0] != '\0');
    assert_no_key(&reply);
    assert_int_equal(tu_http_requests(srv), 0);
    assert_int_equal(tu_http_connections(srv), 0);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_call_unusable_key_sends_nothing(void **state)
{
    static const char *const keys[] = {NULL,
                                       "",
                                       "REPLACE_WITH_STRIPE",
                                       "REPLACE_WITH_sk_test",
                                       "sk_test_changeme",
                                       "sk_test_CHANGEME_123"};
    struct tu_http_server *srv = tu_http_start(NULL);
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(keys); i++) {
        struct lumira_stripe *s = client(tu_http_base(srv), keys[i]);
        struct lumira_stripe_reply reply;

        assert_false(lumira_stripe_configured(s));
        assert_string_equal(lumira_stripe_mode(s), "unknown");
        lumira_stripe_reply_init(&reply);
        assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                         LUMIRA_ECONFIG);
        assert_string_equal(reply.error, "STRIPE_SECRET_KEY not configured");
        assert_int_equal(reply.status, 0);
        assert_int_equal(
            lumira_stripe_call(s, "POST", "/v1/payment_intents", "a=1", 3, "k", 3000, &reply),
            LUMIRA_ECONFIG);
        lumira_stripe_reply_cleanup(&reply);
        lumira_stripe_free(s);
    }
    assert_int_equal(tu_http_requests(srv), 0);
    assert_int_equal(tu_http_connections(srv), 0);
    tu_http_stop(srv);
}

static void test_stripe_mode_from_prefix(void **state)
{
    static const struct {
        const char *key, *mode;
    } cases[] = {
        {"sk_test_abc", "test"},    {"sk_live_abc", "live"},     {"rk_test_abc", "test"},
        {"rk_live_abc", "live"},    {"pk_test_abc", "unknown"},  {"sk_abc", "unknown"},
        {"SK_TEST_abc", "unknown"}, {"xsk_test_abc", "unknown"}, {"sk_test", "unknown"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct lumira_stripe *s = client("http://127.0.0.1:9", cases[i].key);

        assert_true(lumira_stripe_configured(s));
        assert_string_equal(lumira_stripe_mode(s), cases[i].mode);
        lumira_stripe_free(s);
    }
}

/* Two calls on one handle both succeed, over a single kept-alive connection. */
static void test_stripe_call_reuses_handle_and_connection(void **state)
{
    struct tu_http_opts o = {.body = "{\"n\":1}", .keep_alive = 1};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;
    const char *req;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    assert_string_equal(reply.body.ptr, "{\"n\":1}");
    assert_int_equal(lumira_stripe_call(s, "POST", "/v1/customers", "email=a%40b.fr", 14, "idem-2",
                                        3000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body.ptr, "{\"n\":1}"); /* not appended to the first body */
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "POST /v1/customers ", 19) == 0);
    assert_non_null(strstr(req, "\r\nIdempotency-Key: idem-2\r\n"));
    /* A third call after a POST: the options were reset, this is a plain GET again. */
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 3000, &reply),
                     LUMIRA_OK);
    req = tu_http_last_request(srv);
    assert_true(strncmp(req, "GET /v1/balance ", 16) == 0);
    assert_null(strstr(req, "Idempotency-Key"));
    assert_int_equal(tu_http_requests(srv), 3);
    assert_int_equal(tu_http_connections(srv), 1);
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* A handle that failed once still works for the next call. */
static void test_stripe_call_recovers_after_failure(void **state)
{
    struct tu_http_opts slow = {.delay_ms = 800, .keep_alive = 1};
    struct tu_http_server *srv = tu_http_start(&slow);
    struct lumira_stripe *s = client(tu_http_base(srv), KEY);
    struct lumira_stripe_reply reply;

    (void)state;
    lumira_stripe_reply_init(&reply);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 200, &reply),
                     LUMIRA_ETIMEDOUT);
    assert_int_equal(lumira_stripe_call(s, "GET", "/v1/balance", NULL, 0, NULL, 5000, &reply),
                     LUMIRA_OK);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.error, "");
    lumira_stripe_reply_cleanup(&reply);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_stripe_form_add_encoding(void **state)
{
    static const struct {
        const char *key, *value, *want;
    } cases[] = {
        {"description", "a b", "description=a%20b"},
        {"q", "a&b=c", "q=a%26b%3Dc"},
        {"name", "J\xc3\xa9r\xc3\xb4me", "name=J%C3%A9r%C3%B4me"},
        {"metadata[orderId]", "65a1", "metadata%5BorderId%5D=65a1"},
        {"automatic_payment_methods[enabled]", "true",
         "automatic_payment_methods%5Benabled%5D=true"},
        {"email", "a+b@x.fr", "email=a%2Bb%40x.fr"},
        {"k", "-._~AZaz09", "k=-._~AZaz09"},
        {"k", "", "k="},
        {"k", "%/?#\"'\\", "k=%25%2F%3F%23%22%27%5C"},
        {"k", "\x01\x7f\xff", "k=%01%7F%FF"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct lumira_buf form;

        lumira_buf_init(&form, 4096);
        assert_int_equal(lumira_stripe_form_add(&form, cases[i].key, cases[i].value), LUMIRA_OK);
        assert_string_equal(form.ptr, cases[i].want);
        lumira_buf_cleanup(&form);
    }
}

static void test_stripe_form_add_joins_pairs(void **state)
{
    struct lumira_buf form;

    (void)state;
    lumira_buf_init(&form, 4096);
    assert_int_equal(lumira_stripe_form_add(&form, "a", "1"), LUMIRA_OK);
    assert_int_equal(lumira_stripe_form_add(&form, "b", "2 3"), LUMIRA_OK);
    assert_int_equal(lumira_stripe_form_add(&form, "c", ""), LUMIRA_OK);
    assert_string_equal(form.ptr, "a=1&b=2%203&c=");
    lumira_buf_cleanup(&form);
}

static void test_stripe_form_add_respects_cap(void **state)
{
    struct lumira_buf form;

    (void)state;
    lumira_buf_init(&form, 8);
    assert_int_equal(lumira_stripe_form_add(&form, "ab", "12345"), LUMIRA_OK); /* 8 bytes */
    assert_int_equal(form.len, 8);
    assert_int_equal(lumira_stripe_form_add(&form, "c", "d"), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&form);
    lumira_buf_init(&form, 8);
    assert_int_equal(lumira_stripe_form_add(&form, "k", "\xc3\xa9\xc3\xa9"), LUMIRA_ETOOBIG);
    assert_true(form.len <= 8);
    lumira_buf_cleanup(&form);
}

static void test_stripe_free_null(void **state)
{
    (void)state;
    lumira_stripe_free(NULL);
    lumira_stripe_reply_cleanup(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_call_ok_body_read_back),
        cmocka_unit_test(test_stripe_call_sends_bearer_key),
        cmocka_unit_test(test_stripe_call_http_500_is_ok),
        cmocka_unit_test(test_stripe_call_timeout),
        cmocka_unit_test(test_stripe_call_zero_timeout_still_bounded),
        cmocka_unit_test(test_stripe_call_refused_unavail),
        cmocka_unit_test(test_stripe_call_close_early_unavail),
        cmocka_unit_test(test_stripe_call_reply_cap_edges),
        cmocka_unit_test(test_stripe_call_post_form),
        cmocka_unit_test(test_stripe_call_post_form_by_length),
        cmocka_unit_test(test_stripe_call_idempotency_key_crlf_refused),
        cmocka_unit_test(test_stripe_call_unusable_key_sends_nothing),
        cmocka_unit_test(test_stripe_mode_from_prefix),
        cmocka_unit_test(test_stripe_call_reuses_handle_and_connection),
        cmocka_unit_test(test_stripe_call_recovers_after_failure),
        cmocka_unit_test(test_stripe_form_add_encoding),
        cmocka_unit_test(test_stripe_form_add_joins_pairs),
        cmocka_unit_test(test_stripe_form_add_respects_cap),
        cmocka_unit_test(test_stripe_free_null),
    };

    return cmocka_run_group_tests_name("stripe", tests, group_setup, group_teardown);
}
