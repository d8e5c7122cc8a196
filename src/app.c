#include <stdlib.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "mongo.h"
#include "server.h"
#include "str.h"
#include "sysinfo.h"

void lumira_app_boot(const char *prog, struct lumira_config *cfg)
{
    lumira_sysinfo_mark_start();
    lumira_server_signals_init();
    if (lumira_log_open(prog, NULL, LUMIRA_LOG_INFO) != LUMIRA_OK)
        exit(LUMIRA_EXIT_CONFIG);
    if (lumira_config_load(cfg, NULL) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "bad configuration: %s; exiting",
                   lumira_config_error(cfg));
        exit(LUMIRA_EXIT_CONFIG);
    }
    if (lumira_log_open(prog, cfg->log_file, cfg->log_level) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "cannot open LOG_FILE %s for appending; exiting",
                   cfg->log_file);
        exit(LUMIRA_EXIT_CONFIG);
    }
    lumira_mongo_global_init(cfg->mongodb_uri);
    lumira_metrics_set_dir(cfg->runtime_dir);
}

void lumira_app_probe(const char *prog, const struct lumira_config *cfg, int64_t timeout_ms,
                      struct lumira_probe **out)
{
    struct lumira_mongo_timeouts t = {(int32_t)timeout_ms, (int32_t)timeout_ms, (int32_t)timeout_ms,
                                      true};
    struct lumira_mongo *m;
    char err[LUMIRA_MAX_ERRMSG], appname[96];

    *out = NULL;
    /* The probe's own name for the server ("lumira-ready-probe"), so that its pings are told
     * apart from the program's requests in the server's logs and by the counting proxy. */
    (void)lumira_str_fmt(appname, sizeof(appname), "%s-probe", prog);
    if (cfg->mongodb_uri == NULL) {
        lumira_log(LUMIRA_LOG_WARN, "config",
                   "MONGODB_URI is not set: the database is reported down");
        return;
    }
    if (lumira_mongo_new(cfg->mongodb_uri, appname, &t, &m, err, sizeof(err)) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "%s; exiting", err);
        exit(LUMIRA_EXIT_CONFIG);
    }
    if (lumira_probe_new(m, out) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "app", "out of memory at start; exiting");
        exit(1);
    }
}

void lumira_app_db(const char *prog, const struct lumira_config *cfg, struct lumira_mongo **out)
{
    char err[LUMIRA_MAX_ERRMSG];

    if (!lumira_secret_usable(cfg->mongodb_uri)) {
        lumira_log(LUMIRA_LOG_ERROR, "config",
                   "MONGODB_URI is missing or a placeholder: set it in the environment file; "
                   "exiting");
        exit(LUMIRA_EXIT_CONFIG);
    }
    if (lumira_mongo_new(cfg->mongodb_uri, prog, NULL, out, err, sizeof(err)) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "%s; exiting", err);
        exit(LUMIRA_EXIT_CONFIG);
    }
}

void lumira_app_shutdown(struct lumira_config *cfg, struct lumira_probe *probe)
{
    bool mongo_idle = lumira_probe_free(probe);

    if (mongo_idle)
        lumira_mongo_global_cleanup();
    lumira_config_cleanup(cfg);
    lumira_log_close();
}

void lumira_app_indexes(struct lumira_mongo *db, lumira_index_fn make, const char *what,
                        struct lumira_index_state *st)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res;
    int64_t now = lumira_mono_ms();

    if (st->done || (st->retry_ms != 0 && now < st->retry_ms))
        return;
    res = make(db, err, sizeof(err));
    if (res == LUMIRA_OK) {
        st->done = true;
    } else if (res == LUMIRA_ECONFIG) {
        lumira_log(LUMIRA_LOG_ERROR, "db", "%s", err);
        st->done = true;
    } else {
        st->retry_ms = lumira_mono_ms() + LUMIRA_INDEX_RETRY_MS;
        lumira_log(LUMIRA_LOG_WARN, "db",
                   "cannot create the %s indexes yet (trying again in %d s): %s", what,
                   LUMIRA_INDEX_RETRY_MS / 1000, err);
    }
}
