/* libFuzzer entry for request bodies: lumira_json_parse_object() on the input, then every typed
 * getter on each member of the result (and of objects inside it), then a round trip through
 * lumira_json_serialize(), whose output must be valid UTF-8 and parse again. Frees everything it
 * allocates (jq tests/jq_fuzz_parse.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "json.h"
#include "lumira_limits.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Calls each getter on `key`, checking what the header promises; aborts on a broken promise. */
static void exercise_key(const struct json_object *obj, const char *key, int depth)
{
    static const size_t maxes[] = {0, 1, 32, 254, LUMIRA_MAX_BODY};
    struct json_object *sub = NULL;
    const char *s;
    size_t len, i;
    int64_t v;
    bool b;

    for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        s = NULL;
        if (lumira_json_get_str(obj, key, maxes[i], &s, &len) == LUMIRA_OK &&
            (s == NULL || len > maxes[i] || strlen(s) != len))
            abort();
    }
    if (lumira_json_get_i64(obj, key, INT64_MIN, INT64_MAX, &v) == LUMIRA_OK)
        (void)v;
    if (lumira_json_get_i64(obj, key, 1, 4, &v) == LUMIRA_OK && (v < 1 || v > 4))
        abort();
    if (lumira_json_get_bool(obj, key, &b) == LUMIRA_OK)
        (void)b;
    if (lumira_json_get_object(obj, key, &sub) == LUMIRA_OK) {
        if (!json_object_is_type(sub, json_type_object))
            abort();
        if (depth < 4) {
            struct json_object_iterator it = json_object_iter_begin(sub);
            struct json_object_iterator end = json_object_iter_end(sub);

            for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
                exercise_key(sub, json_object_iter_peek_name(&it), depth + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"email",  "password", "level",   "formData", "amount",
                                        "status", "orderId",  "success", ""};
    static char marker; /* shows whether *out is cleared on failure */
    struct json_object *obj = (struct json_object *)(void *)&marker, *back = NULL;
    struct json_object_iterator it, end;
    struct lumira_buf out;
    char why[128];
    size_t i;

    why[0] = '\0';
    if (lumira_json_parse_object((const char *)data, size, &obj, why, sizeof(why)) != LUMIRA_OK) {
        if (obj != NULL || why[0] == '\0' || strlen(why) >= sizeof(why))
            abort();
        return 0;
    }
    if (!json_object_is_type(obj, json_type_object))
        abort();
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        exercise_key(obj, names[i], 0);
    it = json_object_iter_begin(obj);
    end = json_object_iter_end(obj);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
        exercise_key(obj, json_object_iter_peek_name(&it), 0);

    /* What we accepted, we can write back, and what we write back we accept again. */
    lumira_buf_init(&out, LUMIRA_MAX_RESPONSE);
    if (lumira_json_serialize(obj, &out) != LUMIRA_OK || !lumira_utf8_valid(out.ptr, out.len))
        abort();
    if (out.len <= LUMIRA_MAX_BODY) {
        if (lumira_json_parse_object(out.ptr, out.len, &back, why, sizeof(why)) != LUMIRA_OK)
            abort();
        json_object_put(back);
    }
    lumira_buf_cleanup(&out);
    json_object_put(obj);
    return 0;
}
