/* Unit tests for SHA-256 digests (src/lib/util/digest.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 example: the 448-bit message */
#define LONG_MSG "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define LONG_SHA "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
/* one million 'a' */
#define MILLION_A_SHA "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_known_vectors(void **state)
{
	char out[OCI_DIGEST_LEN + 1];
	ocibuild_error err = { 0 };

	(void)state;
	memset(out, 'X', sizeof(out));
	assert_int_equal(oci_sha256_buf("", 0, out, &err), 0);
	assert_string_equal(out, EMPTY_SHA);
	assert_int_equal(strlen(out), OCI_DIGEST_LEN);
	/* a NULL pointer with length 0 is the empty message too */
	assert_int_equal(oci_sha256_buf(NULL, 0, out, &err), 0);
	assert_string_equal(out, EMPTY_SHA);
	assert_int_equal(oci_sha256_buf("abc", 3, out, &err), 0);
	assert_string_equal(out, ABC_SHA);
	assert_int_equal(oci_sha256_buf(LONG_MSG, strlen(LONG_MSG), out, &err), 0);
	assert_string_equal(out, LONG_SHA);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
}

static void test_million_a_streamed(void **state)
{
	char out[OCI_DIGEST_LEN + 1];
	char block[1000];
	oci_sha256 h;
	int i;

	(void)state;
	memset(block, 'a', sizeof(block));
	assert_int_equal(oci_sha256_init(&h, NULL), 0);
	for (i = 0; i < 1000; i++)
		oci_sha256_update(&h, block, sizeof(block));
	oci_sha256_final(&h, out);
	oci_sha256_release(&h);
	assert_null(h.md);
	assert_string_equal(out, MILLION_A_SHA);
}

static void fill(unsigned char *p, size_t n)
{
	uint32_t x = 2463534242u;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static void test_streaming_equals_oneshot(void **state)
{
	static const size_t steps[] = { 1, 3, 63, 64, 65, 127, 1000, 4099, 65536 };
	enum { N = 200003 };
	unsigned char *data = malloc(N);
	char one[OCI_DIGEST_LEN + 1], many[OCI_DIGEST_LEN + 1];
	size_t s;

	(void)state;
	assert_non_null(data);
	fill(data, N);
	assert_int_equal(oci_sha256_buf(data, N, one, NULL), 0);
	assert_true(oci_digest_valid(one));
	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		oci_sha256 h;
		size_t off = 0;

		assert_int_equal(oci_sha256_init(&h, NULL), 0);
		while (off < N) {
			size_t n = steps[s] + off % 7;

			if (n > N - off)
				n = N - off;
			oci_sha256_update(&h, data + off, n);
			/* empty updates change nothing */
			oci_sha256_update(&h, data, 0);
			off += n;
		}
		oci_sha256_final(&h, many);
		oci_sha256_release(&h);
		assert_string_equal(one, many);
	}
	/* and a different message gives a different digest */
	data[N / 2] ^= 1;
	assert_int_equal(oci_sha256_buf(data, N, many, NULL), 0);
	assert_string_not_equal(one, many);
	free(data);
}

static void test_abc_in_pieces(void **state)
{
	char out[OCI_DIGEST_LEN + 1];
	oci_sha256 h;

	(void)state;
	assert_int_equal(oci_sha256_init(&h, NULL), 0);
	oci_sha256_update(&h, "a", 1);
	oci_sha256_update(&h, "", 0);
	oci_sha256_update(&h, "bc", 2);
	oci_sha256_final(&h, out);
	oci_sha256_release(&h);
	assert_string_equal(out, ABC_SHA);
}

static void test_valid_accepts(void **state)
{
	(void)state;
	assert_true(oci_digest_valid(EMPTY_SHA));
	assert_true(oci_digest_valid(ABC_SHA));
	assert_true(oci_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_true(oci_digest_valid("sha256:0000000000000000000000000000000000000000000000000000000000000000"));
}

static void test_valid_rejects(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"sha256:",
		"sha256",
		/* upper-case hex */
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85A",
		/* upper-case algorithm */
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		/* 63 and 65 hex digits */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550",
		/* wrong algorithm */
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha384:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8",
		/* non-hex digits */
		"sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85z",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ",
		"sha256: 3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
		/* missing or doubled separator */
		"sha256e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256::3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		" sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (oci_digest_valid(bad[i]))
			fail_msg("accepted bad digest [%zu] '%s'", i, bad[i] ? bad[i] : "(null)");
	}
}

static void test_digest_hex(void **state)
{
	(void)state;
	assert_string_equal(oci_digest_hex(ABC_SHA),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(strlen(oci_digest_hex(ABC_SHA)), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_million_a_streamed),
		cmocka_unit_test(test_streaming_equals_oneshot),
		cmocka_unit_test(test_abc_in_pieces),
		cmocka_unit_test(test_valid_accepts),
		cmocka_unit_test(test_valid_rejects),
		cmocka_unit_test(test_digest_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
