#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "statindex.h"
#include "buf.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "sink.h"
#include "banned.h"

/* Bump when the layout of a line changes: an index of another version is
 * ignored. A line: "PATH\tHEX DEV INO SIZE MODE MTIME MTIME_NS CTIME
 * CTIME_NS\n", lines sorted by PATH (bytes), then "end SHA256\n" over all
 * that precedes it. */
#define SIDX_MAGIC "ocibuild-statindex 2"
#define SIDX_MAX_BYTES ((size_t)OCI_SIDX_MAX_ENTRIES * 320 + 4096)
#define TRAILER_LEN 69 /* "end " + 64 hex + "\n" */

enum { LINE_OLD, LINE_SEEN, LINE_DROP };

void oci_sidx_init(oci_sidx *x)
{
	memset(x, 0, sizeof(*x));
	clock_gettime(CLOCK_REALTIME, &x->now);
}

void oci_sidx_release(oci_sidx *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		oci_free(x->v[i].path);
	oci_free(x->v);
	oci_free(x->line);
	oci_free(x->state);
	oci_free(x->text);
	x->v = NULL;
	x->line = NULL;
	x->state = NULL;
	x->text = NULL;
	x->n = x->cap = x->nline = x->next = 0;
}

int oci_sidx_racy_time(int64_t s, uint32_t ns, const struct timespec *stamp)
{
	/* in nanoseconds, in 128 bits: no overflow for any 64-bit seconds */
	__int128 t = (__int128)s * 1000000000 + ns;
	__int128 limit = (__int128)stamp->tv_sec * 1000000000 + stamp->tv_nsec - OCI_SIDX_RACY_NS;

	return t >= limit;
}

static int racy(const oci_fstamp *s, const struct timespec *stamp)
{
	return oci_sidx_racy_time(s->mtime_s, s->mtime_ns, stamp) ||
	       oci_sidx_racy_time(s->ctime_s, s->ctime_ns, stamp);
}

static int path_ok(const char *path)
{
	return path[0] == '/' && strlen(path) <= OCI_SIDX_MAX_PATH && !strpbrk(path, "\t\n");
}

/* byte order of a path against a line's path (which ends at its tab) */
static int cmp_path_line(const char *path, const char *line)
{
	size_t i;

	for (i = 0;; i++) {
		unsigned char a = (unsigned char)path[i];
		unsigned char b = line[i] == '\t' ? 0 : (unsigned char)line[i];

		if (a != b)
			return a < b ? -1 : 1;
		if (!a)
			return 0;
	}
}

static int cmp_lines(const char *a, const char *b)
{
	size_t i;

	for (i = 0;; i++) {
		unsigned char x = a[i] == '\t' ? 0 : (unsigned char)a[i];
		unsigned char y = b[i] == '\t' ? 0 : (unsigned char)b[i];

		if (x != y)
			return x < y ? -1 : 1;
		if (!x)
			return 0;
	}
}

static long find_line(oci_sidx *x, const char *path)
{
	size_t lo = 0, hi = x->nline;

	/* a layer's files are looked up in the order of its walk, which is
	 * (but for paths with control characters) the order of the lines:
	 * the line after the last one found is tried first */
	if (x->next < x->nline && !cmp_path_line(path, x->line[x->next]))
		return (long)x->next++;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_path_line(path, x->line[mid]);

		if (!c) {
			x->next = mid + 1;
			return (long)mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Unsigned decimal ending in `end`; *p moves past it. */
static int num_u(const char **p, char end, uint64_t *out)
{
	char *q;

	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	*out = strtoull(*p, &q, 10);
	if (errno || *q != end)
		return -1;
	*p = q + 1;
	return 0;
}

static int num_s(const char **p, char end, int64_t *out)
{
	int neg = **p == '-';
	uint64_t v;

	if (neg)
		(*p)++;
	if (num_u(p, end, &v) < 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int num_ns(const char **p, char end, uint32_t *out)
{
	uint64_t v;

	if (num_u(p, end, &v) < 0 || v > 999999999)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* The fields of a line (after its tab). */
static int parse_fields(const char *line, oci_fstamp *st, char *hex)
{
	const char *p = strchr(line, '\t') + 1;
	uint64_t mode;

	if (!oci_hex_valid(p, 64) || p[64] != ' ')
		return -1;
	memcpy(hex, p, 64);
	hex[64] = '\0';
	p += 65;
	memset(st, 0, sizeof(*st));
	if (num_u(&p, ' ', &st->dev) < 0 || num_u(&p, ' ', &st->ino) < 0 ||
	    num_u(&p, ' ', &st->size) < 0 || num_u(&p, ' ', &mode) < 0 || mode > UINT32_MAX ||
	    num_s(&p, ' ', &st->mtime_s) < 0 || num_ns(&p, ' ', &st->mtime_ns) < 0 ||
	    num_s(&p, ' ', &st->ctime_s) < 0 || num_ns(&p, '\n', &st->ctime_ns) < 0)
		return -1;
	st->mode = (uint32_t)mode;
	return 0;
}

int oci_sidx_lookup(oci_sidx *x, const char *path, const oci_fstamp *s, char *hex)
{
	oci_fstamp st;
	long i = find_line(x, path);

	if (i < 0 || x->state[i] == LINE_DROP)
		return 0;
	if (parse_fields(x->line[i], &st, hex) < 0 || !oci_fstamp_same(&st, s) ||
	    racy(&st, &x->stamp)) {
		/* stale, malformed or not to be trusted: only a new set keeps it */
		x->state[i] = LINE_DROP;
		return 0;
	}
	x->state[i] = LINE_SEEN;
	return 1;
}

int oci_sidx_set(oci_sidx *x, const char *path, const oci_fstamp *s, const char *hex,
		 ocibuild_error *err)
{
	oci_sidx_entry *e;
	char *copy;
	long i;

	if (!path_ok(path) || strlen(hex) != 64 || !oci_hex_valid(hex, 64))
		return 0; /* not indexed: hashed every time */
	copy = oci_strdup(path);
	if (!copy)
		return oci_err_nomem(err);
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 256;
		oci_sidx_entry *nv = oci_reallocarray(x->v, nc, sizeof(*nv));

		if (!nv) {
			oci_free(copy);
			return oci_err_nomem(err);
		}
		x->v = nv;
		x->cap = nc;
	}
	i = find_line(x, path);
	if (i >= 0)
		x->state[i] = LINE_DROP;
	e = &x->v[x->n++];
	e->path = copy;
	e->st = *s;
	memcpy(e->hex, hex, 65);
	x->dirty = 1;
	return 0;
}

/* Take text (len bytes and a NUL, heap, owned from now on) as the index. */
static int parse_owned(oci_sidx *x, char *text, size_t len, ocibuild_error *err)
{
	char sum[OCI_DIGEST_LEN + 1];
	const char *p, *end, *nl, *trailer;
	uint64_t count, i, stamp_s, stamp_ns;
	int rc = 0;

	x->text = text;
	if (len > SIDX_MAX_BYTES || len < TRAILER_LEN || memchr(text, '\0', len))
		goto bad;
	/* the trailer: "end <sha256 hex of the bytes before it>\n" */
	trailer = text + len - TRAILER_LEN;
	if (text[len - 1] != '\n' || memcmp(trailer, "end ", 4) ||
	    (trailer != text && trailer[-1] != '\n'))
		goto bad;
	if (oci_sha256_buf(text, len - TRAILER_LEN, sum, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			rc = -1;
		else
			ocibuild_error_clear(err);
		goto bad;
	}
	if (memcmp(sum + 7, trailer + 4, 64))
		goto bad;
	end = trailer;
	p = text;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || (size_t)(nl - p) > 128 || strncmp(p, SIDX_MAGIC " ", sizeof(SIDX_MAGIC)))
		goto bad;
	p += sizeof(SIDX_MAGIC);
	if (num_u(&p, ' ', &stamp_s) < 0 || stamp_s > (uint64_t)INT64_MAX ||
	    num_u(&p, ' ', &stamp_ns) < 0 || stamp_ns > 999999999 || num_u(&p, '\n', &count) < 0 ||
	    count > OCI_SIDX_MAX_ENTRIES || p != nl + 1)
		goto bad;
	if (count) {
		x->line = oci_calloc((size_t)count, sizeof(*x->line));
		x->state = oci_calloc((size_t)count, 1);
		if (!x->line || !x->state) {
			rc = oci_err_nomem(err);
			goto bad;
		}
	}
	/* each line a path from '/' to a tab, the paths strictly increasing;
	 * the fields are read when a lookup needs them */
	for (i = 0; i < count; i++) {
		const char *tab;

		nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (!nl || *p != '/')
			goto bad;
		tab = memchr(p, '\t', (size_t)(nl - p));
		if (!tab || (size_t)(tab - p) > OCI_SIDX_MAX_PATH ||
		    (i && cmp_lines(x->line[i - 1], p) >= 0))
			goto bad;
		x->line[i] = p;
		p = nl + 1;
	}
	if (p != end)
		goto bad;
	x->nline = (size_t)count;
	x->stamp.tv_sec = (time_t)stamp_s;
	x->stamp.tv_nsec = (long)stamp_ns;
	return 1;
bad:
	oci_sidx_release(x);
	return rc;
}

int oci_sidx_parse(oci_sidx *x, const char *data, size_t len, ocibuild_error *err)
{
	char *text;

	if (len > SIDX_MAX_BYTES)
		return 0;
	text = oci_malloc(len + 1);
	if (!text)
		return oci_err_nomem(err);
	memcpy(text, data, len);
	text[len] = '\0';
	return parse_owned(x, text, len, err);
}

int oci_sidx_load(oci_sidx *x, const char *dir, const char *name, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd, rc = 0;

	if (oci_buf_printf(&path, err, "%s/%s", dir, name) < 0)
		return -1;
	/* read into one block of the file's size: it is held while the
	 * layer's files are hashed, so no slack from a growing buffer */
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	oci_buf_release(&path);
	if (fd < 0)
		return 0; /* none yet, or unreadable: an empty index */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < TRAILER_LEN ||
	    (uint64_t)st.st_size > SIDX_MAX_BYTES)
		goto out;
	/* in use: not one of the unused ones that oci_sidx_trim removes */
	if (st.st_mtim.tv_sec < x->now.tv_sec - 86400)
		futimens(fd, NULL);
	text = oci_malloc((size_t)st.st_size + 1);
	if (!text) {
		rc = oci_err_nomem(err);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size)
		goto out; /* shorter than it said: ignored */
	text[got] = '\0';
	rc = parse_owned(x, text, got, err) < 0 ? -1 : 0;
	text = NULL;
out:
	oci_free(text);
	close(fd);
	return rc;
}

static int put_entry(oci_sink *out, const oci_sidx_entry *e, ocibuild_error *err)
{
	char line[OCI_SIDX_MAX_PATH + 256];
	int n = snprintf(line, sizeof(line), "%s\t%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32
			 " %" PRId64 " %" PRIu32 " %" PRId64 " %" PRIu32 "\n",
			 e->path, e->hex, e->st.dev, e->st.ino, e->st.size, e->st.mode,
			 e->st.mtime_s, e->st.mtime_ns, e->st.ctime_s, e->st.ctime_ns);

	if (n < 0 || (size_t)n >= sizeof(line))
		return 0; /* cannot happen: paths are capped; not indexed */
	return oci_sink_write(out, line, (size_t)n, err);
}

static int by_path(const void *a, const void *b)
{
	const oci_sidx_entry *const *x = a, *const *y = b;
	int c = strcmp((*x)->path, (*y)->path);

	/* the same path set twice: the later one last */
	return c ? c : (*x < *y ? -1 : *x > *y);
}

/* Header and lines (not the trailer) into out: this process's entries and
 * the old lines still trusted, merged in path order. Streamed, so that
 * saving an index of megabytes needs no second copy of it. */
static int emit(oci_sidx *x, oci_sink *out, ocibuild_error *err)
{
	char hex[65], head[128];
	oci_sidx_entry **nv = NULL;
	size_t i, j, nn = 0, count = 0, budget = OCI_SIDX_MAX_ENTRIES;
	oci_fstamp st;
	int rc = -1, n;

	/* this process's entries, sorted, one per path (the last set) */
	if (x->n) {
		nv = oci_calloc(x->n, sizeof(*nv));
		if (!nv)
			return oci_err_nomem(err);
		for (i = 0; i < x->n; i++)
			nv[i] = &x->v[i];
		qsort(nv, x->n, sizeof(*nv), by_path);
		for (i = 0; i < x->n; i++)
			if (i + 1 == x->n || strcmp(nv[i]->path, nv[i + 1]->path))
				nv[nn++] = nv[i];
	}
	/* old lines: those seen by this process stay, the others while the
	 * loaded stamp vouches for them; what this process saw comes first
	 * when the cap bites */
	for (i = 0; i < x->nline; i++)
		if (x->state[i] == LINE_OLD &&
		    (parse_fields(x->line[i], &st, hex) < 0 || racy(&st, &x->stamp)))
			x->state[i] = LINE_DROP;
	if (nn > budget)
		nn = budget;
	budget -= nn;
	for (i = 0; i < x->nline; i++)
		if (x->state[i] == LINE_SEEN) {
			if (budget)
				budget--;
			else
				x->state[i] = LINE_DROP;
		}
	for (i = 0; i < x->nline; i++)
		if (x->state[i] == LINE_OLD) {
			if (budget)
				budget--;
			else
				x->state[i] = LINE_DROP;
		}
	for (i = 0; i < x->nline; i++)
		count += x->state[i] != LINE_DROP;
	count += nn;
	n = snprintf(head, sizeof(head), SIDX_MAGIC " %lld %ld %zu\n", (long long)x->now.tv_sec,
		     (long)x->now.tv_nsec, count);
	if (oci_sink_write(out, head, (size_t)n, err) < 0)
		goto out;
	for (i = 0, j = 0; i < x->nline || j < nn;) {
		if (i < x->nline && x->state[i] == LINE_DROP) {
			i++;
			continue;
		}
		if (j < nn && (i == x->nline || cmp_path_line(nv[j]->path, x->line[i]) < 0)) {
			if (put_entry(out, nv[j++], err) < 0)
				goto out;
		} else {
			const char *nl = strchr(x->line[i], '\n');

			if (oci_sink_write(out, x->line[i], (size_t)(nl + 1 - x->line[i]), err) < 0)
				goto out;
			i++;
		}
	}
	rc = 0;
out:
	oci_free(nv);
	return rc;
}

/* emit, then the trailer with the checksum of what went before, to out */
static int emit_all(oci_sidx *x, oci_sink *out, ocibuild_error *err)
{
	oci_hash_sink h;
	char sum[OCI_DIGEST_LEN + 1], trailer[TRAILER_LEN + 1];
	int rc;

	if (oci_hash_sink_init(&h, out, err) < 0)
		return -1;
	rc = emit(x, &h.base, err);
	if (!rc) {
		oci_hash_sink_final(&h, sum);
		snprintf(trailer, sizeof(trailer), "end %s\n", sum + 7);
		rc = oci_sink_write(out, trailer, TRAILER_LEN, err);
	}
	oci_hash_sink_release(&h);
	return rc;
}

struct buf_sink {
	oci_sink base;
	oci_buf b;
};

static int buf_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	return oci_buf_append(&((struct buf_sink *)s)->b, data, len, err);
}

int oci_sidx_serialise(oci_sidx *x, char **out, size_t *len, ocibuild_error *err)
{
	struct buf_sink bs = { { buf_write }, OCI_BUF_INIT(SIDX_MAX_BYTES) };

	if (emit_all(x, &bs.base, err) < 0) {
		oci_buf_release(&bs.b);
		return -1;
	}
	*out = oci_buf_detach(&bs.b, len);
	if (!*out)
		return oci_err_nomem(err);
	return 0;
}

int oci_sidx_save(oci_sidx *x, const char *dir, const char *name, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	oci_file_sink f;
	char *tmp = NULL;
	int fd = -1, rc = -1, have_f = 0;

	if (!x->dirty)
		return 0;
	if (oci_buf_printf(&path, err, "%s/%s", dir, name) < 0 ||
	    oci_mkdirs(dir, 0755, err) < 0 ||
	    oci_tmpfile_in(dir, ".tmp-", 0644, &tmp, &fd, err) < 0)
		goto out;
	if (oci_file_sink_init(&f, fd, tmp, err) < 0)
		goto out;
	have_f = 1;
	if (emit_all(x, &f.base, err) < 0 || oci_file_sink_flush(&f, err) < 0)
		goto out;
	/* not durable: a lost or stale index only costs reads */
	rc = oci_close_file(fd, tmp, 0, err);
	fd = -1;
	if (rc < 0)
		goto out;
	if (rename(tmp, path.data) < 0) {
		rc = oci_err_errno(err, errno, "cannot create '%s': %s", path.data, strerror(errno));
		goto out;
	}
	x->dirty = 0;
out:
	if (have_f)
		oci_file_sink_release(&f);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	oci_free(tmp);
	oci_buf_release(&path);
	return rc;
}

void oci_sidx_trim(const char *dir, time_t now)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		/* unused for OCI_SIDX_MAX_AGE (a build's temporary directory), or
		 * a temporary file left by a crash an hour ago or more */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) &&
		    (st.st_mtim.tv_sec < now - OCI_SIDX_MAX_AGE ||
		     (de->d_name[0] == '.' && st.st_mtim.tv_sec < now - 3600)))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}
