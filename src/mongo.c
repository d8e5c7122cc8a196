#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "mongo.h"
#include "str.h"

#define DEFAULT_DB "lumira"

const struct lumira_mongo_timeouts lumira_mongo_default_timeouts = {2000, 2000, 5000, false};

struct lumira_mongo {
    mongoc_uri_t *uri;
    mongoc_client_t *client; /* NULL until first use */
    bool failed;             /* the client saw a network failure: rebuilt once nothing borrows */
    unsigned borrows;        /* collections handed out and not yet released */
    int64_t call_us;         /* when the first of the borrows began (the metrics' call time) */
    enum lumira_err call_res; /* the call's failure (lumira_mongo_fail), for its outcome */
    char dbname[65];
    char hosts[256];
};

/* libmongoc's own messages: warnings and worse go to our log, the chatter is dropped. */
static void mongoc_log_bridge(mongoc_log_level_t level, const char *domain, const char *message,
                              void *user_data)
{
    (void)user_data;
    if (level > MONGOC_LOG_LEVEL_WARNING)
        return;
    /* Servers without sessions (FerretDB) refuse the driver's goodbye; nothing is wrong. */
    if (strstr(message, "\"endSessions\"") != NULL) {
        lumira_log(LUMIRA_LOG_DEBUG, "mongoc", "%s: %s", domain, message);
        return;
    }
    lumira_log(level <= MONGOC_LOG_LEVEL_CRITICAL ? LUMIRA_LOG_ERROR : LUMIRA_LOG_WARN, "mongoc",
               "%s: %s", domain, message);
}

/* A directory no SASL plugin can be found in. */
#define NO_SASL_PLUGINS "/nonexistent/lumira-no-sasl-plugins"

bool lumira_mongo_uri_wants_gssapi(const char *uri)
{
    return uri != NULL && lumira_str_contains_nocase(uri, strlen(uri), "authMechanism=GSSAPI");
}

void lumira_mongo_sasl_early(char *const *envp)
{
    static char no_plugins[] = NO_SASL_PLUGINS; /* sasl_set_path() copies it */
    const char *uri = NULL;
    bool operator_path = false;
    char *const *e;

    for (e = envp; e != NULL && *e != NULL; e++) {
        if (uri == NULL && strncmp(*e, "MONGODB_URI=", 12) == 0)
            uri = *e + 12;
        else if (strncmp(*e, "SASL_PATH=", 10) == 0)
            operator_path = true;
    }
    if (!operator_path && !lumira_mongo_uri_wants_gssapi(uri))
        (void)sasl_set_path(SASL_PATH_TYPE_PLUGIN, no_plugins);
}

void lumira_mongo_global_init(const char *uri)
{
    if (!lumira_mongo_uri_wants_gssapi(uri) && getenv("SASL_PATH") == NULL)
        (void)setenv("SASL_PATH", NO_SASL_PLUGINS, 0);
    mongoc_init();
    mongoc_log_set_handler(mongoc_log_bridge, NULL);
}

void lumira_mongo_global_cleanup(void)
{
    mongoc_cleanup();
}

static void apply_timeout(mongoc_uri_t *uri, const char *opt, int32_t ms, bool override)
{
    if (ms > 0 && (override || !mongoc_uri_has_option(uri, opt)))
        mongoc_uri_set_option_as_int32(uri, opt, ms);
}

enum lumira_err lumira_mongo_new(const char *uri, const char *appname,
                                 const struct lumira_mongo_timeouts *t, struct lumira_mongo **out,
                                 char *err, size_t errlen)
{
    struct lumira_mongo *m;
    bson_error_t error;
    const mongoc_host_list_t *h;
    const char *db;
    size_t used = 0;

    *out = NULL;
    if (t == NULL)
        t = &lumira_mongo_default_timeouts;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return LUMIRA_ENOMEM;
    m->uri = mongoc_uri_new_with_error(uri, &error);
    if (m->uri == NULL) {
        /* error.message may quote the URI, password included: keep our own words. */
        (void)lumira_str_fmt(err, errlen, "MONGODB_URI is not a valid MongoDB connection string");
        free(m);
        return LUMIRA_ECONFIG;
    }
    apply_timeout(m->uri, MONGOC_URI_CONNECTTIMEOUTMS, t->connect_ms, t->override);
    apply_timeout(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t->select_ms, t->override);
    apply_timeout(m->uri, MONGOC_URI_SOCKETTIMEOUTMS, t->socket_ms, t->override);
    if (appname != NULL && mongoc_uri_get_appname(m->uri) == NULL)
        mongoc_uri_set_appname(m->uri, appname);
    db = mongoc_uri_get_database(m->uri);
    if (lumira_strscpy(m->dbname, db != NULL && db[0] != '\0' ? db : DEFAULT_DB,
                       sizeof(m->dbname)) != LUMIRA_OK) {
        (void)lumira_str_fmt(err, errlen, "MONGODB_URI names a database longer than 64 bytes");
        lumira_mongo_free(m);
        return LUMIRA_ECONFIG;
    }
    for (h = mongoc_uri_get_hosts(m->uri); h != NULL; h = h->next) {
        size_t need = strlen(h->host_and_port) + (used > 0 ? 1 : 0);

        if (used + need >= sizeof(m->hosts)) {
            /* Whole host names only: say that more follow. */
            if (used + 4 < sizeof(m->hosts))
                memcpy(m->hosts + used, ",...", 5);
            break;
        }
        (void)lumira_str_fmt(m->hosts + used, sizeof(m->hosts) - used, "%s%s", used > 0 ? "," : "",
                             h->host_and_port);
        used += need;
    }
    if (m->hosts[0] == '\0')
        (void)lumira_strscpy(m->hosts, "(srv)", sizeof(m->hosts));
    *out = m;
    return LUMIRA_OK;
}

void lumira_mongo_free(struct lumira_mongo *m)
{
    if (m == NULL)
        return;
    if (m->borrows != 0)
        lumira_log(LUMIRA_LOG_ERROR, "mongo", "freed with %u collection(s) still borrowed",
                   m->borrows);
    mongoc_client_destroy(m->client);
    mongoc_uri_destroy(m->uri);
    free(m);
}

/* A client that failed is destroyed only here, once no collection (nor a cursor of one) borrows
 * from it: destroying it under a live cursor is a use after free in libmongoc. */
mongoc_client_t *lumira_mongo_client(struct lumira_mongo *m, char *err, size_t errlen)
{
    bson_error_t error;

    if (m->client != NULL && m->failed && m->borrows == 0) {
        mongoc_client_destroy(m->client);
        m->client = NULL;
    }
    if (m->client != NULL)
        return m->client;
    m->failed = false;
    m->client = mongoc_client_new_from_uri_with_error(m->uri, &error);
    if (m->client == NULL) {
        (void)lumira_str_fmt(err, errlen, "cannot create the MongoDB client: %s", error.message);
        return NULL;
    }
    mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
    return m->client;
}

void lumira_mongo_mark_failed(struct lumira_mongo *m)
{
    if (m->client != NULL)
        m->failed = true;
}

bool lumira_mongo_is_failed(const struct lumira_mongo *m)
{
    return m->failed;
}

unsigned lumira_mongo_borrows(const struct lumira_mongo *m)
{
    return m->borrows;
}

const char *lumira_mongo_dbname(const struct lumira_mongo *m)
{
    return m->dbname;
}

const char *lumira_mongo_hosts(const struct lumira_mongo *m)
{
    return m->hosts;
}

/* The server's AuthenticationFailed. */
#define MONGO_AUTH_FAILED 18

bool lumira_mongo_error_is_network(const bson_error_t *error)
{
    return error->domain == MONGOC_ERROR_STREAM || error->domain == MONGOC_ERROR_SERVER_SELECTION ||
           error->domain == MONGOC_ERROR_CLIENT;
}

enum lumira_err lumira_mongo_ping(struct lumira_mongo *m, int64_t *rtt_ms, char *err, size_t errlen)
{
    mongoc_client_t *client = lumira_mongo_client(m, err, errlen);
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t error;
    int64_t t0 = lumira_mono_ms();
    bool ok;

    if (client == NULL) {
        lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_UNAVAILABLE, 0);
        return LUMIRA_EUNAVAIL;
    }
    BSON_APPEND_INT32(&cmd, "ping", 1);
    ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &error);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (ok) {
        *rtt_ms = lumira_mono_ms() - t0;
        lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_OK, *rtt_ms * 1000);
        return LUMIRA_OK;
    }
    if (lumira_mongo_error_is_network(&error))
        lumira_mongo_mark_failed(m);
    if ((error.domain == MONGOC_ERROR_CLIENT && error.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
        error.code == MONGO_AUTH_FAILED) {
        (void)lumira_str_fmt(err, errlen, "%s", error.message);
        return LUMIRA_ECONFIG;
    }
    if (strstr(error.message, "timeout") != NULL || strstr(error.message, "timed out") != NULL) {
        (void)lumira_str_fmt(err, errlen, "ping timeout after %lldms (%s)",
                             (long long)(lumira_mono_ms() - t0), error.message);
        lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_TIMEOUT,
                            (lumira_mono_ms() - t0) * 1000);
        return LUMIRA_ETIMEDOUT;
    }
    (void)lumira_str_fmt(err, errlen, "%s", error.message);
    lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_UNAVAILABLE,
                        (lumira_mono_ms() - t0) * 1000);
    return LUMIRA_EUNAVAIL;
}

mongoc_collection_t *lumira_mongo_collection(struct lumira_mongo *m, const char *name, char *err,
                                             size_t errlen)
{
    mongoc_client_t *client = lumira_mongo_client(m, err, errlen);
    mongoc_collection_t *c;

    if (client == NULL) {
        lumira_metrics_call(LUMIRA_METRICS_DB, LUMIRA_METRICS_UNAVAILABLE, 0);
        return NULL;
    }
    c = mongoc_client_get_collection(client, m->dbname, name);
    if (c == NULL) {
        (void)lumira_str_fmt(err, errlen, "out of memory");
        return NULL;
    }
    /* A database call, for the metrics, runs from the first borrow to the last release. */
    if (m->borrows++ == 0) {
        m->call_us = lumira_mono_us();
        m->call_res = LUMIRA_OK;
    }
    return c;
}

void lumira_mongo_collection_release(struct lumira_mongo *m, mongoc_collection_t *c)
{
    if (c == NULL)
        return;
    mongoc_collection_destroy(c);
    if (--m->borrows == 0)
        lumira_metrics_call(LUMIRA_METRICS_DB, lumira_metrics_outcome_of(m->call_res),
                            lumira_mono_us() - m->call_us);
}

/* Server error codes that mean "an index with this name or these keys differs". */
#define MONGO_INDEX_OPTIONS_CONFLICT 85
#define MONGO_INDEX_KEY_SPECS_CONFLICT 86
#define MONGO_DUPLICATE_KEY 11000
/* What a server answers for a feature it lacks (FerretDB: "expireAfterSeconds"). */
#define MONGO_NOT_IMPLEMENTED 238

enum lumira_err lumira_mongo_fail(struct lumira_mongo *m, const bson_error_t *error, char *err,
                                  size_t errlen)
{
    (void)lumira_str_fmt(err, errlen, "%s", error->message);
    if (error->code == MONGO_DUPLICATE_KEY)
        return m->call_res = LUMIRA_EEXIST;
    if (lumira_mongo_error_is_network(error)) {
        lumira_mongo_mark_failed(m);
        return m->call_res = LUMIRA_EUNAVAIL;
    }
    return m->call_res = LUMIRA_EINTERNAL;
}

/* Creates one index (createIndexes is idempotent for the same keys and options). */
/* `ttl` < 0: no expiry; else expireAfterSeconds. */
static enum lumira_err create_index(struct lumira_mongo *m, mongoc_client_t *client,
                                    const char *coll, const struct lumira_mongo_index *spec,
                                    int64_t ttl, char *err, size_t errlen)
{
    bson_t cmd = BSON_INITIALIZER, indexes, index, keys, reply;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;
    int64_t t0 = lumira_mono_us();
    size_t f;

    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &keys);
    for (f = 0; f < 3 && spec->fields[f] != NULL; f++)
        BSON_APPEND_INT32(&keys, spec->fields[f], spec->dirs[f]);
    bson_append_document_end(&index, &keys);
    BSON_APPEND_UTF8(&index, "name", spec->name);
    if (spec->unique)
        BSON_APPEND_BOOL(&index, "unique", true);
    if (ttl >= 0)
        BSON_APPEND_INT64(&index, "expireAfterSeconds", ttl);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    if (!mongoc_client_write_command_with_opts(client, m->dbname, &cmd, NULL, &reply, &error)) {
        if (ttl >= 0 && error.code == MONGO_NOT_IMPLEMENTED) {
            /* No TTL on this server: documents stay, which only costs space. */
            lumira_log(LUMIRA_LOG_INFO, "db",
                       "the database does not implement TTL indexes: %s.%s is not made and its "
                       "documents are not expired",
                       coll, spec->name);
        } else if (error.code == MONGO_INDEX_OPTIONS_CONFLICT ||
            error.code == MONGO_INDEX_KEY_SPECS_CONFLICT) {
            (void)lumira_str_fmt(err, errlen, "index %s.%s exists with other options: %s", coll,
                                 spec->name, error.message);
            res = LUMIRA_ECONFIG;
        } else {
            res = lumira_mongo_fail(m, &error, err, errlen);
        }
    }
    bson_destroy(&cmd);
    bson_destroy(&reply);
    lumira_metrics_call(LUMIRA_METRICS_DB,
                        res == LUMIRA_ECONFIG ? LUMIRA_METRICS_ERROR
                                              : lumira_metrics_outcome_of(res),
                        lumira_mono_us() - t0);
    return res;
}

/* Whether the index document `info` (listIndexes) has the keys, in order, the uniqueness and,
 * for a TTL spec, the expiry of `spec`. Directions may be stored as int32, int64 or double. */
static bool index_matches(const bson_t *info, const struct lumira_mongo_index *spec, int64_t ttl)
{
    bson_iter_t it, key;
    size_t f = 0;
    bool unique = false;

    if (bson_iter_init_find(&it, info, "unique"))
        unique = bson_iter_as_bool(&it);
    if (ttl >= 0 && (!bson_iter_init_find(&it, info, "expireAfterSeconds") ||
                     bson_iter_as_int64(&it) != ttl))
        return false;
    if (unique != spec->unique || !bson_iter_init_find(&it, info, "key") ||
        !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &key))
        return false;
    while (bson_iter_next(&key)) {
        if (f >= 3 || spec->fields[f] == NULL ||
            strcmp(bson_iter_key(&key), spec->fields[f]) != 0 ||
            bson_iter_as_int64(&key) != spec->dirs[f])
            return false;
        f++;
    }
    return f == 3 || spec->fields[f] == NULL;
}

/* Server error code of listIndexes on a collection that does not exist yet. */
#define MONGO_NAMESPACE_NOT_FOUND 26

/* Both ensure functions: every spec with expiry `ttl` (< 0: none). */
static enum lumira_err ensure(struct lumira_mongo *m, const char *coll,
                              const struct lumira_mongo_index *specs, size_t n, int64_t ttl,
                              char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    mongoc_cursor_t *cur;
    const bson_t *info;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;
    bool *found;
    size_t i;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    found = calloc(n > 0 ? n : 1, sizeof(*found));
    if (found == NULL) {
        lumira_mongo_collection_release(m, c);
        return LUMIRA_ENOMEM;
    }
    cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    while (res == LUMIRA_OK && mongoc_cursor_next(cur, &info)) {
        bson_iter_t it;
        const char *name;

        if (!bson_iter_init_find(&it, info, "name") || !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        name = bson_iter_utf8(&it, NULL);
        for (i = 0; i < n; i++) {
            if (strcmp(name, specs[i].name) != 0)
                continue;
            found[i] = true;
            if (!index_matches(info, &specs[i], ttl)) {
                (void)lumira_str_fmt(err, errlen, "index %s.%s exists with other keys or options",
                                     coll, name);
                res = LUMIRA_ECONFIG;
            }
        }
    }
    if (res == LUMIRA_OK && mongoc_cursor_error(cur, &error) &&
        error.code != MONGO_NAMESPACE_NOT_FOUND)
        res = lumira_mongo_fail(m, &error, err, errlen);
    mongoc_cursor_destroy(cur);
    lumira_mongo_collection_release(m, c);
    for (i = 0; res == LUMIRA_OK && i < n; i++) {
        mongoc_client_t *client;

        if (found[i])
            continue;
        client = lumira_mongo_client(m, err, errlen);
        res = client != NULL ? create_index(m, client, coll, &specs[i], ttl, err, errlen)
                             : LUMIRA_EUNAVAIL;
    }
    free(found);
    return res;
}

enum lumira_err lumira_mongo_ensure_indexes(struct lumira_mongo *m, const char *coll,
                                            const struct lumira_mongo_index *specs, size_t n,
                                            char *err, size_t errlen)
{
    return ensure(m, coll, specs, n, -1, err, errlen);
}

enum lumira_err lumira_mongo_ensure_ttl_index(struct lumira_mongo *m, const char *coll,
                                              const struct lumira_mongo_index *spec,
                                              int32_t expire_after_s, char *err, size_t errlen)
{
    return ensure(m, coll, spec, 1, expire_after_s < 0 ? 0 : expire_after_s, err, errlen);
}

enum lumira_err lumira_mongo_count(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                   int64_t *n, char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    bson_t empty = BSON_INITIALIZER;
    bson_error_t error;
    int64_t count;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    count = mongoc_collection_count_documents(c, filter != NULL ? filter : &empty, NULL, NULL, NULL,
                                              &error);
    lumira_mongo_collection_release(m, c);
    if (count < 0)
        return lumira_mongo_fail(m, &error, err, errlen);
    *n = count;
    return LUMIRA_OK;
}

bool lumira_oid_parse(const char *s, size_t len, bson_oid_t *oid)
{
    char hex[25];
    size_t i;

    if (len != 24)
        return false;
    for (i = 0; i < 24; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
        hex[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    hex[24] = '\0';
    bson_oid_init_from_string(oid, hex);
    return true;
}

enum lumira_err lumira_mongo_find_one(struct lumira_mongo *m, const char *coll,
                                      const bson_t *filter, bson_t **out, char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    mongoc_cursor_t *cur;
    const bson_t *doc;
    bson_t opts = BSON_INITIALIZER;
    bson_error_t error;
    enum lumira_err res = LUMIRA_ENOTFOUND;

    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    BSON_APPEND_INT64(&opts, "limit", 1);
    cur = mongoc_collection_find_with_opts(c, filter, &opts, NULL);
    if (mongoc_cursor_next(cur, &doc)) {
        res = LUMIRA_OK;
        if (out != NULL && (*out = bson_copy(doc)) == NULL)
            res = LUMIRA_ENOMEM;
    } else if (mongoc_cursor_error(cur, &error)) {
        res = lumira_mongo_fail(m, &error, err, errlen);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    lumira_mongo_collection_release(m, c);
    return res;
}

enum lumira_err lumira_mongo_insert(struct lumira_mongo *m, const char *coll, const bson_t *doc,
                                    char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    if (!mongoc_collection_insert_one(c, doc, NULL, NULL, &error))
        res = lumira_mongo_fail(m, &error, err, errlen);
    lumira_mongo_collection_release(m, c);
    return res;
}

enum lumira_err lumira_mongo_delete(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                    char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    bson_t reply;
    bson_iter_t it;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    if (!mongoc_collection_delete_one(c, filter, NULL, &reply, &error))
        res = lumira_mongo_fail(m, &error, err, errlen);
    else if (!bson_iter_init_find(&it, &reply, "deletedCount") || bson_iter_as_int64(&it) < 1)
        res = LUMIRA_ENOTFOUND;
    bson_destroy(&reply);
    lumira_mongo_collection_release(m, c);
    return res;
}

enum lumira_err lumira_mongo_update(struct lumira_mongo *m, const char *coll, const bson_t *filter,
                                    const bson_t *update, char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    bson_t reply;
    bson_iter_t it;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    if (!mongoc_collection_update_one(c, filter, update, NULL, &reply, &error))
        res = lumira_mongo_fail(m, &error, err, errlen);
    else if (!bson_iter_init_find(&it, &reply, "matchedCount") || bson_iter_as_int64(&it) < 1)
        res = LUMIRA_ENOTFOUND;
    bson_destroy(&reply);
    lumira_mongo_collection_release(m, c);
    return res;
}

enum lumira_err lumira_mongo_find_modify(struct lumira_mongo *m, const char *coll,
                                         const bson_t *filter, const bson_t *update, bool upsert,
                                         bson_t **after, char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, coll, err, errlen);
    mongoc_find_and_modify_opts_t *opts;
    bson_t reply;
    bson_iter_t it;
    bson_error_t error;
    enum lumira_err res = LUMIRA_ENOTFOUND;

    if (after != NULL)
        *after = NULL;
    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    opts = mongoc_find_and_modify_opts_new();
    if (opts == NULL || !mongoc_find_and_modify_opts_set_update(opts, update) ||
        !mongoc_find_and_modify_opts_set_flags(
            opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW |
                      (upsert ? MONGOC_FIND_AND_MODIFY_UPSERT : MONGOC_FIND_AND_MODIFY_NONE))) {
        mongoc_find_and_modify_opts_destroy(opts);
        lumira_mongo_collection_release(m, c);
        (void)lumira_str_fmt(err, errlen, "out of memory");
        return LUMIRA_ENOMEM;
    }
    if (!mongoc_collection_find_and_modify_with_opts(c, filter, opts, &reply, &error)) {
        res = lumira_mongo_fail(m, &error, err, errlen);
    } else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;

        res = LUMIRA_OK;
        bson_iter_document(&it, &len, &data);
        if (after != NULL && (*after = bson_new_from_data(data, len)) == NULL) {
            (void)lumira_str_fmt(err, errlen, "out of memory");
            res = LUMIRA_ENOMEM;
        }
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(opts);
    lumira_mongo_collection_release(m, c);
    return res;
}
