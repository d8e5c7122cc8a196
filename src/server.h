#ifndef LUMIRA_SERVER_H
#define LUMIRA_SERVER_H

#include <stddef.h>

#include "http.h"

/* The request loop shared by every program: one single-threaded worker that serves FastCGI
 * requests one at a time from the socket spawn-fcgi passes as fd 0, or, when fd 0 is not a
 * socket, exactly one plain CGI request (environment, stdin, stdout).
 *
 * Signals (chosen to work under multiwatch, see DESIGN.md):
 * - SIGUSR1, SIGTERM, SIGINT: graceful stop. The request in hand is finished first; a worker
 *   idle in accept leaves at once.
 * - SIGUSR2 (and SIGHUP when run alone): reopen LOG_FILE before the next log line.
 * - SIGPIPE is ignored (a client that went away is an EIO on write).
 * The signals are blocked while a request is handled and only let in around accept, so a
 * handler is never interrupted half-way. */

struct lumira_app {
    const char *name; /* program name, for logs */
    const struct lumira_route *routes;
    size_t nroutes;
    void *ctx; /* handed to every handler */
};

/* Installs the signal handlers. Call once, before anything that may start a thread (threads
 * inherit the mask). lumira_serve() calls it too; calling it twice is harmless. */
void lumira_server_signals_init(void);

/* Serves until stopped. Returns the process exit status: 0 after a graceful stop or the one CGI
 * request, 1 when the listening socket failed. */
int lumira_serve(const struct lumira_app *app);

/* Handles one request read through `read` from `in` and returns the full CGI-form response
 * (status line, headers, body) in `out`. This is the whole of request handling minus the
 * transport, exposed so that unit tests can drive the router. Not reentrant: the response
 * buffers are the process's own, kept from one request to the next. */
void lumira_server_handle(const struct lumira_app *app, char *const *envp, lumira_read_fn read,
                          void *in, struct lumira_buf *out);

/* True once a stop was asked for (handlers that wait may give up early). */
int lumira_server_stopping(void);

#endif
