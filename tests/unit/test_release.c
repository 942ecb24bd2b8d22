/* Unit tests for BEAM release handling (src/lib/release.c): app names, OTP
 * apps, classification into layers, and opening and finding synthetic
 * releases made in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "release.h"

#define TMP_PREFIX "/tmp/ocibuild-test-release-"
#include "testutil.h"

static const char rebar_lock_cowboy[] =
	"{\"1.2.0\",\n"
	"[{<<\"cowboy\">>,{pkg,<<\"cowboy\">>,<<\"2.10.0\">>},0}]}.\n"
	"[{pkg_hash,[{<<\"cowboy\">>,<<\"ABCD\">>}]}].\n";

static const char mix_lock_cowboy[] =
	"%{\n  \"cowboy\": {:hex, :cowboy, \"2.10.0\", \"abcd\", [:make], [], \"hexpm\", \"ef01\"},\n}\n";

/* ---- file helpers ---- */

/* mkdir -p of an absolute path. */
static void mkdir_all(const char *dir)
{
	char *path = strdup(dir), *s;

	assert_non_null(path);
	for (s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*s = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
	free(path);
}

static void mkdir_p(const char *base, const char *rel)
{
	char *path = pjoin(base, rel);

	mkdir_all(path);
	free(path);
}

/* Write base/rel, creating the directories on the way. */
static void put(const char *base, const char *rel, const char *text)
{
	char *path = pjoin(base, rel), *slash = strrchr(path, '/');
	FILE *f;

	*slash = '\0';
	mkdir_all(path);
	*slash = '/';
	f = fopen(path, "w");
	if (!f)
		fail_msg("fopen %s: %s", path, strerror(errno));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void rm(const char *base, const char *rel)
{
	char *path = pjoin(base, rel);

	assert_int_equal(unlink(path), 0);
	free(path);
}

/* A relx release `name` at base/rel (a path relative to base). */
static char *make_release(const char *base, const char *rel, const char *name, int with_erts)
{
	char *dir = pjoin(base, rel);
	char buf[256];

	mkdir_p(base, rel);
	put(dir, "releases/start_erl.data", "13.1.5 0.1.0\n");
	snprintf(buf, sizeof(buf), "releases/0.1.0/%s.rel", name);
	put(dir, buf, "{release,{\"x\",\"0.1.0\"},{erts,\"13.1.5\"},[]}.\n");
	put(dir, "releases/0.1.0/sys.config", "[].\n");
	snprintf(buf, sizeof(buf), "bin/%s", name);
	/* relx's extended start script: it knows "foreground" */
	put(dir, buf, "#!/bin/sh\ncase \"$1\" in\n    console|foreground) ;;\nesac\n");
	put(dir, "lib/kernel-8.5.3/ebin/kernel.app", "{application,kernel,[]}.\n");
	put(dir, "lib/stdlib-4.3.1/ebin/stdlib.app", "{application,stdlib,[]}.\n");
	put(dir, "lib/cowboy-2.10.0/ebin/cowboy.app", "{application,cowboy,[]}.\n");
	snprintf(buf, sizeof(buf), "lib/%s-0.1.0/ebin/%s.app", name, name);
	put(dir, buf, "{application,x,[]}.\n");
	if (with_erts)
		put(dir, "erts-13.1.5/bin/beam.smp", "\x7f" "ELF");
	return dir;
}

static void open_ok(const char *dir, const char *lock, oci_release *r)
{
	ocibuild_error err = { 0 };

	if (oci_release_open(dir, lock, r, &err) < 0)
		fail_msg("open %s: %s", dir, err.message ? err.message : "?");
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
}

static void open_fails(const char *dir, const char *lock, const char *what)
{
	ocibuild_error err = { 0 };
	oci_release r;

	memset(&r, 0x5a, sizeof(r));
	if (oci_release_open(dir, lock, &r, &err) == 0)
		fail_msg("'%s' opened", dir);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	if (!strstr(err.message, dir))
		fail_msg("message does not name the directory: %s", err.message);
	if (!strstr(err.message, what))
		fail_msg("message does not say '%s': %s", what, err.message);
	/* nothing is left to release */
	assert_null(r.dir);
	assert_null(r.name);
	assert_null(r.lock_path);
	assert_null(r.lock.deps);
	ocibuild_error_clear(&err);
}

/* ---- names ---- */

static void check_app(const char *dirname, const char *want)
{
	char *got = oci_release_app_name(dirname);

	assert_non_null(got);
	if (strcmp(got, want))
		fail_msg("'%s' -> '%s', expected '%s'", dirname, got, want);
	free(got);
}

static void test_app_name(void **state)
{
	(void)state;
	check_app("cowboy-2.10.0", "cowboy");
	check_app("my_app-1.0.0-rc.1", "my_app");
	check_app("lib/foo-1.0", "foo");
	check_app("/abs/release/lib/ssl-11.0.3", "ssl");
	check_app("noversion", "noversion");
	check_app("lib/noversion", "noversion");
	check_app("app-v1", "app-v1");
	check_app("x-0", "x");
	check_app("", "");
}

static void test_otp_apps(void **state)
{
	static const char *const otp[] = {
		"kernel", "stdlib", "sasl", "crypto", "ssl", "public_key", "compiler",
		"runtime_tools", "erts", "elixir", "logger", "eex", "iex", "mix",
	};
	static const char *const not_otp[] = {
		"cowboy", "ranch", "phoenix", "jason", "", "Kernel", "kernel2", "std",
		"stdlib-4.3", "my_app",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(otp) / sizeof(otp[0]); i++)
		if (!oci_release_is_otp_app(otp[i]))
			fail_msg("'%s' is an OTP application", otp[i]);
	for (i = 0; i < sizeof(not_otp) / sizeof(not_otp[0]); i++)
		if (oci_release_is_otp_app(not_otp[i]))
			fail_msg("'%s' is not an OTP application", not_otp[i]);
}

static void test_group_name(void **state)
{
	(void)state;
	assert_string_equal(oci_group_name(OCI_GROUP_ERTS), "erts");
	assert_string_equal(oci_group_name(OCI_GROUP_DEPS), "deps");
	assert_string_equal(oci_group_name(OCI_GROUP_APP), "app");
	assert_string_equal(oci_group_name(OCI_GROUP_COUNT), "?");
}

/* ---- opening and classifying ---- */

struct cls {
	const char *path;
	oci_group group;
};

static void check_classes(const oci_release *r, const struct cls *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		oci_group g = oci_release_classify(r, c[i].path);

		if (g != c[i].group)
			fail_msg("'%s' -> %s, expected %s", c[i].path, oci_group_name(g),
				 oci_group_name(c[i].group));
	}
}

static void test_open_and_classify(void **state)
{
	static const struct cls with_lock[] = {
		{ "erts-13.1.5/bin/x", OCI_GROUP_ERTS },
		{ "erts-13.1.5/bin/beam.smp", OCI_GROUP_ERTS },
		{ "lib/kernel-8.5.3/ebin/x", OCI_GROUP_ERTS },
		{ "lib/stdlib-4.3.1/ebin/stdlib.app", OCI_GROUP_ERTS },
		{ "lib/cowboy-2.10.0/ebin/cowboy.app", OCI_GROUP_DEPS },
		{ "lib/cowboy-2.10.0", OCI_GROUP_DEPS },
		{ "lib/myrel-0.1.0", OCI_GROUP_APP },
		{ "lib/myrel-0.1.0/ebin/myrel.app", OCI_GROUP_APP },
		{ "bin/myrel", OCI_GROUP_APP },
		{ "releases/0.1.0/sys.config", OCI_GROUP_APP },
		{ "releases/start_erl.data", OCI_GROUP_APP },
		{ "lib", OCI_GROUP_APP },
		{ "lib/", OCI_GROUP_APP },
		{ "library/cowboy-2.10.0", OCI_GROUP_APP },
	};
	char *tmp = make_tmpdir(), *proj = pjoin(tmp, "proj"), *dir, *lock;
	oci_release r;

	(void)state;
	dir = make_release(proj, "_build/prod/rel/myrel", "myrel", 1);
	put(proj, "rebar.lock", rebar_lock_cowboy);
	lock = pjoin(proj, "rebar.lock");

	open_ok(dir, NULL, &r);
	assert_string_equal(r.dir, dir);
	assert_string_equal(r.name, "myrel");
	assert_string_equal(r.version, "0.1.0");
	assert_string_equal(r.erts_version, "13.1.5");
	assert_int_equal(r.has_erts, 1);
	assert_int_equal(r.kind, OCI_REL_RELX);
	assert_string_equal(oci_release_default_cmd(&r), "foreground");
	assert_int_equal(r.plain_script, 0);
	/* the lock of the project the release was built in */
	assert_non_null(r.lock_path);
	assert_string_equal(r.lock_path, lock);
	assert_int_equal(r.lock.n, 1);
	assert_non_null(oci_lock_find(&r.lock, "cowboy"));
	check_classes(&r, with_lock, sizeof(with_lock) / sizeof(with_lock[0]));
	oci_release_release(&r);
	assert_null(r.dir);
	assert_null(r.lock.deps);

	free(dir);
	free(lock);
	free(proj);
	remove_tree(tmp);
}

static void test_classify_without_erts(void **state)
{
	static const struct cls c[] = {
		{ "lib/kernel-8.5.3/ebin/x", OCI_GROUP_DEPS },
		{ "lib/stdlib-4.3.1/ebin/stdlib.app", OCI_GROUP_DEPS },
		{ "lib/elixir-1.15.7/ebin/elixir.app", OCI_GROUP_DEPS },
		{ "lib/cowboy-2.10.0/ebin/cowboy.app", OCI_GROUP_DEPS },
		{ "lib/myrel-0.1.0/ebin/myrel.app", OCI_GROUP_APP },
		{ "bin/myrel", OCI_GROUP_APP },
	};
	char *tmp = make_tmpdir(), *proj = pjoin(tmp, "proj"), *dir;
	oci_release r;

	(void)state;
	dir = make_release(proj, "_build/prod/rel/myrel", "myrel", 0);
	put(proj, "rebar.lock", rebar_lock_cowboy);
	open_ok(dir, NULL, &r);
	assert_int_equal(r.has_erts, 0);
	assert_int_equal(r.lock.n, 1);
	check_classes(&r, c, sizeof(c) / sizeof(c[0]));
	oci_release_release(&r);
	free(dir);
	free(proj);
	remove_tree(tmp);
}

static void test_classify_without_lock(void **state)
{
	static const struct cls c[] = {
		{ "erts-13.1.5/bin/x", OCI_GROUP_ERTS },
		{ "lib/kernel-8.5.3/ebin/x", OCI_GROUP_ERTS },
		{ "lib/cowboy-2.10.0/ebin/cowboy.app", OCI_GROUP_APP },
		{ "lib/myrel-0.1.0/ebin/myrel.app", OCI_GROUP_APP },
	};
	char *tmp = make_tmpdir(), *dir;
	oci_release r;

	(void)state;
	/* not under _build/<profile>/rel: no lock is looked for */
	dir = make_release(tmp, "somewhere/myrel", "myrel", 1);
	put(tmp, "somewhere/rebar.lock", rebar_lock_cowboy);
	put(tmp, "rebar.lock", rebar_lock_cowboy);
	open_ok(dir, NULL, &r);
	assert_null(r.lock_path);
	assert_int_equal(r.lock.n, 0);
	check_classes(&r, c, sizeof(c) / sizeof(c[0]));
	oci_release_release(&r);
	free(dir);

	/* under _build but the project has no lock */
	dir = make_release(tmp, "p2/_build/prod/rel/myrel", "myrel", 1);
	open_ok(dir, NULL, &r);
	assert_null(r.lock_path);
	check_classes(&r, c, sizeof(c) / sizeof(c[0]));
	oci_release_release(&r);
	free(dir);
	remove_tree(tmp);
}

/* relx {extended_start_script, false}: bin/NAME only runs erlexec */
static void test_plain_start_script(void **state)
{
	char *tmp = make_tmpdir(), *dir;
	oci_release r;

	(void)state;
	dir = make_release(tmp, "plain/myrel", "myrel", 1);
	put(dir, "bin/myrel", "#!/bin/sh\nset -e\nexec \"$BINDIR/erlexec\" \"$@\"\n");
	open_ok(dir, NULL, &r);
	assert_int_equal(r.kind, OCI_REL_RELX);
	assert_int_equal(r.plain_script, 1);
	assert_string_equal(oci_release_default_cmd(&r), "-noinput");
	oci_release_release(&r);
	free(dir);
	remove_tree(tmp);
}

static void test_explicit_lock(void **state)
{
	char *tmp = make_tmpdir(), *dir, *lock;
	oci_release r;

	(void)state;
	dir = make_release(tmp, "rel/myrel", "myrel", 1);
	put(tmp, "elsewhere/mix.lock", mix_lock_cowboy);
	lock = pjoin(tmp, "elsewhere/mix.lock");
	open_ok(dir, lock, &r);
	assert_string_equal(r.lock_path, lock);
	assert_int_equal(r.lock.n, 1);
	assert_int_equal(oci_release_classify(&r, "lib/cowboy-2.10.0/ebin/cowboy.app"),
			 OCI_GROUP_DEPS);
	oci_release_release(&r);

	/* a lock that does not parse fails the open, naming the lock */
	put(tmp, "elsewhere/mix.lock", "%{\n\n  \"a\": \"#{x}\"\n}\n");
	{
		ocibuild_error err = { 0 };

		memset(&r, 0, sizeof(r));
		assert_int_equal(oci_release_open(dir, lock, &r, &err), -1);
		assert_non_null(err.message);
		if (!strstr(err.message, lock) || !strstr(err.message, "line 3"))
			fail_msg("%s", err.message);
		assert_null(r.dir);
		ocibuild_error_clear(&err);
	}
	free(lock);
	free(dir);
	remove_tree(tmp);
}

/* The mix project layout, with the lock found next to mix.exs. */
static void test_mix_release(void **state)
{
	char *tmp = make_tmpdir(), *proj = pjoin(tmp, "proj"), *dir, *lock;
	oci_release r;

	(void)state;
	dir = make_release(proj, "_build/prod/rel/myrel", "myrel", 1);
	put(dir, "releases/COOKIE", "SECRETCOOKIE");
	put(proj, "mix.exs", "defmodule X.MixProject do\nend\n");
	put(proj, "mix.lock", mix_lock_cowboy);
	lock = pjoin(proj, "mix.lock");
	open_ok(dir, NULL, &r);
	assert_int_equal(r.kind, OCI_REL_MIX);
	assert_string_equal(oci_release_default_cmd(&r), "start");
	assert_non_null(r.lock_path);
	assert_string_equal(r.lock_path, lock);
	assert_int_equal(r.lock.n, 1);
	assert_int_equal(oci_release_classify(&r, "lib/cowboy-2.10.0/ebin/cowboy.app"),
			 OCI_GROUP_DEPS);
	oci_release_release(&r);

	/* without the cookie it is a relx release */
	rm(dir, "releases/COOKIE");
	open_ok(dir, NULL, &r);
	assert_int_equal(r.kind, OCI_REL_RELX);
	oci_release_release(&r);
	free(lock);
	free(dir);
	free(proj);
	remove_tree(tmp);
}

/* A trailing slash on the release directory still finds the lock. */
static void test_lock_found_trailing_slash(void **state)
{
	char *tmp = make_tmpdir(), *proj = pjoin(tmp, "proj"), *dir, *slashed, *lock;
	oci_release r;

	(void)state;
	dir = make_release(proj, "_build/default/rel/myrel", "myrel", 1);
	put(proj, "rebar.lock", rebar_lock_cowboy);
	lock = pjoin(proj, "rebar.lock");
	slashed = pjoin(dir, "");
	open_ok(slashed, NULL, &r);
	assert_non_null(r.lock_path);
	assert_string_equal(r.lock_path, lock);
	oci_release_release(&r);
	free(slashed);
	free(lock);
	free(dir);
	free(proj);
	remove_tree(tmp);
}

/* `ocibuild build --release _build/prod/rel/myrel` run in the project. */
static void test_lock_found_relative(void **state)
{
	char *tmp = make_tmpdir(), *dir, *cwd, *lock_path;
	ocibuild_error err = { 0 };
	oci_release r;
	int rc, found;

	(void)state;
	dir = make_release(tmp, "_build/prod/rel/myrel", "myrel", 1);
	put(tmp, "rebar.lock", rebar_lock_cowboy);
	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	assert_int_equal(chdir(tmp), 0);
	rc = oci_release_open("_build/prod/rel/myrel", NULL, &r, &err);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	if (rc < 0)
		fail_msg("open: %s", err.message ? err.message : "?");
	found = r.lock_path && r.lock.n == 1 && oci_lock_find(&r.lock, "cowboy");
	lock_path = r.lock_path ? strdup(r.lock_path) : NULL;
	found = found && oci_release_classify(&r, "lib/cowboy-2.10.0/ebin/cowboy.app") ==
				 OCI_GROUP_DEPS;
	oci_release_release(&r);
	free(dir);
	remove_tree(tmp);
	if (!found)
		fail_msg("the project's rebar.lock was not found (lock_path %s)",
			 lock_path ? lock_path : "NULL");
	free(lock_path);
}

static void test_open_errors(void **state)
{
	char *tmp = make_tmpdir(), *dir, *missing, *target;

	(void)state;
	missing = pjoin(tmp, "does-not-exist");
	open_fails(missing, NULL, "rebar3 as prod release");
	free(missing);

	/* a file, not a directory */
	put(tmp, "afile", "x");
	missing = pjoin(tmp, "afile");
	open_fails(missing, NULL, "rebar3 as prod release");
	free(missing);

	/* an empty directory: no start_erl.data */
	mkdir_p(tmp, "empty");
	missing = pjoin(tmp, "empty");
	open_fails(missing, NULL, "start_erl.data");
	open_fails(missing, NULL, "rebar3 as prod release");
	free(missing);

	/* start_erl.data without a version */
	dir = make_release(tmp, "nover", "myrel", 1);
	put(dir, "releases/start_erl.data", "13.1.5\n");
	open_fails(dir, NULL, "rebar3 as prod release");
	free(dir);

	/* no releases/<vsn>/<name>.rel */
	dir = make_release(tmp, "norel", "myrel", 1);
	rm(dir, "releases/0.1.0/myrel.rel");
	open_fails(dir, NULL, ".rel");
	open_fails(dir, NULL, "rebar3 as prod release");
	free(dir);

	/* the .rel of another version does not count */
	dir = make_release(tmp, "otherver", "myrel", 1);
	put(dir, "releases/start_erl.data", "13.1.5 0.2.0\n");
	open_fails(dir, NULL, "rebar3 as prod release");
	free(dir);

	/* no start script */
	dir = make_release(tmp, "nobin", "myrel", 1);
	rm(dir, "bin/myrel");
	open_fails(dir, NULL, "bin/");
	free(dir);

	/* dev mode: lib/<app> links out of the release */
	dir = make_release(tmp, "devmode", "myrel", 1);
	mkdir_p(tmp, "src_build/lib/myrel_dev/ebin");
	target = pjoin(tmp, "src_build/lib/myrel_dev");
	missing = pjoin(dir, "lib/myrel_dev-0.1.0");
	assert_int_equal(symlink(target, missing), 0);
	open_fails(dir, NULL, "rebar3 as prod release");
	open_fails(dir, NULL, "myrel_dev-0.1.0");
	/* the same release without the link opens */
	assert_int_equal(unlink(missing), 0);
	{
		oci_release r;

		open_ok(dir, NULL, &r);
		oci_release_release(&r);
	}
	free(missing);
	free(target);
	free(dir);

	/* a lock path that does not exist */
	dir = make_release(tmp, "badlock", "myrel", 1);
	missing = pjoin(tmp, "nolock/rebar.lock");
	{
		ocibuild_error err = { 0 };
		oci_release r;

		assert_int_equal(oci_release_open(dir, missing, &r, &err), -1);
		assert_non_null(err.message);
		assert_non_null(strstr(err.message, "nolock/rebar.lock"));
		assert_null(r.dir);
		ocibuild_error_clear(&err);
	}
	free(missing);
	free(dir);
	remove_tree(tmp);
}

/* ---- finding a release in a project ---- */

static void set_mtime(const char *dir, long sec)
{
	char *p = pjoin(dir, "releases/start_erl.data");
	struct timeval tv[2] = { { sec, 0 }, { sec, 0 } };

	assert_int_equal(utimes(p, tv), 0);
	free(p);
}

static void check_found(const char *project, const char *name, const char *want)
{
	ocibuild_error err = { 0 };
	char *dir = NULL;

	if (oci_release_find(project, name, &dir, &err) < 0)
		fail_msg("find %s: %s", name ? name : "(any)", err.message ? err.message : "?");
	assert_non_null(dir);
	assert_string_equal(dir, want);
	free(dir);
}

static char *find_fails(const char *project, const char *name)
{
	ocibuild_error err = { 0 };
	char sentinel[] = "x";
	char *dir = sentinel, *msg;

	if (oci_release_find(project, name, &dir, &err) == 0)
		fail_msg("found %s", dir);
	assert_null(dir);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	msg = strdup(err.message);
	assert_non_null(msg);
	ocibuild_error_clear(&err);
	return msg;
}

static void test_find_newest(void **state)
{
	char *tmp = make_tmpdir(), *prod, *staging;

	(void)state;
	prod = make_release(tmp, "_build/prod/rel/myrel", "myrel", 1);
	staging = make_release(tmp, "_build/staging/rel/myrel", "myrel", 1);
	set_mtime(prod, 1700000000);
	set_mtime(staging, 1600000000);
	check_found(tmp, NULL, prod);
	check_found(tmp, "myrel", prod);
	set_mtime(staging, 1800000000);
	check_found(tmp, NULL, staging);
	check_found(tmp, "myrel", staging);
	free(prod);
	free(staging);
	remove_tree(tmp);
}

static void test_find_several_names(void **state)
{
	char *tmp = make_tmpdir(), *alpha, *beta, *msg;

	(void)state;
	put(tmp, "rebar.config", "{erl_opts, []}.\n");
	alpha = make_release(tmp, "_build/prod/rel/alpha", "alpha", 1);
	beta = make_release(tmp, "_build/prod/rel/beta", "beta", 1);
	set_mtime(alpha, 1700000000);
	set_mtime(beta, 1800000000);
	/* the newest is not taken silently when the names differ */
	msg = find_fails(tmp, NULL);
	if (!strstr(msg, "alpha") || !strstr(msg, "beta") || !strstr(msg, "--release"))
		fail_msg("%s", msg);
	free(msg);
	check_found(tmp, "alpha", alpha);
	check_found(tmp, "beta", beta);
	msg = find_fails(tmp, "gamma");
	if (!strstr(msg, "gamma") || !strstr(msg, "rebar3 as prod release"))
		fail_msg("%s", msg);
	free(msg);
	free(alpha);
	free(beta);
	remove_tree(tmp);
}

static void test_find_none(void **state)
{
	char *tmp = make_tmpdir(), *mixp = pjoin(tmp, "mixp"), *rebarp = pjoin(tmp, "rebarp");
	char *msg;

	(void)state;
	put(mixp, "mix.exs", "defmodule X.MixProject do\nend\n");
	put(rebarp, "rebar.config", "{erl_opts, []}.\n");

	msg = find_fails(mixp, NULL);
	if (!strstr(msg, "MIX_ENV=prod mix release") || strstr(msg, "rebar3") ||
	    !strstr(msg, mixp))
		fail_msg("%s", msg);
	free(msg);
	msg = find_fails(mixp, "myrel");
	if (!strstr(msg, "MIX_ENV=prod mix release") || !strstr(msg, "myrel"))
		fail_msg("%s", msg);
	free(msg);

	msg = find_fails(rebarp, NULL);
	if (!strstr(msg, "rebar3 as prod release") || strstr(msg, "mix release") ||
	    !strstr(msg, rebarp))
		fail_msg("%s", msg);
	free(msg);

	/* a _build without releases, and a release dir without start_erl.data */
	mkdir_p(rebarp, "_build/prod/lib/cowboy");
	mkdir_p(rebarp, "_build/prod/rel/half/releases");
	msg = find_fails(rebarp, NULL);
	if (!strstr(msg, "rebar3 as prod release"))
		fail_msg("%s", msg);
	free(msg);
	free(mixp);
	free(rebarp);
	remove_tree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_name),
		cmocka_unit_test(test_otp_apps),
		cmocka_unit_test(test_group_name),
		cmocka_unit_test(test_open_and_classify),
		cmocka_unit_test(test_classify_without_erts),
		cmocka_unit_test(test_classify_without_lock),
		cmocka_unit_test(test_plain_start_script),
		cmocka_unit_test(test_explicit_lock),
		cmocka_unit_test(test_mix_release),
		cmocka_unit_test(test_lock_found_trailing_slash),
		cmocka_unit_test(test_lock_found_relative),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_find_newest),
		cmocka_unit_test(test_find_several_names),
		cmocka_unit_test(test_find_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
