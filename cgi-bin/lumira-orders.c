/* lumira-orders: checkout, the Stripe webhook, the orders API and the expert desk (API.md
 * "Checkout and payments", "Orders", "Expert desk"; docs/ORDERS.md says how the contract is
 * filled in). This program handles money: every change of an order is a conditional update on
 * its current status, every exactly-once decision an insert under a unique index (orders.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoconfig.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "experts.h"
#include "fetch.h"
#include "json.h"
#include "log.h"
#include "orders.h"
#include "server.h"
#include "str.h"
#include "stripe.h"
#include "users.h"
#include "valid.h"
#include "webhook.h"

#define PROG "lumira-orders"
#define JWT_SECRET_MIN 32
/* Stripe's own tolerance for webhook timestamps. */
#define WEBHOOK_TOLERANCE_S 300
#define MAX_PHONE_CHARS 32
#define MAX_SHORT_CHARS 100
#define MAX_QUESTION_CHARS 2000
#define MAX_NOTES_CHARS 5000
#define MAX_PROMPT_CHARS 20000
#define MAX_CONTENT_CHARS 100000
#define MAX_CONTENT_FIELDS 32
#define MAX_REASON 200
#define DESK_LIST_MAX 100
#define DAY_MS (86400 * INT64_C(1000))

struct ctx {
    const struct lumira_config *cfg;
    struct lumira_mongo *db;
    struct lumira_stripe *stripe;
    struct lumira_fetch *fetch;
    bool indexes_done;
};

/* Makes the indexes once per worker; a database that is down at start is retried on the next
 * request. */
static void ensure_indexes(struct ctx *c)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res;

    if (c->indexes_done)
        return;
    res = lumira_orders_ensure_indexes(c->db, err, sizeof(err));
    if (res == LUMIRA_OK || res == LUMIRA_ECONFIG)
        res = lumira_users_ensure_indexes(c->db, err, sizeof(err));
    if (res == LUMIRA_OK) {
        c->indexes_done = true;
    } else if (res == LUMIRA_ECONFIG) {
        lumira_log(LUMIRA_LOG_ERROR, "db", "%s", err);
        c->indexes_done = true;
    } else {
        lumira_log(LUMIRA_LOG_WARN, "db", "cannot create the orders indexes yet: %s", err);
    }
}

/* Logs a failed data access and answers 503 or 500. */
static void db_failed(struct lumira_req *req, struct lumira_resp *resp, enum lumira_err res,
                      const char *what, const char *err)
{
    lumira_log(res == LUMIRA_EUNAVAIL ? LUMIRA_LOG_WARN : LUMIRA_LOG_ERROR, "db", "%s: %s", what,
               err);
    lumira_resp_fail(resp, req, res);
}

/* Logs one line about an order, with its number and the customer's address masked. */
static void log_order(enum lumira_log_level level, const struct lumira_order *o, const char *msg)
{
    char masked[LUMIRA_MAX_EMAIL + 8];
    struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("orderNumber", o->number),
        LUMIRA_LOG_STR("email", masked),
        LUMIRA_LOG_END,
    };

    lumira_log_mask_email(o->email, strlen(o->email), masked, sizeof(masked));
    lumira_log_fields(level, "orders", fields, "%s", msg);
}

/* Midnight UTC of the day of `now_ms`. */
static int64_t day_start(int64_t now_ms)
{
    return now_ms - now_ms % DAY_MS;
}

/* ------------------------------------------------------------------ reading requests */

/* Appends string field `key` of `obj` to `out` when present, after lumira_valid_str(). */
static void form_str(struct lumira_valid *v, const struct json_object *obj, bson_t *out,
                     const char *key, unsigned flags, size_t min, size_t max)
{
    const char *s;
    size_t len;

    if (lumira_valid_str(v, obj, key, flags, min, max, &s, &len) && s != NULL)
        bson_append_utf8(out, key, -1, s, (int)len);
}

/* Reads a checkout's formData into `form` (only the fields we know; the address normalised). */
static void read_form(struct lumira_valid *v, const struct json_object *fd, bson_t *form,
                      char email[LUMIRA_MAX_EMAIL + 1])
{
    struct json_object *prefs;
    enum lumira_err res;

    lumira_valid_prefix(v, "formData");
    form_str(v, fd, form, "firstName", LUMIRA_VALID_REQUIRED, 1, LUMIRA_MAX_NAME_CHARS);
    form_str(v, fd, form, "lastName", LUMIRA_VALID_REQUIRED, 1, LUMIRA_MAX_NAME_CHARS);
    if (lumira_valid_email(v, fd, "email", LUMIRA_VALID_REQUIRED, email))
        BSON_APPEND_UTF8(form, "email", email);
    form_str(v, fd, form, "phone", 0, 0, MAX_PHONE_CHARS);
    form_str(v, fd, form, "dateOfBirth", 0, 0, MAX_SHORT_CHARS);
    form_str(v, fd, form, "specificQuestion", LUMIRA_VALID_MULTILINE, 0, MAX_QUESTION_CHARS);
    res = lumira_json_get_object(fd, "preferences", &prefs);
    if (res == LUMIRA_EINVAL) {
        lumira_valid_fail(v, "preferences", "must be an object");
    } else if (res == LUMIRA_OK) {
        bson_t p;

        BSON_APPEND_DOCUMENT_BEGIN(form, "preferences", &p);
        lumira_valid_prefix(v, "formData.preferences");
        form_str(v, prefs, &p, "audioVoice", 0, 0, MAX_SHORT_CHARS);
        form_str(v, prefs, &p, "deliveryFormat", 0, 0, MAX_SHORT_CHARS);
        bson_append_document_end(form, &p);
    }
    lumira_valid_prefix(v, NULL);
}

/* Reads generatedContent: an object of at most MAX_CONTENT_FIELDS strings. Absent is allowed
 * when not `required`. *present says whether `out` was filled. */
static void read_content(struct lumira_valid *v, const struct json_object *body, bool required,
                         bson_t *out, bool *present)
{
    struct json_object *gc;
    enum lumira_err res = lumira_json_get_object(body, "generatedContent", &gc);
    size_t n = 0;

    *present = false;
    if (res == LUMIRA_ENOTFOUND) {
        if (required)
            lumira_valid_fail(v, "generatedContent", "is required");
        return;
    }
    if (res != LUMIRA_OK) {
        lumira_valid_fail(v, "generatedContent", "must be an object");
        return;
    }
    lumira_valid_prefix(v, "generatedContent");
    json_object_object_foreach(gc, key, val)
    {
        size_t klen = strlen(key);

        (void)val;
        if (++n > MAX_CONTENT_FIELDS) {
            lumira_valid_prefix(v, NULL);
            lumira_valid_fail(v, "generatedContent", "has too many fields (at most 32)");
            return;
        }
        if (klen == 0 || klen > LUMIRA_UTF8_BYTES(MAX_SHORT_CHARS) || key[0] == '$' ||
            strchr(key, '.') != NULL) {
            lumira_valid_fail(v, "(name)", "field names must be 1-100 characters without '.' "
                                            "or a leading '$'");
            continue;
        }
        form_str(v, gc, out, key, LUMIRA_VALID_MULTILINE, 0, MAX_CONTENT_CHARS);
    }
    lumira_valid_prefix(v, NULL);
    *present = true;
}

/* The route's ":id" as an ObjectId in text; otherwise answers 400 INVALID_ID. */
static bool order_param(struct lumira_req *req, struct lumira_resp *resp,
                        char id[LUMIRA_OID_HEX + 1])
{
    size_t len;
    const char *s = lumira_req_param(req, "id", &len);
    bson_oid_t oid;

    if (s == NULL || !lumira_oid_parse(s, len, &oid)) {
        lumira_resp_error(resp, req, 400, "INVALID_ID", "Invalid order id", NULL);
        return false;
    }
    bson_oid_to_string(&oid, id);
    return true;
}

/* Loads order `id` (and its document when `doc`); otherwise answers 404 or the failure. */
static bool load_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                       const char *id, struct lumira_order *o, bson_t **doc)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res = lumira_orders_find_id(c->db, id, o, doc, err, sizeof(err));

    if (res == LUMIRA_OK)
        return true;
    if (res == LUMIRA_ENOTFOUND)
        lumira_resp_error(resp, req, 404, "ORDER_NOT_FOUND", "Order not found", NULL);
    else
        db_failed(req, resp, res, "order lookup failed", err);
    return false;
}

/* 409 INVALID_TRANSITION naming both statuses. */
static void invalid_transition(struct lumira_req *req, struct lumira_resp *resp,
                               enum lumira_order_status from, const char *to)
{
    bool ok = true;
    struct json_object *extra = lumira_json_new_object(&ok);
    char msg[96];

    lumira_json_put_str(extra, "from", lumira_order_status_name(from), &ok);
    lumira_json_put_str(extra, "to", to, &ok);
    (void)lumira_str_fmt(msg, sizeof(msg), "An order that is %s cannot become %s",
                         lumira_order_status_name(from) != NULL ? lumira_order_status_name(from)
                                                                 : "unknown",
                         to);
    lumira_resp_error_with(resp, req, 409, "INVALID_TRANSITION", msg, ok ? extra : NULL);
    if (!ok)
        json_object_put(extra);
}

/* Answers {"success": true, "order": <the order as stored now>}. */
static void reply_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                        const char *id)
{
    struct lumira_order o;
    bson_t *doc = NULL;
    bool ok = true;
    struct json_object *root;

    if (!load_order(c, req, resp, id, &o, &doc))
        return;
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put(root, "order", lumira_bson_to_json(doc, &ok), &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
    bson_destroy(doc);
}

/* ------------------------------------------------------------------ checkout */

/* Stripe's own message from an error reply ({"error": {"message"}}), else "". */
static void stripe_message(const struct lumira_stripe_reply *r, char *out, size_t size)
{
    struct json_object *root = NULL, *e;
    const char *msg;
    size_t len;
    char why[64];

    out[0] = '\0';
    if (lumira_json_parse_object(r->body.ptr != NULL ? r->body.ptr : "", r->body.len, &root, why,
                                 sizeof(why)) != LUMIRA_OK)
        return;
    if (lumira_json_get_object(root, "error", &e) == LUMIRA_OK &&
        lumira_json_get_str(e, "message", 4096, &msg, &len) == LUMIRA_OK)
        (void)lumira_str_fmt(out, size, "%.*s", (int)(len < 160 ? len : 160), msg);
    json_object_put(root);
}

/* Calls Stripe (POST `path` with `form`) and returns its parsed 2xx reply (the caller puts
 * it). Otherwise writes why into `reason` and returns NULL. */
static struct json_object *stripe_post(struct ctx *c, const char *path,
                                       const struct lumira_buf *form, const char *idem,
                                       char reason[MAX_REASON])
{
    struct lumira_stripe_reply r;
    struct json_object *root = NULL;
    enum lumira_err res;
    char msg[192], why[64];

    lumira_stripe_reply_init(&r);
    res = lumira_stripe_call(c->stripe, "POST", path, form->ptr, form->len, idem,
                             c->cfg->stripe_timeout_ms, &r);
    if (res != LUMIRA_OK) {
        (void)lumira_str_fmt(reason, MAX_REASON, "stripe: %s", r.error);
    } else if (r.status < 200 || r.status > 299) {
        stripe_message(&r, msg, sizeof(msg));
        (void)lumira_str_fmt(reason, MAX_REASON, "stripe: HTTP %ld%s%s", r.status,
                             msg[0] != '\0' ? ": " : "", msg);
    } else if (lumira_json_parse_object(r.body.ptr != NULL ? r.body.ptr : "", r.body.len, &root,
                                        why, sizeof(why)) != LUMIRA_OK) {
        (void)lumira_str_fmt(reason, MAX_REASON, "stripe: unreadable reply to %s: %s", path, why);
        root = NULL;
    }
    lumira_log(root != NULL ? LUMIRA_LOG_DEBUG : LUMIRA_LOG_WARN, "stripe", "POST %s: %s (%lldms)",
               path, root != NULL ? "ok" : reason, (long long)r.elapsed_ms);
    lumira_stripe_reply_cleanup(&r);
    return root;
}

/* Copies string `field` of a Stripe reply into `out`; false (with `reason`) when it has none. */
static bool stripe_field(const struct json_object *root, const char *field, char *out,
                         size_t size, char reason[MAX_REASON])
{
    const char *s;
    size_t len;

    if (root == NULL)
        return false;
    if (lumira_json_get_str(root, field, size - 1, &s, &len) != LUMIRA_OK || len == 0) {
        (void)lumira_str_fmt(reason, MAX_REASON, "stripe: a reply without a usable %s", field);
        return false;
    }
    memcpy(out, s, len + 1);
    return true;
}

/* Adds form pairs; false when out of memory. */
static bool form_add(struct lumira_buf *f, const char *k, const char *v)
{
    return lumira_stripe_form_add(f, k, v) == LUMIRA_OK;
}

/* The user's Stripe customer, made once per user (the Idempotency-Key makes two checkouts of
 * a new customer at once get the same one). */
static bool stripe_customer(struct ctx *c, struct lumira_user *u, const char *email,
                            const bson_t *form, char reason[MAX_REASON])
{
    struct lumira_buf f;
    char idem[64], name[LUMIRA_UTF8_BYTES(2 * LUMIRA_MAX_NAME_CHARS) + 2], err[LUMIRA_MAX_ERRMSG];
    bson_iter_t it;
    const char *first = "", *last = "";
    enum lumira_err res;
    bool ok;

    if (u->stripe_customer[0] != '\0')
        return true;
    if (bson_iter_init_find(&it, form, "firstName") && BSON_ITER_HOLDS_UTF8(&it))
        first = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, form, "lastName") && BSON_ITER_HOLDS_UTF8(&it))
        last = bson_iter_utf8(&it, NULL);
    (void)lumira_str_fmt(name, sizeof(name), "%s %s", first, last);
    (void)lumira_str_fmt(idem, sizeof(idem), "lumira-customer-%s", u->id);
    lumira_buf_init(&f, 4096);
    ok = form_add(&f, "email", email) && form_add(&f, "name", name) &&
         form_add(&f, "metadata[userId]", u->id);
    if (!ok) {
        (void)lumira_str_fmt(reason, MAX_REASON, "out of memory");
    } else {
        struct json_object *r = stripe_post(c, "/v1/customers", &f, idem, reason);

        ok = stripe_field(r, "id", u->stripe_customer, sizeof(u->stripe_customer), reason);
        json_object_put(r);
    }
    lumira_buf_cleanup(&f);
    if (!ok)
        return false;
    res = lumira_users_set_customer(c->db, &u->oid, u->stripe_customer, lumira_wall_ms(), err,
                                    sizeof(err));
    if (res != LUMIRA_OK) /* the Idempotency-Key gives the same customer on the next checkout */
        lumira_log(LUMIRA_LOG_WARN, "db", "cannot store the Stripe customer of a user: %s", err);
    return true;
}

/* Marks the order failed after a Stripe failure and answers 502 with its id and number. */
static void checkout_failed(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                            struct lumira_order *o, const char *reason)
{
    bson_t set = BSON_INITIALIZER;
    char err[LUMIRA_MAX_ERRMSG];
    int64_t now = lumira_wall_ms();
    enum lumira_err res;
    struct json_object *extra;
    bool ok = true;

    BSON_APPEND_UTF8(&set, "failureReason", reason);
    BSON_APPEND_DATE_TIME(&set, "failedAt", now);
    res = lumira_orders_transition(c->db, o, LUMIRA_ORDER_FAILED, &set, "checkout", now, err,
                                   sizeof(err));
    bson_destroy(&set);
    if (res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_ERROR, "db", "order %s stays pending after a Stripe failure: %s",
                   o->number, err);
    log_order(LUMIRA_LOG_WARN, o, reason);
    extra = lumira_json_new_object(&ok);
    lumira_json_put_str(extra, "orderId", o->id, &ok);
    lumira_json_put_str(extra, "orderNumber", o->number, &ok);
    lumira_resp_error_with(resp, req, 502, "PAYMENT_PROVIDER_ERROR",
                           "The payment provider failed; please try again", ok ? extra : NULL);
    if (!ok)
        json_object_put(extra);
}

/* Levels 2-4: the customer, then the PaymentIntent. */
static void checkout_stripe(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                            struct lumira_user *u, struct lumira_order *o, const bson_t *form)
{
    struct lumira_buf f;
    char reason[MAX_REASON] = "", idem[64], amount[24], level[8], err[LUMIRA_MAX_ERRMSG];
    char pi[LUMIRA_STRIPE_ID_MAX + 1], secret[512];
    struct json_object *root, *reply = NULL;
    bson_t set = BSON_INITIALIZER;
    enum lumira_err res;
    bool ok;

    if (!stripe_customer(c, u, o->email, form, reason)) {
        checkout_failed(c, req, resp, o, reason);
        return;
    }
    (void)lumira_str_fmt(idem, sizeof(idem), "lumira-pi-%s", o->id);
    (void)lumira_str_fmt(amount, sizeof(amount), "%lld", (long long)o->amount);
    (void)lumira_str_fmt(level, sizeof(level), "%lld", (long long)o->level);
    lumira_buf_init(&f, 4096);
    ok = form_add(&f, "amount", amount) && form_add(&f, "currency", "eur") &&
         form_add(&f, "customer", u->stripe_customer) &&
         form_add(&f, "automatic_payment_methods[enabled]", "true") &&
         form_add(&f, "metadata[orderId]", o->id) &&
         form_add(&f, "metadata[orderNumber]", o->number) &&
         form_add(&f, "metadata[level]", level) && form_add(&f, "metadata[userEmail]", o->email);
    if (!ok) {
        (void)lumira_str_fmt(reason, sizeof(reason), "out of memory");
    } else {
        reply = stripe_post(c, "/v1/payment_intents", &f, idem, reason);
        ok = stripe_field(reply, "id", pi, sizeof(pi), reason) &&
             stripe_field(reply, "client_secret", secret, sizeof(secret), reason);
    }
    lumira_buf_cleanup(&f);
    if (!ok) {
        json_object_put(reply);
        checkout_failed(c, req, resp, o, reason);
        return;
    }
    BSON_APPEND_UTF8(&set, "paymentIntentId", pi);
    res = lumira_orders_set(c->db, o->id, LUMIRA_ORDER_NONE, &set, lumira_wall_ms(), err,
                            sizeof(err));
    bson_destroy(&set);
    /* The webhook finds the order by metadata.orderId: a lost paymentIntentId is only logged. */
    if (res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_WARN, "db", "order %s: cannot store its PaymentIntent id: %s",
                   o->number, err);
    log_order(LUMIRA_LOG_INFO, o, "checkout: PaymentIntent created");
    ok = true;
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put_str(root, "clientSecret", secret, &ok);
    lumira_json_put_str(root, "orderId", o->id, &ok);
    lumira_json_put_str(root, "orderNumber", o->number, &ok);
    lumira_json_put_int(root, "amount", o->amount, &ok);
    lumira_json_put_str(root, "currency", "eur", &ok);
    lumira_json_put_str(root, "status", "pending", &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
    /* The client secret lets its holder pay: not left behind in freed memory. */
    explicit_bzero(secret, sizeof(secret));
    json_object_put(reply);
}

static void handle_checkout(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct json_object *body = NULL, *fd, *root;
    struct lumira_valid v;
    struct lumira_user u;
    struct lumira_order o;
    struct lumira_order_new n;
    bson_t form = BSON_INITIALIZER, set = BSON_INITIALIZER;
    char email[LUMIRA_MAX_EMAIL + 1] = "", err[LUMIRA_MAX_ERRMSG];
    int64_t level = 0, now = lumira_wall_ms();
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    res = lumira_json_get_i64(body, "level", 1, 4, &level);
    if (res == LUMIRA_ENOTFOUND)
        lumira_valid_fail(&v, "level", "is required");
    else if (res != LUMIRA_OK)
        lumira_valid_fail(&v, "level", "must be an integer from 1 to 4");
    res = lumira_json_get_object(body, "formData", &fd);
    if (res == LUMIRA_ENOTFOUND)
        lumira_valid_fail(&v, "formData", "is required");
    else if (res != LUMIRA_OK)
        lumira_valid_fail(&v, "formData", "must be an object");
    else
        read_form(&v, fd, &form, email);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    ensure_indexes(c);
    res = lumira_users_upsert(c->db, email, &form, now, &u, err, sizeof(err));
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "user find-or-create failed", err);
        goto out;
    }
    n.user_id = u.oid;
    n.email = email;
    n.level = level;
    n.form = &form;
    res = lumira_orders_create(c->db, &n, now, &o, err, sizeof(err));
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order insert failed", err);
        goto out;
    }
    log_order(LUMIRA_LOG_INFO, &o, "order created");
    if (level > 1) {
        checkout_stripe(c, req, resp, &u, &o, &form);
        goto out;
    }
    /* Level 1 is free: paid at once. */
    BSON_APPEND_DATE_TIME(&set, "paidAt", now);
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &set, "checkout", now, err,
                                   sizeof(err));
    if (res == LUMIRA_OK)
        res = lumira_users_refresh_stats(c->db, o.user_id, now, now, err, sizeof(err));
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "free order update failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put_str(root, "orderId", o.id, &ok);
    lumira_json_put_str(root, "orderNumber", o.number, &ok);
    lumira_json_put_int(root, "amount", 0, &ok);
    lumira_json_put_str(root, "status", "paid", &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(&form);
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* ------------------------------------------------------------------ Stripe webhook */

/* The event's PaymentIntent: data.object's id, metadata.orderId, amount and currency. */
struct pi_event {
    const char *id;       /* "" when absent */
    const char *order_id; /* "" when absent */
    int64_t amount;       /* amount_received when present, else amount; -1 when neither */
    const char *currency; /* "" when absent */
    const char *failure;  /* last_payment_error.message, NULL when absent */
};

static const char *opt_str(const struct json_object *obj, const char *key)
{
    const char *s;
    size_t len;

    return lumira_json_get_str(obj, key, 1024, &s, &len) == LUMIRA_OK ? s : "";
}

static void read_pi(const struct json_object *pi, struct pi_event *e)
{
    struct json_object *sub;

    e->id = opt_str(pi, "id");
    e->order_id = "";
    if (lumira_json_get_object(pi, "metadata", &sub) == LUMIRA_OK)
        e->order_id = opt_str(sub, "orderId");
    if (lumira_json_get_i64(pi, "amount_received", 0, INT64_MAX, &e->amount) != LUMIRA_OK &&
        lumira_json_get_i64(pi, "amount", 0, INT64_MAX, &e->amount) != LUMIRA_OK)
        e->amount = -1;
    e->currency = opt_str(pi, "currency");
    e->failure = NULL;
    if (lumira_json_get_object(pi, "last_payment_error", &sub) == LUMIRA_OK &&
        opt_str(sub, "message")[0] != '\0')
        e->failure = opt_str(sub, "message");
}

/* Finds the event's order: metadata.orderId, else the order holding the PaymentIntent. */
static enum lumira_err event_order(struct ctx *c, const struct pi_event *e, struct lumira_order *o,
                                   char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res = LUMIRA_ENOTFOUND;

    if (e->order_id[0] != '\0')
        res = lumira_orders_find_id(c->db, e->order_id, o, NULL, err, errlen);
    if (res == LUMIRA_ENOTFOUND && e->id[0] != '\0') {
        BSON_APPEND_UTF8(&filter, "paymentIntentId", e->id);
        res = lumira_orders_find(c->db, &filter, o, NULL, err, errlen);
    }
    bson_destroy(&filter);
    return res;
}

/* Applies a PaymentIntent event to its order. Returns LUMIRA_OK with `outcome` set ("paid",
 * "failed", or why nothing changed), or the database failure. */
static enum lumira_err apply_event(struct ctx *c, const char *type, const struct pi_event *e,
                                   struct lumira_order *o, char outcome[48], char *err,
                                   size_t errlen)
{
    bool succeeded = strcmp(type, "payment_intent.succeeded") == 0;
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER;
    enum lumira_err res;

    res = event_order(c, e, o, err, errlen);
    if (res == LUMIRA_ENOTFOUND) {
        lumira_log(LUMIRA_LOG_WARN, "webhook", "%s for an unknown order (PaymentIntent %s)", type,
                   e->id);
        (void)lumira_strscpy(outcome, "unknown_order", 48);
        return LUMIRA_OK;
    }
    if (res != LUMIRA_OK)
        return res;
    if (o->status != LUMIRA_ORDER_PENDING) {
        (void)lumira_str_fmt(outcome, 48, "status_%s",
                             lumira_order_status_name(o->status) != NULL
                                 ? lumira_order_status_name(o->status)
                                 : "unknown");
        log_order(LUMIRA_LOG_WARN, o, succeeded ? "payment succeeded for an order not pending"
                                                : "payment failure for an order not pending");
        /* A retry after a failure between the change and the stats: bring them up to date. */
        if (succeeded && (o->status == LUMIRA_ORDER_PAID || o->status == LUMIRA_ORDER_PROCESSING ||
                          o->status == LUMIRA_ORDER_COMPLETED))
            return lumira_users_refresh_stats(c->db, o->user_id, now, now, err, errlen);
        return LUMIRA_OK;
    }
    if (succeeded) {
        if (e->amount != o->amount || strcmp(e->currency, "eur") != 0) {
            lumira_log(LUMIRA_LOG_ERROR, "webhook",
                       "payment amount mismatch on order %s: paid %lld %s, expected %lld eur",
                       o->number, (long long)e->amount, e->currency, (long long)o->amount);
            (void)lumira_strscpy(outcome, "amount_mismatch", 48);
            return LUMIRA_OK;
        }
        BSON_APPEND_DATE_TIME(&set, "paidAt", now);
        if (e->id[0] != '\0')
            BSON_APPEND_UTF8(&set, "paymentIntentId", e->id);
        res = lumira_orders_transition(c->db, o, LUMIRA_ORDER_PAID, &set, "webhook", now, err,
                                       errlen);
        if (res == LUMIRA_OK)
            res = lumira_users_refresh_stats(c->db, o->user_id, now, now, err, errlen);
        (void)lumira_strscpy(outcome, "paid", 48);
    } else {
        BSON_APPEND_UTF8(&set, "failureReason", e->failure != NULL ? e->failure : type);
        BSON_APPEND_DATE_TIME(&set, "failedAt", now);
        res = lumira_orders_transition(c->db, o, LUMIRA_ORDER_FAILED, &set, "webhook", now, err,
                                       errlen);
        (void)lumira_strscpy(outcome, "failed", 48);
    }
    bson_destroy(&set);
    if (res == LUMIRA_ENOTFOUND) { /* moved by someone else between the read and the update */
        (void)lumira_strscpy(outcome, "status_changed", 48);
        return LUMIRA_OK;
    }
    return res;
}

/* The answer to Stripe: 200 {"received": true} plus "duplicate" or "ignored". */
static void webhook_reply(struct lumira_req *req, struct lumira_resp *resp, bool duplicate,
                          const char *ignored)
{
    bool ok = true;
    struct json_object *root = lumira_json_new_object(&ok);

    lumira_json_put_bool(root, "received", true, &ok);
    if (duplicate)
        lumira_json_put_bool(root, "duplicate", true, &ok);
    if (ignored != NULL)
        lumira_json_put_str(root, "ignored", ignored, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

/* Database trouble while handling an event: 500, so that Stripe retries it. */
static void webhook_db_failed(struct lumira_req *req, struct lumira_resp *resp, const char *id,
                              const char *err)
{
    lumira_log(LUMIRA_LOG_WARN, "webhook", "event %s not processed, Stripe will retry: %s", id,
               err);
    lumira_resp_error(resp, req, 500, "DATABASE_UNAVAILABLE",
                      "The event could not be recorded; retry later", NULL);
}

static void handle_webhook(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    const char *sig = lumira_req_env(req, "HTTP_STRIPE_SIGNATURE"), *id, *type;
    struct json_object *body = NULL, *data, *pi;
    struct lumira_valid v;
    struct lumira_order o;
    struct pi_event e;
    char why[128], err[LUMIRA_MAX_ERRMSG], outcome[48] = "event_type";
    size_t len;
    enum lumira_err res;
    bool handled;

    lumira_valid_init(&v);
    memset(&o, 0, sizeof(o));
    res = lumira_stripe_sig_verify(sig != NULL ? sig : "", sig != NULL ? strlen(sig) : 0,
                                   req->body.ptr != NULL ? req->body.ptr : "", req->body.len,
                                   c->cfg->stripe_webhook_secret, lumira_wall_ms() / 1000,
                                   WEBHOOK_TOLERANCE_S, why, sizeof(why));
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "webhook", "event refused: %s", why);
        lumira_resp_error(resp, req, 400, "INVALID_SIGNATURE", "Invalid signature", NULL);
        goto out;
    }
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_json_get_str(body, "id", 255, &id, &len) != LUMIRA_OK || len == 0)
        lumira_valid_fail(&v, "id", "must be a non-empty string");
    if (lumira_json_get_str(body, "type", 255, &type, &len) != LUMIRA_OK || len == 0)
        lumira_valid_fail(&v, "type", "must be a non-empty string");
    if (lumira_json_get_object(body, "data", &data) != LUMIRA_OK ||
        lumira_json_get_object(data, "object", &pi) != LUMIRA_OK)
        lumira_valid_fail(&v, "data.object", "must be an object");
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    res = lumira_events_seen(c->db, id, err, sizeof(err));
    if (res == LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_INFO, "webhook", "event %s (%s) already processed", id, type);
        webhook_reply(req, resp, true, NULL);
        goto out;
    }
    if (res != LUMIRA_ENOTFOUND) {
        webhook_db_failed(req, resp, id, err);
        goto out;
    }
    handled = strcmp(type, "payment_intent.succeeded") == 0 ||
              strcmp(type, "payment_intent.payment_failed") == 0 ||
              strcmp(type, "payment_intent.canceled") == 0;
    if (handled) {
        read_pi(pi, &e);
        res = apply_event(c, type, &e, &o, outcome, err, sizeof(err));
        if (res != LUMIRA_OK) {
            webhook_db_failed(req, resp, id, err);
            goto out;
        }
    }
    /* Recorded last: a failure before this point leaves the event to Stripe's retry, and every
     * change above is conditional, so the retry does nothing twice. */
    res = lumira_events_record(c->db, id, type, o.id, outcome, lumira_wall_ms(), err,
                               sizeof(err));
    if (res == LUMIRA_EEXIST) {
        webhook_reply(req, resp, true, NULL);
        goto out;
    }
    if (res != LUMIRA_OK) {
        webhook_db_failed(req, resp, id, err);
        goto out;
    }
    lumira_log(LUMIRA_LOG_INFO, "webhook", "event %s (%s): %s", id, type, outcome);
    webhook_reply(req, resp, false,
                  strcmp(outcome, "paid") == 0 || strcmp(outcome, "failed") == 0 ? NULL
                                                                                  : outcome);
out:
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* ------------------------------------------------------------------ orders API */

/* Reads query parameter `name` into `out`; false when absent. A malformed or oversized value
 * is a validation failure. */
static bool query_str(const struct lumira_req *req, struct lumira_valid *v, const char *name,
                      char *out, size_t size, size_t *len)
{
    enum lumira_err res = lumira_query_get(req->query, req->query_len, name, out, size, len);

    if (res == LUMIRA_ENOTFOUND)
        return false;
    if (res == LUMIRA_ETOOBIG) {
        lumira_valid_fail(v, name, "is too long");
        return false;
    }
    if (res != LUMIRA_OK || !lumira_utf8_valid(out, *len)) {
        lumira_valid_fail(v, name, "is not a valid value");
        return false;
    }
    return *len > 0;
}

/* Reads integer query parameter `name` in [min, max]; `def` when absent. */
static int64_t query_int(const struct lumira_req *req, struct lumira_valid *v, const char *name,
                         int64_t min, int64_t max, int64_t def)
{
    char buf[32], msg[64];
    size_t len;
    uint64_t n;

    if (!query_str(req, v, name, buf, sizeof(buf), &len))
        return def;
    if (lumira_parse_u64(buf, len, (uint64_t)max, &n) != LUMIRA_OK || (int64_t)n < min) {
        (void)lumira_str_fmt(msg, sizeof(msg), "must be an integer from %lld to %lld",
                             (long long)min, (long long)max);
        lumira_valid_fail(v, name, msg);
        return def;
    }
    return (int64_t)n;
}

/* No bound, for append_range(). */
#define NO_BOUND INT64_MIN

/* Appends {field: {$gte: from, $lte: to}} for whichever bound is set. */
static void append_range(bson_t *filter, const char *field, int64_t from, int64_t to)
{
    bson_t r;

    if (from == NO_BOUND && to == NO_BOUND)
        return;
    BSON_APPEND_DOCUMENT_BEGIN(filter, field, &r);
    if (from != NO_BOUND)
        BSON_APPEND_DATE_TIME(&r, "$gte", from);
    if (to != NO_BOUND)
        BSON_APPEND_DATE_TIME(&r, "$lte", to);
    bson_append_document_end(filter, &r);
}

static void handle_list(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_valid v;
    struct lumira_buf re;
    struct json_object *root = NULL, *orders = NULL, *pag;
    bson_t filter = BSON_INITIALIZER, sort = BSON_INITIALIZER;
    char buf[LUMIRA_MAX_QUERY_VALUE + 1], err[LUMIRA_MAX_ERRMSG];
    size_t len, i;
    int64_t page, limit, level, total = 0, from = NO_BOUND, to = NO_BOUND;
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    lumira_buf_init(&re, 4 * LUMIRA_MAX_QUERY_VALUE);
    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me))
        goto out;
    page = query_int(req, &v, "page", 1, 1000000, 1);
    limit = query_int(req, &v, "limit", 1, 100, 20);
    level = query_int(req, &v, "level", 1, 4, 0);
    if (query_str(req, &v, "status", buf, sizeof(buf), &len)) {
        if (lumira_order_status_parse(buf, len) == LUMIRA_ORDER_NONE)
            lumira_valid_fail(&v, "status", "must be one of pending, paid, processing, "
                                            "completed, failed, refunded");
        else
            BSON_APPEND_UTF8(&filter, "status", buf);
    }
    if (level > 0)
        BSON_APPEND_INT32(&filter, "level", (int32_t)level);
    if (query_str(req, &v, "email", buf, sizeof(buf), &len)) {
        for (i = 0; i < len; i++)
            if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
                break;
        if (i < len || len > LUMIRA_MAX_EMAIL) {
            lumira_valid_fail(&v, "email", "must be at most 254 characters of text");
        } else {
            bson_t rx;

            for (i = 0; i < len; i++)
                if (buf[i] >= 'A' && buf[i] <= 'Z')
                    buf[i] = (char)(buf[i] - 'A' + 'a');
            if (lumira_regex_literal(buf, len, &re) != LUMIRA_OK) {
                lumira_resp_fail(resp, req, LUMIRA_ENOMEM);
                goto out;
            }
            BSON_APPEND_DOCUMENT_BEGIN(&filter, "userEmail", &rx);
            BSON_APPEND_UTF8(&rx, "$regex", re.ptr);
            BSON_APPEND_UTF8(&rx, "$options", "i");
            bson_append_document_end(&filter, &rx);
        }
    }
    if (query_str(req, &v, "dateFrom", buf, sizeof(buf), &len) &&
        !lumira_parse_date(buf, len, false, &from))
        lumira_valid_fail(&v, "dateFrom", "must be a date (YYYY-MM-DD or ISO-8601 UTC)");
    if (query_str(req, &v, "dateTo", buf, sizeof(buf), &len) && !lumira_parse_date(buf, len, true, &to))
        lumira_valid_fail(&v, "dateTo", "must be a date (YYYY-MM-DD or ISO-8601 UTC)");
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    append_range(&filter, "createdAt", from, to);
    res = lumira_mongo_count(c->db, LUMIRA_ORDERS, &filter, &total, err, sizeof(err));
    orders = json_object_new_array();
    if (orders == NULL)
        res = LUMIRA_ENOMEM;
    BSON_APPEND_INT32(&sort, "createdAt", -1);
    BSON_APPEND_INT32(&sort, "_id", -1);
    if (res == LUMIRA_OK)
        res = lumira_orders_list(c->db, &filter, &sort, (page - 1) * limit, limit, orders, err,
                                 sizeof(err));
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order list failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put(root, "orders", orders, &ok);
    orders = NULL;
    pag = lumira_json_new_object(&ok);
    lumira_json_put_int(pag, "current", page, &ok);
    lumira_json_put_int(pag, "total", (total + limit - 1) / limit, &ok);
    lumira_json_put_int(pag, "count", total, &ok);
    lumira_json_put_int(pag, "limit", limit, &ok);
    lumira_json_put(root, "pagination", pag, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    json_object_put(orders);
    bson_destroy(&filter);
    bson_destroy(&sort);
    lumira_buf_cleanup(&re);
    lumira_valid_cleanup(&v);
}

/* The start of every /api/orders/:id handler: an expert, a well-formed id. */
static bool expert_and_id(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                          struct lumira_expert *me, char id[LUMIRA_OID_HEX + 1])
{
    return lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, me) &&
           order_param(req, resp, id);
}

static void handle_get(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1];
    bson_t *doc = NULL;
    struct json_object *root;
    bool ok = true;

    if (!expert_and_id(c, req, resp, &me, id) || !load_order(c, req, resp, id, &o, &doc))
        return;
    root = lumira_json_new_object(&ok);
    lumira_json_put(root, "order", lumira_bson_to_json(doc, &ok), &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
    bson_destroy(doc);
}

/* Moves order `o` to `to` with `set`, as `by`; answers 409 when the table or a concurrent change
 * forbids it, else the order as it is now. */
static void move_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                       struct lumira_order *o, enum lumira_order_status to, const bson_t *set,
                       const char *by)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res;
    enum lumira_order_status from = o->status;

    if (!lumira_order_transition_allowed(from, to)) {
        invalid_transition(req, resp, from, lumira_order_status_name(to));
        return;
    }
    res = lumira_orders_transition(c->db, o, to, set, by, lumira_wall_ms(), err, sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        /* Someone moved it first: say from what it is now. */
        if (load_order(c, req, resp, o->id, o, NULL))
            invalid_transition(req, resp, o->status, lumira_order_status_name(to));
        return;
    }
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order status update failed", err);
        return;
    }
    reply_order(c, req, resp, o->id);
}

static void handle_status(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    struct lumira_valid v;
    struct json_object *body = NULL;
    char id[LUMIRA_OID_HEX + 1];
    const char *s;
    size_t len;
    enum lumira_order_status to = LUMIRA_ORDER_NONE;
    bson_t set = BSON_INITIALIZER;
    int64_t now = lumira_wall_ms();

    lumira_valid_init(&v);
    if (!expert_and_id(c, req, resp, &me, id) || !lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_valid_str(&v, body, "status", LUMIRA_VALID_REQUIRED, 1, 32, &s, &len) &&
        (to = lumira_order_status_parse(s, len)) == LUMIRA_ORDER_NONE)
        lumira_valid_fail(&v, "status", "must be one of pending, paid, processing, completed, "
                                        "failed, refunded");
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    if (!load_order(c, req, resp, id, &o, NULL))
        goto out;
    if (to == LUMIRA_ORDER_PAID)
        BSON_APPEND_DATE_TIME(&set, "paidAt", now);
    else if (to == LUMIRA_ORDER_FAILED)
        BSON_APPEND_DATE_TIME(&set, "failedAt", now);
    else if (to == LUMIRA_ORDER_REFUNDED)
        BSON_APPEND_DATE_TIME(&set, "refundedAt", now);
    else if (to == LUMIRA_ORDER_COMPLETED)
        BSON_APPEND_DATE_TIME(&set, "deliveredAt", now);
    move_order(c, req, resp, &o, to, &set, "expert");
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* $set `set` on order `id` (which must exist) and answers with the order. */
static void update_reply(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                         const char *id, const bson_t *set)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res = lumira_orders_set(c->db, id, LUMIRA_ORDER_NONE, set, lumira_wall_ms(),
                                            err, sizeof(err));

    if (res == LUMIRA_ENOTFOUND)
        lumira_resp_error(resp, req, 404, "ORDER_NOT_FOUND", "Order not found", NULL);
    else if (res != LUMIRA_OK)
        db_failed(req, resp, res, "order update failed", err);
    else
        reply_order(c, req, resp, id);
}

static void handle_review(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    static const char *const review[] = {"pending", "approved", "rejected", "revision_needed"};
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_valid v;
    struct json_object *body = NULL;
    char id[LUMIRA_OID_HEX + 1];
    const char *s = NULL, *notes;
    size_t len = 0, nlen, i;
    bson_t set = BSON_INITIALIZER, r;

    lumira_valid_init(&v);
    if (!expert_and_id(c, req, resp, &me, id) || !lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_valid_str(&v, body, "status", LUMIRA_VALID_REQUIRED, 1, 32, &s, &len)) {
        for (i = 0; i < sizeof(review) / sizeof(review[0]); i++)
            if (strlen(review[i]) == len && memcmp(review[i], s, len) == 0)
                break;
        if (i == sizeof(review) / sizeof(review[0]))
            lumira_valid_fail(&v, "status",
                              "must be one of pending, approved, rejected, revision_needed");
    }
    (void)lumira_valid_str(&v, body, "notes", LUMIRA_VALID_MULTILINE, 0, MAX_NOTES_CHARS, &notes,
                           &nlen);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    BSON_APPEND_DOCUMENT_BEGIN(&set, "expertReview", &r);
    bson_append_utf8(&r, "status", -1, s, (int)len);
    if (notes != NULL)
        bson_append_utf8(&r, "notes", -1, notes, (int)nlen);
    {
        bson_oid_t eid;

        if (lumira_oid_parse(me.id, strlen(me.id), &eid))
            BSON_APPEND_OID(&r, "expertId", &eid);
    }
    BSON_APPEND_UTF8(&r, "expertName", me.name);
    BSON_APPEND_DATE_TIME(&r, "reviewedAt", lumira_wall_ms());
    bson_append_document_end(&set, &r);
    update_reply(c, req, resp, id, &set);
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

static void handle_content(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_valid v;
    struct json_object *body = NULL;
    char id[LUMIRA_OID_HEX + 1];
    bson_t set = BSON_INITIALIZER, gc;
    bool present;

    lumira_valid_init(&v);
    if (!expert_and_id(c, req, resp, &me, id) || !lumira_valid_body(req, resp, &body))
        goto out;
    BSON_APPEND_DOCUMENT_BEGIN(&set, "generatedContent", &gc);
    read_content(&v, body, true, &gc, &present);
    bson_append_document_end(&set, &gc);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    BSON_APPEND_DATE_TIME(&set, "contentUpdatedAt", lumira_wall_ms());
    update_reply(c, req, resp, id, &set);
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

static void handle_delivered(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    struct lumira_valid v;
    struct json_object *body = NULL;
    char id[LUMIRA_OID_HEX + 1];
    const char *method;
    size_t len;
    bson_t set = BSON_INITIALIZER;

    lumira_valid_init(&v);
    if (!expert_and_id(c, req, resp, &me, id))
        goto out;
    /* The body is optional here: an empty one means no deliveryMethod. */
    if (req->body.len > 0 && !lumira_valid_body(req, resp, &body))
        goto out;
    method = NULL;
    if (body != NULL)
        (void)lumira_valid_str(&v, body, "deliveryMethod", 0, 0, MAX_SHORT_CHARS, &method, &len);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    if (!load_order(c, req, resp, id, &o, NULL))
        goto out;
    BSON_APPEND_DATE_TIME(&set, "deliveredAt", lumira_wall_ms());
    if (method != NULL)
        bson_append_utf8(&set, "deliveryMethod", -1, method, (int)len);
    if (o.status != LUMIRA_ORDER_PROCESSING) {
        invalid_transition(req, resp, o.status, "completed");
        goto out;
    }
    move_order(c, req, resp, &o, LUMIRA_ORDER_COMPLETED, &set, "expert");
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* {status: {$in: [paid, processing, completed]}}: the orders whose money came in. */
static void append_revenue_statuses(bson_t *filter)
{
    bson_t st, in;

    BSON_APPEND_DOCUMENT_BEGIN(filter, "status", &st);
    BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
    BSON_APPEND_UTF8(&in, "0", "paid");
    BSON_APPEND_UTF8(&in, "1", "processing");
    BSON_APPEND_UTF8(&in, "2", "completed");
    bson_append_array_end(&st, &in);
    bson_append_document_end(filter, &st);
}

/* Counts the orders with `status` (NULL: all) into *n. */
static enum lumira_err count_status(struct ctx *c, const char *status, int64_t *n, char *err,
                                    size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res;

    if (status != NULL)
        BSON_APPEND_UTF8(&filter, "status", status);
    res = lumira_mongo_count(c->db, LUMIRA_ORDERS, &filter, n, err, errlen);
    bson_destroy(&filter);
    return res;
}

static void handle_overview(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    static const char *const statuses[] = {NULL, "paid", "pending", "completed", "failed"};
    static const char *const names[] = {"totalOrders", "paidOrders", "pendingOrders",
                                        "completedOrders", "failedOrders"};
    struct ctx *c = ctx;
    struct lumira_expert me;
    int64_t counts[5], today = 0, revenue[5], lvl_counts[5], lvl_sums[5];
    bson_t today_f = BSON_INITIALIZER, all_f = BSON_INITIALIZER, paid_f = BSON_INITIALIZER;
    char err[LUMIRA_MAX_ERRMSG];
    struct json_object *root, *levels;
    enum lumira_err res = LUMIRA_OK;
    bool ok = true;
    size_t i;

    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me))
        goto out;
    for (i = 0; res == LUMIRA_OK && i < 5; i++)
        res = count_status(c, statuses[i], &counts[i], err, sizeof(err));
    append_range(&today_f, "createdAt", day_start(lumira_wall_ms()), NO_BOUND);
    if (res == LUMIRA_OK)
        res = lumira_mongo_count(c->db, LUMIRA_ORDERS, &today_f, &today, err, sizeof(err));
    append_revenue_statuses(&paid_f);
    if (res == LUMIRA_OK)
        res = lumira_orders_sum(c->db, &paid_f, false, "amount", revenue, err, sizeof(err));
    if (res == LUMIRA_OK)
        res = lumira_orders_sum(c->db, &all_f, true, NULL, lvl_counts, err, sizeof(err));
    if (res == LUMIRA_OK)
        res = lumira_orders_sum(c->db, &paid_f, true, "amount", lvl_sums, err, sizeof(err));
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order statistics failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    for (i = 0; i < 5; i++)
        lumira_json_put_int(root, names[i], counts[i], &ok);
    lumira_json_put_int(root, "totalRevenue", revenue[0], &ok);
    lumira_json_put_int(root, "todayOrders", today, &ok);
    levels = json_object_new_array();
    for (i = 1; ok && levels != NULL && i <= 4; i++) {
        struct json_object *l = lumira_json_new_object(&ok);

        lumira_json_put_int(l, "level", (int64_t)i, &ok);
        lumira_json_put_int(l, "count", lvl_counts[i], &ok);
        lumira_json_put_int(l, "revenue", lvl_sums[i], &ok);
        if (l != NULL && json_object_array_add(levels, l) != 0) {
            json_object_put(l);
            ok = false;
        }
    }
    lumira_json_put(root, "levelStats", levels, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(&today_f);
    bson_destroy(&all_f);
    bson_destroy(&paid_f);
}

/* Public: the customer's view of one order, for whoever knows its number and address. */
static void handle_by_number(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_valid v;
    struct lumira_expert me;
    struct lumira_order o;
    bson_t filter = BSON_INITIALIZER, *doc = NULL;
    bson_iter_t it;
    char number[LUMIRA_ORDER_NUMBER_MAX + 1], buf[LUMIRA_MAX_QUERY_VALUE + 1];
    char email[LUMIRA_MAX_EMAIL + 1] = "", err[LUMIRA_MAX_ERRMSG];
    size_t len;
    const char *s;
    struct json_object *root, *view;
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    if (query_str(req, &v, "email", buf, sizeof(buf), &len) &&
        !lumira_email_normalize(buf, len, email))
        lumira_valid_fail(&v, "email", "must be a valid e-mail address");
    s = lumira_req_param(req, "orderNumber", &len);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    if (email[0] == '\0') {
        /* Experts may look an order up by its number alone. */
        if (lumira_req_env(req, "HTTP_AUTHORIZATION") == NULL) {
            lumira_valid_fail(&v, "email", "is required");
            lumira_valid_respond(&v, resp, req);
            goto out;
        }
        if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT,
                                    &me))
            goto out;
    }
    if (s == NULL || !lumira_order_number_valid(s, len)) {
        lumira_resp_error(resp, req, 404, "ORDER_NOT_FOUND", "Order not found", NULL);
        goto out;
    }
    memcpy(number, s, len);
    number[len] = '\0';
    BSON_APPEND_UTF8(&filter, "orderNumber", number);
    res = lumira_orders_find(c->db, &filter, &o, &doc, err, sizeof(err));
    if (res != LUMIRA_OK && res != LUMIRA_ENOTFOUND) {
        db_failed(req, resp, res, "order lookup failed", err);
        goto out;
    }
    /* An unknown number and a wrong address get the same answer. */
    if (res == LUMIRA_ENOTFOUND || (email[0] != '\0' && strcmp(email, o.email) != 0)) {
        lumira_resp_error(resp, req, 404, "ORDER_NOT_FOUND", "Order not found", NULL);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    view = lumira_json_new_object(&ok);
    lumira_json_put_str(view, "orderNumber", o.number, &ok);
    lumira_json_put_str(view, "status", lumira_order_status_name(o.status), &ok);
    lumira_json_put_int(view, "level", o.level, &ok);
    lumira_json_put_str(view, "levelName", lumira_level_name(o.level), &ok);
    lumira_json_put_int(view, "amount", o.amount, &ok);
    lumira_json_put_str(view, "currency", "eur", &ok);
    if (bson_iter_init_find(&it, doc, "createdAt") && BSON_ITER_HOLDS_DATE_TIME(&it))
        lumira_json_put_time(view, "createdAt", bson_iter_date_time(&it), &ok);
    lumira_json_put(root, "order", view, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(doc);
    bson_destroy(&filter);
    lumira_valid_cleanup(&v);
}

/* ------------------------------------------------------------------ expert desk */

/* Answers {"orders": [...], "count"} for `filter` in `sort` order (at most DESK_LIST_MAX). */
static void reply_list(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                       const bson_t *filter, const bson_t *sort)
{
    struct json_object *root = NULL, *orders = json_object_new_array();
    char err[LUMIRA_MAX_ERRMSG];
    int64_t total = 0;
    enum lumira_err res = orders != NULL ? LUMIRA_OK : LUMIRA_ENOMEM;
    bool ok = true;

    if (res == LUMIRA_OK)
        res = lumira_mongo_count(c->db, LUMIRA_ORDERS, filter, &total, err, sizeof(err));
    if (res == LUMIRA_OK)
        res = lumira_orders_list(c->db, filter, sort, 0, DESK_LIST_MAX, orders, err, sizeof(err));
    if (res != LUMIRA_OK) {
        json_object_put(orders);
        db_failed(req, resp, res, "order list failed", err);
        return;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put(root, "orders", orders, &ok);
    lumira_json_put_int(root, "count", total, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

/* {status: paid, assignedExpertId: {$exists: false}}: the orders waiting for an expert. */
static void append_queue(bson_t *filter)
{
    bson_t ex;

    BSON_APPEND_UTF8(filter, "status", "paid");
    BSON_APPEND_DOCUMENT_BEGIN(filter, "assignedExpertId", &ex);
    BSON_APPEND_BOOL(&ex, "$exists", false);
    bson_append_document_end(filter, &ex);
}

/* {assignedExpertId: <me>}. */
static void append_mine(bson_t *filter, const struct lumira_expert *me)
{
    bson_oid_t oid;

    if (lumira_oid_parse(me->id, strlen(me->id), &oid))
        BSON_APPEND_OID(filter, "assignedExpertId", &oid);
}

static void handle_pending(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    bson_t filter = BSON_INITIALIZER, sort = BSON_INITIALIZER;

    if (lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me)) {
        append_queue(&filter);
        BSON_APPEND_INT32(&sort, "createdAt", 1);
        BSON_APPEND_INT32(&sort, "_id", 1);
        reply_list(c, req, resp, &filter, &sort);
    }
    bson_destroy(&filter);
    bson_destroy(&sort);
}

static void handle_assigned(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    bson_t filter = BSON_INITIALIZER, sort = BSON_INITIALIZER;

    if (lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me)) {
        append_mine(&filter, &me);
        BSON_APPEND_INT32(&sort, "createdAt", -1);
        BSON_APPEND_INT32(&sort, "_id", -1);
        reply_list(c, req, resp, &filter, &sort);
    }
    bson_destroy(&filter);
    bson_destroy(&sort);
}

/* Makes order `o` (paid) mine: the insert into order_assignments decides, then the order shows
 * it. False when it is someone else's (409 ALREADY_ASSIGNED) or the database failed (answered).
 * An order that is already mine passes again, which also mends an order whose second write was
 * lost. */
static bool take_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                       struct lumira_order *o, const struct lumira_expert *me)
{
    char holder[LUMIRA_OID_HEX + 1], err[LUMIRA_MAX_ERRMSG];
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER;
    bson_oid_t eid;
    enum lumira_err res;

    res = lumira_orders_assign(c->db, o->id, me->id, me->name, now, holder, err, sizeof(err));
    if (res == LUMIRA_EEXIST && strcmp(holder, me->id) != 0) {
        log_order(LUMIRA_LOG_INFO, o, "assignment refused: the order is another expert's");
        lumira_resp_error(resp, req, 409, "ALREADY_ASSIGNED",
                          "This order is assigned to another expert", NULL);
        return false;
    }
    if (res != LUMIRA_OK && res != LUMIRA_EEXIST) {
        db_failed(req, resp, res, "order assignment failed", err);
        return false;
    }
    if (strcmp(o->assigned_to, me->id) == 0)
        return true;
    (void)lumira_oid_parse(me->id, strlen(me->id), &eid);
    BSON_APPEND_OID(&set, "assignedExpertId", &eid);
    BSON_APPEND_UTF8(&set, "assignedExpertName", me->name);
    BSON_APPEND_DATE_TIME(&set, "assignedAt", now);
    res = lumira_orders_set(c->db, o->id, LUMIRA_ORDER_NONE, &set, now, err, sizeof(err));
    bson_destroy(&set);
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order assignment update failed", err);
        return false;
    }
    memcpy(o->assigned_to, me->id, sizeof(o->assigned_to));
    log_order(LUMIRA_LOG_INFO, o, "order assigned");
    return true;
}

static void handle_assign(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1];

    if (!expert_and_id(c, req, resp, &me, id) || !load_order(c, req, resp, id, &o, NULL))
        return;
    if (o.assigned_to[0] != '\0' && strcmp(o.assigned_to, me.id) != 0) {
        lumira_resp_error(resp, req, 409, "ALREADY_ASSIGNED",
                          "This order is assigned to another expert", NULL);
        return;
    }
    if (o.status != LUMIRA_ORDER_PAID && strcmp(o.assigned_to, me.id) != 0) {
        invalid_transition(req, resp, o.status, "assigned");
        return;
    }
    if (take_order(c, req, resp, &o, &me))
        reply_order(c, req, resp, id);
}

/* The JSON posted to n8n: what the workflow needs to prepare the reading. */
static struct json_object *n8n_payload(const bson_t *doc, const struct lumira_expert *me,
                                       const char *prompt, size_t plen, const char *instr,
                                       size_t ilen, bool *ok)
{
    static const char *const keep[] = {"orderNumber", "level", "levelName", "userEmail",
                                       "formData", "amount", "createdAt"};
    struct json_object *full = lumira_bson_to_json(doc, ok), *out = lumira_json_new_object(ok), *v;
    size_t i;

    if (full != NULL && json_object_object_get_ex(full, "_id", &v))
        lumira_json_put(out, "orderId", json_object_get(v), ok);
    for (i = 0; full != NULL && i < sizeof(keep) / sizeof(keep[0]); i++)
        if (json_object_object_get_ex(full, keep[i], &v))
            lumira_json_put(out, keep[i], json_object_get(v), ok);
    lumira_json_put_strn(out, "expertPrompt", prompt, plen, ok);
    if (instr != NULL)
        lumira_json_put_strn(out, "expertInstructions", instr, ilen, ok);
    lumira_json_put_str(out, "expertId", me->id, ok);
    lumira_json_put_str(out, "expertName", me->name, ok);
    json_object_put(full);
    if (!*ok) {
        json_object_put(out);
        return NULL;
    }
    return out;
}

/* Posts the payload to n8n. False with `reason` when n8n did not take it. */
static bool n8n_post(struct ctx *c, struct json_object *payload, char reason[MAX_REASON])
{
    struct lumira_fetch_reply r;
    struct lumira_buf json;
    enum lumira_err res;
    bool done = false;

    lumira_buf_init(&json, LUMIRA_MAX_BODY);
    lumira_fetch_reply_init(&r, 64 * 1024);
    res = lumira_json_serialize(payload, &json);
    if (res != LUMIRA_OK) {
        (void)lumira_str_fmt(reason, MAX_REASON, "n8n: cannot serialise the order: %s",
                             lumira_strerror(res));
    } else {
        res = lumira_fetch_post_json(c->fetch, c->cfg->n8n_webhook_url, json.ptr, json.len, NULL,
                                     c->cfg->n8n_timeout_ms, &r);
        if (res != LUMIRA_OK)
            (void)lumira_str_fmt(reason, MAX_REASON, "n8n: %s", r.error);
        else if (r.status < 200 || r.status > 299)
            (void)lumira_str_fmt(reason, MAX_REASON, "n8n: HTTP %ld", r.status);
        else
            done = true;
        lumira_log(done ? LUMIRA_LOG_INFO : LUMIRA_LOG_WARN, "n8n", "POST to n8n: %s (%lldms)",
                   done ? "accepted" : reason, (long long)r.elapsed_ms);
    }
    lumira_fetch_reply_cleanup(&r);
    lumira_buf_cleanup(&json);
    return done;
}

static void handle_process(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    struct lumira_valid v;
    struct json_object *body = NULL, *payload = NULL, *root;
    const char *idstr, *prompt, *instr;
    size_t idlen, plen, ilen;
    char id[LUMIRA_OID_HEX + 1], reason[MAX_REASON], err[LUMIRA_MAX_ERRMSG];
    bson_t set = BSON_INITIALIZER, back = BSON_INITIALIZER, *doc = NULL;
    bson_oid_t oid;
    int64_t now = lumira_wall_ms();
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me) ||
        !lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_valid_str(&v, body, "orderId", LUMIRA_VALID_REQUIRED, 1, 64, &idstr, &idlen) &&
        !lumira_oid_parse(idstr, idlen, &oid))
        lumira_valid_fail(&v, "orderId", "must be an order id (24 hexadecimal characters)");
    (void)lumira_valid_str(&v, body, "expertPrompt", LUMIRA_VALID_REQUIRED | LUMIRA_VALID_MULTILINE,
                           1, MAX_PROMPT_CHARS, &prompt, &plen);
    (void)lumira_valid_str(&v, body, "expertInstructions", LUMIRA_VALID_MULTILINE, 0,
                           MAX_PROMPT_CHARS, &instr, &ilen);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    if (c->cfg->n8n_webhook_url == NULL) {
        lumira_log(LUMIRA_LOG_ERROR, "n8n", "process-order refused: N8N_WEBHOOK_URL is not set");
        lumira_resp_error(resp, req, 503, "N8N_NOT_CONFIGURED",
                          "The content workflow is not configured", NULL);
        goto out;
    }
    bson_oid_to_string(&oid, id);
    if (!load_order(c, req, resp, id, &o, &doc))
        goto out;
    if (o.assigned_to[0] != '\0' && strcmp(o.assigned_to, me.id) != 0) {
        lumira_resp_error(resp, req, 409, "ALREADY_ASSIGNED",
                          "This order is assigned to another expert", NULL);
        goto out;
    }
    if (o.status != LUMIRA_ORDER_PAID) {
        invalid_transition(req, resp, o.status, "processing");
        goto out;
    }
    if (!take_order(c, req, resp, &o, &me))
        goto out;
    bson_append_utf8(&set, "expertPrompt", -1, prompt, (int)plen);
    if (instr != NULL)
        bson_append_utf8(&set, "expertInstructions", -1, instr, (int)ilen);
    BSON_APPEND_DATE_TIME(&set, "processingStartedAt", now);
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PROCESSING, &set, "expert", now, err,
                                   sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        if (load_order(c, req, resp, id, &o, NULL))
            invalid_transition(req, resp, o.status, "processing");
        goto out;
    }
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "order status update failed", err);
        goto out;
    }
    payload = n8n_payload(doc, &me, prompt, plen, instr, ilen, &ok);
    if (payload == NULL) {
        (void)lumira_str_fmt(reason, sizeof(reason), "out of memory");
    } else if (n8n_post(c, payload, reason)) {
        root = lumira_json_new_object(&ok);
        lumira_json_put_bool(root, "success", true, &ok);
        lumira_json_put_str(root, "orderId", o.id, &ok);
        lumira_json_put_str(root, "orderNumber", o.number, &ok);
        lumira_json_put_str(root, "status", "processing", &ok);
        lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
        goto out;
    }
    /* n8n did not take it: the order goes back to the desk. */
    BSON_APPEND_UTF8(&back, "n8nError", reason);
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &back, "n8n-failure",
                                   lumira_wall_ms(), err, sizeof(err));
    if (res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_ERROR, "db", "order %s stays processing after an n8n failure: %s",
                   o.number, err);
    {
        struct json_object *extra = lumira_json_new_object(&ok);

        lumira_json_put_str(extra, "orderId", o.id, &ok);
        lumira_json_put_str(extra, "orderNumber", o.number, &ok);
        lumira_resp_error_with(resp, req, 502, "N8N_ERROR",
                               "The content workflow did not accept the order", ok ? extra : NULL);
        if (!ok)
            json_object_put(extra);
    }
out:
    json_object_put(payload);
    bson_destroy(doc);
    bson_destroy(&set);
    bson_destroy(&back);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

static void handle_callback(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    const char *sig = lumira_req_env(req, "HTTP_X_N8N_SIGNATURE"), *idstr, *error;
    struct json_object *body = NULL, *root;
    struct lumira_valid v;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1], why[128], err[LUMIRA_MAX_ERRMSG];
    size_t idlen, elen;
    bson_t set = BSON_INITIALIZER, gc, r;
    bson_oid_t oid;
    bool success = false, present = false, ok = true;
    int64_t now = lumira_wall_ms();
    enum lumira_err res;

    lumira_valid_init(&v);
    res = lumira_n8n_sig_verify(sig != NULL ? sig : "", sig != NULL ? strlen(sig) : 0,
                                req->body.ptr != NULL ? req->body.ptr : "", req->body.len,
                                c->cfg->n8n_callback_secret, why, sizeof(why));
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "n8n", "callback refused: %s", why);
        lumira_resp_error(resp, req, 401, "INVALID_SIGNATURE", "Invalid signature", NULL);
        goto out;
    }
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_valid_str(&v, body, "orderId", LUMIRA_VALID_REQUIRED, 1, 64, &idstr, &idlen) &&
        !lumira_oid_parse(idstr, idlen, &oid))
        lumira_valid_fail(&v, "orderId", "must be an order id (24 hexadecimal characters)");
    res = lumira_json_get_bool(body, "success", &success);
    if (res != LUMIRA_OK)
        lumira_valid_fail(&v, "success", res == LUMIRA_ENOTFOUND ? "is required"
                                                                 : "must be true or false");
    BSON_APPEND_DOCUMENT_BEGIN(&set, "generatedContent", &gc);
    read_content(&v, body, res == LUMIRA_OK && success, &gc, &present);
    bson_append_document_end(&set, &gc);
    (void)lumira_valid_str(&v, body, "error", LUMIRA_VALID_MULTILINE, 0, MAX_QUESTION_CHARS,
                           &error, &elen);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    bson_oid_to_string(&oid, id);
    if (!load_order(c, req, resp, id, &o, NULL))
        goto out;
    if (o.status != LUMIRA_ORDER_PROCESSING) {
        log_order(LUMIRA_LOG_WARN, &o, "n8n callback for an order not processing");
        invalid_transition(req, resp, o.status, success ? "processing" : "paid");
        goto out;
    }
    if (success) {
        BSON_APPEND_DATE_TIME(&set, "contentGeneratedAt", now);
        BSON_APPEND_DOCUMENT_BEGIN(&set, "expertReview", &r);
        BSON_APPEND_UTF8(&r, "status", "pending");
        bson_append_document_end(&set, &r);
        res = lumira_orders_set(c->db, id, LUMIRA_ORDER_PROCESSING, &set, now, err, sizeof(err));
        if (res == LUMIRA_OK)
            log_order(LUMIRA_LOG_INFO, &o, "content received from n8n: awaiting review");
    } else {
        bson_t back = BSON_INITIALIZER;

        if (error != NULL)
            bson_append_utf8(&back, "n8nError", -1, error, (int)elen);
        else
            BSON_APPEND_UTF8(&back, "n8nError", "n8n reported a failure");
        res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &back, "n8n", now, err,
                                       sizeof(err));
        bson_destroy(&back);
    }
    if (res == LUMIRA_ENOTFOUND) {
        if (load_order(c, req, resp, id, &o, NULL))
            invalid_transition(req, resp, o.status, success ? "processing" : "paid");
        goto out;
    }
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "n8n callback update failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "received", true, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

static void handle_stats(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    static const char *const names[] = {"assigned", "processing", "awaitingReview", "completed",
                                        "completedToday", "pendingQueue"};
    struct ctx *c = ctx;
    struct lumira_expert me;
    int64_t n[6];
    char err[LUMIRA_MAX_ERRMSG];
    struct json_object *root, *stats;
    enum lumira_err res = LUMIRA_OK;
    bool ok = true;
    size_t i;

    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me))
        return;
    for (i = 0; res == LUMIRA_OK && i < 6; i++) {
        bson_t f = BSON_INITIALIZER;

        if (i == 5) {
            append_queue(&f);
        } else {
            append_mine(&f, &me);
            if (i == 1 || i == 2)
                BSON_APPEND_UTF8(&f, "status", "processing");
            if (i == 2)
                BSON_APPEND_UTF8(&f, "expertReview.status", "pending");
            if (i == 3 || i == 4)
                BSON_APPEND_UTF8(&f, "status", "completed");
            if (i == 4)
                append_range(&f, "deliveredAt", day_start(lumira_wall_ms()), NO_BOUND);
        }
        res = lumira_mongo_count(c->db, LUMIRA_ORDERS, &f, &n[i], err, sizeof(err));
        bson_destroy(&f);
    }
    if (res != LUMIRA_OK) {
        db_failed(req, resp, res, "expert statistics failed", err);
        return;
    }
    root = lumira_json_new_object(&ok);
    stats = lumira_json_new_object(&ok);
    for (i = 0; i < 6; i++)
        lumira_json_put_int(stats, names[i], n[i], &ok);
    lumira_json_put(root, "stats", stats, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

/* More specific patterns first: the first route that matches wins. */
static const struct lumira_route routes[] = {
    {"POST", "/api/stripe/create-payment-intent", handle_checkout},
    {"POST", "/api/stripe/webhook", handle_webhook},
    {"GET", "/api/orders", handle_list},
    {"GET", "/api/orders/stats/overview", handle_overview},
    {"GET", "/api/orders/number/:orderNumber", handle_by_number},
    {"GET", "/api/orders/:id", handle_get},
    {"PATCH", "/api/orders/:id/status", handle_status},
    {"PATCH", "/api/orders/:id/expert-review", handle_review},
    {"PATCH", "/api/orders/:id/content", handle_content},
    {"PATCH", "/api/orders/:id/delivered", handle_delivered},
    {"GET", "/api/expert/orders/pending", handle_pending},
    {"GET", "/api/expert/orders/assigned", handle_assigned},
    {"POST", "/api/expert/orders/:id/assign", handle_assign},
    {"POST", "/api/expert/process-order", handle_process},
    {"POST", "/api/expert/n8n-callback", handle_callback},
    {"GET", "/api/expert/stats", handle_stats},
};

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL, NULL, NULL, false};
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    lumira_config_require_secret("JWT_SECRET", cfg.jwt_secret, JWT_SECRET_MIN);
    lumira_config_require_secret("STRIPE_SECRET_KEY", cfg.stripe_secret_key, 0);
    lumira_config_require_secret("STRIPE_WEBHOOK_SECRET", cfg.stripe_webhook_secret, 0);
    lumira_config_require_secret("N8N_CALLBACK_SECRET", cfg.n8n_callback_secret, 0);
    if (cfg.n8n_webhook_url == NULL)
        lumira_log(LUMIRA_LOG_WARN, "config",
                   "N8N_WEBHOOK_URL is not set: process-order will answer 503");
    lumira_app_db(PROG, &cfg, &c.db);
    if (lumira_stripe_new(cfg.stripe_api_base, cfg.stripe_secret_key, &c.stripe) != LUMIRA_OK ||
        lumira_fetch_new(&c.fetch) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "main", "out of memory at start");
        return 1;
    }
    ensure_indexes(&c);
    status = lumira_serve(&app);
    lumira_fetch_free(c.fetch);
    lumira_stripe_free(c.stripe);
    lumira_mongo_free(c.db);
    lumira_app_shutdown(&cfg, NULL);
    return status;
}
