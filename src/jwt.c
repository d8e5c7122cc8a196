#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "json.h"
#include "jwt.h"
#include "str.h"

/* The only header we write; any header we accept must say alg HS256. */
static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

const char *lumira_role_name(enum lumira_role role)
{
    switch (role) {
    case LUMIRA_ROLE_EXPERT:
        return "expert";
    case LUMIRA_ROLE_ADMIN:
        return "admin";
    case LUMIRA_ROLE_NONE:
        break;
    }
    return NULL;
}

enum lumira_role lumira_role_parse(const char *s, size_t len)
{
    if (len == 6 && memcmp(s, "expert", 6) == 0)
        return LUMIRA_ROLE_EXPERT;
    if (len == 5 && memcmp(s, "admin", 5) == 0)
        return LUMIRA_ROLE_ADMIN;
    return LUMIRA_ROLE_NONE;
}

/* Appends the base64url form of `len` bytes to `out`. */
static enum lumira_err add_b64url(struct lumira_buf *out, const void *data, size_t len)
{
    char enc[LUMIRA_MAX_JWT + 1];

    if (lumira_b64url_encoded_len(len) >= sizeof(enc))
        return LUMIRA_ETOOBIG;
    lumira_b64url_encode(data, len, enc);
    return lumira_buf_adds(out, enc);
}

enum lumira_err lumira_jwt_sign(const char *secret, size_t slen,
                                const struct lumira_jwt_claims *claims, struct lumira_buf *out)
{
    struct json_object *payload = NULL;
    struct lumira_buf tok, json;
    unsigned char mac[LUMIRA_SHA256_LEN];
    enum lumira_err err = LUMIRA_OK;
    bool ok = true;

    if (lumira_role_name(claims->role) == NULL || claims->exp <= claims->iat)
        return LUMIRA_EINVAL;
    lumira_buf_init(&tok, LUMIRA_MAX_JWT);
    lumira_buf_init(&json, LUMIRA_MAX_JWT_PART);
    payload = lumira_json_new_object(&ok);
    lumira_json_put_str(payload, "sub", claims->sub, &ok);
    lumira_json_put_str(payload, "email", claims->email, &ok);
    lumira_json_put_str(payload, "name", claims->name, &ok);
    lumira_json_put_str(payload, "role", lumira_role_name(claims->role), &ok);
    lumira_json_put_int(payload, "iat", claims->iat, &ok);
    lumira_json_put_int(payload, "exp", claims->exp, &ok);
    lumira_json_put_str(payload, "iss", LUMIRA_JWT_ISSUER, &ok);
    if (!ok) {
        err = LUMIRA_ENOMEM;
        goto out;
    }
    if ((err = lumira_json_serialize(payload, &json)) != LUMIRA_OK ||
        (err = add_b64url(&tok, jwt_header, sizeof(jwt_header) - 1)) != LUMIRA_OK ||
        (err = lumira_buf_add(&tok, ".", 1)) != LUMIRA_OK ||
        (err = add_b64url(&tok, json.ptr, json.len)) != LUMIRA_OK ||
        (err = lumira_hmac_sha256(secret, slen, tok.ptr, tok.len, mac)) != LUMIRA_OK ||
        (err = lumira_buf_add(&tok, ".", 1)) != LUMIRA_OK ||
        (err = add_b64url(&tok, mac, sizeof(mac))) != LUMIRA_OK ||
        (err = lumira_buf_add(out, tok.ptr, tok.len)) != LUMIRA_OK)
        goto out;
out:
    json_object_put(payload);
    lumira_buf_cleanup(&json);
    lumira_buf_cleanup(&tok);
    return err;
}

/* Decodes one base64url part and parses it as a JSON object (caller owns *obj). */
static enum lumira_err decode_part(const char *s, size_t len, struct json_object **obj)
{
    unsigned char raw[LUMIRA_MAX_JWT_PART];
    size_t rawlen;
    enum lumira_err err;

    *obj = NULL;
    if ((err = lumira_b64url_decode(s, len, raw, sizeof(raw), &rawlen)) != LUMIRA_OK)
        return LUMIRA_EINVAL;
    err = lumira_json_parse_object((const char *)raw, rawlen, obj, NULL, 0);
    return err == LUMIRA_ENOMEM ? err : err != LUMIRA_OK ? LUMIRA_EINVAL : LUMIRA_OK;
}

/* Copies string claim `key` (1 to size-1 bytes) into `out`. */
static bool claim_str(const struct json_object *payload, const char *key, char *out, size_t size)
{
    const char *s;
    size_t len;

    if (lumira_json_get_str(payload, key, size - 1, &s, &len) != LUMIRA_OK || len == 0)
        return false;
    memcpy(out, s, len + 1);
    return true;
}

/* True when `s` is LUMIRA_OID_HEX lowercase hex digits. */
static bool is_oid_hex(const char *s)
{
    size_t i;

    for (i = 0; i < LUMIRA_OID_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[LUMIRA_OID_HEX] == '\0';
}

/* Reads and checks every claim of a payload whose signature is already verified. */
static enum lumira_err read_claims(const struct json_object *payload, int64_t now_s,
                                   struct lumira_jwt_claims *c)
{
    const char *s;
    size_t len;

    if (lumira_json_get_str(payload, "iss", 64, &s, &len) != LUMIRA_OK ||
        strcmp(s, LUMIRA_JWT_ISSUER) != 0)
        return LUMIRA_EINVAL;
    if (!claim_str(payload, "sub", c->sub, sizeof(c->sub)) || !is_oid_hex(c->sub) ||
        !claim_str(payload, "email", c->email, sizeof(c->email)) ||
        !claim_str(payload, "name", c->name, sizeof(c->name)))
        return LUMIRA_EINVAL;
    if (lumira_json_get_str(payload, "role", 16, &s, &len) != LUMIRA_OK ||
        (c->role = lumira_role_parse(s, len)) == LUMIRA_ROLE_NONE)
        return LUMIRA_EINVAL;
    if (lumira_json_get_i64(payload, "iat", 0, INT64_MAX / 2, &c->iat) != LUMIRA_OK ||
        lumira_json_get_i64(payload, "exp", 0, INT64_MAX / 2, &c->exp) != LUMIRA_OK ||
        c->exp <= c->iat || c->iat > now_s + LUMIRA_JWT_LEEWAY_S)
        return LUMIRA_EINVAL;
    return now_s >= c->exp ? LUMIRA_EEXPIRED : LUMIRA_OK;
}

enum lumira_err lumira_jwt_verify(const char *secret, size_t slen, const char *tok, size_t len,
                                  int64_t now_s, struct lumira_jwt_claims *claims)
{
    struct json_object *header = NULL, *payload = NULL;
    struct lumira_jwt_claims c;
    unsigned char mac[LUMIRA_SHA256_LEN], sig[LUMIRA_SHA256_LEN + 1];
    const char *dot1, *dot2, *alg;
    size_t siglen, alglen;
    enum lumira_err err;

    if (len == 0 || len > LUMIRA_MAX_JWT)
        return LUMIRA_EINVAL;
    dot1 = memchr(tok, '.', len);
    if (dot1 == NULL)
        return LUMIRA_EINVAL;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    if (dot2 == NULL || dot1 == tok || dot2 == dot1 + 1 || dot2 + 1 == tok + len ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)) != NULL)
        return LUMIRA_EINVAL;
    /* The signature first: nothing else of the token is read before it is known to be ours. */
    if (lumira_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - tok), sig, sizeof(sig),
                             &siglen) != LUMIRA_OK ||
        siglen != LUMIRA_SHA256_LEN)
        return LUMIRA_EINVAL;
    if ((err = lumira_hmac_sha256(secret, slen, tok, (size_t)(dot2 - tok), mac)) != LUMIRA_OK)
        return err;
    if (!lumira_ct_equal(mac, sig, LUMIRA_SHA256_LEN))
        return LUMIRA_EINVAL;
    /* Pinned algorithm: a header naming anything but HS256 (none, HS512, RS256) is refused even
     * with a matching HS256 signature. */
    if ((err = decode_part(tok, (size_t)(dot1 - tok), &header)) != LUMIRA_OK)
        goto out;
    if (lumira_json_get_str(header, "alg", 16, &alg, &alglen) != LUMIRA_OK ||
        strcmp(alg, "HS256") != 0) {
        err = LUMIRA_EINVAL;
        goto out;
    }
    err = lumira_json_get_str(header, "typ", 16, &alg, &alglen);
    if (err == LUMIRA_ENOTFOUND || (err == LUMIRA_OK && strcmp(alg, "JWT") == 0)) {
        err = LUMIRA_OK;
    } else {
        err = LUMIRA_EINVAL;
        goto out;
    }
    if ((err = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload)) != LUMIRA_OK)
        goto out;
    if ((err = read_claims(payload, now_s, &c)) == LUMIRA_OK)
        *claims = c;
out:
    json_object_put(header);
    json_object_put(payload);
    return err;
}
