/* Streaming compressors used as sinks: gzip (parallel: fixed blocks, each a
 * gzip member of its own, made by libdeflate), zstd (libzstd's workers) and
 * none.
 *
 * The bytes produced depend only on the input and the kind, never on the
 * number of threads: gzip blocks have fixed boundaries and each member is a
 * pure function of its block (its level too); zstd always runs in
 * libzstd's multi-threaded mode, whose output is the same for any worker
 * count of 1 or more. */
#ifndef OCI_COMPRESS_H
#define OCI_COMPRESS_H
#include "sink.h"

typedef struct oci_zw oci_zw;

/* threads: compression workers (>= 1). Output goes to next. */
int oci_zw_new(oci_zw **out, ocibuild_compression kind, int threads,
	       oci_sink *next, ocibuild_error *err);
/* The sink to write uncompressed bytes into. */
oci_sink *oci_zw_sink(oci_zw *z);
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
