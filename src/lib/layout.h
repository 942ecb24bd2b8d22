/* OCI image layout directories (oci-layout, index.json, blobs/) and the
 * single-file archive form: the same layout in a tar (optionally gzipped)
 * that also carries Docker's manifest.json, so both `docker load` and OCI
 * tools accept it. */
#ifndef OCI_LAYOUT_H
#define OCI_LAYOUT_H
#include "oci.h"

/* Read dir/index.json (an empty index when the file does not exist). */
int oci_layout_read_index(const char *dir, oci_index *x, ocibuild_error *err);
/* Write oci-layout (if missing) and index.json (atomically). */
int oci_layout_write_index(const char *dir, const oci_index *x, int durable,
			   ocibuild_error *err);
/* Point ref_name at desc in the index, replacing an entry of that name. */
int oci_layout_set_ref(oci_index *x, const oci_descriptor *desc,
		       const char *ref_name, ocibuild_error *err);

/* The lock file, beside index.json: writers take an exclusive flock(2) on
 * it; readers never need it (index.json is replaced by rename, and blobs
 * go in before the index names them). A name starting with a dot, which
 * tools reading the layout (skopeo, umoci, oci-image-tool) do not look at. */
#define OCI_LAYOUT_LOCK ".ocibuild.lock"
/* Adding an image to a layout that may have other writers:
 *   begin   create dir if needed, take the lock (waiting at most
 *           timeout seconds, giving up when cancel says so)
 *   add     put blobs in, remembering those that were not there
 *   commit  point ref names at a descriptor in index.json, let go
 *   abort   remove the blobs add put in (and the layout, when begin
 *           made it and nobody committed to it), let go
 * Blobs are added under the lock, so a failing writer never removes a blob
 * that another writer's committed index names. Zero a txn before use;
 * abort is a no-op after commit, so it can be called on every exit path. */
typedef struct oci_layout_txn {
	char *dir;         /* NULL when no transaction is open */
	char *lock_path;
	int fd;            /* the lock file, locked */
	int created;       /* begin made dir */
	oci_strlist added; /* digests of the blobs add put in */
} oci_layout_txn;

int oci_layout_txn_begin(oci_layout_txn *t, const char *dir, unsigned timeout,
			 ocibuild_cancel_fn cancel, void *cancel_userdata,
			 ocibuild_error *err);
/* Import blob digest from src_dir (a blob directory layout too), unless
 * it is there already; size -1 when not known. */
int oci_layout_txn_add(oci_layout_txn *t, const char *src_dir, const char *digest,
		       int64_t size, ocibuild_error *err);
/* Point each of refs[0..nrefs) at desc in index.json (atomic, durable),
 * then end the transaction. On failure the transaction stays open. */
int oci_layout_txn_commit(oci_layout_txn *t, const oci_descriptor *desc,
			  const char *const *refs, size_t nrefs, ocibuild_error *err);
void oci_layout_txn_abort(oci_layout_txn *t);

/* An archive's entries: blobs/, blobs/sha256/, the front blob (the
 * image's first layer, when the caller names one), then the rest by name.
 * The front blob's bytes start at OCI_ARCHIVE_FRONT_AT, so that a build
 * can write them into the archive's temp file (oci_archive_begin) as it
 * makes them, before anything after them is known. */
#define OCI_ARCHIVE_FRONT_AT 1536

typedef struct oci_archive_opts {
	const char *path;      /* output file; written atomically */
	int gzip;              /* compress the whole archive */
	int threads;
	int64_t mtime;
	const char *docker_manifest; /* manifest.json content */
	const char *front;     /* the digest of the blob that goes first, or NULL */
	/* front_tmp, from oci_archive_begin, or NULL: it holds the front blob
	 * (front_size bytes, not in src) at OCI_ARCHIVE_FRONT_AT and becomes
	 * o->path; the caller closes front_fd and frees the name after */
	const char *front_tmp;
	int front_fd;
	int64_t front_size;
	ocibuild_cancel_fn cancel;
	void *cancel_userdata;
} oci_archive_opts;

/* Tar the layout directory src (plus manifest.json) into o->path: 1 when
 * o->path already held exactly these bytes (a plain file of ours, mode
 * 0644, one link) and was left in place with its mtime set to now, 0 when
 * it was written, -1 on error. */
int oci_archive_write(const char *src, const oci_archive_opts *o, ocibuild_error *err);
/* Whether a front blob of up to size bytes fits the fixed start (its tar
 * header stays one block) with file times mtime. */
int oci_archive_front_fits(int64_t mtime, uint64_t size);
/* The temp file (mode 0644, beside path) an archive is written to. */
int oci_archive_begin(const char *path, char **tmp, int *fd, ocibuild_error *err);
#endif
