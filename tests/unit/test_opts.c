/* Unit tests for the public options structs: their versions, the registry
 * defaults (transfer.c's oci_net_init) and the result's references
 * (distribute.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "distribute.h"
#include "mem.h"

/* err says to initialise `type` with its _INIT macro, as one line */
static void assert_version_error(const ocibuild_error *err, const char *type, const char *init)
{
	assert_int_equal(err->kind, OCIBUILD_ERR_OPTION);
	assert_non_null(err->message);
	assert_non_null(strstr(err->message, type));
	assert_non_null(strstr(err->message, init));
	assert_null(strchr(err->message, '\n'));
}

static void test_net_defaults(void **state)
{
	ocibuild_registry_opts o = OCIBUILD_REGISTRY_OPTS_INIT;
	const char *insecure[] = { "registry.lan:5000" };
	ocibuild_error err = { 0 };
	oci_net net;

	(void)state;
	assert_int_equal(oci_net_init(&net, NULL, &err), 0);
	assert_int_equal(net.chunk, OCIBUILD_DEFAULT_CHUNK_SIZE);
	assert_int_equal(net.jobs, OCIBUILD_DEFAULT_JOBS);
	assert_null(net.ca_file);
	assert_int_equal(net.insecure.count, 0);
	assert_int_equal(oci_net_init(&net, &o, &err), 0);
	assert_int_equal(net.chunk, OCIBUILD_DEFAULT_CHUNK_SIZE);
	assert_int_equal(net.jobs, OCIBUILD_DEFAULT_JOBS);
	o.ca_file = "ca.pem";
	o.insecure_registries.items = insecure;
	o.insecure_registries.count = 1;
	o.chunk_size = 65536;
	o.jobs = 9;
	assert_int_equal(oci_net_init(&net, &o, &err), 0);
	assert_string_equal(net.ca_file, "ca.pem");
	assert_int_equal(net.insecure.count, 1);
	assert_string_equal(net.insecure.items[0], "registry.lan:5000");
	assert_int_equal(net.chunk, 65536);
	assert_int_equal(net.jobs, 9);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	o.jobs = -1;
	assert_int_equal(oci_net_init(&net, &o, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_OPTION);
	ocibuild_error_clear(&err);
	o.jobs = 0;
	o.version = 0;
	assert_int_equal(oci_net_init(&net, &o, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
}

static void test_build_versions(void **state)
{
	ocibuild_ctx *ctx = ocibuild_ctx_new();
	ocibuild_build_opts o;
	ocibuild_build_opts good = OCIBUILD_BUILD_OPTS_INIT;
	ocibuild_build_result res;
	ocibuild_error err = { 0 };

	(void)state;
	assert_non_null(ctx);
	assert_int_equal(good.version, OCIBUILD_BUILD_OPTS_VERSION);
	assert_int_equal(good.registry.version, OCIBUILD_REGISTRY_OPTS_VERSION);
	/* a struct not made with the _INIT macro */
	memset(&o, 0, sizeof(o));
	o.dir = "/nonexistent";
	assert_int_equal(ocibuild_build(ctx, &o, &res, &err), -1);
	assert_version_error(&err, "ocibuild_build_opts", "OCIBUILD_BUILD_OPTS_INIT");
	assert_null(res.pushed_ref);
	ocibuild_error_clear(&err);
	/* a newer header's struct */
	o = good;
	o.dir = "/nonexistent";
	o.version = OCIBUILD_BUILD_OPTS_VERSION + 1;
	assert_int_equal(ocibuild_build(ctx, &o, &res, &err), -1);
	assert_version_error(&err, "ocibuild_build_opts", "OCIBUILD_BUILD_OPTS_INIT");
	ocibuild_error_clear(&err);
	/* the embedded registry options are checked too */
	o = good;
	o.dir = "/nonexistent";
	o.registry.version = 0;
	assert_int_equal(ocibuild_build(ctx, &o, &res, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
	/* with both right, the next check speaks: the missing input */
	o = good;
	o.dir = "/nonexistent/ocibuild-test-opts";
	o.tags.items = (const char *const[]){ "app:1" };
	o.tags.count = 1;
	o.output = "/nonexistent/ocibuild-test-opts.tar";
	o.no_cache = 1;
	assert_int_equal(ocibuild_build(ctx, &o, &res, &err), -1);
	assert_non_null(err.message);
	assert_null(strstr(err.message, "_INIT"));
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
}

static void test_other_versions(void **state)
{
	ocibuild_ctx *ctx = ocibuild_ctx_new();
	ocibuild_push_opts push;
	ocibuild_pull_opts pull;
	ocibuild_verify_opts verify;
	ocibuild_sbom_opts sbom;
	ocibuild_registry_opts reg;
	ocibuild_build_result res;
	ocibuild_verify_result vres;
	ocibuild_sbom_result sres;
	ocibuild_error err = { 0 };

	(void)state;
	assert_non_null(ctx);
	memset(&push, 0, sizeof(push));
	push.source = "x.tar";
	push.push = "127.0.0.1:1";
	assert_int_equal(ocibuild_push(ctx, &push, &res, &err), -1);
	assert_version_error(&err, "ocibuild_push_opts", "OCIBUILD_PUSH_OPTS_INIT");
	ocibuild_error_clear(&err);

	memset(&pull, 0, sizeof(pull));
	pull.ref = "127.0.0.1:1/app:1";
	pull.layout = "L";
	assert_int_equal(ocibuild_pull(ctx, &pull, &res, &err), -1);
	assert_version_error(&err, "ocibuild_pull_opts", "OCIBUILD_PULL_OPTS_INIT");
	ocibuild_error_clear(&err);
	pull.version = OCIBUILD_PULL_OPTS_VERSION;
	assert_int_equal(ocibuild_pull(ctx, &pull, &res, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
	/* nothing is pushed, so nothing can be signed */
	pull.registry.version = OCIBUILD_REGISTRY_OPTS_VERSION;
	pull.registry.sign_key = "key.pem";
	assert_int_equal(ocibuild_pull(ctx, &pull, &res, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_OPTION);
	assert_non_null(strstr(err.message, "sign"));
	ocibuild_error_clear(&err);

	memset(&verify, 0, sizeof(verify));
	verify.ref = "127.0.0.1:1/app:1";
	verify.key = "cosign.pub";
	assert_int_equal(ocibuild_verify(ctx, &verify, &vres, &err), -1);
	assert_version_error(&err, "ocibuild_verify_opts", "OCIBUILD_VERIFY_OPTS_INIT");
	ocibuild_error_clear(&err);
	/* the embedded registry options have a version of their own */
	verify.version = OCIBUILD_VERIFY_OPTS_VERSION;
	assert_int_equal(ocibuild_verify(ctx, &verify, &vres, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
	ocibuild_verify_result_release(&vres);

	memset(&sbom, 0, sizeof(sbom));
	memset(&sres, 0, sizeof(sres));
	sbom.ref = "127.0.0.1:1/app:1";
	assert_int_equal(ocibuild_sbom_fetch(ctx, &sbom, &sres, &err), -1);
	assert_version_error(&err, "ocibuild_sbom_opts", "OCIBUILD_SBOM_OPTS_INIT");
	ocibuild_error_clear(&err);
	sbom.version = OCIBUILD_SBOM_OPTS_VERSION;
	assert_int_equal(ocibuild_sbom_fetch(ctx, &sbom, &sres, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
	ocibuild_sbom_result_release(&sres);

	memset(&reg, 0, sizeof(reg));
	assert_int_equal(ocibuild_login(ctx, "127.0.0.1:1", "u", "p", &reg, &err), -1);
	assert_version_error(&err, "ocibuild_registry_opts", "OCIBUILD_REGISTRY_OPTS_INIT");
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
}

/* every digest reference reaches the result, however long the list */
static void test_digest_refs_uncut(void **state)
{
	oci_strlist refs = { 0 };
	ocibuild_build_result res;
	ocibuild_error err = { 0 };
	char line[400], *p;
	size_t i, lines = 0;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "registry.example/%0200zu:tag", i);
		assert_int_equal(oci_strlist_push(&refs, line, &err), 0);
		snprintf(line, sizeof(line), "registry.example/%0200zu@sha256:%064zu", i, i);
		assert_int_equal(oci_strlist_push(&refs, line, &err), 0);
	}
	memset(&res, 0, sizeof(res));
	assert_int_equal(oci_digest_refs(&refs, &res.pushed_ref, &err), 0);
	assert_true(strlen(res.pushed_ref) > 4096);
	for (p = res.pushed_ref; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		assert_non_null(strstr(p, "@sha256:"));
		lines++;
	}
	assert_int_equal(lines, 40);
	snprintf(line, sizeof(line), "registry.example/%0200zu@sha256:%064zu", (size_t)39, (size_t)39);
	assert_string_equal(strrchr(res.pushed_ref, '\n') + 1, line);
	ocibuild_build_result_release(&res);
	assert_null(res.pushed_ref);
	ocibuild_build_result_release(&res); /* twice, and on a zeroed result: fine */
	ocibuild_build_result_release(NULL);
	oci_strlist_release(&refs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_defaults),
		cmocka_unit_test(test_build_versions),
		cmocka_unit_test(test_other_versions),
		cmocka_unit_test(test_digest_refs_uncut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
