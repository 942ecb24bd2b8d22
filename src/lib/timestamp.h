/* Image times: the --created forms read (RFC 3339, "@SECONDS", "now") and
 * the one form OCI documents carry written ("YYYY-MM-DDTHH:MM:SSZ"). */
#ifndef OCI_TIMESTAMP_H
#define OCI_TIMESTAMP_H
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define OCI_TIMESTAMP_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (T may be t or a space,
 * Z may be z; fractions dropped) to seconds since 1970 in *out. Returns 0,
 * or -1 when s is not such a time or is outside 1970..9999. */
int oci_timestamp_rfc3339(const char *s, int64_t *out);

/* A --created value: "now" (sets *now, *out untouched), an RFC 3339 time
 * or "@SECONDS" (*now = 0, *out set). Fails with an option error naming
 * the value and the accepted forms. */
int oci_timestamp_parse(const char *s, int64_t *out, int *now, ocibuild_error *err);

/* Seconds since 1970 as "YYYY-MM-DDTHH:MM:SSZ" in out (size bytes, 21 at
 * least). */
int oci_timestamp_format(int64_t t, char *out, size_t size, ocibuild_error *err);
#endif
