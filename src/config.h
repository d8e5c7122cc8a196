#ifndef LUMIRA_CONFIG_H
#define LUMIRA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log.h"

/* Configuration comes from the environment only (API.md "Configuration"). lumira_config_load()
 * reads every variable once at start, checks it, and fills a struct that handlers then only
 * read (`const struct lumira_config *`). Secrets are kept as given but judged by
 * lumira_secret_usable(): empty, "REPLACE_WITH..." or containing "changeme" counts as missing.
 * No function here ever logs or returns a secret's value. */

/* sysexits.h EX_CONFIG: what a program exits with when its configuration is unusable. */
#define LUMIRA_EXIT_CONFIG 78

enum lumira_env { LUMIRA_ENV_PRODUCTION = 0, LUMIRA_ENV_DEVELOPMENT, LUMIRA_ENV_TEST };

/* Looks a variable up; getenv() in programs, a table in tests. Returns NULL when unset. */
typedef const char *(*lumira_env_lookup)(const char *name);

struct lumira_config {
    /* read-only after lumira_config_load(); strings are owned by the struct, NULL when unset */
    enum lumira_env env;
    char *mongodb_uri;
    char *stripe_secret_key;
    char *stripe_webhook_secret;
    char *stripe_api_base; /* never NULL after load: default https://api.stripe.com */
    char *jwt_secret;
    int64_t jwt_expires_s; /* JWT_EXPIRES_IN, default 8h */
    char *n8n_webhook_url;
    char *n8n_callback_secret;
    enum lumira_log_level log_level;
    char *log_file;
    int64_t ready_timeout_ms;
    int64_t ready_mongo_timeout_ms;
    int64_t ready_stripe_timeout_ms;
    int64_t stripe_timeout_ms; /* STRIPE_TIMEOUT_MS: each call of the checkout, default 10000 */
    int64_t n8n_timeout_ms;    /* N8N_TIMEOUT_MS: the post of process-order, default 10000 */
    int64_t ready_cache_ms;    /* READY_CACHE_MS: reuse of a readiness result, 0 = none */
    bool n8n_require_replay;   /* N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION, default true */
    int64_t n8n_max_skew_ms;   /* N8N_CALLBACK_MAX_SKEW_MS, default 300000 */
    char *commit_sha;
    char *runtime_dir; /* LUMIRA_RUNTIME_DIR: the metrics scoreboards; never NULL after load */
    char *groups;      /* LUMIRA_GROUPS: the groups /api/metrics reports; never NULL after load */
    /* private */
    char error[256]; /* why the last load failed; names the variable, never a value */
};

/* Loads every variable through `lookup` (getenv when NULL). On error returns LUMIRA_ECONFIG
 * (or LUMIRA_ENOMEM) with cfg->error naming the variable and the rule it broke; what was
 * loaded so far is freed. lumira_config_cleanup() must be called after success. */
enum lumira_err lumira_config_load(struct lumira_config *cfg,
                                   lumira_env_lookup lookup) LUMIRA_WARN_UNUSED;

/* Frees every string, wiping the secrets first. NULL-safe. */
void lumira_config_cleanup(struct lumira_config *cfg);

/* The message of the last failed load (for the one log line before exit 78). */
const char *lumira_config_error(const struct lumira_config *cfg);

/* True when `value` is a usable secret: not NULL, not empty, not "REPLACE_WITH...", and not
 * containing "changeme" (any case). */
bool lumira_secret_usable(const char *value);

/* For programs that cannot run without a secret: when `value` is not usable, logs one error
 * naming `name` (never the value) and exits with LUMIRA_EXIT_CONFIG. `min_len` > 0 also
 * requires that many bytes. */
void lumira_config_require_secret(const char *name, const char *value, size_t min_len);

/* "production", "development" or "test". */
const char *lumira_env_name(enum lumira_env env);

/* Typed getters, exposed for the programs' own variables and for tests. Each reads `name`
 * through `lookup`; when unset or empty, *out is the default. On a bad value they return
 * LUMIRA_ECONFIG and write a message naming the variable to `err` (`errlen` bytes). */

/* An integer in [min, max], digits only. */
enum lumira_err lumira_config_get_int(lumira_env_lookup lookup, const char *name, int64_t def,
                                      int64_t min, int64_t max, int64_t *out, char *err,
                                      size_t errlen) LUMIRA_WARN_UNUSED;

/* A boolean: "true" or "false" (also "1"/"0", "yes"/"no"), any case. */
enum lumira_err lumira_config_get_bool(lumira_env_lookup lookup, const char *name, bool def,
                                       bool *out, char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* A duration in seconds: digits with an optional s/m/h/d suffix ("8h"), in [min_s, max_s]. */
enum lumira_err lumira_config_get_duration(lumira_env_lookup lookup, const char *name,
                                           int64_t def_s, int64_t min_s, int64_t max_s,
                                           int64_t *out, char *err,
                                           size_t errlen) LUMIRA_WARN_UNUSED;

/* A string of at most LUMIRA_MAX_ENV_VALUE bytes, copied (caller frees); NULL when unset or
 * empty and `def` is NULL, else a copy of `def`. */
enum lumira_err lumira_config_get_str(lumira_env_lookup lookup, const char *name, const char *def,
                                      char **out, char *err, size_t errlen) LUMIRA_WARN_UNUSED;

#endif
