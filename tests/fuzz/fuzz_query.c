/* libFuzzer entry for query strings: lumira_query_get() with a few names and output sizes. The
 * input is used up to its first NUL byte, as QUERY_STRING reaches us as a C string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "lumira_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"page", "limit", "status", "email", "dateFrom",
                                        "a",    "a b",   "a&b",    "%",     ""};
    static const size_t sizes[] = {1, 2, 8, LUMIRA_MAX_QUERY_VALUE + 1};
    const char *query = (const char *)data;
    size_t qlen = strnlen(query, size), n, k;

    for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            /* Exactly sizes[k] bytes on the heap, so that ASan sees any write past them. */
            char *out = malloc(sizes[k]);
            size_t outlen = SIZE_MAX;

            if (out == NULL)
                abort();
            if (lumira_query_get(query, qlen, names[n], out, sizes[k], &outlen) == LUMIRA_OK) {
                /* The header: NUL-terminated, *outlen its length, no NUL byte inside. */
                if (outlen >= sizes[k] || out[outlen] != '\0' || memchr(out, '\0', outlen))
                    abort();
            }
            free(out);
        }
    }
    return 0;
}
