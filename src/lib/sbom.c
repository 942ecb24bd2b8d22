/* Uses jansson directly, like the oci module: both write JSON documents. */
#include <ctype.h>
#include <string.h>
#include <jansson.h>

#include "sbom.h"
#include "vcs.h"
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define TOOL "Tool: ocibuild-" OCIBUILD_VERSION

/* SPDX ids allow [A-Za-z0-9.-] only. */
static char *spdx_id(const char *kind, const char *name)
{
	oci_buf b = OCI_BUF_INIT(4096);
	const char *p;

	if (oci_buf_printf(&b, NULL, "SPDXRef-Package-%s-", kind) < 0)
		return NULL;
	for (p = name; *p; p++) {
		char c = isalnum((unsigned char)*p) || *p == '.' || *p == '-' ? *p : '-';

		if (oci_buf_append(&b, &c, 1, NULL) < 0) {
			oci_buf_release(&b);
			return NULL;
		}
	}
	return oci_buf_detach(&b, NULL);
}

/* "<owner>/<repo>" when the git URL is on github.com, or NULL. */
static char *github_path(const char *url)
{
	char *https = oci_vcs_normalize_url(url), *r = NULL;

	if (https && !strncmp(https, "https://github.com/", 19))
		r = oci_strdup(https + 19);
	oci_free(https);
	return r;
}

char *oci_sbom_purl(const oci_lock_dep *d)
{
	oci_buf b = OCI_BUF_INIT(4096);
	int rc = -1;

	if (d->source == OCI_DEP_HEX) {
		rc = oci_buf_printf(&b, NULL, "pkg:hex/%s@%s",
				    d->hex_name ? d->hex_name : d->name, d->version);
	} else if (d->source == OCI_DEP_GIT) {
		char *gh = github_path(d->git_url);

		if (gh)
			rc = oci_buf_printf(&b, NULL, "pkg:github/%s@%s", gh,
					    d->git_ref ? d->git_ref : "HEAD");
		else {
			/* never publish credentials that a lock file's URL may carry */
			char *clean = oci_vcs_normalize_url(d->git_url);

			rc = clean ? oci_buf_printf(&b, NULL, "pkg:generic/%s?vcs_url=git%%2B%s%s%s",
						   d->name, clean, d->git_ref ? "%40" : "",
						   d->git_ref ? d->git_ref : "")
				   : oci_buf_printf(&b, NULL, "pkg:generic/%s", d->name);
			oci_free(clean);
		}
		oci_free(gh);
	} else {
		rc = oci_buf_printf(&b, NULL, "pkg:generic/%s", d->name);
	}
	if (rc < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

static json_t *package(const char *id, const char *name, const char *version,
		       const char *download, const char *purl, const char *sha256)
{
	json_t *p = json_object(), *refs = json_array(), *ref = json_object();

	if (!p || !refs || !ref) {
		json_decref(p);
		json_decref(refs);
		json_decref(ref);
		return NULL;
	}
	json_object_set_new(p, "SPDXID", json_string(id));
	json_object_set_new(p, "name", json_string(name));
	if (version)
		json_object_set_new(p, "versionInfo", json_string(version));
	json_object_set_new(p, "downloadLocation", json_string(download ? download : "NOASSERTION"));
	json_object_set_new(p, "filesAnalyzed", json_false());
	json_object_set_new(p, "licenseConcluded", json_string("NOASSERTION"));
	json_object_set_new(p, "licenseDeclared", json_string("NOASSERTION"));
	json_object_set_new(p, "copyrightText", json_string("NOASSERTION"));
	if (sha256) {
		json_t *sums = json_array(), *sum = json_object();

		json_object_set_new(sum, "algorithm", json_string("SHA256"));
		json_object_set_new(sum, "checksumValue", json_string(sha256));
		json_array_append_new(sums, sum);
		json_object_set_new(p, "checksums", sums);
	}
	if (purl) {
		json_object_set_new(ref, "referenceCategory", json_string("PACKAGE-MANAGER"));
		json_object_set_new(ref, "referenceType", json_string("purl"));
		json_object_set_new(ref, "referenceLocator", json_string(purl));
		json_array_append_new(refs, ref);
		json_object_set_new(p, "externalRefs", refs);
	} else {
		json_decref(ref);
		json_decref(refs);
	}
	return p;
}

static void relate(json_t *rels, const char *a, const char *type, const char *b)
{
	json_t *r = json_object();

	json_object_set_new(r, "spdxElementId", json_string(a));
	json_object_set_new(r, "relationshipType", json_string(type));
	json_object_set_new(r, "relatedSpdxElement", json_string(b));
	json_array_append_new(rels, r);
}

int oci_sbom_spdx(const oci_sbom_input *in, oci_buf *out, ocibuild_error *err)
{
	const oci_release *r = in->release;
	json_t *doc = json_object(), *pkgs = json_array(), *rels = json_array();
	json_t *ci = json_object(), *creators = json_array(), *describes = json_array();
	oci_buf tmp = OCI_BUF_INIT(1 << 16);
	char *app_id = spdx_id("app", r->name), *s = NULL;
	char hash[OCI_DIGEST_LEN + 1];
	size_t i;
	int rc = -1;

	if (!doc || !pkgs || !rels || !ci || !creators || !describes || !app_id) {
		json_decref(pkgs);
		json_decref(rels);
		json_decref(ci);
		json_decref(creators);
		json_decref(describes);
		oci_err_nomem(err);
		goto out;
	}
	json_object_set_new(doc, "spdxVersion", json_string("SPDX-2.2"));
	json_object_set_new(doc, "dataLicense", json_string("CC0-1.0"));
	json_object_set_new(doc, "SPDXID", json_string("SPDXRef-DOCUMENT"));
	oci_buf_printf(&tmp, NULL, "%s-%s", r->name, r->version);
	json_object_set_new(doc, "name", json_string(tmp.data ? tmp.data : r->name));
	json_array_append_new(creators, json_string(TOOL));
	json_object_set_new(ci, "creators", creators);
	json_object_set_new(ci, "created", json_string(in->created));
	json_object_set_new(doc, "creationInfo", ci);
	json_array_append_new(describes, json_string(app_id));
	json_object_set_new(doc, "documentDescribes", describes);

	{
		oci_buf purl = OCI_BUF_INIT(4096);

		oci_buf_printf(&purl, NULL, "pkg:generic/%s@%s", r->name, r->version);
		json_array_append_new(pkgs, package(app_id, r->name, r->version, NULL,
						    purl.data, NULL));
		oci_buf_release(&purl);
	}
	relate(rels, "SPDXRef-DOCUMENT", "DESCRIBES", app_id);
	for (i = 0; i < r->lock.n; i++) {
		const oci_lock_dep *d = &r->lock.deps[i];
		char *id = spdx_id(d->source == OCI_DEP_HEX ? "hex" : "git", d->name);
		char *purl = oci_sbom_purl(d);
		oci_buf dl = OCI_BUF_INIT(4096);

		if (!id || !purl) {
			oci_free(id);
			oci_free(purl);
			oci_err_nomem(err);
			goto out;
		}
		if (d->source == OCI_DEP_HEX)
			oci_buf_printf(&dl, NULL, "https://repo.hex.pm/tarballs/%s-%s.tar",
				       d->hex_name ? d->hex_name : d->name, d->version);
		else if (d->source == OCI_DEP_GIT) {
			char *clean = oci_vcs_normalize_url(d->git_url);

			if (clean)
				oci_buf_printf(&dl, NULL, "git+%s%s%s", clean, d->git_ref ? "@" : "",
					       d->git_ref ? d->git_ref : "");
			oci_free(clean);
		}
		json_array_append_new(pkgs, package(id, d->name,
						    d->version ? d->version : d->git_ref, dl.data,
						    purl, d->sha256));
		relate(rels, app_id, "DEPENDS_ON", id);
		oci_buf_release(&dl);
		oci_free(id);
		oci_free(purl);
	}
	{
		oci_buf purl = OCI_BUF_INIT(4096);

		oci_buf_printf(&purl, NULL, "pkg:generic/erts@%s", r->erts_version);
		json_array_append_new(pkgs, package("SPDXRef-Package-erts", "erts",
						    r->erts_version, NULL, purl.data, NULL));
		relate(rels, app_id, "DEPENDS_ON", "SPDXRef-Package-erts");
		oci_buf_release(&purl);
	}
	if (in->base_name && in->base_digest) {
		oci_buf purl = OCI_BUF_INIT(4096);
		const char *slash = strrchr(in->base_name, '/');
		const char *short_name = slash ? slash + 1 : in->base_name;
		size_t n = strcspn(short_name, ":@");

		oci_buf_printf(&purl, NULL, "pkg:oci/%.*s@sha256%%3A%s", (int)n, short_name,
			       oci_digest_hex(in->base_digest));
		json_array_append_new(pkgs, package("SPDXRef-Package-base-image", in->base_name,
						    in->base_digest, NULL, purl.data,
						    oci_digest_hex(in->base_digest)));
		relate(rels, app_id, "DEPENDS_ON", "SPDXRef-Package-base-image");
		oci_buf_release(&purl);
	}
	json_object_set_new(doc, "packages", pkgs);
	pkgs = NULL;
	json_object_set_new(doc, "relationships", rels);
	rels = NULL;
	/* the namespace is derived from everything else, so equal documents
	 * have equal namespaces */
	s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s || oci_sha256_buf(s, strlen(s), hash, err) < 0) {
		if (!s)
			oci_err_nomem(err);
		goto out;
	}
	free(s);
	s = NULL;
	oci_buf_reset(&tmp);
	oci_buf_printf(&tmp, NULL, "https://spdx.org/spdxdocs/%s-%s-%s", r->name, r->version,
		       oci_digest_hex(hash));
	json_object_set_new(doc, "documentNamespace", json_string(tmp.data ? tmp.data : ""));
	s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s) {
		oci_err_nomem(err);
		goto out;
	}
	oci_buf_reset(out);
	rc = oci_buf_puts(out, s, err);
	if (rc == 0)
		rc = oci_buf_puts(out, "\n", err);
	if (rc < 0 && (!err || err->kind != OCIBUILD_ERR_NOMEM)) {
		/* only a lock file can make it this large: say which */
		if (r->lock_path)
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"the SBOM for the %zu dependencies of lock file '%s' is larger than the %zu-byte limit: remove the entries the release does not use from the lock file",
				r->lock.n, r->lock_path, out->max);
		else
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"the SBOM of release '%s' is larger than the %zu-byte limit", r->name,
				out->max);
	}
out:
	free(s);
	json_decref(doc);
	json_decref(pkgs);
	json_decref(rels);
	oci_buf_release(&tmp);
	oci_free(app_id);
	return rc;
}
