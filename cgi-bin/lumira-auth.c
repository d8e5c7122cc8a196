/* lumira-auth: expert authentication (API.md "Expert authentication"): login, register (admin
 * only), verify and profile. */
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "experts.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "str.h"
#include "valid.h"
#include "mongo.h"

#define PROG "lumira-auth"
/* JWT_SECRET: HS256 keys shorter than the hash (32 bytes) weaken it (RFC 7518 3.2). */
#define JWT_SECRET_MIN 32

struct ctx {
    const struct lumira_config *cfg;
    struct lumira_mongo *db;
    struct lumira_index_state indexes; /* the email index */
};

/* Makes the indexes once per worker (lumira_app_indexes()). */
static void ensure_indexes(struct ctx *c)
{
    lumira_app_indexes(c->db, lumira_experts_ensure_indexes, "experts", &c->indexes);
}

/* JWT_EXPIRES_IN as the original wrote it ("8h"): the largest unit that divides it. */
static void format_duration(int64_t s, char *out, size_t size)
{
    if (s % 86400 == 0)
        (void)lumira_str_fmt(out, size, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0)
        (void)lumira_str_fmt(out, size, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0)
        (void)lumira_str_fmt(out, size, "%lldm", (long long)(s / 60));
    else
        (void)lumira_str_fmt(out, size, "%llds", (long long)s);
}

/* Logs one line about an account, its address masked. */
static void log_account(enum lumira_log_level level, const char *email, const char *msg)
{
    char masked[LUMIRA_MAX_EMAIL + 8];
    struct lumira_log_field fields[] = {LUMIRA_LOG_STR("email", masked), LUMIRA_LOG_END};

    lumira_log_mask_email(email, strlen(email), masked, sizeof(masked));
    lumira_log_fields(level, "auth", fields, "%s", msg);
}

/* Reads {"email", "password"} with the contract's rules. */
static bool read_credentials(struct lumira_valid *v, const struct json_object *body,
                             char email[LUMIRA_MAX_EMAIL + 1], const char **pw, size_t *pwlen)
{
    bool ok = lumira_valid_email(v, body, "email", LUMIRA_VALID_REQUIRED, email);

    ok &= lumira_valid_str(v, body, "password", LUMIRA_VALID_REQUIRED | LUMIRA_VALID_VERBATIM,
                           LUMIRA_MIN_PASSWORD_CHARS, LUMIRA_MAX_PASSWORD_CHARS, pw, pwlen);
    return ok;
}

static void handle_login(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct json_object *body = NULL, *root = NULL;
    struct lumira_valid v;
    struct lumira_expert e;
    struct lumira_jwt_claims claims;
    struct lumira_buf token;
    char email[LUMIRA_MAX_EMAIL + 1], err[LUMIRA_MAX_ERRMSG], expires[24];
    const char *pw;
    size_t pwlen;
    int64_t now_ms = lumira_wall_ms();
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    lumira_buf_init(&token, LUMIRA_MAX_JWT);
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (!read_credentials(&v, body, email, &pw, &pwlen)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    ensure_indexes(c);
    res = lumira_experts_find_email(c->db, email, &e, err, sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        /* As long as a wrong password takes: the answer must not tell who has an account. */
        lumira_password_burn(pw, pwlen);
        log_account(LUMIRA_LOG_INFO, email, "login refused: unknown e-mail");
        lumira_resp_error(resp, req, 401, "INVALID_CREDENTIALS", "Invalid e-mail or password",
                          NULL);
        goto out;
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "login lookup failed", err);
        goto out;
    }
    if (!lumira_password_verify(pw, pwlen, e.hash)) {
        log_account(LUMIRA_LOG_INFO, email,
                    e.hash[0] == '\0' ? "login refused: the stored password is not bcrypt"
                                      : "login refused: wrong password");
        lumira_resp_error(resp, req, 401, "INVALID_CREDENTIALS", "Invalid e-mail or password",
                          NULL);
        goto out;
    }
    /* After the password: only the account's owner learns that it is disabled. */
    if (!e.active) {
        log_account(LUMIRA_LOG_INFO, email, "login refused: account disabled");
        lumira_resp_error(resp, req, 403, "ACCOUNT_DISABLED", "Account disabled", NULL);
        goto out;
    }
    res = lumira_experts_touch_login(c->db, e.id, now_ms, err, sizeof(err));
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "lastLogin update failed", err);
        goto out;
    }
    /* The answer shows the login before this one (null on the first): API.md (compat). */
    memset(&claims, 0, sizeof(claims));
    memcpy(claims.sub, e.id, sizeof(claims.sub));
    memcpy(claims.email, e.email, sizeof(claims.email));
    memcpy(claims.name, e.name, sizeof(claims.name));
    claims.role = e.role;
    claims.iat = now_ms / 1000;
    claims.exp = claims.iat + c->cfg->jwt_expires_s;
    res = lumira_jwt_sign(c->cfg->jwt_secret, strlen(c->cfg->jwt_secret), &claims, &token);
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "auth", "cannot sign a token: %s", lumira_strerror(res));
        lumira_resp_fail(resp, req, res);
        goto out;
    }
    format_duration(c->cfg->jwt_expires_s, expires, sizeof(expires));
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put_strn(root, "token", token.ptr, token.len, &ok);
    lumira_json_put_str(root, "expiresIn", expires, &ok);
    lumira_json_put(root, "expert", lumira_expert_json(&e, false, &ok), &ok);
    log_account(LUMIRA_LOG_INFO, email, "login");
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
out:
    json_object_put(body);
    lumira_valid_cleanup(&v);
    /* The token is a credential: not left behind in freed memory. */
    if (token.ptr != NULL)
        explicit_bzero(token.ptr, token.len);
    lumira_buf_cleanup(&token);
}

static void handle_register(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct ctx *c = ctx;
    struct json_object *body = NULL, *root = NULL;
    struct lumira_valid v;
    struct lumira_expert admin, e;
    char err[LUMIRA_MAX_ERRMSG];
    const char *pw;
    size_t pwlen;
    enum lumira_err res;
    bool ok = true;

    lumira_valid_init(&v);
    memset(&e, 0, sizeof(e));
    /* The caller's stored account must be an active admin (not the token's say-so). */
    if (!lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_ADMIN, &admin))
        goto out;
    if (!lumira_valid_body(req, resp, &body))
        goto out;
    if (!lumira_expert_read_new(&v, body, &e, &pw, &pwlen)) {
        lumira_valid_respond(&v, resp, req);
        goto out;
    }
    res = lumira_password_hash(pw, pwlen, e.hash, sizeof(e.hash));
    if (res != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "auth", "cannot hash a password: %s", lumira_strerror(res));
        lumira_resp_fail(resp, req, res);
        goto out;
    }
    ensure_indexes(c);
    res = lumira_experts_insert(c->db, &e, lumira_wall_ms(), err, sizeof(err));
    if (res == LUMIRA_EEXIST) {
        log_account(LUMIRA_LOG_INFO, e.email, "register refused: e-mail taken");
        lumira_resp_error(resp, req, 409, "EMAIL_TAKEN", "An expert with this e-mail exists", NULL);
        goto out;
    }
    if (res != LUMIRA_OK) {
        lumira_resp_db_failed(resp, req, res, "expert insert failed", err);
        goto out;
    }
    log_account(LUMIRA_LOG_INFO, e.email,
                e.role == LUMIRA_ROLE_ADMIN ? "admin registered" : "expert registered");
    root = lumira_json_new_object(&ok);
    lumira_json_put_bool(root, "success", true, &ok);
    lumira_json_put(root, "expert", lumira_expert_json(&e, false, &ok), &ok);
    lumira_resp_json(resp, req, 201, lumira_json_done(root, ok));
out:
    explicit_bzero(e.hash, sizeof(e.hash));
    json_object_put(body);
    lumira_valid_cleanup(&v);
}

/* The token's expert, who must still exist and be active; otherwise answers 401. */
static bool current_expert(struct ctx *c, struct lumira_req *req, struct lumira_resp *resp,
                           struct lumira_expert *e)
{
    return lumira_experts_require(c->db, req, resp, c->cfg->jwt_secret, LUMIRA_ROLE_EXPERT, e);
}

/* {"<key>": expert view} plus `valid: true` for verify. */
static void reply_expert(struct lumira_req *req, struct lumira_resp *resp,
                         const struct lumira_expert *e, bool verify)
{
    bool ok = true;
    struct json_object *root = lumira_json_new_object(&ok);

    if (verify)
        lumira_json_put_bool(root, "valid", true, &ok);
    lumira_json_put(root, "expert", lumira_expert_json(e, !verify, &ok), &ok);
    lumira_resp_json(resp, req, 200, lumira_json_done(root, ok));
}

static void handle_verify(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct lumira_expert e;

    if (current_expert(ctx, req, resp, &e))
        reply_expert(req, resp, &e, true);
}

static void handle_profile(struct lumira_req *req, struct lumira_resp *resp, void *ctx)
{
    struct lumira_expert e;

    if (current_expert(ctx, req, resp, &e))
        reply_expert(req, resp, &e, false);
}

static const struct lumira_route routes[] = {
    {"POST", "/api/expert/login", handle_login},
    {"POST", "/api/expert/register", handle_register},
    {"GET", "/api/expert/verify", handle_verify},
    {"GET", "/api/expert/profile", handle_profile},
};

/* No Cyrus SASL plugin loaded unless GSSAPI is asked for (mongo.h). */
LUMIRA_MONGO_SASL_EARLY();

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL, {false, 0}};
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    lumira_config_require_secret("JWT_SECRET", cfg.jwt_secret, JWT_SECRET_MIN);
    lumira_app_db(PROG, &cfg, &c.db);
    ensure_indexes(&c);
    status = lumira_serve(&app);
    lumira_mongo_free(c.db);
    lumira_app_shutdown(&cfg, NULL);
    return status;
}
