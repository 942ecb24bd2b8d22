/* The public push, pull and login operations, and the pieces of them that
 * a build with --push or a registry --base shares. */
#ifndef OCI_DISTRIBUTE_H
#define OCI_DISTRIBUTE_H
#include "sign.h"
#include "transfer.h"

/* prefix "ghcr.io/org" + tag "myapp:1.0" -> domain, repo "org/myapp", tag "1.0". */
int oci_push_target(const char *prefix, const char *tag, char **domain, char **repo,
		    char **tagpart, ocibuild_error *err);
/* A push to the repository of one tag that starts before the image is
 * made (build --push): each blob handed to oci_push_stream_add is uploaded
 * at once (transfer.c's push session) and oci_push_tags then finishes that
 * repository's push. Other repositories are pushed after it, as before. */
typedef struct oci_push_stream oci_push_stream;

/* Open the registry of prefix + tag and start the upload workers on the
 * blobs of layout. *out: the stream, freed with oci_push_stream_free. */
int oci_push_stream_begin(ocibuild_ctx *ctx, const oci_net *net, const char *layout,
			  const char *prefix, const char *tag, oci_push_stream **out,
			  ocibuild_error *err);
/* Upload blob digest of the layout now (oci_push_session_add). */
int oci_push_stream_add(oci_push_stream *s, const char *digest, int64_t size,
			ocibuild_error *err);
/* A blob that src (a --cache-from image's repository; it must outlive the
 * stream) holds: on the same registry it is mounted at once (or found
 * there), else it is left to the end of the push. */
int oci_push_stream_add_from(oci_push_stream *s, const char *digest, int64_t size,
			     const oci_blob_source *src, ocibuild_error *err);
/* The stream's registry client (its scheme settled), or NULL. */
oci_registry *oci_push_stream_registry(const oci_push_stream *s);
/* Abort what oci_push_tags did not finish (no manifest, no tag) and free;
 * NULL is ignored. */
/* A layer about to be made in the stage, new to the repository (no
 * --cache-from image had its diff_id): its upload starts as it is
 * written (oci_push_session_feed). *out is NULL when there is no session
 * any more. */
int oci_push_stream_feed(oci_push_stream *s, oci_push_feed **out, ocibuild_error *err);
void oci_push_stream_free(oci_push_stream *s);

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
	oci_push_stream *stream; /* or NULL: its repository's push is that stream's */
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
