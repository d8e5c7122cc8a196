#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "clock.h"
#include "lumira_limits.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

extern char **environ;

static volatile sig_atomic_t stop_requested;
static int signals_ready;

/* SIGUSR1/SIGTERM/SIGINT: ask libfcgi to stop accepting, and arm a one-second alarm so that a
 * signal landing between libfcgi's shutdown check and its accept() still ends the wait. */
static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
    FCGX_ShutdownPending();
    alarm(1);
}

static void on_reopen(int sig)
{
    (void)sig;
    lumira_log_request_reopen();
}

/* Only there to interrupt accept(). */
static void on_alarm(int sig)
{
    (void)sig;
}

static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGALRM);
}

void lumira_server_signals_init(void)
{
    struct sigaction sa;
    sigset_t set;

    if (signals_ready)
        return;
    signals_ready = 1;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked accept() must return EINTR */
    sa.sa_handler = on_stop;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = on_reopen;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Blocked from here on, except around accept: see lumira_serve(). */
    handled_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

int lumira_server_stopping(void)
{
    return stop_requested;
}

/* The error reply for a request the router could not hand to a handler. */
static void reject(struct lumira_resp *resp, const struct lumira_req *req, enum lumira_err err)
{
    switch (err) {
    case LUMIRA_ETOOBIG:
        lumira_resp_error(resp, req, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 1 MiB", NULL);
        break;
    case LUMIRA_EIO:
        lumira_resp_error(resp, req, 400, "INVALID_JSON", "Request body could not be read", NULL);
        break;
    case LUMIRA_ENOMEM:
        lumira_log(LUMIRA_LOG_ERROR, "server", "out of memory while reading a request body");
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
        break;
    default:
        lumira_resp_error(resp, req, 400, "INVALID_JSON",
                          "Request body does not match its Content-Length", NULL);
        break;
    }
}

/* Routes one request and runs its handler. Returns the route's index in the table, for the
 * metrics, or LUMIRA_METRICS_UNMATCHED when no route took it. */
static size_t dispatch(const struct lumira_app *app, struct lumira_req *req,
                       struct lumira_resp *resp, lumira_read_fn read, void *in)
{
    const struct lumira_route *route;
    char allow[128];
    enum lumira_err err;

    route = lumira_route_match(app->routes, app->nroutes, req, allow, sizeof(allow));
    if (route == NULL) {
        if (allow[0] == '\0') {
            lumira_resp_error(resp, req, 404, "NOT_FOUND", "No such route", NULL);
            return LUMIRA_METRICS_UNMATCHED;
        }
        lumira_resp_error(resp, req, 405, "METHOD_NOT_ALLOWED", "Method not allowed", NULL);
        if (lumira_resp_header(resp, "Allow", allow) != LUMIRA_OK)
            lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
        return LUMIRA_METRICS_UNMATCHED;
    }
    if (lumira_req_has_body_method(req)) {
        err = lumira_req_read_body(req, read, in);
        if (err != LUMIRA_OK) {
            reject(resp, req, err);
            return (size_t)(route - app->routes);
        }
        if (req->body.len > 0 && !lumira_req_is_json(req)) {
            lumira_resp_error(resp, req, 415, "UNSUPPORTED_MEDIA_TYPE",
                              "Content-Type must be application/json", NULL);
            return (size_t)(route - app->routes);
        }
    }
    route->handler(req, resp, app->ctx);
    return (size_t)(route - app->routes);
}

void lumira_server_handle(const struct lumira_app *app, char *const *envp, lumira_read_fn read,
                          void *in, struct lumira_buf *out)
{
    /* One response per process, its buffers kept from request to request (lumira_resp_reuse):
     * a worker serves one request at a time. */
    static struct lumira_resp resp;
    static bool resp_ready;
    struct lumira_req req;
    enum lumira_err err;
    int64_t elapsed, t0_us = lumira_mono_us();
    size_t route = LUMIRA_METRICS_UNMATCHED;

    lumira_metrics_busy();
    if (!resp_ready) {
        lumira_resp_init(&resp);
        resp_ready = true;
    } else {
        lumira_resp_reuse(&resp);
    }
    err = lumira_req_init(&req, envp);
    lumira_log_set_reqid(req.reqid);
    if (err == LUMIRA_ETOOBIG)
        lumira_resp_error(&resp, &req, 414, "URI_TOO_LONG", "Request path or query too long", NULL);
    else if (err != LUMIRA_OK)
        lumira_resp_error(&resp, &req, 400, "BAD_REQUEST", "Malformed request", NULL);
    else
        route = dispatch(app, &req, &resp, read, in);

    elapsed = lumira_mono_ms() - req.start_ms;
    if (lumira_resp_render(&resp, &req, strcmp(req.method, "HEAD") == 0, elapsed, out) !=
        LUMIRA_OK) {
        lumira_buf_reset(out);
        lumira_resp_error(&resp, &req, 500, "INTERNAL", "Internal error", NULL);
        if (lumira_resp_render(&resp, &req, false, elapsed, out) != LUMIRA_OK)
            lumira_buf_reset(out);
    }
    {
        /* The path alone: when it came from REQUEST_URI, req.path runs on into the query, which
         * may hold an e-mail address. */
        char path[LUMIRA_MAX_PATH + 1];
        struct lumira_log_field fields[] = {
            LUMIRA_LOG_STR("method", req.method[0] != '\0' ? req.method : "-"),
            LUMIRA_LOG_STR("path", path),
            LUMIRA_LOG_INT("status", resp.status),
            LUMIRA_LOG_INT("durMs", elapsed),
            LUMIRA_LOG_END,
        };
        if (req.path_len == 0 || req.path_len > LUMIRA_MAX_PATH) {
            path[0] = '-';
            path[1] = '\0';
        } else {
            memcpy(path, req.path, req.path_len);
            path[req.path_len] = '\0';
        }
        lumira_log_fields(resp.status >= 500 ? LUMIRA_LOG_WARN : LUMIRA_LOG_INFO, "http", fields,
                          "request");
    }
    lumira_log_set_reqid(NULL);
    lumira_req_cleanup(&req);
    lumira_metrics_request(route, resp.status, lumira_mono_us() - t0_us);
}

static long read_fcgx(void *stream, char *buf, size_t len)
{
    int n = FCGX_GetStr(buf, len > INT32_MAX ? INT32_MAX : (int)len, stream);

    if (n < 0 || (n == 0 && FCGX_GetError(stream) != 0))
        return -1;
    return n;
}

static long read_stdin(void *stream, char *buf, size_t len)
{
    size_t n = fread(buf, 1, len, stream);

    if (n == 0 && ferror((FILE *)stream))
        return -1;
    return (long)n;
}

/* One plain CGI request. There is no accept loop to protect here, so SIGTERM and SIGINT get
 * their default action back: a CGI run can always be killed. */
static int serve_cgi(const struct lumira_app *app)
{
    struct lumira_buf out;
    sigset_t set;
    int status = 0;

    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    handled_signals(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    lumira_buf_init(&out, LUMIRA_MAX_RESPONSE + LUMIRA_MAX_RESPONSE_HEADERS + 1024);
    lumira_server_handle(app, environ, read_stdin, stdin, &out);
    if (out.len == 0 || fwrite(out.ptr, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        status = 1;
    lumira_buf_cleanup(&out);
    return status;
}

static int serve_fastcgi(const struct lumira_app *app)
{
    FCGX_Request r;
    struct lumira_buf out;
    sigset_t set;
    int rc, status = 0;

    lumira_buf_init(&out, LUMIRA_MAX_RESPONSE + LUMIRA_MAX_RESPONSE_HEADERS + 1024);
    if (FCGX_InitRequest(&r, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        lumira_log(LUMIRA_LOG_ERROR, "server", "FCGX_InitRequest failed");
        return 1;
    }
    handled_signals(&set);
    lumira_log(LUMIRA_LOG_INFO, "server", "%s worker ready", app->name);
    while (!stop_requested) {
        lumira_log_reopen_if_requested();
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        rc = FCGX_Accept_r(&r);
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (rc < 0) {
            if (stop_requested)
                break;
            if (rc == -EINTR)
                continue;
            lumira_log(LUMIRA_LOG_ERROR, "server", "accept on the FastCGI socket failed: %s",
                       rc > -4096 ? strerror(-rc) : "unknown error");
            status = 1;
            break;
        }
        lumira_buf_reset(&out);
        lumira_server_handle(app, r.envp, read_fcgx, r.in, &out);
        if (out.len > 0 && FCGX_PutStr(out.ptr, (int)out.len, r.out) < 0)
            lumira_log(LUMIRA_LOG_WARN, "server", "client went away before the response was sent");
        FCGX_Finish_r(&r);
    }
    FCGX_Free(&r, 1);
    lumira_buf_cleanup(&out);
    lumira_log(LUMIRA_LOG_INFO, "server", "%s worker stopping", app->name);
    return status;
}

int lumira_serve(const struct lumira_app *app)
{
    int status;

    lumira_server_signals_init();
    if (FCGX_Init() != 0) {
        lumira_log(LUMIRA_LOG_ERROR, "server", "FCGX_Init failed");
        return 1;
    }
    if (FCGX_IsCGI())
        return serve_cgi(app);
    /* A FastCGI worker counts into its group's scoreboard (metrics.h); a CGI run does not. */
    lumira_metrics_start(app->name, app->routes, app->nroutes);
    status = serve_fastcgi(app);
    lumira_metrics_stop();
    return status;
}
