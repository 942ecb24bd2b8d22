/* libFuzzer harness for the layer cache's stat index file
 * (oci_sidx_parse in src/lib/statindex.c), read from a cache directory that
 * other processes, other versions or a crash may have left behind.
 *
 * An index taken has only absolute paths and 64-digit lower-case digests,
 * one entry per path, and what it keeps serialises into an index that is
 * taken again with those entries; one ignored leaves nothing behind.
 * abort() otherwise. An input that starts with '#' is also tried with a
 * trailer whose checksum fits (the '#' dropped), so that the fuzzer reaches
 * the lines behind the checksum. */
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
	char *text = NULL;
	size_t i, len = 0, kept = 0;
	int rc;

	oci_sidx_init(&x);
	rc = oci_sidx_parse(&x, (const char *)data, size, &err);
	if (rc == 0 && (x.n || x.v)) {
		fprintf(stderr, "ignored, but entries left behind\n");
		abort();
	}
	if (rc == 1) {
		for (i = 0; i < x.n; i++) {
			const oci_sidx_entry *e = &x.v[i];

			int keep = e->keep;

			/* a kept entry is found by its path and tuple; one that
			 * is not (racy under the stamp) is never trusted */
			if (e->path[0] != '/' || strlen(e->hex) != 64 ||
			    strspn(e->hex, "0123456789abcdef") != 64 ||
			    oci_sidx_lookup(&x, e->path, &e->st) != (keep ? e->hex : NULL)) {
				fprintf(stderr, "entry %zu is not valid\n", i);
				abort();
			}
			kept += keep;
		}
		if (oci_sidx_serialise(&x, &text, &len, &err) < 0)
			abort();
		oci_sidx_init(&y);
		if (oci_sidx_parse(&y, text, len, &err) != 1) {
			fprintf(stderr, "its own output was not taken\n");
			abort();
		}
		if (y.n > kept) {
			fprintf(stderr, "%zu entries written, %zu kept\n", y.n, kept);
			abort();
		}
		oci_sidx_release(&y);
		free(text);
	}
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
