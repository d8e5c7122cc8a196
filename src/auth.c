#include <string.h>
#include <strings.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "log.h"

bool lumira_auth_bearer(const char *value, const char **tok, size_t *len)
{
    size_t n;

    if (value == NULL || strncasecmp(value, "Bearer", 6) != 0 || value[6] != ' ')
        return false;
    value += 6;
    while (*value == ' ')
        value++;
    n = strlen(value);
    while (n > 0 && value[n - 1] == ' ')
        n--;
    if (n == 0)
        return false;
    *tok = value;
    *len = n;
    return true;
}

bool lumira_auth_role_allows(enum lumira_role have, enum lumira_role need)
{
    if (have == LUMIRA_ROLE_NONE || need == LUMIRA_ROLE_NONE)
        return false;
    return need == LUMIRA_ROLE_EXPERT || have == LUMIRA_ROLE_ADMIN;
}

bool lumira_auth_token(const struct lumira_req *req, struct lumira_resp *resp, const char *secret,
                       struct lumira_jwt_claims *claims)
{
    const char *tok;
    size_t len;
    enum lumira_err err;

    if (!lumira_auth_bearer(lumira_req_env(req, "HTTP_AUTHORIZATION"), &tok, &len)) {
        lumira_resp_error(resp, req, 401, "NO_TOKEN", "Authentication required", NULL);
        return false;
    }
    if (!lumira_secret_usable(secret)) {
        lumira_log(LUMIRA_LOG_ERROR, "auth", "JWT_SECRET is not configured: cannot check tokens");
        lumira_resp_error(resp, req, 503, "SERVICE_UNAVAILABLE",
                          "Authentication is not configured", NULL);
        return false;
    }
    err = lumira_jwt_verify(secret, strlen(secret), tok, len, lumira_wall_ms() / 1000, claims);
    if (err == LUMIRA_EEXPIRED) {
        lumira_log(LUMIRA_LOG_INFO, "auth", "token expired");
        lumira_resp_error(resp, req, 401, "TOKEN_EXPIRED", "Token expired", NULL);
        return false;
    }
    if (err == LUMIRA_ENOMEM) {
        lumira_resp_error(resp, req, 500, "INTERNAL", "Internal error", NULL);
        return false;
    }
    if (err != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_WARN, "auth", "token rejected (%zu bytes): %s", len,
                   lumira_strerror(err));
        lumira_resp_error(resp, req, 401, "INVALID_TOKEN", "Invalid token", NULL);
        return false;
    }
    return true;
}
