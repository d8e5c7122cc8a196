/* Unit tests of src/mongo.c: URI handling (database, hosts, timeouts, no secrets in errors) and
 * the ping against loopback peers: refused, silent, and a tiny fake server (testutil). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "mongo.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Slack on top of a timeout before a test calls it ignored: machines are shared and noisy. */
#define MARGIN_MS 1500

static const struct lumira_mongo_timeouts fast = {300, 300, 300, true};

static int group_setup(void **state)
{
    (void)state;
    lumira_mongo_global_init(NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    lumira_mongo_global_cleanup();
    return 0;
}

static struct lumira_mongo *mongo(const char *uri, const struct lumira_mongo_timeouts *t)
{
    struct lumira_mongo *m = NULL;
    char err[256] = "";

    if (lumira_mongo_new(uri, "lumira-test", t, &m, err, sizeof(err)) != LUMIRA_OK)
        fail_msg("lumira_mongo_new(%s): %s", uri, err);
    assert_non_null(m);
    return m;
}

/* The URI the client was made from (the client is made without connecting). */
static const mongoc_uri_t *client_uri(struct lumira_mongo *m)
{
    char err[256] = "";
    mongoc_client_t *c = lumira_mongo_client(m, err, sizeof(err));

    if (c == NULL)
        fail_msg("lumira_mongo_client: %s", err);
    return mongoc_client_get_uri(c);
}

static void test_mongo_new_bad_uri_econfig(void **state)
{
    static const char *const bad[] = {
        "mongodb://admin:s3cretPW@db.example:99999/lumira",
        "postgres://admin:s3cretPW@db.example/lumira",
        "mongodb://admin:s3cretPW@/lumira",
        "mongodb://admin:s3cretPW@db.example:0/lumira",
        "mongodb://admin:s3cret%ZZPW@db.example/lumira",
        "mongodb://admin:s3cretPW@db.example/lu mira",
        "mongodb://admin:s3cretPW@db.example/lumira?replicaSet",
        "admin:s3cretPW@db.example",
        "",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        static int dummy;
        struct lumira_mongo *m = (struct lumira_mongo *)(void *)&dummy; /* must become NULL */
        char err[256] = "";

        if (lumira_mongo_new(bad[i], "t", NULL, &m, err, sizeof(err)) != LUMIRA_ECONFIG)
            fail_msg("accepted: %s", bad[i]);
        assert_null(m);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "s3cretPW"));
        assert_null(strstr(err, "admin"));
        assert_null(strstr(err, "db.example"));
    }
}

/* Sends log lines to a new temporary file, named in `path` (at least 64 bytes). */
static void log_capture_start(char *path)
{
    int fd;

    snprintf(path, 64, "/tmp/lumira-test-mongo-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lumira_log_open("test_mongo", path, LUMIRA_LOG_DEBUG), LUMIRA_OK);
}

/* Back to stderr; returns what was logged (caller frees) and removes the file. */
static char *log_capture_end(const char *path)
{
    FILE *f;
    char *text = calloc(1, 65536);
    size_t n;

    lumira_log_close();
    assert_non_null(text);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

/* libmongoc's own complaints about a URI reach our log (mongoc_log_bridge): never with its
 * password or user name. */
static void test_mongo_new_bad_uri_not_logged(void **state)
{
    static const char *const bad[] = {
        "mongodb://admin:s3cretPW@db.example:99999/lumira",
        "mongodb://admin:s3cret%ZZPW@db.example/lumira",
        "mongodb://admin:s3cretPW@/lumira",
        "mongodb://admin:s3cretPW@db.example/lumira?replicaSet",
    };
    char path[64], err[256];
    char *logged;
    size_t i;

    (void)state;
    log_capture_start(path);
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        struct lumira_mongo *m = NULL;

        assert_int_equal(lumira_mongo_new(bad[i], "t", NULL, &m, err, sizeof(err)), LUMIRA_ECONFIG);
    }
    logged = log_capture_end(path);
    assert_non_null(strstr(logged, "mongoc")); /* the bridge did write something */
    assert_null(strstr(logged, "s3cret"));
    assert_null(strstr(logged, "admin"));
    free(logged);
}

/* A short error buffer gets a cut, terminated message. */
static void test_mongo_new_error_fits_buffer(void **state)
{
    struct lumira_mongo *m = NULL;
    char err[9];

    (void)state;
    memset(err, 'z', sizeof(err));
    assert_int_equal(lumira_mongo_new("bogus", "t", NULL, &m, err, 8), LUMIRA_ECONFIG);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(err[8], 'z');
}

static void test_mongo_new_database_from_path(void **state)
{
    struct lumira_mongo *m;

    (void)state;
    m = mongo("mongodb://u:p@127.0.0.1:27017/shop?authSource=admin", NULL);
    assert_string_equal(lumira_mongo_dbname(m), "shop");
    lumira_mongo_free(m);
}

static void test_mongo_new_database_default(void **state)
{
    static const char *const uris[] = {"mongodb://127.0.0.1", "mongodb://127.0.0.1/",
                                       "mongodb://127.0.0.1/?appname=x",
                                       "mongodb://u:p@127.0.0.1:27017/?authSource=admin"};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(uris); i++) {
        struct lumira_mongo *m = mongo(uris[i], NULL);

        assert_string_equal(lumira_mongo_dbname(m), "lumira");
        lumira_mongo_free(m);
    }
}

/* Database names at 63, 64 and 65 bytes: the last does not fit and is refused, not cut. */
static void test_mongo_new_database_cap_edges(void **state)
{
    char uri[256], name[80];
    struct lumira_mongo *m = NULL;
    char err[256] = "";

    (void)state;
    memset(name, 'd', sizeof(name));
    name[63] = '\0';
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1/%s", name);
    m = mongo(uri, NULL);
    assert_string_equal(lumira_mongo_dbname(m), name);
    lumira_mongo_free(m);
    name[63] = 'd';
    name[64] = '\0';
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1/%s", name);
    m = mongo(uri, NULL);
    assert_string_equal(lumira_mongo_dbname(m), name);
    lumira_mongo_free(m);
    name[64] = 'd';
    name[65] = '\0';
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1/%s", name);
    assert_int_equal(lumira_mongo_new(uri, "t", NULL, &m, err, sizeof(err)), LUMIRA_ECONFIG);
    assert_null(m);
    assert_non_null(strstr(err, "database"));
}

static void test_mongo_new_hosts_without_credentials(void **state)
{
    struct lumira_mongo *m;

    (void)state;
    m = mongo("mongodb://u:p4ss@h1:1,h2:2/db", NULL);
    assert_string_equal(lumira_mongo_hosts(m), "h1:1,h2:2");
    assert_string_equal(lumira_mongo_dbname(m), "db");
    lumira_mongo_free(m);
    m = mongo("mongodb://dbhost", NULL);
    assert_string_equal(lumira_mongo_hosts(m), "dbhost:27017");
    lumira_mongo_free(m);
}

static void test_mongo_new_default_timeouts(void **state)
{
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/", NULL);
    const mongoc_uri_t *u = client_uri(m);

    (void)state;
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, -1), 2000);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1),
                     2000);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, -1), 5000);
    assert_string_equal(mongoc_uri_get_appname(u), "lumira-test");
    lumira_mongo_free(m);
}

/* Without override, an operator's value in the URI wins; options it lacks get ours. */
static void test_mongo_new_uri_timeout_kept(void **state)
{
    struct lumira_mongo_timeouts t = {300, 400, 500, false};
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/?connectTimeoutMS=1234", &t);
    const mongoc_uri_t *u = client_uri(m);

    (void)state;
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, -1), 1234);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1),
                     400);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, -1), 500);
    lumira_mongo_free(m);
}

static void test_mongo_new_override_replaces_uri_timeout(void **state)
{
    struct lumira_mongo_timeouts t = {300, 400, 500, true};
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/?connectTimeoutMS=1234&"
                                   "serverSelectionTimeoutMS=9999&socketTimeoutMS=300000",
                                   &t);
    const mongoc_uri_t *u = client_uri(m);

    (void)state;
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, -1), 300);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1),
                     400);
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, -1), 500);
    lumira_mongo_free(m);
}

/* 0 leaves an option alone, even with override. */
static void test_mongo_new_zero_timeout_leaves_option(void **state)
{
    struct lumira_mongo_timeouts t = {0, 0, 700, true};
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/?connectTimeoutMS=1234", &t);
    const mongoc_uri_t *u = client_uri(m);

    (void)state;
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, -1), 1234);
    assert_false(mongoc_uri_has_option(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS));
    assert_int_equal(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, -1), 700);
    lumira_mongo_free(m);
}

static void test_mongo_new_appname_kept(void **state)
{
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/?appname=operator-app", NULL);

    (void)state;
    assert_string_equal(mongoc_uri_get_appname(client_uri(m)), "operator-app");
    lumira_mongo_free(m);
}

static void test_mongo_client_made_once(void **state)
{
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/", NULL);
    char err[256];
    mongoc_client_t *a = lumira_mongo_client(m, err, sizeof(err));

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(lumira_mongo_client(m, err, sizeof(err)), a);
    assert_false(lumira_mongo_is_failed(m));
    lumira_mongo_mark_failed(m);
    lumira_mongo_mark_failed(m); /* twice is harmless */
    assert_true(lumira_mongo_is_failed(m));
    assert_non_null(lumira_mongo_client(m, err, sizeof(err)));
    assert_false(lumira_mongo_is_failed(m));
    lumira_mongo_free(m);
    lumira_mongo_free(NULL);
}

static void test_mongo_ping_refused_unavail(void **state)
{
    char uri[128], err[256] = "", path[64];
    char *logged;
    struct lumira_mongo *m;
    int64_t rtt = -1;
    long long t0;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://lumira:pw-NotForLogs@127.0.0.1:%d/lumira",
             tu_closed_port());
    log_capture_start(path);
    m = mongo(uri, &fast);
    t0 = tu_now_ms();
    assert_int_equal(lumira_mongo_ping(m, &rtt, err, sizeof(err)), LUMIRA_EUNAVAIL);
    assert_true(tu_now_ms() - t0 < MARGIN_MS);
    assert_true(err[0] != '\0');
    assert_null(strstr(err, "pw-NotForLogs"));
    assert_int_equal(rtt, -1); /* only written on success */
    lumira_mongo_free(m);
    logged = log_capture_end(path);
    assert_null(strstr(logged, "pw-NotForLogs"));
    free(logged);
}

static void test_mongo_ping_silent_timeout(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    char uri[128], err[256] = "";
    struct lumira_mongo *m;
    int64_t rtt = -1;
    long long t0, took;
    enum lumira_err e;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/?connectTimeoutMS=60000",
             tu_silent_port(peer));
    m = mongo(uri, &fast); /* override: the URI's 60 s must not apply */
    t0 = tu_now_ms();
    e = lumira_mongo_ping(m, &rtt, err, sizeof(err));
    took = tu_now_ms() - t0;
    assert_int_equal(e, LUMIRA_ETIMEDOUT);
    assert_non_null(strstr(err, "timeout"));
    assert_true(took < 3 * 300 + MARGIN_MS);
    assert_true(tu_silent_connections(peer) >= 1);
    lumira_mongo_free(m);
    tu_silent_stop(peer);
}

/* After a failed ping the client is dropped: the next use gets a fresh one, which connects
 * again. A marker on the first client shows that the second is not the same object. */
static void test_mongo_ping_failure_resets_client(void **state)
{
    struct tu_silent *peer = tu_silent_start();
    char uri[128], err[256] = "";
    struct lumira_mongo *m;
    mongoc_client_t *c1, *c2;
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    const mongoc_write_concern_t *got;
    int64_t rtt;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", tu_silent_port(peer));
    m = mongo(uri, &fast);
    c1 = lumira_mongo_client(m, err, sizeof(err));
    assert_non_null(c1);
    mongoc_write_concern_set_wtag(wc, "lumira-test-marker");
    mongoc_client_set_write_concern(c1, wc);
    mongoc_write_concern_destroy(wc);
    assert_int_not_equal(lumira_mongo_ping(m, &rtt, err, sizeof(err)), LUMIRA_OK);
    c2 = lumira_mongo_client(m, err, sizeof(err));
    assert_non_null(c2);
    got = mongoc_client_get_write_concern(c2);
    assert_true(mongoc_write_concern_get_wtag(got) == NULL ||
                strcmp(mongoc_write_concern_get_wtag(got), "lumira-test-marker") != 0);
    assert_int_equal(tu_silent_connections(peer), 1);
    assert_int_not_equal(lumira_mongo_ping(m, &rtt, err, sizeof(err)), LUMIRA_OK);
    assert_int_equal(tu_silent_connections(peer), 2); /* a new client, a new connection */
    lumira_mongo_free(m);
    tu_silent_stop(peer);
}

static void test_mongo_ping_ok_keeps_connection(void **state)
{
    struct tu_mongo *peer = tu_mongo_start(0);
    char uri[128], err[256] = "";
    struct lumira_mongo *m;
    int64_t rtt = -1;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/shop", tu_mongo_port(peer));
    m = mongo(uri, &fast);
    if (lumira_mongo_ping(m, &rtt, err, sizeof(err)) != LUMIRA_OK)
        fail_msg("ping: %s", err);
    assert_true(rtt >= 0 && rtt < 300 + MARGIN_MS);
    assert_int_equal(lumira_mongo_ping(m, &rtt, err, sizeof(err)), LUMIRA_OK);
    assert_int_equal(tu_mongo_pings(peer), 2);
    assert_int_equal(tu_mongo_connections(peer), 1); /* the warm connection was reused */
    lumira_mongo_free(m);
    tu_mongo_stop(peer);
}

/* A server that answers the handshake but is slower than socketTimeoutMS on the ping. */
static void test_mongo_ping_slow_server_timeout(void **state)
{
    struct tu_mongo *peer = tu_mongo_start(1500);
    char uri[128], err[256] = "";
    struct lumira_mongo *m;
    int64_t rtt;
    long long t0;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", tu_mongo_port(peer));
    m = mongo(uri, &fast);
    t0 = tu_now_ms();
    assert_int_equal(lumira_mongo_ping(m, &rtt, err, sizeof(err)), LUMIRA_ETIMEDOUT);
    assert_non_null(strstr(err, "timeout"));
    assert_true(tu_now_ms() - t0 < 300 + MARGIN_MS);
    lumira_mongo_free(m);
    tu_mongo_stop(peer);
}

/* A client marked as failed is kept while a collection borrows from it, and replaced once the
 * collection is given back (a marker on the first client tells the two apart). */
static void test_mongo_failed_client_kept_while_borrowed(void **state)
{
    struct lumira_mongo *m = mongo("mongodb://127.0.0.1/", NULL);
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    const mongoc_write_concern_t *got;
    mongoc_collection_t *coll;
    mongoc_client_t *c1, *c2;
    char err[256];

    (void)state;
    c1 = lumira_mongo_client(m, err, sizeof(err));
    assert_non_null(c1);
    mongoc_write_concern_set_wtag(wc, "lumira-test-marker");
    mongoc_client_set_write_concern(c1, wc);
    mongoc_write_concern_destroy(wc);
    coll = lumira_mongo_collection(m, "orders", err, sizeof(err));
    assert_non_null(coll);
    assert_int_equal(lumira_mongo_borrows(m), 1);
    lumira_mongo_mark_failed(m);
    /* Borrowed: the same client, alive (its write concern still readable). */
    assert_ptr_equal(lumira_mongo_client(m, err, sizeof(err)), c1);
    assert_string_equal(mongoc_write_concern_get_wtag(mongoc_client_get_write_concern(c1)),
                        "lumira-test-marker");
    lumira_mongo_collection_release(m, coll);
    lumira_mongo_collection_release(m, NULL); /* NULL-safe */
    assert_int_equal(lumira_mongo_borrows(m), 0);
    assert_true(lumira_mongo_is_failed(m));
    c2 = lumira_mongo_client(m, err, sizeof(err));
    assert_non_null(c2);
    assert_false(lumira_mongo_is_failed(m));
    got = mongoc_client_get_write_concern(c2);
    assert_true(mongoc_write_concern_get_wtag(got) == NULL ||
                strcmp(mongoc_write_concern_get_wtag(got), "lumira-test-marker") != 0);
    lumira_mongo_free(m);
}

/* Every data helper, against a database that refuses connections: LUMIRA_EUNAVAIL, nothing left
 * borrowed, the client marked and replaced at the next use. Under ASan this is where the old
 * code read a client freed under its cursor. */
static void test_mongo_helpers_refused_leave_nothing_borrowed(void **state)
{
    char uri[128], err[256];
    struct lumira_mongo *m;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, doc = BSON_INITIALIZER, set;
    bson_t *out = NULL;
    int64_t n = -1;
    int i;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/lumira", tu_closed_port());
    m = mongo(uri, &fast);
    BSON_APPEND_UTF8(&filter, "email", "a@example.com");
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT32(&set, "x", 1);
    bson_append_document_end(&update, &set);
    BSON_APPEND_UTF8(&doc, "email", "a@example.com");
    for (i = 0; i < 2; i++) {
        assert_int_equal(lumira_mongo_find_one(m, "experts", &filter, &out, err, sizeof(err)),
                         LUMIRA_EUNAVAIL);
        assert_null(out);
        assert_true(lumira_mongo_is_failed(m));
        assert_int_equal(lumira_mongo_borrows(m), 0);
        assert_int_equal(lumira_mongo_insert(m, "experts", &doc, err, sizeof(err)),
                         LUMIRA_EUNAVAIL);
        assert_int_equal(lumira_mongo_update(m, "experts", &filter, &update, err, sizeof(err)),
                         LUMIRA_EUNAVAIL);
        assert_int_equal(lumira_mongo_count(m, "experts", &filter, &n, err, sizeof(err)),
                         LUMIRA_EUNAVAIL);
        assert_int_equal(n, -1);
        assert_int_equal(lumira_mongo_borrows(m), 0);
    }
    bson_destroy(&filter);
    bson_destroy(&update);
    bson_destroy(&doc);
    lumira_mongo_free(m);
}

/* The same against a database that completes the handshake and then drops the connection in the
 * middle of each reply: every call fails as unreachable, each on a new client and connection. */
static void test_mongo_helpers_dropped_mid_read(void **state)
{
    struct tu_mongo *peer = tu_mongo_start_dropping();
    char uri[128], err[256];
    struct lumira_mongo *m;
    bson_t filter = BSON_INITIALIZER;
    bson_t *out = NULL;
    int64_t n = -1;

    (void)state;
    snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/lumira", tu_mongo_port(peer));
    m = mongo(uri, &fast);
    BSON_APPEND_UTF8(&filter, "email", "a@example.com");
    assert_int_equal(lumira_mongo_find_one(m, "experts", &filter, &out, err, sizeof(err)),
                     LUMIRA_EUNAVAIL);
    assert_null(out);
    assert_true(lumira_mongo_is_failed(m));
    assert_int_equal(lumira_mongo_borrows(m), 0);
    assert_int_equal(lumira_mongo_count(m, "experts", &filter, &n, err, sizeof(err)),
                     LUMIRA_EUNAVAIL);
    assert_int_equal(lumira_mongo_find_one(m, "experts", &filter, NULL, err, sizeof(err)),
                     LUMIRA_EUNAVAIL);
    assert_int_equal(lumira_mongo_borrows(m), 0);
    assert_true(tu_mongo_drops(peer) >= 3);
    assert_true(tu_mongo_connections(peer) >= 3); /* a new client, a new connection, each time */
    bson_destroy(&filter);
    lumira_mongo_free(m);
    tu_mongo_stop(peer);
}

static void test_mongo_uri_wants_gssapi(void **state)
{
    (void)state;
    assert_true(lumira_mongo_uri_wants_gssapi(
        "mongodb://user%40EXAMPLE.COM@db/lumira?authMechanism=GSSAPI&authSource=$external"));
    assert_true(lumira_mongo_uri_wants_gssapi("mongodb://db/?authmechanism=gssapi"));
    assert_false(
        lumira_mongo_uri_wants_gssapi("mongodb://u:p@db/lumira?authMechanism=SCRAM-SHA-256"));
    assert_false(lumira_mongo_uri_wants_gssapi("mongodb://db/lumira"));
    assert_false(lumira_mongo_uri_wants_gssapi(NULL));
}

static void test_mongo_error_is_network(void **state)
{
    static const struct {
        uint32_t domain;
        bool want;
    } cases[] = {
        {MONGOC_ERROR_STREAM, true},   {MONGOC_ERROR_SERVER_SELECTION, true},
        {MONGOC_ERROR_CLIENT, true},   {MONGOC_ERROR_SERVER, false},
        {MONGOC_ERROR_QUERY, false},   {MONGOC_ERROR_BSON, false},
        {MONGOC_ERROR_COMMAND, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        bson_error_t e;

        memset(&e, 0, sizeof(e));
        e.domain = cases[i].domain;
        assert_int_equal(lumira_mongo_error_is_network(&e), cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mongo_new_bad_uri_econfig),
        cmocka_unit_test(test_mongo_new_bad_uri_not_logged),
        cmocka_unit_test(test_mongo_new_error_fits_buffer),
        cmocka_unit_test(test_mongo_new_database_from_path),
        cmocka_unit_test(test_mongo_new_database_default),
        cmocka_unit_test(test_mongo_new_database_cap_edges),
        cmocka_unit_test(test_mongo_new_hosts_without_credentials),
        cmocka_unit_test(test_mongo_new_default_timeouts),
        cmocka_unit_test(test_mongo_new_uri_timeout_kept),
        cmocka_unit_test(test_mongo_new_override_replaces_uri_timeout),
        cmocka_unit_test(test_mongo_new_zero_timeout_leaves_option),
        cmocka_unit_test(test_mongo_new_appname_kept),
        cmocka_unit_test(test_mongo_client_made_once),
        cmocka_unit_test(test_mongo_ping_refused_unavail),
        cmocka_unit_test(test_mongo_ping_silent_timeout),
        cmocka_unit_test(test_mongo_ping_failure_resets_client),
        cmocka_unit_test(test_mongo_ping_ok_keeps_connection),
        cmocka_unit_test(test_mongo_ping_slow_server_timeout),
        cmocka_unit_test(test_mongo_failed_client_kept_while_borrowed),
        cmocka_unit_test(test_mongo_helpers_refused_leave_nothing_borrowed),
        cmocka_unit_test(test_mongo_helpers_dropped_mid_read),
        cmocka_unit_test(test_mongo_error_is_network),
        cmocka_unit_test(test_mongo_uri_wants_gssapi),
    };

    return cmocka_run_group_tests_name("mongo", tests, group_setup, group_teardown);
}
