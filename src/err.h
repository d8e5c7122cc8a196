#ifndef LUMIRA_ERR_H
#define LUMIRA_ERR_H

/* One error type for the whole shared layer, in the manner of curl's CURLcode. `http` turns it
 * into an HTTP status in one place (lumira_http_status_for()). errno never crosses our API. */

#define LUMIRA_WARN_UNUSED __attribute__((warn_unused_result))

enum lumira_err {
    LUMIRA_OK = 0,
    LUMIRA_EINVAL,    /* malformed input (bad syntax, wrong type, out of range) */
    LUMIRA_ETOOBIG,   /* input or output over its cap */
    LUMIRA_ENOMEM,    /* an allocation failed */
    LUMIRA_ENOTFOUND, /* the thing asked for does not exist */
    LUMIRA_ETIMEDOUT, /* a deadline passed */
    LUMIRA_EIO,       /* reading or writing a stream or file failed */
    LUMIRA_EUNAVAIL,  /* a dependency (database, Stripe) could not be reached or refused */
    LUMIRA_ECONFIG,   /* configuration missing or unusable */
    LUMIRA_EINTERNAL, /* a bug or an unexpected library failure */
    LUMIRA_EEXPIRED,  /* a token or signature that was valid is past its time */
    LUMIRA_EEXIST     /* the thing to create already exists (a unique key is taken) */
};

/* Returns a static, human readable name for `err` (never NULL). */
const char *lumira_strerror(enum lumira_err err);

#endif
