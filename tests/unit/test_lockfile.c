/* Unit tests for the rebar.lock / mix.lock reader (src/lib/lockfile.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lockfile.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define SHA_C "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHA_D "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define SHA_A_UP "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define SHA_B_UP "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
#define SHA_C_UP "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
#define SHA_D_UP "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100"
#define REF1 "0123456789abcdef0123456789abcdef01234567"
#define REF2 "89abcdef0123456789abcdef0123456789abcdef"

/* ---- helpers ---- */

static int parse_rebar(const char *text, oci_lock *l, ocibuild_error *err)
{
	return oci_lock_parse_rebar(text, strlen(text), l, err);
}

static int parse_mix(const char *text, oci_lock *l, ocibuild_error *err)
{
	return oci_lock_parse_mix(text, strlen(text), l, err);
}

static const oci_lock_dep *must_find(const oci_lock *l, const char *name)
{
	const oci_lock_dep *d = oci_lock_find(l, name);

	if (!d)
		fail_msg("dependency '%s' not found among %zu", name, l->n);
	return d;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (want)
		assert_string_equal(got ? got : "(null)", want);
	else
		assert_null(got);
}

static void check_hex(const oci_lock_dep *d, const char *name, const char *hex_name,
		      const char *version, const char *repo, const char *sha)
{
	assert_int_equal(d->source, OCI_DEP_HEX);
	assert_string_equal(d->name, name);
	assert_str_or_null(d->hex_name, hex_name);
	assert_str_or_null(d->version, version);
	assert_str_or_null(d->repo, repo);
	assert_str_or_null(d->sha256, sha);
	assert_null(d->git_url);
	assert_null(d->git_ref);
}

static void check_git(const oci_lock_dep *d, const char *name, const char *url, const char *ref)
{
	assert_int_equal(d->source, OCI_DEP_GIT);
	assert_string_equal(d->name, name);
	assert_str_or_null(d->git_url, url);
	assert_str_or_null(d->git_ref, ref);
	assert_null(d->version);
	assert_null(d->sha256);
}

/* "line N" appears in msg, N not followed by another digit. */
static int mentions_line(const char *msg, int n)
{
	char want[32];
	const char *p = msg;
	size_t wl;

	snprintf(want, sizeof(want), "line %d", n);
	wl = strlen(want);
	while ((p = strstr(p, want))) {
		if (!isdigit((unsigned char)p[wl]))
			return 1;
		p += wl;
	}
	return 0;
}

/* Parsing must fail with an INPUT error naming `file` and line `line`. */
static void expect_error(int mix, const char *text, const char *file, int line)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };
	int rc = mix ? parse_mix(text, &l, &err) : parse_rebar(text, &l, &err);

	if (rc == 0)
		fail_msg("accepted (%zu deps):\n%s", l.n, text);
	assert_int_equal(rc, -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	if (!strstr(err.message, file))
		fail_msg("message does not name %s: %s", file, err.message);
	if (!mentions_line(err.message, line))
		fail_msg("message does not say line %d: %s", line, err.message);
	/* nothing is left behind on failure */
	assert_null(l.deps);
	assert_int_equal(l.n, 0);
	ocibuild_error_clear(&err);
}

/* ---- rebar.lock ---- */

static const char rebar_full[] =
	"%% a rebar3 lock file\n"
	"{\"1.2.0\",\n"
	"[{<<\"cowboy\">>,{pkg,<<\"cowboy\">>,<<\"2.10.0\">>},0}, % inline comment\n"
	" {<<\"cowlib\">>,{pkg,<<\"cowlib\">>,<<\"2.12.1\">>},1},\n"
	" {<<\"my_app\">>,{pkg,<<\"hex_name\">>,<<\"1.0.0\">>},0},\n"
	" {<<\"gitdep\">>,\n"
	"  {git,\"https://github.com/org/gitdep.git\",\n"
	"       {ref,\"" REF1 "\"}},\n"
	"  0},\n"
	" {<<\"subdep\">>,\n"
	"  {git_subdir,\"git@github.com:org/mono.git\",\n"
	"              {ref,\"" REF2 "\"},\n"
	"              \"apps/subdep\"},\n"
	"  1}]}.\n"
	"[\n"
	"{pkg_hash,[\n"
	" {<<\"cowboy\">>, <<\"" SHA_A_UP "\">>},\n"
	" {<<\"cowlib\">>, <<\"" SHA_B_UP "\">>},\n"
	" {<<\"my_app\">>, <<\"" SHA_C_UP "\">>}]},\n"
	"{pkg_hash_ext,[\n"
	" % the outer checksums\n"
	" {<<\"cowboy\">>, <<\"" SHA_D_UP "\">>},\n"
	" {<<\"cowlib\">>, <<\"" SHA_A_UP "\">>}]}\n"
	"].\n";

static void test_rebar_full(void **state)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	if (parse_rebar(rebar_full, &l, &err) < 0)
		fail_msg("rejected: %s", err.message);
	assert_int_equal(l.n, 5);
	/* the outer hash (pkg_hash_ext) wins and is lower-cased */
	check_hex(must_find(&l, "cowboy"), "cowboy", "cowboy", "2.10.0", "hexpm", SHA_D);
	check_hex(must_find(&l, "cowlib"), "cowlib", "cowlib", "2.12.1", "hexpm", SHA_A);
	/* only the inner hash: that one, lower-cased; the app name is not the
	 * package name */
	check_hex(must_find(&l, "my_app"), "my_app", "hex_name", "1.0.0", "hexpm", SHA_C);
	assert_null(oci_lock_find(&l, "hex_name"));
	check_git(must_find(&l, "gitdep"), "gitdep", "https://github.com/org/gitdep.git", REF1);
	check_git(must_find(&l, "subdep"), "subdep", "git@github.com:org/mono.git", REF2);
	/* file order is kept */
	assert_string_equal(l.deps[0].name, "cowboy");
	assert_string_equal(l.deps[4].name, "subdep");
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	oci_lock_release(&l);
	assert_null(l.deps);
	assert_int_equal(l.n, 0);
}

/* pkg_hash_ext before pkg_hash: the outer hash still wins. */
static void test_rebar_hash_order(void **state)
{
	static const char text[] =
		"{\"1.2.0\",[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0},\n"
		"           {<<\"b\">>,{pkg,<<\"b\">>,<<\"2.0.0\">>},0}]}.\n"
		"[{pkg_hash_ext,[{<<\"a\">>,<<\"" SHA_B_UP "\">>}]},\n"
		" {pkg_hash,[{<<\"a\">>,<<\"" SHA_A_UP "\">>},{<<\"b\">>,<<\"" SHA_C "\">>}]}].\n";
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	if (parse_rebar(text, &l, &err) < 0)
		fail_msg("rejected: %s", err.message);
	assert_int_equal(l.n, 2);
	check_hex(must_find(&l, "a"), "a", "a", "1.0.0", "hexpm", SHA_B);
	check_hex(must_find(&l, "b"), "b", "b", "2.0.0", "hexpm", SHA_C);
	oci_lock_release(&l);
}

static void test_rebar_old_form(void **state)
{
	static const char text[] = "[{<<\"x\">>,{pkg,<<\"x\">>,<<\"1.0.0\">>},0}].";
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	if (parse_rebar(text, &l, &err) < 0)
		fail_msg("rejected: %s", err.message);
	assert_int_equal(l.n, 1);
	check_hex(&l.deps[0], "x", "x", "1.0.0", "hexpm", NULL);
	oci_lock_release(&l);
}

static void test_rebar_empty(void **state)
{
	static const char *const texts[] = {
		"", "\n\n", "% only a comment\n", "[].", "[].\n", "{\"1.2.0\",[]}.\n[].\n",
		"  [ ]  .  \n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ocibuild_error err = { 0 };
		oci_lock l = { 0 };

		if (parse_rebar(texts[i], &l, &err) < 0)
			fail_msg("'%s' rejected: %s", texts[i], err.message);
		assert_int_equal(l.n, 0);
		assert_null(oci_lock_find(&l, "x"));
		oci_lock_release(&l);
	}
}

/* A binary left open on line 2 runs to the end of the file: the error
 * points at the line where it starts, not past the end of the file. */
static void test_rebar_unterminated_binary(void **state)
{
	(void)state;
	expect_error(0,
		     "[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0},\n"
		     " {<<\"b>>,{pkg,b,v},0}].\n"
		     "% end\n",
		     "rebar.lock", 2);
	/* on the last line, without a newline after it */
	expect_error(0, "{\"1.2.0\",\n[{<<\"a", "rebar.lock", 2);
}

static void test_rebar_missing_dot(void **state)
{
	(void)state;
	/* between the two terms */
	expect_error(0,
		     "{\"1.2.0\",\n"
		     "[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0}]}\n"
		     "[\n"
		     "{pkg_hash,[{<<\"a\">>,<<\"AB\">>}]}\n"
		     "].\n",
		     "rebar.lock", 3);
	/* at the end of the file */
	expect_error(0, "%% c\n%% c\n[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0}]",
		     "rebar.lock", 3);
}

static void test_rebar_garbage(void **state)
{
	(void)state;
	expect_error(0,
		     "{\"1.2.0\",\n"
		     "[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0}]}.\n"
		     "[{pkg_hash, $$$ }].\n",
		     "rebar.lock", 3);
	expect_error(0, "\n\nHello world.\n", "rebar.lock", 3);
	expect_error(0, "hello world.\n", "rebar.lock", 1);
	/* well-formed terms that are not a lock */
	expect_error(0, "[\n\n {<<\"a\">>, 42, 0}].\n", "rebar.lock", 3);
	expect_error(0, "\n{foo, bar}.\n", "rebar.lock", 2);
	expect_error(0, "[{<<\"a\">>,{pkg,<<\"a\">>},0}].\n", "rebar.lock", 1);
	/* a third term */
	expect_error(0, "[].\n[].\n\n[].\n", "rebar.lock", 4);
	/* unbalanced */
	expect_error(0, "[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1\">>},0}}.\n", "rebar.lock", 1);
	/* the hash section is not a list of pairs */
	expect_error(0,
		     "[{<<\"a\">>,{pkg,<<\"a\">>,<<\"1.0.0\">>},0}].\n"
		     "[{pkg_hash,[\n{<<\"a\">>}]}].\n",
		     "rebar.lock", 3);
}

static void test_rebar_error_message(void **state)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	assert_int_equal(parse_rebar("[{<<\"a\">>,\n@}].", &l, &err), -1);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "rebar3 lock"));
	assert_null(strchr(err.message, '\n'));
	ocibuild_error_clear(&err);
	assert_null(err.message);
}

/* ---- mix.lock ---- */

static const char mix_full[] =
	"%{\n"
	"  \"cowboy\": {:hex, :cowboy, \"2.10.0\", \"" SHA_A_UP "\", [:make, :rebar3], "
	"[{:cowlib, \"2.12.1\", [hex: :cowlib, repo: \"hexpm\", optional: false]}, "
	"{:ranch, \"1.8.0\", [hex: :ranch, repo: \"hexpm\", optional: false]}], \"hexpm\", "
	"\"" SHA_B_UP "\"},\n"
	"  # a comment line\n"
	"  \"decimal\": {:hex, :decimal, \"2.1.1\", \"" SHA_C "\", [:mix], [], \"hexpm\", "
	"\"" SHA_D "\"}, # a trailing comment\n"
	"  \"old_dep\": {:hex, :old_dep, \"0.1.0\", \"" SHA_A_UP "\", [:mix], []},\n"
	"  \"private\": {:hex, :private_pkg, \"1.0.0\", \"" SHA_C "\", [:mix], "
	"[{:decimal, \"~> 2.0\", [hex: :decimal, repo: \"hexpm\", optional: true]}], "
	"\"myorg\", \"" SHA_D_UP "\"},\n"
	"  \"phoenix\": {:git, \"https://github.com/phoenixframework/phoenix.git\", "
	"\"" REF1 "\", [branch: \"main\"]},\n"
	"  \"plug\": {:git, \"git@github.com:elixir-plug/plug.git\", \"" REF2 "\", []},\n"
	"}\n";

static void test_mix_full(void **state)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	if (parse_mix(mix_full, &l, &err) < 0)
		fail_msg("rejected: %s", err.message);
	assert_int_equal(l.n, 6);
	/* 8 elements: the outer hash (the last one), lower-cased */
	check_hex(must_find(&l, "cowboy"), "cowboy", "cowboy", "2.10.0", "hexpm", SHA_B);
	check_hex(must_find(&l, "decimal"), "decimal", "decimal", "2.1.1", "hexpm", SHA_D);
	/* 6 elements: the inner hash */
	check_hex(must_find(&l, "old_dep"), "old_dep", "old_dep", "0.1.0", "hexpm", SHA_A);
	/* a private repository, and a package name that is not the app name */
	check_hex(must_find(&l, "private"), "private", "private_pkg", "1.0.0", "myorg", SHA_D);
	check_git(must_find(&l, "phoenix"), "phoenix",
		  "https://github.com/phoenixframework/phoenix.git", REF1);
	check_git(must_find(&l, "plug"), "plug", "git@github.com:elixir-plug/plug.git", REF2);
	/* nested dependencies are not entries */
	assert_null(oci_lock_find(&l, "cowlib"));
	assert_null(oci_lock_find(&l, "ranch"));
	assert_string_equal(l.deps[0].name, "cowboy");
	assert_string_equal(l.deps[5].name, "plug");
	oci_lock_release(&l);
}

/* The older `"name" => {...}` map syntax. */
static void test_mix_arrow_map(void **state)
{
	static const char text[] =
		"%{\"poison\" => {:hex, :poison, \"3.1.0\", \"" SHA_C_UP "\"},\n"
		"  \"dep_git\" => {:git, \"https://gitlab.com/g/dep_git.git\", \"" REF1 "\", "
		"[tag: \"v1.0\"]},\n"
		"}";
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	if (parse_mix(text, &l, &err) < 0)
		fail_msg("rejected: %s", err.message);
	assert_int_equal(l.n, 2);
	check_hex(must_find(&l, "poison"), "poison", "poison", "3.1.0", "hexpm", SHA_C);
	check_git(must_find(&l, "dep_git"), "dep_git", "https://gitlab.com/g/dep_git.git", REF1);
	oci_lock_release(&l);
}

static void test_mix_empty(void **state)
{
	static const char *const texts[] = { "", "# nothing\n", "%{}", "%{}\n", " %{ } " };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ocibuild_error err = { 0 };
		oci_lock l = { 0 };

		if (parse_mix(texts[i], &l, &err) < 0)
			fail_msg("'%s' rejected: %s", texts[i], err.message);
		assert_int_equal(l.n, 0);
		oci_lock_release(&l);
	}
}

static void test_mix_errors(void **state)
{
	(void)state;
	/* string interpolation would evaluate code */
	expect_error(1,
		     "%{\n"
		     "  \"a\": {:hex, :a, \"1.0.0\", \"" SHA_A "\", [:mix], []},\n"
		     "  \"b\": {:git, \"https://host/#{System.get_env(\"X\")}.git\", \"r\", []},\n"
		     "}\n",
		     "mix.lock", 3);
	expect_error(1, "%{\n\n  \"a\": $x\n}\n", "mix.lock", 3);
	/* not a map */
	expect_error(1, "# c\n[1, 2]\n", "mix.lock", 2);
	/* an entry that is not a tuple */
	expect_error(1, "%{\n  \"a\": {:hex, :a, \"1.0.0\", \"x\"},\n  \"b\": 42\n}\n",
		     "mix.lock", 3);
	/* a hex entry that is too short */
	expect_error(1, "%{\n\n\n\n  \"a\": {:hex, :a}\n}\n", "mix.lock", 5);
	/* missing separator */
	expect_error(1, "%{\n  \"a\": {:hex, :a, \"1\", \"x\"}\n  \"b\": {:hex, :b, \"1\", \"x\"}\n}\n",
		     "mix.lock", 3);
	/* a second term */
	expect_error(1, "%{}\n%{}\n", "mix.lock", 2);
	/* unterminated map, the file ends on line 2 */
	expect_error(1, "%{\n  \"a\": {:hex, :a, \"1\", \"x\"}", "mix.lock", 2);
}

static void test_mix_error_message(void **state)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	assert_int_equal(parse_mix("%{\"a\": \"#{x}\"}", &l, &err), -1);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "mix deps.get"));
	ocibuild_error_clear(&err);
	/* a '#' that is not an interpolation is fine inside a string */
	assert_int_equal(parse_mix("%{\"a\": {:git, \"https://h/a#b\", \"r\", []}}", &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.deps[0].git_url, "https://h/a#b");
	oci_lock_release(&l);
}

/* ---- oci_lock_find and oci_lock_load ---- */

static void test_find(void **state)
{
	ocibuild_error err = { 0 };
	oci_lock l = { 0 }, empty = { 0 };

	(void)state;
	assert_int_equal(parse_rebar(rebar_full, &l, &err), 0);
	assert_ptr_equal(oci_lock_find(&l, "cowboy"), &l.deps[0]);
	assert_ptr_equal(oci_lock_find(&l, "subdep"), &l.deps[4]);
	assert_ptr_equal(oci_lock_find(&l, "my_app"), &l.deps[2]);
	assert_null(oci_lock_find(&l, "cow"));
	assert_null(oci_lock_find(&l, "cowboyx"));
	assert_null(oci_lock_find(&l, ""));
	assert_null(oci_lock_find(&empty, "cowboy"));
	oci_lock_release(&l);
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);
	FILE *f;

	assert_non_null(path);
	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_load(void **state)
{
	char dir[] = "/tmp/ocibuild-test-lock-XXXXXX";
	char *rebar, *mix, *bad, *badmix, *other, *missing;
	ocibuild_error err = { 0 };
	oci_lock l = { 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	rebar = write_tmp(dir, "rebar.lock", rebar_full);
	mix = write_tmp(dir, "mix.lock", mix_full);
	/* any other name is read as what its content is */
	other = write_tmp(dir, "custom.lock", "[{<<\"x\">>,{pkg,<<\"x\">>,<<\"1.0.0\">>},0}].\n");
	badmix = write_tmp(dir, "sub-mix.lock", mix_full);
	missing = write_tmp(dir, "gone.lock", "");
	assert_int_equal(unlink(missing), 0);

	if (oci_lock_load(rebar, &l, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(l.n, 5);
	assert_non_null(oci_lock_find(&l, "subdep"));
	oci_lock_release(&l);

	if (oci_lock_load(mix, &l, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(l.n, 6);
	assert_string_equal(must_find(&l, "private")->repo, "myorg");
	oci_lock_release(&l);

	if (oci_lock_load(other, &l, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(l.n, 1);
	oci_lock_release(&l);

	/* a mix.lock under another name is still a mix.lock */
	if (oci_lock_load(badmix, &l, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(l.n, 6);
	oci_lock_release(&l);
	unlink(badmix);
	free(badmix);

	/* but the name rebar.lock wins: Elixir syntax is an error there */
	badmix = write_tmp(dir, "rebar.lock", mix_full);
	assert_int_equal(oci_lock_load(badmix, &l, &err), -1);
	if (!strstr(err.message, badmix) || !mentions_line(err.message, 2))
		fail_msg("%s", err.message);
	ocibuild_error_clear(&err);

	/* errors name the file given, with the line */
	bad = write_tmp(dir, "rebar.lock", "{\"1.2.0\",\n[\n{<<\"a\">>, nope}\n]}.\n");
	assert_int_equal(oci_lock_load(bad, &l, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	if (!strstr(err.message, bad) || !mentions_line(err.message, 3))
		fail_msg("%s", err.message);
	ocibuild_error_clear(&err);
	free(bad);
	bad = write_tmp(dir, "mix.lock", "%{\n  \"a\": {:hex, :a, \"1\", \"x\"},\n  \"b\": \"#{1}\"\n}\n");
	assert_int_equal(oci_lock_load(bad, &l, &err), -1);
	if (!strstr(err.message, bad) || !mentions_line(err.message, 3))
		fail_msg("%s", err.message);
	ocibuild_error_clear(&err);

	assert_int_equal(oci_lock_load(missing, &l, &err), -1);
	assert_int_not_equal(err.kind, OCIBUILD_ERR_NONE);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "gone.lock"));
	assert_int_equal(l.n, 0);
	ocibuild_error_clear(&err);

	unlink(rebar);
	unlink(mix);
	unlink(other);
	unlink(badmix);
	rmdir(dir);
	free(rebar);
	free(mix);
	free(bad);
	free(badmix);
	free(other);
	free(missing);
}

/* mix.lock's requirement lists: the names, whatever the options */
static void test_mix_requires(void **state)
{
	static const char text[] =
		"%{\n"
		"  \"plug\": {:hex, :plug, \"1.15.0\", \"aa\", [:mix], [{:mime, \"~> 1.0 or ~> 2.0\", [hex: :mime, repo: \"hexpm\", optional: false]}, {:plug_crypto, \"~> 1.1\", [hex: :plug_crypto, repo: \"hexpm\", optional: false]}], \"hexpm\", \"bb\"},\n"
		"  \"mime\": {:hex, :mime, \"2.0.5\", \"cc\", [:mix], [], \"hexpm\", \"dd\"},\n"
		"}\n";
	oci_lock l;
	ocibuild_error err = { 0 };
	const oci_lock_dep *d;

	(void)state;
	assert_int_equal(parse_mix(text, &l, &err), 0);
	d = must_find(&l, "plug");
	assert_int_equal(d->nrequires, 2);
	assert_string_equal(d->requires[0], "mime");
	assert_string_equal(d->requires[1], "plug_crypto");
	assert_int_equal(must_find(&l, "mime")->nrequires, 0);
	oci_lock_release(&l);
}

static void app_ok(const char *text, const char *name, const char *vsn, const char *uses)
{
	oci_lock_app a;
	ocibuild_error err = { 0 };
	char got[512] = "";
	size_t i;

	if (oci_lock_app_parse(text, strlen(text), "x.app", &a, &err) < 0)
		fail_msg("%s: %s", text, err.message);
	assert_string_equal(a.name, name);
	assert_str_or_null(a.vsn, vsn);
	for (i = 0; i < a.nuses; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", a.uses[i]);
	assert_string_equal(got, uses);
	oci_lock_app_release(&a);
}

static void test_app_file(void **state)
{
	oci_lock_app a;
	ocibuild_error err = { 0 };

	(void)state;
	/* as Mix writes it: one line, floats and binaries in env */
	app_ok("{application,web,[{optional_applications,[]},{applications,[kernel,stdlib,elixir,logger,core]},"
	       "{description,\"web {vsn,\\\"9\\\"}\"},{modules,['Elixir.Web']},{registered,[]},"
	       "{vsn,\"0.2.2\"},{env,[{ratio,1.5},{big,-2.0e-3},{n,1},{b,<<\"x\">>}]}]}.\n",
	       "web", "0.2.2", "kernel,stdlib,elixir,logger,core");
	/* as rebar3 writes it, with included applications */
	app_ok("%% comment\n{application, 'my_app',\n [{vsn, \"1.0.0\"},\n  {applications, [kernel]},\n"
	       "  {included_applications, [inner]}]}.\n",
	       "my_app", "1.0.0", "kernel,inner");
	app_ok("{application,bare,[]}.", "bare", NULL, "");
	/* not an application resource file */
	assert_int_equal(oci_lock_app_parse("{foo,bar,[]}.", 13, "x.app", &a, &err), -1);
	assert_non_null(strstr(err.message, "x.app"));
	ocibuild_error_clear(&err);
	assert_null(a.name);
	assert_int_equal(oci_lock_app_parse("{application,x,[{vsn,1.}]}.", 27, "x.app", &a, &err), -1);
	ocibuild_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rebar_full),
		cmocka_unit_test(test_rebar_hash_order),
		cmocka_unit_test(test_rebar_old_form),
		cmocka_unit_test(test_rebar_empty),
		cmocka_unit_test(test_rebar_unterminated_binary),
		cmocka_unit_test(test_rebar_missing_dot),
		cmocka_unit_test(test_rebar_garbage),
		cmocka_unit_test(test_rebar_error_message),
		cmocka_unit_test(test_mix_full),
		cmocka_unit_test(test_mix_arrow_map),
		cmocka_unit_test(test_mix_empty),
		cmocka_unit_test(test_mix_errors),
		cmocka_unit_test(test_mix_error_message),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_mix_requires),
		cmocka_unit_test(test_app_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
