#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>

#include "testutil.h"

static const char *const *env_pairs;

void tu_env_set(const char *const *pairs)
{
    env_pairs = pairs;
}

const char *tu_env_lookup(const char *name)
{
    const char *const *p;

    for (p = env_pairs; p != NULL && p[0] != NULL; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

long long tu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_loopback(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        abort();
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        abort();
    *port = ntohs(sa.sin_port);
    return fd;
}

struct tu_http_server {
    struct tu_http_opts opts;
    int fd, port, stop;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests;
    int connections;
    char last[65536];
    char base[64];
};

/* Reads one request: the head, then Content-Length bytes of body. Returns 0 on success. */
static int read_request(int c, char *buf, size_t size)
{
    size_t used = 0, need = 0;
    char *head_end = NULL;

    while (used < size - 1) {
        ssize_t n = read(c, buf + used, size - 1 - used);

        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        if (head_end == NULL && (head_end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");

            need = (size_t)(head_end + 4 - buf);
            if (cl != NULL && cl < head_end)
                need += strtoul(cl + 17, NULL, 10);
        }
        if (head_end != NULL && used >= need)
            return 0;
    }
    return 0;
}

/* Writes everything it can; a peer that went away is not an error here. MSG_NOSIGNAL: a client
 * that gave up (timeout, cap) must not kill the test process with SIGPIPE. */
static void write_all(int c, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c, p, len, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Waits until `c` is readable (1) or the peer must stop (0), polling the stop flag. */
static int wait_readable(int c, int *stop)
{
    for (;;) {
        struct pollfd pfd = {c, POLLIN, 0};
        int rc = poll(&pfd, 1, 50);

        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 0;
        if (__atomic_load_n(stop, __ATOMIC_SEQ_CST))
            return 0;
    }
}

/* Answers one request read on `c`; returns 0 when the connection may serve another one. */
static int http_answer(struct tu_http_server *s, int c, char *req, size_t size)
{
    const char *body = s->opts.body != NULL ? s->opts.body : "{}";
    size_t repeat = s->opts.body_repeat > 0 ? s->opts.body_repeat : 1, i;
    char head[256];

    if (read_request(c, req, size) != 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    s->requests++;
    memcpy(s->last, req, sizeof(s->last));
    pthread_mutex_unlock(&s->lock);
    if (s->opts.delay_ms > 0)
        usleep((useconds_t)s->opts.delay_ms * 1000);
    if (s->opts.close_early)
        return -1;
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
             s->opts.status != 0 ? s->opts.status : 200, strlen(body) * repeat,
             s->opts.keep_alive ? "keep-alive" : "close");
    write_all(c, head, strlen(head));
    for (i = 0; i < repeat; i++)
        write_all(c, body, strlen(body));
    return s->opts.keep_alive ? 0 : -1;
}

static void *http_main(void *arg)
{
    struct tu_http_server *s = arg;
    char req[65536];

    for (;;) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int c;

        if (poll(&pfd, 1, 50) <= 0) {
            if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
                break;
            continue;
        }
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        while (http_answer(s, c, req, sizeof(req)) == 0 && wait_readable(c, &s->stop))
            ;
        close(c);
    }
    return NULL;
}

struct tu_http_server *tu_http_start(const struct tu_http_opts *opts)
{
    struct tu_http_server *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    if (opts != NULL)
        s->opts = *opts;
    s->fd = listen_loopback(&s->port);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, http_main, s) != 0)
        abort();
    return s;
}

int tu_http_port(const struct tu_http_server *s)
{
    return s->port;
}

const char *tu_http_base(const struct tu_http_server *s)
{
    return s->base;
}

int tu_http_requests(struct tu_http_server *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

const char *tu_http_last_request(struct tu_http_server *s)
{
    return s->last;
}

int tu_http_connections(struct tu_http_server *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->connections;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void tu_http_stop(struct tu_http_server *s)
{
    if (s == NULL)
        return;
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct tu_silent {
    int fd, port, stop;
    int conns[64];
    int nconns;
    pthread_t thread;
};

static void *silent_main(void *arg)
{
    struct tu_silent *s = arg;

    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int c;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c >= 0 && s->nconns < 64) {
            s->conns[s->nconns] = c; /* held open, never answered */
            __atomic_add_fetch(&s->nconns, 1, __ATOMIC_SEQ_CST);
        } else if (c >= 0) {
            close(c);
        }
    }
    return NULL;
}

struct tu_silent *tu_silent_start(void)
{
    struct tu_silent *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    s->fd = listen_loopback(&s->port);
    if (pthread_create(&s->thread, NULL, silent_main, s) != 0)
        abort();
    return s;
}

int tu_silent_port(const struct tu_silent *s)
{
    return s->port;
}

int tu_silent_connections(struct tu_silent *s)
{
    return __atomic_load_n(&s->nconns, __ATOMIC_SEQ_CST);
}

void tu_silent_stop(struct tu_silent *s)
{
    int i;

    if (s == NULL)
        return;
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    for (i = 0; i < s->nconns; i++)
        close(s->conns[i]);
    close(s->fd);
    free(s);
}

int tu_closed_port(void)
{
    int port, fd = listen_loopback(&port);

    close(fd); /* nothing listens there now */
    return port;
}

/* The fake MongoDB peer. Wire format (little-endian): a 16-byte header (messageLength,
 * requestID, responseTo, opCode), then OP_QUERY (2004: flags, collection name, skip, limit, doc)
 * or OP_MSG (2013: flags, then sections; kind 0 holds the command). Answers to OP_QUERY are
 * OP_REPLY (1), answers to OP_MSG are OP_MSG. */
#define TU_OP_REPLY 1
#define TU_OP_QUERY 2004
#define TU_OP_MSG 2013
#define TU_MONGO_MAX_MSG (1024 * 1024)
#define TU_MONGO_MAX_CONNS 16

struct tu_mongo {
    int fd, port, stop, ping_delay_ms, drop;
    int pings, connections, drops;
    pthread_t thread;
};

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void put_le32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;

    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

static int read_full(int c, unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(c, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void hello_reply(bson_t *d)
{
    BSON_APPEND_BOOL(d, "ismaster", true);
    BSON_APPEND_BOOL(d, "isWritablePrimary", true);
    BSON_APPEND_BOOL(d, "helloOk", true);
    BSON_APPEND_INT32(d, "maxBsonObjectSize", 16 * 1024 * 1024);
    BSON_APPEND_INT32(d, "maxMessageSizeBytes", 48000000);
    BSON_APPEND_INT32(d, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(d, "localTime", (int64_t)time(NULL) * 1000);
    BSON_APPEND_INT32(d, "minWireVersion", 0);
    BSON_APPEND_INT32(d, "maxWireVersion", 13);
    BSON_APPEND_DOUBLE(d, "ok", 1.0);
}

/* Answers one message; returns -1 when the connection should be closed. */
static int mongo_answer(struct tu_mongo *s, int c, const unsigned char *msg, int32_t len)
{
    int32_t reqid = le32(msg + 4), op = le32(msg + 12);
    const unsigned char *doc;
    size_t off;
    bson_t cmd, reply;
    bson_iter_t it;
    const char *name = "";
    unsigned char head[36];
    size_t headlen;

    if (op == TU_OP_QUERY) {
        off = 20;
        while (off < (size_t)len && msg[off] != '\0')
            off++;
        off += 1 + 8;
    } else if (op == TU_OP_MSG) {
        off = 20;
        if (off < (size_t)len && msg[off] != 0)
            return -1; /* only a kind 0 section first */
        off++;
    } else {
        return -1;
    }
    if (off + 5 > (size_t)len || le32(msg + off) < 5 || (size_t)le32(msg + off) > len - off)
        return -1;
    doc = msg + off;
    if (!bson_init_static(&cmd, doc, (size_t)le32(doc)))
        return -1;
    if (bson_iter_init(&it, &cmd) && bson_iter_next(&it))
        name = bson_iter_key(&it);
    bson_init(&reply);
    if (strcasecmp(name, "hello") == 0 || strcasecmp(name, "isMaster") == 0) {
        hello_reply(&reply);
    } else if (s->drop) {
        /* The first bytes of a reply header, then the connection goes: a drop mid-read. */
        memset(head, 0, sizeof(head));
        put_le32(head, 100);
        put_le32(head + 8, reqid);
        write_all(c, (const char *)head, 10);
        bson_destroy(&reply);
        __atomic_add_fetch(&s->drops, 1, __ATOMIC_SEQ_CST);
        return -1;
    } else {
        if (strcmp(name, "ping") == 0) {
            if (s->ping_delay_ms > 0)
                usleep((useconds_t)s->ping_delay_ms * 1000);
            __atomic_add_fetch(&s->pings, 1, __ATOMIC_SEQ_CST);
        }
        BSON_APPEND_DOUBLE(&reply, "ok", 1.0);
    }
    memset(head, 0, sizeof(head));
    if (op == TU_OP_QUERY) {
        headlen = 36; /* header, responseFlags, cursorID, startingFrom, numberReturned */
        put_le32(head + 12, TU_OP_REPLY);
        put_le32(head + 32, 1);
    } else {
        headlen = 21; /* header, flagBits, section kind 0 */
        put_le32(head + 12, TU_OP_MSG);
    }
    put_le32(head, (int32_t)(headlen + reply.len));
    put_le32(head + 4, reqid + 1000000);
    put_le32(head + 8, reqid);
    write_all(c, (const char *)head, headlen);
    write_all(c, (const char *)bson_get_data(&reply), reply.len);
    bson_destroy(&reply);
    return 0;
}

/* Reads one whole message from `c` and answers it; -1 when the connection is done. */
static int mongo_serve_one(struct tu_mongo *s, int c, unsigned char *buf)
{
    int32_t len;

    if (read_full(c, buf, 16) != 0)
        return -1;
    len = le32(buf);
    if (len < 21 || len > TU_MONGO_MAX_MSG)
        return -1;
    if (read_full(c, buf + 16, (size_t)len - 16) != 0)
        return -1;
    return mongo_answer(s, c, buf, len);
}

static void *mongo_main(void *arg)
{
    struct tu_mongo *s = arg;
    struct pollfd pfd[1 + TU_MONGO_MAX_CONNS];
    unsigned char *buf = malloc(TU_MONGO_MAX_MSG);
    int n = 0, i;

    if (buf == NULL)
        abort();
    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        pfd[0].fd = s->fd;
        pfd[0].events = POLLIN;
        for (i = 1; i <= n; i++)
            pfd[i].events = POLLIN;
        if (poll(pfd, (nfds_t)(1 + n), 50) <= 0)
            continue;
        for (i = n; i >= 1; i--) {
            if (pfd[i].revents == 0 || mongo_serve_one(s, pfd[i].fd, buf) == 0)
                continue;
            close(pfd[i].fd);
            pfd[i] = pfd[n--];
        }
        if ((pfd[0].revents & POLLIN) != 0) {
            int c = accept(s->fd, NULL, NULL);

            if (c >= 0 && n < TU_MONGO_MAX_CONNS) {
                pfd[++n].fd = c;
                pfd[n].revents = 0;
                __atomic_add_fetch(&s->connections, 1, __ATOMIC_SEQ_CST);
            } else if (c >= 0) {
                close(c);
            }
        }
    }
    for (i = 1; i <= n; i++)
        close(pfd[i].fd);
    free(buf);
    return NULL;
}

static struct tu_mongo *tu_mongo_start_with(int ping_delay_ms, int drop)
{
    struct tu_mongo *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    s->ping_delay_ms = ping_delay_ms;
    s->drop = drop;
    s->fd = listen_loopback(&s->port);
    if (pthread_create(&s->thread, NULL, mongo_main, s) != 0)
        abort();
    return s;
}

struct tu_mongo *tu_mongo_start(int ping_delay_ms)
{
    return tu_mongo_start_with(ping_delay_ms, 0);
}

struct tu_mongo *tu_mongo_start_dropping(void)
{
    return tu_mongo_start_with(0, 1);
}

int tu_mongo_drops(struct tu_mongo *s)
{
    return __atomic_load_n(&s->drops, __ATOMIC_SEQ_CST);
}

int tu_mongo_port(const struct tu_mongo *s)
{
    return s->port;
}

int tu_mongo_pings(struct tu_mongo *s)
{
    return __atomic_load_n(&s->pings, __ATOMIC_SEQ_CST);
}

int tu_mongo_connections(struct tu_mongo *s)
{
    return __atomic_load_n(&s->connections, __ATOMIC_SEQ_CST);
}

void tu_mongo_stop(struct tu_mongo *s)
{
    if (s == NULL)
        return;
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s);
}

const char *tu_json_str(const struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

struct json_object *tu_expect_error(const struct lumira_resp *resp, int status, const char *code,
                                    const char *reqid)
{
    struct json_object *o;
    const char *msg;

    assert_int_equal(resp->status, status);
    assert_non_null(resp->body.ptr);
    o = json_tokener_parse(resp->body.ptr);
    assert_non_null(o);
    assert_string_equal(tu_json_str(o, "code"), code);
    assert_string_equal(tu_json_str(o, "requestId"), reqid);
    msg = tu_json_str(o, "error");
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    return o;
}

struct tu_tmp *tu_tmp_new(const char *tag, const char *file)
{
    struct tu_tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    snprintf(t->dir, sizeof(t->dir), "/tmp/lumira-test-%s-XXXXXX", tag);
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return NULL;
    }
    snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, file);
    return t;
}

int tu_tmp_free(struct tu_tmp *t)
{
    char cmd[160];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}
