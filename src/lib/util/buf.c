#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

const char oci_buf_empty[1] = "";

void oci_buf_init(oci_buf *b, size_t max)
{
	b->data = (char *)oci_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

static int grow(oci_buf *b, size_t extra, ocibuild_error *err)
{
	size_t need, n;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "data larger than the %zu-byte limit", b->max);
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 256;
	while (n < need)
		n = n > ((size_t)-1) / 2 ? need : n * 2;
	p = oci_realloc(b->alloc ? b->data : NULL, n);
	if (!p)
		return oci_err_nomem(err);
	b->data = p;
	b->alloc = n;
	return 0;
}

int oci_buf_append(oci_buf *b, const void *data, size_t len, ocibuild_error *err)
{
	if (grow(b, len, err) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int oci_buf_puts(oci_buf *b, const char *s, ocibuild_error *err)
{
	return oci_buf_append(b, s, strlen(s), err);
}

int oci_buf_printf(oci_buf *b, ocibuild_error *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "bad format");
	if (grow(b, (size_t)n, err) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *oci_buf_detach(oci_buf *b, size_t *len)
{
	char *p = b->alloc ? b->data : oci_strdup("");

	if (len)
		*len = b->alloc ? b->len : 0;
	b->data = (char *)oci_buf_empty;
	b->len = 0;
	b->alloc = 0;
	return p;
}

void oci_buf_reset(oci_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->data[0] = '\0';
}

void oci_buf_release(oci_buf *b)
{
	if (b->alloc)
		oci_free(b->data);
	b->data = (char *)oci_buf_empty;
	b->len = 0;
	b->alloc = 0;
}
