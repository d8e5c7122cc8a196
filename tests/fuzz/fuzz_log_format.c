/* libFuzzer entry for log lines: lumira__log_format() with the input as the message, as field
 * values and as the request id. Every line must end with "}\n", be valid UTF-8 and parse with
 * json-c; anything else aborts. Also runs the masking helpers over the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lumira_limits.h"
#include "log.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless line[0..len) is one log line of at most `size` bytes. */
static void check_line(const char *line, size_t len, size_t size)
{
    struct json_tokener *tok;
    struct json_object *obj;

    if (len < 3 || len > size || line[len - 2] != '}' || line[len - 1] != '\n')
        abort();
    if (memchr(line, '\n', len - 1) != NULL || memchr(line, '\0', len) != NULL)
        abort();
    if (!lumira_utf8_valid(line, len))
        abort();
    tok = json_tokener_new();
    if (tok == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, line, (int)len);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len || !json_object_is_type(obj, json_type_object))
        abort();
    json_object_put(obj);
    json_tokener_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *msg = malloc(size + 1);
    char line[LUMIRA_LOG_LINE_MAX], small[128], out[256];
    size_t len;

    if (msg == NULL)
        abort();
    memcpy(msg, data, size);
    msg[size] = '\0'; /* the message is a C string: it ends at the first NUL */
    {
        const struct lumira_log_field fields[] = {
            LUMIRA_LOG_STR("value", msg),
            LUMIRA_LOG_INT("n", (int64_t)size),
            LUMIRA_LOG_STR("none", NULL),
            LUMIRA_LOG_STR("again", msg),
            LUMIRA_LOG_END,
        };

        len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_INFO, "fuzz", fields, msg);
        check_line(line, len, sizeof(line));
        len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_ERROR, NULL, fields, "m");
        check_line(line, len, sizeof(line));
        len = lumira__log_format(small, sizeof(small), LUMIRA_LOG_DEBUG, "fuzz", fields, msg);
        check_line(small, len, sizeof(small));
        lumira_log_set_reqid(msg);
        len = lumira__log_format(line, sizeof(line), LUMIRA_LOG_WARN, msg, NULL, msg);
        check_line(line, len, sizeof(line));
        lumira_log_set_reqid(NULL);
    }

    /* The helpers that prepare values for log lines: bounded and terminated. */
    lumira_log_mask_email((const char *)data, size, out, sizeof(out));
    if (strnlen(out, sizeof(out)) == sizeof(out))
        abort();
    lumira_log_mask_email((const char *)data, size, out, 5);
    if (strnlen(out, 5) == 5)
        abort();
    lumira_log_redact_uri(msg, out, sizeof(out));
    if (strnlen(out, sizeof(out)) == sizeof(out))
        abort();
    lumira_log_sample(data, size, out, sizeof(out));
    if (strlen(out) > LUMIRA_LOG_SAMPLE_MAX + 3)
        abort();
    free(msg);
    return 0;
}
