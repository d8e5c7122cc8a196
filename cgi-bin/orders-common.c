/* lumira-orders: the helpers its handlers share (lumira-orders.h). */
#include <string.h>

#include "lumira-orders.h"

/* The orders', the users' and the callback nonces' indexes. */
static enum lumira_err make_indexes(struct lumira_mongo *m, char *err, size_t errlen)
{
    enum lumira_err (*const more[])(struct lumira_mongo *, char *, size_t) = {
        lumira_users_ensure_indexes, lumira_nonces_ensure_indexes};
    enum lumira_err res = lumira_orders_ensure_indexes(m, err, errlen);
    size_t i;

    /* An index with other options is the operator's to mend: the others are still made. */
    for (i = 0; i < sizeof(more) / sizeof(more[0]) && (res == LUMIRA_OK || res == LUMIRA_ECONFIG);
         i++) {
        char merr[LUMIRA_MAX_ERRMSG];
        enum lumira_err r = more[i](m, merr, sizeof(merr));

        if (r != LUMIRA_OK) {
            res = r;
            (void)lumira_strscpy(err, merr, errlen);
        }
    }
    return res;
}

void ensure_indexes(struct ctx *c)
{
    lumira_app_indexes(c->db, make_indexes, "orders", &c->indexes);
}

void log_order(enum lumira_log_level level, const struct lumira_order *o, const char *msg)
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

int64_t day_start(int64_t now_ms)
{
    return now_ms - now_ms % DAY_MS;
}

void read_content(struct lumira_valid *v, const struct json_object *body, bool required,
                  bson_t *out)
{
    struct json_object *gc;
    enum lumira_err res = lumira_json_get_object(body, "generatedContent", &gc);
    size_t n = 0;

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
        const char *text;
        size_t len, chars = 0, i;

        if (++n > MAX_CONTENT_FIELDS) {
            lumira_valid_prefix(v, NULL);
            lumira_valid_fail(v, "generatedContent", "has too many fields (at most 32)");
            return;
        }
        for (i = 0; key[i] != '\0'; i++) /* the body is valid UTF-8: count lead bytes */
            chars += ((unsigned char)key[i] & 0xC0) != 0x80;
        if (chars == 0 || chars > MAX_SHORT_CHARS || key[0] == '$' || strchr(key, '.') != NULL) {
            lumira_valid_fail(v, "(name)",
                              "field names must be 1-100 characters without '.' or a leading '$'");
            continue;
        }
        if (!json_object_is_type(val, json_type_string)) {
            lumira_valid_fail(v, key, "must be a string");
            continue;
        }
        /* Kept as written: spaces, line breaks and empty strings are part of a reading. */
        if (lumira_valid_str(v, gc, key, LUMIRA_VALID_VERBATIM, 0, MAX_CONTENT_CHARS, &text, &len))
            bson_append_utf8(out, key, -1, text != NULL ? text : "", (int)len);
    }
    lumira_valid_prefix(v, NULL);
}

bool order_param(struct lumira_req *req, struct lumira_resp *resp, char id[LUMIRA_OID_HEX + 1])
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

bool load_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp, const char *id,
                struct lumira_order *o, bson_t **doc)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res = lumira_orders_find_id(c->db, id, o, doc, err, sizeof(err));

    if (res == LUMIRA_OK)
        return true;
    if (res == LUMIRA_ENOTFOUND)
        lumira_resp_error(resp, req, 404, "ORDER_NOT_FOUND", "Order not found", NULL);
    else
        lumira_resp_db_failed(resp, req, res, "order lookup failed", err);
    return false;
}

void invalid_transition(struct lumira_req *req, struct lumira_resp *resp,
                        const struct lumira_order *o, const char *to)
{
    bool ok = true;
    struct json_object *extra = lumira_json_new_object(&ok);
    const char *from = o->status_text[0] != '\0' ? o->status_text : NULL;
    char msg[96];

    lumira_json_put_str(extra, "from", from, &ok);
    lumira_json_put_str(extra, "to", to, &ok);
    (void)lumira_str_fmt(msg, sizeof(msg), "An order that is %s cannot become %s",
                         from != NULL ? from : "without a status", to);
    lumira_resp_error_with(resp, req, 409, "INVALID_TRANSITION", msg, ok ? extra : NULL);
    if (!ok)
        json_object_put(extra);
}

void reply_order_doc(struct lumira_req *req, struct lumira_resp *resp, const bson_t *doc)
{
    bool ok = true;
    struct json_object *root = lumira_json_new_object(&ok);

    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put(root, "order", lumira_order_to_json(doc, &ok), &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

void reply_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp, const char *id)
{
    struct lumira_order o;
    bson_t *doc = NULL;

    if (!load_order(c, req, resp, id, &o, &doc))
        return;
    reply_order_doc(req, resp, doc);
    bson_destroy(doc);
}

void append_range(bson_t *filter, const char *field, int64_t from, int64_t to)
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

bool expert_and_id(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                   struct lumira_expert *me, char id[LUMIRA_OID_HEX + 1])
{
    return lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, me) &&
           order_param(req, resp, id);
}

void order_error(struct lumira_req *req, struct lumira_resp *resp, int status, const char *code,
                 const char *msg, const struct lumira_order *o)
{
    bool ok = true;
    struct json_object *extra = lumira_json_new_object(&ok);

    lumira_json_put_str(extra, "orderId", o->id, &ok);
    lumira_json_put_str(extra, "orderNumber", o->number, &ok);
    lumira_resp_error_with(resp, req, status, code, msg, ok ? extra : NULL);
    if (!ok)
        json_object_put(extra);
}

void keep_holder(bson_t *set, const struct lumira_order *o)
{
    bson_oid_t eid;

    if (o->assigned_legacy && lumira_oid_parse(o->assigned_to, strlen(o->assigned_to), &eid))
        BSON_APPEND_OID(set, "assignedExpertId", &eid);
}

bool may_change(struct lumira_req *req, struct lumira_resp *resp, const struct lumira_expert *me,
                const struct lumira_order *o)
{
    if (me->role == LUMIRA_ROLE_ADMIN || strcmp(o->assigned_to, me->id) == 0)
        return true;
    log_order(LUMIRA_LOG_WARN, o, "change refused: the order is not assigned to this expert");
    lumira_resp_error(resp, req, 403, "NOT_ASSIGNED",
                      "Only the expert this order is assigned to (or an admin) may change it",
                      NULL);
    return false;
}

bool admin_only(struct lumira_req *req, struct lumira_resp *resp, const struct lumira_expert *me,
                const char *what)
{
    char msg[128];

    if (me->role == LUMIRA_ROLE_ADMIN)
        return true;
    lumira_log(LUMIRA_LOG_WARN, "auth", "refused to an expert who is not an admin: %s", what);
    (void)lumira_str_fmt(msg, sizeof(msg), "Admin role required: %s", what);
    lumira_resp_error(resp, req, 403, "FORBIDDEN", msg, NULL);
    return false;
}
