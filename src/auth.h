#ifndef LUMIRA_AUTH_H
#define LUMIRA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "http.h"
#include "jwt.h"

/* The token half of the check every program makes before a protected handler runs: read
 * `Authorization: Bearer <token>` and verify it (jwt.h). Failures answer with API.md's codes:
 * 401 NO_TOKEN (no header, another scheme, no token), 401 INVALID_TOKEN, 401 TOKEN_EXPIRED;
 * each logs one line with the reason, never the token.
 *
 * The role in a token is never a permission: a token only names its expert (`sub`). The
 * account half, lumira_experts_require() (experts.h), loads that expert and decides with the
 * stored role; it is the one check every protected route makes. */

/* Finds the token of an Authorization value: scheme "Bearer" in any case, one or more spaces,
 * then the token up to trailing spaces. Returns false when there is none; *tok and *len are
 * borrowed from `value`. */
bool lumira_auth_bearer(const char *value, const char **tok, size_t *len);

/* Checks the request's token against `secret` (NUL-terminated; NULL or unusable when the
 * program has no JWT_SECRET: a request that carries a token then gets 503, one without still
 * gets 401 NO_TOKEN). On success fills *claims (whose role the caller must not trust) and
 * returns true; otherwise fills `resp` with the error and returns false. */
bool lumira_auth_token(const struct lumira_req *req, struct lumira_resp *resp, const char *secret,
                       struct lumira_jwt_claims *claims);

/* Whether an account whose stored role is `have` may use a route that needs `need`:
 * LUMIRA_ROLE_EXPERT lets experts and admins in, LUMIRA_ROLE_ADMIN admins only; LUMIRA_ROLE_NONE
 * on either side allows nothing. */
bool lumira_auth_role_allows(enum lumira_role have, enum lumira_role need);

#endif
