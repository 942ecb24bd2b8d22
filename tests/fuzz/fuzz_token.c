/* libFuzzer harness for token server responses (oci_auth_parse_token in
 * src/lib/auth.c).
 *
 * An accepted response gives a non-empty token and a lifetime between one
 * second and OCI_TOKEN_MAX_LIFETIME, so callers can add it to a time; a
 * refused one gives no token and a one-line message. abort() otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	char *token = (char *)"unset";
	long expires = -1;

	if (oci_auth_parse_token((const char *)data, size, &token, &expires, &err) == 0) {
		if (!token || !*token) {
			fprintf(stderr, "accepted without a token\n");
			abort();
		}
		if (expires < 1 || expires > OCI_TOKEN_MAX_LIFETIME) {
			fprintf(stderr, "lifetime %ld is out of range\n", expires);
			abort();
		}
		free(token);
	} else if (token || !err.message || strchr(err.message, '\n')) {
		fprintf(stderr, "refused, but with a token or without a one-line message\n");
		abort();
	}
	ocibuild_error_clear(&err);
	return 0;
}
