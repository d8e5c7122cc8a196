/* Unit tests of src/sysinfo.c: /proc/meminfo parsing (from files written here), the memory
 * status words of API.md, and the process facts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "sysinfo.h"
#include "testutil.h"

/* The most a kB value may be (larger ones would overflow the percentage arithmetic). */
#define KB_MAX (UINT64_MAX / 1024)

static int tmp_setup(void **state)
{
    *state = tu_tmp_new("sysinfo", "meminfo");
    return *state == NULL ? -1 : 0;
}

static int tmp_teardown(void **state)
{
    return tu_tmp_free(*state);
}

/* Writes `text` as the test's meminfo file and parses it. */
static enum lumira_err meminfo_of(void **state, const char *text, struct lumira_meminfo *mi)
{
    struct tu_tmp *t = *state;
    FILE *f = fopen(t->path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    memset(mi, 0, sizeof(*mi));
    return lumira_sysinfo_meminfo(t->path, mi);
}

static void test_sysinfo_meminfo_normal(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state,
                                "MemTotal:       24684084 kB\n"
                                "MemFree:        24386860 kB\n"
                                "MemAvailable:   24350644 kB\n"
                                "Buffers:           12345 kB\n"
                                "HugePages_Total:       0\n"
                                "Hugepagesize:       2048 kB\n",
                                &mi),
                     LUMIRA_OK);
    assert_int_equal(mi.total_kb, 24684084);
    assert_int_equal(mi.available_kb, 24350644);
}

/* Tabs after the colon, the lines in another order, no final newline: all fine. */
static void test_sysinfo_meminfo_layout(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state, "MemAvailable:\t1000 kB\nMemTotal:\t \t4000 kB", &mi),
                     LUMIRA_OK);
    assert_int_equal(mi.total_kb, 4000);
    assert_int_equal(mi.available_kb, 1000);
    assert_int_equal(meminfo_of(state, "MemTotal:4000 kB\nMemAvailable:0 kB\n", &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 0);
}

/* Only a whole key at the start of a line counts. */
static void test_sysinfo_meminfo_key_must_match(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state,
                                "MemTotalX:     1 kB\n"
                                "XMemTotal:     2 kB\n"
                                "Foo MemTotal:  3 kB\n"
                                "MemTotal:      4000 kB\n"
                                "MemAvailable:  1000 kB\n",
                                &mi),
                     LUMIRA_OK);
    assert_int_equal(mi.total_kb, 4000);
    assert_int_equal(meminfo_of(state, "MemTotalX: 4000 kB\nMemAvailable: 1000 kB\n", &mi),
                     LUMIRA_EINVAL);
}

static void test_sysinfo_meminfo_missing_available(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state, "MemTotal: 4000 kB\nMemFree: 1000 kB\n", &mi),
                     LUMIRA_EINVAL);
    assert_int_equal(meminfo_of(state, "MemAvailable: 1000 kB\nMemFree: 1000 kB\n", &mi),
                     LUMIRA_EINVAL);
}

static void test_sysinfo_meminfo_garbage_numbers(void **state)
{
    static const char *const bad[] = {
        "MemTotal: abc kB\nMemAvailable: 1 kB\n",   "MemTotal: 12a kB\nMemAvailable: 1 kB\n",
        "MemTotal: -5 kB\nMemAvailable: 1 kB\n",    "MemTotal: 1.5 kB\nMemAvailable: 1 kB\n",
        "MemTotal:  kB\nMemAvailable: 1 kB\n",      "MemTotal: 0x10 kB\nMemAvailable: 1 kB\n",
        "MemTotal: 40 00 kB\nMemAvailable: 1 kB\n", "MemTotal: 4000 kB\nMemAvailable: x kB\n",
    };
    struct lumira_meminfo mi;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (meminfo_of(state, bad[i], &mi) != LUMIRA_EINVAL)
            fail_msg("accepted: %s", bad[i]);
}

static void test_sysinfo_meminfo_kb_missing(void **state)
{
    static const char *const bad[] = {
        "MemTotal: 4000\nMemAvailable: 1000 kB\n",       "MemTotal: 4000 MB\nMemAvailable: 1 kB\n",
        "MemTotal: 4000 kb\nMemAvailable: 1 kB\n",       "MemTotal: 4000kB\nMemAvailable: 1 kB\n",
        "MemTotal: 4000 kB extra\nMemAvailable: 1 kB\n", "MemTotal: 4000 kB \nMemAvailable: 1 kB\n",
        "MemTotal: 4000  kB\nMemAvailable: 1 kB\n",      "MemTotal: 4000 kB\nMemAvailable: 1\n",
    };
    struct lumira_meminfo mi;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (meminfo_of(state, bad[i], &mi) != LUMIRA_EINVAL)
            fail_msg("accepted: %s", bad[i]);
}

static void test_sysinfo_meminfo_available_over_total(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state, "MemTotal: 4000 kB\nMemAvailable: 4001 kB\n", &mi),
                     LUMIRA_EINVAL);
    assert_int_equal(meminfo_of(state, "MemTotal: 4000 kB\nMemAvailable: 4000 kB\n", &mi),
                     LUMIRA_OK);
    assert_int_equal(meminfo_of(state, "MemTotal: 0 kB\nMemAvailable: 0 kB\n", &mi), LUMIRA_EINVAL);
}

/* The cap on a kB value (UINT64_MAX / 1024) at max, max + 1 and far beyond. */
static void test_sysinfo_meminfo_huge_values(void **state)
{
    struct lumira_meminfo mi;
    char text[256];

    snprintf(text, sizeof(text), "MemTotal: %llu kB\nMemAvailable: 1 kB\n",
             (unsigned long long)KB_MAX);
    assert_int_equal(meminfo_of(state, text, &mi), LUMIRA_OK);
    assert_true(mi.total_kb == KB_MAX);
    snprintf(text, sizeof(text), "MemTotal: %llu kB\nMemAvailable: 1 kB\n",
             (unsigned long long)KB_MAX + 1);
    assert_int_equal(meminfo_of(state, text, &mi), LUMIRA_EINVAL);
    assert_int_equal(
        meminfo_of(state, "MemTotal: 18446744073709551615 kB\nMemAvailable: 1 kB\n", &mi),
        LUMIRA_EINVAL);
    assert_int_equal(
        meminfo_of(state, "MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n", &mi),
        LUMIRA_EINVAL);
}

static void test_sysinfo_meminfo_empty_file(void **state)
{
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state, "", &mi), LUMIRA_EINVAL);
    assert_int_equal(meminfo_of(state, "\n\n\n", &mi), LUMIRA_EINVAL);
    assert_int_equal(meminfo_of(state, "MemTotal:", &mi), LUMIRA_EINVAL);
}

/* A key far past the part that is read (LUMIRA_MAX_PROC_FILE) is not found, and nothing
 * overflows. */
static void test_sysinfo_meminfo_long_file(void **state)
{
    struct lumira_meminfo mi;
    size_t size = 40000, i;
    char *text = malloc(size + 64);

    assert_non_null(text);
    for (i = 0; i < size; i++)
        text[i] = (i % 64 == 63) ? '\n' : 'x';
    memcpy(text + size, "MemTotal: 4000 kB\nMemAvailable: 1000 kB\n", 41);
    assert_int_equal(meminfo_of(state, text, &mi), LUMIRA_EINVAL);
    free(text);
}

static void test_sysinfo_meminfo_missing_file(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_meminfo mi;
    char path[160];

    snprintf(path, sizeof(path), "%s/does-not-exist", t->dir);
    assert_int_equal(lumira_sysinfo_meminfo(path, &mi), LUMIRA_EIO);
    assert_int_equal(lumira_sysinfo_meminfo(t->dir, &mi), LUMIRA_EIO); /* a directory */
}

/* With no path: this host's /proc/meminfo. */
static void test_sysinfo_meminfo_proc(void **state)
{
    struct lumira_meminfo mi;

    (void)state;
    assert_int_equal(lumira_sysinfo_meminfo(NULL, &mi), LUMIRA_OK);
    assert_true(mi.total_kb > 0);
    assert_true(mi.available_kb <= mi.total_kb);
}

static void memuse_of(uint64_t total_kb, uint64_t available_kb, struct lumira_memuse *mu)
{
    struct lumira_meminfo mi = {total_kb, available_kb};

    memset(mu, 0, sizeof(*mu));
    lumira_sysinfo_memuse(&mi, mu);
    assert_non_null(mu->status);
}

/* The cached reading is kept for its age, read again after it (or always with age 0), and a
 * failed reading is not kept. */
static void test_sysinfo_meminfo_cached_keeps_for_its_age(void **state)
{
    struct tu_tmp *t = *state;
    struct lumira_meminfo mi;

    assert_int_equal(meminfo_of(state, "MemTotal: 1000 kB\nMemAvailable: 600 kB\n", &mi),
                     LUMIRA_OK);
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 0, &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 600);
    assert_int_equal(meminfo_of(state, "MemTotal: 1000 kB\nMemAvailable: 400 kB\n", &mi),
                     LUMIRA_OK);
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 60000, &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 600); /* the kept reading */
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 0, &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 400); /* read again */
    usleep(20 * 1000);
    assert_int_equal(meminfo_of(state, "MemTotal: 1000 kB\nMemAvailable: 300 kB\n", &mi),
                     LUMIRA_OK);
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 10, &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 300); /* older than 10 ms */
    assert_int_equal(meminfo_of(state, "garbage\n", &mi), LUMIRA_EINVAL);
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 0, &mi), LUMIRA_EINVAL);
    assert_int_equal(meminfo_of(state, "MemTotal: 1000 kB\nMemAvailable: 200 kB\n", &mi),
                     LUMIRA_OK);
    /* The failure was not kept, nor did it keep the reading before it. */
    assert_int_equal(lumira_sysinfo_meminfo_cached(t->path, 60000, &mi), LUMIRA_OK);
    assert_int_equal(mi.available_kb, 200);
}

static void test_sysinfo_memuse_mib(void **state)
{
    struct lumira_memuse mu;

    (void)state;
    memuse_of(4096000, 3362816, &mu); /* 4000 MiB, 3284 free */
    assert_int_equal(mu.total_mb, 4000);
    assert_int_equal(mu.free_mb, 3284);
    assert_int_equal(mu.used_mb, 716);
    assert_int_equal(mu.percentage, 18); /* 17.9 rounded */
    assert_string_equal(mu.status, "ok");
}

/* API.md: "warning" over 70 %, "critical" over 85 %, on the rounded percentage. */
static void test_sysinfo_memuse_thresholds(void **state)
{
    static const struct {
        uint64_t used_of_100;
        unsigned pct;
        const char *status;
    } cases[] = {
        {0, 0, "ok"},        {50, 50, "ok"},       {70, 70, "ok"},         {71, 71, "warning"},
        {85, 85, "warning"}, {86, 86, "critical"}, {100, 100, "critical"},
    };
    struct lumira_memuse mu;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* 100 MiB total, so that the percentage is exact. */
        memuse_of(102400, 102400 - cases[i].used_of_100 * 1024, &mu);
        assert_int_equal(mu.percentage, cases[i].pct);
        assert_string_equal(mu.status, cases[i].status);
    }
}

static void test_sysinfo_memuse_rounding(void **state)
{
    static const struct {
        uint64_t used_of_1000;
        unsigned pct;
        const char *status;
    } cases[] = {
        {704, 70, "ok"}, {705, 71, "warning"}, {854, 85, "warning"},   {855, 86, "critical"},
        {4, 0, "ok"},    {5, 1, "ok"},         {995, 100, "critical"}, {1000, 100, "critical"},
    };
    struct lumira_memuse mu;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memuse_of(1000, 1000 - cases[i].used_of_1000, &mu);
        assert_int_equal(mu.percentage, cases[i].pct);
        assert_string_equal(mu.status, cases[i].status);
    }
}

/* The largest values the parser lets through do not overflow the arithmetic. */
static void test_sysinfo_memuse_huge(void **state)
{
    struct lumira_memuse mu;

    (void)state;
    memuse_of(KB_MAX, 0, &mu);
    assert_int_equal(mu.percentage, 100);
    assert_true(mu.total_mb == KB_MAX / 1024);
    memuse_of(KB_MAX, KB_MAX / 2, &mu);
    assert_int_equal(mu.percentage, 50);
    assert_string_equal(mu.status, "ok");
    memuse_of(KB_MAX, KB_MAX, &mu);
    assert_int_equal(mu.percentage, 0);
}

static void test_sysinfo_memuse_zero_total(void **state)
{
    struct lumira_memuse mu;

    (void)state;
    memuse_of(0, 0, &mu);
    assert_int_equal(mu.percentage, 0);
    assert_int_equal(mu.total_mb, 0);
    assert_string_equal(mu.status, "ok");
}

static void test_sysinfo_rss_kb_positive(void **state)
{
    uint64_t rss = 0;

    (void)state;
    assert_int_equal(lumira_sysinfo_rss_kb(&rss), LUMIRA_OK);
    assert_true(rss > 0);
    assert_true(rss < 64ULL * 1024 * 1024); /* under 64 GiB */
}

static void test_sysinfo_uptime_after_mark_start(void **state)
{
    int64_t before = lumira_wall_ms(), after;
    double a, b;

    (void)state;
    lumira_sysinfo_mark_start();
    after = lumira_wall_ms();
    a = lumira_sysinfo_uptime_s();
    b = lumira_sysinfo_uptime_s();
    assert_true(a >= 0.0);
    assert_true(a < 60.0);
    assert_true(b >= a);
    assert_true(lumira_sysinfo_started_ms() >= before);
    assert_true(lumira_sysinfo_started_ms() <= after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_normal, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_cached_keeps_for_its_age, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_layout, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_key_must_match, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_missing_available, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_garbage_numbers, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_kb_missing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_available_over_total, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_huge_values, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_empty_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_long_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_meminfo_missing_file, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_sysinfo_meminfo_proc),
        cmocka_unit_test(test_sysinfo_memuse_mib),
        cmocka_unit_test(test_sysinfo_memuse_thresholds),
        cmocka_unit_test(test_sysinfo_memuse_rounding),
        cmocka_unit_test(test_sysinfo_memuse_huge),
        cmocka_unit_test(test_sysinfo_memuse_zero_total),
        cmocka_unit_test(test_sysinfo_rss_kb_positive),
        cmocka_unit_test(test_sysinfo_uptime_after_mark_start),
    };

    return cmocka_run_group_tests_name("sysinfo", tests, NULL, NULL);
}
