/* Unit tests of src/crypto.c: HMAC-SHA256 against RFC 4231, constant-time comparison, and the
 * strict base64url / base64 / hex decoders (round trips, every refusal, output size edges). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "str.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* HMAC-SHA256 of the given key and data as lowercase hex (static storage). */
static const char *hmac_hex(const void *key, size_t keylen, const void *data, size_t len)
{
    static char hex[2 * LUMIRA_SHA256_LEN + 1];
    unsigned char mac[LUMIRA_SHA256_LEN];

    assert_int_equal(lumira_hmac_sha256(key, keylen, data, len, mac), LUMIRA_OK);
    lumira_hex_encode(mac, sizeof(mac), hex);
    return hex;
}

/* Decodes NUL-terminated base64url text into a heap buffer of exactly `size` bytes, so that
 * ASan sees any write past it. Returns the result; *outlen gets the length on LUMIRA_OK. */
static enum lumira_err b64url_into(const char *text, size_t size, unsigned char *copy,
                                   size_t *outlen)
{
    unsigned char *out = malloc(size > 0 ? size : 1);
    enum lumira_err err;

    assert_non_null(out);
    *outlen = SIZE_MAX;
    err = lumira_b64url_decode(text, strlen(text), out, size, outlen);
    if (err == LUMIRA_OK && copy != NULL)
        memcpy(copy, out, *outlen);
    free(out);
    return err;
}

/* Same for standard base64. */
static enum lumira_err b64_into(const char *text, size_t size, unsigned char *copy, size_t *outlen)
{
    unsigned char *out = malloc(size > 0 ? size : 1);
    enum lumira_err err;

    assert_non_null(out);
    *outlen = SIZE_MAX;
    err = lumira_b64_decode(text, strlen(text), out, size, outlen);
    if (err == LUMIRA_OK && copy != NULL)
        memcpy(copy, out, *outlen);
    free(out);
    return err;
}

/* ---- lumira_hmac_sha256 ---- */

/* RFC 4231 4.2, test case 1: a 20-byte key of 0x0b. */
static void test_hmac_sha256_rfc4231_case1(void **state)
{
    unsigned char key[20];

    (void)state;
    memset(key, 0x0b, sizeof(key));
    assert_string_equal(hmac_hex(key, sizeof(key), "Hi There", 8),
                        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

/* RFC 4231 4.3, test case 2: a key shorter than the output. */
static void test_hmac_sha256_rfc4231_case2(void **state)
{
    static const char data[] = "what do ya want for nothing?";

    (void)state;
    assert_string_equal(hmac_hex("Jefe", 4, data, sizeof(data) - 1),
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231 4.7 and 4.8, test cases 6 and 7: a 131-byte key, longer than SHA-256's 64-byte block,
 * is hashed first. */
static void test_hmac_sha256_rfc4231_key_longer_than_block(void **state)
{
    static const char data6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char data7[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    unsigned char key[131];

    (void)state;
    memset(key, 0xaa, sizeof(key));
    assert_string_equal(hmac_hex(key, sizeof(key), data6, sizeof(data6) - 1),
                        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    assert_string_equal(hmac_hex(key, sizeof(key), data7, sizeof(data7) - 1),
                        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* Empty key and data, and a key of exactly one block (used as is, not hashed); expected values
 * from Python's hmac module. */
static void test_hmac_sha256_empty_and_block_size_key(void **state)
{
    unsigned char key[64];

    (void)state;
    assert_string_equal(hmac_hex("", 0, "", 0),
                        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    memset(key, 'k', sizeof(key));
    assert_string_equal(hmac_hex(key, sizeof(key), "block-size key", 14),
                        "3639ed45f96410ae1abf821aaf15a4e616209464f7e06fb79435d35e485bd3c2");
}

/* lumira_hmac_sha256_cat() of the data split at every point equals the one-shot MAC: RFC 4231
 * case 2 and the 131-byte key of case 7, and empty key, parts and NULL for empty parts. */
static void test_hmac_sha256_cat_every_split(void **state)
{
    static const char data2[] = "what do ya want for nothing?";
    static const char data7[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    unsigned char key7[131], mac[LUMIRA_SHA256_LEN];
    char hex[2 * LUMIRA_SHA256_LEN + 1];
    size_t i;

    (void)state;
    memset(key7, 0xaa, sizeof(key7));
    for (i = 0; i <= sizeof(data2) - 1; i++) {
        assert_int_equal(lumira_hmac_sha256_cat("Jefe", 4, data2, i, data2 + i,
                                                sizeof(data2) - 1 - i, mac),
                         LUMIRA_OK);
        lumira_hex_encode(mac, sizeof(mac), hex);
        assert_string_equal(hex,
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    for (i = 0; i <= sizeof(data7) - 1; i += 7) {
        assert_int_equal(lumira_hmac_sha256_cat(key7, sizeof(key7), data7, i, data7 + i,
                                                sizeof(data7) - 1 - i, mac),
                         LUMIRA_OK);
        lumira_hex_encode(mac, sizeof(mac), hex);
        assert_string_equal(hex,
                            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
    assert_int_equal(lumira_hmac_sha256_cat("", 0, NULL, 0, NULL, 0, mac), LUMIRA_OK);
    lumira_hex_encode(mac, sizeof(mac), hex);
    assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    assert_int_equal(lumira_hmac_sha256_cat(NULL, 0, "", 0, NULL, 0, mac), LUMIRA_OK);
    lumira_hex_encode(mac, sizeof(mac), hex);
    assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* ---- lumira_ct_equal ---- */

static void test_ct_equal_cases(void **state)
{
    unsigned char a[32], b[32];

    (void)state;
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(lumira_ct_equal(a, b, sizeof(a)));
    assert_true(lumira_ct_equal(a, b, 0));
    b[0] ^= 1; /* first byte */
    assert_false(lumira_ct_equal(a, b, sizeof(a)));
    assert_true(lumira_ct_equal(a + 1, b + 1, sizeof(a) - 1));
    b[0] ^= 1;
    b[31] ^= 0x80; /* last byte, high bit */
    assert_false(lumira_ct_equal(a, b, sizeof(a)));
    assert_true(lumira_ct_equal(a, b, sizeof(a) - 1));
}

/* ---- lumira_b64url_encode / encoded_len ---- */

static void test_b64url_encoded_len_table(void **state)
{
    static const size_t want[] = {0, 2, 3, 4, 6, 7, 8, 10, 11, 12};
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(want); i++)
        assert_int_equal(lumira_b64url_encoded_len(i), want[i]);
    assert_int_equal(lumira_b64url_encoded_len(32), 43); /* an HMAC-SHA256 signature */
}

/* RFC 4648 section 10 vectors, without padding, and the two characters that differ from base64. */
static void test_b64url_encode_known(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    static const unsigned char urlish[] = {0xfb, 0xff, 0xbf};
    char out[16];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memset(out, '#', sizeof(out));
        lumira_b64url_encode((const unsigned char *)cases[i].in, strlen(cases[i].in), out);
        assert_string_equal(out, cases[i].out);
    }
    lumira_b64url_encode(urlish, 3, out);
    assert_string_equal(out, "-_-_");
    lumira_b64url_encode(urlish, 2, out);
    assert_string_equal(out, "-_8");
}

/* Every length from 0 to 70 (all three tails, several full groups) encodes to exactly
 * encoded_len characters of the alphabet and decodes back, into a buffer of exactly that size. */
static void test_b64url_round_trip_lengths_0_to_70(void **state)
{
    unsigned char in[70], back[70];
    char enc[100];
    size_t len, i, outlen;

    (void)state;
    for (len = 0; len <= sizeof(in); len++) {
        for (i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 37 + len * 11 + 0xf0); /* every byte value turns up */
        memset(enc, '#', sizeof(enc));
        lumira_b64url_encode(in, len, enc);
        assert_int_equal(strlen(enc), lumira_b64url_encoded_len(len));
        assert_int_equal(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                         strlen(enc));
        assert_int_equal(b64url_into(enc, len, back, &outlen), LUMIRA_OK);
        assert_int_equal(outlen, len);
        assert_memory_equal(back, in, len);
    }
}

/* ---- lumira_b64url_decode: strictness ---- */

static void test_b64url_decode_refuses_padding(void **state)
{
    static const char *const bad[] = {"Zg==", "Zm8=", "Zg=", "Zm9v=", "Zm9vYg==", "=", "===="};
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(b64url_into(bad[i], 16, NULL, &outlen), LUMIRA_EINVAL);
    /* The same texts without their padding are fine. */
    assert_int_equal(b64url_into("Zg", 16, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 1);
    assert_int_equal(b64url_into("Zm8", 16, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 2);
}

static void test_b64url_decode_refuses_standard_alphabet(void **state)
{
    unsigned char out[4];
    size_t outlen;

    (void)state;
    assert_int_equal(b64url_into("-_-_", 3, out, &outlen), LUMIRA_OK);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xbf);
    assert_int_equal(b64url_into("+/+/", 3, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(b64url_into("-_+_", 3, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(b64url_into("Zm/v", 3, NULL, &outlen), LUMIRA_EINVAL);
}

static void test_b64url_decode_refuses_whitespace(void **state)
{
    static const char *const bad[] = {"Zm9v Yg",  " Zm9v",    "Zm9v ",     "Zm9v\n",
                                      "Zm\r\n9v", "Zm9v\tYg", "Zm9vYmFy\n"};
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(b64url_into(bad[i], 16, NULL, &outlen), LUMIRA_EINVAL);
}

/* Bytes outside the alphabet: punctuation, NUL inside the counted length, high bytes. */
static void test_b64url_decode_refuses_other_bytes(void **state)
{
    static const char *const bad[] = {"Zm9.", "Zm9!", "Zm*v", "Zm9v\xc3\xa9", "\xff\xfe\xfd\xfc"};
    unsigned char out[8];
    size_t i, outlen = 0;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(b64url_into(bad[i], sizeof(out), NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(lumira_b64url_decode("Zm\0v", 4, out, sizeof(out), &outlen), LUMIRA_EINVAL);
    /* The length is what counts, not a NUL: only the 2 bytes given are read. */
    assert_int_equal(lumira_b64url_decode("Zg\0\0", 2, out, sizeof(out), &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 1);
    assert_int_equal(out[0], 'f');
}

/* A length of 1 mod 4 cannot come from any byte string. */
static void test_b64url_decode_refuses_length_1_mod_4(void **state)
{
    static const char *const bad[] = {"Z", "A", "Zm9vY", "Zm9vYmFyA", "AAAAAAAAAAAAA"};
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(b64url_into(bad[i], 64, NULL, &outlen), LUMIRA_EINVAL);
}

/* The bits past the last whole byte must be zero, so every value has exactly one text. */
static void test_b64url_decode_refuses_nonzero_trailing_bits(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char text[4];
    size_t i, outlen, ok2 = 0, ok3 = 0;

    (void)state;
    assert_int_equal(b64url_into("Zh", 4, NULL, &outlen), LUMIRA_EINVAL);  /* "f" + 0001 */
    assert_int_equal(b64url_into("Zm9", 4, NULL, &outlen), LUMIRA_EINVAL); /* "fo" + 01 */
    assert_int_equal(b64url_into("Zm9vYh", 8, NULL, &outlen), LUMIRA_EINVAL);
    /* Of the 64 last characters after "Z", only the 4 with the low 4 bits clear decode; after
     * "Zm", only the 16 with the low 2 bits clear. */
    for (i = 0; i < 64; i++) {
        text[0] = 'Z';
        text[1] = alphabet[i];
        text[2] = '\0';
        if (b64url_into(text, 4, NULL, &outlen) == LUMIRA_OK) {
            assert_int_equal(i & 15, 0);
            ok2++;
        }
        text[1] = 'm';
        text[2] = alphabet[i];
        text[3] = '\0';
        if (b64url_into(text, 4, NULL, &outlen) == LUMIRA_OK) {
            assert_int_equal(i & 3, 0);
            ok3++;
        }
    }
    assert_int_equal(ok2, 4);
    assert_int_equal(ok3, 16);
}

/* Output size at size - 1 (ETOOBIG, nothing written), exact fit and one more, for each tail. */
static void test_b64url_decode_size_edges(void **state)
{
    static const struct {
        const char *text;
        size_t need;
    } cases[] = {{"", 0}, {"Zg", 1}, {"Zm8", 2}, {"Zm9v", 3}, {"Zm9vYg", 4}, {"Zm9vYmFy", 6}};
    unsigned char guard[8];
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        if (cases[i].need > 0) {
            assert_int_equal(b64url_into(cases[i].text, cases[i].need - 1, NULL, &outlen),
                             LUMIRA_ETOOBIG);
            /* Refused before writing: a too-small window of a larger buffer stays untouched. */
            memset(guard, 0xee, sizeof(guard));
            assert_int_equal(lumira_b64url_decode(cases[i].text, strlen(cases[i].text), guard,
                                                  cases[i].need - 1, &outlen),
                             LUMIRA_ETOOBIG);
            assert_int_equal(guard[cases[i].need - 1], 0xee);
            assert_int_equal(guard[0], 0xee);
        }
        assert_int_equal(b64url_into(cases[i].text, cases[i].need, NULL, &outlen), LUMIRA_OK);
        assert_int_equal(outlen, cases[i].need);
        assert_int_equal(b64url_into(cases[i].text, cases[i].need + 1, NULL, &outlen), LUMIRA_OK);
        assert_int_equal(outlen, cases[i].need);
    }
}

/* ---- lumira_b64_decode ---- */

static void test_b64_decode_padding_required(void **state)
{
    static const struct {
        const char *text, *want;
    } good[] = {
        {"", ""},
        {"Zg==", "f"},
        {"Zm8=", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYg==", "foob"},
        {"Zm9vYmE=", "fooba"},
        {"Zm9vYmFy", "foobar"},
    };
    /* Missing, short, excess or misplaced padding, and padding in a full group. */
    static const char *const bad[] = {
        "Zg",       "Zm8",  "Zg=",   "Zg===", "Z===",    "====",    "Zm9v====",
        "Zg==Zg==", "Z=g=", "Zm9v=", "=Zg=",  "Zm9vYg=", "Zm9vYmE", "Zm9vYg==="};
    unsigned char out[16];
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(good); i++) {
        assert_int_equal(b64_into(good[i].text, strlen(good[i].want), out, &outlen), LUMIRA_OK);
        assert_int_equal(outlen, strlen(good[i].want));
        assert_memory_equal(out, good[i].want, outlen);
    }
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (b64_into(bad[i], sizeof(out), NULL, &outlen) != LUMIRA_EINVAL)
            fail_msg("\"%s\" was not refused", bad[i]);
    }
}

static void test_b64_decode_alphabet_and_trailing_bits(void **state)
{
    unsigned char out[4];
    size_t outlen;

    (void)state;
    assert_int_equal(b64_into("+/+/", 3, out, &outlen), LUMIRA_OK);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xbf);
    assert_int_equal(b64_into("+/8=", 2, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(b64_into("-_-_", 3, NULL, &outlen), LUMIRA_EINVAL); /* base64url chars */
    assert_int_equal(b64_into("Zh==", 3, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(b64_into("Zm9=", 3, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(b64_into("Zg==\n", 3, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(b64_into("Zm9v Zm9v", 8, NULL, &outlen), LUMIRA_EINVAL);
}

static void test_b64_decode_size_edges(void **state)
{
    size_t outlen;

    (void)state;
    assert_int_equal(b64_into("Zm9vYmFy", 5, NULL, &outlen), LUMIRA_ETOOBIG);
    assert_int_equal(b64_into("Zm9vYmFy", 6, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 6);
    assert_int_equal(b64_into("Zm9vYg==", 3, NULL, &outlen), LUMIRA_ETOOBIG);
    assert_int_equal(b64_into("Zm9vYg==", 4, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 4);
    assert_int_equal(b64_into("", 0, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 0);
}

/* ---- lumira_hex_decode ---- */

static enum lumira_err hex_into(const char *text, size_t size, unsigned char *copy, size_t *outlen)
{
    unsigned char *out = malloc(size > 0 ? size : 1);
    enum lumira_err err;

    assert_non_null(out);
    *outlen = SIZE_MAX;
    err = lumira_hex_decode(text, strlen(text), out, size, outlen);
    if (err == LUMIRA_OK && copy != NULL)
        memcpy(copy, out, *outlen);
    free(out);
    return err;
}

static void test_hex_decode_both_cases(void **state)
{
    static const unsigned char want[] = {0x00, 0xff, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0x19};
    unsigned char out[8];
    size_t outlen;

    (void)state;
    assert_int_equal(hex_into("00ff7f80abcdef19", 8, out, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 8);
    assert_memory_equal(out, want, 8);
    assert_int_equal(hex_into("00FF7F80ABCDEF19", 8, out, &outlen), LUMIRA_OK);
    assert_memory_equal(out, want, 8);
    assert_int_equal(hex_into("00Ff7F80aBcDeF19", 8, out, &outlen), LUMIRA_OK);
    assert_memory_equal(out, want, 8);
    assert_int_equal(hex_into("", 0, out, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 0);
}

static void test_hex_decode_odd_length(void **state)
{
    size_t outlen;

    (void)state;
    assert_int_equal(hex_into("a", 4, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(hex_into("abc", 4, NULL, &outlen), LUMIRA_EINVAL);
    assert_int_equal(hex_into("00112", 4, NULL, &outlen), LUMIRA_EINVAL);
}

static void test_hex_decode_bad_chars(void **state)
{
    static const char *const bad[] = {"0g", "g0", "zz", " 0", "0 ", "0x12",    "12-4",
                                      "@0", "`0", "/0", ":0", "G0", "\xc3\xa9"};
    unsigned char out[4];
    size_t i, outlen;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        if (hex_into(bad[i], sizeof(out), NULL, &outlen) != LUMIRA_EINVAL)
            fail_msg("\"%s\" was not refused", bad[i]);
    }
    assert_int_equal(lumira_hex_decode("0\0", 2, out, sizeof(out), &outlen), LUMIRA_EINVAL);
}

static void test_hex_decode_size_edges(void **state)
{
    unsigned char out[3];
    size_t outlen;

    (void)state;
    assert_int_equal(hex_into("a1b2c3", 2, NULL, &outlen), LUMIRA_ETOOBIG);
    assert_int_equal(hex_into("a1b2c3", 3, out, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 3);
    assert_int_equal(out[2], 0xc3);
    assert_int_equal(hex_into("a1b2c3", 4, NULL, &outlen), LUMIRA_OK);
    assert_int_equal(outlen, 3);
    assert_int_equal(hex_into("a1", 0, NULL, &outlen), LUMIRA_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_sha256_rfc4231_case1),
        cmocka_unit_test(test_hmac_sha256_rfc4231_case2),
        cmocka_unit_test(test_hmac_sha256_rfc4231_key_longer_than_block),
        cmocka_unit_test(test_hmac_sha256_empty_and_block_size_key),
        cmocka_unit_test(test_hmac_sha256_cat_every_split),
        cmocka_unit_test(test_ct_equal_cases),
        cmocka_unit_test(test_b64url_encoded_len_table),
        cmocka_unit_test(test_b64url_encode_known),
        cmocka_unit_test(test_b64url_round_trip_lengths_0_to_70),
        cmocka_unit_test(test_b64url_decode_refuses_padding),
        cmocka_unit_test(test_b64url_decode_refuses_standard_alphabet),
        cmocka_unit_test(test_b64url_decode_refuses_whitespace),
        cmocka_unit_test(test_b64url_decode_refuses_other_bytes),
        cmocka_unit_test(test_b64url_decode_refuses_length_1_mod_4),
        cmocka_unit_test(test_b64url_decode_refuses_nonzero_trailing_bits),
        cmocka_unit_test(test_b64url_decode_size_edges),
        cmocka_unit_test(test_b64_decode_padding_required),
        cmocka_unit_test(test_b64_decode_alphabet_and_trailing_bits),
        cmocka_unit_test(test_b64_decode_size_edges),
        cmocka_unit_test(test_hex_decode_both_cases),
        cmocka_unit_test(test_hex_decode_odd_length),
        cmocka_unit_test(test_hex_decode_bad_chars),
        cmocka_unit_test(test_hex_decode_size_edges),
    };

    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
