/* OCI 1.1 referrers: artifacts (the SBOM) attached to a pushed image by an
 * artifact manifest whose subject is the image's manifest. A registry with
 * the referrers API lists them itself; for one without it (distribution
 * 2.8) the tag "sha256-<hex>" of the subject holds an image index listing
 * them (the distribution spec's referrers tag schema), kept by
 * read-modify-write. Also the way back: find and fetch an image's SBOM. */
#ifndef OCI_REFERRER_H
#define OCI_REFERRER_H
#include "oci.h"
#include "registry.h"
#include "sign.h"

#define OCI_MT_SPDX "application/spdx+json"
/* the SBOM is at most this large (the build's own cap) */

/* The SPDX document ocibuild's build put in the image manifest `digest` of
 * layout (its last layer, made as "sbom layer" by build): 1 and out filled
 * when there is one, 0 when the image has none. */
int oci_referrer_layout_sbom(const char *layout, const char *digest, oci_buf *out,
			     ocibuild_error *err);

/* Push data (len bytes) as the one layer (media type artifact_type) of an
 * artifact manifest with the empty config and `subject`, by digest, and
 * list it as a referrer of subject: nothing more when the registry keeps
 * referrers itself, else in the tag schema index (entries of others kept,
 * not rewritten when it is already listed). With tag_suffix (".sbom"),
 * also tag it "sha256-<hex><suffix>". `store` holds the small blobs (the
 * cache). digest_out (72 bytes) gets the artifact's digest; *via_api is 1
 * when the registry has the referrers API. */
int oci_referrer_attach(oci_registry *reg, const char *repo, const oci_descriptor *subject,
			const char *artifact_type, const void *data, size_t len,
			const char *tag_suffix, const char *store, char *digest_out, int *via_api,
			ocibuild_error *err);

/* Attach the SBOM of the pushed image `top` (a manifest, or each manifest
 * of an index) of layout to it in repo; with sign, sign each artifact too.
 * The references of the artifacts ("domain/repo:sha256-<hex>.sbom") and
 * of their signatures go to refs. An image without an SBOM is logged and
 * skipped. */
int oci_referrer_attach_sboms(ocibuild_ctx *ctx, oci_registry *reg, const char *repo,
			      const char *layout, const char *top, const char *store,
			      const oci_sign_key *sign, oci_strlist *refs, ocibuild_error *err);
#endif
