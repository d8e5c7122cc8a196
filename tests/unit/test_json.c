/* Unit tests of src/json.c: the strict body parser, the typed getters and the builders. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "lumira_limits.h"

/* Parses `len` bytes and checks the outcome: on success returns the object (put it), on failure
 * checks that *out is NULL and that `why` says something, and returns NULL. */
static struct json_object *parse_len(const char *data, size_t len, enum lumira_err want)
{
    struct json_object *obj = (struct json_object *)&obj; /* any non-NULL marker */
    char why[128];
    enum lumira_err err;

    memset(why, 0, sizeof(why));
    err = lumira_json_parse_object(data, len, &obj, why, sizeof(why));
    if (err != want)
        fail_msg("parsing \"%.*s\": got %d (%s), want %d", (int)(len > 60 ? 60 : len), data, err,
                 why, want);
    if (err == LUMIRA_OK) {
        assert_non_null(obj);
        assert_true(json_object_is_type(obj, json_type_object));
        return obj;
    }
    assert_null(obj);
    assert_true(strlen(why) > 0);
    return NULL;
}

static struct json_object *parse(const char *data, enum lumira_err want)
{
    return parse_len(data, strlen(data), want);
}

/* The reason given for refusing `len` bytes. */
static const char *why_of(const char *data, size_t len)
{
    static char why[128];
    struct json_object *obj;

    why[0] = '\0';
    assert_int_not_equal(lumira_json_parse_object(data, len, &obj, why, sizeof(why)), LUMIRA_OK);
    assert_null(obj);
    return why;
}

/* `n` nested containers ("{\"a\":" or "[") around `leaf`, closed again. Caller frees. */
static char *nested(int n, bool arrays, const char *leaf, size_t *len)
{
    size_t cap = (size_t)n * 6 + strlen(leaf) + 4, used = 0;
    char *s = malloc(cap);
    int i;

    assert_non_null(s);
    if (arrays)
        used += (size_t)snprintf(s + used, cap - used, "{\"a\":");
    for (i = 0; i < n - (arrays ? 1 : 0); i++)
        used += (size_t)snprintf(s + used, cap - used, arrays ? "[" : "{\"a\":");
    used += (size_t)snprintf(s + used, cap - used, "%s", leaf);
    for (i = 0; i < n - (arrays ? 1 : 0); i++)
        s[used++] = arrays ? ']' : '}';
    if (arrays)
        s[used++] = '}';
    s[used] = '\0';
    *len = used;
    return s;
}

static void test_json_parse_object_valid(void **state)
{
    struct json_object *obj, *v;

    (void)state;
    obj = parse("{\"a\":1,\"b\":\"x\",\"c\":[true,null],\"d\":{\"e\":-2.5}}", LUMIRA_OK);
    assert_int_equal(json_object_object_length(obj), 4);
    assert_true(json_object_object_get_ex(obj, "c", &v));
    assert_int_equal(json_object_array_length(v), 2);
    json_object_put(obj);
    json_object_put(parse("{}", LUMIRA_OK));
    json_object_put(parse("{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", LUMIRA_OK));
    json_object_put(parse("{\"k\":\"\\u00e9\\ud83d\\ude00\"}", LUMIRA_OK));
}

/* why may be NULL, and a short why buffer is cut, not overrun. */
static void test_json_parse_object_why_optional(void **state)
{
    struct json_object *obj;
    char why[8];

    (void)state;
    assert_int_equal(lumira_json_parse_object("[]", 2, &obj, NULL, 0), LUMIRA_EINVAL);
    assert_null(obj);
    assert_int_equal(lumira_json_parse_object("{}", 2, &obj, NULL, 0), LUMIRA_OK);
    json_object_put(obj);
    memset(why, 'Z', sizeof(why));
    assert_int_equal(lumira_json_parse_object("[]", 2, &obj, why, 4), LUMIRA_EINVAL);
    assert_int_equal(strlen(why), 3);
    assert_int_equal(why[4], 'Z');
}

static void test_json_parse_object_trailing_whitespace(void **state)
{
    (void)state;
    json_object_put(parse("{\"a\":1} \n\t\r", LUMIRA_OK));
    json_object_put(parse(" \n{\"a\":1}", LUMIRA_OK));
    json_object_put(parse("{ \"a\" : 1 }\n", LUMIRA_OK));
}

static void test_json_parse_object_trailing_garbage(void **state)
{
    static const char *const bad[] = {"{\"a\":1} x",    "{\"a\":1}{}", "{\"a\":1}}", "{\"a\":1},",
                                      "{\"a\":1}/*c*/", "{\"a\":1} 1", "{}\xc2\xa0"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse(bad[i], LUMIRA_EINVAL);
}

static void test_json_parse_object_truncated(void **state)
{
    static const char *const bad[] = {"{\"a\":",    "{",          "{\"a\"",   "{\"a\":\"abc",
                                      "{\"a\":[1,", "{\"a\":tru", "{\"a\":1", "{\"a\":\"\\u00"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse(bad[i], LUMIRA_EINVAL);
    assert_string_equal(why_of("{\"a\":", 5), "truncated JSON");
}

static void test_json_parse_object_empty(void **state)
{
    struct json_object *obj;

    (void)state;
    assert_string_equal(why_of("", 0), "empty body");
    assert_int_equal(lumira_json_parse_object(NULL, 0, &obj, NULL, 0), LUMIRA_EINVAL);
    parse(" ", LUMIRA_EINVAL);
    parse("\n\n", LUMIRA_EINVAL);
}

static void test_json_parse_object_array_root(void **state)
{
    (void)state;
    parse("[]", LUMIRA_EINVAL);
    parse("[{\"a\":1}]", LUMIRA_EINVAL);
    assert_non_null(strstr(why_of("[1,2]", 5), "object"));
}

static void test_json_parse_object_scalar_root(void **state)
{
    static const char *const bad[] = {"1",     "1 ",   "-1.5 ", "\"s\"", "true",
                                      "false", "null", "null ", "\"{}\""};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse(bad[i], LUMIRA_EINVAL);
    /* json-c waits for a delimiter after a bare top-level literal: "truncated" is what it knows. */
    assert_string_equal(why_of("null", 4), "truncated JSON");
    assert_non_null(strstr(why_of("null ", 5), "object"));
    assert_non_null(strstr(why_of("\"x\"", 3), "object"));
}

static void test_json_parse_object_not_json(void **state)
{
    static const char *const bad[] = {
        "{a:1}",
        "{\"a\":1,}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":01}",
        "{\"a\":TRUE}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":-Infinity}",
        "{\"a\":1e999}",
        "{\"a\":[-1e400]}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse(bad[i], LUMIRA_EINVAL);
}

static void test_json_parse_object_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "{\"a\":\"\xff\"}",             /* never valid */
        "{\"a\":\"\xc3\"}",             /* truncated 2-byte */
        "{\"a\":\"\xe2\x82\"}",         /* truncated 3-byte */
        "{\"a\":\"\x80\"}",             /* stray continuation */
        "{\"a\":\"\xc0\xaf\"}",         /* overlong '/' */
        "{\"a\":\"\xe0\x80\xaf\"}",     /* overlong, 3 bytes */
        "{\"a\":\"\xf0\x80\x80\xaf\"}", /* overlong, 4 bytes */
        "{\"a\":\"\xed\xa0\x80\"}",     /* surrogate U+D800 */
        "{\"a\":\"\xed\xbf\xbf\"}",     /* surrogate U+DFFF */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"\xff\":1}",                 /* in a key */
        "{\"a\":1}\xff",                /* after the value */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse(bad[i], LUMIRA_EINVAL);
    /* The edges of the valid ranges are accepted. */
    json_object_put(parse("{\"a\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
                          "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}",
                          LUMIRA_OK));
}

/* A UTF-8 byte order mark is refused (RFC 8259 allows either; clients do not send one). */
static void test_json_parse_object_bom(void **state)
{
    (void)state;
    parse("\xef\xbb\xbf{\"a\":1}", LUMIRA_EINVAL);
}

static void test_json_parse_object_nul_byte(void **state)
{
    (void)state;
    parse_len("{\"a\":1}\0", 8, LUMIRA_EINVAL); /* NUL after the value */
    parse_len("{\"a\":1}\0{}", 10, LUMIRA_EINVAL);
    parse_len("{\"a\":\0 1}", 9, LUMIRA_EINVAL);      /* NUL between tokens */
    parse_len("{\"a\":\"x\0y\"}", 11, LUMIRA_EINVAL); /* raw NUL inside a string */
    parse_len("\0{\"a\":1}", 8, LUMIRA_EINVAL);
    parse_len("{\"a\":1} \0", 9, LUMIRA_EINVAL);
}

/* API.md: nesting deeper than 32 is a 400; 32 itself is fine, whatever the innermost value. */
static void test_json_parse_object_depth_32_ok(void **state)
{
    static const char *const leaves[] = {"1", "\"s\"", "null", "{}", "[]"};
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        /* 32 objects, plus the leaf when it is itself a container it is the 33rd: see below. */
        int n = (leaves[i][0] == '{' || leaves[i][0] == '[') ? LUMIRA_JSON_MAX_DEPTH - 1
                                                             : LUMIRA_JSON_MAX_DEPTH;
        char *s = nested(n, false, leaves[i], &len);

        json_object_put(parse_len(s, len, LUMIRA_OK));
        free(s);
        s = nested(n, true, leaves[i], &len); /* an object holding arrays */
        json_object_put(parse_len(s, len, LUMIRA_OK));
        free(s);
    }
}

static void test_json_parse_object_depth_33_rejected(void **state)
{
    static const char *const leaves[] = {"1", "\"s\"", "null", "{}", "[]", "[1]"};
    size_t i, len;
    int extra;

    (void)state;
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        for (extra = 0; extra < 3; extra++) {
            int n = ((leaves[i][0] == '{' || leaves[i][0] == '[') ? LUMIRA_JSON_MAX_DEPTH
                                                                  : LUMIRA_JSON_MAX_DEPTH + 1) +
                    extra * 50;
            char *s = nested(n, false, leaves[i], &len);

            parse_len(s, len, LUMIRA_EINVAL);
            assert_string_equal(why_of(s, len), "nesting too deep");
            free(s);
            s = nested(n, true, leaves[i], &len);
            parse_len(s, len, LUMIRA_EINVAL);
            free(s);
        }
    }
}

/* Two members of one name are refused wherever they are, under the same reason. */
static void test_json_parse_object_duplicate_member(void **state)
{
    static const char *const bad[] = {
        "{\"email\":\"a@b.co\",\"email\":\"c@d.co\"}", /* at the top */
        "{\"a\":1,\"b\":2,\"a\":1}",                    /* not next to each other, same value */
        "{\"a\":{\"x\":1,\"x\":2}}",                    /* nested */
        "{\"formData\":{\"email\":\"a@b.co\",\"email\":\"c@d.co\"}}",
        "{\"a\":[{\"x\":1},{\"y\":1,\"y\":2}]}",        /* in an array of objects */
        "{\"a\":[[[{\"x\":{\"z\":1,\"z\":{}}}]]]}",     /* deep in arrays and objects */
        "{\"email\":1,\"\\u0065mail\":2}",              /* an escape that decodes to the same */
        "{\"\\u0061\":1,\"\\u0061\":2}",
        "{\"\\\"\":1,\"\\u0022\":2}",                   /* a quote, escaped two ways */
        "{\"\":1,\"\":2}",                              /* the empty name */
        "{\"a\":1,\"a\":{\"b\":1}}",                    /* the second one is an object */
        "{\"a\":{\"b\":1},\"a\":{\"b\":1}}",            /* each one itself valid */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], LUMIRA_EINVAL);
        assert_string_equal(why_of(bad[i], strlen(bad[i])), "duplicate member");
    }
}

/* Separators inside strings, names or values, are not members: no false duplicate, and no
 * duplicate hidden by them. */
static void test_json_parse_object_colons_in_strings(void **state)
{
    static const char *const good[] = {
        "{\"a:b\":1,\"a\":2}",                            /* ':' in a name */
        "{\"a\":\"x:y:z\",\"b\":\"::\"}",                 /* in values */
        "{\"a\":\"\\\":\",\"b\":1}",                      /* after an escaped quote */
        "{\"a\\\\\":1,\"a\":2}",                          /* a name ending in a backslash */
        "{\"a\":\"\\\\\",\"b\":\":\"}",                   /* a value ending in a backslash */
        "{\"a\":[\"k:\",{\"b\":\":\"}],\"c\":{}}",
        "{\"url\":\"https://example.com:8443/a?b=c:d\"}",
        "{\"a\":\"\\u003a\",\"b\":1}",                    /* an escaped ':' */
        "{\"a\":\"{\\\"x\\\":1,\\\"x\\\":2}\"}",          /* JSON text inside a string */
        "{ \"a\" : 1 , \"b\" : [ { \"c\" : 2 } ] }",      /* white space around separators */
    };
    static const char *const bad[] = {
        "{\"a:\":1,\"a:\":2}",         /* the duplicate holds a ':' itself */
        "{\"\\\":\":1,\"\\\":\":2}",
        "{\"x\":\"a:b\",\"x\":\"c\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_string_equal(why_of(bad[i], strlen(bad[i])), "duplicate member");
}

/* Bodies our clients send, many members at several depths: no false positive. */
static void test_json_parse_object_no_false_duplicate(void **state)
{
    static const char *const good[] = {
        "{\"level\":2,\"formData\":{\"firstName\":\"Ada\",\"lastName\":\"Lovelace\","
        "\"email\":\"ada@example.com\",\"preferences\":{\"audioVoice\":\"f\","
        "\"deliveryFormat\":\"pdf\"}}}",
        "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{"
        "\"id\":\"pi_1\",\"amount\":1400,\"metadata\":{\"orderId\":\"x\"}}}}",
        "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", /* one name in many objects */
        "{\"a\":1,\"A\":2,\"\\u00e9\":3,\"e\\u0301\":4}",        /* names that differ */
        "{\"a\":[],\"b\":{},\"c\":[{}],\"d\":null}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
}

/* json-c would store a lone surrogate as U+FFFD: refused, in values and in names. */
static void test_json_parse_object_lone_surrogate(void **state)
{
    static const char *const bad[] = {
        "{\"a\":\"\\ud800\"}",              /* a high one at the end of the string */
        "{\"a\":\"\\uD800x\"}",             /* followed by a character */
        "{\"a\":\"\\ud83d\\u0041\"}",       /* followed by another escape, not a low one */
        "{\"a\":\"\\ud83d\\ud83d\\ude00\"}", /* two high ones, then a low one */
        "{\"a\":\"\\ud83d\\n\"}",
        "{\"a\":\"\\udc00\"}",              /* a low one alone */
        "{\"a\":\"x\\uDFFF\"}",
        "{\"a\":\"\\ude00\\ud83d\"}",       /* a pair the wrong way round */
        "{\"\\ud800\":1}",                  /* in a name */
        "{\"a\":[\"ok\",{\"b\":\"\\udbff\"}]}",
    };
    static const char *const good[] = {
        "{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\uD83D\\uDE00\"}",
        "{\"a\":\"\\ud800\\udc00\\udbff\\udfff\"}", /* the edges of the pairs */
        "{\"a\":\"\\ud7ff\\ue000\\uffff\"}",        /* just outside the surrogates */
        "{\"a\":\"\\\\ud800\"}",                    /* an escaped backslash, then text */
        "{\"\\ud83d\\ude00\":1}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], LUMIRA_EINVAL);
        assert_string_equal(why_of(bad[i], strlen(bad[i])), "lone surrogate escape in a string");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
}

/* json-c cuts a name at \u0000, so "formData\u0000x" would be read as "formData": refused. In a
 * value the parser lets it through for the getters to refuse (test_json_get_str_nul_rejected). */
static void test_json_parse_object_nul_escape_in_name(void **state)
{
    static const char *const bad[] = {
        "{\"formData\\u0000x\":{}}", "{\"\\u0000\":1}", "{\"a\\u0000\" \n: 1}",
        "{\"a\":{\"b\\u0000\":1}}",  "{\"a\":[{\"\\u0000b\":1}]}",
    };
    static const char *const good[] = {
        "{\"a\":\"x\\u0000y\"}",       /* in a value */
        "{\"a\":[\"\\u0000\"],\"b\":\"\\u0000\"}",
        "{\"a\\\\u0000\":1}",          /* an escaped backslash, then text */
        "{\"a\\u0001\":1}",            /* another control character */
    };
    struct json_object *obj;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], LUMIRA_EINVAL);
        assert_string_equal(why_of(bad[i], strlen(bad[i])), "\\u0000 in a member name");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
    /* Two names that json-c would make one: refused either way. */
    obj = parse("{\"formData\":{},\"formData\\u0000\":{}}", LUMIRA_EINVAL);
    assert_null(obj);
}

/* RFC 8259 7: control characters in strings must be escaped; json-c's strict mode takes them
 * raw. DEL and everything above it may stay raw. */
static void test_json_parse_object_raw_control_character(void **state)
{
    static const char *const bad[] = {
        "{\"a\":\"line\nbreak\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"cr\r\"}",
        "{\"a\":\"\x01\"}",        "{\"a\":\"\x1f\"}",       "{\"na\nme\":1}",
        "{\"a\":[\"ok\",\"x\x1b[31m\"]}",
    };
    static const char *const good[] = {
        "{\"a\":\"line\\nbreak\\ttab\\r\\u0001\\u001f\"}",
        "{\"a\":\"\x7f\",\"b\":\"\xc2\x80\xc2\x9f\"}", /* DEL and the C1 controls */
        "{\n\t\"a\" :\r\n \"x\"\n}\n",                   /* white space between tokens */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], LUMIRA_EINVAL);
        assert_string_equal(why_of(bad[i], strlen(bad[i])),
                            "control character not escaped in a string");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
}

/* RFC 8259 6: json-c also takes "1.", "1.e5", "00" and "-01" (it refuses "01" itself). */
static void test_json_parse_object_number_grammar(void **state)
{
    static const char *const bad[] = {
        "{\"a\":1.}",  "{\"a\":1.e5}", "{\"a\":-01}",  "{\"a\":00}",
        "{\"a\":-0.}", "{\"a\":[1,2.]}", "{\"a\":1. }", "{\"a\":-00.5}",
    };
    static const char *const good[] = {
        "{\"a\":0,\"b\":-0,\"c\":0.5,\"d\":-0.5e-3,\"e\":1E+5,\"f\":1e05,\"g\":10}",
        "{\"a\":[1,-2,3.25e1,0.0,-0.0]}",
        "{\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":18446744073709551616}",
        "{\"a\":1e308,\"b\":5e-324,\"c\":1e-400}",
        "{\"a\":\"01\",\"b\":\"1.\"}", /* in strings: text */
        "{\"a\":1 , \"b\":2\n}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], LUMIRA_EINVAL);
        assert_string_equal(why_of(bad[i], strlen(bad[i])), "invalid number");
    }
    parse("{\"a\":01}", LUMIRA_EINVAL);
    parse("{\"a\":{\"b\":007}}", LUMIRA_EINVAL);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        json_object_put(parse(good[i], LUMIRA_OK));
}

/* Deep but not nested: many siblings at a shallow depth are fine. */
static void test_json_parse_object_wide(void **state)
{
    char *s = malloc(200000);
    size_t used = 0;
    int i;

    (void)state;
    assert_non_null(s);
    used += (size_t)sprintf(s, "{\"a\":[");
    for (i = 0; i < 20000; i++)
        used += (size_t)sprintf(s + used, "%s{}", i > 0 ? "," : "");
    used += (size_t)sprintf(s + used, "]}");
    json_object_put(parse_len(s, used, LUMIRA_OK));
    free(s);
}

/* A body of LUMIRA_MAX_BODY - 1, LUMIRA_MAX_BODY and LUMIRA_MAX_BODY + 1 bytes. */
static void test_json_parse_object_body_cap(void **state)
{
    size_t size = LUMIRA_MAX_BODY + 1;
    char *s = malloc(size);
    struct json_object *obj, *v;
    char why[64];

    (void)state;
    assert_non_null(s);
    /* {"a":"xxx...x"} of exactly `len` bytes. */
    memset(s, 'x', size);
    memcpy(s, "{\"a\":\"", 6);
    memcpy(s + LUMIRA_MAX_BODY - 2, "\"}", 2);
    obj = parse_len(s, LUMIRA_MAX_BODY, LUMIRA_OK);
    assert_true(json_object_object_get_ex(obj, "a", &v));
    assert_int_equal(json_object_get_string_len(v), LUMIRA_MAX_BODY - 8);
    json_object_put(obj);
    memcpy(s + LUMIRA_MAX_BODY - 3, "\"}", 2);
    json_object_put(parse_len(s, LUMIRA_MAX_BODY - 1, LUMIRA_OK));
    /* One over, even when that byte is only whitespace: refused before any parsing. */
    memcpy(s + LUMIRA_MAX_BODY - 3, "\"} ", 3);
    s[LUMIRA_MAX_BODY] = ' ';
    assert_int_equal(lumira_json_parse_object(s, LUMIRA_MAX_BODY + 1, &obj, why, sizeof(why)),
                     LUMIRA_ETOOBIG);
    assert_null(obj);
    assert_string_equal(why, "body too large");
    /* Lengths past int: the cap is checked before json-c's int. */
    assert_int_equal(lumira_json_parse_object(s, (size_t)INT32_MAX + 2, &obj, why, sizeof(why)),
                     LUMIRA_ETOOBIG);
    assert_int_equal(lumira_json_parse_object(s, SIZE_MAX, &obj, NULL, 0), LUMIRA_ETOOBIG);
    free(s);
}

/* Builds an object from JSON text known to be good. */
static struct json_object *obj_of(const char *text)
{
    return parse(text, LUMIRA_OK);
}

static void test_json_get_str_ok(void **state)
{
    struct json_object *obj =
        obj_of("{\"email\":\"jane@example.com\",\"e\":\"\",\"u\":\"\xc3\xa9\"}");
    const char *s = NULL;
    size_t len = 99;

    (void)state;
    assert_int_equal(lumira_json_get_str(obj, "email", 254, &s, &len), LUMIRA_OK);
    assert_string_equal(s, "jane@example.com");
    assert_int_equal(len, 16);
    assert_int_equal(lumira_json_get_str(obj, "e", 0, &s, &len), LUMIRA_OK);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    assert_int_equal(lumira_json_get_str(obj, "u", 2, &s, &len), LUMIRA_OK); /* bytes, not chars */
    assert_int_equal(len, 2);
    assert_int_equal(lumira_json_get_str(obj, "u", 1, &s, &len), LUMIRA_ETOOBIG);
    json_object_put(obj);
}

static void test_json_get_str_wrong_types(void **state)
{
    static const char *const keys[] = {"int", "dbl", "bool", "obj", "arr"};
    struct json_object *obj =
        obj_of("{\"int\":1,\"dbl\":1.5,\"bool\":true,\"obj\":{},\"arr\":[\"x\"]}");
    const char *s = "untouched";
    size_t len = 99, i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(lumira_json_get_str(obj, keys[i], 100, &s, &len), LUMIRA_EINVAL);
    assert_string_equal(s, "untouched");
    assert_int_equal(len, 99);
    json_object_put(obj);
}

static void test_json_get_str_null_is_absent(void **state)
{
    struct json_object *obj = obj_of("{\"a\":null}");
    const char *s;
    size_t len;

    (void)state;
    assert_int_equal(lumira_json_get_str(obj, "a", 100, &s, &len), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_json_get_str(obj, "missing", 100, &s, &len), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_json_get_str(NULL, "a", 100, &s, &len), LUMIRA_ENOTFOUND);
    json_object_put(obj);
}

static void test_json_get_str_max_edges(void **state)
{
    struct json_object *obj = json_object_new_object();
    const char *s;
    size_t len;

    (void)state;
    assert_non_null(obj);
    json_object_object_add(obj, "name", json_object_new_string_len("0123456789", 10));
    assert_int_equal(lumira_json_get_str(obj, "name", 11, &s, &len), LUMIRA_OK); /* max + 1 */
    assert_int_equal(lumira_json_get_str(obj, "name", 10, &s, &len), LUMIRA_OK); /* at max */
    assert_int_equal(len, 10);
    assert_int_equal(lumira_json_get_str(obj, "name", 9, &s, &len), LUMIRA_ETOOBIG);
    assert_int_equal(lumira_json_get_str(obj, "name", 0, &s, &len), LUMIRA_ETOOBIG);
    json_object_put(obj);
}

static void test_json_get_str_nul_rejected(void **state)
{
    struct json_object *obj =
        obj_of("{\"a\":\"x\\u0000y\",\"b\":\"\\u0000\",\"c\":\"abc\\u0000\"}");
    const char *s;
    size_t len;

    (void)state;
    assert_int_equal(lumira_json_get_str(obj, "a", 100, &s, &len), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_str(obj, "b", 100, &s, &len), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_str(obj, "c", 100, &s, &len), LUMIRA_EINVAL);
    json_object_put(obj);
}

static void test_json_get_i64_ok(void **state)
{
    struct json_object *obj = obj_of("{\"level\":3,\"neg\":-5,\"zero\":-0}");
    int64_t v = 0;

    (void)state;
    assert_int_equal(lumira_json_get_i64(obj, "level", 1, 4, &v), LUMIRA_OK);
    assert_int_equal(v, 3);
    assert_int_equal(lumira_json_get_i64(obj, "neg", -10, 0, &v), LUMIRA_OK);
    assert_int_equal(v, -5);
    assert_int_equal(lumira_json_get_i64(obj, "zero", 0, 0, &v), LUMIRA_OK);
    assert_int_equal(v, 0);
    json_object_put(obj);
}

/* json-c would convert all of these to an int silently; we must not. */
static void test_json_get_i64_wrong_types(void **state)
{
    static const char *const keys[] = {"str", "dbl", "dbl2", "exp", "bool", "obj", "arr", "bstr"};
    struct json_object *obj = obj_of("{\"str\":\"1\",\"dbl\":1.0,\"dbl2\":1.5,\"exp\":1e2,"
                                     "\"bool\":true,\"obj\":{},\"arr\":[1],\"bstr\":\"true\"}");
    int64_t v = 77;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (lumira_json_get_i64(obj, keys[i], INT64_MIN, INT64_MAX, &v) != LUMIRA_EINVAL)
            fail_msg("\"%s\" was read as an integer", keys[i]);
    assert_int_equal(v, 77);
    json_object_put(obj);
}

static void test_json_get_i64_null_is_absent(void **state)
{
    struct json_object *obj = obj_of("{\"a\":null}");
    int64_t v = 77;

    (void)state;
    assert_int_equal(lumira_json_get_i64(obj, "a", 0, 10, &v), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_json_get_i64(obj, "b", 0, 10, &v), LUMIRA_ENOTFOUND);
    assert_int_equal(v, 77);
    json_object_put(obj);
}

static void test_json_get_i64_range_edges(void **state)
{
    struct json_object *obj = obj_of("{\"v0\":0,\"v1\":1,\"v4\":4,\"v5\":5}");
    int64_t v = 77;

    (void)state;
    assert_int_equal(lumira_json_get_i64(obj, "v0", 1, 4, &v), LUMIRA_EINVAL); /* min - 1 */
    assert_int_equal(lumira_json_get_i64(obj, "v1", 1, 4, &v), LUMIRA_OK);     /* min */
    assert_int_equal(v, 1);
    assert_int_equal(lumira_json_get_i64(obj, "v4", 1, 4, &v), LUMIRA_OK); /* max */
    assert_int_equal(v, 4);
    v = 77;
    assert_int_equal(lumira_json_get_i64(obj, "v5", 1, 4, &v), LUMIRA_EINVAL); /* max + 1 */
    assert_int_equal(v, 77);
    json_object_put(obj);
}

static void test_json_get_i64_int64_edges(void **state)
{
    struct json_object *obj = obj_of("{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                                     "\"max1\":9223372036854775808,"
                                     "\"u64\":18446744073709551615,"
                                     "\"u64p1\":18446744073709551616,"
                                     "\"huge\":99999999999999999999}");
    int64_t v = 77;

    (void)state;
    assert_int_equal(lumira_json_get_i64(obj, "max", INT64_MIN, INT64_MAX, &v), LUMIRA_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(lumira_json_get_i64(obj, "max", 0, INT64_MAX - 1, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_i64(obj, "min", INT64_MIN, INT64_MAX, &v), LUMIRA_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(lumira_json_get_i64(obj, "min", INT64_MIN + 1, 0, &v), LUMIRA_EINVAL);
    v = 77;
    /* Above INT64_MAX: json-c keeps them as uint64 and reads them back as INT64_MAX. */
    assert_int_equal(lumira_json_get_i64(obj, "max1", INT64_MIN, INT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_i64(obj, "u64", INT64_MIN, INT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_i64(obj, "u64p1", INT64_MIN, INT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_i64(obj, "huge", INT64_MIN, INT64_MAX, &v), LUMIRA_EINVAL);
    assert_int_equal(v, 77);
    json_object_put(obj);
}

static void test_json_get_bool_cases(void **state)
{
    struct json_object *obj =
        obj_of("{\"t\":true,\"f\":false,\"one\":1,\"s\":\"true\",\"n\":null,\"z\":0}");
    bool b = false;

    (void)state;
    assert_int_equal(lumira_json_get_bool(obj, "t", &b), LUMIRA_OK);
    assert_true(b);
    assert_int_equal(lumira_json_get_bool(obj, "f", &b), LUMIRA_OK);
    assert_false(b);
    b = true;
    assert_int_equal(lumira_json_get_bool(obj, "one", &b), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_bool(obj, "s", &b), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_bool(obj, "z", &b), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_bool(obj, "n", &b), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_json_get_bool(obj, "x", &b), LUMIRA_ENOTFOUND);
    assert_true(b);
    json_object_put(obj);
}

static void test_json_get_object_cases(void **state)
{
    struct json_object *obj = obj_of("{\"o\":{\"k\":1},\"a\":[],\"s\":\"{}\",\"n\":null}");
    struct json_object *v = NULL;
    int64_t k;

    (void)state;
    assert_int_equal(lumira_json_get_object(obj, "o", &v), LUMIRA_OK);
    assert_int_equal(lumira_json_get_i64(v, "k", 0, 9, &k), LUMIRA_OK); /* borrowed */
    assert_int_equal(k, 1);
    v = NULL;
    assert_int_equal(lumira_json_get_object(obj, "a", &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_object(obj, "s", &v), LUMIRA_EINVAL);
    assert_int_equal(lumira_json_get_object(obj, "n", &v), LUMIRA_ENOTFOUND);
    assert_int_equal(lumira_json_get_object(obj, "x", &v), LUMIRA_ENOTFOUND);
    assert_null(v);
    json_object_put(obj);
}

/* Serialises `obj` and compares the text. */
static void assert_serialized(const struct json_object *obj, const char *want)
{
    struct lumira_buf b;

    lumira_buf_init(&b, 4096);
    assert_int_equal(lumira_json_serialize(obj, &b), LUMIRA_OK);
    assert_non_null(b.ptr);
    assert_string_equal(b.ptr, want);
    lumira_buf_cleanup(&b);
}

static void test_json_put_fixed_format(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    assert_non_null(obj);
    lumira_json_put_fixed(obj, "uptime", 5321.4, 1, &ok);
    lumira_json_put_fixed(obj, "r", 5321.44, 1, &ok);
    lumira_json_put_fixed(obj, "up", 5321.46, 1, &ok);
    lumira_json_put_fixed(obj, "zero", 0.0, 1, &ok);
    lumira_json_put_fixed(obj, "int", 3.7, 0, &ok);
    lumira_json_put_fixed(obj, "two", 1.005, 2, &ok);
    lumira_json_put_fixed(obj, "neg", -2.5, 1, &ok);
    assert_true(ok);
    assert_serialized(obj, "{\"uptime\":5321.4,\"r\":5321.4,\"up\":5321.5,\"zero\":0.0,"
                           "\"int\":4,\"two\":1.00,\"neg\":-2.5}");
    json_object_put(obj);
}

/* JSON has no NaN or Infinity: such a value becomes null, and the output stays JSON. */
static void test_json_put_fixed_not_finite(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put_fixed(obj, "nan", NAN, 1, &ok);
    lumira_json_put_fixed(obj, "inf", INFINITY, 1, &ok);
    lumira_json_put_fixed(obj, "ninf", -INFINITY, 1, &ok);
    assert_true(ok);
    assert_serialized(obj, "{\"nan\":null,\"inf\":null,\"ninf\":null}");
    json_object_put(obj);
}

static void test_json_put_time_iso(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put_time(obj, "timestamp", 1700000000123, &ok);
    lumira_json_put_time(obj, "epoch", 0, &ok);
    assert_true(ok);
    assert_serialized(obj, "{\"timestamp\":\"2023-11-14T22:13:20.123Z\","
                           "\"epoch\":\"1970-01-01T00:00:00.000Z\"}");
    json_object_put(obj);
}

static void test_json_put_str_null(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok), *v = (struct json_object *)&v;
    const char *s;
    size_t len;

    (void)state;
    lumira_json_put_str(obj, "error", NULL, &ok);
    lumira_json_put_str(obj, "msg", "a\"b\\c/d\n\x01\xc3\xa9", &ok);
    assert_true(ok);
    assert_true(json_object_object_get_ex(obj, "error", &v));
    assert_null(v);
    assert_int_equal(lumira_json_get_str(obj, "error", 10, &s, &len), LUMIRA_ENOTFOUND);
    assert_serialized(obj, "{\"error\":null,\"msg\":\"a\\\"b\\\\c/d\\n\\u0001\xc3\xa9\"}");
    json_object_put(obj);
}

static void test_json_put_strn_counted(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put_strn(obj, "id", "abcdefXYZ", 6, &ok);
    lumira_json_put_strn(obj, "nul", "a\0b", 3, &ok);
    lumira_json_put_strn(obj, "empty", "", 0, &ok);
    assert_true(ok);
    assert_serialized(obj, "{\"id\":\"abcdef\",\"nul\":\"a\\u0000b\",\"empty\":\"\"}");
    lumira_json_put_strn(obj, "huge", "x", (size_t)INT32_MAX + 1, &ok);
    assert_false(ok);
    assert_false(json_object_object_get_ex(obj, "huge", NULL));
    json_object_put(obj);
}

static void test_json_put_int_bool(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put_int(obj, "min", INT64_MIN, &ok);
    lumira_json_put_int(obj, "max", INT64_MAX, &ok);
    lumira_json_put_int(obj, "amount", 2900, &ok);
    lumira_json_put_bool(obj, "ready", true, &ok);
    lumira_json_put_bool(obj, "connected", false, &ok);
    assert_true(ok);
    assert_serialized(obj, "{\"min\":-9223372036854775808,\"max\":9223372036854775807,"
                           "\"amount\":2900,\"ready\":true,\"connected\":false}");
    json_object_put(obj);
}

/* lumira_json_put() takes `val` even when it fails, and clears *ok. */
static void test_json_put_failure_takes_value(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put(NULL, "k", json_object_new_string("leaked if not taken"), &ok);
    assert_false(ok);
    ok = true;
    lumira_json_put(obj, "k", NULL, &ok);
    assert_false(ok);
    ok = true;
    lumira_json_put_str(NULL, "k", NULL, &ok);
    assert_false(ok);
    ok = true;
    lumira_json_put_int(NULL, "k", 1, &ok);
    assert_false(ok);
    json_object_put(obj);
}

static void test_json_put_nested(void **state)
{
    bool ok = true;
    struct json_object *root = lumira_json_new_object(&ok);
    struct json_object *svc = lumira_json_new_object(&ok);

    (void)state;
    lumira_json_put_bool(svc, "connected", true, &ok);
    lumira_json_put_int(svc, "responseTime", 3, &ok);
    lumira_json_put(root, "mongodb", svc, &ok);
    lumira_json_put_str(root, "k", "v", &ok);
    lumira_json_put_str(root, "k", "replaced", &ok); /* a key added again replaces the old */
    assert_true(ok);
    assert_serialized(root, "{\"mongodb\":{\"connected\":true,\"responseTime\":3},"
                            "\"k\":\"replaced\"}");
    json_object_put(root);
}

static void test_json_serialize_appends_and_caps(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok);
    struct lumira_buf b;

    (void)state;
    lumira_json_put_str(obj, "a", "0123456789", &ok);
    lumira_buf_init(&b, 30);
    assert_int_equal(lumira_buf_adds(&b, "x="), LUMIRA_OK);
    assert_int_equal(lumira_json_serialize(obj, &b), LUMIRA_OK);
    assert_string_equal(b.ptr, "x={\"a\":\"0123456789\"}");
    assert_int_equal(lumira_json_serialize(obj, &b), LUMIRA_ETOOBIG); /* would pass 30 */
    assert_string_equal(b.ptr, "x={\"a\":\"0123456789\"}");
    lumira_buf_cleanup(&b);
    json_object_put(obj);
}

/* What we serialise parses back with our own strict parser. */
static void test_json_serialize_round_trip(void **state)
{
    bool ok = true;
    struct json_object *obj = lumira_json_new_object(&ok), *back;
    struct lumira_buf b;
    const char *s;
    size_t len;
    int64_t v;

    (void)state;
    lumira_json_put_str(obj, "s", "quote\" backslash\\ tab\t nl\n ctl\x1f caf\xc3\xa9", &ok);
    lumira_json_put_int(obj, "n", -42, &ok);
    lumira_json_put_fixed(obj, "f", 12.5, 1, &ok);
    assert_true(ok);
    lumira_buf_init(&b, 4096);
    assert_int_equal(lumira_json_serialize(obj, &b), LUMIRA_OK);
    back = parse_len(b.ptr, b.len, LUMIRA_OK);
    assert_int_equal(lumira_json_get_str(back, "s", 100, &s, &len), LUMIRA_OK);
    assert_string_equal(s, "quote\" backslash\\ tab\t nl\n ctl\x1f caf\xc3\xa9");
    assert_int_equal(lumira_json_get_i64(back, "n", -100, 100, &v), LUMIRA_OK);
    assert_int_equal(v, -42);
    json_object_put(back);
    lumira_buf_cleanup(&b);
    json_object_put(obj);
}

static void test_json_done_keeps_or_puts(void **state)
{
    struct json_object *o = json_object_new_object();

    (void)state;
    assert_ptr_equal(lumira_json_done(o, true), o);
    /* Put when the build failed: ASan reports a leak otherwise. */
    assert_null(lumira_json_done(o, false));
    assert_null(lumira_json_done(NULL, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parse_object_valid),
        cmocka_unit_test(test_json_parse_object_why_optional),
        cmocka_unit_test(test_json_parse_object_trailing_whitespace),
        cmocka_unit_test(test_json_parse_object_trailing_garbage),
        cmocka_unit_test(test_json_parse_object_truncated),
        cmocka_unit_test(test_json_parse_object_empty),
        cmocka_unit_test(test_json_parse_object_array_root),
        cmocka_unit_test(test_json_parse_object_scalar_root),
        cmocka_unit_test(test_json_parse_object_not_json),
        cmocka_unit_test(test_json_parse_object_invalid_utf8),
        cmocka_unit_test(test_json_parse_object_bom),
        cmocka_unit_test(test_json_parse_object_nul_byte),
        cmocka_unit_test(test_json_parse_object_depth_32_ok),
        cmocka_unit_test(test_json_parse_object_depth_33_rejected),
        cmocka_unit_test(test_json_parse_object_duplicate_member),
        cmocka_unit_test(test_json_parse_object_colons_in_strings),
        cmocka_unit_test(test_json_parse_object_no_false_duplicate),
        cmocka_unit_test(test_json_parse_object_lone_surrogate),
        cmocka_unit_test(test_json_parse_object_nul_escape_in_name),
        cmocka_unit_test(test_json_parse_object_raw_control_character),
        cmocka_unit_test(test_json_parse_object_number_grammar),
        cmocka_unit_test(test_json_parse_object_wide),
        cmocka_unit_test(test_json_parse_object_body_cap),
        cmocka_unit_test(test_json_get_str_ok),
        cmocka_unit_test(test_json_get_str_wrong_types),
        cmocka_unit_test(test_json_get_str_null_is_absent),
        cmocka_unit_test(test_json_get_str_max_edges),
        cmocka_unit_test(test_json_get_str_nul_rejected),
        cmocka_unit_test(test_json_get_i64_ok),
        cmocka_unit_test(test_json_get_i64_wrong_types),
        cmocka_unit_test(test_json_get_i64_null_is_absent),
        cmocka_unit_test(test_json_get_i64_range_edges),
        cmocka_unit_test(test_json_get_i64_int64_edges),
        cmocka_unit_test(test_json_get_bool_cases),
        cmocka_unit_test(test_json_get_object_cases),
        cmocka_unit_test(test_json_put_fixed_format),
        cmocka_unit_test(test_json_put_fixed_not_finite),
        cmocka_unit_test(test_json_put_time_iso),
        cmocka_unit_test(test_json_put_str_null),
        cmocka_unit_test(test_json_put_strn_counted),
        cmocka_unit_test(test_json_put_int_bool),
        cmocka_unit_test(test_json_put_failure_takes_value),
        cmocka_unit_test(test_json_put_nested),
        cmocka_unit_test(test_json_serialize_appends_and_caps),
        cmocka_unit_test(test_json_serialize_round_trip),
        cmocka_unit_test(test_json_done_keeps_or_puts),
    };

    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
