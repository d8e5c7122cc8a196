/* Unit tests of src/buf.c: the capped growable buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_buf_add_grows_and_terminates(void **state)
{
    struct lumira_buf b;

    (void)state;
    lumira_buf_init(&b, 1000);
    assert_null(b.ptr);
    assert_int_equal(lumira_buf_add(&b, "abc", 3), LUMIRA_OK);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.ptr, "abc");
    for (int i = 0; i < 100; i++)
        assert_int_equal(lumira_buf_adds(&b, "0123456"), LUMIRA_OK);
    assert_int_equal(b.len, 703);
    assert_int_equal(b.ptr[703], '\0');
    lumira_buf_cleanup(&b);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
}

/* The cap at max - 1, max and max + 1 (STYLE.md section 10). */
static void test_buf_cap_edges(void **state)
{
    struct lumira_buf b;
    char data[17];

    (void)state;
    memset(data, 'x', sizeof(data));
    lumira_buf_init(&b, 16);
    assert_int_equal(lumira_buf_add(&b, data, 15), LUMIRA_OK);
    assert_int_equal(lumira_buf_add(&b, data, 1), LUMIRA_OK);
    assert_int_equal(b.len, 16);
    assert_int_equal(lumira_buf_add(&b, data, 1), LUMIRA_ETOOBIG);
    assert_int_equal(b.len, 16); /* left as it was */
    lumira_buf_reset(&b);
    assert_int_equal(lumira_buf_add(&b, data, 17), LUMIRA_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(lumira_buf_add(&b, data, SIZE_MAX), LUMIRA_ETOOBIG);
    lumira_buf_cleanup(&b);
}

static void test_buf_addf_respects_cap(void **state)
{
    struct lumira_buf b;

    (void)state;
    lumira_buf_init(&b, 8);
    assert_int_equal(lumira_buf_addf(&b, "%d-%s", 12, "ab"), LUMIRA_OK);
    assert_string_equal(b.ptr, "12-ab");
    assert_int_equal(lumira_buf_addf(&b, "%s", "four"), LUMIRA_ETOOBIG);
    assert_string_equal(b.ptr, "12-ab");
    assert_int_equal(lumira_buf_addf(&b, "%s", "xyz"), LUMIRA_OK);
    assert_string_equal(b.ptr, "12-abxyz");
    lumira_buf_cleanup(&b);
}

static void test_buf_take_hands_over(void **state)
{
    struct lumira_buf b;
    char *p;

    (void)state;
    lumira_buf_init(&b, 100);
    assert_null(lumira_buf_take(&b));
    assert_int_equal(lumira_buf_add(&b, "a\0b", 3), LUMIRA_OK);
    p = lumira_buf_take(&b);
    assert_non_null(p);
    assert_memory_equal(p, "a\0b", 4);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    free(p);
    lumira_buf_cleanup(NULL);
}

static void test_buf_truncate_keeps_prefix(void **state)
{
    struct lumira_buf b;

    (void)state;
    lumira_buf_init(&b, 100);
    lumira_buf_truncate(&b, 0); /* empty, never allocated */
    assert_null(b.ptr);
    assert_int_equal(lumira_buf_adds(&b, "abcdef"), LUMIRA_OK);
    lumira_buf_truncate(&b, 10); /* longer than the content: nothing changes */
    assert_string_equal(b.ptr, "abcdef");
    lumira_buf_truncate(&b, 3);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.ptr, "abc");
    assert_int_equal(lumira_buf_adds(&b, "xy"), LUMIRA_OK);
    assert_string_equal(b.ptr, "abcxy");
    lumira_buf_cleanup(&b);
}

/* lumira_buf_space() reserves within the cap (max-1, max, max+1) and commit counts what was
 * written, keeping the content NUL-terminated; an error leaves the buffer as it was. */
static void test_buf_space_commit(void **state)
{
    struct lumira_buf b;
    enum lumira_err err = LUMIRA_EINTERNAL;
    char *p;

    (void)state;
    lumira_buf_init(&b, 8);
    assert_int_equal(lumira_buf_add(&b, "ab", 2), LUMIRA_OK);
    p = lumira_buf_space(&b, 5, &err);
    assert_non_null(p);
    assert_int_equal(err, LUMIRA_OK);
    memcpy(p, "cde", 3);
    lumira_buf_commit(&b, 3);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.ptr, "abcde");
    assert_non_null(lumira_buf_space(&b, 3, &err)); /* up to max exactly */
    assert_null(lumira_buf_space(&b, 4, &err));     /* one over */
    assert_int_equal(err, LUMIRA_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.ptr, "abcde");
    lumira_buf_commit(&b, 0);
    assert_string_equal(b.ptr, "abcde");
    lumira_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_add_grows_and_terminates),
        cmocka_unit_test(test_buf_cap_edges),
        cmocka_unit_test(test_buf_addf_respects_cap),
        cmocka_unit_test(test_buf_take_hands_over),
        cmocka_unit_test(test_buf_truncate_keeps_prefix),
        cmocka_unit_test(test_buf_space_commit),
    };

    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
