#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "fs.h"
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "sink.h"
#include "banned.h"

int oci_blobs_prepare(const char *dir, ocibuild_error *err)
{
	char *p = oci_path_join(dir, "blobs/sha256");
	int rc;

	if (!p)
		return oci_err_nomem(err);
	rc = oci_mkdirs(p, 0755, err);
	oci_free(p);
	return rc;
}

char *oci_blobs_path(const char *dir, const char *digest)
{
	size_t ld = strlen(dir);
	char *s = oci_malloc(ld + 14 + 64 + 1);

	if (!s)
		return NULL;
	memcpy(s, dir, ld);
	memcpy(s + ld, "/blobs/sha256/", 14);
	memcpy(s + ld + 14, oci_digest_hex(digest), 65);
	return s;
}

/* No allocation: a failure here would read as "absent". */
int oci_blobs_has(const char *dir, const char *digest)
{
	char p[PATH_MAX];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, oci_digest_hex(digest));

	return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int oci_blobs_begin(const char *dir, oci_blob_tmp *t, ocibuild_error *err)
{
	char *bd = oci_path_join(dir, "blobs/sha256");
	int rc;

	t->fd = -1;
	t->path = NULL;
	if (!bd)
		return oci_err_nomem(err);
	rc = oci_tmpfile_in(bd, ".tmp-", 0644, &t->path, &t->fd, err);
	oci_free(bd);
	return rc;
}

int oci_blobs_commit(const char *dir, oci_blob_tmp *t, const char *digest,
		     int durable, ocibuild_error *err)
{
	char *final = oci_blobs_path(dir, digest);
	int fd = t->fd, rc = -1;

	t->fd = -1;
	if (!final) {
		close(fd);
		oci_blobs_abort(t);
		return oci_err_nomem(err);
	}
	if (oci_close_file(fd, t->path, durable, err) < 0)
		goto out;
	if (rename(t->path, final) < 0) {
		oci_err_errno(err, errno, "cannot rename '%s' to '%s': %s", t->path, final,
			      strerror(errno));
		goto out;
	}
	oci_free(t->path);
	t->path = NULL;
	rc = 0;
out:
	if (rc < 0)
		oci_blobs_abort(t);
	oci_free(final);
	return rc;
}

void oci_blobs_abort(oci_blob_tmp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->path)
		unlink(t->path);
	oci_free(t->path);
	t->path = NULL;
}

int oci_blobs_put(const char *dir, const void *data, size_t len, char *digest,
		  int durable, ocibuild_error *err)
{
	oci_blob_tmp t;

	if (oci_sha256_buf(data, len, digest, err) < 0)
		return -1;
	if (oci_blobs_has(dir, digest))
		return 0;
	if (oci_blobs_begin(dir, &t, err) < 0)
		return -1;
	if (oci_write_all(t.fd, data, len, t.path, err) < 0) {
		oci_blobs_abort(&t);
		return -1;
	}
	return oci_blobs_commit(dir, &t, digest, durable, err);
}

int oci_blobs_read(const char *dir, const char *digest, size_t max, oci_buf *out,
		   ocibuild_error *err)
{
	char *p = oci_blobs_path(dir, digest);
	char got[OCI_DIGEST_LEN + 1];
	int rc;

	if (!p)
		return oci_err_nomem(err);
	rc = oci_read_file(p, max, out, err);
	if (rc == 0)
		rc = oci_sha256_buf(out->data, out->len, got, err);
	if (rc == 0 && strcmp(got, digest) != 0)
		rc = oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			     "blob '%s' does not match its digest (it hashes to %s): the layout is corrupt",
			     p, got);
	oci_free(p);
	return rc;
}

static int copy_verify(int in, const char *src, oci_blob_tmp *t, const char *digest,
		       int64_t size, ocibuild_error *err)
{
	static const size_t bufsize = 256 * 1024;
	unsigned char *buf = oci_malloc(bufsize);
	oci_sha256 h;
	char got[OCI_DIGEST_LEN + 1];
	int64_t total = 0;
	int rc = -1;

	if (!buf)
		return oci_err_nomem(err);
	if (oci_sha256_init(&h, err) < 0) {
		oci_free(buf);
		return -1;
	}
	for (;;) {
		ssize_t n = read(in, buf, bufsize);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			oci_err_errno(err, errno, "cannot read '%s': %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		oci_sha256_update(&h, buf, (size_t)n);
		total += n;
		if (t && oci_write_all(t->fd, buf, (size_t)n, t->path, err) < 0)
			goto out;
	}
	oci_sha256_final(&h, got);
	if (strcmp(got, digest) != 0 || (size >= 0 && total != size)) {
		oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			"blob '%s' does not match its descriptor (digest %s, %lld bytes; expected %s, %lld bytes): the base layout is corrupt",
			src, got, (long long)total, digest, (long long)size);
		goto out;
	}
	rc = 0;
out:
	oci_sha256_release(&h);
	oci_free(buf);
	return rc;
}

int oci_blobs_verify(const char *dir, const char *digest, int64_t size, ocibuild_error *err)
{
	char *path = oci_blobs_path(dir, digest);
	int in, rc;

	if (!path)
		return oci_err_nomem(err);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = oci_err_errno(err, errno, "cannot open blob '%s': %s", path, strerror(errno));
	} else {
		rc = copy_verify(in, path, NULL, digest, size, err);
		close(in);
	}
	oci_free(path);
	return rc;
}

/* Link or copy; `trusted` skips re-reading a linked blob whose content the
 * caller vouches for (a copy is checked as it is made). *seen, when not
 * NULL, gets the source's stat when a check read it and it did not change
 * while it was read (*have_seen 1). */
static int import_blob(const char *dst_dir, const char *src_dir, const char *digest,
		       int64_t size, int durable, int trusted, oci_fstamp *seen,
		       int *have_seen, ocibuild_error *err)
{
	char *src = oci_blobs_path(src_dir, digest);
	char *dst = oci_blobs_path(dst_dir, digest);
	oci_blob_tmp t = { -1, NULL };
	struct stat st1, st2;
	int in = -1, rc = -1, linked = 0, have1;

	if (have_seen)
		*have_seen = 0;
	if (!src || !dst) {
		oci_err_nomem(err);
		goto out;
	}
	if (trusted && (oci_blobs_has(dst_dir, digest) || link(src, dst) == 0)) {
		rc = 0; /* not opened at all */
		goto out;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		oci_err_errno(err, errno, "cannot open blob '%s': %s", src, strerror(errno));
		goto out;
	}
	have1 = seen && fstat(in, &st1) == 0;
	if (!trusted && (oci_blobs_has(dst_dir, digest) || link(src, dst) == 0)) {
		linked = 1;
		rc = copy_verify(in, src, NULL, digest, size, err);
	} else {
		if (oci_blobs_begin(dst_dir, &t, err) < 0)
			goto out;
		if (copy_verify(in, src, &t, digest, size, err) < 0) {
			oci_blobs_abort(&t);
			goto out;
		}
		rc = oci_blobs_commit(dst_dir, &t, digest, durable, err);
	}
	if (rc == 0 && have1 && fstat(in, &st2) == 0) {
		oci_fstamp a, b;

		oci_fstamp_of(&st1, &a);
		oci_fstamp_of(&st2, &b);
		/* a link of its own changes the ctime, nothing else */
		if (linked)
			a.ctime_s = b.ctime_s, a.ctime_ns = b.ctime_ns;
		if (oci_fstamp_same(&a, &b)) {
			*seen = b;
			*have_seen = 1;
		}
	}
out:
	if (in >= 0)
		close(in);
	oci_free(src);
	oci_free(dst);
	return rc;
}

int oci_blobs_import(const char *dst_dir, const char *src_dir, const char *digest,
		     int64_t size, int durable, ocibuild_error *err)
{
	return import_blob(dst_dir, src_dir, digest, size, durable, 0, NULL, NULL, err);
}

int oci_blobs_import_seen(const char *dst_dir, const char *src_dir, const char *digest,
			  int64_t size, int durable, int trusted, oci_fstamp *seen,
			  int *have_seen, ocibuild_error *err)
{
	return import_blob(dst_dir, src_dir, digest, size, durable, trusted, seen, have_seen,
			   err);
}

int oci_blobs_adopt(const char *dst_dir, const char *src_dir, const char *digest,
		    int64_t size, ocibuild_error *err)
{
	return import_blob(dst_dir, src_dir, digest, size, 0, 1, NULL, NULL, err);
}
