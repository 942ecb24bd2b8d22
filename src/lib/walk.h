/* Directory walk: every entry below a root, sorted byte-wise by relative
 * path. Symlinks are recorded, never followed; device nodes, sockets and
 * FIFOs are refused. */
#ifndef OCI_WALK_H
#define OCI_WALK_H
#include <stdint.h>
#include "fs.h"
#include "tar.h"

typedef struct oci_walk_entry {
	char *rel;  /* path relative to the root, no leading or trailing '/' */
	oci_tar_type type;
	unsigned short mode; /* permission bits */
	unsigned char elf;   /* OCI_WALK_ELF_*: what the walk found (w->magic) */
	uint64_t size;
	char *link;        /* symlink target */
	const void *data;  /* when set, the content (size bytes) is in memory */
	char *src;         /* when set, the content is read from this host path
			    * (symlinks followed) instead of root/rel */
	oci_fstamp *st;    /* a file's stat when it was walked (w->stamp), or NULL */
} oci_walk_entry;

/* A regular file of 64 bytes or more, read by a walk with w->magic: ELF or
 * not; UNKNOWN when not read (no magic asked, smaller, not readable). */
enum { OCI_WALK_ELF_UNKNOWN = 0, OCI_WALK_ELF_NO, OCI_WALK_ELF_YES };

typedef struct oci_walk {
	oci_walk_entry *v;
	size_t n, cap;
	int stamp; /* set before a walk: keep each regular file's stat tuple
		    * (for the layer cache; memory not spent otherwise) */
	int threads; /* set before a walk: read subtrees side by side (0 or 1:
		      * one thread); the result does not depend on it */
	void *par; /* internal: a thread's part of a parallel walk */
	int magic; /* set before a walk: read the first bytes of each regular
		    * file of 64 bytes or more for the ELF magic (entry.elf),
		    * while its directory is open and on the walk's threads */
} oci_walk;

/* Collect every entry under root (root itself excluded) into w, sorted;
 * with w->stamp, each regular file's stat tuple too (oci_walk_add too). */
int oci_walk_dir(const char *root, oci_walk *w, ocibuild_error *err);
/* Add one in-memory file (content not copied: it must outlive w). */
int oci_walk_add_data(oci_walk *w, const char *rel, unsigned mode,
		      const void *data, size_t len, ocibuild_error *err);
/* Sort by relative path, byte-wise (strcmp). */
void oci_walk_sort(oci_walk *w);
/* Add one entry read from a host file (following symlinks), a directory
 * (src NULL) or a symlink (link set). */
int oci_walk_add(oci_walk *w, const char *rel, oci_tar_type type, unsigned mode,
		 const char *src, const char *link, ocibuild_error *err);
/* Index of rel in a sorted walk, or -1. */
long oci_walk_find(const oci_walk *w, const char *rel);
void oci_walk_release(oci_walk *w);
#endif
