/* Unit tests of the parts of src/experts.c that need no database: reading a new expert with the
 * register rules (shared by lumira-auth and lumira-admin) and the public JSON view. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "experts.h"
#include "json.h"

/* Parses `json` as a request body would be; the caller puts it. */
static struct json_object *body_of(const char *json)
{
    struct json_object *obj = NULL;
    char why[128];

    if (lumira_json_parse_object(json, strlen(json), &obj, why, sizeof(why)) != LUMIRA_OK)
        fail_msg("test JSON does not parse (%s): %s", why, json);
    return obj;
}

/* The fields named by the details of `v`, comma-separated, into `out`. */
static void failed_fields(const struct lumira_valid *v, char *out, size_t size)
{
    const struct json_object *d = lumira_valid_details(v);
    size_t i, n = d != NULL ? json_object_array_length(d) : 0;

    size_t used = 0;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        struct json_object *f;

        assert_true(json_object_object_get_ex(json_object_array_get_idx(d, i), "field", &f));
        used += (size_t)snprintf(out + used, size - used, "%s%s", i > 0 ? "," : "",
                                 json_object_get_string(f));
        assert_true(used < size);
    }
}

static void test_read_new_defaults_to_expert_and_normalises(void **state)
{
    struct json_object *b = body_of(
        "{\"email\": \" Jane@Example.COM \", \"password\": \" pass word \", \"name\": \"  Jane  \"}");
    struct lumira_valid v;
    struct lumira_expert e;
    const char *pw;
    size_t pwlen;

    (void)state;
    lumira_valid_init(&v);
    assert_true(lumira_expert_read_new(&v, b, &e, &pw, &pwlen));
    assert_string_equal(e.email, "jane@example.com");
    assert_string_equal(e.name, "Jane");
    assert_int_equal(e.role, LUMIRA_ROLE_EXPERT);
    /* Passwords are taken verbatim: spaces count. */
    assert_int_equal(pwlen, 11);
    assert_memory_equal(pw, " pass word ", 11);
    assert_string_equal(e.hash, "");
    lumira_valid_cleanup(&v);
    json_object_put(b);
}

static void test_read_new_admin_role(void **state)
{
    struct json_object *b = body_of(
        "{\"email\": \"a@example.com\", \"password\": \"secret1\", \"name\": \"A\", \"role\": "
        "\"admin\"}");
    struct lumira_valid v;
    struct lumira_expert e;
    const char *pw;
    size_t pwlen;

    (void)state;
    lumira_valid_init(&v);
    assert_true(lumira_expert_read_new(&v, b, &e, &pw, &pwlen));
    assert_int_equal(e.role, LUMIRA_ROLE_ADMIN);
    lumira_valid_cleanup(&v);
    json_object_put(b);
}

static void test_read_new_names_every_bad_field(void **state)
{
    static const struct {
        const char *json;
        const char *fields;
    } cases[] = {
        {"{}", "email,password,name"},
        {"{\"email\": \"nope\", \"password\": \"12345\", \"name\": \"\", \"role\": \"root\"}",
         "email,password,name,role"},
        {"{\"email\": 1, \"password\": true, \"name\": [], \"role\": 2}", "email,password,name,role"},
        {"{\"email\": \"a@example.com\", \"password\": \"secret1\", \"name\": \"A\", \"role\": "
         "\"Admin\"}",
         "role"},
    };
    char got[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *b = body_of(cases[i].json);
        struct lumira_valid v;
        struct lumira_expert e;
        const char *pw;
        size_t pwlen;

        lumira_valid_init(&v);
        assert_false(lumira_expert_read_new(&v, b, &e, &pw, &pwlen));
        failed_fields(&v, got, sizeof(got));
        if (strcmp(got, cases[i].fields) != 0)
            fail_msg("%s: failed fields \"%s\", expected \"%s\"", cases[i].json, got,
                     cases[i].fields);
        lumira_valid_cleanup(&v);
        json_object_put(b);
    }
}

static void test_read_new_name_of_100_and_101_characters(void **state)
{
    char json[1024], name[512];
    struct lumira_valid v;
    struct lumira_expert e;
    const char *pw;
    size_t pwlen, i;
    int chars;

    (void)state;
    for (chars = 100; chars <= 101; chars++) {
        struct json_object *b;

        /* U+00E9, two bytes: the limit counts characters. */
        for (i = 0; i < (size_t)chars; i++)
            memcpy(name + 2 * i, "\xc3\xa9", 2);
        name[2 * chars] = '\0';
        snprintf(json, sizeof(json),
                 "{\"email\": \"a@example.com\", \"password\": \"secret1\", \"name\": \"%s\"}",
                 name);
        b = body_of(json);
        lumira_valid_init(&v);
        assert_int_equal(lumira_expert_read_new(&v, b, &e, &pw, &pwlen), chars == 100);
        if (chars == 100)
            assert_string_equal(e.name, name);
        lumira_valid_cleanup(&v);
        json_object_put(b);
    }
}

static void test_expert_json_never_shows_the_hash(void **state)
{
    struct lumira_expert e;
    struct json_object *o, *v;
    bool ok = true;

    (void)state;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "0123456789abcdef01234567");
    snprintf(e.email, sizeof(e.email), "a@example.com");
    snprintf(e.name, sizeof(e.name), "A");
    snprintf(e.hash, sizeof(e.hash), "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
    e.role = LUMIRA_ROLE_ADMIN;
    e.active = true;
    e.created_at_ms = 1767225600000LL; /* 2026-01-01T00:00:00.000Z */

    o = lumira_expert_json(&e, false, &ok);
    assert_true(ok);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"_id\":\"0123456789abcdef01234567\","
                        "\"id\":\"0123456789abcdef01234567\",\"email\":\"a@example.com\","
                        "\"name\":\"A\",\"role\":\"admin\",\"lastLogin\":null}");
    json_object_put(o);

    o = lumira_expert_json(&e, true, &ok);
    assert_true(ok);
    assert_true(json_object_object_get_ex(o, "createdAt", &v));
    assert_string_equal(json_object_get_string(v), "2026-01-01T00:00:00.000Z");
    assert_true(json_object_object_get_ex(o, "lastLogin", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "isActive", &v));
    assert_true(json_object_get_boolean(v));
    assert_null(strstr(json_object_to_json_string(o), "$2b$"));
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_new_defaults_to_expert_and_normalises),
        cmocka_unit_test(test_read_new_admin_role),
        cmocka_unit_test(test_read_new_names_every_bad_field),
        cmocka_unit_test(test_read_new_name_of_100_and_101_characters),
        cmocka_unit_test(test_expert_json_never_shows_the_hash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
