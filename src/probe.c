#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "probe.h"

struct lumira_probe {
    struct lumira_mongo *mongo; /* used by the thread only */
    pthread_mutex_t lock;
    pthread_cond_t work;      /* the thread waits here for want > done */
    pthread_cond_t done_cond; /* callers wait here for done to reach their ticket */
    pthread_t thread;
    bool started, busy, quit;
    bool orphaned; /* freed while busy: the thread frees everything when its ping ends */
    uint64_t want; /* tickets handed out */
    uint64_t done; /* every ticket up to this one is answered */
    struct lumira_probe_result last;
};

/* Frees the probe and what it owns; the thread is gone or is the caller. */
static void destroy(struct lumira_probe *p)
{
    lumira_mongo_free(p->mongo);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done_cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* The probe thread: one ping per batch of tickets until told to quit. When the probe was freed
 * during a ping (orphaned), nobody else can reach it any more, so the thread frees it. */
static void *probe_main(void *arg)
{
    struct lumira_probe *p = arg;
    bool orphaned;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct lumira_probe_result r;
        uint64_t target;

        while (!p->quit && p->want == p->done)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->quit)
            break;
        /* One ping answers every ticket handed out before it started. */
        target = p->want;
        p->busy = true;
        pthread_mutex_unlock(&p->lock);

        memset(&r, 0, sizeof(r));
        r.err = lumira_mongo_ping(p->mongo, &r.rtt_ms, r.msg, sizeof(r.msg));
        r.done_ms = lumira_mono_ms();

        pthread_mutex_lock(&p->lock);
        p->busy = false;
        p->done = target;
        p->last = r;
        pthread_cond_broadcast(&p->done_cond);
    }
    orphaned = p->orphaned;
    pthread_mutex_unlock(&p->lock);
    if (orphaned)
        destroy(p);
    return NULL;
}

enum lumira_err lumira_probe_new(struct lumira_mongo *m, struct lumira_probe **out)
{
    struct lumira_probe *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;

    *out = NULL;
    if (p == NULL)
        return LUMIRA_ENOMEM;
    p->mongo = m;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &attr);
    pthread_cond_init(&p->done_cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = p;
    return LUMIRA_OK;
}

/* Starts the thread with every signal blocked, so signals reach the main thread only. */
static enum lumira_err start_thread(struct lumira_probe *p)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thread, NULL, probe_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return LUMIRA_EINTERNAL;
    p->started = true;
    return LUMIRA_OK;
}

enum lumira_err lumira_probe_start(struct lumira_probe *p, uint64_t *ticket)
{
    enum lumira_err err = LUMIRA_OK;

    pthread_mutex_lock(&p->lock);
    if (!p->started)
        err = start_thread(p);
    if (err == LUMIRA_OK) {
        *ticket = ++p->want;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return err;
}

enum lumira_err lumira_probe_wait(struct lumira_probe *p, uint64_t ticket, int64_t deadline_ms,
                                  struct lumira_probe_result *out)
{
    struct timespec ts;
    enum lumira_err err = LUMIRA_OK;

    ts.tv_sec = deadline_ms / 1000;
    ts.tv_nsec = (deadline_ms % 1000) * 1000000;
    pthread_mutex_lock(&p->lock);
    while (p->done < ticket) {
        if (pthread_cond_timedwait(&p->done_cond, &p->lock, &ts) != 0 && p->done < ticket) {
            /* ETIMEDOUT, or a spurious error: either way, only trust the clock. */
            if (lumira_mono_ms() >= deadline_ms) {
                err = LUMIRA_ETIMEDOUT;
                break;
            }
        }
    }
    *out = p->last;
    pthread_mutex_unlock(&p->lock);
    return err;
}

void lumira_probe_last(struct lumira_probe *p, struct lumira_probe_result *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->last;
    pthread_mutex_unlock(&p->lock);
}

const char *lumira_probe_dbname(const struct lumira_probe *p)
{
    return lumira_mongo_dbname(p->mongo);
}

const char *lumira_probe_hosts(const struct lumira_probe *p)
{
    return lumira_mongo_hosts(p->mongo);
}

bool lumira_probe_free(struct lumira_probe *p)
{
    pthread_t thread;
    bool busy, started;

    if (p == NULL)
        return true;
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    busy = p->busy;
    started = p->started;
    thread = p->thread;
    p->orphaned = busy;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    if (busy) {
        /* A ping is blocked in the driver: let it end on its own timeout; the thread then frees
         * the probe (which may already be gone now: only the copied thread id is used). */
        pthread_detach(thread);
        return false;
    }
    if (started)
        pthread_join(thread, NULL);
    destroy(p);
    return true;
}
