/* lumira-orders: what its source files share (cgi-bin/lumira-orders.c has the routes and main;
 * orders-payments.c checkout and the Stripe webhook, orders-api.c the orders API, orders-desk.c
 * the expert desk). Private to the program. */
#ifndef LUMIRA_ORDERS_PROG_H
#define LUMIRA_ORDERS_PROG_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "clock.h"
#include "experts.h"
#include "fetch.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "nonces.h"
#include "orders.h"
#include "server.h"
#include "str.h"
#include "stripe.h"
#include "users.h"
#include "valid.h"
#include "webhook.h"

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
    struct lumira_index_state indexes;
};

/* No bound, for append_range(). */
#define NO_BOUND INT64_MIN

/* Makes the indexes once per worker; a database that is down at start is retried on the next
 * request. */
void ensure_indexes(struct ctx *c);

/* Logs one line about an order, with its number and the customer's address masked. */
void log_order(enum lumira_log_level level, const struct lumira_order *o, const char *msg);

/* Midnight UTC of the day of `now_ms`. */
int64_t day_start(int64_t now_ms);

/* Reads generatedContent: an object of at most MAX_CONTENT_FIELDS strings. Absent is allowed
 * when not `required`. */
void read_content(struct lumira_valid *v, const struct json_object *body, bool required,
                  bson_t *out);

/* The route's ":id" as an ObjectId in text; otherwise answers 400 INVALID_ID. */
bool order_param(struct lumira_req *req, struct lumira_resp *resp, char id[LUMIRA_OID_HEX + 1]);

/* Loads order `id` (and its document when `doc`); otherwise answers 404 or the failure. */
bool load_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp, const char *id,
                struct lumira_order *o, bson_t **doc);

/* 409 INVALID_TRANSITION naming both statuses: the order's as stored (also one that is not ours,
 * such as the original's "ready"; null when it has none) and `to`. */
void invalid_transition(struct lumira_req *req, struct lumira_resp *resp,
                        const struct lumira_order *o, const char *to);

/* Answers {"success": true, "order": <the order as stored now>}: reply_order() reads it,
 * reply_order_doc() shows `doc` (borrowed), the order as an update's own reply gave it. */
void reply_order(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp, const char *id);
void reply_order_doc(struct lumira_req *req, struct lumira_resp *resp, const bson_t *doc);

/* Appends {field: {$gte: from, $lte: to}} for whichever bound is set. */
void append_range(bson_t *filter, const char *field, int64_t from, int64_t to);

/* The start of every /api/orders/:id handler: an expert, a well-formed id. */
bool expert_and_id(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                   struct lumira_expert *me, char id[LUMIRA_OID_HEX + 1]);

/* Appends to `set`, for an order the original assigned (o->assigned_legacy), its holder as our
 * own assignedExpertId: a write that replaces expertReview (a review, n8n's content) would
 * otherwise erase the original's record of who holds the order. */
void keep_holder(bson_t *set, const struct lumira_order *o);

/* Who may change an order (API.md "Orders"): an admin (the role of the stored account) any,
 * an expert only an order assigned to them. Otherwise answers 403 NOT_ASSIGNED and returns
 * false. */
bool may_change(struct lumira_req *req, struct lumira_resp *resp, const struct lumira_expert *me,
                const struct lumira_order *o);

/* True for an admin account (its stored role); otherwise answers 403 FORBIDDEN naming `what`. */
bool admin_only(struct lumira_req *req, struct lumira_resp *resp, const struct lumira_expert *me,
                const char *what);

/* An error answer that names the order: {"error", "code", "requestId", "orderId",
 * "orderNumber"}. */
void order_error(struct lumira_req *req, struct lumira_resp *resp, int status, const char *code,
                 const char *msg, const struct lumira_order *o);

/* The route handlers. */
void handle_checkout(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_webhook(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_list(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_get(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_status(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_review(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_content(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_delivered(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_overview(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_by_number(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_pending(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_assigned(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_desk_order(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_assign(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_process(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_callback(struct lumira_req *req, struct lumira_resp *resp, void *ctx);
void handle_stats(struct lumira_req *req, struct lumira_resp *resp, void *ctx);

#endif
