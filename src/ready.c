#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "ready.h"
#include "str.h"

/* Records a failure: `msg` the detail, `generic` its kind (ready.h). */
static void fail(struct lumira_ready_check *c, const char *generic, const char *msg)
{
    c->ok = false;
    (void)lumira_strscpy(c->generic, generic, sizeof(c->generic));
    (void)lumira_strscpy(c->error, msg, sizeof(c->error));
}

/* The kind of a failed call, for the generic strings. */
static const char *kind_of(enum lumira_err err)
{
    switch (err) {
    case LUMIRA_ETIMEDOUT:
        return "timeout";
    case LUMIRA_EUNAVAIL:
        return "connection failed";
    case LUMIRA_ECONFIG:
        return "authentication failed";
    default:
        return "invalid answer";
    }
}

/* Whether a 2xx answer from GET /v1/balance is one: a JSON object whose "object" is "balance"
 * (not a proxy's or a captive portal's page). */
static bool is_balance(const struct lumira_buf *body)
{
    struct json_object *o = NULL, *v;
    char why[64];
    bool ok;

    if (body->len == 0 ||
        lumira_json_parse_object(body->ptr, body->len, &o, why, sizeof(why)) != LUMIRA_OK)
        return false;
    ok = json_object_object_get_ex(o, "object", &v) && json_object_is_type(v, json_type_string) &&
         strcmp(json_object_get_string(v), "balance") == 0;
    json_object_put(o);
    return ok;
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
        fail(c, "STRIPE_SECRET_KEY not configured", "STRIPE_SECRET_KEY not configured");
        return;
    }
    if (budget <= 0) {
        c->cut = true;
        fail(c, "timeout", "timeout: no time left in the readiness budget");
        return;
    }
    lumira_stripe_reply_init(&reply);
    err = lumira_stripe_call(stripe, "GET", "/v1/balance", NULL, 0, NULL, budget, &reply);
    c->elapsed_ms = reply.elapsed_ms;
    if (err == LUMIRA_OK && reply.status >= 200 && reply.status < 300) {
        if (is_balance(&reply.body))
            c->ok = true;
        else
            fail(c, "invalid answer", "Stripe answered 2xx with something that is not a balance");
    } else if (err == LUMIRA_OK) {
        (void)lumira_str_fmt(msg, sizeof(msg), "Stripe answered HTTP %ld", reply.status);
        if (reply.status == 401)
            fail(c, "authentication failed", msg);
        else {
            char generic[sizeof(c->generic)];

            (void)lumira_str_fmt(generic, sizeof(generic), "HTTP %ld", reply.status);
            fail(c, generic, msg);
        }
    } else if (err == LUMIRA_ETIMEDOUT) {
        c->cut = budget < own_ms;
        (void)lumira_str_fmt(msg, sizeof(msg), "timeout after %lldms%s", (long long)budget,
                             c->cut ? " (readiness budget)" : "");
        fail(c, "timeout", msg);
    } else {
        fail(c, kind_of(err), reply.error[0] != '\0' ? reply.error : lumira_strerror(err));
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
        fail(c, "timeout", msg);
        return;
    }
    c->elapsed_ms = r.err == LUMIRA_OK ? r.rtt_ms : lumira_mono_ms() - t0;
    if (r.err == LUMIRA_OK)
        c->ok = true;
    else
        fail(c, kind_of(r.err), r.msg[0] != '\0' ? r.msg : lumira_strerror(r.err));
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
        fail(&out->mongo, "MONGODB_URI not configured", "MONGODB_URI not configured");
    else if (lumira_probe_start(probe, &ticket) != LUMIRA_OK)
        internal = true, fail(&out->mongo, "connection failed", "cannot start the database probe");
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
    out->wall_ms = lumira_wall_ms();
    out->mono_ms = lumira_mono_ms();
}

bool lumira_ready_complete(const struct lumira_ready_report *rep)
{
    return rep->http_status == 200 || strcmp(rep->ready_status, "not-ready") == 0;
}
