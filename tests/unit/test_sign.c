/* Unit tests for image signatures (src/lib/sign.c) and base64 (digest.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "digest.h"
#include "sign.h"

static char dir[] = "/tmp/ocibuild-test-sign-XXXXXX";

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static const char *pw_env(const char *name)
{
	return strcmp(name, "COSIGN_PASSWORD") ? NULL : "unit-pass";
}

/* Write a fresh key of the given algorithm/curve as PEM to dir/name. */
static char *write_key(const char *name, const char *alg, const char *curve, int encrypt)
{
	static char path[256];
	EVP_PKEY *pkey = NULL;
	FILE *f;

	if (curve)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, alg, curve);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, alg, (size_t)2048);
	assert_non_null(pkey);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	if (encrypt)
		assert_int_equal(PEM_write_PKCS8PrivateKey(f, pkey, EVP_aes_256_cbc(), "unit-pass",
							   9, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	return path;
}

static void test_b64_round_trip(void **state)
{
	static const unsigned char bytes[] = { 0, 1, 2, 0xfe, 0xff };
	size_t n, len;
	char *e, *d;

	(void)state;
	for (n = 0; n <= sizeof(bytes); n++) {
		e = oci_b64_encode(bytes, n);
		assert_non_null(e);
		assert_int_equal(strlen(e), 4 * ((n + 2) / 3));
		d = oci_b64_decode(e, &len);
		assert_non_null(d);
		assert_int_equal(len, n);
		assert_memory_equal(d, bytes, n);
		free(e);
		free(d);
	}
	e = oci_b64_encode((const unsigned char *)"user:pass", 9);
	assert_string_equal(e, "dXNlcjpwYXNz");
	free(e);
	assert_null(oci_b64_decode("not*base64", &len));
}

static void test_payload_is_cosign_simple_signing(void **state)
{
	oci_buf b = OCI_BUF_INIT(1 << 16);
	ocibuild_error err = { 0 };
	const char *d = "sha256:2bd4a87e69fcceee78dac605762bf71b4a5322b39c314dbdd0f3042a79237856";

	(void)state;
	assert_int_equal(oci_sign_payload("ghcr.io/org/app", d, &b, &err), 0);
	assert_string_equal(b.data,
			    "{\"critical\":{\"identity\":{\"docker-reference\":\"ghcr.io/org/app\"},"
			    "\"image\":{\"docker-manifest-digest\":\"sha256:2bd4a87e69fcceee78dac6"
			    "05762bf71b4a5322b39c314dbdd0f3042a79237856\"},\"type\":\"cosign "
			    "container image signature\"},\"optional\":null}");
	oci_buf_release(&b);
}

static void test_sign_verify_round_trip(void **state)
{
	oci_sign_key *k = NULL, *k2 = NULL;
	ocibuild_error err = { 0 };
	oci_buf pem = OCI_BUF_INIT(1 << 16);
	char *sig = NULL, *sig2 = NULL, *bad;
	size_t n;

	(void)state;
	assert_int_equal(oci_sign_key_load(write_key("k1.pem", "EC", "P-256", 0), no_env, &k,
					   &err), 0);
	assert_int_equal(oci_sign_key_load(write_key("k2.pem", "EC", "P-256", 0), no_env, &k2,
					   &err), 0);
	assert_int_equal(oci_sign_data(k, "payload", 7, &sig, &err), 0);
	assert_true(oci_sign_verify(k, "payload", 7, sig));
	assert_false(oci_sign_verify(k, "payloaD", 7, sig));
	assert_false(oci_sign_verify(k2, "payload", 7, sig));
	assert_false(oci_sign_verify(k, "payload", 7, "***"));
	/* ECDSA is randomised: a second signature differs and verifies too */
	assert_int_equal(oci_sign_data(k, "payload", 7, &sig2, &err), 0);
	assert_string_not_equal(sig, sig2);
	assert_true(oci_sign_verify(k, "payload", 7, sig2));
	/* a flipped bit in the DER signature is refused */
	bad = oci_b64_decode(sig, &n);
	bad[n - 1] ^= 1;
	free(sig2);
	sig2 = oci_b64_encode((unsigned char *)bad, n);
	assert_false(oci_sign_verify(k, "payload", 7, sig2));
	assert_int_equal(oci_sign_key_public_pem(k, &pem, &err), 0);
	assert_non_null(strstr(pem.data, "-----BEGIN PUBLIC KEY-----"));
	free(bad);
	free(sig);
	free(sig2);
	oci_buf_release(&pem);
	oci_sign_key_release(k);
	oci_sign_key_release(k2);
}

static void expect_refused(const char *path, const char *(*env)(const char *),
			   const char *needle)
{
	oci_sign_key *k = (oci_sign_key *)1;
	ocibuild_error err = { 0 };

	assert_int_equal(oci_sign_key_load(path, env, &k, &err), -1);
	assert_null(k);
	assert_non_null(err.message);
	if (!strstr(err.message, needle))
		fail_msg("'%s' lacks '%s'", err.message, needle);
	assert_null(strstr(err.message, "unit-pass"));
	ocibuild_error_clear(&err);
}

static void test_key_errors(void **state)
{
	char path[256];
	FILE *f;
	oci_sign_key *k = NULL;
	ocibuild_error err = { 0 };

	(void)state;
	snprintf(path, sizeof(path), "%s/junk.pem", dir);
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	expect_refused(path, no_env, "not a PEM file");
	snprintf(path, sizeof(path), "%s/none.pem", dir);
	expect_refused(path, no_env, "none.pem");
	expect_refused(write_key("rsa.pem", "RSA", NULL, 0), no_env, "not an ECDSA P-256 key");
	expect_refused(write_key("p384.pem", "EC", "P-384", 0), no_env, "not an ECDSA P-256 key");
	expect_refused(write_key("enc.pem", "EC", "P-256", 1), no_env,
		       "is encrypted: set OCIBUILD_SIGN_PASSWORD");
	assert_int_equal(oci_sign_key_load(write_key("enc2.pem", "EC", "P-256", 1), pw_env, &k,
					   &err), 0);
	oci_sign_key_release(k);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_payload_is_cosign_simple_signing),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_key_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
