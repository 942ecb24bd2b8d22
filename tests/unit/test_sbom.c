/* Unit tests for the SPDX 2.2 SBOM (src/lib/sbom.c): a release directory
 * is made in /tmp, its lib/ read by oci_release_apps, and the document is
 * parsed back with jansson and checked against the SPDX 2.2 rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "sbom.h"

#define TMP_PREFIX "/tmp/ocibuild-test-sbom-"
#include "testutil.h"

#define HEX_SHA "3afdccb7183cc6f143cb14d3cf51fa00e53db9ec80cdcd525482f5e99bc41d6b"
#define HEX_SHA2 "53cfe5f497ed0e7771ae1a475575603d77425099ba5faef9394932b35020ffcc"
#define GUN_REF "0123456789abcdef0123456789abcdef01234567"
#define LIB_REF "89abcdef0123456789abcdef0123456789abcdef"
#define BASE_HEX "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
#define BASE_DIGEST "sha256:" BASE_HEX
#define CREATED "2024-01-02T03:04:05Z"
#define OS_RELEASE "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"

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

static oci_lock_dep *add_dep(oci_release *r, oci_dep_source src, const char *name,
			     const char *hex_name, const char *version, const char *git_url,
			     const char *git_ref, const char *sha256)
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
	return d;
}

static void require(oci_lock_dep *d, const char *name)
{
	char **v = realloc(d->requires, (d->nrequires + 1) * sizeof(*v));

	assert_non_null(v);
	d->requires = v;
	v[d->nrequires++] = xstrdup(name);
}

static void mkdirs(const char *path)
{
	char *p = xstrdup(path), *s;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	free(p);
}

/* base/rel with text (NULL: a directory) */
static void put(const char *base, const char *rel, const char *text)
{
	char *path = pjoin(base, rel), *slash;
	FILE *f;

	if (!text) {
		mkdirs(path);
		free(path);
		return;
	}
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "w");
	if (!f)
		fail_msg("fopen %s: %s", path, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(path);
}

/* lib/NAME-VSN/ebin/NAME.app with vsn APPVSN and those applications */
static void put_app(const char *rel, const char *name, const char *dirvsn, const char *appvsn,
		    const char *apps)
{
	char path[512], text[1024];

	snprintf(path, sizeof(path), "lib/%s-%s/ebin/%s.app", name, dirvsn, name);
	snprintf(text, sizeof(text),
		 "{application,%s,\n [{description,\"{vsn,\\\"9.9\\\"} in a description\"},\n"
		 "  {vsn,\"%s\"},\n  {env,[{ratio,1.5},{big,1.0e10},{name,<<\"x\">>}]},\n"
		 "  {applications,[%s]},\n  {included_applications,[]}]}.\n",
		 name, appvsn, apps);
	put(rel, path, text);
}

struct fx {
	char *tmp;
	oci_release r;
	oci_release_app *apps;
	size_t napps;
	oci_dpkg debs;
};

static void add_deb(oci_dpkg *d, const char *name, const char *arch, const char *version,
		    const char *record_arch)
{
	char rec[1024];
	oci_dpkg_pkg *v = realloc(d->v, (d->n + 1) * sizeof(*v)), *p;

	assert_non_null(v);
	d->v = v;
	d->cap = d->n + 1;
	p = &v[d->n++];
	snprintf(rec, sizeof(rec),
		 "Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: %s\n"
		 "Description: test\n",
		 name, record_arch, version);
	p->name = xstrdup(name);
	p->arch = xstrdup(arch);
	p->record = xstrdup(rec);
	p->len = strlen(rec);
}

/* my_app 1.2.3 (relx, ERTS 13.1.5) in TMP/proj/_build/prod/rel/my_app:
 *   lib/ my_app (own), cowboy and my_dep (hex; my_dep's package name
 *        differs), gun (GitHub) and internal_lib (another git host),
 *        umb (apps/umb in the project), pathdep (not in the lock), stale
 *        (locked at another version), noapp (no ebin), kernel and stdlib
 *        (OTP), logger (Elixir);
 *   the lock also names ocibuild and credo, which are not in lib/. */
static void make(struct fx *f)
{
	char *rel;
	oci_lock_dep *cowboy;
	ocibuild_error err = { 0 };

	memset(f, 0, sizeof(*f));
	f->tmp = make_tmpdir();
	rel = pjoin(f->tmp, "proj/_build/prod/rel/my_app");
	put(f->tmp, "proj/apps/umb/src/umb.app.src", "{application,umb,[]}.\n");
	put_app(rel, "my_app", "1.2.3", "1.2.3",
		"kernel,stdlib,logger,cowboy,my_dep,gun,internal_lib,umb,pathdep,stale,noapp,missing");
	put_app(rel, "cowboy", "2.10.0", "2.10.0", "kernel,stdlib");
	put_app(rel, "my_dep", "0.3.0", "0.3.0", "kernel,stdlib");
	/* the .app's vsn wins over the directory's */
	put_app(rel, "gun", "2.0.1", "2.0.1-rc", "kernel,stdlib,cowboy,cowboy");
	put_app(rel, "internal_lib", "0.1.0", "0.1.0", "kernel");
	put_app(rel, "umb", "0.2.0", "0.2.0", "kernel");
	put_app(rel, "pathdep", "0.5.0", "0.5.0", "kernel");
	put_app(rel, "stale", "1.0.0", "1.0.0", "kernel");
	put(rel, "lib/noapp-0.7.0/priv/x", "x");
	put_app(rel, "kernel", "8.5.3", "8.5.3", "");
	put_app(rel, "stdlib", "4.2", "4.2", "kernel");
	put_app(rel, "logger", "1.14.0", "1.14.0", "kernel");
	put(rel, "erts-13.1.5/bin/beam.smp", "x");
	f->r.dir = rel;
	f->r.name = xstrdup("my_app");
	f->r.version = xstrdup("1.2.3");
	f->r.erts_version = xstrdup("13.1.5");
	f->r.has_erts = 1;
	f->r.kind = OCI_REL_RELX;
	cowboy = add_dep(&f->r, OCI_DEP_HEX, "cowboy", "cowboy", "2.10.0", NULL, NULL, HEX_SHA);
	/* mix.lock requirements: one in the image, one not */
	require(cowboy, "my_dep");
	require(cowboy, "ranch");
	add_dep(&f->r, OCI_DEP_HEX, "my_dep", "my_dep_pkg", "0.3.0", NULL, NULL, HEX_SHA2);
	add_dep(&f->r, OCI_DEP_GIT, "gun", NULL, NULL, "https://github.com/ninenines/gun.git",
		GUN_REF, NULL);
	add_dep(&f->r, OCI_DEP_GIT, "internal_lib", NULL, NULL,
		"https://gitlab.example.com/team/internal_lib.git", LIB_REF, NULL);
	add_dep(&f->r, OCI_DEP_HEX, "stale", "stale", "0.9.0", NULL, NULL, HEX_SHA);
	add_dep(&f->r, OCI_DEP_GIT, "ocibuild", NULL, NULL, "https://github.com/o/ocibuild.git",
		GUN_REF, NULL);
	add_dep(&f->r, OCI_DEP_HEX, "credo", "credo", "1.7.0", NULL, NULL, HEX_SHA);
	/* sorted by name, as oci_dpkg_owners gives them */
	add_deb(&f->debs, "busybox-static", NULL, "1:1.35.0-4+b3", "amd64");
	add_deb(&f->debs, "libc6", "amd64", "2.36-9+deb12u4", "amd64");
	add_deb(&f->debs, "libstdc++6", "amd64", "12.2.0-14", "amd64");
	if (oci_release_apps(&f->r, &f->apps, &f->napps, &err) < 0)
		fail_msg("oci_release_apps: %s", err.message);
}

static void rm_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void unmake(struct fx *f)
{
	rm_tree(f->tmp);
	free(f->tmp);
	oci_release_apps_release(f->apps, f->napps);
	oci_dpkg_release(&f->debs);
	oci_release_release(&f->r);
}

static char *spdx(const struct fx *f, const char *created, const char *base_name,
		  const char *base_digest)
{
	oci_sbom_input in;
	oci_buf out = OCI_BUF_INIT(1 << 24);
	ocibuild_error err = { 0 };
	char *s;

	memset(&in, 0, sizeof(in));
	in.release = &f->r;
	in.apps = f->apps;
	in.napps = f->napps;
	in.debs = &f->debs;
	in.os_release = OS_RELEASE;
	in.created = created;
	in.base_name = base_name;
	in.base_digest = base_digest;
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

static json_t *package_id(json_t *doc, const char *id)
{
	json_t *pkgs = packages(doc), *p;
	size_t i;

	json_array_foreach(pkgs, i, p)
		if (!strcmp(must_str(p, "SPDXID"), id))
			return p;
	fail_msg("no package %s", id);
	return NULL;
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
	struct fx f;
	char *text;
	json_t *doc, *ci, *creators;
	const char *ns;

	(void)state;
	make(&f);
	text = spdx(&f, CREATED, NULL, NULL);
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
	unmake(&f);
}

/* exactly what is in the image: lib/ (not the lock), ERTS, the runtime
 * layer's Debian packages, the base */
static void test_packages(void **state)
{
	static const char *const required[] = {
		"SPDXID", "name", "downloadLocation", "licenseConcluded", "licenseDeclared",
		"copyrightText",
	};
	static const char *const want[] = {
		"SPDXRef-Image",
		"SPDXRef-Package-hex-cowboy",
		"SPDXRef-Package-git-gun",
		"SPDXRef-Package-git-internal-lib",
		"SPDXRef-Package-otp-kernel",
		"SPDXRef-Package-elixir-logger",
		"SPDXRef-Package-app-my-app",
		"SPDXRef-Package-hex-my-dep",
		"SPDXRef-Package-path-noapp",
		"SPDXRef-Package-path-pathdep",
		"SPDXRef-Package-path-stale",
		"SPDXRef-Package-otp-stdlib",
		"SPDXRef-Package-umbrella-umb",
		"SPDXRef-Package-erts",
		"SPDXRef-Package-deb-busybox-static",
		"SPDXRef-Package-deb-libc6-amd64",
		"SPDXRef-Package-deb-libstdc--6-amd64",
		"SPDXRef-Package-base-image",
	};
	struct fx f;
	regex_t re;
	char *text;
	json_t *doc, *p;
	size_t i, j, k, n = sizeof(want) / sizeof(want[0]);

	(void)state;
	assert_int_equal(regcomp(&re, "^SPDXRef-[A-Za-z0-9.-]+$", REG_EXTENDED | REG_NOSUB), 0);
	make(&f);
	text = spdx(&f, CREATED, "docker.io/library/debian:12-slim", BASE_DIGEST);
	doc = parse(text);
	if (json_array_size(packages(doc)) != n)
		fail_msg("%zu packages, want %zu:\n%s", json_array_size(packages(doc)), n, text);
	json_array_foreach(packages(doc), i, p) {
		const char *id = must_str(p, "SPDXID");

		if (strcmp(id, want[i]))
			fail_msg("package %zu is %s, want %s", i, id, want[i]);
		for (j = 0; j < sizeof(required) / sizeof(required[0]); j++)
			if (!str(p, required[j]) || !*str(p, required[j]))
				fail_msg("package %s has no %s", id, required[j]);
		if (regexec(&re, id, 0, NULL, 0) != 0)
			fail_msg("bad SPDXID '%s'", id);
		if (!json_is_false(json_object_get(p, "filesAnalyzed")))
			fail_msg("package %s: filesAnalyzed is not false", id);
		for (k = i + 1; k < json_array_size(packages(doc)); k++)
			if (!strcmp(id, must_str(json_array_get(packages(doc), k), "SPDXID")))
				fail_msg("SPDXID %s used twice", id);
	}
	/* lock entries that are not in lib/ are not in the image */
	assert_null(strstr(text, "ocibuild\""));
	assert_null(strstr(text, "credo"));
	assert_null(strstr(text, "ranch"));
	assert_string_equal(must_str(package_id(doc, "SPDXRef-Package-deb-libstdc--6-amd64"), "name"),
			    "libstdc++6");
	json_decref(doc);
	free(text);
	unmake(&f);
	regfree(&re);
}

static void test_purls_and_checksums(void **state)
{
	struct fx f;
	char *text;
	json_t *doc, *p;
	const char *purl;

	(void)state;
	make(&f);
	text = spdx(&f, CREATED, NULL, NULL);
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

	/* the version of the .app, the commit of the lock */
	p = package_named(doc, "gun");
	assert_string_equal(purl_of(p), "pkg:github/ninenines/gun@" GUN_REF);
	assert_string_equal(must_str(p, "versionInfo"), "2.0.1-rc");
	assert_string_equal(must_str(p, "downloadLocation"),
			    "git+https://github.com/ninenines/gun@" GUN_REF);
	check_checksum(p, NULL);

	p = package_named(doc, "internal_lib");
	purl = purl_of(p);
	assert_non_null(purl);
	assert_null(strstr(purl, "pkg:github"));
	assert_non_null(strstr(purl, "internal_lib"));
	assert_string_equal(must_str(p, "downloadLocation"),
			    "git+https://gitlab.example.com/team/internal_lib@" LIB_REF);
	check_checksum(p, NULL);

	/* locked at 0.9.0, 1.0.0 in the image: the lock does not describe it */
	p = package_named(doc, "stale");
	assert_string_equal(must_str(p, "versionInfo"), "1.0.0");
	assert_string_equal(purl_of(p), "pkg:generic/stale@1.0.0");
	check_checksum(p, NULL);
	/* no .app: the directory's version */
	assert_string_equal(must_str(package_named(doc, "noapp"), "versionInfo"), "0.7.0");
	assert_string_equal(purl_of(package_named(doc, "umb")), "pkg:generic/umb@0.2.0");

	p = package_named(doc, "kernel");
	assert_string_equal(must_str(p, "versionInfo"), "8.5.3");
	assert_string_equal(purl_of(p), "pkg:generic/otp/kernel@8.5.3?otp=25");
	assert_string_equal(purl_of(package_named(doc, "logger")),
			    "pkg:generic/elixir/logger@1.14.0");
	p = package_named(doc, "erts");
	assert_string_equal(must_str(p, "versionInfo"), "13.1.5");
	assert_string_equal(purl_of(p), "pkg:generic/otp/erts@13.1.5?otp=25");

	p = package_id(doc, "SPDXRef-Package-app-my-app");
	assert_string_equal(must_str(p, "versionInfo"), "1.2.3");
	assert_string_equal(purl_of(p), "pkg:generic/my_app@1.2.3");
	p = package_id(doc, "SPDXRef-Image");
	assert_string_equal(must_str(p, "name"), "my_app");
	assert_string_equal(must_str(p, "versionInfo"), "1.2.3");

	assert_string_equal(purl_of(package_named(doc, "libc6")),
			    "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12");
	assert_string_equal(must_str(package_named(doc, "libc6"), "versionInfo"), "2.36-9+deb12u4");
	assert_string_equal(purl_of(package_named(doc, "libstdc++6")),
			    "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12");
	/* no arch in the list file's name: the record's */
	assert_string_equal(purl_of(package_named(doc, "busybox-static")),
			    "pkg:deb/debian/busybox-static@1%3A1.35.0-4%2Bb3?arch=amd64&distro=debian-12");

	/* no base image: no oci package */
	assert_null(strstr(text, "pkg:oci/"));
	json_decref(doc);
	free(text);
	unmake(&f);
}

static const char *id_of(json_t *doc, const char *name)
{
	return must_str(package_named(doc, name), "SPDXID");
}

static void test_relationships(void **state)
{
	struct fx f;
	char *text;
	json_t *doc, *rels, *rel, *describes, *p;
	const char *app;
	size_t i, n;

	(void)state;
	make(&f);
	text = spdx(&f, CREATED, "ghcr.io/org/base:1", BASE_DIGEST);
	doc = parse(text);
	rels = json_object_get(doc, "relationships");
	assert_true(json_is_array(rels));
	json_array_foreach(rels, i, rel) {
		const char *a = must_str(rel, "spdxElementId"), *b = must_str(rel, "relatedSpdxElement");

		if (!has_id(doc, a))
			fail_msg("relationship from unknown id %s", a);
		if (!has_id(doc, b))
			fail_msg("relationship to unknown id %s", b);
	}
	assert_int_equal(count_rel(doc, "SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"), 1);
	assert_int_equal(count_rel(doc, NULL, "DESCRIBES", NULL), 1);
	describes = json_object_get(doc, "documentDescribes");
	assert_int_equal(json_array_size(describes), 1);
	assert_string_equal(json_string_value(json_array_get(describes, 0)), "SPDXRef-Image");
	/* the image contains every other package, and only it contains */
	n = json_array_size(packages(doc));
	assert_int_equal(count_rel(doc, NULL, "CONTAINS", NULL), n - 1);
	json_array_foreach(packages(doc), i, p)
		if (i > 0)
			assert_int_equal(count_rel(doc, "SPDXRef-Image", "CONTAINS",
						   must_str(p, "SPDXID")), 1);
	/* DEPENDS_ON: the .app's applications in the image, each once */
	app = "SPDXRef-Package-app-my-app";
	assert_int_equal(count_rel(doc, app, "DEPENDS_ON", NULL), 11);
	assert_int_equal(count_rel(doc, app, "DEPENDS_ON", id_of(doc, "umb")), 1);
	assert_int_equal(count_rel(doc, app, "DEPENDS_ON", id_of(doc, "logger")), 1);
	assert_int_equal(count_rel(doc, id_of(doc, "gun"), "DEPENDS_ON", NULL), 3);
	assert_int_equal(count_rel(doc, id_of(doc, "gun"), "DEPENDS_ON", id_of(doc, "cowboy")), 1);
	/* and the lock's requirements (mix.lock) */
	assert_int_equal(count_rel(doc, id_of(doc, "cowboy"), "DEPENDS_ON", id_of(doc, "my_dep")), 1);
	assert_int_equal(count_rel(doc, id_of(doc, "cowboy"), "DEPENDS_ON", NULL), 3);
	assert_int_equal(count_rel(doc, id_of(doc, "kernel"), "DEPENDS_ON", NULL), 0);
	assert_int_equal(count_rel(doc, NULL, "DEPENDS_ON", "SPDXRef-Package-base-image"), 0);
	json_decref(doc);
	free(text);
	unmake(&f);
}

static void test_base_image(void **state)
{
	struct fx f;
	char *text;
	json_t *doc, *p;
	const char *purl;

	(void)state;
	make(&f);
	text = spdx(&f, CREATED, "docker.io/library/debian:12-slim", BASE_DIGEST);
	doc = parse(text);
	p = package_named(doc, "docker.io/library/debian:12-slim");
	assert_string_equal(must_str(p, "SPDXID"), "SPDXRef-Package-base-image");
	purl = purl_of(p);
	assert_non_null(purl);
	assert_int_equal(strncmp(purl, "pkg:oci/debian@sha256%3A" BASE_HEX,
				 strlen("pkg:oci/debian@sha256%3A" BASE_HEX)), 0);
	check_checksum(p, BASE_HEX);
	json_decref(doc);
	free(text);

	/* a name with a digest and no tag */
	text = spdx(&f, CREATED, "registry.example.com:5000/team/runtime@" BASE_DIGEST,
		    BASE_DIGEST);
	doc = parse(text);
	p = package_named(doc, "registry.example.com:5000/team/runtime@" BASE_DIGEST);
	purl = purl_of(p);
	assert_non_null(purl);
	assert_int_equal(strncmp(purl, "pkg:oci/runtime@sha256%3A" BASE_HEX,
				 strlen("pkg:oci/runtime@sha256%3A" BASE_HEX)), 0);
	json_decref(doc);
	free(text);
	unmake(&f);
}

/* a release without ERTS and a build without the runtime layer: neither
 * ERTS nor Debian packages */
static void test_without_erts_and_runtime(void **state)
{
	struct fx f;
	char *text;
	json_t *doc;

	(void)state;
	make(&f);
	f.r.has_erts = 0;
	oci_dpkg_release(&f.debs);
	text = spdx(&f, CREATED, "debian:12", BASE_DIGEST);
	doc = parse(text);
	assert_null(strstr(text, "\"erts\""));
	assert_null(strstr(text, "pkg:deb/"));
	assert_int_equal(json_array_size(packages(doc)), 14);
	json_decref(doc);
	free(text);
	unmake(&f);
}

static void test_no_spdx23_fields(void **state)
{
	static const char *const spdx23[] = {
		"primaryPackagePurpose", "releaseDate", "builtDate", "validUntilDate",
	};
	struct fx f;
	char *text;
	json_t *doc, *p;
	size_t i, j;

	(void)state;
	make(&f);
	text = spdx(&f, CREATED, "debian:12", BASE_DIGEST);
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
	unmake(&f);
}

static void test_reproducible(void **state)
{
	struct fx f, g;
	char *a, *b, *c, *d, *e;
	json_t *ja, *jc, *jd, *je;

	(void)state;
	make(&f);
	make(&g); /* another directory, the same contents */
	a = spdx(&f, CREATED, "debian:12", BASE_DIGEST);
	b = spdx(&g, CREATED, "debian:12", BASE_DIGEST);
	assert_string_equal(a, b);
	/* another version of an application */
	free(f.apps[0].version);
	f.apps[0].version = xstrdup("2.10.1");
	c = spdx(&f, CREATED, "debian:12", BASE_DIGEST);
	/* another creation time */
	d = spdx(&f, "2024-01-02T03:04:06Z", "debian:12", BASE_DIGEST);
	/* another base */
	e = spdx(&f, "2024-01-02T03:04:06Z", NULL, NULL);
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
	unmake(&f);
	unmake(&g);
}

/* A lock may hold a git URL with a token in it; the SBOM is published with
 * the image, so the token must not be copied into it. */
static void test_no_credentials(void **state)
{
	static const char *const urls[] = {
		"https://x-access-token:ghs_SECRET1@github.com/org/gun.git",
		"https://oauth2:glpat-SECRET2@gitlab.example.com/team/gun.git",
		/* tokens in a query or fragment */
		"https://gitlab.example.com/team/gun.git?private_token=SECRET3#SECRET4",
		"https://github.com/org/gun.git?tok=SECRET5",
	};
	struct fx f;
	char *text;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		make(&f);
		for (k = 0; k < f.r.lock.n; k++) {
			if (strcmp(f.r.lock.deps[k].name, "gun"))
				continue;
			free(f.r.lock.deps[k].git_url);
			f.r.lock.deps[k].git_url = xstrdup(urls[i]);
		}
		text = spdx(&f, CREATED, NULL, NULL);
		unmake(&f);
		if (!strstr(text, "gun@" GUN_REF) || strstr(text, "SECRET") || strstr(text, "tok=")) {
			char *line = strstr(text, "SECRET"), shown[512];

			while (line && line > text && line[-1] != '\n')
				line--;
			snprintf(shown, sizeof(shown), "%.*s", line ? (int)strcspn(line, "\n") : 0,
				 line ? line : "");
			free(text);
			fail_msg("%s: credentials copied into the SBOM, or no commit: %s", urls[i],
				 shown);
		}
		free(text);
	}
}

/* an SBOM past its buffer's limit: the error says it is the SBOM, names
 * the release, the package count and the limit */
static void test_too_large(void **state)
{
	struct fx f;
	oci_sbom_input in;
	oci_buf out = OCI_BUF_INIT(4096);
	ocibuild_error err = { 0 };

	(void)state;
	make(&f);
	memset(&in, 0, sizeof(in));
	in.release = &f.r;
	in.apps = f.apps;
	in.napps = f.napps;
	in.created = CREATED;
	assert_int_equal(oci_sbom_spdx(&in, &out, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	if (!strstr(err.message, "SBOM") || !strstr(err.message, "'my_app'") ||
	    !strstr(err.message, "4096-byte") || !strstr(err.message, "14 packages"))
		fail_msg("error: %s", err.message);
	ocibuild_error_clear(&err);
	oci_buf_release(&out);
	unmake(&f);
}

static void test_otp_release(void **state)
{
	(void)state;
	assert_int_equal(oci_sbom_otp_release("13.1.5"), 25);
	assert_int_equal(oci_sbom_otp_release("15.0"), 27);
	assert_int_equal(oci_sbom_otp_release("11"), 23);
	/* ERTS 10 was in OTP 21 and 22 */
	assert_int_equal(oci_sbom_otp_release("10.7"), 0);
	assert_int_equal(oci_sbom_otp_release("x"), 0);
	assert_int_equal(oci_sbom_otp_release("13a"), 0);
	assert_int_equal(oci_sbom_otp_release(NULL), 0);
}

static void check_deb(const char *name, const char *version, const char *arch,
		      const char *osrel, const char *want)
{
	char *got = oci_sbom_deb_purl(name, version, arch, osrel), shown[512];

	assert_non_null(got);
	snprintf(shown, sizeof(shown), "%s", got);
	free(got);
	if (strcmp(shown, want))
		fail_msg("deb purl of %s: '%s', expected '%s'", name, shown, want);
}

static void test_deb_purl(void **state)
{
	(void)state;
	check_deb("libc6", "2.36-9", "amd64", OS_RELEASE,
		  "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12");
	check_deb("libc6", "2.36-9", "arm64", "ID='ubuntu'\nVERSION_ID=22.04",
		  "pkg:deb/ubuntu/libc6@2.36-9?arch=arm64&distro=ubuntu-22.04");
	check_deb("libc6", "2.36-9", "amd64", NULL, "pkg:deb/debian/libc6@2.36-9?arch=amd64");
	check_deb("x", "1", NULL, "ID=debian\nVERSION_ID=\"13\"\n",
		  "pkg:deb/debian/x@1?distro=debian-13");
	check_deb("x", NULL, NULL, NULL, "pkg:deb/debian/x");
	/* VERSION_ID is not ID */
	check_deb("x", "1", "all", "VERSION_ID=12\nID_LIKE=x\nID=debian\n",
		  "pkg:deb/debian/x@1?arch=all&distro=debian-12");
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
		cmocka_unit_test(test_without_erts_and_runtime),
		cmocka_unit_test(test_no_spdx23_fields),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_no_credentials),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_purl),
		cmocka_unit_test(test_otp_release),
		cmocka_unit_test(test_deb_purl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
