#ifndef LUMIRA_PROBE_H
#define LUMIRA_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "lumira_limits.h"
#include "mongo.h"

/* A MongoDB probe: one background thread per process that owns a lumira_mongo and pings it on
 * request, so that a caller can wait for the answer with a hard deadline of its own and run
 * something else (the Stripe check) meanwhile. A ping that outlives its caller's deadline keeps
 * running; its result is kept, and the next caller waits for a ping that started after it asked
 * (results are never older than the question). The thread blocks every signal. */

struct lumira_probe;

struct lumira_probe_result {
    enum lumira_err err;         /* LUMIRA_OK, or why the ping failed */
    int64_t rtt_ms;              /* round trip when err is LUMIRA_OK */
    int64_t done_ms;             /* monotonic time it finished; 0 when no ping finished yet */
    char msg[LUMIRA_MAX_ERRMSG]; /* what failed, "" on success */
};

/* Makes a probe that takes ownership of `m`. The thread starts on first use. */
enum lumira_err lumira_probe_new(struct lumira_mongo *m,
                                 struct lumira_probe **out) LUMIRA_WARN_UNUSED;

/* Stops the thread and frees everything, `m` included, and returns true. When a ping is still
 * under way the thread is told to stop and left to finish alone (it frees everything when the
 * ping ends), and false says that libmongoc is still in use (do not call mongoc_cleanup()).
 * Either way `p` must not be used again. NULL-safe (true). */
bool lumira_probe_free(struct lumira_probe *p);

/* Asks for a new ping and returns its ticket in *ticket. LUMIRA_EINTERNAL when the thread could
 * not be started. */
enum lumira_err lumira_probe_start(struct lumira_probe *p, uint64_t *ticket) LUMIRA_WARN_UNUSED;

/* Waits for the ping of `ticket` until `deadline_ms` (monotonic). LUMIRA_OK when it finished
 * (its result, which may itself be a failure, is in *out); LUMIRA_ETIMEDOUT when the deadline
 * passed first (*out then holds the last finished result, for information). */
enum lumira_err lumira_probe_wait(struct lumira_probe *p, uint64_t ticket, int64_t deadline_ms,
                                  struct lumira_probe_result *out) LUMIRA_WARN_UNUSED;

/* Copies the last finished result (done_ms is 0 when there is none yet). */
void lumira_probe_last(struct lumira_probe *p, struct lumira_probe_result *out);

/* The probe's database name and host list (see lumira_mongo_dbname/hosts). */
const char *lumira_probe_dbname(const struct lumira_probe *p);
const char *lumira_probe_hosts(const struct lumira_probe *p);

#endif
