#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transfer.h"
#include "blobstore.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

int oci_net_init(oci_net *net, const ocibuild_registry_opts *o, ocibuild_error *err)
{
	memset(net, 0, sizeof(*net));
	net->chunk = OCIBUILD_DEFAULT_CHUNK_SIZE;
	net->jobs = OCIBUILD_DEFAULT_JOBS;
	if (!o)
		return 0;
	if (oci_err_version(o->version, OCIBUILD_REGISTRY_OPTS_VERSION, "ocibuild_registry_opts",
			    err) < 0)
		return -1;
	if (o->jobs < 0)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "registry jobs %d is negative: pass 0 for the default or a count of blobs in flight",
			       o->jobs);
	net->ca_file = o->ca_file;
	net->insecure = o->insecure_registries;
	if (o->chunk_size)
		net->chunk = o->chunk_size;
	if (o->jobs)
		net->jobs = o->jobs;
	return 0;
}

int oci_net_registry(ocibuild_ctx *ctx, const oci_net *net, const char *domain, int push,
		     oci_registry **out, ocibuild_error *err)
{
	oci_reg_opts ro;

	memset(&ro, 0, sizeof(ro));
	ro.ca_file = net->ca_file;
	ro.insecure = net->insecure;
	ro.push = push;
	ro.no_retry = net->no_retry;
	ro.ctx = ctx;
	return oci_reg_open(out, domain, &ro, err);
}

int oci_net_open_ref(ocibuild_ctx *ctx, const oci_net *net, const char *refstr, oci_ref *ref,
		     oci_registry **reg, oci_http **h, ocibuild_error *err)
{
	if (oci_ref_parse(refstr, ref, err) < 0) {
		oci_err_as_option(err);
		return -1;
	}
	if (oci_net_registry(ctx, net, ref->domain, 0, reg, err) < 0)
		return -1;
	return oci_reg_http(*reg, h, err) < 0 ? -1 : 0;
}

char *oci_cache_dir(oci_getenv_fn env)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	const char *d;
	int rc;

	if (!env)
		env = oci_sys_getenv;
	if ((d = env("OCIBUILD_CACHE_DIR")) && *d)
		rc = oci_buf_puts(&b, d, NULL);
	else if ((d = env("XDG_CACHE_HOME")) && *d)
		rc = oci_buf_printf(&b, NULL, "%s/ocibuild", d);
	else if ((d = env("HOME")) && *d)
		rc = oci_buf_printf(&b, NULL, "%s/.cache/ocibuild", d);
	else
		rc = oci_buf_puts(&b, "/tmp/ocibuild-cache", NULL);
	if (rc < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

void oci_pulled_release(oci_pulled *p)
{
	oci_free(p->media_type);
	oci_manifest_release(&p->manifest);
	oci_free(p->config_json);
	memset(p, 0, sizeof(*p));
}


/* Is the blob in the cache, whole? A cached blob that no longer matches
 * its digest (a disk error, a hand edit) is removed, so that it is fetched
 * again instead of failing every later build. 1: usable, 0: fetch it,
 * -1: err says why. */
static int cache_usable(ocibuild_ctx *ctx, const char *cache, const char *digest, int64_t size,
			ocibuild_error *err)
{
	char *path;

	if (!oci_blobs_has(cache, digest))
		return 0;
	if (oci_blobs_verify(cache, digest, size, err) == 0)
		return 1;
	if (err->kind != OCIBUILD_ERR_DIGEST)
		return -1;
	path = oci_blobs_path(cache, digest);
	if (!path)
		return oci_err_nomem(err);
	oci_log(ctx, OCIBUILD_LOG_WARN, "cache file '%s' is corrupt (%s): removed, fetching it again",
		path, err->message);
	ocibuild_error_clear(err);
	if (unlink(path) < 0 && errno != ENOENT) {
		oci_err_errno(err, errno, "cannot remove the corrupt cache file '%s': %s", path,
			      strerror(errno));
		oci_free(path);
		return -1;
	}
	oci_free(path);
	return 0;
}

int oci_pull_resolve(oci_registry *reg, const oci_ref *ref, const oci_platform *want,
		     const char *cache, oci_pulled *out, ocibuild_error *err)
{
	oci_http *h = NULL;
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	char *mt = NULL;
	const char *what = ref->digest ? ref->digest : ref->tag;
	char digest[OCI_DIGEST_LEN + 1];
	int rc = -1, depth, cached;

	memset(out, 0, sizeof(*out));
	if (oci_reg_http(reg, &h, err) < 0)
		return -1;
	if (oci_blobs_prepare(cache, err) < 0)
		goto out;
	if (oci_reg_get_manifest(reg, h, ref->path, what, &raw, digest, &mt, err) < 0)
		goto out;
	for (depth = 0; oci_media_type_kind(mt) == OCI_MT_KIND_INDEX; depth++) {
		oci_index x;
		size_t i;
		const oci_descriptor *pick = NULL;

		if (depth > 1 || oci_index_parse(raw.data, raw.len, &x, err) < 0) {
			if (depth > 1)
				oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0, "'%s' has nested indexes",
					ref->path);
			goto out;
		}
		for (i = 0; i < x.n && !pick; i++) {
			const oci_descriptor *d = &x.manifests[i];

			/* attestations are listed as unknown/unknown */
			if (!d->platform || oci_media_type_kind(d->media_type) != OCI_MT_KIND_MANIFEST ||
			    (d->platform->os && !strcmp(d->platform->os, "unknown")))
				continue;
			if (oci_platform_match(want, d->platform))
				pick = d;
		}
		if (!pick) {
			char *have = oci_index_platforms(&x), *w = oci_platform_string(want);

			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"'%s/%s' has no %s image (it offers: %s): choose one with --platform",
				oci_reg_domain(reg), ref->path, w ? w : "?", have && *have ? have : "none");
			oci_free(have);
			oci_free(w);
			oci_index_release(&x);
			goto out;
		}
		{
			char want_digest[OCI_DIGEST_LEN + 1];

			memcpy(want_digest, pick->digest, sizeof(want_digest));
			oci_index_release(&x);
			oci_free(mt);
			mt = NULL;
			if (oci_reg_get_manifest(reg, h, ref->path, want_digest, &raw, digest, &mt,
						 err) < 0)
				goto out;
		}
	}
	if (oci_media_type_kind(mt) != OCI_MT_KIND_MANIFEST) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0, "'%s/%s' is a '%s', not an image",
			oci_reg_domain(reg), ref->path, mt ? mt : "unknown document");
		goto out;
	}
	if (oci_manifest_parse(raw.data, raw.len, &out->manifest, err) < 0)
		goto out;
	{
		char check[OCI_DIGEST_LEN + 1];

		/* keep the exact manifest bytes: the base digest is theirs */
		if (oci_blobs_put(cache, raw.data, raw.len, check, 0, err) < 0)
			goto out;
	}
	memcpy(out->digest, digest, sizeof(digest));
	out->media_type = mt;
	mt = NULL;
	cached = cache_usable(oci_reg_ctx(reg), cache, out->manifest.config.digest,
			      out->manifest.config.size, err);
	if (cached < 0) {
		goto out;
	} else if (cached) {
		/* read back below */
	} else if (oci_reg_get_blob(reg, h, ref->path, out->manifest.config.digest,
				    out->manifest.config.size, cache, err) < 0) {
		goto out;
	}
	if (oci_blobs_read(cache, out->manifest.config.digest, OCI_MAX_CONFIG, &raw, err) < 0)
		goto out;
	out->config_json = oci_buf_detach(&raw, &out->config_len);
	rc = out->config_json ? 0 : oci_err_nomem(err);
out:
	oci_free(mt);
	oci_buf_release(&raw);
	oci_http_release(h);
	if (rc < 0)
		oci_pulled_release(out);
	return rc;
}

/* ---- a pool of threads over blobs ---- */

struct pool {
	size_t n, next;
	int failed;
	pthread_mutex_t mu;
	oci_registry *reg;
	ocibuild_error err; /* the first failure */
	int (*fn)(struct pool *p, oci_http *h, size_t i, ocibuild_error *err);
	void *ud;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	oci_http *h = NULL;
	ocibuild_error e = { 0 };

	if (oci_reg_http(p->reg, &h, &e) < 0)
		goto fail;
	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->mu);
		if (p->failed || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (p->fn(p, h, i, &e) < 0)
			goto fail;
	}
	oci_http_release(h);
	return NULL;
fail:
	pthread_mutex_lock(&p->mu);
	if (!p->failed) {
		p->failed = 1;
		p->err = e;
	} else {
		ocibuild_error_clear(&e);
	}
	pthread_mutex_unlock(&p->mu);
	oci_http_release(h);
	return NULL;
}

static int pool_run(struct pool *p, int jobs, ocibuild_error *err)
{
	pthread_t th[64];
	int t, started = 0;

	if (jobs < 1)
		jobs = 1;
	if (jobs > 64)
		jobs = 64;
	if ((size_t)jobs > p->n)
		jobs = p->n ? (int)p->n : 1;
	pthread_mutex_init(&p->mu, NULL);
	for (t = 0; t < jobs; t++)
		if (pthread_create(&th[t], NULL, pool_worker, p) == 0)
			started++;
	if (!started)
		pool_worker(p);
	for (t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&p->mu);
	if (p->failed) {
		ocibuild_error_clear(err);
		*err = p->err;
		return -1;
	}
	return 0;
}

struct pull_job {
	const char *repo;
	const oci_manifest *m;
	const char *cache;
};

static int pull_one(struct pool *p, oci_http *h, size_t i, ocibuild_error *err)
{
	struct pull_job *j = p->ud;
	const oci_descriptor *l = &j->m->layers[i];
	ocibuild_ctx *ctx = oci_reg_ctx(p->reg);

	int cached = cache_usable(ctx, j->cache, l->digest, l->size, err);

	if (cached < 0)
		return -1;
	if (cached) {
		oci_progress(ctx, OCIBUILD_EV_BLOB_CACHED, l->digest, l->size, (uint64_t)l->size, NULL);
		return 0;
	}
	if (oci_reg_get_blob(p->reg, h, j->repo, l->digest, l->size, j->cache, err) < 0)
		return -1;
	oci_progress(ctx, OCIBUILD_EV_BLOB_DOWNLOADED, l->digest, l->size, (uint64_t)l->size, NULL);
	return 0;
}

int oci_pull_layers(oci_registry *reg, const char *repo, const oci_manifest *m,
		    const char *cache, int jobs, ocibuild_error *err)
{
	struct pull_job j = { repo, m, cache };
	struct pool p;

	memset(&p, 0, sizeof(p));
	p.n = m->nlayers;
	p.reg = reg;
	p.fn = pull_one;
	p.ud = &j;
	return pool_run(&p, jobs, err);
}

/* One blob: already there (HEAD), mounted from a repository of the same
 * registry that holds it, or uploaded from the layout (or the cache, after
 * fetching it from its source). *added: 1 when it was not in the
 * repository before (mounted or uploaded). With mount_only, a blob that is
 * neither there nor mounted is left (*added -1) for the caller to queue
 * again with the full options. */
static int push_one(oci_registry *reg, oci_http *h, const oci_push_opts *o, const char *digest,
		    int64_t size, int mount_only, int *added, ocibuild_error *err)
{
	ocibuild_ctx *ctx = oci_reg_ctx(reg);
	const char *dir = o->layout;
	const oci_blob_source *src = NULL; /* the first that holds it */
	char *path;
	size_t k;
	int exists = 0, mounted = 0, rc;

	*added = 0;
	if (oci_reg_blob_exists(reg, h, o->repo, digest, &exists, err) < 0)
		return -1;
	if (exists) {
		oci_progress(ctx, OCIBUILD_EV_BLOB_EXISTS, digest, size, (uint64_t)size, NULL);
		return 0;
	}
	*added = 1;
	if (o->mount_repo && strcmp(o->mount_repo, o->repo)) {
		if (oci_reg_mount(reg, h, o->repo, digest, o->mount_repo, &mounted, err) < 0)
			return -1;
		if (mounted) {
			oci_progress(ctx, OCIBUILD_EV_BLOB_MOUNTED, digest, size, (uint64_t)size, NULL);
			return 0;
		}
	}
	for (k = 0; k < o->nsources; k++) {
		const oci_blob_source *s = &o->sources[k];

		if (!oci_strlist_has(s->blobs, digest))
			continue;
		if (!src)
			src = s;
		if (strcmp(oci_reg_domain(s->reg), oci_reg_domain(reg)) ||
		    !strcmp(s->repo, o->repo))
			continue;
		if (oci_reg_mount(reg, h, o->repo, digest, s->repo, &mounted, err) < 0)
			return -1;
		if (mounted) {
			oci_progress(ctx, OCIBUILD_EV_BLOB_MOUNTED, digest, size, (uint64_t)size, NULL);
			return 0;
		}
	}
	if (mount_only) {
		*added = -1;
		return 0;
	}
	if (!oci_blobs_has(dir, digest)) {
		/* a remote layer we never needed locally until now */
		int cached = o->cache ? cache_usable(ctx, o->cache, digest, size, err) : 0;

		if (cached < 0)
			return -1;
		if (cached) {
			dir = o->cache;
		} else if (src && o->cache) {
			oci_http *bh = NULL;

			if (oci_reg_http(src->reg, &bh, err) < 0)
				return -1;
			rc = oci_reg_get_blob(src->reg, bh, src->repo, digest, size, o->cache, err);
			oci_http_release(bh);
			if (rc < 0)
				return -1;
			oci_progress(ctx, OCIBUILD_EV_BLOB_DOWNLOADED, digest, size, (uint64_t)size, NULL);
			dir = o->cache;
		} else {
			return oci_err(err, OCIBUILD_ERR_INPUT, 0,
				       "blob %s is not in '%s' and has no source to fetch it from",
				       digest, o->layout);
		}
	}
	path = oci_blobs_path(dir, digest);
	if (!path)
		return oci_err_nomem(err);
	rc = oci_reg_upload(reg, h, o->repo, digest, path, (uint64_t)size, o->chunk, err);
	oci_free(path);
	if (rc < 0)
		return -1;
	oci_progress(ctx, OCIBUILD_EV_BLOB_UPLOADED, digest, size, (uint64_t)size, NULL);
	return 0;
}

/* ---- a push session: upload workers over a queue that grows ---- */

struct oci_push_session {
	oci_registry *reg;
	oci_http *h;          /* settles the scheme; then the manifests and tags */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th[64];
	int nth;
	oci_push_opts o;      /* replaced by finish's (the sources are known then) */
	struct item *item;    /* the queue */
	size_t n, cap, next;
	int final;            /* finish's options are in: the sources are known */
	int added;            /* some blob was not in the repository */
	int closed;           /* no more blobs: workers leave when the queue is empty */
	int stop;             /* aborted */
	int failed;
	ocibuild_error err;   /* the first failure */
	pthread_cond_t feed_cv; /* a feed grew or ended, or the session stops */
	oci_push_feed *feeds; /* freed with the session */
};

/* One blob of the queue. */
struct item {
	char digest[OCI_DIGEST_LEN + 1]; /* "" for a feed until it ends */
	int64_t size;
	const oci_blob_source *src; /* handed over early with its source, or NULL */
	int retry;                  /* early, not mounted: queue again once final */
	oci_push_feed *feed;        /* a blob still being written, or NULL */
};

/* A blob handed over while it is being written (under the session's
 * lock). */
struct oci_push_feed {
	oci_push_session *s;
	size_t item;     /* its place in the queue */
	int fd;          /* a duplicate of the writer's, -1 until the first bytes */
	int no_fd;       /* it could not be duplicated: uploaded once complete */
	uint64_t written;
	int ended;       /* 1: complete (digest, size); -1: it will not be */
	char digest[OCI_DIGEST_LEN + 1];
	int64_t size;
	oci_push_feed *next;
};

/* Copy the first failure of a worker into err. */
static int session_failure(oci_push_session *s, ocibuild_error *err)
{
	return oci_err(err, s->err.kind, s->err.code, "%s",
		       s->err.message ? s->err.message : "upload failed");
}

/* Append a blob to the queue (under the lock). digest must not point into
 * the queue, which may move. */
static int queue_item(oci_push_session *s, const char *digest, int64_t size,
		      const oci_blob_source *src, ocibuild_error *err)
{
	struct item *it;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct item *v = oci_reallocarray(s->item, cap, sizeof(*v));

		if (!v)
			return oci_err_nomem(err);
		s->item = v;
		s->cap = cap;
	}
	it = &s->item[s->n++];
	snprintf(it->digest, sizeof(it->digest), "%s", digest);
	it->size = size;
	it->src = src;
	it->retry = 0;
	it->feed = NULL;
	pthread_cond_signal(&s->cv);
	return 0;
}

/* body_grow of the upload of a feed (oci_reg_upload_growing). */
static int feed_grow(void *ud, uint64_t off, uint64_t *end, int *done)
{
	oci_push_feed *f = ud;
	oci_push_session *s = f->s;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	while (f->written <= off && !f->ended && !s->stop && !s->failed)
		pthread_cond_wait(&s->feed_cv, &s->mu);
	if (f->ended < 0 || (!f->ended && (s->stop || s->failed))) {
		rc = -1;
	} else {
		*end = f->written;
		*done = f->ended;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* fd_of of the upload of a feed: the file once it has its first bytes. */
static int feed_fd(void *ud)
{
	oci_push_feed *f = ud;
	oci_push_session *s = f->s;
	int fd;

	pthread_mutex_lock(&s->mu);
	while (f->fd < 0 && !f->no_fd && !f->ended && !s->stop && !s->failed)
		pthread_cond_wait(&s->feed_cv, &s->mu);
	fd = f->fd;
	pthread_mutex_unlock(&s->mu);
	return fd;
}

/* Wait until f ended (or the session stops); its end, or -1. */
static int feed_wait_end(oci_push_feed *f)
{
	oci_push_session *s = f->s;
	int ended;

	pthread_mutex_lock(&s->mu);
	while (!f->ended && !s->stop && !s->failed)
		pthread_cond_wait(&s->feed_cv, &s->mu);
	ended = f->ended == 1 ? 1 : -1;
	pthread_mutex_unlock(&s->mu);
	return ended;
}

/* A feed: uploaded as it is written, with no HEAD first (the caller knows
 * it is new); when that fails, once complete as any blob. *added as for
 * push_one. */
static int push_feed(oci_push_session *s, oci_http *h, const oci_push_opts *o,
		     oci_push_feed *f, int *added, ocibuild_error *err)
{
	ocibuild_ctx *ctx = oci_reg_ctx(s->reg);

	*added = 0;
	if (oci_reg_upload_growing(s->reg, h, o->repo, feed_fd, feed_grow, f, f->digest, &f->size,
				   o->chunk, err) == 0) {
		*added = 1;
		oci_progress(ctx, OCIBUILD_EV_BLOB_UPLOADED, f->digest, f->size, (uint64_t)f->size,
			     NULL);
		return 0;
	}
	if (err->kind == OCIBUILD_ERR_CANCELLED || err->kind == OCIBUILD_ERR_NOMEM)
		return -1;
	if (feed_wait_end(f) < 0) {
		ocibuild_error_clear(err);
		return 0; /* not made: the build fails on its own */
	}
	oci_log(ctx, OCIBUILD_LOG_INFO, "uploading %.19s again: %s", f->digest, err->message);
	ocibuild_error_clear(err);
	return push_one(s->reg, h, o, f->digest, f->size, 0, added, err);
}

int oci_push_session_feed(oci_push_session *s, oci_push_feed **out, ocibuild_error *err)
{
	oci_push_feed *f = oci_calloc(1, sizeof(*f));
	int rc = -1;

	*out = NULL;
	if (!f)
		return oci_err_nomem(err);
	f->s = s;
	f->fd = -1;
	pthread_mutex_lock(&s->mu);
	if (s->failed) {
		session_failure(s, err);
	} else if (queue_item(s, "", 0, NULL, err) == 0) {
		f->item = s->n - 1;
		s->item[f->item].feed = f;
		f->next = s->feeds;
		s->feeds = f;
		*out = f;
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc < 0)
		oci_free(f);
	return rc;
}

void oci_push_feed_grew(oci_push_feed *f, int fd, uint64_t written)
{
	oci_push_session *s = f->s;

	pthread_mutex_lock(&s->mu);
	if (f->fd < 0 && !f->no_fd) {
		f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		f->no_fd = f->fd < 0;
	}
	f->written = written;
	pthread_cond_broadcast(&s->feed_cv);
	pthread_mutex_unlock(&s->mu);
}

void oci_push_feed_end(oci_push_feed *f, const char *digest, int64_t size)
{
	oci_push_session *s = f->s;

	pthread_mutex_lock(&s->mu);
	if (digest) {
		snprintf(f->digest, sizeof(f->digest), "%s", digest);
		f->size = size;
		f->written = (uint64_t)size;
		f->ended = 1;
		/* handed over again by its digest: the same blob */
		snprintf(s->item[f->item].digest, sizeof(s->item[f->item].digest), "%s", digest);
		s->item[f->item].size = size;
	} else {
		f->ended = -1;
	}
	pthread_cond_broadcast(&s->feed_cv);
	pthread_mutex_unlock(&s->mu);
}

static void *session_worker(void *arg)
{
	oci_push_session *s = arg;
	oci_http *h = NULL;
	ocibuild_error e = { 0 };

	if (oci_reg_http(s->reg, &h, &e) < 0)
		goto fail;
	for (;;) {
		struct item it;
		size_t k;
		int added = 0;
		oci_push_opts o;

		pthread_mutex_lock(&s->mu);
		while (!s->failed && !s->stop && !s->closed && s->next >= s->n)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->failed || s->stop || s->next >= s->n) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		k = s->next++;
		it = s->item[k];
		o = s->o;
		pthread_mutex_unlock(&s->mu);
		if (it.src) {
			/* handed over early: a mount from its source, if it can be */
			o.sources = it.src;
			o.nsources = 1;
			o.mount_repo = NULL;
		}
		if (it.feed ? push_feed(s, h, &o, it.feed, &added, &e) < 0
			    : push_one(s->reg, h, &o, it.digest, it.size, it.src != NULL, &added,
				       &e) < 0)
			goto fail;
		pthread_mutex_lock(&s->mu);
		if (added >= 0)
			s->added |= added;
		else if (!s->final)
			s->item[k].retry = 1; /* queued again by finish */
		else if (queue_item(s, it.digest, it.size, NULL, &e) < 0) {
			pthread_mutex_unlock(&s->mu);
			goto fail;
		}
		pthread_mutex_unlock(&s->mu);
	}
	oci_http_release(h);
	return NULL;
fail:
	pthread_mutex_lock(&s->mu);
	if (!s->failed) {
		s->failed = 1;
		s->err = e;
	} else {
		ocibuild_error_clear(&e);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->feed_cv);
	pthread_mutex_unlock(&s->mu);
	oci_http_release(h);
	return NULL;
}

int oci_push_session_begin(oci_registry *reg, const oci_push_opts *o, oci_push_session **out,
			   ocibuild_error *err)
{
	oci_push_session *s = oci_calloc(1, sizeof(*s));
	int t, jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;

	*out = NULL;
	if (!s)
		return oci_err_nomem(err);
	s->reg = reg;
	s->o = *o;
	/* before the workers start, each with its own connection */
	if (oci_reg_http(reg, &s->h, err) < 0 || oci_reg_settle(reg, s->h, err) < 0) {
		oci_http_release(s->h);
		oci_free(s);
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->feed_cv, NULL);
	/* none started: finish does the work on the caller's thread */
	for (t = 0; t < jobs; t++)
		if (pthread_create(&s->th[s->nth], NULL, session_worker, s) == 0)
			s->nth++;
	*out = s;
	return 0;
}

int oci_push_session_add(oci_push_session *s, const char *digest, int64_t size,
			 ocibuild_error *err)
{
	return oci_push_session_add_from(s, digest, size, NULL, err);
}

int oci_push_session_add_from(oci_push_session *s, const char *digest, int64_t size,
			      const oci_blob_source *src, ocibuild_error *err)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (s->failed) {
		rc = session_failure(s, err);
		goto out;
	}
	for (i = 0; i < s->n; i++)
		if (!strcmp(s->item[i].digest, digest))
			goto out;
	rc = queue_item(s, digest, size, src, err);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Let the workers go (after the queue, or at once when stop) and wait. */
static void session_join(oci_push_session *s, int stop)
{
	int t;

	pthread_mutex_lock(&s->mu);
	s->closed = 1;
	s->stop |= stop;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->feed_cv);
	pthread_mutex_unlock(&s->mu);
	for (t = 0; t < s->nth; t++)
		pthread_join(s->th[t], NULL);
	if (!s->nth && !stop)
		session_worker(s);
	s->nth = 0;
}

void oci_push_session_abort(oci_push_session *s)
{
	if (!s)
		return;
	session_join(s, 1);
	while (s->feeds) {
		oci_push_feed *f = s->feeds;

		s->feeds = f->next;
		if (f->fd >= 0)
			close(f->fd);
		oci_free(f);
	}
	pthread_cond_destroy(&s->feed_cv);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	ocibuild_error_clear(&s->err);
	oci_http_release(s->h);
	oci_free(s->item);
	oci_free(s);
}

/* The manifests an image is made of: itself, or the manifests an index
 * lists, each with the blobs it needs (listed once in `blobs`). */
struct push_set {
	size_t nm;
	oci_buf *raw;   /* each manifest's bytes, pushed as they are */
	char **mt;
	char (*digest)[OCI_DIGEST_LEN + 1];
	const char **digests; /* blobs */
	int64_t *sizes;
	size_t n, cap;
	oci_manifest *m;
};

static void push_set_release(struct push_set *s)
{
	size_t i;

	for (i = 0; i < s->nm; i++) {
		oci_buf_release(&s->raw[i]);
		oci_free(s->mt[i]);
		oci_manifest_release(&s->m[i]);
	}
	oci_free(s->raw);
	oci_free(s->mt);
	oci_free(s->digest);
	oci_free(s->m);
	oci_free(s->digests);
	oci_free(s->sizes);
	memset(s, 0, sizeof(*s));
}

static int add_blob(struct push_set *s, const char *digest, int64_t size, ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->digests[i], digest))
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		const char **d = oci_reallocarray(s->digests, cap, sizeof(*d));
		int64_t *z;

		if (!d)
			return oci_err_nomem(err);
		s->digests = d;
		z = oci_reallocarray(s->sizes, cap, sizeof(*z));
		if (!z)
			return oci_err_nomem(err);
		s->sizes = z;
		s->cap = cap;
	}
	s->digests[s->n] = digest;
	s->sizes[s->n++] = size;
	return 0;
}


/* PUT a manifest under ref (a digest or a tag) unless the registry already
 * has exactly it there: pushing an unchanged image again writes nothing.
 * new: a blob of the image was just added to the repository, so no
 * manifest there can name it (a registry takes a manifest only once its
 * blobs are in): put without asking first. */
static int put_manifest_once(oci_registry *reg, oci_http *h, const char *repo, const char *ref,
			     const char *digest, const char *mt, const oci_buf *raw, int new,
			     ocibuild_error *err)
{
	char have[OCI_DIGEST_LEN + 1];
	int found;

	if (new)
		return oci_reg_put_manifest(reg, h, repo, ref, mt, raw->data, raw->len, err);
	if (oci_reg_manifest_head(reg, h, repo, ref, &found, have, err) < 0)
		return -1;
	if (found && !strcmp(have, digest))
		return 0;
	return oci_reg_put_manifest(reg, h, repo, ref, mt, raw->data, raw->len, err);
}

/* Read manifest `digest` of the layout into slot i and list its blobs. */
static int load_manifest(struct push_set *s, size_t i, const char *layout, const char *digest,
			 ocibuild_error *err)
{
	size_t k;

	oci_buf_init(&s->raw[i], OCI_MAX_MANIFEST);
	memcpy(s->digest[i], digest, OCI_DIGEST_LEN + 1);
	if (oci_blobs_read(layout, digest, OCI_MAX_MANIFEST, &s->raw[i], err) < 0 ||
	    oci_manifest_parse(s->raw[i].data, s->raw[i].len, &s->m[i], err) < 0)
		return -1;
	if (oci_json_media_type(s->raw[i].data, s->raw[i].len, &s->mt[i], err) < 0)
		return -1;
	for (k = 0; k < s->m[i].nlayers; k++)
		if (add_blob(s, s->m[i].layers[k].digest, s->m[i].layers[k].size, err) < 0)
			return -1;
	return add_blob(s, s->m[i].config.digest, s->m[i].config.size, err);
}

static int push_set_load(struct push_set *s, const char *layout, const char *top,
			 const char *top_mt, const oci_buf *top_raw, ocibuild_error *err)
{
	oci_index x;
	size_t i, nm = 1;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	memset(&x, 0, sizeof(x));
	if (oci_media_type_kind(top_mt) == OCI_MT_KIND_INDEX) {
		if (oci_index_parse(top_raw->data, top_raw->len, &x, err) < 0)
			return -1;
		for (i = 0; i < x.n; i++)
			if (oci_media_type_kind(x.manifests[i].media_type) != OCI_MT_KIND_MANIFEST) {
				oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
					"index %s lists '%s' (%s), not an image manifest: only indexes of image manifests can be pushed",
					top, x.manifests[i].digest,
					x.manifests[i].media_type ? x.manifests[i].media_type : "no media type");
				goto out;
			}
		nm = x.n;
	}
	s->raw = oci_calloc(nm ? nm : 1, sizeof(*s->raw));
	s->mt = oci_calloc(nm ? nm : 1, sizeof(*s->mt));
	s->digest = oci_calloc(nm ? nm : 1, sizeof(*s->digest));
	s->m = oci_calloc(nm ? nm : 1, sizeof(*s->m));
	if (!s->raw || !s->mt || !s->digest || !s->m) {
		oci_err_nomem(err);
		goto out;
	}
	/* only now may push_set_release walk the arrays */
	s->nm = nm;
	for (i = 0; i < s->nm; i++)
		if (load_manifest(s, i, layout, x.n ? x.manifests[i].digest : top, err) < 0)
			goto out;
	rc = 0;
out:
	oci_index_release(&x);
	return rc;
}

int oci_push_session_finish(oci_push_session *s, const oci_push_opts *o, char **ref_out,
			    ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST), ref = OCI_BUF_INIT(OCI_MAX_TEXT);
	struct push_set set;
	oci_registry *reg = s->reg;
	oci_http *h = s->h;
	char *mt = NULL;
	size_t i;
	int rc = -1, is_index;

	*ref_out = NULL;
	memset(&set, 0, sizeof(set));
	pthread_mutex_lock(&s->mu);
	s->o = *o;
	s->final = 1;
	/* early items that could not be mounted: now with every source */
	for (i = 0; i < s->n && rc == -1; i++) {
		struct item it = s->item[i]; /* a copy: queue_item may move the queue */

		if (!it.retry)
			continue;
		s->item[i].retry = 0;
		if (queue_item(s, it.digest, it.size, NULL, err) < 0)
			rc = -2;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == -2) {
		rc = -1;
		goto out;
	}
	if (oci_blobs_read(o->layout, o->manifest_digest, OCI_MAX_MANIFEST, &raw, err) < 0)
		goto out;
	if (oci_json_media_type(raw.data, raw.len, &mt, err) < 0)
		goto out;
	is_index = oci_media_type_kind(mt) == OCI_MT_KIND_INDEX;
	if (push_set_load(&set, o->layout, o->manifest_digest, mt, &raw, err) < 0)
		goto out;
	/* the blobs not handed over while the image was made (each once) */
	for (i = 0; i < set.n; i++)
		if (oci_push_session_add(s, set.digests[i], set.sizes[i], err) < 0)
			goto out;
	session_join(s, 0);
	if (s->failed) {
		ocibuild_error_clear(err);
		*err = s->err;
		memset(&s->err, 0, sizeof(s->err));
		goto out;
	}
	/* every blob is confirmed: the manifests an index lists by digest,
	 * then the top one, so a failure never leaves a tag on a partial
	 * image. The top one goes by digest only when it has no tag: a PUT
	 * by tag stores it under its digest too */
	for (i = 0; is_index && i < set.nm; i++) {
		oci_buf_reset(&ref);
		if (put_manifest_once(reg, h, o->repo, set.digest[i], set.digest[i],
				      set.mt[i] ? set.mt[i] : OCI_MT_MANIFEST, &set.raw[i], s->added,
				      err) < 0 ||
		    oci_buf_printf(&ref, err, "%s/%s@%s", oci_reg_domain(reg), o->repo,
				   set.digest[i]) < 0)
			goto out;
		oci_progress(oci_reg_ctx(reg), OCIBUILD_EV_MANIFEST_PUSHED, set.digest[i],
			     (int64_t)set.raw[i].len, set.raw[i].len, ref.data);
	}
	oci_buf_reset(&ref);
	if (!o->ntags &&
	    put_manifest_once(reg, h, o->repo, o->manifest_digest, o->manifest_digest,
			      mt ? mt : OCI_MT_MANIFEST, &raw, s->added, err) < 0)
		goto out;
	if (oci_buf_printf(&ref, err, "%s/%s@%s", oci_reg_domain(reg), o->repo,
			   o->manifest_digest) < 0)
		goto out;
	for (i = 0; i < o->ntags; i++) {
		oci_buf t = OCI_BUF_INIT(OCI_MAX_TEXT);

		if (put_manifest_once(reg, h, o->repo, o->tags[i], o->manifest_digest,
				      mt ? mt : OCI_MT_MANIFEST, &raw, s->added, err) < 0)
			goto out;
		if (i == 0)
			oci_progress(oci_reg_ctx(reg), OCIBUILD_EV_MANIFEST_PUSHED,
				     o->manifest_digest, (int64_t)raw.len, raw.len, ref.data);
		if (oci_buf_printf(&t, err, "%s/%s:%s", oci_reg_domain(reg), o->repo, o->tags[i]) < 0) {
			oci_buf_release(&t);
			goto out;
		}
		oci_progress(oci_reg_ctx(reg), OCIBUILD_EV_TAG_PUSHED, o->manifest_digest,
			     (int64_t)raw.len, raw.len, t.data);
		oci_buf_release(&t);
	}
	if (!o->ntags)
		oci_progress(oci_reg_ctx(reg), OCIBUILD_EV_MANIFEST_PUSHED, o->manifest_digest,
			     (int64_t)raw.len, raw.len, ref.data);
	*ref_out = oci_buf_detach(&ref, NULL);
	rc = *ref_out ? 0 : oci_err_nomem(err);
out:
	oci_push_session_abort(s);
	oci_free(mt);
	push_set_release(&set);
	oci_buf_release(&raw);
	oci_buf_release(&ref);
	return rc;
}

int oci_push_image(oci_registry *reg, const oci_push_opts *o, char **ref_out,
		   ocibuild_error *err)
{
	oci_push_session *s;

	*ref_out = NULL;
	if (oci_push_session_begin(reg, o, &s, err) < 0)
		return -1;
	return oci_push_session_finish(s, o, ref_out, err);
}
