#ifndef LUMIRA_EXPERTS_H
#define LUMIRA_EXPERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "err.h"
#include "jwt.h"
#include "lumira_limits.h"
#include "mongo.h"
#include "password.h"
#include "valid.h"

/* The `experts` collection (API.md "Data"): the original's documents, read as they are
 * (`email`, `password` bcrypt, `name`, `role`, `isActive`, `lastLogin`, `createdAt`,
 * `updatedAt`). E-mail addresses are stored normalised (lumira_email_normalize()); the unique
 * index on `email` makes a second account with the same address impossible on any server.
 *
 * Every function returns LUMIRA_EUNAVAIL when the database cannot be reached (the client is
 * then replaced at its next use), LUMIRA_EINTERNAL for another driver failure, and writes the
 * reason to `err` (`errlen` bytes) for the log, never for the client.
 *
 * Ownership: what is read is copied into the caller's struct lumira_expert (fixed buffers), so
 * nothing handed out points into a database reply, which is destroyed before each function
 * returns; JSON views (lumira_expert_json()) are new objects owned by the caller. */

#define LUMIRA_EXPERTS "experts"

struct lumira_expert {
    char id[LUMIRA_OID_HEX + 1];
    char email[LUMIRA_MAX_EMAIL + 1];
    char name[LUMIRA_UTF8_BYTES(LUMIRA_MAX_NAME_CHARS) + 1];
    enum lumira_role role;  /* a stored role we do not know reads as LUMIRA_ROLE_EXPERT */
    bool active;            /* isActive; absent reads as true (the original's default) */
    char hash[LUMIRA_BCRYPT_HASH_LEN + 1]; /* "" when the stored value is not a bcrypt hash */
    int64_t last_login_ms;  /* 0: never */
    int64_t created_at_ms;  /* 0: unknown */
};

/* Creates the unique index on `email` (idempotent). LUMIRA_ECONFIG when an index of that name
 * exists with other options. */
enum lumira_err lumira_experts_ensure_indexes(struct lumira_mongo *m, char *err,
                                              size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds the expert with the normalised address `email`. LUMIRA_ENOTFOUND when none. */
enum lumira_err lumira_experts_find_email(struct lumira_mongo *m, const char *email,
                                          struct lumira_expert *out, char *err,
                                          size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds the expert whose id is `id` (24 hex characters). LUMIRA_ENOTFOUND when none (or when
 * `id` is not an ObjectId). */
enum lumira_err lumira_experts_find_id(struct lumira_mongo *m, const char *id,
                                       struct lumira_expert *out, char *err,
                                       size_t errlen) LUMIRA_WARN_UNUSED;

/* Inserts a new active expert from e->email, e->name, e->role and e->hash, created at `now_ms`;
 * on success e->id, e->active and e->created_at_ms are filled. LUMIRA_EEXIST when the address
 * is taken. */
enum lumira_err lumira_experts_insert(struct lumira_mongo *m, struct lumira_expert *e,
                                      int64_t now_ms, char *err,
                                      size_t errlen) LUMIRA_WARN_UNUSED;

/* Sets lastLogin (and updatedAt) of expert `id` to `now_ms`. */
enum lumira_err lumira_experts_touch_login(struct lumira_mongo *m, const char *id, int64_t now_ms,
                                           char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Sets isActive of the expert with address `email`. LUMIRA_ENOTFOUND when none. */
enum lumira_err lumira_experts_set_active(struct lumira_mongo *m, const char *email, bool active,
                                          int64_t now_ms, char *err,
                                          size_t errlen) LUMIRA_WARN_UNUSED;

/* Reads a new expert from `body` with the rules of POST /api/expert/register (also used by
 * lumira-admin): "email", "password" (6-128 characters, verbatim), "name" (1-100 characters),
 * "role" ("expert" when absent, else "expert" or "admin"). Fills e->email, e->name and e->role,
 * and *pw, *pwlen (borrowed from body) for lumira_password_hash(). Returns false with every
 * failure recorded in `v`. */
bool lumira_expert_read_new(struct lumira_valid *v, const struct json_object *body,
                            struct lumira_expert *e, const char **pw, size_t *pwlen);

/* The check of every protected route, in every program: a valid token (lumira_auth_token())
 * whose expert, looked up by the token's `sub` (one find by _id), still exists and is active,
 * and whose STORED role allows `role` (lumira_auth_role_allows()). The role the token carries
 * is never used: a demoted admin's token is refused on admin routes, a promoted expert's token
 * is an admin's. Fills `e` with the stored account (e->role is the role to use) and returns
 * true; otherwise answers and returns false: 401 INVALID_TOKEN for a deleted or disabled
 * expert, 403 FORBIDDEN when the stored role is too low, 503/500 when the database fails
 * (also 503 when `m` is NULL: a program without MONGODB_URI cannot check any account). */
bool lumira_experts_require(struct lumira_mongo *m, const struct lumira_req *req,
                            struct lumira_resp *resp, const char *secret, enum lumira_role role,
                            struct lumira_expert *e);

/* The public view {"_id", "id" (the same), "email", "name", "role", "lastLogin" (null: never)},
 * plus "isActive" and "createdAt" when `full`. NULL with *ok false on allocation failure. Never the hash. */
struct json_object *lumira_expert_json(const struct lumira_expert *e, bool full, bool *ok);

#endif
