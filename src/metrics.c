/* The scoreboard of the prefork workers and the request-path hooks (metrics.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "str.h"

#define PID_BITS 22
#define PID_MASK ((1ULL << PID_BITS) - 1)

const int64_t lumira_metrics_bucket_us[LUMIRA_METRICS_BUCKETS] = {
    1000,   2500,   5000,    10000,   25000,   50000,   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000};
const char *const lumira_metrics_bucket_le[LUMIRA_METRICS_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

/* This process's slot, NULL without metrics. The board stays mapped until exit, even after
 * lumira_metrics_stop(): the health and readiness probes' thread may still be counting a ping
 * then (it reads `me` atomically; a count that lands in the freed slot is still summed). */
static struct lumira_metrics_slot *me;
static struct lumira_metrics_board board;
static char metrics_dir[256];

static size_t file_size(uint32_t nslots)
{
    return LUMIRA_METRICS_SLOTS_OFFSET + (size_t)nslots * sizeof(struct lumira_metrics_slot);
}

bool lumira_metrics_path(const char *dir, const char *group, char *out, size_t size)
{
    size_t n = strlen(group);

    if (n == 0 || n >= LUMIRA_METRICS_GROUP_MAX ||
        strspn(group, "abcdefghijklmnopqrstuvwxyz"
                      "0123456789_-") != n)
        return false;
    return !lumira_str_fmt(out, size, "%s/metrics-%s.scoreboard", dir, group);
}

/* Fills the header of a new file for `group` and `routes`. */
static void header_fill(struct lumira_metrics_header *h, const char *group,
                        const struct lumira_route *routes, size_t nroutes, uint32_t nslots)
{
    size_t i;

    memset(h, 0, sizeof(*h));
    h->version = LUMIRA_METRICS_VERSION;
    h->nslots = nslots;
    h->nroutes = (uint32_t)nroutes;
    h->slot_size = (uint32_t)sizeof(struct lumira_metrics_slot);
    h->file_size = file_size(nslots);
    (void)lumira_strscpy(h->group, group, sizeof(h->group));
    for (i = 0; i < nroutes; i++) {
        (void)lumira_strscpy(h->routes[i].method, routes[i].method, LUMIRA_METRICS_METHOD_MAX);
        (void)lumira_strscpy(h->routes[i].pattern, routes[i].pattern, LUMIRA_METRICS_PATTERN_MAX);
    }
    h->magic = LUMIRA_METRICS_MAGIC; /* last: a reader takes the file once it sees this */
}

/* Whether a mapped header is a scoreboard of this layout, of `size` bytes. */
static bool header_sane(const struct lumira_metrics_header *h, size_t size)
{
    return size >= sizeof(*h) && h->magic == LUMIRA_METRICS_MAGIC &&
           h->version == LUMIRA_METRICS_VERSION && h->nslots >= 1 &&
           h->nslots <= LUMIRA_METRICS_MAX_SLOTS &&
           h->slot_size == sizeof(struct lumira_metrics_slot) &&
           h->nroutes <= LUMIRA_METRICS_MAX_ROUTES && h->file_size == size &&
           size == file_size(h->nslots);
}

static void set_err(char *err, size_t errlen, const char *what, const char *path, int e)
{
    (void)lumira_str_fmt(err, errlen, "%s %s: %s", what, path, strerror(e));
}

static enum lumira_err map_fd(struct lumira_metrics_board *b, int fd, size_t size, bool writable)
{
    void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);

    if (p == MAP_FAILED)
        return LUMIRA_EIO;
    b->hdr = p;
    b->slots = (struct lumira_metrics_slot *)((char *)p + LUMIRA_METRICS_SLOTS_OFFSET);
    b->size = size;
    b->writable = writable;
    b->nslots =
        (uint32_t)((size - LUMIRA_METRICS_SLOTS_OFFSET) / sizeof(struct lumira_metrics_slot));
    return LUMIRA_OK;
}

/* Makes a complete file under a temporary name and links it at `path` (replace: renames it over
 * whatever is there). LUMIRA_EEXIST when another process linked its own first. */
static enum lumira_err create_file(const char *path, const char *group,
                                   const struct lumira_route *routes, size_t nroutes,
                                   uint32_t nslots, bool replace, char *err, size_t errlen)
{
    char tmp[320];
    size_t size = file_size(nslots);
    struct lumira_metrics_header *h;
    enum lumira_err res = LUMIRA_OK;
    int fd;

    if (lumira_str_fmt(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid())) {
        (void)lumira_str_fmt(err, errlen, "scoreboard path too long");
        return LUMIRA_EINVAL;
    }
    (void)unlink(tmp);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_err(err, errlen, "cannot create", tmp, errno);
        return LUMIRA_EIO;
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        set_err(err, errlen, "cannot size", tmp, errno);
        res = LUMIRA_EIO;
        goto out;
    }
    h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        set_err(err, errlen, "cannot map", tmp, errno);
        res = LUMIRA_EIO;
        goto out;
    }
    header_fill(h, group, routes, nroutes, nslots);
    munmap(h, size);
    if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
        if (errno == EEXIST) {
            res = LUMIRA_EEXIST;
        } else {
            set_err(err, errlen, replace ? "cannot rename onto" : "cannot link", path, errno);
            res = LUMIRA_EIO;
        }
    }
out:
    close(fd);
    (void)unlink(tmp);
    return res;
}

/* Whether the header matches what this program would write. */
static bool header_matches(const struct lumira_metrics_header *h, const char *group,
                           const struct lumira_route *routes, size_t nroutes, uint32_t nslots)
{
    struct lumira_metrics_header want;

    header_fill(&want, group, routes, nroutes, nslots);
    return memcmp(h, &want, sizeof(want)) == 0;
}

enum lumira_err lumira_metrics_board_open(struct lumira_metrics_board *b, const char *dir,
                                          const char *group, const struct lumira_route *routes,
                                          size_t nroutes, uint32_t nslots, char *err, size_t errlen)
{
    char path[300];
    struct stat st;
    enum lumira_err res;
    int attempt, fd;
    bool replace = false;

    memset(b, 0, sizeof(*b));
    if (!lumira_metrics_path(dir, group, path, sizeof(path))) {
        (void)lumira_str_fmt(err, errlen, "bad scoreboard directory or group name");
        return LUMIRA_EINVAL;
    }
    if (nslots < 1 || nslots > LUMIRA_METRICS_MAX_SLOTS || nroutes > LUMIRA_METRICS_MAX_ROUTES) {
        (void)lumira_str_fmt(err, errlen, "%zu routes or %u slots: over the scoreboard's layout",
                             nroutes, nslots);
        return LUMIRA_EINVAL;
    }
    for (size_t i = 0; i < nroutes; i++)
        if (strlen(routes[i].pattern) >= LUMIRA_METRICS_PATTERN_MAX ||
            strlen(routes[i].method) >= LUMIRA_METRICS_METHOD_MAX) {
            (void)lumira_str_fmt(err, errlen, "route %s is too long for the scoreboard",
                                 routes[i].pattern);
            return LUMIRA_EINVAL;
        }
    for (attempt = 0; attempt < 4; attempt++) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT) {
            set_err(err, errlen, "cannot open", path, errno);
            return LUMIRA_EIO;
        }
        if (fd >= 0) {
            if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                set_err(err, errlen, "cannot use", path, errno != 0 ? errno : EINVAL);
                close(fd);
                return LUMIRA_EIO;
            }
            if ((size_t)st.st_size == file_size(nslots)) {
                res = map_fd(b, fd, (size_t)st.st_size, true);
                close(fd);
                if (res != LUMIRA_OK) {
                    set_err(err, errlen, "cannot map", path, errno);
                    return res;
                }
                if (header_matches(b->hdr, group, routes, nroutes, nslots))
                    return LUMIRA_OK;
                lumira_metrics_board_close(b);
            } else {
                close(fd);
            }
            lumira_log(LUMIRA_LOG_WARN, "metrics",
                       "%s is of another layout, size or route table: replacing it (its "
                       "counters start again)",
                       path);
            replace = true;
        }
        res = create_file(path, group, routes, nroutes, nslots, replace, err, errlen);
        if (res != LUMIRA_OK && res != LUMIRA_EEXIST)
            return res;
        replace = false; /* made (or lost the race): open what is there now */
    }
    (void)lumira_str_fmt(err, errlen, "%s keeps changing under us", path);
    return LUMIRA_EIO;
}

enum lumira_err lumira_metrics_board_map(struct lumira_metrics_board *b, const char *dir,
                                         const char *group, char *err, size_t errlen)
{
    char path[300];
    struct stat st;
    enum lumira_err res;
    int fd;

    memset(b, 0, sizeof(*b));
    if (!lumira_metrics_path(dir, group, path, sizeof(path))) {
        (void)lumira_str_fmt(err, errlen, "bad scoreboard directory or group name");
        return LUMIRA_EINVAL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        set_err(err, errlen, "cannot open", path, errno);
        return errno == ENOENT ? LUMIRA_ENOTFOUND : LUMIRA_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size < (off_t)LUMIRA_METRICS_SLOTS_OFFSET ||
        (size_t)st.st_size > file_size(LUMIRA_METRICS_MAX_SLOTS)) {
        (void)lumira_str_fmt(err, errlen, "%s is not a scoreboard (size)", path);
        close(fd);
        return LUMIRA_EINVAL;
    }
    res = map_fd(b, fd, (size_t)st.st_size, false);
    close(fd);
    if (res != LUMIRA_OK) {
        set_err(err, errlen, "cannot map", path, errno);
        return res;
    }
    if (!header_sane(b->hdr, b->size)) {
        (void)lumira_str_fmt(err, errlen, "%s is not a scoreboard of layout %d", path,
                             LUMIRA_METRICS_VERSION);
        lumira_metrics_board_close(b);
        return LUMIRA_EINVAL;
    }
    return LUMIRA_OK;
}

void lumira_metrics_board_close(struct lumira_metrics_board *b)
{
    if (b->hdr != NULL)
        munmap(b->hdr, b->size);
    memset(b, 0, sizeof(*b));
}

pid_t lumira_metrics_owner_pid(uint64_t owner)
{
    return (pid_t)(owner & PID_MASK);
}

static uint64_t owner_word(pid_t pid, uint64_t start_ticks)
{
    return start_ticks << PID_BITS | ((uint64_t)pid & PID_MASK);
}

bool lumira_metrics_owner_alive(uint64_t owner)
{
    struct lumira_metrics_proc p;
    pid_t pid = lumira_metrics_owner_pid(owner);

    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    /* Alive: the same process unless its start time differs (a pid reused). A process whose
     * /proc we may not read is taken as the owner. */
    if (lumira_metrics_proc_read(pid, &p) != LUMIRA_OK)
        return true;
    return (p.start_ticks & (UINT64_MAX >> PID_BITS)) == owner >> PID_BITS;
}

enum lumira_err lumira_metrics_board_claim(struct lumira_metrics_board *b, pid_t pid,
                                           uint64_t start_ticks, struct lumira_metrics_slot **slot,
                                           bool *restarted)
{
    uint64_t mine = owner_word(pid, start_ticks), cur;
    uint32_t i;
    int pass;

    *slot = NULL;
    *restarted = false;
    if (pid <= 0 || (uint64_t)pid > PID_MASK || !b->writable)
        return LUMIRA_EINVAL;
    /* Pass 0: a dead owner's slot (its counters and a restart); pass 1: a free slot. */
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < b->nslots; i++) {
            struct lumira_metrics_slot *s = &b->slots[i];

            cur = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
            if (pass == 0 ? cur == 0 || cur == mine || lumira_metrics_owner_alive(cur) : cur != 0)
                continue;
            if (!__atomic_compare_exchange_n(&s->owner, &cur, mine, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                continue;
            __atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
            if (pass == 0) {
                __atomic_fetch_add(&s->restarts, 1, __ATOMIC_RELAXED);
                *restarted = true;
            }
            *slot = s;
            return LUMIRA_OK;
        }
    }
    return LUMIRA_ETOOBIG;
}

void lumira_metrics_board_release(struct lumira_metrics_slot *slot)
{
    __atomic_store_n(&slot->busy, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->owner, 0, __ATOMIC_RELEASE);
}

/* Reads decimal digits at *p (before end) into *v; moves *p past them and one space. */
static bool field_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p, *e = s;

    while (e < end && *e != ' ' && *e != '\n')
        e++;
    if (lumira_parse_u64(s, (size_t)(e - s), UINT64_MAX, v) != LUMIRA_OK)
        return false;
    *p = e < end ? e + 1 : e;
    return true;
}

/* Skips one field. */
static bool field_skip(const char **p, const char *end)
{
    const char *e = *p;

    while (e < end && *e != ' ')
        e++;
    if (e == *p || e >= end)
        return false;
    *p = e + 1;
    return true;
}

enum lumira_err lumira_metrics_proc_parse(const char *s, size_t len,
                                          struct lumira_metrics_proc *out)
{
    const char *end = s + len, *p = NULL, *q;
    uint64_t utime, stime, v;
    int field;

    /* The command name may hold spaces and ')': the fields start after the last ')'. */
    for (q = s; q < end; q++)
        if (*q == ')')
            p = q;
    if (p == NULL || end - p < 3 || p[1] != ' ')
        return LUMIRA_EINVAL;
    p += 2;
    /* Field 3 (state) up to 13 are skipped; 14 utime, 15 stime; 22 starttime; 24 rss. */
    for (field = 3; field <= 13; field++)
        if (!field_skip(&p, end))
            return LUMIRA_EINVAL;
    if (!field_u64(&p, end, &utime) || !field_u64(&p, end, &stime))
        return LUMIRA_EINVAL;
    for (field = 16; field <= 21; field++)
        if (!field_skip(&p, end))
            return LUMIRA_EINVAL;
    if (!field_u64(&p, end, &out->start_ticks) || !field_skip(&p, end) || !field_u64(&p, end, &v))
        return LUMIRA_EINVAL;
    out->rss_pages = v;
    out->cpu_ticks = utime + stime;
    return LUMIRA_OK;
}

enum lumira_err lumira_metrics_proc_read(pid_t pid, struct lumira_metrics_proc *out)
{
    char path[64], text[1024];
    ssize_t n;
    int fd;

    if (pid == 0)
        (void)lumira_strscpy(path, "/proc/self/stat", sizeof(path));
    else
        (void)lumira_str_fmt(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LUMIRA_EIO;
    n = read(fd, text, sizeof(text));
    close(fd);
    if (n <= 0)
        return LUMIRA_EIO;
    return lumira_metrics_proc_parse(text, (size_t)n, out);
}

/* ------------------------------------------------------------------ this process */

void lumira_metrics_set_dir(const char *dir)
{
    metrics_dir[0] = '\0';
    if (dir != NULL && lumira_strscpy(metrics_dir, dir, sizeof(metrics_dir)) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "metrics", "LUMIRA_RUNTIME_DIR is too long: no metrics");
        metrics_dir[0] = '\0';
    }
}

void lumira_metrics_start(const char *prog, const struct lumira_route *routes, size_t nroutes)
{
    char err[LUMIRA_MAX_ERRMSG];
    const char *group = prog;
    struct lumira_metrics_proc self;
    enum lumira_err res;
    bool restarted;

    if (lumira_metrics_active() || board.hdr != NULL || metrics_dir[0] == '\0')
        return;
    if (strncmp(group, "lumira-", 7) == 0)
        group += 7;
    res = lumira_metrics_proc_read(0, &self);
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "metrics",
                   "cannot read /proc/self/stat: serving without "
                   "metrics");
        return;
    }
    res = lumira_metrics_board_open(&board, metrics_dir, group, routes, nroutes,
                                    LUMIRA_METRICS_MAX_SLOTS, err, sizeof(err));
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "metrics", "%s: serving without metrics", err);
        return;
    }
    res = lumira_metrics_board_claim(&board, getpid(), self.start_ticks, &me, &restarted);
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "metrics",
                   "every one of the %u scoreboard slots of %s has a live worker: serving "
                   "without metrics",
                   board.nslots, group);
        lumira_metrics_board_close(&board);
        return;
    }
    if (restarted)
        lumira_log(LUMIRA_LOG_INFO, "metrics", "took over the slot of a worker that died");
}

void lumira_metrics_stop(void)
{
    struct lumira_metrics_slot *s = __atomic_exchange_n(&me, NULL, __ATOMIC_RELAXED);

    if (s != NULL)
        lumira_metrics_board_release(s);
}

bool lumira_metrics_active(void)
{
    return __atomic_load_n(&me, __ATOMIC_RELAXED) != NULL;
}

#define ADD(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)

size_t lumira_metrics_bucket(int64_t us)
{
    size_t i;

    for (i = 0; i < LUMIRA_METRICS_BUCKETS; i++)
        if (us <= lumira_metrics_bucket_us[i])
            break;
    return i;
}

static void observe(struct lumira_metrics_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    ADD(h->buckets[lumira_metrics_bucket(us)], 1);
    ADD(h->sum_us, us);
}

void lumira_metrics_busy(void)
{
    if (me != NULL)
        __atomic_store_n(&me->busy, 1, __ATOMIC_RELAXED);
}

void lumira_metrics_request(size_t route, int status, int64_t elapsed_us)
{
    size_t cls = status >= 100 && status < 500 ? (size_t)(status / 100 - 1) : 4;

    if (me == NULL)
        return;
    if (route > LUMIRA_METRICS_UNMATCHED)
        route = LUMIRA_METRICS_UNMATCHED;
    ADD(me->requests[route][cls], 1);
    observe(&me->latency[route], elapsed_us);
    __atomic_store_n(&me->busy, 0, __ATOMIC_RELAXED);
}

void lumira_metrics_call(enum lumira_metrics_dep dep, enum lumira_metrics_outcome outcome,
                         int64_t elapsed_us)
{
    /* The one hook another thread calls (the probes' pings): `me` read once, atomically. */
    struct lumira_metrics_slot *s = __atomic_load_n(&me, __ATOMIC_RELAXED);

    if (s == NULL || dep >= LUMIRA_METRICS_NDEPS || outcome >= LUMIRA_METRICS_NOUTCOMES)
        return;
    ADD(s->calls[dep][outcome], 1);
    observe(&s->call_latency[dep], elapsed_us);
}

enum lumira_metrics_outcome lumira_metrics_outcome_of(enum lumira_err res)
{
    switch (res) {
    case LUMIRA_OK:
    case LUMIRA_ENOTFOUND:
    case LUMIRA_EEXIST:
        return LUMIRA_METRICS_OK;
    case LUMIRA_ETIMEDOUT:
        return LUMIRA_METRICS_TIMEOUT;
    case LUMIRA_EUNAVAIL:
        return LUMIRA_METRICS_UNAVAILABLE;
    default:
        return LUMIRA_METRICS_ERROR;
    }
}

void lumira_metrics_http_call(enum lumira_metrics_dep dep, enum lumira_err res, long status,
                              int64_t elapsed_ms)
{
    enum lumira_metrics_outcome o = lumira_metrics_outcome_of(res);

    if (res == LUMIRA_OK && (status < 200 || status > 299))
        o = LUMIRA_METRICS_ERROR;
    if (res == LUMIRA_ENOTFOUND || res == LUMIRA_EEXIST)
        o = LUMIRA_METRICS_ERROR;
    lumira_metrics_call(dep, o, elapsed_ms * 1000);
}

void lumira_metrics_event(const char *type, enum lumira_metrics_event_outcome outcome)
{
    static const char *const types[] = {"payment_intent.succeeded", "payment_intent.payment_failed",
                                        "payment_intent.canceled", "charge.refunded"};
    size_t t = LUMIRA_METRICS_EV_UNKNOWN, i;

    if (me == NULL || outcome >= LUMIRA_METRICS_NEVOUTCOMES)
        return;
    if (type != NULL) {
        t = LUMIRA_METRICS_EV_OTHER;
        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(type, types[i]) == 0)
                t = i;
    }
    ADD(me->events[t][outcome], 1);
}

void lumira_metrics_order_created(int64_t level)
{
    if (me != NULL && level >= 1 && level <= LUMIRA_METRICS_LEVELS)
        ADD(me->orders_created[level - 1], 1);
}

void lumira_metrics_order_paid(int64_t level)
{
    if (me != NULL && level >= 1 && level <= LUMIRA_METRICS_LEVELS)
        ADD(me->orders_paid[level - 1], 1);
}

void lumira_metrics_webhook_done(const char *type, bool applied, bool paid, int64_t level)
{
    lumira_metrics_event(type, applied ? LUMIRA_METRICS_EV_APPLIED : LUMIRA_METRICS_EV_IGNORED);
    if (paid)
        lumira_metrics_order_paid(level);
}
