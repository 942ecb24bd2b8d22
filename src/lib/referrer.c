#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <archive.h>
#include <archive_entry.h>

#include "referrer.h"
#include "attach.h"
#include "blobstore.h"
#include "ctx.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "ref.h"
#include "tar.h"
#include "transfer.h"
#include "dl_archive.h"
#include "banned.h"

/* what build writes in the history of the sbom layer, and its one file */
#define SBOM_CREATED_BY "ocibuild build: sbom layer in /"
#define SBOM_FILE "sbom.spdx.json"

/* 1 when the config's last layer is build's sbom layer. */
static int last_is_sbom_layer(const char *layout, const oci_manifest *m, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_CONFIG);
	oci_image_config c;
	size_t i;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	if (!oci_blobs_has(layout, m->config.digest))
		return 0;
	if (oci_blobs_read(layout, m->config.digest, OCI_MAX_CONFIG, &raw, err) < 0 ||
	    oci_config_parse(raw.data, raw.len, &c, err) < 0) {
		rc = -1;
		goto out;
	}
	for (i = c.nhistory; i > 0; i--) {
		const oci_history *h = &c.history[i - 1];

		if (h->empty_layer)
			continue;
		rc = h->created_by && !strcmp(h->created_by, SBOM_CREATED_BY);
		break;
	}
out:
	oci_config_release(&c);
	oci_buf_release(&raw);
	return rc;
}

/* The one file SBOM_FILE of the layer blob at path (any compression). */
static int read_sbom_layer(const char *path, oci_buf *out, ocibuild_error *err)
{
	struct archive *a = oci_tar_read_open(path, "the sbom layer", err);
	struct archive_entry *e;
	int rc = 0, r;

	if (!a)
		return -1;
	while (rc == 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = oci_tar_read_name(e);
		char chunk[1 << 14];
		la_ssize_t n;

		if (!name || strcmp(name, SBOM_FILE) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		oci_buf_reset(out);
		while (rc == 0 && (n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
			if (oci_buf_append(out, chunk, (size_t)n, err) < 0)
				rc = -1;
		if (rc == 0 && n < 0) {
			oci_err(err, OCIBUILD_ERR_INPUT, 0, "cannot read %s from the sbom layer '%s': %s",
				SBOM_FILE, path, archive_error_string(a));
			rc = -1;
		}
		if (rc == 0)
			rc = 1;
	}
	if (rc == 0 && r != ARCHIVE_EOF) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "the sbom layer '%s' is not a readable tar: %s",
			path, archive_error_string(a));
		rc = -1;
	}
	archive_read_free(a);
	return rc;
}

int oci_referrer_layout_sbom(const char *layout, const char *digest, oci_buf *out,
			     ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_manifest m;
	char *path = NULL;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (oci_blobs_read(layout, digest, OCI_MAX_MANIFEST, &raw, err) < 0 ||
	    oci_manifest_parse(raw.data, raw.len, &m, err) < 0)
		goto out;
	rc = 0;
	if (!m.nlayers || !oci_blobs_has(layout, m.layers[m.nlayers - 1].digest))
		goto out;
	rc = last_is_sbom_layer(layout, &m, err);
	if (rc <= 0)
		goto out;
	path = oci_blobs_path(layout, m.layers[m.nlayers - 1].digest);
	if (!path) {
		rc = oci_err_nomem(err);
		goto out;
	}
	out->max = OCI_MAX_SBOM;
	rc = read_sbom_layer(path, out, err);
out:
	oci_free(path);
	oci_manifest_release(&m);
	oci_buf_release(&raw);
	return rc;
}

/* ---- attaching ---- */

/* The artifact manifest: empty config, one layer, the subject's media
 * type, digest and size. */
static int artifact_manifest(const oci_descriptor *subject, const char *artifact_type,
			     const char *layer_digest, size_t len, oci_buf *out,
			     ocibuild_error *err)
{
	oci_manifest m;
	oci_descriptor l;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	memset(&l, 0, sizeof(l));
	m.media_type = oci_strdup(OCI_MT_MANIFEST);
	m.artifact_type = oci_strdup(artifact_type);
	m.config.media_type = oci_strdup(OCI_MT_EMPTY);
	memcpy(m.config.digest, OCI_EMPTY_DIGEST, OCI_DIGEST_LEN + 1);
	m.config.size = 2;
	m.subject = oci_calloc(1, sizeof(*m.subject));
	l.media_type = oci_strdup(artifact_type);
	memcpy(l.digest, layer_digest, OCI_DIGEST_LEN + 1);
	l.size = (int64_t)len;
	m.layers = &l;
	m.nlayers = 1;
	if (!m.media_type || !m.artifact_type || !m.config.media_type || !m.subject ||
	    !l.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	m.subject->media_type = oci_strdup(subject->media_type);
	memcpy(m.subject->digest, subject->digest, OCI_DIGEST_LEN + 1);
	m.subject->size = subject->size;
	if (!m.subject->media_type) {
		oci_err_nomem(err);
		goto out;
	}
	rc = oci_manifest_serialize(&m, out, err);
out:
	m.layers = NULL;
	m.nlayers = 0;
	oci_descriptor_release(&l);
	oci_manifest_release(&m);
	return rc;
}

/* PUT a manifest under a tag unless the tag already names exactly it. */
static int tag_once(oci_registry *reg, oci_http *h, const char *repo, const char *tag,
		    const char *digest, const char *mt, const oci_buf *raw, ocibuild_error *err)
{
	char have[OCI_DIGEST_LEN + 1];
	int found;

	if (oci_reg_manifest_head(reg, h, repo, tag, &found, have, err) < 0)
		return -1;
	if (found && !strcmp(have, digest))
		return 0;
	return oci_reg_put_manifest(reg, h, repo, tag, mt, raw->data, raw->len, err);
}

/* The referrers index under the tag schema's tag, or an empty one. */
static int tag_index(oci_registry *reg, oci_http *h, const char *repo, const char *tag,
		     oci_index *x, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	char digest[OCI_DIGEST_LEN + 1], *mt = NULL;
	int rc;

	memset(x, 0, sizeof(*x));
	rc = oci_reg_get_manifest(reg, h, repo, tag, &raw, digest, &mt, err);
	if (rc < 0 && err->code == 404 && err->kind == OCIBUILD_ERR_INPUT) {
		ocibuild_error_clear(err);
		rc = 0;
	} else if (rc == 0 && oci_index_parse(raw.data, raw.len, x, err) < 0) {
		oci_err_prefix(err, "the referrers tag %s/%s:%s is not a usable image index "
			       "(fix or delete that tag)", oci_reg_domain(reg), repo, tag);
		rc = -1;
	}
	oci_free(mt);
	oci_buf_release(&raw);
	return rc;
}

/* Add the artifact to the tag schema index of its subject, keeping every
 * entry there; nothing is written when it is listed already. */
static int list_in_tag_index(oci_registry *reg, oci_http *h, const char *repo,
			     const char *subject_digest, const oci_descriptor *artifact,
			     ocibuild_error *err)
{
	oci_buf out = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_index x;
	char tag[80];
	size_t i;
	int rc = -1;

	snprintf(tag, sizeof(tag), "sha256-%s", oci_digest_hex(subject_digest));
	if (tag_index(reg, h, repo, tag, &x, err) < 0)
		goto out;
	for (i = 0; i < x.n; i++)
		if (!strcmp(x.manifests[i].digest, artifact->digest))
			break;
	rc = 0;
	if (i < x.n)
		goto out;
	rc = -1;
	if (oci_index_add(&x, artifact, err) < 0 || oci_index_serialize(&x, &out, err) < 0 ||
	    oci_reg_put_manifest(reg, h, repo, tag, OCI_MT_INDEX, out.data, out.len, err) < 0)
		goto out;
	rc = 0;
out:
	oci_index_release(&x);
	oci_buf_release(&out);
	return rc;
}

int oci_referrer_attach(oci_registry *reg, const char *repo, const oci_descriptor *subject,
			const char *artifact_type, const void *data, size_t len,
			const char *tag_suffix, const char *store, char *digest_out, int *via_api,
			ocibuild_error *err)
{
	oci_buf man = OCI_BUF_INIT(OCI_MAX_MANIFEST), refs = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_http *h = NULL;
	oci_descriptor a;
	char empty[OCI_DIGEST_LEN + 1], layer[OCI_DIGEST_LEN + 1], have[OCI_DIGEST_LEN + 1];
	int rc = -1, found = 0;

	*via_api = 0;
	digest_out[0] = '\0';
	memset(&a, 0, sizeof(a));
	if (oci_blobs_prepare(store, err) < 0 || oci_reg_http(reg, &h, err) < 0 ||
	    oci_attach_blob(reg, h, repo, store, "{}", 2, empty, err) < 0 ||
	    oci_attach_blob(reg, h, repo, store, data, len, layer, err) < 0 ||
	    artifact_manifest(subject, artifact_type, layer, len, &man, err) < 0 ||
	    oci_sha256_buf(man.data, man.len, a.digest, err) < 0)
		goto out;
	a.media_type = oci_strdup(OCI_MT_MANIFEST);
	a.artifact_type = oci_strdup(artifact_type);
	a.size = (int64_t)man.len;
	if (!a.media_type || !a.artifact_type) {
		oci_err_nomem(err);
		goto out;
	}
	/* by digest; a registry with the API answers with OCI-Subject */
	if (oci_reg_manifest_head(reg, h, repo, a.digest, &found, have, err) < 0)
		goto out;
	if (!found &&
	    oci_reg_put_referrer(reg, h, repo, a.digest, OCI_MT_MANIFEST, man.data, man.len,
				 via_api, err) < 0)
		goto out;
	if (!*via_api &&
	    oci_reg_get_referrers(reg, h, repo, subject->digest, NULL, &refs, via_api, err) < 0)
		goto out;
	if (!*via_api && list_in_tag_index(reg, h, repo, subject->digest, &a, err) < 0)
		goto out;
	if (tag_suffix) {
		char tag[96];

		snprintf(tag, sizeof(tag), "sha256-%s%s", oci_digest_hex(subject->digest), tag_suffix);
		if (tag_once(reg, h, repo, tag, a.digest, OCI_MT_MANIFEST, &man, err) < 0)
			goto out;
	}
	memcpy(digest_out, a.digest, OCI_DIGEST_LEN + 1);
	rc = 0;
out:
	if (rc < 0)
		oci_err_prefix(err, "attaching %s to %s/%s@%s", artifact_type, oci_reg_domain(reg),
			       repo, subject->digest);
	oci_descriptor_release(&a);
	oci_http_release(h);
	oci_buf_release(&man);
	oci_buf_release(&refs);
	return rc;
}

/* Attach the SBOM of one image manifest (desc) of layout. */
static int attach_one(ocibuild_ctx *ctx, oci_registry *reg, const char *repo,
		      const char *layout, const oci_descriptor *desc, const char *store,
		      const oci_sign_key *sign, oci_strlist *refs, ocibuild_error *err)
{
	oci_buf sbom = OCI_BUF_INIT(OCI_MAX_SBOM), ref = OCI_BUF_INIT(OCI_MAX_TEXT);
	char digest[OCI_DIGEST_LEN + 1], *sref = NULL;
	int rc, api;

	rc = oci_referrer_layout_sbom(layout, desc->digest, &sbom, err);
	if (rc <= 0) {
		if (rc == 0)
			oci_log(ctx, OCIBUILD_LOG_INFO,
				"%s/%s@%s has no SBOM layer: no SBOM attached", oci_reg_domain(reg),
				repo, desc->digest);
		goto out;
	}
	rc = -1;
	if (oci_referrer_attach(reg, repo, desc, OCI_MT_SPDX, sbom.data, sbom.len, ".sbom", store,
				digest, &api, err) < 0) {
		if (err->kind != OCIBUILD_ERR_NOMEM && err->kind != OCIBUILD_ERR_CANCELLED)
			oci_err_prefix(err, "pushed the image but not its SBOM "
				       "(--no-attach-sbom skips it)");
		goto out;
	}
	if (oci_buf_printf(&ref, err, "%s/%s:sha256-%s.sbom", oci_reg_domain(reg), repo,
			   oci_digest_hex(desc->digest)) < 0)
		goto out;
	oci_log(ctx, OCIBUILD_LOG_INFO, "attached SBOM %s/%s@%s to %s (%s)", oci_reg_domain(reg),
		repo, digest, desc->digest, api ? "referrers API" : "referrers tag schema");
	if (oci_strlist_push(refs, ref.data, err) < 0)
		goto out;
	if (sign) {
		if (oci_attach_signature(reg, repo, digest, sign, store, &sref, err) < 0)
			goto out;
		oci_log(ctx, OCIBUILD_LOG_INFO, "signed %s", sref);
		if (oci_strlist_push(refs, sref, err) < 0)
			goto out;
	}
	rc = 0;
out:
	oci_free(sref);
	oci_buf_release(&sbom);
	oci_buf_release(&ref);
	return rc;
}

int oci_referrer_attach_sboms(ocibuild_ctx *ctx, oci_registry *reg, const char *repo,
			      const char *layout, const char *top, const char *store,
			      const oci_sign_key *sign, oci_strlist *refs, ocibuild_error *err)
{
	oci_index x;
	size_t i;
	int rc = -1;

	if (oci_attach_image_manifests(layout, top, &x, NULL, err) < 0)
		return -1;
	for (i = 0; i < x.n; i++)
		if (attach_one(ctx, reg, repo, layout, &x.manifests[i], store, sign, refs, err) < 0)
			goto out;
	rc = 0;
out:
	oci_index_release(&x);
	return rc;
}

/* ---- fetching ---- */

/* The first SPDX artifact of a referrers index into cand. */
static int pick_spdx(const char *json, size_t len, char *cand, ocibuild_error *err)
{
	oci_index x;
	size_t i;

	if (oci_index_parse(json, len, &x, err) < 0)
		return -1;
	for (i = 0; i < x.n && !cand[0]; i++)
		if (x.manifests[i].artifact_type &&
		    !strcmp(x.manifests[i].artifact_type, OCI_MT_SPDX) &&
		    oci_media_type_kind(x.manifests[i].media_type) == OCI_MT_KIND_MANIFEST)
			memcpy(cand, x.manifests[i].digest, OCI_DIGEST_LEN + 1);
	oci_index_release(&x);
	return 0;
}

/* A manifest that may be absent: 1 found, 0 not (404). */
static int get_maybe(oci_registry *reg, oci_http *h, const char *repo, const char *ref,
		     oci_buf *raw, char *digest, ocibuild_error *err)
{
	char *mt = NULL;
	int rc = oci_reg_get_manifest(reg, h, repo, ref, raw, digest, &mt, err);

	oci_free(mt);
	if (rc < 0 && err->code == 404 && err->kind == OCIBUILD_ERR_INPUT) {
		ocibuild_error_clear(err);
		return 0;
	}
	return rc < 0 ? -1 : 1;
}

/* The image manifest ref names: itself, or the platform's in an index. */
static int resolve_subject(oci_registry *reg, oci_http *h, const oci_ref *ref,
			   const char *platform, char *subject, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_platform want;
	oci_index x;
	char *mt = NULL, *offered = NULL;
	size_t i;
	int rc = -1;

	memset(&want, 0, sizeof(want));
	memset(&x, 0, sizeof(x));
	if (oci_reg_get_manifest(reg, h, ref->path, ref->digest ? ref->digest : ref->tag, &raw,
				 subject, &mt, err) < 0)
		goto out;
	if (oci_media_type_kind(mt) != OCI_MT_KIND_INDEX) {
		rc = 0;
		goto out;
	}
	if (oci_index_parse(raw.data, raw.len, &x, err) < 0 ||
	    (platform ? oci_platform_parse(platform, &want, err) : oci_platform_host(&want, err)) < 0)
		goto out;
	for (i = 0; i < x.n; i++) {
		if (x.manifests[i].platform && oci_media_type_kind(x.manifests[i].media_type) == OCI_MT_KIND_MANIFEST &&
		    oci_platform_match(&want, x.manifests[i].platform)) {
			memcpy(subject, x.manifests[i].digest, OCI_DIGEST_LEN + 1);
			rc = 0;
			goto out;
		}
	}
	offered = oci_index_platforms(&x);
	oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s/%s@%s has no image for %s/%s (it has %s): pass --platform",
		ref->domain, ref->path, subject, want.os ? want.os : "?",
		want.architecture ? want.architecture : "?", offered ? offered : "none");
out:
	oci_free(offered);
	oci_free(mt);
	oci_index_release(&x);
	oci_platform_release(&want);
	oci_buf_release(&raw);
	return rc;
}

/* The SPDX layer of artifact manifest `artifact`, checked to name subject,
 * fetched through the cache and checked against its digest into out. */
static int fetch_sbom(oci_registry *reg, oci_http *h, const char *repo, const char *artifact,
		      const char *subject, const char *cache, oci_buf *out, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_manifest m;
	const oci_descriptor *l = NULL;
	char got[OCI_DIGEST_LEN + 1], *mt = NULL, *path = NULL;
	size_t i;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (oci_reg_get_manifest(reg, h, repo, artifact, &raw, got, &mt, err) < 0 ||
	    oci_manifest_parse(raw.data, raw.len, &m, err) < 0)
		goto out;
	if (m.subject && strcmp(m.subject->digest, subject)) {
		oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			"the SBOM artifact %s names %s as its subject, not %s: it belongs to another image",
			artifact, m.subject->digest, subject);
		goto out;
	}
	for (i = 0; i < m.nlayers && !l; i++)
		if (m.layers[i].media_type && strstr(m.layers[i].media_type, "spdx"))
			l = &m.layers[i];
	if (!l || l->size < 0 || (uint64_t)l->size > OCI_MAX_SBOM) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"the SBOM artifact %s has no SPDX layer of at most %u MiB", artifact,
			OCI_MAX_SBOM >> 20);
		goto out;
	}
	if (oci_reg_get_blob(reg, h, repo, l->digest, l->size, cache, err) < 0)
		goto out;
	path = oci_blobs_path(cache, l->digest);
	if (!path) {
		oci_err_nomem(err);
		goto out;
	}
	out->max = OCI_MAX_SBOM;
	if (oci_read_file(path, OCI_MAX_SBOM, out, err) < 0 ||
	    oci_sha256_buf(out->data, out->len, got, err) < 0)
		goto out;
	if (strcmp(got, l->digest)) {
		oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			"the SBOM %s read from the cache hashes to %s: remove it from the cache and retry",
			l->digest, got);
		goto out;
	}
	rc = 0;
out:
	oci_free(path);
	oci_free(mt);
	oci_manifest_release(&m);
	oci_buf_release(&raw);
	return rc;
}

int ocibuild_sbom_fetch(ocibuild_ctx *ctx, const ocibuild_sbom_opts *o, ocibuild_sbom_result *res,
			ocibuild_error *err)
{
	oci_net net;
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST), sbom = OCI_BUF_INIT(OCI_MAX_SBOM);
	oci_registry *reg = NULL;
	oci_http *h = NULL;
	oci_ref ref;
	char tag[96], got[OCI_DIGEST_LEN + 1], *cache = NULL;
	int rc = -1, api = 0, found;

	memset(res, 0, sizeof(*res));
	memset(&ref, 0, sizeof(ref));
	if (oci_err_version(o->version, OCIBUILD_SBOM_OPTS_VERSION, "ocibuild_sbom_opts", err) < 0)
		return -1;
	if (!o->ref)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0, "usage: ocibuild sbom REFERENCE [-o FILE]");
	if (oci_net_init(&net, &o->registry, err) < 0)
		return -1;
	if (oci_net_open_ref(ctx, &net, o->ref, &ref, &reg, &h, err) < 0)
		goto out;
	cache = oci_cache_dir(NULL);
	if (!cache) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_blobs_prepare(cache, err) < 0 ||
	    resolve_subject(reg, h, &ref, o->platform, res->subject, err) < 0 ||
	    oci_reg_get_referrers(reg, h, ref.path, res->subject, OCI_MT_SPDX, &raw, &api, err) < 0)
		goto out;
	if (api) {
		res->found_by = "referrers API";
		if (pick_spdx(raw.data, raw.len, res->artifact, err) < 0)
			goto out;
	} else {
		snprintf(tag, sizeof(tag), "sha256-%s", oci_digest_hex(res->subject));
		found = get_maybe(reg, h, ref.path, tag, &raw, got, err);
		if (found < 0)
			goto out;
		res->found_by = "referrers tag schema";
		if (found && pick_spdx(raw.data, raw.len, res->artifact, err) < 0)
			goto out;
	}
	if (!res->artifact[0]) {
		snprintf(tag, sizeof(tag), "sha256-%s.sbom", oci_digest_hex(res->subject));
		found = get_maybe(reg, h, ref.path, tag, &raw, res->artifact, err);
		if (found < 0)
			goto out;
		res->found_by = "sbom tag";
		if (!found) {
			res->artifact[0] = '\0';
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"no SBOM is attached to %s/%s@%s (no %s referrer, no tag %s): "
				"push a release image with ocibuild to attach one",
				ref.domain, ref.path, res->subject, OCI_MT_SPDX, tag);
			goto out;
		}
	}
	oci_log(ctx, OCIBUILD_LOG_INFO, "SBOM of %s/%s@%s: %s (found by the %s)", ref.domain,
		ref.path, res->subject, res->artifact, res->found_by);
	if (fetch_sbom(reg, h, ref.path, res->artifact, res->subject, cache, &sbom, err) < 0)
		goto out;
	if (o->output) {
		if (oci_write_file_atomic(o->output, sbom.data, sbom.len, 0, err) < 0)
			goto out;
	} else {
		res->data = oci_buf_detach(&sbom, &res->len);
		if (!res->data) {
			oci_err_nomem(err);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		oci_free(res->data);
		res->data = NULL;
		res->len = 0;
	}
	oci_free(cache);
	oci_http_release(h);
	oci_reg_release(reg);
	oci_ref_release(&ref);
	oci_buf_release(&raw);
	oci_buf_release(&sbom);
	return rc;
}

void ocibuild_sbom_result_release(ocibuild_sbom_result *res)
{
	if (!res)
		return;
	oci_free(res->data);
	memset(res, 0, sizeof(*res));
}
