/* lumira-health: GET /api/health (API.md "Health"): cheap liveness for load balancers. */
#include <stdlib.h>

#include "autoconfig.h"
#include "app.h"
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

static void handle_health(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct json_object *root, *services, *memory;
    struct lumira_meminfo mi;
    struct lumira_memuse mu;
    bool ok = true, db = database_connected(c->probe);
    bool stripe = lumira_secret_usable(c->cfg->stripe_secret_key);
    const char *status = !db ? "unhealthy" : !stripe ? "degraded" : "healthy";

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
    if (lumira_sysinfo_meminfo(NULL, &mi) == LUMIRA_OK) {
        lumira_sysinfo_memuse(&mi, &mu);
        lumira_json_put_int(memory, "used", (int64_t)mu.used_mb, &ok);
        lumira_json_put_int(memory, "total", (int64_t)mu.total_mb, &ok);
        lumira_json_put_int(memory, "percentage", mu.percentage, &ok);
    }
    lumira_json_put(root, "memory", memory, &ok);
    if (!ok) {
        json_object_put(root);
        root = NULL;
    }
    lumira_resp_json(resp, req, db ? 200 : 503, root);
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
        LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

static const struct lumira_route routes[] = {
    {"GET", "/api/health", handle_health},
};

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL};
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    lumira_app_probe(PROG, &cfg, cfg.ready_mongo_timeout_ms, &c.probe);
    status = lumira_serve(&app);
    lumira_app_shutdown(&cfg, c.probe);
    return status;
}
