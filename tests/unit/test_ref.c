/* Unit tests for image reference parsing (src/lib/ref.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

struct good {
	const char *in, *domain, *path, *tag, *digest, *str;
};

static void check_good(const struct good *g)
{
	oci_ref r;
	ocibuild_error err = { 0 };
	char *s;

	if (oci_ref_parse(g->in, &r, &err) < 0)
		fail_msg("'%s' rejected: %s", g->in, err.message ? err.message : "?");
	assert_string_equal(r.domain, g->domain);
	assert_string_equal(r.path, g->path);
	if (g->tag)
		assert_string_equal(r.tag, g->tag);
	else
		assert_null(r.tag);
	if (g->digest)
		assert_string_equal(r.digest, g->digest);
	else
		assert_null(r.digest);
	s = oci_ref_string(&r);
	assert_non_null(s);
	assert_string_equal(s, g->str);
	free(s);
	oci_ref_release(&r);
	assert_null(r.domain);
	assert_null(r.path);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
}

static void test_normalise(void **state)
{
	static const struct good cases[] = {
		{ "debian", "docker.io", "library/debian", "latest", NULL,
		  "docker.io/library/debian:latest" },
		{ "debian:12", "docker.io", "library/debian", "12", NULL,
		  "docker.io/library/debian:12" },
		{ "debian:Bookworm_1.2-x", "docker.io", "library/debian", "Bookworm_1.2-x", NULL,
		  "docker.io/library/debian:Bookworm_1.2-x" },
		{ "myorg/app", "docker.io", "myorg/app", "latest", NULL,
		  "docker.io/myorg/app:latest" },
		{ "myorg/team/app:v1", "docker.io", "myorg/team/app", "v1", NULL,
		  "docker.io/myorg/team/app:v1" },
		{ "docker.io/debian", "docker.io", "library/debian", "latest", NULL,
		  "docker.io/library/debian:latest" },
		{ "docker.io/library/debian:12", "docker.io", "library/debian", "12", NULL,
		  "docker.io/library/debian:12" },
		{ "index.docker.io/library/x", "docker.io", "library/x", "latest", NULL,
		  "docker.io/library/x:latest" },
		{ "index.docker.io/x", "docker.io", "library/x", "latest", NULL,
		  "docker.io/library/x:latest" },
		{ "ghcr.io/org/app:1.0", "ghcr.io", "org/app", "1.0", NULL,
		  "ghcr.io/org/app:1.0" },
		{ "localhost:5000/x", "localhost:5000", "x", "latest", NULL,
		  "localhost:5000/x:latest" },
		{ "localhost/x", "localhost", "x", "latest", NULL, "localhost/x:latest" },
		{ "[::1]:5000/a/b:c", "[::1]:5000", "a/b", "c", NULL, "[::1]:5000/a/b:c" },
		{ "[::1]/a", "[::1]", "a", "latest", NULL, "[::1]/a:latest" },
		{ "[fe80::1:2]:443/a", "[fe80::1:2]:443", "a", "latest", NULL,
		  "[fe80::1:2]:443/a:latest" },
		{ "registry:5000/a", "registry:5000", "a", "latest", NULL,
		  "registry:5000/a:latest" },
		{ "my-registry.example.com:8443/a.b/c_d/e__f/g-h--i:T", "my-registry.example.com:8443",
		  "a.b/c_d/e__f/g-h--i", "T", NULL,
		  "my-registry.example.com:8443/a.b/c_d/e__f/g-h--i:T" },
		{ "Example.COM/a", "Example.COM", "a", "latest", NULL, "Example.COM/a:latest" },
		/* no '/': "localhost:5000" is a name and a tag */
		{ "localhost:5000", "docker.io", "library/localhost", "5000", NULL,
		  "docker.io/library/localhost:5000" },
		{ "a__b", "docker.io", "library/a__b", "latest", NULL,
		  "docker.io/library/a__b:latest" },
		{ "a.b_c-d", "docker.io", "library/a.b_c-d", "latest", NULL,
		  "docker.io/library/a.b_c-d:latest" },
		{ "0", "docker.io", "library/0", "latest", NULL, "docker.io/library/0:latest" },
		{ "a:_x", "docker.io", "library/a", "_x", NULL, "docker.io/library/a:_x" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_good(&cases[i]);
}

static void test_digest_refs(void **state)
{
	static const struct good cases[] = {
		{ "debian@" DIGEST, "docker.io", "library/debian", NULL, DIGEST,
		  "docker.io/library/debian@" DIGEST },
		{ "debian:12@" DIGEST, "docker.io", "library/debian", "12", DIGEST,
		  "docker.io/library/debian:12@" DIGEST },
		{ "localhost:5000/x@" DIGEST, "localhost:5000", "x", NULL, DIGEST,
		  "localhost:5000/x@" DIGEST },
		{ "ghcr.io/o/a:1@" DIGEST, "ghcr.io", "o/a", "1", DIGEST,
		  "ghcr.io/o/a:1@" DIGEST },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_good(&cases[i]);
}

static void test_api_host(void **state)
{
	oci_ref r;

	(void)state;
	assert_int_equal(oci_ref_parse("debian", &r, NULL), 0);
	assert_string_equal(oci_ref_api_host(&r), "registry-1.docker.io");
	oci_ref_release(&r);
	assert_int_equal(oci_ref_parse("index.docker.io/a/b", &r, NULL), 0);
	assert_string_equal(oci_ref_api_host(&r), "registry-1.docker.io");
	oci_ref_release(&r);
	assert_int_equal(oci_ref_parse("ghcr.io/a/b", &r, NULL), 0);
	assert_string_equal(oci_ref_api_host(&r), "ghcr.io");
	oci_ref_release(&r);
	assert_int_equal(oci_ref_parse("localhost:5000/a", &r, NULL), 0);
	assert_string_equal(oci_ref_api_host(&r), "localhost:5000");
	oci_ref_release(&r);
}

static void expect_bad(const char *in)
{
	oci_ref r;
	ocibuild_error err = { 0 };
	char msg[512];

	memset(&r, 0x5a, sizeof(r));
	if (oci_ref_parse(in, &r, &err) == 0) {
		char *s = oci_ref_string(&r);

		snprintf(msg, sizeof(msg), "accepted bad reference '%s' as '%s'", in,
			 s ? s : "?");
		free(s);
		oci_ref_release(&r);
		fail_msg("%s", msg);
	}
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	/* a failed parse leaves nothing to free */
	assert_null(r.domain);
	assert_null(r.path);
	assert_null(r.tag);
	assert_null(r.digest);
	ocibuild_error_clear(&err);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"UPPER",
		"Debian",
		"myorg/App",
		"a:b:c",
		"name:",
		":tag",
		":",
		"/",
		"a//b",
		"a/",
		"/a",
		"-a",
		"a-",
		"a--",
		"_a",
		"a_",
		".a",
		"a.",
		"a..b",
		"a___b",
		"a_.b",
		"a b",
		"a\tb",
		"a:ta g",
		"a:-tag",
		"a:.tag",
		"a:tag!",
		"a@",
		"a@sha256:",
		"a@sha256:abc",
		"a@sha256:" HEX64 "0",
		"a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"a@sha512:" HEX64,
		"a@" HEX64,
		"a:1@sha256:" HEX64 "@sha256:" HEX64,
		"@sha256:" HEX64,
		"ex_ample.com/a",
		"-example.com/a",
		"example-.com/a",
		"example..com/a",
		".example.com/a",
		"localhost:/a",
		"localhost:50x0/a",
		":5000/a",
		"[::1/a",
		"[::1]x/a",
		"[::1]:/a",
		"ghcr.io/",
		"ghcr.io//a",
		"ghcr.io/A",
		"a/b:c/d",
		"docker.io/a:b:c",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
}

/* The distribution grammar only allows an IPv6 address between the
 * brackets: `\[[a-fA-F0-9:]+\]`. */
static void test_invalid_bracket_host(void **state)
{
	(void)state;
	expect_bad("[]/a");
	expect_bad("[]:5000/a");
	expect_bad("[zz]/a");
	expect_bad("[ ]:5000/a");
	expect_bad("[a.b]/a");
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_tag_length(void **state)
{
	char *tag = repeat('t', 128), buf[300];
	oci_ref r;

	(void)state;
	snprintf(buf, sizeof(buf), "a:%s", tag);
	assert_int_equal(oci_ref_parse(buf, &r, NULL), 0);
	assert_string_equal(r.tag, tag);
	oci_ref_release(&r);
	snprintf(buf, sizeof(buf), "a:%st", tag);
	expect_bad(buf);
	free(tag);

	assert_true(oci_tag_valid("a", 1));
	assert_true(oci_tag_valid("A_b.c-d", 7));
	assert_false(oci_tag_valid("", 0));
	assert_false(oci_tag_valid(".a", 2));
	assert_false(oci_tag_valid("-a", 2));
	assert_false(oci_tag_valid("a/b", 3));
	assert_false(oci_tag_valid("a:b", 3));
	/* only len characters are looked at */
	assert_true(oci_tag_valid("ab!", 2));
}

static void test_name_length(void **state)
{
	char buf[600];
	char *a = repeat('a', 243);
	oci_ref r;

	(void)state;
	/* 12 + 243 = 255 characters: the longest name */
	snprintf(buf, sizeof(buf), "example.com/%s:tag", a);
	assert_int_equal(oci_ref_parse(buf, &r, NULL), 0);
	assert_int_equal(strlen(r.domain) + 1 + strlen(r.path), 255);
	oci_ref_release(&r);
	snprintf(buf, sizeof(buf), "example.com/%sa:tag", a);
	expect_bad(buf);
	snprintf(buf, sizeof(buf), "example.com/%sa", a);
	expect_bad(buf);
	snprintf(buf, sizeof(buf), "example.com/%sa@" DIGEST, a);
	expect_bad(buf);
	free(a);
	a = repeat('b', 400);
	expect_bad(a);
	free(a);
}

/* Whatever oci_ref_parse accepts, oci_ref_string must print as a
 * reference that parses again to the same thing. */
static void check_reparse(const char *in)
{
	oci_ref r, r2;
	ocibuild_error err = { 0 };
	char *s, *s2, msg[512];

	if (oci_ref_parse(in, &r, &err) < 0) {
		ocibuild_error_clear(&err);
		return;
	}
	s = oci_ref_string(&r);
	oci_ref_release(&r);
	assert_non_null(s);
	if (oci_ref_parse(s, &r2, &err) < 0) {
		snprintf(msg, sizeof(msg),
			 "'%.40s...' (%zu characters) was accepted, but its normal form '%.40s...' (%zu characters) is rejected: %.100s...",
			 in, strlen(in), s, strlen(s), err.message ? err.message : "?");
		free(s);
		ocibuild_error_clear(&err);
		fail_msg("%s", msg);
	}
	s2 = oci_ref_string(&r2);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
	oci_ref_release(&r2);
}

static void test_normal_form_reparses(void **state)
{
	char *a;

	(void)state;
	check_reparse("debian");
	check_reparse("ghcr.io");
	check_reparse("index.docker.io/x:1@" DIGEST);
	check_reparse("[::1]:5000/a/b:c");
	/* "docker.io/library/" + 237 = 255 characters */
	a = repeat('a', 237);
	check_reparse(a);
	free(a);
}

/* A name of 238 to 255 characters without a domain is accepted, but gets
 * "docker.io/library/" in front: the normal form is past the 255-character
 * limit and is rejected. (Docker applies the limit to the normalised name,
 * so it rejects the short form as well.) */
static void test_normal_form_too_long(void **state)
{
	char a[251];

	(void)state;
	memset(a, 'a', 238);
	a[238] = '\0';
	check_reparse(a);
	memset(a, 'a', 250);
	a[250] = '\0';
	check_reparse(a);
}

static void test_tag_check(void **state)
{
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(ocibuild_tag_check("app:1.0", &err), 0);
	assert_int_equal(ocibuild_tag_check("ghcr.io/org/app:1.0", &err), 0);
	assert_int_equal(ocibuild_tag_check("app", &err), 0);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);

	assert_int_equal(ocibuild_tag_check("app@" DIGEST, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "digest"));
	ocibuild_error_clear(&err);

	assert_int_equal(ocibuild_tag_check("app:1@" DIGEST, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	ocibuild_error_clear(&err);

	assert_int_equal(ocibuild_tag_check("App:1", &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	ocibuild_error_clear(&err);

	assert_int_equal(ocibuild_tag_check("app:", &err), -1);
	ocibuild_error_clear(&err);
}

static void test_release_idempotent(void **state)
{
	oci_ref r;

	(void)state;
	assert_int_equal(oci_ref_parse("a/b:c@" DIGEST, &r, NULL), 0);
	oci_ref_release(&r);
	oci_ref_release(&r);
	assert_null(r.domain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_digest_refs),
		cmocka_unit_test(test_api_host),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_invalid_bracket_host),
		cmocka_unit_test(test_tag_length),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_normal_form_reparses),
		cmocka_unit_test(test_normal_form_too_long),
		cmocka_unit_test(test_tag_check),
		cmocka_unit_test(test_release_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
