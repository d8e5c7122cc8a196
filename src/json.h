#ifndef LUMIRA_JSON_H
#define LUMIRA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"

/* Small helpers over json-c. Ownership follows json-c, stated once here (jq's jv.h rule):
 * - what lumira_json_parse_object() returns is owned by the caller (json_object_put()).
 * - getters (lumira_json_get_*) borrow: the pointers they hand out live as long as the object.
 * - lumira_json_put_*() add a new value to an object, which takes it; they never fail silently:
 *   an allocation failure clears *ok, so a reply is never sent with a field missing.
 * Getters check the JSON type before reading, because json-c converts silently
 * (json_object_get_int() parses strings). */

/* Parses a request body of `len` bytes: strict JSON (trailing whitespace allowed, any other
 * trailing data refused), valid UTF-8, nesting at most LUMIRA_JSON_MAX_DEPTH, root an object.
 * Two members of one object with the same name, at any depth, are refused ("duplicate member"),
 * also when escapes make them the same ("email" and "\u0065mail"): json-c would keep the last
 * one silently, and another parser on the way (a proxy, a log reader) the first. A \u escape of
 * a lone surrogate (\ud800 without a low surrogate after it, or \udc00 alone) is refused too,
 * rather than stored as U+FFFD, and so is \u0000 in a member name (json-c would cut the name
 * there); in a value, lumira_json_get_str() refuses it. What json-c's strict mode takes but
 * JSON does not is refused as well: control characters not escaped in a string, and numbers
 * like "1." or "01".
 * On error returns LUMIRA_EINVAL (or LUMIRA_ETOOBIG when len is over LUMIRA_MAX_BODY, or
 * LUMIRA_ENOMEM) and writes a short reason for the client to `why` (`whylen` bytes). */
enum lumira_err lumira_json_parse_object(const char *data, size_t len, struct json_object **out,
                                         char *why, size_t whylen) LUMIRA_WARN_UNUSED;

/* Reads the string field `key` of `obj`: LUMIRA_ENOTFOUND when absent or null, LUMIRA_EINVAL
 * when not a string or holding a NUL byte, LUMIRA_ETOOBIG when longer than `max` bytes.
 * *s (borrowed, NUL-terminated) and *len are written only on LUMIRA_OK. */
enum lumira_err lumira_json_get_str(const struct json_object *obj, const char *key, size_t max,
                                    const char **s, size_t *len) LUMIRA_WARN_UNUSED;

/* Reads the integer field `key`: LUMIRA_ENOTFOUND when absent or null, LUMIRA_EINVAL when not
 * a JSON integer (1.0 and "1" are refused) or outside [min, max]. */
enum lumira_err lumira_json_get_i64(const struct json_object *obj, const char *key, int64_t min,
                                    int64_t max, int64_t *v) LUMIRA_WARN_UNUSED;

/* Reads the boolean field `key`: LUMIRA_ENOTFOUND when absent or null, LUMIRA_EINVAL when not a
 * JSON boolean. */
enum lumira_err lumira_json_get_bool(const struct json_object *obj, const char *key,
                                     bool *v) LUMIRA_WARN_UNUSED;

/* Reads the object field `key` (borrowed): LUMIRA_ENOTFOUND when absent or null, LUMIRA_EINVAL
 * when not an object. */
enum lumira_err lumira_json_get_object(const struct json_object *obj, const char *key,
                                       struct json_object **v) LUMIRA_WARN_UNUSED;

/* Builders: each adds one member to `obj`; on allocation failure *ok becomes false and the
 * member is left out. A NULL string adds null. */
void lumira_json_put_str(struct json_object *obj, const char *key, const char *s, bool *ok);
void lumira_json_put_strn(struct json_object *obj, const char *key, const char *s, size_t len,
                          bool *ok);
void lumira_json_put_int(struct json_object *obj, const char *key, int64_t v, bool *ok);
void lumira_json_put_bool(struct json_object *obj, const char *key, bool v, bool *ok);
/* A number written with `decimals` digits after the point (uptime 5321.4). */
void lumira_json_put_fixed(struct json_object *obj, const char *key, double v, int decimals,
                           bool *ok);
/* An ISO-8601 UTC time with milliseconds. */
void lumira_json_put_time(struct json_object *obj, const char *key, int64_t epoch_ms, bool *ok);
/* Adds `val` (taken, even on failure) under `key`. */
void lumira_json_put(struct json_object *obj, const char *key, struct json_object *val, bool *ok);

/* Ends a build: returns `obj` when `ok`, else puts it and returns NULL (for
 * lumira_resp_json(), which answers a NULL object with a 500). */
struct json_object *lumira_json_done(struct json_object *obj, bool ok);

/* A new empty object, or NULL with *ok false. */
struct json_object *lumira_json_new_object(bool *ok);

/* Appends the compact serialisation of `obj` to `out`. */
enum lumira_err lumira_json_serialize(const struct json_object *obj,
                                      struct lumira_buf *out) LUMIRA_WARN_UNUSED;

#endif
