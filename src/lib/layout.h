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

typedef struct oci_archive_opts {
	const char *path;      /* output file; written atomically */
	int gzip;              /* compress the whole archive */
	int threads;
	int64_t mtime;
	const char *docker_manifest; /* manifest.json content */
	ocibuild_cancel_fn cancel;
	void *cancel_userdata;
} oci_archive_opts;

/* Tar the layout directory src (plus manifest.json) into o->path. */
int oci_archive_write(const char *src, const oci_archive_opts *o, ocibuild_error *err);
#endif
