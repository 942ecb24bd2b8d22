/* Unit tests for the runtime layer's policy (src/lib/runtime.c): parent
 * directories added to a walk, OpenSSL's legacy provider found beside
 * libcrypto, the platform check, the applet list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime.h"
#include "mem.h"

#define TMP_PREFIX "/tmp/ocibuild-test-runtime-"
#include "testutil.h"

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_add_parents(void **state)
{
	oci_walk w = { 0 };
	ocibuild_error err = { 0 };
	static const char *const want[] = { "etc", "etc/ssl", "etc/ssl/certs",
					    "etc/ssl/certs/ca.crt", "lib", "lib/x", "tmp" };
	size_t i;

	(void)state;
	assert_int_equal(oci_walk_add_data(&w, "lib/x", 0644, "x", 1, &err), 0);
	assert_int_equal(oci_walk_add_data(&w, "etc/ssl/certs/ca.crt", 0644, "c", 1, &err), 0);
	assert_int_equal(oci_walk_add(&w, "tmp", OCI_TAR_DIR, 01777, NULL, NULL, &err), 0);
	assert_int_equal(oci_walk_add(&w, "etc", OCI_TAR_DIR, 0700, NULL, NULL, &err), 0);
	assert_int_equal(oci_runtime_add_parents(&w, &err), 0);
	assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < w.n; i++)
		assert_string_equal(w.v[i].rel, want[i]);
	/* an existing directory keeps its mode; added ones are 0755 */
	assert_int_equal(w.v[0].mode, 0700);
	assert_int_equal(w.v[1].type, OCI_TAR_DIR);
	assert_int_equal(w.v[1].mode, 0755);
	assert_int_equal(w.v[6].mode, 01777);
	/* a second pass adds nothing */
	assert_int_equal(oci_runtime_add_parents(&w, &err), 0);
	assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
	oci_walk_release(&w);
}

static void test_legacy_provider(void **state)
{
	static const unsigned char elf[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	char *dir = make_tmpdir(), *lib = pjoin(dir, "lib"), *mods = pjoin(lib, "ossl-modules");
	char *crypto = pjoin(lib, "libcrypto.so.3"), *legacy = pjoin(mods, "legacy.so");
	char *link = pjoin(dir, "libcrypto.so.3"), *other = pjoin(lib, "libssl.so.3");
	char out[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 32];
	oci_strlist files = { 0 };
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(mkdir(lib, 0755), 0);
	assert_int_equal(mkdir(mods, 0755), 0);
	write_bytes(crypto, elf, sizeof(elf));
	write_bytes(other, elf, sizeof(elf));
	assert_int_equal(symlink(crypto, link), 0);
	assert_non_null(realpath(lib, real));
	snprintf(want, sizeof(want), "%s/ossl-modules/legacy.so", real);

	/* no module yet */
	assert_int_equal(oci_strlist_push(&files, other, &err), 0);
	assert_int_equal(oci_strlist_push(&files, link, &err), 0);
	assert_null(oci_runtime_legacy_provider(&files, out, sizeof(out)));
	/* not ELF: not taken */
	write_bytes(legacy, "#!/bin/sh\n", 10);
	assert_null(oci_runtime_legacy_provider(&files, out, sizeof(out)));
	/* found beside the resolved libcrypto, not beside the symlink */
	write_bytes(legacy, elf, sizeof(elf));
	assert_ptr_equal(oci_runtime_legacy_provider(&files, out, sizeof(out)), out);
	assert_string_equal(out, want);
	/* a name that does not fit is no answer */
	assert_null(oci_runtime_legacy_provider(&files, out, 8));

	oci_strlist_release(&files);
	free(lib);
	free(mods);
	free(crypto);
	free(legacy);
	free(link);
	free(other);
	remove_tree(dir);
}

static void test_check_platforms(void **state)
{
	oci_platform v[2];
	ocibuild_error err = { 0 };

	(void)state;
	memset(v, 0, sizeof(v));
	assert_int_equal(oci_platform_host(&v[0], &err), 0);
	v[1].os = oci_strdup("linux");
	v[1].architecture = oci_strdup(strcmp(v[0].architecture, "s390x") ? "s390x" : "amd64");
	assert_int_equal(oci_runtime_check_platforms(v, 1, &err), 0);
	assert_int_equal(oci_runtime_check_platforms(v, 2, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(strstr(err.message, "--bundle-runtime"));
	assert_non_null(strstr(err.message, v[1].architecture));
	ocibuild_error_clear(&err);
	oci_platform_release(&v[0]);
	oci_platform_release(&v[1]);
}

static void test_applets(void **state)
{
	size_t i;
	int sh = 0;

	(void)state;
	for (i = 0; oci_runtime_applets[i]; i++) {
		assert_null(strchr(oci_runtime_applets[i], '/'));
		sh |= !strcmp(oci_runtime_applets[i], "sh");
	}
	assert_true(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_parents),
		cmocka_unit_test(test_legacy_provider),
		cmocka_unit_test(test_check_platforms),
		cmocka_unit_test(test_applets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
