#ifndef LUMIRA_SYSINFO_H
#define LUMIRA_SYSINFO_H

#include <stdint.h>

#include "err.h"

/* Facts about the host and the process for the readiness and health replies. */

struct lumira_meminfo {
    uint64_t total_kb;
    uint64_t available_kb; /* MemAvailable: what can be used without swapping */
};

/* Reads MemTotal and MemAvailable from `path` (/proc/meminfo when NULL). LUMIRA_EIO when the
 * file cannot be read, LUMIRA_EINVAL when either line is missing or malformed. */
enum lumira_err lumira_sysinfo_meminfo(const char *path,
                                       struct lumira_meminfo *out) LUMIRA_WARN_UNUSED;

/* lumira_sysinfo_meminfo(path, out), read again only when the last good reading is older than
 * `max_age_ms` (0: always). For the health and readiness replies, which show the host's memory on
 * every request: reading /proc/meminfo costs the kernel more than the rest of a health request.
 * One reading is kept per process, whatever the path; for the main thread only. */
enum lumira_err lumira_sysinfo_meminfo_cached(const char *path, int64_t max_age_ms,
                                              struct lumira_meminfo *out) LUMIRA_WARN_UNUSED;

/* The process's resident set size in KiB, from /proc/self/status (VmRSS). */
enum lumira_err lumira_sysinfo_rss_kb(uint64_t *out) LUMIRA_WARN_UNUSED;

/* Records the process start; lumira_sysinfo_uptime_s() counts from here. Call early in main. */
void lumira_sysinfo_mark_start(void);

/* Seconds, and milliseconds, since lumira_sysinfo_mark_start() (monotonic). */
double lumira_sysinfo_uptime_s(void);
int64_t lumira_sysinfo_uptime_ms(void);

/* Wall-clock time of the start, epoch milliseconds. */
int64_t lumira_sysinfo_started_ms(void);

/* Memory use in MiB and percent, with the API.md status words: "ok", "warning" over 70 %,
 * "critical" over 85 %. percentage is rounded to the nearest integer. */
struct lumira_memuse {
    uint64_t used_mb, free_mb, total_mb;
    unsigned percentage;
    const char *status;
};
void lumira_sysinfo_memuse(const struct lumira_meminfo *mi, struct lumira_memuse *out);

#endif
