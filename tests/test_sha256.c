/* Tests of sim/sha256: FIPS 180-2 appendix B vectors and block-boundary lengths checked
 * against the same message hashed in one piece. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sha256.h"

static void test_fips_vectors(void **state)
{
    (void)state;
    char hex[SHA256_HEX_CHARS + 1];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* One million 'a' (FIPS 180-2 B.3), fed in uneven pieces. */
static void test_million_a(void **state)
{
    (void)state;
    static char buf[1000];
    memset(buf, 'a', sizeof buf);
    sha256_ctx c;
    sha256_init(&c);
    size_t left = 1000000, piece = 1;
    while (left > 0) {
        size_t n = piece < left ? piece : left;
        sha256_update(&c, buf, n);
        left -= n;
        piece = piece % 977 + 13; /* stays below sizeof buf */
    }
    uint8_t d[SHA256_DIGEST_BYTES];
    sha256_final(&c, d);
    static const uint8_t want[SHA256_DIGEST_BYTES] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
        0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
        0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, sizeof want);
}

/* Lengths around the 55/56/64-byte padding boundaries: piecewise equals one-shot. */
static void test_boundaries(void **state)
{
    (void)state;
    uint8_t msg[130];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 7 + 1);
    for (size_t len = 50; len <= sizeof msg; len++) {
        char one[SHA256_HEX_CHARS + 1];
        sha256_hex(msg, len, one);
        sha256_ctx c;
        sha256_init(&c);
        for (size_t i = 0; i < len; i++) sha256_update(&c, msg + i, 1);
        uint8_t d[SHA256_DIGEST_BYTES];
        sha256_final(&c, d);
        char two[SHA256_HEX_CHARS + 1];
        for (int i = 0; i < SHA256_DIGEST_BYTES; i++) snprintf(two + 2 * i, 3, "%02x", d[i]);
        assert_string_equal(one, two);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
