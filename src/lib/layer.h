/* A set of walked entries -> one layer: sorted tar, streamed through a
 * compressor into a blob, hashing the tar bytes (diff_id) and the
 * compressed bytes (digest) in the same pass. Memory use does not depend
 * on the size of the files. */
#ifndef OCI_LAYER_H
#define OCI_LAYER_H
#include "compress.h"
#include "walk.h"

/* gzip blocks of an earlier blob of the layer that may be taken rather
 * than compressed (oci_zw_reuse_from), and the members of the blob made. */
typedef struct oci_layer_members {
	int fd;                   /* in: the earlier blob */
	const oci_gz_member *old; /* in: its members */
	size_t nold;
	oci_gz_member *made;      /* out: the new blob's (oci_free) */
	size_t nmade, reused;
} oci_layer_members;

typedef struct oci_layer_opts {
	const char *root;   /* where entries' relative paths are read from */
	const char *prefix; /* directory in the image, "" or e.g. "opt/app" */
	unsigned prefix_mode; /* mode of the prefix dir itself; parents get 0755 */
	int64_t mtime;
	ocibuild_compression compression;
	int threads;
	int write_behind;   /* the file will be fsynced: start writeback early */
	oci_layer_members *members; /* gzip: NULL, or reuse and record members */
	/* NULL, or told of each write to the blob's file (oci_file_sink) */
	void (*grew)(void *userdata, int fd, uint64_t written);
	void *grew_userdata;
	ocibuild_cancel_fn cancel;
	void *cancel_userdata;
} oci_layer_opts;

typedef struct oci_layer_result {
	char digest[OCI_DIGEST_LEN + 1];  /* of the compressed blob */
	char diff_id[OCI_DIGEST_LEN + 1]; /* of the tar */
	int64_t size;                     /* compressed bytes */
	uint64_t tar_size;
} oci_layer_result;

/* Write the tar stream (ended by two zero blocks) of entries, in the order
 * given, into sink. */
int oci_layer_tar(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		  size_t n, oci_sink *sink, ocibuild_error *err);
/* Build a layer blob into the OCI layout dir blob_dir. */
int oci_layer_build(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		    size_t n, const char *blob_dir, int durable,
		    oci_layer_result *r, ocibuild_error *err);
/* Stream into an already open file: the same pipeline, used for archives.
 * r may be NULL when the digests are not wanted (nothing is hashed). */
int oci_layer_to_fd(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		    size_t n, int fd, const char *path, oci_layer_result *r,
		    ocibuild_error *err);
/* Media type of a layer compressed with kind. */
const char *oci_layer_media_type(ocibuild_compression kind);
#endif
