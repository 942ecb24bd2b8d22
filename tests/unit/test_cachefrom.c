/* Unit tests for src/lib/cachefrom.c's pure parts: the diff_id computed
 * without compression equals the one a real layer build records, and a
 * remote layer is picked only for its diff_id in the compression asked for. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define TMP_PREFIX "/tmp/ocibuild-test-cachefrom-"
#include "testutil.h"
#include "blobstore.h"
#include "cachefrom.h"

/* the walk borrows entries' data */
static char data[300000];

static void tree(oci_walk *w)
{
	ocibuild_error err = { 0 };
	static const char big[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = big[(i * 7 + i / 1000) % 16];
	memset(w, 0, sizeof(*w));
	assert_int_equal(oci_walk_add(w, "etc", OCI_TAR_DIR, 0755, NULL, NULL, &err), 0);
	assert_int_equal(oci_walk_add_data(w, "etc/app.conf", 0644, "x=1\n", 4, &err), 0);
	assert_int_equal(oci_walk_add_data(w, "big.bin", 0600, data, 300000, &err), 0);
	oci_walk_sort(w);
}

static void test_diff_id_matches_layer_build(void **state)
{
	ocibuild_error err = { 0 };
	static const ocibuild_compression kinds[] = { OCIBUILD_COMPRESS_GZIP,
						      OCIBUILD_COMPRESS_ZSTD,
						      OCIBUILD_COMPRESS_NONE };
	oci_walk w;
	const oci_walk_entry *v[8];
	char *dir = make_tmpdir();
	size_t i, k;

	(void)state;
	assert_int_equal(oci_blobs_prepare(dir, &err), 0);
	tree(&w);
	for (i = 0; i < w.n; i++)
		v[i] = &w.v[i];
	for (k = 0; k < 3; k++) {
		oci_layer_opts o;
		oci_layer_result r;
		char id[OCI_DIGEST_LEN + 1];
		uint64_t tar_size = 0;

		memset(&o, 0, sizeof(o));
		o.root = "/nonexistent";
		o.prefix = k == 1 ? "opt/app" : "";
		o.prefix_mode = 0755;
		o.mtime = 1700000000;
		o.compression = kinds[k];
		o.threads = 2;
		if (oci_layer_build(&o, v, w.n, dir, 0, &r, &err) < 0)
			fail_msg("layer build: %s", err.message);
		assert_int_equal(oci_cachefrom_diff_id(&o, v, w.n, id, &tar_size, &err), 0);
		assert_string_equal(id, r.diff_id);
		assert_int_equal(tar_size, r.tar_size);
		/* another mtime is another tar */
		o.mtime++;
		assert_int_equal(oci_cachefrom_diff_id(&o, v, w.n, id, NULL, &err), 0);
		assert_string_not_equal(id, r.diff_id);
	}
	oci_walk_release(&w);
	remove_tree(dir);
}

static void add(oci_cachefrom *cf, const char *diff_id, const char *digest, const char *mt)
{
	oci_cf_layer *l;

	cf->v = realloc(cf->v, (cf->n + 1) * sizeof(*cf->v));
	assert_non_null(cf->v);
	l = &cf->v[cf->n++];
	memset(l, 0, sizeof(*l));
	snprintf(l->diff_id, sizeof(l->diff_id), "sha256:%064d", atoi(diff_id));
	snprintf(l->digest, sizeof(l->digest), "sha256:%064d", atoi(digest));
	l->media_type = (char *)mt;
}

static void test_find_by_diff_id_and_compression(void **state)
{
	oci_cachefrom cf;
	char id1[OCI_DIGEST_LEN + 1], id2[OCI_DIGEST_LEN + 1], id3[OCI_DIGEST_LEN + 1];
	const oci_cf_layer *l;

	(void)state;
	memset(&cf, 0, sizeof(cf));
	add(&cf, "1", "11", "application/vnd.oci.image.layer.v1.tar+zstd");
	add(&cf, "1", "12", "application/vnd.oci.image.layer.v1.tar+gzip");
	add(&cf, "2", "21", "application/vnd.docker.image.rootfs.diff.tar.gzip");
	add(&cf, "3", "31", "application/vnd.oci.image.layer.v1.tar");
	snprintf(id1, sizeof(id1), "sha256:%064d", 1);
	snprintf(id2, sizeof(id2), "sha256:%064d", 2);
	snprintf(id3, sizeof(id3), "sha256:%064d", 3);

	l = oci_cachefrom_find(&cf, id1, OCIBUILD_COMPRESS_GZIP);
	assert_non_null(l);
	assert_string_equal(l->digest + 7 + 62, "12");
	l = oci_cachefrom_find(&cf, id1, OCIBUILD_COMPRESS_ZSTD);
	assert_non_null(l);
	assert_string_equal(l->digest + 7 + 62, "11");
	assert_null(oci_cachefrom_find(&cf, id1, OCIBUILD_COMPRESS_NONE));
	/* Docker's gzip layer is gzip */
	assert_non_null(oci_cachefrom_find(&cf, id2, OCIBUILD_COMPRESS_GZIP));
	assert_null(oci_cachefrom_find(&cf, id2, OCIBUILD_COMPRESS_ZSTD));
	assert_non_null(oci_cachefrom_find(&cf, id3, OCIBUILD_COMPRESS_NONE));
	assert_null(oci_cachefrom_find(&cf, id3, OCIBUILD_COMPRESS_GZIP));
	free(cf.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_id_matches_layer_build),
		cmocka_unit_test(test_find_by_diff_id_and_compression),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
