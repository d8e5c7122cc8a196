#ifndef LUMIRA_AUTH_H
#define LUMIRA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "http.h"
#include "jwt.h"

/* The check every program makes before a protected handler runs: read `Authorization: Bearer
 * <token>`, verify it (jwt.h) and require a role. Failures answer with API.md's codes: 401
 * NO_TOKEN (no header, another scheme, no token), 401 INVALID_TOKEN, 401 TOKEN_EXPIRED, 403
 * FORBIDDEN (role too low); each logs one warning with the reason, never the token. */

/* Finds the token of an Authorization value: scheme "Bearer" in any case, one or more spaces,
 * then the token up to trailing spaces. Returns false when there is none; *tok and *len are
 * borrowed from `value`. */
bool lumira_auth_bearer(const char *value, const char **tok, size_t *len);

/* Checks the request's token against `secret` (NUL-terminated; NULL or unusable when the
 * program has no JWT_SECRET: a request that carries a token then gets 503, one without still
 * gets 401 NO_TOKEN) and requires `role`:
 * LUMIRA_ROLE_EXPERT lets experts and admins in, LUMIRA_ROLE_ADMIN admins only. On success
 * fills *claims and returns true; otherwise fills `resp` with the error and returns false. */
bool lumira_auth_require(const struct lumira_req *req, struct lumira_resp *resp,
                         const char *secret, enum lumira_role role,
                         struct lumira_jwt_claims *claims);

#endif
