/* Deterministic tar writer: POSIX ustar headers, with a PAX extended header
 * only when a field does not fit (long path or link target, size of 8 GiB
 * or more, mtime out of the octal range). Owner and group are always 0/0
 * with empty names. */
#ifndef OCI_TAR_H
#define OCI_TAR_H
#include <stdint.h>
#include "buf.h"
#include "sink.h"

/* a member's path, or its PAX records, past this many bytes is refused */
#define OCI_TAR_MAX_HEADER (1u << 20)

#define OCI_TAR_BLOCK 512

struct archive;
struct archive_entry;

typedef enum oci_tar_type {
	OCI_TAR_FILE,
	OCI_TAR_DIR,
	OCI_TAR_SYMLINK
} oci_tar_type;

typedef struct oci_tar_entry {
	const char *path; /* relative, no leading '/'; a dir gets a trailing '/' */
	oci_tar_type type;
	unsigned mode;    /* permission bits (07777) */
	uint64_t size;    /* content bytes for OCI_TAR_FILE, else 0 */
	const char *link; /* symlink target */
	int64_t mtime;
} oci_tar_entry;

/* Append the header block(s) for e to out. Fails on an empty path. */
int oci_tar_header(const oci_tar_entry *e, oci_buf *out, ocibuild_error *err);
/* Zero bytes needed after `size` bytes of content to reach a block edge. */
size_t oci_tar_padding(uint64_t size);
/* Write `n` zero bytes (n <= 2 blocks) to the sink. */
int oci_tar_zeros(oci_sink *s, size_t n, ocibuild_error *err);
/* Write the two zero blocks that end an archive. */
int oci_tar_end(oci_sink *s, ocibuild_error *err);
/* Reading a tar that someone else may have made (an image archive, a layer
 * blob): open the one at path, plain, gzip or zstd, with libarchive; the
 * error says "cannot read WHAT 'PATH'". Free with archive_read_free(). */
struct archive *oci_tar_read_open(const char *path, const char *what, ocibuild_error *err);
/* An entry's path without any leading "./" (NULL when it has none). */
const char *oci_tar_read_name(struct archive_entry *e);
#endif
