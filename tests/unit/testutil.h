/* Helpers shared by the unit tests that work on files. Include after
 * <cmocka.h> and after defining TMP_PREFIX ("/tmp/ocibuild-test-NAME-"). */
#ifndef OCI_TESTUTIL_H
#define OCI_TESTUTIL_H
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a/b" (malloc) */
static inline char *pjoin(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static inline char *make_tmpdir(void)
{
	char *dir = strdup(TMP_PREFIX "XXXXXX");

	assert_non_null(dir);
	if (!mkdtemp(dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	return dir;
}

/* rm -r a directory from make_tmpdir(), and free its name */
static inline void remove_tree(char *dir)
{
	char cmd[PATH_MAX + 32];

	/* only ever a mkdtemp() directory of ours */
	assert_int_equal(strncmp(dir, TMP_PREFIX, strlen(TMP_PREFIX)), 0);
	assert_null(strchr(dir, '\''));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}
#endif
