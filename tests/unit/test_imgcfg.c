/* Unit tests for the image config a build writes (src/lib/imgcfg.c): the
 * option values checked and normalised, and the config made from a base,
 * the options, a release and the layers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "imgcfg.h"
#include "mem.h"

#define STRV(...)                                                                  \
	((ocibuild_strv){ (const char *const[]){ __VA_ARGS__ },                      \
			  sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *) })

static const oci_platform amd64 = { .os = (char *)"linux", .architecture = (char *)"amd64" };

static void test_port(void **state)
{
	static const char *const bad[] = { "", "0", "65536", "80/icmp", "80x", "/tcp", "-1",
					   "80/", NULL };
	oci_buf b = OCI_BUF_INIT(256);
	ocibuild_error err = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(oci_imgcfg_port("8080", &b, &err), 0);
	assert_string_equal(b.data, "8080/tcp");
	assert_int_equal(oci_imgcfg_port("53/udp", &b, &err), 0);
	assert_string_equal(b.data, "53/udp");
	assert_int_equal(oci_imgcfg_port("65535/sctp", &b, &err), 0);
	assert_string_equal(b.data, "65535/sctp");
	for (i = 0; bad[i]; i++) {
		if (oci_imgcfg_port(bad[i], &b, &err) != -1)
			fail_msg("accepted port '%s'", bad[i]);
		assert_int_equal(err.kind, OCIBUILD_ERR_OPTION);
		ocibuild_error_clear(&err);
	}
	oci_buf_release(&b);
}

static void test_workdir(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = { { "/app", "/app" },       { "/opt//app/./", "/opt/app" },
		   { "/", "/" },             { "//", "/" },
		   { "/./.", "/" },          { "/a/.b/..c", "/a/.b/..c" } };
	ocibuild_error err = { 0 };
	char *out = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(oci_imgcfg_workdir(ok[i].in, &out, &err), 0);
		assert_string_equal(out, ok[i].out);
		oci_free(out);
	}
	assert_int_equal(oci_imgcfg_workdir("app", &out, &err), -1);
	assert_non_null(strstr(err.message, "absolute"));
	ocibuild_error_clear(&err);
	assert_int_equal(oci_imgcfg_workdir("/a/../b", &out, &err), -1);
	assert_non_null(strstr(err.message, "'..'"));
	ocibuild_error_clear(&err);
}

static void test_kv(void **state)
{
	ocibuild_error err = { 0 };
	oci_map m = { 0 };

	(void)state;
	assert_int_equal(oci_imgcfg_kv_check("A=1", "--env", &err), 0);
	assert_int_equal(oci_imgcfg_kv_check("A=", "--env", &err), 0);
	assert_int_equal(oci_imgcfg_kv_check("=1", "--label", &err), -1);
	assert_non_null(strstr(err.message, "--label"));
	ocibuild_error_clear(&err);
	assert_int_equal(oci_imgcfg_kv_check("A", "--env", &err), -1);
	ocibuild_error_clear(&err);
	assert_int_equal(oci_imgcfg_set_kv(&m, &STRV("a=1", "b=x=y", "a=2"), &err), 0);
	assert_string_equal(oci_map_get(&m, "a"), "2");
	assert_string_equal(oci_map_get(&m, "b"), "x=y");
	oci_map_release(&m);
}

static int env_index(const oci_image_config *c, const char *kv)
{
	size_t i;

	for (i = 0; i < c->env.n; i++)
		if (!strcmp(c->env.v[i], kv))
			return (int)i;
	return -1;
}

/* scratch, a plain tree: defaults only */
static void test_make_scratch(void **state)
{
	oci_imgcfg_layer l = { "sha256:1111", "files", 1 };
	oci_strlist ports = { 0 };
	oci_imgcfg_in in;
	oci_image_config c;
	ocibuild_error err = { 0 };

	(void)state;
	assert_int_equal(oci_strlist_push(&ports, "80/tcp", &err), 0);
	assert_int_equal(oci_strlist_push(&ports, "80/tcp", &err), 0);
	memset(&in, 0, sizeof(in));
	in.platform = &amd64;
	in.created = "2024-05-01T12:00:00Z";
	in.workdir = "/srv";
	in.env = STRV("A=1");
	in.ports = &ports;
	in.layers = &l;
	in.nlayers = 1;
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_string_equal(c.user, "65534");
	assert_string_equal(c.created, "2024-05-01T12:00:00Z");
	assert_string_equal(c.platform.architecture, "amd64");
	assert_string_equal(c.working_dir, "/srv");
	assert_int_equal(c.env.n, 2);
	assert_int_equal(env_index(&c, "A=1"), 0);
	assert_int_equal(strncmp(c.env.v[1], "PATH=", 5), 0);
	assert_false(c.has_entrypoint);
	assert_false(c.has_cmd);
	assert_int_equal(c.exposed_ports.n, 1);
	assert_int_equal(c.diff_ids.n, 1);
	assert_string_equal(c.diff_ids.v[0], "sha256:1111");
	assert_int_equal(c.nhistory, 1);
	assert_string_equal(c.history[0].created_by, "ocibuild build: files layer in /srv");
	oci_config_release(&c);
	oci_strlist_release(&ports);
}

/* on a base: its Env kept unless replaced, its PATH kept, its Cmd dropped
 * with a new Entrypoint, a Cmd given kept after it */
static void test_make_on_base(void **state)
{
	static const char base[] =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000\","
		"\"Env\":[\"PATH=/base/bin\",\"A=base\",\"B=base\"],\"Cmd\":[\"sh\"],"
		"\"Labels\":{\"l\":\"base\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:0000\"]},"
		"\"history\":[{\"created_by\":\"base\"}]}";
	oci_imgcfg_layer l[2] = { { "sha256:1111", "runtime", 0 }, { "sha256:2222", "app", 1 } };
	oci_imgcfg_in in;
	oci_image_config c;
	ocibuild_error err = { 0 };

	(void)state;
	memset(&in, 0, sizeof(in));
	in.base_config = base;
	in.base_config_len = strlen(base);
	in.platform = &amd64;
	in.created = "2024-05-01T12:00:00Z";
	in.workdir = "/app";
	in.env = STRV("A=mine");
	in.labels = STRV("l=mine", "m=1");
	in.entrypoint = STRV("/bin/tini", "--");
	in.entrypoint_set = 1;
	in.layers = l;
	in.nlayers = 2;
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_string_equal(c.user, "1000");
	assert_int_equal(c.env.n, 3);
	assert_int_equal(env_index(&c, "PATH=/base/bin"), 0);
	assert_int_equal(env_index(&c, "A=mine"), 1);
	assert_int_equal(env_index(&c, "B=base"), 2);
	assert_true(c.has_entrypoint);
	assert_int_equal(c.entrypoint.n, 2);
	assert_false(c.has_cmd);
	assert_string_equal(oci_map_get(&c.labels, "l"), "mine");
	assert_string_equal(oci_map_get(&c.labels, "m"), "1");
	assert_int_equal(c.diff_ids.n, 3);
	assert_string_equal(c.diff_ids.v[2], "sha256:2222");
	assert_int_equal(c.nhistory, 3);
	assert_string_equal(c.history[1].created_by, "ocibuild build: runtime layer in /");
	assert_string_equal(c.history[2].created_by, "ocibuild build: app layer in /app");
	oci_config_release(&c);

	/* --entrypoint X -c Y keeps both; --uid wins over the base's */
	in.cmd = STRV("serve");
	in.cmd_set = 1;
	in.user = "0";
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_true(c.has_cmd);
	assert_string_equal(c.cmd.v[0], "serve");
	assert_string_equal(c.user, "0");
	oci_config_release(&c);
}

/* a release: its start script and command, its environment */
static void test_make_release(void **state)
{
	oci_release rel;
	oci_imgcfg_in in;
	oci_image_config c;
	ocibuild_error err = { 0 };

	(void)state;
	memset(&rel, 0, sizeof(rel));
	rel.name = (char *)"shop";
	rel.kind = OCI_REL_MIX;
	memset(&in, 0, sizeof(in));
	in.platform = &amd64;
	in.created = "2024-05-01T12:00:00Z";
	in.workdir = "/app";
	in.env = STRV("HOME=/home/shop");
	in.release = &rel;
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_string_equal(c.entrypoint.v[0], "/app/bin/shop");
	assert_string_equal(c.cmd.v[0], "start");
	assert_true(env_index(&c, "HOME=/home/shop") >= 0); /* set by the user: kept */
	assert_int_equal(env_index(&c, "HOME=/tmp"), -1);
	assert_true(env_index(&c, "RELEASE_TMP=/tmp") >= 0);
	assert_int_equal(env_index(&c, "RELX_OUT_FILE_PATH=/tmp"), -1);
	assert_true(env_index(&c, "LANG=C.UTF-8") >= 0);
	assert_true(env_index(&c, "ERL_CRASH_DUMP=/tmp/erl_crash.dump") >= 0);
	oci_config_release(&c);

	/* relx in / with a -c: the script stays, the command is replaced */
	rel.kind = OCI_REL_RELX;
	in.workdir = "/";
	in.cmd = STRV("console");
	in.cmd_set = 1;
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_string_equal(c.entrypoint.v[0], "/bin/shop");
	assert_int_equal(c.cmd.n, 1);
	assert_string_equal(c.cmd.v[0], "console");
	assert_true(env_index(&c, "RELX_OUT_FILE_PATH=/tmp") >= 0);
	oci_config_release(&c);

	/* an --entrypoint of the user's: no start script */
	in.entrypoint = STRV("/bin/sh");
	in.entrypoint_set = 1;
	in.cmd_set = 0;
	assert_int_equal(oci_imgcfg_make(&in, &c, &err), 0);
	assert_string_equal(c.entrypoint.v[0], "/bin/sh");
	assert_false(c.has_cmd);
	oci_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_workdir),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_make_scratch),
		cmocka_unit_test(test_make_on_base),
		cmocka_unit_test(test_make_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
