/* A growable byte buffer, always NUL-terminated, with a maximum size so a
 * hostile or broken input cannot make it grow without bound. */
#ifndef OCI_BUF_H
#define OCI_BUF_H
#include <stddef.h>
#include "ocibuild/ocibuild.h"
#include "err.h"
#include "caps.h"

typedef struct oci_buf {
	char *data; /* never NULL: "" (oci_buf_empty) until the first append */
	size_t len;
	size_t alloc;
	size_t max; /* appends past this many bytes fail */
} oci_buf;

/* The data of every buffer that owns no memory (alloc == 0): never written
 * and never freed, so that readers need no NULL checks. */
extern const char oci_buf_empty[1];

#define OCI_BUF_INIT(maxsize) { (char *)oci_buf_empty, 0, 0, (maxsize) }

void oci_buf_init(oci_buf *b, size_t max);
OCI_MUST_USE int oci_buf_append(oci_buf *b, const void *data, size_t len, ocibuild_error *err);
OCI_MUST_USE int oci_buf_puts(oci_buf *b, const char *s, ocibuild_error *err);
OCI_MUST_USE int oci_buf_printf(oci_buf *b, ocibuild_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Hand the contents to the caller (never NULL on success: "" when empty);
 * the buffer is left empty. */
char *oci_buf_detach(oci_buf *b, size_t *len);
void oci_buf_reset(oci_buf *b);
/* Free the contents; the buffer is empty (and usable) again. */
void oci_buf_release(oci_buf *b);
#endif
