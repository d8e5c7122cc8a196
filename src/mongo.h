#ifndef LUMIRA_MONGO_H
#define LUMIRA_MONGO_H

#include <stdint.h>

#include <mongoc/mongoc.h>

#include "err.h"

/* One MongoDB client per worker process (DESIGN.md): made lazily on first use, kept for every
 * later request, and replaced after a network failure so that the next use starts afresh (a
 * single-threaded libmongoc client would otherwise skip the server for ~5 s after a failed
 * check). Not thread-safe: one thread uses a given lumira_mongo at a time.
 *
 * Who owns what, and until when:
 * - struct lumira_mongo owns the client. A failure only marks the client (lumira_mongo_fail(),
 *   lumira_mongo_mark_failed()); it is destroyed and made anew at the next lumira_mongo_client()
 *   or lumira_mongo_collection() call made while no collection is borrowed. libmongoc's cursors,
 *   collections and sessions point into their client, so destroying it under them is a use
 *   after free (it was: every database failure, through lumira_mongo_find_one()).
 * - A collection from lumira_mongo_collection() is borrowed from the client and counted; it is
 *   given back with lumira_mongo_collection_release(), never mongoc_collection_destroy(). A
 *   cursor made from it is destroyed before the collection is released.
 * - The mongoc_client_t from lumira_mongo_client() is borrowed until the next call of any
 *   lumira_mongo_* function on the same handle: never keep it across one.
 * - Replies and documents handed out (`*out` of lumira_mongo_find_one()) are the caller's;
 *   iterators and pointers into a reply (bson_iter_utf8 and the like) live only as long as that
 *   reply: copy what is kept before bson_destroy().
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
 * only) into our logger.
 *
 * mongoc_init() starts Cyrus SASL, which loads every SASL plugin installed on the host into the
 * process (with libdb and Kerberos behind them: 9 more objects, about 4 ms of CPU at each start
 * and about 130 KiB of private memory per worker), for one mechanism only, GSSAPI (Kerberos):
 * SCRAM, PLAIN, X.509 and AWS are libmongoc's own. So unless `uri` (may be NULL) asks for GSSAPI
 * or SASL_PATH is set by the operator, SASL_PATH is pointed at a directory that does not exist
 * before mongoc_init(), and no plugin is loaded. Call before any thread starts (it may set an
 * environment variable).
 *
 * Debian's libmongoc calls mongoc_init() itself, in a constructor, when it is loaded: before
 * main, so the environment variable set here comes too late for it. The programs therefore also
 * use LUMIRA_MONGO_SASL_EARLY() below; this function covers a libmongoc built without that
 * constructor, and lumira-admin (whose URI may come from --env-file). */
void lumira_mongo_global_init(const char *uri);

/* The same decision as lumira_mongo_global_init(), made from `envp` (MONGODB_URI and SASL_PATH,
 * the first of each name) before any library's constructor runs: when neither GSSAPI nor an
 * operator's SASL_PATH is asked for, Cyrus SASL's plugin path is set (sasl_set_path()) to the
 * directory that does not exist, so that libmongoc's constructor loads no plugin. Only for
 * LUMIRA_MONGO_SASL_EARLY(). */
void lumira_mongo_sasl_early(char *const *envp);

/* What an entry of .preinit_array is called with: argc, argv, envp. */
typedef void (*lumira_preinit_fn)(int, char **, char **);

/* Put once in the main file of a program that reads MONGODB_URI from its environment alone (not
 * lumira-admin, whose --env-file may hold it): an entry of the executable's .preinit_array, which
 * the dynamic loader runs before the constructors of every shared library (libmongoc's
 * included), with the process's environment. The C library is not started yet then: the entry
 * only reads `envp` and calls into libsasl2 (one string copied). */
#define LUMIRA_MONGO_SASL_EARLY()                                                                  \
    static void lumira__sasl_early(int argc, char **argv, char **envp)                             \
    {                                                                                              \
        (void)argc;                                                                                \
        (void)argv;                                                                                \
        lumira_mongo_sasl_early(envp);                                                             \
    }                                                                                              \
    __attribute__((section(".preinit_array"),                                                      \
                   used)) static const lumira_preinit_fn lumira__sasl_early_entry =                \
        lumira__sasl_early

/* True when `uri` (may be NULL) names authMechanism=GSSAPI (any case). */
bool lumira_mongo_uri_wants_gssapi(const char *uri);
void lumira_mongo_global_cleanup(void);

/* The defaults used when `t` is NULL: connect 2000, selection 2000, socket 5000 ms. */
extern const struct lumira_mongo_timeouts lumira_mongo_default_timeouts;

/* Parses `uri` and prepares a client handle without connecting. `appname` is sent to the
 * server. LUMIRA_ECONFIG when the URI does not parse (err says why, without the URI itself,
 * which may hold a password). The database is the URI's path, "lumira" when it has none. */
enum lumira_err lumira_mongo_new(const char *uri, const char *appname,
                                 const struct lumira_mongo_timeouts *t, struct lumira_mongo **out,
                                 char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Destroys the client. NULL-safe. Every borrowed collection must have been released (one that
 * was not is logged as an error). */
void lumira_mongo_free(struct lumira_mongo *m);

/* The client, made on first call, and made anew when the current one failed and nothing
 * borrows from it; NULL when it cannot be made (err says why). Borrowed: valid until the next
 * lumira_mongo_* call on `m`. */
mongoc_client_t *lumira_mongo_client(struct lumira_mongo *m, char *err, size_t errlen);

/* Marks the client as failed (after a network error): it is replaced at the next
 * lumira_mongo_client() call made while no collection is borrowed. Nothing is freed here, so it
 * is safe while cursors and collections of the client are alive. No effect without a client. */
void lumira_mongo_mark_failed(struct lumira_mongo *m);

/* Whether the current client is marked as failed, and how many collections are borrowed from
 * it (both for tests and checks). */
bool lumira_mongo_is_failed(const struct lumira_mongo *m);
unsigned lumira_mongo_borrows(const struct lumira_mongo *m);

/* The database name and a "host:port,..." list without credentials. Borrowed. */
const char *lumira_mongo_dbname(const struct lumira_mongo *m);
const char *lumira_mongo_hosts(const struct lumira_mongo *m);

/* Sends {ping: 1} to the admin database. On LUMIRA_OK *rtt_ms is the round trip. On failure
 * returns LUMIRA_ETIMEDOUT (the driver gave up on a timeout; the message says "timeout"),
 * LUMIRA_ECONFIG (the server refused the URI's credentials) or LUMIRA_EUNAVAIL, writes a short
 * message to `err`, and marks the client as failed after a network failure. */
enum lumira_err lumira_mongo_ping(struct lumira_mongo *m, int64_t *rtt_ms, char *err,
                                  size_t errlen) LUMIRA_WARN_UNUSED;

/* Whether a driver error is a network or server-selection failure (the client is then marked
 * as failed) rather than a command error. */
bool lumira_mongo_error_is_network(const bson_error_t *error);

/* Data access helpers for the programs' own collections. */

/* A new handle on collection `name` of the URI's database, borrowed from the client until the
 * caller gives it back with lumira_mongo_collection_release(); NULL when no client can be made
 * (err says why). */
mongoc_collection_t *lumira_mongo_collection(struct lumira_mongo *m, const char *name, char *err,
                                             size_t errlen);

/* Destroys a collection from lumira_mongo_collection() (its cursors first) and gives it back.
 * NULL-safe. */
void lumira_mongo_collection_release(struct lumira_mongo *m, mongoc_collection_t *c);

/* Turns a failed driver call into our error and writes its message to `err`: LUMIRA_EEXIST for a
 * duplicate key (11000), LUMIRA_EUNAVAIL for a network or server-selection failure (the client is
 * marked as failed, never freed here: the caller's cursor and collection still point into it),
 * LUMIRA_EINTERNAL for any other command error. */
enum lumira_err lumira_mongo_fail(struct lumira_mongo *m, const bson_error_t *error, char *err,
                                  size_t errlen);

/* An index: up to three fields (the rest NULL), each 1 or -1. */
struct lumira_mongo_index {
    const char *name;
    const char *fields[3];
    int32_t dirs[3];
    bool unique;
};

/* Makes sure the `n` indexes of `specs` exist on collection `coll`: one listIndexes, then one
 * createIndexes for each index missing (a worker checks them at start: in steady state one round
 * trip per collection, not one per index). One createIndexes per index, because FerretDB 1.24
 * drops the connection on a createIndexes of several indexes that exist already. An index of one
 * of those names with other keys or uniqueness is a LUMIRA_ECONFIG: an operator must look (err
 * says which). */
enum lumira_err lumira_mongo_ensure_indexes(struct lumira_mongo *m, const char *coll,
                                            const struct lumira_mongo_index *specs, size_t n,
                                            char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* lumira_mongo_ensure_indexes() for one TTL index (`spec` on a date field, expireAfterSeconds
 * `expire_after_s`; an index of that name with another expiry is a LUMIRA_ECONFIG too). A server
 * that does not implement TTL indexes (FerretDB 1.24 answers NotImplemented) gets none: that is
 * logged at each worker's start and is no error, and its documents are never removed by the
 * server. Nothing may depend on the removal: a TTL index only keeps a collection small. */
enum lumira_err lumira_mongo_ensure_ttl_index(struct lumira_mongo *m, const char *coll,
                                              const struct lumira_mongo_index *spec,
                                              int32_t expire_after_s, char *err,
                                              size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds the first document of `coll` matching `filter` and copies it into *out (when `out` is
 * not NULL; the caller bson_destroy()s it). LUMIRA_ENOTFOUND when none. */
enum lumira_err lumira_mongo_find_one(struct lumira_mongo *m, const char *coll,
                                      const bson_t *filter, bson_t **out, char *err,
                                      size_t errlen) LUMIRA_WARN_UNUSED;

/* Inserts `doc` into `coll`. LUMIRA_EEXIST when a unique index already holds its key. */
enum lumira_err lumira_mongo_insert(struct lumira_mongo *m, const char *coll, const bson_t *doc,
                                    char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Deletes the first document of `coll` matching `filter`. LUMIRA_ENOTFOUND when none did. */
enum lumira_err lumira_mongo_delete(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                    char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Applies `update` ({$set: ...}, ...) to the first document of `coll` matching `filter`.
 * LUMIRA_ENOTFOUND when none matched. */
enum lumira_err lumira_mongo_update(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                    const bson_t *update, char *err,
                                    size_t errlen) LUMIRA_WARN_UNUSED;

/* findAndModify: applies `update` to the first document of `coll` matching `filter`, inserting
 * one when none matches and `upsert`, and, when `after` is not NULL, copies the document as it
 * is after the update into *after (the caller bson_destroy()s it). One round trip where an
 * update and a read would be two. LUMIRA_ENOTFOUND when nothing matched and nothing was
 * inserted; LUMIRA_EEXIST on a duplicate key. */
enum lumira_err lumira_mongo_find_modify(struct lumira_mongo *m, const char *coll,
                                         const bson_t *filter, const bson_t *update, bool upsert,
                                         bson_t **after, char *err,
                                         size_t errlen) LUMIRA_WARN_UNUSED;

/* Counts the documents of `coll` matching `filter` (NULL: all) into *n. */
enum lumira_err lumira_mongo_count(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                   int64_t *n, char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* Parses an ObjectId given as 24 hex characters (`len` bytes, either case). */
bool lumira_oid_parse(const char *s, size_t len, bson_oid_t *oid);

#endif
