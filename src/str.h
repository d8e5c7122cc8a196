#ifndef LUMIRA_STR_H
#define LUMIRA_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Small string helpers. Every input carries its length; none needs a terminating NUL unless its
 * comment says so. None allocates. */

/* Parses `len` bytes of decimal digits into *out, refusing an empty string, any sign, space or
 * other byte, and any value over `max` (checked on every digit, before it can overflow).
 * *out is written only on LUMIRA_OK. */
enum lumira_err lumira_parse_u64(const char *s, size_t len, uint64_t max,
                                 uint64_t *out) LUMIRA_WARN_UNUSED;

/* Room for any int64_t in decimal, sign and NUL included. */
#define LUMIRA_I64_SIZE 21

/* Writes `v` in decimal into `out`, NUL-terminated, and returns its length (no printf: this is
 * on the path of every request line and every response header). */
size_t lumira_fmt_i64(int64_t v, char out[LUMIRA_I64_SIZE]);

/* Copies the NUL-terminated `src` into `dst` of `size` bytes, always terminating `dst` when
 * size > 0. LUMIRA_ETOOBIG when `src` did not fit (dst then holds a cut copy), like libuv's
 * uv__strscpy. */
enum lumira_err lumira_strscpy(char *dst, const char *src, size_t size);

/* snprintf() into `out` (`size` > 0 bytes) for messages where cutting is fine: the result is
 * always NUL-terminated. Returns true when the text was cut. */
bool lumira_str_fmt(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when `s` (len bytes) starts with the NUL-terminated `prefix`. */
bool lumira_str_has_prefix(const char *s, size_t len, const char *prefix);

/* True when `needle` (NUL-terminated, ASCII) occurs in `s` (len bytes), ignoring ASCII case. */
bool lumira_str_contains_nocase(const char *s, size_t len, const char *needle);

/* The value (0-15) of the hex digit `c` in either case, or -1. */
int lumira_hex_digit(char c);

/* Writes the lowercase hex form of `len` bytes to `out`, which must hold 2 * len + 1 bytes. */
void lumira_hex_encode(const unsigned char *in, size_t len, char *out);

/* Length (1 to 4) of the valid UTF-8 sequence that starts `s` (`len` > 0 bytes), or 0 when the
 * bytes there are not valid UTF-8: a stray continuation byte, a truncated sequence, an overlong
 * form, a surrogate (U+D800..U+DFFF) or a value past U+10FFFF. */
size_t lumira_utf8_seq(const unsigned char *s, size_t len);

/* True when all `len` bytes of `s` are valid UTF-8 (see lumira_utf8_seq()); NUL bytes are. */
bool lumira_utf8_valid(const char *s, size_t len);

/* Fills `out` with `len` bytes from the kernel's CSPRNG (getrandom). LUMIRA_EIO on failure. */
enum lumira_err lumira_random_bytes(void *out, size_t len) LUMIRA_WARN_UNUSED;

/* Appends `len` bytes of `s` to `out` as a regular expression that matches them literally, then
 * a NUL: every ASCII character that is not a letter or digit is escaped, which PCRE (MongoDB)
 * and RE2 (FerretDB) both read as the character itself. LUMIRA_ENOMEM / LUMIRA_ETOOBIG from
 * the buffer. */
enum lumira_err lumira_regex_literal(const char *s, size_t len,
                                     struct lumira_buf *out) LUMIRA_WARN_UNUSED;

#endif
