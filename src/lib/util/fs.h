/* Filesystem helpers shared by every module (src/lib/util). */
#ifndef OCI_FS_H
#define OCI_FS_H
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* "a/b" (heap), or NULL when out of memory. */
char *oci_path_join(const char *a, const char *b);
/* mkdir -p */
int oci_mkdirs(const char *path, unsigned mode, ocibuild_error *err);
/* rm -r, best effort; never follows symlinks. */
void oci_remove_tree(const char *path);
/* Read a small file whole (at most max bytes). */
int oci_read_file(const char *path, size_t max, oci_buf *out, ocibuild_error *err);
/* Write a small file atomically (temporary name in the same dir + rename). */
int oci_write_file_atomic(const char *path, const void *data, size_t len,
			  int durable, ocibuild_error *err);
/* The same with a chosen mode (0600 for secrets: never readable by others,
 * not even for a moment). */
int oci_write_file_mode(const char *path, const void *data, size_t len, unsigned mode,
			int durable, ocibuild_error *err);
/* A new file "DIR/STEM" + 6 random characters, opened O_CLOEXEC with
 * mode; *out its path (heap). The error names DIR. */
int oci_tmpfile_in(const char *dir, const char *stem, unsigned mode, char **out, int *fd,
		   ocibuild_error *err);
/* fsync (when durable) and close fd, the error naming path. */
int oci_close_file(int fd, const char *path, int durable, ocibuild_error *err);
#endif
