/* Content-addressed blobs in an OCI layout's blobs/sha256/ directory. A blob
 * is written under a temporary name and renamed to its digest only when
 * complete, so a reader never sees a partial blob. */
#ifndef OCI_BLOBSTORE_H
#define OCI_BLOBSTORE_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "fs.h"

typedef struct oci_blob_tmp {
	int fd;
	char *path; /* temporary file, NULL once committed or aborted */
} oci_blob_tmp;

/* Make dir/blobs/sha256 (and parents) if missing. */
int oci_blobs_prepare(const char *dir, ocibuild_error *err);
/* Path of the blob (caller frees), or NULL when out of memory. */
char *oci_blobs_path(const char *dir, const char *digest);
int oci_blobs_begin(const char *dir, oci_blob_tmp *t, ocibuild_error *err);
/* Close and rename the temporary file to its digest. When durable, data is
 * flushed to disk before the rename. */
int oci_blobs_commit(const char *dir, oci_blob_tmp *t, const char *digest,
		     int durable, ocibuild_error *err);
/* Remove the temporary file, if any. */
void oci_blobs_abort(oci_blob_tmp *t);
/* Store bytes; fills digest (OCI_DIGEST_LEN + 1). */
int oci_blobs_put(const char *dir, const void *data, size_t len, char *digest,
		  int durable, ocibuild_error *err);
/* Read a whole blob of at most max bytes and check it against its digest. */
int oci_blobs_read(const char *dir, const char *digest, size_t max, oci_buf *out,
		   ocibuild_error *err);
/* 1 if the blob exists. */
int oci_blobs_has(const char *dir, const char *digest);
/* Check that a stored blob still hashes to its digest (and has `size`
 * bytes unless size < 0). OCIBUILD_ERR_DIGEST when it does not. */
int oci_blobs_verify(const char *dir, const char *digest, int64_t size, ocibuild_error *err);
/* Put the blob `digest` of src_dir into dst_dir: hard link when possible,
 * else a copy. The content is checked against the digest and the expected
 * size either way. */
int oci_blobs_import(const char *dst_dir, const char *src_dir, const char *digest,
		     int64_t size, int durable, ocibuild_error *err);
/* oci_blobs_import for a blob whose content the caller may vouch for:
 * when trusted, a hard link is not read (a copy is still checked). When a
 * check read the source and it did not change meanwhile (its ctime aside,
 * which the link itself moves), *have_seen is 1 and *seen its stat: what
 * the check vouches for. */
int oci_blobs_import_seen(const char *dst_dir, const char *src_dir, const char *digest,
			  int64_t size, int durable, int trusted, oci_fstamp *seen,
			  int *have_seen, ocibuild_error *err);
/* The same for a blob this process has just made and hashed itself: a hard
 * link is not read again (a copy is still checked). */
int oci_blobs_adopt(const char *dst_dir, const char *src_dir, const char *digest,
		    int64_t size, ocibuild_error *err);

#endif
