#ifndef LUMIRA_APP_H
#define LUMIRA_APP_H

#include "config.h"
#include "mongo.h"
#include "probe.h"

/* Start-up and shutdown shared by every program's main(). */

/* Records the start time, installs the signal handlers (before any thread exists), loads the
 * configuration and opens the log. On a configuration error, logs one line naming the variable
 * and exits with LUMIRA_EXIT_CONFIG. Also initialises libmongoc. A program that calls out over
 * HTTP (Stripe, n8n) initialises libcurl itself, with lumira_stripe_global_init() right after
 * this and lumira_stripe_global_cleanup() before lumira_app_shutdown(): the others do not link
 * libcurl at all (23 fewer libraries to load and relocate in each of their workers). */
void lumira_app_boot(const char *prog, struct lumira_config *cfg);

/* Makes the probe used by the health and readiness checks from cfg->mongodb_uri, with every
 * driver timeout set to `timeout_ms`, named "<prog>-probe" to the server. *out is NULL when MONGODB_URI is unset. Exits with
 * LUMIRA_EXIT_CONFIG when the URI does not parse. */
void lumira_app_probe(const char *prog, const struct lumira_config *cfg, int64_t timeout_ms,
                      struct lumira_probe **out);

/* Makes the request-path database handle of a program that cannot work without one (auth,
 * orders, admin) from cfg->mongodb_uri with the default driver timeouts. Exits with
 * LUMIRA_EXIT_CONFIG, after one log line, when MONGODB_URI is unset or does not parse. No
 * connection is made here. */
void lumira_app_db(const char *prog, const struct lumira_config *cfg, struct lumira_mongo **out);

/* Where a worker is with its indexes (zeroed before the first call). */
struct lumira_index_state {
    bool done;        /* made, or found with other options (logged) */
    int64_t retry_ms; /* monotonic time before which a failed attempt is not made again */
};

/* Makes a program's indexes (`make`, e.g. lumira_experts_ensure_indexes) until it has worked
 * once in this worker: called at start and before the requests that rely on them, so a
 * database that is down at start is retried later, at most every LUMIRA_INDEX_RETRY_MS (a
 * database that is down or building an index must not cost every request a timeout). st->done
 * becomes true on success, and also when an index exists with other options (LUMIRA_ECONFIG:
 * logged as an error for an operator, as retrying cannot help); other failures log a warning. */
typedef enum lumira_err (*lumira_index_fn)(struct lumira_mongo *m, char *err, size_t errlen);
void lumira_app_indexes(struct lumira_mongo *db, lumira_index_fn make, const char *what,
                        struct lumira_index_state *st);

/* Frees the probe (NULL-safe), releases libmongoc and the configuration. libmongoc is left alone
 * when a ping is still under way on the probe thread. */
void lumira_app_shutdown(struct lumira_config *cfg, struct lumira_probe *probe);

#endif
