#include "err.h"

/* Returns a static description of `err`; an unknown value gives "unknown error". */
const char *lumira_strerror(enum lumira_err err)
{
    switch (err) {
    case LUMIRA_OK:
        return "ok";
    case LUMIRA_EINVAL:
        return "invalid input";
    case LUMIRA_ETOOBIG:
        return "too large";
    case LUMIRA_ENOMEM:
        return "out of memory";
    case LUMIRA_ENOTFOUND:
        return "not found";
    case LUMIRA_ETIMEDOUT:
        return "timeout";
    case LUMIRA_EIO:
        return "i/o error";
    case LUMIRA_EUNAVAIL:
        return "service unavailable";
    case LUMIRA_ECONFIG:
        return "configuration error";
    case LUMIRA_EINTERNAL:
        return "internal error";
    case LUMIRA_EEXPIRED:
        return "expired";
    case LUMIRA_EEXIST:
        return "already exists";
    }
    return "unknown error";
}
