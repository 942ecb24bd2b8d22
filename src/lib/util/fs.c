/* Small filesystem helpers: paths, directories, whole small files written
 * atomically (a temporary name in the same directory, then rename). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
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

int oci_tmpfile_in(const char *dir_of, const char *stem, unsigned mode, char **out,
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

int oci_close_file(int fd, const char *path, int durable, ocibuild_error *err)
{
	if (durable && fsync(fd) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", path, strerror(errno));
	if (close(fd) < 0)
		return oci_err_errno(err, errno, "cannot write '%s': %s", path, strerror(errno));
	return 0;
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

int oci_file_not_native(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && !strcmp(name + n - 5, ".beam");
}

int oci_file_is_elf(int dfd, const char *name, int flags)
{
	unsigned char m[4];
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | flags);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, m, sizeof(m));
	close(fd);
	if (n != (ssize_t)sizeof(m))
		return -1;
	return m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
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
	if (oci_tmpfile_in(*dir ? dir : "/", stem, mode, &tmp, &fd, err) < 0)
		goto out;
	if (oci_write_all(fd, data, len, tmp, err) < 0)
		goto out;
	rc = oci_close_file(fd, tmp, durable, err);
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

void oci_fstamp_of(const struct stat *st, oci_fstamp *out)
{
	memset(out, 0, sizeof(*out));
	out->dev = (uint64_t)st->st_dev;
	out->ino = (uint64_t)st->st_ino;
	out->size = (uint64_t)st->st_size;
	out->mode = (uint32_t)st->st_mode;
	out->mtime_s = (int64_t)st->st_mtim.tv_sec;
	out->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	out->ctime_s = (int64_t)st->st_ctim.tv_sec;
	out->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

int oci_fstamp_same(const oci_fstamp *a, const oci_fstamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mode == b->mode &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
	       a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}
