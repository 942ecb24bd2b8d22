/* Unit tests for source detection (src/lib/vcs.c): URL normalisation, the
 * CI variables, and the git fallback against a repository made here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vcs.h"

/* ---- oci_vcs_normalize_url ---- */

static void check_norm(const char *in, const char *want)
{
	char *got;
	char shown[512];
	int ok;

	assert_int_equal(oci_vcs_normalize_url(in, &got, NULL), 0);
	ok = want ? got && !strcmp(got, want) : !got;

	snprintf(shown, sizeof(shown), "%s", got ? got : "NULL");
	free(got);
	if (!ok)
		fail_msg("'%s' -> '%s', expected '%s'", in ? in : "(null)", shown,
			 want ? want : "NULL");
}

static void test_normalize_scp(void **state)
{
	(void)state;
	check_norm("git@github.com:org/repo.git", "https://github.com/org/repo");
	check_norm("git@github.com:org/repo", "https://github.com/org/repo");
	check_norm("github.com:org/repo.git", "https://github.com/org/repo");
	check_norm("git@gitlab.com:group/sub/proj.git", "https://gitlab.com/group/sub/proj");
	check_norm("git@github.com:/org/repo.git", "https://github.com/org/repo");
}

static void test_normalize_credentials(void **state)
{
	static const char *const secret_urls[] = {
		"https://user:token@gitlab.com/g/p.git",
		"https://oauth2:glpat-SECRET@gitlab.com/g/p.git",
		"https://x-access-token:ghs_SECRET@gitlab.com/g/p",
		"https://SECRET@gitlab.com/g/p.git",
		"http://user:p%40ss@gitlab.com/g/p.git",
		"https://user:p@ss@gitlab.com/g/p.git",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(secret_urls) / sizeof(secret_urls[0]); i++) {
		char *got;

		assert_int_equal(oci_vcs_normalize_url(secret_urls[i], &got, NULL), 0);
		if (!got)
			fail_msg("'%s' -> NULL", secret_urls[i]);
		if (strcmp(got, "https://gitlab.com/g/p"))
			fail_msg("'%s' -> '%s'", secret_urls[i], got);
		assert_null(strchr(got, '@'));
		assert_null(strstr(got, "SECRET"));
		assert_null(strstr(got, "token"));
		free(got);
	}
}

/* a query or fragment may carry a token: neither is kept */
static void test_normalize_query_fragment(void **state)
{
	(void)state;
	check_norm("https://gitlab.com/g/p.git?private_token=SECRET", "https://gitlab.com/g/p");
	check_norm("https://gitlab.com/g/p?private_token=SECRET#frag", "https://gitlab.com/g/p");
	check_norm("https://gitlab.com/g/p#SECRET", "https://gitlab.com/g/p");
	check_norm("https://u:SECRET@gitlab.com/g/p.git/?a=b&tok=SECRET", "https://gitlab.com/g/p");
	check_norm("git@github.com:org/repo.git?tok=SECRET", "https://github.com/org/repo");
	check_norm("ssh://git@example.com:22/org/repo.git#SECRET", "https://example.com/org/repo");
	/* an '@' or a '/' in the query is not userinfo nor path */
	check_norm("https://gitlab.com/g/p?who=a@b/c", "https://gitlab.com/g/p");
	check_norm("https://gitlab.com?x=/g/p", NULL);
	check_norm("https://gitlab.com/?tok=SECRET", NULL);
	check_norm("?tok=SECRET", NULL);
}

static void test_normalize_schemes(void **state)
{
	(void)state;
	/* an ssh port means nothing over https */
	check_norm("ssh://git@host:2222/org/repo.git", "https://host/org/repo");
	check_norm("ssh://host/org/repo.git", "https://host/org/repo");
	check_norm("git+ssh://git@host.example/org/repo.git", "https://host.example/org/repo");
	/* an https port is kept */
	check_norm("https://host:8443/x/y", "https://host:8443/x/y");
	check_norm("https://u:p@host:8443/x/y.git", "https://host:8443/x/y");
	check_norm("https://github.com/org/repo", "https://github.com/org/repo");
	check_norm("https://github.com/org/repo.git", "https://github.com/org/repo");
	check_norm("http://git.example.org/a/b.git", "https://git.example.org/a/b");
	check_norm("git://git.example.org/a/b.git", "https://git.example.org/a/b");
	/* ".git" is a suffix, not any occurrence */
	check_norm("https://host/org/repo.github", "https://host/org/repo.github");
}

static void test_normalize_trailing_slash(void **state)
{
	(void)state;
	check_norm("https://github.com/org/repo/", "https://github.com/org/repo");
	check_norm("https://github.com/org/repo//", "https://github.com/org/repo");
	check_norm("git@github.com:org/repo/", "https://github.com/org/repo");
	/* the same repository, whichever way it is written */
	check_norm("https://github.com/org/repo.git/", "https://github.com/org/repo");
}

static void test_normalize_garbage(void **state)
{
	(void)state;
	check_norm(NULL, NULL);
	check_norm("", NULL);
	check_norm("garbage", NULL);
	check_norm("not a url", NULL);
	check_norm("/srv/git/repo.git", NULL);
	check_norm("../repo", NULL);
	check_norm("https://", NULL);
	check_norm("https://host", NULL);
	check_norm("https://host/", NULL);
	check_norm("https:///org/repo", NULL);
	check_norm("ssh://git@host:22/", NULL);
	check_norm(":org/repo", NULL);
	check_norm("git@host:", NULL);
	check_norm("@:org/repo", NULL);
}

/* A local repository (a file:// remote) has no public address. */
static void test_normalize_local(void **state)
{
	(void)state;
	check_norm("file:///srv/git/repo.git", NULL);
	check_norm("file://localhost/srv/git/repo.git", NULL);
}

/* ---- oci_vcs_detect with CI variables ---- */

struct var {
	const char *name, *value;
};

static const struct var *env_vars;

static const char *fake_env(const char *name)
{
	const struct var *v;

	for (v = env_vars; v && v->name; v++)
		if (!strcmp(v->name, name))
			return v->value;
	return NULL;
}

static void detect(const char *dir, const struct var *vars, const char *source,
		   const char *revision)
{
	ocibuild_error err = { 0 };
	oci_vcs v;

	env_vars = vars;
	memset(&v, 0x5a, sizeof(v));
	if (oci_vcs_detect(dir, fake_env, NULL, &v, &err) < 0)
		fail_msg("detect failed: %s", err.message ? err.message : "?");
	if (source)
		assert_string_equal(v.source ? v.source : "(null)", source);
	else
		assert_null(v.source);
	if (revision)
		assert_string_equal(v.revision ? v.revision : "(null)", revision);
	else
		assert_null(v.revision);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	oci_vcs_release(&v);
	assert_null(v.source);
	assert_null(v.revision);
	env_vars = NULL;
}

#define GH_SHA "1111111111111111111111111111111111111111"
#define GL_SHA "2222222222222222222222222222222222222222"
#define AZ_SHA "3333333333333333333333333333333333333333"
#define NOT_A_DIR "/nonexistent/ocibuild-test-vcs"

static void test_detect_github_wins(void **state)
{
	static const struct var all[] = {
		{ "CI_PROJECT_URL", "https://gitlab.com/grp/proj" },
		{ "CI_COMMIT_SHA", GL_SHA },
		{ "BUILD_REPOSITORY_URI", "https://dev.azure.com/o/p/_git/r" },
		{ "BUILD_SOURCEVERSION", AZ_SHA },
		{ "GITHUB_SERVER_URL", "https://github.example.com" },
		{ "GITHUB_REPOSITORY", "org/repo" },
		{ "GITHUB_SHA", GH_SHA },
		{ NULL, NULL },
	};

	(void)state;
	detect(NOT_A_DIR, all, "https://github.example.com/org/repo", GH_SHA);
}

static void test_detect_github_default_server(void **state)
{
	static const struct var gh[] = {
		{ "GITHUB_REPOSITORY", "org/repo" },
		{ "GITHUB_SHA", GH_SHA },
		{ NULL, NULL },
	};
	static const struct var gh_empty_server[] = {
		{ "GITHUB_SERVER_URL", "" },
		{ "GITHUB_REPOSITORY", "org/repo" },
		{ NULL, NULL },
	};

	(void)state;
	detect(NOT_A_DIR, gh, "https://github.com/org/repo", GH_SHA);
	detect(NOT_A_DIR, gh_empty_server, "https://github.com/org/repo", NULL);
}

static void test_detect_gitlab(void **state)
{
	static const struct var gl[] = {
		{ "GITHUB_REPOSITORY", "" },
		{ "GITHUB_SHA", GH_SHA },
		{ "CI_PROJECT_URL", "https://gitlab.com/grp/sub/proj" },
		{ "CI_COMMIT_SHA", GL_SHA },
		{ "BUILD_REPOSITORY_URI", "https://dev.azure.com/o/p/_git/r" },
		{ "BUILD_SOURCEVERSION", AZ_SHA },
		{ NULL, NULL },
	};

	(void)state;
	detect(NOT_A_DIR, gl, "https://gitlab.com/grp/sub/proj", GL_SHA);
}

static void test_detect_azure(void **state)
{
	static const struct var az[] = {
		{ "CI_PROJECT_URL", "" },
		{ "BUILD_REPOSITORY_URI", "https://myorg@dev.azure.com/myorg/proj/_git/repo" },
		{ "BUILD_SOURCEVERSION", AZ_SHA },
		{ NULL, NULL },
	};
	static const struct var az_nosha[] = {
		{ "BUILD_REPOSITORY_URI", "https://dev.azure.com/myorg/proj/_git/repo" },
		{ "BUILD_SOURCEVERSION", "" },
		{ NULL, NULL },
	};

	(void)state;
	detect(NOT_A_DIR, az, "https://dev.azure.com/myorg/proj/_git/repo", AZ_SHA);
	detect(NOT_A_DIR, az_nosha, "https://dev.azure.com/myorg/proj/_git/repo", NULL);
}

/* ---- the git fallback ---- */

static const struct var no_ci[] = { { NULL, NULL } };

static int run(const char *cmd)
{
	int rc = system(cmd);

	return rc == 0 ? 0 : -1;
}

static int have_git(void)
{
	return run("git --version >/dev/null 2>&1") == 0;
}

static void make_tmpdir(char *tmpl)
{
	if (!mkdtemp(tmpl))
		fail_msg("mkdtemp %s failed", tmpl);
}

static void remove_tree(const char *dir)
{
	char cmd[512];

	/* only ever a mkdtemp() directory of ours */
	assert_int_equal(strncmp(dir, "/tmp/ocibuild-test-vcs-", 23), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(run(cmd), 0);
}

static int setup_git_env(void **state)
{
	(void)state;
	/* never find a repository above the temporary directories, and never
	 * read a repository named by the environment */
	setenv("GIT_CEILING_DIRECTORIES", "/tmp", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	return 0;
}

static void test_detect_git(void **state)
{
	char dir[] = "/tmp/ocibuild-test-vcs-XXXXXX";
	char cmd[1024], sha[64] = "";
	FILE *p;

	(void)state;
	if (!have_git())
		skip();
	make_tmpdir(dir);
	snprintf(cmd, sizeof(cmd),
		 "git -C '%s' init -q && "
		 "git -C '%s' remote add origin https://ci-user:s3cret-token@gitlab.example.com/grp/proj.git && "
		 "git -C '%s' -c user.name=Test -c user.email=test@example.com -c commit.gpgsign=false "
		 "commit -q --allow-empty -m init",
		 dir, dir, dir);
	assert_int_equal(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(sha, sizeof(sha), p));
	assert_int_equal(pclose(p), 0);
	sha[strcspn(sha, "\n")] = '\0';
	assert_int_equal(strlen(sha), 40);

	detect(dir, no_ci, "https://gitlab.example.com/grp/proj", sha);
	/* CI variables still win over the checkout */
	{
		static const struct var gh[] = {
			{ "GITHUB_REPOSITORY", "org/repo" },
			{ "GITHUB_SHA", GH_SHA },
			{ NULL, NULL },
		};

		detect(dir, gh, "https://github.com/org/repo", GH_SHA);
	}
	/* a subdirectory of the working tree */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/a/b'", dir);
	assert_int_equal(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/a/b", dir);
	detect(cmd, no_ci, "https://gitlab.example.com/grp/proj", sha);
	remove_tree(dir);
}

static void test_detect_git_no_remote_no_commit(void **state)
{
	char dir[] = "/tmp/ocibuild-test-vcs-XXXXXX";
	char cmd[512];

	(void)state;
	if (!have_git())
		skip();
	make_tmpdir(dir);
	snprintf(cmd, sizeof(cmd), "git -C '%s' init -q", dir);
	assert_int_equal(run(cmd), 0);
	/* an empty repository: no remote, no HEAD */
	detect(dir, no_ci, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "git -C '%s' remote add origin git@github.com:org/repo.git",
		 dir);
	assert_int_equal(run(cmd), 0);
	detect(dir, no_ci, "https://github.com/org/repo", NULL);
	remove_tree(dir);
}

static void test_detect_not_a_repo(void **state)
{
	char dir[] = "/tmp/ocibuild-test-vcs-XXXXXX";

	(void)state;
	make_tmpdir(dir);
	detect(dir, no_ci, NULL, NULL);
	remove_tree(dir);
	/* nor is a directory that does not exist an error */
	detect(NOT_A_DIR, no_ci, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_scp),
		cmocka_unit_test(test_normalize_credentials),
		cmocka_unit_test(test_normalize_query_fragment),
		cmocka_unit_test(test_normalize_schemes),
		cmocka_unit_test(test_normalize_trailing_slash),
		cmocka_unit_test(test_normalize_garbage),
		cmocka_unit_test(test_normalize_local),
		cmocka_unit_test(test_detect_github_wins),
		cmocka_unit_test(test_detect_github_default_server),
		cmocka_unit_test(test_detect_gitlab),
		cmocka_unit_test(test_detect_azure),
		cmocka_unit_test(test_detect_git),
		cmocka_unit_test(test_detect_git_no_remote_no_commit),
		cmocka_unit_test(test_detect_not_a_repo),
	};

	return cmocka_run_group_tests(tests, setup_git_env, NULL);
}
