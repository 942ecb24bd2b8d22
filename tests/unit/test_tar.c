/* Unit tests for the tar header writer (src/lib/tar.c).
 *
 * Headers are checked field by field and also decoded by a small parser
 * written here from the POSIX ustar/pax description (not from tar.c), and
 * a whole archive is handed to GNU tar when it is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "tar.h"

#define BLK OCI_TAR_BLOCK
#define PATHMAX 20000
#define MAXREC 8

/* ---- an independent ustar + pax decoder ---- */

struct entry {
	char type;
	unsigned mode;
	uint64_t size;
	int64_t mtime;
	char path[PATHMAX];
	char link[PATHMAX];
	/* the ustar block as written */
	char name_field[101];
	char prefix_field[156];
	char link_field[101];
	uint64_t ustar_size;
	uint64_t ustar_mtime;
	/* the pax extended header, if any */
	int has_pax;
	size_t pax_len;
	size_t nrec;
	char rec_key[MAXREC][16];
	size_t rec_len[MAXREC];
	int pax_path, pax_link, pax_size, pax_mtime;
	/* header bytes: x header, its padded data, ustar header */
	size_t header_bytes;
};

static struct entry *entry_new(void)
{
	struct entry *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	return e;
}

/* A numeric field as this writer fills it: width-1 octal digits, NUL. */
static uint64_t octal_field(const unsigned char *f, size_t width)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < width - 1; i++) {
		if (f[i] < '0' || f[i] > '7')
			fail_msg("octal field byte %zu is 0x%02x", i, f[i]);
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	assert_int_equal(f[width - 1], '\0');
	return v;
}

static void copy_field(char *dst, const unsigned char *src, size_t width)
{
	size_t n = strnlen((const char *)src, width);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void check_block(const unsigned char *h)
{
	unsigned long sum = 0, stored = 0;
	size_t i;

	for (i = 0; i < BLK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	/* chksum: six octal digits, NUL, space */
	for (i = 148; i < 154; i++) {
		assert_true(h[i] >= '0' && h[i] <= '7');
		stored = stored * 8 + (unsigned long)(h[i] - '0');
	}
	assert_int_equal(h[154], '\0');
	assert_int_equal(h[155], ' ');
	assert_int_equal(stored, sum);
	assert_memory_equal(h + 257, "ustar\0", 6);
	assert_memory_equal(h + 263, "00", 2);
	assert_memory_equal(h + 108, "0000000\0", 8); /* uid */
	assert_memory_equal(h + 116, "0000000\0", 8); /* gid */
	assert_true(all_zero(h + 265, 32));           /* uname */
	assert_true(all_zero(h + 297, 32));           /* gname */
	assert_memory_equal(h + 329, "0000000\0", 8); /* devmajor */
	assert_memory_equal(h + 337, "0000000\0", 8); /* devminor */
	assert_true(all_zero(h + 500, 12));
}

static void pax_apply(struct entry *e, const char *key, size_t klen, const char *val,
		      size_t vlen)
{
	char num[32];

	assert_true(vlen < PATHMAX);
	if (klen == 4 && !memcmp(key, "path", 4)) {
		memcpy(e->path, val, vlen);
		e->path[vlen] = '\0';
		e->pax_path = 1;
	} else if (klen == 8 && !memcmp(key, "linkpath", 8)) {
		memcpy(e->link, val, vlen);
		e->link[vlen] = '\0';
		e->pax_link = 1;
	} else if (klen == 4 && !memcmp(key, "size", 4)) {
		assert_true(vlen > 0 && vlen < sizeof(num));
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		e->size = strtoull(num, NULL, 10);
		e->pax_size = 1;
	} else if (klen == 5 && !memcmp(key, "mtime", 5)) {
		assert_true(vlen > 0 && vlen < sizeof(num));
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		e->mtime = strtoll(num, NULL, 10);
		e->pax_mtime = 1;
	} else {
		fail_msg("unexpected pax key '%.*s'", (int)klen, key);
	}
}

/* Records "<len> <key>=<value>\n", where len counts the whole record. */
static void pax_parse(struct entry *e, const unsigned char *p, size_t n)
{
	size_t pos = 0;

	while (pos < n) {
		size_t len = 0, i = pos, kv, eq;

		while (i < n && p[i] >= '0' && p[i] <= '9') {
			len = len * 10 + (size_t)(p[i] - '0');
			i++;
		}
		assert_true(i > pos);
		assert_true(p[pos] != '0'); /* no leading zero */
		assert_true(i < n);
		assert_int_equal(p[i], ' ');
		assert_true(len > i - pos + 1);
		if (pos + len > n)
			fail_msg("pax record at %zu claims %zu bytes, only %zu left", pos, len,
				 n - pos);
		assert_int_equal(p[pos + len - 1], '\n');
		kv = i + 1;
		eq = kv;
		while (eq < pos + len - 1 && p[eq] != '=')
			eq++;
		assert_true(eq < pos + len - 1);
		assert_true(eq > kv);
		assert_true(e->nrec < MAXREC);
		assert_true(eq - kv < sizeof(e->rec_key[0]));
		memcpy(e->rec_key[e->nrec], p + kv, eq - kv);
		e->rec_key[e->nrec][eq - kv] = '\0';
		e->rec_len[e->nrec] = len;
		e->nrec++;
		pax_apply(e, (const char *)p + kv, eq - kv, (const char *)p + eq + 1,
			  pos + len - 1 - (eq + 1));
		pos += len;
	}
	assert_int_equal(pos, n);
}

/* Decode one entry's header block(s) at buf. */
static void parse_entry(const unsigned char *buf, size_t len, struct entry *e)
{
	const unsigned char *h = buf;
	size_t off = 0;

	assert_true(len >= BLK);
	check_block(h);
	if (h[156] == 'x') {
		size_t plen = (size_t)octal_field(h + 124, 12), padded;

		assert_memory_equal(h, "././@PaxHeader", 15);
		e->has_pax = 1;
		e->pax_len = plen;
		padded = (plen + BLK - 1) / BLK * BLK;
		assert_true(BLK + padded + BLK <= len);
		pax_parse(e, buf + BLK, plen);
		assert_true(all_zero(buf + BLK + plen, padded - plen));
		off = BLK + padded;
		h = buf + off;
		check_block(h);
	}
	assert_true(h[156] == '0' || h[156] == '2' || h[156] == '5');
	e->type = (char)h[156];
	copy_field(e->name_field, h, 100);
	copy_field(e->prefix_field, h + 345, 155);
	copy_field(e->link_field, h + 157, 100);
	e->mode = (unsigned)octal_field(h + 100, 8);
	e->ustar_size = octal_field(h + 124, 12);
	e->ustar_mtime = octal_field(h + 136, 12);
	if (!e->pax_path) {
		if (e->prefix_field[0])
			snprintf(e->path, sizeof(e->path), "%s/%s", e->prefix_field,
				 e->name_field);
		else
			snprintf(e->path, sizeof(e->path), "%s", e->name_field);
	}
	if (!e->pax_link)
		snprintf(e->link, sizeof(e->link), "%s", e->link_field);
	if (!e->pax_size)
		e->size = e->ustar_size;
	if (!e->pax_mtime)
		e->mtime = (int64_t)e->ustar_mtime;
	e->header_bytes = off + BLK;
}

/* ---- helpers ---- */

/* A path of exactly len characters, '/' after every comp characters and
 * never at either end. */
static char *make_path(size_t len, size_t comp)
{
	char *p = malloc(len + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (char)('a' + i % 26);
	if (comp)
		for (i = comp; i < len; i += comp + 1)
			p[i] = '/';
	if (len && p[len - 1] == '/')
		p[len - 1] = 'z';
	p[len] = '\0';
	return p;
}

static void header_ok(const oci_tar_entry *te, oci_buf *out)
{
	ocibuild_error err = { 0 };

	oci_buf_reset(out);
	if (oci_tar_header(te, out, &err) < 0)
		fail_msg("oci_tar_header('%.40s...') failed: %s", te->path,
			 err.message ? err.message : "?");
	assert_int_equal(out->len % BLK, 0);
}

static struct entry *roundtrip(const oci_tar_entry *te, oci_buf *out)
{
	struct entry *e = entry_new();

	header_ok(te, out);
	parse_entry((const unsigned char *)out->data, out->len, e);
	assert_int_equal(e->header_bytes, out->len);
	return e;
}

/* ---- tests ---- */

static void test_short_file(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "etc/hosts", OCI_TAR_FILE, 0644, 1234, NULL, 1700000000 };
	const unsigned char *h;
	char field[16];
	struct entry *e;

	(void)state;
	header_ok(&te, &out);
	assert_int_equal(out.len, BLK);
	h = (const unsigned char *)out.data;
	check_block(h);
	assert_memory_equal(h, "etc/hosts", 9);
	assert_true(all_zero(h + 9, 100 - 9));
	assert_memory_equal(h + 100, "0000644\0", 8);
	snprintf(field, sizeof(field), "%011o", 1234);
	assert_memory_equal(h + 124, field, 12);
	snprintf(field, sizeof(field), "%011llo", 1700000000ULL);
	assert_memory_equal(h + 136, field, 12);
	assert_int_equal(h[156], '0');
	assert_true(all_zero(h + 157, 100)); /* linkname */
	assert_true(all_zero(h + 345, 155)); /* prefix */

	e = roundtrip(&te, &out);
	assert_false(e->has_pax);
	assert_string_equal(e->path, "etc/hosts");
	assert_int_equal(e->mode, 0644);
	assert_int_equal(e->size, 1234);
	assert_int_equal(e->mtime, 1700000000);
	free(e);
	oci_buf_release(&out);
}

static void test_mode_masked(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "bin/su", OCI_TAR_FILE, 0104755, 0, NULL, 0 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_int_equal(e->mode, 04755);
	assert_memory_equal(out.data + 100, "0004755\0", 8);
	assert_int_equal(e->mtime, 0);
	assert_memory_equal(out.data + 136, "00000000000\0", 12);
	free(e);
	oci_buf_release(&out);
}

static void test_appends(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry a = { "a", OCI_TAR_FILE, 0644, 1, NULL, 5 };
	oci_tar_entry b = { "b", OCI_TAR_DIR, 0755, 0, NULL, 5 };
	struct entry *e = entry_new();

	(void)state;
	/* oci_tar_header appends; it does not replace what is there */
	assert_int_equal(oci_buf_puts(&out, "0123", NULL), 0);
	assert_int_equal(oci_tar_header(&a, &out, NULL), 0);
	assert_int_equal(out.len, 4 + BLK);
	assert_memory_equal(out.data, "0123", 4);
	assert_int_equal(oci_tar_header(&b, &out, NULL), 0);
	assert_int_equal(out.len, 4 + 2 * BLK);
	parse_entry((const unsigned char *)out.data + 4 + BLK, BLK, e);
	assert_string_equal(e->path, "b/");
	free(e);
	oci_buf_release(&out);
}

static void test_dir_trailing_slash(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "usr/bin", OCI_TAR_DIR, 0755, 99, NULL, 7 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_int_equal(e->type, '5');
	assert_string_equal(e->path, "usr/bin/");
	assert_string_equal(e->name_field, "usr/bin/");
	/* a directory has no content, whatever size says */
	assert_int_equal(e->size, 0);
	assert_int_equal(e->mode, 0755);
	free(e);

	/* an existing trailing slash is not doubled */
	te.path = "usr/lib/";
	e = roundtrip(&te, &out);
	assert_string_equal(e->path, "usr/lib/");
	free(e);

	/* a file never gets one */
	te.path = "usr/file";
	te.type = OCI_TAR_FILE;
	e = roundtrip(&te, &out);
	assert_string_equal(e->path, "usr/file");
	assert_int_equal(e->type, '0');
	assert_int_equal(e->size, 99);
	free(e);
	oci_buf_release(&out);
}

static void test_symlink_short(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "lib/libx.so", OCI_TAR_SYMLINK, 0777, 55, "libx.so.1.2", 3 };
	char *target = make_path(100, 10);
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_int_equal(e->type, '2');
	assert_string_equal(e->link_field, "libx.so.1.2");
	assert_int_equal(e->size, 0);
	assert_memory_equal(out.data + 124, "00000000000\0", 12);
	free(e);

	/* a 100-byte target fills the linkname field, no pax */
	te.link = target;
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_false(e->has_pax);
	assert_string_equal(e->link, target);
	free(e);
	free(target);
	oci_buf_release(&out);
}

static void test_name_exactly_100(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char *p = make_path(100, 0);
	oci_tar_entry te = { p, OCI_TAR_FILE, 0644, 0, NULL, 0 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_false(e->has_pax);
	assert_memory_equal(out.data, p, 100);
	assert_string_equal(e->path, p);
	free(e);

	/* 101 characters without a '/' can not be split */
	free(p);
	p = make_path(101, 0);
	te.path = p;
	e = roundtrip(&te, &out);
	assert_true(e->has_pax);
	assert_true(e->pax_path);
	assert_string_equal(e->path, p);
	free(e);
	free(p);
	oci_buf_release(&out);
}

static void test_split_150(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char *p = make_path(150, 49);
	oci_tar_entry te = { p, OCI_TAR_FILE, 0600, 10, NULL, 1 };
	struct entry *e;

	(void)state;
	assert_int_equal(strlen(p), 150);
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK); /* no pax header */
	assert_false(e->has_pax);
	assert_true(e->prefix_field[0] != '\0');
	assert_true(strlen(e->prefix_field) <= 155);
	assert_true(strlen(e->name_field) <= 100);
	assert_true(strlen(e->name_field) > 0);
	assert_string_equal(e->path, p);
	free(e);
	free(p);

	/* a directory whose path plus '/' needs the split */
	p = make_path(130, 60);
	te.path = p;
	te.type = OCI_TAR_DIR;
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_int_equal(strlen(e->path), 131);
	assert_memory_equal(e->path, p, 130);
	assert_int_equal(e->path[130], '/');
	free(e);
	free(p);
	oci_buf_release(&out);
}

static void test_split_prefix_limits(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char p[512];
	oci_tar_entry te = { p, OCI_TAR_FILE, 0644, 0, NULL, 0 };
	struct entry *e;

	(void)state;
	/* prefix of exactly 155 characters: fits, prefix field has no NUL */
	memset(p, 'p', 155);
	p[155] = '/';
	memset(p + 156, 'n', 100);
	p[256] = '\0';
	e = roundtrip(&te, &out);
	assert_int_equal(out.len, BLK);
	assert_false(e->has_pax);
	assert_int_equal(strlen(e->prefix_field), 155);
	assert_int_equal(strlen(e->name_field), 100);
	assert_string_equal(e->path, p);
	free(e);

	/* 156 characters before the only '/': needs pax */
	memset(p, 'p', 156);
	p[156] = '/';
	memcpy(p + 157, "name", 5);
	e = roundtrip(&te, &out);
	assert_true(e->pax_path);
	assert_string_equal(e->path, p);
	free(e);

	/* name part of 101 after the last '/': needs pax */
	memcpy(p, "dir/", 4);
	memset(p + 4, 'n', 101);
	p[105] = '\0';
	e = roundtrip(&te, &out);
	assert_true(e->pax_path);
	assert_string_equal(e->path, p);
	free(e);

	/* a 150-character directory: its only '/' is the trailing one */
	memset(p, 'd', 150);
	p[150] = '\0';
	te.type = OCI_TAR_DIR;
	e = roundtrip(&te, &out);
	assert_true(e->pax_path);
	assert_int_equal(strlen(e->path), 151);
	assert_int_equal(e->path[150], '/');
	free(e);
	oci_buf_release(&out);
}

static void check_pax_path(const char *path, oci_tar_type type, size_t want_reclen)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { path, type, 0644, 0, NULL, 0 };
	char buf[24];
	struct entry *e;
	size_t vlen = strlen(path) + (type == OCI_TAR_DIR ? 1 : 0);

	e = roundtrip(&te, &out);
	assert_true(e->has_pax);
	assert_int_equal(e->nrec, 1);
	assert_string_equal(e->rec_key[0], "path");
	/* the record length counts its own digits */
	snprintf(buf, sizeof(buf), "%zu", e->rec_len[0]);
	assert_int_equal(e->rec_len[0], strlen(buf) + 1 + 4 + 1 + vlen + 1);
	if (want_reclen)
		assert_int_equal(e->rec_len[0], want_reclen);
	assert_int_equal(e->pax_len, e->rec_len[0]);
	/* x header + data padded to 512 + ustar header */
	assert_int_equal(out.len, BLK + (e->pax_len + BLK - 1) / BLK * BLK + BLK);
	assert_int_equal(strlen(e->path), vlen);
	assert_memory_equal(e->path, path, strlen(path));
	assert_int_equal(e->type, type == OCI_TAR_DIR ? '5' : '0');
	free(e);
	oci_buf_release(&out);
}

static void test_long_path_300(void **state)
{
	char *p = make_path(300, 30);

	(void)state;
	/* 300 + "path=" etc: 300 + 7 + 3 digits */
	check_pax_path(p, OCI_TAR_FILE, 310);
	free(p);
}

static void test_long_component_200(void **state)
{
	char *p = make_path(200, 0);

	(void)state;
	check_pax_path(p, OCI_TAR_FILE, 210);
	free(p);
	/* 100 characters + the directory's '/': the smallest pax path */
	p = make_path(100, 0);
	check_pax_path(p, OCI_TAR_DIR, 111);
	free(p);
}

/* Records of 99, 100 and 101 bytes can not be produced: a path or link
 * target needs pax only past 100 characters, so its record is at least
 * 111 bytes, and size/mtime records are under 40. The same digit-count
 * fixpoint is exercised at the next boundaries instead. */
static void test_pax_digit_boundaries(void **state)
{
	static const struct {
		size_t vlen, reclen;
	} cases[] = {
		{ 989, 999 },    /* 989 + 7 + 3 */
		{ 990, 1001 },   /* 1000 is impossible: 990 + 7 + 3 = 1000 has 4 digits */
		{ 991, 1002 },
		{ 9988, 9999 },  /* 9988 + 7 + 4 */
		{ 9989, 10001 }, /* 10000 is impossible */
		{ 502, 512 },    /* data exactly one block: no padding */
		{ 503, 513 },    /* one byte into a second block */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = make_path(cases[i].vlen, 0);

		check_pax_path(p, OCI_TAR_FILE, cases[i].reclen);
		free(p);
		/* with '/' in it, too long to split */
		p = make_path(cases[i].vlen, 40);
		check_pax_path(p, OCI_TAR_FILE, cases[i].reclen);
		free(p);
	}
}

static void test_pax_padding_blocks(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char *p = make_path(502, 0);
	oci_tar_entry te = { p, OCI_TAR_FILE, 0644, 0, NULL, 0 };

	(void)state;
	header_ok(&te, &out);
	assert_int_equal(out.len, 3 * BLK);
	free(p);
	p = make_path(503, 0);
	te.path = p;
	header_ok(&te, &out);
	assert_int_equal(out.len, 4 * BLK);
	/* the record's last byte opens the second block; 511 zeros follow */
	assert_int_equal(out.data[BLK + 512], '\n');
	assert_int_equal(out.data[BLK + 513], '\0');
	assert_int_equal(out.data[BLK + 1023], '\0');
	free(p);
	oci_buf_release(&out);
}

static void test_symlink_long_target(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char *target = make_path(150, 20);
	oci_tar_entry te = { "usr/lib/liblong.so", OCI_TAR_SYMLINK, 0777, 0, target, 9 };
	char num[24];
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_true(e->has_pax);
	assert_true(e->pax_link);
	assert_false(e->pax_path);
	assert_int_equal(e->nrec, 1);
	assert_string_equal(e->rec_key[0], "linkpath");
	snprintf(num, sizeof(num), "%zu", e->rec_len[0]);
	assert_int_equal(e->rec_len[0], strlen(num) + 1 + 8 + 1 + 150 + 1);
	assert_string_equal(e->link, target);
	assert_string_equal(e->path, "usr/lib/liblong.so");
	assert_int_equal(e->type, '2');
	free(e);

	/* 101 characters: the first that needs pax */
	free(target);
	target = make_path(101, 0);
	te.link = target;
	e = roundtrip(&te, &out);
	assert_true(e->pax_link);
	assert_string_equal(e->link, target);
	free(e);

	/* long path and long target together */
	free(target);
	target = make_path(985, 0); /* linkpath record of 999 bytes */
	te.link = target;
	te.path = target + 500;     /* 485 characters */
	e = roundtrip(&te, &out);
	assert_true(e->pax_link);
	assert_true(e->pax_path);
	assert_int_equal(e->nrec, 2);
	assert_string_equal(e->link, target);
	assert_string_equal(e->path, target + 500);
	assert_string_equal(e->rec_key[1], "linkpath");
	assert_int_equal(e->rec_len[1], 999);
	free(e);
	free(target);
	oci_buf_release(&out);
}

static void test_size_8gib(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "big", OCI_TAR_FILE, 0644, 8ULL << 30, NULL, 0 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_true(e->has_pax);
	assert_true(e->pax_size);
	assert_int_equal(e->nrec, 1);
	assert_string_equal(e->rec_key[0], "size");
	assert_int_equal(e->rec_len[0], strlen("19 size=8589934592\n"));
	assert_memory_equal(out.data + BLK, "19 size=8589934592\n", 19);
	assert_int_equal(e->size, 8ULL << 30);
	assert_int_equal(e->ustar_size, 0);
	free(e);

	/* one less fits the 11 octal digits */
	te.size = (8ULL << 30) - 1;
	e = roundtrip(&te, &out);
	assert_false(e->has_pax);
	assert_memory_equal(out.data + 124, "77777777777\0", 12);
	assert_int_equal(e->size, (8ULL << 30) - 1);
	free(e);

	te.size = UINT64_MAX;
	e = roundtrip(&te, &out);
	assert_true(e->pax_size);
	assert_int_equal(e->size, UINT64_MAX);
	assert_int_equal(e->ustar_size, 0);
	free(e);
	oci_buf_release(&out);
}

static void test_mtime_out_of_range(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "old", OCI_TAR_FILE, 0644, 0, NULL, -1 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_true(e->pax_mtime);
	assert_int_equal(e->nrec, 1);
	assert_memory_equal(out.data + BLK, "12 mtime=-1\n", 12);
	assert_int_equal(e->mtime, -1);
	assert_int_equal(e->ustar_mtime, 0);
	free(e);

	te.mtime = -1234567890;
	e = roundtrip(&te, &out);
	assert_true(e->pax_mtime);
	assert_int_equal(e->mtime, -1234567890);
	free(e);

	te.mtime = INT64_MIN;
	e = roundtrip(&te, &out);
	assert_true(e->pax_mtime);
	assert_int_equal(e->mtime, INT64_MIN);
	free(e);

	/* past the octal range */
	te.mtime = 8LL << 30;
	e = roundtrip(&te, &out);
	assert_true(e->pax_mtime);
	assert_int_equal(e->mtime, 8LL << 30);
	assert_memory_equal(out.data + 1024 + 136, "77777777777\0", 12);
	free(e);

	/* the edge of the range needs no pax */
	te.mtime = (8LL << 30) - 1;
	e = roundtrip(&te, &out);
	assert_false(e->has_pax);
	assert_int_equal(e->mtime, (8LL << 30) - 1);
	free(e);
	oci_buf_release(&out);
}

static void test_all_records(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	char *p = make_path(400, 0);
	oci_tar_entry te = { p, OCI_TAR_FILE, 0640, 10ULL << 30, NULL, -5 };
	struct entry *e;

	(void)state;
	e = roundtrip(&te, &out);
	assert_int_equal(e->nrec, 3);
	assert_true(e->pax_path && e->pax_size && e->pax_mtime);
	assert_string_equal(e->path, p);
	assert_int_equal(e->size, 10ULL << 30);
	assert_int_equal(e->mtime, -5);
	assert_int_equal(e->mode, 0640);
	free(e);
	free(p);
	oci_buf_release(&out);
}

static void test_padding(void **state)
{
	(void)state;
	assert_int_equal(oci_tar_padding(0), 0);
	assert_int_equal(oci_tar_padding(1), 511);
	assert_int_equal(oci_tar_padding(100), 412);
	assert_int_equal(oci_tar_padding(511), 1);
	assert_int_equal(oci_tar_padding(512), 0);
	assert_int_equal(oci_tar_padding(513), 511);
	assert_int_equal(oci_tar_padding(1024), 0);
	assert_int_equal(oci_tar_padding((8ULL << 30) + 1), 511);
	assert_int_equal(oci_tar_padding(UINT64_MAX), 1);
	assert_int_equal(oci_tar_padding(UINT64_MAX - 511), 0);
}

struct memsink {
	oci_sink base;
	oci_buf buf;
};

static int mem_write(oci_sink *s, const void *data, size_t len, ocibuild_error *err)
{
	struct memsink *m = (struct memsink *)s;

	return oci_buf_append(&m->buf, data, len, err);
}

static void test_zeros_and_end(void **state)
{
	struct memsink m = { { mem_write }, OCI_BUF_INIT(1 << 20) };

	(void)state;
	assert_int_equal(oci_tar_zeros(&m.base, 0, NULL), 0);
	assert_int_equal(m.buf.len, 0);
	assert_int_equal(oci_tar_zeros(&m.base, 100, NULL), 0);
	assert_int_equal(m.buf.len, 100);
	assert_int_equal(oci_tar_end(&m.base, NULL), 0);
	assert_int_equal(m.buf.len, 100 + 2 * BLK);
	assert_true(all_zero((const unsigned char *)m.buf.data, m.buf.len));
	oci_buf_release(&m.buf);
}

static void test_errors(void **state)
{
	oci_buf out = OCI_BUF_INIT(1 << 20);
	oci_tar_entry te = { "", OCI_TAR_FILE, 0644, 0, NULL, 0 };
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_tar_header(&te, &out, &err), -1);
	assert_int_not_equal(err.kind, OCIBUILD_ERR_NONE);
	assert_non_null(err.message);
	assert_int_equal(out.len, 0);
	ocibuild_error_clear(&err);

	te.path = NULL;
	assert_int_equal(oci_tar_header(&te, &out, &err), -1);
	assert_non_null(err.message);
	ocibuild_error_clear(&err);

	te.path = "/etc/passwd";
	assert_int_equal(oci_tar_header(&te, &out, &err), -1);
	assert_non_null(err.message);
	assert_int_equal(out.len, 0);
	ocibuild_error_clear(&err);

	te.path = "/";
	te.type = OCI_TAR_DIR;
	assert_int_equal(oci_tar_header(&te, &out, &err), -1);
	ocibuild_error_clear(&err);

	/* an output buffer too small for the header fails cleanly */
	{
		oci_buf small = OCI_BUF_INIT(100);

		te.path = "ok";
		assert_int_equal(oci_tar_header(&te, &small, &err), -1);
		assert_non_null(err.message);
		ocibuild_error_clear(&err);
		oci_buf_release(&small);
	}
	oci_buf_release(&out);
}

/* ---- GNU tar reads what we write ---- */

static void add_entry(struct memsink *m, const oci_tar_entry *te, const char *content)
{
	ocibuild_error err = { 0 };

	if (oci_tar_header(te, &m->buf, &err) < 0)
		fail_msg("header: %s", err.message);
	if (content) {
		assert_int_equal(oci_buf_append(&m->buf, content, te->size, NULL), 0);
		assert_int_equal(oci_tar_zeros(&m->base, oci_tar_padding(te->size), NULL), 0);
	}
}

static char *run(const char *cmd, int *status)
{
	oci_buf b = OCI_BUF_INIT(64 << 20);
	char chunk[4096];
	size_t n;
	FILE *f = popen(cmd, "r");

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(oci_buf_append(&b, chunk, n, NULL), 0);
	*status = pclose(f);
	return oci_buf_detach(&b, NULL);
}

static void expect_line_end(const char *out, const char *tail)
{
	size_t tl = strlen(tail);
	const char *p = out;

	while ((p = strstr(p, tail)) != NULL) {
		if (p[tl] == '\n')
			return;
		p++;
	}
	fail_msg("tar -tv output has no line ending in '%s'\n--- output:\n%s", tail, out);
}

static void test_gnu_tar_reads_it(void **state)
{
	struct memsink m = { { mem_write }, OCI_BUF_INIT(64 << 20) };
	char *long300 = make_path(300, 30), *long200 = make_path(200, 0);
	char *split150 = make_path(150, 49), *target = make_path(180, 25);
	char *b999 = make_path(989, 0), *b1001 = make_path(990, 50);
	char tmpl[] = "/tmp/ocibuild-test-tar-XXXXXX";
	char cmd[4096], tail[2048];
	char *out;
	int fd, status;
	static const char hello[] = "hello world\n";

	(void)state;
	if (system("tar --version >/dev/null 2>&1") != 0)
		skip();
	{
		oci_tar_entry es[] = {
			{ "dir", OCI_TAR_DIR, 0755, 0, NULL, 1 },
			{ "dir/short.txt", OCI_TAR_FILE, 0644, sizeof(hello) - 1, NULL, 1 },
			{ long300, OCI_TAR_FILE, 0644, sizeof(hello) - 1, NULL, 1 },
			{ long200, OCI_TAR_FILE, 0600, sizeof(hello) - 1, NULL, 1 },
			{ split150, OCI_TAR_FILE, 0755, sizeof(hello) - 1, NULL, 1 },
			{ "dir/link", OCI_TAR_SYMLINK, 0777, 0, target, 1 },
			{ b999, OCI_TAR_FILE, 0644, 0, NULL, 1 },
			{ b1001, OCI_TAR_FILE, 0644, 0, NULL, 1 },
			{ "old", OCI_TAR_FILE, 0644, 0, NULL, -1 },
		};
		size_t i;

		for (i = 0; i < sizeof(es) / sizeof(es[0]); i++)
			add_entry(&m, &es[i], es[i].type == OCI_TAR_FILE && es[i].size ? hello : NULL);
	}
	assert_int_equal(oci_tar_end(&m.base, NULL), 0);
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m.buf.data, m.buf.len), (ssize_t)m.buf.len);
	close(fd);

	snprintf(cmd, sizeof(cmd), "TZ=UTC0 LC_ALL=C tar --full-time -tvf '%s' 2>&1", tmpl);
	out = run(cmd, &status);
	if (status != 0 || strstr(out, "tar:"))
		fail_msg("tar -tvf failed (status %d):\n%s", status, out);
	expect_line_end(out, " dir/");
	expect_line_end(out, " dir/short.txt");
	snprintf(tail, sizeof(tail), " %s", long300);
	expect_line_end(out, tail);
	snprintf(tail, sizeof(tail), " %s", long200);
	expect_line_end(out, tail);
	snprintf(tail, sizeof(tail), " %s", split150);
	expect_line_end(out, tail);
	snprintf(tail, sizeof(tail), " dir/link -> %s", target);
	expect_line_end(out, tail);
	snprintf(tail, sizeof(tail), " %s", b999);
	expect_line_end(out, tail);
	snprintf(tail, sizeof(tail), " %s", b1001);
	expect_line_end(out, tail);
	expect_line_end(out, "1969-12-31 23:59:59 old");
	assert_non_null(strstr(out, "0/0"));
	free(out);

	/* and the content after a pax header is where it should be */
	snprintf(cmd, sizeof(cmd), "tar -xOf '%s' '%s' 2>&1", tmpl, long300);
	out = run(cmd, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, hello);
	free(out);
	snprintf(cmd, sizeof(cmd), "tar -xOf '%s' '%s' 2>&1", tmpl, split150);
	out = run(cmd, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, hello);
	free(out);

	unlink(tmpl);
	free(long300);
	free(long200);
	free(split150);
	free(target);
	free(b999);
	free(b1001);
	oci_buf_release(&m.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_mode_masked),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_dir_trailing_slash),
		cmocka_unit_test(test_symlink_short),
		cmocka_unit_test(test_name_exactly_100),
		cmocka_unit_test(test_split_150),
		cmocka_unit_test(test_split_prefix_limits),
		cmocka_unit_test(test_long_path_300),
		cmocka_unit_test(test_long_component_200),
		cmocka_unit_test(test_pax_digit_boundaries),
		cmocka_unit_test(test_pax_padding_blocks),
		cmocka_unit_test(test_symlink_long_target),
		cmocka_unit_test(test_size_8gib),
		cmocka_unit_test(test_mtime_out_of_range),
		cmocka_unit_test(test_all_records),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_zeros_and_end),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_gnu_tar_reads_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
