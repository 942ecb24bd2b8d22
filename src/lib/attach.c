#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "blobstore.h"
#include "ctx.h"
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "oci.h"
#include "banned.h"

/* cosign's placeholder time for the signature image's config */
#define ZERO_TIME "0001-01-01T00:00:00Z"

/* The signature manifest under tag, or an empty one when the tag is new. */
static int existing(oci_registry *reg, oci_http *h, const char *repo, const char *tag,
		    oci_manifest *m, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	char digest[OCI_DIGEST_LEN + 1];
	char *mt = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = oci_reg_get_manifest(reg, h, repo, tag, &raw, digest, &mt, err);
	if (rc < 0 && err && err->code == 404 && err->kind == OCIBUILD_ERR_INPUT) {
		ocibuild_error_clear(err);
		rc = 0;
	} else if (rc == 0 && oci_manifest_parse(raw.data, raw.len, m, err) < 0) {
		oci_err_prefix(err, "existing signatures %s/%s:%s", oci_reg_domain(reg), repo,
			       tag);
		rc = -1;
	}
	oci_free(mt);
	oci_buf_release(&raw);
	return rc;
}

/* 1 when m already holds k's signature of the payload `pd`. */
static int already_signed(const oci_manifest *m, const char *pd, const oci_buf *payload,
			  const oci_sign_key *k)
{
	size_t i;

	for (i = 0; i < m->nlayers; i++) {
		const oci_descriptor *d = &m->layers[i];
		const char *sig = oci_map_get(&d->annotations, OCI_SIGN_ANNOTATION);

		if (d->media_type && !strcmp(d->media_type, OCI_SIGN_PAYLOAD_TYPE) &&
		    !strcmp(d->digest, pd) && sig &&
		    oci_sign_verify(k, payload->data, payload->len, sig))
			return 1;
	}
	return 0;
}

int oci_attach_blob(oci_registry *reg, oci_http *h, const char *repo, const char *store,
		    const void *data, size_t len, char *digest, ocibuild_error *err)
{
	char *path;
	int exists = 0, rc;

	if (oci_blobs_put(store, data, len, digest, 0, err) < 0 ||
	    oci_reg_blob_exists(reg, h, repo, digest, &exists, err) < 0)
		return -1;
	if (exists)
		return 0;
	path = oci_blobs_path(store, digest);
	if (!path)
		return oci_err_nomem(err);
	rc = oci_reg_upload(reg, h, repo, digest, path, len, (uint64_t)len + 1, err);
	oci_free(path);
	return rc;
}

static int add_signature(oci_manifest *m, const char *pd, size_t plen, const char *sig,
			 ocibuild_error *err)
{
	oci_descriptor *v = oci_reallocarray(m->layers, m->nlayers + 1, sizeof(*v));
	oci_descriptor *d;

	if (!v)
		return oci_err_nomem(err);
	m->layers = v;
	d = &v[m->nlayers];
	memset(d, 0, sizeof(*d));
	m->nlayers++;
	d->media_type = oci_strdup(OCI_SIGN_PAYLOAD_TYPE);
	memcpy(d->digest, pd, OCI_DIGEST_LEN + 1);
	d->size = (int64_t)plen;
	if (!d->media_type)
		return oci_err_nomem(err);
	return oci_map_set(&d->annotations, OCI_SIGN_ANNOTATION, sig, err);
}

/* The config cosign gives a signature image: empty platform, one diff_id
 * per signature payload. */
static int sig_config(const oci_manifest *m, oci_buf *out, ocibuild_error *err)
{
	oci_image_config c;
	size_t i;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.created = oci_strdup(ZERO_TIME);
	c.platform.os = oci_strdup("");
	c.platform.architecture = oci_strdup("");
	if (!c.created || !c.platform.os || !c.platform.architecture)
		rc = oci_err_nomem(err);
	for (i = 0; rc == 0 && i < m->nlayers; i++)
		rc = oci_strlist_push(&c.diff_ids, m->layers[i].digest, err);
	if (rc == 0)
		rc = oci_config_add_history(&c, ZERO_TIME, NULL, NULL, 0, err);
	if (rc == 0)
		rc = oci_config_serialize(&c, out, err);
	oci_config_release(&c);
	return rc;
}

int oci_attach_signature(oci_registry *reg, const char *repo, const char *digest,
			 const oci_sign_key *k, const char *store, char **ref_out,
			 ocibuild_error *err)
{
	oci_buf payload = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), name = OCI_BUF_INIT(OCI_MAX_TEXT);
	oci_buf cfg = OCI_BUF_INIT(OCI_MAX_CONFIG), man = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_http *h = NULL;
	oci_manifest m;
	char pd[OCI_DIGEST_LEN + 1], tag[80], *sig = NULL;
	int rc = -1;

	*ref_out = NULL;
	memset(&m, 0, sizeof(m));
	snprintf(tag, sizeof(tag), "sha256-%s.sig", oci_digest_hex(digest));
	if (oci_buf_printf(&name, err, "%s/%s", oci_reg_domain(reg), repo) < 0 ||
	    oci_sign_payload(name.data, digest, &payload, err) < 0 ||
	    oci_sha256_buf(payload.data, payload.len, pd, err) < 0 ||
	    oci_blobs_prepare(store, err) < 0 || oci_reg_http(reg, &h, err) < 0 ||
	    existing(reg, h, repo, tag, &m, err) < 0)
		goto out;
	if (!already_signed(&m, pd, &payload, k)) {
		oci_free(m.media_type);
		oci_descriptor_release(&m.config);
		memset(&m.config, 0, sizeof(m.config));
		m.media_type = oci_strdup(OCI_MT_MANIFEST);
		m.config.media_type = oci_strdup(OCI_MT_CONFIG);
		if (!m.media_type || !m.config.media_type) {
			oci_err_nomem(err);
			goto out;
		}
		if (oci_sign_data(k, payload.data, payload.len, &sig, err) < 0 ||
		    add_signature(&m, pd, payload.len, sig, err) < 0 ||
		    sig_config(&m, &cfg, err) < 0 ||
		    oci_attach_blob(reg, h, repo, store, payload.data, payload.len, pd, err) < 0 ||
		    oci_attach_blob(reg, h, repo, store, cfg.data, cfg.len, m.config.digest, err) < 0)
			goto out;
		m.config.size = (int64_t)cfg.len;
		if (oci_manifest_serialize(&m, &man, err) < 0 ||
		    oci_reg_put_manifest(reg, h, repo, tag, m.media_type, man.data, man.len,
					 err) < 0)
			goto out;
	}
	if (oci_buf_printf(&name, err, ":%s", tag) < 0)
		goto out;
	*ref_out = oci_buf_detach(&name, NULL);
	rc = *ref_out ? 0 : oci_err_nomem(err);
out:
	if (rc < 0)
		oci_err_prefix(err, "signing %s/%s@%s", oci_reg_domain(reg), repo, digest);
	oci_free(sig);
	oci_manifest_release(&m);
	oci_http_release(h);
	oci_buf_release(&payload);
	oci_buf_release(&name);
	oci_buf_release(&cfg);
	oci_buf_release(&man);
	return rc;
}

/* Sign one digest and record the signature's reference. */
static int sign_one(ocibuild_ctx *ctx, oci_registry *reg, const char *repo, const char *digest,
		    const oci_sign_key *k, const char *store, oci_strlist *refs,
		    ocibuild_error *err)
{
	char *sref = NULL;
	int rc = oci_attach_signature(reg, repo, digest, k, store, &sref, err);

	if (rc == 0) {
		oci_log(ctx, OCIBUILD_LOG_INFO, "signed %s", sref);
		rc = oci_strlist_push(refs, sref, err);
	}
	oci_free(sref);
	return rc;
}

int oci_attach_image_manifests(const char *layout, const char *top, oci_index *out,
			       int *is_index, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_index x;
	char *mt = NULL;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	if (oci_blobs_read(layout, top, OCI_MAX_MANIFEST, &raw, err) < 0 ||
	    oci_json_media_type(raw.data, raw.len, &mt, err) < 0)
		goto out;
	if (is_index)
		*is_index = oci_media_type_kind(mt) == OCI_MT_KIND_INDEX;
	if (oci_media_type_kind(mt) == OCI_MT_KIND_INDEX) {
		if (oci_index_parse(raw.data, raw.len, &x, err) < 0)
			goto out;
		out->manifests = oci_calloc(x.n ? x.n : 1, sizeof(*out->manifests));
		if (!out->manifests) {
			oci_err_nomem(err);
			goto out;
		}
		/* moved, not copied: x releases what is left */
		for (i = 0; i < x.n; i++)
			if (oci_media_type_kind(x.manifests[i].media_type) == OCI_MT_KIND_MANIFEST) {
				out->manifests[out->n++] = x.manifests[i];
				memset(&x.manifests[i], 0, sizeof(x.manifests[i]));
			}
		rc = 0;
		goto out;
	}
	out->manifests = oci_calloc(1, sizeof(*out->manifests));
	if (!out->manifests) {
		oci_err_nomem(err);
		goto out;
	}
	out->n = 1;
	out->manifests[0].media_type = oci_strdup(mt ? mt : OCI_MT_MANIFEST);
	memcpy(out->manifests[0].digest, top, OCI_DIGEST_LEN + 1);
	out->manifests[0].size = (int64_t)raw.len;
	rc = out->manifests[0].media_type ? 0 : oci_err_nomem(err);
out:
	if (rc < 0)
		oci_index_release(out);
	oci_index_release(&x);
	oci_free(mt);
	oci_buf_release(&raw);
	return rc;
}

int oci_attach_signatures(ocibuild_ctx *ctx, oci_registry *reg, const char *repo,
			  const char *layout, const char *top, const oci_sign_key *k,
			  const char *store, oci_strlist *refs, ocibuild_error *err)
{
	oci_index x;
	size_t i;
	int rc = -1, is_index;

	memset(&x, 0, sizeof(x));
	if (sign_one(ctx, reg, repo, top, k, store, refs, err) < 0)
		goto out;
	/* an index: each manifest it lists too, as cosign sign --recursive */
	if (oci_attach_image_manifests(layout, top, &x, &is_index, err) < 0)
		goto out;
	for (i = 0; is_index && i < x.n; i++)
		if (sign_one(ctx, reg, repo, x.manifests[i].digest, k, store, refs, err) < 0)
			goto out;
	rc = 0;
out:
	oci_index_release(&x);
	return rc;
}
