/* Artifacts attached to a pushed image the way cosign finds them: a
 * manifest tagged "sha256-<hex>.sig" in the image's repository. */
#ifndef OCI_ATTACH_H
#define OCI_ATTACH_H
#include "oci.h"
#include "registry.h"
#include "sign.h"

/* Sign `digest` (an image or index in repo) with k and store the signature,
 * keeping the signatures already there. When the tag already holds k's
 * signature of the same payload nothing is uploaded. `store` is a blob
 * store directory for the two small blobs (the cache). ref_out gets
 * "domain/repo:sha256-<hex>.sig" (heap). */
int oci_attach_signature(oci_registry *reg, const char *repo, const char *digest,
			 const oci_sign_key *k, const char *store, char **ref_out,
			 ocibuild_error *err);
/* The image manifests of the image `top` of layout, as descriptors in out
 * (release with oci_index_release): top itself when it is a manifest, else
 * each image manifest its index lists; *is_index (may be NULL) says which. */
int oci_attach_image_manifests(const char *layout, const char *top, oci_index *out,
			       int *is_index, ocibuild_error *err);
/* Sign the pushed image `top` of layout in repo: the manifest, or the
 * index and then each manifest it lists (as `cosign sign --recursive`).
 * Each signature is logged and its reference pushed to refs. */
int oci_attach_signatures(ocibuild_ctx *ctx, oci_registry *reg, const char *repo,
			  const char *layout, const char *top, const oci_sign_key *k,
			  const char *store, oci_strlist *refs, ocibuild_error *err);
/* Store a small blob in `store` (filling digest) and upload it to repo
 * unless the registry has it. */
int oci_attach_blob(oci_registry *reg, oci_http *h, const char *repo, const char *store,
		    const void *data, size_t len, char *digest, ocibuild_error *err);
#endif
