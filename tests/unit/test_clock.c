/* Unit tests of src/clock.c: ISO-8601 timestamps, the date parser and the two clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
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

/* Against the C library's own calendar, over every year from 1970 to 9999 (a pseudo-random
 * instant in each, plus the first and last millisecond of each year's 1st of March). */
static void test_iso8601_matches_gmtime(void **state)
{
    uint64_t x = 88172645463325252ULL;
    int64_t year_ms = INT64_C(31556952000), ms;
    int i;

    (void)state;
    for (i = 0; i < 8030; i++) {
        struct tm tm;
        time_t secs;
        char want[64];

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ms = (int64_t)i * year_ms + (int64_t)(x % (uint64_t)year_ms);
        if (ms > INT64_C(253402300799999))
            ms = INT64_C(253402300799999) - (int64_t)(x % 1000);
        secs = (time_t)(ms / 1000);
        assert_non_null(gmtime_r(&secs, &tm));
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        check_iso(ms, want);
        /* Around the 1st of March, where the day count turns over to a new year. */
        tm.tm_mon = 2;
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        ms = (int64_t)timegm(&tm) * 1000;
        if (ms > 0 && ms <= INT64_C(253402300799999)) {
            snprintf(want, sizeof(want), "%04d-03-01T00:00:00.000Z", tm.tm_year + 1900);
            check_iso(ms, want);
            secs = (time_t)(ms / 1000 - 1);
            assert_non_null(gmtime_r(&secs, &tm));
            snprintf(want, sizeof(want), "%04d-02-%02dT23:59:59.999Z", tm.tm_year + 1900,
                     tm.tm_mday);
            check_iso(ms - 1, want);
        }
    }
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

/* Epoch values below were computed outside this code with `date -u -d ... +%s`. */
/* date -u -d 2026-11-30 +%s = 1795996800 */
#define NOV30_MS INT64_C(1795996800000)
/* date -u -d '2026-11-30 12:34:56' +%s = 1796042096 */
#define NOV30_123456_MS INT64_C(1796042096000)
/* date -u -d 2024-02-29 +%s = 1709164800 */
#define FEB29_2024_MS INT64_C(1709164800000)

/* Parses the NUL-terminated `s`; *ms is preset to a marker so that a write on failure shows. */
static bool parse_date(const char *s, bool end_of_day, int64_t *ms)
{
    bool ok;

    *ms = -7;
    ok = lumira_parse_date(s, strlen(s), end_of_day, ms);
    if (!ok)
        assert_int_equal(*ms, -7);
    return ok;
}

static void test_parse_date_bare_day(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30", false, &ms));
    assert_int_equal(ms, NOV30_MS);
    assert_true(parse_date("2024-02-29", false, &ms));
    assert_int_equal(ms, FEB29_2024_MS);
    assert_true(parse_date("1970-01-01", false, &ms));
    assert_int_equal(ms, 0);
}

/* A bare day's last millisecond: 24 h - 1 ms after its first. */
static void test_parse_date_end_of_day(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30", true, &ms));
    assert_int_equal(ms, NOV30_MS + 86399999);
    /* date -u -d 2026-12-01 +%s = 1796083200: one millisecond later. */
    assert_int_equal(ms + 1, INT64_C(1796083200000));
}

static void test_parse_date_iso_with_millis(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30T12:34:56.123Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS + 123);
    assert_true(parse_date("2026-11-30T00:00:00.000Z", false, &ms));
    assert_int_equal(ms, NOV30_MS);
    assert_true(parse_date("2026-11-30T23:59:59.999Z", false, &ms));
    assert_int_equal(ms, NOV30_MS + 86399999);
    /* The text round-trips through lumira_iso8601. */
    {
        char out[LUMIRA_ISO8601_SIZE];

        assert_true(parse_date("2026-11-30T12:34:56.123Z", false, &ms));
        lumira_iso8601(ms, out);
        assert_string_equal(out, "2026-11-30T12:34:56.123Z");
    }
}

static void test_parse_date_iso_without_fraction(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30T12:34:56Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS);
}

/* One or two fraction digits are tenths and hundredths; past three they are cut, not rounded. */
static void test_parse_date_fraction_digits(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30T12:34:56.1Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS + 100);
    assert_true(parse_date("2026-11-30T12:34:56.12Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS + 120);
    assert_true(parse_date("2026-11-30T12:34:56.1239Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS + 123);
    assert_true(parse_date("2026-11-30T12:34:56.999999Z", false, &ms));
    assert_int_equal(ms, NOV30_123456_MS + 999);
    assert_true(parse_date("2026-11-30T12:34:56.1234567890Z", false, &ms)); /* 31 bytes */
    assert_int_equal(ms, NOV30_123456_MS + 123);
    assert_false(parse_date("2026-11-30T12:34:56.Z", false, &ms)); /* a point, no digit */
    assert_false(parse_date("2026-11-30T12:34:56.12a3Z", false, &ms));
}

/* A full timestamp is that instant: end_of_day applies to bare days only. */
static void test_parse_date_end_of_day_ignored_with_time(void **state)
{
    int64_t ms;

    (void)state;
    assert_true(parse_date("2026-11-30T12:34:56Z", true, &ms));
    assert_int_equal(ms, NOV30_123456_MS);
}

static void test_parse_date_days_a_month_lacks(void **state)
{
    static const char *const bad[] = {"2026-02-30", "2026-02-29", "2025-02-29", "2026-04-31",
                                      "2026-11-31", "2026-11-00", "2026-11-32"};
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_date(bad[i], false, &ms))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)ms);
}

static void test_parse_date_bad_month_and_time(void **state)
{
    static const char *const bad[] = {
        "2026-13-01",           "2026-00-10",           "2026-11-30T25:00:00Z",
        "2026-11-30T24:00:00Z", "2026-11-30T12:60:00Z", "2026-11-30T12:00:61Z",
        /* Second 60 would be the next minute (timegm), not the time written. */
        "2026-11-30T12:00:60Z", "2026-11-30T23:59:60Z",
    };
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_date(bad[i], false, &ms))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)ms);
}

/* UTC only, written with Z. */
static void test_parse_date_zone_required(void **state)
{
    static const char *const bad[] = {
        "2026-11-30T12:00:00",       "2026-11-30T12:00:00.123", "2026-11-30T12:00:00+01:00",
        "2026-11-30T12:00:00+00:00", "2026-11-30T12:00:00z",    "2026-11-30T12:00:00 Z",
        "2026-11-30T12:00:00.5+01:00",
    };
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_date(bad[i], false, &ms))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)ms);
}

static void test_parse_date_trailing_garbage(void **state)
{
    static const char *const bad[] = {
        "2026-11-30x",           "2026-11-30 ",          "2026-11-30T",
        "2026-11-30T12:00:00Zx", "2026-11-30T12:00:00ZZ", "2026-11-30t12:00:00Z",
        "2026-11-30 12:00:00Z",
    };
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_date(bad[i], false, &ms))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)ms);
}

/* Exactly two digits per field and four for the year: strptime() alone takes spaces and single
 * digits, and " 026-11-30" would be the year 26. */
static void test_parse_date_exact_digits(void **state)
{
    static const char *const bad[] = {
        " 026-11-30", "2026-11- 3", "2026- 1-30", "2026-1-030", "+026-11-30", "-026-11-30",
        "2026-11-30T1:2:3Z", "2026-11-30T 1:02:03Z", "2026-11-30T01: 2:03Z", "2026-11-30T01:02: 3Z",
        "26-11-30", "2026/11/30", "20261130", "2026-11-3", "02026-11-30",
    };
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_date(bad[i], false, &ms))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)ms);
}

/* Only `len` bytes are read, and a NUL inside them is not the end of the text. */
static void test_parse_date_counted(void **state)
{
    int64_t ms = -7;

    (void)state;
    assert_true(lumira_parse_date("2026-11-30junk", 10, false, &ms));
    assert_int_equal(ms, NOV30_MS);
    ms = -7;
    assert_false(lumira_parse_date("2026-11-30\0junk", 15, false, &ms));
    assert_false(lumira_parse_date("2026-11-30\0", 11, false, &ms));
    assert_false(lumira_parse_date("2026-11-30T12:34:56Z\0x", 22, false, &ms));
    assert_false(lumira_parse_date("2026-11-30", 9, false, &ms));
    assert_int_equal(ms, -7);
}

static void test_parse_date_empty_and_too_long(void **state)
{
    char s[64];
    int64_t ms = -7;

    (void)state;
    assert_false(lumira_parse_date("", 0, false, &ms));
    assert_false(lumira_parse_date("2026-11-30", 0, true, &ms));
    /* 31 bytes parse (see test_parse_date_fraction_digits); 32 and more do not. */
    memcpy(s, "2026-11-30T12:34:56.12345678901Z", 33);
    assert_int_equal(strlen(s), 32);
    assert_false(lumira_parse_date(s, 32, false, &ms));
    memset(s, '0', sizeof(s));
    memcpy(s, "2026-11-30T12:34:56.", 20);
    s[sizeof(s) - 1] = 'Z';
    assert_false(lumira_parse_date(s, sizeof(s), false, &ms));
    assert_int_equal(ms, -7);
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
        cmocka_unit_test(test_iso8601_matches_gmtime),
        cmocka_unit_test(test_iso8601_negative_clamps),
        cmocka_unit_test(test_iso8601_year_9999_edge),
        cmocka_unit_test(test_parse_date_bare_day),
        cmocka_unit_test(test_parse_date_end_of_day),
        cmocka_unit_test(test_parse_date_iso_with_millis),
        cmocka_unit_test(test_parse_date_iso_without_fraction),
        cmocka_unit_test(test_parse_date_fraction_digits),
        cmocka_unit_test(test_parse_date_end_of_day_ignored_with_time),
        cmocka_unit_test(test_parse_date_days_a_month_lacks),
        cmocka_unit_test(test_parse_date_bad_month_and_time),
        cmocka_unit_test(test_parse_date_zone_required),
        cmocka_unit_test(test_parse_date_trailing_garbage),
        cmocka_unit_test(test_parse_date_exact_digits),
        cmocka_unit_test(test_parse_date_counted),
        cmocka_unit_test(test_parse_date_empty_and_too_long),
        cmocka_unit_test(test_mono_ms_never_backwards),
        cmocka_unit_test(test_mono_ms_is_monotonic_clock),
        cmocka_unit_test(test_wall_ms_matches_time),
    };

    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
