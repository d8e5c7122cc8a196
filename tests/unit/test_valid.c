/* Unit tests of src/valid.c: e-mail normalisation, string fields counted in characters, the
 * collected {"field", "message"} details, the 400 VALIDATION_ERROR reply and body parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "http.h"
#include "json.h"
#include "lumira_limits.h"
#include "valid.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* The request body's object, parsed with the body rules (freed by put_obj()). */
static struct json_object *cur_obj;

static const struct json_object *obj_of(const char *json)
{
    char why[128];

    json_object_put(cur_obj);
    cur_obj = NULL;
    if (lumira_json_parse_object(json, strlen(json), &cur_obj, why, sizeof(why)) != LUMIRA_OK)
        fail_msg("test JSON does not parse (%s): %s", why, json);
    return cur_obj;
}

static int put_obj(void **state)
{
    (void)state;
    json_object_put(cur_obj);
    cur_obj = NULL;
    return 0;
}

static size_t ndetails(const struct lumira_valid *v)
{
    const struct json_object *d = lumira_valid_details(v);

    return d == NULL ? 0 : json_object_array_length(d);
}

/* Checks detail `i`: its field and message, and that it has no other member. */
static void expect_detail(const struct json_object *details, size_t i, const char *field,
                          const char *message)
{
    const struct json_object *d;

    assert_non_null(details);
    assert_true(json_object_is_type(details, json_type_array));
    assert_true(i < json_object_array_length(details));
    d = json_object_array_get_idx(details, i);
    assert_true(json_object_is_type(d, json_type_object));
    assert_string_equal(tu_json_str(d, "field"), field);
    assert_string_equal(tu_json_str(d, "message"), message);
    assert_int_equal(json_object_object_length(d), 2);
}

/* Runs lumira_valid_str() on {"f": <json value>}, or {} when `value` is NULL. On success the
 * result is copied into `out` (NUL-terminated); on failure the recorded message is. */
static bool str_field(const char *value, unsigned flags, size_t min, size_t max, char *out,
                      size_t size)
{
    struct lumira_valid v;
    char json[2048];
    const char *s = (const char *)&v; /* a marker: must become NULL or the value */
    size_t len = 12345;
    bool ok;

    if (value == NULL)
        snprintf(json, sizeof(json), "{}");
    else
        snprintf(json, sizeof(json), "{\"f\":%s}", value);
    lumira_valid_init(&v);
    ok = lumira_valid_str(&v, obj_of(json), "f", flags, min, max, &s, &len);
    out[0] = '\0';
    if (ok) {
        assert_false(lumira_valid_failed(&v));
        assert_int_equal(ndetails(&v), 0);
        if (s == NULL) {
            assert_int_equal(len, 0);
            snprintf(out, size, "(null)");
        } else {
            assert_true(len > 0 && len < size);
            memcpy(out, s, len);
            out[len] = '\0';
        }
    } else {
        assert_null(s);
        assert_int_equal(len, 0);
        assert_true(lumira_valid_failed(&v));
        assert_int_equal(ndetails(&v), 1);
        snprintf(out, size, "%s",
                 tu_json_str(json_object_array_get_idx(lumira_valid_details(&v), 0), "message"));
        assert_string_equal(
            tu_json_str(json_object_array_get_idx(lumira_valid_details(&v), 0), "field"), "f");
    }
    lumira_valid_cleanup(&v);
    return ok;
}

/* Expects lumira_valid_str() to accept `value` and give `want` ("(null)" for no value). */
static void str_ok(const char *value, unsigned flags, size_t min, size_t max, const char *want)
{
    char out[2048];

    if (!str_field(value, flags, min, max, out, sizeof(out)))
        fail_msg("%.60s refused: %s", value != NULL ? value : "absent", out);
    assert_string_equal(out, want);
}

/* Expects lumira_valid_str() to refuse `value` with `message`. */
static void str_bad(const char *value, unsigned flags, size_t min, size_t max, const char *message)
{
    char out[2048];

    if (str_field(value, flags, min, max, out, sizeof(out)))
        fail_msg("%.60s accepted as \"%.60s\"", value != NULL ? value : "absent", out);
    assert_string_equal(out, message);
}

/* A JSON string of `n` copies of `unit` between `head` and `tail` (static storage). */
static const char *json_repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    static char buf[4096];
    size_t used = 0, ul = strlen(unit), i;

    used += (size_t)snprintf(buf, sizeof(buf), "\"%s", head);
    for (i = 0; i < n; i++) {
        assert_true(used + ul < sizeof(buf) - 64);
        memcpy(buf + used, unit, ul);
        used += ul;
    }
    snprintf(buf + used, sizeof(buf) - used, "%s\"", tail);
    return buf;
}

static bool norm(const char *s, char out[LUMIRA_MAX_EMAIL + 1])
{
    return lumira_email_normalize(s, strlen(s), out);
}

/* "<local of `local` a's>@<domain of b's and dots ending in .com>", `total` bytes in all. */
static const char *email_of(size_t local, size_t total)
{
    static char buf[512];
    size_t i, dlen = total - local - 1; /* domain length */

    assert_true(total < sizeof(buf) && dlen >= 5);
    memset(buf, 'a', local);
    buf[local] = '@';
    for (i = 0; i < dlen - 4; i++)
        buf[local + 1 + i] = (i % 50 == 49) ? '.' : 'b';
    memcpy(buf + local + 1 + dlen - 4, ".com", 5);
    assert_int_equal(strlen(buf), total);
    return buf;
}

/* ---- lumira_email_normalize ---- */

static void test_email_normalize_trim_and_lower(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_true(norm("  Jane.Doe@Example.COM \t\r\n", out));
    assert_string_equal(out, "jane.doe@example.com");
    assert_true(norm("JANE+TAG@SUB.EXAMPLE.ORG", out));
    assert_string_equal(out, "jane+tag@sub.example.org");
    assert_true(norm("a@b.co", out));
    assert_string_equal(out, "a@b.co");
    /* Counted input: bytes after `len` are not read. */
    assert_true(lumira_email_normalize("x@y.fr and more", 6, out));
    assert_string_equal(out, "x@y.fr");
}

static void test_email_normalize_length_254_ok_255_refused(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1], padded[300];

    (void)state;
    assert_true(norm(email_of(64, LUMIRA_MAX_EMAIL - 1), out));
    assert_true(norm(email_of(64, LUMIRA_MAX_EMAIL), out));
    assert_int_equal(strlen(out), LUMIRA_MAX_EMAIL);
    assert_false(norm(email_of(64, LUMIRA_MAX_EMAIL + 1), out));
    assert_false(norm(email_of(10, 400), out));
    /* The cap applies after trimming. */
    snprintf(padded, sizeof(padded), "  %s\t", email_of(64, LUMIRA_MAX_EMAIL));
    assert_true(norm(padded, out));
    assert_int_equal(strlen(out), LUMIRA_MAX_EMAIL);
}

static void test_email_normalize_local_part_64_65(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_true(norm(email_of(1, 20), out));
    assert_true(norm(email_of(63, 100), out));
    assert_true(norm(email_of(64, 100), out));
    assert_false(norm(email_of(65, 100), out));
}

static void test_email_normalize_refuses_no_at(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_false(norm("jane.example.com", out));
    assert_false(norm("jane", out));
    assert_false(norm("", out));
    assert_false(norm("   ", out));
}

static void test_email_normalize_refuses_two_at(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_false(norm("jane@doe@example.com", out));
    assert_false(norm("jane@@example.com", out));
    assert_false(norm("@jane@example.com", out));
}

static void test_email_normalize_refuses_empty_parts(void **state)
{
    static const char *const bad[] = {"@example.com", "jane@", "jane@ ", "@", "a@", "@b"};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_email_normalize_local_part_dots(void **state)
{
    static const char *const bad[] = {".jane@example.com",  "jane.@example.com",
                                      "ja..ne@example.com", "jane@.example.com",
                                      "jane@example..com",  "jane@example.com."};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_true(norm("j.a.ne@mail.example.com", out));
    assert_string_equal(out, "j.a.ne@mail.example.com");
}

static void test_email_normalize_refuses_no_dot_in_domain(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_false(norm("jane@localhost", out));
    assert_false(norm("jane.doe@example", out)); /* a dot in the local part does not count */
    assert_true(norm("jane@localhost.localdomain", out));
}

static void test_email_normalize_refuses_empty_labels(void **state)
{
    static const char *const bad[] = {"jane@.example.com", "jane@example..com",
                                      "jane@example.com.", "jane@.",
                                      "jane@..",           "jane@a..b"};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_email_normalize_refuses_spaces_inside(void **state)
{
    static const char *const bad[] = {"jane doe@example.com", "jane@exa mple.com",
                                      "jane @example.com", "jane@ example.com",
                                      "jane\t@example.com"};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_email_normalize_refuses_control_chars(void **state)
{
    static const char nul_local[] = "ja\0ne@example.com", nul_domain[] = "jane@exa\0mple.com";
    static const char *const bad[] = {"ja\x01ne@example.com", "jane@exa\x1fmple.com",
                                      "jane\x7f@example.com", "jane@example.com\x1b[0m",
                                      "ja\rne@example.com",   "jane@exam\nple.com"};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted case %zu", i);
    }
    /* A NUL byte inside the counted length, in the local part and in the domain. */
    assert_false(lumira_email_normalize(nul_local, sizeof(nul_local) - 1, out));
    assert_false(lumira_email_normalize(nul_domain, sizeof(nul_domain) - 1, out));
}

/* Other characters: the local part's specials are allowed, the domain's are not. */
static void test_email_normalize_special_characters(void **state)
{
    static const char *const good[] = {"o'brien@example.ie", "a.b-c_d+e@example.com",
                                       "x!#$%&*/=?^`{|}~@example.com", "a@ex-ample.co.uk"};
    static const char *const bad[] = {
        "jane@exa_mple.com",    "jane@exa+mple.com", "ja(ne)@example.com", "ja,ne@example.com",
        "\"jane\"@example.com", "jane@[127.0.0.1]",  "ja<ne>@example.com", "ja;ne@example.com"};
    char out[LUMIRA_MAX_EMAIL + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(good); i++) {
        if (!norm(good[i], out))
            fail_msg("refused \"%s\"", good[i]);
    }
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (norm(bad[i], out))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

/* Non-ASCII is kept as it is (only ASCII letters are lower-cased); invalid UTF-8 is refused. */
static void test_email_normalize_unicode_kept(void **state)
{
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    assert_true(norm("J\xc3\xb6hn@Ex\xc3\xa4mple.com", out));
    assert_string_equal(out, "j\xc3\xb6hn@ex\xc3\xa4mple.com");
    assert_true(norm("\xc3\x89LODIE@\xe6\x97\xa5\xe6\x9c\xac.jp", out));
    assert_string_equal(out, "\xc3\x89lodie@\xe6\x97\xa5\xe6\x9c\xac.jp");
    assert_false(norm("j\xffhn@example.com", out));
    assert_false(norm("jane@ex\xc3mple.com", out));
    assert_false(norm("jane@ex\xed\xa0\x80mple.com", out)); /* a surrogate */
}

/* ---- lumira_valid_str ---- */

static void test_valid_str_required_present_trimmed(void **state)
{
    (void)state;
    str_ok("\"  Jane Doe \\t\"", LUMIRA_VALID_REQUIRED, 1, 100, "Jane Doe");
    str_ok("\"x\"", LUMIRA_VALID_REQUIRED, 1, 1, "x");
}

static void test_valid_str_required_absent_null_empty(void **state)
{
    (void)state;
    str_bad(NULL, LUMIRA_VALID_REQUIRED, 1, 100, "is required");
    str_bad("null", LUMIRA_VALID_REQUIRED, 1, 100, "is required");
    str_bad("\"\"", LUMIRA_VALID_REQUIRED, 0, 100, "is required");
    str_bad("\"   \"", LUMIRA_VALID_REQUIRED, 1, 100, "is required");
    str_bad("\" \\t\\r\\n \"", LUMIRA_VALID_REQUIRED, 1, 100, "is required");
}

/* Optional: absent, null and empty after trimming all give no value and no failure. */
static void test_valid_str_optional_absent_null_empty(void **state)
{
    (void)state;
    str_ok(NULL, 0, 1, 100, "(null)");
    str_ok("null", 0, 1, 100, "(null)");
    str_ok("\"\"", 0, 1, 100, "(null)");
    str_ok("\"  \"", 0, 2, 100, "(null)");
    str_ok("\" ok \"", 0, 1, 100, "ok");
}

static void test_valid_str_not_a_string(void **state)
{
    static const char *const values[] = {"1",  "0",  "1.5",     "true",         "false",
                                         "{}", "[]", "[\"x\"]", "{\"f\":\"x\"}"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++) {
        str_bad(values[i], LUMIRA_VALID_REQUIRED, 1, 100, "must be a string");
        str_bad(values[i], 0, 1, 100, "must be a string");
    }
    /* A NUL inside is not a usable string either. */
    str_bad("\"a\\u0000b\"", 0, 1, 100, "must be a string");
}

/* The cap at max - 1, max and max + 1 characters, with and without a minimum. */
static void test_valid_str_max_chars_edges(void **state)
{
    char want[LUMIRA_MAX_NAME_CHARS + 1];

    (void)state;
    str_ok("\"abcd\"", 0, 0, 5, "abcd");
    str_ok("\"abcde\"", 0, 0, 5, "abcde");
    str_bad("\"abcdef\"", 0, 0, 5, "must be at most 5 characters");
    str_ok("\"abcde\"", LUMIRA_VALID_REQUIRED, 2, 5, "abcde");
    str_bad("\"abcdef\"", LUMIRA_VALID_REQUIRED, 2, 5, "must be 2 to 5 characters");
    /* Spaces around are trimmed before counting. */
    str_ok("\"   abcde   \"", 0, 0, 5, "abcde");
    /* At the API's own cap for names. */
    memset(want, 'n', LUMIRA_MAX_NAME_CHARS);
    want[LUMIRA_MAX_NAME_CHARS] = '\0';
    str_ok(json_repeat("", "n", LUMIRA_MAX_NAME_CHARS, ""), LUMIRA_VALID_REQUIRED, 1,
           LUMIRA_MAX_NAME_CHARS, want);
    str_bad(json_repeat("", "n", LUMIRA_MAX_NAME_CHARS + 1, ""), LUMIRA_VALID_REQUIRED, 1,
            LUMIRA_MAX_NAME_CHARS, "must be 1 to 100 characters");
}

/* Characters, not bytes: 2-, 3- and 4-byte UTF-8 at max and max + 1. */
static void test_valid_str_max_chars_multibyte(void **state)
{
    static const char *const units[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char want[1024];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(units); i++) {
        size_t ul = strlen(units[i]), k;

        for (k = 0; k < 5; k++)
            memcpy(want + k * ul, units[i], ul);
        want[5 * ul] = '\0';
        str_ok(json_repeat("", units[i], 4, ""), 0, 0, 5, want + ul);
        str_ok(json_repeat("", units[i], 5, ""), 0, 0, 5, want);
        str_bad(json_repeat("", units[i], 6, ""), 0, 0, 5, "must be at most 5 characters");
    }
    /* 100 four-byte characters (400 bytes) for a name of at most 100 characters. */
    assert_true(str_field(json_repeat("", "\xf0\x9f\x98\x80", 100, ""), LUMIRA_VALID_REQUIRED, 1,
                          100, want, sizeof(want)));
    assert_int_equal(strlen(want), 400);
    str_bad(json_repeat("", "\xf0\x9f\x98\x80", 101, ""), LUMIRA_VALID_REQUIRED, 1, 100,
            "must be 1 to 100 characters");
}

static void test_valid_str_min_chars(void **state)
{
    (void)state;
    str_bad("\"abcde\"", LUMIRA_VALID_REQUIRED, 6, 128, "must be 6 to 128 characters");
    str_ok("\"abcdef\"", LUMIRA_VALID_REQUIRED, 6, 128, "abcdef");
    str_bad("\"  abcde  \"", LUMIRA_VALID_REQUIRED, 6, 128, "must be 6 to 128 characters");
    str_bad("\"\xc3\xa9\xc3\xa9\xc3\xa9\"", 0, 4, 10, "must be 4 to 10 characters"); /* 6 bytes */
}

/* Far over the cap (past the quick byte bound): still a length failure, never "is required". */
static void test_valid_str_far_too_long(void **state)
{
    (void)state;
    str_bad(json_repeat("", "x", 1000, ""), LUMIRA_VALID_REQUIRED, 1, 100,
            "must be 1 to 100 characters");
    str_bad(json_repeat("", "x", 1000, ""), 0, 0, 100, "must be at most 100 characters");
    str_bad(json_repeat("", "x", 1000, ""), LUMIRA_VALID_VERBATIM | LUMIRA_VALID_REQUIRED, 6, 128,
            "must be 6 to 128 characters");
}

static void test_valid_str_control_chars_refused(void **state)
{
    static const char *const values[] = {"\"a\\u0001b\"",    "\"a\\tb\"",     "\"a\\nb\"",
                                         "\"a\\rb\"",        "\"a\\u001fb\"", "\"a\\u007fb\"",
                                         "\"a\\u001b[31mb\""};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++)
        str_bad(values[i], 0, 0, 100, "must not contain control characters");
    /* At the ends they are white space, trimmed away. */
    str_ok("\"\\tab\\n\"", 0, 0, 100, "ab");
}

/* The C1 controls (U+0080-U+009F: NEL, CSI...) are control characters too, escaped or raw, in
 * one-line and multi-line fields alike; passwords take them. Their neighbours are text. */
static void test_valid_str_c1_controls_refused(void **state)
{
    static const char *const values[] = {"\"a\\u0085b\"", "\"a\\u0080b\"", "\"a\\u009fb\"",
                                         "\"a\xc2\x9b"
                                         "31mb\"",
                                         "\"\xc2\x85\""};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(values); i++) {
        str_bad(values[i], 0, 0, 100, "must not contain control characters");
        str_bad(values[i], LUMIRA_VALID_MULTILINE, 0, 100, "must not contain control characters");
    }
    str_ok("\"a\\u00a0b\\u007e\\u00c0\"", 0, 0, 100,
           "a\xc2\xa0"
           "b~\xc3\x80");
    str_ok("\"pass\\u0085word\"", LUMIRA_VALID_VERBATIM, 6, 128, "pass\xc2\x85word");
}

static void test_valid_str_multiline_allows_breaks(void **state)
{
    (void)state;
    str_ok("\"line 1\\nline 2\\r\\n\\tline 3\"", LUMIRA_VALID_MULTILINE, 0, 100,
           "line 1\nline 2\r\n\tline 3");
    str_bad("\"a\\u0001b\"", LUMIRA_VALID_MULTILINE, 0, 100, "must not contain control characters");
    str_bad("\"a\\u007fb\"", LUMIRA_VALID_MULTILINE, 0, 100, "must not contain control characters");
    str_bad("\"a\\u000bb\"", LUMIRA_VALID_MULTILINE, 0, 100,
            "must not contain control characters"); /* vertical tab */
    /* Breaks count as characters. */
    str_bad("\"ab\\n\\ncd\"", LUMIRA_VALID_MULTILINE, 0, 5, "must be at most 5 characters");
}

/* Passwords: spaces kept and counted, any character but NUL. */
static void test_valid_str_verbatim(void **state)
{
    const unsigned f = LUMIRA_VALID_VERBATIM | LUMIRA_VALID_REQUIRED;

    (void)state;
    str_ok("\"  pass  \"", f, 6, 8, "  pass  ");
    str_bad("\"  pass  \"", f, 6, 7, "must be 6 to 7 characters");
    str_bad("\"  ab  \"", f, 7, 128, "must be 7 to 128 characters");
    str_ok("\"      \"", f, 6, 128, "      ");
    str_ok("\"pa\\tss\\u0001wo\\nrd\"", f, 6, 128, "pa\tss\001wo\nrd");
    /* Counted in characters too: 6 two-byte characters are 6, not 12. */
    str_ok(json_repeat("", "\xc3\xa9", 6, ""), f, 6, 8,
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    str_bad(json_repeat(" ", "\xc3\xa9", 8, ""), f, 6, 8, "must be 6 to 8 characters");
    str_bad("\"\"", f, 6, 128, "is required");
    str_bad("\"pa\\u0000ssword\"", f, 6, 128, "must be a string");
}

/* ---- lumira_valid_email ---- */

static void test_valid_email_cases(void **state)
{
    struct lumira_valid v;
    char out[LUMIRA_MAX_EMAIL + 1];

    (void)state;
    lumira_valid_init(&v);
    assert_true(lumira_valid_email(&v, obj_of("{\"email\":\"  Jane@Example.COM \"}"), "email",
                                   LUMIRA_VALID_REQUIRED, out));
    assert_string_equal(out, "jane@example.com");
    assert_true(lumira_valid_email(&v, obj_of("{}"), "email", 0, out));
    assert_string_equal(out, "");
    assert_true(lumira_valid_email(&v, obj_of("{\"email\":null}"), "email", 0, out));
    assert_string_equal(out, "");
    assert_false(lumira_valid_failed(&v));

    assert_false(lumira_valid_email(&v, obj_of("{}"), "email", LUMIRA_VALID_REQUIRED, out));
    assert_string_equal(out, "");
    assert_false(lumira_valid_email(&v, obj_of("{\"email\":\"not-an-address\"}"), "email", 0, out));
    assert_string_equal(out, "");
    assert_false(lumira_valid_email(&v, obj_of("{\"email\":42}"), "email", 0, out));
    assert_false(lumira_valid_email(&v, obj_of("{\"email\":\"a b@c.de\"}"), "email", 0, out));
    assert_int_equal(ndetails(&v), 4);
    expect_detail(lumira_valid_details(&v), 0, "email", "is required");
    expect_detail(lumira_valid_details(&v), 1, "email", "must be a valid e-mail address");
    expect_detail(lumira_valid_details(&v), 2, "email", "must be a string");
    expect_detail(lumira_valid_details(&v), 3, "email", "must be a valid e-mail address");
    lumira_valid_cleanup(&v);
}

static void test_valid_email_length_edges(void **state)
{
    struct lumira_valid v;
    char out[LUMIRA_MAX_EMAIL + 1], json[600];

    (void)state;
    lumira_valid_init(&v);
    snprintf(json, sizeof(json), "{\"e\":\"%s\"}", email_of(64, LUMIRA_MAX_EMAIL));
    assert_true(lumira_valid_email(&v, obj_of(json), "e", LUMIRA_VALID_REQUIRED, out));
    assert_int_equal(strlen(out), LUMIRA_MAX_EMAIL);
    snprintf(json, sizeof(json), "{\"e\":\"%s\"}", email_of(64, LUMIRA_MAX_EMAIL + 1));
    assert_false(lumira_valid_email(&v, obj_of(json), "e", LUMIRA_VALID_REQUIRED, out));
    assert_string_equal(out, "");
    /* 254 characters but 255 bytes: within the character count, over the byte cap. */
    snprintf(json, sizeof(json), "{\"e\":\"\xc3\xa9%s\"}", email_of(10, LUMIRA_MAX_EMAIL - 1));
    assert_false(lumira_valid_email(&v, obj_of(json), "e", LUMIRA_VALID_REQUIRED, out));
    assert_int_equal(ndetails(&v), 2);
    expect_detail(lumira_valid_details(&v), 0, "e", "must be at most 254 characters");
    expect_detail(lumira_valid_details(&v), 1, "e", "must be a valid e-mail address");
    lumira_valid_cleanup(&v);
}

/* ---- details ---- */

static void test_valid_details_collects_several(void **state)
{
    struct lumira_valid v;
    const struct json_object *body;
    char email[LUMIRA_MAX_EMAIL + 1];
    const char *s;
    size_t len;

    (void)state;
    body = obj_of("{\"email\":\"nope\",\"password\":\"abc\",\"role\":7,\"ok\":\"fine\"}");
    lumira_valid_init(&v);
    assert_false(lumira_valid_failed(&v));
    assert_null(lumira_valid_details(&v));
    assert_false(lumira_valid_email(&v, body, "email", LUMIRA_VALID_REQUIRED, email));
    assert_false(lumira_valid_str(&v, body, "password",
                                  LUMIRA_VALID_REQUIRED | LUMIRA_VALID_VERBATIM, 6, 128, &s, &len));
    assert_false(lumira_valid_str(&v, body, "name", LUMIRA_VALID_REQUIRED, 1, 100, &s, &len));
    assert_false(lumira_valid_str(&v, body, "role", 0, 1, 16, &s, &len));
    assert_true(lumira_valid_str(&v, body, "ok", LUMIRA_VALID_REQUIRED, 1, 16, &s, &len));
    assert_true(lumira_valid_failed(&v));
    assert_int_equal(ndetails(&v), 4);
    expect_detail(lumira_valid_details(&v), 0, "email", "must be a valid e-mail address");
    expect_detail(lumira_valid_details(&v), 1, "password", "must be 6 to 128 characters");
    expect_detail(lumira_valid_details(&v), 2, "name", "is required");
    expect_detail(lumira_valid_details(&v), 3, "role", "must be a string");
    lumira_valid_cleanup(&v);
    assert_false(lumira_valid_failed(&v));
    assert_null(lumira_valid_details(&v));
}

static void test_valid_fail_direct(void **state)
{
    struct lumira_valid v;

    (void)state;
    lumira_valid_init(&v);
    lumira_valid_fail(&v, "level", "must be 1 to 4");
    lumira_valid_fail(&v, "formData.email", "is required");
    assert_true(lumira_valid_failed(&v));
    assert_int_equal(ndetails(&v), 2);
    expect_detail(lumira_valid_details(&v), 0, "level", "must be 1 to 4");
    expect_detail(lumira_valid_details(&v), 1, "formData.email", "is required");
    lumira_valid_cleanup(&v);
    lumira_valid_cleanup(&v); /* twice is fine */
}

/* ---- lumira_valid_respond / lumira_valid_body ---- */

struct mem_stream {
    const char *data;
    size_t len, pos;
};

static long mem_read(void *stream, char *buf, size_t len)
{
    struct mem_stream *m = stream;
    size_t n = m->len - m->pos;

    if (n > len)
        n = len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

/* A POST request with X-Request-Id "req-valid-1" and `body` read as its body. */
static void make_req(struct lumira_req *req, const char *body)
{
    size_t len = strlen(body);
    static char *env[] = {"REQUEST_METHOD=POST", "PATH_INFO=/api/expert/login",
                          "CONTENT_TYPE=application/json", "HTTP_X_REQUEST_ID=req-valid-1", NULL};
    struct mem_stream m = {body, len, 0};

    assert_int_equal(lumira_req_init(req, env), LUMIRA_OK);
    assert_int_equal(lumira_req_read_body(req, mem_read, &m), LUMIRA_OK);
    assert_int_equal(req->body.len, len);
}

/* Parses the response body (caller puts it) and checks status, code and request id. */
static struct json_object *expect_error(const struct lumira_resp *resp, int status,
                                        const char *code)
{
    return tu_expect_error(resp, status, code, "req-valid-1");
}

static void test_valid_respond_400_with_details(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct lumira_valid v;
    struct json_object *o, *details;
    const char *s;
    size_t len;

    (void)state;
    make_req(&req, "{}");
    lumira_resp_init(&resp);
    lumira_valid_init(&v);
    assert_false(lumira_valid_str(&v, obj_of("{\"name\":1}"), "name", LUMIRA_VALID_REQUIRED, 1, 100,
                                  &s, &len));
    lumira_valid_fail(&v, "password", "is required");
    lumira_valid_respond(&v, &resp, &req);
    /* The details went into the reply: `v` is empty again. */
    assert_false(lumira_valid_failed(&v));
    o = expect_error(&resp, 400, "VALIDATION_ERROR");
    assert_true(json_object_object_get_ex(o, "details", &details));
    assert_int_equal(json_object_array_length(details), 2);
    expect_detail(details, 0, "name", "must be a string");
    expect_detail(details, 1, "password", "is required");
    assert_int_equal(json_object_object_length(o), 4);
    json_object_put(o);
    lumira_valid_cleanup(&v);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_valid_body_object_ok(void **state)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *obj = NULL;

    (void)state;
    make_req(&req, "{\"email\":\"a@b.co\"}");
    lumira_resp_init(&resp);
    assert_true(lumira_valid_body(&req, &resp, &obj));
    assert_non_null(obj);
    assert_true(json_object_is_type(obj, json_type_object));
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    json_object_put(obj);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

/* Each body is refused with 400 INVALID_JSON and *obj NULL. */
static void expect_invalid_json(const char *body)
{
    struct lumira_req req;
    struct lumira_resp resp;
    struct json_object *obj = (struct json_object *)&req, *o;

    make_req(&req, body);
    lumira_resp_init(&resp);
    assert_false(lumira_valid_body(&req, &resp, &obj));
    assert_null(obj);
    o = expect_error(&resp, 400, "INVALID_JSON");
    assert_false(json_object_object_get_ex(o, "details", NULL));
    json_object_put(o);
    lumira_resp_cleanup(&resp);
    lumira_req_cleanup(&req);
}

static void test_valid_body_empty(void **state)
{
    (void)state;
    expect_invalid_json("");
}

static void test_valid_body_invalid_json(void **state)
{
    (void)state;
    expect_invalid_json("{\"email\":");
    expect_invalid_json("{'email':'a'}");
    expect_invalid_json("{\"a\":1} x");
    expect_invalid_json("{\"a\":\"\xff\"}");
}

static void test_valid_body_array_root(void **state)
{
    (void)state;
    expect_invalid_json("[{\"email\":\"a@b.co\"}]");
    expect_invalid_json("\"a@b.co\"");
    expect_invalid_json("null");
}

/* A request whose query string is `query` (static storage: the request borrows it). */
static void query_req(struct lumira_req *req, const char *query)
{
    static char qs[512];
    static char *env[] = {"REQUEST_METHOD=GET", "PATH_INFO=/api/orders", qs, NULL};

    snprintf(qs, sizeof(qs), "QUERY_STRING=%s", query);
    assert_int_equal(lumira_req_init(req, env), LUMIRA_OK);
}

static void test_valid_query_str_cases(void **state)
{
    struct lumira_req req;
    struct lumira_valid v;
    char out[8];
    size_t len = 0;

    (void)state;
    lumira_valid_init(&v);
    query_req(&req, "status=paid&empty=&long=12345678&bad=%zz&latin=%E9t%E9&nul=a%00b");
    assert_true(lumira_valid_query_str(&v, &req, "status", out, sizeof(out), &len));
    assert_string_equal(out, "paid");
    assert_int_equal(len, 4);
    assert_false(lumira_valid_query_str(&v, &req, "absent", out, sizeof(out), &len));
    assert_false(lumira_valid_query_str(&v, &req, "empty", out, sizeof(out), &len));
    assert_false(lumira_valid_failed(&v)); /* absent and empty are not failures */
    assert_false(lumira_valid_query_str(&v, &req, "long", out, sizeof(out), &len)); /* 8 + NUL */
    assert_false(lumira_valid_query_str(&v, &req, "bad", out, sizeof(out), &len));
    assert_false(lumira_valid_query_str(&v, &req, "latin", out, sizeof(out), &len));
    assert_false(lumira_valid_query_str(&v, &req, "nul", out, sizeof(out), &len));
    assert_true(lumira_valid_failed(&v));
    lumira_valid_cleanup(&v);
    lumira_req_cleanup(&req);
}

static void test_valid_query_int_edges(void **state)
{
    struct lumira_req req;
    struct lumira_valid v;

    (void)state;
    lumira_valid_init(&v);
    query_req(&req, "a=1&b=100&c=0&d=101&e=-1&f=1x&g=99999999999999999999999");
    assert_int_equal(lumira_valid_query_int(&v, &req, "a", 1, 100, 7), 1);
    assert_int_equal(lumira_valid_query_int(&v, &req, "b", 1, 100, 7), 100);
    assert_int_equal(lumira_valid_query_int(&v, &req, "absent", 1, 100, 7), 7);
    assert_false(lumira_valid_failed(&v));
    assert_int_equal(lumira_valid_query_int(&v, &req, "c", 1, 100, 7), 7); /* min - 1 */
    assert_int_equal(lumira_valid_query_int(&v, &req, "d", 1, 100, 7), 7); /* max + 1 */
    assert_int_equal(lumira_valid_query_int(&v, &req, "e", 1, 100, 7), 7);
    assert_int_equal(lumira_valid_query_int(&v, &req, "f", 1, 100, 7), 7);
    assert_int_equal(lumira_valid_query_int(&v, &req, "g", 1, 100, 7), 7);
    assert_true(lumira_valid_failed(&v));
    lumira_valid_cleanup(&v);
    lumira_req_cleanup(&req);
}

#define T(f) cmocka_unit_test_teardown(f, put_obj)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_email_normalize_trim_and_lower),
        T(test_email_normalize_length_254_ok_255_refused),
        T(test_email_normalize_local_part_64_65),
        T(test_email_normalize_refuses_no_at),
        T(test_email_normalize_refuses_two_at),
        T(test_email_normalize_refuses_empty_parts),
        T(test_email_normalize_local_part_dots),
        T(test_email_normalize_refuses_no_dot_in_domain),
        T(test_email_normalize_refuses_empty_labels),
        T(test_email_normalize_refuses_spaces_inside),
        T(test_email_normalize_refuses_control_chars),
        T(test_email_normalize_special_characters),
        T(test_email_normalize_unicode_kept),
        T(test_valid_str_required_present_trimmed),
        T(test_valid_str_required_absent_null_empty),
        T(test_valid_str_optional_absent_null_empty),
        T(test_valid_str_not_a_string),
        T(test_valid_str_max_chars_edges),
        T(test_valid_str_max_chars_multibyte),
        T(test_valid_str_min_chars),
        T(test_valid_str_far_too_long),
        T(test_valid_str_control_chars_refused),
        T(test_valid_str_c1_controls_refused),
        T(test_valid_str_multiline_allows_breaks),
        T(test_valid_str_verbatim),
        T(test_valid_email_cases),
        T(test_valid_email_length_edges),
        T(test_valid_details_collects_several),
        T(test_valid_fail_direct),
        T(test_valid_respond_400_with_details),
        T(test_valid_body_object_ok),
        T(test_valid_body_empty),
        T(test_valid_body_invalid_json),
        T(test_valid_body_array_root),
        T(test_valid_query_str_cases),
        T(test_valid_query_int_edges),
    };

    return cmocka_run_group_tests_name("valid", tests, NULL, NULL);
}
