/* Unit tests for the bounded byte buffer (src/lib/util/buf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_init_empty(void **state)
{
	oci_buf b = OCI_BUF_INIT(100);
	oci_buf c;

	(void)state;
	/* data is never NULL: "" before the first append */
	assert_ptr_equal(b.data, oci_buf_empty);
	assert_string_equal(b.data, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 100);
	memset(&c, 0xaa, sizeof(c));
	oci_buf_init(&c, 42);
	assert_ptr_equal(c.data, oci_buf_empty);
	assert_int_equal(c.len, 0);
	assert_int_equal(c.alloc, 0);
	assert_int_equal(c.max, 42);
}

static void test_append(void **state)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	ocibuild_error err = { 0 };
	static const char bin[] = { 'a', '\0', 'b' };

	(void)state;
	assert_int_equal(oci_buf_append(&b, "hello", 5, &err), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	assert_int_equal(oci_buf_append(&b, ", world", 7, &err), 0);
	assert_int_equal(b.len, 12);
	assert_string_equal(b.data, "hello, world");
	/* embedded NUL bytes are kept, and the data stays NUL-terminated */
	assert_int_equal(oci_buf_append(&b, bin, sizeof(bin), &err), 0);
	assert_int_equal(b.len, 15);
	assert_memory_equal(b.data + 12, bin, sizeof(bin));
	assert_int_equal(b.data[15], '\0');
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	assert_null(err.message);
	oci_buf_release(&b);
	assert_ptr_equal(b.data, oci_buf_empty);
	assert_int_equal(b.len, 0);
	/* released: usable again, and a second release frees nothing */
	assert_int_equal(oci_buf_puts(&b, "again", &err), 0);
	assert_string_equal(b.data, "again");
	oci_buf_release(&b);
	oci_buf_release(&b);
	assert_ptr_equal(b.data, oci_buf_empty);
}

static void test_append_zero_makes_empty_string(void **state)
{
	oci_buf b = OCI_BUF_INIT(16);

	(void)state;
	assert_int_equal(oci_buf_append(&b, "", 0, NULL), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	oci_buf_release(&b);
}

static void test_append_grows(void **state)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	char chunk[97];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('A' + i % 26);
	for (i = 0; i < 1000; i++)
		assert_int_equal(oci_buf_append(&b, chunk, sizeof(chunk), NULL), 0);
	assert_int_equal(b.len, 1000 * sizeof(chunk));
	assert_true(b.alloc > b.len);
	for (i = 0; i < 1000; i++)
		for (j = 0; j < sizeof(chunk); j++)
			assert_int_equal(b.data[i * sizeof(chunk) + j], chunk[j]);
	assert_int_equal(b.data[b.len], '\0');
	oci_buf_release(&b);
}

static void test_puts_printf(void **state)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	ocibuild_error err = { 0 };
	char big[1000];

	(void)state;
	assert_int_equal(oci_buf_puts(&b, "x=", &err), 0);
	assert_int_equal(oci_buf_printf(&b, &err, "%d/%s/%05.1f", 42, "str", 2.5), 0);
	assert_string_equal(b.data, "x=42/str/002.5");
	assert_int_equal(b.len, strlen("x=42/str/002.5"));
	/* longer than the first allocation */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(oci_buf_printf(&b, &err, "[%s]", big), 0);
	assert_int_equal(b.len, 14 + 2 + 999);
	assert_int_equal(b.data[14], '[');
	assert_int_equal(b.data[15 + 999], ']');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(oci_buf_printf(&b, &err, "%s", ""), 0);
	assert_int_equal(b.len, 14 + 2 + 999);
	oci_buf_release(&b);
}

static void test_detach(void **state)
{
	oci_buf b = OCI_BUF_INIT(64);
	size_t len = 99;
	char *p;

	(void)state;
	assert_int_equal(oci_buf_puts(&b, "abc", NULL), 0);
	p = oci_buf_detach(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "abc");
	assert_int_equal(len, 3);
	assert_ptr_equal(b.data, oci_buf_empty);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	assert_int_equal(b.max, 64);
	free(p);

	/* the buffer can be used again after a detach */
	assert_int_equal(oci_buf_puts(&b, "de", NULL), 0);
	p = oci_buf_detach(&b, NULL);
	assert_string_equal(p, "de");
	free(p);

	/* detaching a buffer that never held data gives "" */
	len = 99;
	p = oci_buf_detach(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
}

static void test_reset(void **state)
{
	oci_buf b = OCI_BUF_INIT(64);
	size_t alloc;

	(void)state;
	oci_buf_reset(&b); /* no data yet: must not write to the shared "" */
	assert_ptr_equal(b.data, oci_buf_empty);
	assert_int_equal(oci_buf_puts(&b, "something", NULL), 0);
	alloc = b.alloc;
	oci_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.alloc, alloc);
	assert_int_equal(oci_buf_puts(&b, "new", NULL), 0);
	assert_string_equal(b.data, "new");
	oci_buf_release(&b);
	oci_buf_release(&b); /* twice is harmless */
}

static void test_cap_append(void **state)
{
	oci_buf b = OCI_BUF_INIT(10);
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_buf_append(&b, "0123456789", 10, &err), 0);
	assert_int_equal(b.len, 10);
	/* one byte over the limit */
	assert_int_equal(oci_buf_append(&b, "x", 1, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "10"));
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	ocibuild_error_clear(&err);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);
	assert_null(err.message);
	/* an empty append at the limit still works */
	assert_int_equal(oci_buf_append(&b, "", 0, &err), 0);
	assert_int_equal(b.len, 10);
	oci_buf_release(&b);
}

static void test_cap_partial(void **state)
{
	oci_buf b = OCI_BUF_INIT(10);
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_buf_puts(&b, "abcdef", &err), 0);
	/* 6 + 5 > 10: nothing of the failed append may be kept */
	assert_int_equal(oci_buf_puts(&b, "ghijk", &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	ocibuild_error_clear(&err);
	assert_int_equal(oci_buf_printf(&b, &err, "%s", "12345"), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	ocibuild_error_clear(&err);
	/* what still fits does */
	assert_int_equal(oci_buf_printf(&b, &err, "%d", 1234), 0);
	assert_string_equal(b.data, "abcdef1234");
	assert_int_equal(oci_buf_puts(&b, "!", NULL), -1);
	assert_string_equal(b.data, "abcdef1234");
	oci_buf_release(&b);
}

static void test_cap_huge_len(void **state)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_buf_puts(&b, "keep", &err), 0);
	/* a length that would overflow len + extra must fail, not wrap */
	assert_int_equal(oci_buf_append(&b, "x", SIZE_MAX, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	ocibuild_error_clear(&err);
	assert_int_equal(oci_buf_append(&b, "x", SIZE_MAX - 2, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_string_equal(b.data, "keep");
	assert_int_equal(b.len, 4);
	ocibuild_error_clear(&err);
	oci_buf_release(&b);
}

static void test_cap_zero(void **state)
{
	oci_buf b = OCI_BUF_INIT(0);
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_buf_append(&b, "a", 1, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_int_equal(b.len, 0);
	ocibuild_error_clear(&err);
	oci_buf_release(&b);
}

static void test_error_replaced(void **state)
{
	oci_buf b = OCI_BUF_INIT(2);
	ocibuild_error err = { 0 };

	(void)state;
	/* a second failure replaces the first message without leaking */
	assert_int_equal(oci_buf_puts(&b, "abc", &err), -1);
	assert_non_null(err.message);
	assert_int_equal(oci_buf_puts(&b, "abcd", &err), -1);
	assert_non_null(err.message);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	ocibuild_error_clear(&err);
	ocibuild_error_clear(&err);
	ocibuild_error_clear(NULL);
	oci_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_append_zero_makes_empty_string),
		cmocka_unit_test(test_append_grows),
		cmocka_unit_test(test_puts_printf),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_cap_append),
		cmocka_unit_test(test_cap_partial),
		cmocka_unit_test(test_cap_huge_len),
		cmocka_unit_test(test_cap_zero),
		cmocka_unit_test(test_error_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
