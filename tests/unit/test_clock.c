/* Unit tests of src/clock.c: ISO-8601 timestamps and the two clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "clock.h"

/* Formats `ms` into a buffer with a guard byte after LUMIRA_ISO8601_SIZE and checks both. */
static void check_iso(int64_t ms, const char *want)
{
    char out[LUMIRA_ISO8601_SIZE + 1];

    memset(out, 'Z', sizeof(out));
    lumira_iso8601(ms, out);
    assert_string_equal(out, want);
    assert_int_equal(strlen(out), LUMIRA_ISO8601_SIZE - 1);
    assert_int_equal(out[LUMIRA_ISO8601_SIZE], 'Z'); /* nothing written past the size */
}

static void test_iso8601_epoch(void **state)
{
    (void)state;
    check_iso(0, "1970-01-01T00:00:00.000Z");
    check_iso(1, "1970-01-01T00:00:00.001Z");
    check_iso(999, "1970-01-01T00:00:00.999Z");
    check_iso(1000, "1970-01-01T00:00:01.000Z");
}

static void test_iso8601_known(void **state)
{
    (void)state;
    check_iso(1700000000123, "2023-11-14T22:13:20.123Z");
    check_iso(946684799999, "1999-12-31T23:59:59.999Z");
    check_iso(2147483648000, "2038-01-19T03:14:08.000Z"); /* past 32-bit time_t */
}

static void test_iso8601_leap_day(void **state)
{
    (void)state;
    check_iso(1709210096789, "2024-02-29T12:34:56.789Z");
    check_iso(951782400000, "2000-02-29T00:00:00.000Z"); /* divisible by 400: leap */
    /* 2100 is not a leap year: the day after 2100-02-28 is March 1st. */
    check_iso(4107542400000 - 1, "2100-02-28T23:59:59.999Z");
    check_iso(4107542400000, "2100-03-01T00:00:00.000Z");
}

static void test_iso8601_negative_clamps(void **state)
{
    (void)state;
    check_iso(-1, "1970-01-01T00:00:00.000Z");
    check_iso(-999, "1970-01-01T00:00:00.000Z");
    check_iso(-86400000, "1970-01-01T00:00:00.000Z");
    check_iso(INT64_MIN, "1970-01-01T00:00:00.000Z");
}

static void test_iso8601_year_9999_edge(void **state)
{
    (void)state;
    check_iso(253402300799999, "9999-12-31T23:59:59.999Z");
    check_iso(253402300800000, "1970-01-01T00:00:00.000Z"); /* year 10000 */
    check_iso(INT64_MAX / 2, "1970-01-01T00:00:00.000Z");
    check_iso(INT64_MAX, "1970-01-01T00:00:00.000Z");
}

static void test_mono_ms_never_backwards(void **state)
{
    int64_t prev = lumira_mono_ms(), now;
    int i;

    (void)state;
    assert_true(prev >= 0);
    for (i = 0; i < 200000; i++) {
        now = lumira_mono_ms();
        if (now < prev)
            fail_msg("monotonic clock went back from %lld to %lld", (long long)prev,
                     (long long)now);
        prev = now;
    }
}

/* Milliseconds of CLOCK_MONOTONIC, not seconds or nanoseconds, and not the wall clock. */
static void test_mono_ms_is_monotonic_clock(void **state)
{
    struct timespec a, b;
    int64_t ms, lo, hi;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ms = lumira_mono_ms();
    clock_gettime(CLOCK_MONOTONIC, &b);
    lo = (int64_t)a.tv_sec * 1000 + a.tv_nsec / 1000000;
    hi = (int64_t)b.tv_sec * 1000 + b.tv_nsec / 1000000;
    assert_true(ms >= lo);
    assert_true(ms <= hi);
}

static void test_wall_ms_matches_time(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t ms = lumira_wall_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;

    (void)state;
    assert_true(ms >= before);
    assert_true(ms < after);
    assert_true(ms > 1700000000000); /* after November 2023: milliseconds, not seconds */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_epoch),
        cmocka_unit_test(test_iso8601_known),
        cmocka_unit_test(test_iso8601_leap_day),
        cmocka_unit_test(test_iso8601_negative_clamps),
        cmocka_unit_test(test_iso8601_year_9999_edge),
        cmocka_unit_test(test_mono_ms_never_backwards),
        cmocka_unit_test(test_mono_ms_is_monotonic_clock),
        cmocka_unit_test(test_wall_ms_matches_time),
    };

    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
