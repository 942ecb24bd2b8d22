/* Filesystem helpers shared by every module (src/lib/util). */
#ifndef OCI_FS_H
#define OCI_FS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

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
/* Whether name (below the directory dfd, or a path with AT_FDCWD) starts
 * with the ELF magic: 1 yes, 0 no, -1 when its first four bytes can not
 * be read; flags are added to the open's (O_NOFOLLOW, O_NONBLOCK...). */
int oci_file_is_elf(int dfd, const char *name, int flags);
/* 1 when a file so named is never mapped as native code, whatever its
 * bytes: a .beam is read by the BEAM's code loader only (NIFs and port
 * programs have other names). The ELF check leaves such files unread. */
int oci_file_not_native(const char *name);
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
/* What stat says of a file, enough to tell that it has not changed since
 * (git's index idea): the walk records it, the stat index compares it. */
typedef struct oci_fstamp {
	uint64_t dev, ino, size;
	uint32_t mode;
	int64_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns;
} oci_fstamp;

void oci_fstamp_of(const struct stat *st, oci_fstamp *out);
/* Every field equal: the same file, unchanged (as far as stat can tell). */
int oci_fstamp_same(const oci_fstamp *a, const oci_fstamp *b);
#endif
