/* Unit tests of src/app.c: the index bootstrap retries a failure only after
 * LUMIRA_INDEX_RETRY_MS, stops once done, and takes an index with other options as done. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "str.h"

static int calls;
static enum lumira_err answer;

static enum lumira_err fake_make(struct lumira_mongo *m, char *err, size_t errlen)
{
    (void)m;
    calls++;
    (void)lumira_str_fmt(err, errlen, "fake failure");
    return answer;
}

static int group_setup(void **state)
{
    (void)state;
    return lumira_log_open("test_app", "/dev/null", LUMIRA_LOG_ERROR) == LUMIRA_OK ? 0 : -1;
}

static void test_app_indexes_retry_after_a_failure_waits(void **state)
{
    struct lumira_index_state st = {false, 0};

    (void)state;
    calls = 0;
    answer = LUMIRA_EUNAVAIL;
    lumira_app_indexes(NULL, fake_make, "test", &st);
    assert_int_equal(calls, 1);
    assert_false(st.done);
    assert_true(st.retry_ms >= lumira_mono_ms() + LUMIRA_INDEX_RETRY_MS - 1000);
    lumira_app_indexes(NULL, fake_make, "test", &st); /* too soon: no attempt */
    assert_int_equal(calls, 1);
    st.retry_ms = lumira_mono_ms() - 1; /* the wait is over */
    answer = LUMIRA_OK;
    lumira_app_indexes(NULL, fake_make, "test", &st);
    assert_int_equal(calls, 2);
    assert_true(st.done);
    lumira_app_indexes(NULL, fake_make, "test", &st); /* done: never again */
    assert_int_equal(calls, 2);
}

static void test_app_indexes_other_options_count_as_done(void **state)
{
    struct lumira_index_state st = {false, 0};

    (void)state;
    calls = 0;
    answer = LUMIRA_ECONFIG;
    lumira_app_indexes(NULL, fake_make, "test", &st);
    lumira_app_indexes(NULL, fake_make, "test", &st);
    assert_int_equal(calls, 1);
    assert_true(st.done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_indexes_retry_after_a_failure_waits),
        cmocka_unit_test(test_app_indexes_other_options_count_as_done),
    };

    return cmocka_run_group_tests_name("app", tests, group_setup, NULL);
}
