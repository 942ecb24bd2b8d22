/* Streaming compressors used as sinks: gzip (parallel: blocks of up to
 * 1 MiB, ended early at a tar entry's start (oci_sink_mark), each a gzip
 * member of its own, made by libdeflate), zstd (libzstd's workers) and
 * none.
 *
 * The bytes produced depend only on the input and the kind, never on the
 * number of threads: gzip block boundaries depend only on the bytes and
 * the marks, and each member is a pure function of its block (its level
 * too); zstd always runs in
 * libzstd's multi-threaded mode, whose output is the same for any worker
 * count of 1 or more. */
#ifndef OCI_COMPRESS_H
#define OCI_COMPRESS_H
#include <stdint.h>
#include "sink.h"

typedef struct oci_zw oci_zw;

/* One gzip member of a blob: its compressed bytes and what its trailer
 * says of the block it holds. Its offset is the sum of the lengths of the
 * members before it. */
typedef struct oci_gz_member {
	uint32_t len;   /* compressed bytes, header and trailer included */
	uint32_t crc;   /* CRC-32 of the block */
	uint32_t isize; /* bytes of the block */
} oci_gz_member;

/* threads: compression workers (>= 1). Output goes to next. */
int oci_zw_new(oci_zw **out, ocibuild_compression kind, int threads,
	       oci_sink *next, ocibuild_error *err);
/* The sink to write uncompressed bytes into. */
oci_sink *oci_zw_sink(oci_zw *z);
/* gzip only, before the first write: blocks that an earlier blob (fd, its
 * n members v) holds are taken from it instead of compressed. A block is
 * taken only when a member of the same CRC-32 and size decompresses to
 * exactly its bytes; anything else (a damaged blob, a short read) is
 * compressed as usual. The members must come from this same compressor
 * (block rule, levels, libdeflate) for the output to be the bytes a
 * compression would give: the caller keys them so. fd and v must outlive
 * the writer. */
int oci_zw_reuse_from(oci_zw *z, int fd, const oci_gz_member *v, size_t n,
		      ocibuild_error *err);
/* gzip, after a finish: the members written (the caller's from now on,
 * oci_free; NULL when none), and how many were taken from the earlier
 * blob. */
oci_gz_member *oci_zw_take_members(oci_zw *z, size_t *n, size_t *reused);
/* The members of a gzip blob of `size` bytes read from fd, as this writer
 * makes them: each found by decompressing it, none over a block. *v gets
 * them (oci_free) and *n their count; 0 and none when the blob is not
 * made of such members (another tool's gzip), -1 (err) when it can not be
 * read or memory runs out. */
int oci_gz_scan_members(int fd, uint64_t size, oci_gz_member **v, size_t *n,
			ocibuild_error *err);
/* Flush everything and end the stream. */
int oci_zw_finish(oci_zw *z, ocibuild_error *err);
/* Stops the workers; safe on an unfinished writer and on NULL. */
void oci_zw_release(oci_zw *z);

/* The libdeflate level of one gzip block of n bytes at p, from its content
 * alone: 1 for already-compressed data, 4 for blocks that are mostly such
 * data, 6 otherwise. Exposed for the unit tests. */
int oci_gz_block_level(const unsigned char *p, size_t n);

/* Media type suffix: "+gzip", "+zstd" or "". */
const char *oci_compression_suffix(ocibuild_compression kind);
#endif
