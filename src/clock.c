#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "str.h"

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic milliseconds, for measuring and for deadlines. */
int64_t lumira_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

/* Wall-clock milliseconds since the epoch. */
int64_t lumira_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

/* Formats with gmtime_r; negative times are clamped to the epoch. */
void lumira_iso8601(int64_t epoch_ms, char out[LUMIRA_ISO8601_SIZE])
{
    struct tm tm;
    time_t secs;
    char text[96];

    if (epoch_ms < 0)
        epoch_ms = 0;
    secs = (time_t)(epoch_ms / 1000);
    if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        snprintf(out, LUMIRA_ISO8601_SIZE, "1970-01-01T00:00:00.000Z");
        return;
    }
    /* gcc cannot see that struct tm fields are small: format into room for any int. */
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(epoch_ms % 1000));
    (void)lumira_strscpy(out, text, LUMIRA_ISO8601_SIZE);
}

/* True when `len` bytes of `s` start with the shape of `tmpl`, where 'd' stands for an ASCII
 * digit and any other character for itself. strptime() alone is too lenient: it skips spaces
 * before a number and takes one digit where two are due (" 026-11-30", "2026-11- 3",
 * "T1:2:3Z"). */
static bool has_shape(const char *s, size_t len, const char *tmpl)
{
    size_t i, n = strlen(tmpl);

    if (len < n)
        return false;
    for (i = 0; i < n; i++)
        if (tmpl[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != tmpl[i])
            return false;
    return true;
}

bool lumira_parse_date(const char *s, size_t len, bool end_of_day, int64_t *ms)
{
    struct tm tm;
    char buf[32];
    const char *end;
    int frac = 0;
    time_t t;

    if (len < 10 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL ||
        !has_shape(s, len, "dddd-dd-dd") ||
        (len > 10 && s[10] == 'T' && !has_shape(s, len, "dddd-dd-ddTdd:dd:dd")))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(&tm, 0, sizeof(tm));
    end = strptime(buf, "%Y-%m-%d", &tm);
    if (end == NULL || end != buf + 10)
        return false;
    if (*end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (end == NULL)
            return false;
        if (*end == '.') {
            int digits = 0;

            for (end++; *end >= '0' && *end <= '9'; end++, digits++)
                if (digits < 3)
                    frac = frac * 10 + (*end - '0');
            if (digits == 0)
                return false;
            for (; digits < 3; digits++)
                frac *= 10;
        }
        if (strcmp(end, "Z") != 0)
            return false;
        end_of_day = false;
    } else if (*end != '\0') {
        return false;
    }
    /* strptime accepts days the month does not have, and second 60 (a leap second, which
     * timegm moves to the next minute): the round trip must give them back. */
    {
        struct tm check = tm;

        t = timegm(&check);
        if (t == (time_t)-1 || check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon ||
            check.tm_sec != tm.tm_sec)
            return false;
    }
    *ms = (int64_t)t * 1000 + frac + (end_of_day ? (86400 * INT64_C(1000)) - 1 : 0);
    return true;
}
