/* Unit tests of src/metrics.c and src/metrics_render.c: the scoreboard file (made, reused, a bad
 * one replaced or refused), slot claims (free, a dead worker's kept with its counters, a full
 * table, concurrent starts), /proc/<pid>/stat parsing, buckets, and the exposition text. Other
 * workers are real child processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "testutil.h"

static const struct lumira_route routes[] = {
    {"GET", "/api/x", NULL},
    {"POST", "/api/x/:id", NULL},
};
#define NROUTES 2

static int tmp_setup(void **state)
{
    *state = tu_tmp_new("metrics", "metrics-t.scoreboard");
    return *state == NULL ? -1 : 0;
}

static int tmp_teardown(void **state)
{
    return tu_tmp_free(*state);
}

static uint64_t start_of(pid_t pid)
{
    struct lumira_metrics_proc p;

    assert_int_equal(lumira_metrics_proc_read(pid, &p), LUMIRA_OK);
    return p.start_ticks;
}

static void open_board(struct tu_tmp *t, struct lumira_metrics_board *b, uint32_t nslots)
{
    char err[256];

    assert_int_equal(
        lumira_metrics_board_open(b, t->dir, "t", routes, NROUTES, nslots, err, sizeof(err)),
        LUMIRA_OK);
}

/* A child that claims a slot with the process hooks, counts `n` requests on route 0 and then
 * either exits without releasing (crash) or stops gracefully; the parent waits for it. */
static void child_worker(struct tu_tmp *t, int n, bool graceful)
{
    pid_t pid = fork();
    int status, i;

    assert_true(pid >= 0);
    if (pid == 0) {
        lumira_metrics_set_dir(t->dir);
        lumira_metrics_start("lumira-t", routes, NROUTES);
        if (!lumira_metrics_active())
            _exit(3);
        for (i = 0; i < n; i++) {
            lumira_metrics_busy();
            lumira_metrics_request(0, 200, 1500);
        }
        lumira_metrics_order_created(2);
        if (graceful)
            lumira_metrics_stop();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A child that claims a slot with the process hooks and then waits to be killed
 * (holder_stop). */
static pid_t child_holder(struct tu_tmp *t)
{
    int ready[2];
    pid_t pid;
    char c;

    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        lumira_metrics_set_dir(t->dir);
        lumira_metrics_start("lumira-t", routes, NROUTES);
        c = lumira_metrics_active() ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(c, 'y');
    return pid;
}

static void holder_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_metrics_path(void **state)
{
    char out[64];

    (void)state;
    assert_true(lumira_metrics_path("/run/lumira", "orders", out, sizeof(out)));
    assert_string_equal(out, "/run/lumira/metrics-orders.scoreboard");
    assert_false(lumira_metrics_path("/run", "", out, sizeof(out)));
    assert_false(lumira_metrics_path("/run", "../x", out, sizeof(out)));
    assert_false(lumira_metrics_path("/run", "Orders", out, sizeof(out)));
    assert_false(lumira_metrics_path("/run", "abcdefghijklmnopqrstuvwxyz012345", out, sizeof(out)));
    assert_true(lumira_metrics_path("/run", "abcdefghijklmnopqrstuvwxyz01234", out, sizeof(out)));
    assert_false(lumira_metrics_path("/a-long-directory-name-here", "orders", out, 20));
}

static void test_metrics_open_creates(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b, r;
    struct stat st;
    char err[256];

    open_board(t, &b, 4);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal((size_t)st.st_size,
                     LUMIRA_METRICS_SLOTS_OFFSET + 4 * sizeof(struct lumira_metrics_slot));
    assert_int_equal(b.nslots, 4);
    assert_string_equal(b.hdr->group, "t");
    assert_int_equal(b.hdr->nroutes, NROUTES);
    assert_string_equal(b.hdr->routes[1].pattern, "/api/x/:id");
    assert_int_equal((uintptr_t)b.slots % 64, 0);
    assert_int_equal(sizeof(struct lumira_metrics_slot) % 64, 0);
    /* The reader sees the same file. */
    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "t", err, sizeof(err)), LUMIRA_OK);
    assert_int_equal(r.nslots, 4);
    lumira_metrics_board_close(&r);
    lumira_metrics_board_close(&b);
    lumira_metrics_board_close(&b); /* twice is harmless */
}

static void test_metrics_open_refuses_bad_args(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    struct lumira_route long_route = {
        "GET", "/api/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL};
    char err[256];

    assert_int_equal(
        lumira_metrics_board_open(&b, t->dir, "t", routes, NROUTES, 0, err, sizeof(err)),
        LUMIRA_EINVAL);
    assert_int_equal(lumira_metrics_board_open(&b, t->dir, "t", routes, NROUTES,
                                               LUMIRA_METRICS_MAX_SLOTS + 1, err, sizeof(err)),
                     LUMIRA_EINVAL);
    assert_int_equal(lumira_metrics_board_open(&b, t->dir, "t", routes,
                                               LUMIRA_METRICS_MAX_ROUTES + 1, 4, err, sizeof(err)),
                     LUMIRA_EINVAL);
    assert_int_equal(
        lumira_metrics_board_open(&b, t->dir, "t", &long_route, 1, 4, err, sizeof(err)),
        LUMIRA_EINVAL);
    assert_int_equal(lumira_metrics_board_open(&b, "/nonexistent-dir-of-lumira", "t", routes,
                                               NROUTES, 4, err, sizeof(err)),
                     LUMIRA_EIO);
    assert_non_null(strstr(err, "/nonexistent-dir-of-lumira"));
    lumira_metrics_board_close(&b);
}

static void test_metrics_claim_free_then_next(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    struct lumira_metrics_slot *s1, *s2;
    bool restarted = true;
    pid_t other;

    open_board(t, &b, LUMIRA_METRICS_MAX_SLOTS);
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s1, &restarted),
                     LUMIRA_OK);
    assert_false(restarted);
    assert_ptr_equal(s1, &b.slots[0]);
    assert_int_equal(lumira_metrics_owner_pid(s1->owner), getpid());
    assert_true(lumira_metrics_owner_alive(s1->owner));
    /* A live second worker (a child) takes the next slot. */
    other = child_holder(t);
    assert_int_equal(lumira_metrics_owner_pid(b.slots[1].owner), other);
    /* Our own live slot is never taken again; a third claim gets slot 2. */
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s2, &restarted),
                     LUMIRA_OK);
    assert_ptr_equal(s2, &b.slots[2]);
    holder_stop(other);
    lumira_metrics_board_close(&b);
}

static void test_metrics_dead_slot_keeps_counters(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    struct lumira_metrics_slot *s;
    bool restarted = false;

    child_worker(t, 5, false); /* dies holding slot 0 */
    open_board(t, &b, LUMIRA_METRICS_MAX_SLOTS);
    assert_int_not_equal(b.slots[0].owner, 0);
    assert_false(lumira_metrics_owner_alive(b.slots[0].owner));
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted),
                     LUMIRA_OK);
    assert_true(restarted);
    assert_ptr_equal(s, &b.slots[0]);
    assert_int_equal(s->requests[0][1], 5);        /* 2xx of route 0 */
    assert_int_equal(s->latency[0].buckets[1], 5); /* 1.5 ms: the 2.5 ms bucket */
    assert_int_equal(s->latency[0].sum_us, 5 * 1500);
    assert_int_equal(s->orders_created[1], 1);
    assert_int_equal(s->restarts, 1);
    lumira_metrics_board_close(&b);
}

static void test_metrics_graceful_stop_frees_slot(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    struct lumira_metrics_slot *s;
    bool restarted = true;

    child_worker(t, 3, true);
    child_worker(t, 4, true); /* takes the freed slot 0 again: counters add up */
    open_board(t, &b, LUMIRA_METRICS_MAX_SLOTS);
    assert_int_equal(b.slots[0].owner, 0);
    assert_int_equal(b.slots[0].requests[0][1], 7);
    assert_int_equal(b.slots[1].requests[0][1], 0);
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted),
                     LUMIRA_OK);
    assert_false(restarted);
    assert_int_equal(s->restarts, 0);
    lumira_metrics_board_close(&b);
}

static void test_metrics_full_table(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    struct lumira_metrics_slot *s;
    bool restarted;
    pid_t c1, c2;

    /* A two-slot file, made first so the children use it (their open asks for 64 slots and
     * would replace it: so they claim through this board's layout instead). */
    open_board(t, &b, 2);
    c1 = fork();
    assert_true(c1 >= 0);
    if (c1 == 0) {
        _exit(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted) == LUMIRA_OK
                  ? (pause(), 0)
                  : 1);
    }
    c2 = fork();
    assert_true(c2 >= 0);
    if (c2 == 0) {
        _exit(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted) == LUMIRA_OK
                  ? (pause(), 0)
                  : 1);
    }
    for (int i = 0; i < 200 && (b.slots[0].owner == 0 || b.slots[1].owner == 0); i++)
        usleep(10000);
    assert_int_not_equal(b.slots[0].owner, 0);
    assert_int_not_equal(b.slots[1].owner, 0);
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted),
                     LUMIRA_ETOOBIG);
    assert_null(s);
    kill(c1, SIGKILL);
    assert_int_equal(waitpid(c1, NULL, 0), c1);
    /* One died: its slot is taken, as a restart. */
    assert_int_equal(lumira_metrics_board_claim(&b, getpid(), start_of(0), &s, &restarted),
                     LUMIRA_OK);
    assert_true(restarted);
    kill(c2, SIGKILL);
    assert_int_equal(waitpid(c2, NULL, 0), c2);
    lumira_metrics_board_close(&b);
}

static void test_metrics_full_table_process_serves_without(void **state)
{
    struct tu_tmp *t = *state;
    pid_t pids[LUMIRA_METRICS_MAX_SLOTS];
    size_t i;

    for (i = 0; i < LUMIRA_METRICS_MAX_SLOTS; i++)
        pids[i] = child_holder(t);
    lumira_metrics_set_dir(t->dir);
    lumira_metrics_start("lumira-t", routes, NROUTES);
    assert_false(lumira_metrics_active());
    /* The hooks are no-ops without a slot. */
    lumira_metrics_busy();
    lumira_metrics_request(0, 200, 10);
    lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_OK, 10);
    lumira_metrics_event("payment_intent.succeeded", LUMIRA_METRICS_EV_APPLIED);
    lumira_metrics_order_paid(1);
    for (i = 0; i < LUMIRA_METRICS_MAX_SLOTS; i++)
        holder_stop(pids[i]);
    lumira_metrics_set_dir(NULL);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void test_metrics_bad_file_replaced(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b, r;
    char err[256];

    write_file(t->path, "not a scoreboard", 16);
    /* A reader refuses it, and changes nothing. */
    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "t", err, sizeof(err)), LUMIRA_EINVAL);
    assert_non_null(strstr(err, "not a scoreboard"));
    /* A writer replaces it. */
    open_board(t, &b, 4);
    assert_int_equal(b.hdr->magic, LUMIRA_METRICS_MAGIC);
    b.slots[0].requests[0][1] = 9;
    lumira_metrics_board_close(&b);
    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "t", err, sizeof(err)), LUMIRA_OK);
    assert_int_equal(r.slots[0].requests[0][1], 9);
    lumira_metrics_board_close(&r);
}

static void test_metrics_other_version_replaced(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b, r;
    char err[256];

    open_board(t, &b, 4);
    b.slots[0].requests[0][1] = 9;
    b.hdr->version = LUMIRA_METRICS_VERSION + 1;
    lumira_metrics_board_close(&b);
    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "t", err, sizeof(err)), LUMIRA_EINVAL);
    open_board(t, &b, 4);
    assert_int_equal(b.hdr->version, LUMIRA_METRICS_VERSION);
    assert_int_equal(b.slots[0].requests[0][1], 0); /* a new file: counters start again */
    lumira_metrics_board_close(&b);
}

static void test_metrics_route_change_replaced(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    char err[256];

    open_board(t, &b, 4);
    b.slots[0].requests[0][1] = 9;
    lumira_metrics_board_close(&b);
    assert_int_equal(lumira_metrics_board_open(&b, t->dir, "t", routes, 1, 4, err, sizeof(err)),
                     LUMIRA_OK);
    assert_int_equal(b.hdr->nroutes, 1);
    assert_int_equal(b.slots[0].requests[0][1], 0);
    lumira_metrics_board_close(&b);
    /* The same table again: the file is reused, counters kept. */
    assert_int_equal(lumira_metrics_board_open(&b, t->dir, "t", routes, 1, 4, err, sizeof(err)),
                     LUMIRA_OK);
    b.slots[0].requests[0][1] = 3;
    lumira_metrics_board_close(&b);
    assert_int_equal(lumira_metrics_board_open(&b, t->dir, "t", routes, 1, 4, err, sizeof(err)),
                     LUMIRA_OK);
    assert_int_equal(b.slots[0].requests[0][1], 3);
    lumira_metrics_board_close(&b);
}

static void test_metrics_map_missing(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board r;
    char err[256];

    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "t", err, sizeof(err)), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_metrics_board_map(&r, t->dir, "../t", err, sizeof(err)), LUMIRA_EINVAL);
}

/* Eight workers start at once on a directory without a file: one file, eight distinct slots. */
static void test_metrics_concurrent_start(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_metrics_board b;
    pid_t pids[8];
    int go[2], status, i, j;
    char c = 'g';

    assert_int_equal(pipe(go), 0);
    for (i = 0; i < 8; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(2);
            lumira_metrics_set_dir(t->dir);
            lumira_metrics_start("lumira-t", routes, NROUTES);
            if (!lumira_metrics_active())
                _exit(3);
            lumira_metrics_request(1, 404, 50);
            lumira_metrics_stop();
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]); /* all start */
    for (i = 0; i < 8; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    open_board(t, &b, LUMIRA_METRICS_MAX_SLOTS);
    {
        uint64_t total = 0;

        for (j = 0; j < LUMIRA_METRICS_MAX_SLOTS; j++)
            total += b.slots[j].requests[1][3];
        assert_int_equal(total, 8);
    }
    lumira_metrics_board_close(&b);
    (void)c;
}

static void test_metrics_proc_parse(void **state)
{
    static const char good[] =
        "1234 (a) b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 987654 1000000 "
        "321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    struct lumira_metrics_proc p;

    (void)state;
    assert_int_equal(lumira_metrics_proc_parse(good, sizeof(good) - 1, &p), LUMIRA_OK);
    assert_int_equal(p.cpu_ticks, 300);
    assert_int_equal(p.start_ticks, 987654);
    assert_int_equal(p.rss_pages, 321);
    assert_int_equal(lumira_metrics_proc_parse("1234 (a) S 1", 12, &p), LUMIRA_EINVAL);
    assert_int_equal(lumira_metrics_proc_parse("1234 no paren", 13, &p), LUMIRA_EINVAL);
    assert_int_equal(lumira_metrics_proc_parse("", 0, &p), LUMIRA_EINVAL);
    {
        static const char bad[] = "1 (a) S 1 1 1 0 -1 4 100 0 0 0 x5 50 0 0 20 0 1 0 9 1 3 1\n";

        assert_int_equal(lumira_metrics_proc_parse(bad, sizeof(bad) - 1, &p), LUMIRA_EINVAL);
    }
    assert_int_equal(lumira_metrics_proc_read(0, &p), LUMIRA_OK);
    assert_true(p.rss_pages > 0);
    assert_int_equal(lumira_metrics_proc_read(-5, &p), LUMIRA_EIO);
}

static void test_metrics_bucket_edges(void **state)
{
    (void)state;
    assert_int_equal(lumira_metrics_bucket(0), 0);
    assert_int_equal(lumira_metrics_bucket(1000), 0);
    assert_int_equal(lumira_metrics_bucket(1001), 1);
    assert_int_equal(lumira_metrics_bucket(2500), 1);
    assert_int_equal(lumira_metrics_bucket(9999999), 12);
    assert_int_equal(lumira_metrics_bucket(10000000), 12);
    assert_int_equal(lumira_metrics_bucket(10000001), LUMIRA_METRICS_BUCKETS);
    assert_int_equal(lumira_metrics_bucket(INT64_MAX), LUMIRA_METRICS_BUCKETS);
}

static void test_metrics_outcomes(void **state)
{
    (void)state;
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_OK), LUMIRA_METRICS_OK);
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_ENOTFOUND), LUMIRA_METRICS_OK);
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_EEXIST), LUMIRA_METRICS_OK);
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_ETIMEDOUT), LUMIRA_METRICS_TIMEOUT);
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_EUNAVAIL), LUMIRA_METRICS_UNAVAILABLE);
    assert_int_equal(lumira_metrics_outcome_of(LUMIRA_EINTERNAL), LUMIRA_METRICS_ERROR);
}

static void test_metrics_label_escape(void **state)
{
    struct lumira_buf b;

    (void)state;
    lumira_buf_init(&b, 64);
    assert_int_equal(lumira_metrics_label_value(&b, "a\\b\"c\nd"), LUMIRA_OK);
    assert_int_equal(lumira_buf_add(&b, "", 1), LUMIRA_OK);
    assert_string_equal(b.ptr, "a\\\\b\\\"c\\nd");
    lumira_buf_cleanup(&b);
}

/* The exposition of two groups, one without a file. */
static void test_metrics_render(void **state)
{
    struct tu_tmp *t = *state;
    const char *groups[] = {"t", "absent"};
    struct lumira_buf out;
    const char *s;

    child_worker(t, 3, true);
    child_worker(t, 2, false);
    lumira_buf_init(&out, 1 << 20);
    assert_int_equal(lumira_metrics_render(t->dir, groups, 2, &out), LUMIRA_OK);
    assert_int_equal(lumira_buf_add(&out, "", 1), LUMIRA_OK);
    s = out.ptr;
    assert_non_null(strstr(s, "# TYPE lumira_http_requests_total counter\n"));
    assert_non_null(strstr(s, "lumira_http_requests_total{group=\"t\",method=\"GET\",route=\"/api/"
                              "x\",status=\"2xx\"} 5\n"));
    assert_non_null(strstr(s,
                           "lumira_http_request_duration_seconds_bucket{group=\"t\",method=\"GET\","
                           "route=\"/api/x\",le=\"0.001\"} 0\n"));
    assert_non_null(strstr(s,
                           "lumira_http_request_duration_seconds_bucket{group=\"t\",method=\"GET\","
                           "route=\"/api/x\",le=\"0.0025\"} 5\n"));
    assert_non_null(strstr(s,
                           "lumira_http_request_duration_seconds_bucket{group=\"t\",method=\"GET\","
                           "route=\"/api/x\",le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(s, "lumira_http_request_duration_seconds_sum{group=\"t\",method=\"GET\","
                              "route=\"/api/x\"} 0.007500\n"));
    assert_non_null(strstr(s, "lumira_orders_created_total{group=\"t\",level=\"2\"} 2\n"));
    assert_non_null(strstr(s, "lumira_scoreboard_up{group=\"t\"} 1\n"));
    assert_non_null(strstr(s, "lumira_scoreboard_up{group=\"absent\"} 0\n"));
    assert_non_null(strstr(s, "lumira_workers{group=\"t\",state=\"idle\"} 0\n"));
    assert_non_null(strstr(s, "lumira_worker_restarts_total{group=\"t\"} 0\n"));
    /* The route without traffic has no series; the absent group no counters. */
    assert_null(strstr(s, "/api/x/:id"));
    assert_null(strstr(s, "lumira_http_requests_total{group=\"absent\""));
    lumira_buf_cleanup(&out);
}

/* A live worker shows in the workers gauge and the process figures. */
static void test_metrics_render_live_worker(void **state)
{
    struct tu_tmp *t = *state;
    const char *groups[] = {"t"};
    struct lumira_buf out;
    pid_t pid = child_holder(t);

    lumira_buf_init(&out, 1 << 20);
    assert_int_equal(lumira_metrics_render(t->dir, groups, 1, &out), LUMIRA_OK);
    assert_int_equal(lumira_buf_add(&out, "", 1), LUMIRA_OK);
    assert_non_null(strstr(out.ptr, "lumira_workers{group=\"t\",state=\"idle\"} 1\n"));
    assert_non_null(strstr(out.ptr, "lumira_http_requests_in_flight{group=\"t\"} 0\n"));
    assert_non_null(
        strstr(out.ptr, "lumira_process_resident_memory_bytes{group=\"t\",slot=\"0\"} "));
    assert_non_null(strstr(out.ptr, "lumira_process_open_fds{group=\"t\",slot=\"0\"} "));
    assert_non_null(strstr(out.ptr, "lumira_process_start_time_seconds{group=\"t\",slot=\"0\"} "));
    holder_stop(pid);
    lumira_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_path),
        cmocka_unit_test_setup_teardown(test_metrics_open_creates, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_open_refuses_bad_args, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_claim_free_then_next, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_dead_slot_keeps_counters, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_graceful_stop_frees_slot, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_full_table, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_full_table_process_serves_without, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_bad_file_replaced, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_other_version_replaced, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_route_change_replaced, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_map_missing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_concurrent_start, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_metrics_proc_parse),
        cmocka_unit_test(test_metrics_bucket_edges),
        cmocka_unit_test(test_metrics_outcomes),
        cmocka_unit_test(test_metrics_label_escape),
        cmocka_unit_test_setup_teardown(test_metrics_render, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_render_live_worker, tmp_setup, tmp_teardown),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
