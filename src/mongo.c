#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mongo.h"
#include "str.h"

#define DEFAULT_DB "lumira"

const struct lumira_mongo_timeouts lumira_mongo_default_timeouts = {2000, 2000, 5000, false};

struct lumira_mongo {
    mongoc_uri_t *uri;
    mongoc_client_t *client; /* NULL until first use and after a reset */
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
    lumira_log(level <= MONGOC_LOG_LEVEL_CRITICAL ? LUMIRA_LOG_ERROR : LUMIRA_LOG_WARN, "mongoc",
               "%s: %s", domain, message);
}

void lumira_mongo_global_init(void)
{
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
    lumira_mongo_reset(m);
    mongoc_uri_destroy(m->uri);
    free(m);
}

mongoc_client_t *lumira_mongo_client(struct lumira_mongo *m, char *err, size_t errlen)
{
    bson_error_t error;

    if (m->client != NULL)
        return m->client;
    m->client = mongoc_client_new_from_uri_with_error(m->uri, &error);
    if (m->client == NULL) {
        (void)lumira_str_fmt(err, errlen, "cannot create the MongoDB client: %s", error.message);
        return NULL;
    }
    mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
    return m->client;
}

void lumira_mongo_reset(struct lumira_mongo *m)
{
    if (m->client != NULL) {
        mongoc_client_destroy(m->client);
        m->client = NULL;
    }
}

const char *lumira_mongo_dbname(const struct lumira_mongo *m)
{
    return m->dbname;
}

const char *lumira_mongo_hosts(const struct lumira_mongo *m)
{
    return m->hosts;
}

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

    if (client == NULL)
        return LUMIRA_EUNAVAIL;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &error);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (ok) {
        *rtt_ms = lumira_mono_ms() - t0;
        return LUMIRA_OK;
    }
    if (lumira_mongo_error_is_network(&error))
        lumira_mongo_reset(m);
    if (strstr(error.message, "timeout") != NULL || strstr(error.message, "timed out") != NULL) {
        (void)lumira_str_fmt(err, errlen, "ping timeout after %lldms (%s)",
                             (long long)(lumira_mono_ms() - t0), error.message);
        return LUMIRA_ETIMEDOUT;
    }
    (void)lumira_str_fmt(err, errlen, "%s", error.message);
    return LUMIRA_EUNAVAIL;
}
