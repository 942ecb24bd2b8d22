#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "banned.h"

void *oci_malloc(size_t n)
{
	return malloc(n ? n : 1);
}

void *oci_calloc(size_t count, size_t size)
{
	return calloc(count ? count : 1, size ? size : 1);
}

void *oci_realloc(void *p, size_t n)
{
	return realloc(p, n ? n : 1);
}

void *oci_reallocarray(void *p, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	return oci_realloc(p, count * size);
}

char *oci_strndup(const char *s, size_t n)
{
	char *d = oci_malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *oci_strdup(const char *s)
{
	return oci_strndup(s, strlen(s));
}

void oci_free(void *p)
{
	free(p);
}
