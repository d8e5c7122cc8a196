/* Unit tests of src/str.c: the strict integer parser, the bounded copies, the small helpers and
 * the literal regular expression. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "str.h"

/* Parses the NUL-terminated `s` against `max`; *out is preset to a marker so that a write on
 * failure shows. */
static enum lumira_err parse(const char *s, uint64_t max, uint64_t *out)
{
    *out = 0xdeadbeef;
    return lumira_parse_u64(s, strlen(s), max, out);
}

static void test_parse_u64_empty(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(lumira_parse_u64("", 0, UINT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_parse_u64("123", 0, UINT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_parse_u64(NULL, 3, UINT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(v, 7);
}

static void test_parse_u64_plain(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(parse("0", UINT64_MAX, &v), LUMIRA_OK);
    assert_int_equal(v, 0);
    assert_int_equal(parse("42", UINT64_MAX, &v), LUMIRA_OK);
    assert_int_equal(v, 42);
    assert_int_equal(parse("1234567890", UINT64_MAX, &v), LUMIRA_OK);
    assert_int_equal(v, 1234567890);
}

/* Only `len` bytes are read: what follows is never looked at. */
static void test_parse_u64_counted(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(lumira_parse_u64("12x", 2, UINT64_MAX, &v), LUMIRA_OK);
    assert_int_equal(v, 12);
    assert_int_equal(lumira_parse_u64("12\0003", 4, UINT64_MAX, &v), LUMIRA_EINVAL);
}

static void test_parse_u64_signs(void **state)
{
    static const char *const bad[] = {"-1", "+1", "-0", "+0", "1-", "1+", "--1"};
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], UINT64_MAX, &v), LUMIRA_EINVAL);
        assert_int_equal(v, 0xdeadbeef);
    }
}

static void test_parse_u64_spaces(void **state)
{
    static const char *const bad[] = {" 1", "1 ", "1 2", "\t1", "1\n", " ", "1\r"};
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], UINT64_MAX, &v), LUMIRA_EINVAL);
        assert_int_equal(v, 0xdeadbeef);
    }
}

static void test_parse_u64_non_digits(void **state)
{
    static const char *const bad[] = {"abc",   "1a",    "0x10",     "1.5", "1e3",
                                      "1,000", "1_000", "\xd9\xa1", /* ARABIC-INDIC DIGIT ONE */
                                      "/",     ":"}; /* the bytes either side of '0'..'9' */
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], UINT64_MAX, &v), LUMIRA_EINVAL);
        assert_int_equal(v, 0xdeadbeef);
    }
}

static void test_parse_u64_leading_zeros(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(parse("007", UINT64_MAX, &v), LUMIRA_OK);
    assert_int_equal(v, 7);
    assert_int_equal(parse("00000000000000000000000000000000000000001", 1, &v), LUMIRA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(parse("0000", 0, &v), LUMIRA_OK);
    assert_int_equal(v, 0);
}

/* max - 1, max and max + 1 for a few maxima, including ones with a last digit above 0. */
static void test_parse_u64_exact_max(void **state)
{
    static const struct {
        const char *s;
        uint64_t max;
        enum lumira_err want;
        uint64_t v;
    } cases[] = {
        {"599999", 600000, LUMIRA_OK, 599999},
        {"600000", 600000, LUMIRA_OK, 600000},
        {"600001", 600000, LUMIRA_ETOOBIG, 0},
        {"4", 5, LUMIRA_OK, 4},
        {"5", 5, LUMIRA_OK, 5},
        {"6", 5, LUMIRA_ETOOBIG, 0},
        {"9", 5, LUMIRA_ETOOBIG, 0},
        {"0", 0, LUMIRA_OK, 0},
        {"1", 0, LUMIRA_ETOOBIG, 0},
        {"9", 0, LUMIRA_ETOOBIG, 0},
        {"29", 30, LUMIRA_OK, 29},
        {"30", 30, LUMIRA_OK, 30},
        {"31", 30, LUMIRA_ETOOBIG, 0},
        {"39", 30, LUMIRA_ETOOBIG, 0},
        {"100", 99, LUMIRA_ETOOBIG, 0},
        {"99", 99, LUMIRA_OK, 99},
    };
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum lumira_err err = parse(cases[i].s, cases[i].max, &v);

        if (err != cases[i].want)
            fail_msg("\"%s\" with max %ju: got %d, want %d", cases[i].s, (uintmax_t)cases[i].max,
                     err, cases[i].want);
        if (err == LUMIRA_OK)
            assert_int_equal(v, cases[i].v);
        else
            assert_int_equal(v, 0xdeadbeef);
    }
}

static void test_parse_u64_uint64_max(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(parse("18446744073709551614", UINT64_MAX, &v), LUMIRA_OK);
    assert_true(v == UINT64_MAX - 1);
    assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), LUMIRA_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse("018446744073709551615", UINT64_MAX, &v), LUMIRA_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse("18446744073709551615", UINT64_MAX - 1, &v), LUMIRA_ETOOBIG);
}

static void test_parse_u64_uint64_max_plus_one(void **state)
{
    static const char *const over[] = {"18446744073709551616", "18446744073709551619",
                                       "18446744073709551620", "18446744073709551700",
                                       "19999999999999999999", "99999999999999999999"};
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        assert_int_equal(parse(over[i], UINT64_MAX, &v), LUMIRA_ETOOBIG);
        assert_int_equal(v, 0xdeadbeef);
    }
}

static void test_parse_u64_21_digits(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(parse("100000000000000000000", UINT64_MAX, &v), LUMIRA_ETOOBIG);
    assert_int_equal(parse("999999999999999999999", UINT64_MAX, &v), LUMIRA_ETOOBIG);
    assert_int_equal(parse("184467440737095516150", UINT64_MAX, &v), LUMIRA_ETOOBIG);
    assert_int_equal(v, 0xdeadbeef);
}

static void test_strscpy_size_zero(void **state)
{
    char dst[4] = "abc";

    (void)state;
    assert_int_equal(lumira_strscpy(dst, "x", 0), LUMIRA_ETOOBIG);
    assert_string_equal(dst, "abc"); /* nothing written */
}

static void test_strscpy_fits(void **state)
{
    char dst[8];

    (void)state;
    memset(dst, 'Z', sizeof(dst));
    assert_int_equal(lumira_strscpy(dst, "abc", sizeof(dst)), LUMIRA_OK);
    assert_string_equal(dst, "abc");
    assert_int_equal(lumira_strscpy(dst, "", sizeof(dst)), LUMIRA_OK);
    assert_string_equal(dst, "");
    assert_int_equal(lumira_strscpy(dst, "", 1), LUMIRA_OK);
    assert_string_equal(dst, "");
}

static void test_strscpy_exact_fit(void **state)
{
    char dst[5];

    (void)state;
    memset(dst, 'Z', sizeof(dst));
    assert_int_equal(lumira_strscpy(dst, "abcd", sizeof(dst)), LUMIRA_OK);
    assert_memory_equal(dst, "abcd", 5);
}

static void test_strscpy_one_over(void **state)
{
    char dst[6];

    (void)state;
    memset(dst, 'Z', sizeof(dst));
    /* Only 5 of the 6 bytes are offered: "abcde" needs 6. */
    assert_int_equal(lumira_strscpy(dst, "abcde", 5), LUMIRA_ETOOBIG);
    assert_memory_equal(dst, "abcd\0Z", 6); /* cut, terminated, and nothing past size */
    assert_int_equal(lumira_strscpy(dst, "a", 1), LUMIRA_ETOOBIG);
    assert_string_equal(dst, "");
}

static void test_str_fmt_fits(void **state)
{
    char out[8];

    (void)state;
    assert_false(lumira_str_fmt(out, sizeof(out), "%d-%s", 12, "ab"));
    assert_string_equal(out, "12-ab");
    assert_false(lumira_str_fmt(out, sizeof(out), "%s", "1234567")); /* exact fit */
    assert_string_equal(out, "1234567");
}

static void test_str_fmt_truncation_flag(void **state)
{
    char out[8];

    (void)state;
    assert_true(lumira_str_fmt(out, sizeof(out), "%s", "12345678"));
    assert_string_equal(out, "1234567");
    assert_true(lumira_str_fmt(out, 1, "%s", "x"));
    assert_string_equal(out, "");
    assert_false(lumira_str_fmt(out, 1, "%s", ""));
}

static void test_str_has_prefix_cases(void **state)
{
    (void)state;
    assert_true(lumira_str_has_prefix("REPLACE_WITH_X", 14, "REPLACE_WITH"));
    assert_true(lumira_str_has_prefix("abc", 3, "abc"));
    assert_true(lumira_str_has_prefix("abc", 3, ""));
    assert_true(lumira_str_has_prefix("", 0, ""));
    assert_false(lumira_str_has_prefix("ab", 2, "abc"));
    assert_false(lumira_str_has_prefix("abc", 2, "abc")); /* counted, not NUL-terminated */
    assert_false(lumira_str_has_prefix("Abc", 3, "abc")); /* case matters */
    assert_false(lumira_str_has_prefix("", 0, "a"));
}

static void test_str_contains_nocase_cases(void **state)
{
    (void)state;
    assert_true(lumira_str_contains_nocase("xxChangeMexx", 12, "changeme"));
    assert_true(lumira_str_contains_nocase("CHANGEME", 8, "changeme"));
    assert_true(lumira_str_contains_nocase("changeme", 8, "CHANGEME"));
    assert_true(lumira_str_contains_nocase("abc", 3, ""));
    assert_true(lumira_str_contains_nocase("", 0, ""));
    assert_true(lumira_str_contains_nocase("aaab", 4, "aab"));
    assert_false(lumira_str_contains_nocase("changem", 7, "changeme"));
    assert_false(lumira_str_contains_nocase("changemeX", 7, "changeme")); /* only len bytes */
    assert_false(lumira_str_contains_nocase("", 0, "a"));
    assert_false(lumira_str_contains_nocase("chan ge me", 10, "changeme"));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) are not a case pair. */
    assert_false(lumira_str_contains_nocase("@", 1, "`"));
    assert_false(lumira_str_contains_nocase("[", 1, "{"));
}

static void test_hex_encode_known(void **state)
{
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(in) + 2];

    (void)state;
    memset(out, 'Z', sizeof(out));
    lumira_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00017f80abff");
    assert_int_equal(out[2 * sizeof(in) + 1], 'Z'); /* exactly 2 * len + 1 bytes written */
}

static void test_hex_digit_every_byte(void **state)
{
    int c;

    (void)state;
    for (c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;

        assert_int_equal(lumira_hex_digit((char)c), want);
    }
}

static void test_hex_encode_empty(void **state)
{
    char out[1] = {'Z'};

    (void)state;
    lumira_hex_encode((const unsigned char *)"", 0, out);
    assert_int_equal(out[0], '\0');
}

static void test_utf8_seq_lengths(void **state)
{
    static const struct {
        const char *s;
        size_t want;
    } cases[] = {
        {"a", 1},
        {"\x7f", 1},
        {"\xc2\x80", 2},
        {"\xdf\xbf", 2},
        {"\xe0\xa0\x80", 3},
        {"\xed\x9f\xbf", 3},
        {"\xee\x80\x80", 3},
        {"\xef\xbf\xbf", 3},
        {"\xf0\x90\x80\x80", 4},
        {"\xf4\x8f\xbf\xbf", 4},
        {"\xe2\x82\xac!", 3},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(lumira_utf8_seq((const unsigned char *)cases[i].s, strlen(cases[i].s)),
                         cases[i].want);
    /* A NUL byte is a valid one-byte sequence. */
    assert_int_equal(lumira_utf8_seq((const unsigned char *)"", 1), 1);
}

static void test_utf8_seq_invalid(void **state)
{
    static const char *const bad[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf",
        "\xc2",
        "\xc2\x41",
        "\xe0\x80\x80",
        "\xe0\x9f\xbf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xe2\x82",
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xf0\x9f\x98",
        "\xe2\x28\xa1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lumira_utf8_seq((const unsigned char *)bad[i], strlen(bad[i])) != 0)
            fail_msg("bad sequence %zu accepted", i);
    /* Only `len` bytes are looked at: a sequence cut by len is invalid. */
    assert_int_equal(lumira_utf8_seq((const unsigned char *)"\xe2\x82\xac", 2), 0);
}

static void test_utf8_valid_strings(void **state)
{
    (void)state;
    assert_true(lumira_utf8_valid("", 0));
    assert_true(lumira_utf8_valid("plain ascii", 11));
    assert_true(lumira_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert_true(lumira_utf8_valid("a\0b", 3));
    assert_false(lumira_utf8_valid("caf\xc3", 4));
    assert_false(lumira_utf8_valid("ok\xff", 3));
    assert_false(lumira_utf8_valid("\xef\xbb\xbf\xed\xa0\x80", 6));
    assert_true(lumira_utf8_valid("ok\xff", 2)); /* counted */
}

static void test_random_bytes_fill(void **state)
{
    unsigned char a[64], b[64], big[100000];
    size_t i, zeros = 0;

    (void)state;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(lumira_random_bytes(a, sizeof(a)), LUMIRA_OK);
    assert_int_equal(lumira_random_bytes(b, sizeof(b)), LUMIRA_OK);
    /* Two 512-bit draws are equal, or all zero, with negligible probability. */
    assert_memory_not_equal(a, b, sizeof(a));
    for (i = 0; i < sizeof(a); i++)
        zeros += a[i] == 0;
    assert_true(zeros < sizeof(a));
    /* A length past what one getrandom() call may return is filled completely. */
    memset(big, 0, sizeof(big));
    assert_int_equal(lumira_random_bytes(big, sizeof(big)), LUMIRA_OK);
    for (i = 0, zeros = 0; i < 1024; i++)
        zeros += big[sizeof(big) - 1024 + i] == 0;
    assert_true(zeros < 64); /* about 4 expected */
    assert_int_equal(lumira_random_bytes(a, 0), LUMIRA_OK);
}

/* Runs lumira_regex_literal() on `len` bytes of `s` into a fresh buffer capped at `max`. */
static enum lumira_err regex(const char *s, size_t len, size_t max, struct lumira_buf *out)
{
    lumira_buf_init(out, max);
    return lumira_regex_literal(s, len, out);
}

/* Checks that `s` gives exactly `want` followed by its NUL, which counts in len. */
static void check_regex(const char *s, const char *want)
{
    struct lumira_buf b;

    assert_int_equal(regex(s, strlen(s), 1024, &b), LUMIRA_OK);
    assert_non_null(b.ptr);
    assert_int_equal(b.len, strlen(want) + 1);
    assert_memory_equal(b.ptr, want, strlen(want) + 1);
    assert_string_equal(b.ptr, want);
    lumira_buf_cleanup(&b);
}

static void test_regex_literal_email(void **state)
{
    (void)state;
    check_regex("a+b@x.io", "a\\+b\\@x\\.io");
    check_regex("first.last+tag@sub-domain.example", "first\\.last\\+tag\\@sub\\-domain\\.example");
    check_regex("o'neil_x@y.z", "o\\'neil\\_x\\@y\\.z");
}

static void test_regex_literal_metacharacters(void **state)
{
    (void)state;
    check_regex(".*", "\\.\\*");
    check_regex("^a$", "\\^a\\$");
    check_regex("(a|b)[c]{2}?", "\\(a\\|b\\)\\[c\\]\\{2\\}\\?");
    check_regex("\\", "\\\\");
    check_regex("\\d", "\\\\d"); /* a backslash and a letter stay two literal characters */
    check_regex(" ", "\\ ");
}

static void test_regex_literal_word_bytes_unchanged(void **state)
{
    (void)state;
    check_regex("abcxyzABCXYZ0123456789", "abcxyzABCXYZ0123456789");
    /* UTF-8 bytes (0x80 and above) go through as they are. */
    check_regex("caf\xc3\xa9", "caf\xc3\xa9");
    check_regex("\xe2\x82\xac\xf0\x9f\x98\x80", "\xe2\x82\xac\xf0\x9f\x98\x80");
    check_regex("\xc3\xa9.\xc3\xa9", "\xc3\xa9\\.\xc3\xa9");
}

/* Every ASCII byte: letters and digits as they are, every other one after a backslash. */
static void test_regex_literal_every_ascii_byte(void **state)
{
    int c;

    (void)state;
    for (c = 1; c < 0x80; c++) {
        char in = (char)c;
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        struct lumira_buf b;

        assert_int_equal(regex(&in, 1, 16, &b), LUMIRA_OK);
        if (word) {
            assert_int_equal(b.len, 2);
            assert_int_equal(b.ptr[0], in);
        } else {
            if (b.len != 3 || b.ptr[0] != '\\' || b.ptr[1] != in)
                fail_msg("byte 0x%02x not escaped", (unsigned)c);
        }
        assert_int_equal(b.ptr[b.len - 1], '\0');
        lumira_buf_cleanup(&b);
    }
}

/* Empty input gives just the terminating NUL. */
static void test_regex_literal_empty(void **state)
{
    struct lumira_buf b;

    (void)state;
    assert_int_equal(regex("", 0, 16, &b), LUMIRA_OK);
    assert_non_null(b.ptr);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.ptr[0], '\0');
    lumira_buf_cleanup(&b);
}

/* Only `len` bytes are read. */
static void test_regex_literal_counted(void **state)
{
    struct lumira_buf b;

    (void)state;
    assert_int_equal(regex("a.b.c", 3, 16, &b), LUMIRA_OK);
    assert_string_equal(b.ptr, "a\\.b");
    assert_int_equal(b.len, 5);
    lumira_buf_cleanup(&b);
}

/* The text is appended after what the buffer holds (an anchor, say). */
static void test_regex_literal_appends(void **state)
{
    struct lumira_buf b;

    (void)state;
    lumira_buf_init(&b, 64);
    assert_int_equal(lumira_buf_adds(&b, "^"), LUMIRA_OK);
    assert_int_equal(lumira_regex_literal("a.b", 3, &b), LUMIRA_OK);
    assert_string_equal(b.ptr, "^a\\.b");
    assert_int_equal(b.len, 6);
    lumira_buf_cleanup(&b);
}

/* "a.b" needs 5 bytes of the buffer's max ("a\.b" and the NUL): max 5 fits, 4 and 3 do not
 * (the buffer reports LUMIRA_ETOOBIG), 6 fits. */
static void test_regex_literal_buffer_max(void **state)
{
    struct lumira_buf b;
    char dots[10];

    (void)state;
    assert_int_equal(regex("a.b", 3, 6, &b), LUMIRA_OK);
    lumira_buf_cleanup(&b);
    assert_int_equal(regex("a.b", 3, 5, &b), LUMIRA_OK);
    assert_string_equal(b.ptr, "a\\.b");
    lumira_buf_cleanup(&b);
    assert_int_equal(regex("a.b", 3, 4, &b), LUMIRA_ETOOBIG); /* no room for the NUL */
    assert_true(b.len <= 4);
    lumira_buf_cleanup(&b);
    assert_int_equal(regex("a.b", 3, 3, &b), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&b);
    /* "a" and the backslash fit, the dot does not. */
    assert_int_equal(regex("a.b", 3, 2, &b), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&b);
    assert_int_equal(regex("", 0, 1, &b), LUMIRA_OK);
    lumira_buf_cleanup(&b);
    assert_int_equal(regex("", 0, 0, &b), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&b);
    /* The worst case doubles the input: 10 dots need 2 * 10 + 1. */
    memset(dots, '.', sizeof(dots));
    assert_int_equal(regex(dots, sizeof(dots), 2 * sizeof(dots) + 1, &b), LUMIRA_OK);
    assert_int_equal(b.len, 2 * sizeof(dots) + 1);
    lumira_buf_cleanup(&b);
    assert_int_equal(regex(dots, sizeof(dots), 2 * sizeof(dots), &b), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&b);
}

static void check_fmt_i64(int64_t v, const char *want)
{
    char out[LUMIRA_I64_SIZE + 1];

    memset(out, 'Z', sizeof(out));
    assert_int_equal(lumira_fmt_i64(v, out), strlen(want));
    assert_string_equal(out, want);
    assert_int_equal(out[LUMIRA_I64_SIZE], 'Z');
}

static void test_fmt_i64_edges(void **state)
{
    char want[32];
    int64_t v;
    int i;

    (void)state;
    check_fmt_i64(0, "0");
    check_fmt_i64(7, "7");
    check_fmt_i64(-1, "-1");
    check_fmt_i64(10, "10");
    check_fmt_i64(INT64_MAX, "9223372036854775807");
    check_fmt_i64(INT64_MIN, "-9223372036854775808");
    for (i = 0, v = 1; i < 18; i++, v *= 10) {
        snprintf(want, sizeof(want), "%lld", (long long)(v - 1));
        check_fmt_i64(v - 1, want);
        snprintf(want, sizeof(want), "%lld", (long long)-v);
        check_fmt_i64(-v, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_i64_edges),
        cmocka_unit_test(test_parse_u64_empty),
        cmocka_unit_test(test_parse_u64_plain),
        cmocka_unit_test(test_parse_u64_counted),
        cmocka_unit_test(test_parse_u64_signs),
        cmocka_unit_test(test_parse_u64_spaces),
        cmocka_unit_test(test_parse_u64_non_digits),
        cmocka_unit_test(test_parse_u64_leading_zeros),
        cmocka_unit_test(test_parse_u64_exact_max),
        cmocka_unit_test(test_parse_u64_uint64_max),
        cmocka_unit_test(test_parse_u64_uint64_max_plus_one),
        cmocka_unit_test(test_parse_u64_21_digits),
        cmocka_unit_test(test_strscpy_size_zero),
        cmocka_unit_test(test_strscpy_fits),
        cmocka_unit_test(test_strscpy_exact_fit),
        cmocka_unit_test(test_strscpy_one_over),
        cmocka_unit_test(test_str_fmt_fits),
        cmocka_unit_test(test_str_fmt_truncation_flag),
        cmocka_unit_test(test_str_has_prefix_cases),
        cmocka_unit_test(test_str_contains_nocase_cases),
        cmocka_unit_test(test_hex_encode_known),
        cmocka_unit_test(test_hex_encode_empty),
        cmocka_unit_test(test_hex_digit_every_byte),
        cmocka_unit_test(test_utf8_seq_lengths),
        cmocka_unit_test(test_utf8_seq_invalid),
        cmocka_unit_test(test_utf8_valid_strings),
        cmocka_unit_test(test_random_bytes_fill),
        cmocka_unit_test(test_regex_literal_email),
        cmocka_unit_test(test_regex_literal_metacharacters),
        cmocka_unit_test(test_regex_literal_word_bytes_unchanged),
        cmocka_unit_test(test_regex_literal_every_ascii_byte),
        cmocka_unit_test(test_regex_literal_empty),
        cmocka_unit_test(test_regex_literal_counted),
        cmocka_unit_test(test_regex_literal_appends),
        cmocka_unit_test(test_regex_literal_buffer_max),
    };

    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
