/* Unit tests for the streaming compressors (src/lib/compress.c): output
 * decodes to the input with zlib and libzstd, and the bytes do not depend
 * on the worker count or on how the input was cut into writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "compress.h"
#include "buf.h"
#include "mem.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define OUT_MAX (64u * MIB)
/* the gzip writer's block (src/lib/compress.c) */
#define GZB MIB

/* ---- a sink that collects into memory ---- */

struct memsink {
	oci_sink base;
	oci_buf buf;
	size_t writes;
};

static int mem_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	struct memsink *m = (struct memsink *)s;

	m->writes++;
	return oci_buf_append(&m->buf, data, len, err);
}

static void memsink_init(struct memsink *m)
{
	m->base.write = mem_write;
	m->base.copy = NULL;
	m->base.mark = NULL;
	oci_buf_init(&m->buf, OUT_MAX);
	m->writes = 0;
}

/* A sink that fails after `left` bytes. */
struct failsink {
	oci_sink base;
	size_t left;
};

static int fail_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	struct failsink *f = (struct failsink *)s;

	(void)data;
	if (len > f->left) {
		if (err) {
			ocibuild_error_clear(err);
			err->kind = OCIBUILD_ERR_NOSPACE;
		}
		return -1;
	}
	f->left -= len;
	return 0;
}

/* ---- inputs ---- */

/* Pseudo-random bytes mixed with repeated runs and text, so both the
 * literal and the match paths of the compressors are used. */
static unsigned char *make_input(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i = 0;

	assert_non_null(p);
	while (i < n) {
		size_t run, j;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		run = 1 + (size_t)(x % 3000);
		switch (x >> 60) {
		case 0: case 1: case 2: case 3: case 4:
			/* noise */
			for (j = 0; j < run && i < n; j++, i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				p[i] = (unsigned char)(x >> 24);
			}
			break;
		case 5: case 6: case 7: case 8:
			/* a run of one byte */
			for (j = 0; j < run && i < n; j++, i++)
				p[i] = (unsigned char)x;
			break;
		default:
			/* a copy of something earlier */
			if (i > 0) {
				size_t from = (size_t)(x >> 8) % i;

				for (j = 0; j < run && i < n; j++, i++)
					p[i] = p[from + j % (i - from)];
			} else {
				p[i++] = 'x';
			}
			break;
		}
	}
	return p;
}

/* write chunk sizes: 0 = all at once; otherwise cycle through a table
 * starting at `pattern` */
static const size_t chunk_table[] = {
	1, 7, 4093, 65537, 131071, 131072, 131073, 3, 333333, 17, 262144, 999, 2 * MIB + 5,
};

static void compress_into(ocibuild_compression kind, int threads, const unsigned char *in,
			  size_t n, int pattern, oci_buf *out)
{
	struct memsink m;
	oci_zw *z = NULL;
	ocibuild_error err = { 0 };
	size_t off = 0, k = (size_t)pattern;

	memsink_init(&m);
	if (oci_zw_new(&z, kind, threads, &m.base, &err) < 0)
		fail_msg("oci_zw_new(%d, %d): %s", kind, threads, err.message);
	assert_non_null(z);
	while (off < n) {
		size_t c = pattern < 0 ? n - off
				       : chunk_table[k++ % (sizeof(chunk_table) / sizeof(chunk_table[0]))];

		if (c > n - off)
			c = n - off;
		if (oci_sink_write(oci_zw_sink(z), in + off, c, &err) < 0)
			fail_msg("write: %s", err.message);
		off += c;
	}
	if (oci_zw_finish(z, &err) < 0)
		fail_msg("finish: %s", err.message);
	/* finishing again is harmless and writes nothing */
	{
		size_t len = m.buf.len;

		assert_int_equal(oci_zw_finish(z, &err), 0);
		assert_int_equal(m.buf.len, len);
	}
	oci_zw_release(z);
	*out = m.buf;
	if (!out->data) /* nothing written at all */
		assert_int_equal(oci_buf_append(out, "", 0, NULL), 0);
}

/* ---- decoders, from zlib and libzstd directly ---- */

/* Inflate every gzip member in turn (the writer emits one per fixed
 * block); *members gets their count when not NULL. */
static void gunzip_members(const oci_buf *gz, const unsigned char *want, size_t n,
			   size_t *members)
{
	z_stream zs;
	unsigned char *out = malloc(n + 64);
	size_t count = 0;
	int rc;

	assert_non_null(out);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	zs.next_in = (unsigned char *)gz->data;
	zs.avail_in = (uInt)gz->len;
	zs.next_out = out;
	zs.avail_out = (uInt)(n + 64);
	for (;;) {
		rc = inflate(&zs, Z_FINISH);
		if (rc != Z_STREAM_END)
			fail_msg("inflate: %d (%s) after %lu bytes in, %lu out", rc,
				 zs.msg ? zs.msg : "", zs.total_in, zs.total_out);
		count++;
		if (!zs.avail_in)
			break;
		/* the next member: keep the output position */
		assert_int_equal(inflateReset(&zs), Z_OK);
	}
	assert_int_equal((size_t)(zs.next_out - out), n);
	if (n)
		assert_memory_equal(out, want, n);
	inflateEnd(&zs);
	free(out);
	if (members)
		*members = count;
}

static void gunzip_check(const oci_buf *gz, const unsigned char *want, size_t n)
{
	gunzip_members(gz, want, n, NULL);
}

static void unzstd_check(const oci_buf *zst, const unsigned char *want, size_t n)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	unsigned char *out = malloc(n + 64);
	ZSTD_inBuffer in = { zst->data, zst->len, 0 };
	ZSTD_outBuffer o = { out, n + 64, 0 };
	size_t rc = 1;

	assert_non_null(ds);
	assert_non_null(out);
	assert_false(ZSTD_isError(ZSTD_initDStream(ds)));
	while (in.pos < in.size) {
		size_t before_in = in.pos, before_out = o.pos;

		rc = ZSTD_decompressStream(ds, &o, &in);
		if (ZSTD_isError(rc))
			fail_msg("zstd: %s", ZSTD_getErrorName(rc));
		if (rc == 0)
			break;
		if (in.pos == before_in && o.pos == before_out)
			fail_msg("zstd decoder made no progress");
	}
	assert_int_equal(rc, 0);          /* the frame is complete */
	assert_int_equal(in.pos, in.size); /* one frame, nothing after it */
	assert_int_equal(o.pos, n);
	if (n)
		assert_memory_equal(out, want, n);
	ZSTD_freeDStream(ds);
	free(out);
}

static const size_t sizes[] = { 0, 1, 128 * KIB - 1, 128 * KIB, 128 * KIB + 1,
				32 * KIB, 256 * KIB, 5 * MIB };

static void roundtrip_kind(ocibuild_compression kind)
{
	size_t s;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		unsigned char *in = make_input(n);
		int pattern;

		for (pattern = -1; pattern < 3; pattern++) {
			oci_buf out;

			/* byte-at-a-time only for the small inputs */
			if (pattern == 0 && n > 256 * KIB)
				continue;
			compress_into(kind, 2, in, n, pattern, &out);
			switch (kind) {
			case OCIBUILD_COMPRESS_GZIP:
				gunzip_check(&out, in, n);
				break;
			case OCIBUILD_COMPRESS_ZSTD:
				unzstd_check(&out, in, n);
				break;
			default:
				assert_int_equal(out.len, n);
				if (n)
					assert_memory_equal(out.data, in, n);
				break;
			}
			oci_buf_release(&out);
		}
		free(in);
	}
}

static void test_gzip_roundtrip(void **state)
{
	(void)state;
	roundtrip_kind(OCIBUILD_COMPRESS_GZIP);
}

static void test_zstd_roundtrip(void **state)
{
	(void)state;
	roundtrip_kind(OCIBUILD_COMPRESS_ZSTD);
}

static void test_none_roundtrip(void **state)
{
	(void)state;
	roundtrip_kind(OCIBUILD_COMPRESS_NONE);
}

static void test_gzip_header_trailer(void **state)
{
	/* fixed 1 MiB blocks, each a gzip member of its own */
	size_t n = 3 * GZB + 11, members = 0, off = 0, k;
	unsigned char *in = make_input(n);
	oci_buf out;
	const unsigned char *p;

	(void)state;
	compress_into(OCIBUILD_COMPRESS_GZIP, 3, in, n, 1, &out);
	p = (const unsigned char *)out.data;
	assert_true(out.len > 18);
	gunzip_members(&out, in, n, &members);
	assert_int_equal(members, 4);
	/* every member: deflate, no name, comment or extra field, mtime 0,
	 * and a trailer with the CRC and length of its own block */
	for (k = 0; k < members; k++) {
		z_stream zs;
		unsigned char *tmp = malloc(GZB + 64);
		size_t blk = k < 3 ? GZB : 11;
		const unsigned char *t;
		uint32_t got_crc, got_len;

		assert_non_null(tmp);
		assert_int_equal(p[off], 0x1f);
		assert_int_equal(p[off + 1], 0x8b);
		assert_int_equal(p[off + 2], 8);
		assert_int_equal(p[off + 3], 0);
		assert_true(p[off + 4] == 0 && p[off + 5] == 0 && p[off + 6] == 0 && p[off + 7] == 0);
		memset(&zs, 0, sizeof(zs));
		assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
		zs.next_in = (unsigned char *)p + off;
		zs.avail_in = (uInt)(out.len - off);
		zs.next_out = tmp;
		zs.avail_out = (uInt)(GZB + 64);
		assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
		assert_int_equal(zs.total_out, blk);
		t = p + off + zs.total_in - 8;
		got_crc = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
		got_len = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
		assert_int_equal(got_crc, (uint32_t)crc32(crc32(0L, Z_NULL, 0), in + k * GZB, (uInt)blk));
		assert_int_equal(got_len, (uint32_t)blk);
		off += zs.total_in;
		inflateEnd(&zs);
		free(tmp);
	}
	assert_int_equal(off, out.len);
	oci_buf_release(&out);

	/* an exact multiple of the block: no empty member at the end */
	compress_into(OCIBUILD_COMPRESS_GZIP, 2, in, 2 * GZB, 1, &out);
	gunzip_members(&out, in, 2 * GZB, &members);
	assert_int_equal(members, 2);
	oci_buf_release(&out);

	/* the empty stream: one empty member */
	compress_into(OCIBUILD_COMPRESS_GZIP, 1, in, 0, -1, &out);
	gunzip_members(&out, in, 0, &members);
	assert_int_equal(members, 1);
	oci_buf_release(&out);
	free(in);
}

static void same_bytes(const oci_buf *a, const oci_buf *b, const char *what)
{
	size_t i;

	if (a->len == b->len && !memcmp(a->data, b->data, a->len))
		return;
	for (i = 0; i < a->len && i < b->len && a->data[i] == b->data[i]; i++)
		;
	fail_msg("%s: outputs differ (%zu vs %zu bytes, first difference at %zu)", what,
		 a->len, b->len, i);
}

/* n bytes spread evenly over k values (k <= 256), in a scrambled order */
static void fill_over(unsigned char *p, size_t n, unsigned k)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)((x >> 32) % k);
	}
}

static void fill_text(unsigned char *p, size_t n)
{
	static const char words[] = "the process spawns a gen_server that receives {ok, Pid} and links ";
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)words[(i * 7 / 5) % (sizeof(words) - 1)];
}

static void test_gzip_block_level(void **state)
{
	unsigned char *p = malloc(GZB);

	(void)state;
	assert_non_null(p);
	/* random, and nearly so: already-compressed data gets level 1 */
	fill_over(p, GZB, 256);
	assert_int_equal(oci_gz_block_level(p, GZB), 1);
	fill_over(p, GZB, 230);
	assert_int_equal(oci_gz_block_level(p, GZB), 1);
	/* flat but not random: level 4, down to a collision chance of 1/63 */
	fill_over(p, GZB, 200);
	assert_int_equal(oci_gz_block_level(p, GZB), 4);
	fill_over(p, GZB, 70);
	assert_int_equal(oci_gz_block_level(p, GZB), 4);
	/* everything else: level 6 */
	fill_over(p, GZB, 60);
	assert_int_equal(oci_gz_block_level(p, GZB), 6);
	fill_text(p, GZB);
	assert_int_equal(oci_gz_block_level(p, GZB), 6);
	memset(p, 0, GZB);
	assert_int_equal(oci_gz_block_level(p, GZB), 6);
	/* a short block is not judged: random or not, level 6 */
	fill_over(p, 64 * KIB - 1, 256);
	assert_int_equal(oci_gz_block_level(p, 64 * KIB - 1), 6);
	assert_int_equal(oci_gz_block_level(p, 64 * KIB), 1);
	assert_int_equal(oci_gz_block_level(p, 0), 6);
	free(p);
}

/* One stream whose blocks get each level: it decodes, one member per
 * block, and the bytes do not depend on the threads or the writes. */
static void test_gzip_levels_roundtrip(void **state)
{
	size_t n = 4 * GZB + 1000, members = 0;
	unsigned char *in = malloc(n);
	oci_buf ref, out;

	(void)state;
	assert_non_null(in);
	fill_over(in, GZB, 256);
	fill_text(in + GZB, GZB);
	fill_over(in + 2 * GZB, GZB, 100);
	fill_text(in + 3 * GZB, GZB + 1000);
	assert_int_equal(oci_gz_block_level(in, GZB), 1);
	assert_int_equal(oci_gz_block_level(in + GZB, GZB), 6);
	assert_int_equal(oci_gz_block_level(in + 2 * GZB, GZB), 4);
	compress_into(OCIBUILD_COMPRESS_GZIP, 1, in, n, -1, &ref);
	gunzip_members(&ref, in, n, &members);
	assert_int_equal(members, 5);
	compress_into(OCIBUILD_COMPRESS_GZIP, 3, in, n, 4, &out);
	same_bytes(&ref, &out, "levels: 1 vs 3 threads");
	oci_buf_release(&out);
	oci_buf_release(&ref);
	free(in);
}

static void threads_identical(ocibuild_compression kind, size_t n)
{
	static const int threads[] = { 1, 2, 3, 8 };
	unsigned char *in = make_input(n);
	oci_buf ref, out;
	size_t t;
	char what[64];

	compress_into(kind, threads[0], in, n, 2, &ref);
	for (t = 1; t < sizeof(threads) / sizeof(threads[0]); t++) {
		compress_into(kind, threads[t], in, n, 2, &out);
		snprintf(what, sizeof(what), "kind %d, %zu bytes, 1 vs %d threads", kind, n,
			 threads[t]);
		same_bytes(&ref, &out, what);
		oci_buf_release(&out);
	}
	/* 0 and negative mean one worker */
	compress_into(kind, 0, in, n, 2, &out);
	same_bytes(&ref, &out, "threads 0");
	oci_buf_release(&out);
	oci_buf_release(&ref);
	free(in);
}

static void test_gzip_threads_identical(void **state)
{
	(void)state;
	threads_identical(OCIBUILD_COMPRESS_GZIP, 5 * MIB);
	threads_identical(OCIBUILD_COMPRESS_GZIP, 128 * KIB + 1);
	threads_identical(OCIBUILD_COMPRESS_GZIP, 0);
}

static void test_zstd_threads_identical(void **state)
{
	(void)state;
	threads_identical(OCIBUILD_COMPRESS_ZSTD, 5 * MIB);
	threads_identical(OCIBUILD_COMPRESS_ZSTD, 128 * KIB + 1);
	threads_identical(OCIBUILD_COMPRESS_ZSTD, 0);
}

static void chunks_identical(ocibuild_compression kind, size_t n, int threads)
{
	unsigned char *in = make_input(n);
	oci_buf ref, out;
	int pattern;
	char what[64];

	compress_into(kind, threads, in, n, -1, &ref);
	for (pattern = 0; pattern < 13; pattern++) {
		/* byte-at-a-time only once, and not for the 5 MiB input */
		if (pattern == 0 && n > 256 * KIB)
			continue;
		compress_into(kind, threads, in, n, pattern, &out);
		snprintf(what, sizeof(what), "kind %d, %zu bytes, chunk pattern %d", kind, n,
			 pattern);
		same_bytes(&ref, &out, what);
		oci_buf_release(&out);
	}
	oci_buf_release(&ref);
	free(in);
}

static void test_gzip_chunks_identical(void **state)
{
	(void)state;
	chunks_identical(OCIBUILD_COMPRESS_GZIP, 5 * MIB, 2);
	chunks_identical(OCIBUILD_COMPRESS_GZIP, 200 * KIB + 3, 1);
}

static void test_zstd_chunks_identical(void **state)
{
	(void)state;
	chunks_identical(OCIBUILD_COMPRESS_ZSTD, 5 * MIB, 2);
	chunks_identical(OCIBUILD_COMPRESS_ZSTD, 200 * KIB + 3, 1);
	chunks_identical(OCIBUILD_COMPRESS_ZSTD, 1000, 1);
}

/* gzip with an earlier blob's members (a file fd, members old): out, and
 * how many blocks were taken from it */
static size_t compress_reusing(const unsigned char *in, size_t n, int fd,
			       const oci_gz_member *old, size_t nold, oci_buf *out,
			       oci_gz_member **made, size_t *nmade)
{
	struct memsink m;
	oci_zw *z = NULL;
	ocibuild_error err = { 0 };
	size_t reused = 0;

	memsink_init(&m);
	assert_int_equal(oci_zw_new(&z, OCIBUILD_COMPRESS_GZIP, 2, &m.base, &err), 0);
	assert_int_equal(oci_zw_reuse_from(z, fd, old, nold, &err), 0);
	assert_int_equal(oci_sink_write(oci_zw_sink(z), in, n, &err), 0);
	assert_int_equal(oci_zw_finish(z, &err), 0);
	*made = oci_zw_take_members(z, nmade, &reused);
	assert_non_null(*made);
	oci_zw_release(z);
	*out = m.buf;
	return reused;
}

/* A block is taken from the earlier blob only when one of its members
 * decompresses to exactly its bytes, and the output is the same bytes as
 * a compression's whatever was taken. */
static void test_gzip_reuse_members(void **state)
{
	size_t n = 3 * GZB + 300 * KIB, nmade, nb, i;
	unsigned char *a = make_input(n), *b = malloc(n);
	oci_gz_member *ma, *mb;
	oci_buf za, zb, plain;
	FILE *f = tmpfile();
	uint64_t off = 0;
	int fd;

	(void)state;
	assert_non_null(b);
	assert_non_null(f);
	fd = fileno(f);
	/* nothing to reuse: the members of the blob written are told */
	assert_int_equal(compress_reusing(a, n, fd, NULL, 0, &za, &ma, &nmade), 0);
	assert_int_equal(nmade, 4);
	for (i = 0; i < nmade; i++) {
		assert_int_equal(ma[i].isize, i < 3 ? GZB : 300 * KIB);
		off += ma[i].len;
	}
	assert_int_equal(off, za.len);
	assert_int_equal(pwrite(fd, za.data, za.len, 0), (ssize_t)za.len);
	/* one byte of the second block changed: three taken */
	memcpy(b, a, n);
	b[GZB + 12345] ^= 0x55;
	compress_into(OCIBUILD_COMPRESS_GZIP, 1, b, n, -1, &plain);
	assert_int_equal(compress_reusing(b, n, fd, ma, nmade, &zb, &mb, &nb), 3);
	same_bytes(&plain, &zb, "blocks taken from the earlier blob");
	assert_int_equal(nb, 4);
	oci_free(mb);
	oci_buf_release(&zb);
	/* a damaged byte inside the third member: that block is compressed */
	assert_int_equal(pwrite(fd, "\xff\x00\xff", 3, ma[0].len + ma[1].len + ma[2].len / 2), 3);
	assert_int_equal(compress_reusing(b, n, fd, ma, nmade, &zb, &mb, &nb), 2);
	same_bytes(&plain, &zb, "a damaged member");
	oci_free(mb);
	oci_buf_release(&zb);
	/* members that say other sizes or CRCs match nothing */
	for (i = 0; i < nmade; i++)
		ma[i].crc ^= 1;
	assert_int_equal(compress_reusing(b, n, fd, ma, nmade, &zb, &mb, &nb), 0);
	same_bytes(&plain, &zb, "no member of the same CRC");
	oci_free(mb);
	oci_buf_release(&zb);
	oci_buf_release(&plain);
	oci_buf_release(&za);
	oci_free(ma);
	fclose(f);
	free(a);
	free(b);
}

/* A run of random-looking bytes 32 KiB or longer is a stored member of
 * its own, cut at the 8 KiB windows (counted from the block's start) it
 * covers whole; a shorter one stays in the compressed member around it.
 * The bytes do not depend on the threads or the writes, and a later
 * compression takes each unchanged member from the earlier blob. */
static void test_gzip_random_runs_stored(void **state)
{
	size_t n = 720 * KIB, nmade, nb, i;
	unsigned char *in = malloc(n);
	oci_gz_member *made, *mb;
	oci_buf ref, out, again;
	FILE *f = tmpfile();
	int fd;

	(void)state;
	assert_non_null(in);
	assert_non_null(f);
	fd = fileno(f);
	fill_text(in, n);
	fill_over(in + 200 * KIB, 100 * KIB, 256);
	fill_over(in + 600 * KIB, 20 * KIB, 256);
	assert_int_equal(compress_reusing(in, n, fd, NULL, 0, &ref, &made, &nmade), 0);
	gunzip_check(&ref, in, n);
	assert_int_equal(nmade, 3);
	/* the windows from 200 KiB to 296 KiB are random; the one at 296 KiB
	 * is half text */
	assert_int_equal(made[0].isize, 200 * KIB);
	assert_int_equal(made[1].isize, 96 * KIB);
	assert_int_equal(made[2].isize, n - 296 * KIB);
	assert_true(made[1].len > 96 * KIB);      /* stored */
	assert_true(made[2].len < 100 * KIB);     /* text, and the short run */
	compress_into(OCIBUILD_COMPRESS_GZIP, 3, in, n, 4, &out);
	same_bytes(&ref, &out, "random runs: 1 vs 3 threads, other writes");
	oci_buf_release(&out);
	/* one byte of the text after the run changed: the first two members
	 * are taken from the earlier blob */
	assert_int_equal(pwrite(fd, ref.data, ref.len, 0), (ssize_t)ref.len);
	in[500 * KIB] ^= 0x20;
	compress_into(OCIBUILD_COMPRESS_GZIP, 1, in, n, -1, &again);
	assert_int_equal(compress_reusing(in, n, fd, made, nmade, &out, &mb, &nb), 2);
	assert_int_equal(nb, 3);
	same_bytes(&again, &out, "members taken from the earlier blob");
	for (i = 0; i < 2; i++)
		assert_int_equal(mb[i].len, made[i].len);
	oci_free(mb);
	oci_buf_release(&out);
	oci_buf_release(&again);
	oci_buf_release(&ref);
	oci_free(made);
	fclose(f);
	free(in);
}

/* A member of the earlier blob (made by anyone: a --cache-from image's)
 * may be far longer than compressing its bytes could make it, here by a
 * file name in its header: taken, it would leave no room for the block's
 * other members. It is compressed instead, and the rest still taken. */
static void test_gzip_reuse_overlong_member(void **state)
{
	size_t n = 200 * KIB, nmade, nb, name = 1000 * KIB, i;
	unsigned char *in = malloc(n), *pad = malloc(name + 1);
	oci_gz_member *made, *mb, old[3];
	oci_buf ref, out;
	FILE *f = tmpfile();
	int fd;

	(void)state;
	assert_non_null(in);
	assert_non_null(pad);
	assert_non_null(f);
	fd = fileno(f);
	fill_text(in, n);
	fill_over(in + 64 * KIB, 128 * KIB, 256);
	assert_int_equal(compress_reusing(in, n, fd, NULL, 0, &ref, &made, &nmade), 0);
	assert_int_equal(nmade, 3);
	assert_int_equal(made[0].isize, 64 * KIB);
	/* the first member again, with a file name (FLG.FNAME) of name bytes */
	memset(pad, 'a', name);
	pad[name] = 0;
	assert_int_equal(pwrite(fd, ref.data, 3, 0), 3);
	assert_int_equal(pwrite(fd, "\x08", 1, 3), 1);
	assert_int_equal(pwrite(fd, ref.data + 4, 6, 4), 6);
	assert_int_equal(pwrite(fd, pad, name + 1, 10), (ssize_t)(name + 1));
	assert_int_equal(pwrite(fd, ref.data + 10, ref.len - 10, (off_t)(name + 11)),
			 (ssize_t)(ref.len - 10));
	for (i = 0; i < 3; i++)
		old[i] = made[i];
	old[0].len += (uint32_t)(name + 1);
	assert_int_equal(compress_reusing(in, n, fd, old, 3, &out, &mb, &nb), 2);
	same_bytes(&ref, &out, "an overlong member compressed again");
	oci_free(mb);
	oci_buf_release(&out);
	oci_buf_release(&ref);
	oci_free(made);
	fclose(f);
	free(pad);
	free(in);
}

/* in as one gzip member, made by zlib */
static void gzip_one_member(const unsigned char *in, size_t n, oci_buf *out)
{
	z_stream zs;
	unsigned char *tmp;
	size_t cap;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	cap = deflateBound(&zs, n);
	tmp = malloc(cap);
	assert_non_null(tmp);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = tmp;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	oci_buf_init(out, (size_t)64 << 20);
	assert_int_equal(oci_buf_append(out, tmp, zs.total_out, NULL), 0);
	deflateEnd(&zs);
	free(tmp);
}

/* The members of a blob this writer made are found again by decompressing
 * it (a blob fetched from a registry has no record of them): the same as
 * the writer told. A gzip of another maker (one member over a block) or a
 * blob cut short has none. */
static void test_gzip_scan_members(void **state)
{
	size_t n = 2 * GZB + 77 * KIB, nmade, nscan, i;
	unsigned char *a = make_input(n);
	oci_gz_member *made, *scan;
	oci_buf z, big;
	ocibuild_error err = { 0 };
	FILE *f = tmpfile();
	int fd;

	(void)state;
	assert_non_null(f);
	fd = fileno(f);
	assert_int_equal(compress_reusing(a, n, fd, NULL, 0, &z, &made, &nmade), 0);
	assert_int_equal(pwrite(fd, z.data, z.len, 0), (ssize_t)z.len);
	assert_int_equal(oci_gz_scan_members(fd, z.len, &scan, &nscan, &err), 0);
	assert_int_equal(nscan, nmade);
	for (i = 0; i < nmade; i++) {
		assert_int_equal(scan[i].len, made[i].len);
		assert_int_equal(scan[i].crc, made[i].crc);
		assert_int_equal(scan[i].isize, made[i].isize);
	}
	oci_free(scan);
	/* cut short inside its last member */
	assert_int_equal(oci_gz_scan_members(fd, z.len - 5, &scan, &nscan, &err), 0);
	assert_int_equal(nscan, 0);
	assert_null(scan);
	/* one member of more than a block, as gzip(1) makes */
	assert_int_equal(ftruncate(fd, 0), 0);
	gzip_one_member(a, n, &big);
	assert_int_equal(pwrite(fd, big.data, big.len, 0), (ssize_t)big.len);
	assert_int_equal(oci_gz_scan_members(fd, big.len, &scan, &nscan, &err), 0);
	assert_int_equal(nscan, 0);
	oci_buf_release(&big);
	oci_buf_release(&z);
	oci_free(made);
	fclose(f);
	free(a);
}

/* A mark (a tar entry's start) ends a block that holds 7/8 MiB or more;
 * an earlier one does not; the bytes do not depend on the thread count. */
static void test_gzip_marks_cut_blocks(void **state)
{
	size_t n = 3 * GZB, step = 100000, t, i;
	unsigned char *in = make_input(n);
	oci_buf ref = { 0 };

	(void)state;
	for (t = 1; t <= 3; t += 2) {
		struct memsink m;
		oci_zw *z = NULL;
		ocibuild_error err = { 0 };
		oci_gz_member *v;
		size_t nm, off;

		memsink_init(&m);
		assert_int_equal(oci_zw_new(&z, OCIBUILD_COMPRESS_GZIP, (int)t, &m.base, &err), 0);
		for (off = 0; off < n; off += step) {
			size_t c = n - off < step ? n - off : step;

			oci_sink_mark(oci_zw_sink(z));
			assert_int_equal(oci_sink_write(oci_zw_sink(z), in + off, c, &err), 0);
		}
		assert_int_equal(oci_zw_finish(z, &err), 0);
		v = oci_zw_take_members(z, &nm, NULL);
		/* cut at the marks 1,000,000 and 2,000,000 (the first at or past
		 * 7/8 MiB from each block's start), then the rest */
		assert_int_equal(nm, 4);
		assert_int_equal(v[0].isize, 1000000);
		assert_int_equal(v[1].isize, 1000000);
		assert_int_equal(v[2].isize, 1000000);
		assert_int_equal(v[3].isize, n - 3000000);
		for (i = 0; i < nm; i++)
			assert_true(v[i].isize <= GZB);
		oci_free(v);
		oci_zw_release(z);
		gunzip_check(&m.buf, in, n);
		if (!ref.data)
			ref = m.buf;
		else {
			same_bytes(&ref, &m.buf, "marked blocks, 1 vs 3 threads");
			oci_buf_release(&m.buf);
		}
	}
	oci_buf_release(&ref);
	free(in);
}

static void test_sink_error_propagates(void **state)
{
	static const ocibuild_compression kinds[] = {
		OCIBUILD_COMPRESS_GZIP, OCIBUILD_COMPRESS_ZSTD, OCIBUILD_COMPRESS_NONE,
	};
	size_t n = 3 * MIB, k;
	unsigned char *in = make_input(n);

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct failsink f = { { fail_write }, 1000 };
		ocibuild_error err = { 0 };
		oci_zw *z = NULL;
		int rc = 0;
		size_t off;

		if (oci_zw_new(&z, kinds[k], 2, &f.base, &err) < 0) {
			/* gzip writes its header at once: too big for nothing */
			fail_msg("oci_zw_new: %s", err.message);
		}
		for (off = 0; off < n && rc == 0; off += 64 * KIB)
			rc = oci_sink_write(oci_zw_sink(z), in + off, 64 * KIB, &err);
		if (rc == 0)
			rc = oci_zw_finish(z, &err);
		assert_int_equal(rc, -1);
		assert_int_equal(err.kind, OCIBUILD_ERR_NOSPACE);
		oci_zw_release(z); /* on an unfinished writer */
		ocibuild_error_clear(&err);
	}
	oci_zw_release(NULL);
	free(in);
}

static void test_free_unfinished(void **state)
{
	unsigned char *in = make_input(MIB);
	struct memsink m;
	oci_zw *z;

	(void)state;
	memsink_init(&m);
	assert_int_equal(oci_zw_new(&z, OCIBUILD_COMPRESS_GZIP, 4, &m.base, NULL), 0);
	assert_int_equal(oci_sink_write(oci_zw_sink(z), in, MIB, NULL), 0);
	oci_zw_release(z);
	assert_int_equal(oci_zw_new(&z, OCIBUILD_COMPRESS_ZSTD, 4, &m.base, NULL), 0);
	assert_int_equal(oci_sink_write(oci_zw_sink(z), in, MIB, NULL), 0);
	oci_zw_release(z);
	oci_buf_release(&m.buf);
	free(in);
}

static void test_names(void **state)
{
	ocibuild_compression c = OCIBUILD_COMPRESS_NONE;

	(void)state;
	assert_string_equal(oci_compression_suffix(OCIBUILD_COMPRESS_GZIP), "+gzip");
	assert_string_equal(oci_compression_suffix(OCIBUILD_COMPRESS_ZSTD), "+zstd");
	assert_string_equal(oci_compression_suffix(OCIBUILD_COMPRESS_NONE), "");
	assert_int_equal(ocibuild_compression_parse("gzip", &c), 0);
	assert_int_equal(c, OCIBUILD_COMPRESS_GZIP);
	assert_int_equal(ocibuild_compression_parse("zstd", &c), 0);
	assert_int_equal(c, OCIBUILD_COMPRESS_ZSTD);
	assert_int_equal(ocibuild_compression_parse("none", &c), 0);
	assert_int_equal(c, OCIBUILD_COMPRESS_NONE);
	assert_int_equal(ocibuild_compression_parse("GZIP", &c), -1);
	assert_int_equal(ocibuild_compression_parse("gz", &c), -1);
	assert_int_equal(ocibuild_compression_parse("", &c), -1);
	assert_int_equal(c, OCIBUILD_COMPRESS_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_zstd_roundtrip),
		cmocka_unit_test(test_none_roundtrip),
		cmocka_unit_test(test_gzip_header_trailer),
		cmocka_unit_test(test_gzip_block_level),
		cmocka_unit_test(test_gzip_levels_roundtrip),
		cmocka_unit_test(test_gzip_threads_identical),
		cmocka_unit_test(test_zstd_threads_identical),
		cmocka_unit_test(test_gzip_chunks_identical),
		cmocka_unit_test(test_zstd_chunks_identical),
		cmocka_unit_test(test_gzip_reuse_members),
		cmocka_unit_test(test_gzip_scan_members),
		cmocka_unit_test(test_gzip_marks_cut_blocks),
		cmocka_unit_test(test_gzip_random_runs_stored),
		cmocka_unit_test(test_gzip_reuse_overlong_member),
		cmocka_unit_test(test_sink_error_propagates),
		cmocka_unit_test(test_free_unfinished),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
