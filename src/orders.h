#ifndef LUMIRA_ORDERS_H
#define LUMIRA_ORDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "err.h"
#include "jwt.h"
#include "lumira_limits.h"
#include "mongo.h"

/* The `orders` collection and the records that guard it (API.md "Data", docs/ORDERS.md):
 * `counters` (order numbers), `processed_events` (Stripe events applied once),
 * `order_assignments` (one expert per order) and `payment_locks` (one Stripe event of an order
 * at a time). Every exactly-once decision here is an insert under a unique index, the one
 * thing every MongoDB-compatible server does atomically (DESIGN.md); status changes are
 * conditional updates on the current status.
 *
 * Every function returns LUMIRA_EUNAVAIL when the database cannot be reached (the client is
 * then replaced at its next use), LUMIRA_EINTERNAL for another driver failure, and writes the
 * reason to `err` (`errlen` bytes) for the log, never for the client. */

#define LUMIRA_ORDERS "orders"
#define LUMIRA_COUNTERS "counters"
#define LUMIRA_EVENTS "processed_events"
#define LUMIRA_ASSIGNMENTS "order_assignments"
#define LUMIRA_PAYMENT_LOCKS "payment_locks"

/* "LU" + yymmdd + a sequence of 3 or more digits (up to 20). */
#define LUMIRA_ORDER_NUMBER_MAX 28
/* A stored status shown in an error (longer ones are cut out: shown as none). */
#define LUMIRA_ORDER_STATUS_TEXT_MAX 32
/* Stripe's ids (PaymentIntents, events): longer ones are not Stripe's. */
#define LUMIRA_ORDER_STRIPE_ID_MAX 255

enum lumira_order_status {
    LUMIRA_ORDER_NONE = -1,
    LUMIRA_ORDER_PENDING,
    LUMIRA_ORDER_PAID,
    LUMIRA_ORDER_PROCESSING,
    LUMIRA_ORDER_COMPLETED,
    LUMIRA_ORDER_FAILED,
    LUMIRA_ORDER_REFUNDED,
};
#define LUMIRA_ORDER_NSTATUS 6

/* The status as stored ("pending", ...), or NULL for LUMIRA_ORDER_NONE. */
const char *lumira_order_status_name(enum lumira_order_status s);

/* The status named by `len` bytes of `s`, LUMIRA_ORDER_NONE when none. */
enum lumira_order_status lumira_order_status_parse(const char *s, size_t len);

/* The transitions API.md allows for PATCH /api/orders/:id/status: pending→paid|failed,
 * paid→processing|refunded, processing→completed|failed, completed→refunded. */
bool lumira_order_transition_allowed(enum lumira_order_status from, enum lumira_order_status to);

/* The moves a Stripe event may make (docs/ORDERS.md "Payment lifecycle"), never by hand:
 * pending→paid|failed|refunded, failed→paid|refunded (a payment with another card after a
 * failure; a success arriving after its own full refund is refunded at once), and
 * paid|processing|completed→refunded. */
bool lumira_order_payment_allowed(enum lumira_order_status from, enum lumira_order_status to);

/* Levels 1-4: their names ("Simple", "Intuitive", "Alchimique", "Intégrale") and amounts in
 * cents (0, 1400, 2900, 4900). NULL / -1 for another level. */
const char *lumira_level_name(int64_t level);
int64_t lumira_level_amount(int64_t level);

/* Writes the order number of sequence `seq` on the UTC day of `epoch_ms`: "LU261130007".
 * False when it does not fit `size` bytes. */
bool lumira_order_number_format(int64_t epoch_ms, uint64_t seq, char *out, size_t size);

/* The counter's id for the UTC day of `epoch_ms`: "orders-261130" (out: 16 bytes). */
void lumira_order_counter_id(int64_t epoch_ms, char out[16]);

/* True when `len` bytes of `s` have the shape of an order number. */
bool lumira_order_number_valid(const char *s, size_t len);

/* What the programs need to decide about an order; the rest of the document stays in BSON. */
struct lumira_order {
    char id[LUMIRA_OID_HEX + 1];
    char number[LUMIRA_ORDER_NUMBER_MAX + 1];
    char user_id[LUMIRA_OID_HEX + 1]; /* "" when absent */
    char email[LUMIRA_MAX_EMAIL + 1];
    int64_t level;
    int64_t amount;
    enum lumira_order_status status; /* LUMIRA_ORDER_NONE for an unknown stored status */
    /* The status as stored, also one that is not ours (the original's n8n callback wrote
     * "ready"): valid UTF-8 of at most LUMIRA_ORDER_STATUS_TEXT_MAX bytes; "" when none. */
    char status_text[LUMIRA_ORDER_STATUS_TEXT_MAX + 1];
    /* assignedExpertId; for an order the original assigned (no assignedExpertId, and
     * expertReview.expertId a 24-hex string: API.md "Data" (compat)), that expert; "" when
     * nobody. */
    char assigned_to[LUMIRA_OID_HEX + 1];
    bool assigned_legacy; /* assigned_to is the original's expertReview.expertId */
    bool has_content;                     /* generatedContent is set */
    char payment_intent[LUMIRA_ORDER_STRIPE_ID_MAX + 1];     /* paymentIntentId, "" when none */
    char last_failure_event[LUMIRA_ORDER_STRIPE_ID_MAX + 1]; /* lastPaymentError.eventId */
    int64_t amount_refunded;                                 /* amountRefunded, 0 when none */
};

/* Creates the indexes of `orders` (idempotent, one createIndexes command): orderNumber (unique),
 * createdAt, status + createdAt, level + createdAt, userEmail, userId, paymentIntentId,
 * assignedExpertId + createdAt, assignedExpertId + status + deliveredAt, expertReview.status,
 * expertReview.expertId (the original's assignments):
 * each serves a query shape (docs/BENCHMARKS.md). LUMIRA_ECONFIG when an index of one of those
 * names exists with other options. */
enum lumira_err lumira_orders_ensure_indexes(struct lumira_mongo *m, char *err,
                                             size_t errlen) LUMIRA_WARN_UNUSED;

/* A new order. `form` is the validated formData (copied). */
struct lumira_order_new {
    bson_oid_t user_id;
    const char *email;
    int64_t level;
    const bson_t *form;
};

/* Inserts a `pending` order with the next free order number of the day of `now_ms`, and fills
 * `out`. The number comes from `counters` ($inc, upsert); a number already taken (a server
 * that does $inc as read-modify-write, or a counter reset by hand) takes the next one, up to a
 * bound after which LUMIRA_EINTERNAL. */
enum lumira_err lumira_orders_create(struct lumira_mongo *m, const struct lumira_order_new *o,
                                     int64_t now_ms, struct lumira_order *out, char *err,
                                     size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds one order by `filter` into `out` and, when `doc` is not NULL, a copy of the whole
 * document (the caller bson_destroy()s it). LUMIRA_ENOTFOUND when none. */
enum lumira_err lumira_orders_find(struct lumira_mongo *m, const bson_t *filter,
                                   struct lumira_order *out, bson_t **doc, char *err,
                                   size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds the order whose id is `id` (24 hex characters). */
enum lumira_err lumira_orders_find_id(struct lumira_mongo *m, const char *id,
                                      struct lumira_order *out, bson_t **doc, char *err,
                                      size_t errlen) LUMIRA_WARN_UNUSED;

/* Moves order `o` from o->status to `to`, setting `set` (may be NULL) and updatedAt in the same
 * conditional update ({_id, status: from}). LUMIRA_ENOTFOUND when the order was not in o->status
 * any more (someone else moved it: re-read to tell). On success logs `order status changed`
 * (orderNumber, from, to, by) and sets o->status. No check of the transition table here: the
 * caller decides what is allowed. When `after` is not NULL, *after gets the order as it is after
 * the update, from the update's own reply (a findAndModify: no second round trip to read it; the
 * caller bson_destroy()s it). */
enum lumira_err lumira_orders_transition(struct lumira_mongo *m, struct lumira_order *o,
                                         enum lumira_order_status to, const bson_t *set,
                                         const char *by, int64_t now_ms, bson_t **after, char *err,
                                         size_t errlen) LUMIRA_WARN_UNUSED;

/* A Stripe event's change to order `o`, in one conditional update that matches only while the
 * order is as read: still in o->status, and with o->payment_intent as its paymentIntentId (none
 * stored: none yet, and `pi` is stored with the change). When `event` is not NULL the update
 * also needs lastPaymentError.eventId to differ from it (a failure counted once per event). The
 * update $sets status `to` (LUMIRA_ORDER_NONE: unchanged), `set` (may be NULL) and updatedAt,
 * and applies `inc` and `max` ($inc, $max; may be NULL). LUMIRA_ENOTFOUND when the order changed
 * meanwhile: re-read it and decide again. A status change is logged as by
 * lumira_orders_transition() (by "webhook") and sets o->status. */
enum lumira_err lumira_orders_payment_update(struct lumira_mongo *m, struct lumira_order *o,
                                             const char *pi, enum lumira_order_status to,
                                             const bson_t *set, const bson_t *inc,
                                             const bson_t *max, const char *event, int64_t now_ms,
                                             char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* $set `set` (and updatedAt) on order `id` whatever its status; LUMIRA_ENOTFOUND when no such
 * order. When `status` is not LUMIRA_ORDER_NONE the update applies only while the order is in
 * that status (LUMIRA_ENOTFOUND otherwise). `after` as for lumira_orders_transition(). */
enum lumira_err lumira_orders_set(struct lumira_mongo *m, const char *id,
                                  enum lumira_order_status status, const bson_t *set,
                                  int64_t now_ms, bson_t **after, char *err,
                                  size_t errlen) LUMIRA_WARN_UNUSED;

/* As lumira_orders_set() with LUMIRA_ORDER_NONE, but only while the order is assigned to expert
 * `expert_id` (24 hex characters); LUMIRA_ENOTFOUND when no such order or it is not theirs (read
 * it to tell which). */
enum lumira_err lumira_orders_set_assigned(struct lumira_mongo *m, const char *id,
                                           const char *expert_id, const bson_t *set,
                                           int64_t now_ms, bson_t **after, char *err,
                                           size_t errlen) LUMIRA_WARN_UNUSED;

/* Filters on who holds an order, for queries and conditional updates. "Mine" is assigned to
 * expert `expert_id` (24 hex characters): assignedExpertId = its ObjectId, or, for an order the
 * original assigned, no assignedExpertId and expertReview.expertId = its hex string (lower case,
 * as the original wrote it, or upper case). "Free" is neither: no assignedExpertId, and no id
 * string in expertReview.expertId (our own reviews record an ObjectId there, which assigns
 * nothing; an empty or malformed string names nobody). lumira_orders_match_mine() and _free_or_mine() append
 * an `$or` (one per filter); false, with nothing appended, for a malformed id. */
void lumira_orders_match_free(bson_t *filter);
bool lumira_orders_match_mine(bson_t *filter, const char *expert_id);
bool lumira_orders_match_free_or_mine(bson_t *filter, const char *expert_id);

/* Appends to `arr` the orders matching `filter` in `sort` order, skipping `skip` and at most
 * `limit`, each as lumira_order_to_json() gives it but without the large free-text fields
 * (`generatedContent`, `expertPrompt`, `expertInstructions`, `expertReview.notes`, `n8nError`:
 * GET /api/orders/:id shows them), so that a full page of orders with every field at its
 * maximum stays far below the response cap. */
enum lumira_err lumira_orders_list(struct lumira_mongo *m, const bson_t *filter, const bson_t *sort,
                                   int64_t skip, int64_t limit, struct json_object *arr, char *err,
                                   size_t errlen) LUMIRA_WARN_UNUSED;

/* Sums integer field `field` (NULL: counts) of the orders matching `match`: grouped by level
 * when `by_level` (out[l] for levels 1-4; index 0 unused), else into out[0]. Uses only $match
 * and $group with one $sum, which every server does right. */
enum lumira_err lumira_orders_sum(struct lumira_mongo *m, const bson_t *match, bool by_level,
                                  const char *field, int64_t out[5], char *err,
                                  size_t errlen) LUMIRA_WARN_UNUSED;

/* Counts the orders matching `match` by status: out[s] for each status s (0 for a status none
 * has); stored statuses that are not ours are left out. One $group with one $sum. */
enum lumira_err lumira_orders_count_by_status(struct lumira_mongo *m, const bson_t *match,
                                              int64_t out[LUMIRA_ORDER_NSTATUS], char *err,
                                              size_t errlen) LUMIRA_WARN_UNUSED;

/* Records Stripe event `id` as processed. LUMIRA_EEXIST when it already was. */
enum lumira_err lumira_events_record(struct lumira_mongo *m, const char *id, const char *type,
                                     const char *order_id, const char *outcome, int64_t now_ms,
                                     char *err, size_t errlen) LUMIRA_WARN_UNUSED;

/* LUMIRA_OK when Stripe event `id` was processed, LUMIRA_ENOTFOUND when not. */
enum lumira_err lumira_events_seen(struct lumira_mongo *m, const char *id, char *err,
                                   size_t errlen) LUMIRA_WARN_UNUSED;

/* Takes the payment lock of order `order_id` (24 hex characters) for Stripe event `event_id`: an
 * insert under the order's id into `payment_locks`, which every server does atomically, so that
 * the events of one order are applied one at a time even on a server whose conditional updates
 * are read-modify-write (FerretDB, DESIGN.md). `token` (LUMIRA_OID_HEX + 1 bytes, out) names
 * this holder for lumira_payment_unlock(). A lock left by the same event (a retry after a reply
 * that was lost, so the insert may have been made) or taken more than `stale_ms` ago (its holder
 * died before letting it go) is removed and taken. LUMIRA_EEXIST when another holds it. */
enum lumira_err lumira_payment_lock(struct lumira_mongo *m, const char *order_id,
                                    const char *event_id, int64_t now_ms, int64_t stale_ms,
                                    char token[LUMIRA_OID_HEX + 1], char *err,
                                    size_t errlen) LUMIRA_WARN_UNUSED;

/* Lets the lock of order `order_id` go, if `token` still holds it. */
enum lumira_err lumira_payment_unlock(struct lumira_mongo *m, const char *order_id,
                                      const char *token, char *err,
                                      size_t errlen) LUMIRA_WARN_UNUSED;

/* Gives order `order_id` to expert `expert_id` (`name` for display): an insert into
 * `order_assignments` under the order's id. LUMIRA_EEXIST when the order is already someone's;
 * then `holder` (LUMIRA_OID_HEX + 1 bytes) gets that expert's id. */
enum lumira_err lumira_orders_assign(struct lumira_mongo *m, const char *order_id,
                                     const char *expert_id, const char *name, int64_t now_ms,
                                     char holder[LUMIRA_OID_HEX + 1], char *err,
                                     size_t errlen) LUMIRA_WARN_UNUSED;

/* An order as the API shows it: lumira_bson_to_json(), with `assignedExpertId` always present:
 * the stored one, the original's expertReview.expertId for an order it assigned, or null. */
struct json_object *lumira_order_to_json(const bson_t *doc, bool *ok);

/* A BSON document as the API shows it: ObjectIds as 24-hex strings, dates as ISO-8601 strings,
 * numbers as numbers (NaN and the infinities, which JSON lacks, as null), strings and keys that
 * are not valid UTF-8 with U+FFFD for each bad byte, documents and arrays nested deeper than
 * LUMIRA_BSON_MAX_DEPTH as null; "_id" is also given as "id" at the top level. NULL with *ok
 * false on allocation failure. */
struct json_object *lumira_bson_to_json(const bson_t *doc, bool *ok);

#endif
