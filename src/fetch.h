#ifndef LUMIRA_FETCH_H
#define LUMIRA_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "lumira_limits.h"

/* An outbound HTTP client over libcurl (Stripe, n8n). One per worker process: its easy handle
 * is reused for every call so connections stay warm (curl_easy_reset between calls keeps live
 * connections). Not thread-safe. Only http:// and https:// URLs, no redirects followed, no
 * signals used (CURLOPT_NOSIGNAL), no "Expect: 100-continue" round trip, every call bounded by
 * its timeout and its reply body by the cap given to lumira_fetch_reply_init().
 *
 * Ownership: the client owns its easy handle and the handle's connections. libcurl keeps
 * pointers to the header list, the POST body and the write sink it is given (it does not copy
 * them); each call resets the handle before it returns, so none of them outlives the call. The
 * reply (caller storage) owns its body buffer.
 *
 * Request header lines may hold secrets (Authorization): the copies made here are wiped before
 * they are freed, and no header, body or URL path is ever put in reply->error.
 *
 * lumira_fetch_global_init() must run once in main, before any thread starts. */

struct lumira_fetch;

struct lumira_fetch_reply {
    long status;            /* read-only: HTTP status, 0 when no response arrived */
    struct lumira_buf body; /* read-only: the response body, at most the cap given to init */
    int64_t elapsed_ms;     /* read-only: time the call took, 0 when nothing was sent */
    char error[LUMIRA_MAX_ERRMSG]; /* read-only: why the call failed, "" on LUMIRA_OK */
    size_t max_body;               /* private: the cap given to init */
};

/* curl_global_init() and curl_global_cleanup(). */
void lumira_fetch_global_init(void);
void lumira_fetch_global_cleanup(void);

/* Makes a client. *out is NULL on error. LUMIRA_ENOMEM only. */
enum lumira_err lumira_fetch_new(struct lumira_fetch **out) LUMIRA_WARN_UNUSED;

/* Frees the client and closes its connections. NULL-safe. */
void lumira_fetch_free(struct lumira_fetch *f);

/* Prepares `reply` (caller storage) to take a body of at most `max_body` bytes. Allocates
 * nothing. One reply may serve several calls: each call empties it first. */
void lumira_fetch_reply_init(struct lumira_fetch_reply *reply, size_t max_body);

/* Frees the body. NULL-safe. */
void lumira_fetch_reply_cleanup(struct lumira_fetch_reply *reply);

/* Sends `method` ("GET" or "POST") to `url` with the header lines `headers` (a NULL-terminated
 * array of "Name: value" strings, or NULL) and, for POST, `body_len` bytes of `body` (may be
 * NULL when body_len is 0; sent by length, so NUL bytes are data). A POST without a
 * Content-Type header line is sent as application/x-www-form-urlencoded (curl's default). The
 * whole call, connecting included, is bounded by `timeout_ms` (below 1 taken as 1, above
 * INT32_MAX as INT32_MAX). Nothing passed in is kept after the call returns.
 *
 * Returns LUMIRA_OK when an HTTP response arrived, whatever its status (check reply->status);
 * LUMIRA_ETIMEDOUT when the timeout passed ("timeout after Nms"); LUMIRA_ETOOBIG when the reply
 * body passed its cap (the body holds what came before); LUMIRA_EUNAVAIL when the peer could not
 * be reached or broke the exchange (curl's message); LUMIRA_ENOMEM; and LUMIRA_EINVAL, with
 * nothing sent, for another method, a URL that is not http(s):// or a header line holding CR
 * or LF. reply->error says what failed; reply->status is 0 on every error. */
enum lumira_err lumira_fetch_call(struct lumira_fetch *f, const char *method, const char *url,
                                  const char *const *headers, const char *body, size_t body_len,
                                  int64_t timeout_ms,
                                  struct lumira_fetch_reply *reply) LUMIRA_WARN_UNUSED;

/* POSTs `len` bytes of `json` to `url` with "Content-Type: application/json", then the lines of
 * `extra_headers` (NULL-terminated, or NULL; they must not repeat Content-Type). Otherwise as
 * lumira_fetch_call(). */
enum lumira_err lumira_fetch_post_json(struct lumira_fetch *f, const char *url, const char *json,
                                       size_t len, const char *const *extra_headers,
                                       int64_t timeout_ms,
                                       struct lumira_fetch_reply *reply) LUMIRA_WARN_UNUSED;

#endif
