#ifndef LUMIRA_METRICS_H
#define LUMIRA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "http.h"

/* Prometheus metrics of the prefork workers (docs/OPERATIONS.md "Metrics").
 *
 * The scoreboard. Each route group has one file, <LUMIRA_RUNTIME_DIR>/metrics-<group>.scoreboard,
 * that every worker of the group maps shared (php-fpm's status page and Apache's scoreboard are
 * the model). It holds a header (magic, layout version, slot count, the group's route table, so
 * that a reader knows the route patterns without the program's code) and then
 * LUMIRA_METRICS_MAX_SLOTS slots, each cache-line aligned, one per live worker:
 *
 *   owner   the claiming process: its pid in the low 22 bits, its start time (clock ticks after
 *           boot, /proc/<pid>/stat field 22) above them, so that a pid reused by another process
 *           is not taken for the owner. 0: free.
 *   busy    1 while the worker handles a request.
 *   counters, only ever added to.
 *
 * A worker claims a slot at start (lumira_metrics_start): first a slot whose owner is dead (its
 * counters are kept, so a group's totals survive a worker's restart, and the slot's restart
 * count grows), else a free one, each taken with a compare-and-swap on the owner word, so two
 * workers starting together never share one. A worker that stops gracefully frees its slot
 * (owner 0, counters kept): only a worker that died without stopping counts as a restart.
 *
 * On the request path a worker does a handful of relaxed atomic adds into its own slot: no lock,
 * no system call, no allocation. lumira-health reads every group's file read-only at scrape time
 * and sums the slots (lumira_metrics_render).
 *
 * The file (mode 0600: every group runs as the same user, and the socket directory's group is
 * nginx's) is made by whichever worker comes first: written complete under a temporary name and
 * then linked into place (a concurrent creator loses the link and uses the winner's file). A file
 * of another size, layout version or route table (an upgrade) is replaced the same way (rename)
 * after a warning; the workers still on the old file keep counting into it until they restart.
 * Metrics failing to set up never stop a program: lumira_metrics_start() logs one warning and
 * every hook is then a no-op. */

#define LUMIRA_METRICS_MAGIC 0x314d4f4253524d4cULL /* "LMRSBOM1" */
#define LUMIRA_METRICS_VERSION 2
/* Enough for the largest LUMIRA_WORKERS (64). */
#define LUMIRA_METRICS_MAX_SLOTS 64
/* Routes a group may have; their counters sit at their index in the program's table. The
 * requests that matched no route (404, 405, malformed) count under route "unmatched", at index
 * LUMIRA_METRICS_MAX_ROUTES. */
#define LUMIRA_METRICS_MAX_ROUTES 47
#define LUMIRA_METRICS_UNMATCHED LUMIRA_METRICS_MAX_ROUTES
#define LUMIRA_METRICS_ROUTE_SLOTS (LUMIRA_METRICS_MAX_ROUTES + 1)
#define LUMIRA_METRICS_METHOD_MAX 8
#define LUMIRA_METRICS_PATTERN_MAX 56
#define LUMIRA_METRICS_GROUP_MAX 32
/* Status classes 1xx..5xx (anything else counts as 5xx). */
#define LUMIRA_METRICS_CLASSES 5
/* Histogram buckets, upper bounds in microseconds; one more for +Inf. */
#define LUMIRA_METRICS_BUCKETS 13
#define LUMIRA_METRICS_LEVELS 4

/* Calls to the program's dependencies. */
enum lumira_metrics_dep {
    LUMIRA_METRICS_DB = 0,
    LUMIRA_METRICS_STRIPE,
    LUMIRA_METRICS_N8N,
    LUMIRA_METRICS_NDEPS
};

/* How a dependency call ended: answered (a database "not found" or duplicate key is an answer;
 * an HTTP call needs a 2xx), failed with an answer (the server's error, an HTTP status outside
 * 2xx), timed out, or could not be made (unreachable, refused, connection broken). */
enum lumira_metrics_outcome {
    LUMIRA_METRICS_OK = 0,
    LUMIRA_METRICS_ERROR,
    LUMIRA_METRICS_TIMEOUT,
    LUMIRA_METRICS_UNAVAILABLE,
    LUMIRA_METRICS_NOUTCOMES
};

/* Stripe webhook events: their type (the four handled, any other type, or "unknown" when the
 * event was refused before its type could be trusted) and what became of them. */
enum lumira_metrics_event {
    LUMIRA_METRICS_EV_SUCCEEDED = 0, /* payment_intent.succeeded */
    LUMIRA_METRICS_EV_FAILED,        /* payment_intent.payment_failed */
    LUMIRA_METRICS_EV_CANCELED,      /* payment_intent.canceled */
    LUMIRA_METRICS_EV_REFUNDED,      /* charge.refunded */
    LUMIRA_METRICS_EV_OTHER,
    LUMIRA_METRICS_EV_UNKNOWN,
    LUMIRA_METRICS_NEVENTS
};
enum lumira_metrics_event_outcome {
    LUMIRA_METRICS_EV_APPLIED = 0, /* the order changed (paid, failed, a refund recorded...) */
    LUMIRA_METRICS_EV_IGNORED,     /* recorded, nothing to change (unknown order, not pending...) */
    LUMIRA_METRICS_EV_DUPLICATE,   /* already processed */
    LUMIRA_METRICS_EV_REFUSED,     /* bad signature or malformed event (400) */
    LUMIRA_METRICS_EV_ERROR,       /* the database failed (500: Stripe retries) */
    LUMIRA_METRICS_NEVOUTCOMES
};

struct lumira_metrics_hist {
    uint64_t buckets[LUMIRA_METRICS_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    uint64_t sum_us;
};

/* One worker's slot. Every field from `restarts` on is a uint64_t counter (summed as an array by
 * readers). */
struct lumira_metrics_slot {
    uint64_t owner; /* see above; 0 when free */
    uint32_t busy;
    uint32_t unused;
    uint64_t restarts; /* times this slot was taken from a dead owner */
    uint64_t requests[LUMIRA_METRICS_ROUTE_SLOTS][LUMIRA_METRICS_CLASSES];
    struct lumira_metrics_hist latency[LUMIRA_METRICS_ROUTE_SLOTS];
    uint64_t calls[LUMIRA_METRICS_NDEPS][LUMIRA_METRICS_NOUTCOMES];
    struct lumira_metrics_hist call_latency[LUMIRA_METRICS_NDEPS];
    uint64_t events[LUMIRA_METRICS_NEVENTS][LUMIRA_METRICS_NEVOUTCOMES];
    uint64_t orders_created[LUMIRA_METRICS_LEVELS];
    uint64_t orders_paid[LUMIRA_METRICS_LEVELS];
} __attribute__((aligned(64)));

struct lumira_metrics_route {
    char method[LUMIRA_METRICS_METHOD_MAX];
    char pattern[LUMIRA_METRICS_PATTERN_MAX];
};

/* The file's header; the slots follow at LUMIRA_METRICS_SLOTS_OFFSET. */
struct lumira_metrics_header {
    uint64_t magic;
    uint32_t version;
    uint32_t nslots;
    uint32_t nroutes;
    uint32_t slot_size;
    uint64_t file_size;
    char group[LUMIRA_METRICS_GROUP_MAX];
    struct lumira_metrics_route routes[LUMIRA_METRICS_MAX_ROUTES];
};
#define LUMIRA_METRICS_SLOTS_OFFSET ((sizeof(struct lumira_metrics_header) + 63) / 64 * 64)

/* A mapped scoreboard file. */
struct lumira_metrics_board {
    /* read-only */
    struct lumira_metrics_header *hdr;
    struct lumira_metrics_slot *slots;
    uint32_t nslots;
    /* private */
    size_t size;
    bool writable;
};

/* The file of `group` under `dir`: "<dir>/metrics-<group>.scoreboard". False when it does not fit
 * in `size` bytes or the group name is not [a-z0-9_-]{1,31}. */
bool lumira_metrics_path(const char *dir, const char *group, char *out, size_t size);

/* Opens (making or replacing it as described above) the scoreboard of `group` under `dir` for
 * writing, for the route table `routes` (at most LUMIRA_METRICS_MAX_ROUTES, patterns shorter than
 * LUMIRA_METRICS_PATTERN_MAX) with `nslots` slots (1..LUMIRA_METRICS_MAX_SLOTS; programs use
 * LUMIRA_METRICS_MAX_SLOTS, tests fewer). On LUMIRA_OK, `b` is mapped (lumira_metrics_board_close);
 * otherwise `err` says why (LUMIRA_EINVAL: bad arguments; LUMIRA_EIO: a file system call failed).
 */
enum lumira_err lumira_metrics_board_open(struct lumira_metrics_board *b, const char *dir,
                                          const char *group, const struct lumira_route *routes,
                                          size_t nroutes, uint32_t nslots, char *err,
                                          size_t errlen) LUMIRA_WARN_UNUSED;

/* Maps the scoreboard of `group` read-only, as it is (a reader never makes or changes one).
 * LUMIRA_ENOTFOUND: no file (the group never started); LUMIRA_EINVAL: not a scoreboard of this
 * layout (wrong size, magic or version); LUMIRA_EIO. */
enum lumira_err lumira_metrics_board_map(struct lumira_metrics_board *b, const char *dir,
                                         const char *group, char *err,
                                         size_t errlen) LUMIRA_WARN_UNUSED;

/* Unmaps. Safe on a board that failed to open (zeroed by the open). */
void lumira_metrics_board_close(struct lumira_metrics_board *b);

/* Claims a slot for process `pid` (started at `start_ticks`, see lumira_metrics_proc): a dead
 * owner's slot first (its counters kept, its restart count grown; *restarted true), else a free
 * one. LUMIRA_ETOOBIG when every slot has a live owner. */
enum lumira_err lumira_metrics_board_claim(struct lumira_metrics_board *b, pid_t pid,
                                           uint64_t start_ticks, struct lumira_metrics_slot **slot,
                                           bool *restarted) LUMIRA_WARN_UNUSED;

/* Frees a slot (owner 0), keeping its counters. */
void lumira_metrics_board_release(struct lumira_metrics_slot *slot);

/* Whether the owner word `owner` names a live process (that pid, started at that time). */
bool lumira_metrics_owner_alive(uint64_t owner);
pid_t lumira_metrics_owner_pid(uint64_t owner);

/* What /proc/<pid>/stat says of a process (pid 0: this one). */
struct lumira_metrics_proc {
    uint64_t start_ticks; /* clock ticks after boot */
    uint64_t cpu_ticks;   /* user + system */
    uint64_t rss_pages;
};
enum lumira_err lumira_metrics_proc_read(pid_t pid,
                                         struct lumira_metrics_proc *out) LUMIRA_WARN_UNUSED;
/* Parses the text of a /proc/<pid>/stat file (`len` bytes). LUMIRA_EINVAL when malformed. */
enum lumira_err lumira_metrics_proc_parse(const char *s, size_t len,
                                          struct lumira_metrics_proc *out) LUMIRA_WARN_UNUSED;

/* The process's metrics: called by lumira_serve() with the program's name ("lumira-health": the
 * group is what follows "lumira-") and route table, after lumira_metrics_set_dir() (from
 * LUMIRA_RUNTIME_DIR, in lumira_app_boot). A failure logs one warning and leaves the process
 * without metrics. lumira_metrics_stop() frees the slot (a graceful stop; the file stays mapped
 * until exit, and the process does not start metrics again). */
void lumira_metrics_set_dir(const char *dir);
void lumira_metrics_start(const char *prog, const struct lumira_route *routes, size_t nroutes);
void lumira_metrics_stop(void);
/* True when this process counts into a slot. */
bool lumira_metrics_active(void);

/* Hooks, each a no-op without a slot. A request: busy at its start; at its end the route's index
 * in the table (LUMIRA_METRICS_UNMATCHED when none), its status and its duration. */
void lumira_metrics_busy(void);
void lumira_metrics_request(size_t route, int status, int64_t elapsed_us);
/* A dependency call with its outcome and duration. */
void lumira_metrics_call(enum lumira_metrics_dep dep, enum lumira_metrics_outcome outcome,
                         int64_t elapsed_us);
/* The outcome of a call that returned `res` (LUMIRA_OK, LUMIRA_ENOTFOUND and LUMIRA_EEXIST are
 * answers; LUMIRA_ETIMEDOUT; LUMIRA_EUNAVAIL; anything else an error). */
enum lumira_metrics_outcome lumira_metrics_outcome_of(enum lumira_err res);
/* An HTTP call (lumira_fetch_call's result and the status it got). */
void lumira_metrics_http_call(enum lumira_metrics_dep dep, enum lumira_err res, long status,
                              int64_t elapsed_ms);
/* A webhook event by its type string (NULL: unknown) and outcome. */
void lumira_metrics_event(const char *type, enum lumira_metrics_event_outcome outcome);
/* The end of a webhook event that was recorded: `applied` when it changed the order (else it was
 * ignored); `paid` also counts an order paid at `level`. */
void lumira_metrics_webhook_done(const char *type, bool applied, bool paid, int64_t level);
/* Orders created, and paid, at `level` (1..4; others are not counted). */
void lumira_metrics_order_created(int64_t level);
void lumira_metrics_order_paid(int64_t level);

/* The bucket of a duration (0..LUMIRA_METRICS_BUCKETS, the last being +Inf). */
size_t lumira_metrics_bucket(int64_t us);
/* Bucket upper bounds in microseconds, and as Prometheus `le` strings in seconds. */
extern const int64_t lumira_metrics_bucket_us[LUMIRA_METRICS_BUCKETS];
extern const char *const lumira_metrics_bucket_le[LUMIRA_METRICS_BUCKETS];

/* Writes the exposition (text format 0.0.4) of the groups `groups` (`n` names) whose scoreboards
 * are under `dir` into `out`: every group's slots summed, and the process figures of each live
 * worker. A group without a readable file appears only in lumira_scoreboard_up (0). */
enum lumira_err lumira_metrics_render(const char *dir, const char *const *groups, size_t n,
                                      struct lumira_buf *out) LUMIRA_WARN_UNUSED;

/* Appends `s` as a label value (`\`, `"` and newline escaped) to `out`. */
enum lumira_err lumira_metrics_label_value(struct lumira_buf *out,
                                           const char *s) LUMIRA_WARN_UNUSED;

#endif
