#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define FILE_SINK_BUF (256 * 1024)

int oci_write_all(int fd, const void *data, size_t len, const char *path,
		  ocibuild_error *err)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOSPC || errno == EDQUOT)
				return oci_err_errno(err, errno,
					"no space left writing '%s': free disk space or write the output elsewhere",
					path);
			return oci_err_errno(err, errno, "cannot write '%s': %s", path,
					     strerror(errno));
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
	f->len = 0;
	return 0;
}

static int file_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	oci_file_sink *f = (oci_file_sink *)s;

	if (f->len + len > f->cap) {
		if (oci_file_sink_flush(f, err) < 0)
			return -1;
		if (len >= f->cap)
			return oci_write_all(f->fd, data, len, f->path, err);
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	return 0;
}

int oci_file_sink_init(oci_file_sink *f, int fd, const char *path, ocibuild_error *err)
{
	f->base.write = file_write;
	f->fd = fd;
	f->path = path;
	f->len = 0;
	f->cap = FILE_SINK_BUF;
	f->buf = oci_malloc(f->cap);
	if (!f->buf)
		return oci_err_nomem(err);
	return 0;
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

int oci_hash_sink_init(oci_hash_sink *h, oci_sink *next, ocibuild_error *err)
{
	h->base.write = hash_write;
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
