/* Base images: "scratch" or an image in a local OCI layout
 * ("oci:DIR[:TAG]"), resolved to one manifest and config for a platform. */
#ifndef OCI_BASE_H
#define OCI_BASE_H
#include "oci.h"
#include "transfer.h"

typedef struct oci_base {
	int scratch;
	char *layout_dir; /* where the base's blobs are */
	char *name;       /* for org.opencontainers.image.base.name */
	char manifest_digest[OCI_DIGEST_LEN + 1];
	oci_manifest manifest;
	char *config_json; /* the base config bytes, for the new config */
	size_t config_len;
	/* a base from a registry: its blobs are in the cache (layout_dir) */
	oci_registry *reg;
	char *repo;
	int layers_local; /* every layer is in layout_dir */
} oci_base;

/* spec: "scratch", "oci:DIR[:TAG]" or a registry reference. For a
 * registry base the layers are fetched only when need_layers is set (a
 * push to the same registry mounts them instead). */
int oci_base_open(ocibuild_ctx *ctx, const oci_net *net, const char *spec,
		  const oci_platform *want, int need_layers, oci_base *b, ocibuild_error *err);
void oci_base_release(oci_base *b);
#endif
