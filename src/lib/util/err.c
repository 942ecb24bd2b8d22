#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "banned.h"

void ocibuild_error_clear(ocibuild_error *err)
{
	if (!err)
		return;
	oci_free(err->message);
	err->message = NULL;
	err->kind = OCIBUILD_ERR_NONE;
	err->code = 0;
}

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vformat(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	s = oci_malloc((size_t)n + 1);
	if (!s)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static void vset(ocibuild_error *err, ocibuild_error_kind kind, int code,
		 const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void vset(ocibuild_error *err, ocibuild_error_kind kind, int code,
		 const char *fmt, va_list ap)
{
	char *msg = vformat(fmt, ap);

	oci_free(err->message);
	err->kind = msg ? kind : OCIBUILD_ERR_NOMEM;
	err->code = code;
	err->message = msg;
}

int oci_err(ocibuild_error *err, ocibuild_error_kind kind, int code,
	    const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vset(err, kind, code, fmt, ap);
	va_end(ap);
	return -1;
}

int oci_err_errno(ocibuild_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	ocibuild_error_kind kind = OCIBUILD_ERR_IO;

	if (!err)
		return -1;
	if (code == ENOSPC || code == EDQUOT)
		kind = OCIBUILD_ERR_NOSPACE;
	else if (code == ENOMEM)
		kind = OCIBUILD_ERR_NOMEM;
	va_start(ap, fmt);
	vset(err, kind, code, fmt, ap);
	va_end(ap);
	return -1;
}

int oci_err_nomem(ocibuild_error *err)
{
	if (!err)
		return -1;
	oci_free(err->message);
	err->message = NULL;
	err->kind = OCIBUILD_ERR_NOMEM;
	err->code = ENOMEM;
	return -1;
}

void oci_err_prefix(ocibuild_error *err, const char *fmt, ...)
{
	va_list ap;
	char *pre, *msg;
	size_t a, b;

	if (!err || !err->message)
		return;
	va_start(ap, fmt);
	pre = vformat(fmt, ap);
	va_end(ap);
	if (!pre)
		return;
	a = strlen(pre);
	b = strlen(err->message);
	msg = oci_malloc(a + 2 + b + 1);
	if (msg) {
		memcpy(msg, pre, a);
		memcpy(msg + a, ": ", 2);
		memcpy(msg + a + 2, err->message, b + 1);
		oci_free(err->message);
		err->message = msg;
	}
	oci_free(pre);
}

void oci_err_as_option(ocibuild_error *err)
{
	if (err && err->kind != OCIBUILD_ERR_NOMEM)
		err->kind = OCIBUILD_ERR_OPTION;
}

int oci_err_version(unsigned have, unsigned known, const char *type, ocibuild_error *err)
{
	char init[64];
	size_t i;

	if (have == known)
		return 0;
	for (i = 0; type[i] && i + 1 < sizeof(init); i++)
		init[i] = (char)toupper((unsigned char)type[i]);
	init[i] = '\0';
	return oci_err(err, OCIBUILD_ERR_OPTION, 0,
		       "%s has version %u but this library knows version %u: initialise it with %s_INIT",
		       type, have, known, init);
}
