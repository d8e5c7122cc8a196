/* libFuzzer entry for lumira_bson_to_json(), which turns what MongoDB (or FerretDB) returns into
 * what the API shows. Every input is used three ways:
 * - raw: the input as BSON bytes (bson_init_static(), which checks the length header), and a
 *   copy with its length header and final NUL patched in, through bson_new_from_data(), so that
 *   random bytes reach the element parser;
 * - structured: the input as a recipe for a valid document (see build()), so that every BSON
 *   type, hostile strings and numbers, nesting and deep chains are reached, which random bytes
 *   rarely spell.
 * What must hold, else abort(): a valid document converts (not NULL, *ok still true) and each
 * value is what orders.h promises (valid strings kept byte for byte, others made valid;
 * ObjectIds as 24 lowercase hex digits; dates as ISO-8601 strings that parse back to the same
 * millisecond, or the epoch outside years 1970-9999; numbers exact, NaN and infinities null;
 * other types null; nothing nested deeper than LUMIRA_BSON_MAX_DEPTH; "_id" also as "id" at the
 * top level); whatever converts serialises, through lumira_json_serialize() and
 * json_object_to_json_string_ext(), to valid UTF-8 that json-c parses back strictly into an
 * equal object. Frees everything it allocates. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "json.h"
#include "lumira_limits.h"
#include "orders.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Nesting of the structured documents, and links of a deep chain (MongoDB allows 100). */
#define MAX_DEPTH 12
#define MAX_CHAIN 200
/* Elements of one structured document. */
#define MAX_ELEMENTS 64
/* The last millisecond of 9999-12-31, the latest time lumira_iso8601() writes. */
#define LAST_MS INT64_C(253402300799999)
#define EPOCH_TEXT "1970-01-01T00:00:00.000Z"

/* The recipe: bytes taken one by one, zeros once they run out. */
struct src {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

/* `n` bytes of the recipe into `out`, zero-filled past its end. */
static void take_bytes(struct src *s, void *out, size_t n)
{
    size_t have = n < s->n ? n : s->n;

    memcpy(out, s->p, have);
    memset((uint8_t *)out + have, 0, n - have);
    s->p += have;
    s->n -= have;
}

/* Keys as the programs store them, and hostile ones: empty, invalid UTF-8, a surrogate, quotes
 * and controls, an operator, a dotted path. */
/* clang-format off */
static const char *const keys[] = {
    "_id", "id", "orderNumber", "status", "createdAt", "updatedAt", "formData", "level", "amount",
    "generatedContent", "userEmail", "", "a", "Int\xc3\xa9grale", "\xff\xfe", "\xed\xa0\x80",
    "a\"b\\c/", "\x01\x1f\x7f", "$set", "a.b", "\xf0\x9f\x98\x80", "\xc0\xaf", "\xe2\x82",
};
/* clang-format on */

/* Strings: the same kinds, with NUL bytes, overlong forms and a value past U+10FFFF. */
static const struct {
    const char *s;
    size_t len;
} strs[] = {
    {"", 0},
    {"Int\xc3\xa9grale", 10},
    {"a\0b", 3},
    {"\xed\xa0\x80", 3},
    {"\xc0\xaf", 2},
    {"\xf4\x90\x80\x80", 4},
    {"\xff", 1},
    {"x\xe2\x82", 3},
    {"\"\\/\b\f\n\r\t\x01\x7f", 10},
    {"\xef\xbb\xbf\xf0\x9f\x98\x80", 7},
    {"\0", 1},
    {"jane@example.com", 16},
};

/* Dates: both ends of int64, before the epoch, the last millisecond lumira_iso8601() writes. */
/* clang-format off */
static const int64_t dates[] = {
    INT64_MIN, INT64_MIN + 1, -62135596800000, -1, 0, 1, 999, 1000, 1767225600000, LAST_MS,
    LAST_MS + 1, INT64_MAX / 2, INT64_MAX - 1, INT64_MAX,
};
/* clang-format on */
static const int64_t ints[] = {
    INT64_MIN, INT64_MIN + 1, INT32_MIN, -1, 0, 1, INT32_MAX, INT64_C(9007199254740993), INT64_MAX,
};

/* A double from the table (the edges, NaN and infinities included) or raw bits. */
static double take_double(struct src *s)
{
    /* clang-format off */
    static const double table[] = {
        0.0, -0.0, 0.1, 1.0, 2.5, 1e21, 1e-7, 9007199254740993.0, DBL_MIN, 4.9e-324, DBL_MAX,
        -DBL_MAX, 1e308, 9.2233720368547758e18,
    };
    /* clang-format on */
    uint8_t sel = take(s);
    uint64_t bits;
    double d;

    switch (sel % 8) {
    case 0:
        return NAN;
    case 1:
        return -NAN;
    case 2:
        return INFINITY;
    case 3:
        return -INFINITY;
    case 4:
        take_bytes(s, &bits, sizeof(bits));
        memcpy(&d, &bits, sizeof(d));
        return d;
    default:
        return table[(sel / 8) % ARRAY_LEN(table)];
    }
}

static int64_t take_i64(struct src *s, const int64_t *table, size_t n)
{
    uint8_t sel = take(s);
    int64_t v;

    if (sel < 128)
        return table[sel % n];
    take_bytes(s, &v, sizeof(v));
    return v;
}

/* Up to 255 bytes of the recipe as a string, NUL bytes kept unless `no_nul` (then 0xc0, which
 * is never valid UTF-8). Returns the length; `out` has room for 256. */
static size_t take_string(struct src *s, char out[256], bool no_nul)
{
    size_t len = take(s), i;

    take_bytes(s, out, len);
    for (i = 0; no_nul && i < len; i++)
        if (out[i] == '\0')
            out[i] = (char)0xc0;
    out[len] = '\0';
    return len;
}

/* A key from the table or from the recipe (never with a NUL: BSON keys are C strings). */
static const char *take_key(struct src *s, char buf[256])
{
    uint8_t sel = take(s);

    if (sel < 224)
        return keys[sel % ARRAY_LEN(keys)];
    (void)take_string(s, buf, true);
    return buf;
}

static void build(bson_t *b, struct src *s, int depth, bool array);

/* A chain of up to MAX_CHAIN nested documents and arrays (as the recipe says), ending in a
 * string, appended to `b` under `key`. */
static void build_chain(bson_t *b, const char *key, struct src *s)
{
    size_t links = 1 + take(s) % MAX_CHAIN, i;
    bson_t *stack = calloc(links + 1, sizeof(*stack));
    uint8_t shape = take(s);

    if (stack == NULL)
        abort();
    /* stack[0] is `b`'s child; each next one is a child of the one before. */
    for (i = 0; i < links; i++) {
        bson_t *parent = i == 0 ? b : &stack[i - 1];
        const char *k = i == 0 ? key : "0";
        bool ok = (shape >> (i % 8)) & 1 ? bson_append_array_begin(parent, k, -1, &stack[i])
                                         : bson_append_document_begin(parent, k, -1, &stack[i]);

        if (!ok)
            abort();
    }
    if (!bson_append_utf8(&stack[links - 1], "0", -1, "end", 3))
        abort();
    for (i = links; i-- > 0;) {
        bson_t *parent = i == 0 ? b : &stack[i - 1];
        bool ok = (shape >> (i % 8)) & 1 ? bson_append_array_end(parent, &stack[i])
                                         : bson_append_document_end(parent, &stack[i]);

        if (!ok)
            abort();
    }
    free(stack);
}

/* Appends one element to `b` under `key`, of the type the recipe says next. */
static void build_value(bson_t *b, const char *key, struct src *s, int depth)
{
    char str[256], str2[256];
    bson_oid_t oid;
    bson_decimal128_t dec;
    bson_t child;
    size_t len;
    uint8_t op = take(s);
    bool ok = true;

    switch (op % 24) {
    case 0:
        len = take_string(s, str, false);
        ok = bson_append_utf8(b, key, -1, str, (int)len);
        break;
    case 1:
        op = take(s) % ARRAY_LEN(strs);
        ok = bson_append_utf8(b, key, -1, strs[op].s, (int)strs[op].len);
        break;
    case 2:
        take_bytes(s, oid.bytes, sizeof(oid.bytes));
        ok = bson_append_oid(b, key, -1, &oid);
        break;
    case 3:
        ok = bson_append_date_time(b, key, -1, take_i64(s, dates, ARRAY_LEN(dates)));
        break;
    case 4:
        /* ints[2] to ints[6]: INT32_MIN to INT32_MAX (raw bits are cut to 32). */
        ok = bson_append_int32(b, key, -1, (int32_t)take_i64(s, ints + 2, 5));
        break;
    case 5:
        ok = bson_append_int64(b, key, -1, take_i64(s, ints, ARRAY_LEN(ints)));
        break;
    case 6:
        ok = bson_append_double(b, key, -1, take_double(s));
        break;
    case 7:
        ok = bson_append_bool(b, key, -1, take(s) & 1);
        break;
    case 8:
        ok = bson_append_null(b, key, -1);
        break;
    case 9:
        ok = bson_append_undefined(b, key, -1);
        break;
    case 10:
    case 11:
        if (op % 24 == 10)
            ok = bson_append_document_begin(b, key, -1, &child);
        else
            ok = bson_append_array_begin(b, key, -1, &child);
        if (!ok)
            abort();
        if (depth < MAX_DEPTH)
            build(&child, s, depth + 1, op % 24 == 11);
        if (op % 24 == 10)
            ok = bson_append_document_end(b, &child);
        else
            ok = bson_append_array_end(b, &child);
        break;
    case 12:
        op = take(s); /* the subtype, any of them */
        len = take(s) % 64;
        take_bytes(s, str, len);
        ok = bson_append_binary(b, key, -1, (bson_subtype_t)op, (uint8_t *)str, (uint32_t)len);
        if (!ok)
            ok = bson_append_null(b, key, -1); /* libbson refuses some subtype and size pairs */
        break;
    case 13:
        (void)take_string(s, str, true);
        (void)take_string(s, str2, true);
        ok = bson_append_regex(b, key, -1, str, str2);
        if (!ok)
            ok = bson_append_null(b, key, -1); /* in case libbson refuses the options */
        break;
    case 14:
        take_bytes(s, &dec.low, sizeof(dec.low));
        take_bytes(s, &dec.high, sizeof(dec.high));
        ok = bson_append_decimal128(b, key, -1, &dec);
        break;
    case 15:
        ok = bson_append_timestamp(b, key, -1, (uint32_t)take_i64(s, ints, ARRAY_LEN(ints)),
                                   (uint32_t)take_i64(s, ints, ARRAY_LEN(ints)));
        break;
    case 16:
        ok = bson_append_minkey(b, key, -1);
        break;
    case 17:
        ok = bson_append_maxkey(b, key, -1);
        break;
    case 18:
        len = take_string(s, str, false);
        ok = bson_append_symbol(b, key, -1, str, (int)len);
        break;
    case 19:
        (void)take_string(s, str, true);
        ok = bson_append_code(b, key, -1, str);
        break;
    case 20:
        (void)take_string(s, str, true);
        bson_init(&child);
        if (depth < MAX_DEPTH)
            build(&child, s, depth + 1, false);
        ok = bson_append_code_with_scope(b, key, -1, str, &child);
        bson_destroy(&child);
        break;
    case 21:
        (void)take_string(s, str, true);
        take_bytes(s, oid.bytes, sizeof(oid.bytes));
        ok = bson_append_dbpointer(b, key, -1, str, &oid);
        break;
    case 22:
        build_chain(b, key, s);
        break;
    default:
        ok = bson_append_utf8(b, key, -1, "paid", 4);
        break;
    }
    if (!ok)
        abort();
}

/* Fills `b` with elements as the recipe says: up to MAX_ELEMENTS at the top, fewer below; an
 * array gets the keys "0", "1", ... */
static void build(bson_t *b, struct src *s, int depth, bool array)
{
    size_t n = depth == 0 ? MAX_ELEMENTS : take(s) % 8, i;
    char keybuf[256], idx[16];
    const char *key;

    for (i = 0; i < n && s->n > 0; i++) {
        if (array)
            (void)bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
        else
            key = take_key(s, keybuf);
        build_value(b, key, s, depth);
    }
}

static void compare(const bson_iter_t *it, struct json_object *j, int depth);

/* True when another element after `it` (in the same document) has `key`. */
static bool key_again(const bson_iter_t *it, const char *key)
{
    bson_iter_t later = *it;

    while (bson_iter_next(&later))
        if (strcmp(bson_iter_key(&later), key) == 0)
            return true;
    return false;
}

/* Compares the elements of a document or array (`child`, an iterator before its first
 * element) with the object or array `j`, at nesting level `depth` (the document is 1). At the
 * top level, "id" is a copy of "_id". */
static void compare_container(bson_iter_t *child, struct json_object *j, bool array, int depth)
{
    size_t n = 0, njson;
    bool all_plain = true, has_id = false, top = depth == 1;
    bson_iter_t first = *child;

    if (!json_object_is_type(j, array ? json_type_array : json_type_object))
        abort();
    /* Keys that are not valid UTF-8 may come out changed, and then collide with others. */
    while (bson_iter_next(&first)) {
        const char *k = bson_iter_key(&first);

        all_plain = all_plain && lumira_utf8_valid(k, strlen(k));
        has_id = has_id || strcmp(k, "_id") == 0;
    }
    while (bson_iter_next(child)) {
        const char *k = bson_iter_key(child);
        struct json_object *v = NULL;

        if (array) {
            if (n >= json_object_array_length(j))
                abort();
            compare(child, json_object_array_get_idx(j, n), depth);
        } else if (all_plain && !key_again(child, k) && !(top && has_id && strcmp(k, "id") == 0)) {
            if (!json_object_object_get_ex(j, k, &v))
                abort();
            compare(child, v, depth);
        }
        n++;
    }
    njson = array ? json_object_array_length(j) : (size_t)json_object_object_length(j);
    if (array ? njson != n : njson > n + (top ? 1 : 0))
        abort();
    if (top && has_id) {
        struct json_object *id, *oid;

        if (!json_object_object_get_ex(j, "id", &id) ||
            !json_object_object_get_ex(j, "_id", &oid) || !json_object_equal(id, oid))
            abort();
    }
}

/* Aborts unless `j` is what orders.h promises for the element at `it`, in a container at nesting
 * level `depth`. */
static void compare(const bson_iter_t *it, struct json_object *j, int depth)
{
    char want[25]; /* an ObjectId in hex and its NUL */
    bson_iter_t child;
    const char *s;
    uint32_t len;
    int64_t ms;
    double d;

    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &len);
        if (!json_object_is_type(j, json_type_string))
            abort();
        /* Valid text is kept byte for byte (NULs included); what is not comes out valid. */
        if (lumira_utf8_valid(s, len) ? (size_t)json_object_get_string_len(j) != len ||
                                            memcmp(json_object_get_string(j), s, len) != 0
                                      : !lumira_utf8_valid(json_object_get_string(j),
                                                           (size_t)json_object_get_string_len(j)))
            abort();
        break;
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), want);
        if (!json_object_is_type(j, json_type_string) || strcmp(json_object_get_string(j), want))
            abort();
        break;
    case BSON_TYPE_DATE_TIME:
        ms = bson_iter_date_time(it);
        if (!json_object_is_type(j, json_type_string))
            abort();
        s = json_object_get_string(j);
        if (ms < 0 || ms > LAST_MS) {
            if (strcmp(s, EPOCH_TEXT) != 0)
                abort(); /* clock.h: clamped, or what gmtime cannot show */
        } else {
            int64_t back;

            if (!lumira_parse_date(s, strlen(s), false, &back) || back != ms)
                abort();
        }
        break;
    case BSON_TYPE_INT32:
        if (!json_object_is_type(j, json_type_int) ||
            json_object_get_int64(j) != bson_iter_int32(it))
            abort();
        break;
    case BSON_TYPE_INT64:
        if (!json_object_is_type(j, json_type_int) ||
            json_object_get_int64(j) != bson_iter_int64(it))
            abort();
        break;
    case BSON_TYPE_DOUBLE:
        d = bson_iter_double(it);
        /* JSON has no NaN or Infinity: null. Other doubles keep every bit (-0.0 too). */
        if (!isfinite(d) ? j != NULL
                         : !json_object_is_type(j, json_type_double) ||
                               memcmp(&(double){json_object_get_double(j)}, &d, sizeof(d)) != 0)
            abort();
        break;
    case BSON_TYPE_BOOL:
        if (!json_object_is_type(j, json_type_boolean) ||
            (json_object_get_boolean(j) != 0) != bson_iter_bool(it))
            abort();
        break;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        if (depth >= LUMIRA_BSON_MAX_DEPTH) {
            if (j != NULL)
                abort(); /* too deep to show: null */
            break;
        }
        if (!bson_iter_recurse(it, &child))
            abort();
        compare_container(&child, j, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1);
        break;
    default:
        if (j != NULL)
            abort(); /* null, and the types the API never stores */
        break;
    }
}

/* The nesting of `j`: 0 for a scalar, 1 for an empty object or array. */
static int depth_of(struct json_object *j)
{
    int deepest = 0, d;
    size_t i, n;

    if (json_object_is_type(j, json_type_array)) {
        n = json_object_array_length(j);
        for (i = 0; i < n; i++) {
            d = depth_of(json_object_array_get_idx(j, i));
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_object_is_type(j, json_type_object)) {
        json_object_object_foreach(j, key, v)
        {
            (void)key;
            d = depth_of(v);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

/* `text` (`len` bytes) must be valid UTF-8 and one strict JSON object, equal to `obj`. */
static void check_reparse(const char *text, size_t len, const struct json_object *obj, int maxdepth)
{
    struct json_tokener *tok;
    struct json_object *back;

    if (text == NULL || len == 0 || len > INT32_MAX || !lumira_utf8_valid(text, len))
        abort();
    /* json-c counts a scalar as a level too. */
    tok = json_tokener_new_ex(maxdepth + 2);
    if (tok == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    back = json_tokener_parse_ex(tok, text, (int)len);
    if (back == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len ||
        !json_object_equal((struct json_object *)(uintptr_t)obj, back))
        abort();
    json_object_put(back);
    json_tokener_free(tok);
}

/* Converts `doc` and checks the result: against the document when `valid`, and in any case its
 * serialisations. */
static void check_doc(const bson_t *doc, bool valid)
{
    struct json_object *obj;
    struct lumira_buf out;
    bson_iter_t it;
    const char *s;
    size_t len;
    int maxdepth;
    bool ok = true;

    obj = lumira_bson_to_json(doc, &ok);
    if ((obj == NULL) == ok)
        abort(); /* NULL exactly when *ok was cleared */
    if (obj == NULL) {
        if (valid)
            abort(); /* nothing failed to allocate here */
        return;
    }
    if (!json_object_is_type(obj, json_type_object))
        abort();
    if (valid) {
        if (!bson_iter_init(&it, doc))
            abort();
        compare_container(&it, obj, false, 1);
    }
    maxdepth = depth_of(obj);
    if (maxdepth > LUMIRA_BSON_MAX_DEPTH)
        abort();
    lumira_buf_init(&out, LUMIRA_MAX_RESPONSE);
    if (lumira_json_serialize(obj, &out) != LUMIRA_OK)
        abort();
    check_reparse(out.ptr, out.len, obj, maxdepth);
    lumira_buf_cleanup(&out);
    s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    len = s != NULL ? strlen(s) : 0;
    check_reparse(s, len, obj, maxdepth);
    json_object_put(obj);
}

/* The input as BSON bytes, as they are and with a length header and final NUL patched in. */
static void check_raw(const uint8_t *data, size_t size)
{
    bson_t doc, *copy;
    uint8_t *patched;
    uint32_t len32;

    if (size < 5 || size > INT32_MAX)
        return;
    if (bson_init_static(&doc, data, size))
        check_doc(&doc, bson_validate(&doc, BSON_VALIDATE_NONE, NULL));
    patched = malloc(size);
    if (patched == NULL)
        abort();
    memcpy(patched, data, size);
    len32 = BSON_UINT32_TO_LE((uint32_t)size);
    memcpy(patched, &len32, sizeof(len32));
    patched[size - 1] = 0;
    copy = bson_new_from_data(patched, size);
    if (copy == NULL)
        abort(); /* the header and the NUL are right */
    check_doc(copy, bson_validate(copy, BSON_VALIDATE_NONE, NULL));
    bson_destroy(copy);
    free(patched);
}

/* The input as a recipe for a valid document. (bson_validate() would refuse some: it takes a
 * key that is not UTF-8 for corruption, and the builder makes such keys on purpose.) */
static void check_structured(const uint8_t *data, size_t size)
{
    struct src s = {data, size};
    bson_t doc = BSON_INITIALIZER;

    build(&doc, &s, 0, false);
    check_doc(&doc, true);
    bson_destroy(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_raw(data, size);
    check_structured(data, size);
    return 0;
}
