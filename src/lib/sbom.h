/* The SBOM of a release image: an SPDX 2.2 JSON document listing what the
 * image holds: each application directory of the release's lib/ (the lock
 * file only adds versions, checksums and purls), ERTS when bundled, the
 * Debian packages the runtime layer took files from, and the base image.
 * The same inputs always give the same bytes. */
#ifndef OCI_SBOM_H
#define OCI_SBOM_H
#include "buf.h"
#include "release.h"
#include "dpkg.h"

typedef struct oci_sbom_input {
	const oci_release *release;
	const oci_release_app *apps; /* oci_release_apps: lib/ as in the image */
	size_t napps;
	const oci_dpkg *debs;    /* packages of the runtime layer, or NULL */
	const char *os_release;  /* text of the os-release the runtime layer
				  * carries (purls' distro), or NULL */
	const char *created;     /* RFC 3339 */
	const char *base_name;   /* NULL for scratch */
	const char *base_digest; /* manifest digest of the base */
} oci_sbom_input;

/* The document into `out` (reset first; its cap is the size limit). */
int oci_sbom_spdx(const oci_sbom_input *in, oci_buf *out, ocibuild_error *err);
/* purl of a locked dependency (heap), e.g. pkg:hex/cowboy@2.10.0 */
char *oci_sbom_purl(const oci_lock_dep *d);
/* purl of a Debian package (heap): pkg:deb/ID/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID
 * with ID and VERSION_ID from the os-release text (NULL: "debian", no distro). */
char *oci_sbom_deb_purl(const char *name, const char *version, const char *arch,
			const char *os_release);
/* The Erlang/OTP release of an ERTS version ("13.1.5" -> 25), 0 when not known. */
int oci_sbom_otp_release(const char *erts_version);
#endif
