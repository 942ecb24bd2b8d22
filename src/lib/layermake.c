/* Making a build's layers: the layer cache first, then a --cache-from
 * image, then the tar and the compressor (layer.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "blobstore.h"
#include "ctx.h"
#include "err.h"
#include "layercache.h"
#include "layermake.h"
#include "layout.h"
#include "mem.h"
#include "par.h"
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

/* The per-layer passes that only read the input (the layer cache key, the
 * diff_id for --cache-from) run side by side, one layer per thread: each
 * is a single sequential read, and the layers are independent. Everything
 * that logs, emits events or writes stays in layer order afterwards. */
struct lm_each {
	oci_lmake *m;
	oci_lplan *const *v;
	const size_t *idx;   /* the layers to do, by index into v */
	size_t n;
	int (*fn)(struct lm_each *e, size_t i, ocibuild_error *err);
	char (*keys)[OCI_LCACHE_KEY_LEN + 1];
	unsigned char *have_key;
	oci_lcache_stats *kstats;
	char (*ids)[OCI_DIGEST_LEN + 1];
	uint64_t *tar_sizes;
	ocibuild_error *errs; /* one per entry of idx */
};

static void layer_opts(const oci_lmake *m, const oci_lplan *p, oci_layer_opts *lo)
{
	memset(lo, 0, sizeof(*lo));
	lo->root = p->root;
	lo->prefix = p->prefix;
	lo->prefix_mode = p->prefix_mode;
	lo->mtime = m->mtime;
	lo->compression = m->compression;
	lo->threads = oci_ctx_threads(m->ctx);
	lo->cancel = m->ctx->cancel;
	lo->cancel_userdata = m->ctx->cancel_userdata;
}

static int key_one(struct lm_each *e, size_t i, ocibuild_error *err)
{
	oci_layer_opts lo;

	layer_opts(e->m, e->v[i], &lo);
	if (oci_lcache_key(e->m->lcache, &lo, e->v[i]->v, e->v[i]->n, e->keys[i], &e->kstats[i],
			   err) < 0)
		return -1;
	e->have_key[i] = 1;
	return 0;
}

/* Keys are made side by side; what each cost is told in layer order. */
static void tell_key(ocibuild_ctx *ctx, const char *what, const oci_lcache_stats *st)
{
	if (st->files)
		oci_log(ctx, OCIBUILD_LOG_INFO,
			"%s layer: cache key: %zu of %zu files read and hashed, the others unchanged since last hashed",
			what, st->read, st->files);
}

static void log_key(const struct lm_each *e, size_t i)
{
	tell_key(e->m->ctx, e->v[i]->what, &e->kstats[i]);
}

/* A write to the layer cache failed: that costs the next build time, not
 * this one its result. */
static void tell_cache_unusable(ocibuild_ctx *ctx, const char *lcache, const char *why)
{
	oci_log(ctx, OCIBUILD_LOG_WARN, "the layer cache '%s' is not usable (%s): going on without it",
		lcache, why);
}

/* Put a made layer in the layer cache: its blob under key and, when slot is
 * not NULL (gzip), the record of its members for that slot. */
static int cache_put(const char *lcache, const char *key, const char *stage,
		     const oci_layer_result *r, const char *slot, const oci_gz_member *made,
		     size_t nmade, ocibuild_error *err)
{
	if (oci_lcache_put(lcache, key, stage, r, err) < 0)
		return -1;
	return slot ? oci_lcache_members_put(lcache, slot, r->digest, made, nmade, err) : 0;
}

/* The layer cache key of layer i, computed now if the lookups were skipped
 * (an empty cache): only a layer that goes into the cache needs one. */
static const char *key_of(struct lm_each *e, size_t i, ocibuild_error *err)
{
	if (!e->have_key[i]) {
		if (key_one(e, i, err) < 0)
			return NULL;
		log_key(e, i);
	}
	return e->keys[i];
}

/* A layer from the cache, when its input has not changed. *hit says
 * whether it was; a cached blob that fails its digest is dropped (with the
 * entry) and the layer made again. */
static int layer_from_cache(oci_lmake *m, oci_lplan *p, const char *key, int *hit,
			    ocibuild_error *err)
{
	char *blob;
	int checked;

	*hit = 0;
	if (oci_lcache_get(m->lcache, key, &p->r, hit, &checked, err) < 0 || !*hit)
		return *hit ? 0 : err->kind == OCIBUILD_ERR_NONE ? 0 : -1;
	if (oci_lcache_take(m->lcache, key, &p->r, checked, m->stage, m->durable, err) == 0) {
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

/* A layer whose diff_id (computed beforehand, no compression) a
 * --cache-from image has: its blob is reused from there. Downloaded only
 * when an output on disk (or the SBOM referrer, which reads the sbom layer)
 * needs its bytes. */
static int layer_from_remote(struct lm_each *e, size_t i, int *hit, ocibuild_error *err)
{
	oci_lmake *m = e->m;
	oci_lplan *p = e->v[i];
	const char *diff_id = e->ids[i], *key;
	const oci_cf_layer *l;

	*hit = 0;
	l = oci_cachefrom_find(&m->cf, diff_id, m->compression);
	if (!l)
		return 0;
	if ((m->fetch || (m->fetch_sbom && !strcmp(p->what, "sbom"))) &&
	    oci_cachefrom_fetch(m->ctx, &m->cf, l, m->stage, err) < 0)
		return -1;
	memcpy(p->r.digest, l->digest, sizeof(p->r.digest));
	memcpy(p->r.diff_id, diff_id, sizeof(p->r.diff_id));
	p->r.size = l->size;
	p->r.tar_size = e->tar_sizes[i];
	p->from = m->cf.names.v[l->src];
	m->cf.reused[l->src]++;
	*hit = 1;
	oci_log(m->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: reused from %s", p->what, p->r.digest,
		p->from);
	/* mounted while the other layers are made */
	if (m->stream && oci_push_stream_add_from(m->stream, l->digest, l->size, &m->cf.src[l->src],
						  err) < 0)
		return -1;
	/* downloaded: the next build here finds it in the layer cache */
	if (!m->lcache || !oci_blobs_has(m->stage, l->digest))
		return 0;
	if (!(key = key_of(e, i, err)) || oci_lcache_put(m->lcache, key, m->stage, &p->r, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		ocibuild_error_clear(err);
	}
	return 0;
}

/* The gzip members of the blob the cache holds from this layer's last
 * build, when that blob is still there and as long as they say: into mb
 * (fd -1 and nothing when there is none). Only out of memory fails. */
static int old_members(const oci_lmake *m, const oci_lplan *p, const char *slot,
		       oci_layer_members *mb, oci_gz_member **old, ocibuild_error *err)
{
	char digest[OCI_DIGEST_LEN + 1], *path;
	uint64_t total = 0;
	struct stat st;
	size_t n, k;
	int rc;

	mb->fd = -1;
	rc = oci_lcache_members_get(m->lcache, slot, digest, old, &n, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* none here: the cache image's blob of the same role, if
		 * oci_lmake_fetch_members found its members */
		if (!m->rm.n || strcmp(p->what, m->rm.what))
			return 0;
		*old = oci_reallocarray(NULL, m->rm.n, sizeof(**old));
		if (!*old)
			return oci_err_nomem(err);
		memcpy(*old, m->rm.v, m->rm.n * sizeof(**old));
		memcpy(digest, m->rm.digest, sizeof(digest));
		n = m->rm.n;
	}
	path = oci_blobs_path(m->lcache, digest);
	if (!path)
		return oci_err_nomem(err);
	mb->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	oci_free(path);
	for (k = 0; k < n; k++)
		total += (*old)[k].len;
	if (mb->fd < 0 || fstat(mb->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != total) {
		/* evicted, or not the blob the record describes */
		if (mb->fd >= 0)
			close(mb->fd);
		mb->fd = -1;
		oci_free(*old);
		*old = NULL;
		return 0;
	}
	mb->old = *old;
	mb->nold = n;
	return 0;
}

static void feed_grew(void *ud, int fd, uint64_t written)
{
	oci_push_feed_grew(ud, fd, written);
}

/* A layer made whose cache key no lookup needed (an empty cache): the key
 * (a read of every file) is computed and the layer put in the cache on a
 * thread of its own, while the build goes on (the upload, the next
 * layers); oci_lmake_finish waits and tells what the key cost. */
struct lm_later {
	struct lm_later *next;
	pthread_t th;
	int started;
	const oci_lplan *p;
	char *lcache;        /* a copy: the build may let go of its own */
	const char *stage;
	oci_layer_opts lo;
	oci_layer_result r;
	char slot[17];
	oci_gz_member *made; /* NULL: not gzip */
	size_t nmade;
	oci_lcache_stats st;
	int rc;
	ocibuild_error err;
};

static void *later_main(void *ud)
{
	struct lm_later *l = ud;
	char key[OCI_LCACHE_KEY_LEN + 1];

	l->rc = oci_lcache_key(l->lcache, &l->lo, l->p->v, l->p->n, key, &l->st, &l->err);
	if (l->rc == 0)
		l->rc = cache_put(l->lcache, key, l->stage, &l->r, l->made ? l->slot : NULL, l->made,
				  l->nmade, &l->err);
	return NULL;
}

/* Hand the cache write of layer p over to a thread (made: its members,
 * taken). 0, or -1 when out of memory; a thread that can not be started
 * does it here. */
static int put_later(oci_lmake *m, const oci_lplan *p, const oci_layer_opts *lo,
		     const char *slot, oci_gz_member **made, size_t nmade, ocibuild_error *err)
{
	struct lm_later *l = oci_calloc(1, sizeof(*l));

	if (!l || !(l->lcache = oci_strdup(m->lcache))) {
		oci_free(l);
		return oci_err_nomem(err);
	}
	l->p = p;
	l->stage = m->stage;
	l->lo = *lo;
	l->lo.members = NULL;
	l->r = p->r;
	memcpy(l->slot, slot, sizeof(l->slot));
	l->made = *made;
	l->nmade = nmade;
	*made = NULL;
	l->next = m->later;
	m->later = l;
	if (pthread_create(&l->th, NULL, later_main, l) == 0)
		l->started = 1;
	else
		later_main(l);
	return 0;
}

/* Wait for the deferred cache writes; with tell, say in layer order (the
 * list is newest first) what each key cost and whether the cache took it.
 * A write that failed, even for want of memory, costs the next build
 * time, not this one its result. */
static void later_join(oci_lmake *m, int tell)
{
	struct lm_later *l, *rev = NULL;
	int warned = 0;

	while ((l = m->later)) {
		m->later = l->next;
		if (l->started)
			pthread_join(l->th, NULL);
		l->next = rev;
		rev = l;
	}
	while ((l = rev)) {
		rev = l->next;
		if (tell && l->rc == 0)
			tell_key(m->ctx, l->p->what, &l->st);
		if (tell && l->rc < 0 && !warned++)
			tell_cache_unusable(m->ctx, l->lcache, l->err.message);
		ocibuild_error_clear(&l->err);
		oci_free(l->lcache);
		oci_free(l->made);
		oci_free(l);
	}
}

/* Whether layer p goes straight into the archive: the front one, with no
 * layer cache or upload to read it from the stage, small enough that its
 * size can not change the length of its tar header. */
static int into_archive(const oci_lmake *m, const oci_lplan *p, const oci_push_feed *feed)
{
	uint64_t tar = 0;
	size_t i;

	if (p != m->front || !m->front_path || m->lcache || m->stream || feed)
		return 0;
	for (i = 0; i < p->n; i++)
		tar += p->v[i]->size + 2 * 512;
	return tar < (4ULL << 30) && oci_archive_front_fits(m->mtime, tar + tar / 64 + (1 << 20));
}

static int make_in_archive(oci_lmake *m, oci_lplan *p, const oci_layer_opts *o,
			   ocibuild_error *err)
{
	oci_layer_opts lo = *o;

	lo.write_behind = 1; /* the archive is fsynced */
	if (lseek(m->front_fd, OCI_ARCHIVE_FRONT_AT, SEEK_SET) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", m->front_path,
				     strerror(errno));
	if (oci_layer_to_fd(&lo, p->v, p->n, m->front_fd, m->front_path, &p->r, err) < 0)
		return -1;
	m->front_made = 1;
	return 0;
}

/* Compressed into the stage: the layer nothing had. With the layer cache
 * and gzip, the blocks that did not change since the layer's last build
 * are taken from its blob there. When --cache-from images were read and
 * none had it, the layer is new to the repository: its upload starts
 * with its first bytes. */
static int make_layer(struct lm_each *e, size_t i, ocibuild_error *err)
{
	oci_lmake *m = e->m;
	oci_lplan *p = e->v[i];
	const char *key = NULL;
	oci_layer_opts lo;
	oci_layer_members mb;
	oci_gz_member *old = NULL;
	oci_push_feed *feed = NULL;
	char h1[32], h2[32], slot[17] = "", said[64] = "";
	int rc = -1, gz = m->compression == OCIBUILD_COMPRESS_GZIP, later;

	memset(&mb, 0, sizeof(mb));
	mb.fd = -1;
	later = m->lcache && !e->have_key[i];
	if (m->lcache && !later && !(key = key_of(e, i, err)))
		return -1;
	layer_opts(m, p, &lo);
	if (m->lcache && gz) {
		oci_lcache_slot(p->root, p->prefix, p->what, p->n ? p->v[0]->rel : NULL, slot);
		if (old_members(m, p, slot, &mb, &old, err) < 0)
			goto out;
		lo.members = &mb;
	}
	if (m->stream && m->cf.n && oci_push_stream_feed(m->stream, &feed, err) < 0)
		goto out;
	if (feed) {
		lo.grew = feed_grew;
		lo.grew_userdata = feed;
	}
	if (into_archive(m, p, feed))
		rc = make_in_archive(m, p, &lo, err);
	else
		rc = oci_layer_build(&lo, p->v, p->n, m->stage, m->durable, &p->r, err);
	if (feed)
		oci_push_feed_end(feed, rc == 0 ? p->r.digest : NULL, p->r.size);
	if (rc < 0)
		goto out;
	rc = -1;
	if (mb.nold)
		snprintf(said, sizeof(said), ", %zu of %zu gzip blocks reused", mb.reused, mb.nmade);
	oci_log(m->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: %zu entries, %s tar, %s %s%s",
		p->what, p->r.digest, p->n, human(p->r.tar_size, h1, sizeof(h1)),
		human((uint64_t)p->r.size, h2, sizeof(h2)),
		m->compression == OCIBUILD_COMPRESS_NONE ? "uncompressed"
		: m->compression == OCIBUILD_COMPRESS_ZSTD ? "zstd" : "gzip", said);
	if (later) {
		if (put_later(m, p, &lo, slot, &mb.made, mb.nmade, err) < 0)
			goto out;
	} else if (m->lcache && cache_put(m->lcache, key, m->stage, &p->r, gz ? slot : NULL,
					   mb.made, mb.nmade, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			goto out;
		tell_cache_unusable(m->ctx, m->lcache, err->message);
		ocibuild_error_clear(err);
		oci_free(m->lcache);
		m->lcache = NULL;
	}
	rc = 0;
out:
	if (mb.fd >= 0)
		close(mb.fd);
	oci_free(old);
	oci_free(mb.made);
	return rc;
}

/* With --push, a layer in the stage goes up now, while the next are made
 * (one reused from a --cache-from image is mounted at the push instead). */
static int stream_layer(oci_lmake *m, const oci_lplan *p, ocibuild_error *err)
{
	if (!m->stream || p->from || !oci_blobs_has(m->stage, p->r.digest))
		return 0;
	return oci_push_stream_add(m->stream, p->r.digest, p->r.size, err);
}

static int each_one(void *ud, size_t k)
{
	struct lm_each *e = ud;

	return e->fn(e, e->idx[k], &e->errs[k]);
}

/* fn for each of e->idx on up to the context's threads (at most 16).
 * Fails with the error of the first layer (in layer order) that failed, so
 * that what is reported does not depend on the thread count: oci_par_for
 * takes the layers in order, so every layer before a failed one was
 * done. */
static int each_layer(struct lm_each *e, ocibuild_error *err)
{
	int jobs = oci_ctx_threads(e->m->ctx);
	size_t k;
	int rc = 0;

	if (!e->n)
		return 0;
	e->errs = oci_calloc(e->n, sizeof(*e->errs));
	if (!e->errs)
		return oci_err_nomem(err);
	oci_par_for(e->n, jobs > 16 ? 16 : jobs, each_one, e);
	for (k = 0; k < e->n; k++) {
		if (e->errs[k].kind == OCIBUILD_ERR_NONE)
			continue;
		if (rc == 0) {
			ocibuild_error_clear(err);
			*err = e->errs[k];
			rc = -1;
		} else {
			ocibuild_error_clear(&e->errs[k]);
		}
	}
	oci_free(e->errs);
	e->errs = NULL;
	return rc;
}

static int diff_id_one(struct lm_each *e, size_t i, ocibuild_error *err)
{
	oci_layer_opts lo;

	layer_opts(e->m, e->v[i], &lo);
	return oci_cachefrom_diff_id(&lo, e->v[i]->v, e->v[i]->n, e->ids[i], &e->tar_sizes[i],
				     err);
}

int oci_lmake_fetch_members(oci_lmake *m, ocibuild_error *err)
{
	const oci_cf_layer *l;
	struct stat st;
	char *path;
	int fd, rc = 0;

	if (!m->lcache || m->compression != OCIBUILD_COMPRESS_GZIP)
		return 0;
	l = oci_cachefrom_made_as(&m->cf, OCI_LMAKE_CHANGED_ROLE, m->compression);
	if (!l || l->size > OCI_LMAKE_FETCH_MAX)
		return 0;
	if (oci_blobs_prepare(m->lcache, err) < 0 ||
	    (!oci_blobs_has(m->lcache, l->digest) &&
	     oci_cachefrom_fetch(m->ctx, &m->cf, l, m->lcache, err) < 0))
		goto failed;
	if (!(path = oci_blobs_path(m->lcache, l->digest)))
		return oci_err_nomem(err);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	oci_free(path);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		rc = oci_gz_scan_members(fd, (uint64_t)st.st_size, &m->rm.v, &m->rm.n, err);
	close(fd);
	if (rc < 0)
		goto failed;
	memcpy(m->rm.digest, l->digest, sizeof(m->rm.digest));
	snprintf(m->rm.what, sizeof(m->rm.what), "%s", OCI_LMAKE_CHANGED_ROLE);
	return 0;
failed:
	/* a shortcut that can not be taken is not a failure of the build */
	if (err->kind == OCIBUILD_ERR_NOMEM || err->kind == OCIBUILD_ERR_CANCELLED)
		return -1;
	ocibuild_error_clear(err);
	return 0;
}

int oci_lmake_nothing_cached(const oci_lmake *m)
{
	return !m->lcache || oci_lcache_empty(m->lcache);
}

int oci_lmake_open_cache_from(oci_lmake *m, ocibuild_error *err)
{
	char *cache;
	int rc;

	if (m->cf_open)
		return 0;
	m->cf_open = 1;
	cache = oci_cache_dir(NULL);
	if (!cache)
		return oci_err_nomem(err);
	/* the push has found out already whether its registry speaks TLS */
	rc = oci_cachefrom_open(m->ctx, m->net, oci_push_stream_registry(m->stream), m->cache_from,
				m->cf_push, m->tags, m->platforms, m->np, cache, &m->cf, err);
	oci_free(cache);
	return rc;
}

/* The --cache-from images, at the first layer that misses the layer
 * cache: opened now unless they were beforehand, and what opening them
 * had to say told here, where it belongs in the log. */
static int open_cache_from(oci_lmake *m, ocibuild_error *err)
{
	if (oci_lmake_open_cache_from(m, err) < 0)
		return -1;
	oci_cachefrom_tell(m->ctx, &m->cf);
	return 0;
}

int oci_lmake_layers(oci_lmake *m, oci_lplan *const *v, size_t n, ocibuild_error *err)
{
	struct lm_each e;
	size_t *idx = NULL, i, nmiss = 0;
	int rc = -1, lookup;

	if (!n)
		return 0;
	memset(&e, 0, sizeof(e));
	e.m = m;
	e.v = v;
	idx = oci_calloc(n, sizeof(*idx));
	e.keys = oci_calloc(n, sizeof(*e.keys));
	e.have_key = oci_calloc(n, 1);
	e.kstats = oci_calloc(n, sizeof(*e.kstats));
	e.ids = oci_calloc(n, sizeof(*e.ids));
	e.tar_sizes = oci_calloc(n, sizeof(*e.tar_sizes));
	if (!idx || !e.keys || !e.have_key || !e.kstats || !e.ids || !e.tar_sizes) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < n; i++)
		idx[i] = i;
	e.idx = idx;
	/* a fresh runner's cache has nothing to look up: the keys (a read of
	 * every file) are left to the layers that go into it */
	lookup = m->lcache && !oci_lcache_empty(m->lcache);
	if (m->lcache && !lookup)
		oci_log(m->ctx, OCIBUILD_LOG_INFO, "layer cache '%s' is empty: no layer looked up",
			m->lcache);
	if (lookup) {
		e.n = n;
		e.fn = key_one;
		if (each_layer(&e, err) < 0)
			goto out;
		for (i = 0; i < n; i++)
			log_key(&e, i);
	}
	/* idx becomes the layers the layer cache does not have */
	for (i = 0; i < n; i++) {
		int hit = 0;

		if (lookup && layer_from_cache(m, v[i], e.keys[i], &hit, err) < 0)
			goto out;
		if (!hit) {
			idx[nmiss++] = i;
			continue;
		}
		if (stream_layer(m, v[i], err) < 0)
			goto out;
	}
	if (nmiss && open_cache_from(m, err) < 0)
		goto out;
	if (nmiss && m->cf.n) {
		e.n = nmiss;
		e.fn = diff_id_one;
		if (each_layer(&e, err) < 0)
			goto out;
	}
	for (i = 0; i < nmiss; i++) {
		int hit = 0;

		if (m->cf.n && layer_from_remote(&e, idx[i], &hit, err) < 0)
			goto out;
		if (!hit && make_layer(&e, idx[i], err) < 0)
			goto out;
		if (stream_layer(m, v[idx[i]], err) < 0)
			goto out;
	}
	rc = 0;
out:
	oci_free(idx);
	oci_free(e.keys);
	oci_free(e.have_key);
	oci_free(e.kstats);
	oci_free(e.ids);
	oci_free(e.tar_sizes);
	return rc;
}

void oci_lmake_finish(oci_lmake *m)
{
	ocibuild_error err = { 0 };
	uint64_t gone = 0;

	later_join(m, 1);
	if (!m->lcache)
		return;
	if (oci_lcache_trim(m->lcache, m->cache_max, &gone, &err) < 0) {
		/* the image is made: a cache larger than it may be is for the
		 * next build to bring down */
		oci_log(m->ctx, OCIBUILD_LOG_WARN, "the layer cache '%s' could not be trimmed (%s)",
			m->lcache, err.message);
		ocibuild_error_clear(&err);
	} else if (gone) {
		oci_log(m->ctx, OCIBUILD_LOG_INFO,
			"cache: removed %llu bytes of least recently used blobs",
			(unsigned long long)gone);
	}
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
	oci_free(m->rm.v);
	m->rm.v = NULL;
	m->rm.n = 0;
	later_join(m, 0);
	oci_free(m->lcache);
	m->lcache = NULL;
	oci_cachefrom_release(&m->cf);
}
