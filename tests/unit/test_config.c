/* Unit tests of src/config.c: every variable of API.md "Configuration", its defaults and its
 * checks, the secret rules, and the exit 78 of programs that cannot run without a secret. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "lumira_limits.h"
#include "testutil.h"

/* A value that looks like a live Stripe key: it must never appear in an error message. */
#define SECRET_LIKE "sk_live_SECRETVALUE"

static enum lumira_err load(struct lumira_config *cfg, const char *const *pairs)
{
    tu_env_set(pairs);
    return lumira_config_load(cfg, tu_env_lookup);
}

static enum lumira_err load_one(struct lumira_config *cfg, const char *name, const char *value)
{
    const char *const pairs[] = {name, value, NULL};
    enum lumira_err err = load(cfg, pairs);

    tu_env_set(NULL);
    return err;
}

/* After a failed load nothing is left allocated. */
static void assert_all_freed(const struct lumira_config *cfg)
{
    assert_null(cfg->mongodb_uri);
    assert_null(cfg->stripe_secret_key);
    assert_null(cfg->stripe_webhook_secret);
    assert_null(cfg->stripe_api_base);
    assert_null(cfg->jwt_secret);
    assert_null(cfg->n8n_webhook_url);
    assert_null(cfg->n8n_callback_secret);
    assert_null(cfg->log_file);
    assert_null(cfg->commit_sha);
}

/* `name`=`value` must be refused with a message that names `name` and does not repeat a
 * secret-like value. */
static void check_rejected(const char *name, const char *value)
{
    struct lumira_config cfg;
    enum lumira_err err = load_one(&cfg, name, value);

    if (err != LUMIRA_ECONFIG)
        fail_msg("%s=\"%s\" was accepted (%d)", name, value, err);
    assert_ptr_equal(lumira_config_error(&cfg), cfg.error);
    if (strstr(cfg.error, name) == NULL)
        fail_msg("%s=\"%s\": the error \"%s\" does not name the variable", name, value, cfg.error);
    /* Every list of bad values has a secret-like one (SECRET_LIKE). */
    if (strstr(cfg.error, "SECRETVALUE") != NULL)
        fail_msg("%s: the error \"%s\" repeats the value", name, cfg.error);
    assert_all_freed(&cfg);
    lumira_config_cleanup(&cfg); /* harmless after a failed load */
}

static void test_config_load_defaults_empty_env(void **state)
{
    static const char *const empty[] = {NULL};
    struct lumira_config cfg;

    (void)state;
    assert_int_equal(load(&cfg, empty), LUMIRA_OK);
    assert_int_equal(cfg.env, LUMIRA_ENV_PRODUCTION);
    assert_null(cfg.mongodb_uri);
    assert_null(cfg.stripe_secret_key);
    assert_null(cfg.stripe_webhook_secret);
    assert_string_equal(cfg.stripe_api_base, "https://api.stripe.com");
    assert_null(cfg.jwt_secret);
    assert_int_equal(cfg.jwt_expires_s, 8 * 3600);
    assert_null(cfg.n8n_webhook_url);
    assert_null(cfg.n8n_callback_secret);
    assert_int_equal(cfg.log_level, LUMIRA_LOG_INFO);
    assert_null(cfg.log_file);
    assert_int_equal(cfg.ready_timeout_ms, 5000);
    assert_int_equal(cfg.ready_mongo_timeout_ms, 2000);
    assert_int_equal(cfg.ready_stripe_timeout_ms, 3000);
    assert_int_equal(cfg.ready_cache_ms, 1000);
    assert_true(cfg.n8n_require_replay);
    assert_int_equal(cfg.n8n_max_skew_ms, 300000);
    assert_null(cfg.commit_sha);
    lumira_config_cleanup(&cfg);
}

/* An empty value counts as unset: every default comes back. */
static void test_config_load_empty_values_are_unset(void **state)
{
    static const char *const pairs[] = {
        "LUMIRA_ENV",
        "",
        "MONGODB_URI",
        "",
        "STRIPE_SECRET_KEY",
        "",
        "STRIPE_API_BASE",
        "",
        "JWT_SECRET",
        "",
        "JWT_EXPIRES_IN",
        "",
        "LOG_LEVEL",
        "",
        "LOG_FILE",
        "",
        "READY_TIMEOUT_MS",
        "",
        "READY_MONGO_TIMEOUT_MS",
        "",
        "READY_STRIPE_TIMEOUT_MS",
        "",
        "COMMIT_SHA",
        "",
        "N8N_WEBHOOK_URL",
        "",
        NULL,
    };
    struct lumira_config cfg;

    (void)state;
    assert_int_equal(load(&cfg, pairs), LUMIRA_OK);
    assert_int_equal(cfg.env, LUMIRA_ENV_PRODUCTION);
    assert_null(cfg.mongodb_uri);
    assert_null(cfg.stripe_secret_key);
    assert_string_equal(cfg.stripe_api_base, "https://api.stripe.com");
    assert_null(cfg.jwt_secret);
    assert_int_equal(cfg.jwt_expires_s, 8 * 3600);
    assert_int_equal(cfg.log_level, LUMIRA_LOG_INFO);
    assert_null(cfg.log_file);
    assert_int_equal(cfg.ready_timeout_ms, 5000);
    assert_null(cfg.commit_sha);
    assert_null(cfg.n8n_webhook_url);
    lumira_config_cleanup(&cfg);
}

static void test_config_load_every_variable(void **state)
{
    static const char *const pairs[] = {
        "LUMIRA_ENV",
        "development",
        "MONGODB_URI",
        "mongodb://app:pw@db1:27017,db2/lumira?replicaSet=rs0",
        "STRIPE_SECRET_KEY",
        "sk_test_51abcdefghijklmnop",
        "STRIPE_WEBHOOK_SECRET",
        "whsec_abcdefghijklmnop",
        "STRIPE_API_BASE",
        "http://127.0.0.1:12111",
        "JWT_SECRET",
        "0123456789abcdef0123456789abcdef",
        "JWT_EXPIRES_IN",
        "30m",
        "N8N_WEBHOOK_URL",
        "https://n8n.example.com/webhook/lumira",
        "N8N_CALLBACK_SECRET",
        "n8n-callback-secret-value",
        "LOG_LEVEL",
        "debug",
        "LOG_FILE",
        "/var/log/lumira/api.log",
        "READY_TIMEOUT_MS",
        "4000",
        "READY_MONGO_TIMEOUT_MS",
        "1500",
        "READY_STRIPE_TIMEOUT_MS",
        "2500",
        "COMMIT_SHA",
        "0123456789abcdef0123456789abcdef01234567",
        NULL,
    };
    struct lumira_config cfg;

    (void)state;
    assert_int_equal(load(&cfg, pairs), LUMIRA_OK);
    assert_int_equal(cfg.env, LUMIRA_ENV_DEVELOPMENT);
    assert_string_equal(cfg.mongodb_uri, "mongodb://app:pw@db1:27017,db2/lumira?replicaSet=rs0");
    assert_string_equal(cfg.stripe_secret_key, "sk_test_51abcdefghijklmnop");
    assert_string_equal(cfg.stripe_webhook_secret, "whsec_abcdefghijklmnop");
    assert_string_equal(cfg.stripe_api_base, "http://127.0.0.1:12111");
    assert_string_equal(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
    assert_int_equal(cfg.jwt_expires_s, 1800);
    assert_string_equal(cfg.n8n_webhook_url, "https://n8n.example.com/webhook/lumira");
    assert_string_equal(cfg.n8n_callback_secret, "n8n-callback-secret-value");
    assert_int_equal(cfg.log_level, LUMIRA_LOG_DEBUG);
    assert_string_equal(cfg.log_file, "/var/log/lumira/api.log");
    assert_int_equal(cfg.ready_timeout_ms, 4000);
    assert_int_equal(cfg.ready_mongo_timeout_ms, 1500);
    assert_int_equal(cfg.ready_stripe_timeout_ms, 2500);
    assert_string_equal(cfg.commit_sha, "0123456789abcdef0123456789abcdef01234567");
    /* The strings are copies, not the lookup's own. */
    assert_ptr_not_equal(cfg.jwt_secret, pairs[11]);
    lumira_config_cleanup(&cfg);
    assert_all_freed(&cfg);
}

/* lookup NULL means getenv(). */
static void test_config_load_from_getenv(void **state)
{
    static const char *const names[] = {
        "LUMIRA_ENV",
        "MONGODB_URI",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "JWT_SECRET",
        "JWT_EXPIRES_IN",
        "N8N_WEBHOOK_URL",
        "N8N_CALLBACK_SECRET",
        "LOG_LEVEL",
        "LOG_FILE",
        "READY_TIMEOUT_MS",
        "READY_MONGO_TIMEOUT_MS",
        "READY_STRIPE_TIMEOUT_MS",
        "COMMIT_SHA",
    };
    struct lumira_config cfg;
    size_t i;
    int64_t v;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
    setenv("LUMIRA_ENV", "test", 1);
    setenv("READY_TIMEOUT_MS", "1234", 1);
    assert_int_equal(lumira_config_load(&cfg, NULL), LUMIRA_OK);
    assert_int_equal(cfg.env, LUMIRA_ENV_TEST);
    assert_int_equal(cfg.ready_timeout_ms, 1234);
    lumira_config_cleanup(&cfg);
    assert_int_equal(lumira_config_get_int(NULL, "READY_TIMEOUT_MS", 1, 1, 9999, &v, NULL, 0),
                     LUMIRA_OK);
    assert_int_equal(v, 1234);
    unsetenv("LUMIRA_ENV");
    unsetenv("READY_TIMEOUT_MS");
}

static void test_config_env_names(void **state)
{
    static const struct {
        const char *value;
        enum lumira_env env;
    } cases[] = {
        {"production", LUMIRA_ENV_PRODUCTION},
        {"development", LUMIRA_ENV_DEVELOPMENT},
        {"test", LUMIRA_ENV_TEST},
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(load_one(&cfg, "LUMIRA_ENV", cases[i].value), LUMIRA_OK);
        assert_int_equal(cfg.env, cases[i].env);
        assert_string_equal(lumira_env_name(cfg.env), cases[i].value);
        lumira_config_cleanup(&cfg);
    }
    assert_string_equal(lumira_env_name((enum lumira_env)3), "unknown");
}

static void test_config_env_invalid(void **state)
{
    static const char *const bad[] = {"Production", "prod",    "dev",      " test",
                                      "test ",      "staging", SECRET_LIKE};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("LUMIRA_ENV", bad[i]);
}

static void test_config_timeouts_valid(void **state)
{
    static const struct {
        const char *value;
        int64_t want;
    } cases[] = {{"1", 1}, {"5000", 5000}, {"007", 7}, {"599999", 599999}, {"600000", 600000}};
    static const char *const names[] = {"READY_TIMEOUT_MS", "READY_MONGO_TIMEOUT_MS",
                                        "READY_STRIPE_TIMEOUT_MS"};
    struct lumira_config cfg;
    size_t i, n;

    (void)state;
    for (n = 0; n < 3; n++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            int64_t got;

            assert_int_equal(load_one(&cfg, names[n], cases[i].value), LUMIRA_OK);
            got = n == 0   ? cfg.ready_timeout_ms
                  : n == 1 ? cfg.ready_mongo_timeout_ms
                           : cfg.ready_stripe_timeout_ms;
            assert_int_equal(got, cases[i].want);
            lumira_config_cleanup(&cfg);
        }
    }
}

static void test_config_timeouts_invalid(void **state)
{
    static const char *const bad[] = {
        "0",
        "-1",
        "abc",
        " 5",
        "5 ",
        "600001",
        "1000000",
        "+5",
        "5ms",
        "1e3",
        "0x10",
        "5.0",
        "5\t",
        "99999999999999999999999999",
        "18446744073709551616",
        "9223372036854775808",
        SECRET_LIKE,
    };
    static const char *const names[] = {"READY_TIMEOUT_MS", "READY_MONGO_TIMEOUT_MS",
                                        "READY_STRIPE_TIMEOUT_MS"};
    size_t i, n;

    (void)state;
    for (n = 0; n < 3; n++)
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            check_rejected(names[n], bad[i]);
}

/* The getter itself: bounds are inclusive, *out is left alone on error, err may be NULL. */
/* READY_CACHE_MS: 0 (no cache) to 600000; N8N_CALLBACK_MAX_SKEW_MS: 1000 to 86400000. */
static void test_config_cache_and_skew_bounds(void **state)
{
    static const struct {
        const char *name, *value;
        int64_t want;
    } good[] = {
        {"READY_CACHE_MS", "0", 0},
        {"READY_CACHE_MS", "1", 1},
        {"READY_CACHE_MS", "600000", 600000},
        {"N8N_CALLBACK_MAX_SKEW_MS", "1000", 1000},
        {"N8N_CALLBACK_MAX_SKEW_MS", "86400000", 86400000},
    };
    static const struct {
        const char *name, *value;
    } bad[] = {
        {"READY_CACHE_MS", "-1"},
        {"READY_CACHE_MS", "600001"},
        {"READY_CACHE_MS", "1s"},
        {"READY_CACHE_MS", SECRET_LIKE},
        {"N8N_CALLBACK_MAX_SKEW_MS", "999"},
        {"N8N_CALLBACK_MAX_SKEW_MS", "0"},
        {"N8N_CALLBACK_MAX_SKEW_MS", "86400001"},
        {"N8N_CALLBACK_MAX_SKEW_MS", SECRET_LIKE},
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(load_one(&cfg, good[i].name, good[i].value), LUMIRA_OK);
        assert_int_equal(good[i].name[0] == 'R' ? cfg.ready_cache_ms : cfg.n8n_max_skew_ms,
                         good[i].want);
        lumira_config_cleanup(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected(bad[i].name, bad[i].value);
}

static void test_config_replay_protection_bool(void **state)
{
    static const struct {
        const char *value;
        bool want;
    } good[] = {
        {"true", true}, {"TRUE", true}, {"1", true},   {"yes", true},
        {"false", false}, {"False", false}, {"0", false}, {"no", false},
    };
    static const char *const bad[] = {"ture", "2", " true", "true ", "on", "-", SECRET_LIKE};
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(
            load_one(&cfg, "N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION", good[i].value), LUMIRA_OK);
        assert_int_equal(cfg.n8n_require_replay, good[i].want);
        lumira_config_cleanup(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION", bad[i]);
}

static void test_config_get_int_bounds(void **state)
{
    static const char *const pairs[] = {"N", "10", "BAD", "x", NULL};
    char err[128];
    int64_t v = -5;

    (void)state;
    tu_env_set(pairs);
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "N", 0, 10, 10, &v, err, sizeof(err)),
                     LUMIRA_OK);
    assert_int_equal(v, 10);
    v = -5;
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "N", 0, 11, 20, &v, err, sizeof(err)),
                     LUMIRA_ECONFIG);
    assert_int_equal(v, -5);
    assert_non_null(strstr(err, "N must be"));
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "N", 0, 0, 9, &v, err, sizeof(err)),
                     LUMIRA_ECONFIG);
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "BAD", 0, 0, 9, &v, NULL, 0),
                     LUMIRA_ECONFIG);
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "UNSET", 77, 0, 9, &v, err, 4),
                     LUMIRA_OK);
    assert_int_equal(v, 77); /* the default is not range-checked: it is ours */
    /* A tiny message buffer is cut, not overrun. */
    memset(err, 'Z', sizeof(err));
    assert_int_equal(lumira_config_get_int(tu_env_lookup, "BAD", 0, 0, 9, &v, err, 4),
                     LUMIRA_ECONFIG);
    assert_string_equal(err, "BAD");
    assert_int_equal(err[4], 'Z');
    tu_env_set(NULL);
}

static void test_config_jwt_expires_valid(void **state)
{
    static const struct {
        const char *value;
        int64_t want;
    } cases[] = {
        {"8h", 8 * 3600},  {"30m", 1800},       {"2d", 2 * 86400},    {"90", 90},
        {"60s", 60},       {"60", 60},          {"1m", 60},           {"30d", 30 * 86400},
        {"720h", 2592000}, {"43200m", 2592000}, {"2592000", 2592000}, {"2592000s", 2592000},
        {"08h", 8 * 3600},
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (load_one(&cfg, "JWT_EXPIRES_IN", cases[i].value) != LUMIRA_OK)
            fail_msg("JWT_EXPIRES_IN=%s refused: %s", cases[i].value, cfg.error);
        assert_int_equal(cfg.jwt_expires_s, cases[i].want);
        lumira_config_cleanup(&cfg);
    }
}

static void test_config_jwt_expires_invalid(void **state)
{
    static const char *const bad[] = {
        "h",       "8x",
        "31d",     "0s",
        "0",       "8H",
        "-8h",     "8 h",
        " 8h",     "8h ",
        "s",       "d",
        "1.5h",    "8hh",
        "2592001", "2592001s",
        "721h",    "43201m",
        "59s",     "59",
        "45s",     "99999999999999999999999d",
        "8h30m",   SECRET_LIKE,
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("JWT_EXPIRES_IN", bad[i]);
}

/* The duration parser on its own, with bounds other than the JWT ones. */
static void test_config_get_duration_units(void **state)
{
    static const char *const pairs[] = {"D1", "45s", "D2", "3", "D3", "1d", "D4", "2d", NULL};
    char err[200];
    int64_t v = -1;

    (void)state;
    tu_env_set(pairs);
    assert_int_equal(
        lumira_config_get_duration(tu_env_lookup, "D1", 0, 1, 86400, &v, err, sizeof(err)),
        LUMIRA_OK);
    assert_int_equal(v, 45);
    assert_int_equal(
        lumira_config_get_duration(tu_env_lookup, "D2", 0, 1, 86400, &v, err, sizeof(err)),
        LUMIRA_OK);
    assert_int_equal(v, 3);
    assert_int_equal(
        lumira_config_get_duration(tu_env_lookup, "D3", 0, 1, 86400, &v, err, sizeof(err)),
        LUMIRA_OK);
    assert_int_equal(v, 86400);
    v = -1;
    assert_int_equal(
        lumira_config_get_duration(tu_env_lookup, "D4", 0, 1, 86400, &v, err, sizeof(err)),
        LUMIRA_ECONFIG);
    assert_int_equal(v, -1);
    assert_non_null(strstr(err, "D4"));
    assert_int_equal(
        lumira_config_get_duration(tu_env_lookup, "UNSET", 99, 1, 86400, &v, err, sizeof(err)),
        LUMIRA_OK);
    assert_int_equal(v, 99);
    tu_env_set(NULL);
}

static void test_config_log_level(void **state)
{
    static const char *const good[] = {"error", "warn", "info", "debug"};
    static const char *const bad[] = {"verbose", "INFO", "Debug", "warning", "4", SECRET_LIKE};
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(load_one(&cfg, "LOG_LEVEL", good[i]), LUMIRA_OK);
        assert_int_equal(cfg.log_level, i);
        lumira_config_cleanup(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("LOG_LEVEL", bad[i]);
}

static void test_config_stripe_api_base(void **state)
{
    static const struct {
        const char *value, *want;
    } good[] = {
        {"https://api.stripe.com", "https://api.stripe.com"},
        {"https://api.stripe.com/", "https://api.stripe.com"},
        {"https://api.stripe.com///", "https://api.stripe.com"},
        {"http://127.0.0.1:12111/", "http://127.0.0.1:12111"},
        {"http://localhost:8080/stripe/", "http://localhost:8080/stripe"},
    };
    static const char *const bad[] = {
        "ftp://api.stripe.com",
        "api.stripe.com",
        "https://",
        "http://",
        "https:///",
        "http:////",
        "HTTPS://API.STRIPE.COM",
        "https:/api.stripe.com",
        "//api.stripe.com",
        SECRET_LIKE,
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(load_one(&cfg, "STRIPE_API_BASE", good[i].value), LUMIRA_OK);
        assert_string_equal(cfg.stripe_api_base, good[i].want);
        lumira_config_cleanup(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("STRIPE_API_BASE", bad[i]);
}

static void test_config_mongodb_uri_scheme(void **state)
{
    static const char *const good[] = {
        "mongodb://localhost:27017/lumira",
        "mongodb+srv://user:pw@cluster0.example.net/lumira?retryWrites=true",
        "mongodb://h1,h2,h3/?replicaSet=rs0",
    };
    static const char *const bad[] = {
        "postgres://localhost/lumira",
        "MONGODB://localhost",
        "mongodb:/localhost",
        "mongodb//localhost",
        "localhost:27017",
        " mongodb://localhost",
        "http://user:" SECRET_LIKE "@host/db",
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(load_one(&cfg, "MONGODB_URI", good[i]), LUMIRA_OK);
        assert_string_equal(cfg.mongodb_uri, good[i]);
        lumira_config_cleanup(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("MONGODB_URI", bad[i]);
}

static void test_config_n8n_webhook_url(void **state)
{
    static const char *const bad[] = {"n8n.example.com/webhook", "https://", "file:///etc/passwd",
                                      SECRET_LIKE};
    struct lumira_config cfg;
    size_t i;

    (void)state;
    assert_int_equal(load_one(&cfg, "N8N_WEBHOOK_URL", "http://127.0.0.1:5678/webhook/x"),
                     LUMIRA_OK);
    assert_string_equal(cfg.n8n_webhook_url, "http://127.0.0.1:5678/webhook/x");
    lumira_config_cleanup(&cfg);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("N8N_WEBHOOK_URL", bad[i]);
}

static void test_config_commit_sha(void **state)
{
    char sha[70];
    static const char *const good[] = {"abc123", "v1.2.3-rc_1",
                                       "0123456789abcdef0123456789abcdef01234567"};
    static const char *const bad[] = {"abc 123", "abc;rm -rf", "ab\"c",        "caf\xc3\xa9",
                                      "a/b",     "abc\n",      SECRET_LIKE "!"};
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(load_one(&cfg, "COMMIT_SHA", good[i]), LUMIRA_OK);
        assert_string_equal(cfg.commit_sha, good[i]);
        lumira_config_cleanup(&cfg);
    }
    memset(sha, 'a', sizeof(sha));
    sha[64] = '\0'; /* at the cap */
    assert_int_equal(load_one(&cfg, "COMMIT_SHA", sha), LUMIRA_OK);
    assert_int_equal(strlen(cfg.commit_sha), 64);
    lumira_config_cleanup(&cfg);
    sha[64] = 'a';
    sha[65] = '\0'; /* one over */
    check_rejected("COMMIT_SHA", sha);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected("COMMIT_SHA", bad[i]);
}

/* A string variable at LUMIRA_MAX_ENV_VALUE - 1, at it, and one byte over. */
static void test_config_str_length_cap(void **state)
{
    char *uri = malloc(LUMIRA_MAX_ENV_VALUE + 2);
    struct lumira_config cfg;
    char err[128], marker[] = "untouched";
    char *out = marker;

    (void)state;
    assert_non_null(uri);
    memcpy(uri, "mongodb://", 10);
    memset(uri + 10, 'h', LUMIRA_MAX_ENV_VALUE + 1 - 10);
    uri[LUMIRA_MAX_ENV_VALUE - 1] = '\0';
    assert_int_equal(load_one(&cfg, "MONGODB_URI", uri), LUMIRA_OK);
    lumira_config_cleanup(&cfg);
    uri[LUMIRA_MAX_ENV_VALUE - 1] = 'h';
    uri[LUMIRA_MAX_ENV_VALUE] = '\0';
    assert_int_equal(load_one(&cfg, "MONGODB_URI", uri), LUMIRA_OK);
    assert_int_equal(strlen(cfg.mongodb_uri), LUMIRA_MAX_ENV_VALUE);
    lumira_config_cleanup(&cfg);
    uri[LUMIRA_MAX_ENV_VALUE] = 'h';
    uri[LUMIRA_MAX_ENV_VALUE + 1] = '\0';
    check_rejected("MONGODB_URI", uri);
    /* The getter on its own: *out is NULL on error. */
    {
        const char *const pairs[] = {"S", uri, NULL};

        tu_env_set(pairs);
        assert_int_equal(lumira_config_get_str(tu_env_lookup, "S", NULL, &out, err, sizeof(err)),
                         LUMIRA_ECONFIG);
        assert_null(out);
        assert_non_null(strstr(err, "S is longer than"));
        assert_int_equal(lumira_config_get_str(tu_env_lookup, "T", "def", &out, err, sizeof(err)),
                         LUMIRA_OK);
        assert_string_equal(out, "def");
        free(out);
        assert_int_equal(lumira_config_get_str(tu_env_lookup, "T", NULL, &out, err, sizeof(err)),
                         LUMIRA_OK);
        assert_null(out);
        tu_env_set(NULL);
    }
    free(uri);
}

/* Whatever is refused, the message names the variable and never carries the value, and a value
 * seen before the failure is freed. */
static void test_config_error_never_has_value(void **state)
{
    static const char *const vars[] = {
        "LUMIRA_ENV",      "READY_TIMEOUT_MS", "READY_MONGO_TIMEOUT_MS", "READY_STRIPE_TIMEOUT_MS",
        "JWT_EXPIRES_IN",  "LOG_LEVEL",        "STRIPE_API_BASE",        "MONGODB_URI",
        "N8N_WEBHOOK_URL", "COMMIT_SHA",
    };
    struct lumira_config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *const pairs[] = {
            "STRIPE_SECRET_KEY",
            "sk_live_GOODKEY",
            "JWT_SECRET",
            "0123456789abcdef0123456789abcdef",
            vars[i],
            SECRET_LIKE "#",
            NULL,
        };

        memset(&cfg, 0x5a, sizeof(cfg));
        assert_int_equal(load(&cfg, pairs), LUMIRA_ECONFIG);
        assert_non_null(strstr(cfg.error, vars[i]));
        assert_null(strstr(cfg.error, "SECRETVALUE"));
        assert_null(strstr(cfg.error, "GOODKEY"));
        assert_all_freed(&cfg);
    }
    tu_env_set(NULL);
}

static void test_secret_usable_cases(void **state)
{
    static const char *const unusable[] = {
        NULL,
        "",
        "REPLACE_WITH_X",
        "REPLACE_WITH",
        "REPLACE_WITH_A_LONG_RANDOM_SECRET_0123456789",
        "xxChangeMexx",
        "changeme",
        "CHANGEME",
        "my-changeme-secret-0123456789abcdef",
    };
    static const char *const usable[] = {
        "sk_test_51abcdefghijklmnop",
        "0123456789abcdef0123456789abcdef",
        "x",
        "change me",
        "REPLACE",
        "xREPLACE_WITH",
        "chang-eme",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(unusable) / sizeof(unusable[0]); i++)
        assert_false(lumira_secret_usable(unusable[i]));
    for (i = 0; i < sizeof(usable) / sizeof(usable[0]); i++)
        assert_true(lumira_secret_usable(usable[i]));
}

/* Runs lumira_config_require_secret() in a child with stderr captured; returns the exit status
 * (or -1 when it did not exit normally) and the child's output in `out`. */
static int require_in_child(const char *name, const char *value, size_t min_len, char *out,
                            size_t size)
{
    int fds[2], status;
    size_t used = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        lumira_config_require_secret(name, value, min_len);
        _exit(0);
    }
    close(fds[1]);
    while (used < size - 1 && (n = read(fds[0], out + used, size - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_config_require_secret_exits_78(void **state)
{
    static const struct {
        const char *value;
        size_t min_len;
    } cases[] = {
        {NULL, 32},
        {"", 32},
        {"REPLACE_WITH_JWT_SECRET_SECRETVALUE_0123456789", 32},
        {"SECRETVALUE-changeme-0123456789abcdef0123456789", 32},
        {"short-SECRETVALUE", 32},                /* 17 bytes */
        {"SECRETVALUE0123456789abcdef01234", 33}, /* 32 bytes, one short */
    };
    char out[4096];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int code =
            require_in_child("JWT_SECRET", cases[i].value, cases[i].min_len, out, sizeof(out));

        if (code != LUMIRA_EXIT_CONFIG)
            fail_msg("case %zu: exit status %d, want 78", i, code);
        assert_int_equal(LUMIRA_EXIT_CONFIG, 78);
        /* One log line naming the variable, never its value. */
        assert_non_null(strstr(out, "JWT_SECRET"));
        assert_non_null(strstr(out, "\"level\":\"error\""));
        assert_null(strstr(out, "SECRETVALUE"));
        assert_non_null(strchr(out, '\n'));
        assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    }
}

static void test_config_require_secret_good_returns(void **state)
{
    char out[1024];

    (void)state;
    assert_int_equal(
        require_in_child("JWT_SECRET", "0123456789abcdef0123456789abcdef", 32, out, sizeof(out)),
        0);
    assert_string_equal(out, "");
    assert_int_equal(require_in_child("STRIPE_SECRET_KEY", "sk_test_x", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* And in this process too. */
    lumira_config_require_secret("N8N_CALLBACK_SECRET", "a-real-secret", 0);
    lumira_config_require_secret("JWT_SECRET", "0123456789abcdef0123456789abcdef", 32);
}

static void test_config_cleanup_null_safe(void **state)
{
    static const char *const pairs[] = {"JWT_SECRET", "0123456789abcdef", "LOG_FILE", "/x", NULL};
    struct lumira_config cfg;

    (void)state;
    lumira_config_cleanup(NULL);
    assert_int_equal(load(&cfg, pairs), LUMIRA_OK);
    lumira_config_cleanup(&cfg);
    assert_all_freed(&cfg);
    lumira_config_cleanup(&cfg); /* twice is fine */
    tu_env_set(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load_defaults_empty_env),
        cmocka_unit_test(test_config_load_empty_values_are_unset),
        cmocka_unit_test(test_config_load_every_variable),
        cmocka_unit_test(test_config_load_from_getenv),
        cmocka_unit_test(test_config_env_names),
        cmocka_unit_test(test_config_env_invalid),
        cmocka_unit_test(test_config_timeouts_valid),
        cmocka_unit_test(test_config_timeouts_invalid),
        cmocka_unit_test(test_config_cache_and_skew_bounds),
        cmocka_unit_test(test_config_replay_protection_bool),
        cmocka_unit_test(test_config_get_int_bounds),
        cmocka_unit_test(test_config_jwt_expires_valid),
        cmocka_unit_test(test_config_jwt_expires_invalid),
        cmocka_unit_test(test_config_get_duration_units),
        cmocka_unit_test(test_config_log_level),
        cmocka_unit_test(test_config_stripe_api_base),
        cmocka_unit_test(test_config_mongodb_uri_scheme),
        cmocka_unit_test(test_config_n8n_webhook_url),
        cmocka_unit_test(test_config_commit_sha),
        cmocka_unit_test(test_config_str_length_cap),
        cmocka_unit_test(test_config_error_never_has_value),
        cmocka_unit_test(test_secret_usable_cases),
        cmocka_unit_test(test_config_require_secret_exits_78),
        cmocka_unit_test(test_config_require_secret_good_returns),
        cmocka_unit_test(test_config_cleanup_null_safe),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
