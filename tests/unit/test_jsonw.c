/* Unit tests of src/jsonw.c: the writer gives what json-c's serialisation gives for the same
 * members (compared byte for byte), valid UTF-8 for any input, and sticky errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "jsonw.h"
#include "str.h"

/* What lumira_json_serialize() writes for `obj` (taken). */
static void serialized(struct json_object *obj, struct lumira_buf *out)
{
    lumira_buf_init(out, 1 << 20);
    assert_int_equal(lumira_json_serialize(obj, out), LUMIRA_OK);
    json_object_put(obj);
}

static void test_jsonw_matches_json_c(void **state)
{
    static const char *const strings[] = {
        "",
        "plain",
        "quote \" and \\ backslash",
        "slash / kept",
        "tab\tnl\ncr\r",
        "\b\f\x01\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    };
    struct lumira_buf got, want;
    struct lumira_jw w;
    struct json_object *root, *inner;
    bool ok = true;
    size_t i;

    (void)state;
    root = lumira_json_new_object(&ok);
    inner = lumira_json_new_object(&ok);
    lumira_buf_init(&got, 1 << 20);
    lumira_jw_init(&w, &got);
    lumira_jw_begin(&w, NULL);
    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        char key[8] = {'k', (char)('a' + i), 0};

        lumira_json_put_str(root, key, strings[i], &ok);
        lumira_jw_str(&w, key, strings[i]);
    }
    lumira_json_put_int(root, "max", INT64_MAX, &ok);
    lumira_jw_int(&w, "max", INT64_MAX);
    lumira_json_put_int(root, "min", INT64_MIN, &ok);
    lumira_jw_int(&w, "min", INT64_MIN);
    lumira_json_put_int(root, "zero", 0, &ok);
    lumira_jw_int(&w, "zero", 0);
    lumira_json_put_bool(root, "t", true, &ok);
    lumira_jw_bool(&w, "t", true);
    lumira_json_put_bool(root, "f", false, &ok);
    lumira_jw_bool(&w, "f", false);
    lumira_json_put_str(root, "nothing", NULL, &ok);
    lumira_jw_str(&w, "nothing", NULL);
    lumira_json_put_fixed(root, "uptime", 5321.4, 1, &ok);
    lumira_jw_decimal(&w, "uptime", 53214, 1);
    lumira_json_put_fixed(root, "small", 0.05, 2, &ok);
    lumira_jw_decimal(&w, "small", 5, 2);
    lumira_json_put_fixed(root, "negative", -12.345, 3, &ok);
    lumira_jw_decimal(&w, "negative", -12345, 3);
    lumira_json_put_fixed(root, "whole", 42, 0, &ok);
    lumira_jw_decimal(&w, "whole", 42, 0);
    lumira_json_put_time(root, "ts", 1700000000123, &ok);
    lumira_jw_time(&w, "ts", 1700000000123);
    lumira_json_put_str(inner, "a", "b", &ok);
    lumira_json_put(root, "inner", inner, &ok);
    lumira_jw_begin(&w, "inner");
    lumira_jw_str(&w, "a", "b");
    lumira_jw_end(&w);
    lumira_json_put(root, "empty", lumira_json_new_object(&ok), &ok);
    lumira_jw_begin(&w, "empty");
    lumira_jw_end(&w);
    lumira_jw_end(&w);
    assert_true(ok);
    assert_int_equal(lumira_jw_finish(&w), LUMIRA_OK);
    serialized(root, &want);
    assert_string_equal(got.ptr, want.ptr);
    lumira_buf_cleanup(&got);
    lumira_buf_cleanup(&want);
}

/* Bytes that are not UTF-8 become U+FFFD, one per bad byte; the output parses as UTF-8 JSON. */
static void test_jsonw_invalid_utf8_replaced(void **state)
{
    static const char bad[] = "a\xff"
                              "b\xc0\xaf"
                              "c\xed\xa0\x80"
                              "d\xe2\x82";
    struct lumira_buf got;
    struct lumira_jw w;
    struct json_object *parsed = NULL;
    char why[64];

    (void)state;
    lumira_buf_init(&got, 4096);
    lumira_jw_init(&w, &got);
    lumira_jw_begin(&w, NULL);
    lumira_jw_strn(&w, "v", bad, sizeof(bad) - 1);
    lumira_jw_strn(&w, "nul", "x\0y", 3);
    lumira_jw_end(&w);
    assert_int_equal(lumira_jw_finish(&w), LUMIRA_OK);
    assert_string_equal(got.ptr,
                        "{\"v\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\","
                        "\"nul\":\"x\\u0000y\"}");
    assert_true(lumira_utf8_valid(got.ptr, got.len));
    assert_int_equal(lumira_json_parse_object(got.ptr, got.len, &parsed, why, sizeof(why)),
                     LUMIRA_OK);
    json_object_put(parsed);
    lumira_buf_cleanup(&got);
}

static enum lumira_err finish_of(void (*build)(struct lumira_jw *), size_t cap)
{
    struct lumira_buf b;
    struct lumira_jw w;
    enum lumira_err err;

    lumira_buf_init(&b, cap);
    lumira_jw_init(&w, &b);
    build(&w);
    err = lumira_jw_finish(&w);
    lumira_buf_cleanup(&b);
    return err;
}

static void nothing(struct lumira_jw *w)
{
    (void)w;
}

static void unclosed(struct lumira_jw *w)
{
    lumira_jw_begin(w, NULL);
    lumira_jw_int(w, "a", 1);
}

static void end_without_begin(struct lumira_jw *w)
{
    lumira_jw_begin(w, NULL);
    lumira_jw_end(w);
    lumira_jw_end(w);
}

static void two_roots(struct lumira_jw *w)
{
    lumira_jw_begin(w, NULL);
    lumira_jw_end(w);
    lumira_jw_begin(w, NULL);
    lumira_jw_end(w);
}

static void member_outside(struct lumira_jw *w)
{
    lumira_jw_int(w, "a", 1);
}

static void member_without_name(struct lumira_jw *w)
{
    lumira_jw_begin(w, NULL);
    lumira_jw_int(w, NULL, 1);
    lumira_jw_end(w);
}

static void named_root(struct lumira_jw *w)
{
    lumira_jw_begin(w, "root");
    lumira_jw_end(w);
}

/* LUMIRA_JW_MAX_DEPTH - 1 levels fit, one more does not. */
static void deepest(struct lumira_jw *w)
{
    int i;

    lumira_jw_begin(w, NULL);
    for (i = 1; i < LUMIRA_JW_MAX_DEPTH - 1; i++)
        lumira_jw_begin(w, "d");
    for (i = 0; i < LUMIRA_JW_MAX_DEPTH - 1; i++)
        lumira_jw_end(w);
}

static void too_deep(struct lumira_jw *w)
{
    int i;

    lumira_jw_begin(w, NULL);
    for (i = 1; i < LUMIRA_JW_MAX_DEPTH; i++)
        lumira_jw_begin(w, "d");
    for (i = 0; i < LUMIRA_JW_MAX_DEPTH; i++)
        lumira_jw_end(w);
}

static void long_value(struct lumira_jw *w)
{
    lumira_jw_begin(w, NULL);
    lumira_jw_str(w, "s", "0123456789012345678901234567890123456789");
    lumira_jw_end(w);
}

static void test_jsonw_errors_stick(void **state)
{
    (void)state;
    assert_int_equal(finish_of(nothing, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(unclosed, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(end_without_begin, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(two_roots, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(member_outside, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(member_without_name, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(named_root, 64), LUMIRA_EINVAL);
    assert_int_equal(finish_of(deepest, 4096), LUMIRA_OK);
    assert_int_equal(finish_of(too_deep, 4096), LUMIRA_EINVAL);
    /* {"s":"<40>"} is 48 bytes: the buffer's cap at max-1, max and max+1. */
    assert_int_equal(finish_of(long_value, 47), LUMIRA_ETOOBIG);
    assert_int_equal(finish_of(long_value, 48), LUMIRA_OK);
    assert_int_equal(finish_of(long_value, 49), LUMIRA_OK);
}

static void check_decimal(int64_t units, int decimals, const char *want)
{
    struct lumira_buf b;
    struct lumira_jw w;

    lumira_buf_init(&b, 256);
    lumira_jw_init(&w, &b);
    lumira_jw_begin(&w, NULL);
    lumira_jw_decimal(&w, "v", units, decimals);
    lumira_jw_end(&w);
    assert_int_equal(lumira_jw_finish(&w), LUMIRA_OK);
    assert_string_equal(b.ptr + 5, want);
    lumira_buf_cleanup(&b);
}

static void test_jsonw_decimal_edges(void **state)
{
    (void)state;
    check_decimal(0, 1, "0.0}");
    check_decimal(7, 0, "7}");
    check_decimal(-1, 3, "-0.001}");
    check_decimal(INT64_MAX, 9, "9223372036.854775807}");
    check_decimal(INT64_MIN, 9, "-9223372036.854775808}");
    check_decimal(INT64_MIN, 0, "-9223372036854775808}");
    check_decimal(123, 12, "0.000000123}"); /* decimals past 9 taken as 9 */
}

/* The writer appends: what the buffer held before stays. */
static void test_jsonw_appends(void **state)
{
    struct lumira_buf b;
    struct lumira_jw w;

    (void)state;
    lumira_buf_init(&b, 64);
    assert_int_equal(lumira_buf_adds(&b, "x="), LUMIRA_OK);
    lumira_jw_init(&w, &b);
    lumira_jw_begin(&w, NULL);
    lumira_jw_int(&w, "a", -5);
    lumira_jw_end(&w);
    assert_int_equal(lumira_jw_finish(&w), LUMIRA_OK);
    assert_string_equal(b.ptr, "x={\"a\":-5}");
    lumira_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonw_matches_json_c),
        cmocka_unit_test(test_jsonw_invalid_utf8_replaced),
        cmocka_unit_test(test_jsonw_errors_stick),
        cmocka_unit_test(test_jsonw_appends),
        cmocka_unit_test(test_jsonw_decimal_edges),
    };

    return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
