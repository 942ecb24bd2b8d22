/* Byte sinks: the pipes that carry a layer from the tar writer through the
 * compressor to a file, hashing on the way. */
#ifndef OCI_SINK_H
#define OCI_SINK_H
#include <stddef.h>
#include <stdint.h>
#include "digest.h"

typedef struct oci_sink oci_sink;
struct oci_sink {
	int (*write)(oci_sink *s, const void *data, size_t len, ocibuild_error *err);
	/* Optional (NULL: not offered): pass on up to *left bytes read from
	 * fd's offset without them going through user space, lowering *left
	 * by what went. What is left (the file shorter than said, or a file
	 * system that can not) the caller reads and writes as usual. */
	int (*copy)(oci_sink *s, int fd, uint64_t *left, const char *src, ocibuild_error *err);
	/* Optional (NULL: ignored): a tar entry starts at this point of the
	 * stream. The gzip compressor may end a block here, so that a change
	 * inside one entry leaves the blocks of the entries after it alone. */
	void (*mark)(oci_sink *s);
};

static inline int oci_sink_write(oci_sink *s, const void *data, size_t len,
				 ocibuild_error *err)
{
	return s->write(s, data, len, err);
}

static inline void oci_sink_mark(oci_sink *s)
{
	if (s->mark)
		s->mark(s);
}

/* s->copy when offered, else nothing (0) */
static inline int oci_sink_copy(oci_sink *s, int fd, uint64_t *left, const char *src,
				ocibuild_error *err)
{
	return s->copy ? s->copy(s, fd, left, src, err) : 0;
}

/* Buffered writes to an open fd; errors name `path`. It offers copy: a
 * file's bytes go in the kernel (copy_file_range). */
typedef struct oci_file_sink {
	oci_sink base;
	int fd;
	const char *path;
	unsigned char *buf;
	size_t len, cap;
	int no_copy; /* copy_file_range refused: read and write from now on */
	int write_behind; /* set by the caller: a file that will be fsynced */
	uint64_t written, started; /* bytes written; handed to writeback */
	/* set by the caller, or NULL: told after each write to fd */
	void (*on_wrote)(void *userdata, int fd, uint64_t written);
	void *on_wrote_userdata;
} oci_file_sink;

int oci_file_sink_init(oci_file_sink *f, int fd, const char *path, ocibuild_error *err);
/* For a file that will be fsynced when complete: start writing what is
 * written to disk every few MiB, so that the fsync waits for the tail
 * only. */
void oci_file_sink_write_behind(oci_file_sink *f);
int oci_file_sink_flush(oci_file_sink *f, ocibuild_error *err);
void oci_file_sink_release(oci_file_sink *f);

/* Hashes and counts what passes, then hands it on to `next`. */
typedef struct oci_hash_sink {
	oci_sink base;
	oci_sink *next;
	oci_sha256 sha;
	uint64_t count;
} oci_hash_sink;

int oci_hash_sink_init(oci_hash_sink *h, oci_sink *next, ocibuild_error *err);
/* Writes "sha256:<hex>" into out; the sink can not be written afterwards. */
void oci_hash_sink_final(oci_hash_sink *h, char *out);
void oci_hash_sink_release(oci_hash_sink *h);

/* Compares what passes with an existing file instead of writing it: the
 * stream equals the file when, at the end, nothing differed and every byte
 * of the file was matched (oci_cmp_sink_equal). A difference, or a failed
 * read of the file, only marks it different; after that the sink takes
 * the rest without reading. Reads of a copy's source that fail are
 * errors, as they would be for a write. With headers_only set, copies are
 * taken unread and unchecked: a cheap first pass over all else. */
typedef struct oci_cmp_sink {
	oci_sink base;
	int fd;
	uint64_t size, off;
	int differs, headers_only;
	unsigned char *mine, *theirs;
} oci_cmp_sink;

int oci_cmp_sink_init(oci_cmp_sink *c, int fd, uint64_t size, int headers_only,
		      ocibuild_error *err);
int oci_cmp_sink_equal(const oci_cmp_sink *c);
void oci_cmp_sink_release(oci_cmp_sink *c);

/* Write all of len bytes to fd, retrying on EINTR and short writes. */
int oci_write_all(int fd, const void *data, size_t len, const char *path,
		  ocibuild_error *err);
#endif
