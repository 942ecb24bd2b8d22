/* Unit tests for the stat index (src/lib/statindex.c): what it vouches
 * for, the racy rule, and that a bad file is ignored, never trusted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define TMP_PREFIX "/tmp/ocibuild-test-statindex-"
#include "testutil.h"
#include "digest.h"
#include "statindex.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* a tuple a minute older than now: not racy */
static oci_fstamp tuple(const oci_sidx *x, uint64_t ino)
{
	oci_fstamp s;

	memset(&s, 0, sizeof(s));
	s.dev = 2049;
	s.ino = ino;
	s.size = 1234;
	s.mode = 0100644;
	s.mtime_s = x->now.tv_sec - 60;
	s.mtime_ns = 5;
	s.ctime_s = x->now.tv_sec - 60;
	s.ctime_ns = 7;
	return s;
}

/* serialise a, parse it into b */
static void round_trip(oci_sidx *a, oci_sidx *b)
{
	ocibuild_error err = { 0 };
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(oci_sidx_serialise(a, &text, &len, &err), 0);
	oci_sidx_init(b);
	assert_int_equal(oci_sidx_parse(b, text, len, &err), 1);
	free(text);
}

/* the digest the index gives for path and s, or NULL */
static const char *look(oci_sidx *x, const char *path, const oci_fstamp *s)
{
	static char hex[65];

	return oci_sidx_lookup(x, path, s, hex) ? hex : NULL;
}

static void test_round_trip_and_lookup(void **state)
{
	ocibuild_error err = { 0 };
	oci_sidx a, b;
	oci_fstamp s1, s2, other;

	(void)state;
	oci_sidx_init(&a);
	s1 = tuple(&a, 11);
	s2 = tuple(&a, 12);
	s2.mtime_s = -5; /* before 1970 */
	assert_int_equal(oci_sidx_set(&a, "/r/a file with spaces", &s1, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/r/b", &s2, HEX_B, &err), 0);
	/* not indexed: relative, or a digest that is not one */
	assert_int_equal(oci_sidx_set(&a, "r/c", &s1, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/r/d", &s1, "xyz", &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/r/tab\there", &s1, HEX_A, &err), 0);
	assert_int_equal(a.n, 2);
	round_trip(&a, &b);
	assert_int_equal(b.nline, 2);
	assert_int_equal(b.stamp.tv_sec, a.now.tv_sec);
	assert_int_equal(b.stamp.tv_nsec, a.now.tv_nsec);
	assert_string_equal(look(&b, "/r/a file with spaces", &s1), HEX_A);
	assert_string_equal(look(&b, "/r/b", &s2), HEX_B);
	assert_null(look(&b, "/r/c", &s1));
	assert_null(look(&b, "/r/none", &s1));
	/* every field of the tuple counts */
	other = s1; other.dev++;
	assert_null(look(&b, "/r/a file with spaces", &other));
	other = s1; other.ino++;
	assert_null(look(&b, "/r/b", &other));
	oci_sidx_release(&a);
	oci_sidx_release(&b);
}

static void test_each_field_counts(void **state)
{
	ocibuild_error err = { 0 };
	oci_sidx a, b;
	oci_fstamp s, orig;
	int field;

	(void)state;
	for (field = 0; field < 8; field++) {
		oci_sidx_init(&a);
		s = orig = tuple(&a, 1);
		assert_int_equal(oci_sidx_set(&a, "/f", &s, HEX_A, &err), 0);
		round_trip(&a, &b);
		switch (field) {
		case 0: s.dev++; break;
		case 1: s.ino++; break;
		case 2: s.size++; break;
		case 3: s.mode ^= 0111; break;
		case 4: s.mtime_s++; break;
		case 5: s.mtime_ns++; break;
		case 6: s.ctime_s++; break;
		default: s.ctime_ns++; break;
		}
		assert_null(look(&b, "/f", &s));
		/* a mismatch drops the entry: the next save does not keep it */
		assert_null(look(&b, "/f", &orig));
		oci_sidx_release(&a);
		oci_sidx_release(&b);
	}
}

/* mtime or ctime within the granularity of the stamp, or after it: racy,
 * never trusted, and not carried into the next index */
static void test_racy(void **state)
{
	ocibuild_error err = { 0 };
	oci_sidx a, b;
	oci_fstamp m, c, old;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	oci_sidx_init(&a);
	old = tuple(&a, 1);
	m = tuple(&a, 2);
	m.mtime_s = a.now.tv_sec - 1; /* less than 2 s before the stamp */
	c = tuple(&a, 3);
	c.ctime_s = a.now.tv_sec + 100; /* in the future */
	assert_int_equal(oci_sidx_set(&a, "/old", &old, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/m", &m, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/c", &c, HEX_A, &err), 0);
	round_trip(&a, &b);
	assert_non_null(look(&b, "/old", &old));
	assert_null(look(&b, "/m", &m));
	assert_null(look(&b, "/c", &c));
	/* a later index keeps the trusted entry and drops the racy ones */
	b.dirty = 1;
	assert_int_equal(oci_sidx_serialise(&b, &text, &len, &err), 0);
	assert_non_null(strstr(text, "\n/old\t"));
	assert_null(strstr(text, "\n/m\t"));
	assert_null(strstr(text, "\n/c\t"));
	free(text);
	oci_sidx_release(&a);
	oci_sidx_release(&b);
}

/* lines sorted by path; a path set again replaces its line */
static void test_sorted_and_replaced(void **state)
{
	ocibuild_error err = { 0 };
	oci_sidx a, b, c;
	oci_fstamp s1, s2;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	oci_sidx_init(&a);
	s1 = tuple(&a, 1);
	s2 = tuple(&a, 2);
	assert_int_equal(oci_sidx_set(&a, "/z", &s1, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/a b", &s2, HEX_B, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/a", &s2, HEX_A, &err), 0);
	assert_int_equal(oci_sidx_set(&a, "/a", &s1, HEX_B, &err), 0); /* the last wins */
	round_trip(&a, &b);
	assert_int_equal(b.nline, 3);
	assert_true(strncmp(b.line[0], "/a\t", 3) == 0);
	assert_true(strncmp(b.line[1], "/a b\t", 5) == 0);
	assert_true(strncmp(b.line[2], "/z\t", 3) == 0);
	assert_string_equal(look(&b, "/a", &s1), HEX_B);
	/* a loaded line set again: one line, the new digest */
	assert_int_equal(oci_sidx_set(&b, "/z", &s1, HEX_B, &err), 0);
	assert_int_equal(oci_sidx_serialise(&b, &text, &len, &err), 0);
	oci_sidx_init(&c);
	assert_int_equal(oci_sidx_parse(&c, text, len, &err), 1);
	assert_int_equal(c.nline, 3);
	assert_string_equal(look(&c, "/z", &s1), HEX_B);
	free(text);
	oci_sidx_release(&a);
	oci_sidx_release(&b);
	oci_sidx_release(&c);
}

/* lookups in the lines' order (the walk's), out of it, with misses and
 * repeats between: each finds its own line */
static void test_lookup_any_order(void **state)
{
	ocibuild_error err = { 0 };
	char path[32];
	oci_sidx a, b;
	oci_fstamp s[40];
	int i, k;
	static const int order[] = { 0, 1, 2, 39, 3, 3, 20, 21, 5, 4, 38, 39, 0 };

	(void)state;
	oci_sidx_init(&a);
	for (i = 0; i < 40; i++) {
		s[i] = tuple(&a, 100 + (uint64_t)i);
		snprintf(path, sizeof(path), "/r/f%02d", i);
		assert_int_equal(oci_sidx_set(&a, path, &s[i], i % 2 ? HEX_A : HEX_B, &err), 0);
	}
	round_trip(&a, &b);
	assert_int_equal(b.nline, 40);
	for (k = 0; k < (int)(sizeof(order) / sizeof(order[0])); k++) {
		i = order[k];
		snprintf(path, sizeof(path), "/r/f%02d", i);
		assert_string_equal(look(&b, path, &s[i]), i % 2 ? HEX_A : HEX_B);
		/* a file between two lines, and one after the last */
		snprintf(path, sizeof(path), "/r/f%02d.new", i);
		assert_null(look(&b, path, &s[i]));
	}
	assert_null(look(&b, "/r/zz", &s[0]));
	/* the next line, with the tuple of another file: a miss */
	assert_string_equal(look(&b, "/r/f10", &s[10]), HEX_B);
	assert_null(look(&b, "/r/f11", &s[12]));
	oci_sidx_release(&a);
	oci_sidx_release(&b);
}

/* body + a trailer whose checksum fits it: what the parser must refuse
 * on its content, not on the checksum */
static int parse_with_sum(const char *body)
{
	ocibuild_error err = { 0 };
	char sum[OCI_DIGEST_LEN + 1], *text;
	size_t n = strlen(body);
	oci_sidx x;
	int rc;

	assert_int_equal(oci_sha256_buf(body, n, sum, &err), 0);
	text = malloc(n + 70);
	assert_non_null(text);
	memcpy(text, body, n);
	snprintf(text + n, 70, "end %s\n", sum + 7);
	oci_sidx_init(&x);
	rc = oci_sidx_parse(&x, text, n + 69, &err);
	if (rc != 1)
		assert_int_equal(x.nline, 0);
	oci_sidx_release(&x);
	free(text);
	return rc;
}

#define HDR(count) "ocibuild-statindex 2 100 0 " #count "\n"
#define LINE(path) path "\t" HEX_A " 1 2 3 33188 5 6 7 8\n"

static void test_bad_files_are_ignored(void **state)
{
	static const char *const bad[] = {
		"ocibuild-statindex 1 100 0 0\n",                 /* another version */
		HDR(1),                                           /* fewer entries */
		HDR(0) LINE("/x"),                                /* more */
		"ocibuild-statindex 2 100 1000000000 0\n",        /* nanoseconds */
		HDR(1) LINE("x"),                                 /* relative */
		HDR(1) "/x " HEX_A " 1 2 3 33188 5 6 7 8\n",      /* no tab */
		HDR(2) LINE("/y") LINE("/x"),                     /* not sorted */
		HDR(2) LINE("/x") LINE("/x"),                     /* one path twice */
		HDR(1) "/x\t" HEX_A " 1 2 3 33188 5 6 7 8",       /* no newline */
		"ocibuild-statindex 2 100 0 300000\n",            /* over the cap */
		"ocibuild-statindex 2 100 0\n",
		"",
	};
	/* taken, but a line whose fields do not parse is a miss */
	static const char *const bad_fields[] = {
		HDR(1) "/x\t" HEX_A " 1 2 3 33188 5 6 7 1000000000\n",
		HDR(1) "/x\t" HEX_A " 1 2 3 33188 5 6 7\n",
		HDR(1) "/x\t" HEX_A " 1 2 -3 33188 5 6 7 8\n",
		HDR(1) "/x\t" HEX_A " 1 2 3 99999999999 5 6 7 8\n",
		HDR(1) "/x\t" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1 2 3 33188 5 6 7 8\n",
		HDR(1) "/x\t" HEX_A "1 2 3 33188 5 6 7 8\n",
	};
	ocibuild_error err = { 0 };
	const char *good = HDR(2) LINE("/a") "/x y\t" HEX_A " 1 2 3 33188 -5 6 7 8\n";
	oci_fstamp want = { 1, 2, 3, 33188, -5, 7, 6, 8 };
	char hex[65];
	oci_sidx x;
	size_t i;

	(void)state;
	assert_int_equal(parse_with_sum(good), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_with_sum(bad[i]) != 0)
			fail_msg("taken: %s", bad[i]);
	}
	for (i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		char sum[OCI_DIGEST_LEN + 1], text[512];
		oci_fstamp s = { 1, 2, 3, 33188, 5, 7, 6, 8 };

		assert_int_equal(oci_sha256_buf(bad_fields[i], strlen(bad_fields[i]), sum, &err), 0);
		snprintf(text, sizeof(text), "%send %s\n", bad_fields[i], sum + 7);
		oci_sidx_init(&x);
		assert_int_equal(oci_sidx_parse(&x, text, strlen(text), &err), 1);
		if (oci_sidx_lookup(&x, "/x", &s, hex))
			fail_msg("trusted: %s", bad_fields[i]);
		oci_sidx_release(&x);
	}
	/* the checksum: one digit changed, the trailer cut, no trailer */
	{
		char sum[OCI_DIGEST_LEN + 1], text[512];
		size_t n = strlen(good);

		assert_int_equal(oci_sha256_buf(good, n, sum, &err), 0);
		snprintf(text, sizeof(text), "%send %s\n", good, sum + 7);
		oci_sidx_init(&x);
		assert_int_equal(oci_sidx_parse(&x, text, strlen(text), &err), 1);
		/* stamp 100 s: the tuple's times (5 s, -5 s) are not racy */
		assert_int_equal(oci_sidx_lookup(&x, "/x y", &want, hex), 1);
		assert_string_equal(hex, HEX_A);
		oci_sidx_release(&x);
		text[40] = text[40] == 'a' ? 'b' : 'a';
		oci_sidx_init(&x);
		assert_int_equal(oci_sidx_parse(&x, text, strlen(text), &err), 0);
		assert_int_equal(oci_sidx_parse(&x, text, strlen(text) - 10, &err), 0);
		assert_int_equal(oci_sidx_parse(&x, good, n, &err), 0);
		assert_int_equal(x.nline, 0);
		oci_sidx_release(&x);
	}
}

static void test_save_and_load(void **state)
{
	ocibuild_error err = { 0 };
	char *dir = make_tmpdir(), *path = pjoin(dir, "idx");
	oci_sidx a, b;
	oci_fstamp s;
	FILE *f;

	(void)state;
	/* nothing there: empty, no error */
	oci_sidx_init(&b);
	assert_int_equal(oci_sidx_load(&b, dir, "idx", &err), 0);
	assert_int_equal(b.nline, 0);
	oci_sidx_release(&b);
	oci_sidx_init(&a);
	s = tuple(&a, 9);
	/* nothing set: nothing written */
	assert_int_equal(oci_sidx_save(&a, dir, "idx", &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(oci_sidx_set(&a, "/k", &s, HEX_B, &err), 0);
	assert_int_equal(oci_sidx_save(&a, dir, "idx", &err), 0);
	oci_sidx_init(&b);
	assert_int_equal(oci_sidx_load(&b, dir, "idx", &err), 0);
	assert_string_equal(look(&b, "/k", &s), HEX_B);
	oci_sidx_release(&b);
	/* garbage: ignored */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not an index\n", f);
	fclose(f);
	oci_sidx_init(&b);
	assert_int_equal(oci_sidx_load(&b, dir, "idx", &err), 0);
	assert_int_equal(b.nline, 0);
	oci_sidx_release(&b);
	oci_sidx_release(&a);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_lookup),
		cmocka_unit_test(test_each_field_counts),
		cmocka_unit_test(test_racy),
		cmocka_unit_test(test_sorted_and_replaced),
		cmocka_unit_test(test_lookup_any_order),
		cmocka_unit_test(test_bad_files_are_ignored),
		cmocka_unit_test(test_save_and_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
