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

int64_t lumira_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall-clock milliseconds since the epoch. */
int64_t lumira_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

/* Formats with gmtime_r; negative times are clamped to the epoch. */
/* Writes `v` (0 to 10^width - 1) as exactly `width` digits. */
static void put_digits(char *out, unsigned v, int width)
{
    while (width-- > 0) {
        out[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The last millisecond that has four digits of year: 9999-12-31T23:59:59.999Z. */
#define ISO8601_MAX_MS INT64_C(253402300799999)

/* Days since the epoch to a civil date (Howard Hinnant's days_from_civil inverse, for days >= 0):
 * no gmtime_r() or snprintf(), which took most of the time of a log line and of a health reply. */
void lumira_iso8601(int64_t epoch_ms, char out[LUMIRA_ISO8601_SIZE])
{
    int64_t secs, days, era;
    unsigned doe, yoe, doy, mp, day, month, rem;
    int64_t year;

    if (epoch_ms < 0 || epoch_ms > ISO8601_MAX_MS)
        epoch_ms = 0;
    secs = epoch_ms / 1000;
    days = secs / 86400;
    rem = (unsigned)(secs % 86400);
    days += 719468; /* from 1970-03-01 counted back to 0000-03-01 */
    era = days / 146097;
    doe = (unsigned)(days - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year = (int64_t)yoe + era * 400 + (month <= 2);
    put_digits(out, (unsigned)year, 4);
    out[4] = '-';
    put_digits(out + 5, month, 2);
    out[7] = '-';
    put_digits(out + 8, day, 2);
    out[10] = 'T';
    put_digits(out + 11, rem / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, rem / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, rem % 60, 2);
    out[19] = '.';
    put_digits(out + 20, (unsigned)(epoch_ms % 1000), 3);
    out[23] = 'Z';
    out[24] = '\0';
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
