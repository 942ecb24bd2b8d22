#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define FILE_SINK_BUF (256 * 1024)

#define WRITE_BEHIND (8u << 20)

/* n more bytes are in the file: hand each full WRITE_BEHIND to writeback
 * (a hint: it does not wait, and a failure shows at the fsync) */
static void wrote(oci_file_sink *f, uint64_t n)
{
	f->written += n;
	if (f->write_behind && f->written - f->started >= WRITE_BEHIND) {
		sync_file_range(f->fd, (off_t)f->started, (off_t)(f->written - f->started),
				SYNC_FILE_RANGE_WRITE);
		f->started = f->written;
	}
	if (f->on_wrote && n)
		f->on_wrote(f->on_wrote_userdata, f->fd, f->written);
}

/* A write into path failed with e: a full disk says what to do. */
static int write_failed(int e, const char *path, const char *src, ocibuild_error *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return oci_err_errno(err, e,
			"no space left writing '%s': free disk space or write the output elsewhere",
			path);
	if (src)
		return oci_err_errno(err, e, "cannot copy '%s' into '%s': %s", src, path,
				     strerror(e));
	return oci_err_errno(err, e, "cannot write '%s': %s", path, strerror(e));
}

int oci_write_all(int fd, const void *data, size_t len, const char *path,
		  ocibuild_error *err)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return write_failed(errno, path, NULL, err);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int oci_file_sink_flush(oci_file_sink *f, ocibuild_error *err)
{
	if (f->len && oci_write_all(f->fd, f->buf, f->len, f->path, err) < 0)
		return -1;
	wrote(f, f->len);
	f->len = 0;
	return 0;
}

static int file_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	oci_file_sink *f = (oci_file_sink *)s;

	if (f->len + len > f->cap) {
		if (oci_file_sink_flush(f, err) < 0)
			return -1;
		if (len >= f->cap) {
			if (oci_write_all(f->fd, data, len, f->path, err) < 0)
				return -1;
			wrote(f, len);
			return 0;
		}
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	return 0;
}

/* copy_file_range from fd's offset to the sink's; the first refusal that
 * says "not between these files" (another file system on an old kernel, a
 * special file) leaves the rest to the caller. */
static int file_copy(oci_sink *s, int fd, uint64_t *left, const char *src,
		     ocibuild_error *err)
{
	oci_file_sink *f = (oci_file_sink *)s;

	if (f->no_copy || !*left)
		return 0;
	if (oci_file_sink_flush(f, err) < 0)
		return -1;
	while (*left) {
		size_t want = *left < WRITE_BEHIND ? (size_t)*left : WRITE_BEHIND;
		ssize_t n = copy_file_range(fd, NULL, f->fd, NULL, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EBADF)) {
			f->no_copy = 1;
			return 0;
		}
		if (n < 0)
			return write_failed(errno, f->path, src, err);
		if (n == 0)
			return 0; /* shorter than said: the caller's read finds out */
		*left -= (uint64_t)n;
		wrote(f, (uint64_t)n);
	}
	return 0;
}

int oci_file_sink_init(oci_file_sink *f, int fd, const char *path, ocibuild_error *err)
{
	f->base.write = file_write;
	f->base.copy = file_copy;
	f->base.mark = NULL;
	f->no_copy = 0;
	f->write_behind = 0;
	f->written = f->started = 0;
	f->on_wrote = NULL;
	f->on_wrote_userdata = NULL;
	f->fd = fd;
	f->path = path;
	f->len = 0;
	f->cap = FILE_SINK_BUF;
	f->buf = oci_malloc(f->cap);
	if (!f->buf)
		return oci_err_nomem(err);
	return 0;
}

void oci_file_sink_write_behind(oci_file_sink *f)
{
	f->write_behind = 1;
}

void oci_file_sink_release(oci_file_sink *f)
{
	oci_free(f->buf);
	f->buf = NULL;
}

static int hash_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	oci_hash_sink *h = (oci_hash_sink *)s;

	oci_sha256_update(&h->sha, data, len);
	h->count += len;
	return h->next ? oci_sink_write(h->next, data, len, err) : 0;
}

static void hash_mark(oci_sink *s)
{
	oci_hash_sink *h = (oci_hash_sink *)s;

	if (h->next)
		oci_sink_mark(h->next);
}

int oci_hash_sink_init(oci_hash_sink *h, oci_sink *next, ocibuild_error *err)
{
	h->base.write = hash_write;
	h->base.copy = NULL; /* it must see the bytes */
	h->base.mark = hash_mark;
	h->next = next;
	h->count = 0;
	return oci_sha256_init(&h->sha, err);
}

void oci_hash_sink_final(oci_hash_sink *h, char *out)
{
	oci_sha256_final(&h->sha, out);
}

void oci_hash_sink_release(oci_hash_sink *h)
{
	oci_sha256_release(&h->sha);
}

#define CMP_CHUNK (128 * 1024)

/* len bytes of the file at c->off equal p? A short or failed read of the
 * file is a difference (so is reading past its end: pread gives 0). */
static void cmp_bytes(oci_cmp_sink *c, const unsigned char *p, size_t len)
{
	while (len && !c->differs) {
		size_t want = len < CMP_CHUNK ? len : CMP_CHUNK;
		ssize_t n = pread(c->fd, c->theirs, want, (off_t)c->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || memcmp(c->theirs, p, (size_t)n)) {
			c->differs = 1;
			return;
		}
		c->off += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
}

static int cmp_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	oci_cmp_sink *c = (oci_cmp_sink *)s;

	(void)err;
	cmp_bytes(c, data, len);
	return 0;
}

/* the source's bytes from its offset, read here and compared; what is
 * left when the source ends early goes back to the caller, which finds it
 * shrank */
static int cmp_copy(oci_sink *s, int fd, uint64_t *left, const char *src,
		    ocibuild_error *err)
{
	oci_cmp_sink *c = (oci_cmp_sink *)s;

	if (c->differs || c->headers_only) {
		if (!c->differs && *left > c->size - c->off)
			c->differs = 1;
		c->off += c->differs ? 0 : *left;
		*left = 0;
		return 0;
	}
	while (*left) {
		size_t want = *left < CMP_CHUNK ? (size_t)*left : CMP_CHUNK;
		ssize_t n = read(fd, c->mine, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return oci_err_errno(err, errno, "cannot read '%s': %s", src,
					     strerror(errno));
		if (n == 0)
			return 0;
		*left -= (uint64_t)n;
		cmp_bytes(c, c->mine, (size_t)n);
		if (c->differs) { /* the rest is not needed */
			*left = 0;
			return 0;
		}
	}
	return 0;
}

int oci_cmp_sink_init(oci_cmp_sink *c, int fd, uint64_t size, int headers_only,
		      ocibuild_error *err)
{
	memset(c, 0, sizeof(*c));
	c->base.write = cmp_write;
	c->base.copy = cmp_copy;
	c->base.mark = NULL;
	c->fd = fd;
	c->size = size;
	c->headers_only = headers_only;
	c->theirs = oci_malloc(CMP_CHUNK);
	c->mine = headers_only ? NULL : oci_malloc(CMP_CHUNK);
	if (!c->theirs || (!headers_only && !c->mine)) {
		oci_cmp_sink_release(c);
		return oci_err_nomem(err);
	}
	return 0;
}

int oci_cmp_sink_equal(const oci_cmp_sink *c)
{
	return !c->differs && c->off == c->size;
}

void oci_cmp_sink_release(oci_cmp_sink *c)
{
	oci_free(c->mine);
	oci_free(c->theirs);
	c->mine = c->theirs = NULL;
}
