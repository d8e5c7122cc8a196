#ifndef LUMIRA_PASSWORD_H
#define LUMIRA_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Expert passwords: bcrypt through libxcrypt (API.md "Expert authentication"). New hashes are
 * "$2b$" with cost LUMIRA_BCRYPT_COST; hashes "$2a$", "$2b$" and "$2y$" made by other bcrypt
 * implementations (the original used bcryptjs) verify. bcrypt reads at most 72 bytes of a
 * password, as bcryptjs does, so both agree on longer ones. Passwords never contain NUL (the
 * JSON layer refuses it); `len` bytes are used. */

#define LUMIRA_BCRYPT_COST 10
/* A bcrypt hash: "$2b$10$" + 22 salt + 31 hash characters. */
#define LUMIRA_BCRYPT_HASH_LEN 60
/* Costs accepted from stored hashes: higher ones would let a bad record stall a worker. */
#define LUMIRA_BCRYPT_MAX_COST 15

/* Hashes a password into `out` (`size` >= LUMIRA_BCRYPT_HASH_LEN + 1 bytes) with a fresh random
 * salt. LUMIRA_EINVAL for an empty password, one holding NUL or one over
 * LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) bytes, LUMIRA_ETOOBIG when `out` is too small,
 * LUMIRA_ENOMEM, LUMIRA_EINTERNAL when libxcrypt fails. */
enum lumira_err lumira_password_hash(const char *pw, size_t len, char *out,
                                     size_t size) LUMIRA_WARN_UNUSED;

/* True when `hash` is a well-formed bcrypt hash we verify: $2a$/$2b$/$2y$, a two-digit cost
 * from 04 to LUMIRA_BCRYPT_MAX_COST, and 53 characters of bcrypt's base64. */
bool lumira_password_hash_supported(const char *hash);

/* True when `pw` matches `hash` (compared in constant time). False as well when the hash is not
 * supported; such a hash still costs one bcrypt round of the default cost, so the time taken
 * does not tell the cases apart. */
bool lumira_password_verify(const char *pw, size_t len, const char *hash);

/* Spends the time of one verification against a hash that matches nothing: used when the
 * account does not exist, so that an unknown e-mail and a wrong password take about as long. */
void lumira_password_burn(const char *pw, size_t len);

#endif
