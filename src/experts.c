#include <string.h>

#include "auth.h"
#include "experts.h"
#include "json.h"
#include "log.h"
#include "str.h"

enum lumira_err lumira_experts_ensure_indexes(struct lumira_mongo *m, char *err, size_t errlen)
{
    static const struct lumira_mongo_index email = {"email_1", {"email"}, {1}, true};

    return lumira_mongo_ensure_indexes(m, LUMIRA_EXPERTS, &email, 1, err, errlen);
}

/* Copies a UTF-8 string into `out` (`size` bytes), cutting at a character boundary when it is
 * longer (a name written by another program may be). */
static void copy_utf8(char *out, size_t size, const char *s, size_t len)
{
    size_t n = 0, step;

    while (n < len && n + 1 < size) {
        step = lumira_utf8_seq((const unsigned char *)s + n, len - n);
        if (step == 0 || n + step + 1 > size)
            break;
        n += step;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Fills `e` from a stored document. Fields of the wrong type read as absent. */
static void read_expert(const bson_t *doc, struct lumira_expert *e)
{
    bson_iter_t it;
    const char *s;
    uint32_t len;

    memset(e, 0, sizeof(*e));
    e->role = LUMIRA_ROLE_EXPERT;
    e->active = true;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        bson_type_t t = bson_iter_type(&it);

        if (strcmp(key, "_id") == 0 && t == BSON_TYPE_OID) {
            bson_oid_to_string(bson_iter_oid(&it), e->id);
        } else if (t == BSON_TYPE_UTF8) {
            s = bson_iter_utf8(&it, &len);
            if (strcmp(key, "email") == 0)
                copy_utf8(e->email, sizeof(e->email), s, len);
            else if (strcmp(key, "name") == 0)
                copy_utf8(e->name, sizeof(e->name), s, len);
            else if (strcmp(key, "role") == 0 && lumira_role_parse(s, len) != LUMIRA_ROLE_NONE)
                e->role = lumira_role_parse(s, len);
            else if (strcmp(key, "password") == 0 && len == LUMIRA_BCRYPT_HASH_LEN)
                memcpy(e->hash, s, (size_t)len + 1);
        } else if (strcmp(key, "isActive") == 0 && t == BSON_TYPE_BOOL) {
            e->active = bson_iter_bool(&it);
        } else if (t == BSON_TYPE_DATE_TIME) {
            if (strcmp(key, "lastLogin") == 0)
                e->last_login_ms = bson_iter_date_time(&it);
            else if (strcmp(key, "createdAt") == 0)
                e->created_at_ms = bson_iter_date_time(&it);
        }
    }
}

/* Finds one expert by `filter`. */
static enum lumira_err find_one(struct lumira_mongo *m, const bson_t *filter,
                                struct lumira_expert *out, char *err, size_t errlen)
{
    bson_t *doc = NULL;
    enum lumira_err res = lumira_mongo_find_one(m, LUMIRA_EXPERTS, filter, &doc, err, errlen);

    if (res == LUMIRA_OK)
        read_expert(doc, out);
    bson_destroy(doc);
    return res;
}

enum lumira_err lumira_experts_find_email(struct lumira_mongo *m, const char *email,
                                          struct lumira_expert *out, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_UTF8(&filter, "email", email);
    res = find_one(m, &filter, out, err, errlen);
    bson_destroy(&filter);
    return res;
}

enum lumira_err lumira_experts_find_id(struct lumira_mongo *m, const char *id,
                                       struct lumira_expert *out, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res;

    if (!lumira_oid_parse(id, strlen(id), &oid))
        return LUMIRA_ENOTFOUND;
    BSON_APPEND_OID(&filter, "_id", &oid);
    res = find_one(m, &filter, out, err, errlen);
    bson_destroy(&filter);
    return res;
}

enum lumira_err lumira_experts_insert(struct lumira_mongo *m, struct lumira_expert *e,
                                      int64_t now_ms, char *err, size_t errlen)
{
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res;

    bson_oid_init(&oid, NULL);
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_UTF8(&doc, "email", e->email);
    BSON_APPEND_UTF8(&doc, "password", e->hash);
    BSON_APPEND_UTF8(&doc, "name", e->name);
    BSON_APPEND_UTF8(&doc, "role", lumira_role_name(e->role));
    BSON_APPEND_BOOL(&doc, "isActive", true);
    BSON_APPEND_DATE_TIME(&doc, "createdAt", now_ms);
    BSON_APPEND_DATE_TIME(&doc, "updatedAt", now_ms);
    res = lumira_mongo_insert(m, LUMIRA_EXPERTS, &doc, err, errlen);
    if (res == LUMIRA_OK) {
        bson_oid_to_string(&oid, e->id);
        e->active = true;
        e->created_at_ms = now_ms;
    }
    bson_destroy(&doc);
    return res;
}

/* Applies {$set: set} to the one expert matching `filter`; LUMIRA_ENOTFOUND when none does. */
static enum lumira_err set_one(struct lumira_mongo *m, const bson_t *filter, const bson_t *set,
                               char *err, size_t errlen)
{
    bson_t update = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_DOCUMENT(&update, "$set", set);
    res = lumira_mongo_update(m, LUMIRA_EXPERTS, filter, &update, err, errlen);
    bson_destroy(&update);
    return res;
}

enum lumira_err lumira_experts_touch_login(struct lumira_mongo *m, const char *id, int64_t now_ms,
                                           char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, set = BSON_INITIALIZER;
    bson_oid_t oid;
    enum lumira_err res;

    if (!lumira_oid_parse(id, strlen(id), &oid))
        return LUMIRA_ENOTFOUND;
    BSON_APPEND_OID(&filter, "_id", &oid);
    BSON_APPEND_DATE_TIME(&set, "lastLogin", now_ms);
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms);
    res = set_one(m, &filter, &set, err, errlen);
    bson_destroy(&filter);
    bson_destroy(&set);
    return res;
}

enum lumira_err lumira_experts_set_active(struct lumira_mongo *m, const char *email, bool active,
                                          int64_t now_ms, char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, set = BSON_INITIALIZER;
    enum lumira_err res;

    BSON_APPEND_UTF8(&filter, "email", email);
    BSON_APPEND_BOOL(&set, "isActive", active);
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms);
    res = set_one(m, &filter, &set, err, errlen);
    bson_destroy(&filter);
    bson_destroy(&set);
    return res;
}

bool lumira_expert_read_new(struct lumira_valid *v, const struct json_object *body,
                            struct lumira_expert *e, const char **pw, size_t *pwlen)
{
    const char *name, *role;
    size_t namelen, rolelen;

    memset(e, 0, sizeof(*e));
    e->role = LUMIRA_ROLE_EXPERT;
    (void)lumira_valid_email(v, body, "email", LUMIRA_VALID_REQUIRED, e->email);
    (void)lumira_valid_str(v, body, "password", LUMIRA_VALID_REQUIRED | LUMIRA_VALID_VERBATIM,
                           LUMIRA_MIN_PASSWORD_CHARS, LUMIRA_MAX_PASSWORD_CHARS, pw, pwlen);
    if (lumira_valid_str(v, body, "name", LUMIRA_VALID_REQUIRED, 1, LUMIRA_MAX_NAME_CHARS, &name,
                         &namelen)) {
        memcpy(e->name, name, namelen);
        e->name[namelen] = '\0';
    }
    if (lumira_valid_str(v, body, "role", 0, 0, 16, &role, &rolelen) && role != NULL &&
        (e->role = lumira_role_parse(role, rolelen)) == LUMIRA_ROLE_NONE)
        lumira_valid_fail(v, "role", "must be expert or admin");
    return !lumira_valid_failed(v);
}

struct json_object *lumira_expert_json(const struct lumira_expert *e, bool full, bool *ok)
{
    struct json_object *o = lumira_json_new_object(ok);

    lumira_json_put_str(o, "_id", e->id, ok); /* the desk reads expert._id (API.md (compat)) */
    lumira_json_put_str(o, "id", e->id, ok);
    lumira_json_put_str(o, "email", e->email, ok);
    lumira_json_put_str(o, "name", e->name, ok);
    lumira_json_put_str(o, "role", lumira_role_name(e->role), ok);
    if (e->last_login_ms != 0)
        lumira_json_put_time(o, "lastLogin", e->last_login_ms, ok);
    else
        lumira_json_put_str(o, "lastLogin", NULL, ok);
    if (full) {
        lumira_json_put_bool(o, "isActive", e->active, ok);
        if (e->created_at_ms != 0)
            lumira_json_put_time(o, "createdAt", e->created_at_ms, ok);
        else
            lumira_json_put_str(o, "createdAt", NULL, ok);
    }
    return lumira_json_done(o, *ok);
}

bool lumira_experts_require(struct lumira_mongo *m, const struct lumira_req *req,
                            struct lumira_resp *resp, const char *secret, enum lumira_role role,
                            struct lumira_expert *e)
{
    struct lumira_jwt_claims claims;
    char err[LUMIRA_MAX_ERRMSG], masked[LUMIRA_MAX_EMAIL + 8];
    const char *why;
    enum lumira_err res;

    if (!lumira_auth_token(req, resp, secret, &claims))
        return false;
    if (m == NULL) {
        lumira_log(LUMIRA_LOG_ERROR, "auth", "MONGODB_URI is not set: cannot check the account");
        lumira_resp_error(resp, req, 503, "DATABASE_UNAVAILABLE", "Database unavailable", NULL);
        return false;
    }
    res = lumira_experts_find_id(m, claims.sub, e, err, sizeof(err));
    if (res != LUMIRA_OK && res != LUMIRA_ENOTFOUND) {
        lumira_resp_db_failed(resp, req, res, "expert lookup failed", err);
        return false;
    }
    if (res == LUMIRA_OK && e->active && lumira_auth_role_allows(e->role, role))
        return true;
    if (res == LUMIRA_ENOTFOUND)
        why = "token refused: the expert no longer exists";
    else if (!e->active)
        why = "token refused: account disabled";
    else
        why = "token refused: the account's role does not allow this route";
    lumira_log_mask_email(claims.email, strlen(claims.email), masked, sizeof(masked));
    {
        struct lumira_log_field fields[] = {
            LUMIRA_LOG_STR("email", masked),
            LUMIRA_LOG_STR("storedRole", res == LUMIRA_OK ? lumira_role_name(e->role) : "none"),
            LUMIRA_LOG_STR("tokenRole", lumira_role_name(claims.role)), LUMIRA_LOG_END};

        lumira_log_fields(res == LUMIRA_OK && e->active ? LUMIRA_LOG_WARN : LUMIRA_LOG_INFO,
                          "auth", fields, "%s", why);
    }
    if (res == LUMIRA_OK && e->active) {
        lumira_resp_error(resp, req, 403, "FORBIDDEN", "Admin role required", NULL);
        return false;
    }
    lumira_resp_error(resp, req, 401, "INVALID_TOKEN", "Invalid token", NULL);
    return false;
}
