#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lumira_limits.h"
#include "str.h"
#include "sysinfo.h"

static int64_t start_mono_ms, start_wall_ms;

/* Reads up to LUMIRA_MAX_PROC_FILE - 1 bytes of a /proc file into `buf`, NUL-terminated. */
static enum lumira_err read_small_file(const char *path, char *buf, size_t size, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t used = 0;

    if (fd < 0)
        return LUMIRA_EIO;
    while (used < size - 1) {
        ssize_t n = read(fd, buf + used, size - 1 - used);

        if (n < 0) {
            close(fd);
            return LUMIRA_EIO;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *len = used;
    return LUMIRA_OK;
}

/* Finds "<key>:<blanks><digits> kB" at the start of a line and parses the digits. Blanks are
 * spaces or tabs: /proc/meminfo pads with spaces, /proc/self/status starts with a tab. A value
 * past UINT64_MAX / 1024 is malformed too (it keeps the percentages below from overflowing). */
static enum lumira_err find_kb(const char *text, size_t len, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol != NULL ? eol : end;

        if ((size_t)(le - p) > klen + 1 && memcmp(p, key, klen) == 0 && p[klen] == ':') {
            const char *d = p + klen + 1, *de;

            while (d < le && (*d == ' ' || *d == '\t'))
                d++;
            de = d;
            while (de < le && *de >= '0' && *de <= '9')
                de++;
            if (de == d || (size_t)(le - de) != 3 || memcmp(de, " kB", 3) != 0)
                return LUMIRA_EINVAL;
            if (lumira_parse_u64(d, (size_t)(de - d), UINT64_MAX / 1024, out) != LUMIRA_OK)
                return LUMIRA_EINVAL;
            return LUMIRA_OK;
        }
        p = le + 1;
    }
    return LUMIRA_EINVAL;
}

enum lumira_err lumira_sysinfo_meminfo(const char *path, struct lumira_meminfo *out)
{
    char buf[LUMIRA_MAX_PROC_FILE];
    size_t len;
    enum lumira_err err;

    err = read_small_file(path != NULL ? path : "/proc/meminfo", buf, sizeof(buf), &len);
    if (err == LUMIRA_OK)
        err = find_kb(buf, len, "MemTotal", &out->total_kb);
    if (err == LUMIRA_OK)
        err = find_kb(buf, len, "MemAvailable", &out->available_kb);
    if (err == LUMIRA_OK && (out->total_kb == 0 || out->available_kb > out->total_kb))
        err = LUMIRA_EINVAL;
    return err;
}

enum lumira_err lumira_sysinfo_meminfo_cached(const char *path, int64_t max_age_ms,
                                              struct lumira_meminfo *out)
{
    static struct lumira_meminfo last;
    static int64_t last_ms;
    static bool have;
    int64_t now = lumira_mono_ms();
    enum lumira_err err;

    if (have && max_age_ms > 0 && now - last_ms < max_age_ms) {
        *out = last;
        return LUMIRA_OK;
    }
    err = lumira_sysinfo_meminfo(path, out);
    have = err == LUMIRA_OK;
    if (have) {
        last = *out;
        last_ms = now;
    }
    return err;
}

enum lumira_err lumira_sysinfo_rss_kb(uint64_t *out)
{
    char buf[LUMIRA_MAX_PROC_FILE];
    size_t len;
    enum lumira_err err = read_small_file("/proc/self/status", buf, sizeof(buf), &len);

    if (err == LUMIRA_OK)
        err = find_kb(buf, len, "VmRSS", out);
    return err;
}

void lumira_sysinfo_mark_start(void)
{
    start_mono_ms = lumira_mono_ms();
    start_wall_ms = lumira_wall_ms();
}

double lumira_sysinfo_uptime_s(void)
{
    return (double)lumira_sysinfo_uptime_ms() / 1000.0;
}

int64_t lumira_sysinfo_uptime_ms(void)
{
    return lumira_mono_ms() - start_mono_ms;
}

int64_t lumira_sysinfo_started_ms(void)
{
    return start_wall_ms;
}

void lumira_sysinfo_memuse(const struct lumira_meminfo *mi, struct lumira_memuse *out)
{
    uint64_t used_kb = mi->total_kb - mi->available_kb;

    out->total_mb = mi->total_kb / 1024;
    out->free_mb = mi->available_kb / 1024;
    out->used_mb = used_kb / 1024;
    out->percentage =
        mi->total_kb > 0 ? (unsigned)((used_kb * 100 + mi->total_kb / 2) / mi->total_kb) : 0;
    out->status = out->percentage > 85 ? "critical" : out->percentage > 70 ? "warning" : "ok";
}
