/* Linked into every unit test binary: OCIBUILD_TEST_FILTER=GLOB runs only
 * the cases whose name matches (cmocka has the filter, not the variable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

__attribute__((constructor)) static void set_filter(void)
{
	const char *f = getenv("OCIBUILD_TEST_FILTER");

	if (f && *f)
		cmocka_set_test_filter(f);
}
