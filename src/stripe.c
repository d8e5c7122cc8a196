#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "fetch.h"
#include "metrics.h"
#include "stripe.h"
#include "str.h"

#define AUTH_PREFIX "Authorization: Bearer "

struct lumira_stripe {
    struct lumira_fetch *fetch;
    char *base;
    char *key; /* NULL when unusable */
};

void lumira_stripe_global_init(void)
{
    lumira_fetch_global_init();
}

void lumira_stripe_global_cleanup(void)
{
    lumira_fetch_global_cleanup();
}

enum lumira_err lumira_stripe_new(const char *api_base, const char *key, struct lumira_stripe **out)
{
    struct lumira_stripe *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return LUMIRA_ENOMEM;
    s->base = strdup(api_base);
    if (lumira_secret_usable(key))
        s->key = strdup(key);
    if (s->base == NULL || lumira_fetch_new(&s->fetch) != LUMIRA_OK ||
        (lumira_secret_usable(key) && s->key == NULL)) {
        lumira_stripe_free(s);
        return LUMIRA_ENOMEM;
    }
    *out = s;
    return LUMIRA_OK;
}

void lumira_stripe_free(struct lumira_stripe *s)
{
    if (s == NULL)
        return;
    if (s->key != NULL) {
        OPENSSL_cleanse(s->key, strlen(s->key));
        free(s->key);
    }
    free(s->base);
    lumira_fetch_free(s->fetch);
    free(s);
}

bool lumira_stripe_configured(const struct lumira_stripe *s)
{
    return s->key != NULL;
}

const char *lumira_stripe_mode(const struct lumira_stripe *s)
{
    size_t len;

    if (s->key == NULL)
        return "unknown";
    len = strlen(s->key);
    if (lumira_str_has_prefix(s->key, len, "sk_test_") ||
        lumira_str_has_prefix(s->key, len, "rk_test_"))
        return "test";
    if (lumira_str_has_prefix(s->key, len, "sk_live_") ||
        lumira_str_has_prefix(s->key, len, "rk_live_"))
        return "live";
    return "unknown";
}

void lumira_stripe_reply_init(struct lumira_stripe_reply *reply)
{
    reply->status = 0;
    reply->elapsed_ms = 0;
    reply->error[0] = '\0';
    lumira_buf_init(&reply->body, LUMIRA_STRIPE_MAX_REPLY);
}

void lumira_stripe_reply_cleanup(struct lumira_stripe_reply *reply)
{
    if (reply != NULL)
        lumira_buf_cleanup(&reply->body);
}

enum lumira_err lumira_stripe_call(struct lumira_stripe *s, const char *method, const char *path,
                                   const char *form, size_t form_len, const char *idempotency_key,
                                   int64_t timeout_ms, struct lumira_stripe_reply *reply)
{
    struct lumira_fetch_reply fr;
    struct lumira_buf url, auth, idem;
    const char *headers[3];
    enum lumira_err err;

    lumira_buf_reset(&reply->body);
    reply->status = 0;
    reply->error[0] = '\0';
    if (s->key == NULL) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error),
                             "STRIPE_SECRET_KEY not configured");
        return LUMIRA_ECONFIG;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "unsupported method %s", method);
        return LUMIRA_EINVAL;
    }
    lumira_buf_init(&url, 4096);
    lumira_buf_init(&auth, 1024);
    lumira_buf_init(&idem, 512);
    err = lumira_buf_addf(&url, "%s%s", s->base, path);
    if (err == LUMIRA_OK)
        err = lumira_buf_addf(&auth, AUTH_PREFIX "%s", s->key);
    if (err == LUMIRA_OK && idempotency_key != NULL)
        err = lumira_buf_addf(&idem, "Idempotency-Key: %s", idempotency_key);
    if (err != LUMIRA_OK) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "%s",
                             err == LUMIRA_ENOMEM ? "out of memory" : "request too long");
        goto out;
    }
    headers[0] = auth.ptr;
    headers[1] = idem.len > 0 ? idem.ptr : NULL;
    headers[2] = NULL;
    /* The fetch reply borrows the caller's body buffer (its allocation and its cap, the same
     * LUMIRA_STRIPE_MAX_REPLY) for the call and hands it back: no copy of the body. */
    lumira_fetch_reply_init(&fr, LUMIRA_STRIPE_MAX_REPLY);
    fr.body = reply->body;
    err = lumira_fetch_call(s->fetch, method, url.ptr, headers, form, form_len, timeout_ms, &fr);
    lumira_metrics_http_call(LUMIRA_METRICS_STRIPE, err, fr.status, fr.elapsed_ms);
    reply->body = fr.body;
    reply->status = fr.status;
    reply->elapsed_ms = fr.elapsed_ms;
    (void)lumira_strscpy(reply->error, fr.error, sizeof(reply->error));
out:
    /* The Authorization line holds the key: wipe it before it goes back to malloc (fetch wipes
     * its own copies). */
    if (auth.ptr != NULL)
        OPENSSL_cleanse(auth.ptr, auth.len);
    lumira_buf_cleanup(&auth);
    lumira_buf_cleanup(&url);
    lumira_buf_cleanup(&idem);
    return err;
}

enum lumira_err lumira_stripe_form_add(struct lumira_buf *form, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *parts[2] = {key, value};
    size_t start = form->len, i;
    enum lumira_err err = LUMIRA_OK;

    if (form->len > 0)
        err = lumira_buf_add(form, "&", 1);
    for (i = 0; i < 2 && err == LUMIRA_OK; i++) {
        const unsigned char *p;

        if (i == 1)
            err = lumira_buf_add(form, "=", 1);
        for (p = (const unsigned char *)parts[i]; err == LUMIRA_OK && *p != '\0'; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~') {
                err = lumira_buf_add(form, p, 1);
            } else {
                char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

                err = lumira_buf_add(form, enc, 3);
            }
        }
    }
    if (err != LUMIRA_OK) {
        /* All or nothing: drop the part of the pair that went in. */
        lumira_buf_truncate(form, start);
    }
    return err;
}
