#ifndef LUMIRA_STRIPE_H
#define LUMIRA_STRIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "lumira_limits.h"

/* A Stripe API client over fetch.h. One per worker process: its fetch client (one curl easy
 * handle) is reused for every call so the TLS connection to Stripe stays warm. Not thread-safe.
 * The secret key is held in memory only, sent only in the Authorization header, wiped on free,
 * and never logged or put in an error message.
 *
 * lumira_stripe_global_init() must run once in main, before any thread starts; it is
 * lumira_fetch_global_init(), so it serves every other fetch client of the process too.
 *
 * Ownership: a struct lumira_stripe_reply (caller storage) owns its body buffer; during a call
 * the fetch layer borrows that buffer and gives it back before the call returns. The request's
 * own buffers (URL, form, the Authorization line) live only for the call. */

struct lumira_stripe;

struct lumira_stripe_reply {
    long status;            /* HTTP status, 0 when no response arrived */
    struct lumira_buf body; /* the response body, at most LUMIRA_STRIPE_MAX_REPLY bytes */
    int64_t elapsed_ms;
    char error[LUMIRA_MAX_ERRMSG]; /* transport failure, "" otherwise */
};

void lumira_stripe_global_init(void);
void lumira_stripe_global_cleanup(void);

/* Makes a client for `api_base` (no trailing slash, e.g. https://api.stripe.com) with `key`,
 * which may be NULL or a placeholder: calls then fail with LUMIRA_ECONFIG without any request
 * (lumira_stripe_configured() says which). Both strings are copied. */
enum lumira_err lumira_stripe_new(const char *api_base, const char *key,
                                  struct lumira_stripe **out) LUMIRA_WARN_UNUSED;

/* Wipes the key and frees the client. NULL-safe. */
void lumira_stripe_free(struct lumira_stripe *s);

/* True when the key is usable (lumira_secret_usable). */
bool lumira_stripe_configured(const struct lumira_stripe *s);

/* "test", "live" or "unknown", from the key's prefix (sk_test_, rk_live_, ...). Never any part
 * of the key itself. */
const char *lumira_stripe_mode(const struct lumira_stripe *s);

/* Prepares `reply` (caller storage) for lumira_stripe_call(); cleanup frees its body. */
void lumira_stripe_reply_init(struct lumira_stripe_reply *reply);
void lumira_stripe_reply_cleanup(struct lumira_stripe_reply *reply);

/* Calls `method` ("GET" or "POST") on `path` ("/v1/balance") with an optional form body
 * (application/x-www-form-urlencoded, `form_len` bytes) and an optional Idempotency-Key, the
 * whole bounded by `timeout_ms`. Returns LUMIRA_OK when an HTTP response arrived, whatever its
 * status (check reply->status); LUMIRA_ETIMEDOUT when the timeout passed; LUMIRA_EUNAVAIL when
 * Stripe could not be reached; LUMIRA_ETOOBIG when the reply passed its cap; LUMIRA_ECONFIG
 * when the key is not usable and LUMIRA_EINVAL for another method or an idempotency key holding
 * CR or LF (nothing was sent then). reply->error says what failed. */
enum lumira_err lumira_stripe_call(struct lumira_stripe *s, const char *method, const char *path,
                                   const char *form, size_t form_len, const char *idempotency_key,
                                   int64_t timeout_ms,
                                   struct lumira_stripe_reply *reply) LUMIRA_WARN_UNUSED;

/* Appends "key=value" to a form body, percent-encoding both (RFC 3986 unreserved characters are
 * kept) and adding '&' between pairs. All or nothing: on error `form` is as it was. */
enum lumira_err lumira_stripe_form_add(struct lumira_buf *form, const char *key,
                                       const char *value) LUMIRA_WARN_UNUSED;

#endif
