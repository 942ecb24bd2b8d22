/* Unit tests for the checks of a release as a build input
 * (src/lib/relcheck.c): what could not start is refused, the runtime
 * layer chosen, and the note about it returned rather than logged. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "relcheck.h"

#define STRV(...)                                                                  \
	((ocibuild_strv){ (const char *const[]){ __VA_ARGS__ },                      \
			  sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *) })

static oci_release relx(int has_erts)
{
	oci_release r;

	memset(&r, 0, sizeof(r));
	r.dir = (char *)"/src/_build/prod/rel/app";
	r.name = (char *)"app";
	r.version = (char *)"1.0.0";
	r.erts_version = (char *)"13.1.5";
	r.has_erts = has_erts;
	r.kind = OCI_REL_RELX;
	return r;
}

static oci_bplan plan(void)
{
	oci_bplan p;

	memset(&p, 0, sizeof(p));
	p.workdir = (char *)"/app";
	return p;
}

/* err is one OCIBUILD_ERR_OPTION line that says `what` */
static void assert_refused(ocibuild_error *err, const char *what)
{
	assert_int_equal(err->kind, OCIBUILD_ERR_OPTION);
	assert_non_null(err->message);
	if (!strstr(err->message, what))
		fail_msg("'%s' does not say '%s'", err->message, what);
	assert_null(strchr(err->message, '\n'));
	ocibuild_error_clear(err);
}

static void test_background_commands(void **state)
{
	oci_release r = relx(1);
	oci_bplan p = plan();
	ocibuild_error err = { 0 };
	int bundle = -1;

	(void)state;
	p.cmd_set = 1;
	p.cmd = STRV("daemon");
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), -1);
	assert_refused(&err, "'foreground'");
	p.cmd = STRV("start");
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), -1);
	assert_refused(&err, "-c start");
	/* Mix's start is the foreground one */
	r.kind = OCI_REL_MIX;
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	p.cmd = STRV("daemon_iex");
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), -1);
	assert_refused(&err, "'start'");
	/* the user's own entrypoint, or relx's plain script: not a command */
	p.entrypoint_set = 1;
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	p.entrypoint_set = 0;
	r.kind = OCI_REL_RELX;
	r.plain_script = 1;
	p.cmd = STRV("daemon");
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
}

static void test_runtime_choice(void **state)
{
	oci_release r = relx(1);
	oci_bplan p = plan();
	ocibuild_error err = { 0 };
	ocibuild_log_level level = OCIBUILD_LOG_DEBUG;
	const char *note;
	int bundle = -1;

	(void)state;
	/* scratch and ERTS: the runtime by default, with a note saying so */
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(bundle, 1);
	note = oci_relcheck_runtime_note(&r, &p, &level);
	assert_non_null(note);
	assert_int_equal(level, OCIBUILD_LOG_INFO);
	assert_non_null(strstr(note, "--no-bundle-runtime"));
	/* asked for: nothing to say */
	p.bundle_runtime = 1;
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(bundle, 1);
	assert_null(oci_relcheck_runtime_note(&r, &p, &level));
	/* refused: a warning */
	p.bundle_runtime = 0;
	p.no_bundle_runtime = 1;
	p.base = "scratch";
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(bundle, 0);
	note = oci_relcheck_runtime_note(&r, &p, &level);
	assert_non_null(note);
	assert_int_equal(level, OCIBUILD_LOG_WARN);
	/* a base brings its own runtime */
	p.no_bundle_runtime = 0;
	p.base = "oci:base:1";
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(bundle, 0);
	assert_null(oci_relcheck_runtime_note(&r, &p, &level));
}

static void test_no_erts(void **state)
{
	oci_release r = relx(0);
	oci_bplan p = plan();
	ocibuild_error err = { 0 };
	int bundle = -1;

	(void)state;
	/* nothing on scratch could start it */
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), -1);
	assert_refused(&err, "ERTS 13.1.5");
	p.base = "";
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), -1);
	assert_refused(&err, "--base");
	/* a base that provides it */
	p.base = "docker.io/library/erlang:27-slim";
	assert_int_equal(oci_relcheck_startable(&r, &p, &bundle, &err), 0);
	assert_int_equal(bundle, 0);
	assert_null(oci_relcheck_runtime_note(&r, &p, &(ocibuild_log_level){ 0 }));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_background_commands),
		cmocka_unit_test(test_runtime_choice),
		cmocka_unit_test(test_no_erts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
