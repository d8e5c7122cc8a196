#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lumira_limits.h"
#include "log.h"
#include "str.h"

/* The logger is per process. Only the main thread opens, reopens or closes it; any thread may
 * write, because a line is one write(2) of a stack buffer. */
static struct {
    int fd;                      /* 2 (stderr) or our own descriptor */
    enum lumira_log_level level; /* lines above this are skipped */
    char prog[64];
    char path[1024]; /* "" when logging to stderr */
    long pid;
    int write_failed;   /* a line to the file was lost; standard error was told once */
    unsigned long lost; /* lines lost since then */
} logger = {2, LUMIRA_LOG_INFO, "lumira", "", 0, 0, 0};

static volatile sig_atomic_t reopen_requested;
static __thread char thread_reqid[LUMIRA_REQID_MAX + 1];

/* Room kept at the end of a line for `,"cut":true}` and the newline; never used by fields. */
#define LINE_TAIL 16
/* Most bytes one escaped message may take, so that fields always find room after it. */
#define MSG_MAX (LUMIRA_LOG_LINE_MAX / 2)
/* Most bytes one escaped field value may take. */
#define FIELD_MAX 512

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* A cursor over the line buffer that refuses to go past `end`. */
struct writer {
    char *p;
    char *end; /* last usable byte + 1, LINE_TAIL before the real end */
    bool cut;
};

static void put(struct writer *w, const char *s, size_t len)
{
    if (len > (size_t)(w->end - w->p)) {
        len = (size_t)(w->end - w->p);
        w->cut = true;
    }
    memcpy(w->p, s, len);
    w->p += len;
}

static void puts_(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Writes `s` as the inside of a JSON string, using at most `max` output bytes; a value that
 * does not fit is cut on a character boundary and ends with "...". */
static void put_escaped(struct writer *w, const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    char *limit = (size_t)(w->end - w->p) > max ? w->p + max : w->end;
    size_t i = 0;

    while (i < len) {
        char esc[8];
        const char *out = esc;
        size_t run = 0, room = (size_t)(limit - w->p), fit = room > 3 ? room - 3 : 0;

        /* A run of printable ASCII goes in with one copy, as far as it leaves room for "...". */
        while (i + run < len && u[i + run] >= 0x20 && u[i + run] < 0x7f && u[i + run] != '"' &&
               u[i + run] != '\\')
            run++;
        if (run > fit)
            run = fit;
        if (run > 0) {
            put(w, s + i, run);
            i += run;
            continue;
        }
        size_t n = lumira_utf8_seq(u + i, len - i), olen;

        if (n == 0) {
            out = "\\ufffd", olen = 6, n = 1;
        } else if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\', esc[1] = (char)u[i], olen = 2;
        } else if (u[i] == '\n') {
            out = "\\n", olen = 2;
        } else if (u[i] == '\r') {
            out = "\\r", olen = 2;
        } else if (u[i] == '\t') {
            out = "\\t", olen = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
            olen = 6;
        } else {
            out = s + i, olen = n;
        }
        if (olen + 3 > (size_t)(limit - w->p)) {
            put(w, "...", (size_t)(limit - w->p) < 3 ? (size_t)(limit - w->p) : 3);
            w->cut = true;
            return;
        }
        put(w, out, olen);
        i += n;
    }
}

/* Starts the field `key` (a plain ASCII identifier, written as is) when at least `need` more
 * bytes fit after it; otherwise marks the line cut and returns false. */
static bool begin_field(struct writer *w, const char *key, size_t need)
{
    size_t klen = strlen(key);

    if ((size_t)(w->end - w->p) < klen + 4 + need) {
        w->cut = true;
        return false;
    }
    put(w, ",\"", 2);
    put(w, key, klen);
    put(w, "\":", 2);
    return true;
}

/* Writes a string field; a value too long for `max` or for the line is cut and marked. */
static void put_str_field(struct writer *w, const char *key, const char *val, size_t max)
{
    size_t room;

    if (val == NULL) {
        if (begin_field(w, key, 4))
            puts_(w, "null");
        return;
    }
    if (!begin_field(w, key, 8))
        return;
    room = (size_t)(w->end - w->p) - 2; /* both quotes */
    puts_(w, "\"");
    put_escaped(w, val, strlen(val), max < room ? max : room);
    puts_(w, "\"");
}

static void put_int_field(struct writer *w, const char *key, long long v)
{
    char num[LUMIRA_I64_SIZE];
    size_t n = lumira_fmt_i64((int64_t)v, num);

    if (begin_field(w, key, n))
        put(w, num, n);
}

/* Builds one complete line: every field either fits whole (strings may be cut, and say so with
 * "...") or is left out, and a line that lost anything ends with "cut":true. The writer stops
 * LINE_TAIL bytes short of the end, which always holds the closing. `size` must be >= 128. */
size_t lumira__log_format(char *out, size_t size, enum lumira_log_level level, const char *module,
                          const struct lumira_log_field *fields, const char *msg)
{
    struct writer w = {out, out + size - LINE_TAIL, false};
    char ts[LUMIRA_ISO8601_SIZE];
    const struct lumira_log_field *f;

    if ((unsigned)level > LUMIRA_LOG_DEBUG)
        level = LUMIRA_LOG_DEBUG;
    lumira_iso8601(lumira_wall_ms(), ts);
    puts_(&w, "{\"ts\":\"");
    puts_(&w, ts);
    puts_(&w, "\"");
    put_str_field(&w, "level", level_names[level], 16);
    put_str_field(&w, "prog", logger.prog, 64);
    put_int_field(&w, "pid", logger.pid != 0 ? logger.pid : (long)getpid());
    put_str_field(&w, "reqId", thread_reqid[0] != '\0' ? thread_reqid : NULL, LUMIRA_REQID_MAX);
    if (module != NULL)
        put_str_field(&w, "module", module, 64);
    put_str_field(&w, "msg", msg, MSG_MAX);
    for (f = fields; f != NULL && f->key != NULL; f++) {
        if (f->is_int)
            put_int_field(&w, f->key, (long long)f->num);
        else
            put_str_field(&w, f->key, f->str, FIELD_MAX);
    }
    w.end += LINE_TAIL;
    if (w.cut)
        puts_(&w, ",\"cut\":true");
    puts_(&w, "}\n");
    return (size_t)(w.p - out);
}

/* Writes `len` bytes to `fd` in as few write(2) calls as the kernel takes. 0, or -1 with errno. */
static int write_line(int fd, const char *line, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(fd, line + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

/* A line could not be written to LOG_FILE (disk full, file system gone read-only, ...): the
 * first loss is told on standard error, once, and the losses are counted until a line goes
 * through again. The requests themselves go on. */
static void lost_line(int err)
{
    char msg[1400], line[LUMIRA_LOG_LINE_MAX];
    size_t len;

    logger.lost++;
    if (logger.write_failed)
        return;
    logger.write_failed = 1;
    (void)lumira_str_fmt(msg, sizeof(msg),
                         "cannot write to LOG_FILE %s: %s; log lines are lost until it can be "
                         "written again (SIGUSR2 reopens it)",
                         logger.path, strerror(err));
    len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_WARN, "log", NULL, msg);
    (void)write_line(2, line, len);
}

/* The first line written after losses says how many were lost. */
static void lost_lines_recovered(void)
{
    char msg[128], line[LUMIRA_LOG_LINE_MAX];
    size_t len;

    (void)lumira_str_fmt(msg, sizeof(msg), "LOG_FILE is writable again; %lu line(s) were lost",
                         logger.lost);
    logger.write_failed = 0;
    logger.lost = 0;
    len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_WARN, "log", NULL, msg);
    (void)write_line(logger.fd, line, len);
}

void lumira__log(enum lumira_log_level level, const char *module,
                 const struct lumira_log_field *fields, const char *fmt, ...)
{
    char msg[MSG_MAX + 1], line[LUMIRA_LOG_LINE_MAX];
    va_list ap;
    size_t len;
    int saved_errno = errno;

    lumira_log_reopen_if_requested();
    if (strchr(fmt, '%') == NULL) {
        (void)lumira_strscpy(msg, fmt, sizeof(msg)); /* "request": no printf for a fixed text */
    } else {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    len = lumira__log_format(line, sizeof(line), level, module, fields, msg);
    if (write_line(logger.fd, line, len) == 0) {
        if (logger.write_failed)
            lost_lines_recovered();
    } else if (logger.fd != 2) {
        lost_line(errno);
    }
    errno = saved_errno;
}

/* Opens `path` for appending, close-on-exec. Returns the descriptor or -1. */
static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

enum lumira_err lumira_log_open(const char *prog, const char *path, enum lumira_log_level level)
{
    int fd = 2;

    if (prog != NULL)
        (void)lumira_strscpy(logger.prog, prog, sizeof(logger.prog));
    logger.level = level;
    logger.pid = (long)getpid();
    if (path != NULL && path[0] != '\0') {
        if (strlen(path) >= sizeof(logger.path))
            return LUMIRA_ETOOBIG;
        fd = open_log_file(path);
        if (fd < 0)
            return LUMIRA_EIO;
    }
    lumira_log_close();
    logger.fd = fd;
    logger.write_failed = 0;
    logger.lost = 0;
    if (fd != 2)
        (void)lumira_strscpy(logger.path, path, sizeof(logger.path));
    return LUMIRA_OK;
}

int lumira__log_fd(void)
{
    return logger.fd;
}

void lumira_log_close(void)
{
    if (logger.fd != 2)
        close(logger.fd);
    logger.fd = 2;
    logger.path[0] = '\0';
}

enum lumira_err lumira_log_parse_level(const char *s, enum lumira_log_level *out)
{
    size_t i;

    for (i = 0; s != NULL && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum lumira_log_level)i;
            return LUMIRA_OK;
        }
    }
    return LUMIRA_EINVAL;
}

bool lumira_log_enabled(enum lumira_log_level level)
{
    return level <= logger.level;
}

void lumira_log_set_reqid(const char *reqid)
{
    if (reqid == NULL)
        thread_reqid[0] = '\0';
    else
        (void)lumira_strscpy(thread_reqid, reqid, sizeof(thread_reqid));
}

void lumira_log_request_reopen(void)
{
    reopen_requested = 1;
}

/* Opens the path again and swaps it in with dup2(), so the descriptor number never changes and
 * no line is lost between close and open. */
void lumira_log_reopen_if_requested(void)
{
    int fd, err;

    if (!reopen_requested)
        return;
    reopen_requested = 0;
    if (logger.fd == 2)
        return;
    fd = open_log_file(logger.path);
    if (fd < 0) {
        err = errno;
        lumira_log(LUMIRA_LOG_WARN, "log",
                   "cannot reopen log file %s: %s; still writing to the old one", logger.path,
                   strerror(err));
        return;
    }
    if (dup2(fd, logger.fd) < 0) {
        err = errno;
        close(fd);
        lumira_log(LUMIRA_LOG_WARN, "log", "cannot swap in the reopened log file: %s",
                   strerror(err));
        return;
    }
    close(fd);
}

void lumira_log_mask_email(const char *email, size_t len, char *out, size_t size)
{
    const char *at = email != NULL ? memchr(email, '@', len) : NULL;
    size_t domain_len;

    if (size == 0)
        return;
    if (at == NULL || at == email || at + 1 == email + len) {
        (void)lumira_strscpy(out, "***", size);
        return;
    }
    domain_len = (size_t)(email + len - (at + 1));
    if (size < domain_len + 6) {
        (void)lumira_strscpy(out, "***", size);
        return;
    }
    out[0] = email[0];
    memcpy(out + 1, "***@", 4);
    memcpy(out + 5, at + 1, domain_len);
    out[5 + domain_len] = '\0';
}

void lumira_log_redact_uri(const char *uri, char *out, size_t size)
{
    const char *scheme_end = strstr(uri, "://");
    const char *auth, *at, *slash, *end;
    struct writer w = {out, out + (size > 0 ? size - 1 : 0), false};

    if (size == 0)
        return;
    end = uri + strcspn(uri, "?#");
    if (scheme_end == NULL || scheme_end > end) {
        put(&w, uri, (size_t)(end - uri));
        *w.p = '\0';
        return;
    }
    auth = scheme_end + 3;
    slash = auth + strcspn(auth, "/?#");
    at = memrchr(auth, '@', (size_t)(slash - auth));
    put(&w, uri, (size_t)(auth - uri));
    if (at != NULL) {
        puts_(&w, "***@");
        auth = at + 1;
    }
    put(&w, auth, (size_t)(end - auth));
    *w.p = '\0';
}

void lumira_log_sample(const void *data, size_t len, char *out, size_t size)
{
    const unsigned char *d = data;
    size_t n = len < LUMIRA_LOG_SAMPLE_MAX ? len : LUMIRA_LOG_SAMPLE_MAX;
    size_t i;

    if (size == 0)
        return;
    if (n > size - 1)
        n = size - 1;
    if (n < len && size >= 4 && n > size - 4)
        n = size - 4; /* a cut sample always says so when "..." fits at all */
    for (i = 0; i < n; i++)
        out[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '.';
    out[n] = '\0';
    if (n < len && size - 1 - n >= 3)
        memcpy(out + n, "...", 4);
}
