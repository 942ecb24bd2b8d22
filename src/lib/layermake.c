/* Making a build's layers: the layer cache first, then a --cache-from
 * image, then the tar and the compressor (layer.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blobstore.h"
#include "ctx.h"
#include "err.h"
#include "layercache.h"
#include "layermake.h"
#include "mem.h"
#include "banned.h"

static const char *human(uint64_t n, char *buf, size_t len)
{
	if (n >= 10u << 20)
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 10u << 10)
		snprintf(buf, len, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	return buf;
}

/* A layer from the cache, when its input has not changed. *hit says
 * whether it was; a cached blob that fails its digest is dropped (with the
 * entry) and the layer made again. */
static int layer_from_cache(oci_lmake *m, oci_lplan *p, const char *key, int *hit,
			    ocibuild_error *err)
{
	char *blob;

	*hit = 0;
	if (oci_lcache_get(m->lcache, key, &p->r, hit, err) < 0 || !*hit)
		return *hit ? 0 : err->kind == OCIBUILD_ERR_NONE ? 0 : -1;
	if (oci_blobs_import(m->stage, m->lcache, p->r.digest, p->r.size, m->durable, err) == 0) {
		oci_lcache_touch(m->lcache, p->r.digest);
		oci_log(m->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: from the cache", p->what,
			p->r.digest);
		return 0;
	}
	*hit = 0;
	if (err->kind == OCIBUILD_ERR_IO && err->code == ENOENT) {
		/* another build trimmed the cache under us: a miss */
		ocibuild_error_clear(err);
		oci_lcache_drop(m->lcache, key);
		return 0;
	}
	if (err->kind != OCIBUILD_ERR_DIGEST)
		return -1;
	blob = oci_blobs_path(m->lcache, p->r.digest);
	if (!blob)
		return oci_err_nomem(err);
	oci_log(m->ctx, OCIBUILD_LOG_WARN, "cache file '%s' is corrupt (%s): removed, making the layer again",
		blob, err->message);
	ocibuild_error_clear(err);
	unlink(blob);
	oci_free(blob);
	oci_lcache_drop(m->lcache, key);
	return 0;
}

/* A layer whose diff_id a --cache-from image has: its blob is reused from
 * there, nothing compressed. Downloaded only when an output on disk (or the
 * SBOM referrer, which reads the sbom layer) needs its bytes. */
static int layer_from_remote(oci_lmake *m, oci_lplan *p, const oci_layer_opts *lo,
			     const char *key, int *hit, ocibuild_error *err)
{
	const oci_cf_layer *l;
	char diff_id[OCI_DIGEST_LEN + 1];
	uint64_t tar_size;

	*hit = 0;
	if (!m->cf_open) {
		char *cache = oci_cache_dir(NULL);
		int rc;

		m->cf_open = 1;
		if (!cache)
			return oci_err_nomem(err);
		/* --no-cache: no layer from any cache unless one is named */
		rc = oci_cachefrom_open(m->ctx, m->net, m->cache_from, m->cf_push, m->tags,
					m->platforms, m->np, cache, &m->cf, err);
		oci_free(cache);
		if (rc < 0)
			return -1;
	}
	if (!m->cf.n)
		return 0;
	if (oci_cachefrom_diff_id(lo, p->v, p->n, diff_id, &tar_size, err) < 0)
		return -1;
	l = oci_cachefrom_find(&m->cf, diff_id, m->compression);
	if (!l)
		return 0;
	if ((m->fetch || (m->fetch_sbom && !strcmp(p->what, "sbom"))) &&
	    oci_cachefrom_fetch(m->ctx, &m->cf, l, m->stage, err) < 0)
		return -1;
	memcpy(p->r.digest, l->digest, sizeof(p->r.digest));
	memcpy(p->r.diff_id, diff_id, sizeof(p->r.diff_id));
	p->r.size = l->size;
	p->r.tar_size = tar_size;
	p->from = m->cf.names.v[l->src];
	m->cf.reused[l->src]++;
	*hit = 1;
	oci_log(m->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: reused from %s", p->what, p->r.digest,
		p->from);
	/* downloaded: the next build here finds it in the layer cache */
	if (m->lcache && oci_blobs_has(m->stage, l->digest) &&
	    oci_lcache_put(m->lcache, key, m->stage, &p->r, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		ocibuild_error_clear(err);
	}
	return 0;
}

static int build_layer(oci_lmake *m, oci_lplan *p, ocibuild_error *err)
{
	oci_layer_opts lo;
	char h1[32], h2[32], key[OCI_LCACHE_KEY_LEN + 1];
	int hit = 0;

	memset(&lo, 0, sizeof(lo));
	lo.root = p->root;
	lo.prefix = p->prefix;
	lo.prefix_mode = p->prefix_mode;
	lo.mtime = m->mtime;
	lo.compression = m->compression;
	lo.threads = oci_ctx_threads(m->ctx);
	lo.cancel = m->ctx->cancel;
	lo.cancel_userdata = m->ctx->cancel_userdata;
	if (m->lcache) {
		if (oci_lcache_key(m->ctx, m->lcache, &lo, p->v, p->n, key, err) < 0 ||
		    layer_from_cache(m, p, key, &hit, err) < 0)
			return -1;
		if (hit)
			return 0;
	}
	if (layer_from_remote(m, p, &lo, key, &hit, err) < 0)
		return -1;
	if (hit)
		return 0;
	if (oci_layer_build(&lo, p->v, p->n, m->stage, m->durable, &p->r, err) < 0)
		return -1;
	oci_log(m->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: %zu entries, %s tar, %s %s",
		p->what, p->r.digest, p->n, human(p->r.tar_size, h1, sizeof(h1)),
		human((uint64_t)p->r.size, h2, sizeof(h2)),
		m->compression == OCIBUILD_COMPRESS_NONE ? "uncompressed"
		: m->compression == OCIBUILD_COMPRESS_ZSTD ? "zstd" : "gzip");
	if (m->lcache && oci_lcache_put(m->lcache, key, m->stage, &p->r, err) < 0) {
		/* a cache that can not be written costs the next build time,
		 * not this one its result */
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		oci_log(m->ctx, OCIBUILD_LOG_WARN, "the layer cache '%s' is not usable (%s): going on without it",
			m->lcache, err->message);
		ocibuild_error_clear(err);
		oci_free(m->lcache);
		m->lcache = NULL;
	}
	return 0;
}

/* With --push, a layer in the stage goes up now, while the next are made
 * (one reused from a --cache-from image is mounted at the push instead). */
static int stream_layer(oci_lmake *m, const oci_lplan *p, ocibuild_error *err)
{
	if (!m->stream || p->from || !oci_blobs_has(m->stage, p->r.digest))
		return 0;
	return oci_push_stream_add(m->stream, p->r.digest, p->r.size, err);
}

int oci_lmake_layer(oci_lmake *m, oci_lplan *p, ocibuild_error *err)
{
	if (build_layer(m, p, err) < 0)
		return -1;
	return stream_layer(m, p, err);
}

int oci_lmake_trim(oci_lmake *m, ocibuild_error *err)
{
	uint64_t gone = 0;

	if (!m->lcache)
		return 0;
	if (oci_lcache_trim(m->lcache, m->cache_max, &gone, err) < 0)
		return -1;
	if (gone)
		oci_log(m->ctx, OCIBUILD_LOG_INFO,
			"cache: removed %llu bytes of least recently used blobs",
			(unsigned long long)gone);
	return 0;
}

void oci_lmake_log_reused(oci_lmake *m)
{
	size_t i;

	for (i = 0; i < m->cf.nsrc; i++)
		if (m->cf.reused[i])
			oci_log(m->ctx, OCIBUILD_LOG_INFO, "reused %zu layer%s from %s", m->cf.reused[i],
				m->cf.reused[i] == 1 ? "" : "s", m->cf.names.v[i]);
}

void oci_lmake_release(oci_lmake *m)
{
	oci_free(m->lcache);
	m->lcache = NULL;
	oci_cachefrom_release(&m->cf);
}
