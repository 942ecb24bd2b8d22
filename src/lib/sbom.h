/* The SBOM of a release image: an SPDX 2.2 JSON document listing the
 * application, its locked dependencies, ERTS and the base image. The same
 * inputs always give the same bytes. */
#ifndef OCI_SBOM_H
#define OCI_SBOM_H
#include "buf.h"
#include "release.h"

typedef struct oci_sbom_input {
	const oci_release *release;
	const char *created;     /* RFC 3339 */
	const char *base_name;   /* NULL for scratch */
	const char *base_digest; /* manifest digest of the base */
} oci_sbom_input;

int oci_sbom_spdx(const oci_sbom_input *in, oci_buf *out, ocibuild_error *err);
/* purl of a locked dependency (heap), e.g. pkg:hex/cowboy@2.10.0 */
char *oci_sbom_purl(const oci_lock_dep *d);
#endif
