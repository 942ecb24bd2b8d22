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
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "sink.h"
#include "banned.h"

char *oci_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = oci_malloc(la + 1 + lb + 1);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

int oci_mkdirs(const char *path, unsigned mode, ocibuild_error *err)
{
	char *p = oci_strdup(path), *s;
	int rc = 0;

	if (!p)
		return oci_err_nomem(err);
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = oci_err_errno(err, errno,
						   "cannot create directory '%s': %s", p,
						   strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	oci_free(p);
	return rc;
}

void oci_remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			char *sub;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			sub = oci_path_join(path, de->d_name);
			if (sub) {
				oci_remove_tree(sub);
				oci_free(sub);
			}
		}
		closedir(d);
	}
	rmdir(path);
}

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

static int make_tmp(const char *dir_of, const char *stem, unsigned mode, char **out,
		    int *fd, ocibuild_error *err)
{
	size_t ld = strlen(dir_of), ls = strlen(stem);
	char *t = oci_malloc(ld + 1 + ls + 8);

	if (!t)
		return oci_err_nomem(err);
	memcpy(t, dir_of, ld);
	t[ld] = '/';
	memcpy(t + ld + 1, stem, ls);
	memcpy(t + ld + 1 + ls, "XXXXXX", 7);
	*fd = mkostemp(t, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		oci_err_errno(err, e, "cannot create a file in '%s': %s%s", dir_of,
			      strerror(e),
			      e == EACCES || e == EROFS
				      ? "; choose an output location you can write to"
				      : "");
		oci_free(t);
		return -1;
	}
	/* mkstemp makes 0600; blobs are readable like any file we write */
	fchmod(*fd, mode);
	*out = t;
	return 0;
}

int oci_blobs_begin(const char *dir, oci_blob_tmp *t, ocibuild_error *err)
{
	char *bd = oci_path_join(dir, "blobs/sha256");
	int rc;

	t->fd = -1;
	t->path = NULL;
	if (!bd)
		return oci_err_nomem(err);
	rc = make_tmp(bd, ".tmp-", 0644, &t->path, &t->fd, err);
	oci_free(bd);
	return rc;
}

static int finish_fd(int fd, const char *path, int durable, ocibuild_error *err)
{
	if (durable && fsync(fd) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", path, strerror(errno));
	if (close(fd) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", path, strerror(errno));
	return 0;
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
	if (finish_fd(fd, t->path, durable, err) < 0)
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

int oci_read_file(const char *path, size_t max, oci_buf *out, ocibuild_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char tmp[65536];
	int rc = 0;

	if (fd < 0)
		return oci_err_errno(err, errno, "cannot open '%s': %s", path, strerror(errno));
	oci_buf_reset(out);
	out->max = max;
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = oci_err_errno(err, errno, "cannot read '%s': %s", path,
					   strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (oci_buf_append(out, tmp, (size_t)n, err) < 0) {
			oci_err_prefix(err, "'%s'", path);
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
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

/* Link or copy; `trusted` skips re-reading a linked blob that this process
 * has just written and hashed itself (a copy is checked as it is made). */
static int import_blob(const char *dst_dir, const char *src_dir, const char *digest,
		       int64_t size, int durable, int trusted, ocibuild_error *err)
{
	char *src = oci_blobs_path(src_dir, digest);
	char *dst = oci_blobs_path(dst_dir, digest);
	oci_blob_tmp t = { -1, NULL };
	int in = -1, rc = -1;

	if (!src || !dst) {
		oci_err_nomem(err);
		goto out;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		oci_err_errno(err, errno, "cannot open blob '%s': %s", src, strerror(errno));
		goto out;
	}
	if (oci_blobs_has(dst_dir, digest) || link(src, dst) == 0) {
		rc = trusted ? 0 : copy_verify(in, src, NULL, digest, size, err);
		goto out;
	}
	if (oci_blobs_begin(dst_dir, &t, err) < 0)
		goto out;
	if (copy_verify(in, src, &t, digest, size, err) < 0) {
		oci_blobs_abort(&t);
		goto out;
	}
	rc = oci_blobs_commit(dst_dir, &t, digest, durable, err);
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
	return import_blob(dst_dir, src_dir, digest, size, durable, 0, err);
}

int oci_blobs_adopt(const char *dst_dir, const char *src_dir, const char *digest,
		    int64_t size, ocibuild_error *err)
{
	return import_blob(dst_dir, src_dir, digest, size, 0, 1, err);
}

int oci_write_file_atomic(const char *path, const void *data, size_t len,
			  int durable, ocibuild_error *err)
{
	return oci_write_file_mode(path, data, len, 0644, durable, err);
}

int oci_write_file_mode(const char *path, const void *data, size_t len, unsigned mode,
			int durable, ocibuild_error *err)
{
	char *dir = oci_strdup(path), *slash, *tmp = NULL;
	const char *stem;
	int fd = -1, rc = -1;

	if (!dir)
		return oci_err_nomem(err);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		stem = ".tmp-";
	} else {
		oci_free(dir);
		dir = oci_strdup(".");
		if (!dir)
			return oci_err_nomem(err);
		stem = ".tmp-";
	}
	if (make_tmp(*dir ? dir : "/", stem, mode, &tmp, &fd, err) < 0)
		goto out;
	if (oci_write_all(fd, data, len, tmp, err) < 0)
		goto out;
	rc = finish_fd(fd, tmp, durable, err);
	fd = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = oci_err_errno(err, errno, "cannot rename '%s' to '%s': %s", tmp, path,
				   strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	oci_free(tmp);
	oci_free(dir);
	return rc;
}
