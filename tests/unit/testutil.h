#ifndef LUMIRA_TESTUTIL_H
#define LUMIRA_TESTUTIL_H

/* Helpers shared by the unit tests: a fake environment for config, and small loopback peers
 * (an HTTP server with canned replies, a listener that never answers, a closed port). Peers run
 * on a thread of the test process and bind 127.0.0.1 only. */

#include <stddef.h>

#include <json-c/json.h>

#include "http.h"

/* Makes tu_env_lookup() answer from `pairs`: {"NAME", "value", ..., NULL}. The array must
 * outlive the lookups. */
void tu_env_set(const char *const *pairs);
const char *tu_env_lookup(const char *name);

struct tu_http_opts {
    int status;         /* HTTP status to answer (200 when 0) */
    const char *body;   /* body to answer ("{}" when NULL) */
    size_t body_repeat; /* send `body` this many times (1 when 0), for oversized replies */
    int delay_ms;       /* wait this long before answering */
    int close_early;    /* close the connection without answering */
    int keep_alive;     /* keep the connection open for further requests (else Connection: close) */
};

struct tu_http_server;

/* Starts a server that answers every request the same way, until stopped. */
struct tu_http_server *tu_http_start(const struct tu_http_opts *opts);
int tu_http_port(const struct tu_http_server *s);
/* "http://127.0.0.1:PORT" (static storage per server). */
const char *tu_http_base(const struct tu_http_server *s);
/* Number of requests received so far, and a copy of the last one (head and body, NUL-terminated,
 * at most 64 KiB). */
int tu_http_requests(struct tu_http_server *s);
const char *tu_http_last_request(struct tu_http_server *s);
/* Number of connections accepted so far (with keep_alive, fewer than requests when reused). */
int tu_http_connections(struct tu_http_server *s);
void tu_http_stop(struct tu_http_server *s);

/* A listener that accepts connections and never reads or writes. */
struct tu_silent;
struct tu_silent *tu_silent_start(void);
int tu_silent_port(const struct tu_silent *s);
/* Number of connections accepted so far (a client has connected once this is > 0). */
int tu_silent_connections(struct tu_silent *s);
void tu_silent_stop(struct tu_silent *s);

/* A tiny MongoDB peer: answers the driver's handshake (hello/isMaster, as OP_QUERY or OP_MSG)
 * as a standalone server and every other command with {ok: 1}, waiting `ping_delay_ms` before
 * answering a ping. Enough for lumira_mongo_ping(), nothing more. */
struct tu_mongo;
struct tu_mongo *tu_mongo_start(int ping_delay_ms);
int tu_mongo_port(const struct tu_mongo *s);
/* The same peer, but every command other than the handshake gets 10 bytes of a reply header
 * and then the connection closes: a database dropping the connection in the middle of a read.
 * tu_mongo_drops() counts them. */
struct tu_mongo *tu_mongo_start_dropping(void);
int tu_mongo_drops(struct tu_mongo *s);
/* Pings answered so far, and connections accepted so far. */
int tu_mongo_pings(struct tu_mongo *s);
int tu_mongo_connections(struct tu_mongo *s);
void tu_mongo_stop(struct tu_mongo *s);

/* A loopback port with nothing listening (connections are refused). */
int tu_closed_port(void);

/* Monotonic milliseconds, for asserting that a timeout was honoured (with generous margins). */
long long tu_now_ms(void);

/* The string member `key` of `o`, or NULL when it is absent or not a string. */
const char *tu_json_str(const struct json_object *o, const char *key);

/* Asserts (cmocka) that `resp` is the error envelope of API.md: `status`, a JSON body with
 * "code" `code`, "requestId" `reqid` and a non-empty "error". Returns the parsed body, which the
 * caller puts. */
struct json_object *tu_expect_error(const struct lumira_resp *resp, int status, const char *code,
                                    const char *reqid);

/* A fresh directory /tmp/lumira-test-<tag>-XXXXXX (mkdtemp) and the path of `file` in it, for
 * a cmocka setup; tu_tmp_free() removes the directory with all it holds. NULL on failure. */
struct tu_tmp {
    char dir[64];
    char path[128];
};
struct tu_tmp *tu_tmp_new(const char *tag, const char *file);
int tu_tmp_free(struct tu_tmp *t);

#endif
