/* Unit tests of src/password.c: bcrypt hashing and verification through libxcrypt, hashes made
 * by another implementation, the 72-byte truncation, and which stored hashes are accepted.
 * A cost-10 bcrypt run takes about 50 ms (more under ASan): this file runs about 20 of them
 * and uses cost-04 vectors where the cost does not matter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lumira_limits.h"
#include "password.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fixed vectors made with Debian's python3-bcrypt 3.2.2 (not libxcrypt), e.g.
 * python3 -c "import bcrypt; print(bcrypt.hashpw(b'Lumira 2a vector!', bcrypt.gensalt(10,
 * prefix=b'2a')))". */
static const char pw_2a[] = "Lumira 2a vector!";
static const char hash_2a[] = "$2a$10$7yX71aCACNTOjlcSXnSfkuCKY1ZDcn9JW03NINhroe3YbgL6dHAgq";
static const char pw_2b[] = "Lumira 2y vector?";
static const char hash_2b[] = "$2b$10$TCatf2zBUL3rLLE7MN0XF.EB5IJAeMQfmCshpTZHkugLu66Y3REz2";
/* python-bcrypt cannot write "$2y$" (PHP's prefix; it takes only 2a and 2b), so this is the
 * "$2b$" vector above with its prefix replaced. libxcrypt treats $2y$ exactly as $2b$ (both
 * name the corrected algorithm), so the same password must verify against it. */
static const char hash_2y[] = "$2y$10$TCatf2zBUL3rLLE7MN0XF.EB5IJAeMQfmCshpTZHkugLu66Y3REz2";
/* UTF-8 password, cost 04: bcrypt.hashpw('pässwörd ünïcødé'.encode(), bcrypt.gensalt(4,
 * prefix=b'2a')). */
static const char pw_utf8[] = "p\xc3\xa4ssw\xc3\xb6rd \xc3\xbcn\xc3\xaf"
                              "c\xc3\xb8"
                              "d\xc3\xa9";
static const char hash_utf8[] = "$2a$04$CUpoH2.4exl/6jTaMJQasO3OqwPU4ZERa29kCFjdfxu4VFRaXsTYG";
/* A 97-byte password, cost 04: python-bcrypt (like bcryptjs) reads only its first 72 bytes,
 * b'0123456789' * 7 + b'ab', then ignores "-and-this-tail-is-ignored". */
static const char pw_long[] =
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "ab-and-this-tail-is-ignored";
static const char hash_long[] = "$2b$04$ItaZseSGBm7flwxKi1I1p.wxS7gflgwkmCC5bBeuVvYbHlY9vyQYa";

static const char pw_own[] = "correct horse battery staple";

/* One hash of pw_own made by lumira_password_hash(), shared by the tests (one bcrypt run). */
static char *own_hash;

static int setup_own_hash(void **state)
{
    (void)state;
    /* Exactly LUMIRA_BCRYPT_HASH_LEN + 1 bytes on the heap: ASan sees a write past them. */
    own_hash = malloc(LUMIRA_BCRYPT_HASH_LEN + 1);
    if (own_hash == NULL || lumira_password_hash(pw_own, strlen(pw_own), own_hash,
                                                 LUMIRA_BCRYPT_HASH_LEN + 1) != LUMIRA_OK)
        return -1;
    return 0;
}

static int teardown_own_hash(void **state)
{
    (void)state;
    free(own_hash);
    own_hash = NULL;
    return 0;
}

static bool verify(const char *pw, const char *hash)
{
    return lumira_password_verify(pw, strlen(pw), hash);
}

/* ---- lumira_password_hash ---- */

static void test_password_hash_format(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(strlen(own_hash), LUMIRA_BCRYPT_HASH_LEN);
    assert_memory_equal(own_hash, "$2b$10$", 7);
    for (i = 7; i < LUMIRA_BCRYPT_HASH_LEN; i++)
        assert_non_null(strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                               own_hash[i]));
    assert_true(lumira_password_hash_supported(own_hash));
}

/* Two hashes of one password differ (fresh salt) and both verify. */
static void test_password_hash_salted(void **state)
{
    char again[LUMIRA_BCRYPT_HASH_LEN + 1];

    (void)state;
    assert_int_equal(lumira_password_hash(pw_own, strlen(pw_own), again, sizeof(again)), LUMIRA_OK);
    assert_string_not_equal(again, own_hash);
    /* The 22 salt characters differ, not only the hash. */
    assert_memory_not_equal(again + 7, own_hash + 7, 22);
    assert_true(verify(pw_own, again));
}

static void test_password_hash_refuses_bad_input(void **state)
{
    char out[LUMIRA_BCRYPT_HASH_LEN + 1];
    char big[LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) + 2];

    (void)state;
    memset(out, 0x5a, sizeof(out));
    assert_int_equal(lumira_password_hash("", 0, out, sizeof(out)), LUMIRA_EINVAL);
    assert_int_equal(lumira_password_hash("abc\0def", 7, out, sizeof(out)), LUMIRA_EINVAL);
    assert_int_equal(lumira_password_hash("\0", 1, out, sizeof(out)), LUMIRA_EINVAL);
    /* One byte short of the hash and its NUL. */
    assert_int_equal(lumira_password_hash(pw_own, strlen(pw_own), out, LUMIRA_BCRYPT_HASH_LEN),
                     LUMIRA_ETOOBIG);
    /* Past the longest password the API takes (128 characters of 4 bytes). */
    memset(big, 'p', sizeof(big));
    assert_int_equal(lumira_password_hash(big, sizeof(big) - 1, out, sizeof(out)), LUMIRA_EINVAL);
    assert_int_equal(lumira_password_hash(big, sizeof(big), out, sizeof(out)), LUMIRA_EINVAL);
    /* Nothing was written by any refusal. */
    assert_int_equal((unsigned char)out[0], 0x5a);
    assert_int_equal((unsigned char)out[LUMIRA_BCRYPT_HASH_LEN], 0x5a);
}

/* The longest password the API takes, 128 four-byte characters (512 bytes), hashes and
 * verifies; one byte more is refused by both. */
static void test_password_hash_longest_password(void **state)
{
    char pw[LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) + 1];
    char out[LUMIRA_BCRYPT_HASH_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < LUMIRA_MAX_PASSWORD_CHARS; i++)
        memcpy(pw + 4 * i, "\xf0\x9f\x98\x80", 4); /* U+1F600 */
    assert_int_equal(lumira_password_hash(pw, sizeof(pw) - 1, out, sizeof(out)), LUMIRA_OK);
    assert_int_equal(strlen(out), LUMIRA_BCRYPT_HASH_LEN);
    assert_true(lumira_password_verify(pw, sizeof(pw) - 1, out));
    pw[sizeof(pw) - 1] = 'x';
    assert_false(lumira_password_verify(pw, sizeof(pw), out));
}

/* ---- lumira_password_verify ---- */

static void test_password_verify_own_hash(void **state)
{
    (void)state;
    assert_true(verify(pw_own, own_hash));
    assert_false(verify("correct horse battery stapl", own_hash));   /* one byte short */
    assert_false(verify("correct horse battery staples", own_hash)); /* one byte more */
    assert_false(verify("Correct horse battery staple", own_hash));
    assert_false(verify("wrong", own_hash));
}

static void test_password_verify_empty_or_nul_password(void **state)
{
    (void)state;
    assert_false(lumira_password_verify("", 0, own_hash));
    /* The password followed by a NUL and more: refused, not cut at the NUL. */
    assert_false(lumira_password_verify("correct horse battery staple\0x", 30, own_hash));
}

/* Only `len` bytes of the password are used: no NUL needed after them. */
static void test_password_verify_counted_length(void **state)
{
    static const char more[] = "correct horse battery staple and more";

    (void)state;
    assert_true(lumira_password_verify(more, strlen(pw_own), own_hash));
}

/* A "$2a$" hash made by python-bcrypt. */
static void test_password_verify_2a_other_implementation(void **state)
{
    (void)state;
    assert_true(lumira_password_hash_supported(hash_2a));
    assert_true(verify(pw_2a, hash_2a));
    assert_false(verify(pw_2b, hash_2a));
}

/* "$2b$" made by python-bcrypt, and its "$2y$" spelling. */
static void test_password_verify_2b_and_2y_other_implementation(void **state)
{
    (void)state;
    assert_true(verify(pw_2b, hash_2b));
    assert_true(lumira_password_hash_supported(hash_2y));
    assert_true(verify(pw_2b, hash_2y));
    assert_false(verify(pw_2a, hash_2y));
}

/* Non-ASCII password bytes are hashed as they are (cost 04 vector from python-bcrypt). */
static void test_password_verify_utf8_password(void **state)
{
    (void)state;
    assert_true(verify(pw_utf8, hash_utf8));
    assert_false(verify("passwords unicode", hash_utf8));
    /* NFC vs NFD: "a" + U+0308 is another byte string. */
    assert_false(verify("pa\xcc\x88ssw\xc3\xb6rd \xc3\xbcn\xc3\xaf"
                        "c\xc3\xb8"
                        "d\xc3\xa9",
                        hash_utf8));
}

/* bcrypt reads 72 bytes: a longer password verifies against a hash made (by python-bcrypt, which
 * truncates as bcryptjs does) from any password with the same first 72 bytes. */
static void test_password_verify_longer_than_72_bytes(void **state)
{
    char other[128];

    (void)state;
    assert_true(verify(pw_long, hash_long));
    assert_true(lumira_password_verify(pw_long, 72, hash_long));
    memcpy(other, pw_long, 72);
    memcpy(other + 72, " another tail", 14);
    assert_true(verify(other, hash_long));
    /* A difference within the first 72 bytes counts. */
    other[71] = 'X';
    assert_false(verify(other, hash_long));
    assert_false(lumira_password_verify(pw_long, 71, hash_long));
}

/* The same through our own hash: a 100-byte password hashed here. */
static void test_password_hash_longer_than_72_bytes(void **state)
{
    char pw[100], out[LUMIRA_BCRYPT_HASH_LEN + 1];

    (void)state;
    memset(pw, 'L', sizeof(pw));
    pw[0] = 'a';
    assert_int_equal(lumira_password_hash(pw, sizeof(pw), out, sizeof(out)), LUMIRA_OK);
    pw[80] = 'Z'; /* past byte 72: ignored */
    assert_true(lumira_password_verify(pw, sizeof(pw), out));
    pw[71] = 'Z'; /* within: counts */
    assert_false(lumira_password_verify(pw, sizeof(pw), out));
}

/* A hash we do not support is never a match, even with the right password, and still costs a
 * bcrypt run of the default cost (so it answers no faster than a wrong password). */
static void test_password_verify_unsupported_hash_false(void **state)
{
    char hash[LUMIRA_BCRYPT_HASH_LEN + 1];
    long long t0;

    (void)state;
    /* "$2x$" is the buggy pre-2011 variant; libxcrypt would verify this ASCII password. */
    memcpy(hash, hash_2a, sizeof(hash));
    hash[2] = 'x';
    t0 = tu_now_ms();
    assert_false(verify(pw_2a, hash));
    /* A cost-10 run; a refusal without one takes microseconds. */
    assert_true(tu_now_ms() - t0 >= 5);
    assert_false(verify(pw_2a, "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"));
    assert_false(verify(pw_2a, NULL));
}

/* ---- lumira_password_hash_supported ---- */

static void test_password_hash_supported_prefixes(void **state)
{
    static const struct {
        const char *prefix;
        bool want;
    } cases[] = {
        {"$2a$", true},  {"$2b$", true},  {"$2y$", true},  {"$2x$", false}, {"$2c$", false},
        {"$2A$", false}, {"$2B$", false}, {"$3b$", false}, {"%2b$", false}, {"$2b%", false},
        {"$1$$", false}, {"$6$$", false}, {"$y$$", false},
    };
    char hash[LUMIRA_BCRYPT_HASH_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memcpy(hash, hash_2a, sizeof(hash));
        memcpy(hash, cases[i].prefix, 4);
        if (lumira_password_hash_supported(hash) != cases[i].want)
            fail_msg("prefix %s", cases[i].prefix);
    }
}

static void test_password_hash_supported_cost_edges(void **state)
{
    static const struct {
        const char *cost;
        bool want;
    } cases[] = {
        {"00", false}, {"03", false}, {"04", true},  {"10", true},  {"15", true},
        {"16", false}, {"31", false}, {"99", false}, {"4$", false}, {"1a", false},
        {"+9", false}, {" 9", false}, {"0x", false},
    };
    char hash[LUMIRA_BCRYPT_HASH_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memcpy(hash, hash_2a, sizeof(hash));
        memcpy(hash + 4, cases[i].cost, 2);
        if (lumira_password_hash_supported(hash) != cases[i].want)
            fail_msg("cost %s", cases[i].cost);
    }
}

static void test_password_hash_supported_length(void **state)
{
    char hash[LUMIRA_BCRYPT_HASH_LEN + 2];

    (void)state;
    memcpy(hash, hash_2a, LUMIRA_BCRYPT_HASH_LEN + 1);
    assert_true(lumira_password_hash_supported(hash));
    hash[LUMIRA_BCRYPT_HASH_LEN - 1] = '\0'; /* 59 */
    assert_false(lumira_password_hash_supported(hash));
    memcpy(hash, hash_2a, LUMIRA_BCRYPT_HASH_LEN);
    hash[LUMIRA_BCRYPT_HASH_LEN] = 'a'; /* 61 */
    hash[LUMIRA_BCRYPT_HASH_LEN + 1] = '\0';
    assert_false(lumira_password_hash_supported(hash));
    assert_false(lumira_password_hash_supported(""));
    assert_false(lumira_password_hash_supported("$2b$10$"));
    assert_false(lumira_password_hash_supported(NULL));
}

static void test_password_hash_supported_alphabet(void **state)
{
    static const char bad[] = {'+', '-', '_', '$', '=', ' ', '!', '\n', '\x80', '\xff'};
    static const size_t where[] = {7, 28, 29, 30, 59};
    char hash[LUMIRA_BCRYPT_HASH_LEN + 1];
    size_t i, j;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        for (j = 0; j < ARRAY_LEN(where); j++) {
            memcpy(hash, hash_2a, sizeof(hash));
            hash[where[j]] = bad[i];
            if (lumira_password_hash_supported(hash))
                fail_msg("byte 0x%02x at %zu accepted", (unsigned char)bad[i], where[j]);
        }
    }
    /* Every character of bcrypt's alphabet is fine anywhere. */
    memcpy(hash, hash_2a, sizeof(hash));
    hash[7] = '.';
    hash[30] = '/';
    hash[59] = '9';
    assert_true(lumira_password_hash_supported(hash));
}

/* Other crypt(3) schemes and malformed separators. */
static void test_password_hash_supported_other_schemes(void **state)
{
    static const char *const others[] = {
        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
        "$5$saltsalt$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF5k8xfbM",
        "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc."
        "8eFaV3NWVGQI7aRD8ms0",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
        /* Right length and alphabet, but separators missing or moved. */
        "$2a10$7yX71aCACNTOjlcSXnSfkuCKY1ZDcn9JW03NINhroe3YbgL6dHAgqq",
        "$2a$10X7yX71aCACNTOjlcSXnSfkuCKY1ZDcn9JW03NINhroe3YbgL6dHAgq",
        "2a$10$7yX71aCACNTOjlcSXnSfkuCKY1ZDcn9JW03NINhroe3YbgL6dHAgqq",
        "$2a$1$07yX71aCACNTOjlcSXnSfkuCKY1ZDcn9JW03NINhroe3YbgL6dHAgq",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(others); i++) {
        if (lumira_password_hash_supported(others[i]))
            fail_msg("accepted %s", others[i]);
    }
}

/* ---- lumira_password_burn ---- */

/* Takes the time of a cost-10 verification (a few ms at the very least), for any password. */
static void test_password_burn_runs(void **state)
{
    char big[1000];
    long long t0;

    (void)state;
    t0 = tu_now_ms();
    lumira_password_burn(pw_own, strlen(pw_own));
    assert_true(tu_now_ms() - t0 >= 5);
    memset(big, 'b', sizeof(big));
    lumira_password_burn(big, sizeof(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_format),
        cmocka_unit_test(test_password_hash_salted),
        cmocka_unit_test(test_password_hash_refuses_bad_input),
        cmocka_unit_test(test_password_hash_longest_password),
        cmocka_unit_test(test_password_verify_own_hash),
        cmocka_unit_test(test_password_verify_empty_or_nul_password),
        cmocka_unit_test(test_password_verify_counted_length),
        cmocka_unit_test(test_password_verify_2a_other_implementation),
        cmocka_unit_test(test_password_verify_2b_and_2y_other_implementation),
        cmocka_unit_test(test_password_verify_utf8_password),
        cmocka_unit_test(test_password_verify_longer_than_72_bytes),
        cmocka_unit_test(test_password_hash_longer_than_72_bytes),
        cmocka_unit_test(test_password_verify_unsupported_hash_false),
        cmocka_unit_test(test_password_hash_supported_prefixes),
        cmocka_unit_test(test_password_hash_supported_cost_edges),
        cmocka_unit_test(test_password_hash_supported_length),
        cmocka_unit_test(test_password_hash_supported_alphabet),
        cmocka_unit_test(test_password_hash_supported_other_schemes),
        cmocka_unit_test(test_password_burn_runs),
    };

    return cmocka_run_group_tests_name("password", tests, setup_own_hash, teardown_own_hash);
}
