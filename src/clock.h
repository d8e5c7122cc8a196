#ifndef LUMIRA_CLOCK_H
#define LUMIRA_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic time for durations and deadlines; wall time only for timestamps shown to people. */

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t lumira_mono_ms(void);

/* Microseconds on CLOCK_MONOTONIC (the metrics' durations). */
int64_t lumira_mono_us(void);

/* Milliseconds since the Unix epoch on CLOCK_REALTIME. */
int64_t lumira_wall_ms(void);

/* Length of "2026-01-01T00:00:00.000Z" plus its NUL. */
#define LUMIRA_ISO8601_SIZE 25

/* Writes `epoch_ms` as ISO-8601 UTC with milliseconds into `out` (LUMIRA_ISO8601_SIZE bytes).
 * A time before the epoch or past year 9999 gives "1970-01-01T00:00:00.000Z". */
void lumira_iso8601(int64_t epoch_ms, char out[LUMIRA_ISO8601_SIZE]);

/* Parses "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (UTC; more fraction digits are cut to
 * milliseconds) of `len` bytes into epoch milliseconds. A bare date is its first millisecond,
 * or its last when `end_of_day`. False for anything else, including days a month lacks. */
bool lumira_parse_date(const char *s, size_t len, bool end_of_day, int64_t *ms);

#endif
