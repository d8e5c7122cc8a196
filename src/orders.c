#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "orders.h"
#include "str.h"

/* A busy day's counter cannot lag the orders by more than a few numbers; past this many taken
 * numbers in a row something else is wrong (a counter reset by hand to an old value). */
#define NUMBER_TRIES 64

static const char *const status_names[] = {
    [LUMIRA_ORDER_PENDING] = "pending",       [LUMIRA_ORDER_PAID] = "paid",
    [LUMIRA_ORDER_PROCESSING] = "processing", [LUMIRA_ORDER_COMPLETED] = "completed",
    [LUMIRA_ORDER_FAILED] = "failed",         [LUMIRA_ORDER_REFUNDED] = "refunded",
};

#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))
_Static_assert(NSTATUS == LUMIRA_ORDER_NSTATUS, "a name for every status");

const char *lumira_order_status_name(enum lumira_order_status s)
{
    return s >= 0 && (size_t)s < NSTATUS ? status_names[s] : NULL;
}

enum lumira_order_status lumira_order_status_parse(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < NSTATUS; i++)
        if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0)
            return (enum lumira_order_status)i;
    return LUMIRA_ORDER_NONE;
}

bool lumira_order_transition_allowed(enum lumira_order_status from, enum lumira_order_status to)
{
    switch (from) {
    case LUMIRA_ORDER_PENDING:
        return to == LUMIRA_ORDER_PAID || to == LUMIRA_ORDER_FAILED;
    case LUMIRA_ORDER_PAID:
        return to == LUMIRA_ORDER_PROCESSING || to == LUMIRA_ORDER_REFUNDED;
    case LUMIRA_ORDER_PROCESSING:
        return to == LUMIRA_ORDER_COMPLETED || to == LUMIRA_ORDER_FAILED;
    case LUMIRA_ORDER_COMPLETED:
        return to == LUMIRA_ORDER_REFUNDED;
    default:
        return false;
    }
}

bool lumira_order_payment_allowed(enum lumira_order_status from, enum lumira_order_status to)
{
    switch (from) {
    case LUMIRA_ORDER_PENDING:
        return to == LUMIRA_ORDER_PAID || to == LUMIRA_ORDER_FAILED || to == LUMIRA_ORDER_REFUNDED;
    case LUMIRA_ORDER_FAILED:
        return to == LUMIRA_ORDER_PAID || to == LUMIRA_ORDER_REFUNDED;
    case LUMIRA_ORDER_PAID:
    case LUMIRA_ORDER_PROCESSING:
    case LUMIRA_ORDER_COMPLETED:
        return to == LUMIRA_ORDER_REFUNDED;
    default:
        return false;
    }
}

static const struct {
    const char *name;
    int64_t amount;
} levels[] = {{"Simple", 0}, {"Intuitive", 1400}, {"Alchimique", 2900}, {"Intégrale", 4900}};

const char *lumira_level_name(int64_t level)
{
    return level >= 1 && level <= 4 ? levels[level - 1].name : NULL;
}

int64_t lumira_level_amount(int64_t level)
{
    return level >= 1 && level <= 4 ? levels[level - 1].amount : -1;
}

/* yymmdd of the UTC day of `epoch_ms` into out (7 bytes). */
static void day_digits(int64_t epoch_ms, char out[7])
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        lumira_str_fmt(out, 7, "%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday))
        memcpy(out, "700101", 7);
}

bool lumira_order_number_format(int64_t epoch_ms, uint64_t seq, char *out, size_t size)
{
    char day[7];

    day_digits(epoch_ms, day);
    return !lumira_str_fmt(out, size, "LU%s%03" PRIu64, day, seq);
}

void lumira_order_counter_id(int64_t epoch_ms, char out[16])
{
    char day[7];

    day_digits(epoch_ms, day);
    (void)lumira_str_fmt(out, 16, "orders-%s", day);
}

bool lumira_order_number_valid(const char *s, size_t len)
{
    size_t i;

    if (len < 2 + 6 + 3 || len > LUMIRA_ORDER_NUMBER_MAX || s[0] != 'L' || s[1] != 'U')
        return false;
    for (i = 2; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

enum lumira_err lumira_orders_ensure_indexes(struct lumira_mongo *m, char *err, size_t errlen)
{
    /* Each serves a query shape of docs/BENCHMARKS.md ("Query shapes and indexes"). */
    static const struct lumira_mongo_index specs[] = {
        {"orderNumber_1", {"orderNumber"}, {1}, true},
        {"createdAt_-1", {"createdAt"}, {-1}, false},
        {"status_1_createdAt_-1", {"status", "createdAt"}, {1, -1}, false},
        {"level_1_createdAt_-1", {"level", "createdAt"}, {1, -1}, false},
        {"userEmail_1", {"userEmail"}, {1}, false},
        {"userId_1", {"userId"}, {1}, false},
        {"paymentIntentId_1", {"paymentIntentId"}, {1}, false},
        {"assignedExpertId_1_createdAt_-1", {"assignedExpertId", "createdAt"}, {1, -1}, false},
        {"assignedExpertId_1_status_1_deliveredAt_-1",
         {"assignedExpertId", "status", "deliveredAt"},
         {1, 1, -1},
         false},
        {"expertReview.status_1", {"expertReview.status"}, {1}, false},
        {"expertReview.expertId_1", {"expertReview.expertId"}, {1}, false},
    };

    return lumira_mongo_ensure_indexes(m, LUMIRA_ORDERS, specs, sizeof(specs) / sizeof(specs[0]),
                                       err, errlen);
}

/* Reads an integer stored as int32, int64 or an integral double. */
static bool iter_int(const bson_iter_t *it, int64_t *v)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32:
        *v = bson_iter_int32(it);
        return true;
    case BSON_TYPE_INT64:
        *v = bson_iter_int64(it);
        return true;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);

        if (d >= -9.0e15 && d <= 9.0e15 && d == (double)(int64_t)d) {
            *v = (int64_t)d;
            return true;
        }
        return false;
    }
    default:
        return false;
    }
}

static void copy_str(char *out, size_t size, const bson_iter_t *it)
{
    uint32_t len;
    const char *s = bson_iter_utf8(it, &len);

    if (len < size) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
}

/* The original wrote expertReview.expertId as the expert's id, a string: 24 hexadecimal
 * characters in lower case (ObjectId.toString()); an upper-case copy is read as the same id.
 * Anything else there (empty, not hex, mixed case) names nobody. The filters below say the same
 * to the server (a regular expression of this shape; $in of both cases). */
#define LEGACY_ID_RE "^([0-9a-f]{24}|[0-9A-F]{24})$"

/* True when `len` bytes of `s` hold both lower- and upper-case hexadecimal letters. */
static bool mixed_case(const char *s, size_t len)
{
    bool lower = false, upper = false;
    size_t i;

    for (i = 0; i < len; i++) {
        lower = lower || (s[i] >= 'a' && s[i] <= 'f');
        upper = upper || (s[i] >= 'A' && s[i] <= 'F');
    }
    return lower && upper;
}

/* The original's assignment of a stored order (API.md "Data" (compat)): expertReview.expertId,
 * in lower case into `out` (LUMIRA_OID_HEX + 1 bytes). False when there is none. */
static bool legacy_holder(const bson_t *doc, char *out)
{
    bson_iter_t it, sub;
    bson_oid_t oid;
    const char *s;
    uint32_t len;

    if (!bson_iter_init_find(&it, doc, "expertReview") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &sub) || !bson_iter_find(&sub, "expertId") ||
        !BSON_ITER_HOLDS_UTF8(&sub))
        return false;
    s = bson_iter_utf8(&sub, &len);
    if (!lumira_oid_parse(s, len, &oid) || mixed_case(s, len))
        return false;
    bson_oid_to_string(&oid, out); /* lower case */
    return true;
}

/* Fills `o` from a stored order. Fields of the wrong type read as absent. */
static void read_order(const bson_t *doc, struct lumira_order *o)
{
    bson_iter_t it;
    bool held = false; /* an assignedExpertId that is not null: the original's does not count */

    memset(o, 0, sizeof(*o));
    o->status = LUMIRA_ORDER_NONE;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        bson_type_t t = bson_iter_type(&it);

        if (strcmp(key, "assignedExpertId") == 0 && t != BSON_TYPE_NULL)
            held = true;
        if (t == BSON_TYPE_OID) {
            if (strcmp(key, "_id") == 0)
                bson_oid_to_string(bson_iter_oid(&it), o->id);
            else if (strcmp(key, "userId") == 0)
                bson_oid_to_string(bson_iter_oid(&it), o->user_id);
            else if (strcmp(key, "assignedExpertId") == 0)
                bson_oid_to_string(bson_iter_oid(&it), o->assigned_to);
        } else if (t == BSON_TYPE_UTF8) {
            if (strcmp(key, "orderNumber") == 0) {
                copy_str(o->number, sizeof(o->number), &it);
            } else if (strcmp(key, "paymentIntentId") == 0) {
                copy_str(o->payment_intent, sizeof(o->payment_intent), &it);
            } else if (strcmp(key, "userEmail") == 0) {
                copy_str(o->email, sizeof(o->email), &it);
            } else if (strcmp(key, "status") == 0) {
                uint32_t len;
                const char *s = bson_iter_utf8(&it, &len);

                o->status = lumira_order_status_parse(s, len);
                if (len <= LUMIRA_ORDER_STATUS_TEXT_MAX && lumira_utf8_valid(s, len)) {
                    memcpy(o->status_text, s, len);
                    o->status_text[len] = '\0';
                }
            }
        } else if (strcmp(key, "level") == 0) {
            (void)iter_int(&it, &o->level);
        } else if (strcmp(key, "amount") == 0) {
            (void)iter_int(&it, &o->amount);
        } else if (strcmp(key, "amountRefunded") == 0) {
            (void)iter_int(&it, &o->amount_refunded);
        } else if (strcmp(key, "lastPaymentError") == 0 && t == BSON_TYPE_DOCUMENT) {
            bson_iter_t sub;

            if (bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "eventId") &&
                BSON_ITER_HOLDS_UTF8(&sub))
                copy_str(o->last_failure_event, sizeof(o->last_failure_event), &sub);
        } else if (strcmp(key, "generatedContent") == 0 && t == BSON_TYPE_DOCUMENT) {
            o->has_content = true;
        }
    }
    if (!held && o->assigned_to[0] == '\0')
        o->assigned_legacy = legacy_holder(doc, o->assigned_to);
}

/* Takes the next sequence number of `counter` ($inc with upsert, the new value returned). */
static enum lumira_err next_seq(struct lumira_mongo *m, const char *counter, int64_t now_ms,
                                uint64_t *seq, char *err, size_t errlen)
{
    bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, inc, set, *after = NULL;
    bson_iter_t it;
    enum lumira_err res;
    int64_t v;

    BSON_APPEND_UTF8(&query, "_id", counter);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "seq", 1);
    bson_append_document_end(&update, &inc);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms);
    bson_append_document_end(&update, &set);
    res = lumira_mongo_find_modify(m, LUMIRA_COUNTERS, &query, &update, true, &after, err, errlen);
    if (res == LUMIRA_OK) {
        if (bson_iter_init_find(&it, after, "seq") && iter_int(&it, &v) && v > 0) {
            *seq = (uint64_t)v;
        } else {
            (void)lumira_str_fmt(err, errlen, "counter %s: no usable seq in the reply", counter);
            res = LUMIRA_EINTERNAL;
        }
    } else if (res == LUMIRA_ENOTFOUND) {
        (void)lumira_str_fmt(err, errlen, "counter %s: no document in the reply", counter);
        res = LUMIRA_EINTERNAL;
    }
    bson_destroy(after);
    bson_destroy(&query);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_orders_create(struct lumira_mongo *m, const struct lumira_order_new *o,
                                     int64_t now_ms, struct lumira_order *out, char *err,
                                     size_t errlen)
{
    char counter[16];
    bson_oid_t oid;
    uint64_t seq = 0;
    enum lumira_err res = LUMIRA_EINTERNAL;
    int tries;

    lumira_order_counter_id(now_ms, counter);
    bson_oid_init(&oid, NULL);
    for (tries = 0; tries < NUMBER_TRIES; tries++) {
        bson_t doc = BSON_INITIALIZER;

        res = next_seq(m, counter, now_ms, &seq, err, errlen);
        if (res == LUMIRA_EEXIST)
            continue; /* two first orders of the day both inserted the counter: take again */
        if (res != LUMIRA_OK)
            return res;
        memset(out, 0, sizeof(*out));
        if (!lumira_order_number_format(now_ms, seq, out->number, sizeof(out->number))) {
            (void)lumira_str_fmt(err, errlen, "counter %s: sequence %" PRIu64 " too large", counter,
                                 seq);
            return LUMIRA_EINTERNAL;
        }
        BSON_APPEND_OID(&doc, "_id", &oid);
        BSON_APPEND_UTF8(&doc, "orderNumber", out->number);
        BSON_APPEND_OID(&doc, "userId", &o->user_id);
        BSON_APPEND_UTF8(&doc, "userEmail", o->email);
        BSON_APPEND_INT32(&doc, "level", (int32_t)o->level);
        BSON_APPEND_UTF8(&doc, "levelName", lumira_level_name(o->level));
        BSON_APPEND_INT64(&doc, "amount", lumira_level_amount(o->level));
        BSON_APPEND_UTF8(&doc, "currency", "eur");
        BSON_APPEND_UTF8(&doc, "status", "pending");
        BSON_APPEND_DOCUMENT(&doc, "formData", o->form);
        BSON_APPEND_DATE_TIME(&doc, "createdAt", now_ms);
        BSON_APPEND_DATE_TIME(&doc, "updatedAt", now_ms);
        res = lumira_mongo_insert(m, LUMIRA_ORDERS, &doc, err, errlen);
        bson_destroy(&doc);
        if (res == LUMIRA_EEXIST) {
            lumira_log(LUMIRA_LOG_WARN, "orders", "order number %s already taken: taking the next",
                       out->number);
            continue;
        }
        if (res != LUMIRA_OK)
            return res;
        bson_oid_to_string(&oid, out->id);
        bson_oid_to_string(&o->user_id, out->user_id);
        (void)lumira_strscpy(out->email, o->email, sizeof(out->email));
        out->level = o->level;
        out->amount = lumira_level_amount(o->level);
        out->status = LUMIRA_ORDER_PENDING;
        return LUMIRA_OK;
    }
    (void)lumira_str_fmt(err, errlen, "no free order number after %d tries (counter %s)",
                         NUMBER_TRIES, counter);
    return LUMIRA_EINTERNAL;
}

enum lumira_err lumira_orders_find(struct lumira_mongo *m, const bson_t *filter,
                                   struct lumira_order *out, bson_t **doc, char *err, size_t errlen)
{
    bson_t *found = NULL;
    enum lumira_err res = lumira_mongo_find_one(m, LUMIRA_ORDERS, filter, &found, err, errlen);

    if (doc != NULL)
        *doc = NULL;
    if (res == LUMIRA_OK) {
        read_order(found, out);
        if (doc != NULL) {
            *doc = found;
            found = NULL;
        }
    }
    bson_destroy(found);
    return res;
}

enum lumira_err lumira_orders_find_id(struct lumira_mongo *m, const char *id,
                                      struct lumira_order *out, bson_t **doc, char *err,
                                      size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res;

    if (doc != NULL)
        *doc = NULL;
    if (!lumira_oid_parse(id, strlen(id), &oid))
        return LUMIRA_ENOTFOUND;
    BSON_APPEND_OID(&filter, "_id", &oid);
    res = lumira_orders_find(m, &filter, out, doc, err, errlen);
    bson_destroy(&filter);
    return res;
}

/* Logs `order status changed` for o from `from` to `to`, as `by`. */
static void log_transition(const struct lumira_order *o, enum lumira_order_status from,
                           enum lumira_order_status to, const char *by)
{
    struct lumira_log_field fields[] = {
        LUMIRA_LOG_STR("orderNumber", o->number),
        LUMIRA_LOG_STR("from", lumira_order_status_name(from)),
        LUMIRA_LOG_STR("to", lumira_order_status_name(to)),
        LUMIRA_LOG_STR("by", by),
        LUMIRA_LOG_END,
    };

    lumira_log_fields(LUMIRA_LOG_INFO, "orders", fields, "order status changed");
}

/* One updateOne of `filter` with $set `set` + updatedAt; LUMIRA_ENOTFOUND when nothing matched. */
/* $set `set` and updatedAt on the order `filter` matches; with `after`, in one findAndModify
 * that hands back the order as it is after the update. */
static enum lumira_err update_one(struct lumira_mongo *m, const bson_t *filter, const bson_t *set,
                                  int64_t now_ms, bson_t **after, char *err, size_t errlen)
{
    bson_t update = BSON_INITIALIZER, child;
    enum lumira_err res = LUMIRA_OK;

    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &child);
    if (set != NULL && !bson_concat(&child, set))
        res = LUMIRA_ENOMEM;
    BSON_APPEND_DATE_TIME(&child, "updatedAt", now_ms);
    bson_append_document_end(&update, &child);
    if (res == LUMIRA_OK && after != NULL)
        res =
            lumira_mongo_find_modify(m, LUMIRA_ORDERS, filter, &update, false, after, err, errlen);
    else if (res == LUMIRA_OK)
        res = lumira_mongo_update(m, LUMIRA_ORDERS, filter, &update, err, errlen);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_orders_transition(struct lumira_mongo *m, struct lumira_order *o,
                                         enum lumira_order_status to, const bson_t *set,
                                         const char *by, int64_t now_ms, bson_t **after, char *err,
                                         size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, all = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res = LUMIRA_OK;

    if (!lumira_oid_parse(o->id, strlen(o->id), &oid) ||
        lumira_order_status_name(o->status) == NULL || lumira_order_status_name(to) == NULL) {
        (void)lumira_str_fmt(err, errlen, "transition of an order without id or status");
        return LUMIRA_EINTERNAL;
    }
    BSON_APPEND_OID(&filter, "_id", &oid);
    BSON_APPEND_UTF8(&filter, "status", lumira_order_status_name(o->status));
    BSON_APPEND_UTF8(&all, "status", lumira_order_status_name(to));
    if (set != NULL && !bson_concat(&all, set))
        res = LUMIRA_ENOMEM;
    if (res == LUMIRA_OK)
        res = update_one(m, &filter, &all, now_ms, after, err, errlen);
    if (res == LUMIRA_OK) {
        log_transition(o, o->status, to, by);
        o->status = to;
    }
    bson_destroy(&filter);
    bson_destroy(&all);
    return res;
}

enum lumira_err lumira_orders_payment_update(struct lumira_mongo *m, struct lumira_order *o,
                                             const char *pi, enum lumira_order_status to,
                                             const bson_t *set, const bson_t *inc,
                                             const bson_t *max, const char *event, int64_t now_ms,
                                             char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, child, ex;
    bson_oid_t oid;
    enum lumira_err res = LUMIRA_OK;

    if (!lumira_oid_parse(o->id, strlen(o->id), &oid) ||
        lumira_order_status_name(o->status) == NULL || pi == NULL || pi[0] == '\0') {
        (void)lumira_str_fmt(err, errlen, "payment update of an order without id or status");
        return LUMIRA_EINTERNAL;
    }
    if (lumira_order_status_name(to) != NULL && !lumira_order_payment_allowed(o->status, to)) {
        (void)lumira_str_fmt(err, errlen, "a payment event cannot move an order from %s to %s",
                             lumira_order_status_name(o->status), lumira_order_status_name(to));
        return LUMIRA_EINTERNAL;
    }
    BSON_APPEND_OID(&filter, "_id", &oid);
    BSON_APPEND_UTF8(&filter, "status", lumira_order_status_name(o->status));
    if (o->payment_intent[0] != '\0') {
        BSON_APPEND_UTF8(&filter, "paymentIntentId", o->payment_intent);
    } else {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "paymentIntentId", &ex);
        BSON_APPEND_BOOL(&ex, "$exists", false);
        bson_append_document_end(&filter, &ex);
    }
    if (event != NULL) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "lastPaymentError.eventId", &ex);
        BSON_APPEND_UTF8(&ex, "$ne", event);
        bson_append_document_end(&filter, &ex);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &child);
    if (lumira_order_status_name(to) != NULL)
        BSON_APPEND_UTF8(&child, "status", lumira_order_status_name(to));
    if (o->payment_intent[0] == '\0')
        BSON_APPEND_UTF8(&child, "paymentIntentId", pi);
    if (set != NULL && !bson_concat(&child, set))
        res = LUMIRA_ENOMEM;
    BSON_APPEND_DATE_TIME(&child, "updatedAt", now_ms);
    bson_append_document_end(&update, &child);
    if (inc != NULL && !bson_empty(inc))
        BSON_APPEND_DOCUMENT(&update, "$inc", inc);
    if (max != NULL && !bson_empty(max))
        BSON_APPEND_DOCUMENT(&update, "$max", max);
    if (res == LUMIRA_OK)
        res = lumira_mongo_update(m, LUMIRA_ORDERS, &filter, &update, err, errlen);
    if (res == LUMIRA_OK && lumira_order_status_name(to) != NULL && to != o->status) {
        log_transition(o, o->status, to, "webhook");
        o->status = to;
    }
    if (res == LUMIRA_OK && o->payment_intent[0] == '\0')
        (void)lumira_strscpy(o->payment_intent, pi, sizeof(o->payment_intent));
    bson_destroy(&filter);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_orders_set(struct lumira_mongo *m, const char *id,
                                  enum lumira_order_status status, const bson_t *set,
                                  int64_t now_ms, bson_t **after, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res;

    if (!lumira_oid_parse(id, strlen(id), &oid))
        return LUMIRA_ENOTFOUND;
    BSON_APPEND_OID(&filter, "_id", &oid);
    if (lumira_order_status_name(status) != NULL)
        BSON_APPEND_UTF8(&filter, "status", lumira_order_status_name(status));
    res = update_one(m, &filter, set, now_ms, after, err, errlen);
    bson_destroy(&filter);
    return res;
}

/* {assignedExpertId: null}: nobody's by our own record (absent or null). */
static void append_unheld(bson_t *doc)
{
    BSON_APPEND_NULL(doc, "assignedExpertId");
}

/* Appends to array `or` the alternatives of "assigned to `eid`" (`hex` its 24 hex characters,
 * in lower case, as ours are), from index *i on. */
static void append_mine_alts(bson_t *or, unsigned *i, const bson_oid_t *eid, const char *hex)
{
    const char *key;
    char name[16], upper[LUMIRA_OID_HEX + 1];
    bson_t alt, in, ids;
    size_t k;

    for (k = 0; k < LUMIRA_OID_HEX; k++)
        upper[k] = (char)(hex[k] >= 'a' && hex[k] <= 'f' ? hex[k] - 'a' + 'A' : hex[k]);
    upper[LUMIRA_OID_HEX] = '\0';
    bson_uint32_to_string((*i)++, &key, name, sizeof(name));
    bson_append_document_begin(or, key, -1, &alt);
    BSON_APPEND_OID(&alt, "assignedExpertId", eid);
    bson_append_document_end(or, &alt);
    bson_uint32_to_string((*i)++, &key, name, sizeof(name));
    bson_append_document_begin(or, key, -1, &alt);
    append_unheld(&alt);
    BSON_APPEND_DOCUMENT_BEGIN(&alt, "expertReview.expertId", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ids);
    BSON_APPEND_UTF8(&ids, "0", hex);
    BSON_APPEND_UTF8(&ids, "1", upper);
    bson_append_array_end(&in, &ids);
    bson_append_document_end(&alt, &in);
    bson_append_document_end(or, &alt);
}

void lumira_orders_match_free(bson_t *filter)
{
    bson_t not;

    append_unheld(filter);
    BSON_APPEND_DOCUMENT_BEGIN(filter, "expertReview.expertId", &not);
    BSON_APPEND_REGEX(&not, "$not", LEGACY_ID_RE, "");
    bson_append_document_end(filter, &not);
}

/* Appends {$or: [free?, mine...]}. */
static bool match_holder(bson_t *filter, const char *expert_id, bool free)
{
    char hex[LUMIRA_OID_HEX + 1];
    bson_oid_t eid;
    bson_t or, alt;
    unsigned i = 0;

    if (!lumira_oid_parse(expert_id, strlen(expert_id), &eid))
        return false;
    bson_oid_to_string(&eid, hex); /* lower case */
    BSON_APPEND_ARRAY_BEGIN(filter, "$or", &or);
    if (free) {
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
        lumira_orders_match_free(&alt);
        bson_append_document_end(&or, &alt);
        i++;
    }
    append_mine_alts(&or, &i, &eid, hex);
    bson_append_array_end(filter, &or);
    return true;
}

bool lumira_orders_match_mine(bson_t *filter, const char *expert_id)
{
    return match_holder(filter, expert_id, false);
}

bool lumira_orders_match_free_or_mine(bson_t *filter, const char *expert_id)
{
    return match_holder(filter, expert_id, true);
}

enum lumira_err lumira_orders_set_assigned(struct lumira_mongo *m, const char *id,
                                           const char *expert_id, const bson_t *set,
                                           int64_t now_ms, bson_t **after, char *err,
                                           size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    bson_oid_t oid, eid;
    enum lumira_err res;

    if (!lumira_oid_parse(id, strlen(id), &oid) ||
        !lumira_oid_parse(expert_id, strlen(expert_id), &eid))
        return LUMIRA_ENOTFOUND;
    BSON_APPEND_OID(&filter, "_id", &oid);
    (void)lumira_orders_match_mine(&filter, expert_id);
    res = update_one(m, &filter, set, now_ms, after, err, errlen);
    bson_destroy(&filter);
    return res;
}

enum lumira_err lumira_orders_list(struct lumira_mongo *m, const bson_t *filter, const bson_t *sort,
                                   int64_t skip, int64_t limit, struct json_object *arr, char *err,
                                   size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, LUMIRA_ORDERS, err, errlen);
    mongoc_cursor_t *cur;
    const bson_t *doc;
    bson_t opts = BSON_INITIALIZER, proj;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;
    bool ok = true;

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    if (sort != NULL)
        BSON_APPEND_DOCUMENT(&opts, "sort", sort);
    /* Up to a few hundred kilobytes each: a page of them could pass the response cap. */
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "generatedContent", 0);
    BSON_APPEND_INT32(&proj, "expertPrompt", 0);
    BSON_APPEND_INT32(&proj, "expertInstructions", 0);
    BSON_APPEND_INT32(&proj, "expertReview.notes", 0);
    BSON_APPEND_INT32(&proj, "n8nError", 0);
    bson_append_document_end(&opts, &proj);
    if (skip > 0)
        BSON_APPEND_INT64(&opts, "skip", skip);
    BSON_APPEND_INT64(&opts, "limit", limit);
    cur = mongoc_collection_find_with_opts(c, filter, &opts, NULL);
    while (ok && mongoc_cursor_next(cur, &doc)) {
        struct json_object *o = lumira_order_to_json(doc, &ok);

        if (o != NULL && json_object_array_add(arr, o) != 0) {
            json_object_put(o);
            ok = false;
        }
    }
    if (!ok)
        res = LUMIRA_ENOMEM;
    else if (mongoc_cursor_error(cur, &error))
        res = lumira_mongo_fail(m, &error, err, errlen);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    lumira_mongo_collection_release(m, c);
    return res;
}

/* Runs {$match: match}, {$group: {_id: group, v: {$sum: field or 1}}} (`group` NULL: one group)
 * and calls take(arg, the group's _id, v) for each group. */
static enum lumira_err group_sum(struct lumira_mongo *m, const bson_t *match, const char *group,
                                 const char *field,
                                 void (*take)(void *arg, const bson_iter_t *id, int64_t v),
                                 void *arg, char *err, size_t errlen)
{
    mongoc_collection_t *c = lumira_mongo_collection(m, LUMIRA_ORDERS, err, errlen);
    mongoc_cursor_t *cur;
    const bson_t *doc;
    bson_t pipeline = BSON_INITIALIZER, stages, stage, grp, acc;
    bson_error_t error;
    enum lumira_err res = LUMIRA_OK;
    char ref[64];

    if (c == NULL)
        return LUMIRA_EUNAVAIL;
    BSON_APPEND_ARRAY_BEGIN(&pipeline, "pipeline", &stages);
    BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &stage);
    BSON_APPEND_DOCUMENT(&stage, "$match", match);
    bson_append_document_end(&stages, &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stages, "1", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &grp);
    if (group != NULL)
        BSON_APPEND_UTF8(&grp, "_id", group);
    else
        BSON_APPEND_NULL(&grp, "_id");
    /* One accumulator per $group: FerretDB 1.24 computes only the first one of a stage. */
    BSON_APPEND_DOCUMENT_BEGIN(&grp, "v", &acc);
    if (field == NULL) {
        BSON_APPEND_INT32(&acc, "$sum", 1);
    } else {
        (void)lumira_str_fmt(ref, sizeof(ref), "$%s", field);
        BSON_APPEND_UTF8(&acc, "$sum", ref);
    }
    bson_append_document_end(&grp, &acc);
    bson_append_document_end(&stage, &grp);
    bson_append_document_end(&stages, &stage);
    bson_append_array_end(&pipeline, &stages);
    cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, &pipeline, NULL, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t id, it;
        int64_t v = 0;

        if (!bson_iter_init_find(&id, doc, "_id"))
            continue;
        if (bson_iter_init_find(&it, doc, "v"))
            (void)iter_int(&it, &v);
        take(arg, &id, v);
    }
    if (mongoc_cursor_error(cur, &error))
        res = lumira_mongo_fail(m, &error, err, errlen);
    mongoc_cursor_destroy(cur);
    bson_destroy(&pipeline);
    lumira_mongo_collection_release(m, c);
    return res;
}

struct sum_out {
    bool by_level;
    int64_t *out;
};

static void take_level(void *arg, const bson_iter_t *id, int64_t v)
{
    struct sum_out *s = arg;
    int64_t level = 0;

    if (!s->by_level)
        s->out[0] = v;
    else if (iter_int(id, &level) && level >= 1 && level <= 4)
        s->out[level] = v; /* a document without a known level is not one of ours */
}

enum lumira_err lumira_orders_sum(struct lumira_mongo *m, const bson_t *match, bool by_level,
                                  const char *field, int64_t out[5], char *err, size_t errlen)
{
    struct sum_out s = {by_level, out};

    memset(out, 0, 5 * sizeof(out[0]));
    return group_sum(m, match, by_level ? "$level" : NULL, field, take_level, &s, err, errlen);
}

static void take_status(void *arg, const bson_iter_t *id, int64_t v)
{
    int64_t *out = arg;
    enum lumira_order_status st;
    uint32_t len;
    const char *name;

    if (!BSON_ITER_HOLDS_UTF8(id))
        return;
    name = bson_iter_utf8(id, &len);
    st = lumira_order_status_parse(name, len);
    if (st != LUMIRA_ORDER_NONE)
        out[st] = v; /* an unknown stored status is counted nowhere */
}

enum lumira_err lumira_orders_count_by_status(struct lumira_mongo *m, const bson_t *match,
                                              int64_t out[LUMIRA_ORDER_NSTATUS], char *err,
                                              size_t errlen)
{
    memset(out, 0, LUMIRA_ORDER_NSTATUS * sizeof(out[0]));
    return group_sum(m, match, "$status", NULL, take_status, out, err, errlen);
}

enum lumira_err lumira_events_record(struct lumira_mongo *m, const char *id, const char *type,
                                     const char *order_id, const char *outcome, int64_t now_ms,
                                     char *err, size_t errlen)
{
    bson_t doc = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "type", type);
    if (order_id != NULL && order_id[0] != '\0')
        BSON_APPEND_UTF8(&doc, "orderId", order_id);
    BSON_APPEND_UTF8(&doc, "outcome", outcome);
    BSON_APPEND_DATE_TIME(&doc, "receivedAt", now_ms);
    res = lumira_mongo_insert(m, LUMIRA_EVENTS, &doc, err, errlen);
    bson_destroy(&doc);
    return res;
}

enum lumira_err lumira_events_seen(struct lumira_mongo *m, const char *id, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_UTF8(&filter, "_id", id);
    res = lumira_mongo_find_one(m, LUMIRA_EVENTS, &filter, NULL, err, errlen);
    bson_destroy(&filter);
    return res;
}

enum lumira_err lumira_payment_lock(struct lumira_mongo *m, const char *order_id,
                                    const char *event_id, int64_t now_ms, int64_t stale_ms,
                                    char token[LUMIRA_OID_HEX + 1], char *err, size_t errlen)
{
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER, or, alt, lt;
    bson_oid_t oid, tok;
    enum lumira_err res;

    token[0] = '\0';
    if (!lumira_oid_parse(order_id, strlen(order_id), &oid)) {
        (void)lumira_str_fmt(err, errlen, "payment lock of a malformed order id");
        return LUMIRA_EINTERNAL;
    }
    bson_oid_init(&tok, NULL);
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_OID(&doc, "token", &tok);
    BSON_APPEND_UTF8(&doc, "eventId", event_id);
    BSON_APPEND_DATE_TIME(&doc, "at", now_ms);
    res = lumira_mongo_insert(m, LUMIRA_PAYMENT_LOCKS, &doc, err, errlen);
    if (res == LUMIRA_EEXIST) {
        /* Held: by a live holder for a few milliseconds, by this event's own earlier attempt,
         * or by a holder that died. */
        BSON_APPEND_OID(&filter, "_id", &oid);
        BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
        BSON_APPEND_UTF8(&alt, "eventId", event_id);
        bson_append_document_end(&or, &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&alt, "at", &lt);
        BSON_APPEND_DATE_TIME(&lt, "$lt", now_ms - stale_ms);
        bson_append_document_end(&alt, &lt);
        bson_append_document_end(&or, &alt);
        bson_append_array_end(&filter, &or);
        res = lumira_mongo_delete(m, LUMIRA_PAYMENT_LOCKS, &filter, err, errlen);
        if (res == LUMIRA_OK) {
            lumira_log(LUMIRA_LOG_WARN, "orders",
                       "payment lock of order %s left by a dead holder or this event: taken over",
                       order_id);
            res = lumira_mongo_insert(m, LUMIRA_PAYMENT_LOCKS, &doc, err, errlen);
        } else if (res == LUMIRA_ENOTFOUND) {
            res = LUMIRA_EEXIST;
        }
    }
    if (res == LUMIRA_OK)
        bson_oid_to_string(&tok, token);
    bson_destroy(&doc);
    bson_destroy(&filter);
    return res;
}

enum lumira_err lumira_payment_unlock(struct lumira_mongo *m, const char *order_id,
                                      const char *token, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    bson_oid_t oid, tok;
    enum lumira_err res;

    if (!lumira_oid_parse(order_id, strlen(order_id), &oid) ||
        !lumira_oid_parse(token, strlen(token), &tok))
        return LUMIRA_OK;
    BSON_APPEND_OID(&filter, "_id", &oid);
    BSON_APPEND_OID(&filter, "token", &tok);
    res = lumira_mongo_delete(m, LUMIRA_PAYMENT_LOCKS, &filter, err, errlen);
    bson_destroy(&filter);
    /* Gone already: taken over as stale after a very slow request. */
    return res == LUMIRA_ENOTFOUND ? LUMIRA_OK : res;
}

enum lumira_err lumira_orders_assign(struct lumira_mongo *m, const char *order_id,
                                     const char *expert_id, const char *name, int64_t now_ms,
                                     char holder[LUMIRA_OID_HEX + 1], char *err, size_t errlen)
{
    bson_t doc = BSON_INITIALIZER, *found = NULL;
    bson_oid_t oid, eid;
    bson_iter_t it;
    enum lumira_err res;

    holder[0] = '\0';
    if (!lumira_oid_parse(order_id, strlen(order_id), &oid) ||
        !lumira_oid_parse(expert_id, strlen(expert_id), &eid)) {
        (void)lumira_str_fmt(err, errlen, "assignment with a malformed id");
        return LUMIRA_EINTERNAL;
    }
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_OID(&doc, "expertId", &eid);
    BSON_APPEND_UTF8(&doc, "expertName", name);
    BSON_APPEND_DATE_TIME(&doc, "assignedAt", now_ms);
    res = lumira_mongo_insert(m, LUMIRA_ASSIGNMENTS, &doc, err, errlen);
    bson_destroy(&doc);
    if (res != LUMIRA_EEXIST)
        return res;
    doc = (bson_t)BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &oid);
    res = lumira_mongo_find_one(m, LUMIRA_ASSIGNMENTS, &doc, &found, err, errlen);
    bson_destroy(&doc);
    if (res == LUMIRA_OK) {
        if (bson_iter_init_find(&it, found, "expertId") && BSON_ITER_HOLDS_OID(&it))
            bson_oid_to_string(bson_iter_oid(&it), holder);
        res = LUMIRA_EEXIST;
    } else if (res == LUMIRA_ENOTFOUND) {
        /* Removed by hand between the two calls: the caller may try again. */
        (void)lumira_str_fmt(err, errlen, "assignment of %s vanished", order_id);
        res = LUMIRA_EINTERNAL;
    }
    bson_destroy(found);
    return res;
}

/* Adds the value at `it` to `obj` under `key` (or, when `obj` is an array, appends it). `obj` is
 * at nesting level `depth` (the document itself is 1). */
static void put_value(struct json_object *obj, const char *key, const bson_iter_t *it, int depth,
                      bool *ok);

/* The elements after `it` as a new object (or array) at nesting level `depth`. */
static struct json_object *iter_to_json(bson_iter_t *it, bool array, int depth, bool *ok)
{
    struct json_object *obj = array ? json_object_new_array() : json_object_new_object();

    if (obj == NULL) {
        *ok = false;
        return NULL;
    }
    while (*ok && bson_iter_next(it))
        put_value(obj, array ? NULL : bson_iter_key(it), it, depth, ok);
    return obj;
}

/* Writes `len` bytes of `s` to `out` with each byte that does not start a valid UTF-8 sequence
 * replaced by U+FFFD, as the log does: JSON text is UTF-8, and BSON strings and keys need not be.
 * Errors are those of lumira_buf_add(). */
static enum lumira_err add_text(struct lumira_buf *out, const char *s, size_t len)
{
    enum lumira_err err = LUMIRA_OK;
    size_t i = 0, n;

    while (err == LUMIRA_OK && i < len) {
        n = lumira_utf8_seq((const unsigned char *)s + i, len - i);
        err = n > 0 ? lumira_buf_add(out, s + i, n) : lumira_buf_add(out, "\xef\xbf\xbd", 3);
        i += n > 0 ? n : 1;
    }
    return err;
}

static void put_value(struct json_object *obj, const char *key, const bson_iter_t *it, int depth,
                      bool *ok)
{
    struct json_object *v = NULL;
    struct lumira_buf text, name;
    bson_iter_t child;
    char buf[LUMIRA_ISO8601_SIZE];
    uint32_t len;
    const char *s;
    bool made = true; /* a value was to be made: NULL then means out of memory */

    /* What json-c's int lengths allow, for the rare string or key that needs repairs. */
    lumira_buf_init(&text, INT32_MAX);
    lumira_buf_init(&name, INT32_MAX);
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &len);
        if (lumira_utf8_valid(s, len))
            v = json_object_new_string_len(s, (int)len);
        else if (add_text(&text, s, len) == LUMIRA_OK)
            v = json_object_new_string_len(text.ptr, (int)text.len);
        break;
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), buf);
        v = json_object_new_string(buf);
        break;
    case BSON_TYPE_DATE_TIME:
        lumira_iso8601(bson_iter_date_time(it), buf);
        v = json_object_new_string(buf);
        break;
    case BSON_TYPE_INT32:
        v = json_object_new_int64(bson_iter_int32(it));
        break;
    case BSON_TYPE_INT64:
        v = json_object_new_int64(bson_iter_int64(it));
        break;
    case BSON_TYPE_DOUBLE:
        /* JSON has no NaN or Infinity: json-c would write them as such, which no client parses.
         * They show as null, as in lumira_json_put_fixed(). */
        if (!isfinite(bson_iter_double(it))) {
            made = false;
            break;
        }
        v = json_object_new_double(bson_iter_double(it));
        break;
    case BSON_TYPE_BOOL:
        v = json_object_new_boolean(bson_iter_bool(it));
        break;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        /* Past LUMIRA_BSON_MAX_DEPTH (which MongoDB never stores) a nested document shows as
         * null, so that the recursion here and in json-c stays bounded. */
        if (depth >= LUMIRA_BSON_MAX_DEPTH || !bson_iter_recurse(it, &child)) {
            made = false;
            break;
        }
        v = iter_to_json(&child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1, ok);
        if (v == NULL)
            goto out;
        break;
    default:
        made = false; /* null, and types the API never stores, show as null */
        break;
    }
    if (v == NULL && made) {
        *ok = false; /* json-c could not allocate the value */
        goto out;
    }
    if (key != NULL && !lumira_utf8_valid(key, strlen(key))) {
        if (add_text(&name, key, strlen(key)) != LUMIRA_OK) {
            json_object_put(v);
            *ok = false;
            goto out;
        }
        key = name.ptr;
    }
    /* json-c stores a NULL value as JSON null. */
    if (key == NULL ? json_object_array_add(obj, v) != 0
                    : json_object_object_add(obj, key, v) != 0) {
        json_object_put(v);
        *ok = false;
    }
out:
    lumira_buf_cleanup(&text);
    lumira_buf_cleanup(&name);
}

struct json_object *lumira_order_to_json(const bson_t *doc, bool *ok)
{
    struct json_object *obj = lumira_bson_to_json(doc, ok), *v;
    char legacy[LUMIRA_OID_HEX + 1];

    if (obj == NULL ||
        (json_object_object_get_ex(obj, "assignedExpertId", &v) && v != NULL))
        return obj;
    lumira_json_put_str(obj, "assignedExpertId", legacy_holder(doc, legacy) ? legacy : NULL, ok);
    if (!*ok) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

struct json_object *lumira_bson_to_json(const bson_t *doc, bool *ok)
{
    struct json_object *obj, *id;
    bson_iter_t it;

    if (!bson_iter_init(&it, doc)) {
        *ok = false;
        return NULL;
    }
    obj = iter_to_json(&it, false, 1, ok);
    /* An _id shown as null (null itself, or a UUID's binary) is copied as null: json-c's NULL,
     * which lumira_json_put() would take for a failed allocation. */
    if (obj != NULL && json_object_object_get_ex(obj, "_id", &id)) {
        if (id == NULL)
            lumira_json_put_str(obj, "id", NULL, ok);
        else
            lumira_json_put(obj, "id", json_object_get(id), ok);
    }
    if (!*ok) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}
