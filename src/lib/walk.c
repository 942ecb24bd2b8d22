#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walk.h"
#include "buf.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define MAX_DEPTH 256

static int push(oci_walk *w, oci_walk_entry *e, ocibuild_error *err)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		oci_walk_entry *v = oci_reallocarray(w->v, cap, sizeof(*v));

		if (!v)
			return oci_err_nomem(err);
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = *e;
	return 0;
}

/* *out: st's tuple on the heap when w keeps them (else NULL) */
static int stamp_of(const oci_walk *w, const struct stat *st, oci_fstamp **out,
		    ocibuild_error *err)
{
	*out = NULL;
	if (!w->stamp || !S_ISREG(st->st_mode))
		return 0;
	*out = oci_malloc(sizeof(**out));
	if (!*out)
		return oci_err_nomem(err);
	oci_fstamp_of(st, *out);
	return 0;
}

static const char *kind_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "an unsupported file type";
}

static int walk_at(int dfd, const char *root, const char *rel, int depth,
		   oci_walk *w, ocibuild_error *err)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "'%s/%s' is nested more than %d directories deep", root,
			       rel, MAX_DEPTH);
	d = fdopendir(dfd);
	if (!d) {
		int e = errno;

		close(dfd);
		return oci_err_errno(err, e, "cannot read directory '%s/%s': %s", root,
				     rel, strerror(e));
	}
	while (rc == 0) {
		oci_walk_entry e;
		struct stat st;
		char *path;
		size_t rl = strlen(rel), nl;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = oci_err_errno(err, errno, "cannot read directory '%s/%s': %s",
						   root, rel, strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nl = strlen(de->d_name);
		path = oci_malloc(rl + 1 + nl + 1);
		if (!path) {
			rc = oci_err_nomem(err);
			break;
		}
		if (rl) {
			memcpy(path, rel, rl);
			path[rl] = '/';
			memcpy(path + rl + 1, de->d_name, nl + 1);
		} else {
			memcpy(path, de->d_name, nl + 1);
		}
		/* the walk goes by directory fd, but the layer is later read
		 * by path name: refuse what no path can name */
		if (strlen(root) + 1 + strlen(path) >= PATH_MAX) {
			size_t pl = strlen(path);
			int cut = pl > 100;

			rc = oci_err(err, OCIBUILD_ERR_INPUT, ENAMETOOLONG,
				     "'%s/%.*s%s%s' (%zu bytes) is longer than the %d-byte path limit (PATH_MAX): shorten the names or the nesting in the tree",
				     root, cut ? 40 : (int)pl, path, cut ? "..." : "",
				     cut ? path + pl - 40 : "", strlen(root) + 1 + pl, PATH_MAX);
			oci_free(path);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = oci_err_errno(err, errno, "cannot stat '%s/%s': %s", root, path,
					   strerror(errno));
			oci_free(path);
			break;
		}
		memset(&e, 0, sizeof(e));
		e.rel = path;
		e.mode = st.st_mode & 07777;
		if (S_ISREG(st.st_mode)) {
			e.type = OCI_TAR_FILE;
			e.size = (uint64_t)st.st_size;
			if (stamp_of(w, &st, &e.st, err) < 0) {
				oci_free(path);
				rc = -1;
				break;
			}
		} else if (S_ISDIR(st.st_mode)) {
			e.type = OCI_TAR_DIR;
		} else if (S_ISLNK(st.st_mode)) {
			oci_buf target = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
			char tmp[4096];
			ssize_t n = readlinkat(dirfd(d), de->d_name, tmp, sizeof(tmp));

			if (n < 0 || (size_t)n >= sizeof(tmp)) {
				rc = oci_err_errno(err, n < 0 ? errno : ENAMETOOLONG,
						   "cannot read symlink '%s/%s': %s", root, path,
						   strerror(n < 0 ? errno : ENAMETOOLONG));
				oci_free(path);
				break;
			}
			if (oci_buf_append(&target, tmp, (size_t)n, err) < 0) {
				oci_free(path);
				rc = -1;
				break;
			}
			e.type = OCI_TAR_SYMLINK;
			e.link = oci_buf_detach(&target, NULL);
			e.mode = 0777;
		} else {
			rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
				     "'%s/%s' is %s: image layers hold only files, directories and symlinks; remove it from the tree",
				     root, path, kind_name(st.st_mode));
			oci_free(path);
			break;
		}
		if (push(w, &e, err) < 0) {
			oci_free(e.rel);
			oci_free(e.link);
			oci_free(e.st);
			rc = -1;
			break;
		}
		if (e.type == OCI_TAR_DIR) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				rc = oci_err_errno(err, errno, "cannot open directory '%s/%s': %s",
						   root, path, strerror(errno));
			else
				rc = walk_at(sub, root, path, depth + 1, w, err);
		}
	}
	closedir(d);
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const oci_walk_entry *)a)->rel, ((const oci_walk_entry *)b)->rel);
}

void oci_walk_sort(oci_walk *w)
{
	if (w->n > 1)
		qsort(w->v, w->n, sizeof(*w->v), cmp_entry);
}

int oci_walk_dir(const char *root, oci_walk *w, ocibuild_error *err)
{
	struct stat st;
	int fd;

	if (stat(root, &st) < 0) {
		if (errno == ENOENT)
			return oci_err(err, OCIBUILD_ERR_INPUT, ENOENT,
				       "directory '%s' does not exist: pass an existing directory",
				       root);
		return oci_err_errno(err, errno, "cannot read '%s': %s", root, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return oci_err(err, OCIBUILD_ERR_INPUT, ENOTDIR,
			       "'%s' is not a directory: pass a directory", root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return oci_err_errno(err, errno, "cannot open directory '%s': %s", root,
				     strerror(errno));
	if (walk_at(fd, root, "", 0, w, err) < 0)
		return -1;
	oci_walk_sort(w);
	return 0;
}

int oci_walk_add_data(oci_walk *w, const char *rel, unsigned mode,
		      const void *data, size_t len, ocibuild_error *err)
{
	oci_walk_entry e;

	memset(&e, 0, sizeof(e));
	e.rel = oci_strdup(rel);
	if (!e.rel)
		return oci_err_nomem(err);
	e.type = OCI_TAR_FILE;
	e.mode = mode;
	e.size = len;
	e.data = data;
	if (push(w, &e, err) < 0) {
		oci_free(e.rel);
		return -1;
	}
	return 0;
}

int oci_walk_add(oci_walk *w, const char *rel, oci_tar_type type, unsigned mode,
		 const char *src, const char *link, ocibuild_error *err)
{
	oci_walk_entry e;
	struct stat st;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.mode = mode;
	if (type == OCI_TAR_FILE) {
		if (stat(src, &st) < 0)
			return oci_err_errno(err, errno, "cannot read '%s': %s", src,
					     strerror(errno));
		e.size = (uint64_t)st.st_size;
		if (stamp_of(w, &st, &e.st, err) < 0)
			return -1;
		e.src = oci_strdup(src);
		if (!e.src) {
			oci_free(e.st);
			return oci_err_nomem(err);
		}
	}
	e.rel = oci_strdup(rel);
	e.link = link ? oci_strdup(link) : NULL;
	if (!e.rel || (link && !e.link) || push(w, &e, err) < 0) {
		oci_free(e.rel);
		oci_free(e.link);
		oci_free(e.src);
		oci_free(e.st);
		return e.rel && (!link || e.link) ? -1 : oci_err_nomem(err);
	}
	return 0;
}

long oci_walk_find(const oci_walk *w, const char *rel)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->v[mid].rel, rel);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void oci_walk_release(oci_walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		oci_free(w->v[i].rel);
		oci_free(w->v[i].link);
		oci_free(w->v[i].src);
		oci_free(w->v[i].st);
	}
	oci_free(w->v);
	w->v = NULL;
	w->n = w->cap = 0;
}
