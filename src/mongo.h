#ifndef LUMIRA_MONGO_H
#define LUMIRA_MONGO_H

#include <stdint.h>

#include <mongoc/mongoc.h>

#include "err.h"

/* One MongoDB client per worker process (DESIGN.md): made lazily on first use, kept for every
 * later request, dropped after a network failure so that the next use starts afresh (a
 * single-threaded libmongoc client would otherwise skip the server for ~5 s after a failed
 * check). Not thread-safe: one thread uses a given lumira_mongo at a time.
 *
 * lumira_mongo_global_init() must run once in main before any other function here. */

struct lumira_mongo;

/* Timeouts applied to the URI. By default (override false) a value the URI already sets is
 * kept, so operators can tune them in MONGODB_URI; with override true ours win (the readiness
 * probe must answer within its own budget whatever the URI says). 0 leaves the option alone. */
struct lumira_mongo_timeouts {
    int32_t connect_ms;
    int32_t select_ms;
    int32_t socket_ms;
    bool override;
};

/* Library set-up: mongoc_init() and routing of libmongoc's own log lines (warnings and errors
 * only) into our logger. */
void lumira_mongo_global_init(void);
void lumira_mongo_global_cleanup(void);

/* The defaults used when `t` is NULL: connect 2000, selection 2000, socket 5000 ms. */
extern const struct lumira_mongo_timeouts lumira_mongo_default_timeouts;

/* Parses `uri` and prepares a client handle without connecting. `appname` is sent to the
 * server. LUMIRA_ECONFIG when the URI does not parse (err says why, without the URI itself,
 * which may hold a password). The database is the URI's path, "lumira" when it has none. */
enum lumira_err lumira_mongo_new(const char *uri, const char *appname,
                                 const struct lumira_mongo_timeouts *t, struct lumira_mongo **out,
                                 char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Destroys the client. NULL-safe. */
void lumira_mongo_free(struct lumira_mongo *m);

/* The client, made on first call; NULL when it cannot be made (err says why). Borrowed. */
mongoc_client_t *lumira_mongo_client(struct lumira_mongo *m, char *err, size_t errlen);

/* Drops the client (after a network error); the next lumira_mongo_client() makes a new one. */
void lumira_mongo_reset(struct lumira_mongo *m);

/* The database name and a "host:port,..." list without credentials. Borrowed. */
const char *lumira_mongo_dbname(const struct lumira_mongo *m);
const char *lumira_mongo_hosts(const struct lumira_mongo *m);

/* Sends {ping: 1} to the admin database. On LUMIRA_OK *rtt_ms is the round trip. On failure
 * returns LUMIRA_ETIMEDOUT (the driver gave up on a timeout; the message says "timeout") or
 * LUMIRA_EUNAVAIL, writes a short message to `err`, and resets the client. */
enum lumira_err lumira_mongo_ping(struct lumira_mongo *m, int64_t *rtt_ms, char *err,
                                  size_t errlen) LUMIRA_WARN_UNUSED;

/* Whether a driver error is a network or server-selection failure (the client is then reset by
 * callers) rather than a command error. */
bool lumira_mongo_error_is_network(const bson_error_t *error);

#endif
