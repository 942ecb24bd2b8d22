/* libFuzzer harness for registry error bodies (oci_registry_error in
 * src/lib/oci.c), whose text goes into a one-line message on a terminal.
 *
 * The summary is NULL or non-empty, and has no control characters (line
 * breaks, escape sequences). abort() otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = oci_registry_error((const char *)data, size);
	const unsigned char *p;

	if (!msg)
		return 0;
	if (!*msg) {
		fprintf(stderr, "an empty summary instead of NULL\n");
		abort();
	}
	for (p = (const unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "control character 0x%02x in '%s'\n", *p, msg);
			abort();
		}
	free(msg);
	return 0;
}
