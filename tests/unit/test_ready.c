/* Unit tests of src/ready.c: the readiness check (MongoDB ping and Stripe call at the same time,
 * each under its own timeout, the whole under an overall one) against loopback peers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "ready.h"
#include "testutil.h"

#define KEY "sk_test_51ReadyFakeKey0123456789"
/* Slack on top of a timeout before a test calls it ignored: machines are shared and noisy. */
#define MARGIN_MS 1200

/* What Stripe answers to GET /v1/balance (the check wants a balance object). */
#define BALANCE "{\"object\":\"balance\",\"available\":[]}"
static const struct tu_http_opts balance = {.body = BALANCE};

static int group_setup(void **state)
{
    (void)state;
    lumira_mongo_global_init(NULL);
    lumira_stripe_global_init();
    return 0;
}

static struct lumira_stripe *stripe_on(const char *base, const char *key)
{
    struct lumira_stripe *s = NULL;

    assert_int_equal(lumira_stripe_new(base, key, &s), LUMIRA_OK);
    return s;
}

/* A probe on 127.0.0.1:port whose driver gives up after `ms`. */
static struct lumira_probe *probe_on(int port, int32_t ms)
{
    struct lumira_mongo_timeouts t = {ms, ms, ms, true};
    struct lumira_mongo *m = NULL;
    struct lumira_probe *p = NULL;
    char uri[128], err[256] = "";

    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/lumira", port);
    if (lumira_mongo_new(uri, "lumira-test", &t, &m, err, sizeof(err)) != LUMIRA_OK)
        fail_msg("lumira_mongo_new: %s", err);
    assert_int_equal(lumira_probe_new(m, &p), LUMIRA_OK);
    return p;
}

/* Ends the probe of a silent peer: the peer goes away, so any ping still in flight ends, and a
 * last ping (refused at once) makes sure the thread is idle before it is freed. */
static void probe_drain_free(struct lumira_probe *p, struct tu_silent *peer)
{
    struct lumira_probe_result r;
    uint64_t ticket;

    tu_silent_stop(peer);
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    assert_int_equal(lumira_probe_wait(p, ticket, lumira_mono_ms() + 10000, &r), LUMIRA_OK);
    assert_true(lumira_probe_free(p));
}

static void run(struct lumira_probe *p, struct lumira_stripe *s, int64_t total, int64_t mongo,
                int64_t stripe, struct lumira_ready_report *out, long long *took)
{
    struct lumira_ready_limits l = {total, mongo, stripe};
    long long t0 = tu_now_ms();

    lumira_ready_run(p, s, &l, out);
    *took = tu_now_ms() - t0;
    assert_non_null(out->ready_status);
}

static void test_ready_run_without_mongo_uri(void **state)
{
    struct tu_http_opts o = {.body = "{\"object\":\"balance\"}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(NULL, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.ready_status, "not-ready");
    assert_false(rep.mongo.ok);
    assert_string_equal(rep.mongo.error, "MONGODB_URI not configured");
    assert_false(rep.mongo.cut);
    assert_true(rep.stripe.ok);
    assert_string_equal(rep.stripe.error, "");
    assert_false(rep.stripe.cut);
    assert_int_equal(tu_http_requests(srv), 1);
    assert_true(strncmp(tu_http_last_request(srv), "GET /v1/balance ", 16) == 0);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_ready_run_all_ok(void **state)
{
    struct tu_http_server *srv = tu_http_start(&balance);
    struct tu_mongo *db = tu_mongo_start(0);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_mongo_port(db), 2000);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 2000, 3000, &rep, &took);
    if (!rep.mongo.ok)
        fail_msg("mongo: %s", rep.mongo.error);
    assert_int_equal(rep.http_status, 200);
    assert_string_equal(rep.ready_status, "ok");
    assert_true(rep.stripe.ok);
    assert_string_equal(rep.mongo.error, "");
    assert_string_equal(rep.stripe.error, "");
    assert_true(rep.mongo.elapsed_ms >= 0);
    assert_true(rep.stripe.elapsed_ms >= 0);
    /* A second run asks for a new ping; it does not reuse the first answer. */
    run(p, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 200);
    assert_int_equal(tu_mongo_pings(db), 2);
    assert_int_equal(tu_http_requests(srv), 2);
    assert_true(lumira_probe_free(p));
    lumira_stripe_free(s);
    tu_mongo_stop(db);
    tu_http_stop(srv);
}

static void test_ready_run_stripe_key_placeholder(void **state)
{
    static const char *const keys[] = {NULL, "", "REPLACE_WITH_STRIPE_SECRET_KEY",
                                       "sk_test_changeme"};
    struct tu_http_server *srv = tu_http_start(&balance);
    struct lumira_ready_report rep;
    long long took;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct lumira_stripe *s = stripe_on(tu_http_base(srv), keys[i]);

        run(NULL, s, 5000, 2000, 3000, &rep, &took);
        assert_int_equal(rep.http_status, 503);
        assert_string_equal(rep.ready_status, "not-ready");
        assert_false(rep.stripe.ok);
        assert_string_equal(rep.stripe.error, "STRIPE_SECRET_KEY not configured");
        lumira_stripe_free(s);
    }
    /* No client at all: the same answer. */
    run(NULL, NULL, 5000, 2000, 3000, &rep, &took);
    assert_string_equal(rep.stripe.error, "STRIPE_SECRET_KEY not configured");
    assert_int_equal(tu_http_requests(srv), 0);
    tu_http_stop(srv);
}

static void test_ready_run_stripe_500(void **state)
{
    struct tu_http_opts o = {.status = 500, .body = "{\"error\":{}}"};
    struct tu_http_server *srv = tu_http_start(&o);
    struct tu_mongo *db = tu_mongo_start(0);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_mongo_port(db), 2000);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.ready_status, "not-ready");
    assert_false(rep.stripe.ok);
    assert_non_null(strstr(rep.stripe.error, "500"));
    assert_null(strstr(rep.stripe.error, KEY));
    assert_string_equal(rep.stripe.generic, "HTTP 500");
    assert_true(rep.mongo.ok);
    assert_string_equal(rep.mongo.generic, "");
    assert_true(lumira_probe_free(p));
    lumira_stripe_free(s);
    tu_mongo_stop(db);
    tu_http_stop(srv);
}

static void test_ready_run_stripe_refused(void **state)
{
    char base[64];
    struct lumira_stripe *s;
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", tu_closed_port());
    s = stripe_on(base, KEY);
    run(NULL, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_false(rep.stripe.ok);
    assert_true(rep.stripe.error[0] != '\0');
    assert_null(strstr(rep.stripe.error, KEY));
    assert_string_equal(rep.stripe.generic, "connection failed");
    assert_true(took < MARGIN_MS);
    lumira_stripe_free(s);
}

/* Stripe slower than its own timeout: a failed check (503), not a cut one (408). */
static void test_ready_run_stripe_own_timeout(void **state)
{
    struct tu_http_opts o = {.delay_ms = 1500};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(NULL, s, 5000, 2000, 300, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.ready_status, "not-ready");
    assert_false(rep.stripe.ok);
    assert_non_null(strstr(rep.stripe.error, "timeout"));
    assert_false(rep.stripe.cut);
    assert_true(took < 300 + MARGIN_MS);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* The overall budget runs out before Stripe's own timeout: 408 "timeout". */
static void test_ready_run_total_budget_cut(void **state)
{
    struct tu_http_opts o = {.delay_ms = 2000};
    struct tu_http_server *srv = tu_http_start(&o);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(NULL, s, 300, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 408);
    assert_string_equal(rep.ready_status, "timeout");
    assert_true(rep.stripe.cut);
    assert_false(rep.stripe.ok);
    assert_non_null(strstr(rep.stripe.error, "timeout"));
    assert_string_equal(rep.stripe.generic, "timeout");
    /* A cut check is not a complete result: it is never reused. */
    assert_false(lumira_ready_complete(&rep));
    assert_true(took < 300 + MARGIN_MS);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* A database that accepts but never answers: the mongo check fails on "timeout" within its own
 * bound, and the whole run does not wait for the driver. */
static void test_ready_run_mongo_silent_timeout(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct tu_http_server *srv = tu_http_start(&balance);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_silent_port(peer), 300);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 300, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.ready_status, "not-ready");
    assert_false(rep.mongo.ok);
    assert_false(rep.mongo.cut);
    assert_non_null(strstr(rep.mongo.error, "timeout"));
    assert_true(rep.stripe.ok);
    assert_true(took < 300 + MARGIN_MS);
    probe_drain_free(p, peer);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* The overall budget runs out while the ping is still waiting on its own (longer) timeout. */
static void test_ready_run_mongo_budget_cut(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct tu_http_server *srv = tu_http_start(&balance);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_silent_port(peer), 3000);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 300, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 408);
    assert_string_equal(rep.ready_status, "timeout");
    assert_true(rep.mongo.cut);
    assert_non_null(strstr(rep.mongo.error, "timeout"));
    assert_true(took < 300 + MARGIN_MS);
    probe_drain_free(p, peer);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

static void test_ready_run_mongo_refused(void **state)
{
    struct tu_http_server *srv = tu_http_start(&balance);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_closed_port(), 2000);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.ready_status, "not-ready");
    assert_false(rep.mongo.ok);
    assert_false(rep.mongo.cut);
    assert_true(rep.mongo.error[0] != '\0');
    assert_string_equal(rep.mongo.generic, "connection failed");
    assert_true(lumira_ready_complete(&rep));
    assert_true(rep.stripe.ok);
    assert_true(lumira_probe_free(p));
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* Both checks take about 400 ms; run one after the other they would take 800. */
static void test_ready_run_checks_concurrent(void **state)
{
    struct tu_http_opts o = {.body = BALANCE, .delay_ms = 400};
    struct tu_http_server *srv = tu_http_start(&o);
    struct tu_mongo *db = tu_mongo_start(400);
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_mongo_port(db), 3000);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 3000, 3000, &rep, &took);
    if (!rep.mongo.ok)
        fail_msg("mongo: %s", rep.mongo.error);
    assert_int_equal(rep.http_status, 200);
    assert_true(rep.stripe.ok);
    assert_true(rep.mongo.elapsed_ms >= 300); /* the delay really applied to both */
    assert_true(rep.stripe.elapsed_ms >= 300);
    assert_true(took < 750);
    assert_true(lumira_probe_free(p));
    lumira_stripe_free(s);
    tu_mongo_stop(db);
    tu_http_stop(srv);
}

/* The same with a database that never answers and gives up after 400 ms. */
static void test_ready_run_checks_concurrent_mongo_failing(void **state)
{
    struct tu_http_opts o = {.body = BALANCE, .delay_ms = 400};
    struct tu_http_server *srv = tu_http_start(&o);
    struct tu_silent *peer = tu_silent_start();
    struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
    struct lumira_probe *p = probe_on(tu_silent_port(peer), 400);
    struct lumira_ready_report rep;
    long long took;

    (void)state;
    run(p, s, 5000, 2000, 3000, &rep, &took);
    assert_int_equal(rep.http_status, 503);
    assert_true(rep.stripe.ok);
    assert_false(rep.mongo.ok);
    assert_non_null(strstr(rep.mongo.error, "timeout"));
    assert_string_equal(rep.mongo.generic, "timeout");
    assert_true(took < 750);
    probe_drain_free(p, peer);
    lumira_stripe_free(s);
    tu_http_stop(srv);
}

/* A 2xx that is not a balance (a proxy's page) and a 401 (a revoked key) are failures, each
 * with its generic kind; the detail never carries the key. */
static void test_ready_run_stripe_generic_kinds(void **state)
{
    static const struct {
        int status;
        const char *body, *generic;
    } cases[] = {
        {200, "<html>portal</html>", "invalid answer"},
        {200, "{\"object\":\"customer\"}", "invalid answer"},
        {200, "{}", "invalid answer"},
        {401, "{\"error\":{\"type\":\"invalid_request_error\"}}", "authentication failed"},
        {429, "{}", "HTTP 429"},
        {503, "{}", "HTTP 503"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tu_http_opts o = {.status = cases[i].status, .body = cases[i].body};
        struct tu_http_server *srv = tu_http_start(&o);
        struct lumira_stripe *s = stripe_on(tu_http_base(srv), KEY);
        struct lumira_ready_report rep;
        long long took;

        run(NULL, s, 5000, 2000, 3000, &rep, &took);
        assert_false(rep.stripe.ok);
        if (strcmp(rep.stripe.generic, cases[i].generic) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, rep.stripe.generic, cases[i].generic);
        assert_true(rep.stripe.error[0] != '\0');
        assert_null(strstr(rep.stripe.error, KEY));
        assert_string_equal(rep.mongo.generic, "MONGODB_URI not configured");
        assert_true(lumira_ready_complete(&rep));
        lumira_stripe_free(s);
        tu_http_stop(srv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_run_without_mongo_uri),
        cmocka_unit_test(test_ready_run_all_ok),
        cmocka_unit_test(test_ready_run_stripe_key_placeholder),
        cmocka_unit_test(test_ready_run_stripe_500),
        cmocka_unit_test(test_ready_run_stripe_refused),
        cmocka_unit_test(test_ready_run_stripe_own_timeout),
        cmocka_unit_test(test_ready_run_total_budget_cut),
        cmocka_unit_test(test_ready_run_mongo_silent_timeout),
        cmocka_unit_test(test_ready_run_mongo_budget_cut),
        cmocka_unit_test(test_ready_run_mongo_refused),
        cmocka_unit_test(test_ready_run_checks_concurrent),
        cmocka_unit_test(test_ready_run_checks_concurrent_mongo_failing),
        cmocka_unit_test(test_ready_run_stripe_generic_kinds),
    };

    return cmocka_run_group_tests_name("ready", tests, group_setup, NULL);
}
