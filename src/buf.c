#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define MIN_ALLOC 64

/* Sets up an empty buffer capped at `max` bytes of content. */
void lumira_buf_init(struct lumira_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Frees the content; the buffer stays usable with the same cap. Accepts NULL. */
void lumira_buf_cleanup(struct lumira_buf *b)
{
    if (b == NULL)
        return;
    free(b->ptr);
    lumira_buf_init(b, b->max);
}

/* Drops the content but keeps the memory. */
void lumira_buf_reset(struct lumira_buf *b)
{
    lumira_buf_truncate(b, 0);
}

/* Shortens the content, keeping the memory and the terminating NUL. */
void lumira_buf_truncate(struct lumira_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->ptr[len] = '\0';
}

/* Makes room for `extra` more bytes plus a NUL. Fails without touching `b`. */
static enum lumira_err reserve(struct lumira_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return LUMIRA_ETOOBIG;
    need = b->len + extra + 1; /* cannot wrap: max is far below SIZE_MAX in every use */
    if (need <= b->cap)
        return LUMIRA_OK;
    cap = b->cap < MIN_ALLOC ? MIN_ALLOC : b->cap;
    while (cap < need)
        cap = cap > (SIZE_MAX / 2) ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->ptr, cap);
    if (p == NULL)
        return LUMIRA_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return LUMIRA_OK;
}

char *lumira_buf_space(struct lumira_buf *b, size_t len, enum lumira_err *err)
{
    *err = reserve(b, len);
    return *err == LUMIRA_OK ? b->ptr + b->len : NULL;
}

void lumira_buf_commit(struct lumira_buf *b, size_t n)
{
    b->len += n;
    b->ptr[b->len] = '\0';
}

/* Appends `len` bytes of `data`; all or nothing. */
enum lumira_err lumira_buf_add(struct lumira_buf *b, const void *data, size_t len)
{
    enum lumira_err err = reserve(b, len);

    if (err != LUMIRA_OK)
        return err;
    if (len > 0)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return LUMIRA_OK;
}

/* Appends the string `s` without its NUL. */
enum lumira_err lumira_buf_adds(struct lumira_buf *b, const char *s)
{
    return lumira_buf_add(b, s, strlen(s));
}

/* Appends formatted text; the formatted length is checked against the cap before growing. */
enum lumira_err lumira_buf_vaddf(struct lumira_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    enum lumira_err err;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return LUMIRA_EINVAL;
    err = reserve(b, (size_t)n);
    if (err != LUMIRA_OK)
        return err;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return LUMIRA_OK;
}

/* printf-style append. */
enum lumira_err lumira_buf_addf(struct lumira_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum lumira_err err;

    va_start(ap, fmt);
    err = lumira_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return err;
}

/* Gives the allocation to the caller; NULL when nothing was ever added. */
char *lumira_buf_take(struct lumira_buf *b)
{
    char *p = b->ptr;

    lumira_buf_init(b, b->max);
    return p;
}
