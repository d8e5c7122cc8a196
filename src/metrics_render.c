/* The Prometheus text exposition (format 0.0.4) of every group's scoreboard (metrics.h): what
 * lumira-health answers on GET /api/metrics. Runs at scrape time only: system calls and
 * allocation are fine here, never on a worker's request path. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lumira_limits.h"
#include "log.h"
#include "metrics.h"
#include "str.h"

static const char *const class_names[LUMIRA_METRICS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const dep_names[LUMIRA_METRICS_NDEPS] = {"mongodb", "stripe", "n8n"};
static const char *const outcome_names[LUMIRA_METRICS_NOUTCOMES] = {"ok", "error", "timeout",
                                                                    "unavailable"};
static const char *const event_names[LUMIRA_METRICS_NEVENTS] = {
    "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
    "charge.refunded", "other", "unknown"};
static const char *const event_outcome_names[LUMIRA_METRICS_NEVOUTCOMES] = {
    "applied", "ignored", "duplicate", "refused", "error"};

/* A live worker's figures. */
struct worker {
    uint32_t slot;
    struct lumira_metrics_proc proc;
    int64_t open_fds; /* -1 when /proc/<pid>/fd could not be read */
};

/* One group, its slots summed. */
struct group {
    const char *name;
    bool up;
    struct lumira_metrics_board b;
    struct lumira_metrics_slot sum;
    uint32_t busy, idle, nworkers;
    struct worker workers[LUMIRA_METRICS_MAX_SLOTS];
};

/* A writer with a sticky error: the first failure is kept and everything after it skipped. */
struct out {
    struct lumira_buf *b;
    enum lumira_err err;
};

static void put(struct out *o, const char *s)
{
    if (o->err == LUMIRA_OK)
        o->err = lumira_buf_adds(o->b, s);
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    va_list ap;

    if (o->err != LUMIRA_OK)
        return;
    va_start(ap, fmt);
    o->err = lumira_buf_vaddf(o->b, fmt, ap);
    va_end(ap);
}

enum lumira_err lumira_metrics_label_value(struct lumira_buf *out, const char *s)
{
    enum lumira_err err = LUMIRA_OK;
    size_t run;

    while (err == LUMIRA_OK && *s != '\0') {
        run = strcspn(s, "\\\"\n");
        if (run > 0) {
            err = lumira_buf_add(out, s, run);
            s += run;
            continue;
        }
        err = lumira_buf_adds(out, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\");
        s++;
    }
    return err;
}

/* `name="value"`, with a leading comma unless first. */
static void label(struct out *o, bool first, const char *name, const char *value)
{
    putf(o, "%s%s=\"", first ? "" : ",", name);
    if (o->err == LUMIRA_OK)
        o->err = lumira_metrics_label_value(o->b, value);
    put(o, "\"");
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    putf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sums every slot of a board into g->sum (relaxed loads: each word is a counter on its own),
 * and notes the live workers. */
static void sum_group(struct group *g)
{
    const size_t first = offsetof(struct lumira_metrics_slot, restarts) / sizeof(uint64_t);
    const size_t words = sizeof(struct lumira_metrics_slot) / sizeof(uint64_t);
    uint64_t *dst = (uint64_t *)&g->sum;
    uint32_t i;
    size_t w;

    memset(&g->sum, 0, sizeof(g->sum));
    for (i = 0; i < g->b.nslots; i++) {
        struct lumira_metrics_slot *s = &g->b.slots[i];
        const uint64_t *src = (const uint64_t *)s;
        uint64_t owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);

        for (w = first; w < words; w++)
            dst[w] += __atomic_load_n(&src[w], __ATOMIC_RELAXED);
        if (owner == 0 || !lumira_metrics_owner_alive(owner))
            continue;
        if (__atomic_load_n(&s->busy, __ATOMIC_RELAXED))
            g->busy++;
        else
            g->idle++;
        {
            struct worker *wk = &g->workers[g->nworkers];
            char path[64];
            DIR *d;
            struct dirent *e;

            if (lumira_metrics_proc_read(lumira_metrics_owner_pid(owner), &wk->proc) != LUMIRA_OK)
                continue;
            wk->slot = i;
            wk->open_fds = -1;
            (void)lumira_str_fmt(path, sizeof(path), "/proc/%ld/fd",
                                 (long)lumira_metrics_owner_pid(owner));
            if ((d = opendir(path)) != NULL) {
                wk->open_fds = 0;
                while ((e = readdir(d)) != NULL)
                    if (e->d_name[0] != '.')
                        wk->open_fds++;
                closedir(d);
            }
            g->nworkers++;
        }
    }
}

/* The boot time in seconds since the epoch (/proc/stat btime), 0 when unknown. */
static uint64_t boot_time(void)
{
    char text[16384], *p;
    uint64_t v = 0;
    ssize_t n;
    size_t len;
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    p = strstr(text, "\nbtime ");
    if (p == NULL)
        return 0;
    p += 7;
    len = strspn(p, "0123456789");
    if (lumira_parse_u64(p, len, UINT64_MAX / 2, &v) != LUMIRA_OK)
        return 0;
    return v;
}

static void put_seconds_us(struct out *o, uint64_t us)
{
    putf(o, "%llu.%06llu", (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
}

/* One histogram's lines; `labels` is written before `le` (without a trailing comma). */
static void histogram(struct out *o, const char *name, const struct lumira_metrics_hist *h,
                      void (*labels)(struct out *, const void *), const void *arg)
{
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i <= LUMIRA_METRICS_BUCKETS; i++) {
        cum += h->buckets[i];
        putf(o, "%s_bucket{", name);
        labels(o, arg);
        putf(o, ",le=\"%s\"} %llu\n",
             i < LUMIRA_METRICS_BUCKETS ? lumira_metrics_bucket_le[i] : "+Inf",
             (unsigned long long)cum);
    }
    putf(o, "%s_sum{", name);
    labels(o, arg);
    put(o, "} ");
    put_seconds_us(o, h->sum_us);
    putf(o, "\n%s_count{", name);
    labels(o, arg);
    putf(o, "} %llu\n", (unsigned long long)cum);
}

struct route_labels {
    const struct group *g;
    size_t r;
};

static void put_route_labels(struct out *o, const void *arg)
{
    const struct route_labels *rl = arg;
    const struct lumira_metrics_header *h = rl->g->b.hdr;

    label(o, true, "group", rl->g->name);
    if (rl->r == LUMIRA_METRICS_UNMATCHED) {
        label(o, false, "method", "");
        label(o, false, "route", "unmatched");
    } else {
        label(o, false, "method", h->routes[rl->r].method);
        label(o, false, "route", h->routes[rl->r].pattern);
    }
}

struct dep_labels {
    const struct group *g;
    size_t d;
};

static void put_dep_labels(struct out *o, const void *arg)
{
    const struct dep_labels *dl = arg;

    label(o, true, "group", dl->g->name);
    label(o, false, "dependency", dep_names[dl->d]);
}

static bool route_used(const struct group *g, size_t r)
{
    size_t c;

    for (c = 0; c < LUMIRA_METRICS_CLASSES; c++)
        if (g->sum.requests[r][c] != 0)
            return true;
    return false;
}

/* The route indexes of a group: those of its table, then "unmatched". */
static size_t route_at(const struct group *g, size_t i)
{
    return i < g->b.hdr->nroutes ? i : LUMIRA_METRICS_UNMATCHED;
}

static void render_http(struct out *o, const struct group *gs, size_t n)
{
    size_t gi, i, r, c;

    family(o, "lumira_http_requests_total", "counter",
           "Requests served, by group, route pattern and status class.");
    for (gi = 0; gi < n; gi++) {
        const struct group *g = &gs[gi];

        for (i = 0; g->up && i <= g->b.hdr->nroutes; i++) {
            struct route_labels rl = {g, r = route_at(g, i)};

            for (c = 0; c < LUMIRA_METRICS_CLASSES; c++) {
                if (g->sum.requests[r][c] == 0)
                    continue;
                put(o, "lumira_http_requests_total{");
                put_route_labels(o, &rl);
                label(o, false, "status", class_names[c]);
                putf(o, "} %llu\n", (unsigned long long)g->sum.requests[r][c]);
            }
        }
    }
    family(o, "lumira_http_request_duration_seconds", "histogram",
           "Time from a request's arrival in the worker to its rendered response.");
    for (gi = 0; gi < n; gi++) {
        const struct group *g = &gs[gi];

        for (i = 0; g->up && i <= g->b.hdr->nroutes; i++) {
            struct route_labels rl = {g, r = route_at(g, i)};

            if (route_used(g, r))
                histogram(o, "lumira_http_request_duration_seconds", &g->sum.latency[r],
                          put_route_labels, &rl);
        }
    }
}

static void render_workers(struct out *o, const struct group *gs, size_t n)
{
    size_t gi;

    family(o, "lumira_scoreboard_up", "gauge",
           "1 when the group's scoreboard file could be read, else 0 (group never started?).");
    for (gi = 0; gi < n; gi++) {
        put(o, "lumira_scoreboard_up{");
        label(o, true, "group", gs[gi].name);
        putf(o, "} %d\n", gs[gi].up ? 1 : 0);
    }
    family(o, "lumira_http_requests_in_flight", "gauge",
           "Requests being handled now (a worker handles one at a time).");
    for (gi = 0; gi < n; gi++) {
        if (!gs[gi].up)
            continue;
        put(o, "lumira_http_requests_in_flight{");
        label(o, true, "group", gs[gi].name);
        putf(o, "} %u\n", gs[gi].busy);
    }
    family(o, "lumira_workers", "gauge", "Live workers of the group, busy or idle.");
    for (gi = 0; gi < n; gi++) {
        if (!gs[gi].up)
            continue;
        put(o, "lumira_workers{");
        label(o, true, "group", gs[gi].name);
        putf(o, ",state=\"busy\"} %u\nlumira_workers{", gs[gi].busy);
        label(o, true, "group", gs[gi].name);
        putf(o, ",state=\"idle\"} %u\n", gs[gi].idle);
    }
    family(o, "lumira_worker_restarts_total", "counter",
           "Workers that took the slot of a worker that had died without stopping.");
    for (gi = 0; gi < n; gi++) {
        if (!gs[gi].up)
            continue;
        put(o, "lumira_worker_restarts_total{");
        label(o, true, "group", gs[gi].name);
        putf(o, "} %llu\n", (unsigned long long)gs[gi].sum.restarts);
    }
}

static void render_deps(struct out *o, const struct group *gs, size_t n)
{
    size_t gi, d, k;

    family(o, "lumira_dependency_calls_total", "counter",
           "Calls to MongoDB, Stripe and n8n, by outcome (ok, error, timeout, unavailable).");
    for (gi = 0; gi < n; gi++)
        for (d = 0; gs[gi].up && d < LUMIRA_METRICS_NDEPS; d++)
            for (k = 0; k < LUMIRA_METRICS_NOUTCOMES; k++) {
                if (gs[gi].sum.calls[d][k] == 0)
                    continue;
                put(o, "lumira_dependency_calls_total{");
                label(o, true, "group", gs[gi].name);
                label(o, false, "dependency", dep_names[d]);
                label(o, false, "outcome", outcome_names[k]);
                putf(o, "} %llu\n", (unsigned long long)gs[gi].sum.calls[d][k]);
            }
    family(o, "lumira_dependency_call_duration_seconds", "histogram",
           "Time of the calls to MongoDB, Stripe and n8n, whatever their outcome.");
    for (gi = 0; gi < n; gi++)
        for (d = 0; gs[gi].up && d < LUMIRA_METRICS_NDEPS; d++) {
            struct dep_labels dl = {&gs[gi], d};
            uint64_t any = 0;

            for (k = 0; k < LUMIRA_METRICS_NOUTCOMES; k++)
                any += gs[gi].sum.calls[d][k];
            if (any != 0)
                histogram(o, "lumira_dependency_call_duration_seconds", &gs[gi].sum.call_latency[d],
                          put_dep_labels, &dl);
        }
}

static void render_business(struct out *o, const struct group *gs, size_t n)
{
    static const char *const levels[LUMIRA_METRICS_LEVELS] = {"1", "2", "3", "4"};
    size_t gi, t, k, l;
    int which;

    family(o, "lumira_webhook_events_total", "counter",
           "Stripe webhook events by type and outcome (applied, ignored, duplicate, refused, "
           "error).");
    for (gi = 0; gi < n; gi++)
        for (t = 0; gs[gi].up && t < LUMIRA_METRICS_NEVENTS; t++)
            for (k = 0; k < LUMIRA_METRICS_NEVOUTCOMES; k++) {
                if (gs[gi].sum.events[t][k] == 0)
                    continue;
                put(o, "lumira_webhook_events_total{");
                label(o, true, "group", gs[gi].name);
                label(o, false, "type", event_names[t]);
                label(o, false, "outcome", event_outcome_names[k]);
                putf(o, "} %llu\n", (unsigned long long)gs[gi].sum.events[t][k]);
            }
    for (which = 0; which < 2; which++) {
        const char *name = which == 0 ? "lumira_orders_created_total" : "lumira_orders_paid_total";

        family(o, name, "counter",
               which == 0 ? "Orders created at checkout, by level."
                          : "Orders paid (level 1 at checkout, others by the webhook), by level.");
        for (gi = 0; gi < n; gi++)
            for (l = 0; gs[gi].up && l < LUMIRA_METRICS_LEVELS; l++) {
                uint64_t v = which == 0 ? gs[gi].sum.orders_created[l] : gs[gi].sum.orders_paid[l];

                if (v == 0)
                    continue;
                putf(o, "%s{", name);
                label(o, true, "group", gs[gi].name);
                label(o, false, "level", levels[l]);
                putf(o, "} %llu\n", (unsigned long long)v);
            }
    }
}

static void worker_labels(struct out *o, const struct group *g, const struct worker *w)
{
    char slot[LUMIRA_I64_SIZE];

    (void)lumira_fmt_i64(w->slot, slot);
    put(o, "{");
    label(o, true, "group", g->name);
    label(o, false, "slot", slot);
    put(o, "} ");
}

static void render_processes(struct out *o, const struct group *gs, size_t n)
{
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    uint64_t btime = boot_time();
    size_t gi, i;
    int which;
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"lumira_process_resident_memory_bytes", "gauge", "Resident memory of each live worker."},
        {"lumira_process_cpu_seconds_total", "counter",
         "User and system CPU time of each live worker (its slot's series starts again when the "
         "worker is replaced)."},
        {"lumira_process_open_fds", "gauge", "Open file descriptors of each live worker."},
        {"lumira_process_start_time_seconds", "gauge",
         "Start time of each live worker, seconds since the epoch."},
    };

    if (hz <= 0)
        hz = 100;
    if (page <= 0)
        page = 4096;
    for (which = 0; which < 4; which++) {
        family(o, fams[which].name, fams[which].type, fams[which].help);
        for (gi = 0; gi < n; gi++)
            for (i = 0; i < gs[gi].nworkers; i++) {
                const struct worker *w = &gs[gi].workers[i];

                if (which == 2 && w->open_fds < 0)
                    continue;
                put(o, fams[which].name);
                worker_labels(o, &gs[gi], w);
                switch (which) {
                case 0:
                    putf(o, "%llu\n",
                         (unsigned long long)w->proc.rss_pages * (unsigned long long)page);
                    break;
                case 1:
                    putf(o, "%.2f\n", (double)w->proc.cpu_ticks / (double)hz);
                    break;
                case 2:
                    putf(o, "%lld\n", (long long)w->open_fds);
                    break;
                default:
                    putf(o, "%.2f\n", (double)btime + (double)w->proc.start_ticks / (double)hz);
                    break;
                }
            }
    }
}

enum lumira_err lumira_metrics_render(const char *dir, const char *const *groups, size_t n,
                                      struct lumira_buf *out)
{
    struct out o = {out, LUMIRA_OK};
    struct group *gs;
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res;
    size_t i;

    if (n == 0)
        return LUMIRA_OK;
    gs = calloc(n, sizeof(*gs));
    if (gs == NULL)
        return LUMIRA_ENOMEM;
    for (i = 0; i < n; i++) {
        gs[i].name = groups[i];
        res = lumira_metrics_board_map(&gs[i].b, dir, groups[i], err, sizeof(err));
        if (res == LUMIRA_OK) {
            gs[i].up = true;
            sum_group(&gs[i]);
        } else if (res != LUMIRA_ENOTFOUND) {
            lumira_log(LUMIRA_LOG_WARN, "metrics", "%s", err);
        }
    }
    render_workers(&o, gs, n);
    render_http(&o, gs, n);
    render_deps(&o, gs, n);
    render_business(&o, gs, n);
    render_processes(&o, gs, n);
    for (i = 0; i < n; i++)
        lumira_metrics_board_close(&gs[i].b);
    free(gs);
    return o.err;
}
