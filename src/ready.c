#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ready.h"
#include "str.h"

static void fail(struct lumira_ready_check *c, const char *msg)
{
    c->ok = false;
    (void)lumira_strscpy(c->error, msg, sizeof(c->error));
}

/* GET /v1/balance under min(its own timeout, what is left of the overall budget). */
static void check_stripe(struct lumira_stripe *stripe, int64_t own_ms, int64_t deadline,
                         struct lumira_ready_check *c)
{
    struct lumira_stripe_reply reply;
    int64_t left = deadline - lumira_mono_ms();
    int64_t budget = own_ms < left ? own_ms : left;
    enum lumira_err err;
    char msg[LUMIRA_MAX_ERRMSG];

    if (stripe == NULL || !lumira_stripe_configured(stripe)) {
        fail(c, "STRIPE_SECRET_KEY not configured");
        return;
    }
    if (budget <= 0) {
        c->cut = true;
        fail(c, "timeout: no time left in the readiness budget");
        return;
    }
    lumira_stripe_reply_init(&reply);
    err = lumira_stripe_call(stripe, "GET", "/v1/balance", NULL, 0, NULL, budget, &reply);
    c->elapsed_ms = reply.elapsed_ms;
    if (err == LUMIRA_OK && reply.status >= 200 && reply.status < 300) {
        c->ok = true;
    } else if (err == LUMIRA_OK) {
        (void)lumira_str_fmt(msg, sizeof(msg), "Stripe answered HTTP %ld", reply.status);
        fail(c, msg);
    } else if (err == LUMIRA_ETIMEDOUT) {
        c->cut = budget < own_ms;
        (void)lumira_str_fmt(msg, sizeof(msg), "timeout after %lldms%s", (long long)budget,
                             c->cut ? " (readiness budget)" : "");
        fail(c, msg);
    } else {
        fail(c, reply.error[0] != '\0' ? reply.error : lumira_strerror(err));
    }
    lumira_stripe_reply_cleanup(&reply);
}

/* Waits for the ping asked for with `ticket` until min(own deadline, overall deadline). */
static void check_mongo(struct lumira_probe *probe, uint64_t ticket, int64_t t0, int64_t own_ms,
                        int64_t deadline, struct lumira_ready_check *c)
{
    struct lumira_probe_result r;
    int64_t own_deadline = t0 + own_ms;
    int64_t until = own_deadline < deadline ? own_deadline : deadline;
    char msg[LUMIRA_MAX_ERRMSG];

    if (lumira_probe_wait(probe, ticket, until, &r) == LUMIRA_ETIMEDOUT) {
        c->elapsed_ms = lumira_mono_ms() - t0;
        c->cut = until < own_deadline;
        (void)lumira_str_fmt(msg, sizeof(msg), "ping timeout after %lldms%s",
                             (long long)(until - t0), c->cut ? " (readiness budget)" : "");
        fail(c, msg);
        return;
    }
    c->elapsed_ms = r.err == LUMIRA_OK ? r.rtt_ms : lumira_mono_ms() - t0;
    if (r.err == LUMIRA_OK)
        c->ok = true;
    else
        fail(c, r.msg[0] != '\0' ? r.msg : lumira_strerror(r.err));
}

void lumira_ready_run(struct lumira_probe *probe, struct lumira_stripe *stripe,
                      const struct lumira_ready_limits *limits, struct lumira_ready_report *out)
{
    int64_t t0 = lumira_mono_ms();
    int64_t deadline = t0 + limits->total_ms;
    uint64_t ticket = 0;
    bool probe_started = false, internal = false;

    memset(out, 0, sizeof(*out));
    /* The ping starts first and runs on the probe thread while Stripe is asked here. */
    if (probe == NULL)
        fail(&out->mongo, "MONGODB_URI not configured");
    else if (lumira_probe_start(probe, &ticket) != LUMIRA_OK)
        internal = true, fail(&out->mongo, "cannot start the database probe");
    else
        probe_started = true;

    check_stripe(stripe, limits->stripe_ms, deadline, &out->stripe);
    if (probe_started)
        check_mongo(probe, ticket, t0, limits->mongo_ms, deadline, &out->mongo);

    if (out->mongo.cut || out->stripe.cut) {
        out->http_status = 408;
        out->ready_status = "timeout";
    } else if (internal) {
        out->http_status = 503;
        out->ready_status = "error";
    } else if (out->mongo.ok && out->stripe.ok) {
        out->http_status = 200;
        out->ready_status = "ok";
    } else {
        out->http_status = 503;
        out->ready_status = "not-ready";
    }
}
