#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statindex.h"
#include "buf.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

/* Bump when the layout of a line changes: an index of another version is
 * ignored. */
#define SIDX_MAGIC "ocibuild-statindex 1"
/* the largest line: digest, nine numbers, a path */
#define SIDX_MAX_LINE (65 + 9 * 21 + OCI_SIDX_MAX_PATH + 1)
#define SIDX_MAX_BYTES ((size_t)OCI_SIDX_MAX_ENTRIES * 256 + 4096)

void oci_sidx_init(oci_sidx *x)
{
	memset(x, 0, sizeof(*x));
	clock_gettime(CLOCK_REALTIME, &x->now);
}

void oci_sidx_release(oci_sidx *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (x->v[i].owned)
			oci_free(x->v[i].path);
	oci_free(x->v);
	oci_free(x->slot);
	oci_free(x->text);
	x->v = NULL;
	x->slot = NULL;
	x->text = NULL;
	x->n = x->cap = x->nslot = 0;
}

static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t *find_slot(const oci_sidx *x, const char *path)
{
	size_t i = (size_t)hash_path(path) & (x->nslot - 1);

	while (x->slot[i] && strcmp(x->v[x->slot[i] - 1].path, path))
		i = (i + 1) & (x->nslot - 1);
	return &x->slot[i];
}

static int grow_slots(oci_sidx *x, size_t want, ocibuild_error *err)
{
	size_t ns = x->nslot ? x->nslot : 64, i;
	size_t *old = x->slot, oldn = x->nslot;

	while (ns < 2 * want)
		ns *= 2;
	if (ns == x->nslot)
		return 0;
	x->slot = oci_calloc(ns, sizeof(size_t));
	if (!x->slot) {
		x->slot = old;
		return oci_err_nomem(err);
	}
	x->nslot = ns;
	for (i = 0; i < oldn; i++)
		if (old[i])
			*find_slot(x, x->v[old[i] - 1].path) = old[i];
	oci_free(old);
	return 0;
}

/* Append an entry (path owned by the caller's choice); no duplicate check. */
static oci_sidx_entry *append(oci_sidx *x, ocibuild_error *err)
{
	if (grow_slots(x, x->n + 1, err) < 0)
		return NULL;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 256;
		oci_sidx_entry *nv = oci_reallocarray(x->v, nc, sizeof(*nv));

		if (!nv) {
			oci_err_nomem(err);
			return NULL;
		}
		x->v = nv;
		x->cap = nc;
	}
	memset(&x->v[x->n], 0, sizeof(x->v[0]));
	return &x->v[x->n++];
}

void oci_sidx_stat_of(const struct stat *st, oci_sidx_stat *out)
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

static int same_stat(const oci_sidx_stat *a, const oci_sidx_stat *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mode == b->mode &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
	       a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

/* (s, ns) is not older than the stamp minus the granularity */
static int racy_time(int64_t s, uint32_t ns, const struct timespec *stamp)
{
	/* in nanoseconds, in 128 bits: no overflow for any 64-bit seconds */
	__int128 t = (__int128)s * 1000000000 + ns;
	__int128 limit = (__int128)stamp->tv_sec * 1000000000 + stamp->tv_nsec - OCI_SIDX_RACY_NS;

	return t >= limit;
}

static int racy(const oci_sidx_stat *s, const struct timespec *stamp)
{
	return racy_time(s->mtime_s, s->mtime_ns, stamp) || racy_time(s->ctime_s, s->ctime_ns, stamp);
}

const char *oci_sidx_lookup(oci_sidx *x, const char *path, const oci_sidx_stat *s)
{
	oci_sidx_entry *e;
	size_t *slot;

	if (!x->nslot)
		return NULL;
	slot = find_slot(x, path);
	if (!*slot)
		return NULL;
	e = &x->v[*slot - 1];
	if (!e->keep)
		return NULL;
	if (!same_stat(&e->st, s) || racy(&e->st, &x->stamp)) {
		/* stale, or not to be trusted: only a new set keeps it */
		e->keep = 0;
		return NULL;
	}
	e->fresh = 1;
	return e->hex;
}

static int hex_ok(const char *h)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return 0;
	return h[64] == '\0';
}

static int path_ok(const char *path)
{
	size_t n = strlen(path);

	return path[0] == '/' && n <= OCI_SIDX_MAX_PATH && !strchr(path, '\n');
}

int oci_sidx_set(oci_sidx *x, const char *path, const oci_sidx_stat *s, const char *hex,
		 ocibuild_error *err)
{
	oci_sidx_entry *e;
	size_t *slot;
	char *copy;

	if (!path_ok(path) || !hex_ok(hex))
		return 0; /* not indexed: hashed every time */
	if (grow_slots(x, x->n + 1, err) < 0)
		return -1;
	slot = find_slot(x, path);
	if (*slot) {
		e = &x->v[*slot - 1];
	} else {
		copy = oci_strdup(path);
		if (!copy)
			return oci_err_nomem(err);
		e = append(x, err);
		if (!e) {
			oci_free(copy);
			return -1;
		}
		e->path = copy;
		e->owned = 1;
		/* append may have grown the table: find the slot again */
		*find_slot(x, path) = x->n;
	}
	e->st = *s;
	memcpy(e->hex, hex, 65);
	e->keep = 1;
	e->fresh = 1;
	x->dirty = 1;
	return 0;
}

/* Unsigned decimal ending in `end`; *p moves past it. */
static int num_u(char **p, char end, uint64_t *out)
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

static int num_s(char **p, char end, int64_t *out)
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

static int num_ns(char **p, char end, uint32_t *out)
{
	uint64_t v;

	if (num_u(p, end, &v) < 0 || v > 999999999)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* One entry line (NUL-terminated in place, '\n' removed). */
static int parse_line(char *line, oci_sidx_entry *e)
{
	char *p = line;
	uint64_t mode;

	if (strlen(line) < 65 || line[64] != ' ')
		return -1;
	memcpy(e->hex, line, 64);
	e->hex[64] = '\0';
	if (!hex_ok(e->hex))
		return -1;
	p = line + 65;
	if (num_u(&p, ' ', &e->st.dev) < 0 || num_u(&p, ' ', &e->st.ino) < 0 ||
	    num_u(&p, ' ', &e->st.size) < 0 || num_u(&p, ' ', &mode) < 0 || mode > UINT32_MAX ||
	    num_s(&p, ' ', &e->st.mtime_s) < 0 || num_ns(&p, ' ', &e->st.mtime_ns) < 0 ||
	    num_s(&p, ' ', &e->st.ctime_s) < 0 || num_ns(&p, ' ', &e->st.ctime_ns) < 0)
		return -1;
	e->st.mode = (uint32_t)mode;
	if (!path_ok(p))
		return -1;
	e->path = p;
	return 0;
}

int oci_sidx_parse(oci_sidx *x, const char *data, size_t len, ocibuild_error *err)
{
	char *text, *p, *nl, *end, *trailer;
	char sum[OCI_DIGEST_LEN + 1];
	uint64_t count, i, stamp_s, stamp_ns;
	int rc = 0;

	if (len > SIDX_MAX_BYTES || len < 5 || memchr(data, '\0', len))
		return 0;
	/* the trailer: "end <sha256 hex of the bytes before it>\n" */
	if (data[len - 1] != '\n' || len < 70)
		return 0;
	trailer = (char *)data + len - 69;
	if (memcmp(trailer, "end ", 4) || (trailer != data && trailer[-1] != '\n'))
		return 0;
	if (oci_sha256_buf(data, len - 69, sum, err) < 0)
		return err->kind == OCIBUILD_ERR_NOMEM ? -1 : (ocibuild_error_clear(err), 0);
	if (memcmp(sum + 7, trailer + 4, 64))
		return 0;
	text = oci_malloc(len + 1);
	if (!text)
		return oci_err_nomem(err);
	memcpy(text, data, len);
	text[len] = '\0';
	end = text + len - 69;
	x->text = text;
	p = text;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || (size_t)(nl - p) > 128)
		goto bad;
	*nl = '\0';
	if (strncmp(p, SIDX_MAGIC " ", sizeof(SIDX_MAGIC)))
		goto bad;
	p += sizeof(SIDX_MAGIC);
	if (num_u(&p, ' ', &stamp_s) < 0 || stamp_s > (uint64_t)INT64_MAX ||
	    num_u(&p, ' ', &stamp_ns) < 0 || stamp_ns > 999999999 || num_u(&p, '\0', &count) < 0 ||
	    count > OCI_SIDX_MAX_ENTRIES)
		goto bad;
	p = nl + 1;
	if (count && grow_slots(x, (size_t)count, err) < 0) {
		rc = -1;
		goto bad;
	}
	for (i = 0; i < count; i++) {
		oci_sidx_entry *e, tmp;
		size_t *slot;

		nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (!nl || (size_t)(nl - p) > SIDX_MAX_LINE)
			goto bad;
		*nl = '\0';
		memset(&tmp, 0, sizeof(tmp));
		if (parse_line(p, &tmp) < 0)
			goto bad;
		slot = find_slot(x, tmp.path);
		if (*slot)
			goto bad; /* one entry per path */
		e = append(x, err);
		if (!e) {
			rc = -1;
			goto bad;
		}
		*e = tmp;
		e->keep = 1;
		*find_slot(x, e->path) = x->n;
		p = nl + 1;
	}
	if (p != end)
		goto bad;
	x->stamp.tv_sec = (time_t)stamp_s;
	x->stamp.tv_nsec = (long)stamp_ns;
	/* entries that the loaded stamp does not vouch for are not kept */
	for (i = 0; i < x->n; i++)
		if (racy(&x->v[i].st, &x->stamp))
			x->v[i].keep = 0;
	return 1;
bad:
	oci_sidx_release(x);
	return rc;
}

int oci_sidx_load(oci_sidx *x, const char *cache_dir, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), data = OCI_BUF_INIT(SIDX_MAX_BYTES);
	ocibuild_error e = { 0 };
	int rc = 0;

	if (oci_buf_printf(&path, err, "%s/%s", cache_dir, OCI_SIDX_FILE) < 0)
		return -1;
	if (oci_read_file(path.data, SIDX_MAX_BYTES, &data, &e) < 0) {
		/* missing or unreadable: an empty index */
		if (e.kind == OCIBUILD_ERR_NOMEM)
			rc = oci_err_nomem(err);
		ocibuild_error_clear(&e);
	} else if (oci_sidx_parse(x, data.data, data.len, err) < 0) {
		rc = -1;
	}
	oci_buf_release(&data);
	oci_buf_release(&path);
	return rc;
}

static int put_entry(oci_buf *b, const oci_sidx_entry *e, ocibuild_error *err)
{
	return oci_buf_printf(b, err, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32
			      " %" PRId64 " %" PRIu32 " %" PRId64 " %" PRIu32 " %s\n",
			      e->hex, e->st.dev, e->st.ino, e->st.size, e->st.mode, e->st.mtime_s,
			      e->st.mtime_ns, e->st.ctime_s, e->st.ctime_ns, e->path);
}

int oci_sidx_serialise(const oci_sidx *x, char **out, size_t *len, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(SIDX_MAX_BYTES);
	char sum[OCI_DIGEST_LEN + 1];
	size_t i, count = 0, written = 0;
	int pass;

	for (i = 0; i < x->n; i++)
		if (x->v[i].keep)
			count++;
	if (count > OCI_SIDX_MAX_ENTRIES)
		count = OCI_SIDX_MAX_ENTRIES;
	if (oci_buf_printf(&b, err, SIDX_MAGIC " %lld %ld %zu\n", (long long)x->now.tv_sec,
			   (long)x->now.tv_nsec, count) < 0)
		goto fail;
	/* what this process saw first, so that the cap drops the others */
	for (pass = 1; pass >= 0; pass--)
		for (i = 0; i < x->n && written < count; i++) {
			const oci_sidx_entry *e = &x->v[i];

			if (!e->keep || (int)e->fresh != pass)
				continue;
			if (put_entry(&b, e, err) < 0)
				goto fail;
			written++;
		}
	if (oci_sha256_buf(b.data, b.len, sum, err) < 0 ||
	    oci_buf_printf(&b, err, "end %s\n", sum + 7) < 0)
		goto fail;
	*len = b.len;
	*out = oci_buf_detach(&b, NULL);
	return 0;
fail:
	oci_buf_release(&b);
	return -1;
}

int oci_sidx_save(oci_sidx *x, const char *cache_dir, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	char *data = NULL;
	size_t len = 0;
	int rc = -1;

	if (!x->dirty)
		return 0;
	if (oci_buf_printf(&path, err, "%s/%s", cache_dir, OCI_SIDX_FILE) < 0 ||
	    oci_mkdirs(cache_dir, 0755, err) < 0 ||
	    oci_sidx_serialise(x, &data, &len, err) < 0)
		goto out;
	/* not durable: a lost or stale index only costs reads */
	rc = oci_write_file_atomic(path.data, data, len, 0, err);
	if (!rc)
		x->dirty = 0;
out:
	oci_free(data);
	oci_buf_release(&path);
	return rc;
}
