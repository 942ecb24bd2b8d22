/* --cache-from: the layers of images already in a registry, by diff_id,
 * so that a build on an empty disk compresses and uploads only the layers
 * that changed. Reading a cache reference is best effort: whatever goes
 * wrong (other than an interrupt or memory) is logged and the build goes
 * on without that reference. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cachefrom.h"
#include "blobstore.h"
#include "ctx.h"
#include "distribute.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

/* Hashing needs somewhere to send the tar: nowhere. */
static int null_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	(void)s;
	(void)data;
	(void)len;
	(void)err;
	return 0;
}

int oci_cachefrom_diff_id(const oci_layer_opts *o, const oci_walk_entry *const *entries,
			  size_t n, char *diff_id, uint64_t *tar_size, ocibuild_error *err)
{
	oci_sink null = { null_write };
	oci_hash_sink h;
	int rc;

	if (oci_hash_sink_init(&h, &null, err) < 0)
		return -1;
	rc = oci_layer_tar(o, entries, n, &h.base, err);
	if (rc == 0) {
		oci_hash_sink_final(&h, diff_id);
		if (tar_size)
			*tar_size = h.count;
	}
	oci_hash_sink_release(&h);
	return rc;
}

/* Same bytes for the compression asked for: Docker's gzip type is gzip. */
static int type_fits(const char *mt, ocibuild_compression c)
{
	if (!mt)
		return 0;
	if (!strcmp(mt, oci_layer_media_type(c)))
		return 1;
	return c == OCIBUILD_COMPRESS_GZIP && !strcmp(mt, OCI_MT_DOCKER_LAYER);
}

const oci_cf_layer *oci_cachefrom_find(const oci_cachefrom *cf, const char *diff_id,
				       ocibuild_compression c)
{
	size_t i;

	for (i = 0; i < cf->n; i++)
		if (!strcmp(cf->v[i].diff_id, diff_id) && type_fits(cf->v[i].media_type, c))
			return &cf->v[i];
	return NULL;
}

const oci_cf_layer *oci_cachefrom_made_as(const oci_cachefrom *cf, const char *what,
					  ocibuild_compression c)
{
	static const char pre[] = "ocibuild build: ";
	size_t i, wl = strlen(what);

	for (i = 0; i < cf->n; i++) {
		const char *b = cf->v[i].made_by;

		if (b && !strncmp(b, pre, sizeof(pre) - 1) && !strncmp(b + sizeof(pre) - 1, what, wl) &&
		    !strncmp(b + sizeof(pre) - 1 + wl, " layer in ", 10) &&
		    type_fits(cf->v[i].media_type, c))
			return &cf->v[i];
	}
	return NULL;
}

int oci_cachefrom_fetch(ocibuild_ctx *ctx, const oci_cachefrom *cf, const oci_cf_layer *l,
			const char *store, ocibuild_error *err)
{
	const oci_blob_source *s = &cf->src[l->src];
	oci_http *h = NULL;
	int rc;

	if (oci_reg_http(s->reg, &h, err) < 0)
		return -1;
	rc = oci_reg_get_blob(s->reg, h, s->repo, l->digest, l->size, store, err);
	oci_http_release(h);
	if (rc == 0)
		oci_progress(ctx, OCIBUILD_EV_BLOB_DOWNLOADED, l->digest, l->size,
			     (uint64_t)l->size, NULL);
	return rc;
}

void oci_cachefrom_release(oci_cachefrom *cf)
{
	size_t i;

	for (i = 0; i < cf->nsrc; i++) {
		oci_reg_release(cf->src[i].reg);
		oci_free((char *)cf->src[i].repo);
		oci_strlist_release(&cf->blobs[i]);
	}
	for (i = 0; i < cf->n; i++) {
		oci_free(cf->v[i].media_type);
		oci_free(cf->v[i].made_by);
	}
	oci_free(cf->src);
	oci_free(cf->blobs);
	oci_free(cf->reused);
	oci_free(cf->v);
	oci_strlist_release(&cf->names);
	oci_strlist_release(&cf->notes);
	memset(cf, 0, sizeof(*cf));
}

/* A line for the log, kept until oci_cachefrom_tell (the images may be
 * read on another thread than the one whose log order counts); the first
 * character is the level. Lost when out of memory, as a log line is not
 * worth failing for. */
static void note(oci_cachefrom *cf, ocibuild_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(oci_cachefrom *cf, ocibuild_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	line[0] = (char)('0' + level);
	va_start(ap, fmt);
	vsnprintf(line + 1, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (oci_strlist_push(&cf->notes, line, NULL) < 0)
		return; /* lost */
}

void oci_cachefrom_tell(ocibuild_ctx *ctx, oci_cachefrom *cf)
{
	size_t i;

	for (i = 0; i < cf->notes.n; i++)
		oci_log(ctx, (ocibuild_log_level)(cf->notes.v[i][0] - '0'), "%s", cf->notes.v[i] + 1);
	oci_strlist_release(&cf->notes);
}

/* Grow the per-source arrays by one (zeroed); -1 when out of memory. */
static int add_source(oci_cachefrom *cf, ocibuild_error *err)
{
	oci_blob_source *s = oci_reallocarray(cf->src, cf->nsrc + 1, sizeof(*s));
	oci_strlist *b;
	size_t *r, i;

	if (!s)
		return oci_err_nomem(err);
	cf->src = s;
	b = oci_reallocarray(cf->blobs, cf->nsrc + 1, sizeof(*b));
	if (!b)
		return oci_err_nomem(err);
	/* the sources point into blobs, which may have moved */
	for (i = 0; i < cf->nsrc; i++)
		cf->src[i].blobs = &b[i];
	cf->blobs = b;
	r = oci_reallocarray(cf->reused, cf->nsrc + 1, sizeof(*r));
	if (!r)
		return oci_err_nomem(err);
	cf->reused = r;
	memset(&cf->src[cf->nsrc], 0, sizeof(*cf->src));
	memset(&cf->blobs[cf->nsrc], 0, sizeof(*cf->blobs));
	cf->src[cf->nsrc].blobs = &cf->blobs[cf->nsrc];
	cf->reused[cf->nsrc] = 0;
	cf->nsrc++;
	return 0;
}

/* The layers of one resolved manifest of source `si`. 0, or -1 (err) when
 * out of memory; a config that does not match its manifest is left out. */
static int add_layers(oci_cachefrom *cf, size_t si, const char *name,
		      const oci_pulled *p, ocibuild_error *err)
{
	oci_image_config c;
	const char **made_by = NULL;
	size_t i, k, nh = 0;
	int rc = 0;

	if (oci_config_parse(p->config_json, p->config_len, &c, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		note(cf, OCIBUILD_LOG_WARN, "cache ref '%s': its config can not be read (%s): building without it",
			name, err->message);
		ocibuild_error_clear(err);
		return 0;
	}
	if (c.diff_ids.n != p->manifest.nlayers) {
		note(cf, OCIBUILD_LOG_WARN, "cache ref '%s': its config lists %zu layers but its manifest %zu: building without it",
			name, c.diff_ids.n, p->manifest.nlayers);
		goto out;
	}
	/* the history entries that are not empty layers name the layers,
	 * in order, when there are as many of them */
	made_by = oci_calloc(p->manifest.nlayers + 1, sizeof(*made_by));
	if (!made_by) {
		rc = oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < c.nhistory && nh <= p->manifest.nlayers; i++)
		if (!c.history[i].empty_layer)
			made_by[nh++] = c.history[i].created_by;
	if (nh != p->manifest.nlayers)
		memset(made_by, 0, (p->manifest.nlayers + 1) * sizeof(*made_by));
	for (i = 0; i < p->manifest.nlayers && rc == 0; i++) {
		const oci_descriptor *d = &p->manifest.layers[i];
		const char *id = c.diff_ids.v[i];
		oci_cf_layer *v, *l;

		if (strlen(id) != OCI_DIGEST_LEN || strlen(d->digest) != OCI_DIGEST_LEN)
			continue;
		for (k = 0; k < cf->n; k++)
			if (!strcmp(cf->v[k].diff_id, id) && !strcmp(cf->v[k].digest, d->digest))
				break;
		if (k < cf->n)
			continue;
		v = oci_reallocarray(cf->v, cf->n + 1, sizeof(*v));
		if (!v) {
			rc = oci_err_nomem(err);
			break;
		}
		cf->v = v;
		l = &v[cf->n];
		memset(l, 0, sizeof(*l));
		memcpy(l->diff_id, id, OCI_DIGEST_LEN + 1);
		memcpy(l->digest, d->digest, OCI_DIGEST_LEN + 1);
		l->size = d->size;
		l->src = si;
		l->media_type = oci_strdup(d->media_type ? d->media_type : "");
		l->made_by = made_by[i] ? oci_strdup(made_by[i]) : NULL;
		if (!l->media_type || (made_by[i] && !l->made_by)) {
			cf->n++; /* released with the others */
			rc = oci_err_nomem(err);
			break;
		}
		cf->n++;
		if (!oci_strlist_has(&cf->blobs[si], d->digest))
			rc = oci_strlist_push(&cf->blobs[si], d->digest, err);
	}
out:
	oci_free(made_by);
	oci_config_release(&c);
	return rc;
}

/* 1: the error ends the build (interrupt, memory); 0: log it, go on. */
static int fatal(const ocibuild_error *err)
{
	return err->kind == OCIBUILD_ERR_CANCELLED || err->kind == OCIBUILD_ERR_NOMEM;
}

/* One cache reference, every platform. */
static int open_one(ocibuild_ctx *ctx, const oci_net *net, oci_registry *known,
		    const char *name, const oci_platform *plats, size_t np, const char *cache,
		    oci_cachefrom *cf, ocibuild_error *err)
{
	oci_net cnet = *net;
	oci_ref r;
	oci_registry *reg = NULL;
	size_t k, si, before = cf->n;
	int rc = -1;

	/* a cache that does not answer at once is built without */
	cnet.no_retry = 1;
	if (oci_ref_parse(name, &r, err) < 0) {
		oci_err_as_option(err);
		return -1;
	}
	if (oci_net_registry(ctx, &cnet, r.domain, 0, &reg, err) < 0) {
		if (fatal(err))
			goto out;
		note(cf, OCIBUILD_LOG_WARN, "cache ref '%s' can not be used (%s): building without it",
			name, err->message);
		ocibuild_error_clear(err);
		rc = 0;
		goto out;
	}
	if (known)
		oci_reg_scheme_from(reg, known);
	if (add_source(cf, err) < 0)
		goto out;
	si = cf->nsrc - 1;
	cf->src[si].reg = reg;
	reg = NULL;
	cf->src[si].repo = oci_strdup(r.path);
	if (!cf->src[si].repo || oci_strlist_push(&cf->names, name, err) < 0) {
		oci_err_nomem(err);
		goto out;
	}
	for (k = 0; k < np; k++) {
		oci_pulled p;
		char *ps;

		if (oci_ctx_cancelled(ctx, err) < 0)
			goto out;
		if (oci_pull_resolve(cf->src[si].reg, &r, &plats[k], cache, &p, err) == 0) {
			int a = add_layers(cf, si, name, &p, err);

			oci_pulled_release(&p);
			if (a < 0)
				goto out;
			continue;
		}
		if (fatal(err))
			goto out;
		if (err->kind == OCIBUILD_ERR_INPUT && err->code == 404) {
			note(cf, OCIBUILD_LOG_INFO, "cache ref '%s' does not exist yet: building without it",
				name);
			ocibuild_error_clear(err);
			break;
		}
		ps = oci_platform_string(&plats[k]);
		note(cf, OCIBUILD_LOG_WARN, "cache ref '%s' can not be used for %s (%s): building without it",
			name, ps ? ps : "this platform", err->message);
		oci_free(ps);
		/* a platform the image lacks does not spoil the others; an
		 * unreachable or refusing registry is not asked again */
		if (err->kind != OCIBUILD_ERR_INPUT && err->kind != OCIBUILD_ERR_UNSUPPORTED) {
			ocibuild_error_clear(err);
			break;
		}
		ocibuild_error_clear(err);
	}
	if (cf->n > before)
		note(cf, OCIBUILD_LOG_INFO, "cache ref '%s': %zu layers", name, cf->n - before);
	rc = 0;
out:
	oci_reg_release(reg);
	oci_ref_release(&r);
	return rc;
}

int oci_cachefrom_open(ocibuild_ctx *ctx, const oci_net *net, oci_registry *known,
		       const ocibuild_strv *refs, const char *push, const oci_strlist *tags,
		       const oci_platform *plats, size_t np, const char *cache, oci_cachefrom *cf,
		       ocibuild_error *err)
{
	oci_strlist names = { 0 };
	size_t i;
	int rc = -1;

	memset(cf, 0, sizeof(*cf));
	for (i = 0; refs && i < refs->count; i++)
		if (!oci_strlist_has(&names, refs->items[i]) &&
		    oci_strlist_push(&names, refs->items[i], err) < 0)
			goto out;
	/* by default, what this build replaces: each tag where it is pushed */
	for (i = 0; !names.n && push && tags && i < tags->n; i++) {
		char *domain, *repo, *tag;
		oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
		int r;

		if (oci_push_target(push, tags->v[i], &domain, &repo, &tag, err) < 0)
			goto out;
		r = oci_buf_printf(&b, err, "%s/%s:%s", domain, repo, tag);
		oci_free(domain);
		oci_free(repo);
		oci_free(tag);
		if (r == 0 && !oci_strlist_has(&names, b.data))
			r = oci_strlist_push(&names, b.data, err);
		oci_buf_release(&b);
		if (r < 0)
			goto out;
	}
	for (i = 0; i < names.n; i++)
		if (open_one(ctx, net, known, names.v[i], plats, np, cache, cf, err) < 0)
			goto out;
	rc = 0;
out:
	oci_strlist_release(&names);
	if (rc < 0)
		oci_cachefrom_release(cf);
	return rc;
}
