#include <stdlib.h>
#include <string.h>

#include <crypt.h>

#include "crypto.h"
#include "lumira_limits.h"
#include "password.h"

/* A cost-10 hash of a phrase no one types; see lumira_password_burn(). */
static const char dummy_hash[] = "$2b$10$zvpR0sy1DxTMHgmlXLEDM.GCSAl24AyDPPTpsDPzrzKj8Y3aBwA..";

/* bcrypt's base64 alphabet. */
static bool bcrypt_b64(char c)
{
    return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

bool lumira_password_hash_supported(const char *hash)
{
    int cost;
    size_t i;

    if (hash == NULL || strlen(hash) != LUMIRA_BCRYPT_HASH_LEN)
        return false;
    if (hash[0] != '$' || hash[1] != '2' || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') ||
        hash[3] != '$' || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' ||
        hash[6] != '$')
        return false;
    cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    if (cost < 4 || cost > LUMIRA_BCRYPT_MAX_COST)
        return false;
    for (i = 7; i < LUMIRA_BCRYPT_HASH_LEN; i++)
        if (!bcrypt_b64(hash[i]))
            return false;
    return true;
}

/* bcrypt reads at most this many bytes of a password; the rest never changes the hash. */
#define BCRYPT_KEY_MAX 72

/* crypt_rn() of `pw` (`len` bytes) with `setting` into data->output. Only the first
 * BCRYPT_KEY_MAX bytes are copied (NUL-terminated) and handed over: bcrypt reads no more, so the
 * hash is the same, and libxcrypt refuses a phrase of CRYPT_MAX_PASSPHRASE_SIZE (512) bytes or
 * more, which a password of LUMIRA_MAX_PASSWORD_CHARS 4-byte characters is. Returns false for a
 * password over LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) bytes or holding NUL, and when
 * libxcrypt refuses. struct crypt_data is about 32 KiB: it lives on the heap. */
static bool run_crypt(const char *pw, size_t len, const char *setting, struct crypt_data *data)
{
    char phrase[BCRYPT_KEY_MAX + 1];
    size_t n = len < BCRYPT_KEY_MAX ? len : BCRYPT_KEY_MAX;
    const char *res;

    if (len > LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) || memchr(pw, '\0', len) != NULL)
        return false;
    memcpy(phrase, pw, n);
    phrase[n] = '\0';
    res = crypt_rn(phrase, setting, data, (int)sizeof(*data));
    explicit_bzero(phrase, sizeof(phrase));
    /* On failure libxcrypt returns NULL or a string starting with '*'. */
    return res != NULL && res[0] != '*';
}

enum lumira_err lumira_password_hash(const char *pw, size_t len, char *out, size_t size)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *data;
    enum lumira_err err = LUMIRA_OK;

    if (len == 0 || memchr(pw, '\0', len) != NULL)
        return LUMIRA_EINVAL;
    if (size < LUMIRA_BCRYPT_HASH_LEN + 1)
        return LUMIRA_ETOOBIG;
    /* NULL random bytes: libxcrypt draws the salt from the kernel's CSPRNG. */
    if (crypt_gensalt_rn("$2b$", LUMIRA_BCRYPT_COST, NULL, 0, salt, (int)sizeof(salt)) == NULL)
        return LUMIRA_EINTERNAL;
    data = calloc(1, sizeof(*data));
    if (data == NULL)
        return LUMIRA_ENOMEM;
    if (!run_crypt(pw, len, salt, data) || strlen(data->output) != LUMIRA_BCRYPT_HASH_LEN) {
        err = len > LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) ? LUMIRA_EINVAL : LUMIRA_EINTERNAL;
        goto out;
    }
    memcpy(out, data->output, LUMIRA_BCRYPT_HASH_LEN + 1);
out:
    explicit_bzero(data, sizeof(*data));
    free(data);
    return err;
}

bool lumira_password_verify(const char *pw, size_t len, const char *hash)
{
    struct crypt_data *data;
    bool supported = lumira_password_hash_supported(hash), match = false;

    data = calloc(1, sizeof(*data));
    if (data == NULL)
        return false;
    if (run_crypt(pw, len, supported ? hash : dummy_hash, data) && supported)
        match = lumira_ct_equal(data->output, hash, LUMIRA_BCRYPT_HASH_LEN + 1);
    explicit_bzero(data, sizeof(*data));
    free(data);
    return match;
}

void lumira_password_burn(const char *pw, size_t len)
{
    (void)lumira_password_verify(pw, len, dummy_hash);
}
