#include <string.h>

#include "orders.h"
#include "str.h"
#include "users.h"

/* The fields of a checkout's formData kept on the user. */
static const char *const user_fields[] = {"firstName", "lastName", "phone", "dateOfBirth"};

enum lumira_err lumira_users_ensure_indexes(struct lumira_mongo *m, char *err, size_t errlen)
{
    static const struct lumira_mongo_index email = {"email_1", {"email"}, {1}, true};

    return lumira_mongo_ensure_indexes(m, LUMIRA_USERS, &email, 1, err, errlen);
}

/* Appends to `doc` the user fields that `form` has. */
static void copy_user_fields(bson_t *doc, const bson_t *form)
{
    bson_iter_t it;
    size_t i;

    for (i = 0; i < sizeof(user_fields) / sizeof(user_fields[0]); i++)
        if (bson_iter_init_find(&it, form, user_fields[i]) && BSON_ITER_HOLDS_UTF8(&it))
            (void)bson_append_iter(doc, user_fields[i], -1, &it);
}

static void read_user(const bson_t *doc, struct lumira_user *out)
{
    bson_iter_t it;

    memset(out, 0, sizeof(*out));
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
        bson_oid_copy(bson_iter_oid(&it), &out->oid);
        bson_oid_to_string(&out->oid, out->id);
    }
    if (bson_iter_init_find(&it, doc, "stripeCustomerId") && BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t len;
        const char *s = bson_iter_utf8(&it, &len);

        if (len <= LUMIRA_STRIPE_ID_MAX)
            memcpy(out->stripe_customer, s, (size_t)len + 1);
    }
}

/* True when the stored user `doc` holds a non-empty string under `key`. */
static bool user_has(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    uint32_t len = 0;

    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return false;
    (void)bson_iter_utf8(&it, &len);
    return len > 0;
}

/* Finds the user of `email` and fills, from `form`, only the fields its document lacks: an
 * anonymous checkout that knows an address never overwrites what the customer gave before (the
 * order keeps its own formData). The second write, when there is anything to fill, is also
 * conditioned on each of those fields still being absent, so that two checkouts at once cannot
 * overwrite each other's either. */
static enum lumira_err find_update(struct lumira_mongo *m, const char *email, const bson_t *form,
                                   int64_t now_ms, struct lumira_user *out, char *err,
                                   size_t errlen)
{
    bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, set, ex, in, *found = NULL;
    bson_iter_t it;
    enum lumira_err res;
    size_t i, n = 0;

    BSON_APPEND_UTF8(&query, "email", email);
    res = lumira_mongo_find_one(m, LUMIRA_USERS, &query, &found, err, errlen);
    if (res != LUMIRA_OK)
        goto out;
    read_user(found, out);
    if (out->id[0] == '\0') {
        (void)lumira_str_fmt(err, errlen, "a user without an ObjectId _id");
        res = LUMIRA_EINTERNAL;
        goto out;
    }
    bson_reinit(&query);
    BSON_APPEND_OID(&query, "_id", &out->oid);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    for (i = 0; i < sizeof(user_fields) / sizeof(user_fields[0]); i++) {
        if (user_has(found, user_fields[i]) || !bson_iter_init_find(&it, form, user_fields[i]) ||
            !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        (void)bson_append_iter(&set, user_fields[i], -1, &it);
        /* Absent, null or empty when read: one of those still. */
        BSON_APPEND_DOCUMENT_BEGIN(&query, user_fields[i], &ex);
        BSON_APPEND_ARRAY_BEGIN(&ex, "$in", &in);
        BSON_APPEND_NULL(&in, "0");
        BSON_APPEND_UTF8(&in, "1", "");
        bson_append_array_end(&ex, &in);
        bson_append_document_end(&query, &ex);
        n++;
    }
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms);
    bson_append_document_end(&update, &set);
    if (n > 0) {
        res = lumira_mongo_update(m, LUMIRA_USERS, &query, &update, err, errlen);
        if (res == LUMIRA_ENOTFOUND) /* filled meanwhile by another checkout: theirs stays */
            res = LUMIRA_OK;
    }
out:
    bson_destroy(found);
    bson_destroy(&query);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_users_upsert(struct lumira_mongo *m, const char *email, const bson_t *form,
                                    int64_t now_ms, struct lumira_user *out, char *err,
                                    size_t errlen)
{
    bson_t doc = BSON_INITIALIZER;
    enum lumira_err res;

    res = find_update(m, email, form, now_ms, out, err, errlen);
    if (res == LUMIRA_ENOTFOUND) {
        memset(out, 0, sizeof(*out));
        bson_oid_init(&out->oid, NULL);
        bson_oid_to_string(&out->oid, out->id);
        BSON_APPEND_OID(&doc, "_id", &out->oid);
        BSON_APPEND_UTF8(&doc, "email", email);
        copy_user_fields(&doc, form);
        BSON_APPEND_INT32(&doc, "totalOrders", 0);
        BSON_APPEND_DATE_TIME(&doc, "createdAt", now_ms);
        BSON_APPEND_DATE_TIME(&doc, "updatedAt", now_ms);
        res = lumira_mongo_insert(m, LUMIRA_USERS, &doc, err, errlen);
        if (res == LUMIRA_EEXIST) /* made by a checkout running at the same time */
            res = find_update(m, email, form, now_ms, out, err, errlen);
    }
    bson_destroy(&doc);
    return res;
}

/* updateOne({_id}, `update`) on users. */
static enum lumira_err update_user(struct lumira_mongo *m, const bson_oid_t *id,
                                   const bson_t *update, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_OID(&filter, "_id", id);
    res = lumira_mongo_update(m, LUMIRA_USERS, &filter, update, err, errlen);
    bson_destroy(&filter);
    /* A user removed by hand meanwhile: nothing left to bring up to date. */
    return res == LUMIRA_ENOTFOUND ? LUMIRA_OK : res;
}

enum lumira_err lumira_users_set_customer(struct lumira_mongo *m, const bson_oid_t *id,
                                          const char *customer, int64_t now_ms, char *err,
                                          size_t errlen)
{
    bson_t update = BSON_INITIALIZER, set;
    enum lumira_err res;

    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "stripeCustomerId", customer);
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms);
    bson_append_document_end(&update, &set);
    res = update_user(m, id, &update, err, errlen);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_users_refresh_stats(struct lumira_mongo *m, const char *user_id,
                                           int64_t paid_at_ms, int64_t now_ms, char *err,
                                           size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, in, update = BSON_INITIALIZER, child;
    bson_oid_t oid;
    int64_t n = 0;
    enum lumira_err res;

    if (!lumira_oid_parse(user_id, strlen(user_id), &oid)) {
        (void)lumira_str_fmt(err, errlen, "an order without a userId");
        return LUMIRA_EINTERNAL;
    }
    BSON_APPEND_OID(&filter, "userId", &oid);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "status", &child);
    BSON_APPEND_ARRAY_BEGIN(&child, "$in", &in);
    BSON_APPEND_UTF8(&in, "0", "paid");
    BSON_APPEND_UTF8(&in, "1", "processing");
    BSON_APPEND_UTF8(&in, "2", "completed");
    bson_append_array_end(&child, &in);
    bson_append_document_end(&filter, &child);
    res = lumira_mongo_count(m, LUMIRA_ORDERS, &filter, &n, err, errlen);
    bson_destroy(&filter);
    if (res != LUMIRA_OK)
        return res;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &child);
    BSON_APPEND_INT64(&child, "totalOrders", n);
    BSON_APPEND_DATE_TIME(&child, "lastOrderAt", paid_at_ms);
    bson_append_document_end(&update, &child);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &child);
    BSON_APPEND_DATE_TIME(&child, "updatedAt", now_ms);
    bson_append_document_end(&update, &child);
    res = update_user(m, &oid, &update, err, errlen);
    bson_destroy(&update);
    return res;
}
