/* SHA-256 (FIPS 180-4) for config hashes: a run is identified by the hash of its full
 * effective config text. */
#ifndef PESIM_SHA256_H
#define PESIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_CHARS    (2 * SHA256_DIGEST_BYTES)

typedef struct sha256_ctx {
    uint32_t state[8];
    uint64_t bytes;    /* message length so far */
    uint8_t block[64]; /* pending partial block */
    size_t fill;       /* bytes in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t digest[SHA256_DIGEST_BYTES]);
/* Hash len bytes into 64 lower-case hex digits plus a terminating NUL. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_CHARS + 1]);

#endif
