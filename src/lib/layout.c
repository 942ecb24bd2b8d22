#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "blobstore.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "layer.h"
#include "tar.h"
#include "mem.h"
#include "walk.h"
#include "banned.h"

static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

int oci_layout_read_index(const char *dir, oci_index *x, ocibuild_error *err)
{
	char *p = oci_path_join(dir, "index.json");
	oci_buf b = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	struct stat st;
	int rc;

	memset(x, 0, sizeof(*x));
	if (!p)
		return oci_err_nomem(err);
	if (stat(p, &st) < 0 && errno == ENOENT) {
		oci_free(p);
		return 0;
	}
	rc = oci_read_file(p, OCI_MAX_MANIFEST, &b, err);
	if (rc == 0) {
		rc = oci_index_parse(b.data, b.len, x, err);
		if (rc < 0)
			oci_err_prefix(err, "'%s'", p);
	}
	oci_buf_release(&b);
	oci_free(p);
	return rc;
}

int oci_layout_write_index(const char *dir, const oci_index *x, int durable,
			   ocibuild_error *err)
{
	char *lf = oci_path_join(dir, "oci-layout"), *ix = oci_path_join(dir, "index.json");
	oci_buf b = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	struct stat st;
	int rc = -1;

	if (!lf || !ix) {
		oci_err_nomem(err);
		goto out;
	}
	if (stat(lf, &st) < 0 &&
	    oci_write_file_atomic(lf, layout_file, sizeof(layout_file) - 1, durable, err) < 0)
		goto out;
	if (oci_index_serialize(x, &b, err) < 0)
		goto out;
	rc = oci_write_file_atomic(ix, b.data, b.len, durable, err);
out:
	oci_buf_release(&b);
	oci_free(lf);
	oci_free(ix);
	return rc;
}

int oci_layout_set_ref(oci_index *x, const oci_descriptor *desc,
		       const char *ref_name, ocibuild_error *err)
{
	oci_descriptor d;
	size_t i;
	int rc;

	for (i = 0; i < x->n; i++) {
		const char *n = oci_map_get(&x->manifests[i].annotations, OCI_ANN_REF_NAME);

		if (n && !strcmp(n, ref_name)) {
			oci_index_remove(x, i);
			break;
		}
	}
	if (oci_descriptor_copy(&d, desc, err) < 0)
		return -1;
	rc = oci_map_set(&d.annotations, OCI_ANN_REF_NAME, ref_name, err);
	if (rc == 0)
		rc = oci_index_add(x, &d, err);
	oci_descriptor_release(&d);
	return rc;
}

/* ---- writers: the lock and the transaction ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void txn_end(oci_layout_txn *t)
{
	if (t->fd >= 0)
		close(t->fd); /* lets go of the lock */
	oci_free(t->dir);
	oci_free(t->lock_path);
	oci_strlist_release(&t->added);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

/* Wait for the lock on t->fd: flock(2) cannot time out, so poll it, with
 * short naps that grow to 50 ms, watching the clock and the cancel callback. */
static int wait_lock(oci_layout_txn *t, unsigned timeout, ocibuild_cancel_fn cancel,
		     void *cancel_userdata, ocibuild_error *err)
{
	long long deadline = now_ms() + (long long)timeout * 1000;
	long nap = 1;

	while (flock(t->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return oci_err_errno(err, errno, "cannot lock '%s' of layout '%s': %s",
					     t->lock_path, t->dir, strerror(errno));
		if (cancel && cancel(cancel_userdata))
			return oci_err(err, OCIBUILD_ERR_CANCELLED, 0, "interrupted");
		if (now_ms() >= deadline)
			return oci_err(err, OCIBUILD_ERR_IO, EWOULDBLOCK,
				       "layout '%s' is locked by another writer: gave up waiting for '%s' after %u s; "
				       "let the other ocibuild finish, or wait longer with --lock-timeout",
				       t->dir, t->lock_path, timeout);
		nap_ms(nap);
		if (nap < 50)
			nap *= 2;
	}
	return 0;
}

int oci_layout_txn_begin(oci_layout_txn *t, const char *dir, unsigned timeout,
			 ocibuild_cancel_fn cancel, void *cancel_userdata,
			 ocibuild_error *err)
{
	struct stat held, named;
	int locked = 0;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->dir = oci_strdup(dir);
	t->lock_path = oci_path_join(dir, OCI_LAYOUT_LOCK);
	if (!t->dir || !t->lock_path) {
		oci_err_nomem(err);
		goto fail;
	}
	for (;;) {
		t->created = 0;
		if (mkdir(dir, 0755) == 0) {
			t->created = 1;
		} else if (errno == ENOENT) {
			if (oci_mkdirs(dir, 0755, err) < 0)
				goto fail;
			t->created = 1;
		} else if (errno != EEXIST) {
			oci_err_errno(err, errno, "cannot create layout '%s': %s", dir, strerror(errno));
			goto fail;
		}
		/* read-only is enough for flock, and lets a writer who may not
		 * write the lock file (made by someone else) still wait on it */
		t->fd = open(t->lock_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (t->fd < 0) {
			oci_err_errno(err, errno, "cannot open '%s' to lock layout '%s': %s",
				      t->lock_path, dir, strerror(errno));
			goto fail;
		}
		if (wait_lock(t, timeout, cancel, cancel_userdata, err) < 0)
			goto fail;
		/* A writer that made the layout and failed removed it, lock file
		 * and all, while we waited: our lock is on a file nobody else
		 * can find, so start again. */
		if (fstat(t->fd, &held) == 0 && stat(t->lock_path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino)
			break;
		close(t->fd);
		t->fd = -1;
	}
	locked = 1;
	if (oci_blobs_prepare(dir, err) < 0)
		goto fail;
	return 0;
fail:
	if (locked) {
		oci_layout_txn_abort(t);
		return -1;
	}
	/* without the lock only an empty directory is surely ours */
	if (t->created)
		rmdir(dir);
	txn_end(t);
	return -1;
}

int oci_layout_txn_add(oci_layout_txn *t, const char *src_dir, const char *digest,
		       int64_t size, ocibuild_error *err)
{
	if (oci_blobs_has(t->dir, digest))
		return 0;
	/* recorded first, and kept when the import fails (it may fail after
	 * the blob is in place): it was not there before, so abort removes it */
	if (oci_strlist_push(&t->added, digest, err) < 0)
		return -1;
	return oci_blobs_import(t->dir, src_dir, digest, size, 1, err);
}

int oci_layout_txn_commit(oci_layout_txn *t, const oci_descriptor *desc,
			  const char *const *refs, size_t nrefs, ocibuild_error *err)
{
	oci_index x;
	size_t i;
	int rc = 0;

	if (oci_layout_read_index(t->dir, &x, err) < 0)
		return -1;
	for (i = 0; i < nrefs && rc == 0; i++)
		rc = oci_layout_set_ref(&x, desc, refs[i], err);
	if (rc == 0)
		rc = oci_layout_write_index(t->dir, &x, 1, err);
	oci_index_release(&x);
	if (rc == 0)
		txn_end(t);
	return rc;
}

/* The blobs and index.json are found without allocating: this runs on the
 * way out of out-of-memory failures too. */
void oci_layout_txn_abort(oci_layout_txn *t)
{
	char p[PATH_MAX];
	struct stat st;
	size_t i;

	if (!t->dir)
		return;
	for (i = 0; i < t->added.n; i++)
		if (snprintf(p, sizeof(p), "%s/blobs/sha256/%s", t->dir,
			     oci_digest_hex(t->added.v[i])) < (int)sizeof(p))
			unlink(p);
	/* a layout begin made goes again, unless another writer has
	 * committed to it since (we hold the lock: nobody is adding now) */
	if (t->created && snprintf(p, sizeof(p), "%s/index.json", t->dir) < (int)sizeof(p) &&
	    stat(p, &st) < 0 && errno == ENOENT)
		oci_remove_tree(t->dir);
	txn_end(t);
}

static int make_tmp_near(const char *path, char **tmp, int *fd, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	const char *slash = strrchr(path, '/');

	if ((slash && oci_buf_append(&b, path, (size_t)(slash - path + 1), err) < 0) ||
	    oci_buf_printf(&b, err, ".%s.tmp-XXXXXX", slash ? slash + 1 : path) < 0) {
		oci_buf_release(&b);
		return -1;
	}
	*fd = mkostemp(b.data, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		oci_buf_release(&b);
		return oci_err_errno(err, e,
				     "cannot create '%s': %s; choose an output path in a directory you can write to",
				     path, strerror(e));
	}
	fchmod(*fd, 0644);
	*tmp = oci_buf_detach(&b, NULL);
	return 0;
}

/* An uncompressed archive that would come out byte for byte as the file
 * already at path (as make_tmp_near makes it: mode 0644, ours, one link)
 * need not be written: 1 when it is so (its mtime then set to now, as a
 * write would, and its data synced), 0 when it must be written, -1 when a
 * source can not be read. Comparing reads both from the page cache: far
 * cheaper than writing, fsyncing and freeing the old file's blocks. A
 * first pass compares the tar headers, index.json and the like only (a
 * few KiB), so an archive that differs is seldom read much further. */
static int archive_unchanged(const oci_layer_opts *lo, const oci_walk_entry *const *v,
			     size_t n, const char *path, ocibuild_error *err)
{
	oci_cmp_sink c;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int pass, rc = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_mode & 07777) != 0644 || st.st_uid != geteuid()) {
		close(fd);
		return 0;
	}
	for (pass = 0; pass < 2; pass++) {
		int same;

		if (oci_cmp_sink_init(&c, fd, (uint64_t)st.st_size, pass == 0, err) < 0) {
			rc = -1;
			break;
		}
		rc = oci_layer_tar(lo, v, n, &c.base, err);
		same = oci_cmp_sink_equal(&c);
		oci_cmp_sink_release(&c);
		if (rc < 0 || !same)
			break;
	}
	if (rc == 0 && pass == 2)
		rc = 1;
	/* kept only when it can be made to look written */
	if (rc == 1 && (futimens(fd, NULL) < 0 || fdatasync(fd) < 0))
		rc = 0;
	close(fd);
	return rc;
}

int oci_archive_begin(const char *path, char **tmp, int *fd, ocibuild_error *err)
{
	return make_tmp_near(path, tmp, fd, err);
}

/* The tar headers of the archive's first entries: the two directories
 * and the front blob, as oci_layer_tar writes them. */
static int front_head(int64_t mtime, const char *digest, uint64_t size, oci_buf *hb,
		      ocibuild_error *err)
{
	char path[sizeof("blobs/sha256/") + OCI_DIGEST_LEN];
	oci_tar_entry d1 = { "blobs", OCI_TAR_DIR, 0755, 0, NULL, mtime };
	oci_tar_entry d2 = { "blobs/sha256", OCI_TAR_DIR, 0755, 0, NULL, mtime };
	oci_tar_entry f = { path, OCI_TAR_FILE, 0644, size, NULL, mtime };

	snprintf(path, sizeof(path), "blobs/sha256/%s", oci_digest_hex(digest));
	if (oci_tar_header(&d1, hb, err) < 0 || oci_tar_header(&d2, hb, err) < 0 ||
	    oci_tar_header(&f, hb, err) < 0)
		return -1;
	return 0;
}

int oci_archive_front_fits(int64_t mtime, uint64_t size)
{
	static const char any[] = "sha256:"
				  "0000000000000000000000000000000000000000000000000000000000000000";
	oci_buf hb = OCI_BUF_INIT(OCI_TAR_MAX_HEADER * 3);
	int fits = front_head(mtime, any, size, &hb, NULL) == 0 &&
		   hb.len == OCI_ARCHIVE_FRONT_AT;

	oci_buf_release(&hb);
	return fits;
}

/* v (sorted) with the front blob moved to just after blobs/ and
 * blobs/sha256/: 1 when it is in v, 0 when not, -1 when those are not
 * first (not a layout). */
static int front_first(const oci_walk_entry **v, size_t n, const char *front)
{
	char name[sizeof("blobs/sha256/") + OCI_DIGEST_LEN];
	size_t k;

	if (n < 2 || strcmp(v[0]->rel, "blobs") || strcmp(v[1]->rel, "blobs/sha256"))
		return -1;
	snprintf(name, sizeof(name), "blobs/sha256/%s", oci_digest_hex(front));
	for (k = 2; k < n && strcmp(v[k]->rel, name); k++)
		;
	if (k < n) {
		const oci_walk_entry *e = v[k];

		memmove(&v[3], &v[2], (k - 2) * sizeof(*v));
		v[2] = e;
		return 1;
	}
	return 0;
}

/* len bytes of data into fd (path) at off */
static int put_at(int fd, const void *data, size_t len, uint64_t off, const char *path,
		  ocibuild_error *err)
{
	if (lseek(fd, (off_t)off, SEEK_SET) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", path, strerror(errno));
	return oci_write_all(fd, data, len, path, err);
}

/* The front blob is in tmp at OCI_ARCHIVE_FRONT_AT: its headers before
 * it, then the rest of v (after the directories and, when src has it too,
 * the front blob: from skip on) after its padding. */
static int write_around_front(const oci_archive_opts *o, oci_layer_opts *lo,
			      const oci_walk_entry **v, size_t n, size_t skip,
			      ocibuild_error *err)
{
	oci_buf hb = OCI_BUF_INIT(OCI_TAR_MAX_HEADER * 3);
	static const unsigned char zeros[512];
	uint64_t end = OCI_ARCHIVE_FRONT_AT + (uint64_t)o->front_size;
	size_t pad = oci_tar_padding((uint64_t)o->front_size);
	int rc = -1;

	if (front_head(o->mtime, o->front, (uint64_t)o->front_size, &hb, err) < 0)
		goto out;
	if (hb.len != OCI_ARCHIVE_FRONT_AT) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "the archive's first blob does not fit its place");
		goto out;
	}
	/* written whole (a write the kernel cuts short is taken up again, and
	 * then says why it can not go on), the file's offset left after them */
	if (put_at(o->front_fd, hb.data, hb.len, 0, o->front_tmp, err) < 0 ||
	    put_at(o->front_fd, zeros, pad, end, o->front_tmp, err) < 0)
		goto out;
	rc = oci_layer_to_fd(lo, v + skip, n - skip, o->front_fd, o->front_tmp, NULL, err);
out:
	oci_buf_release(&hb);
	return rc;
}

int oci_archive_write(const char *src, const oci_archive_opts *o, ocibuild_error *err)
{
	oci_walk w = { 0 };
	const oci_walk_entry **v = NULL;
	oci_layer_opts lo;
	char *tmp = NULL;
	const char *name; /* the temp file written: tmp, or o->front_tmp */
	int fd = -1, sfd, rc = -1, has_front = 0;
	size_t i;

	if (oci_walk_dir(src, &w, err) < 0)
		goto out;
	if (o->docker_manifest &&
	    oci_walk_add_data(&w, "manifest.json", 0644, o->docker_manifest,
			      strlen(o->docker_manifest), err) < 0)
		goto out;
	oci_walk_sort(&w);
	v = oci_calloc(w.n, sizeof(*v));
	if (!v) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < w.n; i++) {
		/* the layout's own files are readable by everyone in the archive */
		w.v[i].mode = w.v[i].type == OCI_TAR_DIR ? 0755 : 0644;
		v[i] = &w.v[i];
	}
	if (o->front && (has_front = front_first(v, w.n, o->front)) < 0) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "'%s' is not a blob layout", src);
		goto out;
	}
	memset(&lo, 0, sizeof(lo));
	lo.root = src;
	lo.prefix = "";
	lo.mtime = o->mtime;
	lo.compression = o->gzip ? OCIBUILD_COMPRESS_GZIP : OCIBUILD_COMPRESS_NONE;
	lo.threads = o->threads;
	lo.write_behind = 1; /* fsynced below */
	lo.cancel = o->cancel;
	lo.cancel_userdata = o->cancel_userdata;
	if (o->front_tmp) {
		/* written as the front blob was made: nothing to compare */
		if (write_around_front(o, &lo, v, w.n, 2 + (size_t)has_front, err) < 0)
			goto out;
		sfd = o->front_fd;
		name = o->front_tmp;
	} else {
		if (!o->gzip) {
			rc = archive_unchanged(&lo, v, w.n, o->path, err);
			if (rc != 0)
				goto out;
			rc = -1;
		}
		if (make_tmp_near(o->path, &tmp, &fd, err) < 0)
			goto out;
		if (oci_layer_to_fd(&lo, v, w.n, fd, tmp, NULL, err) < 0)
			goto out;
		sfd = fd;
		name = tmp;
	}
	/* synced (and closed, when the file is this function's), then moved
	 * into place */
	if (fsync(sfd) < 0 || (fd >= 0 && close(fd) < 0)) {
		fd = -1;
		oci_err_errno(err, errno, "cannot write '%s': %s", name, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(name, o->path) < 0) {
		oci_err_errno(err, errno, "cannot create '%s': %s", o->path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	oci_free(tmp);
	oci_free(v);
	oci_walk_release(&w);
	return rc;
}
