/* Unit tests for the SPDX 2.2 SBOM (src/lib/sbom.c): the document is
 * parsed back with jansson and checked against the SPDX 2.2 rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "sbom.h"

#define HEX_SHA "3afdccb7183cc6f143cb14d3cf51fa00e53db9ec80cdcd525482f5e99bc41d6b"
#define HEX_SHA2 "53cfe5f497ed0e7771ae1a475575603d77425099ba5faef9394932b35020ffcc"
#define GUN_REF "0123456789abcdef0123456789abcdef01234567"
#define LIB_REF "89abcdef0123456789abcdef0123456789abcdef"
#define BASE_HEX "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
#define BASE_DIGEST "sha256:" BASE_HEX
#define CREATED "2024-01-02T03:04:05Z"

/* ---- input ---- */

static char *xstrdup(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	assert_non_null(d);
	return d;
}

static void add_dep(oci_release *r, oci_dep_source src, const char *name, const char *hex_name,
		    const char *version, const char *git_url, const char *git_ref,
		    const char *sha256)
{
	oci_lock_dep *v = realloc(r->lock.deps, (r->lock.n + 1) * sizeof(*v)), *d;

	assert_non_null(v);
	r->lock.deps = v;
	d = &v[r->lock.n++];
	memset(d, 0, sizeof(*d));
	d->source = src;
	d->name = xstrdup(name);
	d->hex_name = xstrdup(hex_name);
	d->version = xstrdup(version);
	d->repo = src == OCI_DEP_HEX ? xstrdup("hexpm") : NULL;
	d->git_url = xstrdup(git_url);
	d->git_ref = xstrdup(git_ref);
	d->sha256 = xstrdup(sha256);
}

/* my_app 1.2.3 on ERTS 13.1.5 with a hex dep, a hex dep whose package name
 * differs, a GitHub dep and a dep from another git host. */
static void make_release(oci_release *r)
{
	memset(r, 0, sizeof(*r));
	r->dir = xstrdup("/nonexistent/_build/prod/rel/my_app");
	r->name = xstrdup("my_app");
	r->version = xstrdup("1.2.3");
	r->erts_version = xstrdup("13.1.5");
	r->has_erts = 1;
	r->kind = OCI_REL_RELX;
	add_dep(r, OCI_DEP_HEX, "cowboy", "cowboy", "2.10.0", NULL, NULL, HEX_SHA);
	add_dep(r, OCI_DEP_HEX, "my_dep", "my_dep_pkg", "0.3.0", NULL, NULL, HEX_SHA2);
	add_dep(r, OCI_DEP_GIT, "gun", NULL, NULL, "https://github.com/ninenines/gun.git", GUN_REF,
		NULL);
	add_dep(r, OCI_DEP_GIT, "internal_lib", NULL, NULL,
		"https://gitlab.example.com/team/internal_lib.git", LIB_REF, NULL);
}

static char *spdx(const oci_release *r, const char *created, const char *base_name,
		  const char *base_digest)
{
	oci_sbom_input in = { r, created, base_name, base_digest };
	oci_buf out = OCI_BUF_INIT(1 << 24);
	ocibuild_error err = { 0 };
	char *s;

	if (oci_sbom_spdx(&in, &out, &err) < 0)
		fail_msg("oci_sbom_spdx: %s", err.message ? err.message : "?");
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	s = oci_buf_detach(&out, NULL);
	assert_non_null(s);
	return s;
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);

	if (!doc)
		fail_msg("not JSON (line %d): %s\n%s", je.line, je.text, text);
	assert_true(json_is_object(doc));
	return doc;
}

/* ---- document queries ---- */

static const char *str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *must_str(const json_t *obj, const char *key)
{
	const char *s = str(obj, key);

	if (!s)
		fail_msg("no string \"%s\"", key);
	return s;
}

static json_t *packages(json_t *doc)
{
	json_t *p = json_object_get(doc, "packages");

	assert_true(json_is_array(p));
	return p;
}

static json_t *package_named(json_t *doc, const char *name)
{
	json_t *pkgs = packages(doc), *p;
	size_t i;

	json_array_foreach(pkgs, i, p) {
		const char *n = str(p, "name");

		if (n && !strcmp(n, name))
			return p;
	}
	fail_msg("no package named %s", name);
	return NULL;
}

/* The purl of a package (its PACKAGE-MANAGER purl reference), or NULL. */
static const char *purl_of(const json_t *pkg)
{
	const json_t *refs = json_object_get(pkg, "externalRefs"), *ref;
	const char *found = NULL;
	size_t i;

	if (!refs)
		return NULL;
	assert_true(json_is_array(refs));
	json_array_foreach(refs, i, ref) {
		const char *type = str(ref, "referenceType");

		if (!type || strcmp(type, "purl"))
			continue;
		assert_string_equal(must_str(ref, "referenceCategory"), "PACKAGE-MANAGER");
		assert_null(found);
		found = must_str(ref, "referenceLocator");
	}
	return found;
}

static void check_checksum(const json_t *pkg, const char *want)
{
	const json_t *sums = json_object_get(pkg, "checksums"), *sum;

	if (!want) {
		assert_null(sums);
		return;
	}
	assert_true(json_is_array(sums));
	assert_int_equal(json_array_size(sums), 1);
	sum = json_array_get(sums, 0);
	assert_string_equal(must_str(sum, "algorithm"), "SHA256");
	assert_string_equal(must_str(sum, "checksumValue"), want);
}

static int has_id(json_t *doc, const char *id)
{
	json_t *p;
	size_t i;

	if (!strcmp(id, must_str(doc, "SPDXID")))
		return 1;
	json_array_foreach(packages(doc), i, p)
		if (!strcmp(must_str(p, "SPDXID"), id))
			return 1;
	return 0;
}

static size_t count_rel(json_t *doc, const char *a, const char *type, const char *b)
{
	json_t *rels = json_object_get(doc, "relationships"), *r;
	size_t i, n = 0;

	assert_true(json_is_array(rels));
	json_array_foreach(rels, i, r) {
		if ((!a || !strcmp(must_str(r, "spdxElementId"), a)) &&
		    !strcmp(must_str(r, "relationshipType"), type) &&
		    (!b || !strcmp(must_str(r, "relatedSpdxElement"), b)))
			n++;
	}
	return n;
}

/* ---- tests ---- */

static void test_document(void **state)
{
	oci_release r;
	char *text;
	json_t *doc, *ci, *creators;
	const char *ns;

	(void)state;
	make_release(&r);
	text = spdx(&r, CREATED, NULL, NULL);
	doc = parse(text);
	assert_string_equal(must_str(doc, "spdxVersion"), "SPDX-2.2");
	assert_string_equal(must_str(doc, "dataLicense"), "CC0-1.0");
	assert_string_equal(must_str(doc, "SPDXID"), "SPDXRef-DOCUMENT");
	assert_string_equal(must_str(doc, "name"), "my_app-1.2.3");
	ns = must_str(doc, "documentNamespace");
	assert_int_equal(strncmp(ns, "https://", 8), 0);
	assert_null(strchr(ns, '#'));
	ci = json_object_get(doc, "creationInfo");
	assert_true(json_is_object(ci));
	assert_string_equal(must_str(ci, "created"), CREATED);
	creators = json_object_get(ci, "creators");
	assert_true(json_is_array(creators));
	assert_true(json_array_size(creators) >= 1);
	assert_int_equal(strncmp(json_string_value(json_array_get(creators, 0)), "Tool: ", 6), 0);
	/* one line of JSON per member, ending with a newline */
	assert_int_equal(text[strlen(text) - 1], '\n');
	json_decref(doc);
	free(text);
	oci_release_release(&r);
}

static void test_packages(void **state)
{
	static const char *const required[] = {
		"SPDXID", "name", "downloadLocation", "licenseConcluded", "licenseDeclared",
		"copyrightText",
	};
	oci_release r;
	regex_t re;
	char *text;
	json_t *doc, *p;
	size_t i, j, k;

	(void)state;
	assert_int_equal(regcomp(&re, "^SPDXRef-[A-Za-z0-9.-]+$", REG_EXTENDED | REG_NOSUB), 0);
	make_release(&r);
	text = spdx(&r, CREATED, "docker.io/library/debian:12-slim", BASE_DIGEST);
	doc = parse(text);
	/* the app, 4 deps, erts, the base */
	assert_int_equal(json_array_size(packages(doc)), 7);
	json_array_foreach(packages(doc), i, p) {
		const char *id = must_str(p, "SPDXID");

		for (j = 0; j < sizeof(required) / sizeof(required[0]); j++)
			if (!str(p, required[j]) || !*str(p, required[j]))
				fail_msg("package %s has no %s", id, required[j]);
		if (regexec(&re, id, 0, NULL, 0) != 0)
			fail_msg("bad SPDXID '%s'", id);
		if (!json_is_false(json_object_get(p, "filesAnalyzed")))
			fail_msg("package %s: filesAnalyzed is not false", id);
		/* ids are unique */
		for (k = i + 1; k < json_array_size(packages(doc)); k++)
			if (!strcmp(id, must_str(json_array_get(packages(doc), k), "SPDXID")))
				fail_msg("SPDXID %s used twice", id);
	}
	/* the app's id maps the underscore */
	assert_null(strchr(must_str(package_named(doc, "my_app"), "SPDXID"), '_'));
	assert_null(strchr(must_str(package_named(doc, "my_dep"), "SPDXID"), '_'));
	json_decref(doc);
	free(text);
	oci_release_release(&r);
	regfree(&re);
}

static void test_purls_and_checksums(void **state)
{
	oci_release r;
	char *text;
	json_t *doc, *p;
	const char *purl;

	(void)state;
	make_release(&r);
	text = spdx(&r, CREATED, NULL, NULL);
	doc = parse(text);

	p = package_named(doc, "cowboy");
	assert_string_equal(purl_of(p), "pkg:hex/cowboy@2.10.0");
	assert_string_equal(must_str(p, "versionInfo"), "2.10.0");
	assert_string_equal(must_str(p, "downloadLocation"),
			    "https://repo.hex.pm/tarballs/cowboy-2.10.0.tar");
	check_checksum(p, HEX_SHA);

	/* the hex package name, not the app name */
	p = package_named(doc, "my_dep");
	assert_string_equal(purl_of(p), "pkg:hex/my_dep_pkg@0.3.0");
	assert_string_equal(must_str(p, "downloadLocation"),
			    "https://repo.hex.pm/tarballs/my_dep_pkg-0.3.0.tar");
	check_checksum(p, HEX_SHA2);

	p = package_named(doc, "gun");
	assert_string_equal(purl_of(p), "pkg:github/ninenines/gun@" GUN_REF);
	assert_string_equal(must_str(p, "versionInfo"), GUN_REF);
	check_checksum(p, NULL);

	p = package_named(doc, "internal_lib");
	purl = purl_of(p);
	assert_non_null(purl);
	assert_int_equal(strncmp(purl, "pkg:", 4), 0);
	assert_null(strstr(purl, "pkg:github"));
	assert_non_null(strstr(purl, "internal_lib"));
	assert_non_null(strstr(must_str(p, "downloadLocation"), "gitlab.example.com/team/internal_lib"));
	check_checksum(p, NULL);

	p = package_named(doc, "erts");
	assert_string_equal(must_str(p, "versionInfo"), "13.1.5");
	assert_string_equal(purl_of(p), "pkg:generic/erts@13.1.5");

	p = package_named(doc, "my_app");
	assert_string_equal(must_str(p, "versionInfo"), "1.2.3");
	assert_non_null(purl_of(p));

	/* no base image: no oci package */
	assert_null(strstr(text, "pkg:oci/"));
	json_decref(doc);
	free(text);
	oci_release_release(&r);
}

static void test_relationships(void **state)
{
	oci_release r;
	char *text;
	json_t *doc, *rels, *rel, *describes;
	const char *app_id;
	size_t i;

	(void)state;
	make_release(&r);
	text = spdx(&r, CREATED, "ghcr.io/org/base:1", BASE_DIGEST);
	doc = parse(text);
	app_id = must_str(package_named(doc, "my_app"), "SPDXID");

	rels = json_object_get(doc, "relationships");
	assert_true(json_is_array(rels));
	json_array_foreach(rels, i, rel) {
		const char *a = must_str(rel, "spdxElementId"), *b = must_str(rel, "relatedSpdxElement");

		if (!has_id(doc, a))
			fail_msg("relationship from unknown id %s", a);
		if (!has_id(doc, b))
			fail_msg("relationship to unknown id %s", b);
	}
	assert_int_equal(count_rel(doc, "SPDXRef-DOCUMENT", "DESCRIBES", app_id), 1);
	assert_int_equal(count_rel(doc, NULL, "DESCRIBES", NULL), 1);
	/* the app depends on every other package */
	assert_int_equal(count_rel(doc, app_id, "DEPENDS_ON", NULL), 6);
	assert_int_equal(count_rel(doc, app_id, "DEPENDS_ON",
				   must_str(package_named(doc, "cowboy"), "SPDXID")), 1);
	assert_int_equal(count_rel(doc, app_id, "DEPENDS_ON",
				   must_str(package_named(doc, "internal_lib"), "SPDXID")), 1);
	assert_int_equal(count_rel(doc, app_id, "DEPENDS_ON",
				   must_str(package_named(doc, "erts"), "SPDXID")), 1);
	assert_int_equal(count_rel(doc, app_id, "DEPENDS_ON",
				   must_str(package_named(doc, "ghcr.io/org/base:1"), "SPDXID")), 1);
	describes = json_object_get(doc, "documentDescribes");
	if (describes) {
		assert_int_equal(json_array_size(describes), 1);
		assert_string_equal(json_string_value(json_array_get(describes, 0)), app_id);
	}
	json_decref(doc);
	free(text);
	oci_release_release(&r);
}

static void test_base_image(void **state)
{
	oci_release r;
	char *text;
	json_t *doc, *p;
	const char *purl;

	(void)state;
	make_release(&r);
	text = spdx(&r, CREATED, "docker.io/library/debian:12-slim", BASE_DIGEST);
	doc = parse(text);
	p = package_named(doc, "docker.io/library/debian:12-slim");
	purl = purl_of(p);
	assert_non_null(purl);
	assert_int_equal(strncmp(purl, "pkg:oci/debian@sha256%3A" BASE_HEX,
				 strlen("pkg:oci/debian@sha256%3A" BASE_HEX)), 0);
	check_checksum(p, BASE_HEX);
	json_decref(doc);
	free(text);

	/* a name with a digest and no tag */
	text = spdx(&r, CREATED, "registry.example.com:5000/team/runtime@" BASE_DIGEST,
		    BASE_DIGEST);
	doc = parse(text);
	p = package_named(doc, "registry.example.com:5000/team/runtime@" BASE_DIGEST);
	purl = purl_of(p);
	assert_non_null(purl);
	assert_int_equal(strncmp(purl, "pkg:oci/runtime@sha256%3A" BASE_HEX,
				 strlen("pkg:oci/runtime@sha256%3A" BASE_HEX)), 0);
	json_decref(doc);
	free(text);
	oci_release_release(&r);
}

static void test_no_spdx23_fields(void **state)
{
	static const char *const spdx23[] = {
		"primaryPackagePurpose", "releaseDate", "builtDate", "validUntilDate",
	};
	oci_release r;
	char *text;
	json_t *doc, *p;
	size_t i, j;

	(void)state;
	make_release(&r);
	text = spdx(&r, CREATED, "debian:12", BASE_DIGEST);
	doc = parse(text);
	for (j = 0; j < sizeof(spdx23) / sizeof(spdx23[0]); j++) {
		assert_null(json_object_get(doc, spdx23[j]));
		json_array_foreach(packages(doc), i, p)
			if (json_object_get(p, spdx23[j]))
				fail_msg("package %s has the SPDX 2.3 field %s",
					 must_str(p, "SPDXID"), spdx23[j]);
		assert_null(strstr(text, spdx23[j]));
	}
	/* the 2.3 spelling of the purl category is not used either */
	assert_null(strstr(text, "PACKAGE_MANAGER"));
	json_decref(doc);
	free(text);
	oci_release_release(&r);
}

static void test_reproducible(void **state)
{
	oci_release r;
	char *a, *b, *c, *d, *e;
	json_t *ja, *jc, *jd, *je;

	(void)state;
	make_release(&r);
	a = spdx(&r, CREATED, "debian:12", BASE_DIGEST);
	b = spdx(&r, CREATED, "debian:12", BASE_DIGEST);
	assert_string_equal(a, b);
	/* another dependency version */
	free(r.lock.deps[0].version);
	r.lock.deps[0].version = xstrdup("2.10.1");
	c = spdx(&r, CREATED, "debian:12", BASE_DIGEST);
	/* another creation time */
	d = spdx(&r, "2024-01-02T03:04:06Z", "debian:12", BASE_DIGEST);
	/* another base */
	e = spdx(&r, "2024-01-02T03:04:06Z", NULL, NULL);
	ja = parse(a);
	jc = parse(c);
	jd = parse(d);
	je = parse(e);
	assert_string_not_equal(must_str(ja, "documentNamespace"), must_str(jc, "documentNamespace"));
	assert_string_not_equal(must_str(jc, "documentNamespace"), must_str(jd, "documentNamespace"));
	assert_string_not_equal(must_str(jd, "documentNamespace"), must_str(je, "documentNamespace"));
	json_decref(ja);
	json_decref(jc);
	json_decref(jd);
	json_decref(je);
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	oci_release_release(&r);
}

/* A lock may hold a git URL with a token in it; the SBOM is published with
 * the image, so the token must not be copied into it. */
static void test_no_credentials(void **state)
{
	oci_release r;
	char *text;

	(void)state;
	make_release(&r);
	add_dep(&r, OCI_DEP_GIT, "private_gh", NULL, NULL,
		"https://x-access-token:ghs_SECRET1@github.com/org/private_gh.git", GUN_REF, NULL);
	add_dep(&r, OCI_DEP_GIT, "private_gl", NULL, NULL,
		"https://oauth2:glpat-SECRET2@gitlab.example.com/team/private_gl.git", LIB_REF,
		NULL);
	/* tokens in a query or fragment */
	add_dep(&r, OCI_DEP_GIT, "query_gl", NULL, NULL,
		"https://gitlab.example.com/team/query_gl.git?private_token=SECRET3#SECRET4", LIB_REF,
		NULL);
	add_dep(&r, OCI_DEP_GIT, "query_gh", NULL, NULL,
		"https://github.com/org/query_gh.git?tok=SECRET5", GUN_REF, NULL);
	text = spdx(&r, CREATED, NULL, NULL);
	oci_release_release(&r);
	if (strstr(text, "SECRET") || strstr(text, "tok=")) {
		char *line = strstr(text, "SECRET"), shown[512];

		while (line > text && line[-1] != '\n')
			line--;
		snprintf(shown, sizeof(shown), "%.*s", (int)strcspn(line, "\n"), line);
		free(text);
		fail_msg("credentials copied into the SBOM: %s", shown);
	}
	free(text);
}

/* an SBOM past its buffer's limit: the error says it is the SBOM, names
 * the lock file and the limit */
static void test_too_large(void **state)
{
	oci_release r;
	oci_sbom_input in;
	oci_buf out = OCI_BUF_INIT(4096);
	ocibuild_error err = { 0 };

	(void)state;
	make_release(&r);
	r.lock_path = xstrdup("/src/app/rebar.lock");
	memset(&in, 0, sizeof(in));
	in.release = &r;
	in.created = CREATED;
	assert_int_equal(oci_sbom_spdx(&in, &out, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	if (!strstr(err.message, "SBOM") || !strstr(err.message, "'/src/app/rebar.lock'") ||
	    !strstr(err.message, "4096-byte") || !strstr(err.message, "4 dependencies"))
		fail_msg("error: %s", err.message);
	ocibuild_error_clear(&err);
	oci_buf_release(&out);
	oci_release_release(&r);
}

/* ---- oci_sbom_purl ---- */

static void check_purl(oci_dep_source src, const char *name, const char *hex_name,
		       const char *version, const char *url, const char *ref, const char *want)
{
	oci_lock_dep d;
	char *got, shown[512];

	memset(&d, 0, sizeof(d));
	d.source = src;
	d.name = xstrdup(name);
	d.hex_name = xstrdup(hex_name);
	d.version = xstrdup(version);
	d.git_url = xstrdup(url);
	d.git_ref = xstrdup(ref);
	got = oci_sbom_purl(&d);
	free(d.name);
	free(d.hex_name);
	free(d.version);
	free(d.git_url);
	free(d.git_ref);
	assert_non_null(got);
	snprintf(shown, sizeof(shown), "%s", got);
	free(got);
	if (strcmp(shown, want))
		fail_msg("purl of %s: '%s', expected '%s'", name, shown, want);
}

static void test_purl(void **state)
{
	(void)state;
	check_purl(OCI_DEP_HEX, "jason", "jason", "1.4.1", NULL, NULL, "pkg:hex/jason@1.4.1");
	check_purl(OCI_DEP_HEX, "jason", NULL, "1.4.1", NULL, NULL, "pkg:hex/jason@1.4.1");
	check_purl(OCI_DEP_HEX, "app", "pkg_name", "0.1.0", NULL, NULL, "pkg:hex/pkg_name@0.1.0");
	check_purl(OCI_DEP_GIT, "gun", NULL, NULL, "https://github.com/ninenines/gun.git", GUN_REF,
		   "pkg:github/ninenines/gun@" GUN_REF);
	check_purl(OCI_DEP_GIT, "gun", NULL, NULL, "git@github.com:ninenines/gun.git", GUN_REF,
		   "pkg:github/ninenines/gun@" GUN_REF);
	check_purl(OCI_DEP_GIT, "gun", NULL, NULL, "https://github.com/ninenines/gun/", GUN_REF,
		   "pkg:github/ninenines/gun@" GUN_REF);
	/* a token in the query of a git URL is not published */
	check_purl(OCI_DEP_GIT, "gun", NULL, NULL, "https://github.com/ninenines/gun.git?tok=x",
		   GUN_REF, "pkg:github/ninenines/gun@" GUN_REF);
	check_purl(OCI_DEP_GIT, "lib", NULL, NULL, "https://git.example.com/t/lib.git?tok=x#y",
		   LIB_REF, "pkg:generic/lib?vcs_url=git%2Bhttps://git.example.com/t/lib%40" LIB_REF);
	/* a host that merely ends in "github.com" is not GitHub */
	{
		oci_lock_dep d;
		char *got, shown[512];
		int github;

		memset(&d, 0, sizeof(d));
		d.source = OCI_DEP_GIT;
		d.name = xstrdup("lookalike");
		d.git_url = xstrdup("https://notgithub.com/org/lookalike.git");
		d.git_ref = xstrdup(LIB_REF);
		got = oci_sbom_purl(&d);
		free(d.name);
		free(d.git_url);
		free(d.git_ref);
		assert_non_null(got);
		github = !strncmp(got, "pkg:github/", 11);
		snprintf(shown, sizeof(shown), "%s", got);
		free(got);
		if (github)
			fail_msg("'%s' for a dependency on notgithub.com", shown);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_packages),
		cmocka_unit_test(test_purls_and_checksums),
		cmocka_unit_test(test_relationships),
		cmocka_unit_test(test_base_image),
		cmocka_unit_test(test_no_spdx23_fields),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_no_credentials),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_purl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
