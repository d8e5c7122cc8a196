#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "autoconfig.h"
#include "clock.h"
#include "config.h"
#include "stripe.h"
#include "str.h"

#define USER_AGENT "lumira/" PACKAGE_VERSION
#define AUTH_PREFIX "Authorization: Bearer "

struct lumira_stripe {
    CURL *curl;
    char *base;
    char *key; /* NULL when unusable */
    char errbuf[CURL_ERROR_SIZE];
};

void lumira_stripe_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void lumira_stripe_global_cleanup(void)
{
    curl_global_cleanup();
}

enum lumira_err lumira_stripe_new(const char *api_base, const char *key, struct lumira_stripe **out)
{
    struct lumira_stripe *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return LUMIRA_ENOMEM;
    s->base = strdup(api_base);
    s->curl = curl_easy_init();
    if (lumira_secret_usable(key))
        s->key = strdup(key);
    if (s->base == NULL || s->curl == NULL || (lumira_secret_usable(key) && s->key == NULL)) {
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
    if (s->curl != NULL)
        curl_easy_cleanup(s->curl);
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

/* Collects the body; returning less than asked makes curl stop with CURLE_WRITE_ERROR, which
 * is how the cap is enforced. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct lumira_buf *b = userdata;

    if (size != 1 || lumira_buf_add(b, data, nmemb) != LUMIRA_OK)
        return 0;
    return nmemb;
}

/* Sets up the request; a failed setopt (out of memory) is reported as LUMIRA_ENOMEM. */
static enum lumira_err prepare(struct lumira_stripe *s, const char *method, const char *url,
                               const char *form, size_t form_len, struct curl_slist *headers,
                               int64_t timeout_ms, struct lumira_stripe_reply *reply)
{
    CURL *c = s->curl;
    CURLcode rc = CURLE_OK;

    curl_easy_reset(c); /* clears options, keeps live connections */
    s->errbuf[0] = '\0';
/* Each option is set only while all before it succeeded. */
#define SET(opt, val) (rc = rc != CURLE_OK ? rc : curl_easy_setopt(c, opt, val))
    SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L); /* we own SIGALRM; never let the resolver use it */
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_USERAGENT, USER_AGENT);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &reply->body);
    if (strcmp(method, "POST") == 0) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
        SET(CURLOPT_POSTFIELDS, form != NULL ? form : "");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return rc == CURLE_OK ? LUMIRA_OK : LUMIRA_ENOMEM;
}

enum lumira_err lumira_stripe_call(struct lumira_stripe *s, const char *method, const char *path,
                                   const char *form, size_t form_len, const char *idempotency_key,
                                   int64_t timeout_ms, struct lumira_stripe_reply *reply)
{
    struct curl_slist *headers = NULL, *h;
    struct lumira_buf url, auth, idem;
    enum lumira_err err;
    CURLcode rc;
    int64_t t0 = lumira_mono_ms();

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
    if (timeout_ms < 1)
        timeout_ms = 1;
    lumira_buf_init(&url, 4096);
    lumira_buf_init(&auth, 1024);
    lumira_buf_init(&idem, 512);
    err = lumira_buf_addf(&url, "%s%s", s->base, path);
    if (err == LUMIRA_OK)
        err = lumira_buf_addf(&auth, AUTH_PREFIX "%s", s->key);
    if (err == LUMIRA_OK && idempotency_key != NULL)
        err = lumira_buf_addf(&idem, "Idempotency-Key: %s", idempotency_key);
    if (err != LUMIRA_OK)
        goto out;
    err = LUMIRA_ENOMEM;
    if ((h = curl_slist_append(headers, auth.ptr)) == NULL)
        goto out;
    headers = h;
    /* No "Expect: 100-continue" round trip on POSTs. */
    if ((h = curl_slist_append(headers, "Expect:")) == NULL)
        goto out;
    headers = h;
    if (idem.len > 0) {
        if ((h = curl_slist_append(headers, idem.ptr)) == NULL)
            goto out;
        headers = h;
    }
    err = prepare(s, method, url.ptr, form, form_len, headers, timeout_ms, reply);
    if (err != LUMIRA_OK)
        goto out;

    rc = curl_easy_perform(s->curl);
    reply->elapsed_ms = lumira_mono_ms() - t0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &reply->status);
        err = LUMIRA_OK;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "timeout after %lldms",
                             (long long)reply->elapsed_ms);
        err = LUMIRA_ETIMEDOUT;
    } else if (rc == CURLE_WRITE_ERROR) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "reply larger than %d bytes",
                             LUMIRA_STRIPE_MAX_REPLY);
        err = LUMIRA_ETOOBIG;
    } else {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "%s",
                             s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc));
        err = LUMIRA_EUNAVAIL;
    }
out:
    /* The header list holds copies of the key: wipe them before they go back to malloc. */
    for (h = headers; h != NULL; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(headers);
    if (auth.ptr != NULL)
        OPENSSL_cleanse(auth.ptr, auth.len);
    lumira_buf_cleanup(&auth);
    lumira_buf_cleanup(&url);
    lumira_buf_cleanup(&idem);
    if (err == LUMIRA_ENOMEM && reply->error[0] == '\0')
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "out of memory");
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
