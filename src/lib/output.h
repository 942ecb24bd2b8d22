/* Where a build's image ends up: the staging layout beside the target, the
 * archive (-o) and the layout (--layout) made from it. */
#ifndef OCI_OUTPUT_H
#define OCI_OUTPUT_H
#include "ocibuild/ocibuild.h"
#include "layout.h"
#include "oci.h"

/* Fill archive, gzip and layout, zero the rest; free with
 * oci_output_release on every path. */
typedef struct oci_output {
	const char *archive; /* -o FILE.tar[.gz|.tgz], or NULL */
	int gzip;            /* the archive is gzipped */
	const char *layout;  /* --layout DIR, or NULL */
	char *stage;         /* the staging layout; NULL once renamed into place */
	int layout_exists;   /* add to the layout rather than create it */
	oci_layout_txn txn;  /* adding to an existing layout */
	/* the archive's temp file, opened early (oci_output_direct), or NULL:
	 * its front blob is written into it as it is made */
	char *direct_tmp;
	int direct_fd;
	/* set before oci_output_archive: the blob that goes first in the
	 * archive (or NULL), and whether it is in direct_tmp, not the stage */
	const char *front;
	int front_written;
	int64_t front_size;
} oci_output;

/* One platform's image in the stage. */
typedef struct oci_output_image {
	const oci_platform *platform;
	const oci_manifest *manifest;
	const oci_descriptor *desc; /* the manifest's */
} oci_output_image;

/* Check the layout target (none, an empty directory, or an OCI layout)
 * and make o->stage: a new blob layout beside the layout, else beside the
 * archive, else in $TMPDIR or /tmp. */
int oci_output_stage(oci_output *o, ocibuild_error *err);

/* Open the archive's temp file now (the archive is a plain tar), for the
 * front blob to be written into as it is made. */
int oci_output_direct(oci_output *o, ocibuild_error *err);

/* The stage's index.json: each tag pointing at top. */
int oci_output_index(const oci_output *o, const oci_descriptor *top, const oci_strlist *tags,
		     ocibuild_error *err);

/* o->archive from the stage (and the front blob written into the temp
 * file, if it was), with a Docker manifest.json naming the build host's
 * image among v[0..n) (else the first); file times mtime. 1 when the file
 * there already held exactly that archive and was kept, else as
 * oci_archive_write. */
int oci_output_archive(oci_output *o, ocibuild_ctx *ctx, const oci_output_image *v,
		       size_t n, const oci_strlist *tags, int64_t mtime, ocibuild_error *err);

/* o->layout from the stage: a new one is the stage renamed (o->stage is
 * then NULL); an existing one gets v[0..n)'s blobs (and top, an index when
 * n > 1) and the tags under its lock. */
int oci_output_layout(oci_output *o, ocibuild_ctx *ctx, const oci_output_image *v, size_t n,
		      const oci_descriptor *top, const oci_strlist *tags, ocibuild_error *err);

/* Roll back blobs added to an existing layout unless committed, and
 * remove the stage. */
void oci_output_release(oci_output *o);
#endif
