/* Unit tests of src/probe.c: the background MongoDB ping, its tickets and deadlines, against
 * loopback peers (refused, silent, and the fake server of testutil). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "probe.h"
#include "testutil.h"

/* Slack on top of a timeout before a test calls it ignored: machines are shared and noisy. */
#define MARGIN_MS 1500
/* Long enough for any ping here to end (driver timeouts are 300 ms). */
#define LONG_WAIT_MS 5000

static int group_setup(void **state)
{
    (void)state;
    lumira_mongo_global_init(NULL);
    return 0;
}

/* A probe on 127.0.0.1:port with 300 ms driver timeouts; `creds` adds a user and password
 * (the fake server of testutil cannot authenticate). */
static struct lumira_probe *probe_creds(int port, const char *db, bool creds)
{
    static const struct lumira_mongo_timeouts t = {300, 300, 300, true};
    struct lumira_mongo *m = NULL;
    struct lumira_probe *p = NULL;
    char uri[128], err[256] = "";

    snprintf(uri, sizeof(uri), "mongodb://%s127.0.0.1:%d/%s", creds ? "u:secretpw@" : "", port, db);
    if (lumira_mongo_new(uri, "lumira-test", &t, &m, err, sizeof(err)) != LUMIRA_OK)
        fail_msg("lumira_mongo_new: %s", err);
    assert_int_equal(lumira_probe_new(m, &p), LUMIRA_OK);
    assert_non_null(p);
    return p;
}

static struct lumira_probe *probe_on(int port, const char *db)
{
    return probe_creds(port, db, false);
}

/* Waits until the silent peer has accepted `n` connections: a ping is then in flight. */
static void wait_connections(struct tu_silent *peer, int n)
{
    long long until = tu_now_ms() + LONG_WAIT_MS;

    while (tu_silent_connections(peer) < n) {
        if (tu_now_ms() > until)
            fail_msg("no connection to the silent peer");
        usleep(2000);
    }
}

static void test_probe_last_empty_before_ping(void **state)
{
    struct lumira_probe *p = probe_on(tu_closed_port(), "");
    struct lumira_probe_result r;

    (void)state;
    memset(&r, 0x5a, sizeof(r));
    lumira_probe_last(p, &r);
    assert_int_equal(r.done_ms, 0);
    assert_int_equal(r.err, LUMIRA_OK);
    assert_string_equal(r.msg, "");
    assert_true(lumira_probe_free(p));
}

static void test_probe_wait_refused_returns_failure(void **state)
{
    struct lumira_probe *p = probe_creds(tu_closed_port(), "", true);
    struct lumira_probe_result r, last;
    uint64_t ticket = 0;
    int64_t t0 = lumira_mono_ms();

    (void)state;
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    assert_true(ticket > 0);
    assert_int_equal(lumira_probe_wait(p, ticket, t0 + LONG_WAIT_MS, &r), LUMIRA_OK);
    assert_int_equal(r.err, LUMIRA_EUNAVAIL);
    assert_true(r.msg[0] != '\0');
    assert_null(strstr(r.msg, "secretpw"));
    assert_true(r.done_ms >= t0);
    assert_true(lumira_mono_ms() - t0 < MARGIN_MS);
    lumira_probe_last(p, &last);
    assert_int_equal(last.done_ms, r.done_ms);
    assert_int_equal(last.err, r.err);
    assert_true(lumira_probe_free(p));
}

static void test_probe_wait_ok_with_server(void **state)
{
    struct tu_mongo *peer = tu_mongo_start(0);
    struct lumira_probe *p = probe_on(tu_mongo_port(peer), "");
    struct lumira_probe_result r;
    uint64_t ticket;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    assert_int_equal(lumira_probe_wait(p, ticket, lumira_mono_ms() + LONG_WAIT_MS, &r), LUMIRA_OK);
    if (r.err != LUMIRA_OK)
        fail_msg("ping failed: %s", r.msg);
    assert_string_equal(r.msg, "");
    assert_true(r.rtt_ms >= 0);
    assert_true(r.done_ms > 0);
    assert_int_equal(tu_mongo_pings(peer), 1);
    assert_true(lumira_probe_free(p));
    tu_mongo_stop(peer);
}

/* The caller's deadline holds even though the driver would wait longer; the ping's own result
 * arrives later and is kept. */
static void test_probe_wait_deadline_silent(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct lumira_probe *p = probe_on(tu_silent_port(peer), "");
    struct lumira_probe_result r;
    uint64_t ticket;
    int64_t t0, deadline;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    t0 = lumira_mono_ms();
    deadline = t0 + 100;
    assert_int_equal(lumira_probe_wait(p, ticket, deadline, &r), LUMIRA_ETIMEDOUT);
    assert_true(lumira_mono_ms() >= deadline);
    assert_true(lumira_mono_ms() - t0 < 100 + MARGIN_MS);
    assert_int_equal(r.done_ms, 0); /* the last finished result: none yet */
    assert_int_equal(lumira_probe_wait(p, ticket, lumira_mono_ms() + LONG_WAIT_MS, &r), LUMIRA_OK);
    assert_int_equal(r.err, LUMIRA_ETIMEDOUT);
    assert_non_null(strstr(r.msg, "timeout"));
    assert_true(r.done_ms >= deadline);
    assert_true(lumira_probe_free(p));
    tu_silent_stop(peer);
}

/* A deadline already passed returns at once. */
static void test_probe_wait_past_deadline(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct lumira_probe *p = probe_on(tu_silent_port(peer), "");
    struct lumira_probe_result r;
    uint64_t ticket;
    int64_t t0;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    t0 = lumira_mono_ms();
    assert_int_equal(lumira_probe_wait(p, ticket, t0 - 10, &r), LUMIRA_ETIMEDOUT);
    assert_int_equal(lumira_probe_wait(p, ticket, 0, &r), LUMIRA_ETIMEDOUT);
    assert_true(lumira_mono_ms() - t0 < 200);
    assert_int_equal(lumira_probe_wait(p, ticket, lumira_mono_ms() + LONG_WAIT_MS, &r), LUMIRA_OK);
    assert_true(lumira_probe_free(p));
    tu_silent_stop(peer);
}

/* A ticket handed out while a ping is in flight is answered by a later ping, never by the one
 * that started before it was asked for. */
static void test_probe_later_ticket_not_satisfied_by_earlier_ping(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct lumira_probe *p = probe_on(tu_silent_port(peer), "");
    struct lumira_probe_result r1, r2;
    uint64_t t1, t2;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &t1), LUMIRA_OK);
    wait_connections(peer, 1); /* ping 1 is in flight */
    assert_int_equal(lumira_probe_start(p, &t2), LUMIRA_OK);
    assert_true(t2 > t1);
    assert_int_equal(lumira_probe_wait(p, t1, lumira_mono_ms() + LONG_WAIT_MS, &r1), LUMIRA_OK);
    assert_true(r1.done_ms > 0);
    /* Ping 2 needs a new connection and another 300 ms: 50 ms is not enough for it. */
    assert_int_equal(lumira_probe_wait(p, t2, lumira_mono_ms() + 50, &r2), LUMIRA_ETIMEDOUT);
    assert_int_equal(r2.done_ms, r1.done_ms); /* for information: the earlier result */
    assert_int_equal(lumira_probe_wait(p, t2, lumira_mono_ms() + LONG_WAIT_MS, &r2), LUMIRA_OK);
    assert_true(r2.done_ms > r1.done_ms);
    assert_int_equal(tu_silent_connections(peer), 2);
    /* An earlier ticket is satisfied at once by a later result. */
    assert_int_equal(lumira_probe_wait(p, t1, lumira_mono_ms(), &r1), LUMIRA_OK);
    assert_int_equal(r1.done_ms, r2.done_ms);
    assert_true(lumira_probe_free(p));
    tu_silent_stop(peer);
}

static void test_probe_tickets_increase(void **state)
{
    struct lumira_probe *p = probe_on(tu_closed_port(), "");
    struct lumira_probe_result r;
    uint64_t a, b, c;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &a), LUMIRA_OK);
    assert_int_equal(lumira_probe_start(p, &b), LUMIRA_OK);
    assert_int_equal(lumira_probe_start(p, &c), LUMIRA_OK);
    assert_int_equal(b, a + 1);
    assert_int_equal(c, b + 1);
    assert_int_equal(lumira_probe_wait(p, c, lumira_mono_ms() + LONG_WAIT_MS, &r), LUMIRA_OK);
    assert_int_equal(r.err, LUMIRA_EUNAVAIL);
    assert_true(lumira_probe_free(p));
}

static void test_probe_free_idle_true(void **state)
{
    struct lumira_probe *p = probe_on(tu_closed_port(), "");
    struct lumira_probe_result r;
    uint64_t ticket;

    (void)state;
    assert_true(lumira_probe_free(NULL));
    assert_true(lumira_probe_free(probe_on(tu_closed_port(), ""))); /* thread never started */
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    assert_int_equal(lumira_probe_wait(p, ticket, lumira_mono_ms() + LONG_WAIT_MS, &r), LUMIRA_OK);
    assert_true(lumira_probe_free(p)); /* started, idle */
}

/* Freeing while a ping is blocked in the driver returns false at once and nothing crashes when
 * the ping ends later (the sanitizer build checks for use after free and leaks). */
static void test_probe_free_in_flight_false(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    struct lumira_probe *p = probe_on(tu_silent_port(peer), "");
    uint64_t ticket;
    long long t0;

    (void)state;
    assert_int_equal(lumira_probe_start(p, &ticket), LUMIRA_OK);
    wait_connections(peer, 1);
    t0 = tu_now_ms();
    assert_false(lumira_probe_free(p));
    assert_true(tu_now_ms() - t0 < 200); /* did not wait for the ping */
    /* Let the orphaned ping end (its peer goes away) and its thread finish. */
    tu_silent_stop(peer);
    usleep(700 * 1000);
}

static void test_probe_dbname_hosts(void **state)
{
    struct lumira_probe *p = probe_on(4321, "shop");

    (void)state;
    assert_string_equal(lumira_probe_dbname(p), "shop");
    assert_string_equal(lumira_probe_hosts(p), "127.0.0.1:4321");
    assert_true(lumira_probe_free(p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_last_empty_before_ping),
        cmocka_unit_test(test_probe_wait_refused_returns_failure),
        cmocka_unit_test(test_probe_wait_ok_with_server),
        cmocka_unit_test(test_probe_wait_deadline_silent),
        cmocka_unit_test(test_probe_wait_past_deadline),
        cmocka_unit_test(test_probe_later_ticket_not_satisfied_by_earlier_ping),
        cmocka_unit_test(test_probe_tickets_increase),
        cmocka_unit_test(test_probe_free_idle_true),
        cmocka_unit_test(test_probe_free_in_flight_false),
        cmocka_unit_test(test_probe_dbname_hosts),
    };

    return cmocka_run_group_tests_name("probe", tests, group_setup, NULL);
}
