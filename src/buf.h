#ifndef LUMIRA_BUF_H
#define LUMIRA_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

/* A growable byte buffer with a hard cap fixed at init (curl's dynbuf). The content is always
 * NUL-terminated when ptr is not NULL, but may also hold NUL bytes: use len. */
struct lumira_buf {
    char *ptr;  /* read-only: content, or NULL while empty */
    size_t len; /* read-only: bytes used, not counting the terminating NUL */
    size_t cap; /* private: bytes allocated */
    size_t max; /* private: the most len may ever be */
};

/* Prepares `b` (caller storage) to hold at most `max` bytes. Allocates nothing. */
void lumira_buf_init(struct lumira_buf *b, size_t max);

/* Frees the content and returns `b` to its empty, initialised state (max kept). NULL-safe. */
void lumira_buf_cleanup(struct lumira_buf *b);

/* Empties `b` but keeps its allocation for reuse. */
void lumira_buf_reset(struct lumira_buf *b);

/* Appends `len` bytes. LUMIRA_ETOOBIG when the result would pass max, LUMIRA_ENOMEM when the
 * allocation fails; on error `b` is left as it was. */
enum lumira_err lumira_buf_add(struct lumira_buf *b, const void *data,
                               size_t len) LUMIRA_WARN_UNUSED;

/* Room for `len` more bytes, for a writer that fills them itself (no copy in between): returns
 * where they go, or NULL with *err set (the errors of lumira_buf_add()). The caller writes at most
 * `len` bytes there, then lumira_buf_commit() counts the `n` (<= len) it wrote. */
char *lumira_buf_space(struct lumira_buf *b, size_t len, enum lumira_err *err);
void lumira_buf_commit(struct lumira_buf *b, size_t n);

/* Appends a NUL-terminated string. Same errors as lumira_buf_add(). */
enum lumira_err lumira_buf_adds(struct lumira_buf *b, const char *s) LUMIRA_WARN_UNUSED;

/* Appends printf-formatted text. Same errors as lumira_buf_add(). */
enum lumira_err lumira_buf_addf(struct lumira_buf *b, const char *fmt, ...) LUMIRA_WARN_UNUSED
    __attribute__((format(printf, 2, 3)));
enum lumira_err lumira_buf_vaddf(struct lumira_buf *b, const char *fmt,
                                 va_list ap) LUMIRA_WARN_UNUSED
    __attribute__((format(printf, 2, 0)));

/* Cuts the content back to its first `len` bytes (no-op when len >= b->len). */
void lumira_buf_truncate(struct lumira_buf *b, size_t len);

/* Hands the content to the caller, who frees it with free(); `b` becomes empty. Returns NULL
 * when `b` is empty. */
char *lumira_buf_take(struct lumira_buf *b);

#endif
