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
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	const char *p;

	if (oci_buf_printf(&b, NULL, "SPDXRef-Package-%s%s", kind, *name ? "-" : "") < 0)
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

/* "<owner>/<repo>" into *out when the git URL is on github.com, else NULL;
 * -1 only when out of memory. */
static int github_path(const char *url, char **out)
{
	char *https;
	int rc = 0;

	*out = NULL;
	if (oci_vcs_normalize_url(url, &https, NULL) < 0)
		return -1;
	if (https && !strncmp(https, "https://github.com/", 19)) {
		*out = oci_strdup(https + 19);
		rc = *out ? 0 : -1;
	}
	oci_free(https);
	return rc;
}

char *oci_sbom_purl(const oci_lock_dep *d)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	int rc = -1;

	if (d->source == OCI_DEP_HEX) {
		rc = oci_buf_printf(&b, NULL, "pkg:hex/%s@%s",
				    d->hex_name ? d->hex_name : d->name, d->version);
	} else if (d->source == OCI_DEP_GIT) {
		char *gh;

		/* out of memory is an error, never a purl with less in it */
		if (github_path(d->git_url, &gh) < 0)
			rc = -1;
		else if (gh)
			rc = oci_buf_printf(&b, NULL, "pkg:github/%s@%s", gh,
					    d->git_ref ? d->git_ref : "HEAD");
		else {
			/* never publish credentials that a lock file's URL may carry */
			char *clean;

			if (oci_vcs_normalize_url(d->git_url, &clean, NULL) < 0)
				rc = -1;
			else
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

/* purl components: unreserved characters as they are, the rest %XX */
static int purl_enc(oci_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc = isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~'
				 ? oci_buf_append(b, s, 1, NULL)
				 : oci_buf_printf(b, NULL, "%%%02X", c);

		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The value of KEY in os-release text (quotes removed), heap, or NULL. */
static char *osrel_value(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n'), *v;
		size_t n;

		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			v = p + klen + 1;
			n = (size_t)(eol - v);
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
				v++;
				n -= 2;
			}
			return oci_strndup(v, n);
		}
		p = *eol ? eol + 1 : eol;
	}
	return NULL;
}

char *oci_sbom_deb_purl(const char *name, const char *version, const char *arch,
			const char *os_release)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	char *id = os_release ? osrel_value(os_release, "ID") : NULL;
	char *vid = os_release ? osrel_value(os_release, "VERSION_ID") : NULL;
	int rc = oci_buf_puts(&b, "pkg:deb/", NULL);

	if (rc == 0)
		rc = purl_enc(&b, id && *id ? id : "debian");
	if (rc == 0)
		rc = oci_buf_puts(&b, "/", NULL);
	if (rc == 0)
		rc = purl_enc(&b, name);
	if (rc == 0 && version)
		rc = oci_buf_puts(&b, "@", NULL) < 0 ? -1 : purl_enc(&b, version);
	if (rc == 0 && arch)
		rc = oci_buf_puts(&b, "?arch=", NULL) < 0 ? -1 : purl_enc(&b, arch);
	if (rc == 0 && vid && *vid) {
		rc = oci_buf_puts(&b, arch ? "&distro=" : "?distro=", NULL);
		if (rc == 0)
			rc = purl_enc(&b, id && *id ? id : "debian");
		if (rc == 0)
			rc = oci_buf_puts(&b, "-", NULL) < 0 ? -1 : purl_enc(&b, vid);
	}
	oci_free(id);
	oci_free(vid);
	if (rc < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

/* OTP 23 came with ERTS 11, and every OTP major since with the next ERTS
 * major (OTP 27: ERTS 15); ERTS 10 spans OTP 21 and 22, so it says none. */
int oci_sbom_otp_release(const char *erts_version)
{
	char *end;
	unsigned long major;

	if (!erts_version || !isdigit((unsigned char)*erts_version))
		return 0;
	major = strtoul(erts_version, &end, 10);
	if ((*end && *end != '.') || major < 11 || major > 1000)
		return 0;
	return (int)major + 12;
}

/* A field of a dpkg status record, heap, or NULL. */
static char *deb_field(const char *record, const char *key)
{
	size_t klen = strlen(key);
	const char *p = record;

	while (p && *p) {
		const char *eol = strchr(p, '\n'), *v;

		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > klen && !strncmp(p, key, klen) && p[klen] == ':') {
			v = p + klen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			return oci_strndup(v, (size_t)(eol - v));
		}
		p = *eol ? eol + 1 : eol;
	}
	return NULL;
}

static json_t *package(const char *id, const char *name, const char *version,
		       const char *download, const char *purl, const char *sha256,
		       const char *comment)
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
	if (version && *version)
		json_object_set_new(p, "versionInfo", json_string(version));
	json_object_set_new(p, "downloadLocation", json_string(download ? download : "NOASSERTION"));
	json_object_set_new(p, "filesAnalyzed", json_false());
	json_object_set_new(p, "licenseConcluded", json_string("NOASSERTION"));
	json_object_set_new(p, "licenseDeclared", json_string("NOASSERTION"));
	json_object_set_new(p, "copyrightText", json_string("NOASSERTION"));
	if (comment)
		json_object_set_new(p, "comment", json_string(comment));
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

static int relate(json_t *rels, const char *a, const char *type, const char *b)
{
	json_t *r = json_object();

	if (!r)
		return -1;
	json_object_set_new(r, "spdxElementId", json_string(a));
	json_object_set_new(r, "relationshipType", json_string(type));
	json_object_set_new(r, "relatedSpdxElement", json_string(b));
	return json_array_append_new(rels, r);
}

/* The document under construction: packages, and their ids in order. */
struct doc {
	json_t *pkgs, *rels;
	json_t *ids; /* id -> 1, so that ids stay unique */
	char **idv;  /* the id of each package, in order */
	size_t n;
};

/* Add a package whose id is made of kind and idname (made unique); its
 * id in d->idv[d->n - 1]. */
static int add(struct doc *d, const char *kind, const char *idname, const char *name,
	       const char *version, const char *download, const char *purl, const char *sha256,
	       const char *comment)
{
	char *base = spdx_id(kind, idname), *id = base ? oci_strdup(base) : NULL, **v;
	json_t *p;
	int k, rc = -1;

	for (k = 2; id && json_object_get(d->ids, id); k++) {
		oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);

		oci_free(id);
		id = oci_buf_printf(&b, NULL, "%s-%d", base, k) < 0 ? NULL : oci_buf_detach(&b, NULL);
	}
	v = id ? oci_reallocarray(d->idv, d->n + 1, sizeof(*v)) : NULL;
	if (!v)
		goto out;
	d->idv = v;
	p = package(id, name, version, download, purl, sha256, comment);
	if (!p || json_object_set_new(d->ids, id, json_true()) < 0 ||
	    json_array_append_new(d->pkgs, p) < 0)
		goto out;
	d->idv[d->n++] = id;
	id = NULL;
	rc = 0;
out:
	oci_free(base);
	oci_free(id);
	return rc;
}

static const char *const kind_id[] = {
	[OCI_APP_OWN] = "app",   [OCI_APP_UMBRELLA] = "umbrella", [OCI_APP_PATH] = "path",
	[OCI_APP_HEX] = "hex",   [OCI_APP_GIT] = "git",           [OCI_APP_OTP] = "otp",
	[OCI_APP_ELIXIR] = "elixir",
};

static const char *const kind_comment[] = {
	[OCI_APP_OWN] = "the project's own application",
	[OCI_APP_UMBRELLA] = "an application of the project (apps/)",
	[OCI_APP_PATH] = "an application the lock file does not describe at this version (a path dependency)",
	[OCI_APP_HEX] = "a hex package, version and checksum from the lock file",
	[OCI_APP_GIT] = "a git dependency at the commit of the lock file",
	[OCI_APP_OTP] = "an Erlang/OTP application",
	[OCI_APP_ELIXIR] = "an application of Elixir",
};

static int add_app(struct doc *d, const oci_release *r, const oci_release_app *a)
{
	oci_buf purl = OCI_BUF_INIT(OCI_MAX_TEXT), dl = OCI_BUF_INIT(OCI_MAX_TEXT);
	char *lock_purl = NULL;
	const char *sha = NULL;
	int rc = 0, otp = oci_sbom_otp_release(r->erts_version);

	switch (a->kind) {
	case OCI_APP_HEX:
		lock_purl = oci_sbom_purl(a->dep);
		rc = lock_purl ? oci_buf_printf(&dl, NULL, "https://repo.hex.pm/tarballs/%s-%s.tar",
						a->dep->hex_name ? a->dep->hex_name : a->name,
						a->dep->version)
			       : -1;
		sha = a->dep->sha256;
		break;
	case OCI_APP_GIT: {
		/* never publish credentials that a lock file's URL may carry */
		char *clean;

		if (oci_vcs_normalize_url(a->dep->git_url, &clean, NULL) < 0)
			return -1;
		lock_purl = oci_sbom_purl(a->dep);
		if (!lock_purl)
			rc = -1;
		else if (clean)
			rc = oci_buf_printf(&dl, NULL, "git+%s%s%s", clean, a->dep->git_ref ? "@" : "",
					    a->dep->git_ref ? a->dep->git_ref : "");
		oci_free(clean);
		break;
	}
	case OCI_APP_OTP:
		rc = otp ? oci_buf_printf(&purl, NULL, "pkg:generic/otp/%s@%s?otp=%d", a->name,
					  a->version, otp)
			 : oci_buf_printf(&purl, NULL, "pkg:generic/otp/%s@%s", a->name, a->version);
		break;
	case OCI_APP_ELIXIR:
		rc = oci_buf_printf(&purl, NULL, "pkg:generic/elixir/%s@%s", a->name, a->version);
		break;
	default:
		rc = oci_buf_printf(&purl, NULL, "pkg:generic/%s@%s", a->name, a->version);
		break;
	}
	if (rc == 0)
		rc = add(d, kind_id[a->kind], a->name, a->name, a->version, dl.len ? dl.data : NULL,
			 lock_purl ? lock_purl : purl.data, sha, kind_comment[a->kind]);
	oci_free(lock_purl);
	oci_buf_release(&purl);
	oci_buf_release(&dl);
	return rc;
}

static int add_debs(struct doc *d, const oci_dpkg *debs, const char *os_release)
{
	size_t i;
	int rc = 0;

	for (i = 0; debs && i < debs->n && rc == 0; i++) {
		const oci_dpkg_pkg *p = &debs->v[i];
		char *version = deb_field(p->record, "Version");
		char *arch = p->arch ? oci_strdup(p->arch) : deb_field(p->record, "Architecture");
		char *purl = oci_sbom_deb_purl(p->name, version, arch, os_release);
		oci_buf name = OCI_BUF_INIT(OCI_MAX_TEXT);

		/* a library of two architectures is two packages */
		rc = !purl || (p->arch && !arch) ? -1
		     : oci_buf_printf(&name, NULL, "%s%s%s", p->name, p->arch ? "-" : "",
				      p->arch ? p->arch : "");
		if (rc == 0)
			rc = add(d, "deb", name.data, p->name, version, NULL, purl, NULL,
				 "a Debian package the runtime layer took files from");
		oci_buf_release(&name);
		oci_free(version);
		oci_free(arch);
		oci_free(purl);
	}
	return rc;
}

/* index of the app named `name`, or -1 */
static long app_index(const json_t *by_name, const char *name)
{
	json_t *v = json_object_get(by_name, name);

	return v ? (long)json_integer_value(v) : -1;
}

/* DEPENDS_ON from each application's .app (applications and
 * included_applications) and from the requirements mix.lock records, each
 * edge once and only between applications in the image. */
static int depends(struct doc *d, const oci_sbom_input *in, size_t first)
{
	json_t *by_name = json_object();
	size_t i, j, k, *to = NULL, nto;
	int rc = -1;

	if (!by_name)
		return -1;
	for (i = 0; i < in->napps; i++)
		if (!json_object_get(by_name, in->apps[i].name) &&
		    json_object_set_new(by_name, in->apps[i].name, json_integer((json_int_t)i)) < 0)
			goto out;
	to = oci_calloc(in->napps ? in->napps : 1, sizeof(*to));
	if (!to)
		goto out;
	for (i = 0; i < in->napps; i++) {
		const oci_release_app *a = &in->apps[i];
		size_t nreq = a->dep ? a->dep->nrequires : 0;

		nto = 0;
		for (j = 0; j < a->app.nuses + nreq; j++) {
			long t = app_index(by_name, j < a->app.nuses ? a->app.uses[j]
								      : a->dep->requires[j - a->app.nuses]);

			if (t < 0 || (size_t)t == i)
				continue;
			for (k = 0; k < nto && to[k] != (size_t)t; k++)
				;
			if (k == nto && nto < in->napps)
				to[nto++] = (size_t)t;
		}
		for (k = 0; k < nto; k++)
			if (relate(d->rels, d->idv[first + i], "DEPENDS_ON", d->idv[first + to[k]]) < 0)
				goto out;
	}
	rc = 0;
out:
	oci_free(to);
	json_decref(by_name);
	return rc;
}

int oci_sbom_spdx(const oci_sbom_input *in, oci_buf *out, ocibuild_error *err)
{
	const oci_release *r = in->release;
	struct doc d = { 0 };
	json_t *doc = json_object(), *ci = json_object(), *creators = json_array();
	json_t *describes = json_array();
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	const char *image_id = "SPDXRef-Image";
	char *s = NULL;
	char hash[OCI_DIGEST_LEN + 1];
	size_t i;
	int rc = -1;

	d.pkgs = json_array();
	d.rels = json_array();
	d.ids = json_object();
	if (!doc || !d.pkgs || !d.rels || !d.ids || !ci || !creators || !describes)
		goto nomem;
	json_object_set_new(doc, "spdxVersion", json_string("SPDX-2.2"));
	json_object_set_new(doc, "dataLicense", json_string("CC0-1.0"));
	json_object_set_new(doc, "SPDXID", json_string("SPDXRef-DOCUMENT"));
	if (oci_buf_printf(&tmp, NULL, "%s-%s", r->name, r->version) < 0)
		goto nomem;
	json_object_set_new(doc, "name", json_string(tmp.data));
	json_array_append_new(creators, json_string(TOOL));
	json_object_set_new(ci, "creators", creators);
	creators = NULL;
	json_object_set_new(ci, "created", json_string(in->created));
	json_object_set_new(doc, "creationInfo", ci);
	ci = NULL;
	json_array_append_new(describes, json_string(image_id));
	json_object_set_new(doc, "documentDescribes", describes);
	describes = NULL;

	/* the image: the release as a whole */
	{
		json_t *img = package(image_id, r->name, r->version, NULL, NULL, NULL,
				      "the container image of the release");

		if (!img || json_array_append_new(d.pkgs, img) < 0 ||
		    json_object_set_new(d.ids, image_id, json_true()) < 0)
			goto nomem;
	}
	if (relate(d.rels, "SPDXRef-DOCUMENT", "DESCRIBES", image_id) < 0)
		goto nomem;
	for (i = 0; i < in->napps; i++)
		if (add_app(&d, r, &in->apps[i]) < 0)
			goto nomem;
	if (r->has_erts) {
		oci_buf purl = OCI_BUF_INIT(OCI_MAX_TEXT);
		int otp = oci_sbom_otp_release(r->erts_version);

		rc = otp ? oci_buf_printf(&purl, NULL, "pkg:generic/otp/erts@%s?otp=%d",
					  r->erts_version, otp)
			 : oci_buf_printf(&purl, NULL, "pkg:generic/otp/erts@%s", r->erts_version);
		if (rc == 0)
			rc = add(&d, "erts", "", "erts", r->erts_version, NULL, purl.data, NULL,
				 "the Erlang runtime system the release bundles");
		oci_buf_release(&purl);
		if (rc < 0)
			goto nomem;
		rc = -1;
	}
	if (add_debs(&d, in->debs, in->os_release) < 0)
		goto nomem;
	if (in->base_name && in->base_digest) {
		oci_buf purl = OCI_BUF_INIT(OCI_MAX_TEXT);
		const char *slash = strrchr(in->base_name, '/');
		const char *short_name = slash ? slash + 1 : in->base_name;
		size_t n = strcspn(short_name, ":@");
		json_t *p;

		rc = oci_buf_printf(&purl, NULL, "pkg:oci/%.*s@sha256%%3A%s", (int)n, short_name,
				    oci_digest_hex(in->base_digest));
		p = rc < 0 ? NULL
			   : package("SPDXRef-Package-base-image", in->base_name, in->base_digest,
				     NULL, purl.data, oci_digest_hex(in->base_digest),
				     "the base image");
		oci_buf_release(&purl);
		rc = -1;
		if (!p || json_array_append_new(d.pkgs, p) < 0)
			goto nomem;
	}
	/* the image contains every package; the ids in order */
	for (i = 1; i < json_array_size(d.pkgs); i++) {
		const char *id = json_string_value(
			json_object_get(json_array_get(d.pkgs, i), "SPDXID"));

		if (!id || relate(d.rels, image_id, "CONTAINS", id) < 0)
			goto nomem;
	}
	if (depends(&d, in, 0) < 0)
		goto nomem;
	json_object_set_new(doc, "packages", d.pkgs);
	d.pkgs = NULL;
	json_object_set_new(doc, "relationships", d.rels);
	d.rels = NULL;
	/* the namespace is derived from everything else, so equal documents
	 * have equal namespaces */
	s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		goto nomem;
	if (oci_sha256_buf(s, strlen(s), hash, err) < 0)
		goto out;
	free(s);
	s = NULL;
	oci_buf_reset(&tmp);
	if (oci_buf_printf(&tmp, NULL, "https://spdx.org/spdxdocs/%s-%s-%s", r->name, r->version,
			   oci_digest_hex(hash)) < 0)
		goto nomem;
	json_object_set_new(doc, "documentNamespace", json_string(tmp.data));
	s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		goto nomem;
	oci_buf_reset(out);
	rc = oci_buf_puts(out, s, err);
	if (rc == 0)
		rc = oci_buf_puts(out, "\n", err);
	if (rc < 0 && (!err || err->kind != OCIBUILD_ERR_NOMEM))
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"the SBOM of release '%s' (%zu packages) is larger than the %zu-byte limit: leave the applications the release does not need out of it",
			r->name, json_array_size(json_object_get(doc, "packages")), out->max);
	goto out;
nomem:
	rc = oci_err_nomem(err);
out:
	free(s);
	json_decref(doc);
	json_decref(ci);
	json_decref(creators);
	json_decref(describes);
	json_decref(d.pkgs);
	json_decref(d.rels);
	json_decref(d.ids);
	for (i = 0; i < d.n; i++)
		oci_free(d.idv[i]);
	oci_free(d.idv);
	oci_buf_release(&tmp);
	return rc;
}
