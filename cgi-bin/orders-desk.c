/* lumira-orders: the expert desk and the n8n workflow (API.md "Expert desk";
 * docs/ORDERS.md). */
#include <string.h>

#include "lumira-orders.h"

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
        lumira_resp_db_failed(resp, req, res, "order list failed", err);
        return;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put(root, "orders", orders, &ok);
    lumira_json_put_int(root, "count", total, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

/* {status: {$in: [paid, processing]}}: work in hand (API.md: the assigned list is "mine, paid or
 * processing"; what was completed or refunded is no longer on the desk). */
static void append_in_hand(bson_t *filter)
{
    bson_t st, in;

    BSON_APPEND_DOCUMENT_BEGIN(filter, "status", &st);
    BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
    BSON_APPEND_UTF8(&in, "0", "paid");
    BSON_APPEND_UTF8(&in, "1", "processing");
    bson_append_array_end(&st, &in);
    bson_append_document_end(filter, &st);
}

void handle_pending(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    bson_t filter = BSON_INITIALIZER, sort = BSON_INITIALIZER;

    /* What this expert can take up: paid and free, or paid and already mine (taken, not yet sent
     * to n8n, or sent and given back): the desk reloads this list after "take" and must still
     * find the order it took (API.md "Expert desk" (compat)). */
    if (lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me)) {
        BSON_APPEND_UTF8(&filter, "status", "paid");
        (void)lumira_orders_match_free_or_mine(&filter, me.id);
        BSON_APPEND_INT32(&sort, "createdAt", -1);
        BSON_APPEND_INT32(&sort, "_id", -1);
        reply_list(c, req, resp, &filter, &sort);
    }
    bson_destroy(&filter);
    bson_destroy(&sort);
}

void handle_assigned(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    bson_t filter = BSON_INITIALIZER, sort = BSON_INITIALIZER;

    if (lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me)) {
        (void)lumira_orders_match_mine(&filter, me.id);
        append_in_hand(&filter);
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
 * lost. When `after` is not NULL and the order was written, *after gets it as it is now (the
 * write's own reply; NULL when the order already showed me: nothing was written). */
static bool take_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                       struct lumira_order *o, const struct lumira_expert *me, bson_t **after)
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
        lumira_resp_db_failed(resp, req, res, "order assignment failed", err);
        return false;
    }
    /* The original's assignment (expertReview.expertId) is given our own record on the way. */
    if (strcmp(o->assigned_to, me->id) == 0 && !o->assigned_legacy)
        return true;
    (void)lumira_oid_parse(me->id, strlen(me->id), &eid);
    BSON_APPEND_OID(&set, "assignedExpertId", &eid);
    BSON_APPEND_UTF8(&set, "assignedExpertName", me->name);
    BSON_APPEND_DATE_TIME(&set, "assignedAt", now);
    res = lumira_orders_set(c->db, o->id, LUMIRA_ORDER_NONE, &set, now, after, err, sizeof(err));
    bson_destroy(&set);
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "order assignment update failed", err);
        return false;
    }
    memcpy(o->assigned_to, me->id, sizeof(o->assigned_to));
    o->assigned_legacy = false;
    log_order(LUMIRA_LOG_INFO, o, "order assigned");
    return true;
}

void handle_assign(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct lumira_expert me;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1];
    bson_t *doc = NULL, *after = NULL;

    if (!expert_and_id(c, req, resp, &me, id) || !load_order(c, req, resp, id, &o, &doc))
        return;
    if (o.assigned_to[0] != '\0' && strcmp(o.assigned_to, me.id) != 0)
        lumira_resp_error(resp, req, 409, "ALREADY_ASSIGNED",
                          "This order is assigned to another expert", NULL);
    else if (o.status != LUMIRA_ORDER_PAID && strcmp(o.assigned_to, me.id) != 0)
        invalid_transition(req, resp, &o, "assigned");
    else if (take_order(c, req, resp, &o, &me, &after))
        reply_order_doc(req, resp, after != NULL ? after : doc); /* as read: already mine */
    bson_destroy(after);
    bson_destroy(doc);
}

/* The JSON posted to n8n: what the workflow needs to prepare the reading. */
static struct json_object *n8n_payload(const bson_t *doc, const struct lumira_expert *me,
                                       const char *prompt, size_t plen, const char *instr,
                                       size_t ilen, bool *ok)
{
    static const char *const keep[] = {"orderNumber", "level",  "levelName", "userEmail",
                                       "formData",    "amount", "createdAt"};
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
    lumira_fetch_reply_init(&r, LUMIRA_N8N_MAX_REPLY);
    res = lumira_json_serialize(payload, &json);
    if (res != LUMIRA_OK) {
        (void)lumira_str_fmt(reason, MAX_REASON, "n8n: cannot serialise the order: %s",
                             lumira_strerror(res));
    } else {
        res = lumira_fetch_post_json(c->fetch, c->cfg->n8n_webhook_url, json.ptr, json.len, NULL,
                                     c->cfg->n8n_timeout_ms, &r);
        lumira_metrics_http_call(LUMIRA_METRICS_N8N, res, r.status, r.elapsed_ms);
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

void handle_process(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
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
    if (instr != NULL && ilen == 0)
        instr = NULL; /* the desk sends its empty text box: the same as none (API.md (compat)) */
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
        invalid_transition(req, resp, &o, "processing");
        goto out;
    }
    if (!take_order(c, req, resp, &o, &me, NULL))
        goto out;
    bson_append_utf8(&set, "expertPrompt", -1, prompt, (int)plen);
    if (instr != NULL)
        bson_append_utf8(&set, "expertInstructions", -1, instr, (int)ilen);
    BSON_APPEND_DATE_TIME(&set, "processingStartedAt", now);
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PROCESSING, &set, "expert", now, NULL,
                                   err, sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        if (load_order(c, req, resp, id, &o, NULL))
            invalid_transition(req, resp, &o, "processing");
        goto out;
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "order status update failed", err);
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
    res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &back, "n8n", lumira_wall_ms(),
                                   NULL, err, sizeof(err));
    if (res != LUMIRA_OK)
        lumira_log(LUMIRA_LOG_ERROR, "db", "order %s stays processing after an n8n failure: %s",
                   o.number, err);
    order_error(req, resp, 502, "N8N_ERROR", "The content workflow did not accept the order", &o);
out:
    json_object_put(payload);
    bson_destroy(doc);
    bson_destroy(&set);
    bson_destroy(&back);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* The first of two request headers that is set and not empty (X-Timestamp, then its alias
 * X-N8N-Timestamp); NULL when neither is. */
static const char *header_or_alias(const struct lumira_req *req, const char *name,
                                   const char *alias)
{
    const char *v = lumira_req_env(req, name);

    if (v == NULL || v[0] == '\0')
        v = lumira_req_env(req, alias);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The signature and replay checks of a callback (API.md "Expert desk"), before its body is
 * read: the X-N8N-Signature over "<timestamp>.<nonce>.<raw body>" when X-Timestamp and X-Nonce
 * are sent (then the timestamp must be within N8N_CALLBACK_MAX_SKEW_MS of now), over the body
 * alone when neither is and N8N_CALLBACK_REQUIRE_REPLAY_PROTECTION is false. On success
 * *nonce is the nonce (borrowed from the request; NULL for the body-only form) and *ts_ms its
 * timestamp. Otherwise answers and returns false. Nothing is written here. */
static bool check_signed(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                         const char **nonce, int64_t *ts_ms, int64_t now)
{
    const char *sig = lumira_req_env(req, "HTTP_X_N8N_SIGNATURE");
    const char *ts = header_or_alias(req, "HTTP_X_TIMESTAMP", "HTTP_X_N8N_TIMESTAMP");
    const char *nc = header_or_alias(req, "HTTP_X_NONCE", "HTTP_X_N8N_NONCE");
    const char *body = req->body.ptr != NULL ? req->body.ptr : "";
    size_t siglen = sig != NULL ? strlen(sig) : 0;
    struct lumira_valid v;
    char why[128];
    int64_t skew;
    enum lumira_err res;
    bool ok = false;

    *nonce = NULL;
    lumira_valid_init(&v);
    if ((ts == NULL || nc == NULL) && (ts != NULL || nc != NULL || c->cfg->n8n_require_replay)) {
        lumira_log(LUMIRA_LOG_WARN, "n8n", "callback refused: %s",
                   ts == NULL && nc == NULL ? "no X-Timestamp and X-Nonce"
                                            : "X-Timestamp and X-Nonce must come together");
        lumira_resp_error(resp, req, 400, "REPLAY_HEADERS_REQUIRED",
                          "Both X-Timestamp (Unix milliseconds) and X-Nonce are required", NULL);
        goto out;
    }
    if (ts != NULL) {
        if (!lumira_n8n_timestamp_parse(ts, strlen(ts), ts_ms))
            lumira_valid_fail(&v, "X-Timestamp", "must be Unix milliseconds (digits only)");
        if (!lumira_n8n_nonce_valid(nc, strlen(nc)))
            lumira_valid_fail(&v, "X-Nonce", "must be 1-128 characters of [A-Za-z0-9._:-]");
        if (lumira_valid_failed(&v)) {
            lumira_log(LUMIRA_LOG_WARN, "n8n", "callback refused: malformed replay headers");
            lumira_valid_respond(&v, resp, req);
            goto out;
        }
        res = lumira_n8n_sig_verify_replay(sig, siglen, ts, strlen(ts), nc, strlen(nc), body,
                                           req->body.len, c->cfg->n8n_callback_secret, why,
                                           sizeof(why));
    } else {
        res = lumira_n8n_sig_verify(sig, siglen, body, req->body.len,
                                    c->cfg->n8n_callback_secret, why, sizeof(why));
    }
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "n8n", "callback refused: %s", why);
        lumira_resp_error(resp, req, 401, "INVALID_SIGNATURE", "Invalid signature", NULL);
        goto out;
    }
    /* The time is judged once the signature matched (a forger learns nothing of our clock). */
    if (ts != NULL) {
        skew = now > *ts_ms ? now - *ts_ms : *ts_ms - now;
        if (skew > c->cfg->n8n_max_skew_ms) {
            lumira_log(LUMIRA_LOG_WARN, "n8n",
                       "callback refused: timestamp %lld ms %s (allowed %lld ms)",
                       (long long)skew, now > *ts_ms ? "old" : "ahead",
                       (long long)c->cfg->n8n_max_skew_ms);
            lumira_resp_error(resp, req, 400, "STALE_CALLBACK",
                              "X-Timestamp is too far from the current time", NULL);
            goto out;
        }
        *nonce = nc;
    }
    ok = true;
out:
    lumira_valid_cleanup(&v);
    return ok;
}

/* Records the callback's nonce once: 409 REPLAY when it was seen before, 503 when the
 * database fails (nothing has been applied then). */
static bool record_nonce(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                         const char *nonce, int64_t ts_ms, int64_t now)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res;

    /* Kept while a callback with this timestamp could still be fresh. */
    res = lumira_nonces_record(c->db, nonce, strlen(nonce), ts_ms + c->cfg->n8n_max_skew_ms, now,
                               err, sizeof(err));
    if (res == LUMIRA_OK)
        return true;
    if (res == LUMIRA_EEXIST) {
        lumira_log(LUMIRA_LOG_WARN, "n8n", "callback refused: nonce seen before (replay)");
        lumira_resp_error(resp, req, 409, "REPLAY", "This callback was already received", NULL);
        return false;
    }
    /* Whatever the driver said, the callback was not applied and may be sent again. */
    lumira_resp_db_failed(resp, req, LUMIRA_EUNAVAIL, "n8n nonce record failed", err);
    return false;
}

/* Forgets the nonce of a callback that was not applied because the database failed, so that
 * n8n's retry of it is not refused as a replay. Best effort: logged when it fails too. */
static void forget_nonce(struct ctx *c, const char *nonce)
{
    char err[LUMIRA_MAX_ERRMSG];
    enum lumira_err res = lumira_nonces_forget(c->db, nonce, strlen(nonce), err, sizeof(err));

    if (res != LUMIRA_OK && res != LUMIRA_ENOTFOUND)
        lumira_log(LUMIRA_LOG_WARN, "n8n",
                   "cannot forget the nonce of a callback not applied (a retry is a replay): %s",
                   err);
}

void handle_callback(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    const char *idstr, *error, *nonce = NULL;
    struct json_object *body = NULL, *root;
    struct lumira_valid v;
    struct lumira_order o;
    char id[LUMIRA_OID_HEX + 1], err[LUMIRA_MAX_ERRMSG];
    size_t idlen, elen;
    bson_t set = BSON_INITIALIZER, gc, r;
    bson_oid_t oid;
    bool success = false, ok = true;
    int64_t now = lumira_wall_ms(), ts_ms = 0;
    enum lumira_err res;

    lumira_valid_init(&v);
    if (!check_signed(c, req, resp, &nonce, &ts_ms, now))
        goto out;
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (lumira_valid_str(&v, body, "orderId", LUMIRA_VALID_REQUIRED, 1, 64, &idstr, &idlen) &&
        !lumira_oid_parse(idstr, idlen, &oid))
        lumira_valid_fail(&v, "orderId", "must be an order id (24 hexadecimal characters)");
    res = lumira_json_get_bool(body, "success", &success);
    if (res != LUMIRA_OK)
        lumira_valid_fail(&v, "success",
                          res == LUMIRA_ENOTFOUND ? "is required" : "must be true or false");
    BSON_APPEND_DOCUMENT_BEGIN(&set, "generatedContent", &gc);
    read_content(&v, body, res == LUMIRA_OK && success, &gc);
    bson_append_document_end(&set, &gc);
    (void)lumira_valid_str(&v, body, "error", LUMIRA_VALID_MULTILINE, 0, MAX_QUESTION_CHARS, &error,
                           &elen);
    if (lumira_valid_failed(&v)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    /* Exactly once: of any number of copies of this callback, on any worker, one gets here. */
    if (nonce != NULL && !record_nonce(c, req, resp, nonce, ts_ms, now))
        goto out;
    bson_oid_to_string(&oid, id);
    if (!load_order(c, req, resp, id, &o, NULL))
        goto not_applied;
    if (o.status != LUMIRA_ORDER_PROCESSING) {
        log_order(LUMIRA_LOG_WARN, &o, "n8n callback for an order not processing");
        invalid_transition(req, resp, &o, success ? "processing" : "paid");
        goto out;
    }
    if (success) {
        BSON_APPEND_DATE_TIME(&set, "contentGeneratedAt", now);
        BSON_APPEND_DOCUMENT_BEGIN(&set, "expertReview", &r);
        BSON_APPEND_UTF8(&r, "status", "pending");
        bson_append_document_end(&set, &r);
        keep_holder(&set, &o);
        res = lumira_orders_set(c->db, id, LUMIRA_ORDER_PROCESSING, &set, now, NULL, err,
                                sizeof(err));
        if (res == LUMIRA_OK)
            log_order(LUMIRA_LOG_INFO, &o, "content received from n8n: awaiting review");
    } else {
        bson_t back = BSON_INITIALIZER;

        if (error != NULL)
            bson_append_utf8(&back, "n8nError", -1, error, (int)elen);
        else
            BSON_APPEND_UTF8(&back, "n8nError", "n8n reported a failure");
        res = lumira_orders_transition(c->db, &o, LUMIRA_ORDER_PAID, &back, "n8n", now, NULL, err,
                                       sizeof(err));
        bson_destroy(&back);
    }
    if (res == LUMIRA_ENOTFOUND) {
        if (load_order(c, req, resp, id, &o, NULL))
            invalid_transition(req, resp, &o, success ? "processing" : "paid");
        goto out;
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "n8n callback update failed", err);
        goto not_applied;
    }
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "received", true, &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
    goto out;
not_applied:
    /* A 404 or a database failure: the same callback may come again once things are mended. */
    if (nonce != NULL)
        forget_nonce(c, nonce);
out:
    bson_destroy(&set);
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

void handle_stats(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    /* API.md "Expert desk" (compat): flat, as the desk reads it. The first four are of every
     * order, the rest of this expert's. */
    enum { QUEUE, PAID, PROCESSING, COMPLETED, TODAY, REVIEW, NCOUNT };
    static const char *const names[NCOUNT] = {"pending",   "paid",         "processing",
                                              "completed", "treatedToday", "awaitingReview"};
    struct ctx *c = ctx;
    struct lumira_expert me;
    int64_t n[NCOUNT], mine[LUMIRA_ORDER_NSTATUS];
    char err[LUMIRA_MAX_ERRMSG];
    struct json_object *root;
    enum lumira_err res = LUMIRA_OK;
    bool ok = true;
    bson_t f = BSON_INITIALIZER;
    size_t i;

    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, &me))
        goto out;
    for (i = 0; res == LUMIRA_OK && i < NCOUNT; i++) {
        bson_reinit(&f);
        if (i == QUEUE) {
            BSON_APPEND_UTF8(&f, "status", "paid");
            lumira_orders_match_free(&f);
        } else if (i == PAID || i == PROCESSING || i == COMPLETED) {
            BSON_APPEND_UTF8(&f, "status", names[i]);
        } else {
            (void)lumira_orders_match_mine(&f, me.id);
            BSON_APPEND_UTF8(&f, "status", i == TODAY ? "completed" : "processing");
            if (i == TODAY)
                append_range(&f, "deliveredAt", day_start(lumira_wall_ms()), NO_BOUND);
            else
                BSON_APPEND_UTF8(&f, "expertReview.status", "pending");
        }
        res = lumira_mongo_count(c->db, LUMIRA_ORDERS, &f, &n[i], err, sizeof(err));
    }
    /* Mine by status, in one pass over my orders: the work in hand and all I completed. */
    if (res == LUMIRA_OK) {
        bson_reinit(&f);
        (void)lumira_orders_match_mine(&f, me.id);
        res = lumira_orders_count_by_status(c->db, &f, mine, err, sizeof(err));
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "expert statistics failed", err);
        goto out;
    }
    root = lumira_json_new_object(&ok);
    for (i = 0; i < NCOUNT; i++)
        lumira_json_put_int(root, names[i], n[i], &ok);
    lumira_json_put_int(root, "totalTreated", mine[LUMIRA_ORDER_COMPLETED], &ok);
    lumira_json_put_int(root, "assigned", mine[LUMIRA_ORDER_PAID] + mine[LUMIRA_ORDER_PROCESSING],
                        &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    bson_destroy(&f);
}
