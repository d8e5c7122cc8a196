/* Unit tests of the parts of src/orders.c that need no database: order statuses and the
 * transitions API.md allows, the levels, order numbers and counter ids, and the JSON view of a
 * stored BSON document. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>
#include <json-c/json.h>

#include "buf.h"
#include "json.h"
#include "lumira_limits.h"
#include "orders.h"
#include "str.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* U+FFFD, the replacement character, in UTF-8. */
#define U_FFFD "\xef\xbf\xbd"

/* Epoch values below were computed outside this code with `date -u -d ... +%s`. */
/* date -u -d 2026-11-30 +%s = 1795996800 */
#define NOV30_MS INT64_C(1795996800000)
/* date -u -d 2026-12-01 +%s = 1796083200 */
#define DEC01_MS INT64_C(1796083200000)
/* date -u -d '2026-11-30 12:34:56' +%s = 1796042096 */
#define NOV30_NOON_MS INT64_C(1796042096000)
/* date -u -d 2027-01-01 +%s = 1798761600 */
#define JAN01_2027_MS INT64_C(1798761600000)
/* date -u -d 2000-02-29 +%s = 951782400 */
#define FEB29_2000_MS INT64_C(951782400000)

#define OID_A "5f1d7a3b9c0e4a2b8d6f1e23"
#define OID_B "65a0ffee0123456789abcdef"

/* ---- statuses ---- */

static const struct {
    enum lumira_order_status status;
    const char *name;
} statuses[] = {
    {LUMIRA_ORDER_PENDING, "pending"},       {LUMIRA_ORDER_PAID, "paid"},
    {LUMIRA_ORDER_PROCESSING, "processing"}, {LUMIRA_ORDER_COMPLETED, "completed"},
    {LUMIRA_ORDER_FAILED, "failed"},         {LUMIRA_ORDER_REFUNDED, "refunded"},
};

static enum lumira_order_status parse_status(const char *s)
{
    return lumira_order_status_parse(s, strlen(s));
}

static void test_status_name_every_status(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(statuses); i++)
        assert_string_equal(lumira_order_status_name(statuses[i].status), statuses[i].name);
}

static void test_status_name_none_and_out_of_range(void **state)
{
    (void)state;
    assert_null(lumira_order_status_name(LUMIRA_ORDER_NONE));
    assert_null(lumira_order_status_name((enum lumira_order_status)6));
    assert_null(lumira_order_status_name((enum lumira_order_status)-2));
    assert_null(lumira_order_status_name((enum lumira_order_status)1000));
}

static void test_status_parse_every_name(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(statuses); i++) {
        assert_int_equal(parse_status(statuses[i].name), statuses[i].status);
        /* Round trip through the name. */
        assert_int_equal(parse_status(lumira_order_status_name(statuses[i].status)),
                         statuses[i].status);
    }
}

static void test_status_parse_unknown(void **state)
{
    static const char *const bad[] = {"unknown", "PAID",     "Paid",  " paid", "paid ",
                                      "none",    "canceled", "paid,", "-1",    "0"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        if (parse_status(bad[i]) != LUMIRA_ORDER_NONE)
            fail_msg("\"%s\" parsed as a status", bad[i]);
}

/* A prefix or an extension of a name is not that name; only `len` bytes are read. */
static void test_status_parse_prefix_and_suffix(void **state)
{
    (void)state;
    assert_int_equal(parse_status("pai"), LUMIRA_ORDER_NONE);
    assert_int_equal(parse_status("paid2"), LUMIRA_ORDER_NONE);
    assert_int_equal(parse_status("pendin"), LUMIRA_ORDER_NONE);
    assert_int_equal(parse_status("pendings"), LUMIRA_ORDER_NONE);
    assert_int_equal(parse_status("refund"), LUMIRA_ORDER_NONE);
    assert_int_equal(lumira_order_status_parse("paid", 3), LUMIRA_ORDER_NONE);
    assert_int_equal(lumira_order_status_parse("paid\0", 5), LUMIRA_ORDER_NONE);
    assert_int_equal(lumira_order_status_parse("paidXYZ", 4), LUMIRA_ORDER_PAID);
    assert_int_equal(lumira_order_status_parse("failedness", 6), LUMIRA_ORDER_FAILED);
}

static void test_status_parse_empty(void **state)
{
    (void)state;
    assert_int_equal(lumira_order_status_parse("", 0), LUMIRA_ORDER_NONE);
    assert_int_equal(lumira_order_status_parse("pending", 0), LUMIRA_ORDER_NONE);
}

/* ---- transitions ---- */

/* API.md, PATCH /api/orders/:id/status: pending→paid|failed, paid→processing|refunded,
 * processing→completed|failed, completed→refunded; nothing else. Rows are `from`, columns `to`,
 * both in enum order (pending, paid, processing, completed, failed, refunded). */
static const bool allowed[6][6] = {
    /* pending    */ {false, true, false, false, true, false},
    /* paid       */ {false, false, true, false, false, true},
    /* processing */ {false, false, false, true, true, false},
    /* completed  */ {false, false, false, false, false, true},
    /* failed     */ {false, false, false, false, false, false},
    /* refunded   */ {false, false, false, false, false, false},
};

static void test_transition_full_matrix(void **state)
{
    int from, to, n = 0;

    (void)state;
    for (from = LUMIRA_ORDER_PENDING; from <= LUMIRA_ORDER_REFUNDED; from++)
        for (to = LUMIRA_ORDER_PENDING; to <= LUMIRA_ORDER_REFUNDED; to++) {
            bool got = lumira_order_transition_allowed((enum lumira_order_status)from,
                                                       (enum lumira_order_status)to);

            if (got != allowed[from][to])
                fail_msg("%s -> %s: %s, expected %s",
                         lumira_order_status_name((enum lumira_order_status)from),
                         lumira_order_status_name((enum lumira_order_status)to),
                         got ? "allowed" : "refused", allowed[from][to] ? "allowed" : "refused");
            n += got;
        }
    assert_int_equal(n, 7); /* the seven arrows of API.md */
}

static void test_transition_to_itself_never(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(statuses); i++)
        assert_false(lumira_order_transition_allowed(statuses[i].status, statuses[i].status));
}

static void test_transition_none_never(void **state)
{
    size_t i;

    (void)state;
    assert_false(lumira_order_transition_allowed(LUMIRA_ORDER_NONE, LUMIRA_ORDER_NONE));
    for (i = 0; i < ARRAY_LEN(statuses); i++) {
        assert_false(lumira_order_transition_allowed(LUMIRA_ORDER_NONE, statuses[i].status));
        assert_false(lumira_order_transition_allowed(statuses[i].status, LUMIRA_ORDER_NONE));
        assert_false(lumira_order_transition_allowed(statuses[i].status,
                                                     (enum lumira_order_status)6));
        assert_false(lumira_order_transition_allowed((enum lumira_order_status)6,
                                                     statuses[i].status));
    }
}

/* docs/ORDERS.md "Payment lifecycle": the moves a Stripe event may make (never by hand):
 * pending→paid|failed|refunded, failed→paid|refunded, paid|processing|completed→refunded. */
static const bool payment_allowed[6][6] = {
    /* pending    */ {false, true, false, false, true, true},
    /* paid       */ {false, false, false, false, false, true},
    /* processing */ {false, false, false, false, false, true},
    /* completed  */ {false, false, false, false, false, true},
    /* failed     */ {false, true, false, false, false, true},
    /* refunded   */ {false, false, false, false, false, false},
};

static void test_payment_transition_full_matrix(void **state)
{
    int from, to, n = 0;

    (void)state;
    for (from = LUMIRA_ORDER_PENDING; from <= LUMIRA_ORDER_REFUNDED; from++)
        for (to = LUMIRA_ORDER_PENDING; to <= LUMIRA_ORDER_REFUNDED; to++) {
            bool got = lumira_order_payment_allowed((enum lumira_order_status)from,
                                                    (enum lumira_order_status)to);

            if (got != payment_allowed[from][to])
                fail_msg("%s -> %s: %s, expected %s",
                         lumira_order_status_name((enum lumira_order_status)from),
                         lumira_order_status_name((enum lumira_order_status)to),
                         got ? "allowed" : "refused",
                         payment_allowed[from][to] ? "allowed" : "refused");
            n += got;
        }
    assert_int_equal(n, 8);
    /* failed→paid is the webhook's alone: never by hand. */
    assert_true(lumira_order_payment_allowed(LUMIRA_ORDER_FAILED, LUMIRA_ORDER_PAID));
    assert_false(lumira_order_transition_allowed(LUMIRA_ORDER_FAILED, LUMIRA_ORDER_PAID));
}

static void test_payment_transition_none_never(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(statuses); i++) {
        assert_false(lumira_order_payment_allowed(LUMIRA_ORDER_NONE, statuses[i].status));
        assert_false(lumira_order_payment_allowed(statuses[i].status, LUMIRA_ORDER_NONE));
        assert_false(
            lumira_order_payment_allowed((enum lumira_order_status)6, statuses[i].status));
    }
}

/* ---- levels ---- */

static void test_level_names_and_amounts(void **state)
{
    static const struct {
        int64_t level;
        const char *name;
        int64_t amount;
    } levels[] = {
        {1, "Simple", 0},
        {2, "Intuitive", 1400},
        {3, "Alchimique", 2900},
        {4, "Int\xc3\xa9grale", 4900}, /* é as UTF-8 */
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(levels); i++) {
        assert_string_equal(lumira_level_name(levels[i].level), levels[i].name);
        assert_int_equal(lumira_level_amount(levels[i].level), levels[i].amount);
    }
}

static void test_level_out_of_range(void **state)
{
    static const int64_t bad[] = {0, 5, -1, 100, INT64_MIN, INT64_MAX, (int64_t)1 << 32};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        assert_null(lumira_level_name(bad[i]));
        assert_int_equal(lumira_level_amount(bad[i]), -1);
    }
}

/* ---- order numbers and counter ids ---- */

/* Formats into a buffer of `size` bytes followed by guard bytes, and checks the guard. */
static bool format(int64_t ms, uint64_t seq, size_t size, char *out)
{
    char buf[64];
    bool ok;
    size_t i;

    assert_true(size + 8 <= sizeof(buf));
    memset(buf, '#', sizeof(buf));
    ok = lumira_order_number_format(ms, seq, buf, size);
    for (i = size; i < sizeof(buf); i++)
        if (buf[i] != '#')
            fail_msg("byte %zu written past a buffer of %zu", i, size);
    if (size > 0)
        memcpy(out, buf, size);
    return ok;
}

static void test_number_format_known_day(void **state)
{
    char out[LUMIRA_ORDER_NUMBER_MAX + 1];

    (void)state;
    assert_true(format(NOV30_MS, 1, sizeof(out), out));
    assert_string_equal(out, "LU261130001");
    assert_true(format(NOV30_NOON_MS + 123, 7, sizeof(out), out));
    assert_string_equal(out, "LU261130007");
    assert_true(format(FEB29_2000_MS, 42, sizeof(out), out));
    assert_string_equal(out, "LU000229042");
}

static void test_number_format_sequence_widths(void **state)
{
    char out[LUMIRA_ORDER_NUMBER_MAX + 1];

    (void)state;
    assert_true(format(NOV30_MS, 0, sizeof(out), out));
    assert_string_equal(out, "LU261130000");
    assert_true(format(NOV30_MS, 999, sizeof(out), out));
    assert_string_equal(out, "LU261130999"); /* still 3 digits */
    assert_true(format(NOV30_MS, 1000, sizeof(out), out));
    assert_string_equal(out, "LU2611301000"); /* then as many as needed */
    assert_true(format(NOV30_MS, 123456, sizeof(out), out));
    assert_string_equal(out, "LU261130123456");
}

/* The largest sequence gives the longest number, which fits LUMIRA_ORDER_NUMBER_MAX exactly. */
static void test_number_format_largest_sequence(void **state)
{
    char out[LUMIRA_ORDER_NUMBER_MAX + 1];

    (void)state;
    assert_true(format(NOV30_MS, UINT64_MAX, sizeof(out), out));
    assert_string_equal(out, "LU261130"
                             "18446744073709551615");
    assert_int_equal(strlen(out), LUMIRA_ORDER_NUMBER_MAX);
    assert_true(lumira_order_number_valid(out, strlen(out)));
}

/* The day is the UTC day, whatever the local time zone. */
static void test_number_format_utc_day_boundary(void **state)
{
    char out[LUMIRA_ORDER_NUMBER_MAX + 1], counter[16];
    const char *tz = getenv("TZ");
    char saved[64] = "";
    int pass;

    (void)state;
    if (tz != NULL)
        snprintf(saved, sizeof(saved), "%s", tz);
    for (pass = 0; pass < 2; pass++) {
        /* Second pass: UTC+14, where 23:59:59 UTC is already the next local day. */
        if (pass == 1) {
            setenv("TZ", "XXX-14", 1);
            tzset();
        }
        assert_true(format(DEC01_MS - 1, 5, sizeof(out), out)); /* 2026-11-30T23:59:59.999Z */
        assert_string_equal(out, "LU261130005");
        assert_true(format(DEC01_MS, 5, sizeof(out), out)); /* 2026-12-01T00:00:00.000Z */
        assert_string_equal(out, "LU261201005");
        assert_true(format(JAN01_2027_MS - 1, 1, sizeof(out), out));
        assert_string_equal(out, "LU261231001");
        assert_true(format(JAN01_2027_MS, 1, sizeof(out), out));
        assert_string_equal(out, "LU270101001");
        lumira_order_counter_id(DEC01_MS - 1, counter);
        assert_string_equal(counter, "orders-261130");
        lumira_order_counter_id(DEC01_MS, counter);
        assert_string_equal(counter, "orders-261201");
    }
    if (tz != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* "LU261130001" is 11 bytes: 12 fit, 11 (no room for the NUL) and less do not. */
static void test_number_format_buffer_sizes(void **state)
{
    char out[64];

    (void)state;
    assert_true(format(NOV30_MS, 1, 13, out));
    assert_string_equal(out, "LU261130001");
    assert_true(format(NOV30_MS, 1, 12, out));
    assert_string_equal(out, "LU261130001");
    assert_false(format(NOV30_MS, 1, 11, out));
    assert_int_equal(out[10], '\0'); /* cut, but terminated */
    assert_false(format(NOV30_MS, 1, 1, out));
    assert_int_equal(out[0], '\0');
    /* A 4-digit sequence needs 13. */
    assert_true(format(NOV30_MS, 1000, 13, out));
    assert_string_equal(out, "LU2611301000");
    assert_false(format(NOV30_MS, 1000, 12, out));
}

static void test_counter_id_known_days(void **state)
{
    char buf[24];
    size_t i;

    (void)state;
    memset(buf, '#', sizeof(buf));
    lumira_order_counter_id(NOV30_NOON_MS, buf);
    assert_string_equal(buf, "orders-261130");
    for (i = strlen(buf) + 1; i < sizeof(buf); i++)
        assert_int_equal(buf[i], '#'); /* nothing past the NUL */
    lumira_order_counter_id(NOV30_MS, buf);
    assert_string_equal(buf, "orders-261130");
    lumira_order_counter_id(FEB29_2000_MS, buf);
    assert_string_equal(buf, "orders-000229");
    lumira_order_counter_id(0, buf);
    assert_string_equal(buf, "orders-700101");
}

/* ---- order number shape ---- */

static bool valid(const char *s)
{
    return lumira_order_number_valid(s, strlen(s));
}

static void test_number_valid_good(void **state)
{
    (void)state;
    assert_true(valid("LU261130001"));
    assert_true(valid("LU261130999"));
    assert_true(valid("LU2611301000"));
    assert_true(valid("LU000000000"));
    assert_true(valid("LU99999999999999999999999999")); /* 28: LUMIRA_ORDER_NUMBER_MAX */
}

/* Every number the formatter writes has the valid shape. */
static void test_number_valid_accepts_formatted(void **state)
{
    static const uint64_t seqs[] = {0, 1, 999, 1000, 99999, UINT64_MAX};
    char out[LUMIRA_ORDER_NUMBER_MAX + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(seqs); i++) {
        assert_true(lumira_order_number_format(NOV30_MS, seqs[i], out, sizeof(out)));
        assert_true(valid(out));
    }
}

/* "LU" + 6 date digits + 3 sequence digits = 11 at least. */
static void test_number_valid_too_short(void **state)
{
    (void)state;
    assert_false(valid(""));
    assert_false(valid("LU"));
    assert_false(valid("LU261130"));
    assert_false(valid("LU26113000")); /* 10 */
    assert_false(lumira_order_number_valid("LU261130001", 10));
    assert_false(lumira_order_number_valid("LU261130001", 0));
}

static void test_number_valid_prefix_case(void **state)
{
    (void)state;
    assert_false(valid("lu261130001"));
    assert_false(valid("Lu261130001"));
    assert_false(valid("lU261130001"));
    assert_false(valid("LV261130001"));
    assert_false(valid("XLU261130001"));
    assert_false(valid("261130001LU"));
}

static void test_number_valid_non_digits(void **state)
{
    static const char *const bad[] = {
        "LU26113O001",  /* letter O */
        "LU2611300a1",  "LU261130 01", "LU-61130001", "LU261130001 ",
        " LU261130001", "LU261130+01", "LU26113000\xd9", "LULU1130001",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        if (valid(bad[i]))
            fail_msg("\"%s\" taken as an order number", bad[i]);
    /* A NUL byte inside the counted length is not a digit. */
    assert_false(lumira_order_number_valid("LU261130001\0", 12));
    assert_false(lumira_order_number_valid("LU26113" "\0" "001", 11));
}

/* LUMIRA_ORDER_NUMBER_MAX - 1, MAX and MAX + 1 bytes. */
static void test_number_valid_too_long(void **state)
{
    char s[LUMIRA_ORDER_NUMBER_MAX + 2];

    (void)state;
    memset(s, '1', sizeof(s));
    memcpy(s, "LU", 2);
    assert_true(lumira_order_number_valid(s, LUMIRA_ORDER_NUMBER_MAX - 1));
    assert_true(lumira_order_number_valid(s, LUMIRA_ORDER_NUMBER_MAX));
    assert_false(lumira_order_number_valid(s, LUMIRA_ORDER_NUMBER_MAX + 1));
    assert_false(lumira_order_number_valid(s, LUMIRA_ORDER_NUMBER_MAX + 2));
}

/* ---- BSON to JSON ---- */

static struct json_object *to_json(const bson_t *doc)
{
    bool ok = true;
    struct json_object *obj = lumira_bson_to_json(doc, &ok);

    assert_true(ok);
    assert_non_null(obj);
    assert_true(json_object_is_type(obj, json_type_object));
    return obj;
}

/* Member `key` of `o`, which must be there with type `type`. */
static struct json_object *member(const struct json_object *o, const char *key,
                                  enum json_type type)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no member \"%s\"", key);
    if (!json_object_is_type(v, type))
        fail_msg("member \"%s\" is a %s, expected a %s", key,
                 json_type_to_name(json_object_get_type(v)), json_type_to_name(type));
    return v;
}

/* `obj` as the API writes it (src/json.c), into `out` (NUL-terminated). */
static void serialise(const struct json_object *obj, struct lumira_buf *out)
{
    lumira_buf_init(out, 1 << 16);
    assert_int_equal(lumira_json_serialize(obj, out), LUMIRA_OK);
    assert_non_null(out->ptr);
}

static void test_bson_to_json_strings(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o, *v;

    (void)state;
    BSON_APPEND_UTF8(&doc, "plain", "hello");
    BSON_APPEND_UTF8(&doc, "empty", "");
    BSON_APPEND_UTF8(&doc, "levelName", "Int\xc3\xa9grale");
    bson_append_utf8(&doc, "withNul", -1, "a\0b", 3);
    o = to_json(&doc);
    assert_string_equal(json_object_get_string(member(o, "plain", json_type_string)), "hello");
    assert_string_equal(json_object_get_string(member(o, "empty", json_type_string)), "");
    assert_string_equal(json_object_get_string(member(o, "levelName", json_type_string)),
                        "Int\xc3\xa9grale");
    v = member(o, "withNul", json_type_string);
    assert_int_equal(json_object_get_string_len(v), 3); /* the length is kept */
    assert_memory_equal(json_object_get_string(v), "a\0b", 3);
    json_object_put(o);
    bson_destroy(&doc);
}

static void test_bson_to_json_oid_as_hex(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t a, b;
    struct json_object *o;

    (void)state;
    bson_oid_init_from_string(&a, OID_A);
    bson_oid_init_from_string(&b, "65A0FFEE0123456789ABCDEF");
    BSON_APPEND_OID(&doc, "userId", &a);
    BSON_APPEND_OID(&doc, "assignedExpertId", &b);
    o = to_json(&doc);
    assert_string_equal(json_object_get_string(member(o, "userId", json_type_string)), OID_A);
    /* Always 24 lowercase hex digits. */
    assert_string_equal(json_object_get_string(member(o, "assignedExpertId", json_type_string)),
                        OID_B);
    json_object_put(o);
    bson_destroy(&doc);
}

static void test_bson_to_json_dates_as_iso8601(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o;

    (void)state;
    BSON_APPEND_DATE_TIME(&doc, "createdAt", NOV30_NOON_MS + 123);
    BSON_APPEND_DATE_TIME(&doc, "paidAt", DEC01_MS - 1);
    BSON_APPEND_DATE_TIME(&doc, "epoch", 0);
    BSON_APPEND_DATE_TIME(&doc, "before", -1); /* lumira_iso8601 clamps to the epoch */
    o = to_json(&doc);
    assert_string_equal(json_object_get_string(member(o, "createdAt", json_type_string)),
                        "2026-11-30T12:34:56.123Z");
    assert_string_equal(json_object_get_string(member(o, "paidAt", json_type_string)),
                        "2026-11-30T23:59:59.999Z");
    assert_string_equal(json_object_get_string(member(o, "epoch", json_type_string)),
                        "1970-01-01T00:00:00.000Z");
    assert_string_equal(json_object_get_string(member(o, "before", json_type_string)),
                        "1970-01-01T00:00:00.000Z");
    json_object_put(o);
    bson_destroy(&doc);
}

static void test_bson_to_json_numbers_bools_null(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o;

    (void)state;
    BSON_APPEND_INT32(&doc, "level", 3);
    BSON_APPEND_INT32(&doc, "i32min", INT32_MIN);
    BSON_APPEND_INT64(&doc, "amount", 2900);
    /* 2^53 + 1: kept exactly, not through a double. */
    BSON_APPEND_INT64(&doc, "big", INT64_C(9007199254740993));
    BSON_APPEND_INT64(&doc, "i64max", INT64_MAX);
    BSON_APPEND_DOUBLE(&doc, "ratio", 14.5);
    BSON_APPEND_DOUBLE(&doc, "whole", 2.0);
    BSON_APPEND_BOOL(&doc, "yes", true);
    BSON_APPEND_BOOL(&doc, "no", false);
    BSON_APPEND_NULL(&doc, "nothing");
    o = to_json(&doc);
    assert_int_equal(json_object_get_int64(member(o, "level", json_type_int)), 3);
    assert_int_equal(json_object_get_int64(member(o, "i32min", json_type_int)), INT32_MIN);
    assert_int_equal(json_object_get_int64(member(o, "amount", json_type_int)), 2900);
    assert_int_equal(json_object_get_int64(member(o, "big", json_type_int)),
                     INT64_C(9007199254740993));
    assert_int_equal(json_object_get_int64(member(o, "i64max", json_type_int)), INT64_MAX);
    assert_true(json_object_get_double(member(o, "ratio", json_type_double)) == 14.5);
    assert_true(json_object_get_double(member(o, "whole", json_type_double)) == 2.0);
    assert_true(json_object_get_boolean(member(o, "yes", json_type_boolean)));
    assert_false(json_object_get_boolean(member(o, "no", json_type_boolean)));
    member(o, "nothing", json_type_null); /* present, as null */
    json_object_put(o);
    bson_destroy(&doc);
}

/* NaN and the infinities, which JSON cannot write, show as null; the output stays JSON
 * (fuzz_bson_json: json-c wrote NaN and Infinity). -0.0 and the largest double are kept. */
static void test_bson_to_json_non_finite_doubles_as_null(void **state)
{
    static const char want[] = "{\"nan\":null,\"inf\":null,\"ninf\":null,\"nzero\":-0.0,";
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o, *back;
    struct lumira_buf out;

    (void)state;
    BSON_APPEND_DOUBLE(&doc, "nan", NAN);
    BSON_APPEND_DOUBLE(&doc, "inf", INFINITY);
    BSON_APPEND_DOUBLE(&doc, "ninf", -INFINITY);
    BSON_APPEND_DOUBLE(&doc, "nzero", -0.0);
    BSON_APPEND_DOUBLE(&doc, "max", DBL_MAX);
    o = to_json(&doc);
    member(o, "nan", json_type_null);
    member(o, "inf", json_type_null);
    member(o, "ninf", json_type_null);
    assert_true(signbit(json_object_get_double(member(o, "nzero", json_type_double))));
    assert_true(json_object_get_double(member(o, "max", json_type_double)) == DBL_MAX);
    serialise(o, &out);
    assert_memory_equal(out.ptr, want, sizeof(want) - 1);
    back = json_tokener_parse(out.ptr);
    assert_non_null(back);
    assert_true(json_object_equal(o, back));
    json_object_put(back);
    lumira_buf_cleanup(&out);
    json_object_put(o);
    bson_destroy(&doc);
}

/* Strings and keys that are not valid UTF-8 (MongoDB need not check) come out as valid UTF-8,
 * each bad byte as U+FFFD, valid ones untouched (fuzz_bson_json: the reply was not UTF-8). */
static void test_bson_to_json_invalid_utf8_replaced(void **state)
{
    static const char want[] =
        "{\"stray\":\"a" U_FFFD "z\",\"surrogate\":\"" U_FFFD U_FFFD U_FFFD "\","
        "\"cut\":\"x" U_FFFD U_FFFD "\",\"caf\xc3\xa9" U_FFFD "\":\"key\","
        "\"form\":{\"" U_FFFD "\":[\"" U_FFFD "\",\"\xf0\x9f\x98\x80\"]}}";
    bson_t doc = BSON_INITIALIZER, child, arr;
    struct json_object *o;
    struct lumira_buf out;

    (void)state;
    BSON_APPEND_UTF8(&doc, "stray", "a\xffz");
    BSON_APPEND_UTF8(&doc, "surrogate", "\xed\xa0\x80");
    BSON_APPEND_UTF8(&doc, "cut", "x\xe2\x82");
    BSON_APPEND_UTF8(&doc, "caf\xc3\xa9\xc0", "key");
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "form", &child);
    BSON_APPEND_ARRAY_BEGIN(&child, "\xfe", &arr);
    BSON_APPEND_UTF8(&arr, "0", "\xc0");
    BSON_APPEND_UTF8(&arr, "1", "\xf0\x9f\x98\x80");
    bson_append_array_end(&child, &arr);
    bson_append_document_end(&doc, &child);
    o = to_json(&doc);
    serialise(o, &out);
    assert_string_equal(out.ptr, want);
    assert_true(lumira_utf8_valid(out.ptr, out.len));
    lumira_buf_cleanup(&out);
    json_object_put(o);
    bson_destroy(&doc);
}

/* Types the API never stores show as null rather than disappearing or failing. */
static void test_bson_to_json_other_types_as_null(void **state)
{
    static const uint8_t bin[] = {1, 2, 3};
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o;

    (void)state;
    BSON_APPEND_BINARY(&doc, "bin", BSON_SUBTYPE_BINARY, bin, sizeof(bin));
    BSON_APPEND_REGEX(&doc, "re", "^a", "i");
    BSON_APPEND_TIMESTAMP(&doc, "ts", 1, 2);
    BSON_APPEND_MINKEY(&doc, "min");
    BSON_APPEND_UTF8(&doc, "after", "still here");
    o = to_json(&doc);
    member(o, "bin", json_type_null);
    member(o, "re", json_type_null);
    member(o, "ts", json_type_null);
    member(o, "min", json_type_null);
    assert_string_equal(json_object_get_string(member(o, "after", json_type_string)),
                        "still here");
    json_object_put(o);
    bson_destroy(&doc);
}

static void test_bson_to_json_nested_document(void **state)
{
    bson_t doc = BSON_INITIALIZER, child, inner;
    bson_oid_t a, b;
    struct json_object *o, *form, *deep;

    (void)state;
    bson_oid_init_from_string(&a, OID_A);
    bson_oid_init_from_string(&b, OID_B);
    BSON_APPEND_OID(&doc, "_id", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "formData", &child);
    BSON_APPEND_OID(&child, "_id", &b); /* a nested _id is not copied to "id" */
    BSON_APPEND_UTF8(&child, "firstName", "Ana");
    BSON_APPEND_DATE_TIME(&child, "birthDate", FEB29_2000_MS);
    BSON_APPEND_DOCUMENT_BEGIN(&child, "deeper", &inner);
    BSON_APPEND_INT32(&inner, "n", 1);
    bson_append_document_end(&child, &inner);
    bson_append_document_end(&doc, &child);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "emptyDoc", &child);
    bson_append_document_end(&doc, &child);
    o = to_json(&doc);
    form = member(o, "formData", json_type_object);
    assert_string_equal(json_object_get_string(member(form, "_id", json_type_string)), OID_B);
    assert_false(json_object_object_get_ex(form, "id", NULL));
    assert_string_equal(json_object_get_string(member(form, "firstName", json_type_string)),
                        "Ana");
    assert_string_equal(json_object_get_string(member(form, "birthDate", json_type_string)),
                        "2000-02-29T00:00:00.000Z");
    deep = member(form, "deeper", json_type_object);
    assert_int_equal(json_object_get_int64(member(deep, "n", json_type_int)), 1);
    assert_int_equal(json_object_object_length(form), 4);
    assert_int_equal(json_object_object_length(member(o, "emptyDoc", json_type_object)), 0);
    json_object_put(o);
    bson_destroy(&doc);
}

static void test_bson_to_json_array_of_mixed_values(void **state)
{
    bson_t doc = BSON_INITIALIZER, arr, child;
    bson_oid_t a;
    struct json_object *o, *v, *e;

    (void)state;
    bson_oid_init_from_string(&a, OID_A);
    BSON_APPEND_ARRAY_BEGIN(&doc, "mixed", &arr);
    BSON_APPEND_UTF8(&arr, "0", "x");
    BSON_APPEND_INT32(&arr, "1", 1);
    BSON_APPEND_INT64(&arr, "2", INT64_C(5000000000));
    BSON_APPEND_DOUBLE(&arr, "3", 1.5);
    BSON_APPEND_BOOL(&arr, "4", true);
    BSON_APPEND_NULL(&arr, "5");
    BSON_APPEND_OID(&arr, "6", &a);
    BSON_APPEND_DATE_TIME(&arr, "7", NOV30_MS);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "8", &child);
    BSON_APPEND_UTF8(&child, "k", "v");
    bson_append_document_end(&arr, &child);
    BSON_APPEND_ARRAY_BEGIN(&arr, "9", &child);
    BSON_APPEND_INT32(&child, "0", 2);
    bson_append_array_end(&arr, &child);
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_ARRAY_BEGIN(&doc, "none", &arr);
    bson_append_array_end(&doc, &arr);
    o = to_json(&doc);
    v = member(o, "mixed", json_type_array);
    assert_int_equal(json_object_array_length(v), 10);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "x");
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 1)), 1);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 2)), INT64_C(5000000000));
    assert_true(json_object_get_double(json_object_array_get_idx(v, 3)) == 1.5);
    assert_true(json_object_get_boolean(json_object_array_get_idx(v, 4)));
    assert_null(json_object_array_get_idx(v, 5)); /* JSON null */
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 6)), OID_A);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 7)),
                        "2026-11-30T00:00:00.000Z");
    e = json_object_array_get_idx(v, 8);
    assert_true(json_object_is_type(e, json_type_object));
    assert_string_equal(json_object_get_string(member(e, "k", json_type_string)), "v");
    e = json_object_array_get_idx(v, 9);
    assert_true(json_object_is_type(e, json_type_array));
    assert_int_equal(json_object_array_length(e), 1);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(e, 0)), 2);
    assert_int_equal(json_object_array_length(member(o, "none", json_type_array)), 0);
    json_object_put(o);
    bson_destroy(&doc);
}

/* "_id" stays and is also given as "id", whatever its type; without "_id" there is no "id". */
static void test_bson_to_json_id_copied_at_top_level(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t a;
    struct json_object *o;

    (void)state;
    bson_oid_init_from_string(&a, OID_A);
    BSON_APPEND_OID(&doc, "_id", &a);
    BSON_APPEND_UTF8(&doc, "orderNumber", "LU261130001");
    o = to_json(&doc);
    assert_string_equal(json_object_get_string(member(o, "_id", json_type_string)), OID_A);
    assert_string_equal(json_object_get_string(member(o, "id", json_type_string)), OID_A);
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);
    bson_destroy(&doc);

    /* processed_events keys are Stripe ids (strings). */
    bson_init(&doc);
    BSON_APPEND_UTF8(&doc, "_id", "evt_123");
    o = to_json(&doc);
    assert_string_equal(json_object_get_string(member(o, "id", json_type_string)), "evt_123");
    json_object_put(o);
    bson_destroy(&doc);

    bson_init(&doc);
    BSON_APPEND_UTF8(&doc, "orderNumber", "LU261130001");
    o = to_json(&doc);
    assert_false(json_object_object_get_ex(o, "id", NULL));
    assert_false(json_object_object_get_ex(o, "_id", NULL));
    json_object_put(o);
    bson_destroy(&doc);
}

/* An _id that shows as null (null itself, a UUID as binary) is copied as null, and the
 * document still converts (fuzz_bson_json: it failed as if out of memory, a 500). */
static void test_bson_to_json_null_id_copied_as_null(void **state)
{
    static const uint8_t uuid[16] = {0x12, 0x34};
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o;

    (void)state;
    BSON_APPEND_NULL(&doc, "_id");
    BSON_APPEND_UTF8(&doc, "orderNumber", "LU261130001");
    o = to_json(&doc);
    member(o, "_id", json_type_null);
    member(o, "id", json_type_null);
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);
    bson_destroy(&doc);

    bson_init(&doc);
    BSON_APPEND_BINARY(&doc, "_id", BSON_SUBTYPE_UUID, uuid, sizeof(uuid));
    o = to_json(&doc);
    member(o, "_id", json_type_null);
    member(o, "id", json_type_null);
    json_object_put(o);
    bson_destroy(&doc);
}

/* A document holding `n` documents nested under the key "" (n + 1 levels), made by hand in a new
 * buffer of 7n + 5 bytes (the caller frees it): libbson's builder takes quadratic time for this. */
static uint8_t *nested_doc(size_t n, bson_t *doc)
{
    size_t size = 7 * n + 5, i;
    uint8_t *buf = calloc(1, size); /* the zeros are the keys and the terminators */

    assert_non_null(buf);
    for (i = 0; i <= n; i++) {
        uint32_t len = (uint32_t)(size - 7 * i);

        buf[6 * i] = (uint8_t)(len & 0xff);
        buf[6 * i + 1] = (uint8_t)((len >> 8) & 0xff);
        buf[6 * i + 2] = (uint8_t)((len >> 16) & 0xff);
        buf[6 * i + 3] = (uint8_t)(len >> 24);
        if (i < n)
            buf[6 * i + 4] = BSON_TYPE_DOCUMENT;
    }
    assert_true(bson_init_static(doc, buf, size));
    return buf;
}

/* LUMIRA_BSON_MAX_DEPTH levels are shown, deeper ones as null, and a document nested far deeper
 * converts without recursing that deep (fuzz_bson_json: a stack overflow at 9300 levels). */
static void test_bson_to_json_depth_capped(void **state)
{
    static const size_t depths[] = {LUMIRA_BSON_MAX_DEPTH - 1, LUMIRA_BSON_MAX_DEPTH, 200000};
    struct json_object *o, *v;
    struct lumira_buf out;
    uint8_t *buf;
    bson_t doc;
    size_t i, k;

    (void)state;
    for (i = 0; i < ARRAY_LEN(depths); i++) {
        buf = nested_doc(depths[i], &doc);
        o = to_json(&doc);
        v = o;
        for (k = 1; k < LUMIRA_BSON_MAX_DEPTH; k++)
            v = member(v, "", json_type_object);
        /* v is at the deepest level shown. */
        if (i == 0)
            assert_int_equal(json_object_object_length(v), 0);
        else
            member(v, "", json_type_null);
        /* {"":{"":...{} or {"":null}...}} */
        serialise(o, &out);
        assert_int_equal(out.len, 4 * (LUMIRA_BSON_MAX_DEPTH - 1) + (i == 0 ? 2 : 9) +
                                      LUMIRA_BSON_MAX_DEPTH - 1);
        lumira_buf_cleanup(&out);
        json_object_put(o);
        bson_destroy(&doc);
        free(buf);
    }
}

static void test_bson_to_json_empty_document(void **state)
{
    bson_t doc = BSON_INITIALIZER;
    struct json_object *o;
    struct lumira_buf out;

    (void)state;
    o = to_json(&doc);
    assert_int_equal(json_object_object_length(o), 0);
    serialise(o, &out);
    assert_string_equal(out.ptr, "{}");
    lumira_buf_cleanup(&out);
    json_object_put(o);
    bson_destroy(&doc);
}

/* A whole stored order with every type, written as the API writes it: member order kept, "id"
 * last. */
static void test_bson_to_json_serialises_order(void **state)
{
    static const char want[] =
        "{\"_id\":\"" OID_A "\",\"orderNumber\":\"LU261130001\",\"userId\":\"" OID_B "\","
        "\"userEmail\":\"a+b@x.io\",\"level\":4,\"levelName\":\"Int\xc3\xa9grale\","
        "\"amount\":4900,\"ratio\":0.5,\"status\":\"paid\",\"refunded\":false,\"isNew\":true,"
        "\"assignedExpertId\":null,"
        "\"formData\":{\"firstName\":\"Ana\",\"path\":\"a/b\",\"quote\":\"say \\\"hi\\\"\","
        "\"tags\":[\"x\",1,2.5,null,{\"k\":\"v\"},[]]},"
        "\"createdAt\":\"2026-11-30T12:34:56.123Z\",\"id\":\"" OID_A "\"}";
    bson_t doc = BSON_INITIALIZER, form, tags, child;
    bson_oid_t a, b;
    struct json_object *o;
    struct lumira_buf out;

    (void)state;
    bson_oid_init_from_string(&a, OID_A);
    bson_oid_init_from_string(&b, OID_B);
    BSON_APPEND_OID(&doc, "_id", &a);
    BSON_APPEND_UTF8(&doc, "orderNumber", "LU261130001");
    BSON_APPEND_OID(&doc, "userId", &b);
    BSON_APPEND_UTF8(&doc, "userEmail", "a+b@x.io");
    BSON_APPEND_INT32(&doc, "level", 4);
    BSON_APPEND_UTF8(&doc, "levelName", "Int\xc3\xa9grale");
    BSON_APPEND_INT64(&doc, "amount", 4900);
    BSON_APPEND_DOUBLE(&doc, "ratio", 0.5);
    BSON_APPEND_UTF8(&doc, "status", "paid");
    BSON_APPEND_BOOL(&doc, "refunded", false);
    BSON_APPEND_BOOL(&doc, "isNew", true);
    BSON_APPEND_NULL(&doc, "assignedExpertId");
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "formData", &form);
    BSON_APPEND_UTF8(&form, "firstName", "Ana");
    BSON_APPEND_UTF8(&form, "path", "a/b");
    BSON_APPEND_UTF8(&form, "quote", "say \"hi\"");
    BSON_APPEND_ARRAY_BEGIN(&form, "tags", &tags);
    BSON_APPEND_UTF8(&tags, "0", "x");
    BSON_APPEND_INT32(&tags, "1", 1);
    BSON_APPEND_DOUBLE(&tags, "2", 2.5);
    BSON_APPEND_NULL(&tags, "3");
    BSON_APPEND_DOCUMENT_BEGIN(&tags, "4", &child);
    BSON_APPEND_UTF8(&child, "k", "v");
    bson_append_document_end(&tags, &child);
    BSON_APPEND_ARRAY_BEGIN(&tags, "5", &child);
    bson_append_array_end(&tags, &child);
    bson_append_array_end(&form, &tags);
    bson_append_document_end(&doc, &form);
    BSON_APPEND_DATE_TIME(&doc, "createdAt", NOV30_NOON_MS + 123);
    o = to_json(&doc);
    serialise(o, &out);
    assert_string_equal(out.ptr, want);
    lumira_buf_cleanup(&out);
    json_object_put(o);
    bson_destroy(&doc);
}

/* ---- who holds an order (API.md (compat): the original's expertReview.expertId) ---- */

#define HEX_A "0123456789abcdef01234567"
#define HEX_B "89abcdef0123456789abcdef"

/* assignedExpertId of lumira_order_to_json(doc): its string, or NULL for null. */
static const char *shown_holder(const bson_t *doc, char out[LUMIRA_OID_HEX + 1])
{
    bool ok = true;
    struct json_object *o = lumira_order_to_json(doc, &ok), *v = NULL;
    const char *r = NULL;

    assert_true(ok);
    assert_true(json_object_object_get_ex(o, "assignedExpertId", &v));
    if (v != NULL) {
        assert_true(json_object_is_type(v, json_type_string));
        snprintf(out, LUMIRA_OID_HEX + 1, "%s", json_object_get_string(v));
        r = out;
    }
    json_object_put(o);
    return r;
}

static void test_order_json_holder(void **state)
{
    bson_t *free_doc = BCON_NEW("orderNumber", "LU261201001");
    bson_t *legacy = BCON_NEW("expertReview", "{", "expertId", HEX_A, "assignedAt",
                              BCON_DATE_TIME(1), "}");
    bson_t *not_hex = BCON_NEW("expertReview", "{", "expertId", "expert-42", "}");
    bson_t *upper = BCON_NEW("expertReview", "{", "expertId", "0123456789ABCDEF01234567", "}");
    bson_t *mixed = BCON_NEW("expertReview", "{", "expertId", "0123456789ABCdef01234567", "}");
    bson_t *empty = BCON_NEW("expertReview", "{", "expertId", "", "}");
    bson_t *short_id = BCON_NEW("expertReview", "{", "expertId", "0123456789abcdef0123456", "}");
    bson_t *null_held = BCON_NEW("assignedExpertId", BCON_NULL, "expertReview", "{", "expertId",
                                 HEX_A, "}");
    bson_t *ours = bson_new(), review;
    bson_oid_t oid;
    char buf[LUMIRA_OID_HEX + 1];

    (void)state;
    bson_oid_init_from_string(&oid, HEX_B);
    BSON_APPEND_OID(ours, "assignedExpertId", &oid);
    BSON_APPEND_DOCUMENT_BEGIN(ours, "expertReview", &review);
    BSON_APPEND_UTF8(&review, "expertId", HEX_A); /* ours decides, not the review's */
    bson_append_document_end(ours, &review);
    assert_string_equal(shown_holder(ours, buf), HEX_B);
    assert_null(shown_holder(free_doc, buf));
    assert_string_equal(shown_holder(legacy, buf), HEX_A);
    assert_null(shown_holder(not_hex, buf));
    assert_string_equal(shown_holder(upper, buf), HEX_A); /* shown in lower case */
    assert_null(shown_holder(mixed, buf));
    assert_null(shown_holder(empty, buf));
    assert_null(shown_holder(short_id, buf));
    assert_string_equal(shown_holder(null_held, buf), HEX_A);
    bson_destroy(free_doc);
    bson_destroy(legacy);
    bson_destroy(not_hex);
    bson_destroy(upper);
    bson_destroy(mixed);
    bson_destroy(empty);
    bson_destroy(short_id);
    bson_destroy(null_held);
    bson_destroy(ours);
}

#define FREE_NOT                                                                                   \
    "{ \"$not\" : { \"$regularExpression\" : { \"pattern\" : \"^([0-9a-f]{24}|[0-9A-F]{24})$\", "   \
    "\"options\" : \"\" } } }"
#define MINE_IN "{ \"$in\" : [ \"" HEX_A "\", \"0123456789ABCDEF01234567\" ] }"

/* The filter as relaxed extended JSON. */
static void assert_filter(const bson_t *f, const char *want)
{
    char *got = bson_as_relaxed_extended_json(f, NULL);

    assert_string_equal(got, want);
    bson_free(got);
}

static void test_holder_filters(void **state)
{
    bson_t f = BSON_INITIALIZER;

    (void)state;
    lumira_orders_match_free(&f);
    assert_filter(&f, "{ \"assignedExpertId\" : null, \"expertReview.expertId\" : " FREE_NOT " }");
    bson_reinit(&f);
    assert_true(lumira_orders_match_mine(&f, HEX_A));
    assert_filter(&f, "{ \"$or\" : [ { \"assignedExpertId\" : { \"$oid\" : \"" HEX_A "\" } }, "
                      "{ \"assignedExpertId\" : null, \"expertReview.expertId\" : " MINE_IN " } ] }");
    bson_reinit(&f);
    assert_true(lumira_orders_match_free_or_mine(&f, HEX_A));
    assert_filter(&f, "{ \"$or\" : [ { \"assignedExpertId\" : null, \"expertReview.expertId\" : "
                      FREE_NOT " }, { \"assignedExpertId\" : { \"$oid\" : \"" HEX_A "\" } }, "
                      "{ \"assignedExpertId\" : null, \"expertReview.expertId\" : " MINE_IN " } ] }");
    bson_reinit(&f);
    assert_false(lumira_orders_match_mine(&f, "not-an-id"));
    assert_false(lumira_orders_match_free_or_mine(&f, "0123"));
    assert_true(bson_empty(&f));
    bson_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_name_every_status),
        cmocka_unit_test(test_status_name_none_and_out_of_range),
        cmocka_unit_test(test_status_parse_every_name),
        cmocka_unit_test(test_status_parse_unknown),
        cmocka_unit_test(test_status_parse_prefix_and_suffix),
        cmocka_unit_test(test_status_parse_empty),
        cmocka_unit_test(test_transition_full_matrix),
        cmocka_unit_test(test_transition_to_itself_never),
        cmocka_unit_test(test_transition_none_never),
        cmocka_unit_test(test_payment_transition_full_matrix),
        cmocka_unit_test(test_payment_transition_none_never),
        cmocka_unit_test(test_level_names_and_amounts),
        cmocka_unit_test(test_level_out_of_range),
        cmocka_unit_test(test_number_format_known_day),
        cmocka_unit_test(test_number_format_sequence_widths),
        cmocka_unit_test(test_number_format_largest_sequence),
        cmocka_unit_test(test_number_format_utc_day_boundary),
        cmocka_unit_test(test_number_format_buffer_sizes),
        cmocka_unit_test(test_counter_id_known_days),
        cmocka_unit_test(test_number_valid_good),
        cmocka_unit_test(test_number_valid_accepts_formatted),
        cmocka_unit_test(test_number_valid_too_short),
        cmocka_unit_test(test_number_valid_prefix_case),
        cmocka_unit_test(test_number_valid_non_digits),
        cmocka_unit_test(test_number_valid_too_long),
        cmocka_unit_test(test_bson_to_json_strings),
        cmocka_unit_test(test_bson_to_json_invalid_utf8_replaced),
        cmocka_unit_test(test_bson_to_json_oid_as_hex),
        cmocka_unit_test(test_bson_to_json_dates_as_iso8601),
        cmocka_unit_test(test_bson_to_json_numbers_bools_null),
        cmocka_unit_test(test_bson_to_json_non_finite_doubles_as_null),
        cmocka_unit_test(test_bson_to_json_other_types_as_null),
        cmocka_unit_test(test_bson_to_json_nested_document),
        cmocka_unit_test(test_bson_to_json_array_of_mixed_values),
        cmocka_unit_test(test_bson_to_json_id_copied_at_top_level),
        cmocka_unit_test(test_bson_to_json_null_id_copied_as_null),
        cmocka_unit_test(test_bson_to_json_depth_capped),
        cmocka_unit_test(test_bson_to_json_empty_document),
        cmocka_unit_test(test_bson_to_json_serialises_order),
        cmocka_unit_test(test_order_json_holder),
        cmocka_unit_test(test_holder_filters),
    };

    return cmocka_run_group_tests_name("orders", tests, NULL, NULL);
}
