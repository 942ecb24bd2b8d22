/* What the gzip writer's level rule buys on a given tar: each 1 MiB block
 * compressed by libdeflate at the level oci_gz_block_level picks, and at
 * fixed levels, with the bytes out and the CPU time of one thread.
 *
 *   make && cc -O2 -Iinclude -Isrc/lib -Isrc/lib/util -o bench/work/gz_levels \
 *       bench/gz_levels.c build/libocibuild-internal.a -ldeflate -lzstd -pthread
 *   tar -C DIR --sort=name -cf x.tar . && bench/work/gz_levels x.tar [REF_BYTES]
 *
 * REF_BYTES (e.g. the size of `gzip -6 <x.tar`) adds a column of ratios.
 * Times are the best of three passes; compare them with each other only. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <libdeflate.h>

#include "compress.h"

#define BLOCK (1024 * 1024)
#define PASSES 3

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	/* 0 stands for the rule */
	static const int levels[] = { 6, 0, 5, 4, 1 };
	enum { NL = sizeof(levels) / sizeof(levels[0]) };
	struct libdeflate_compressor *c[7] = { NULL };
	unsigned char *in, *out;
	size_t n = 0, cap = 0, got, picked[7] = { 0 };
	double ref = argc > 2 ? strtod(argv[2], NULL) : 0;
	FILE *f;
	int i, l;

	if (argc < 2) {
		fprintf(stderr, "usage: gz_levels FILE.tar [REF_BYTES]\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	in = NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 64 * BLOCK;
			in = realloc(in, cap);
			if (!in)
				return 1;
		}
		got = fread(in + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	for (l = 1; l <= 6; l++)
		c[l] = libdeflate_alloc_compressor(l);
	out = malloc(2 * BLOCK);
	if (!out || !c[1] || !c[4] || !c[5] || !c[6])
		return 1;
	for (size_t o = 0; o < n; o += BLOCK)
		picked[oci_gz_block_level(in + o, n - o < BLOCK ? n - o : BLOCK)]++;
	printf("%s: %zu bytes, %zu blocks of 1 MiB; the rule picks level 6: %zu, 4: %zu, 1: %zu\n",
	       argv[1], n, (n + BLOCK - 1) / BLOCK, picked[6], picked[4], picked[1]);
	printf("%-8s %12s %8s %9s %8s\n", "level", "bytes", "ratio", "cpu s", "vs 6");
	double t6 = 0;
	for (i = 0; i < NL; i++) {
		double best = 0;
		size_t total = 0;

		for (int p = 0; p < PASSES; p++) {
			double t0 = cpu_now();

			total = 0;
			for (size_t o = 0; o < n; o += BLOCK) {
				size_t len = n - o < BLOCK ? n - o : BLOCK;
				int lv = levels[i] ? levels[i] : oci_gz_block_level(in + o, len);

				total += libdeflate_gzip_compress(c[lv], in + o, len, out, 2 * BLOCK);
			}
			t0 = cpu_now() - t0;
			if (!p || t0 < best)
				best = t0;
		}
		if (levels[i] == 6)
			t6 = best;
		if (levels[i])
			printf("%-8d", levels[i]);
		else
			printf("%-8s", "rule");
		printf(" %12zu %8.4f %9.3f", total, ref > 0 ? (double)total / ref : 0.0, best);
		if (t6 > 0)
			printf(" %7.0f%%", 100.0 * best / t6);
		printf("\n");
	}
	return 0;
}
