/* The manifests and the image index of a build, beside the config that
 * imgcfg makes: these write blobs into the stage, the config does not. */
#include <string.h>

#include "imgman.h"
#include "blobstore.h"
#include "err.h"
#include "imgcfg.h"
#include "layer.h"
#include "mem.h"
#include "banned.h"

const char *oci_imgman_layer_type(const char *mt)
{
	if (!strcmp(mt, OCI_MT_DOCKER_LAYER))
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	if (!strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return "application/vnd.oci.image.layer.v1.tar";
	return mt;
}

static int add_layer_desc(oci_manifest *m, const char *mt, const char *digest,
			  int64_t size, ocibuild_error *err)
{
	oci_descriptor *v = oci_reallocarray(m->layers, m->nlayers + 1, sizeof(*v));

	if (!v)
		return oci_err_nomem(err);
	m->layers = v;
	memset(&v[m->nlayers], 0, sizeof(*v));
	v[m->nlayers].media_type = oci_strdup(oci_imgman_layer_type(mt));
	if (!v[m->nlayers].media_type)
		return oci_err_nomem(err);
	memcpy(v[m->nlayers].digest, digest, OCI_DIGEST_LEN + 1);
	v[m->nlayers].size = size;
	m->nlayers++;
	return 0;
}

int oci_imgman_manifest(const oci_imgman_in *in, oci_manifest *m, oci_descriptor *desc,
			ocibuild_error *err)
{
	const oci_base *base = in->base;
	oci_buf doc = OCI_BUF_INIT(OCI_MAX_CONFIG);
	size_t i;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->media_type = oci_strdup(OCI_MT_MANIFEST);
	if (!m->media_type) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < base->manifest.nlayers; i++) {
		const oci_descriptor *l = &base->manifest.layers[i];

		/* a registry base's layers stay remote when only pushing to the
		 * same registry: they are mounted there */
		if ((base->layers_local || oci_blobs_has(base->layout_dir, l->digest)) &&
		    oci_blobs_import(in->stage, base->layout_dir, l->digest, l->size, in->durable,
				     err) < 0)
			goto out;
		if (add_layer_desc(m, l->media_type, l->digest, l->size, err) < 0)
			goto out;
	}
	for (i = 0; i < in->nlayers; i++)
		if (add_layer_desc(m, oci_layer_media_type(in->compression), in->layers[i].digest,
				   in->layers[i].size, err) < 0)
			goto out;
	if (oci_config_serialize(in->config, &doc, err) < 0)
		goto out;
	m->config.media_type = oci_strdup(OCI_MT_CONFIG);
	m->config.size = (int64_t)doc.len;
	if (!m->config.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_blobs_put(in->stage, doc.data, doc.len, m->config.digest, in->durable, err) < 0)
		goto out;
	if (oci_map_set(&m->annotations, OCI_ANN_CREATED, in->created, err) < 0)
		goto out;
	if (in->version && oci_map_set(&m->annotations, OCI_ANN_VERSION, in->version, err) < 0)
		goto out;
	if (oci_imgcfg_set_kv(&m->annotations, in->annotations, err) < 0)
		goto out;
	/* where the image comes from can not be overridden */
	if ((in->source && oci_map_set(&m->annotations, OCI_ANN_SOURCE, in->source, err) < 0) ||
	    (in->revision &&
	     oci_map_set(&m->annotations, OCI_ANN_REVISION, in->revision, err) < 0))
		goto out;
	if (!base->scratch &&
	    (oci_map_set(&m->annotations, OCI_ANN_BASE_DIGEST, base->manifest_digest, err) < 0 ||
	     oci_map_set(&m->annotations, OCI_ANN_BASE_NAME, base->name, err) < 0))
		goto out;
	if (oci_manifest_serialize(m, &doc, err) < 0)
		goto out;
	desc->media_type = oci_strdup(OCI_MT_MANIFEST);
	desc->size = (int64_t)doc.len;
	if (!desc->media_type) {
		oci_err_nomem(err);
		goto out;
	}
	desc->platform = oci_calloc(1, sizeof(oci_platform));
	if (!desc->platform) {
		oci_err_nomem(err);
		goto out;
	}
	desc->platform->os = oci_strdup(in->platform->os);
	desc->platform->architecture = oci_strdup(in->platform->architecture);
	if (in->platform->variant)
		desc->platform->variant = oci_strdup(in->platform->variant);
	if (!desc->platform->os || !desc->platform->architecture ||
	    (in->platform->variant && !desc->platform->variant)) {
		oci_err_nomem(err);
		goto out;
	}
	rc = oci_blobs_put(in->stage, doc.data, doc.len, desc->digest, in->durable, err);
out:
	oci_buf_release(&doc);
	return rc;
}

int oci_imgman_index(const char *stage, int durable, const oci_descriptor *const *v, size_t n,
		     const char *created, const ocibuild_strv *annotations, oci_descriptor *top,
		     ocibuild_error *err)
{
	oci_buf doc = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_index x;
	size_t i;
	int rc = -1;

	if (n == 1)
		return oci_descriptor_copy(top, v[0], err);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < n; i++)
		if (oci_index_add(&x, v[i], err) < 0)
			goto out;
	if (oci_map_set(&x.annotations, OCI_ANN_CREATED, created, err) < 0 ||
	    oci_imgcfg_set_kv(&x.annotations, annotations, err) < 0 ||
	    oci_index_serialize(&x, &doc, err) < 0)
		goto out;
	top->media_type = oci_strdup(OCI_MT_INDEX);
	top->size = (int64_t)doc.len;
	if (!top->media_type) {
		oci_err_nomem(err);
		goto out;
	}
	rc = oci_blobs_put(stage, doc.data, doc.len, top->digest, durable, err);
out:
	oci_index_release(&x);
	oci_buf_release(&doc);
	return rc;
}
