#include "nonces.h"

enum lumira_err lumira_nonces_ensure_indexes(struct lumira_mongo *m, char *err, size_t errlen)
{
    /* expireAfterSeconds 0: each document carries its own expiry date. */
    static const struct lumira_mongo_index ttl = {"expiresAt_ttl", {"expiresAt"}, {1}, false};

    return lumira_mongo_ensure_ttl_index(m, LUMIRA_NONCES, &ttl, 0, err, errlen);
}

enum lumira_err lumira_nonces_record(struct lumira_mongo *m, const char *nonce, size_t len,
                                     int64_t expires_ms, int64_t now_ms, char *err, size_t errlen)
{
    bson_t doc = BSON_INITIALIZER;
    enum lumira_err res;

    if (len > INT32_MAX)
        return LUMIRA_EINVAL;
    bson_append_utf8(&doc, "_id", 3, nonce, (int)len);
    BSON_APPEND_DATE_TIME(&doc, "expiresAt", expires_ms);
    BSON_APPEND_DATE_TIME(&doc, "createdAt", now_ms);
    res = lumira_mongo_insert(m, LUMIRA_NONCES, &doc, err, errlen);
    bson_destroy(&doc);
    return res;
}

enum lumira_err lumira_nonces_forget(struct lumira_mongo *m, const char *nonce, size_t len,
                                     char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res;

    if (len > INT32_MAX)
        return LUMIRA_EINVAL;
    bson_append_utf8(&filter, "_id", 3, nonce, (int)len);
    res = lumira_mongo_delete(m, LUMIRA_NONCES, &filter, err, errlen);
    bson_destroy(&filter);
    return res;
}
