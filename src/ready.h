#ifndef LUMIRA_READY_H
#define LUMIRA_READY_H

#include <stdbool.h>
#include <stdint.h>

#include "lumira_limits.h"
#include "probe.h"
#include "stripe.h"

/* The readiness check of API.md: a MongoDB ping (on the probe thread) and a Stripe call
 * (GET /v1/balance, on the caller's thread) run at the same time, each under its own timeout,
 * the whole under an overall one. */

struct lumira_ready_limits {
    int64_t total_ms;  /* READY_TIMEOUT_MS */
    int64_t mongo_ms;  /* READY_MONGO_TIMEOUT_MS */
    int64_t stripe_ms; /* READY_STRIPE_TIMEOUT_MS */
};

struct lumira_ready_check {
    bool ok;
    bool cut; /* still running when the overall deadline came */
    int64_t elapsed_ms;
    /* "" when ok. `error` is the detail (driver or curl text, with host names and ports: for
     * the log, and for answers outside production); `generic` the kind of failure, all that a
     * production answer shows: "timeout", "connection failed", "authentication failed",
     * "HTTP <status>", "invalid answer" or "<VARIABLE> not configured". */
    char error[LUMIRA_MAX_ERRMSG];
    char generic[48];
};

struct lumira_ready_report {
    struct lumira_ready_check mongo, stripe;
    int http_status;          /* 200, 503 or 408 */
    const char *ready_status; /* "ok", "not-ready", "timeout" or "error" */
    int64_t wall_ms;          /* when the checks ended (Unix ms): the body's timestamp */
    int64_t mono_ms;          /* the same moment on the monotonic clock */
};

/* Whether `rep` may be reused for later requests (READY_CACHE_MS): a complete result, both
 * checks answered or failed on their own (not cut by the overall deadline, not an internal
 * error of the check). */
bool lumira_ready_complete(const struct lumira_ready_report *rep);

/* Runs both checks. `probe` may be NULL (no MONGODB_URI), `stripe` without a usable key: the
 * check then fails at once with "... not configured" and sends nothing. Never takes longer than
 * limits->total_ms plus scheduling noise. */
void lumira_ready_run(struct lumira_probe *probe, struct lumira_stripe *stripe,
                      const struct lumira_ready_limits *limits, struct lumira_ready_report *out);

#endif
