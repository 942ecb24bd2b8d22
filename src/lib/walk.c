#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walk.h"
#include "buf.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "par.h"
#include "strlist.h"
#include "banned.h"

#define MAX_DEPTH 256

static int grow(oci_walk *w, size_t need, ocibuild_error *err)
{
	size_t cap = w->cap ? w->cap : 256;
	oci_walk_entry *v;

	while (cap < need)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	v = oci_reallocarray(w->v, cap, sizeof(*v));
	if (!v)
		return oci_err_nomem(err);
	w->v = v;
	w->cap = cap;
	return 0;
}

/* A subtree's walk on a thread of the parallel walk (w->par): its entries
 * go into the one shared walk a batch at a time, so that the memory is
 * that of a serial walk, not of one array per subtree plus their merge. */
struct par_into {
	oci_walk *into;
	pthread_mutex_t *lock;
};

static int flush(oci_walk *w, ocibuild_error *err)
{
	struct par_into *p = w->par;
	int rc;

	if (!w->n)
		return 0;
	pthread_mutex_lock(p->lock);
	rc = grow(p->into, p->into->n + w->n, err);
	if (rc == 0) {
		memcpy(p->into->v + p->into->n, w->v, w->n * sizeof(*w->v));
		p->into->n += w->n;
		w->n = 0;
	}
	pthread_mutex_unlock(p->lock);
	return rc;
}

#define PAR_BATCH 128

static int push(oci_walk *w, oci_walk_entry *e, ocibuild_error *err)
{
	if (w->n == w->cap) {
		if (w->par && w->cap >= PAR_BATCH ? flush(w, err) < 0 : grow(w, w->n + 1, err) < 0)
			return -1;
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

/* The ELF magic of name in the directory dfd: OCI_WALK_ELF_*. Not
 * followed if it became a symlink, not waited for if it became a FIFO. */
static unsigned char elf_magic(int dfd, const char *name)
{
	int r = oci_file_is_elf(dfd, name, O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	return r < 0 ? OCI_WALK_ELF_UNKNOWN : r ? OCI_WALK_ELF_YES : OCI_WALK_ELF_NO;
}

/* One entry of the directory d (at rel below root) into w; a directory's
 * relative path is also appended to subs. */
static int add_entry(DIR *d, const char *name, const char *root, const char *rel,
		     oci_walk *w, oci_strlist *subs, ocibuild_error *err)
{
	oci_walk_entry e;
	struct stat st;
	char *path;
	size_t rl = strlen(rel), nl = strlen(name);

	path = oci_malloc(rl + 1 + nl + 1);
	if (!path)
		return oci_err_nomem(err);
	if (rl) {
		memcpy(path, rel, rl);
		path[rl] = '/';
		memcpy(path + rl + 1, name, nl + 1);
	} else {
		memcpy(path, name, nl + 1);
	}
	/* the walk goes by directory fd, but the layer is later read
	 * by path name: refuse what no path can name */
	if (strlen(root) + 1 + strlen(path) >= PATH_MAX) {
		size_t pl = strlen(path);
		int cut = pl > 100;

		oci_err(err, OCIBUILD_ERR_INPUT, ENAMETOOLONG,
			"'%s/%.*s%s%s' (%zu bytes) is longer than the %d-byte path limit (PATH_MAX): shorten the names or the nesting in the tree",
			root, cut ? 40 : (int)pl, path, cut ? "..." : "",
			cut ? path + pl - 40 : "", strlen(root) + 1 + pl, PATH_MAX);
		oci_free(path);
		return -1;
	}
	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		oci_err_errno(err, errno, "cannot stat '%s/%s': %s", root, path, strerror(errno));
		oci_free(path);
		return -1;
	}
	memset(&e, 0, sizeof(e));
	e.rel = path;
	e.mode = st.st_mode & 07777;
	if (S_ISREG(st.st_mode)) {
		e.type = OCI_TAR_FILE;
		e.size = (uint64_t)st.st_size;
		if (w->magic && e.size >= 64)
			e.elf = oci_file_not_native(name) ? OCI_WALK_ELF_NO
							 : elf_magic(dirfd(d), name);
		if (stamp_of(w, &st, &e.st, err) < 0) {
			oci_free(path);
			return -1;
		}
	} else if (S_ISDIR(st.st_mode)) {
		e.type = OCI_TAR_DIR;
	} else if (S_ISLNK(st.st_mode)) {
		oci_buf target = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
		char tmp[4096];
		ssize_t n = readlinkat(dirfd(d), name, tmp, sizeof(tmp));

		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			oci_err_errno(err, n < 0 ? errno : ENAMETOOLONG,
				      "cannot read symlink '%s/%s': %s", root, path,
				      strerror(n < 0 ? errno : ENAMETOOLONG));
			oci_free(path);
			return -1;
		}
		if (oci_buf_append(&target, tmp, (size_t)n, err) < 0) {
			oci_free(path);
			return -1;
		}
		e.type = OCI_TAR_SYMLINK;
		e.link = oci_buf_detach(&target, NULL);
		e.mode = 0777;
	} else {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"'%s/%s' is %s: image layers hold only files, directories and symlinks; remove it from the tree",
			root, path, kind_name(st.st_mode));
		oci_free(path);
		return -1;
	}
	if (push(w, &e, err) < 0) {
		oci_free(e.rel);
		oci_free(e.link);
		oci_free(e.st);
		return -1;
	}
	return e.type == OCI_TAR_DIR ? oci_strlist_push(subs, path, err) : 0;
}

/* Every entry of the directory dfd (at rel below root; dfd is taken over)
 * into w, its subdirectories' paths appended to subs; d is left open (for
 * openat below it) in *out, or closed when out is NULL. */
static int scan_dir(int dfd, const char *root, const char *rel, int depth, oci_walk *w,
		    oci_strlist *subs, DIR **out, ocibuild_error *err)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (out)
		*out = NULL;
	if (depth > MAX_DEPTH) {
		close(dfd);
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "'%s/%s' is nested more than %d directories deep", root, rel,
			       MAX_DEPTH);
	}
	d = fdopendir(dfd);
	if (!d) {
		int e = errno;

		close(dfd);
		return oci_err_errno(err, e, "cannot read directory '%s/%s': %s", root, rel,
				     strerror(e));
	}
	while (rc == 0) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = oci_err_errno(err, errno, "cannot read directory '%s/%s': %s",
						   root, rel, strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = add_entry(d, de->d_name, root, rel, w, subs, err);
	}
	if (out && rc == 0)
		*out = d;
	else
		closedir(d);
	return rc;
}

/* The last component of the relative path sub */
static const char *base_name(const char *sub)
{
	const char *slash = strrchr(sub, '/');

	return slash ? slash + 1 : sub;
}

/* The whole tree below the directory dfd (taken over), depth first. */
static int walk_tree(int dfd, const char *root, const char *rel, int depth, oci_walk *w,
		     ocibuild_error *err)
{
	oci_strlist subs = { 0 };
	DIR *d;
	size_t i;
	int rc = scan_dir(dfd, root, rel, depth, w, &subs, &d, err);

	for (i = 0; rc == 0 && i < subs.n; i++) {
		int sub = openat(dirfd(d), base_name(subs.v[i]),
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub < 0)
			rc = oci_err_errno(err, errno, "cannot open directory '%s/%s': %s", root,
					   subs.v[i], strerror(errno));
		else
			rc = walk_tree(sub, root, subs.v[i], depth + 1, w, err);
	}
	if (d)
		closedir(d);
	oci_strlist_release(&subs);
	return rc;
}

/* rel (below the directory rootfd) opened one component at a time, none
 * of them a symlink, as the serial walk's openat chain would */
static int open_below(int rootfd, const char *root, const char *rel, ocibuild_error *err)
{
	char part[NAME_MAX + 1];
	const char *p = rel;
	int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			fd = -1;
			break;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p += n + (slash != NULL);
	}
	if (fd < 0)
		return oci_err_errno(err, errno, "cannot open directory '%s/%s': %s", root, rel,
				     strerror(errno));
	return fd;
}

/* The parallel walk: the top levels read here, breadth first, until there
 * are enough directories to share out; then each of those subtrees is
 * walked on a thread, handing its entries to the one walk (flush), each
 * with an error slot of its own. The first failing subtree (in the order
 * found) is the error reported, as oci_par_for runs every one before it. */
struct subtree {
	const char *root;
	int rootfd, depth;
	struct par_into par; /* into: the walk asked for, its options too */
	char *const *rel;
	ocibuild_error *err;
};

static int subtree_one(void *ud, size_t i)
{
	struct subtree *t = ud;
	oci_walk w = { 0 };
	int fd, rc = -1;

	w.stamp = t->par.into->stamp;
	w.magic = t->par.into->magic;
	w.par = &t->par;
	fd = open_below(t->rootfd, t->root, t->rel[i], &t->err[i]);
	if (fd >= 0 && walk_tree(fd, t->root, t->rel[i], t->depth, &w, &t->err[i]) == 0)
		rc = flush(&w, &t->err[i]);
	oci_walk_release(&w); /* what a failure left unflushed */
	return rc;
}

/* directories to share out per thread: enough that uneven subtrees even out */
#define SUBTREES_PER_THREAD 8

static int walk_par(int rootfd, const char *root, oci_walk *w, ocibuild_error *err)
{
	oci_strlist level = { 0 }, next = { 0 };
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct subtree t;
	size_t i;
	int depth = 0, rc = 0;

	if (oci_strlist_push(&level, "", err) < 0) {
		oci_strlist_release(&level);
		return -1;
	}
	/* a level at a time, until it is wide enough or the tree ends */
	while (rc == 0 && level.n && level.n < (size_t)w->threads * SUBTREES_PER_THREAD) {
		for (i = 0; rc == 0 && i < level.n; i++) {
			int fd = open_below(rootfd, root, level.v[i], err);

			rc = fd < 0 ? -1 : scan_dir(fd, root, level.v[i], depth, w, &next, NULL, err);
		}
		oci_strlist_release(&level);
		level = next;
		memset(&next, 0, sizeof(next));
		depth++;
	}
	if (rc < 0 || !level.n) {
		oci_strlist_release(&level);
		return rc;
	}
	memset(&t, 0, sizeof(t));
	t.root = root;
	t.rootfd = rootfd;
	t.depth = depth;
	t.par.into = w;
	t.par.lock = &lock;
	t.rel = level.v;
	t.err = oci_calloc(level.n, sizeof(*t.err));
	if (!t.err) {
		rc = oci_err_nomem(err);
		goto out;
	}
	oci_par_for(level.n, w->threads, subtree_one, &t);
	for (i = 0; i < level.n; i++) {
		if (t.err[i].kind != OCIBUILD_ERR_NONE) {
			if (err) {
				ocibuild_error_clear(err);
				*err = t.err[i];
				memset(&t.err[i], 0, sizeof(t.err[i]));
			}
			rc = -1;
			break;
		}
	}
out:
	for (i = 0; t.err && i < level.n; i++)
		ocibuild_error_clear(&t.err[i]);
	oci_free(t.err);
	oci_strlist_release(&level);
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
	if (w->threads > 1) {
		int rc = walk_par(fd, root, w, err);

		close(fd);
		if (rc < 0)
			return -1;
	} else if (walk_tree(fd, root, "", 0, w, err) < 0) {
		return -1;
	}
	/* the room doubling left is not needed any more: a build keeps the
	 * walk to its end */
	if (w->n && w->cap > w->n) {
		oci_walk_entry *v = oci_reallocarray(w->v, w->n, sizeof(*v));

		if (v) {
			w->v = v;
			w->cap = w->n;
		}
	}
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
