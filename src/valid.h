#ifndef LUMIRA_VALID_H
#define LUMIRA_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "http.h"
#include "lumira_limits.h"

/* Validation of request bodies against API.md "Conventions": each field is checked on its own
 * and every failure is collected as {"field", "message"}, so one 400 VALIDATION_ERROR names all
 * the bad fields at once. Strings are counted in characters (the body is already known to be
 * valid UTF-8) and may not hold control characters (C0, DEL and the C1 controls U+0080-U+009F)
 * unless the field allows line breaks, which allows tab, CR and LF only. */

struct lumira_valid {
    /* private */
    struct json_object *details; /* array, made on the first failure */
    const char *prefix;          /* "formData": failures of "email" are named "formData.email" */
    bool oom;
};

void lumira_valid_init(struct lumira_valid *v);
void lumira_valid_cleanup(struct lumira_valid *v);

/* Names the failures recorded from now on "<prefix>.<field>" (fields of a nested object);
 * NULL goes back to plain names. `prefix` must outlive its use. */
void lumira_valid_prefix(struct lumira_valid *v, const char *prefix);

/* Records a failure of `field` (a static or long-lived string) with `message`. */
void lumira_valid_fail(struct lumira_valid *v, const char *field, const char *message);

/* True when any check failed (or recording one ran out of memory). */
bool lumira_valid_failed(const struct lumira_valid *v);

/* The collected [{"field", "message"}] array (borrowed), NULL when nothing failed. */
const struct json_object *lumira_valid_details(const struct lumira_valid *v);

/* Sends 400 VALIDATION_ERROR with the collected details (or a 500 if recording them ran out of
 * memory), and empties `v`. */
void lumira_valid_respond(struct lumira_valid *v, struct lumira_resp *resp,
                          const struct lumira_req *req);

/* Parses the request body as a JSON object (json.h rules). On failure answers 400 INVALID_JSON
 * with the reason (or 413/500) and returns false. *obj is the caller's (json_object_put()). */
bool lumira_valid_body(const struct lumira_req *req, struct lumira_resp *resp,
                       struct json_object **obj);

/* Flags of lumira_valid_str(). */
#define LUMIRA_VALID_REQUIRED 1u  /* absent, null or (after trimming) empty is a failure */
#define LUMIRA_VALID_MULTILINE 2u /* line breaks and tabs are allowed */
#define LUMIRA_VALID_VERBATIM 4u  /* passwords: no trimming, any character but NUL */

/* Reads string field `key` of `obj` with `min_chars` to `max_chars` characters; leading and
 * trailing spaces are not counted and not returned (unless LUMIRA_VALID_VERBATIM). On success *s
 * (borrowed from obj, NOT NUL-terminated at *len) and *len are set, or *s is NULL when an optional
 * field is absent. Returns false (with the failure recorded under `key`) otherwise. */
bool lumira_valid_str(struct lumira_valid *v, const struct json_object *obj, const char *key,
                      unsigned flags, size_t min_chars, size_t max_chars, const char **s,
                      size_t *len);

/* Reads e-mail field `key`: trimmed, lower-cased, at most LUMIRA_MAX_EMAIL bytes, one '@' with a
 * plausible local part (1-64 bytes, no dot at either end or doubled) and a dotted domain, no
 * spaces or control characters. `out` gets the
 * normalised address (LUMIRA_MAX_EMAIL + 1 bytes); "" when optional and absent. */
bool lumira_valid_email(struct lumira_valid *v, const struct json_object *obj, const char *key,
                        unsigned flags, char out[LUMIRA_MAX_EMAIL + 1]);

/* Reads query parameter `name` of `req` into `out` (`size` bytes, NUL-terminated) and *len:
 * true for a non-empty value in valid UTF-8; false when it is absent or empty, and false with a
 * failure recorded under `name` when it is too long for `out`, badly escaped or not UTF-8. */
bool lumira_valid_query_str(struct lumira_valid *v, const struct lumira_req *req, const char *name,
                            char *out, size_t size, size_t *len);

/* Reads integer query parameter `name` in [min, max] (digits only, min >= 0); `def` when absent,
 * and `def` with a failure recorded when it is not such an integer. */
int64_t lumira_valid_query_int(struct lumira_valid *v, const struct lumira_req *req,
                               const char *name, int64_t min, int64_t max, int64_t def);

/* Normalises and checks an e-mail address given as text (`len` bytes): the rules of
 * lumira_valid_email(). Returns false when it is not acceptable. */
bool lumira_email_normalize(const char *s, size_t len, char out[LUMIRA_MAX_EMAIL + 1]);

#endif
