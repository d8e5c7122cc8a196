#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config.h"
#include "lumira_limits.h"
#include "str.h"

/* Most any millisecond timeout may be: ten minutes. */
#ifndef LUMIRA_DEFAULT_RUNTIME_DIR
#define LUMIRA_DEFAULT_RUNTIME_DIR "/run/lumira"
#endif

#define TIMEOUT_MS_MAX 600000
/* JWT lifetime bounds: one minute to thirty days. */
#define JWT_EXPIRES_MIN_S 60
#define JWT_EXPIRES_MAX_S (30 * 86400)
#define COMMIT_SHA_MAX 64

static const char *const env_names[] = {"production", "development", "test"};

static const char *lookup_getenv(const char *name)
{
    return getenv(name);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Returns the value of `name`, or NULL when unset or empty. */
static const char *lookup_value(lumira_env_lookup lookup, const char *name)
{
    const char *v = lookup(name);

    return (v != NULL && v[0] != '\0') ? v : NULL;
}

enum lumira_err lumira_config_get_str(lumira_env_lookup lookup, const char *name, const char *def,
                                      char **out, char *err, size_t errlen)
{
    const char *v = lookup_value(lookup != NULL ? lookup : lookup_getenv, name);

    *out = NULL;
    if (v == NULL)
        v = def;
    if (v == NULL)
        return LUMIRA_OK;
    if (strnlen(v, LUMIRA_MAX_ENV_VALUE + 1) > LUMIRA_MAX_ENV_VALUE) {
        set_err(err, errlen, "%s is longer than %d bytes", name, LUMIRA_MAX_ENV_VALUE);
        return LUMIRA_ECONFIG;
    }
    *out = strdup(v);
    return *out != NULL ? LUMIRA_OK : LUMIRA_ENOMEM;
}

enum lumira_err lumira_config_get_int(lumira_env_lookup lookup, const char *name, int64_t def,
                                      int64_t min, int64_t max, int64_t *out, char *err,
                                      size_t errlen)
{
    const char *v = lookup_value(lookup != NULL ? lookup : lookup_getenv, name);
    uint64_t u;

    if (v == NULL) {
        *out = def;
        return LUMIRA_OK;
    }
    if (lumira_parse_u64(v, strlen(v), (uint64_t)max, &u) != LUMIRA_OK || (int64_t)u < min) {
        set_err(err, errlen, "%s must be an integer from %lld to %lld", name, (long long)min,
                (long long)max);
        return LUMIRA_ECONFIG;
    }
    *out = (int64_t)u;
    return LUMIRA_OK;
}

enum lumira_err lumira_config_get_bool(lumira_env_lookup lookup, const char *name, bool def,
                                       bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    const char *v = lookup_value(lookup != NULL ? lookup : lookup_getenv, name);
    size_t i;

    *out = def;
    if (v == NULL)
        return LUMIRA_OK;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return LUMIRA_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return LUMIRA_OK;
        }
    }
    set_err(err, errlen, "%s must be true or false", name);
    return LUMIRA_ECONFIG;
}

enum lumira_err lumira_config_get_duration(lumira_env_lookup lookup, const char *name,
                                           int64_t def_s, int64_t min_s, int64_t max_s,
                                           int64_t *out, char *err, size_t errlen)
{
    const char *v = lookup_value(lookup != NULL ? lookup : lookup_getenv, name);
    size_t len;
    int64_t unit = 1;
    uint64_t u;

    if (v == NULL) {
        *out = def_s;
        return LUMIRA_OK;
    }
    len = strlen(v);
    switch (len > 0 ? v[len - 1] : '\0') {
    case 's':
        len--;
        break;
    case 'm':
        unit = 60, len--;
        break;
    case 'h':
        unit = 3600, len--;
        break;
    case 'd':
        unit = 86400, len--;
        break;
    default:
        break;
    }
    if (lumira_parse_u64(v, len, (uint64_t)(max_s / unit), &u) != LUMIRA_OK ||
        (int64_t)u * unit < min_s) {
        set_err(err, errlen, "%s must be a duration like 8h (s, m, h or d) from %llds to %llds",
                name, (long long)min_s, (long long)max_s);
        return LUMIRA_ECONFIG;
    }
    *out = (int64_t)u * unit;
    return LUMIRA_OK;
}

bool lumira_secret_usable(const char *value)
{
    size_t len;

    if (value == NULL || value[0] == '\0')
        return false;
    len = strlen(value);
    return !lumira_str_has_prefix(value, len, "REPLACE_WITH") &&
           !lumira_str_contains_nocase(value, len, "changeme");
}

void lumira_config_require_secret(const char *name, const char *value, size_t min_len)
{
    if (!lumira_secret_usable(value)) {
        lumira_log(LUMIRA_LOG_ERROR, "config",
                   "%s is missing or a placeholder: set it in the environment file; exiting", name);
        exit(LUMIRA_EXIT_CONFIG);
    }
    if (min_len > 0 && strlen(value) < min_len) {
        lumira_log(LUMIRA_LOG_ERROR, "config", "%s is shorter than %zu bytes; exiting", name,
                   min_len);
        exit(LUMIRA_EXIT_CONFIG);
    }
}

const char *lumira_env_name(enum lumira_env env)
{
    return (unsigned)env < sizeof(env_names) / sizeof(env_names[0]) ? env_names[env] : "unknown";
}

const char *lumira_config_error(const struct lumira_config *cfg)
{
    return cfg->error;
}

/* True when `url` starts with http:// or https:// and has something after it. */
static bool is_http_url(const char *url)
{
    size_t len = strlen(url);

    return (lumira_str_has_prefix(url, len, "https://") && len > 8) ||
           (lumira_str_has_prefix(url, len, "http://") && len > 7);
}

static void free_secret(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void lumira_config_cleanup(struct lumira_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->mongodb_uri); /* may carry a password */
    cfg->mongodb_uri = NULL;
    free_secret(&cfg->stripe_secret_key);
    free_secret(&cfg->stripe_webhook_secret);
    free_secret(&cfg->jwt_secret);
    free_secret(&cfg->n8n_callback_secret);
    free(cfg->stripe_api_base);
    free(cfg->n8n_webhook_url);
    free(cfg->log_file);
    free(cfg->commit_sha);
    free(cfg->runtime_dir);
    free(cfg->groups);
    cfg->stripe_api_base = cfg->n8n_webhook_url = cfg->log_file = cfg->commit_sha = NULL;
    cfg->runtime_dir = cfg->groups = NULL;
}

static enum lumira_err load_env(struct lumira_config *cfg, lumira_env_lookup lookup)
{
    const char *v = lookup_value(lookup, "LUMIRA_ENV");
    size_t i;

    cfg->env = LUMIRA_ENV_PRODUCTION;
    if (v == NULL)
        return LUMIRA_OK;
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
        if (strcmp(v, env_names[i]) == 0) {
            cfg->env = (enum lumira_env)i;
            return LUMIRA_OK;
        }
    }
    set_err(cfg->error, sizeof(cfg->error), "LUMIRA_ENV must be production, development or test");
    return LUMIRA_ECONFIG;
}

/* Checks the shape of the URL-like variables; their reachability is checked on use. */
static enum lumira_err check_urls(struct lumira_config *cfg)
{
    size_t len;

    if (cfg->mongodb_uri != NULL) {
        len = strlen(cfg->mongodb_uri);
        if (!lumira_str_has_prefix(cfg->mongodb_uri, len, "mongodb://") &&
            !lumira_str_has_prefix(cfg->mongodb_uri, len, "mongodb+srv://")) {
            set_err(cfg->error, sizeof(cfg->error),
                    "MONGODB_URI must start with mongodb:// or mongodb+srv://");
            return LUMIRA_ECONFIG;
        }
    }
    /* Trailing slashes go first, so that "https:///" is judged as the "https:" it becomes. */
    len = strlen(cfg->stripe_api_base);
    while (len > 0 && cfg->stripe_api_base[len - 1] == '/')
        cfg->stripe_api_base[--len] = '\0';
    if (!is_http_url(cfg->stripe_api_base)) {
        set_err(cfg->error, sizeof(cfg->error),
                "STRIPE_API_BASE must be an http:// or https:// URL");
        return LUMIRA_ECONFIG;
    }
    if (cfg->n8n_webhook_url != NULL && !is_http_url(cfg->n8n_webhook_url)) {
        set_err(cfg->error, sizeof(cfg->error),
                "N8N_WEBHOOK_URL must be an http:// or https:// URL");
        return LUMIRA_ECONFIG;
    }
    if (cfg->commit_sha != NULL) {
        len = strlen(cfg->commit_sha);
        if (len > COMMIT_SHA_MAX ||
            strspn(cfg->commit_sha, "0123456789abcdefABCDEFghijklmnopqrstuvwxyz"
                                    "GHIJKLMNOPQRSTUVWXYZ._-") != len) {
            set_err(cfg->error, sizeof(cfg->error),
                    "COMMIT_SHA must be at most %d characters of [A-Za-z0-9._-]", COMMIT_SHA_MAX);
            return LUMIRA_ECONFIG;
        }
    }
    return LUMIRA_OK;
}

enum lumira_err lumira_config_load(struct lumira_config *cfg, lumira_env_lookup lookup)
{
    static const struct {
        const char *name;
        size_t offset;
        const char *def;
    } strings[] = {
        {"MONGODB_URI", offsetof(struct lumira_config, mongodb_uri), NULL},
        {"STRIPE_SECRET_KEY", offsetof(struct lumira_config, stripe_secret_key), NULL},
        {"STRIPE_WEBHOOK_SECRET", offsetof(struct lumira_config, stripe_webhook_secret), NULL},
        {"STRIPE_API_BASE", offsetof(struct lumira_config, stripe_api_base),
         "https://api.stripe.com"},
        {"JWT_SECRET", offsetof(struct lumira_config, jwt_secret), NULL},
        {"N8N_WEBHOOK_URL", offsetof(struct lumira_config, n8n_webhook_url), NULL},
        {"N8N_CALLBACK_SECRET", offsetof(struct lumira_config, n8n_callback_secret), NULL},
        {"LOG_FILE", offsetof(struct lumira_config, log_file), NULL},
        {"COMMIT_SHA", offsetof(struct lumira_config, commit_sha), NULL},
        {"LUMIRA_RUNTIME_DIR", offsetof(struct lumira_config, runtime_dir),
         LUMIRA_DEFAULT_RUNTIME_DIR},
        {"LUMIRA_GROUPS", offsetof(struct lumira_config, groups), "ready health auth orders"},
    };
    static const struct {
        const char *name;
        size_t offset;
        int64_t def;
    } timeouts[] = {
        {"READY_TIMEOUT_MS", offsetof(struct lumira_config, ready_timeout_ms), 5000},
        {"READY_MONGO_TIMEOUT_MS", offsetof(struct lumira_config, ready_mongo_timeout_ms), 2000},
        {"READY_STRIPE_TIMEOUT_MS", offsetof(struct lumira_config, ready_stripe_timeout_ms), 3000},
        {"STRIPE_TIMEOUT_MS", offsetof(struct lumira_config, stripe_timeout_ms), 10000},
        {"N8N_TIMEOUT_MS", offsetof(struct lumira_config, n8n_timeout_ms), 10000},
    };
    enum lumira_err err;
    const char *level;
    size_t i;

    memset(cfg, 0, sizeof(*cfg));
    if (lookup == NULL)
        lookup = lookup_getenv;
    err = load_env(cfg, lookup);
    for (i = 0; err == LUMIRA_OK && i < sizeof(strings) / sizeof(strings[0]); i++)
        err = lumira_config_get_str(lookup, strings[i].name, strings[i].def,
                                    (char **)((char *)cfg + strings[i].offset), cfg->error,
                                    sizeof(cfg->error));
    for (i = 0; err == LUMIRA_OK && i < sizeof(timeouts) / sizeof(timeouts[0]); i++)
        err = lumira_config_get_int(lookup, timeouts[i].name, timeouts[i].def, 1, TIMEOUT_MS_MAX,
                                    (int64_t *)((char *)cfg + timeouts[i].offset), cfg->error,
                                    sizeof(cfg->error));
    /* 0 is allowed here: no cache. */
    if (err == LUMIRA_OK)
        err = lumira_config_get_int(lookup, "READY_CACHE_MS", 1000, 0, TIMEOUT_MS_MAX,
                                    &cfg->ready_cache_ms, cfg->error, sizeof(cfg->error));
    if (err == LUMIRA_OK)
        err = lumira_config_get_bool(lookup, "N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION", true,
                                     &cfg->n8n_require_replay, cfg->error, sizeof(cfg->error));
    /* At least a second (clocks of two machines), at most a day (nonces are kept that long). */
    if (err == LUMIRA_OK)
        err = lumira_config_get_int(lookup, "N8N_CALLBACK_MAX_SKEW_MS", 300000, 1000, 86400000,
                                    &cfg->n8n_max_skew_ms, cfg->error, sizeof(cfg->error));
    if (err == LUMIRA_OK)
        err = lumira_config_get_duration(lookup, "JWT_EXPIRES_IN", 8 * 3600, JWT_EXPIRES_MIN_S,
                                         JWT_EXPIRES_MAX_S, &cfg->jwt_expires_s, cfg->error,
                                         sizeof(cfg->error));
    if (err == LUMIRA_OK) {
        level = lookup_value(lookup, "LOG_LEVEL");
        cfg->log_level = LUMIRA_LOG_INFO;
        if (level != NULL && lumira_log_parse_level(level, &cfg->log_level) != LUMIRA_OK) {
            set_err(cfg->error, sizeof(cfg->error), "LOG_LEVEL must be error, warn, info or debug");
            err = LUMIRA_ECONFIG;
        }
    }
    if (err == LUMIRA_OK)
        err = check_urls(cfg);
    if (err == LUMIRA_ENOMEM)
        set_err(cfg->error, sizeof(cfg->error), "out of memory while reading the environment");
    if (err != LUMIRA_OK) {
        char saved[sizeof(cfg->error)];

        memcpy(saved, cfg->error, sizeof(saved));
        lumira_config_cleanup(cfg);
        memcpy(cfg->error, saved, sizeof(saved));
    }
    return err;
}
