#ifndef LUMIRA_LOG_H
#define LUMIRA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* JSON-lines logger. One object per line: ts, level, prog, pid, reqId, module, msg, then any
 * extra fields. Each line is built in a fixed buffer (LUMIRA_LOG_LINE_MAX) and written with one
 * write(2) to a file opened O_APPEND, so lines of concurrent workers never interleave. Every
 * string is JSON-escaped and invalid UTF-8 becomes U+FFFD, so a line is always valid JSON.
 *
 * Nothing here logs secrets by itself: callers pass only masked or redacted values (see the
 * helpers at the end). The logger needs no initialisation to write to stderr at level info.
 *
 * Logging never stops a request: a line that cannot be written to the log file (disk full, a
 * file system gone read-only) is lost, the first loss is told once on standard error (where
 * spawn-fcgi and systemd keep it), and the first line that goes through again says how many
 * were lost. */

enum lumira_log_level {
    LUMIRA_LOG_ERROR = 0,
    LUMIRA_LOG_WARN = 1,
    LUMIRA_LOG_INFO = 2,
    LUMIRA_LOG_DEBUG = 3
};

/* A field added to a line. `key` NULL ends an array of fields. A NULL `str` writes null. */
struct lumira_log_field {
    const char *key;
    const char *str; /* used when is_int is false */
    int64_t num;     /* used when is_int is true */
    bool is_int;
};

/* clang-format off */
#define LUMIRA_LOG_STR(k, v) {(k), (v), 0, false}
#define LUMIRA_LOG_INT(k, v) {(k), NULL, (int64_t)(v), true}
#define LUMIRA_LOG_END {NULL, NULL, 0, false}
/* clang-format on */

/* Sets the program name and level and opens `path` for appending (NULL or "" means stderr).
 * May be called again to change them. LUMIRA_EIO when the file cannot be opened: the logger
 * then keeps writing where it wrote before. */
enum lumira_err lumira_log_open(const char *prog, const char *path,
                                enum lumira_log_level level) LUMIRA_WARN_UNUSED;

/* Closes the log file (if any) and returns to stderr. */
void lumira_log_close(void);

/* Parses "error", "warn", "info" or "debug" (exact, lowercase). */
enum lumira_err lumira_log_parse_level(const char *s,
                                       enum lumira_log_level *out) LUMIRA_WARN_UNUSED;

/* True when lines of `level` are written. */
bool lumira_log_enabled(enum lumira_log_level level);

/* Sets the request id carried by this thread's following lines; NULL or "" clears it. The id
 * is copied (at most LUMIRA_REQID_MAX bytes). */
void lumira_log_set_reqid(const char *reqid);

/* Asks for the log file to be reopened before the next line (logrotate). Async-signal-safe:
 * this is what the SIGUSR2 handler calls. */
void lumira_log_request_reopen(void);

/* Reopens the log file now if a reopen was asked for. Called by the server loop between
 * requests and by every write. A failed reopen keeps the old file and logs a warning. */
void lumira_log_reopen_if_requested(void);

/* Writes one line. Use the lumira_log*() macros, which skip argument evaluation when the level
 * is off (redis serverLog). `fields` may be NULL. */
void lumira__log(enum lumira_log_level level, const char *module,
                 const struct lumira_log_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define lumira_log(level, module, ...)                                                             \
    do {                                                                                           \
        if (lumira_log_enabled(level))                                                             \
            lumira__log((level), (module), NULL, __VA_ARGS__);                                     \
    } while (0)

#define lumira_log_fields(level, module, fields, ...)                                              \
    do {                                                                                           \
        if (lumira_log_enabled(level))                                                             \
            lumira__log((level), (module), (fields), __VA_ARGS__);                                 \
    } while (0)

/* Formats one line into `out` (`size` bytes, at least 128) without writing it; returns its
 * length, newline included. This is what lumira__log() writes; it is exposed for tests. */
size_t lumira__log_format(char *out, size_t size, enum lumira_log_level level, const char *module,
                          const struct lumira_log_field *fields, const char *msg);

/* The descriptor lines are written to (2 for stderr). Exposed for tests, which make it fail. */
int lumira__log_fd(void);

/* Writes `email` (len bytes) masked as "j***@example.com" into `out` (`size` bytes). Anything
 * without a local part and a domain becomes "***". Always NUL-terminates when size > 0. */
void lumira_log_mask_email(const char *email, size_t len, char *out, size_t size);

/* Copies the URI `uri` into `out` with any user information ("user:password@") replaced by
 * "***@" and the query string dropped (it may carry credentials). */
void lumira_log_redact_uri(const char *uri, char *out, size_t size);

/* Writes a short, cleaned sample of untrusted bytes: at most LUMIRA_LOG_SAMPLE_MAX of them,
 * printable ASCII kept, every other byte as '.', "..." appended when cut. */
void lumira_log_sample(const void *data, size_t len, char *out, size_t size);

#endif
