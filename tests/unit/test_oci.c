/* Unit tests for OCI documents (src/lib/oci.c): manifests, indexes and
 * image configs parsed and serialised, platforms, maps and argv lists.
 *
 * JSON in this file is written with ' for " (see q()) to stay readable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "oci.h"

#define D1 "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
#define D2 "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"
#define D3 "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"
#define H1 "b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
#define H2 "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"
#define H3 "3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"

#define MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_LAYER_ZST "application/vnd.oci.image.layer.v1.tar+zstd"

/* ' -> " in a copy (a few live at once). */
static const char *q(const char *s)
{
	static char bufs[4][16384];
	static unsigned n;
	char *b = bufs[n++ % 4];
	size_t i, len = strlen(s);

	assert_true(len < sizeof(bufs[0]));
	for (i = 0; i <= len; i++)
		b[i] = s[i] == '\'' ? '"' : s[i];
	return b;
}

/* ---- manifests ---- */

static const char oci_manifest_json[] =
	"{\n"
	"  'schemaVersion': 2,\n"
	"  'mediaType': 'application/vnd.oci.image.manifest.v1+json',\n"
	"  'config': {\n"
	"    'mediaType': 'application/vnd.oci.image.config.v1+json',\n"
	"    'digest': '" D1 "',\n"
	"    'size': 7023\n"
	"  },\n"
	"  'layers': [\n"
	"    {\n"
	"      'mediaType': '" MT_LAYER_GZ "',\n"
	"      'digest': '" D2 "',\n"
	"      'size': 32654\n"
	"    },\n"
	"    {\n"
	"      'mediaType': '" MT_LAYER_ZST "',\n"
	"      'digest': '" D3 "',\n"
	"      'size': 10000000000,\n"
	"      'annotations': { 'org.example.z': '1', 'org.example.a': '2' }\n"
	"    }\n"
	"  ],\n"
	"  'annotations': {\n"
	"    'org.opencontainers.image.created': '2024-01-02T03:04:05Z',\n"
	"    'com.example.key1': 'value1'\n"
	"  }\n"
	"}\n";

static const char oci_manifest_compact[] =
	"{'annotations':{'com.example.key1':'value1',"
	"'org.opencontainers.image.created':'2024-01-02T03:04:05Z'},"
	"'config':{'digest':'" D1 "','mediaType':'application/vnd.oci.image.config.v1+json',"
	"'size':7023},"
	"'layers':[{'digest':'" D2 "','mediaType':'" MT_LAYER_GZ "','size':32654},"
	"{'annotations':{'org.example.a':'2','org.example.z':'1'},'digest':'" D3 "',"
	"'mediaType':'" MT_LAYER_ZST "','size':10000000000}],"
	"'mediaType':'application/vnd.oci.image.manifest.v1+json','schemaVersion':2}";

static const char docker_manifest_json[] =
	"{\n"
	"   'schemaVersion': 2,\n"
	"   'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',\n"
	"   'config': {\n"
	"      'mediaType': 'application/vnd.docker.container.image.v1+json',\n"
	"      'size': 1469,\n"
	"      'digest': '" D1 "'\n"
	"   },\n"
	"   'layers': [\n"
	"      {\n"
	"         'mediaType': 'application/vnd.docker.image.rootfs.diff.tar.gzip',\n"
	"         'size': 2814446,\n"
	"         'digest': '" D2 "'\n"
	"      }\n"
	"   ]\n"
	"}";

static const char docker_manifest_compact[] =
	"{'config':{'digest':'" D1 "','mediaType':'application/vnd.docker.container.image.v1+json',"
	"'size':1469},"
	"'layers':[{'digest':'" D2 "','mediaType':'application/vnd.docker.image.rootfs.diff.tar.gzip',"
	"'size':2814446}],"
	"'mediaType':'application/vnd.docker.distribution.manifest.v2+json','schemaVersion':2}";

static void manifest_parse_ok(const char *json, oci_manifest *m)
{
	ocibuild_error err = { 0 };

	if (oci_manifest_parse(json, strlen(json), m, &err) < 0)
		fail_msg("manifest rejected: %s\n%s", err.message, json);
}

/* serialise, parse that, serialise again: the same bytes */
static void manifest_stable(const oci_manifest *m, const char *want)
{
	oci_buf a = OCI_BUF_INIT(1 << 20), b = OCI_BUF_INIT(1 << 20);
	oci_manifest m2;

	assert_int_equal(oci_manifest_serialize(m, &a, NULL), 0);
	if (want)
		assert_string_equal(a.data, want);
	assert_int_equal(a.len, strlen(a.data));
	manifest_parse_ok(a.data, &m2);
	assert_int_equal(oci_manifest_serialize(&m2, &b, NULL), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	oci_manifest_release(&m2);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

static void test_manifest_oci(void **state)
{
	oci_manifest m;

	(void)state;
	manifest_parse_ok(q(oci_manifest_json), &m);
	assert_string_equal(m.media_type, OCI_MT_MANIFEST);
	assert_string_equal(m.config.media_type, OCI_MT_CONFIG);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.config.size, 7023);
	assert_null(m.config.platform);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[0].media_type, MT_LAYER_GZ);
	assert_string_equal(m.layers[0].digest, D2);
	assert_int_equal(m.layers[0].size, 32654);
	assert_int_equal(m.layers[0].annotations.n, 0);
	assert_string_equal(m.layers[1].digest, D3);
	assert_true(m.layers[1].size == 10000000000LL);
	assert_string_equal(oci_map_get(&m.layers[1].annotations, "org.example.a"), "2");
	assert_string_equal(oci_map_get(&m.layers[1].annotations, "org.example.z"), "1");
	assert_int_equal(m.annotations.n, 2);
	assert_string_equal(oci_map_get(&m.annotations, OCI_ANN_CREATED), "2024-01-02T03:04:05Z");
	manifest_stable(&m, q(oci_manifest_compact));
	oci_manifest_release(&m);
	assert_null(m.layers);
	oci_manifest_release(&m);
}

static void test_manifest_docker(void **state)
{
	oci_manifest m;

	(void)state;
	manifest_parse_ok(q(docker_manifest_json), &m);
	assert_string_equal(m.media_type, OCI_MT_DOCKER_MANIFEST);
	assert_string_equal(m.config.media_type, OCI_MT_DOCKER_CONFIG);
	assert_int_equal(m.nlayers, 1);
	assert_string_equal(m.layers[0].media_type, OCI_MT_DOCKER_LAYER);
	assert_int_equal(m.layers[0].size, 2814446);
	/* the Docker media type is kept, not turned into the OCI one */
	manifest_stable(&m, q(docker_manifest_compact));
	oci_manifest_release(&m);
}

static void test_manifest_minimal(void **state)
{
	oci_manifest m;

	(void)state;
	/* no mediaType (allowed by OCI), no layers, descriptor platform */
	manifest_parse_ok(q("{'schemaVersion':2,'config':{'mediaType':'x/y','digest':'" D1 "',"
			    "'size':0,'platform':{'os':'linux','architecture':'arm','variant':'v7'}},"
			    "'layers':[]}"),
			  &m);
	assert_null(m.media_type);
	assert_int_equal(m.nlayers, 0);
	assert_non_null(m.config.platform);
	assert_string_equal(m.config.platform->variant, "v7");
	manifest_stable(&m, q("{'config':{'digest':'" D1 "','mediaType':'x/y','platform':"
			      "{'architecture':'arm','os':'linux','variant':'v7'},'size':0},"
			      "'layers':[],'mediaType':'" OCI_MT_MANIFEST "','schemaVersion':2}"));
	oci_manifest_release(&m);
}

static void test_manifest_serialize_resets_output(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_manifest m;

	(void)state;
	manifest_parse_ok(q(docker_manifest_json), &m);
	assert_int_equal(oci_buf_puts(&out, "old contents", NULL), 0);
	assert_int_equal(oci_manifest_serialize(&m, &out, NULL), 0);
	assert_string_equal(out.data, q(docker_manifest_compact));
	oci_manifest_release(&m);
	oci_buf_release(&out);
}

static void manifest_bad(const char *json, size_t len)
{
	oci_manifest m;
	ocibuild_error err = { 0 };

	memset(&m, 0x5a, sizeof(m));
	if (oci_manifest_parse(json, len, &m, &err) == 0) {
		oci_manifest_release(&m);
		fail_msg("manifest accepted: %.*s", (int)len, json);
	}
	assert_true(err.kind == OCIBUILD_ERR_INPUT || err.kind == OCIBUILD_ERR_UNSUPPORTED);
	assert_non_null(err.message);
	/* nothing left to free, release is harmless */
	assert_null(m.media_type);
	assert_null(m.layers);
	assert_int_equal(m.nlayers, 0);
	oci_manifest_release(&m);
	ocibuild_error_clear(&err);
}

#define CFG_OK "'config':{'mediaType':'" OCI_MT_CONFIG "','digest':'" D1 "','size':1}"
#define LAYER_OK "{'mediaType':'" MT_LAYER_GZ "','digest':'" D2 "','size':2}"

static void test_manifest_rejects(void **state)
{
	static const char *const bad[] = {
		/* wrong media types */
		"{'schemaVersion':2,'mediaType':'" OCI_MT_INDEX "'," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2,'mediaType':'" OCI_MT_DOCKER_LIST "'," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2,'mediaType':'text/plain'," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2,'mediaType':''," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2,'mediaType':5," CFG_OK ",'layers':[]}",
		/* schema version */
		"{'schemaVersion':1," CFG_OK ",'layers':[]}",
		"{'schemaVersion':3," CFG_OK ",'layers':[]}",
		"{'schemaVersion':'2'," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2.0," CFG_OK ",'layers':[]}",
		"{" CFG_OK ",'layers':[]}",
		/* digests */
		"{'schemaVersion':2,'config':{'mediaType':'a/b','size':1},'layers':[]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':null,'size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'sha512:" H1 H2 "','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'sha256:" H1 "0','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'SHA256:" H1 "','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':5,'size':2}]}",
		/* sizes */
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "'}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':-1}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':'2'}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':1.5}]}",
		/* descriptor shape */
		"{'schemaVersion':2," CFG_OK ",'layers':[{'digest':'" D2 "','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':['" D2 "']}",
		"{'schemaVersion':2," CFG_OK ",'layers':[" LAYER_OK ",null]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':2,'annotations':{'a':1}}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':2,'annotations':[]}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':2,'platform':'linux'}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','size':2,'platform':{'os':1}}]}",
		"{'schemaVersion':2,'layers':[]}",
		"{'schemaVersion':2,'config':null,'layers':[]}",
		"{'schemaVersion':2," CFG_OK "}",
		"{'schemaVersion':2," CFG_OK ",'layers':{}}",
		"{'schemaVersion':2," CFG_OK ",'layers':[],'annotations':{'a':['b']}}",
		"{'schemaVersion':2," CFG_OK ",'layers':[],'annotations':'a'}",
		/* not an object */
		"[]",
		"['schemaVersion',2]",
		"'manifest'",
		"2",
		"null",
		"true",
		/* not JSON */
		"",
		" ",
		"{",
		"{'schemaVersion':2," CFG_OK ",'layers':[" LAYER_OK,
		"{'schemaVersion':2," CFG_OK ",'layers':[]}x",
		"{'schemaVersion':2," CFG_OK ",'layers':[]}{}",
		"{'schemaVersion':2," CFG_OK ",'layers':[],}",
		"{schemaVersion:2}",
		/* duplicate keys, at the top and deeper down */
		"{'schemaVersion':2,'schemaVersion':2," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2," CFG_OK "," CFG_OK ",'layers':[]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[{'mediaType':'a/b','digest':'" D2 "','digest':'" D3 "','size':2}]}",
		"{'schemaVersion':2," CFG_OK ",'layers':[],'annotations':{'a':'1','a':'2'}}",
		/* a NUL inside a string */
		"{'schemaVersion':2," CFG_OK ",'layers':[],'annotations':{'a':'x\\u0000y'}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *j = q(bad[i]);

		manifest_bad(j, strlen(j));
	}
}

static void test_manifest_rejects_embedded_nul(void **state)
{
	const char *j = q(docker_manifest_compact);
	size_t n = strlen(j);
	char *buf = malloc(n + 8);
	oci_manifest m;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, j, n);
	assert_int_equal(oci_manifest_parse(buf, n, &m, NULL), 0);
	oci_manifest_release(&m);
	/* len covers a NUL and what follows it */
	memcpy(buf + n, "\0 {}", 4);
	manifest_bad(buf, n + 1);
	manifest_bad(buf, n + 4);
	free(buf);
}

static void test_manifest_len_respected(void **state)
{
	const char *j = q(oci_manifest_json);
	char *copy = malloc(strlen(j) + 10);
	oci_manifest m;

	(void)state;
	assert_non_null(copy);
	/* no NUL terminator after the document: only len bytes are read */
	memcpy(copy, j, strlen(j));
	memset(copy + strlen(j), '}', 10);
	assert_int_equal(oci_manifest_parse(copy, strlen(j), &m, NULL), 0);
	oci_manifest_release(&m);
	/* and a prefix of a valid document is not one */
	manifest_bad(copy, strlen(j) / 2);
	free(copy);
}

/* ---- indexes ---- */

static const char index_json[] =
	"{\n"
	"  'schemaVersion': 2,\n"
	"  'mediaType': 'application/vnd.oci.image.index.v1+json',\n"
	"  'manifests': [\n"
	"    {\n"
	"      'mediaType': 'application/vnd.oci.image.manifest.v1+json',\n"
	"      'size': 7143,\n"
	"      'digest': '" D1 "',\n"
	"      'platform': { 'architecture': 'ppc64le', 'os': 'linux' }\n"
	"    },\n"
	"    {\n"
	"      'mediaType': 'application/vnd.oci.image.manifest.v1+json',\n"
	"      'size': 7682,\n"
	"      'digest': '" D2 "',\n"
	"      'platform': { 'architecture': 'arm64', 'os': 'linux', 'variant': 'v8' },\n"
	"      'annotations': { 'org.opencontainers.image.ref.name': '1.0' }\n"
	"    }\n"
	"  ],\n"
	"  'annotations': { 'com.example.key1': 'value1' }\n"
	"}";

static const char index_compact[] =
	"{'annotations':{'com.example.key1':'value1'},"
	"'manifests':[{'digest':'" D1 "','mediaType':'" OCI_MT_MANIFEST "',"
	"'platform':{'architecture':'ppc64le','os':'linux'},'size':7143},"
	"{'annotations':{'org.opencontainers.image.ref.name':'1.0'},'digest':'" D2 "',"
	"'mediaType':'" OCI_MT_MANIFEST "',"
	"'platform':{'architecture':'arm64','os':'linux','variant':'v8'},'size':7682}],"
	"'mediaType':'" OCI_MT_INDEX "','schemaVersion':2}";

static void index_parse_ok(const char *json, oci_index *x)
{
	ocibuild_error err = { 0 };

	if (oci_index_parse(json, strlen(json), x, &err) < 0)
		fail_msg("index rejected: %s\n%s", err.message, json);
}

static void index_stable(const oci_index *x, const char *want)
{
	oci_buf a = OCI_BUF_INIT(1 << 20), b = OCI_BUF_INIT(1 << 20);
	oci_index x2;

	assert_int_equal(oci_index_serialize(x, &a, NULL), 0);
	if (want)
		assert_string_equal(a.data, want);
	index_parse_ok(a.data, &x2);
	assert_int_equal(oci_index_serialize(&x2, &b, NULL), 0);
	assert_string_equal(a.data, b.data);
	oci_index_release(&x2);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

static void test_index_roundtrip(void **state)
{
	oci_index x;

	(void)state;
	index_parse_ok(q(index_json), &x);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.manifests[0].digest, D1);
	assert_non_null(x.manifests[0].platform);
	assert_string_equal(x.manifests[0].platform->os, "linux");
	assert_string_equal(x.manifests[0].platform->architecture, "ppc64le");
	assert_null(x.manifests[0].platform->variant);
	assert_string_equal(x.manifests[1].platform->variant, "v8");
	assert_string_equal(oci_map_get(&x.manifests[1].annotations, OCI_ANN_REF_NAME), "1.0");
	assert_string_equal(oci_map_get(&x.annotations, "com.example.key1"), "value1");
	index_stable(&x, q(index_compact));
	oci_index_release(&x);
}

/* OCI 1.1: an artifact manifest's artifactType and subject, and the
 * artifactType of a referrers index entry, survive a round trip */
static const char artifact_compact[] =
	"{'artifactType':'application/spdx+json',"
	"'config':{'digest':'" D1 "','mediaType':'application/vnd.oci.empty.v1+json','size':2},"
	"'layers':[{'digest':'" D2 "','mediaType':'application/spdx+json','size':1234}],"
	"'mediaType':'application/vnd.oci.image.manifest.v1+json','schemaVersion':2,"
	"'subject':{'digest':'" D3 "','mediaType':'application/vnd.oci.image.manifest.v1+json','size':987}}";

static void test_artifact_manifest_roundtrip(void **state)
{
	oci_manifest m;
	oci_index x;

	(void)state;
	manifest_parse_ok(q(artifact_compact), &m);
	assert_string_equal(m.artifact_type, "application/spdx+json");
	assert_non_null(m.subject);
	assert_string_equal(m.subject->digest, D3);
	assert_int_equal(m.subject->size, 987);
	manifest_stable(&m, q(artifact_compact));
	oci_manifest_release(&m);
	/* none of it when absent */
	manifest_parse_ok(q("{'schemaVersion':2,'config':{'mediaType':'a','digest':'" D1
			    "','size':1},'layers':[]}"), &m);
	assert_null(m.artifact_type);
	assert_null(m.subject);
	oci_manifest_release(&m);
	index_parse_ok(q("{'schemaVersion':2,'mediaType':'application/vnd.oci.image.index.v1+json',"
			 "'manifests':[{'mediaType':'application/vnd.oci.image.manifest.v1+json',"
			 "'digest':'" D1 "','size':5,'artifactType':'application/spdx+json',"
			 "'annotations':{'k':'v'}}]}"), &x);
	assert_string_equal(x.manifests[0].artifact_type, "application/spdx+json");
	index_stable(&x, q("{'manifests':[{'annotations':{'k':'v'},"
			   "'artifactType':'application/spdx+json','digest':'" D1 "',"
			   "'mediaType':'application/vnd.oci.image.manifest.v1+json','size':5}],"
			   "'mediaType':'application/vnd.oci.image.index.v1+json','schemaVersion':2}"));
	/* a copy keeps it (oci_descriptor_copy, which oci_index_add uses) */
	{
		oci_descriptor d;

		assert_int_equal(oci_descriptor_copy(&d, &x.manifests[0], NULL), 0);
		assert_string_equal(d.artifact_type, "application/spdx+json");
		assert_int_equal(oci_index_add(&x, &d, NULL), 0);
		assert_string_equal(x.manifests[1].artifact_type, "application/spdx+json");
		oci_descriptor_release(&d);
	}
	oci_index_release(&x);
	/* a subject that is not a descriptor is refused */
	{
		ocibuild_error err = { 0 };
		const char *bad = q("{'schemaVersion':2,'config':{'mediaType':'a','digest':'" D1
				    "','size':1},'layers':[],'subject':'x'}");

		assert_int_equal(oci_manifest_parse(bad, strlen(bad), &m, &err), -1);
		ocibuild_error_clear(&err);
	}
}

static void test_index_docker_list(void **state)
{
	oci_index x;

	(void)state;
	index_parse_ok(q("{'schemaVersion':2,'mediaType':'" OCI_MT_DOCKER_LIST "','manifests':["
			 "{'mediaType':'" OCI_MT_DOCKER_MANIFEST "','size':1,'digest':'" D3 "',"
			 "'platform':{'architecture':'amd64','os':'linux'}}]}"),
		       &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.manifests[0].media_type, OCI_MT_DOCKER_MANIFEST);
	assert_string_equal(x.manifests[0].platform->architecture, "amd64");
	index_stable(&x, NULL);
	oci_index_release(&x);

	/* an empty index, and one without a mediaType */
	index_parse_ok(q("{'schemaVersion':2,'manifests':[]}"), &x);
	assert_int_equal(x.n, 0);
	index_stable(&x, q("{'manifests':[],'mediaType':'" OCI_MT_INDEX "','schemaVersion':2}"));
	oci_index_release(&x);
}

static void test_index_rejects(void **state)
{
	static const char *const bad[] = {
		"{'schemaVersion':2,'mediaType':'" OCI_MT_MANIFEST "','manifests':[]}",
		"{'schemaVersion':2,'mediaType':'" OCI_MT_DOCKER_MANIFEST "','manifests':[]}",
		"{'schemaVersion':1,'manifests':[]}",
		"{'manifests':[]}",
		"{'schemaVersion':2}",
		"{'schemaVersion':2,'manifests':{}}",
		"{'schemaVersion':2,'manifests':[{'mediaType':'a/b','size':1}]}",
		"{'schemaVersion':2,'manifests':[{'mediaType':'a/b','size':1,'digest':'md5:abc'}]}",
		"{'schemaVersion':2,'manifests':[],'manifests':[]}",
		"[]",
		"{",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *j = q(bad[i]);
		oci_index x;
		ocibuild_error err = { 0 };

		if (oci_index_parse(j, strlen(j), &x, &err) == 0)
			fail_msg("index accepted: %s", j);
		assert_non_null(err.message);
		assert_int_equal(x.n, 0);
		assert_null(x.manifests);
		ocibuild_error_clear(&err);
	}
}

static void test_index_add_remove(void **state)
{
	oci_index x, y;
	oci_buf out = OCI_BUF_INIT(1 << 20);

	(void)state;
	index_parse_ok(q(index_json), &x);
	memset(&y, 0, sizeof(y));
	assert_int_equal(oci_index_add(&y, &x.manifests[1], NULL), 0);
	assert_int_equal(oci_index_add(&y, &x.manifests[0], NULL), 0);
	assert_int_equal(oci_index_add(&y, &x.manifests[1], NULL), 0);
	assert_int_equal(y.n, 3);
	/* copies, not aliases */
	assert_ptr_not_equal(y.manifests[0].media_type, x.manifests[1].media_type);
	assert_ptr_not_equal(y.manifests[0].platform, x.manifests[1].platform);
	assert_string_equal(y.manifests[0].platform->variant, "v8");
	assert_string_equal(oci_map_get(&y.manifests[0].annotations, OCI_ANN_REF_NAME), "1.0");
	oci_index_release(&x);
	oci_index_remove(&y, 0);
	assert_int_equal(y.n, 2);
	assert_string_equal(y.manifests[0].digest, D1);
	assert_string_equal(y.manifests[1].digest, D2);
	oci_index_remove(&y, 1);
	assert_int_equal(y.n, 1);
	assert_int_equal(oci_index_serialize(&y, &out, NULL), 0);
	assert_string_equal(out.data,
			    q("{'manifests':[{'digest':'" D1 "','mediaType':'" OCI_MT_MANIFEST "',"
			      "'platform':{'architecture':'ppc64le','os':'linux'},'size':7143}],"
			      "'mediaType':'" OCI_MT_INDEX "','schemaVersion':2}"));
	oci_index_release(&y);
	oci_buf_release(&out);
}

/* The index of a multi-platform build: descriptors in the order added,
 * platforms with and without a variant, annotations sorted; the bytes are
 * fixed and parse back to the same index. */
static void test_index_platforms_serialize(void **state)
{
	oci_index x, y;
	oci_descriptor d;
	char linux_[] = "linux", arm[] = "arm", v7[] = "v7", amd64[] = "amd64";
	oci_platform p[2] = { { linux_, arm, v7 }, { linux_, amd64, NULL } };
	oci_buf out = OCI_BUF_INIT(1 << 20), again = OCI_BUF_INIT(1 << 20);
	const char *digests[2] = { D2, D1 };
	char mt[] = OCI_MT_MANIFEST;
	size_t i;

	(void)state;
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++) {
		memset(&d, 0, sizeof(d));
		d.media_type = mt;
		memcpy(d.digest, digests[i], OCI_DIGEST_LEN + 1);
		d.size = (int64_t)(100 + i);
		d.platform = &p[i];
		assert_int_equal(oci_index_add(&x, &d, NULL), 0);
	}
	assert_int_equal(oci_map_set(&x.annotations, "org.example.z", "1", NULL), 0);
	assert_int_equal(oci_map_set(&x.annotations, OCI_ANN_CREATED, "2023-11-14T22:13:20Z", NULL), 0);
	assert_int_equal(oci_index_serialize(&x, &out, NULL), 0);
	assert_string_equal(out.data,
			    q("{'annotations':{'org.example.z':'1','org.opencontainers.image.created':'2023-11-14T22:13:20Z'},"
			      "'manifests':[{'digest':'" D2 "','mediaType':'" OCI_MT_MANIFEST "',"
			      "'platform':{'architecture':'arm','os':'linux','variant':'v7'},'size':100},"
			      "{'digest':'" D1 "','mediaType':'" OCI_MT_MANIFEST "',"
			      "'platform':{'architecture':'amd64','os':'linux'},'size':101}],"
			      "'mediaType':'" OCI_MT_INDEX "','schemaVersion':2}"));
	index_parse_ok(out.data, &y);
	assert_int_equal(y.n, 2);
	assert_string_equal(y.manifests[0].platform->variant, "v7");
	assert_null(y.manifests[1].platform->variant);
	assert_int_equal(oci_index_serialize(&y, &again, NULL), 0);
	assert_string_equal(again.data, out.data);
	oci_index_release(&x);
	oci_index_release(&y);
	oci_buf_release(&out);
	oci_buf_release(&again);
}

/* ---- image configs ---- */

static const char config_json[] =
	"{\n"
	"  'created': '2024-01-02T03:04:05.123456789Z',\n"
	"  'author': 'Jane Doe <jane@example.com>',\n"
	"  'architecture': 'arm64',\n"
	"  'variant': 'v8',\n"
	"  'os': 'linux',\n"
	"  'config': {\n"
	"    'User': '1000:1000',\n"
	"    'ExposedPorts': { '8080/tcp': {}, '53/udp': {} },\n"
	"    'Env': [\n"
	"      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',\n"
	"      'LANG=C.UTF-8',\n"
	"      'Q=\\'quoted\\' \\\\ back'\n"
	"    ],\n"
	"    'Entrypoint': [ '/docker-entrypoint.sh' ],\n"
	"    'Cmd': [ 'nginx', '-g', 'daemon off;' ],\n"
	"    'WorkingDir': '/srv',\n"
	"    'Labels': {\n"
	"      'maintainer': 'x <x@example.com>',\n"
	"      'org.opencontainers.image.version': '1.25',\n"
	"      'unicode': 'na\\u00efve \\u2713'\n"
	"    },\n"
	"    'StopSignal': 'SIGQUIT',\n"
	"    'Volumes': { '/data': {}, '/cache': {} },\n"
	"    'Healthcheck': {\n"
	"      'Test': [ 'CMD-SHELL', 'curl -f http://localhost/ || exit 1' ],\n"
	"      'Interval': 30000000000,\n"
	"      'Timeout': 5000000000,\n"
	"      'StartPeriod': 0,\n"
	"      'Retries': 3\n"
	"    },\n"
	"    'OnBuild': [ 'RUN echo hi', 'COPY . /x' ],\n"
	"    'ArgsEscaped': true,\n"
	"    'Shell': [ '/bin/bash', '-c' ],\n"
	"    'Domainname': '',\n"
	"    'AttachStdin': false,\n"
	"    'Ratio': 0.5,\n"
	"    'Memory': null\n"
	"  },\n"
	"  'rootfs': { 'type': 'layers', 'diff_ids': [ '" D1 "', '" D2 "' ] },\n"
	"  'history': [\n"
	"    { 'created': '2024-01-01T00:00:00Z', 'created_by': '/bin/sh -c #(nop) ADD file:abc in / ' },\n"
	"    { 'created': '2024-01-01T00:00:01Z', 'created_by': '/bin/sh -c #(nop)  CMD [\\'bash\\']',\n"
	"      'empty_layer': true },\n"
	"    { 'created': '2024-01-01T00:00:02Z', 'created_by': 'COPY . /srv',\n"
	"      'comment': 'buildkit.dockerfile.v0' }\n"
	"  ]\n"
	"}";

/* Keys sorted bytewise; unknown members of "config" kept as they were
 * (a null one dropped); the known ones rebuilt from the struct. */
static const char config_compact[] =
	"{'architecture':'arm64','author':'Jane Doe <jane@example.com>',"
	"'config':{'ArgsEscaped':true,'AttachStdin':false,"
	"'Cmd':['nginx','-g','daemon off;'],'Domainname':'',"
	"'Entrypoint':['/docker-entrypoint.sh'],"
	"'Env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',"
	"'LANG=C.UTF-8','Q=\\'quoted\\' \\\\ back'],"
	"'ExposedPorts':{'53/udp':{},'8080/tcp':{}},"
	"'Healthcheck':{'Interval':30000000000,'Retries':3,'StartPeriod':0,"
	"'Test':['CMD-SHELL','curl -f http://localhost/ || exit 1'],'Timeout':5000000000},"
	"'Labels':{'maintainer':'x <x@example.com>','org.opencontainers.image.version':'1.25',"
	"'unicode':'na\xc3\xaf" "ve \xe2\x9c\x93" "'},"
	"'OnBuild':['RUN echo hi','COPY . /x'],'Ratio':0.5,'Shell':['/bin/bash','-c'],"
	"'StopSignal':'SIGQUIT','User':'1000:1000','Volumes':{'/cache':{},'/data':{}},"
	"'WorkingDir':'/srv'},"
	"'created':'2024-01-02T03:04:05.123456789Z',"
	"'history':[{'created':'2024-01-01T00:00:00Z',"
	"'created_by':'/bin/sh -c #(nop) ADD file:abc in / '},"
	"{'created':'2024-01-01T00:00:01Z','created_by':'/bin/sh -c #(nop)  CMD [\\'bash\\']',"
	"'empty_layer':true},"
	"{'comment':'buildkit.dockerfile.v0','created':'2024-01-01T00:00:02Z',"
	"'created_by':'COPY . /srv'}],"
	"'os':'linux','rootfs':{'diff_ids':['" D1 "','" D2 "'],'type':'layers'},"
	"'variant':'v8'}";

static void config_parse_ok(const char *json, oci_image_config *c)
{
	ocibuild_error err = { 0 };

	if (oci_config_parse(json, strlen(json), c, &err) < 0)
		fail_msg("config rejected: %s\n%s", err.message, json);
}

static void config_stable(const oci_image_config *c, const char *want)
{
	oci_buf a = OCI_BUF_INIT(1 << 20), b = OCI_BUF_INIT(1 << 20);
	oci_image_config c2;

	assert_int_equal(oci_config_serialize(c, &a, NULL), 0);
	if (want)
		assert_string_equal(a.data, want);
	config_parse_ok(a.data, &c2);
	assert_int_equal(oci_config_serialize(&c2, &b, NULL), 0);
	assert_string_equal(a.data, b.data);
	oci_config_release(&c2);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

static void test_config_roundtrip(void **state)
{
	oci_image_config c;

	(void)state;
	config_parse_ok(q(config_json), &c);
	assert_string_equal(c.created, "2024-01-02T03:04:05.123456789Z");
	assert_string_equal(c.author, "Jane Doe <jane@example.com>");
	assert_string_equal(c.platform.os, "linux");
	assert_string_equal(c.platform.architecture, "arm64");
	assert_string_equal(c.platform.variant, "v8");
	assert_string_equal(c.user, "1000:1000");
	assert_int_equal(c.env.n, 3);
	assert_string_equal(c.env.v[1], "LANG=C.UTF-8");
	assert_string_equal(c.env.v[2], "Q=\"quoted\" \\ back");
	assert_true(c.has_entrypoint);
	assert_int_equal(c.entrypoint.n, 1);
	assert_string_equal(c.entrypoint.v[0], "/docker-entrypoint.sh");
	assert_true(c.has_cmd);
	assert_int_equal(c.cmd.n, 3);
	assert_string_equal(c.cmd.v[2], "daemon off;");
	assert_string_equal(c.working_dir, "/srv");
	assert_int_equal(c.exposed_ports.n, 2);
	assert_int_equal(c.labels.n, 3);
	assert_string_equal(oci_map_get(&c.labels, "unicode"), "na\xc3\xaf" "ve \xe2\x9c\x93");
	assert_string_equal(c.stop_signal, "SIGQUIT");
	assert_int_equal(c.volumes.n, 2);
	assert_non_null(c.extra);
	assert_int_equal(c.diff_ids.n, 2);
	assert_string_equal(c.diff_ids.v[1], D2);
	assert_int_equal(c.nhistory, 3);
	assert_false(c.history[0].empty_layer);
	assert_true(c.history[1].empty_layer);
	assert_string_equal(c.history[2].comment, "buildkit.dockerfile.v0");
	assert_null(c.history[0].comment);
	config_stable(&c, q(config_compact));
	oci_config_release(&c);
	assert_null(c.extra);
}

static void test_config_unknown_kept_after_edit(void **state)
{
	oci_image_config c;
	oci_buf out = OCI_BUF_INIT(1 << 20);

	(void)state;
	config_parse_ok(q("{'architecture':'amd64','os':'linux','config':{"
			  "'Healthcheck':{'Test':['NONE']},'OnBuild':['RUN x'],'Cmd':['a']}}"),
			&c);
	/* change known members the way a build does */
	oci_strlist_release(&c.cmd);
	assert_int_equal(oci_strlist_push(&c.cmd, "b", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.env, "K=V", NULL), 0);
	assert_int_equal(oci_map_set(&c.labels, "l", "v", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.exposed_ports, "80/tcp", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.diff_ids, D3, NULL), 0);
	assert_int_equal(oci_config_add_history(&c, "1970-01-01T00:00:01Z", "ocibuild", NULL, 0,
						NULL), 0);
	assert_int_equal(oci_config_serialize(&c, &out, NULL), 0);
	assert_string_equal(out.data,
			    q("{'architecture':'amd64','config':{'Cmd':['b'],'Env':['K=V'],"
			      "'ExposedPorts':{'80/tcp':{}},'Healthcheck':{'Test':['NONE']},"
			      "'Labels':{'l':'v'},'OnBuild':['RUN x']},"
			      "'history':[{'created':'1970-01-01T00:00:01Z','created_by':'ocibuild'}],"
			      "'os':'linux','rootfs':{'diff_ids':['" D3 "'],'type':'layers'}}"));
	oci_config_release(&c);
	oci_buf_release(&out);
}

static void test_config_cmd_absent_vs_empty(void **state)
{
	oci_image_config c;
	oci_buf out = OCI_BUF_INIT(1 << 20);

	(void)state;
	config_parse_ok(q("{'architecture':'amd64','os':'linux','config':{'Cmd':[],'Entrypoint':[]}}"),
			&c);
	assert_true(c.has_cmd);
	assert_int_equal(c.cmd.n, 0);
	assert_true(c.has_entrypoint);
	assert_int_equal(c.entrypoint.n, 0);
	assert_int_equal(oci_config_serialize(&c, &out, NULL), 0);
	assert_string_equal(out.data,
			    q("{'architecture':'amd64','config':{'Cmd':[],'Entrypoint':[]},'os':'linux',"
			      "'rootfs':{'diff_ids':[],'type':'layers'}}"));
	oci_config_release(&c);
	config_parse_ok(out.data, &c);
	assert_true(c.has_cmd);
	assert_true(c.has_entrypoint);
	oci_config_release(&c);

	config_parse_ok(q("{'architecture':'amd64','os':'linux','config':{}}"), &c);
	assert_false(c.has_cmd);
	assert_false(c.has_entrypoint);
	assert_int_equal(oci_config_serialize(&c, &out, NULL), 0);
	assert_string_equal(out.data, q("{'architecture':'amd64','config':{},'os':'linux',"
					"'rootfs':{'diff_ids':[],'type':'layers'}}"));
	oci_config_release(&c);

	/* null is the same as absent */
	config_parse_ok(q("{'architecture':'amd64','os':'linux','config':{'Cmd':null,'Entrypoint':null}}"),
			&c);
	assert_false(c.has_cmd);
	assert_false(c.has_entrypoint);
	oci_config_release(&c);

	/* no config object at all */
	config_parse_ok(q("{'architecture':'amd64','os':'linux'}"), &c);
	assert_false(c.has_cmd);
	assert_null(c.extra);
	config_stable(&c, q("{'architecture':'amd64','config':{},'os':'linux',"
			    "'rootfs':{'diff_ids':[],'type':'layers'}}"));
	oci_config_release(&c);
	oci_buf_release(&out);
}

static void test_config_built_from_scratch(void **state)
{
	oci_image_config c;
	oci_buf out = OCI_BUF_INIT(1 << 20);

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(oci_platform_parse("linux/arm/v7", &c.platform, NULL), 0);
	c.user = strdup("65534");
	c.working_dir = strdup("/app");
	assert_non_null(c.user);
	assert_int_equal(oci_strlist_push(&c.env, "B=2", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.env, "A=1", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.entrypoint, "/app/bin/x", NULL), 0);
	c.has_entrypoint = 1;
	assert_int_equal(oci_strlist_push(&c.exposed_ports, "8080/tcp", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.exposed_ports, "53/udp", NULL), 0);
	assert_int_equal(oci_map_set(&c.labels, "z", "last", NULL), 0);
	assert_int_equal(oci_map_set(&c.labels, "a", "first", NULL), 0);
	assert_int_equal(oci_strlist_push(&c.diff_ids, D1, NULL), 0);
	assert_int_equal(oci_config_add_history(&c, "1970-01-01T00:00:01Z", "ocibuild", "c", 1,
						NULL), 0);
	assert_int_equal(oci_config_serialize(&c, &out, NULL), 0);
	/* Env keeps its order; object keys are sorted */
	assert_string_equal(out.data,
			    q("{'architecture':'arm','config':{'Entrypoint':['/app/bin/x'],"
			      "'Env':['B=2','A=1'],'ExposedPorts':{'53/udp':{},'8080/tcp':{}},"
			      "'Labels':{'a':'first','z':'last'},'User':'65534','WorkingDir':'/app'},"
			      "'history':[{'comment':'c','created':'1970-01-01T00:00:01Z',"
			      "'created_by':'ocibuild','empty_layer':true}],"
			      "'os':'linux','rootfs':{'diff_ids':['" D1 "'],'type':'layers'},"
			      "'variant':'v7'}"));
	config_stable(&c, NULL);
	oci_config_release(&c);
	oci_buf_release(&out);
}

static void test_config_rejects(void **state)
{
	static const char *const bad[] = {
		"[]",
		"'config'",
		"{",
		"",
		"{'os':'linux','os':'linux'}",
		"{'os':'linux','config':{'Env':[],'Env':[]}}",
		"{'os':'linux','config':{'Labels':{'a':'1','a':'2'}}}",
		"{'os':5}",
		"{'created':true}",
		"{'config':{'User':1}}",
		"{'config':{'Env':'A=1'}}",
		"{'config':{'Env':['A=1',2]}}",
		"{'config':{'Cmd':'sh'}}",
		"{'config':{'Entrypoint':[null]}}",
		"{'config':{'WorkingDir':[]}}",
		"{'config':{'ExposedPorts':['80/tcp']}}",
		"{'config':{'Labels':{'a':1}}}",
		"{'config':{'Labels':['a']}}",
		"{'config':{'Volumes':'/data'}}",
		"{'config':{'StopSignal':9}}",
		"{'rootfs':{'diff_ids':'x'}}",
		"{'rootfs':{'diff_ids':[1]}}",
		"{'history':[{'created_by':5}]}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *j = q(bad[i]);
		oci_image_config c;
		ocibuild_error err = { 0 };

		if (oci_config_parse(j, strlen(j), &c, &err) == 0) {
			oci_config_release(&c);
			fail_msg("config accepted: %s", j);
		}
		assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
		assert_non_null(err.message);
		assert_null(c.extra);
		assert_null(c.created);
		ocibuild_error_clear(&err);
	}
}

/* ---- platforms ---- */

static void test_platform_parse(void **state)
{
	oci_platform p;
	ocibuild_error err = { 0 };
	char *s;
	static const char *const bad[] = {
		"linux", "linux/", "/amd64", "/", "//", "Linux/amd64", "linux/AMD64",
		"linux/arm64/", "linux//v8", "a/b/c/d", "linux/arm64/v8/", "linux/arm 64",
		"linux/amd64\n", "",
	};
	size_t i;

	(void)state;
	assert_int_equal(oci_platform_parse("linux/amd64", &p, &err), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.architecture, "amd64");
	assert_null(p.variant);
	s = oci_platform_string(&p);
	assert_string_equal(s, "linux/amd64");
	free(s);
	oci_platform_release(&p);

	assert_int_equal(oci_platform_parse("linux/arm64/v8", &p, &err), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.architecture, "arm64");
	assert_string_equal(p.variant, "v8");
	s = oci_platform_string(&p);
	assert_string_equal(s, "linux/arm64/v8");
	free(s);
	oci_platform_release(&p);
	assert_null(p.os);

	assert_int_equal(oci_platform_parse("windows/amd64", &p, &err), 0);
	oci_platform_release(&p);
	assert_int_equal(oci_platform_parse("linux/ppc64le", &p, &err), 0);
	oci_platform_release(&p);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0x5a, sizeof(p));
		if (oci_platform_parse(bad[i], &p, &err) == 0)
			fail_msg("platform '%s' accepted", bad[i]);
		assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
		assert_non_null(err.message);
		assert_null(p.os);
		assert_null(p.architecture);
		assert_null(p.variant);
		ocibuild_error_clear(&err);
	}
}

static void platform_list_bad(const char *s, const char *needle)
{
	oci_platform *v = NULL;
	size_t n = 99;
	ocibuild_error err = { 0 };

	assert_int_equal(oci_platform_list_parse(s, &v, &n, &err), -1);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	assert_null(strchr(err.message, '\n'));
	if (!strstr(err.message, needle))
		fail_msg("error '%s' does not name '%s'", err.message, needle);
	ocibuild_error_clear(&err);
}

static void test_platform_list_parse(void **state)
{
	oci_platform *v = NULL;
	size_t n = 0;
	ocibuild_error err = { 0 };
	char *s;

	(void)state;
	assert_int_equal(oci_platform_list_parse("linux/amd64", &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].architecture, "amd64");
	oci_platform_list_release(v, n);

	/* the order given is kept */
	assert_int_equal(oci_platform_list_parse("linux/arm64/v8,linux/amd64,linux/arm/v7", &v,
						 &n, &err), 0);
	assert_int_equal(n, 3);
	s = oci_platform_string(&v[0]);
	assert_string_equal(s, "linux/arm64/v8");
	free(s);
	assert_string_equal(v[1].architecture, "amd64");
	assert_null(v[1].variant);
	assert_string_equal(v[2].variant, "v7");
	oci_platform_list_release(v, n);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);

	/* one bad entry: the message names it, not the whole list */
	platform_list_bad("linux/amd64,linux", "'linux'");
	platform_list_bad("linux/amd64,Linux/arm64", "'Linux/arm64'");
	platform_list_bad("linux/amd64,", "empty");
	platform_list_bad(",linux/amd64", "empty");
	platform_list_bad("linux/amd64,,linux/arm64", "empty");
	platform_list_bad(",", "empty");
	platform_list_bad("", "empty");
	platform_list_bad("linux/amd64, linux/arm64", "' linux/arm64'");
	platform_list_bad("linux/amd64,linux/arm64,linux/amd64", "'linux/amd64' is listed twice");
	platform_list_bad("linux/arm/v7,linux/arm/v7", "'linux/arm/v7' is listed twice");
	/* a variant makes another platform */
	assert_int_equal(oci_platform_list_parse("linux/arm/v6,linux/arm/v7", &v, &n, &err), 0);
	assert_int_equal(n, 2);
	oci_platform_list_release(v, n);
}

static void test_platform_host(void **state)
{
	oci_platform p;
	ocibuild_error err = { 0 };

	(void)state;
	if (oci_platform_host(&p, &err) < 0) {
		assert_int_equal(err.kind, OCIBUILD_ERR_UNSUPPORTED);
		ocibuild_error_clear(&err);
		skip();
	}
	assert_string_equal(p.os, "linux");
	assert_non_null(p.architecture);
#if defined(__x86_64__)
	assert_string_equal(p.architecture, "amd64");
	assert_null(p.variant);
#elif defined(__aarch64__)
	assert_string_equal(p.architecture, "arm64");
#endif
	oci_platform_release(&p);
}

static int match(const char *want, const char *have)
{
	oci_platform w, h;
	int r;

	assert_int_equal(oci_platform_parse(want, &w, NULL), 0);
	assert_int_equal(oci_platform_parse(have, &h, NULL), 0);
	r = oci_platform_match(&w, &h);
	oci_platform_release(&w);
	oci_platform_release(&h);
	return r;
}

static void test_platform_match(void **state)
{
	oci_platform w = { 0 }, h = { 0 };
	char os[] = "linux", arch[] = "amd64";

	(void)state;
	assert_true(match("linux/amd64", "linux/amd64"));
	assert_false(match("linux/amd64", "linux/arm64"));
	assert_false(match("linux/amd64", "windows/amd64"));
	/* the same variant, or one side without a variant */
	assert_true(match("linux/arm64/v8", "linux/arm64/v8"));
	assert_true(match("linux/arm64", "linux/arm64/v8"));
	assert_true(match("linux/arm64/v8", "linux/arm64"));
	assert_false(match("linux/arm/v7", "linux/arm/v6"));
	assert_false(match("linux/arm/v7", "linux/arm64/v7"));
	assert_false(match("linux/arm/v7", "windows/arm/v7"));
	/* absent fields compare as absent */
	assert_true(oci_platform_match(&w, &h));
	h.os = os;
	h.architecture = arch;
	assert_false(oci_platform_match(&w, &h));
	w.os = os;
	assert_false(oci_platform_match(&w, &h));
	w.architecture = arch;
	assert_true(oci_platform_match(&w, &h));
}

/* ---- maps, lists ---- */

static void test_map(void **state)
{
	oci_map m = { 0 }, c = { 0 };

	(void)state;
	assert_null(oci_map_get(&m, "a"));
	assert_int_equal(oci_map_set(&m, "a", "1", NULL), 0);
	assert_int_equal(oci_map_set(&m, "b", "2", NULL), 0);
	assert_int_equal(oci_map_set(&m, "a", "3", NULL), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(oci_map_get(&m, "a"), "3");
	assert_string_equal(oci_map_get(&m, "b"), "2");
	assert_null(oci_map_get(&m, "A"));
	assert_null(oci_map_get(&m, ""));
	assert_int_equal(oci_map_set(&m, "", "empty", NULL), 0);
	assert_string_equal(oci_map_get(&m, ""), "empty");
	assert_int_equal(m.n, 3);

	assert_int_equal(oci_map_set(&c, "b", "old", NULL), 0);
	assert_int_equal(oci_map_set(&c, "z", "26", NULL), 0);
	assert_int_equal(oci_map_copy(&c, &m, NULL), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(oci_map_get(&c, "b"), "2");
	assert_string_equal(oci_map_get(&c, "z"), "26");
	assert_ptr_not_equal(oci_map_get(&c, "a"), oci_map_get(&m, "a"));
	oci_map_release(&m);
	assert_int_equal(m.n, 0);
	assert_null(oci_map_get(&m, "a"));
	assert_string_equal(oci_map_get(&c, "a"), "3");
	oci_map_release(&c);
}

static void test_strlist(void **state)
{
	oci_strlist l = { 0 };
	int i;
	char num[16];

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(num, sizeof(num), "%d", i);
		assert_int_equal(oci_strlist_push(&l, num, NULL), 0);
	}
	assert_int_equal(l.n, 100);
	assert_string_equal(l.v[0], "0");
	assert_string_equal(l.v[99], "99");
	oci_strlist_release(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	oci_strlist_release(&l);
}

static void test_media_type_kind(void **state)
{
	(void)state;
	assert_int_equal(oci_media_type_kind(OCI_MT_MANIFEST), OCI_MT_KIND_MANIFEST);
	assert_int_equal(oci_media_type_kind(OCI_MT_DOCKER_MANIFEST), OCI_MT_KIND_MANIFEST);
	assert_int_equal(oci_media_type_kind(OCI_MT_INDEX), OCI_MT_KIND_INDEX);
	assert_int_equal(oci_media_type_kind(OCI_MT_DOCKER_LIST), OCI_MT_KIND_INDEX);
	assert_int_equal(oci_media_type_kind(OCI_MT_CONFIG), OCI_MT_KIND_OTHER);
	assert_int_equal(oci_media_type_kind(""), OCI_MT_KIND_OTHER);
	assert_int_equal(oci_media_type_kind(NULL), OCI_MT_KIND_OTHER);
}

/* ---- docker save manifest.json ---- */

static void test_docker_manifest_json(void **state)
{
	oci_manifest m;
	oci_strlist tags = { 0 };
	oci_buf out = OCI_BUF_INIT(1 << 20);

	(void)state;
	manifest_parse_ok(q(oci_manifest_json), &m);
	assert_int_equal(oci_strlist_push(&tags, "example.com/app:1.0", NULL), 0);
	assert_int_equal(oci_strlist_push(&tags, "app:latest", NULL), 0);
	assert_int_equal(oci_buf_puts(&out, "stale", NULL), 0);
	assert_int_equal(oci_docker_manifest_json(&m, &tags, &out, NULL), 0);
	assert_string_equal(out.data,
			    q("[{'Config':'blobs/sha256/" H1 "',"
			      "'Layers':['blobs/sha256/" H2 "','blobs/sha256/" H3 "'],"
			      "'RepoTags':['example.com/app:1.0','app:latest']}]"));
	oci_strlist_release(&tags);
	/* no tags, no layers */
	{
		size_t i;

		for (i = 0; i < m.nlayers; i++)
			oci_descriptor_release(&m.layers[i]);
		m.nlayers = 0;
	}
	assert_int_equal(oci_docker_manifest_json(&m, &tags, &out, NULL), 0);
	assert_string_equal(out.data, q("[{'Config':'blobs/sha256/" H1 "','Layers':[],'RepoTags':[]}]"));
	oci_manifest_release(&m);
	oci_buf_release(&out);
}

/* ---- ocibuild_argv_parse ---- */

static void argv_ok(const char *in, size_t n, ...)
{
	char **v;
	size_t count = 99, i;
	ocibuild_error err = { 0 };
	va_list ap;

	if (ocibuild_argv_parse(in, &v, &count, &err) < 0)
		fail_msg("argv '%s' rejected: %s", in, err.message);
	assert_non_null(v);
	assert_int_equal(count, n);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *want = va_arg(ap, const char *);

		assert_string_equal(v[i], want);
	}
	va_end(ap);
	assert_null(v[n]);
	ocibuild_argv_free(v);
}

static void argv_bad(const char *in)
{
	char **v = (char **)1;
	size_t count = 99;
	ocibuild_error err = { 0 };

	if (ocibuild_argv_parse(in, &v, &count, &err) == 0) {
		ocibuild_argv_free(v);
		fail_msg("argv '%s' accepted", in);
	}
	assert_int_equal(err.kind, OCIBUILD_ERR_OPTION);
	assert_non_null(err.message);
	assert_null(v);
	assert_int_equal(count, 0);
	ocibuild_error_clear(&err);
}

/* A registry's message goes into a one-line error on a terminal. */
static void test_registry_error_text(void **state)
{
	static const char ok[] = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"},"
				 "{\"code\":\"UNAUTHORIZED\"}]}";
	static const char ctl[] = "{\"errors\":[{\"code\":\"DENIED\",\"message\":"
				  "\"line one\\nline two\\u001b[31mred\\r\\u007f!\"}]}";
	char *m;

	(void)state;
	m = oci_registry_error(ok, sizeof(ok) - 1);
	assert_string_equal(m, "DENIED: no; UNAUTHORIZED");
	free(m);
	m = oci_registry_error(ctl, sizeof(ctl) - 1);
	assert_string_equal(m, "DENIED: line one line two [31mred  !");
	free(m);
	assert_null(oci_registry_error("{\"errors\":[]}", 13));
	assert_null(oci_registry_error("<html>", 6));
}

static void test_argv_json(void **state)
{
	(void)state;
	argv_ok(q("['/app/bin/x','start']"), 2, "/app/bin/x", "start");
	argv_ok(q("  [ 'a b' , 'c\\'d', '', 'e\\\\f' ] "), 4, "a b", "c\"d", "", "e\\f");
	argv_ok("[]", 0);
	argv_ok(q("['\\u00e9\\t']"), 1, "\xc3\xa9\t");
	argv_ok("\t[\"x\"]", 1, "x");
}

static void test_argv_words(void **state)
{
	(void)state;
	argv_ok("a b c", 3, "a", "b", "c");
	argv_ok("  /bin/sh   -c\t'echo'  ", 3, "/bin/sh", "-c", "'echo'");
	argv_ok("single", 1, "single");
	argv_ok("", 0);
	argv_ok("   ", 0);
	/* only a leading '[' means JSON */
	argv_ok(q("x ['a']"), 2, "x", q("['a']"));
	argv_ok(q("{'a':1}"), 1, q("{'a':1}"));
}

static void test_argv_errors(void **state)
{
	(void)state;
	argv_bad("[");
	argv_bad("[1,2]");
	argv_bad(q("['a',1]"));
	argv_bad(q("['a',null]"));
	argv_bad(q("['a',['b']]"));
	argv_bad(q("['a',"));
	argv_bad(q("['a'] junk"));
	argv_bad(q("['a']['b']"));
	argv_bad(q("[a]"));
	argv_bad(q("['a\\u0000b']"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_oci),
		cmocka_unit_test(test_manifest_docker),
		cmocka_unit_test(test_manifest_minimal),
		cmocka_unit_test(test_manifest_serialize_resets_output),
		cmocka_unit_test(test_manifest_rejects),
		cmocka_unit_test(test_manifest_rejects_embedded_nul),
		cmocka_unit_test(test_manifest_len_respected),
		cmocka_unit_test(test_index_roundtrip),
		cmocka_unit_test(test_artifact_manifest_roundtrip),
		cmocka_unit_test(test_index_docker_list),
		cmocka_unit_test(test_index_rejects),
		cmocka_unit_test(test_index_add_remove),
		cmocka_unit_test(test_index_platforms_serialize),
		cmocka_unit_test(test_config_roundtrip),
		cmocka_unit_test(test_config_unknown_kept_after_edit),
		cmocka_unit_test(test_config_cmd_absent_vs_empty),
		cmocka_unit_test(test_config_built_from_scratch),
		cmocka_unit_test(test_config_rejects),
		cmocka_unit_test(test_platform_parse),
		cmocka_unit_test(test_platform_list_parse),
		cmocka_unit_test(test_platform_host),
		cmocka_unit_test(test_platform_match),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_strlist),
		cmocka_unit_test(test_registry_error_text),
		cmocka_unit_test(test_media_type_kind),
		cmocka_unit_test(test_docker_manifest_json),
		cmocka_unit_test(test_argv_json),
		cmocka_unit_test(test_argv_words),
		cmocka_unit_test(test_argv_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
