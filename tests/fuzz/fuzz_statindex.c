/* libFuzzer harness for the layer cache's stat index file
 * (oci_sidx_parse in src/lib/statindex.c), read from a cache directory that
 * other processes, other versions or a crash may have left behind.
 *
 * An index taken has sorted absolute paths, one line each; a lookup of
 * each line by its own fields gives back its digest or nothing (racy or
 * malformed), and what it keeps serialises into an index that is taken
 * again with no more lines. One ignored leaves nothing behind. abort()
 * otherwise. An input that starts with '#' is also tried with a trailer
 * whose checksum fits (the '#' dropped), so that the fuzzer reaches the
 * lines behind the checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "statindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	oci_sidx x, y;
	char *text = NULL, hex[65], path[OCI_SIDX_MAX_PATH + 1];
	size_t i, len = 0;
	int rc;

	oci_sidx_init(&x);
	rc = oci_sidx_parse(&x, (const char *)data, size, &err);
	if (rc == 0 && (x.nline || x.line || x.text)) {
		fprintf(stderr, "ignored, but lines left behind\n");
		abort();
	}
	if (rc != 1) {
		oci_sidx_release(&x);
		ocibuild_error_clear(&err);
		return;
	}
	for (i = 0; i < x.nline; i++) {
		const char *l = x.line[i], *tab = strchr(l, '\t');
		oci_fstamp st;
		unsigned long long f[8];
		char want[65];
		int n = 0;

		if (l[0] != '/' || !tab || (size_t)(tab - l) > OCI_SIDX_MAX_PATH) {
			fprintf(stderr, "line %zu is not a path\n", i);
			abort();
		}
		memcpy(path, l, (size_t)(tab - l));
		path[tab - l] = '\0';
		/* the line's own fields, read leniently: a lookup with them
		 * finds the line's digest or nothing */
		if (sscanf(tab + 1, "%64[0-9a-f] %llu %llu %llu %llu %lld %llu %lld %llu%n", want,
			   &f[0], &f[1], &f[2], &f[3], (long long *)&f[4], &f[5], (long long *)&f[6],
			   &f[7], &n) == 9) {
			memset(&st, 0, sizeof(st));
			st.dev = f[0];
			st.ino = f[1];
			st.size = f[2];
			st.mode = (uint32_t)f[3];
			st.mtime_s = (int64_t)f[4];
			st.mtime_ns = (uint32_t)f[5];
			st.ctime_s = (int64_t)f[6];
			st.ctime_ns = (uint32_t)f[7];
			if (oci_sidx_lookup(&x, path, &st, hex) && strcmp(hex, want)) {
				fprintf(stderr, "line %zu: lookup gave another digest\n", i);
				abort();
			}
		}
	}
	/* keep the index dirty so that serialise writes what it keeps */
	if (oci_sidx_serialise(&x, &text, &len, &err) < 0)
		abort();
	oci_sidx_init(&y);
	if (oci_sidx_parse(&y, text, len, &err) != 1) {
		fprintf(stderr, "its own output was not taken\n");
		abort();
	}
	if (y.nline > x.nline) {
		fprintf(stderr, "%zu lines written of %zu\n", y.nline, x.nline);
		abort();
	}
	oci_sidx_release(&y);
	free(text);
	oci_sidx_release(&x);
	ocibuild_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	char sum[OCI_DIGEST_LEN + 1];
	uint8_t *with;

	one(data, size);
	if (!size || data[0] != '#' || size > (1u << 20))
		return 0;
	with = malloc(size + 69);
	if (!with || oci_sha256_buf(data + 1, size - 1, sum, &err) < 0)
		abort();
	memcpy(with, data + 1, size - 1);
	memcpy(with + size - 1, "end ", 4);
	memcpy(with + size + 3, sum + 7, 64);
	with[size + 67] = '\n';
	one(with, size + 68);
	free(with);
	return 0;
}
