/* Unit tests of src/log.c: the JSON line format, levels, the log file and its reopening, and the
 * masking helpers. Every formatted line is parsed back with json-c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lumira_limits.h"
#include "log.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

/* True when `s` (len bytes) is valid UTF-8: no overlongs, surrogates or values past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned cp;
        size_t n, k;

        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf)
            n = 2, cp = s[i] & 0x1f;
        else if (s[i] >= 0xe0 && s[i] <= 0xef)
            n = 3, cp = s[i] & 0x0f;
        else if (s[i] >= 0xf0 && s[i] <= 0xf4)
            n = 4, cp = s[i] & 0x07;
        else
            return 0;
        if (len - i < n)
            return 0;
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += n;
    }
    return 1;
}

/* Checks that `line` (len bytes) is one log line: a JSON object in strict, valid UTF-8, on one
 * line, ending with "}\n". Returns the parsed object (json_object_put() it). */
static struct json_object *parse_line(const char *line, size_t len)
{
    struct json_tokener *tok;
    struct json_object *obj;

    assert_true(len >= 3);
    assert_true(len <= LUMIRA_LOG_LINE_MAX);
    assert_memory_equal(line + len - 2, "}\n", 2);
    assert_null(memchr(line, '\n', len - 1));
    assert_null(memchr(line, '\0', len));
    if (!utf8_valid((const unsigned char *)line, len))
        fail_msg("log line is not valid UTF-8: %.*s", (int)len, line);
    tok = json_tokener_new();
    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, line, (int)len);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
        fail_msg("log line is not JSON (%s): %.*s",
                 json_tokener_error_desc(json_tokener_get_error(tok)), (int)len, line);
    assert_int_equal(json_tokener_get_parse_end(tok), len);
    json_tokener_free(tok);
    assert_true(json_object_is_type(obj, json_type_object));
    return obj;
}

/* The string member `key` of `obj`, or NULL when absent or null; fails on any other type. */
static const char *str_of(struct json_object *obj, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
        return NULL;
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static int has_key(struct json_object *obj, const char *key)
{
    return json_object_object_get_ex(obj, key, NULL);
}

static int is_cut(struct json_object *obj)
{
    struct json_object *v;

    if (!json_object_object_get_ex(obj, "cut", &v))
        return 0;
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_true(json_object_get_boolean(v));
    return 1;
}

/* Formats one line with `msg` and `fields` into a full-size buffer and parses it back. */
static struct json_object *format(enum lumira_log_level level, const char *module,
                                  const struct lumira_log_field *fields, const char *msg)
{
    char line[LUMIRA_LOG_LINE_MAX];
    size_t len;

    memset(line, 0x55, sizeof(line));
    len = lumira__log_format(line, sizeof(line), level, module, fields, msg);
    return parse_line(line, len);
}

/* Resets the logger to its defaults (stderr, info) after a test that changed it. */
static int logger_reset(void **state)
{
    (void)state;
    lumira_log_close();
    if (lumira_log_open("lumira", NULL, LUMIRA_LOG_INFO) != LUMIRA_OK)
        return -1;
    lumira_log_set_reqid(NULL);
    return 0;
}

/* Per-test temporary directory, removed with everything in it by tmp_teardown. */
static int tmp_setup(void **state)
{
    char *dir = strdup("/tmp/lumira-test-log-XXXXXX");

    if (dir == NULL || mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int tmp_teardown(void **state)
{
    char *dir = *state;

    logger_reset(state);
    remove_tree(dir);
    free(dir);
    return 0;
}

/* Reads the whole of `path` into `buf` (NUL-terminated); returns its length. */
static size_t slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    size_t used = 0;
    ssize_t n;

    assert_true(fd >= 0);
    while (used < size - 1 && (n = read(fd, buf + used, size - 1 - used)) > 0)
        used += (size_t)n;
    close(fd);
    buf[used] = '\0';
    return used;
}

/* Splits `buf` into lines, checks each is a log line, and returns the number of lines; the msg of
 * line i is compared with want[i] when want is not NULL. */
static size_t check_lines(const char *buf, size_t len, const char *const *want, size_t nwant)
{
    size_t count = 0;
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct json_object *obj;

        assert_non_null(nl);
        obj = parse_line(p, (size_t)(nl + 1 - p));
        if (want != NULL) {
            assert_true(count < nwant);
            assert_string_equal(str_of(obj, "msg"), want[count]);
        }
        json_object_put(obj);
        count++;
        p = nl + 1;
    }
    return count;
}

static void test_log_format_plain(void **state)
{
    struct json_object *obj;
    struct json_object *v;
    const char *ts;

    (void)state;
    obj = format(LUMIRA_LOG_INFO, "test", NULL, "hello world");
    ts = str_of(obj, "ts");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(str_of(obj, "level"), "info");
    assert_string_equal(str_of(obj, "prog"), "lumira");
    assert_string_equal(str_of(obj, "module"), "test");
    assert_string_equal(str_of(obj, "msg"), "hello world");
    assert_true(json_object_object_get_ex(obj, "pid", &v));
    assert_true(json_object_is_type(v, json_type_int));
    assert_int_equal(json_object_get_int64(v), getpid());
    /* reqId is always there, null when no request is in hand. */
    assert_true(json_object_object_get_ex(obj, "reqId", &v));
    assert_null(v);
    assert_false(is_cut(obj));
    assert_int_equal(json_object_object_length(obj), 7);
    json_object_put(obj);
}

static void test_log_format_no_module(void **state)
{
    struct json_object *obj;

    (void)state;
    obj = format(LUMIRA_LOG_WARN, NULL, NULL, "");
    assert_false(has_key(obj, "module"));
    assert_string_equal(str_of(obj, "msg"), "");
    json_object_put(obj);
}

static void test_log_format_control_chars(void **state)
{
    char msg[40];
    struct json_object *obj;
    char line[LUMIRA_LOG_LINE_MAX];
    size_t len, i;

    (void)state;
    for (i = 0; i < 31; i++)
        msg[i] = (char)(i + 1); /* 0x01 .. 0x1f */
    msg[31] = 0x7f;
    memcpy(msg + 32, "end", 4);
    len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_INFO, "t", NULL, msg);
    for (i = 0; i < len - 1; i++)
        assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
    obj = parse_line(line, len);
    assert_string_equal(str_of(obj, "msg"), msg);
    json_object_put(obj);
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "line1\nline2\r\n\tX");
    assert_string_equal(str_of(obj, "msg"), "line1\nline2\r\n\tX");
    json_object_put(obj);
}

static void test_log_format_quotes_backslashes(void **state)
{
    static const char *const msgs[] = {
        "he said \"hi\"", "C:\\path\\to\\file",        "\\",        "\"",
        "\\\"",           "\"}\n{\"level\":\"error\"", "</script>", "{\"a\":1}",
    };
    const struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("path", "/a\"b\\c"),
        LUMIRA_LOG_END,
    };
    struct json_object *obj;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        obj = format(LUMIRA_LOG_INFO, "t", fields, msgs[i]);
        assert_string_equal(str_of(obj, "msg"), msgs[i]);
        assert_string_equal(str_of(obj, "level"), "info"); /* not overridden by the message */
        assert_string_equal(str_of(obj, "path"), "/a\"b\\c");
        json_object_put(obj);
    }
}

static void test_log_format_invalid_utf8(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a\xff"
         "b",
         "a" REPLACEMENT "b"},
        {"\xfe\xff", REPLACEMENT REPLACEMENT},
        {"a\xc3", "a" REPLACEMENT}, /* truncated 2-byte at the end */
        {"\xc3"
         "a",
         REPLACEMENT "a"},                                     /* lead byte without continuation */
        {"\xe2\x82", REPLACEMENT REPLACEMENT},                 /* truncated 3-byte */
        {"\xf0\x9f\x98", REPLACEMENT REPLACEMENT REPLACEMENT}, /* truncated 4-byte */
        {"\x80"
         "x",
         REPLACEMENT "x"},                                     /* lone continuation */
        {"\xc0\xaf", REPLACEMENT REPLACEMENT},                 /* overlong '/' */
        {"\xc1\xbf", REPLACEMENT REPLACEMENT},                 /* overlong */
        {"\xe0\x80\xaf", REPLACEMENT REPLACEMENT REPLACEMENT}, /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", REPLACEMENT REPLACEMENT REPLACEMENT REPLACEMENT},
        {"\xed\xa0\x80", REPLACEMENT REPLACEMENT REPLACEMENT}, /* surrogate U+D800 */
        {"\xed\xbf\xbf", REPLACEMENT REPLACEMENT REPLACEMENT}, /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", REPLACEMENT REPLACEMENT REPLACEMENT REPLACEMENT}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", REPLACEMENT REPLACEMENT REPLACEMENT REPLACEMENT},
        /* Valid sequences at each length and at the edges stay as they are. */
        {"\xc2\x80 \xdf\xbf", "\xc2\x80 \xdf\xbf"},
        {"\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf",
         "\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf"},
        {"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    };
    struct json_object *obj;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lumira_log_field fields[] = {
            LUMIRA_LOG_STR("value", cases[i].in),
            LUMIRA_LOG_END,
        };

        obj = format(LUMIRA_LOG_INFO, "t", fields, cases[i].in);
        if (strcmp(str_of(obj, "msg"), cases[i].want) != 0)
            fail_msg("case %zu: msg is \"%s\"", i, str_of(obj, "msg"));
        assert_string_equal(str_of(obj, "value"), cases[i].want);
        json_object_put(obj);
    }
}

/* A 10 KB message: the line stays within its cap, stays JSON, and says it was cut. */
static void test_log_format_long_message(void **state)
{
    static const char *const units[] = {"a", "\"", "\x01", "\xe2\x82\xac", "\xff"};
    const struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("after", "still here"),
        LUMIRA_LOG_INT("n", 42),
        LUMIRA_LOG_END,
    };
    char *msg = malloc(10 * 1024 + 1);
    size_t u;

    (void)state;
    assert_non_null(msg);
    for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t ulen = strlen(units[u]), i;
        struct json_object *obj, *n;
        const char *got;

        for (i = 0; i + ulen <= 10 * 1024; i += ulen)
            memcpy(msg + i, units[u], ulen);
        msg[i] = '\0';
        obj = format(LUMIRA_LOG_ERROR, "t", fields, msg);
        assert_true(is_cut(obj));
        got = str_of(obj, "msg");
        assert_non_null(got);
        assert_true(strlen(got) > 100);
        assert_true(strlen(got) < LUMIRA_LOG_LINE_MAX);
        assert_string_equal(got + strlen(got) - 3, "...");
        if (u < 4) /* cut on a character boundary: no broken sequence made up */
            assert_null(strstr(got, REPLACEMENT));
        /* The message takes at most half the line: the fields after it still fit. */
        assert_string_equal(str_of(obj, "after"), "still here");
        assert_true(json_object_object_get_ex(obj, "n", &n));
        assert_int_equal(json_object_get_int64(n), 42);
        json_object_put(obj);
    }
    free(msg);
}

static void test_log_format_many_fields_overflow(void **state)
{
    struct lumira_log_field fields[201];
    char keys[200][8], value[101];
    struct json_object *obj;
    size_t i, present = 0;

    (void)state;
    memset(value, 'v', 100);
    value[100] = '\0';
    for (i = 0; i < 200; i++) {
        snprintf(keys[i], sizeof(keys[i]), "f%03zu", i);
        fields[i].key = keys[i];
        fields[i].str = value;
        fields[i].num = (int64_t)i;
        fields[i].is_int = (i % 3 == 0);
    }
    fields[200].key = NULL;
    obj = format(LUMIRA_LOG_INFO, "t", fields, "many fields");
    assert_true(is_cut(obj));
    assert_string_equal(str_of(obj, "msg"), "many fields");
    for (i = 0; i < 200; i++) {
        struct json_object *v;

        if (!json_object_object_get_ex(obj, keys[i], &v))
            continue;
        present++;
        if (fields[i].is_int) {
            assert_int_equal(json_object_get_int64(v), i);
        } else {
            const char *s = json_object_get_string(v);

            /* Whole, or cut and saying so. */
            assert_true(strcmp(s, value) == 0 ||
                        (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "...") == 0));
        }
    }
    assert_true(present > 10);
    assert_true(present < 200);
    assert_string_equal(str_of(obj, "f001"), value); /* the first ones are whole */
    json_object_put(obj);
}

/* A field value past its own cap (512 bytes escaped) is cut on its own; the line still fits. */
static void test_log_format_long_field(void **state)
{
    char value[2000];
    struct json_object *obj;
    const char *got;

    (void)state;
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    {
        const struct lumira_log_field fields[] = {
            LUMIRA_LOG_STR("big", value),
            LUMIRA_LOG_STR("small", "ok"),
            LUMIRA_LOG_END,
        };

        obj = format(LUMIRA_LOG_INFO, "t", fields, "m");
    }
    got = str_of(obj, "big");
    assert_true(strlen(got) <= 512);
    assert_string_equal(got + strlen(got) - 3, "...");
    assert_string_equal(str_of(obj, "small"), "ok");
    assert_true(is_cut(obj));
    json_object_put(obj);
}

/* The smallest buffer allowed (128 bytes) still gets a whole, valid line. */
static void test_log_format_small_buffer(void **state)
{
    char line[128 + 8], msg[1000];
    const struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("key", "value"),
        LUMIRA_LOG_INT("n", INT64_MIN),
        LUMIRA_LOG_END,
    };
    struct json_object *obj;
    size_t len;

    (void)state;
    memset(msg, '\\', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    memset(line, 'Z', sizeof(line));
    lumira_log_set_reqid("0123456789012345678901234567890123456789");
    len = lumira__log_format(line, 128, LUMIRA_LOG_DEBUG, "module", fields, msg);
    lumira_log_set_reqid(NULL);
    assert_true(len <= 128);
    assert_int_equal(line[128], 'Z');
    obj = parse_line(line, len);
    assert_true(is_cut(obj));
    json_object_put(obj);
}

static void test_log_format_field_types(void **state)
{
    const struct lumira_log_field fields[] = {
        LUMIRA_LOG_INT("min", INT64_MIN), LUMIRA_LOG_INT("max", INT64_MAX),
        LUMIRA_LOG_INT("zero", 0),        LUMIRA_LOG_INT("neg", -1),
        LUMIRA_LOG_STR("nothing", NULL),  LUMIRA_LOG_STR("empty", ""),
        LUMIRA_LOG_STR("method", "GET"),  LUMIRA_LOG_END,
    };
    struct json_object *obj, *v;

    (void)state;
    obj = format(LUMIRA_LOG_INFO, "t", fields, "types");
    assert_true(json_object_object_get_ex(obj, "min", &v));
    assert_true(json_object_is_type(v, json_type_int));
    assert_true(json_object_get_int64(v) == INT64_MIN);
    assert_true(json_object_object_get_ex(obj, "max", &v));
    assert_true(json_object_get_int64(v) == INT64_MAX);
    assert_true(json_object_object_get_ex(obj, "zero", &v));
    assert_int_equal(json_object_get_int64(v), 0);
    assert_true(json_object_object_get_ex(obj, "neg", &v));
    assert_int_equal(json_object_get_int64(v), -1);
    assert_true(json_object_object_get_ex(obj, "nothing", &v));
    assert_null(v);
    assert_string_equal(str_of(obj, "empty"), "");
    assert_string_equal(str_of(obj, "method"), "GET");
    assert_false(is_cut(obj));
    json_object_put(obj);
    /* A NULL field array and an empty one are the same. */
    obj = format(LUMIRA_LOG_INFO, "t", fields + 7, "none");
    assert_int_equal(json_object_object_length(obj), 7);
    json_object_put(obj);
}

static void test_log_format_level_names(void **state)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct json_object *obj;
    int level;

    (void)state;
    for (level = LUMIRA_LOG_ERROR; level <= LUMIRA_LOG_DEBUG; level++) {
        obj = format((enum lumira_log_level)level, "t", NULL, "x");
        assert_string_equal(str_of(obj, "level"), names[level]);
        json_object_put(obj);
    }
}

static void test_log_set_reqid_set_cleared(void **state)
{
    char longid[101];
    struct json_object *obj;

    (void)state;
    lumira_log_set_reqid("abc-123");
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "x");
    assert_string_equal(str_of(obj, "reqId"), "abc-123");
    json_object_put(obj);

    lumira_log_set_reqid(NULL);
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "x");
    assert_true(has_key(obj, "reqId"));
    assert_null(str_of(obj, "reqId"));
    json_object_put(obj);

    lumira_log_set_reqid("again");
    lumira_log_set_reqid("");
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "x");
    assert_null(str_of(obj, "reqId"));
    json_object_put(obj);

    /* Longer than LUMIRA_REQID_MAX: cut to the cap. */
    memset(longid, 'r', 100);
    longid[100] = '\0';
    lumira_log_set_reqid(longid);
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "x");
    assert_int_equal(strlen(str_of(obj, "reqId")), LUMIRA_REQID_MAX);
    json_object_put(obj);

    /* Not ours to trust: still escaped. */
    lumira_log_set_reqid("\"},\"level\":\"x");
    obj = format(LUMIRA_LOG_INFO, "t", NULL, "x");
    assert_string_equal(str_of(obj, "reqId"), "\"},\"level\":\"x");
    assert_string_equal(str_of(obj, "level"), "info");
    json_object_put(obj);
    lumira_log_set_reqid(NULL);
}

static void test_log_parse_level_valid(void **state)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    enum lumira_log_level level;
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        level = (enum lumira_log_level)99;
        assert_int_equal(lumira_log_parse_level(names[i], &level), LUMIRA_OK);
        assert_int_equal(level, i);
    }
}

static void test_log_parse_level_invalid(void **state)
{
    static const char *const bad[] = {"",        "ERROR", "Info",  "info ", " info", "warning",
                                      "verbose", "trace", "infos", "inf",   "0",     "2"};
    enum lumira_log_level level = LUMIRA_LOG_WARN;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(lumira_log_parse_level(bad[i], &level), LUMIRA_EINVAL);
    assert_int_equal(lumira_log_parse_level(NULL, &level), LUMIRA_EINVAL);
    assert_int_equal(level, LUMIRA_LOG_WARN); /* untouched on error */
}

static void test_log_enabled_by_level(void **state)
{
    int set, asked;

    (void)state;
    for (set = LUMIRA_LOG_ERROR; set <= LUMIRA_LOG_DEBUG; set++) {
        assert_int_equal(lumira_log_open(NULL, NULL, (enum lumira_log_level)set), LUMIRA_OK);
        for (asked = LUMIRA_LOG_ERROR; asked <= LUMIRA_LOG_DEBUG; asked++)
            assert_int_equal(lumira_log_enabled((enum lumira_log_level)asked), asked <= set);
    }
}

static int side_effects;

static int count_call(void)
{
    return ++side_effects;
}

/* The macros skip evaluating their arguments when the level is off (redis serverLog). */
static void test_log_macro_skips_arguments(void **state)
{
    const struct lumira_log_field fields[] = {LUMIRA_LOG_END};

    (void)state;
    assert_int_equal(lumira_log_open(NULL, NULL, LUMIRA_LOG_ERROR), LUMIRA_OK);
    side_effects = 0;
    lumira_log(LUMIRA_LOG_DEBUG, "t", "%d", count_call());
    lumira_log(LUMIRA_LOG_INFO, "t", "%d", count_call());
    lumira_log_fields(LUMIRA_LOG_WARN, "t", fields, "%d", count_call());
    assert_int_equal(side_effects, 0);
}

static void test_log_open_file_write_read(void **state)
{
    const char *dir = *state;
    static const char *const want[] = {"first 1", "second", "with fields"};
    const struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("method", "GET"),
        LUMIRA_LOG_INT("status", 200),
        LUMIRA_LOG_END,
    };
    char path[256], buf[16384];
    size_t len;
    struct json_object *obj;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    assert_int_equal(lumira_log_open("myprog", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "first %d", 1);
    lumira_log(LUMIRA_LOG_DEBUG, "t", "not written");
    lumira_log(LUMIRA_LOG_ERROR, "t", "second");
    lumira_log_fields(LUMIRA_LOG_WARN, "t", fields, "with fields");
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, want, 3), 3);
    obj = parse_line(buf, (size_t)(strchr(buf, '\n') + 1 - buf));
    assert_string_equal(str_of(obj, "prog"), "myprog");
    json_object_put(obj);
    assert_non_null(strstr(buf, "\"status\":200"));
    assert_non_null(strstr(buf, "\"level\":\"error\""));
    assert_null(strstr(buf, "not written"));
}

/* The file is opened for appending: what was there stays. */
static void test_log_open_appends(void **state)
{
    const char *dir = *state;
    char path[256], buf[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"old\":true}\n", f);
    fclose(f);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "new");
    slurp(path, buf, sizeof(buf));
    assert_memory_equal(buf, "{\"old\":true}\n{", 14);
    assert_non_null(strstr(buf, "\"msg\":\"new\""));
}

/* A path that cannot be opened is an error, and the logger keeps its current file. */
static void test_log_open_bad_path_keeps_old(void **state)
{
    const char *dir = *state;
    static const char *const want[] = {"one", "two"};
    char path[256], bad[256], buf[4096], *longpath;
    size_t len;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(bad, sizeof(bad), "%s/missing-dir/app.log", dir);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "one");
    assert_int_equal(lumira_log_open("p", bad, LUMIRA_LOG_INFO), LUMIRA_EIO);
    longpath = malloc(2000);
    assert_non_null(longpath);
    memset(longpath, 'a', 1999);
    longpath[0] = '/';
    longpath[1999] = '\0';
    assert_int_not_equal(lumira_log_open("p", longpath, LUMIRA_LOG_INFO), LUMIRA_OK);
    free(longpath);
    lumira_log(LUMIRA_LOG_INFO, "t", "two");
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, want, 2), 2);
}

/* Sends standard error to a new file at `path`; returns what stderr_back() restores. */
static int stderr_to(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved;

    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

static void stderr_back(int saved)
{
    dup2(saved, 2);
    close(saved);
}

/* With no lumira_log_open(), or after lumira_log_close(), lines go to stderr. */
static void test_log_close_returns_to_stderr(void **state)
{
    const char *dir = *state;
    static const char *const want[] = {"to stderr", "after close"};
    char path[256], errpath[256], buf[4096];
    int saved;
    size_t len;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
    saved = stderr_to(errpath);
    lumira_log(LUMIRA_LOG_INFO, "t", "to stderr");
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "to file");
    lumira_log_close();
    lumira_log(LUMIRA_LOG_INFO, "t", "after close");
    stderr_back(saved);
    len = slurp(errpath, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, want, 2), 2);
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 1);
}

/* LOG_FILE that takes no more bytes (/dev/full): every line is lost, standard error is told once
 * (not once per line), and once a writable file is open again the losses stop being reported. */
static void test_log_unwritable_file_warns_once_on_stderr(void **state)
{
    const char *dir = *state;
    char path[256], errpath[256], buf[4096];
    int saved;
    size_t len;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
    saved = stderr_to(errpath);
    assert_int_equal(lumira_log_open("p", "/dev/full", LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "lost one");
    lumira_log(LUMIRA_LOG_INFO, "t", "lost two");
    lumira_log(LUMIRA_LOG_ERROR, "t", "lost three");
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "written");
    lumira_log_close();
    stderr_back(saved);
    len = slurp(errpath, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 1);
    assert_non_null(strstr(buf, "\"level\":\"warn\""));
    assert_non_null(strstr(buf, "cannot write to LOG_FILE /dev/full"));
    assert_null(strstr(buf, "lost one"));
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 1);
    assert_non_null(strstr(buf, "\"msg\":\"written\""));
}

/* A file that fails and then takes lines again (here: the same descriptor made writable again
 * by reopening onto a good file) gets one line telling how many were lost. */
static void test_log_recovery_tells_lost_lines(void **state)
{
    const char *dir = *state;
    char path[256], errpath[256], buf[4096];
    int saved, fd, full;
    size_t len;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
    saved = stderr_to(errpath);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "before");
    /* The log's descriptor now points at /dev/full, as a full disk would make it fail. */
    full = open("/dev/full", O_WRONLY);
    assert_true(full >= 0);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_true(dup2(full, lumira__log_fd()) >= 0);
    lumira_log(LUMIRA_LOG_INFO, "t", "lost a");
    lumira_log(LUMIRA_LOG_INFO, "t", "lost b");
    assert_true(dup2(fd, lumira__log_fd()) >= 0);
    close(fd);
    close(full);
    lumira_log(LUMIRA_LOG_INFO, "t", "after");
    lumira_log_close();
    stderr_back(saved);
    len = slurp(errpath, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 1);
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 3);
    assert_non_null(strstr(buf, "\"msg\":\"before\""));
    assert_non_null(strstr(buf, "\"msg\":\"after\""));
    assert_non_null(strstr(buf, "writable again; 2 line(s) were lost"));
    assert_null(strstr(buf, "lost a"));
}

/* logrotate: the file is renamed away, SIGUSR2 asks for a reopen, and the next line goes to a
 * new file at the original path while the renamed one keeps the old lines. */
static void test_log_request_reopen_rotates(void **state)
{
    const char *dir = *state;
    static const char *const old_want[] = {"before rotation", "still old"};
    static const char *const new_want[] = {"after rotation"};
    char path[256], rotated[256], buf[4096];
    size_t len;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/app.log.1", dir);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "before rotation");
    assert_int_equal(rename(path, rotated), 0);
    /* Without a request the open file is kept (its new name is irrelevant). */
    lumira_log(LUMIRA_LOG_INFO, "t", "still old");
    assert_int_not_equal(access(path, F_OK), 0);
    lumira_log_request_reopen();
    lumira_log(LUMIRA_LOG_INFO, "t", "after rotation");
    len = slurp(path, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, new_want, 1), 1);
    len = slurp(rotated, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, old_want, 2), 2);
}

/* The server loop reopens between requests, before any line is written. */
static void test_log_reopen_if_requested_between_requests(void **state)
{
    const char *dir = *state;
    char path[256], rotated[256];
    struct stat st;

    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/app.log.1", dir);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    assert_int_equal(rename(path, rotated), 0);
    lumira_log_reopen_if_requested(); /* nothing asked: nothing done */
    assert_int_not_equal(access(path, F_OK), 0);
    lumira_log_request_reopen();
    lumira_log_reopen_if_requested();
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    lumira_log_reopen_if_requested(); /* the request was used up */
}

/* A reopen that fails keeps writing to the old file, with a warning there. */
static void test_log_reopen_failure_keeps_old(void **state)
{
    const char *dir = *state;
    char sub[256], path[256], moved[256], buf[4096];
    size_t len;

    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(path, sizeof(path), "%s/sub/app.log", dir);
    snprintf(moved, sizeof(moved), "%s/moved.log", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(lumira_log_open("p", path, LUMIRA_LOG_INFO), LUMIRA_OK);
    lumira_log(LUMIRA_LOG_INFO, "t", "one");
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(rmdir(sub), 0); /* the original path cannot be created again */
    lumira_log_request_reopen();
    lumira_log(LUMIRA_LOG_INFO, "t", "two");
    len = slurp(moved, buf, sizeof(buf));
    assert_int_equal(check_lines(buf, len, NULL, 0), 3);
    assert_non_null(strstr(buf, "cannot reopen"));
    assert_non_null(strstr(buf, "\"msg\":\"two\""));
}

static void mask(const char *email, size_t size, const char *want)
{
    char out[80];

    memset(out, 'Z', sizeof(out));
    lumira_log_mask_email(email, email != NULL ? strlen(email) : 0, out, size);
    assert_string_equal(out, want);
    assert_true(strlen(out) < size);
    assert_int_equal(out[size], 'Z');
}

static void test_log_mask_email_normal(void **state)
{
    (void)state;
    mask("jane@example.com", 64, "j***@example.com");
    mask("j@x.io", 64, "j***@x.io");
    mask("jean-pierre.dupont@mail.example.fr", 64, "j***@mail.example.fr");
    mask("jane@example.com", 17, "j***@example.com"); /* exact fit */
}

/* The length is honoured: the address need not be NUL-terminated. */
static void test_log_mask_email_counted(void **state)
{
    char out[64];

    (void)state;
    lumira_log_mask_email("jane@example.comXYZ", 16, out, sizeof(out));
    assert_string_equal(out, "j***@example.com");
    lumira_log_mask_email("jane@example.com", 4, out, sizeof(out)); /* "jane": no '@' */
    assert_string_equal(out, "***");
}

static void test_log_mask_email_no_at(void **state)
{
    (void)state;
    mask("jane.example.com", 64, "***");
    mask("secretpassword", 64, "***");
    mask("", 64, "***");
    mask(NULL, 64, "***");
}

static void test_log_mask_email_empty_local(void **state)
{
    (void)state;
    mask("@example.com", 64, "***");
}

static void test_log_mask_email_empty_domain(void **state)
{
    (void)state;
    mask("jane@", 64, "***");
    mask("@", 64, "***");
}

static void test_log_mask_email_tiny_out(void **state)
{
    char out[4] = "ZZZ";

    (void)state;
    mask("jane@example.com", 16, "***"); /* one byte short: never a cut domain */
    mask("jane@example.com", 4, "***");
    mask("jane@example.com", 3, "**");
    mask("jane@example.com", 1, "");
    lumira_log_mask_email("jane@example.com", 16, out, 0);
    assert_string_equal(out, "ZZZ");
}

static void redact(const char *uri, const char *want)
{
    char out[512];

    lumira_log_redact_uri(uri, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_log_redact_uri_credentials(void **state)
{
    static const char uri[] = "mongodb://user:secret@h1:27017,h2/db?authSource=admin";
    char out[512];
    size_t size;

    (void)state;
    lumira_log_redact_uri(uri, out, sizeof(out));
    assert_string_equal(out, "mongodb://***@h1:27017,h2/db");
    assert_null(strstr(out, "secret"));
    assert_null(strstr(out, "user"));
    assert_null(strstr(out, "authSource"));
    assert_null(strchr(out, '?'));
    /* However small the buffer, no part of the credentials or query slips through. */
    for (size = 1; size <= sizeof(uri) + 1; size++) {
        char small[sizeof(uri) + 2];

        memset(small, 'Z', sizeof(small));
        lumira_log_redact_uri(uri, small, size);
        assert_true(strlen(small) < size);
        assert_null(strstr(small, "sec"));
        assert_null(strstr(small, "use"));
        assert_null(strstr(small, "auth"));
    }
}

static void test_log_redact_uri_variants(void **state)
{
    (void)state;
    redact("mongodb+srv://admin:p4ss@cluster0.example.net/lumira?retryWrites=true",
           "mongodb+srv://***@cluster0.example.net/lumira");
    redact("mongodb://onlyuser@host/db", "mongodb://***@host/db");
    redact("mongodb://u:p%40ss@host:27017", "mongodb://***@host:27017");
    redact("mongodb://u:p@ss@host/db", "mongodb://***@host/db"); /* the last '@' ends it */
    redact("mongodb://u:pw@host", "mongodb://***@host");
    redact("https://u:pw@host#frag", "https://***@host");
}

static void test_log_redact_uri_without_userinfo(void **state)
{
    (void)state;
    redact("mongodb://localhost:27017/lumira", "mongodb://localhost:27017/lumira");
    redact("mongodb://h1:27017,h2:27018,h3/db", "mongodb://h1:27017,h2:27018,h3/db");
    redact("https://api.stripe.com", "https://api.stripe.com");
    redact("https://api.stripe.com/v1/balance?key=sk_live_x", "https://api.stripe.com/v1/balance");
    redact("https://example.com/#sk_live_x", "https://example.com/");
    redact("not a uri", "not a uri");
    redact("", "");
    redact("host?password=x", "host");
}

static void test_log_redact_uri_at_in_path(void **state)
{
    (void)state;
    redact("https://example.com/users/jane@example.com",
           "https://example.com/users/jane@example.com");
    redact("mongodb://host/db@x", "mongodb://host/db@x");
    redact("https://example.com?next=a@b", "https://example.com");
    redact("https://example.com/p?x=u:p@h", "https://example.com/p");
}

static void sample(const void *data, size_t len, size_t size, const char *want)
{
    char out[160];

    memset(out, 'Z', sizeof(out));
    lumira_log_sample(data, len, out, size);
    assert_string_equal(out, want);
    assert_true(strlen(out) < size);
    assert_int_equal(out[size], 'Z');
}

static void test_log_sample_printable_kept(void **state)
{
    (void)state;
    sample("GET /api", 8, 128, "GET /api");
    sample(" ~", 2, 128, " ~");
    sample("", 0, 128, "");
}

static void test_log_sample_unprintables_dotted(void **state)
{
    (void)state;
    sample("a\0b\nc\td\x7f"
           "e\x80\xff\xc3\xa9",
           13, 128, "a.b.c.d.e....");
    sample("\x1f\x20", 2, 128, ". ");
}

static void test_log_sample_cut_at_max(void **state)
{
    char data[100], want[LUMIRA_LOG_SAMPLE_MAX + 4];

    (void)state;
    memset(data, 'x', sizeof(data));
    memset(want, 'x', LUMIRA_LOG_SAMPLE_MAX);
    want[LUMIRA_LOG_SAMPLE_MAX] = '\0';
    sample(data, LUMIRA_LOG_SAMPLE_MAX - 1, 128, want + 1);
    sample(data, LUMIRA_LOG_SAMPLE_MAX, 128, want); /* max: whole, no "..." */
    memcpy(want + LUMIRA_LOG_SAMPLE_MAX, "...", 4);
    sample(data, LUMIRA_LOG_SAMPLE_MAX + 1, 128, want); /* max + 1: cut */
    sample(data, sizeof(data), 128, want);
    sample(data, sizeof(data), LUMIRA_LOG_SAMPLE_MAX + 4, want); /* exact fit */
}

/* A buffer too small for the whole sample still says it was cut. */
static void test_log_sample_tiny_out(void **state)
{
    char out[4] = "ZZZ";

    (void)state;
    sample("abcdefghijklmnop", 16, 10, "abcdef...");
    sample("abcdefghijklmnop", 16, 4, "...");
    sample("abcdefghijklmnop", 16, 3, "ab");
    sample("abcdefghijklmnop", 16, 1, "");
    sample("abc", 3, 4, "abc");
    lumira_log_sample("abc", 3, out, 0);
    assert_string_equal(out, "ZZZ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_format_plain),
        cmocka_unit_test(test_log_format_no_module),
        cmocka_unit_test(test_log_format_control_chars),
        cmocka_unit_test(test_log_format_quotes_backslashes),
        cmocka_unit_test(test_log_format_invalid_utf8),
        cmocka_unit_test(test_log_format_long_message),
        cmocka_unit_test(test_log_format_many_fields_overflow),
        cmocka_unit_test(test_log_format_long_field),
        cmocka_unit_test(test_log_format_small_buffer),
        cmocka_unit_test(test_log_format_field_types),
        cmocka_unit_test(test_log_format_level_names),
        cmocka_unit_test(test_log_set_reqid_set_cleared),
        cmocka_unit_test(test_log_parse_level_valid),
        cmocka_unit_test(test_log_parse_level_invalid),
        cmocka_unit_test_teardown(test_log_enabled_by_level, logger_reset),
        cmocka_unit_test_teardown(test_log_macro_skips_arguments, logger_reset),
        cmocka_unit_test_setup_teardown(test_log_open_file_write_read, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_open_appends, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_open_bad_path_keeps_old, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_close_returns_to_stderr, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_unwritable_file_warns_once_on_stderr, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_recovery_tells_lost_lines, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_request_reopen_rotates, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen_if_requested_between_requests, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen_failure_keeps_old, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_log_mask_email_normal),
        cmocka_unit_test(test_log_mask_email_counted),
        cmocka_unit_test(test_log_mask_email_no_at),
        cmocka_unit_test(test_log_mask_email_empty_local),
        cmocka_unit_test(test_log_mask_email_empty_domain),
        cmocka_unit_test(test_log_mask_email_tiny_out),
        cmocka_unit_test(test_log_redact_uri_credentials),
        cmocka_unit_test(test_log_redact_uri_variants),
        cmocka_unit_test(test_log_redact_uri_without_userinfo),
        cmocka_unit_test(test_log_redact_uri_at_in_path),
        cmocka_unit_test(test_log_sample_printable_kept),
        cmocka_unit_test(test_log_sample_unprintables_dotted),
        cmocka_unit_test(test_log_sample_cut_at_max),
        cmocka_unit_test(test_log_sample_tiny_out),
    };

    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
