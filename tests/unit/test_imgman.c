/* Unit tests for the manifests and the index a build writes
 * (src/lib/imgman.c): base layers' media types, what goes into the stage,
 * the annotations and which of them -a can not override. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#define TMP_PREFIX "/tmp/ocibuild-test-imgman-"
#include "testutil.h"

#include "blobstore.h"
#include "imgcfg.h"
#include "imgman.h"
#include "mem.h"

#define STRV(...)                                                                  \
	((ocibuild_strv){ (const char *const[]){ __VA_ARGS__ },                      \
			  sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *) })

static const oci_platform amd64 = { .os = (char *)"linux", .architecture = (char *)"amd64" };
static const oci_platform arm64 = { .os = (char *)"linux", .architecture = (char *)"arm64",
				    .variant = (char *)"v8" };

#define CREATED "2024-01-02T03:04:05Z"

static void test_layer_type(void **state)
{
	(void)state;
	assert_string_equal(oci_imgman_layer_type(OCI_MT_DOCKER_LAYER),
			    "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_string_equal(oci_imgman_layer_type("application/vnd.docker.image.rootfs.diff.tar"),
			    "application/vnd.oci.image.layer.v1.tar");
	assert_string_equal(oci_imgman_layer_type("application/vnd.oci.image.layer.v1.tar+zstd"),
			    "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_string_equal(oci_imgman_layer_type("x/y"), "x/y");
}

static void make_config(oci_image_config *c, const oci_platform *p)
{
	ocibuild_error err = { 0 };
	oci_imgcfg_in in;

	memset(&in, 0, sizeof(in));
	in.platform = p;
	in.created = CREATED;
	in.workdir = "/app";
	assert_int_equal(oci_imgcfg_make(&in, c, &err), 0);
}

/* a blob of its own in dir, its digest in d */
static void put(const char *dir, const char *text, char *d)
{
	ocibuild_error err = { 0 };

	assert_int_equal(oci_blobs_put(dir, text, strlen(text), d, 0, &err), 0);
}

static void test_manifest_scratch(void **state)
{
	char *stage = make_tmpdir();
	char l1[OCI_DIGEST_LEN + 1], l2[OCI_DIGEST_LEN + 1];
	ocibuild_strv ann = STRV("k=v", "org.opencontainers.image.source=mine");
	ocibuild_error err = { 0 };
	oci_base base;
	oci_image_config c;
	oci_imgman_layer layers[2];
	oci_imgman_in in;
	oci_manifest m;
	oci_descriptor desc;

	(void)state;
	assert_int_equal(oci_blobs_prepare(stage, &err), 0);
	put(stage, "one", l1);
	put(stage, "two", l2);
	memset(&base, 0, sizeof(base));
	base.scratch = 1;
	make_config(&c, &amd64);
	layers[0].digest = l1;
	layers[0].size = 3;
	layers[1].digest = l2;
	layers[1].size = 3;
	memset(&in, 0, sizeof(in));
	in.stage = stage;
	in.base = &base;
	in.platform = &amd64;
	in.config = &c;
	in.compression = OCIBUILD_COMPRESS_ZSTD;
	in.layers = layers;
	in.nlayers = 2;
	in.created = CREATED;
	in.version = "1.2.3";
	in.annotations = &ann;
	in.source = "https://example.com/app";
	in.revision = "abc123";
	memset(&desc, 0, sizeof(desc));
	assert_int_equal(oci_imgman_manifest(&in, &m, &desc, &err), 0);
	assert_string_equal(m.media_type, OCI_MT_MANIFEST);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[0].digest, l1);
	assert_string_equal(m.layers[1].digest, l2);
	assert_string_equal(m.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_int_equal(m.layers[1].size, 3);
	assert_true(oci_blobs_has(stage, m.config.digest));
	assert_true(oci_blobs_has(stage, desc.digest));
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_CREATED), CREATED);
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_VERSION), "1.2.3");
	assert_string_equal(oci_map_get(&m.annotations, "k"), "v");
	/* -a can not say where the image comes from */
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_SOURCE), "https://example.com/app");
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_REVISION), "abc123");
	assert_null(oci_map_get(&m.annotations, OCI_ANN_BASE_DIGEST));
	assert_string_equal(desc.media_type, OCI_MT_MANIFEST);
	assert_true(desc.size > 0);
	assert_non_null(desc.platform);
	assert_string_equal(desc.platform->architecture, "amd64");
	assert_null(desc.platform->variant);
	oci_manifest_release(&m);
	oci_descriptor_release(&desc);
	oci_config_release(&c);
	remove_tree(stage);
}

/* A base in a layout: its Docker layer is imported into the stage under
 * its OCI media type, and the manifest names the base. */
static void test_manifest_base(void **state)
{
	char *stage = make_tmpdir(), *bdir = make_tmpdir();
	ocibuild_strv none = { NULL, 0 };
	ocibuild_error err = { 0 };
	oci_descriptor bl;
	oci_base base;
	oci_image_config c;
	oci_imgman_in in;
	oci_manifest m;
	oci_descriptor desc;

	(void)state;
	assert_int_equal(oci_blobs_prepare(stage, &err), 0);
	assert_int_equal(oci_blobs_prepare(bdir, &err), 0);
	memset(&bl, 0, sizeof(bl));
	bl.media_type = (char *)OCI_MT_DOCKER_LAYER;
	bl.size = 4;
	put(bdir, "base", bl.digest);
	memset(&base, 0, sizeof(base));
	base.layout_dir = bdir;
	base.name = (char *)"docker.io/library/debian:12";
	memcpy(base.manifest_digest, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	       OCI_DIGEST_LEN + 1);
	base.manifest.layers = &bl;
	base.manifest.nlayers = 1;
	make_config(&c, &arm64);
	memset(&in, 0, sizeof(in));
	in.stage = stage;
	in.base = &base;
	in.platform = &arm64;
	in.config = &c;
	in.compression = OCIBUILD_COMPRESS_GZIP;
	in.created = CREATED;
	in.annotations = &none;
	memset(&desc, 0, sizeof(desc));
	assert_int_equal(oci_imgman_manifest(&in, &m, &desc, &err), 0);
	assert_int_equal(m.nlayers, 1);
	assert_string_equal(m.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_true(oci_blobs_has(stage, bl.digest));
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_BASE_NAME), base.name);
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_BASE_DIGEST), base.manifest_digest);
	assert_null(oci_map_get(&m.annotations, OCI_ANN_VERSION));
	assert_null(oci_map_get(&m.annotations, OCI_ANN_SOURCE));
	assert_string_equal(desc.platform->variant, "v8");
	oci_manifest_release(&m);
	oci_descriptor_release(&desc);
	oci_config_release(&c);
	remove_tree(stage);
	remove_tree(bdir);
}

static void test_index(void **state)
{
	char *stage = make_tmpdir();
	ocibuild_strv ann = STRV("k=v");
	ocibuild_error err = { 0 };
	oci_descriptor d[2], top;
	const oci_descriptor *v[2] = { &d[0], &d[1] };
	oci_buf doc = OCI_BUF_INIT(1 << 20);
	oci_index x;

	(void)state;
	assert_int_equal(oci_blobs_prepare(stage, &err), 0);
	memset(d, 0, sizeof(d));
	d[0].media_type = (char *)OCI_MT_MANIFEST;
	d[0].size = 3;
	d[0].platform = (oci_platform *)&amd64;
	put(stage, "one", d[0].digest);
	d[1].media_type = (char *)OCI_MT_MANIFEST;
	d[1].size = 3;
	d[1].platform = (oci_platform *)&arm64;
	put(stage, "two", d[1].digest);

	/* one manifest: the tags point at it */
	memset(&top, 0, sizeof(top));
	assert_int_equal(oci_imgman_index(stage, 0, v, 1, CREATED, &ann, &top, &err), 0);
	assert_string_equal(top.media_type, OCI_MT_MANIFEST);
	assert_string_equal(top.digest, d[0].digest);
	assert_int_equal(top.size, 3);
	oci_descriptor_release(&top);

	/* several: an index of them in order, in the stage */
	memset(&top, 0, sizeof(top));
	assert_int_equal(oci_imgman_index(stage, 0, v, 2, CREATED, &ann, &top, &err), 0);
	assert_string_equal(top.media_type, OCI_MT_INDEX);
	assert_int_equal(oci_blobs_read(stage, top.digest, 1 << 20, &doc, &err), 0);
	assert_int_equal(top.size, (int64_t)doc.len);
	assert_int_equal(oci_index_parse(doc.data, doc.len, &x, &err), 0);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.manifests[0].digest, d[0].digest);
	assert_string_equal(x.manifests[1].digest, d[1].digest);
	assert_string_equal(oci_map_get(&x.annotations, OCI_ANN_CREATED), CREATED);
	assert_string_equal(oci_map_get(&x.annotations, "k"), "v");
	oci_index_release(&x);
	oci_buf_release(&doc);
	oci_descriptor_release(&top);
	remove_tree(stage);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layer_type),
		cmocka_unit_test(test_manifest_scratch),
		cmocka_unit_test(test_manifest_base),
		cmocka_unit_test(test_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
