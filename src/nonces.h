#ifndef LUMIRA_NONCES_H
#define LUMIRA_NONCES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "mongo.h"

/* The nonces of signed n8n callbacks (API.md "Expert desk"): each one accepted is recorded in
 * `n8n_nonces` under `_id` = the nonce, so that a replay is refused by the unique `_id` on any
 * worker of any VM (an insert, never a read-then-write: DESIGN.md "Correct on every
 * MongoDB-compatible server"). A document is {_id, expiresAt, createdAt}; a TTL index on
 * `expiresAt` lets MongoDB remove it once no callback with that nonce could be fresh again.
 * FerretDB does not implement TTL indexes: there the documents stay (about 100 bytes each),
 * which costs space only.
 *
 * Errors as in experts.h: LUMIRA_EUNAVAIL when the database cannot be reached, LUMIRA_EINTERNAL
 * for another failure, with the reason in `err` for the log. */

#define LUMIRA_NONCES "n8n_nonces"

/* Makes the TTL index on expiresAt (idempotent; none on a server without TTL indexes). */
enum lumira_err lumira_nonces_ensure_indexes(struct lumira_mongo *m, char *err,
                                             size_t errlen) LUMIRA_WARN_UNUSED;

/* Records `nonce` (`len` bytes, already checked by lumira_n8n_nonce_valid()), to expire at
 * `expires_ms` (Unix ms). LUMIRA_OK when it was new, LUMIRA_EEXIST when it was recorded before
 * (a replay). */
enum lumira_err lumira_nonces_record(struct lumira_mongo *m, const char *nonce, size_t len,
                                     int64_t expires_ms, int64_t now_ms, char *err,
                                     size_t errlen) LUMIRA_WARN_UNUSED;

/* Removes `nonce` again, so that the sender may retry a callback that was not applied because
 * the database failed after the nonce was recorded. LUMIRA_ENOTFOUND when it was not there. */
enum lumira_err lumira_nonces_forget(struct lumira_mongo *m, const char *nonce, size_t len,
                                     char *err, size_t errlen) LUMIRA_WARN_UNUSED;

#endif
