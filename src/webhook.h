#ifndef LUMIRA_WEBHOOK_H
#define LUMIRA_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lumira_limits.h"

/* Signature checks of the calls made to us: Stripe's webhook (Stripe-Signature) and n8n's
 * callback (X-N8N-Signature). Pure functions: no I/O, no allocation, no clock (the caller
 * passes the time). Header and body carry their lengths and need no NUL; the secret is a
 * NUL-terminated string whose bytes are the HMAC key.
 *
 * Every check compares MACs in constant time. `why` (caller storage, `whylen` bytes; may be NULL
 * when whylen is 0) gets a short reason for the log, "" on LUMIRA_OK; it never holds the secret,
 * a signature or any byte of the body. The answer to the caller must not say which reason it
 * was (docs/ORDERS.md). */

/* Verifies a Stripe-Signature header of `hlen` bytes against the raw body (`blen` bytes; may be
 * NULL when blen is 0) and the endpoint secret (all of it, "whsec_..." included, is the key).
 *
 * The header is items separated by ',', each `key=value`, spaces and tabs around an item
 * ignored: exactly one `t` (decimal Unix seconds, digits only, at most 11 of them) and at least
 * one `v1` (signatures); other keys (`v0`, unknown ones) are skipped. It is refused when it is
 * empty, longer than LUMIRA_MAX_SIG_HEADER, has more than LUMIRA_MAX_SIG_ITEMS items, or an item
 * that is empty or has no '='.
 *
 * It is valid when some v1, as 64 hex digits in either case, equals HMAC-SHA256(secret, t + "."
 * + body) (every v1 is compared, whatever the outcome of the others; a v1 that is not 64 hex
 * digits matches nothing), and |now_s - t| <= tolerance_s (a negative tolerance is taken as 0).
 * The time is looked at only once a signature matched, so a forged header learns nothing of it.
 *
 * Returns LUMIRA_OK; LUMIRA_EINVAL for a missing or malformed header or no matching signature;
 * LUMIRA_EEXPIRED when a signature matched but t is outside the tolerance; LUMIRA_ECONFIG when
 * the secret is NULL or empty (nothing checked); LUMIRA_EINTERNAL if OpenSSL fails. */
enum lumira_err lumira_stripe_sig_verify(const char *header, size_t hlen, const char *body,
                                         size_t blen, const char *secret, int64_t now_s,
                                         int64_t tolerance_s, char *why,
                                         size_t whylen) LUMIRA_WARN_UNUSED;

/* Verifies an X-N8N-Signature header of `hlen` bytes: HMAC-SHA256(secret, raw body) as 64 hex
 * digits (either case) or as standard base64 with its padding (44 characters), optionally
 * preceded by "sha256=" (in any case); spaces and tabs around it are ignored. At most
 * LUMIRA_MAX_SIG_HEADER bytes. Returns LUMIRA_OK when it matches, LUMIRA_EINVAL when the header is missing, malformed
 * or does not match; LUMIRA_ECONFIG when the secret is NULL or empty (nothing checked);
 * LUMIRA_EINTERNAL if OpenSSL fails. */
enum lumira_err lumira_n8n_sig_verify(const char *header, size_t hlen, const char *body,
                                      size_t blen, const char *secret, char *why,
                                      size_t whylen) LUMIRA_WARN_UNUSED;

/* The replay-safe form of the n8n callback (the original's later version): the same header, but
 * the HMAC is over "<ts>.<nonce>.<raw body>", ts and nonce exactly as received in X-Timestamp
 * and X-Nonce. `ts` (`tslen` bytes) must have passed lumira_n8n_timestamp_parse() and `nonce`
 * lumira_n8n_nonce_valid() (else LUMIRA_EINVAL, nothing computed). Same results as
 * lumira_n8n_sig_verify(); the time is not looked at here. */
enum lumira_err lumira_n8n_sig_verify_replay(const char *header, size_t hlen, const char *ts,
                                             size_t tslen, const char *nonce, size_t noncelen,
                                             const char *body, size_t blen, const char *secret,
                                             char *why, size_t whylen) LUMIRA_WARN_UNUSED;

/* Parses an X-Timestamp: 1 to LUMIRA_MAX_TIMESTAMP_DIGITS decimal digits (Unix milliseconds),
 * nothing else (no sign, space or exponent). Returns false when malformed. */
bool lumira_n8n_timestamp_parse(const char *s, size_t len, int64_t *ms);

/* Whether an X-Nonce is 1 to LUMIRA_MAX_NONCE characters of [A-Za-z0-9._:-]. */
bool lumira_n8n_nonce_valid(const char *s, size_t len);

#endif
