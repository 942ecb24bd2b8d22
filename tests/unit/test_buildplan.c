/* Unit tests for a build's plan (src/lib/buildplan.c): the public build
 * options normalised into what the stages read, and each refusal one line
 * naming the option. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "buildplan.h"
#include "mem.h"

#define STRV(...)                                                                  \
	((ocibuild_strv){ (const char *const[]){ __VA_ARGS__ },                      \
			  sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *) })

/* a vector of a static array (the options borrow it) */
#define SVEC(a) ((ocibuild_strv){ (a), sizeof(a) / sizeof((a)[0]) })

static const char *const app1[] = { "app:1" };

/* the smallest options that make a plan: a tree, a tag, an archive */
static ocibuild_build_opts dir_opts(void)
{
	ocibuild_build_opts o = OCIBUILD_BUILD_OPTS_INIT;

	o.dir = "tree";
	o.tags = SVEC(app1);
	o.output = "app.tar";
	return o;
}

static void test_defaults(void **state)
{
	ocibuild_build_opts o = dir_opts();
	ocibuild_error err = { 0 };
	oci_bplan p;

	(void)state;
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_string_equal(p.dir, "tree");
	assert_null(p.release);
	assert_int_equal(p.tags.n, 1);
	assert_string_equal(p.tags.v[0], "app:1");
	assert_string_equal(p.workdir, "/app");
	assert_int_equal(p.ports.n, 0);
	assert_int_equal(p.np, 1); /* the build host's platform */
	assert_non_null(p.platforms[0].os);
	assert_non_null(p.platforms[0].architecture);
	assert_string_equal(p.output, "app.tar");
	assert_int_equal(p.output_gzip, 0);
	assert_null(p.layout);
	assert_null(p.push);
	assert_int_equal(p.cache, 1);
	assert_int_equal(p.cache_max, OCIBUILD_DEFAULT_CACHE_MAX);
	assert_int_equal(p.vcs_annotations, 1);
	assert_int_equal(p.attach_sbom, 1);
	assert_int_equal(p.created_set, 0);
	assert_int_equal(p.has_source_date_epoch, 0);
	assert_null(p.sign);
	assert_int_equal(p.base_layers, 1);
	oci_bplan_release(&p);
}

/* A registry base's layers stay in its registry only when the image goes
 * nowhere but to that registry (where they are mounted). */
static void test_base_layers(void **state)
{
	static const struct {
		const char *base, *output, *layout, *push;
		int need;
	} cases[] = {
		{ "registry.example:5000/base:1", NULL, NULL, "registry.example:5000/team", 0 },
		{ "registry.example:5000/base:1", NULL, NULL, "other.example/team", 1 },
		{ "registry.example:5000/base:1", "app.tar", NULL, "registry.example:5000/team", 1 },
		{ "registry.example:5000/base:1", NULL, "lay", "registry.example:5000/team", 1 },
		{ "registry.example:5000/base:1", "app.tar", NULL, NULL, 1 },
		{ "debian:12", NULL, NULL, "docker.io/team", 0 },
		{ "debian:12", NULL, NULL, "ghcr.io/team", 1 },
		{ "scratch", NULL, NULL, "registry.example:5000/team", 1 },
		{ NULL, NULL, NULL, "registry.example:5000/team", 1 },
		{ "oci:base-layout:1", NULL, NULL, "registry.example:5000/team", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ocibuild_build_opts o = dir_opts();
		ocibuild_error err = { 0 };
		oci_bplan p;

		o.base = cases[i].base;
		o.output = cases[i].output;
		o.layout = cases[i].layout;
		o.push = cases[i].push;
		assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
		if (p.base_layers != cases[i].need)
			fail_msg("base %s, -o %s, --layout %s, --push %s: base_layers %d",
				 cases[i].base ? cases[i].base : "(none)",
				 cases[i].output ? cases[i].output : "(none)",
				 cases[i].layout ? cases[i].layout : "(none)",
				 cases[i].push ? cases[i].push : "(none)", p.base_layers);
		oci_bplan_release(&p);
	}
}

static void test_normalised(void **state)
{
	ocibuild_build_opts o = dir_opts();
	ocibuild_error err = { 0 };
	oci_bplan p;

	(void)state;
	/* a tag without one is ":latest", a registry port is not a tag */
	o.tags = STRV("app", "registry.example:5000/team/app", "app:2.0", "localhost:5000/app:x");
	o.expose = STRV("8080", "53/udp");
	o.env = STRV("A=1", "B=");
	o.workdir = "/opt//srv/./";
	o.output = "app.tar.gz";
	o.layout = "lay";
	o.push = "registry.example:5000/team";
	o.no_cache = 1;
	o.cache_max = 1024;
	o.no_vcs_annotations = 1;
	o.no_attach_sbom = 1;
	o.compression = OCIBUILD_COMPRESS_ZSTD;
	o.platform = "linux/arm64/v8,linux/amd64";
	o.created = "@86400";
	o.has_source_date_epoch = 1;
	o.source_date_epoch = 7;
	o.cache_from = STRV("registry.example:5000/team/app:cache");
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_int_equal(p.tags.n, 4);
	assert_string_equal(p.tags.v[0], "app:latest");
	assert_string_equal(p.tags.v[1], "registry.example:5000/team/app:latest");
	assert_string_equal(p.tags.v[2], "app:2.0");
	assert_string_equal(p.tags.v[3], "localhost:5000/app:x");
	assert_int_equal(p.ports.n, 2);
	assert_string_equal(p.ports.v[0], "8080/tcp");
	assert_string_equal(p.ports.v[1], "53/udp");
	assert_int_equal(p.env.count, 2);
	assert_string_equal(p.workdir, "/opt/srv");
	assert_int_equal(p.output_gzip, 1);
	assert_string_equal(p.layout, "lay");
	assert_string_equal(p.push, "registry.example:5000/team");
	assert_int_equal(p.cache, 0);
	assert_int_equal(p.cache_max, 1024);
	assert_int_equal(p.vcs_annotations, 0);
	assert_int_equal(p.attach_sbom, 0);
	assert_int_equal(p.compression, OCIBUILD_COMPRESS_ZSTD);
	/* the order given */
	assert_int_equal(p.np, 2);
	assert_string_equal(p.platforms[0].architecture, "arm64");
	assert_string_equal(p.platforms[0].variant, "v8");
	assert_string_equal(p.platforms[1].architecture, "amd64");
	assert_int_equal(p.created_set, 1);
	assert_int_equal(p.created_now, 0);
	assert_int_equal(p.created, 86400);
	assert_int_equal(p.has_source_date_epoch, 1);
	assert_int_equal(p.source_date_epoch, 7);
	assert_int_equal(p.cache_from.count, 1);
	oci_bplan_release(&p);

	o.output = "app.tgz";
	o.created = "now";
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_int_equal(p.output_gzip, 1);
	assert_int_equal(p.created_set, 1);
	assert_int_equal(p.created_now, 1);
	oci_bplan_release(&p);

	/* an empty --created is none */
	o.created = "";
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_int_equal(p.created_set, 0);
	oci_bplan_release(&p);
}

static void test_release_input(void **state)
{
	ocibuild_build_opts o = dir_opts();
	ocibuild_error err = { 0 };
	oci_bplan p;

	(void)state;
	o.dir = NULL;
	o.project = "proj";
	o.release_name = "rel";
	o.lock = "proj/rebar.lock";
	o.bundle_runtime = 1;
	o.base = "scratch";
	o.sbom = "sbom.json";
	o.user = "1000:1000";
	o.cmd = STRV("foreground");
	o.cmd_set = 1;
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_null(p.dir);
	assert_string_equal(p.project, "proj");
	assert_string_equal(p.release_name, "rel");
	assert_string_equal(p.lock, "proj/rebar.lock");
	assert_int_equal(p.bundle_runtime, 1);
	assert_int_equal(p.no_bundle_runtime, 0);
	assert_string_equal(p.base, "scratch");
	assert_string_equal(p.sbom, "sbom.json");
	assert_string_equal(p.user, "1000:1000");
	assert_int_equal(p.cmd_set, 1);
	assert_string_equal(p.cmd.items[0], "foreground");
	oci_bplan_release(&p);

	/* an empty --dir is none */
	o.dir = "";
	assert_int_equal(oci_bplan_init(&p, &o, &err), 0);
	assert_null(p.dir);
	assert_string_equal(p.project, "proj");
	oci_bplan_release(&p);
}

/* each refusal: the options changed from dir_opts(), its kind and a word
 * of its message (the option it names) */
static const struct refusal {
	const char *name;
	void (*set)(ocibuild_build_opts *o);
	ocibuild_error_kind kind;
	const char *says;
} refusals[];

static void no_input(ocibuild_build_opts *o) { o->dir = NULL; }
static void empty_dir(ocibuild_build_opts *o) { o->dir = ""; }
static void two_inputs(ocibuild_build_opts *o) { o->release = "rel"; }
static void name_no_project(ocibuild_build_opts *o) { o->dir = NULL; o->release = "r"; o->release_name = "x"; }
static void bundle_on_base(ocibuild_build_opts *o) { o->dir = NULL; o->release = "r"; o->bundle_runtime = 1; o->base = "debian:12"; }
static void bundle_dir(ocibuild_build_opts *o) { o->bundle_runtime = 1; }
static void bundle_both(ocibuild_build_opts *o) { o->dir = NULL; o->release = "r"; o->bundle_runtime = 1; o->no_bundle_runtime = 1; }
static void no_tag(ocibuild_build_opts *o) { o->tags.count = 0; }
static void no_output(ocibuild_build_opts *o) { o->output = NULL; }
static void bad_output(ocibuild_build_opts *o) { o->output = "app.zip"; }
static void bare_tar(ocibuild_build_opts *o) { o->output = ".tar"; }
static const char *const bad_tag_v[] = { "app:1", "Bad:tag" };
static void bad_tag(ocibuild_build_opts *o) { o->tags = SVEC(bad_tag_v); }
static const char *const bad_env_v[] = { "NOVALUE" };
static void bad_env(ocibuild_build_opts *o) { o->env = SVEC(bad_env_v); }
static const char *const bad_label_v[] = { "=v" };
static void bad_label(ocibuild_build_opts *o) { o->labels = SVEC(bad_label_v); }
static const char *const bad_annotation_v[] = { "k" };
static void bad_annotation(ocibuild_build_opts *o) { o->annotations = SVEC(bad_annotation_v); }
static const char *const bad_port_v[] = { "80/icmp" };
static void bad_port(ocibuild_build_opts *o) { o->expose = SVEC(bad_port_v); }
static void bad_workdir(ocibuild_build_opts *o) { o->workdir = "srv"; }
static void bad_platform(ocibuild_build_opts *o) { o->platform = "linux/amd64,linux/amd64"; }
static void empty_uid(ocibuild_build_opts *o) { o->user = ""; }
static void negative_epoch(ocibuild_build_opts *o) { o->has_source_date_epoch = 1; o->source_date_epoch = -1; }
static void bad_created(ocibuild_build_opts *o) { o->created = "yesterday"; }
static const char *const bad_cache_from_v[] = { "Not A Ref" };
static void bad_cache_from(ocibuild_build_opts *o) { o->cache_from = SVEC(bad_cache_from_v); }
static void sign_no_push(ocibuild_build_opts *o) { o->registry.sign_key = "cosign.key"; }

static const struct refusal refusals[] = {
	{ "no input", no_input, OCIBUILD_ERR_OPTION, "no input" },
	{ "empty --dir", empty_dir, OCIBUILD_ERR_OPTION, "no input" },
	{ "two inputs", two_inputs, OCIBUILD_ERR_OPTION, "several inputs" },
	{ "name without project", name_no_project, OCIBUILD_ERR_OPTION, "--project" },
	{ "bundle on a base", bundle_on_base, OCIBUILD_ERR_OPTION, "--bundle-runtime" },
	{ "bundle a tree", bundle_dir, OCIBUILD_ERR_OPTION, "--bundle-runtime" },
	{ "bundle and not", bundle_both, OCIBUILD_ERR_OPTION, "--no-bundle-runtime" },
	{ "no tag", no_tag, OCIBUILD_ERR_OPTION, "-t NAME:TAG" },
	{ "no output", no_output, OCIBUILD_ERR_OPTION, "--layout" },
	{ "bad output", bad_output, OCIBUILD_ERR_OPTION, "app.zip" },
	{ "bare .tar", bare_tar, OCIBUILD_ERR_OPTION, ".tar" },
	{ "bad tag", bad_tag, OCIBUILD_ERR_OPTION, "Bad:tag" },
	{ "bad env", bad_env, OCIBUILD_ERR_OPTION, "--env" },
	{ "bad label", bad_label, OCIBUILD_ERR_OPTION, "--label" },
	{ "bad annotation", bad_annotation, OCIBUILD_ERR_OPTION, "--annotation" },
	{ "bad port", bad_port, OCIBUILD_ERR_OPTION, "80/icmp" },
	{ "bad workdir", bad_workdir, OCIBUILD_ERR_OPTION, "srv" },
	{ "bad platform", bad_platform, OCIBUILD_ERR_OPTION, "linux/amd64" },
	{ "empty uid", empty_uid, OCIBUILD_ERR_OPTION, "--uid" },
	{ "negative epoch", negative_epoch, OCIBUILD_ERR_OPTION, "SOURCE_DATE_EPOCH" },
	{ "bad created", bad_created, OCIBUILD_ERR_OPTION, "yesterday" },
	{ "bad cache-from", bad_cache_from, OCIBUILD_ERR_OPTION, "--cache-from" },
	{ "sign without push", sign_no_push, OCIBUILD_ERR_OPTION, "--push" },
};

static void test_refusals(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		ocibuild_build_opts o = dir_opts();
		ocibuild_error err = { 0 };
		oci_bplan p;

		refusals[i].set(&o);
		if (oci_bplan_init(&p, &o, &err) != -1)
			fail_msg("%s: accepted", refusals[i].name);
		if (err.kind != refusals[i].kind)
			fail_msg("%s: kind %d, not %d (%s)", refusals[i].name, (int)err.kind,
				 (int)refusals[i].kind, err.message);
		assert_non_null(err.message);
		if (!strstr(err.message, refusals[i].says))
			fail_msg("%s: '%s' does not say '%s'", refusals[i].name, err.message,
				 refusals[i].says);
		if (strchr(err.message, '\n'))
			fail_msg("%s: more than one line: '%s'", refusals[i].name, err.message);
		/* nothing of a refused plan is left for the stages to read */
		assert_null(p.output);
		oci_bplan_release(&p);
		ocibuild_error_clear(&err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_normalised),
		cmocka_unit_test(test_release_input),
		cmocka_unit_test(test_base_layers),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
