/* lumira-health: GET /api/health (API.md "Health"): cheap liveness for load balancers;
 * GET /api/health/deep, for admins, with the database's counts; and GET /api/metrics, the
 * Prometheus metrics of every group (metrics.h), which nginx serves only to the operator's
 * addresses. */
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "app.h"
#include "clock.h"
#include "experts.h"
#include "json.h"
#include "metrics.h"
#include "server.h"
#include "str.h"
#include "sysinfo.h"
#include "mongo.h"

#define PROG "lumira-health"
/* How old the last database answer may be before a new ping is made: no request in steady
 * state waits for the database, and a worker pings at most this often. */
#define DB_STATE_MAX_AGE_MS 5000
/* Longest a health request waits for a fresh ping. */
#define DB_WAIT_MAX_MS 1000

/* The most groups /api/metrics reports (LUMIRA_GROUPS). */
#define MAX_GROUPS 16

struct ctx {
    const struct lumira_config *cfg;
    char groups_text[256];
    const char *groups[MAX_GROUPS]; /* into groups_text */
    size_t ngroups;
    struct lumira_probe *probe; /* NULL without MONGODB_URI */
    struct lumira_mongo *db;    /* the deep check's own client; NULL without MONGODB_URI */
};

/* The driver's view of the database, refreshed at most every DB_STATE_MAX_AGE_MS. */
static bool database_connected(struct lumira_probe *probe)
{
    struct lumira_probe_result r;
    uint64_t ticket;
    int64_t now = lumira_mono_ms();

    if (probe == NULL)
        return false;
    lumira_probe_last(probe, &r);
    if (r.done_ms != 0 && now - r.done_ms < DB_STATE_MAX_AGE_MS)
        return r.err == LUMIRA_OK;
    if (lumira_probe_start(probe, &ticket) != LUMIRA_OK)
        return false;
    if (lumira_probe_wait(probe, ticket, now + DB_WAIT_MAX_MS, &r) != LUMIRA_OK)
        return false;
    if (r.err != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_WARN, "health", "database ping failed: %s", r.msg);
    return r.err == LUMIRA_OK;
}

/* Writes the members of GET /api/health into the object open in `w`; returns whether the
 * database is connected. The body is written in place (jsonw.h): this is the load balancers'
 * probe, the hottest route there is. */
static bool health_members(struct ctx *c, struct lumira_jw *w)
{
    struct lumira_meminfo mi;
    struct lumira_memuse mu;
    bool db = database_connected(c->probe);
    bool stripe = lumira_secret_usable(c->cfg->stripe_secret_key);

    lumira_jw_str(w, "status", !db ? "unhealthy" : !stripe ? "degraded" : "healthy");
    lumira_jw_time(w, "timestamp", lumira_wall_ms());
    lumira_jw_decimal(w, "uptime", lumira_sysinfo_uptime_ms() / 100, 1); /* 5321.4 s */
    lumira_jw_str(w, "version", PACKAGE_VERSION);
    lumira_jw_str(w, "commitSha", c->cfg->commit_sha != NULL ? c->cfg->commit_sha : "unknown");
    lumira_jw_str(w, "environment", lumira_env_name(c->cfg->env));
    lumira_jw_begin(w, "services");
    lumira_jw_str(w, "database", db ? "connected" : "disconnected");
    lumira_jw_str(w, "stripe", stripe ? "configured" : "missing");
    lumira_jw_end(w);
    lumira_jw_begin(w, "memory");
    if (lumira_sysinfo_meminfo_cached(NULL, LUMIRA_MEMINFO_MAX_AGE_MS, &mi) == LUMIRA_OK) {
        lumira_sysinfo_memuse(&mi, &mu);
        lumira_jw_int(w, "used", (int64_t)mu.used_mb);
        lumira_jw_int(w, "total", (int64_t)mu.total_mb);
        lumira_jw_int(w, "percentage", mu.percentage);
    }
    lumira_jw_end(w);
    return db;
}

/* Ends a health answer with its status and the no-cache header of every health answer. */
static void reply(struct lumira_req *req, struct lumira_resp *resp, int status, struct lumira_jw *w)
{
    lumira_jw_end(w);
    lumira_resp_jw_end(resp, req, status, w);
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
        LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

static void handle_health(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct lumira_jw w;
    bool db;

    lumira_resp_jw_begin(resp, &w);
    lumira_jw_begin(&w, NULL);
    db = health_members(ctx, &w);
    reply(req, resp, db ? 200 : 503, &w);
}

/* What GET /api/health/deep counts (API.md "Health"). */
static const char *const count_names[] = {"users", "orders", "ordersLast24h", "awaitingReview"};
#define NCOUNTS (sizeof(count_names) / sizeof(count_names[0]))

/* The deep check, measured on the request's own client (the probe's belongs to its thread):
 * the ping's round trip and the counts, as far as the database answered. */
struct deep {
    enum lumira_err res; /* LUMIRA_OK when everything was measured */
    bool pinged;         /* the ping answered: rtt is its round trip */
    int64_t rtt;
    size_t ncounts; /* counts[0..ncounts-1] were measured */
    int64_t counts[NCOUNTS];
};

static void measure_deep(struct ctx *c, struct deep *d)
{
    char err[LUMIRA_MAX_ERRMSG];
    int64_t since = lumira_wall_ms() - 24 * 3600 * 1000LL;
    bson_t recent = BSON_INITIALIZER, review = BSON_INITIALIZER, gte;
    const bson_t *filters[] = {NULL, NULL, &recent, &review};
    const char *colls[] = {"users", "orders", "orders", "orders"};

    d->res = LUMIRA_EUNAVAIL;
    d->pinged = false;
    d->ncounts = 0;
    BSON_APPEND_DOCUMENT_BEGIN(&recent, "createdAt", &gte);
    BSON_APPEND_DATE_TIME(&gte, "$gte", since);
    bson_append_document_end(&recent, &gte);
    BSON_APPEND_UTF8(&review, "expertReview.status", "pending");
    if (c->db != NULL &&
        (d->res = lumira_mongo_ping(c->db, &d->rtt, err, sizeof(err))) == LUMIRA_OK) {
        d->pinged = true;
        while (d->ncounts < NCOUNTS &&
               (d->res = lumira_mongo_count(c->db, colls[d->ncounts], filters[d->ncounts],
                                            &d->counts[d->ncounts], err, sizeof(err))) == LUMIRA_OK)
            d->ncounts++;
    }
    if (d->res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_WARN, "health", "deep check: database failed: %s",
                   c->db != NULL ? err : "MONGODB_URI is not set");
    bson_destroy(&recent);
    bson_destroy(&review);
}

static void handle_deep(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert admin;
    struct lumira_jw w;
    struct deep d;
    bool db;
    size_t i;

    /* An active admin by the stored account, looked up on the deep check's own client. */
    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_ADMIN, &admin))
        return;
    measure_deep(c, &d);
    lumira_resp_jw_begin(resp, &w);
    lumira_jw_begin(&w, NULL);
    db = health_members(c, &w);
    lumira_jw_begin(&w, "database");
    if (d.pinged)
        lumira_jw_int(&w, "responseTime", d.rtt);
    if (d.res != LUMIRA_OK)
        lumira_jw_str(&w, "error", lumira_strerror(d.res));
    lumira_jw_end(&w);
    lumira_jw_begin(&w, "counts");
    for (i = 0; i < d.ncounts; i++)
        lumira_jw_int(&w, count_names[i], d.counts[i]);
    lumira_jw_end(&w);
    reply(req, resp, db && d.res == LUMIRA_OK ? 200 : 503, &w);
}

/* The text exposition of every group's scoreboard. */
static void handle_metrics(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    enum lumira_err res;

    lumira_buf_reset(&resp->body);
    res = lumira_metrics_render(c->cfg->runtime_dir, c->groups, c->ngroups, &resp->body);
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "metrics", "cannot render the metrics: %s",
                   lumira_strerror(res));
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (lumira_resp_header(resp, "Cache-Control", "no-store") != LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

/* Splits LUMIRA_GROUPS (names separated by spaces or commas) into c->groups. Exits with
 * LUMIRA_EXIT_CONFIG on a name that is not a group name, or too many. */
static void parse_groups(struct ctx *c, const char *text)
{
    char *save = NULL, *tok, path[320];

    if (lumira_strscpy(c->groups_text, text, sizeof(c->groups_text)) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "LUMIRA_GROUPS is too long; exiting");
        exit(LUMIRA_EXIT_CONFIG);
    }
    for (tok = strtok_r(c->groups_text, " ,", &save); tok != NULL;
         tok = strtok_r(NULL, " ,", &save)) {
        if (c->ngroups == MAX_GROUPS || !lumira_metrics_path(".", tok, path, sizeof(path))) {
            lumira_log(LUMIRA_LOG_ERROR, "config",
                       "LUMIRA_GROUPS must be at most %d names of [a-z0-9_-]; exiting", MAX_GROUPS);
            exit(LUMIRA_EXIT_CONFIG);
        }
        c->groups[c->ngroups++] = tok;
    }
}

static const struct lumira_route routes[] = {
    {"GET", "/api/health", handle_health},
    {"GET", "/api/health/deep", handle_deep},
    {"GET", "/api/metrics", handle_metrics},
};

/* No Cyrus SASL plugin loaded unless GSSAPI is asked for (mongo.h). */
LUMIRA_MONGO_SASL_EARLY();

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {.cfg = &cfg};
    char err[LUMIRA_MAX_ERRMSG];
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    parse_groups(&c, cfg.groups);
    lumira_app_probe(PROG, &cfg, cfg.ready_mongo_timeout_ms, &c.probe);
    /* The URI parsed for the probe already: this cannot fail but for memory. */
    if (c.probe != NULL &&
        lumira_mongo_new(cfg.mongodb_uri, PROG, NULL, &c.db, err, sizeof(err)) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "app", "cannot prepare the database client: %s", err);
        return 1;
    }
    if (!lumira_secret_usable(cfg.jwt_secret))
        lumira_log(LUMIRA_LOG_WARN, "config",
                   "JWT_SECRET is not set: /api/health/deep answers 503 until it is");
    status = lumira_serve(&app);
    lumira_mongo_free(c.db);
    lumira_app_shutdown(&cfg, c.probe);
    return status;
}
