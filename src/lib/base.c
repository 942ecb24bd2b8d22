#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "blobstore.h"
#include "layout.h"
#include "ref.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

/* "name1, name2" of the index entries, for error messages. */
static char *ref_names(const oci_index *x)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;

	for (i = 0; i < x->n; i++) {
		const char *n = oci_map_get(&x->manifests[i].annotations, OCI_ANN_REF_NAME);

		if (oci_buf_printf(&b, NULL, "%s%s", b.len ? ", " : "", n ? n : "(untagged)") < 0)
			break;
	}
	return oci_buf_detach(&b, NULL);
}


static int pick_from_layout(oci_base *b, const char *tag, oci_descriptor *out,
			    ocibuild_error *err)
{
	oci_index x;
	char *p = NULL;
	size_t i, found = (size_t)-1;
	int rc = -1;
	struct stat st;
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	if (oci_buf_printf(&path, err, "%s/index.json", b->layout_dir) < 0)
		return -1;
	if (stat(path.data, &st) < 0) {
		oci_buf_release(&path);
		return oci_err(err, OCIBUILD_ERR_INPUT, errno,
			       "base '%s' is not an OCI image layout (no index.json): pass --base oci:DIR[:TAG] with a directory made by ocibuild, skopeo or umoci",
			       b->layout_dir);
	}
	oci_buf_release(&path);
	if (oci_layout_read_index(b->layout_dir, &x, err) < 0)
		return -1;
	for (i = 0; i < x.n; i++) {
		const char *n = oci_map_get(&x.manifests[i].annotations, OCI_ANN_REF_NAME);

		if (tag ? (n && !strcmp(n, tag)) : 1) {
			if (found != (size_t)-1 && !tag) {
				p = ref_names(&x);
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"base layout '%s' holds %zu images: name one with --base oci:%s:TAG (it has: %s)",
					b->layout_dir, x.n, b->layout_dir, p ? p : "?");
				goto out;
			}
			found = i;
		}
	}
	if (found == (size_t)-1) {
		p = ref_names(&x);
		if (tag)
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"base layout '%s' has no image tagged '%s' (it has: %s)",
				b->layout_dir, tag, p && *p ? p : "nothing");
		else
			oci_err(err, OCIBUILD_ERR_INPUT, 0, "base layout '%s' is empty",
				b->layout_dir);
		goto out;
	}
	rc = oci_descriptor_copy(out, &x.manifests[found], err);
out:
	oci_free(p);
	oci_index_release(&x);
	return rc;
}

static int resolve_platform(oci_base *b, const oci_platform *want, oci_descriptor *d,
			    ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_index x;
	size_t i;
	int rc = -1;
	char *have = NULL, *w = NULL;

	if (oci_blobs_read(b->layout_dir, d->digest, OCI_MAX_MANIFEST, &raw, err) < 0)
		return -1;
	if (oci_index_parse(raw.data, raw.len, &x, err) < 0) {
		oci_buf_release(&raw);
		return -1;
	}
	oci_buf_release(&raw);
	for (i = 0; i < x.n; i++) {
		const oci_descriptor *m = &x.manifests[i];

		if (oci_media_type_kind(m->media_type) != OCI_MT_KIND_MANIFEST || !m->platform)
			continue;
		if (oci_platform_match(want, m->platform)) {
			oci_descriptor_release(d);
			rc = oci_descriptor_copy(d, m, err);
			goto out;
		}
	}
	have = oci_index_platforms(&x);
	w = oci_platform_string(want);
	oci_err(err, OCIBUILD_ERR_INPUT, 0,
		"base image has no %s variant (it offers: %s): choose one with --platform",
		w ? w : "?", have && *have ? have : "none");
out:
	oci_free(have);
	oci_free(w);
	oci_index_release(&x);
	return rc;
}

/* A base that is a single image (not an index) must be for the platform. */
static int platform_mismatch(const char *spec, const oci_platform *want,
			     const oci_image_config *cfg, ocibuild_error *err)
{
	char *h, *w;

	if (!cfg->platform.architecture || oci_platform_match(want, &cfg->platform))
		return 0;
	h = oci_platform_string(&cfg->platform);
	w = oci_platform_string(want);
	oci_err(err, OCIBUILD_ERR_INPUT, 0,
		"base '%s' is %s but the image is for %s: pass --platform %s or use a base for %s",
		spec, h ? h : "?", w ? w : "?", h ? h : "?", w ? w : "?");
	oci_free(h);
	oci_free(w);
	return -1;
}

/* The base's config: for the wanted platform, one diff_id per layer. */
static int check_config(const char *spec, const oci_platform *want, const char *json,
			size_t len, const oci_manifest *m, ocibuild_error *err)
{
	oci_image_config cfg;
	int rc = -1;

	if (oci_config_parse(json, len, &cfg, err) < 0)
		return -1;
	if (platform_mismatch(spec, want, &cfg, err) < 0)
		goto out;
	if (cfg.diff_ids.n != m->nlayers) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"base '%s' is inconsistent: %zu layers but %zu diff_ids in its config", spec,
			m->nlayers, cfg.diff_ids.n);
		goto out;
	}
	rc = 0;
out:
	oci_config_release(&cfg);
	return rc;
}

static int open_remote(ocibuild_ctx *ctx, const oci_net *net, const char *spec,
		       const oci_platform *want, int need_layers, oci_base *b,
		       ocibuild_error *err)
{
	oci_ref ref;
	oci_pulled p;
	int rc = -1;

	if (oci_ref_parse(spec, &ref, err) < 0) {
		oci_err_prefix(err, "bad --base");
		oci_err_as_option(err);
		return -1;
	}
	b->layout_dir = oci_cache_dir(NULL);
	b->name = oci_ref_string(&ref);
	b->repo = oci_strdup(ref.path);
	if (!b->layout_dir || !b->name || !b->repo) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_net_registry(ctx, net, ref.domain, 0, &b->reg, err) < 0 ||
	    oci_pull_resolve(b->reg, &ref, want, b->layout_dir, &p, err) < 0)
		goto out;
	memcpy(b->manifest_digest, p.digest, sizeof(p.digest));
	b->manifest = p.manifest;
	memset(&p.manifest, 0, sizeof(p.manifest));
	b->config_json = p.config_json;
	b->config_len = p.config_len;
	p.config_json = NULL;
	oci_pulled_release(&p);
	if (check_config(spec, want, b->config_json, b->config_len, &b->manifest, err) < 0)
		goto out;
	if (need_layers) {
		if (oci_pull_layers(b->reg, b->repo, &b->manifest, b->layout_dir, net->jobs, err) < 0)
			goto out;
		b->layers_local = 1;
	}
	rc = 0;
out:
	oci_ref_release(&ref);
	return rc;
}

int oci_base_open(ocibuild_ctx *ctx, const oci_net *net, const char *spec,
		  const oci_platform *want, int need_layers, oci_base *b, ocibuild_error *err)
{
	oci_descriptor d;
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_CONFIG);
	const char *rest, *colon;
	char *tag = NULL;
	int rc = -1, depth;

	memset(b, 0, sizeof(*b));
	memset(&d, 0, sizeof(d));
	if (!spec || !strcmp(spec, "scratch")) {
		b->scratch = 1;
		return 0;
	}
	if (strncmp(spec, "oci:", 4) != 0) {
		rc = open_remote(ctx, net, spec, want, need_layers, b, err);
		if (rc < 0)
			oci_base_release(b);
		return rc;
	}
	if (!spec[4])
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad --base 'oci:': use oci:DIR[:TAG] for an OCI layout on disk");
	b->layers_local = 1;
	rest = spec + 4;
	colon = strchr(rest, ':');
	b->layout_dir = colon ? oci_strndup(rest, (size_t)(colon - rest)) : oci_strdup(rest);
	if (colon)
		tag = oci_strdup(colon + 1);
	if (!b->layout_dir || (colon && !tag)) {
		oci_err_nomem(err);
		goto out;
	}
	if (pick_from_layout(b, tag, &d, err) < 0)
		goto out;
	for (depth = 0; oci_media_type_kind(d.media_type) == OCI_MT_KIND_INDEX; depth++) {
		if (depth > 2) {
			oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
				"base '%s': image indexes nested too deep", spec);
			goto out;
		}
		if (resolve_platform(b, want, &d, err) < 0)
			goto out;
	}
	if (oci_media_type_kind(d.media_type) != OCI_MT_KIND_MANIFEST) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			"base '%s' points at '%s', not an image manifest", spec, d.media_type);
		goto out;
	}
	{
		const char *n = oci_map_get(&d.annotations, OCI_ANN_REF_NAME);

		b->name = oci_strdup(tag ? tag : n ? n : spec);
		if (!b->name) {
			oci_err_nomem(err);
			goto out;
		}
	}
	memcpy(b->manifest_digest, d.digest, sizeof(d.digest));
	if (oci_blobs_read(b->layout_dir, d.digest, OCI_MAX_MANIFEST, &raw, err) < 0 ||
	    oci_manifest_parse(raw.data, raw.len, &b->manifest, err) < 0)
		goto out;
	if (oci_blobs_read(b->layout_dir, b->manifest.config.digest, OCI_MAX_CONFIG, &raw,
			   err) < 0)
		goto out;
	if (check_config(spec, want, raw.data, raw.len, &b->manifest, err) < 0)
		goto out;
	b->config_json = oci_buf_detach(&raw, &b->config_len);
	rc = b->config_json ? 0 : oci_err_nomem(err);
out:
	oci_buf_release(&raw);
	oci_descriptor_release(&d);
	oci_free(tag);
	if (rc < 0)
		oci_base_release(b);
	return rc;
}

void oci_base_release(oci_base *b)
{
	oci_reg_release(b->reg);
	oci_free(b->repo);
	oci_free(b->layout_dir);
	oci_free(b->name);
	oci_manifest_release(&b->manifest);
	oci_free(b->config_json);
	memset(b, 0, sizeof(*b));
}
