/* Base images: "scratch" or an image in a local OCI layout
 * ("oci:DIR[:TAG]"), resolved to one manifest and config for a platform. */
#ifndef OCI_BASE_H
#define OCI_BASE_H
#include "oci.h"

typedef struct oci_base {
	int scratch;
	char *layout_dir; /* where the base's blobs are */
	char *name;       /* for org.opencontainers.image.base.name */
	char manifest_digest[OCI_DIGEST_LEN + 1];
	oci_manifest manifest;
	char *config_json; /* the base config bytes, for the new config */
	size_t config_len;
} oci_base;

int oci_base_open(const char *spec, const oci_platform *want, oci_base *b,
		  ocibuild_error *err);
void oci_base_release(oci_base *b);
#endif
