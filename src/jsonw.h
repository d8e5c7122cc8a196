#ifndef LUMIRA_JSONW_H
#define LUMIRA_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* A JSON writer straight into a lumira_buf, for the replies on the hot paths (/api/health,
 * /api/ready): no tree of json-c objects to allocate, fill, serialise and free for a reply that
 * is written once. What it writes is what lumira_json_serialize() writes for the same members
 * (compact, '/' not escaped, control characters as \uXXXX or their short escapes), except that
 * bytes that are not UTF-8 become U+FFFD, so the output is always valid UTF-8 JSON.
 *
 * Errors stick: the first failure (the buffer's cap, out of memory, nesting past
 * LUMIRA_JW_MAX_DEPTH, an end without a begin) is kept, every later call does nothing, and
 * lumira_jw_finish() returns it. The caller owns the buffer; the writer holds a pointer to it
 * until lumira_jw_finish(). */

#define LUMIRA_JW_MAX_DEPTH 16

struct lumira_jw {
    /* private */
    struct lumira_buf *out;
    unsigned depth;
    uint32_t has_member; /* bit d: the object at depth d has a member already */
    enum lumira_err err;
};

/* Starts writing at the end of `out`. */
void lumira_jw_init(struct lumira_jw *w, struct lumira_buf *out);

/* Opens an object: the root when `key` is NULL and nothing was written yet, else member `key`
 * of the object open now. */
void lumira_jw_begin(struct lumira_jw *w, const char *key);

/* Closes the object opened last. */
void lumira_jw_end(struct lumira_jw *w);

/* Members of the object open now. A NULL string writes null. `len` counts bytes. */
void lumira_jw_str(struct lumira_jw *w, const char *key, const char *s);
void lumira_jw_strn(struct lumira_jw *w, const char *key, const char *s, size_t len);
void lumira_jw_int(struct lumira_jw *w, const char *key, int64_t v);
void lumira_jw_bool(struct lumira_jw *w, const char *key, bool v);
void lumira_jw_null(struct lumira_jw *w, const char *key);
/* The decimal number `units` / 10^decimals (`decimals` 0-9), written exactly with `decimals`
 * digits after the point: (53214, 1) is 5321.4, (-5, 2) is -0.05. */
void lumira_jw_decimal(struct lumira_jw *w, const char *key, int64_t units, int decimals);
/* An ISO-8601 UTC time with milliseconds (lumira_iso8601()). */
void lumira_jw_time(struct lumira_jw *w, const char *key, int64_t epoch_ms);

/* Ends the writing: LUMIRA_OK when everything was written and every object closed; else the
 * first error (LUMIRA_EINVAL for nesting). On error the buffer holds a partial text that the
 * caller must not send. */
enum lumira_err lumira_jw_finish(struct lumira_jw *w) LUMIRA_WARN_UNUSED;

#endif
