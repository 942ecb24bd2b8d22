/* Unit tests for credentials and challenges (src/lib/auth.c): the lookup
 * order through a fake environment, docker config.json entries,
 * WWW-Authenticate parsing and token responses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth.h"

/* A fake environment: NAME=VALUE pairs. */
static const char *const *fake_env;

static const char *env_get(const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; fake_env && fake_env[i]; i++)
		if (!strncmp(fake_env[i], name, n) && fake_env[i][n] == '=')
			return fake_env[i] + n + 1;
	return NULL;
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ocibuild-auth-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_config(const char *json)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
}

static void lookup(const char *domain, int push, oci_cred *c)
{
	ocibuild_error err = { 0 };

	if (oci_auth_lookup(domain, push, env_get, c, &err) < 0)
		fail_msg("lookup failed: %s", err.message);
}

static void test_env_first(void **state)
{
	char dc[96];
	const char *env[] = { dc, "OCIBUILD_PUSH_USERNAME=envuser", "OCIBUILD_PUSH_PASSWORD=envpass",
			      NULL };
	oci_cred c;

	(void)state;
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	/* dXNlcjpwYXNz is base64 of user:pass */
	write_config("{\"auths\":{\"reg.example:5000\":{\"auth\":\"dXNlcjpwYXNz\"}}}");
	fake_env = env;
	lookup("reg.example:5000", 1, &c);
	assert_string_equal(c.username, "envuser");
	assert_string_equal(c.password, "envpass");
	assert_string_equal(c.source, "OCIBUILD_PUSH_USERNAME/PASSWORD");
	oci_cred_release(&c);
	/* push variables are not pull credentials */
	lookup("reg.example:5000", 0, &c);
	assert_string_equal(c.username, "user");
	assert_string_equal(c.password, "pass");
	oci_cred_release(&c);
}

static void test_docker_config_keys(void **state)
{
	char dc[96];
	const char *env[] = { dc, NULL };
	oci_cred c;

	(void)state;
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	write_config("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnNlY3JldA==\"},"
		     "\"https://other.example/v2/\":{\"identitytoken\":\"tok123\"}}}");
	fake_env = env;
	lookup("docker.io", 0, &c);
	assert_string_equal(c.username, "hub");
	assert_string_equal(c.password, "secret");
	oci_cred_release(&c);
	lookup("other.example", 1, &c);
	assert_null(c.password);
	assert_string_equal(c.identity_token, "tok123");
	oci_cred_release(&c);
	/* a prefix of another host is not that host */
	lookup("other.exam", 1, &c);
	assert_string_equal(c.source, "anonymous");
	assert_null(c.username);
	oci_cred_release(&c);
}

static void test_github_token_only_for_ghcr(void **state)
{
	const char *env[] = { "HOME=/nonexistent", "GITHUB_TOKEN=ghs_x", "GITHUB_ACTOR=octo", NULL };
	oci_cred c;

	(void)state;
	fake_env = env;
	lookup("ghcr.io", 1, &c);
	assert_string_equal(c.source, "GITHUB_TOKEN");
	assert_string_equal(c.username, "octo");
	assert_string_equal(c.password, "ghs_x");
	oci_cred_release(&c);
	lookup("docker.io", 1, &c);
	assert_string_equal(c.source, "anonymous");
	assert_null(c.password);
	oci_cred_release(&c);
}

static void test_bad_config_is_an_error(void **state)
{
	char dc[96];
	const char *env[] = { dc, NULL };
	oci_cred c;
	ocibuild_error err = { 0 };

	(void)state;
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	write_config("{\"auths\": ");
	fake_env = env;
	assert_int_equal(oci_auth_lookup("x.example", 1, env_get, &c, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	assert_non_null(strstr(err.message, "config.json"));
	ocibuild_error_clear(&err);
}

/* A FIFO or a directory where an auth file should be: an error at once
 * (a plain open of a FIFO would wait for a writer forever). */
static void test_config_not_regular(void **state)
{
	char dc[96], path[128], auth[160];
	const char *env[] = { dc, auth, NULL };
	oci_cred c;
	ocibuild_error err = { 0 };

	(void)state;
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(auth, sizeof(auth), "REGISTRY_AUTH_FILE=%s", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	fake_env = env;
	assert_int_equal(oci_auth_lookup("x.example", 1, env_get, &c, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	assert_non_null(strstr(err.message, "config.json' is not a regular file"));
	ocibuild_error_clear(&err);
	unlink(path);
	/* the containers auth file, here a directory */
	assert_int_equal(oci_auth_lookup("x.example", 1, env_get, &c, &err), -1);
	assert_non_null(strstr(err.message, "is not a regular file"));
	ocibuild_error_clear(&err);
}

/* A fake docker-credential-NAME in dir/bin (on PATH) running body. */
static void write_helper(const char *name, const char *body)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bin", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bin/docker-credential-%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/bin:/usr/bin:/bin", dir);
	setenv("PATH", path, 1);
}

/* the pid in dir/NAME, which must no longer run */
static void assert_gone(const char *name)
{
	char path[160];
	FILE *f;
	int pid = 0, i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	/* killed, then reparented: init reaps it soon */
	for (i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(20000);
	for (i = 0; i < 100; i++) {
		char st[64], state = 0;
		FILE *s;

		snprintf(st, sizeof(st), "/proc/%d/stat", pid);
		s = fopen(st, "r");
		if (!s)
			return;
		if (fscanf(s, "%*d %*s %c", &state) != 1 || state == 'Z') {
			fclose(s);
			return;
		}
		fclose(s);
		usleep(20000);
	}
	fail_msg("process %d (%s) still runs", pid, name);
}

static int cancel_calls;

static int cancel_after_three(void *userdata)
{
	(void)userdata;
	return ++cancel_calls > 3;
}

/* a helper that hangs: the cancel callback stops it, and the time limit
 * does when there is none; both kill what it started */
static void test_helper_cancel_and_timeout(void **state)
{
	char dc[96], body[512];
	const char *env[] = { dc, "OCIBUILD_CRED_HELPER_TIMEOUT=1", NULL };
	oci_cred c;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx = ocibuild_ctx_new();

	(void)state;
	assert_non_null(ctx);
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	snprintf(body, sizeof(body), "sleep 60 & echo $! >%s/child.pid; wait", dir);
	write_helper("hang", body);
	write_config("{\"credsStore\":\"hang\"}");
	fake_env = env;
	ocibuild_ctx_set_cancel(ctx, cancel_after_three, NULL);
	cancel_calls = 0;
	assert_int_equal(oci_auth_lookup_ctx(ctx, "x.example", 1, env_get, &c, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_CANCELLED);
	assert_int_equal(cancel_calls, 4);
	assert_non_null(strstr(err.message, "docker-credential-hang"));
	ocibuild_error_clear(&err);
	assert_gone("child.pid");
	snprintf(body, sizeof(body), "%s/child.pid", dir);
	unlink(body);
	/* no context: the time limit, named in the error */
	assert_int_equal(oci_auth_lookup("x.example", 1, env_get, &c, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	assert_non_null(strstr(err.message, "within 1 s"));
	assert_non_null(strstr(err.message, "OCIBUILD_CRED_HELPER_TIMEOUT"));
	ocibuild_error_clear(&err);
	assert_gone("child.pid");
	ocibuild_ctx_free(ctx);
}

/* login with a credsStore: the helper stores, config.json gets an empty
 * entry and no password */
static void test_login_creds_store(void **state)
{
	char dc[96], body[512], path[160], buf[4096];
	const char *env[] = { dc, NULL };
	ocibuild_error err = { 0 };
	FILE *f;
	size_t n;

	(void)state;
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s", dir);
	snprintf(body, sizeof(body), "[ \"$1\" = store ] && cat >%s/stored", dir);
	write_helper("keep", body);
	write_config("{\"credsStore\":\"keep\"}");
	fake_env = env;
	assert_int_equal(oci_auth_login(NULL, "reg.example", "me", "pa\"ss", env_get, &err), 0);
	snprintf(path, sizeof(path), "%s/stored", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"ServerURL\":\"reg.example\",\"Username\":\"me\",\"Secret\":\"pa\\\"ss\"}");
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_null(strstr(buf, "pa"));
	assert_non_null(strstr(buf, "\"reg.example\": {}"));
	assert_non_null(strstr(buf, "\"credsStore\": \"keep\""));
}

static void test_challenge(void **state)
{
	oci_challenge ch;
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_challenge_parse(
				 "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
				 "scope=\"repository:a/b:pull,push\"",
				 &ch, &err),
			 0);
	assert_int_equal(ch.scheme, OCI_AUTH_BEARER);
	assert_string_equal(ch.realm, "https://auth.example/token");
	assert_string_equal(ch.service, "registry.example");
	assert_string_equal(ch.scope, "repository:a/b:pull,push");
	oci_challenge_release(&ch);
	assert_int_equal(oci_challenge_parse("Basic realm=\"Registry Realm\"", &ch, &err), 0);
	assert_int_equal(ch.scheme, OCI_AUTH_BASIC);
	assert_string_equal(ch.realm, "Registry Realm");
	oci_challenge_release(&ch);
	assert_int_equal(oci_challenge_parse("Negotiate abc", &ch, &err), 0);
	assert_int_equal(ch.scheme, OCI_AUTH_NONE);
	oci_challenge_release(&ch);
}

static void test_token_response(void **state)
{
	static const char a[] = "{\"access_token\":\"AT\",\"expires_in\":300}";
	static const char b[] = "{\"token\":\"T\",\"access_token\":\"AT\"}";
	static const char c[] = "{\"expires_in\":300}";
	ocibuild_error err = { 0 };
	char *tok;
	long exp;

	(void)state;
	assert_int_equal(oci_auth_parse_token(a, sizeof(a) - 1, &tok, &exp, &err), 0);
	assert_string_equal(tok, "AT");
	assert_int_equal(exp, 300);
	free(tok);
	assert_int_equal(oci_auth_parse_token(b, sizeof(b) - 1, &tok, &exp, &err), 0);
	assert_string_equal(tok, "T");
	assert_int_equal(exp, 60);
	free(tok);
	assert_int_equal(oci_auth_parse_token(c, sizeof(c) - 1, &tok, &exp, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	ocibuild_error_clear(&err);
}

/* Lifetimes are clamped so that callers can add them to a time. */
static void test_token_lifetime_clamped(void **state)
{
	static const char big[] = "{\"token\":\"T\",\"expires_in\":9223372036854775807}";
	static const char day[] = "{\"token\":\"T\",\"expires_in\":86401}";
	static const char neg[] = "{\"token\":\"T\",\"expires_in\":-5}";
	static const char str[] = "{\"token\":\"T\",\"expires_in\":\"300\"}";
	ocibuild_error err = { 0 };
	char *tok;
	long exp;

	(void)state;
	assert_int_equal(oci_auth_parse_token(big, sizeof(big) - 1, &tok, &exp, &err), 0);
	assert_int_equal(exp, 86400);
	free(tok);
	assert_int_equal(oci_auth_parse_token(day, sizeof(day) - 1, &tok, &exp, &err), 0);
	assert_int_equal(exp, 86400);
	free(tok);
	assert_int_equal(oci_auth_parse_token(neg, sizeof(neg) - 1, &tok, &exp, &err), 0);
	assert_int_equal(exp, 60);
	free(tok);
	assert_int_equal(oci_auth_parse_token(str, sizeof(str) - 1, &tok, &exp, &err), 0);
	assert_int_equal(exp, 60);
	free(tok);
}

/* A parameter too long to keep is an error, never a truncated realm. */
static void test_challenge_value_too_long(void **state)
{
	size_t n = 70000, i;
	char *h = malloc(n + 64);
	oci_challenge ch;
	ocibuild_error err = { 0 };

	(void)state;
	assert_non_null(h);
	i = (size_t)snprintf(h, 64, "Bearer realm=\"https://auth.example/");
	memset(h + i, 'a', n);
	memcpy(h + i + n, "\",service=\"r\"", 14);
	assert_int_equal(oci_challenge_parse(h, &ch, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	assert_non_null(strstr(err.message, "WWW-Authenticate"));
	assert_null(ch.realm);
	assert_null(ch.service);
	ocibuild_error_clear(&err);
	/* unquoted too */
	memcpy(h, "Basic realm=", 12);
	memset(h + 12, 'b', n);
	h[12 + n] = '\0';
	assert_int_equal(oci_challenge_parse(h, &ch, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_AUTH);
	ocibuild_error_clear(&err);
	free(h);
}

/* The text of a config.json, as the file readers hand it over. */
static void test_config_parse_buffer(void **state)
{
	static const char cfg[] =
		"{\"auths\":{\"https://localhost:5000/v1/\":{\"auth\":\"dTpwOng=\"},"
		"\"other:1\":{\"identitytoken\":\"IT\"}},"
		"\"credHelpers\":{\"ghcr.io\":\"gh\"},\"credsStore\":\"desktop\"}";
	ocibuild_error err = { 0 };
	oci_cred c = { 0 };
	char *helper;
	int found;

	(void)state;
	assert_int_equal(oci_auth_config_parse(cfg, sizeof(cfg) - 1, "f", "localhost:5000", "src",
					       &c, &found, &helper, &err),
			 0);
	assert_int_equal(found, 1);
	assert_null(helper);
	assert_string_equal(c.username, "u");
	assert_string_equal(c.password, "p:x");
	assert_string_equal(c.source, "src");
	oci_cred_release(&c);
	assert_int_equal(oci_auth_config_parse(cfg, sizeof(cfg) - 1, "f", "other:1", "src", &c,
					       &found, NULL, &err),
			 0);
	assert_int_equal(found, 1);
	assert_string_equal(c.identity_token, "IT");
	oci_cred_release(&c);
	assert_int_equal(oci_auth_config_parse(cfg, sizeof(cfg) - 1, "f", "ghcr.io", "src", &c,
					       &found, &helper, &err),
			 0);
	assert_int_equal(found, 0);
	assert_string_equal(helper, "gh");
	free(helper);
	assert_int_equal(oci_auth_config_parse(cfg, sizeof(cfg) - 1, "f", "quay.io", "src", &c,
					       &found, &helper, &err),
			 0);
	assert_string_equal(helper, "desktop");
	free(helper);
	/* podman's file has no helpers */
	assert_int_equal(oci_auth_config_parse(cfg, sizeof(cfg) - 1, "f", "quay.io", "src", &c,
					       &found, NULL, &err),
			 0);
	assert_int_equal(found, 0);
	assert_null(c.username);
	assert_int_equal(oci_auth_config_parse("[1]", 3, "/x/auth.json", "quay.io", "src", &c,
					       &found, &helper, &err),
			 -1);
	assert_null(helper);
	assert_string_equal(err.message, "'/x/auth.json' is not a JSON object: fix or remove it");
	ocibuild_error_clear(&err);
	assert_int_equal(oci_auth_config_parse("{\n\"auths\":", 10, "/x/auth.json", "quay.io", "src",
					       &c, &found, &helper, &err),
			 -1);
	assert_string_equal(err.message, "'/x/auth.json' is not valid JSON (line 2): fix or remove it");
	ocibuild_error_clear(&err);
}

static void test_basic_header(void **state)
{
	char *h = oci_auth_basic_header("user", "pass");

	(void)state;
	assert_string_equal(h, "Basic dXNlcjpwYXNz");
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_config_keys, setup, teardown),
		cmocka_unit_test(test_github_token_only_for_ghcr),
		cmocka_unit_test_setup_teardown(test_bad_config_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helper_cancel_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_creds_store, setup, teardown),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_token_response),
		cmocka_unit_test(test_token_lifetime_clamped),
		cmocka_unit_test(test_challenge_value_too_long),
		cmocka_unit_test(test_config_parse_buffer),
		cmocka_unit_test(test_basic_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
