#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "banned.h"

#ifdef OCI_FAULT_INJECTION
/* Test builds only (make SAN=1): OCIBUILD_FAIL_ALLOC=N makes the Nth
 * allocation through this wrapper fail, so that the tests can walk every
 * out-of-memory path under the sanitizers. The counter is process-wide
 * state, which a normal build does not have. */
#include <pthread.h>
#include <stdatomic.h>

static atomic_long alloc_seq;
static long fail_at = -1;
static pthread_once_t fail_once = PTHREAD_ONCE_INIT;

static void fail_init(void)
{
	const char *s = getenv("OCIBUILD_FAIL_ALLOC");

	if (s && *s)
		fail_at = strtol(s, NULL, 10);
}

static int fail_now(void)
{
	pthread_once(&fail_once, fail_init);
	return fail_at > 0 && atomic_fetch_add(&alloc_seq, 1) + 1 == fail_at;
}
#else
static int fail_now(void)
{
	return 0;
}
#endif

void *oci_malloc(size_t n)
{
	return fail_now() ? NULL : malloc(n ? n : 1);
}

void *oci_calloc(size_t count, size_t size)
{
	return fail_now() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *oci_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : realloc(p, n ? n : 1);
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
