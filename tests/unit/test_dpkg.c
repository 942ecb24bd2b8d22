/* Unit tests for the dpkg records of host files (src/lib/dpkg.c): stanza
 * extraction from a small status file, and owners looked up in a small
 * dpkg database made here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dpkg.h"
#include "buf.h"

#define TMP_PREFIX "/tmp/ocibuild-test-dpkg-"
#include "testutil.h"

static const char status_text[] =
	"Package: libfoo1\n"
	"Status: deinstall ok config-files\n"
	"Architecture: i386\n"
	"Version: 0.9-1\n"
	"Conffiles:\n"
	" /etc/foo.conf 0123\n"
	"\n"
	"Package: libfoo1\n"
	"Status: install ok installed\n"
	"Priority: optional\n"
	"Installed-Size: 42\n"
	"Architecture: amd64\n"
	"Multi-Arch: same\n"
	"Source: foo (1.0-2)\n"
	"Version: 1.0-2+b1\n"
	"Conffiles:\n"
	" /etc/foo.conf 0123\n"
	" /etc/foo.d/x obsolete\n"
	"Description: the foo library\n"
	" It does foo.\n"
	" .\n"
	" And more.\n"
	"\n"
	"Package: bar\n"
	"Status: hold ok installed\n"
	"Architecture: all\n"
	"Version: 2\n"
	"Config-Version: 1\n"
	"Triggers-Pending: ldconfig\n"
	"\n"
	"Package: libfoo1\n"
	"Status: install ok installed\n"
	"Architecture: arm64\n"
	"Version: 1.0-2\n"
	"Source: foo";   /* last stanza, no final newline */

static char *record(const char *name, const char *arch, int want)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	ocibuild_error err = { 0 };
	int r = oci_dpkg_record(status_text, strlen(status_text), name, arch, &b, &err);

	assert_int_equal(r, want);
	if (r == 0) {
		assert_int_equal(b.len, 0);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

static void test_record_installed_arch(void **state)
{
	char *r = record("libfoo1", "amd64", 1);

	(void)state;
	assert_string_equal(r, "Package: libfoo1\n"
			       "Status: install ok installed\n"
			       "Priority: optional\n"
			       "Installed-Size: 42\n"
			       "Architecture: amd64\n"
			       "Multi-Arch: same\n"
			       "Source: foo (1.0-2)\n"
			       "Version: 1.0-2+b1\n"
			       "Description: the foo library\n"
			       " It does foo.\n"
			       " .\n"
			       " And more.\n");
	free(r);
}

/* the config-files remnant of i386 is not installed */
static void test_record_skips_not_installed(void **state)
{
	(void)state;
	assert_null(record("libfoo1", "i386", 0));
	assert_null(record("libfoo", NULL, 0));
	assert_null(record("libfoo1", "s390x", 0));
}

static void test_record_any_arch_first_installed(void **state)
{
	char *r = record("libfoo1", NULL, 1);

	(void)state;
	assert_non_null(strstr(r, "Architecture: amd64\n"));
	free(r);
}

/* "hold ok installed" is installed; Status is normalised and dpkg's
 * bookkeeping dropped */
static void test_record_status_and_bookkeeping(void **state)
{
	char *r = record("bar", NULL, 1);

	(void)state;
	assert_string_equal(r, "Package: bar\n"
			       "Status: install ok installed\n"
			       "Architecture: all\n"
			       "Version: 2\n");
	free(r);
}

static void test_record_last_stanza_without_newline(void **state)
{
	char *r = record("libfoo1", "arm64", 1);

	(void)state;
	assert_string_equal(r, "Package: libfoo1\n"
			       "Status: install ok installed\n"
			       "Architecture: arm64\n"
			       "Version: 1.0-2\n"
			       "Source: foo\n");
	free(r);
}

static void put(const char *dir, const char *name, const char *text)
{
	char *p = pjoin(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* A database with a multi-arch list (libfoo1:amd64.list, /lib spelling of a
 * file the caller names through /usr/lib), a plain one (bar.list) and a
 * package that owns nothing asked for. */
static void test_owners(void **state)
{
	char *dir = make_tmpdir(), *info = pjoin(dir, "info");
	oci_strlist files = { 0 };
	oci_dpkg d = { 0 };
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(mkdir(info, 0755), 0);
	put(dir, "status", status_text);
	put(info, "libfoo1:amd64.list", "/.\n/lib\n/lib/x86_64-linux-gnu\n"
					 "/lib/x86_64-linux-gnu/libfoo.so.1\n");
	put(info, "libfoo1:amd64.md5sums", "/usr/lib/x86_64-linux-gnu/libbar.so\n");
	put(info, "bar.list", "/.\n/usr/bin/bar\n");
	put(info, "baz.list", "/.\n/usr/bin/baz\n");
	assert_int_equal(oci_strlist_push(&files, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", &err), 0);
	assert_int_equal(oci_strlist_push(&files, "/bin/bar", &err), 0);
	assert_int_equal(oci_strlist_push(&files, "/usr/lib/x86_64-linux-gnu/libbar.so", &err), 0);
	assert_int_equal(oci_dpkg_owners(dir, &files, 2, &d, &err), 1);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.v[0].name, "bar");
	assert_null(d.v[0].arch);
	assert_string_equal(d.v[1].name, "libfoo1");
	assert_string_equal(d.v[1].arch, "amd64");
	assert_non_null(strstr(d.v[1].record, "Version: 1.0-2+b1\n"));
	assert_int_equal(d.v[1].len, strlen(d.v[1].record));
	oci_dpkg_release(&d);

	/* no status file: not a Debian system */
	{
		char *st = pjoin(dir, "status");

		assert_int_equal(unlink(st), 0);
		free(st);
	}
	assert_int_equal(oci_dpkg_owners(dir, &files, 2, &d, &err), 0);
	assert_int_equal(d.n, 0);
	oci_strlist_release(&files);
	free(info);
	remove_tree(dir);
}

/* How a list is read: a line longer than any path is passed over, the
 * last line needs no newline, and a line that only looks like a candidate
 * (same length, same last bytes) is not one. */
static void test_owners_list_lines(void **state)
{
	char *dir = make_tmpdir(), *info = pjoin(dir, "info");
	char *longline = malloc(PATH_MAX + 100);
	oci_strlist files = { 0 };
	oci_dpkg d = { 0 };
	ocibuild_error err = { 0 };
	size_t n = 0;

	(void)state;
	assert_non_null(longline);
	assert_int_equal(mkdir(info, 0755), 0);
	put(dir, "status", status_text);
	longline[n++] = '/';
	while (n < PATH_MAX + 50)
		longline[n++] = 'a';
	memcpy(longline + n, "\n/usr/bin/bar", sizeof("\n/usr/bin/bar"));
	put(info, "bar.list", longline);
	/* same length and last two bytes as the candidate */
	put(info, "libfoo1:amd64.list", "/.\n/usr/sbn/bar\n/usr/bin/bar/\n");
	assert_int_equal(oci_strlist_push(&files, "/usr/bin/bar", &err), 0);
	assert_int_equal(oci_dpkg_owners(dir, &files, 1, &d, &err), 1);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].name, "bar");
	oci_dpkg_release(&d);
	oci_strlist_release(&files);
	free(longline);
	free(info);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_installed_arch),
		cmocka_unit_test(test_record_skips_not_installed),
		cmocka_unit_test(test_record_any_arch_first_installed),
		cmocka_unit_test(test_record_status_and_bookkeeping),
		cmocka_unit_test(test_record_last_stanza_without_newline),
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_owners_list_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
