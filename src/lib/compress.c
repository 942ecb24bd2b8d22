#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zstd.h>

#include "compress.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

/* gzip: the input is cut into blocks, each compressed by libdeflate into a
 * gzip member of its own, and the members are concatenated (RFC 1952
 * allows it; Go's, zlib's and GNU gzip's readers take it). A block ends at
 * 1 MiB, or earlier at the start of a tar entry (oci_sink_mark) once it
 * holds 7/8 MiB: then a change that moves the bytes after it (a file that
 * grew) moves the cuts only up to the next entry start, and the blocks
 * after that are the same bytes as before (which the layer cache takes
 * rather than compresses). The block rule, the levels and the rule that
 * picks a block's level (oci_gz_block_level) fix the bytes: changing any of
 * them changes every gzip layer. A block has no history before it; at 1 MiB
 * that costs under 0.5% of size and buys compression on every core with no
 * shared state (the cuts at entries: 0.07% more).
 *
 * Bytes already compressed (a .beam's compressed chunks, packed data in a
 * NIF, images) cost libdeflate its whole search for nothing. So a block
 * is looked at in 8 KiB windows from its start, and a run of windows that
 * look random, 32 KiB long or longer, becomes a member of its own, stored
 * (level 0), up to the first window that does not look random. A block is
 * then a few members. Nothing is lost at such a cut: what follows the run
 * could only refer back into it (32 KiB, the whole deflate window). The
 * members too are made by the block's bytes alone. */
#define GZ_BLOCK (1024 * 1024)
#define GZ_CUT_MIN (GZ_BLOCK / 8 * 7)
#define GZ_LEVEL 6
#define GZ_LEVEL_MIXED 4
#define GZ_LEVEL_FLAT 1
#define GZ_LEVEL_STORE 0
/* A window looks random when its sampled bytes (every GZ_SAMPLE_STRIDE-th)
 * are equal in pairs at most 1 in GZ_RANDOM_DIV: 1/256 for random bytes,
 * 1/100 or more for machine code, more for text. */
#define GZ_WIN (8 * 1024)
#define GZ_RUN_MIN (32 * 1024)
#define GZ_RANDOM_DIV 235
/* stored members of GZ_RUN_MIN at least, each after a window or more */
#define GZ_MAX_SEGS (2 * (GZ_BLOCK / (GZ_RUN_MIN + GZ_WIN)) + 3)
/* The level rule samples every 11th byte (a prime, so that 2-, 4- and
 * 8-byte aligned structures do not alias; 5 judged the same blocks on the
 * bench inputs and /usr/lib/erlang but for one in 300, at over twice the
 * cost) of blocks of at least 64 KiB; smaller ones are cheap at any level
 * and too small to judge. */
#define GZ_SAMPLE_STRIDE 11
#define GZ_JUDGE_MIN (64 * 1024)
/* Two sampled bytes are equal with probability sum(count^2) / samples^2:
 * 1/256 for random bytes. At most 1/224: the block is already-compressed
 * data (assets, archives), where level 1 is as small as level 6 within
 * 0.2%. At most 1/63: most of it is such data or machine code with tables,
 * where level 4 loses less size per CPU second saved than on text. (1/63
 * rather than 1/64 spends the room the size target leaves: on the bench
 * inputs 0.07-0.1% of size for 1.5% of CPU.) See docs/performance.md for
 * the measurements. */
#define GZ_FLAT_DIV 224
#define GZ_MIXED_DIV 63
#define ZSTD_LEVEL 3
/* Fixed (rather than libzstd's default, derived from the window) so that
 * memory stays small and the output can not change with a default. */
#define ZSTD_JOB_SIZE (2 * 1024 * 1024)
#define STAGE_SIZE (128 * 1024)

enum slot_state { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

/* One member of a block: its input length, whether it is stored, and,
 * once made, its length in out and whether the earlier blob gave it. */
struct gz_seg {
	uint32_t len, out_len;
	unsigned char store, reused;
};

struct gz_slot {
	unsigned char *in;
	size_t in_len;
	unsigned char *out; /* the block's members, one after the other */
	size_t out_len, out_cap;
	int last;
	int failed; /* 1: out of memory, 2: did not fit (cannot happen) */
	struct gz_seg seg[GZ_MAX_SEGS];
	size_t nseg;
	uint64_t seq;
	enum slot_state state;
};

struct oci_zw {
	oci_sink base;
	ocibuild_compression kind;
	oci_sink *next;
	int finished;

	/* gzip */
	struct gz_slot *slots;
	size_t nslots;
	struct gz_slot *filling; /* slot being filled by the writer, or NULL */
	uint64_t next_fill, next_emit;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	pthread_t *threads;
	int nthreads;
	int stop;
	int sync_ready;
	uint64_t members; /* written so far */
	/* an earlier blob's members (oci_zw_reuse_from): by[] orders them by
	 * (crc, isize), off[] is where each starts */
	const oci_gz_member *old;
	size_t nold, *by;
	uint64_t *off;
	int old_fd;
	oci_gz_member *made; /* the members written */
	size_t nmade, made_cap, nreused;

	/* zstd */
	ZSTD_CCtx *zc;
	unsigned char *zout;
	size_t zout_cap;
	unsigned char *stage;
	size_t stage_len;
};

const char *oci_compression_suffix(ocibuild_compression kind)
{
	switch (kind) {
	case OCIBUILD_COMPRESS_GZIP:
		return "+gzip";
	case OCIBUILD_COMPRESS_ZSTD:
		return "+zstd";
	default:
		return "";
	}
}

int ocibuild_compression_parse(const char *name, ocibuild_compression *out)
{
	if (!strcmp(name, "gzip"))
		*out = OCIBUILD_COMPRESS_GZIP;
	else if (!strcmp(name, "zstd"))
		*out = OCIBUILD_COMPRESS_ZSTD;
	else if (!strcmp(name, "none"))
		*out = OCIBUILD_COMPRESS_NONE;
	else
		return -1;
	return 0;
}

/* ---- gzip ---- */

int oci_gz_block_level(const unsigned char *p, size_t n)
{
	uint32_t count[256] = { 0 };
	uint64_t samples = 0, same = 0;
	size_t i;

	if (n < GZ_JUDGE_MIN)
		return GZ_LEVEL;
	for (i = 0; i < n; i += GZ_SAMPLE_STRIDE) {
		count[p[i]]++;
		samples++;
	}
	for (i = 0; i < 256; i++)
		same += (uint64_t)count[i] * count[i];
	if (same * GZ_FLAT_DIV <= samples * samples)
		return GZ_LEVEL_FLAT;
	if (same * GZ_MIXED_DIV <= samples * samples)
		return GZ_LEVEL_MIXED;
	return GZ_LEVEL;
}

/* A worker's own: compressors by level and what checks a reused member,
 * each made on first use. */
struct gz_local {
	struct libdeflate_compressor *c[GZ_LEVEL + 1];
	struct libdeflate_decompressor *d;
	unsigned char *scratch;
};

static int by_crc_size(const oci_gz_member *m, uint32_t crc, uint32_t isize)
{
	if (m->crc != crc)
		return m->crc < crc ? -1 : 1;
	return m->isize < isize ? -1 : m->isize > isize;
}

/* len bytes of fd at off into p; -1 with errno (EIO when the file ends
 * before) when they can not be read */
static int pread_all(int fd, unsigned char *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* A member from the earlier blob: one of the CRC-32 and size of in[0..n)
 * that decompresses to exactly those bytes. Its length when out (of cap
 * bytes) holds it, else 0. */
static size_t gz_reuse(const oci_zw *z, struct gz_local *w, const unsigned char *in, size_t n,
		       unsigned char *out, size_t cap)
{
	uint32_t crc, isize = (uint32_t)n;
	size_t lo = 0, hi = z->nold;

	if (!z->nold || !n)
		return 0;
	crc = (uint32_t)libdeflate_crc32(0, in, n);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (by_crc_size(&z->old[z->by[mid]], crc, isize) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < z->nold && !by_crc_size(&z->old[z->by[lo]], crc, isize); lo++) {
		size_t k = z->by[lo], in_used = 0, out_used = 0;
		const oci_gz_member *m = &z->old[k];

		/* longer than compressing could make it (a header padded, by
		 * whoever made the earlier blob): taken, it would leave the
		 * block's other members less than their bound */
		if (m->len > cap || m->len > libdeflate_gzip_compress_bound(NULL, n))
			continue;
		if (!w->d)
			w->d = libdeflate_alloc_decompressor();
		if (!w->scratch)
			w->scratch = oci_malloc(GZ_BLOCK);
		if (!w->d || !w->scratch)
			return 0; /* compressed instead */
		if (pread_all(z->old_fd, out, m->len, z->off[k]) < 0 ||
		    libdeflate_gzip_decompress_ex(w->d, out, m->len, w->scratch, n, &in_used,
						  &out_used) != LIBDEFLATE_SUCCESS ||
		    in_used != m->len || out_used != n || memcmp(w->scratch, in, n))
			continue;
		return m->len;
	}
	return 0;
}

/* Whether the window at p (GZ_WIN bytes) looks random */
static int window_random(const unsigned char *p)
{
	uint32_t count[256] = { 0 };
	uint64_t pairs = 0, samples = 0;
	size_t i;

	for (i = 0; i < GZ_WIN; i += GZ_SAMPLE_STRIDE) {
		pairs += count[p[i]]++;
		samples++;
	}
	return pairs * GZ_RANDOM_DIV <= samples * (samples - 1) / 2;
}

static void add_seg(struct gz_slot *s, size_t from, size_t to, int store)
{
	struct gz_seg *g = &s->seg[s->nseg++];

	g->len = (uint32_t)(to - from);
	g->store = (unsigned char)store;
	g->out_len = 0;
	g->reused = 0;
}

/* Cut s->in into members: runs of random-looking windows stored, the rest
 * compressed; an empty block is one empty member. */
static void gz_split(struct gz_slot *s)
{
	size_t from = 0, run = SIZE_MAX, at;
	int storing = 0;

	s->nseg = 0;
	for (at = 0; at + GZ_WIN <= s->in_len; at += GZ_WIN) {
		int random = window_random(s->in + at);

		if (storing) {
			if (!random) {
				add_seg(s, from, at, 1);
				from = at;
				storing = 0;
				run = SIZE_MAX;
			}
			continue;
		}
		if (!random) {
			run = SIZE_MAX;
			continue;
		}
		if (run == SIZE_MAX)
			run = at;
		if (at + GZ_WIN - run >= GZ_RUN_MIN) {
			if (run > from)
				add_seg(s, from, run, 0);
			from = run;
			storing = 1;
		}
	}
	add_seg(s, from, s->in_len, storing);
}

static void gz_compress_slot(const oci_zw *z, struct gz_local *w, struct gz_slot *s)
{
	struct libdeflate_compressor **c = w->c;
	size_t i, off = 0;

	gz_split(s);
	s->out_len = 0;
	s->failed = 0;
	for (i = 0; i < s->nseg; i++) {
		struct gz_seg *g = &s->seg[i];
		const unsigned char *in = s->in + off;
		unsigned char *out = s->out + s->out_len;
		size_t cap = s->out_cap - s->out_len, made;
		int level;

		off += g->len;
		made = gz_reuse(z, w, in, g->len, out, cap);
		if (made) {
			g->reused = 1;
		} else {
			level = g->store ? GZ_LEVEL_STORE : oci_gz_block_level(in, g->len);
			if (!c[level])
				c[level] = libdeflate_alloc_compressor(level);
			if (!c[level]) {
				s->failed = 1;
				return;
			}
			made = libdeflate_gzip_compress(c[level], in, g->len, out, cap);
			if (!made) {
				s->failed = 2;
				return;
			}
		}
		g->out_len = (uint32_t)made;
		s->out_len += made;
	}
}

static void *gz_worker(void *arg)
{
	oci_zw *z = arg;
	struct gz_local w;
	int l;

	memset(&w, 0, sizeof(w));

	pthread_mutex_lock(&z->mu);
	for (;;) {
		struct gz_slot *pick = NULL;
		size_t i;

		for (i = 0; i < z->nslots; i++) {
			struct gz_slot *s = &z->slots[i];

			if (s->state == SLOT_READY && (!pick || s->seq < pick->seq))
				pick = s;
		}
		if (!pick) {
			if (z->stop)
				break;
			pthread_cond_wait(&z->work_cv, &z->mu);
			continue;
		}
		pick->state = SLOT_BUSY;
		pthread_mutex_unlock(&z->mu);
		gz_compress_slot(z, &w, pick);
		pthread_mutex_lock(&z->mu);
		pick->state = SLOT_DONE;
		pthread_cond_broadcast(&z->done_cv);
	}
	pthread_mutex_unlock(&z->mu);
	for (l = 0; l <= GZ_LEVEL; l++)
		libdeflate_free_compressor(w.c[l]);
	libdeflate_free_decompressor(w.d);
	oci_free(w.scratch);
	return NULL;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write out the oldest block once it is compressed. Called by the writer
 * thread only; the sink is written outside the lock. */
static int gz_emit_one(oci_zw *z, ocibuild_error *err)
{
	struct gz_slot *s = &z->slots[z->next_emit % z->nslots];
	int rc;

	pthread_mutex_lock(&z->mu);
	while (s->state != SLOT_DONE)
		pthread_cond_wait(&z->done_cv, &z->mu);
	pthread_mutex_unlock(&z->mu);
	if (s->failed)
		return s->failed == 1 ? oci_err_nomem(err)
				      : oci_err(err, OCIBUILD_ERR_INTERNAL, 0,
						"gzip compression of a %zu-byte block did not fit its bound",
						s->in_len);
	/* an empty last block adds nothing, unless the whole stream is empty
	 * (a gzip file is at least one member) */
	if (s->in_len || !z->members) {
		size_t i, end = 0;

		if (z->nmade + s->nseg > z->made_cap) {
			size_t nc = z->made_cap ? z->made_cap : 64;
			oci_gz_member *nv;

			while (nc < z->nmade + s->nseg)
				nc *= 2;
			nv = oci_reallocarray(z->made, nc, sizeof(*nv));
			if (!nv)
				return oci_err_nomem(err);
			z->made = nv;
			z->made_cap = nc;
		}
		rc = oci_sink_write(z->next, s->out, s->out_len, err);
		if (rc < 0)
			return rc;
		for (i = 0; i < s->nseg; i++) {
			oci_gz_member *m = &z->made[z->nmade++];

			/* the trailer: CRC-32 and size, little-endian */
			end += s->seg[i].out_len;
			m->len = s->seg[i].out_len;
			m->crc = get_le32(s->out + end - 8);
			m->isize = get_le32(s->out + end - 4);
			z->nreused += s->seg[i].reused;
		}
		z->members += s->nseg;
	}
	pthread_mutex_lock(&z->mu);
	s->state = SLOT_FREE;
	pthread_mutex_unlock(&z->mu);
	z->next_emit++;
	return 0;
}

static int gz_take_slot(oci_zw *z, ocibuild_error *err)
{
	struct gz_slot *s = &z->slots[z->next_fill % z->nslots];

	while (z->next_emit + z->nslots <= z->next_fill)
		if (gz_emit_one(z, err) < 0)
			return -1;
	s->in_len = 0;
	s->seq = z->next_fill++;
	s->last = 0;
	z->filling = s;
	return 0;
}

static void gz_submit(oci_zw *z, int last)
{
	struct gz_slot *s = z->filling;

	s->last = last;
	pthread_mutex_lock(&z->mu);
	s->state = SLOT_READY;
	pthread_cond_signal(&z->work_cv);
	pthread_mutex_unlock(&z->mu);
	z->filling = NULL;
}

static int gz_write(oci_sink *sink, const void *data, size_t len, ocibuild_error *err)
{
	oci_zw *z = (oci_zw *)sink;
	const unsigned char *p = data;

	while (len) {
		size_t n;

		if (!z->filling && gz_take_slot(z, err) < 0)
			return -1;
		n = GZ_BLOCK - z->filling->in_len;
		if (n > len)
			n = len;
		memcpy(z->filling->in + z->filling->in_len, p, n);
		z->filling->in_len += n;
		p += n;
		len -= n;
		if (z->filling->in_len == GZ_BLOCK)
			gz_submit(z, 0);
	}
	return 0;
}

/* an entry starts: the block ends here if it is long enough */
static void gz_mark(oci_sink *sink)
{
	oci_zw *z = (oci_zw *)sink;

	if (z->filling && z->filling->in_len >= GZ_CUT_MIN)
		gz_submit(z, 0);
}

static int gz_finish(oci_zw *z, ocibuild_error *err)
{
	if (!z->filling && gz_take_slot(z, err) < 0)
		return -1;
	gz_submit(z, 1);
	while (z->next_emit < z->next_fill)
		if (gz_emit_one(z, err) < 0)
			return -1;
	return 0;
}

static int gz_start(oci_zw *z, int threads, ocibuild_error *err)
{
	size_t i, bound;
	int t;

	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->work_cv, NULL);
	pthread_cond_init(&z->done_cv, NULL);
	z->sync_ready = 1;
	/* one block in each worker's hands and one being filled is enough to
	 * keep every core busy; more would only cost memory */
	z->nslots = (size_t)threads + 2;
	z->slots = oci_calloc(z->nslots, sizeof(*z->slots));
	z->threads = oci_calloc((size_t)threads, sizeof(*z->threads));
	if (!z->slots || !z->threads)
		return oci_err_nomem(err);
	/* room for the worst case of any level (the bound of a NULL
	 * compressor covers them all, and so every member gz_reuse takes),
	 * cut into as many members as a block may be: each adds at most the
	 * bound of one byte to the bound of the whole */
	bound = libdeflate_gzip_compress_bound(NULL, GZ_BLOCK) +
		GZ_MAX_SEGS * libdeflate_gzip_compress_bound(NULL, 1);
	for (i = 0; i < z->nslots; i++) {
		struct gz_slot *s = &z->slots[i];

		s->out_cap = bound;
		s->in = oci_malloc(GZ_BLOCK);
		s->out = oci_malloc(s->out_cap);
		if (!s->in || !s->out)
			return oci_err_nomem(err);
	}
	for (t = 0; t < threads; t++) {
		int rc = pthread_create(&z->threads[t], NULL, gz_worker, z);

		if (rc)
			return oci_err(err, OCIBUILD_ERR_IO, rc,
				       "cannot start a compression thread: %s",
				       strerror(rc));
		z->nthreads++;
	}
	return 0;
}

static void gz_stop(oci_zw *z)
{
	int t;
	size_t i;

	if (z->nthreads) {
		pthread_mutex_lock(&z->mu);
		z->stop = 1;
		/* drop queued work so the workers can leave */
		for (i = 0; i < z->nslots; i++)
			if (z->slots[i].state == SLOT_READY)
				z->slots[i].state = SLOT_FREE;
		pthread_cond_broadcast(&z->work_cv);
		pthread_mutex_unlock(&z->mu);
		for (t = 0; t < z->nthreads; t++)
			pthread_join(z->threads[t], NULL);
	}
	if (z->sync_ready) {
		pthread_mutex_destroy(&z->mu);
		pthread_cond_destroy(&z->work_cv);
		pthread_cond_destroy(&z->done_cv);
	}
	if (z->slots) {
		for (i = 0; i < z->nslots; i++) {
			oci_free(z->slots[i].in);
			oci_free(z->slots[i].out);
		}
	}
	oci_free(z->slots);
	oci_free(z->threads);
	oci_free(z->by);
	oci_free(z->off);
	oci_free(z->made);
}

/* ---- zstd ---- */

static int zstd_run(oci_zw *z, const void *data, size_t len, ZSTD_EndDirective mode,
		    ocibuild_error *err)
{
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { z->zout, z->zout_cap, 0 };
		size_t rem = ZSTD_compressStream2(z->zc, &out, &in, mode);

		if (ZSTD_isError(rem))
			return oci_err(err, OCIBUILD_ERR_INTERNAL, 0,
				       "zstd compression failed: %s",
				       ZSTD_getErrorName(rem));
		if (out.pos && oci_sink_write(z->next, z->zout, out.pos, err) < 0)
			return -1;
		if (mode == ZSTD_e_end ? rem == 0 : in.pos == in.size)
			return 0;
	}
}

static int zstd_start(oci_zw *z, int threads, ocibuild_error *err)
{
	size_t r;

	z->zc = ZSTD_createCCtx();
	z->zout_cap = ZSTD_CStreamOutSize();
	z->zout = oci_malloc(z->zout_cap);
	if (!z->zc || !z->zout)
		return oci_err_nomem(err);
	r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, threads);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
	if (ZSTD_isError(r))
		return oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			       "this libzstd can not compress with workers (%s); install a libzstd built with multi-threading",
			       ZSTD_getErrorName(r));
	return 0;
}

/* ---- common ---- */

static int stage_flush(oci_zw *z, ocibuild_error *err)
{
	int rc = 0;

	if (z->stage_len)
		rc = zstd_run(z, z->stage, z->stage_len, ZSTD_e_continue, err);
	z->stage_len = 0;
	return rc;
}

static int zstd_write(oci_sink *sink, const void *data, size_t len, ocibuild_error *err)
{
	oci_zw *z = (oci_zw *)sink;

	if (z->stage_len + len > STAGE_SIZE && stage_flush(z, err) < 0)
		return -1;
	if (len >= STAGE_SIZE)
		return zstd_run(z, data, len, ZSTD_e_continue, err);
	memcpy(z->stage + z->stage_len, data, len);
	z->stage_len += len;
	return 0;
}

static int none_write(oci_sink *sink, const void *data, size_t len, ocibuild_error *err)
{
	oci_zw *z = (oci_zw *)sink;

	return oci_sink_write(z->next, data, len, err);
}

/* uncompressed, a file's bytes can go to the file in the kernel */
static int none_copy(oci_sink *sink, int fd, uint64_t *left, const char *src,
		     ocibuild_error *err)
{
	oci_zw *z = (oci_zw *)sink;

	return oci_sink_copy(z->next, fd, left, src, err);
}

int oci_zw_new(oci_zw **out, ocibuild_compression kind, int threads,
	       oci_sink *next, ocibuild_error *err)
{
	oci_zw *z = oci_calloc(1, sizeof(*z));
	int rc = 0;

	*out = NULL;
	if (!z)
		return oci_err_nomem(err);
	if (threads < 1)
		threads = 1;
	z->kind = kind;
	z->next = next;
	switch (kind) {
	case OCIBUILD_COMPRESS_GZIP:
		z->base.write = gz_write;
		z->base.mark = gz_mark;
		rc = gz_start(z, threads, err);
		break;
	case OCIBUILD_COMPRESS_ZSTD:
		z->base.write = zstd_write;
		z->stage = oci_malloc(STAGE_SIZE);
		rc = z->stage ? zstd_start(z, threads, err) : oci_err_nomem(err);
		break;
	default:
		z->base.write = none_write;
		z->base.copy = none_copy;
		break;
	}
	if (rc < 0) {
		oci_zw_release(z);
		return rc;
	}
	*out = z;
	return 0;
}

/* the members' order by (crc, isize), for qsort_r */
static int cmp_by(const void *a, const void *b, void *arg)
{
	const oci_gz_member *v = arg, *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
	int c = by_crc_size(x, y->crc, y->isize);

	if (c)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int oci_zw_reuse_from(oci_zw *z, int fd, const oci_gz_member *v, size_t n,
		      ocibuild_error *err)
{
	uint64_t at = 0;
	size_t i;

	if (z->kind != OCIBUILD_COMPRESS_GZIP || !n || z->next_fill)
		return 0;
	z->by = oci_calloc(n, sizeof(*z->by));
	z->off = oci_calloc(n, sizeof(*z->off));
	if (!z->by || !z->off)
		return oci_err_nomem(err);
	for (i = 0; i < n; i++) {
		z->by[i] = i;
		z->off[i] = at;
		at += v[i].len;
	}
	qsort_r(z->by, n, sizeof(*z->by), cmp_by, (void *)v);
	z->old = v;
	z->nold = n;
	z->old_fd = fd;
	return 0;
}

/* what oci_gz_scan_members looks at: a layer worth re-using blocks of is
 * one a build compresses, not a base image's */
#define GZ_SCAN_MAX (256u << 20)
/* the window it reads through: a member of a block compresses to a little
 * more than the block at worst */
#define GZ_SCAN_WINDOW (2 * GZ_BLOCK)

int oci_gz_scan_members(int fd, uint64_t size, oci_gz_member **v, size_t *n,
			ocibuild_error *err)
{
	struct libdeflate_decompressor *d = NULL;
	unsigned char *in = NULL, *out = NULL;
	oci_gz_member *m = NULL;
	size_t nm = 0, cap = 0, have = 0;
	uint64_t at = 0; /* the file offset of in[0] */
	int rc = -1;

	*v = NULL;
	*n = 0;
	if (size < 18 || size > GZ_SCAN_MAX)
		return 0;
	in = oci_malloc(GZ_SCAN_WINDOW);
	out = oci_malloc(GZ_BLOCK);
	d = libdeflate_alloc_decompressor();
	if (!in || !out || !d) {
		oci_err_nomem(err);
		goto out;
	}
	while (at < size) {
		size_t used = 0, got = 0, want = GZ_SCAN_WINDOW - have;
		const unsigned char *t;

		/* the window filled up again, or up to the blob's end */
		if (want > size - at - have)
			want = (size_t)(size - at - have);
		if (pread_all(fd, in + have, want, at + have) < 0) {
			oci_err_errno(err, errno, "cannot read a cached blob: %s", strerror(errno));
			goto out;
		}
		have += want;
		if (libdeflate_gzip_decompress_ex(d, in, have, out, GZ_BLOCK, &used, &got) !=
			    LIBDEFLATE_SUCCESS ||
		    used < 18) {
			nm = 0; /* not members of at most a block each: none */
			break;
		}
		if (nm == cap) {
			size_t nc = cap ? cap * 2 : 16;
			oci_gz_member *nv = oci_reallocarray(m, nc, sizeof(*nv));

			if (!nv) {
				oci_err_nomem(err);
				goto out;
			}
			m = nv;
			cap = nc;
		}
		t = in + used - 8; /* the trailer: CRC-32, then ISIZE, little-endian */
		m[nm].len = (uint32_t)used;
		m[nm].crc = get_le32(t);
		m[nm].isize = (uint32_t)got;
		nm++;
		memmove(in, in + used, have - used);
		have -= used;
		at += used;
	}
	if (nm) {
		*v = m;
		*n = nm;
		m = NULL;
	}
	rc = 0;
out:
	libdeflate_free_decompressor(d);
	oci_free(in);
	oci_free(out);
	oci_free(m);
	return rc;
}

oci_gz_member *oci_zw_take_members(oci_zw *z, size_t *n, size_t *reused)
{
	oci_gz_member *v = z->made;

	*n = z->nmade;
	if (reused)
		*reused = z->nreused;
	z->made = NULL;
	z->nmade = z->made_cap = 0;
	return v;
}

oci_sink *oci_zw_sink(oci_zw *z)
{
	return &z->base;
}

int oci_zw_finish(oci_zw *z, ocibuild_error *err)
{
	int rc = 0;

	if (z->finished)
		return 0;
	switch (z->kind) {
	case OCIBUILD_COMPRESS_GZIP:
		rc = gz_finish(z, err);
		break;
	case OCIBUILD_COMPRESS_ZSTD:
		rc = stage_flush(z, err);
		if (rc == 0)
			rc = zstd_run(z, NULL, 0, ZSTD_e_end, err);
		break;
	default:
		break;
	}
	if (rc == 0)
		z->finished = 1;
	return rc;
}

void oci_zw_release(oci_zw *z)
{
	if (!z)
		return;
	if (z->kind == OCIBUILD_COMPRESS_GZIP)
		gz_stop(z);
	ZSTD_freeCCtx(z->zc);
	oci_free(z->zout);
	oci_free(z->stage);
	oci_free(z);
}
