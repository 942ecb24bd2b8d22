/* Unit tests for image times (src/lib/timestamp.c): RFC 3339 and the
 * --created forms read, the document form written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "timestamp.h"

static int64_t rfc(const char *s)
{
	int64_t t = -42;

	assert_int_equal(oci_timestamp_rfc3339(s, &t), 0);
	return t;
}

static void test_rfc3339_valid(void **state)
{
	(void)state;
	assert_int_equal(rfc("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(rfc("2024-05-01T12:00:00Z"), 1714564800);
	assert_int_equal(rfc("2024-05-01t12:00:00z"), 1714564800);
	assert_int_equal(rfc("2024-05-01 12:00:00Z"), 1714564800);
	assert_int_equal(rfc("2024-05-01T12:00:00.123456789Z"), 1714564800);
	assert_int_equal(rfc("2024-05-01T14:30:00+02:30"), 1714564800);
	assert_int_equal(rfc("2024-05-01T07:00:00-05:00"), 1714564800);
	assert_int_equal(rfc("2024-02-29T00:00:00Z"), 1709164800);
	assert_int_equal(rfc("2000-02-29T00:00:00Z"), 951782400);
	assert_int_equal(rfc("9999-12-31T23:59:59Z"), OCI_TIMESTAMP_MAX);
}

static void test_rfc3339_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"2024-05-01",
		"2024-05-01T12:00:00",          /* no zone */
		"2024-05-01T12:00Z",            /* no seconds */
		"2024-5-01T12:00:00Z",
		"2024-05-01X12:00:00Z",
		"2024-05-01T12:00:00.Z",        /* empty fraction */
		"2024-05-01T12:00:00Z ",        /* trailing */
		"2024-05-01T12:00:00+0200",
		"2024-05-01T12:00:00+24:00",
		"2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z",
		"2024-04-31T00:00:00Z",
		"2023-02-29T00:00:00Z",         /* not a leap year */
		"1900-02-29T00:00:00Z",
		"2024-05-01T24:00:00Z",
		"2024-05-01T23:60:00Z",
		"2024-05-01T23:59:60Z",
		"1969-12-31T23:59:59Z",         /* before 1970 */
		"1970-01-01T00:30:00+01:00",    /* before 1970 once offset */
		NULL,
	};
	size_t i;

	(void)state;
	for (i = 0; bad[i]; i++) {
		int64_t t = -42;

		if (oci_timestamp_rfc3339(bad[i], &t) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(t, -42);
	}
}

static void test_parse_created(void **state)
{
	ocibuild_error err = { 0 };
	int64_t t = -42;
	int now = -1;

	(void)state;
	assert_int_equal(oci_timestamp_parse("now", &t, &now, &err), 0);
	assert_int_equal(now, 1);
	assert_int_equal(t, -42);
	assert_int_equal(oci_timestamp_parse("@0", &t, &now, &err), 0);
	assert_int_equal(now, 0);
	assert_int_equal(t, 0);
	assert_int_equal(oci_timestamp_parse("@1714564800", &t, &now, &err), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(oci_timestamp_parse("2024-05-01T12:00:00Z", &t, &now, &err), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(oci_timestamp_parse("@253402300799", &t, &now, &err), 0);
	assert_int_equal(t, OCI_TIMESTAMP_MAX);

	assert_int_equal(oci_timestamp_parse("@253402300800", &t, &now, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_OPTION);
	assert_non_null(strstr(err.message, "'@253402300800'"));
	ocibuild_error_clear(&err);
	assert_int_equal(oci_timestamp_parse("@-1", &t, &now, &err), -1);
	ocibuild_error_clear(&err);
	assert_int_equal(oci_timestamp_parse("@12x", &t, &now, &err), -1);
	ocibuild_error_clear(&err);
	assert_int_equal(oci_timestamp_parse("@", &t, &now, &err), -1);
	ocibuild_error_clear(&err);
	assert_int_equal(oci_timestamp_parse("NOW", &t, &now, &err), -1);
	assert_non_null(strstr(err.message, "--created"));
	ocibuild_error_clear(&err);
}

static void test_format(void **state)
{
	ocibuild_error err = { 0 };
	char s[32];

	(void)state;
	assert_int_equal(oci_timestamp_format(0, s, sizeof(s), &err), 0);
	assert_string_equal(s, "1970-01-01T00:00:00Z");
	assert_int_equal(oci_timestamp_format(1709164800, s, sizeof(s), &err), 0);
	assert_string_equal(s, "2024-02-29T00:00:00Z");
	assert_int_equal(oci_timestamp_format(OCI_TIMESTAMP_MAX, s, sizeof(s), &err), 0);
	assert_string_equal(s, "9999-12-31T23:59:59Z");
	/* a buffer too small is an error, never a cut string */
	assert_int_equal(oci_timestamp_format(0, s, 10, &err), -1);
	ocibuild_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_valid),
		cmocka_unit_test(test_rfc3339_invalid),
		cmocka_unit_test(test_parse_created),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
