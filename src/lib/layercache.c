#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libdeflate.h>

#include "layercache.h"
#include "blobstore.h"
#include "statindex.h"
#include "buf.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "par.h"
#include "banned.h"

/* Bump when anything that shapes a layer's bytes changes without showing
 * in the key (tar headers, compressor settings, the libraries' output). */
#define LCACHE_FORMAT "ocibuild-layer-cache 4 gzip-libdeflate-1m-cut7/8-6.4.1-s11-d63-stored8k32k zstd-3-2m"
#define MAX_ENTRY 1024
/* the members records: CACHE/members/<slot> */
#define MEMBERS_DIR "members"
#define MEMBERS_MAGIC "ocibuild-gzmembers 1 " LCACHE_FORMAT " libdeflate-" LIBDEFLATE_VERSION_STRING
/* a member holds at most a block (1 MiB): a 64 GiB layer has 65,536; a
 * line of the record is at most 32 bytes */
#define MEMBERS_MAX 65536
#define MEMBERS_MAX_BYTES (MEMBERS_MAX * 32 + 512)

static void put_str(oci_sha256 *h, const char *s)
{
	/* length-prefixed, so that no two lists of fields hash alike */
	uint64_t n = s ? strlen(s) : UINT64_MAX;

	oci_sha256_update(h, &n, sizeof(n));
	if (s)
		oci_sha256_update(h, s, strlen(s));
}

static void put_u64(oci_sha256 *h, uint64_t v)
{
	oci_sha256_update(h, &v, sizeof(v));
}

/* One file whose content must be read: a cold cache, a file changed or
 * copied since the last build, a racy one. */
struct hjob {
	char *path;        /* absolute */
	const char *hex;   /* the digest, from the index or from done */
	oci_fstamp st;  /* as read (when stable) */
	int stable;        /* same tuple before and after the read: may be indexed */
	char done[65];
	ocibuild_error err;
};

/* One file of jobs hashed (oci_par_for; each job has its own result, so
 * the key does not depend on which thread hashed what). */
static int hash_one(void *ud, size_t i)
{
	struct hjob *j = ((struct hjob **)ud)[i];
	unsigned char buf[128 * 1024];
	struct stat st1, st2;
	oci_fstamp s1, s2;
	char digest[OCI_DIGEST_LEN + 1];
	oci_sha256 h;
	int fd, ok = 0;

	fd = open(j->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		oci_err_errno(&j->err, errno, "cannot read '%s': %s", j->path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st1) < 0) {
		oci_err_errno(&j->err, errno, "cannot read '%s': %s", j->path, strerror(errno));
		close(fd);
		return 0;
	}
	if (oci_sha256_init(&h, &j->err) < 0) {
		close(fd);
		return 0;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			oci_err_errno(&j->err, errno, "cannot read '%s': %s", j->path, strerror(errno));
			break;
		}
		if (!n) {
			ok = 1;
			break;
		}
		oci_sha256_update(&h, buf, (size_t)n);
	}
	if (ok) {
		oci_sha256_final(&h, digest);
		memcpy(j->done, digest + 7, 65);
		j->hex = j->done;
		/* a file that changed while it was read is not indexed */
		oci_fstamp_of(&st1, &s1);
		if (S_ISREG(st1.st_mode) && fstat(fd, &st2) == 0) {
			oci_fstamp_of(&st2, &s2);
			if (oci_fstamp_same(&s1, &s2)) {
				j->st = s1;
				j->stable = 1;
			}
		}
	}
	oci_sha256_release(&h);
	close(fd);
	return 0; /* a failure is the job's, reported in input order */
}

/* path made absolute (the index's key); NULL when out of memory */
static char *abs_path(const char *path, char **cwd)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	if (path[0] == '/')
		return oci_strdup(path);
	if (!*cwd) {
		char *c = oci_malloc(PATH_MAX);

		if (!c)
			return NULL;
		if (!getcwd(c, PATH_MAX)) {
			/* no usable cwd: the path as given, which is not indexed */
			oci_free(c);
			return oci_strdup(path);
		}
		*cwd = c;
	}
	if (oci_buf_printf(&b, NULL, "%s/%s", *cwd, path) < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

/* root/rel made absolute, as abs_path(oci_path_join(root, rel)) would,
 * into *pbuf (*base: root made absolute, computed once); NULL when out of
 * memory. */
static const char *under_root(const char *root, const char *rel, char **cwd, char **base,
			      oci_buf *pbuf)
{
	/* "" joins into "/rel", which is absolute already */
	if (!*base && !(*base = root[0] ? abs_path(root, cwd) : oci_strdup("")))
		return NULL;
	oci_buf_reset(pbuf);
	if (oci_buf_puts(pbuf, *base, NULL) < 0 || oci_buf_puts(pbuf, "/", NULL) < 0 ||
	    oci_buf_puts(pbuf, rel, NULL) < 0)
		return NULL;
	return pbuf->data;
}

/* The stat index file of a layer: CACHE/statindex/<16 hex digits of the
 * SHA-256 of its root's absolute path and its first entry>. The layers of
 * a release share the root and have their keys made side by side: a file
 * each, so that no layer's save drops what another learnt. */
static int index_name(const char *cache_dir, const char *root, const char *first, char **cwd,
		      char **dir, char *name, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	char *abs = abs_path(root ? root : "", cwd), digest[OCI_DIGEST_LEN + 1];
	oci_sha256 h;

	if (!abs)
		return oci_err_nomem(err);
	if (oci_sha256_init(&h, err) < 0) {
		oci_free(abs);
		return -1;
	}
	/* with the NUL: no root and entry run together into another pair */
	oci_sha256_update(&h, abs, strlen(abs) + 1);
	oci_sha256_update(&h, first ? first : "", strlen(first ? first : ""));
	oci_sha256_final(&h, digest);
	oci_sha256_release(&h);
	oci_free(abs);
	memcpy(name, digest + 7, 16);
	name[16] = '\0';
	if (oci_buf_printf(&b, err, "%s/%s", cache_dir, OCI_SIDX_DIR) < 0)
		return -1;
	*dir = oci_buf_detach(&b, NULL);
	return *dir ? 0 : oci_err_nomem(err);
}

int oci_lcache_key(const char *cache_dir, const oci_layer_opts *o, const oci_walk_entry *const *entries,
		   size_t n, char *key, oci_lcache_stats *cost, ocibuild_error *err)
{
	oci_sha256 h;
	oci_sidx x;
	oci_buf pbuf = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	char digest[OCI_DIGEST_LEN + 1], *cwd = NULL, *base = NULL, *idir = NULL, iname[17];
	struct hjob *jobs = NULL, **todo = NULL;
	size_t i, nfiles = 0, ntodo = 0;
	int rc = -1, have_h = 0;

	oci_sidx_init(&x);
	if (cache_dir && (index_name(cache_dir, o->root, n ? entries[0]->rel : NULL, &cwd, &idir,
					  iname, err) < 0 ||
			  oci_sidx_load(&x, idir, iname, err) < 0))
		goto out;
	jobs = oci_calloc(n, sizeof(*jobs));
	todo = oci_calloc(n, sizeof(*todo));
	if (!jobs || !todo) {
		oci_err_nomem(err);
		goto out;
	}
	/* which files the index vouches for, which must be read; a file's
	 * absolute path is put together in one buffer, and kept only for a
	 * file to read */
	for (i = 0; i < n; i++) {
		const oci_walk_entry *e = entries[i];
		struct hjob *j = &jobs[i];
		const char *path;
		struct stat st;
		oci_fstamp s;

		if (e->data || e->type != OCI_TAR_FILE)
			continue;
		nfiles++;
		if (e->src) {
			j->path = abs_path(e->src, &cwd);
			path = j->path;
		} else {
			path = under_root(o->root, e->rel, &cwd, &base, &pbuf);
		}
		if (!path) {
			oci_err_nomem(err);
			goto out;
		}
		/* the walk's stat, taken moments ago, is the file's tuple */
		if (e->st) {
			s = *e->st;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			oci_fstamp_of(&st, &s);
		} else {
			goto read; /* no tuple: read */
		}
		if (oci_sidx_lookup(&x, path, &s, j->done)) {
			j->hex = j->done;
			continue;
		}
read:
		if (!j->path && !(j->path = oci_strdup(path))) {
			oci_err_nomem(err);
			goto out;
		}
		todo[ntodo++] = j;
	}
	oci_par_for(ntodo, o->threads, hash_one, todo);
	for (i = 0; i < ntodo; i++) {
		struct hjob *j = todo[i];

		if (j->err.kind) {
			/* the first failure in input order */
			*err = j->err;
			memset(&j->err, 0, sizeof(j->err));
			goto out;
		}
		if (j->stable && oci_sidx_set(&x, j->path, &j->st, j->hex, err) < 0)
			goto out;
	}
	if (oci_sha256_init(&h, err) < 0)
		goto out;
	have_h = 1;
	put_str(&h, LCACHE_FORMAT);
	put_u64(&h, (uint64_t)o->compression);
	put_str(&h, o->prefix);
	put_u64(&h, o->prefix_mode);
	put_u64(&h, (uint64_t)o->mtime);
	put_u64(&h, n);
	for (i = 0; i < n; i++) {
		const oci_walk_entry *e = entries[i];

		put_str(&h, e->rel);
		put_u64(&h, (uint64_t)e->type);
		put_u64(&h, e->mode);
		put_u64(&h, e->size);
		put_str(&h, e->link);
		if (e->data) {
			put_str(&h, "data");
			oci_sha256_update(&h, e->data, (size_t)e->size);
		} else if (e->type == OCI_TAR_FILE) {
			put_str(&h, "content");
			put_str(&h, jobs[i].hex);
		}
	}
	oci_sha256_final(&h, digest);
	memcpy(key, digest + 7, OCI_LCACHE_KEY_LEN + 1);
	if (cost) {
		cost->files = nfiles;
		cost->read = ntodo;
	}
	/* a hint: an index that can not be written costs the next build reads */
	if (cache_dir && oci_sidx_save(&x, idir, iname, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			goto out;
		ocibuild_error_clear(err);
	}
	rc = 0;
out:
	if (have_h)
		oci_sha256_release(&h);
	if (jobs) {
		for (i = 0; i < n; i++) {
			oci_free(jobs[i].path);
			ocibuild_error_clear(&jobs[i].err);
		}
	}
	oci_free(jobs);
	oci_free(todo);
	oci_free(cwd);
	oci_free(base);
	oci_buf_release(&pbuf);
	oci_free(idir);
	oci_sidx_release(&x);
	return rc;
}

static char *entry_path(const char *cache_dir, const char *key)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	if (oci_buf_printf(&b, NULL, "%s/layers/%s", cache_dir, key) < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

/* What a check of an entry's blob vouches for: the blob's stat when it was
 * read and found to match its digest, and the wall clock before that read.
 * It is kept only when the mtime is older than the stamp by more than the
 * timestamp granularity: a write in the same tick as the check could keep
 * the mtime it saw (the stat index's racy rule). */
struct checked {
	unsigned long long dev, ino;
	long long mtime_s, stamp_s;
	unsigned mtime_ns, stamp_ns;
};

static int checked_racy(const struct checked *c)
{
	struct timespec stamp;

	if (c->mtime_ns >= 1000000000u || c->stamp_ns >= 1000000000u)
		return 1; /* not a time: not vouched for */
	stamp.tv_sec = (time_t)c->stamp_s;
	stamp.tv_nsec = (long)c->stamp_ns;
	return oci_sidx_racy_time(c->mtime_s, c->mtime_ns, &stamp);
}

int oci_lcache_get(const char *cache_dir, const char *key, oci_layer_result *r, int *hit,
		   int *checked, ocibuild_error *err)
{
	char *path = entry_path(cache_dir, key), *blob = NULL;
	oci_buf b = OCI_BUF_INIT(MAX_ENTRY);
	ocibuild_error e = { 0 };
	char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
	long long size;
	unsigned long long tar_size;
	struct checked c;
	struct stat st;
	int n;

	*hit = 0;
	if (checked)
		*checked = 0;
	if (!path)
		return oci_err_nomem(err);
	if (oci_read_file(path, MAX_ENTRY, &b, &e) < 0) {
		int nomem = e.kind == OCIBUILD_ERR_NOMEM;

		ocibuild_error_clear(&e);
		oci_free(path);
		return nomem ? oci_err_nomem(err) : 0; /* no entry: a miss */
	}
	n = sscanf(b.data, "%71s %71s %lld %llu %llu %llu %lld %u %lld %u", digest, diff_id,
		   &size, &tar_size, &c.dev, &c.ino, &c.mtime_s, &c.mtime_ns, &c.stamp_s,
		   &c.stamp_ns);
	if ((n != 4 && n != 10) || !oci_digest_valid(digest) || !oci_digest_valid(diff_id) ||
	    size < 0)
		goto drop;
	blob = oci_blobs_path(cache_dir, digest);
	if (!blob) {
		oci_buf_release(&b);
		oci_free(path);
		return oci_err_nomem(err);
	}
	if (stat(blob, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != size)
		goto drop;
	memcpy(r->digest, digest, sizeof(digest));
	memcpy(r->diff_id, diff_id, sizeof(diff_id));
	r->size = size;
	r->tar_size = tar_size;
	*hit = 1;
	if (checked && n == 10 && !checked_racy(&c) && c.dev == (unsigned long long)st.st_dev &&
	    c.ino == (unsigned long long)st.st_ino && c.mtime_s == (long long)st.st_mtim.tv_sec &&
	    c.mtime_ns == (unsigned)st.st_mtim.tv_nsec)
		*checked = 1;
	goto out;
drop:
	unlink(path);
out:
	oci_free(blob);
	oci_buf_release(&b);
	oci_free(path);
	return 0;
}

/* Write key's entry for r, with the record of a check when c is not NULL. */
static int put_entry(const char *cache_dir, const char *key, const oci_layer_result *r,
		     const struct checked *c, ocibuild_error *err)
{
	oci_buf line = OCI_BUF_INIT(MAX_ENTRY), dir = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	char *path = NULL;
	int rc = -1;

	if (oci_buf_printf(&dir, err, "%s/layers", cache_dir) < 0 ||
	    oci_mkdirs(dir.data, 0755, err) < 0)
		goto out;
	path = entry_path(cache_dir, key);
	if (!path) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_buf_printf(&line, err, "%s %s %lld %llu", r->digest, r->diff_id,
			   (long long)r->size, (unsigned long long)r->tar_size) < 0 ||
	    (c && oci_buf_printf(&line, err, " %llu %llu %lld %u %lld %u", c->dev, c->ino,
				 c->mtime_s, c->mtime_ns, c->stamp_s, c->stamp_ns) < 0) ||
	    oci_buf_puts(&line, "\n", err) < 0)
		goto out;
	rc = oci_write_file_atomic(path, line.data, line.len, 0, err);
out:
	oci_free(path);
	oci_buf_release(&line);
	oci_buf_release(&dir);
	return rc;
}

int oci_lcache_take(const char *cache_dir, const char *key, const oci_layer_result *r,
		    int checked, const char *dst_dir, int durable, ocibuild_error *err)
{
	struct timespec now;
	struct checked c;
	oci_fstamp seen;
	int have_seen = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	if (oci_blobs_import_seen(dst_dir, cache_dir, r->digest, r->size, durable, checked,
				  &seen, &have_seen, err) < 0)
		return -1;
	if (checked || !have_seen)
		return 0;
	c.dev = seen.dev;
	c.ino = seen.ino;
	c.mtime_s = seen.mtime_s;
	c.mtime_ns = seen.mtime_ns;
	c.stamp_s = (long long)now.tv_sec;
	c.stamp_ns = (unsigned)now.tv_nsec;
	if (checked_racy(&c))
		return 0; /* too recent to vouch for: checked again next time */
	/* a hint: without it the next build reads the blob again */
	if (put_entry(cache_dir, key, r, &c, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		ocibuild_error_clear(err);
	}
	return 0;
}

int oci_lcache_put(const char *cache_dir, const char *key, const char *blob_dir,
		   const oci_layer_result *r, ocibuild_error *err)
{
	if (oci_blobs_prepare(cache_dir, err) < 0 ||
	    oci_blobs_adopt(cache_dir, blob_dir, r->digest, r->size, err) < 0)
		return -1;
	/* no record of a check: the blob was written just now (racy) */
	return put_entry(cache_dir, key, r, NULL, err);
}

void oci_lcache_drop(const char *cache_dir, const char *key)
{
	char *path = entry_path(cache_dir, key);

	if (path)
		unlink(path);
	oci_free(path);
}

void oci_lcache_touch(const char *cache_dir, const char *digest)
{
	char *path = oci_blobs_path(cache_dir, digest);

	/* the access time: the mtime is what a check of the blob vouches for */
	struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };

	if (path)
		utimensat(AT_FDCWD, path, t, 0);
	oci_free(path);
}

struct aged {
	char *name;
	struct timespec used;
	uint64_t size;
};

static int older_first(const void *a, const void *b)
{
	const struct aged *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

int oci_lcache_trim(const char *cache_dir, uint64_t max, uint64_t *removed,
		    ocibuild_error *err)
{
	oci_buf dir = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct aged *v = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0, gone = 0;
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	if (removed)
		*removed = 0;
	if (oci_buf_printf(&dir, err, "%s/%s", cache_dir, OCI_SIDX_DIR) < 0)
		return -1;
	oci_sidx_trim(dir.data, time(NULL));
	/* the members records age out as the stat index files do */
	oci_buf_reset(&dir);
	if (oci_buf_printf(&dir, err, "%s/%s", cache_dir, MEMBERS_DIR) < 0)
		return -1;
	oci_sidx_trim(dir.data, time(NULL));
	oci_buf_reset(&dir);
	if (oci_buf_printf(&dir, err, "%s/blobs/sha256", cache_dir) < 0)
		return -1;
	d = opendir(dir.data);
	if (!d) {
		oci_buf_release(&dir);
		return 0; /* no blobs yet */
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strlen(de->d_name) != 64 || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct aged *nv = oci_reallocarray(v, nc, sizeof(*v));

			if (!nv) {
				oci_err_nomem(err);
				goto out;
			}
			v = nv;
			cap = nc;
		}
		v[n].name = oci_strdup(de->d_name);
		if (!v[n].name) {
			oci_err_nomem(err);
			goto out;
		}
		v[n].used = st.st_atim;
		v[n].size = (uint64_t)st.st_size;
		total += v[n].size;
		n++;
	}
	if (total > max) {
		qsort(v, n, sizeof(*v), older_first);
		for (i = 0; i < n && total > max; i++) {
			if (unlinkat(dirfd(d), v[i].name, 0) == 0 || errno == ENOENT) {
				total -= v[i].size;
				gone += v[i].size;
			}
		}
	}
	if (removed)
		*removed = gone;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		oci_free(v[i].name);
	oci_free(v);
	closedir(d);
	oci_buf_release(&dir);
	return rc;
}

void oci_lcache_slot(const char *root, const char *prefix, const char *what,
		     const char *first, char *slot)
{
	char *cwd = NULL, *abs = abs_path(root ? root : "", &cwd), digest[OCI_DIGEST_LEN + 1];
	oci_sha256 h;

	/* without memory or a hash: a slot no record has */
	memset(slot, '0', 16);
	slot[16] = '\0';
	if (abs && oci_sha256_init(&h, NULL) == 0) {
		put_str(&h, abs);
		put_str(&h, prefix);
		put_str(&h, what);
		put_str(&h, first);
		oci_sha256_final(&h, digest);
		oci_sha256_release(&h);
		memcpy(slot, digest + 7, 16);
	}
	oci_free(abs);
	oci_free(cwd);
}

static char *members_path(const char *cache_dir, const char *slot)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	if (oci_buf_printf(&b, NULL, "%s/%s/%s", cache_dir, MEMBERS_DIR, slot ? slot : "") < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

int oci_lcache_members_get(const char *cache_dir, const char *slot, char *digest,
			   oci_gz_member **v, size_t *n, ocibuild_error *err)
{
	char *path = members_path(cache_dir, slot), *p, *end;
	oci_buf b = OCI_BUF_INIT(MEMBERS_MAX_BYTES);
	ocibuild_error e = { 0 };
	oci_gz_member *m = NULL;
	unsigned long count, i;
	size_t hl = strlen(MEMBERS_MAGIC);
	int rc = 0;

	*v = NULL;
	*n = 0;
	if (!path)
		return oci_err_nomem(err);
	if (oci_read_file(path, MEMBERS_MAX_BYTES, &b, &e) < 0) {
		rc = e.kind == OCIBUILD_ERR_NOMEM ? oci_err_nomem(err) : 0;
		ocibuild_error_clear(&e);
		goto out;
	}
	/* MAGIC\nsha256:<hex> COUNT\n, then COUNT lines "LEN CRC ISIZE" */
	p = b.data;
	if (b.len < hl + 1 || memcmp(p, MEMBERS_MAGIC, hl) || p[hl] != '\n')
		goto out;
	p += hl + 1;
	if (strncmp(p, "sha256:", 7) || !oci_hex_valid(p + 7, 64) || p[71] != ' ')
		goto out;
	memcpy(digest, p, OCI_DIGEST_LEN);
	digest[OCI_DIGEST_LEN] = '\0';
	p += 72;
	errno = 0;
	count = strtoul(p, &end, 10);
	if (errno || end == p || *end != '\n' || !count || count > MEMBERS_MAX)
		goto out;
	p = end + 1;
	m = oci_calloc(count, sizeof(*m));
	if (!m) {
		rc = oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < count; i++) {
		unsigned long f[3];
		int k;

		for (k = 0; k < 3; k++) {
			if (*p < '0' || *p > '9')
				goto out;
			errno = 0;
			f[k] = strtoul(p, &end, 10);
			if (errno || f[k] > UINT32_MAX || *end != (k < 2 ? ' ' : '\n'))
				goto out;
			p = end + 1;
		}
		m[i].len = (uint32_t)f[0];
		m[i].crc = (uint32_t)f[1];
		m[i].isize = (uint32_t)f[2];
	}
	if (p != b.data + b.len)
		goto out;
	*v = m;
	*n = count;
	m = NULL;
	rc = 1;
out:
	oci_free(m);
	oci_free(path);
	oci_buf_release(&b);
	return rc;
}

int oci_lcache_members_put(const char *cache_dir, const char *slot, const char *digest,
			   const oci_gz_member *v, size_t n, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(MEMBERS_MAX_BYTES);
	char *path = NULL;
	size_t i;
	int rc = -1;

	if (!n || n > MEMBERS_MAX)
		return 0;
	path = members_path(cache_dir, NULL);
	if (!path)
		return oci_err_nomem(err);
	if (oci_mkdirs(path, 0755, err) < 0)
		goto out;
	oci_free(path);
	path = members_path(cache_dir, slot);
	if (!path) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_buf_printf(&b, err, "%s\n%s %zu\n", MEMBERS_MAGIC, digest, n) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (oci_buf_printf(&b, err, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n", v[i].len,
				   v[i].crc, v[i].isize) < 0)
			goto out;
	rc = oci_write_file_atomic(path, b.data, b.len, 0, err);
out:
	oci_free(path);
	oci_buf_release(&b);
	return rc;
}

int oci_lcache_empty(const char *cache_dir)
{
	char *dir = entry_path(cache_dir, "");
	struct dirent *de;
	DIR *d;
	int empty = 1;

	if (!dir)
		return 0;
	d = opendir(dir);
	oci_free(dir);
	if (!d)
		return errno == ENOENT;
	/* an entry is named by its key; a temporary name starts with a dot */
	while (empty && (de = readdir(d)))
		if (de->d_name[0] != '.')
			empty = 0;
	closedir(d);
	return empty;
}
