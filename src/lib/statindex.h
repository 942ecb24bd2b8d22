/* The stat index: git's index idea for the layer cache's key. For each
 * regular input file seen, its absolute path, device, inode, size, mode,
 * mtime and ctime (nanoseconds) and the SHA-256 of its content, plus the
 * time the index was taken ("stamp": read before any of its files were
 * looked at). A file whose stat tuple matches its entry exactly and that is
 * not "racy" (mtime and ctime older than the stamp minus
 * OCI_SIDX_RACY_NS) is not read again: its digest comes from the index.
 * A racy file could have been changed in the same timestamp tick as it was
 * hashed, without its times showing it, so it is hashed again, as git does.
 *
 * The index is a hint: a missing, corrupt, truncated or foreign-version
 * file is ignored (and rewritten at the next save), never an error. It is
 * written as temp + rename (a reader sees an old or a new index, never a
 * torn one; builds sharing a cache: last writer wins) and never fsynced:
 * losing it in a crash costs one build the reads it saves. */
#ifndef OCI_STATINDEX_H
#define OCI_STATINDEX_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "ocibuild/ocibuild.h"
#include "fs.h"

/* the index files' directory in the cache: one file per layer
 * (statindex/<hash of its root's absolute path and first entry>), so a
 * build loads the entries of its own tree, not those of every tree built
 * with the cache, and layers keyed side by side never overwrite each
 * other's file */
#define OCI_SIDX_DIR "statindex"
/* an index file not used for this long (seconds) is removed */
#define OCI_SIDX_MAX_AGE (30 * 86400)
/* entries kept; the ones not seen by the latest build go first */
#define OCI_SIDX_MAX_ENTRIES 200000
/* paths longer than this are not indexed (hashed every time) */
#define OCI_SIDX_MAX_PATH 1024
/* the file timestamp granularity assumed: 2 s covers FAT's 2 s, the 1 s of
 * older file systems and the kernel's coarse clock (a jiffy) behind the
 * wall clock */
#define OCI_SIDX_RACY_NS 2000000000LL

/* The racy rule: 1 when a file time (s, ns) is not older than stamp by
 * more than OCI_SIDX_RACY_NS, so that a write in the same timestamp tick
 * as the stamp could have kept it (computed without overflow for any
 * 64-bit seconds). */
int oci_sidx_racy_time(int64_t s, uint32_t ns, const struct timespec *stamp);

/* One entry set by this process. */
typedef struct oci_sidx_entry {
	char *path;
	oci_fstamp st;
	char hex[65];     /* SHA-256 of the content, lower-case hex */
} oci_sidx_entry;

/* The loaded file is kept as text, its lines sorted by path: a lookup is a
 * binary search that parses one line, so loading costs a checksum and a
 * line split, not a parse of every entry (a build loads it once per
 * layer). */
typedef struct oci_sidx {
	char *text;            /* the loaded file (NULL: none) */
	const char **line;     /* its entry lines, sorted by path */
	unsigned char *state;  /* per line: LINE_* in statindex.c */
	size_t nline;
	size_t next;           /* the line after the last one found */
	oci_sidx_entry *v;     /* set by this process */
	size_t n, cap;
	struct timespec stamp; /* of the loaded index (0: none) */
	struct timespec now;   /* taken at init: this process's stamp */
	int dirty;
} oci_sidx;

/* Empty index; now is read from the wall clock. */
void oci_sidx_init(oci_sidx *x);
/* Read dir/name into an empty x. Only out of memory fails; a missing or bad
 * file leaves x empty. */
int oci_sidx_load(oci_sidx *x, const char *dir, const char *name, ocibuild_error *err);
/* Take an index file's bytes into an empty x (copied). 1 when taken, 0
 * when ignored (x left empty), -1 out of memory. A line that does not
 * parse is found only when looked up, and is then a miss. */
int oci_sidx_parse(oci_sidx *x, const char *data, size_t len, ocibuild_error *err);
/* 1 and hex (65 bytes) filled with the content digest when path's entry
 * matches s exactly and is not racy, else 0. */
int oci_sidx_lookup(oci_sidx *x, const char *path, const oci_fstamp *s, char *hex);
/* Record path's tuple and content digest (hex). Paths that are not
 * absolute or hold a tab or newline are not indexed (hashed every time). */
int oci_sidx_set(oci_sidx *x, const char *path, const oci_fstamp *s, const char *hex,
		 ocibuild_error *err);
/* The index as written: entries of this process and the older ones that
 * are still trusted, sorted by path, at most OCI_SIDX_MAX_ENTRIES (those
 * this process saw first). */
int oci_sidx_serialise(oci_sidx *x, char **out, size_t *len, ocibuild_error *err);
/* Write dir/name (temp + rename, no fsync) when anything was set. Fails
 * only when it can not be written; callers may ignore that. */
int oci_sidx_save(oci_sidx *x, const char *dir, const char *name, ocibuild_error *err);
/* Remove the index files of dir unused for OCI_SIDX_MAX_AGE (a load marks
 * a file used at most once a day, so a warm build writes nothing else). */
void oci_sidx_trim(const char *dir, time_t now);
void oci_sidx_release(oci_sidx *x);
#endif
