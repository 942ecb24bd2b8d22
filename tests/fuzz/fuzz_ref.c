/* libFuzzer harness for image references (src/lib/ref.c).
 *
 * A reference that parses must print (oci_ref_string) as one that parses
 * again to the same normal form: abort() otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	oci_ref r, r2;
	char *s, *str, *str2;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oci_ref_parse(s, &r, &err) == 0) {
		str = oci_ref_string(&r);
		if (str) {
			if (oci_ref_parse(str, &r2, &err) < 0) {
				fprintf(stderr, "'%s' parses, but its normal form '%s' does not: %s\n",
					s, str, err.message ? err.message : "?");
				abort();
			}
			str2 = oci_ref_string(&r2);
			if (str2 && strcmp(str, str2)) {
				fprintf(stderr, "'%s' -> '%s' -> '%s'\n", s, str, str2);
				abort();
			}
			free(str2);
			oci_ref_release(&r2);
			free(str);
		}
		(void)oci_ref_api_host(&r);
		oci_ref_release(&r);
	}
	(void)ocibuild_tag_check(s, &err);
	ocibuild_error_clear(&err);
	free(s);
	return 0;
}
