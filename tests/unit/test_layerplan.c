/* Unit tests for layer planning (src/lib/layerplan.c): a tree is one
 * layer, a release one layer per group with files, each layer with the
 * directories above its entries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#define TMP_PREFIX "/tmp/ocibuild-test-layerplan-"
#include "testutil.h"

#include "layerplan.h"
#include "mem.h"

static void mkfile(const char *root, const char *rel)
{
	char *p = pjoin(root, rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(rel, f);
	fclose(f);
	free(p);
}

static void mkdir_in(const char *root, const char *rel)
{
	char *p = pjoin(root, rel);

	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
}

/* A release: ERTS, an OTP app, the project's app, bin/ and a directory
 * with nothing in it. */
static char *make_release(void)
{
	char *root = make_tmpdir();
	static const char *const dirs[] = { "bin", "empty", "erts-14.0", "erts-14.0/bin", "lib",
					    "lib/kernel-9.0", "lib/kernel-9.0/ebin",
					    "lib/myapp-1.0", "lib/myapp-1.0/ebin", NULL };
	size_t i;

	for (i = 0; dirs[i]; i++)
		mkdir_in(root, dirs[i]);
	mkfile(root, "bin/myapp");
	mkfile(root, "erts-14.0/bin/beam.smp");
	mkfile(root, "lib/kernel-9.0/ebin/kernel.app");
	mkfile(root, "lib/myapp-1.0/ebin/myapp.app");
	return root;
}

/* the relative paths of p's entries, space-separated, into buf */
static const char *paths(const oci_lplan *p, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < p->n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", p->v[i]->rel);
	return buf;
}

static void test_tree_is_one_layer(void **state)
{
	char *root = make_release(), buf[1024];
	ocibuild_error err = { 0 };
	oci_walk w = { 0 };
	oci_lplans s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(oci_walk_dir(root, &w, &err), 0);
	assert_int_equal(oci_lplan_tree(&s, &w, NULL, root, "app", 0755, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].what, "files");
	assert_string_equal(s.v[0].prefix, "app");
	assert_int_equal(s.v[0].n, w.n);
	assert_string_equal(paths(&s.v[0], buf, sizeof(buf)),
			    "bin bin/myapp empty erts-14.0 erts-14.0/bin erts-14.0/bin/beam.smp lib lib/kernel-9.0 lib/kernel-9.0/ebin lib/kernel-9.0/ebin/kernel.app lib/myapp-1.0 lib/myapp-1.0/ebin lib/myapp-1.0/ebin/myapp.app");
	oci_lplans_release(&s);
	oci_walk_release(&w);
	remove_tree(root);
}

static void test_release_groups(void **state)
{
	char *root = make_release(), buf[1024];
	ocibuild_error err = { 0 };
	oci_release rel;
	oci_walk w = { 0 };
	oci_lplans s;

	(void)state;
	memset(&rel, 0, sizeof(rel));
	rel.has_erts = 1;
	memset(&s, 0, sizeof(s));
	assert_int_equal(oci_walk_dir(root, &w, &err), 0);
	assert_int_equal(oci_lplan_tree(&s, &w, &rel, root, "app", 0755, &err), 0);
	/* with ERTS bundled OTP apps go with it; no lock: no deps layer */
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].what, "erts");
	assert_string_equal(paths(&s.v[0], buf, sizeof(buf)),
			    "erts-14.0 erts-14.0/bin erts-14.0/bin/beam.smp lib lib/kernel-9.0 lib/kernel-9.0/ebin lib/kernel-9.0/ebin/kernel.app");
	assert_string_equal(s.v[1].what, "app");
	assert_string_equal(paths(&s.v[1], buf, sizeof(buf)),
			    "bin bin/myapp empty lib lib/myapp-1.0 lib/myapp-1.0/ebin lib/myapp-1.0/ebin/myapp.app");
	oci_lplans_release(&s);

	/* without ERTS the OTP apps are dependencies */
	rel.has_erts = 0;
	assert_int_equal(oci_lplan_tree(&s, &w, &rel, root, "app", 0755, &err), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.v[0].what, "erts");
	assert_string_equal(paths(&s.v[0], buf, sizeof(buf)),
			    "erts-14.0 erts-14.0/bin erts-14.0/bin/beam.smp");
	assert_string_equal(s.v[1].what, "deps");
	assert_string_equal(paths(&s.v[1], buf, sizeof(buf)),
			    "lib lib/kernel-9.0 lib/kernel-9.0/ebin lib/kernel-9.0/ebin/kernel.app");
	assert_string_equal(s.v[2].what, "app");
	oci_lplans_release(&s);
	oci_walk_release(&w);
	remove_tree(root);
}

static void test_too_many_layers(void **state)
{
	ocibuild_error err = { 0 };
	oci_walk w = { 0 };
	oci_lplans s;
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (i = 0; i < OCI_LPLAN_MAX; i++)
		assert_non_null(oci_lplan_add(&s, "files", &w, "/", "", 0755, &err));
	assert_null(oci_lplan_add(&s, "files", &w, "/", "", 0755, &err));
	assert_int_equal(err.kind, OCIBUILD_ERR_INTERNAL);
	assert_int_equal(s.n, OCI_LPLAN_MAX);
	ocibuild_error_clear(&err);
	oci_lplans_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_is_one_layer),
		cmocka_unit_test(test_release_groups),
		cmocka_unit_test(test_too_many_layers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
