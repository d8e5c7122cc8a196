/* lumira-health: GET /api/health (API.md "Health"): cheap liveness for load balancers; and
 * GET /api/health/deep, for admins, with the database's counts. */
#include <stdlib.h>

#include "autoconfig.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "json.h"
#include "server.h"
#include "stripe.h"
#include "sysinfo.h"

#define PROG "lumira-health"
/* How old the last database answer may be before a new ping is made: no request in steady
 * state waits for the database, and a worker pings at most this often. */
#define DB_STATE_MAX_AGE_MS 5000
/* Longest a health request waits for a fresh ping. */
#define DB_WAIT_MAX_MS 1000

struct ctx {
    const struct lumira_config *cfg;
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

/* The body of GET /api/health; *db_ok tells whether the database is connected. NULL when
 * memory ran out. */
static struct json_object *health_body(struct ctx *c, bool *db_ok)
{
    struct json_object *root, *services, *memory;
    struct lumira_meminfo mi;
    struct lumira_memuse mu;
    bool ok = true, db = database_connected(c->probe);
    bool stripe = lumira_secret_usable(c->cfg->stripe_secret_key);
    const char *status = !db ? "unhealthy" : !stripe ? "degraded" : "healthy";

    *db_ok = db;
    root = lumira_json_new_object(&ok);
    services = lumira_json_new_object(&ok);
    memory = lumira_json_new_object(&ok);
    lumira_json_put_str(root, "status", status, &ok);
    lumira_json_put_time(root, "timestamp", lumira_wall_ms(), &ok);
    lumira_json_put_fixed(root, "uptime", lumira_sysinfo_uptime_s(), 1, &ok);
    lumira_json_put_str(root, "version", PACKAGE_VERSION, &ok);
    lumira_json_put_str(root, "commitSha",
                        c->cfg->commit_sha != NULL ? c->cfg->commit_sha : "unknown", &ok);
    lumira_json_put_str(root, "environment", lumira_env_name(c->cfg->env), &ok);
    lumira_json_put_str(services, "database", db ? "connected" : "disconnected", &ok);
    lumira_json_put_str(services, "stripe", stripe ? "configured" : "missing", &ok);
    lumira_json_put(root, "services", services, &ok);
    if (lumira_sysinfo_meminfo_cached(NULL, LUMIRA_MEMINFO_MAX_AGE_MS, &mi) == LUMIRA_OK) {
        lumira_sysinfo_memuse(&mi, &mu);
        lumira_json_put_int(memory, "used", (int64_t)mu.used_mb, &ok);
        lumira_json_put_int(memory, "total", (int64_t)mu.total_mb, &ok);
        lumira_json_put_int(memory, "percentage", mu.percentage, &ok);
    }
    lumira_json_put(root, "memory", memory, &ok);
    return lumira_json_done(root, ok);
}

/* Sends `root` (taken) with the no-cache header of every health answer. */
static void reply(struct lumira_req *req, struct lumira_resp *resp, int status,
                  struct json_object *root)
{
    lumira_resp_json(resp, req, status, root);
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
        LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

static void handle_health(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    bool db;
    struct json_object *root = health_body(ctx, &db);

    reply(req, resp, db ? 200 : 503, root);
}

/* What GET /api/health/deep counts (API.md "Health"). */
static const char *const count_names[] = {"users", "orders", "ordersLast24h", "awaitingReview"};

/* Adds "database": {"responseTime"} and "counts" to `root`, measured on the request's own
 * client (the probe's belongs to its thread). Returns false when the database failed. */
static bool add_deep(struct ctx *c, struct json_object *root, bool *ok)
{
    struct json_object *database = lumira_json_new_object(ok), *counts;
    char err[LUMIRA_MAX_ERRMSG];
    int64_t rtt, n, since = lumira_wall_ms() - 24 * 3600 * 1000LL;
    bson_t recent = BSON_INITIALIZER, review = BSON_INITIALIZER, gte;
    const bson_t *filters[] = {NULL, NULL, &recent, &review};
    const char *colls[] = {"users", "orders", "orders", "orders"};
    enum lumira_err res = LUMIRA_EUNAVAIL;
    size_t i;

    BSON_APPEND_DOCUMENT_BEGIN(&recent, "createdAt", &gte);
    BSON_APPEND_DATE_TIME(&gte, "$gte", since);
    bson_append_document_end(&recent, &gte);
    BSON_APPEND_UTF8(&review, "expertReview.status", "pending");
    counts = lumira_json_new_object(ok);
    if (c->db != NULL && (res = lumira_mongo_ping(c->db, &rtt, err, sizeof(err))) == LUMIRA_OK) {
        lumira_json_put_int(database, "responseTime", rtt, ok);
        for (i = 0; i < sizeof(count_names) / sizeof(count_names[0]) && res == LUMIRA_OK; i++)
            if ((res = lumira_mongo_count(c->db, colls[i], filters[i], &n, err, sizeof(err))) ==
                LUMIRA_OK)
                lumira_json_put_int(counts, count_names[i], n, ok);
    }
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "health", "deep check: database failed: %s",
                   c->db != NULL ? err : "MONGODB_URI is not set");
        lumira_json_put_str(database, "error", lumira_strerror(res), ok);
    }
    lumira_json_put(root, "database", database, ok);
    lumira_json_put(root, "counts", counts, ok);
    bson_destroy(&recent);
    bson_destroy(&review);
    return res == LUMIRA_OK;
}

static void handle_deep(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_jwt_claims admin;
    struct json_object *root;
    bool db, ok = true;

    if (!lumira_auth_require(req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_ADMIN, &admin))
        return;
    root = health_body(c, &db);
    if (root != NULL)
        db = add_deep(c, root, &ok) && db;
    reply(req, resp, db ? 200 : 503, lumira_json_done(root, ok));
}

static const struct lumira_route routes[] = {
    {"GET", "/api/health", handle_health},
    {"GET", "/api/health/deep", handle_deep},
};

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL, NULL};
    char err[LUMIRA_MAX_ERRMSG];
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
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
