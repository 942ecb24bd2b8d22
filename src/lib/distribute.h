/* The public push, pull and login operations, and the pieces of them that
 * a build with --push or a registry --base shares. */
#ifndef OCI_DISTRIBUTE_H
#define OCI_DISTRIBUTE_H
#include "sign.h"
#include "transfer.h"

/* prefix "ghcr.io/org" + tag "myapp:1.0" -> domain, repo "org/myapp", tag "1.0". */
int oci_push_target(const char *prefix, const char *tag, char **domain, char **repo,
		    char **tagpart, ocibuild_error *err);
/* What oci_push_tags pushes, where to and where from. */
typedef struct oci_push_tags_opts {
	const oci_net *net;
	const char *layout; /* where the image's blobs are */
	const char *manifest_digest;
	const char *prefix; /* "registry[/namespace]" */
	const char *const *tags;
	size_t ntags;
	/* where blobs missing from the layout are, as in oci_push_opts */
	const oci_blob_source *sources;
	size_t nsources;
	const char *cache;
	const oci_sign_key *sign; /* or NULL */
	int attach_sbom;
} oci_push_tags_opts;

/* Push the image `manifest_digest` of `layout` under each of `tags` (which
 * may name several repositories), adding to refs each tag reference and
 * each repository's digest reference; blobs missing from the layout come
 * from `sources` (oci_push_opts); with sign, also each repository's
 * signature references (of an index and each manifest it lists); with
 * attach_sbom, attach the image's SBOM (referrer.c) in each repository. */
int oci_push_tags(ocibuild_ctx *ctx, const oci_push_tags_opts *o, oci_strlist *refs,
		  ocibuild_error *err);
/* The digest references among refs, one a line, into *out (heap). */
int oci_digest_refs(const oci_strlist *refs, char **out, ocibuild_error *err);
/* --image-refs and --digest-file */
int oci_write_refs(const char *image_refs, const char *digest_file, const oci_strlist *refs,
		   const char *digest, ocibuild_error *err);
#endif
