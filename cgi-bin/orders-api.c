/* lumira-orders: the orders API for experts and admins, and the public lookup by number
 * (API.md "Orders"; docs/ORDERS.md). */
#include <string.h>

#include "lumira-orders.h"

void handle_list(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    page = lumira_valid_query_int(&v, req, "page", 1, 1000000, 1);
    limit = lumira_valid_query_int(&v, req, "limit", 1, 100, 20);
    level = lumira_valid_query_int(&v, req, "level", 1, 4, 0);
    if (lumira_valid_query_str(&v, req, "status", buf, sizeof(buf), &len)) {
        if (lumira_order_status_parse(buf, len) == LUMIRA_ORDER_NONE)
            lumira_valid_fail(&v, "status",
                              "must be one of pending, paid, processing, "
                              "completed, failed, refunded");
        else
            BSON_APPEND_UTF8(&filter, "status", buf);
    }
    if (level > 0)
        BSON_APPEND_INT32(&filter, "level", (int32_t)level);
    if (lumira_valid_query_str(&v, req, "email", buf, sizeof(buf), &len)) {
        for (i = 0; i < len; i++)
            if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
                break;
        if (i < len || len > LUMIRA_MAX_EMAIL) {
            lumira_valid_fail(&v, "email", "must be at most 254 characters of text");
        } else {
            bson_t rx;

            /* Case is the regex's business ($options "i"), as in the contract. */
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
    if (lumira_valid_query_str(&v, req, "dateFrom", buf, sizeof(buf), &len) &&
        !lumira_parse_date(buf, len, false, &from))
        lumira_valid_fail(&v, "dateFrom", "must be a date (YYYY-MM-DD or ISO-8601 UTC)");
    if (lumira_valid_query_str(&v, req, "dateTo", buf, sizeof(buf), &len) &&
        !lumira_parse_date(buf, len, true, &to))
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
        lumira_resp_db_failed(resp, req, res, "order list failed", err);
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

/* One order, whole: {"order": {...}} for GET /api/orders/:id, or, `wrapped` false, the document
 * itself for GET /api/expert/orders/:id, as the original answered (API.md "Expert desk"
 * (compat): its desk's orderDetails). */
static void show_order(void *ctx, struct lumira_req *req, struct lumira_resp *resp, bool wrapped)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1];
    bson_t *doc = NULL;
    struct json_object *order, *root;
    bool ok = true;

    if (!expert_and_id(c, req, resp, &me, id) || !load_order(c, req, resp, id, &o, &doc))
        return;
    order = lumira_order_to_json(doc, &ok);
    if (wrapped) {
        root = lumira_json_new_object(&ok);
        lumira_json_put(root, "order", order, &ok);
        order = lumira_json_done(root, ok);
    }
    lumira_resp_json(resp, req, 200, order); /* NULL (no memory): a 500 */
    bson_destroy(doc);
}

void handle_get(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    show_order(ctx, req, resp, true);
}

void handle_desk_order(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    show_order(ctx, req, resp, false);
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
    bson_t *after = NULL;

    if (!lumira_order_transition_allowed(from, to)) {
        invalid_transition(req, resp, o, lumira_order_status_name(to));
        return;
    }
    res =
        lumira_orders_transition(c->db, o, to, set, by, lumira_wall_ms(), &after, err, sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        /* Someone moved it first: say from what it is now. */
        if (load_order(c, req, resp, o->id, o, NULL))
            invalid_transition(req, resp, o, lumira_order_status_name(to));
        return;
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "order status update failed", err);
        return;
    }
    reply_order_doc(req, resp, after);
    bson_destroy(after);
}

void handle_status(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
        lumira_valid_fail(&v, "status",
                          "must be one of pending, paid, processing, completed, "
                          "failed, refunded");
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    /* Money: an order marked paid gets worked on unpaid, one marked refunded refunds nothing. */
    if ((to == LUMIRA_ORDER_PAID || to == LUMIRA_ORDER_REFUNDED) &&
        !admin_only(req, resp, &me, to == LUMIRA_ORDER_PAID ? "marking an order paid by hand"
                                                            : "marking an order refunded by hand"))
        goto out;
    if (!load_order(c, req, resp, id, &o, NULL) || !may_change(req, resp, &me, &o))
        goto out;
    if (to == LUMIRA_ORDER_PAID)
        BSON_APPEND_DATE_TIME(&set, "paidAt", now);
    else if (to == LUMIRA_ORDER_FAILED)
        BSON_APPEND_DATE_TIME(&set, "failedAt", now);
    else if (to == LUMIRA_ORDER_REFUNDED)
        BSON_APPEND_DATE_TIME(&set, "refundedAt", now);
    else if (to == LUMIRA_ORDER_COMPLETED)
        BSON_APPEND_DATE_TIME(&set, "deliveredAt", now);
    move_order(c, req, resp, &o, to, &set, me.role == LUMIRA_ROLE_ADMIN ? "admin" : "expert");
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* $set `set` on order `id` (which must exist, and for an expert be assigned to them: the update
 * is conditioned on it) and answers with the order. */
static void update_reply(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                         const struct lumira_expert *me, const char *id, const bson_t *set)
{
    char err[LUMIRA_MAX_ERRMSG];
    bson_t *after = NULL;
    struct lumira_order o;
    enum lumira_err res =
        me->role == LUMIRA_ROLE_ADMIN
            ? lumira_orders_set(c->db, id, LUMIRA_ORDER_NONE, set, lumira_wall_ms(), &after, err,
                                sizeof(err))
            : lumira_orders_set_assigned(c->db, id, me->id, set, lumira_wall_ms(), &after, err,
                                         sizeof(err));

    if (res == LUMIRA_ENOTFOUND) {
        /* No such order, or not this expert's: the read tells which (and answers). */
        if (load_order(c, req, resp, id, &o, NULL) && may_change(req, resp, me, &o))
            lumira_resp_error(resp, req, 409, "CONFLICT", "The order changed; try again", NULL);
    } else if (res != LUMIRA_OK)
        lumira_resp_db_failed(resp, req, res, "order update failed", err);
    else
        reply_order_doc(req, resp, after);
    bson_destroy(after);
}

void handle_review(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    struct lumira_order o;

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
    /* The review replaces expertReview, where the original recorded who holds the order: that
     * holder is kept as our assignedExpertId. An expert may review only an order they hold
     * (the update is conditioned on it), so it is them; an admin's review reads the order. */
    if (me.role != LUMIRA_ROLE_ADMIN) {
        bson_oid_t eid;

        if (lumira_oid_parse(me.id, strlen(me.id), &eid))
            BSON_APPEND_OID(&set, "assignedExpertId", &eid);
    } else if (load_order(c, req, resp, id, &o, NULL)) {
        keep_holder(&set, &o);
    } else {
        goto out;
    }
    update_reply(c, req, resp, &me, id, &set);
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

void handle_content(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_valid v;
    struct json_object *body = NULL;
    char id[LUMIRA_OID_HEX + 1];
    bson_t set = BSON_INITIALIZER, gc;

    lumira_valid_init(&v);
    if (!expert_and_id(c, req, resp, &me, id) || !lumira_valid_body(req, resp, &body))
        goto out;
    BSON_APPEND_DOCUMENT_BEGIN(&set, "generatedContent", &gc);
    read_content(&v, body, true, &gc);
    bson_append_document_end(&set, &gc);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    BSON_APPEND_DATE_TIME(&set, "contentUpdatedAt", lumira_wall_ms());
    update_reply(c, req, resp, &me, id, &set);
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

void handle_delivered(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    if (!load_order(c, req, resp, id, &o, NULL) || !may_change(req, resp, &me, &o))
        goto out;
    BSON_APPEND_DATE_TIME(&set, "deliveredAt", lumira_wall_ms());
    if (method != NULL)
        bson_append_utf8(&set, "deliveryMethod", -1, method, (int)len);
    if (o.status != LUMIRA_ORDER_PROCESSING) {
        invalid_transition(req, resp, &o, "completed");
        goto out;
    }
    move_order(c, req, resp, &o, LUMIRA_ORDER_COMPLETED, &set,
               me.role == LUMIRA_ROLE_ADMIN ? "admin" : "expert");
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

void handle_overview(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    static const char *const statuses[] = {NULL, "paid", "pending", "completed", "failed"};
    static const char *const names[] = {"totalOrders", "paidOrders", "pendingOrders",
                                        "completedOrders", "failedOrders"};
    struct ctx *c = ctx;
    struct lumira_expert me;
    int64_t counts[5], today = 0, revenue[5], lvl_counts[5], lvl_sums[5], refunds[5],
        lvl_refunds[5];
    bson_t today_f = BSON_INITIALIZER, all_f = BSON_INITIALIZER, paid_f = BSON_INITIALIZER;
    char err[LUMIRA_MAX_ERRMSG];
    struct json_object *root, *levels;
    enum lumira_err res = LUMIRA_OK;
    bool ok = true;
    size_t i;

    /* Revenue is the admins' (the role of the stored account, not the token's). */
    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me) ||
        !admin_only(req, resp, &me, "order statistics"))
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
    /* Less what was refunded of them (partial refunds: a full one makes the order refunded).
     * One accumulator per $group (FerretDB): two sums more. */
    if (res == LUMIRA_OK)
        res = lumira_orders_sum(c->db, &paid_f, false, "amountRefunded", refunds, err,
                                sizeof(err));
    if (res == LUMIRA_OK)
        res = lumira_orders_sum(c->db, &paid_f, true, "amountRefunded", lvl_refunds, err,
                                sizeof(err));
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "order statistics failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    for (i = 0; i < 5; i++)
        lumira_json_put_int(root, names[i], counts[i], &ok);
    lumira_json_put_int(root, "totalRevenue", revenue[0] - refunds[0], &ok);
    lumira_json_put_int(root, "todayOrders", today, &ok);
    levels = json_object_new_array();
    for (i = 1; ok && levels != NULL && i <= 4; i++) {
        struct json_object *l = lumira_json_new_object(&ok);

        lumira_json_put_int(l, "level", (int64_t)i, &ok);
        lumira_json_put_int(l, "count", lvl_counts[i], &ok);
        lumira_json_put_int(l, "revenue", lvl_sums[i] - lvl_refunds[i], &ok);
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
void handle_by_number(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    if (lumira_valid_query_str(&v, req, "email", buf, sizeof(buf), &len) &&
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
        if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me))
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
        lumira_resp_db_failed(resp, req, res, "order lookup failed", err);
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
