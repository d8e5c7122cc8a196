/* lumira-orders: checkout and the Stripe webhook (API.md "Checkout and payments";
 * docs/ORDERS.md). */
#include <string.h>

#include "lumira-orders.h"

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
        lumira_json_get_str(e, "message", 4096, &msg, &len) == LUMIRA_OK) {
        /* At most 160 bytes, cut between two UTF-8 characters. */
        if (len > 160) {
            len = 160;
            while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80)
                len--;
        }
        (void)lumira_str_fmt(out, size, "%.*s", (int)len, msg);
    }
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
static bool stripe_field(const struct json_object *root, const char *field, char *out, size_t size,
                         char reason[MAX_REASON])
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

    BSON_APPEND_UTF8(&set, "failureReason", reason);
    BSON_APPEND_DATE_TIME(&set, "failedAt", now);
    res = lumira_orders_transition(c->db, o, LUMIRA_ORDER_FAILED, &set, "checkout", now, NULL, err,
                                   sizeof(err));
    bson_destroy(&set);
    if (res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_ERROR, "db", "order %s stays pending after a Stripe failure: %s",
                   o->number, err);
    log_order(LUMIRA_LOG_WARN, o, reason);
    order_error(req, resp, 502, "PAYMENT_PROVIDER_ERROR",
                "The payment provider failed; please try again", o);
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
    res = lumira_orders_set(c->db, o->id, LUMIRA_ORDER_NONE, &set, lumira_wall_ms(), NULL, err,
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
    lumira_json_put_bool(root, "requiresPayment", true, &ok); /* the customer app branches on it */
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
    json_object_put(reply);
}

/* `level`: a JSON integer 1-4, or one of the strings "1".."4", which the original customer app
 * sends (its URL's searchParams.get('level'): API.md (compat)). Nothing else: not "01", " 2",
 * "2.0" or 2.0. */
static enum lumira_err read_level(const struct json_object *body, int64_t *level)
{
    struct json_object *m;
    const char *s;

    if (!json_object_object_get_ex(body, "level", &m) || m == NULL ||
        !json_object_is_type(m, json_type_string))
        return lumira_json_get_i64(body, "level", 1, 4, level);
    s = json_object_get_string(m);
    if (json_object_get_string_len(m) != 1 || s[0] < '1' || s[0] > '4')
        return LUMIRA_EINVAL;
    *level = s[0] - '0';
    return LUMIRA_OK;
}

void handle_checkout(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    res = read_level(body, &level);
    if (res == LUMIRA_ENOTFOUND)
        lumira_valid_fail(&v, "level", "is required");
    else if (res != LUMIRA_OK)
        lumira_valid_fail(&v, "level", "must be an integer from 1 to 4, or one of \"1\" to \"4\"");
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
        lumira_resp_db_failed(resp, req, res, "user find-or-create failed", err);
        goto out;
    }
    n.user_id = u.oid;
    n.email = email;
    n.level = level;
    n.form = &form;
    res = lumira_orders_create(c->db, &n, now, &o, err, sizeof(err));
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "order insert failed", err);
        goto out;
    }
    log_order(LUMIRA_LOG_INFO, &o, "order created");
    lumira_metrics_order_created(level);
    if (level > 1) {
        checkout_stripe(c, req, resp, &u, &o, &form);
        goto out;
    }
    /* Level 1 is free: paid at once. */
    BSON_APPEND_DATE_TIME(&set, "paidAt", now);
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &set, "checkout", now, NULL, err,
                                   sizeof(err));
    if (res == LUMIRA_OK)
        lumira_metrics_order_paid(level);
    if (res == LUMIRA_OK)
        res = lumira_users_refresh_stats(c->db, o.user_id, now, now, err, sizeof(err));
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "free order update failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put_str(root, "orderId", o.id, &ok);
    lumira_json_put_str(root, "orderNumber", o.number, &ok);
    lumira_json_put_int(root, "amount", 0, &ok);
    lumira_json_put_str(root, "status", "paid", &ok);
    lumira_json_put_bool(root, "requiresPayment", false, &ok);
    lumira_json_put_str(root, "message", "Free reading: the order is confirmed", &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(&form);
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* The payment events we act on (API.md "Checkout and payments"). */
enum pay_kind { PAY_NONE, PAY_SUCCEEDED, PAY_FAILED, PAY_CANCELED, PAY_REFUNDED };

/* What an event says about one order's payment. Strings borrow the event's JSON. */
struct pay_event {
    enum pay_kind kind;
    const char *event_id;
    const char *pi;       /* the PaymentIntent: data.object.id, or .payment_intent of a charge */
    const char *order_id; /* metadata.orderId, "" when absent */
    int64_t amount;       /* received (succeeded) or refunded in all (charge.refunded); -1: none */
    const char *currency; /* "" when absent */
    const char *message;  /* last_payment_error.message, "" when absent */
    const char *code;     /* last_payment_error.code (else decline_code, type), "" when absent */
};

static enum pay_kind pay_kind(const char *type)
{
    if (strcmp(type, "payment_intent.succeeded") == 0)
        return PAY_SUCCEEDED;
    if (strcmp(type, "payment_intent.payment_failed") == 0)
        return PAY_FAILED;
    if (strcmp(type, "payment_intent.canceled") == 0)
        return PAY_CANCELED;
    if (strcmp(type, "charge.refunded") == 0)
        return PAY_REFUNDED;
    return PAY_NONE;
}

/* String `key` of `obj` when it is one of at most `max` bytes, else "". */
static const char *opt_str(const struct json_object *obj, const char *key, size_t max)
{
    const char *s;
    size_t len;

    return lumira_json_get_str(obj, key, max, &s, &len) == LUMIRA_OK ? s : "";
}

/* Reads data.object of an event of kind e->kind (a PaymentIntent, or a charge). */
static void read_event(const struct json_object *obj, struct pay_event *e)
{
    struct json_object *sub;
    const char *amount_key = e->kind == PAY_REFUNDED ? "amount_refunded" : "amount_received";

    e->pi = opt_str(obj, e->kind == PAY_REFUNDED ? "payment_intent" : "id",
                    LUMIRA_ORDER_STRIPE_ID_MAX);
    e->order_id = "";
    if (lumira_json_get_object(obj, "metadata", &sub) == LUMIRA_OK)
        e->order_id = opt_str(sub, "orderId", LUMIRA_OID_HEX);
    if (lumira_json_get_i64(obj, amount_key, 0, INT64_MAX, &e->amount) != LUMIRA_OK &&
        (e->kind == PAY_REFUNDED ||
         lumira_json_get_i64(obj, "amount", 0, INT64_MAX, &e->amount) != LUMIRA_OK))
        e->amount = -1;
    e->currency = opt_str(obj, "currency", 16);
    e->message = e->code = "";
    if (lumira_json_get_object(obj, "last_payment_error", &sub) == LUMIRA_OK) {
        e->message = opt_str(sub, "message", 1024);
        e->code = opt_str(sub, "code", 128);
        if (e->code[0] == '\0')
            e->code = opt_str(sub, "decline_code", 128);
        if (e->code[0] == '\0')
            e->code = opt_str(sub, "type", 128);
    }
}

/* Finds the order holding the event's PaymentIntent, for an event without metadata.orderId (a
 * charge's metadata need not carry ours). LUMIRA_ENOTFOUND when none. */
static enum lumira_err pi_order(struct ctx *c, const struct pay_event *e, struct lumira_order *o,
                                char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res = LUMIRA_ENOTFOUND;

    if (e->pi[0] != '\0') {
        BSON_APPEND_UTF8(&filter, "paymentIntentId", e->pi);
        res = lumira_orders_find(c->db, &filter, o, NULL, err, errlen);
    }
    bson_destroy(&filter);
    return res;
}

/* "status_<the order's status>" into outcome. */
static void status_outcome(const struct lumira_order *o, char outcome[48])
{
    const char *name = lumira_order_status_name(o->status);

    (void)lumira_str_fmt(outcome, 48, "status_%s", name != NULL ? name : "unknown");
}

/* The effect of a succeeded PaymentIntent on order `o` as read. */
static enum lumira_err apply_succeeded(struct ctx *c, const struct pay_event *e,
                                       struct lumira_order *o, char outcome[48], bool *applied,
                                       char *err, size_t errlen)
{
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER;
    enum lumira_order_status to;
    enum lumira_err res;

    if (o->status == LUMIRA_ORDER_PAID || o->status == LUMIRA_ORDER_PROCESSING ||
        o->status == LUMIRA_ORDER_COMPLETED) {
        status_outcome(o, outcome);
        log_order(LUMIRA_LOG_INFO, o, "payment succeeded for an order already paid");
        /* A retry after a failure between the change and the stats: bring them up to date. */
        return lumira_users_refresh_stats(c->db, o->user_id, now, now, err, errlen);
    }
    if (o->status != LUMIRA_ORDER_PENDING && o->status != LUMIRA_ORDER_FAILED) {
        status_outcome(o, outcome);
        log_order(LUMIRA_LOG_WARN, o, "payment succeeded for an order that cannot be paid");
        return LUMIRA_OK;
    }
    if (e->amount != o->amount || strcmp(e->currency, "eur") != 0) {
        lumira_log(LUMIRA_LOG_ERROR, "webhook",
                   "payment amount mismatch on order %s: paid %lld %s, expected %lld eur",
                   o->number, (long long)e->amount, e->currency, (long long)o->amount);
        (void)lumira_strscpy(outcome, "amount_mismatch", 48);
        return LUMIRA_OK;
    }
    /* A full refund that arrived before this success: the money came and went back. */
    to = o->amount > 0 && o->amount_refunded >= o->amount ? LUMIRA_ORDER_REFUNDED
                                                          : LUMIRA_ORDER_PAID;
    BSON_APPEND_DATE_TIME(&set, "paidAt", now);
    if (to == LUMIRA_ORDER_REFUNDED)
        BSON_APPEND_DATE_TIME(&set, "refundedAt", now);
    res = lumira_orders_payment_update(c->db, o, e->pi, to, &set, NULL, NULL, NULL, now, err,
                                       errlen);
    bson_destroy(&set);
    if (res != LUMIRA_OK)
        return res;
    *applied = true;
    (void)lumira_strscpy(outcome, to == LUMIRA_ORDER_PAID ? "paid" : "refunded", 48);
    return to == LUMIRA_ORDER_PAID
               ? lumira_users_refresh_stats(c->db, o->user_id, now, now, err, errlen)
               : LUMIRA_OK;
}

/* A declined payment: the order stays pending (Stripe lets the customer pay again) with the
 * failure recorded, once per event. */
static enum lumira_err apply_failed(struct ctx *c, const struct pay_event *e,
                                    struct lumira_order *o, char outcome[48], bool *applied,
                                    char *err, size_t errlen)
{
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER, inc = BSON_INITIALIZER, lpe;
    enum lumira_err res;

    if (o->status != LUMIRA_ORDER_PENDING) {
        status_outcome(o, outcome);
        log_order(LUMIRA_LOG_INFO, o, "payment failure for an order not pending: nothing changes");
        return LUMIRA_OK;
    }
    (void)lumira_strscpy(outcome, "payment_failure_recorded", 48);
    if (strcmp(o->last_failure_event, e->event_id) == 0) {
        *applied = true; /* a retry of an event whose record was lost */
        return LUMIRA_OK;
    }
    BSON_APPEND_DOCUMENT_BEGIN(&set, "lastPaymentError", &lpe);
    BSON_APPEND_UTF8(&lpe, "message", e->message[0] != '\0' ? e->message : "payment failed");
    if (e->code[0] != '\0')
        BSON_APPEND_UTF8(&lpe, "code", e->code);
    BSON_APPEND_UTF8(&lpe, "paymentIntentId", e->pi);
    BSON_APPEND_UTF8(&lpe, "eventId", e->event_id);
    BSON_APPEND_DATE_TIME(&lpe, "at", now);
    bson_append_document_end(&set, &lpe);
    BSON_APPEND_INT32(&inc, "paymentFailures", 1);
    res = lumira_orders_payment_update(c->db, o, e->pi, LUMIRA_ORDER_NONE, &set, &inc, NULL,
                                       e->event_id, now, err, errlen);
    bson_destroy(&set);
    bson_destroy(&inc);
    if (res == LUMIRA_OK) {
        *applied = true;
        log_order(LUMIRA_LOG_INFO, o, "payment failed: the order stays pending");
    }
    return res;
}

/* A canceled PaymentIntent: no payment will come, the pending order fails. */
static enum lumira_err apply_canceled(struct ctx *c, const struct pay_event *e,
                                      struct lumira_order *o, char outcome[48], bool *applied,
                                      char *err, size_t errlen)
{
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER;
    enum lumira_err res;

    if (o->status != LUMIRA_ORDER_PENDING) {
        status_outcome(o, outcome);
        return LUMIRA_OK;
    }
    BSON_APPEND_UTF8(&set, "failureReason", "canceled");
    BSON_APPEND_DATE_TIME(&set, "failedAt", now);
    res = lumira_orders_payment_update(c->db, o, e->pi, LUMIRA_ORDER_FAILED, &set, NULL, NULL,
                                       NULL, now, err, errlen);
    bson_destroy(&set);
    if (res == LUMIRA_OK) {
        *applied = true;
        (void)lumira_strscpy(outcome, "failed", 48);
    }
    return res;
}

/* A refund: Stripe's amount_refunded is the charge's total so far, so it only ever grows
 * ($max), and an older event (smaller total) changes nothing. A full one ends a paid order. */
static enum lumira_err apply_refunded(struct ctx *c, const struct pay_event *e,
                                      struct lumira_order *o, char outcome[48], bool *applied,
                                      char *err, size_t errlen)
{
    int64_t now = lumira_wall_ms();
    bson_t set = BSON_INITIALIZER, max = BSON_INITIALIZER;
    enum lumira_order_status to = LUMIRA_ORDER_NONE;
    bool full = e->amount >= o->amount;
    enum lumira_err res;

    if (o->status == LUMIRA_ORDER_REFUNDED || o->status == LUMIRA_ORDER_NONE) {
        status_outcome(o, outcome);
        return LUMIRA_OK;
    }
    if (e->amount <= 0 || strcmp(e->currency, "eur") != 0) {
        lumira_log(LUMIRA_LOG_ERROR, "webhook",
                   "refund mismatch on order %s: refunded %lld %s of %lld eur", o->number,
                   (long long)e->amount, e->currency, (long long)o->amount);
        (void)lumira_strscpy(outcome, "amount_mismatch", 48);
        return LUMIRA_OK;
    }
    if (e->amount <= o->amount_refunded) {
        (void)lumira_strscpy(outcome, "stale_refund", 48);
        return LUMIRA_OK;
    }
    if (full && (o->status == LUMIRA_ORDER_PAID || o->status == LUMIRA_ORDER_PROCESSING ||
                 o->status == LUMIRA_ORDER_COMPLETED)) {
        to = LUMIRA_ORDER_REFUNDED;
        BSON_APPEND_DATE_TIME(&set, "refundedAt", now);
    }
    BSON_APPEND_INT64(&max, "amountRefunded", e->amount);
    res = lumira_orders_payment_update(c->db, o, e->pi, to, &set, NULL, &max, NULL, now, err,
                                       errlen);
    bson_destroy(&set);
    bson_destroy(&max);
    if (res == LUMIRA_OK) {
        *applied = true;
        (void)lumira_strscpy(outcome,
                             to == LUMIRA_ORDER_REFUNDED ? "refunded"
                             : full                      ? "refund_recorded"
                                                         : "partially_refunded",
                             48);
        log_order(LUMIRA_LOG_INFO, o, full ? "refund received" : "partial refund received");
    }
    return res;
}

/* How many times an event is decided again when its order changed under it (a change made by
 * hand meanwhile): past that, 500, and Stripe retries. */
#define EVENT_TRIES 4
/* How long an event waits for another event of the same order to be applied, and how old a lock
 * must be to be taken for its dead holder's (a request never lasts that long). */
#define LOCK_WAIT_MS 3000
#define LOCK_STEP_MS 10
#define LOCK_STALE_MS 30000

/* Decides and applies event `e` on order `id`, read afresh. */
static enum lumira_err apply_locked(struct ctx *c, const struct pay_event *e, const char *id,
                                    struct lumira_order *o, char outcome[48], bool *applied,
                                    char *err, size_t errlen)
{
    enum lumira_err res = LUMIRA_OK;
    int tries;

    for (tries = 0; tries < EVENT_TRIES; tries++) {
        res = lumira_orders_find_id(c->db, id, o, NULL, err, errlen);
        if (res == LUMIRA_ENOTFOUND) {
            (void)lumira_strscpy(outcome, "unknown_order", 48);
            return LUMIRA_OK;
        }
        if (res != LUMIRA_OK)
            return res;
        /* The order's own PaymentIntent only; an order that has none stored yet (its write
         * after the checkout was lost) takes the one whose metadata names it. */
        if (e->pi[0] == '\0' ||
            (o->payment_intent[0] != '\0' && strcmp(o->payment_intent, e->pi) != 0)) {
            lumira_log(LUMIRA_LOG_ERROR, "webhook",
                       "event for PaymentIntent %s on order %s, whose PaymentIntent is %s", e->pi,
                       o->number, o->payment_intent[0] != '\0' ? o->payment_intent : "unknown");
            (void)lumira_strscpy(outcome, "payment_intent_mismatch", 48);
            return LUMIRA_OK;
        }
        switch (e->kind) {
        case PAY_SUCCEEDED:
            res = apply_succeeded(c, e, o, outcome, applied, err, errlen);
            break;
        case PAY_FAILED:
            res = apply_failed(c, e, o, outcome, applied, err, errlen);
            break;
        case PAY_CANCELED:
            res = apply_canceled(c, e, o, outcome, applied, err, errlen);
            break;
        case PAY_REFUNDED:
            res = apply_refunded(c, e, o, outcome, applied, err, errlen);
            break;
        case PAY_NONE:
            return LUMIRA_OK;
        }
        if (res != LUMIRA_ENOTFOUND)
            return res;
        log_order(LUMIRA_LOG_INFO, o, "order changed while an event was applied: reading again");
    }
    (void)lumira_str_fmt(err, errlen, "order %s kept changing while event %s was applied",
                         o->number, e->event_id);
    return LUMIRA_EUNAVAIL;
}

/* Applies a payment event to its order. Returns LUMIRA_OK with `outcome` set (what was done,
 * *applied true; or why nothing changed), or the database failure. The events of one order are
 * applied one at a time, under its payment lock (a unique insert: atomic on every server), and
 * each change is also one update conditioned on the order as read (status, paymentIntentId):
 * two deliveries at once, or two events racing, never apply on a state they did not see. */
static enum lumira_err apply_event(struct ctx *c, const struct pay_event *e,
                                   struct lumira_order *o, char outcome[48], bool *applied,
                                   char *err, size_t errlen)
{
    char id[LUMIRA_OID_HEX + 1], token[LUMIRA_OID_HEX + 1], uerr[LUMIRA_MAX_ERRMSG];
    bson_oid_t oid;
    enum lumira_err res, unlock;
    int64_t deadline = lumira_mono_ms() + LOCK_WAIT_MS;
    const struct timespec step = {0, LOCK_STEP_MS * 1000000L};

    *applied = false;
    /* The order to lock: the one the metadata names (read under the lock), else the holder of
     * the PaymentIntent (read first to know it). */
    if (e->order_id[0] != '\0' && lumira_oid_parse(e->order_id, strlen(e->order_id), &oid)) {
        bson_oid_to_string(&oid, id);
        res = LUMIRA_OK;
    } else {
        res = e->order_id[0] != '\0' ? LUMIRA_ENOTFOUND : pi_order(c, e, o, err, errlen);
        memcpy(id, o->id, sizeof(id));
    }
    if (res == LUMIRA_ENOTFOUND) {
        lumira_log(LUMIRA_LOG_WARN, "webhook", "event for an unknown order (PaymentIntent %s)",
                   e->pi);
        (void)lumira_strscpy(outcome, "unknown_order", 48);
        return LUMIRA_OK;
    }
    if (res != LUMIRA_OK)
        return res;
    for (;;) {
        res = lumira_payment_lock(c->db, id, e->event_id, lumira_wall_ms(), LOCK_STALE_MS, token,
                                  err, errlen);
        if (res != LUMIRA_EEXIST)
            break;
        if (lumira_mono_ms() >= deadline) {
            (void)lumira_str_fmt(err, errlen, "order %s busy with another event for %d ms", id,
                                 LOCK_WAIT_MS);
            return LUMIRA_EUNAVAIL;
        }
        /* The holder is another worker, done in a few milliseconds; a signal only shortens it. */
        (void)nanosleep(&step, NULL);
    }
    if (res != LUMIRA_OK)
        return res;
    res = apply_locked(c, e, id, o, outcome, applied, err, errlen);
    unlock = lumira_payment_unlock(c->db, id, token, uerr, sizeof(uerr));
    if (unlock != LUMIRA_OK) /* taken over as stale after LOCK_STALE_MS at worst */
        lumira_log(LUMIRA_LOG_WARN, "db", "cannot let the payment lock of order %s go: %s", id,
                   uerr);
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

void handle_webhook(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    const char *sig = lumira_req_env(req, "HTTP_STRIPE_SIGNATURE"), *id, *type;
    struct json_object *body = NULL, *data, *pi;
    struct lumira_valid v;
    struct lumira_order o;
    struct pay_event e;
    char why[128], err[LUMIRA_MAX_ERRMSG], outcome[48] = "event_type";
    size_t len;
    enum lumira_err res;
    bool applied = false;

    lumira_valid_init(&v);
    memset(&o, 0, sizeof(o));
    res = lumira_stripe_sig_verify(sig != NULL ? sig : "", sig != NULL ? strlen(sig) : 0,
                                   req->body.ptr != NULL ? req->body.ptr : "", req->body.len,
                                   c->cfg->stripe_webhook_secret, lumira_wall_ms() / 1000,
                                   WEBHOOK_TOLERANCE_S, why, sizeof(why));
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "webhook", "event refused: %s", why);
        lumira_metrics_event(NULL, LUMIRA_METRICS_EV_REFUSED);
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
        lumira_metrics_event(NULL, LUMIRA_METRICS_EV_REFUSED);
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    res = lumira_events_seen(c->db, id, err, sizeof(err));
    if (res == LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_INFO, "webhook", "event %s (%s) already processed", id, type);
        lumira_metrics_event(type, LUMIRA_METRICS_EV_DUPLICATE);
        webhook_reply(req, resp, true, NULL);
        goto out;
    }
    if (res != LUMIRA_ENOTFOUND) {
        lumira_metrics_event(type, LUMIRA_METRICS_EV_ERROR);
        webhook_db_failed(req, resp, id, err);
        goto out;
    }
    e.kind = pay_kind(type);
    e.event_id = id;
    if (e.kind != PAY_NONE) {
        read_event(pi, &e);
        res = apply_event(c, &e, &o, outcome, &applied, err, sizeof(err));
        if (res != LUMIRA_OK) {
            lumira_metrics_event(type, LUMIRA_METRICS_EV_ERROR);
            webhook_db_failed(req, resp, id, err);
            goto out;
        }
    }
    /* Recorded last: a failure before this point leaves the event to Stripe's retry, and every
     * change above is conditional, so the retry does nothing twice. */
    res = lumira_events_record(c->db, id, type, o.id, outcome, lumira_wall_ms(), err, sizeof(err));
    if (res == LUMIRA_EEXIST) {
        lumira_metrics_event(type, LUMIRA_METRICS_EV_DUPLICATE);
        webhook_reply(req, resp, true, NULL);
        goto out;
    }
    if (res != LUMIRA_OK) {
        lumira_metrics_event(type, LUMIRA_METRICS_EV_ERROR);
        webhook_db_failed(req, resp, id, err);
        goto out;
    }
    lumira_log(LUMIRA_LOG_INFO, "webhook", "event %s (%s): %s", id, type, outcome);
    lumira_metrics_webhook_done(type, applied, applied && strcmp(outcome, "paid") == 0, o.level);
    webhook_reply(req, resp, false, applied ? NULL : outcome);
out:
    json_object_put(body);
    lumira_valid_cleanup(&v);
}
