#ifndef LUMIRA_JWT_H
#define LUMIRA_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "lumira_limits.h"

/* Expert tokens (API.md "Expert authentication"): JWT with HS256 only, claims sub (expert id),
 * email, name, role, iat, exp and iss = "lumira". Everything in a token is untrusted until its
 * signature has been checked, and the signature is checked before any part is parsed. */

#define LUMIRA_JWT_ISSUER "lumira"
/* Seconds a token's iat may lie in the future (clocks of several VMs differ a little). */
#define LUMIRA_JWT_LEEWAY_S 60
/* An ObjectId as 24 hex characters. */
#define LUMIRA_OID_HEX 24

enum lumira_role { LUMIRA_ROLE_NONE = 0, LUMIRA_ROLE_EXPERT, LUMIRA_ROLE_ADMIN };

struct lumira_jwt_claims {
    char sub[LUMIRA_OID_HEX + 1];
    char email[LUMIRA_MAX_EMAIL + 1];
    char name[LUMIRA_UTF8_BYTES(LUMIRA_MAX_NAME_CHARS) + 1];
    enum lumira_role role;
    int64_t iat; /* seconds since the epoch */
    int64_t exp;
};

/* "expert" / "admin" (NULL for LUMIRA_ROLE_NONE). */
const char *lumira_role_name(enum lumira_role role);

/* The role named by `s` (`len` bytes), LUMIRA_ROLE_NONE when it is neither "expert" nor "admin". */
enum lumira_role lumira_role_parse(const char *s, size_t len);

/* Signs `claims` with `secret` (`slen` bytes) and appends the token to `out`. iss is always
 * LUMIRA_JWT_ISSUER. LUMIRA_EINVAL when a claim is unusable (no role, exp <= iat),
 * LUMIRA_ETOOBIG when the token would pass LUMIRA_MAX_JWT, LUMIRA_ENOMEM. */
enum lumira_err lumira_jwt_sign(const char *secret, size_t slen,
                                const struct lumira_jwt_claims *claims,
                                struct lumira_buf *out) LUMIRA_WARN_UNUSED;

/* Verifies a token of exactly `len` bytes (need not be NUL-terminated) at time `now_s`:
 * at most LUMIRA_MAX_JWT bytes, three non-empty base64url parts, an HMAC-SHA256 signature that
 * matches (compared in constant time), a header whose alg is exactly "HS256", and a payload
 * with every claim present, well typed, iss = "lumira" and iat not in the future (beyond the
 * leeway). Returns LUMIRA_OK and fills *claims; LUMIRA_EEXPIRED when the token is sound but
 * now_s >= exp; LUMIRA_EINVAL for every other defect (LUMIRA_ENOMEM aside). *claims is
 * written only on LUMIRA_OK. */
enum lumira_err lumira_jwt_verify(const char *secret, size_t slen, const char *tok, size_t len,
                                  int64_t now_s,
                                  struct lumira_jwt_claims *claims) LUMIRA_WARN_UNUSED;

#endif
