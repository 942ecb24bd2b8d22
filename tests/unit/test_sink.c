/* Unit tests for the file sink (src/lib/util/sink.c): buffered writes, a
 * file's bytes passed on in the kernel (copy), and what copy leaves to the
 * caller; and for the compare sink. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sink.h"

#define SRC_LEN (3 * 1024 * 1024 + 17)

struct files {
	char dir[64];
	char src[96], dst[96];
	unsigned char *data;
};

static int setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));
	FILE *fp;
	size_t i;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/ocibuild-sink-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->dst, sizeof(f->dst), "%s/dst", f->dir);
	f->data = malloc(SRC_LEN);
	assert_non_null(f->data);
	for (i = 0; i < SRC_LEN; i++)
		f->data[i] = (unsigned char)(i * 131 + (i >> 11));
	fp = fopen(f->src, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(f->data, 1, SRC_LEN, fp), SRC_LEN);
	assert_int_equal(fclose(fp), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct files *f = *state;

	unlink(f->src);
	unlink(f->dst);
	rmdir(f->dir);
	free(f->data);
	free(f);
	return 0;
}

/* the whole of path, compared with want (len bytes) */
static void assert_file(const char *path, const unsigned char *want, size_t len)
{
	unsigned char *got = malloc(len + 1);
	FILE *fp = fopen(path, "rb");

	assert_non_null(got);
	assert_non_null(fp);
	assert_int_equal(fread(got, 1, len + 1, fp), len);
	fclose(fp);
	assert_memory_equal(got, want, len);
	free(got);
}

/* a header written, a file copied after it, a trailer: the bytes in order */
static void test_copy_between_writes(void **state)
{
	struct files *f = *state;
	oci_file_sink s;
	ocibuild_error err = { 0 };
	unsigned char *want = malloc(SRC_LEN + 10);
	uint64_t left = SRC_LEN;
	int in, out;

	assert_non_null(want);
	memcpy(want, "head!", 5);
	memcpy(want + 5, f->data, SRC_LEN);
	memcpy(want + 5 + SRC_LEN, "tail!", 5);
	out = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	in = open(f->src, O_RDONLY);
	assert_true(out >= 0 && in >= 0);
	assert_int_equal(oci_file_sink_init(&s, out, f->dst, &err), 0);
	oci_file_sink_write_behind(&s);
	assert_int_equal(oci_sink_write(&s.base, "head!", 5, &err), 0);
	assert_int_equal(oci_sink_copy(&s.base, in, &left, f->src, &err), 0);
	assert_int_equal(left, 0); /* a regular file to a regular file */
	assert_int_equal(oci_sink_write(&s.base, "tail!", 5, &err), 0);
	assert_int_equal(oci_file_sink_flush(&s, &err), 0);
	assert_int_equal(s.written, SRC_LEN + 10);
	oci_file_sink_release(&s);
	close(in);
	close(out);
	assert_file(f->dst, want, SRC_LEN + 10);
	free(want);
}

/* a source shorter than said: copy stops at its end and leaves the rest
 * (the caller's read then finds the file shrank) */
static void test_copy_short_source(void **state)
{
	struct files *f = *state;
	oci_file_sink s;
	ocibuild_error err = { 0 };
	uint64_t left = SRC_LEN + 1000;
	int in, out;

	out = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	in = open(f->src, O_RDONLY);
	assert_true(out >= 0 && in >= 0);
	assert_int_equal(oci_file_sink_init(&s, out, f->dst, &err), 0);
	assert_int_equal(oci_sink_copy(&s.base, in, &left, f->src, &err), 0);
	assert_int_equal(left, 1000);
	assert_int_equal(oci_file_sink_flush(&s, &err), 0);
	oci_file_sink_release(&s);
	close(in);
	close(out);
	assert_file(f->dst, f->data, SRC_LEN);
}

/* a source the kernel can not copy from (a pipe): nothing goes, all is
 * left to the caller, and the sink does not try again */
static void test_copy_refused_leaves_all(void **state)
{
	struct files *f = *state;
	oci_file_sink s;
	ocibuild_error err = { 0 };
	uint64_t left = 5;
	int p[2], out;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "pipe!", 5), 5);
	out = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(out >= 0);
	assert_int_equal(oci_file_sink_init(&s, out, f->dst, &err), 0);
	assert_int_equal(oci_sink_write(&s.base, "x", 1, &err), 0);
	assert_int_equal(oci_sink_copy(&s.base, p[0], &left, "pipe", &err), 0);
	assert_int_equal(left, 5);
	assert_int_equal(s.no_copy, 1);
	assert_int_equal(oci_sink_write(&s.base, "y", 1, &err), 0);
	assert_int_equal(oci_file_sink_flush(&s, &err), 0);
	oci_file_sink_release(&s);
	close(p[0]);
	close(p[1]);
	close(out);
	assert_file(f->dst, (const unsigned char *)"xy", 2);
}

/* a hash sink must see the bytes: it offers no copy */
static void test_hash_sink_offers_no_copy(void **state)
{
	struct files *f = *state;
	oci_file_sink s;
	oci_hash_sink h;
	ocibuild_error err = { 0 };
	uint64_t left = SRC_LEN;
	int in, out;

	out = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	in = open(f->src, O_RDONLY);
	assert_true(out >= 0 && in >= 0);
	assert_int_equal(oci_file_sink_init(&s, out, f->dst, &err), 0);
	assert_int_equal(oci_hash_sink_init(&h, &s.base, &err), 0);
	assert_int_equal(oci_sink_copy(&h.base, in, &left, f->src, &err), 0);
	assert_int_equal(left, SRC_LEN);
	assert_int_equal(h.count, 0);
	oci_hash_sink_release(&h);
	oci_file_sink_release(&s);
	close(in);
	close(out);
}

/* dst := "head!" + the source + "tail!" (the stream the compare tests
 * play), then one byte at pos changed unless pos < 0, extra bytes after */
static void write_dst(struct files *f, long pos, const char *extra)
{
	FILE *fp = fopen(f->dst, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite("head!", 1, 5, fp), 5);
	assert_int_equal(fwrite(f->data, 1, SRC_LEN, fp), SRC_LEN);
	assert_int_equal(fwrite("tail!", 1, 5, fp), 5);
	assert_int_equal(fputs(extra, fp) >= 0, 1);
	if (pos >= 0) {
		assert_int_equal(fseek(fp, pos, SEEK_SET), 0);
		assert_int_equal(fputc('#', fp), '#');
	}
	assert_int_equal(fclose(fp), 0);
}

/* play that stream into a compare sink on dst: equal? (and copy's left) */
static int cmp_stream(struct files *f, int headers_only, uint64_t src_len, uint64_t *left_out)
{
	oci_cmp_sink c;
	ocibuild_error err = { 0 };
	uint64_t left = src_len;
	struct stat st;
	int in = open(f->src, O_RDONLY), fd = open(f->dst, O_RDONLY), eq;

	assert_true(in >= 0 && fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(oci_cmp_sink_init(&c, fd, (uint64_t)st.st_size, headers_only, &err), 0);
	assert_non_null(c.base.copy);
	assert_int_equal(oci_sink_write(&c.base, "head!", 5, &err), 0);
	assert_int_equal(oci_sink_copy(&c.base, in, &left, f->src, &err), 0);
	assert_int_equal(oci_sink_write(&c.base, "tail!", 5, &err), 0);
	eq = oci_cmp_sink_equal(&c);
	oci_cmp_sink_release(&c);
	close(in);
	close(fd);
	if (left_out)
		*left_out = left;
	return eq;
}

/* the same bytes compare equal; one byte anywhere, a longer file or a
 * shorter stream do not */
static void test_cmp_sink(void **state)
{
	struct files *f = *state;

	write_dst(f, -1, "");
	assert_true(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, 2, "");
	assert_false(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, 5 + SRC_LEN / 2, "");
	assert_false(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, 5 + SRC_LEN - 1, "");
	assert_false(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, 5 + SRC_LEN + 4, "");
	assert_false(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, -1, "more");
	assert_false(cmp_stream(f, 0, SRC_LEN, NULL));
	write_dst(f, -1, "");
	assert_false(cmp_stream(f, 0, SRC_LEN - 1, NULL)); /* a shorter stream */
}

/* headers only: a copy is taken unread, so a byte changed in its range
 * still compares equal, but one in a write does not, nor a longer file */
static void test_cmp_sink_headers_only(void **state)
{
	struct files *f = *state;

	write_dst(f, 5 + 1000, "");
	assert_true(cmp_stream(f, 1, SRC_LEN, NULL));
	write_dst(f, 1, "");
	assert_false(cmp_stream(f, 1, SRC_LEN, NULL));
	write_dst(f, -1, "x");
	assert_false(cmp_stream(f, 1, SRC_LEN, NULL));
}

/* a source shorter than said: the rest is left to the caller (which finds
 * the file shrank), as the file sink does */
static void test_cmp_sink_short_source(void **state)
{
	struct files *f = *state;
	uint64_t left;

	write_dst(f, -1, "");
	cmp_stream(f, 0, SRC_LEN + 1000, &left);
	assert_int_equal(left, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_between_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_short_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_refused_leaves_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_sink_offers_no_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmp_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmp_sink_headers_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmp_sink_short_source, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
