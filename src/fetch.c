#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "autoconfig.h"
#include "clock.h"
#include "fetch.h"
#include "str.h"

#define USER_AGENT "lumira/" PACKAGE_VERSION

struct lumira_fetch {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

/* Where the body callback writes, and why it stopped the transfer. */
struct sink {
    struct lumira_buf *body;
    enum lumira_err err;
};

void lumira_fetch_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void lumira_fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

enum lumira_err lumira_fetch_new(struct lumira_fetch **out)
{
    struct lumira_fetch *f = calloc(1, sizeof(*f));

    *out = NULL;
    if (f == NULL)
        return LUMIRA_ENOMEM;
    f->curl = curl_easy_init();
    if (f->curl == NULL) {
        free(f);
        return LUMIRA_ENOMEM;
    }
    *out = f;
    return LUMIRA_OK;
}

void lumira_fetch_free(struct lumira_fetch *f)
{
    if (f == NULL)
        return;
    curl_easy_cleanup(f->curl);
    free(f);
}

void lumira_fetch_reply_init(struct lumira_fetch_reply *reply, size_t max_body)
{
    reply->status = 0;
    reply->elapsed_ms = 0;
    reply->error[0] = '\0';
    reply->max_body = max_body;
    lumira_buf_init(&reply->body, max_body);
}

void lumira_fetch_reply_cleanup(struct lumira_fetch_reply *reply)
{
    if (reply != NULL)
        lumira_buf_cleanup(&reply->body);
}

/* Collects the body. Returning less than asked makes curl stop with CURLE_WRITE_ERROR, which is
 * how the cap is enforced; the sink keeps the reason (LUMIRA_ETOOBIG or LUMIRA_ENOMEM). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;

    if (size != 1) {
        s->err = LUMIRA_EINTERNAL;
        return 0;
    }
    s->err = lumira_buf_add(s->body, data, nmemb);
    return s->err == LUMIRA_OK ? nmemb : 0;
}

/* True when `url` starts with http:// or https:// (either case, as curl reads schemes). */
static bool is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* True when no line of the NULL-terminated `lines` (may be NULL) holds CR or LF, which would
 * let a value add header lines of its own. */
static bool lines_clean(const char *const *lines)
{
    for (; lines != NULL && *lines != NULL; lines++) {
        if (strpbrk(*lines, "\r\n") != NULL)
            return false;
    }
    return true;
}

/* Appends copies of the NULL-terminated `lines` (may be NULL) to *list. On LUMIRA_ENOMEM *list
 * holds what was appended before. */
static enum lumira_err add_lines(struct curl_slist **list, const char *const *lines)
{
    for (; lines != NULL && *lines != NULL; lines++) {
        struct curl_slist *h = curl_slist_append(*list, *lines);

        if (h == NULL)
            return LUMIRA_ENOMEM;
        *list = h;
    }
    return LUMIRA_OK;
}

/* Wipes and frees a header list: its lines may hold secrets. NULL-safe. */
static void free_lines(struct curl_slist *list)
{
    struct curl_slist *h;

    for (h = list; h != NULL; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(list);
}

/* Sets up the request on the handle, which holds no option between calls (perform() resets it
 * after each); a failed setopt (out of memory, or an option this libcurl lacks) is reported as
 * LUMIRA_ENOMEM. */
static enum lumira_err prepare(struct lumira_fetch *f, bool post, const char *url,
                               struct curl_slist *headers, const char *body, size_t body_len,
                               int64_t timeout_ms, size_t max_body, struct sink *sink)
{
    CURL *c = f->curl;
    CURLcode rc = CURLE_OK;

    f->errbuf[0] = '\0';
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
    SET(CURLOPT_ERRORBUFFER, f->errbuf);
    /* A declared Content-Length over the cap fails before any of the body is read. */
    SET(CURLOPT_MAXFILESIZE_LARGE,
        max_body > (size_t)INT64_MAX ? (curl_off_t)INT64_MAX : (curl_off_t)max_body);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, sink);
    if (post) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SET(CURLOPT_POSTFIELDS, body != NULL ? body : "");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return rc == CURLE_OK ? LUMIRA_OK : LUMIRA_ENOMEM;
}

/* Turns the outcome of curl_easy_perform() into our error and reply->error. */
static enum lumira_err outcome(struct lumira_fetch *f, CURLcode rc, const struct sink *sink,
                               struct lumira_fetch_reply *reply)
{
    if (rc == CURLE_OK) {
        if (curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &reply->status) != CURLE_OK)
            reply->status = 0;
        return LUMIRA_OK;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "timeout after %lldms",
                             (long long)reply->elapsed_ms);
        return LUMIRA_ETIMEDOUT;
    }
    /* Over the cap: a declared Content-Length (CURLOPT_MAXFILESIZE), or the bytes as they came
     * (on_body refused them). */
    if (rc == CURLE_FILESIZE_EXCEEDED || (rc == CURLE_WRITE_ERROR && sink->err == LUMIRA_ETOOBIG)) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "reply larger than %zu bytes",
                             reply->max_body);
        return LUMIRA_ETOOBIG;
    }
    if (rc == CURLE_OUT_OF_MEMORY || (rc == CURLE_WRITE_ERROR && sink->err == LUMIRA_ENOMEM)) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "out of memory");
        return LUMIRA_ENOMEM;
    }
    (void)lumira_str_fmt(reply->error, sizeof(reply->error), "%s",
                         f->errbuf[0] != '\0' ? f->errbuf : curl_easy_strerror(rc));
    return LUMIRA_EUNAVAIL;
}

/* lumira_fetch_call() with two header lists, `first` then `more` (either may be NULL). */
static enum lumira_err perform(struct lumira_fetch *f, const char *method, const char *url,
                               const char *const *first, const char *const *more,
                               const char *body, size_t body_len, int64_t timeout_ms,
                               struct lumira_fetch_reply *reply)
{
    struct curl_slist *headers = NULL;
    struct sink sink = {&reply->body, LUMIRA_OK};
    enum lumira_err err;
    CURLcode rc;
    int64_t t0;
    bool post;

    lumira_buf_reset(&reply->body);
    reply->status = 0;
    reply->elapsed_ms = 0;
    reply->error[0] = '\0';
    post = strcmp(method, "POST") == 0;
    if (!post && strcmp(method, "GET") != 0) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "unsupported method %.16s",
                             method);
        return LUMIRA_EINVAL;
    }
    if (!is_http_url(url)) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "not an http(s) URL");
        return LUMIRA_EINVAL;
    }
    if (!lines_clean(first) || !lines_clean(more)) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "header line with CR or LF");
        return LUMIRA_EINVAL;
    }
    if (timeout_ms < 1)
        timeout_ms = 1; /* curl takes 0 as "no timeout" */
    if (timeout_ms > INT32_MAX)
        timeout_ms = INT32_MAX;

    err = add_lines(&headers, first);
    if (err == LUMIRA_OK)
        err = add_lines(&headers, more);
    if (err == LUMIRA_OK) {
        /* No "Expect: 100-continue" round trip on POSTs. */
        static const char *const no_expect[] = {"Expect:", NULL};

        err = add_lines(&headers, no_expect);
    }
    if (err == LUMIRA_OK)
        err = prepare(f, post, url, headers, body, body_len, timeout_ms, reply->max_body, &sink);
    if (err != LUMIRA_OK) {
        (void)lumira_str_fmt(reply->error, sizeof(reply->error), "out of memory");
        goto out;
    }
    t0 = lumira_mono_ms();
    rc = curl_easy_perform(f->curl);
    reply->elapsed_ms = lumira_mono_ms() - t0;
    err = outcome(f, rc, &sink, reply);
    if (err != LUMIRA_OK)
        reply->status = 0;
out:
    /* The handle borrowed `headers`, the caller's `body` and our stack's `sink`: it lets go of
     * them before they go away (live connections stay). */
    curl_easy_reset(f->curl);
    free_lines(headers);
    return err;
}

enum lumira_err lumira_fetch_call(struct lumira_fetch *f, const char *method, const char *url,
                                  const char *const *headers, const char *body, size_t body_len,
                                  int64_t timeout_ms, struct lumira_fetch_reply *reply)
{
    return perform(f, method, url, headers, NULL, body, body_len, timeout_ms, reply);
}

enum lumira_err lumira_fetch_post_json(struct lumira_fetch *f, const char *url, const char *json,
                                       size_t len, const char *const *extra_headers,
                                       int64_t timeout_ms, struct lumira_fetch_reply *reply)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};

    return perform(f, "POST", url, json_headers, extra_headers, json, len, timeout_ms, reply);
}
