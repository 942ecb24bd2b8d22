#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "banned.h"

#ifdef OCI_FAULT_INJECTION
/* Test builds only (make SAN=1): OCIBUILD_FAIL_ALLOC=N makes the Nth
 * allocation through this wrapper fail, so that the tests can walk every
 * out-of-memory path under the sanitizers. OCIBUILD_ALLOC_TRACE=FILE
 * appends to FILE one line per allocation, "SEQ SITE": its number (the N
 * that would fail it) and the hash of the return addresses of the first
 * SITE_FRAMES callers outside this file, as offsets into their binaries (so
 * the same site has the same hash in every run, whatever the address space
 * layout). tests/e2e/t_faults.sh uses the trace to fail each site's first
 * and second allocation only instead of every allocation. The counter and
 * the trace file are process-wide state, which a normal build does not
 * have. */
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

/* Everything in this file goes to one section, so that a backtrace can
 * tell the wrapper's own frames (however the compiler inlined them) from
 * its callers': the linker brackets the section with these two symbols. */
#define MEM_FN __attribute__((section("oci_mem_text")))
extern const char __start_oci_mem_text[], __stop_oci_mem_text[];

enum { SITE_FRAMES = 4, MAX_FRAMES = 24 };

static atomic_long alloc_seq;
static long fail_at = -1;
static int trace_fd = -1;
static pthread_once_t fail_once = PTHREAD_ONCE_INIT;

MEM_FN static void fail_init(void)
{
	const char *s = getenv("OCIBUILD_FAIL_ALLOC");
	const char *t = getenv("OCIBUILD_ALLOC_TRACE");

	if (s && *s)
		fail_at = strtol(s, NULL, 10);
	if (t && *t)
		trace_fd = open(t, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

MEM_FN static int own_frame(const void *pc)
{
	return (const char *)pc >= __start_oci_mem_text && (const char *)pc < __stop_oci_mem_text;
}

/* FNV-1a over the callers' offsets into their binaries */
MEM_FN static uint64_t site_hash(void)
{
	void *pcs[MAX_FRAMES];
	int n = backtrace(pcs, MAX_FRAMES), i, used = 0;
	uint64_t h = 14695981039346656037ULL;
	Dl_info info;

	for (i = 0; i < n && used < SITE_FRAMES; i++) {
		uintptr_t off = (uintptr_t)pcs[i];

		if (own_frame(pcs[i]))
			continue;
		if (dladdr(pcs[i], &info) && info.dli_fbase)
			off -= (uintptr_t)info.dli_fbase;
		for (size_t b = 0; b < sizeof(off); b++) {
			h ^= (off >> (8 * b)) & 0xff;
			h *= 1099511628211ULL;
		}
		used++;
	}
	return h;
}

MEM_FN static void trace(long seq)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%ld %016llx\n", seq,
			   (unsigned long long)site_hash());

	/* one write of one short line: lines of threads do not mix; a line
	 * lost is an allocation the sweep does not aim at, nothing worse */
	if (len > 0 && write(trace_fd, line, (size_t)len) < 0)
		return;
}

MEM_FN static int fail_now(void)
{
	long seq;

	pthread_once(&fail_once, fail_init);
	if (fail_at <= 0 && trace_fd < 0)
		return 0;
	seq = atomic_fetch_add(&alloc_seq, 1) + 1;
	if (trace_fd >= 0)
		trace(seq);
	return seq == fail_at;
}
#else
#define MEM_FN
static int fail_now(void)
{
	return 0;
}
#endif

MEM_FN void *oci_malloc(size_t n)
{
	return fail_now() ? NULL : malloc(n ? n : 1);
}

MEM_FN void *oci_calloc(size_t count, size_t size)
{
	return fail_now() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

MEM_FN void *oci_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : realloc(p, n ? n : 1);
}

MEM_FN void *oci_reallocarray(void *p, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	return oci_realloc(p, count * size);
}

MEM_FN char *oci_strndup(const char *s, size_t n)
{
	char *d = oci_malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

MEM_FN char *oci_strdup(const char *s)
{
	return oci_strndup(s, strlen(s));
}

MEM_FN void oci_free(void *p)
{
	free(p);
}
