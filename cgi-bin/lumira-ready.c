/* lumira-ready: GET /api/ready and /api/ready/verbose (API.md "Readiness"). */
#include <stdlib.h>
#include <unistd.h>

#include "autoconfig.h"
#include "app.h"
#include "clock.h"
#include "json.h"
#include "ready.h"
#include "server.h"
#include "sysinfo.h"
#include "mongo.h"

#define PROG "lumira-ready"

struct ctx {
    const struct lumira_config *cfg;
    struct lumira_probe *probe; /* NULL without MONGODB_URI */
    struct lumira_stripe *stripe;
    /* This worker's last complete result, reused for READY_CACHE_MS (API.md "Readiness"): the
     * public /api/ready would otherwise cost a ping and a keyed Stripe call per request. */
    bool cached;
    struct lumira_ready_report last;
};

/* A service's part of the body. In production its error is only the kind of failure (the
 * detail, with host names, ports and driver text, is in the log); elsewhere the detail. */
static struct json_object *check_json(const struct lumira_ready_check *c, const char *okname,
                                      bool generic, bool *ok)
{
    struct json_object *o = lumira_json_new_object(ok);

    lumira_json_put_bool(o, okname, c->ok, ok);
    lumira_json_put_int(o, "responseTime", c->elapsed_ms, ok);
    if (!c->ok)
        lumira_json_put_str(o, "error", generic ? c->generic : c->error, ok);
    return o;
}

/* The result to answer with: this worker's last complete one while it is younger than
 * READY_CACHE_MS (never for `verbose`, which always checks afresh), else a new check, kept when
 * complete. Returns whether the checks ran now. */
static bool run_checks(struct ctx *c, bool verbose, struct lumira_ready_report *rep)
{
    const struct lumira_ready_limits limits = {
        c->cfg->ready_timeout_ms, c->cfg->ready_mongo_timeout_ms, c->cfg->ready_stripe_timeout_ms};

    if (!verbose && c->cached && c->cfg->ready_cache_ms > 0 &&
        lumira_mono_ms() - c->last.mono_ms < c->cfg->ready_cache_ms) {
        *rep = c->last;
        return false;
    }
    lumira_ready_run(c->probe, c->stripe, &limits, rep);
    c->cached = lumira_ready_complete(rep);
    if (c->cached)
        c->last = *rep;
    return true;
}

static struct json_object *memory_json(bool *ok)
{
    struct json_object *o = lumira_json_new_object(ok);
    struct lumira_meminfo mi;
    struct lumira_memuse mu;

    if (lumira_sysinfo_meminfo_cached(NULL, LUMIRA_MEMINFO_MAX_AGE_MS, &mi) != LUMIRA_OK) {
        lumira_json_put_str(o, "status", "unknown", ok);
        return o;
    }
    lumira_sysinfo_memuse(&mi, &mu);
    lumira_json_put_str(o, "status", mu.status, ok);
    lumira_json_put_int(o, "used", (int64_t)mu.used_mb, ok);
    lumira_json_put_int(o, "free", (int64_t)mu.free_mb, ok);
    lumira_json_put_int(o, "percentage", mu.percentage, ok);
    return o;
}

/* What only the verbose form adds to the services: where they are, never a secret. */
static void add_verbose_services(struct json_object *mongo, struct json_object *stripe,
                                 const struct ctx *c, bool *ok)
{
    lumira_json_put_str(mongo, "host", c->probe != NULL ? lumira_probe_hosts(c->probe) : NULL, ok);
    lumira_json_put_str(mongo, "database", c->probe != NULL ? lumira_probe_dbname(c->probe) : NULL,
                        ok);
    lumira_json_put_bool(stripe, "keyConfigured", lumira_stripe_configured(c->stripe), ok);
    lumira_json_put_str(stripe, "mode", lumira_stripe_mode(c->stripe), ok);
}

/* What only the verbose form adds at the top: the process and the timeouts in force. */
static void add_verbose_process(struct json_object *root, const struct ctx *c, bool *ok)
{
    struct json_object *proc = lumira_json_new_object(ok), *tmo = lumira_json_new_object(ok);
    uint64_t rss_kb = 0;

    lumira_json_put_int(proc, "pid", (int64_t)getpid(), ok);
    if (lumira_sysinfo_rss_kb(&rss_kb) == LUMIRA_OK)
        lumira_json_put_fixed(proc, "rss", (double)rss_kb / 1024.0, 1, ok);
    lumira_json_put_time(proc, "startedAt", lumira_sysinfo_started_ms(), ok);
    lumira_json_put(root, "process", proc, ok);
    lumira_json_put_int(tmo, "total", c->cfg->ready_timeout_ms, ok);
    lumira_json_put_int(tmo, "mongodb", c->cfg->ready_mongo_timeout_ms, ok);
    lumira_json_put_int(tmo, "stripe", c->cfg->ready_stripe_timeout_ms, ok);
    lumira_json_put(root, "timeouts", tmo, ok);
}

static void respond(struct lumira_req *req, struct lumira_resp *resp, struct ctx *c, bool verbose)
{
    struct lumira_ready_report rep;
    struct json_object *root, *services, *mongo, *stripe;
    bool generic = c->cfg->env == LUMIRA_ENV_PRODUCTION;
    bool ok = true, fresh = run_checks(c, verbose, &rep);

    root = lumira_json_new_object(&ok);
    services = lumira_json_new_object(&ok);
    mongo = check_json(&rep.mongo, "connected", generic, &ok);
    stripe = check_json(&rep.stripe, "initialized", generic, &ok);
    if (verbose && ok)
        add_verbose_services(mongo, stripe, c, &ok);
    lumira_json_put_bool(root, "ready", rep.http_status == 200, &ok);
    /* When the checks ran: a reused result keeps its own time. */
    lumira_json_put_time(root, "timestamp", rep.wall_ms, &ok);
    lumira_json_put(services, "mongodb", mongo, &ok);
    lumira_json_put(services, "stripe", stripe, &ok);
    lumira_json_put(services, "memory", memory_json(&ok), &ok);
    lumira_json_put_fixed(services, "uptime", lumira_sysinfo_uptime_s(), 1, &ok);
    lumira_json_put(root, "services", services, &ok);
    lumira_json_put_str(root, "version", PACKAGE_VERSION, &ok);
    lumira_json_put_str(root, "environment", lumira_env_name(c->cfg->env), &ok);
    if (verbose && ok)
        add_verbose_process(root, c, &ok);

    if (!ok) {
        json_object_put(root);
        lumira_resp_error(resp, req, 503, "INTERNAL", "Readiness check failed", NULL);
        rep.ready_status = "error";
    } else {
        lumira_resp_json(resp, req, rep.http_status, root);
    }
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
            LUMIRA_OK ||
        lumira_resp_header(resp, "X-Ready-Status", rep.ready_status) != LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
    /* The detail once per check run, not again for each answer that reuses it. */
    if (fresh && rep.http_status != 200)
        lumira_log(LUMIRA_LOG_WARN, "ready", "not ready (%s): mongodb %s, stripe %s",
                   rep.ready_status, rep.mongo.ok ? "ok" : rep.mongo.error,
                   rep.stripe.ok ? "ok" : rep.stripe.error);
}

static void handle_ready(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    respond(req, resp, ctx, false);
}

static void handle_verbose(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct json_object *o;
    bool ok = true;

    if (c->cfg->env != LUMIRA_ENV_PRODUCTION) {
        respond(req, resp, c, true);
        return;
    }
    o = lumira_json_new_object(&ok);
    lumira_json_put_str(o, "error", "Verbose readiness is disabled in production", &ok);
    lumira_json_put_str(o, "code", "FORBIDDEN", &ok);
    lumira_json_put_str(o, "hint", "set LUMIRA_ENV=development", &ok);
    lumira_json_put_str(o, "requestId", req->reqid, &ok);
    lumira_resp_json(resp, req, 403, ok ? o : (json_object_put(o), NULL));
    if (lumira_resp_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate") !=
        LUMIRA_OK)
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
}

static const struct lumira_route routes[] = {
    {"GET", "/api/ready", handle_ready},
    {"GET", "/api/ready/verbose", handle_verbose},
};

/* No Cyrus SASL plugin loaded unless GSSAPI is asked for (mongo.h). */
LUMIRA_MONGO_SASL_EARLY();

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL, NULL, false, {{0}, {0}, 0, NULL, 0, 0}};
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    lumira_stripe_global_init();
    lumira_app_probe(PROG, &cfg, cfg.ready_mongo_timeout_ms, &c.probe);
    if (lumira_stripe_new(cfg.stripe_api_base, cfg.stripe_secret_key, &c.stripe) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "app", "out of memory at start; exiting");
        return 1;
    }
    if (!lumira_stripe_configured(c.stripe))
        lumira_log(LUMIRA_LOG_WARN, "config",
                   "STRIPE_SECRET_KEY is missing or a placeholder: readiness reports Stripe down");
    status = lumira_serve(&app);
    lumira_stripe_free(c.stripe);
    lumira_stripe_global_cleanup();
    lumira_app_shutdown(&cfg, c.probe);
    return status;
}
