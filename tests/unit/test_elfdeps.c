/* Unit tests for ELF reading and the shared library closure
 * (src/lib/elfdeps.c), against the host's binaries and small programs
 * compiled here with cc. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "elfdeps.h"

#define TMP_PREFIX "/tmp/ocibuild-test-elfdeps-"
#include "testutil.h"
#define LS "/bin/ls"
#define BUSYBOX "/bin/busybox"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#else
#define HOST_ARCH NULL
#endif

/* ---- helpers ---- */

static int contains(const oci_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The entry of l whose last component is name, or NULL. */
static const char *with_base(const oci_strlist *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(base_name(l->v[i]), name))
			return l->v[i];
	return NULL;
}

/* 1 if an entry of l is the same file as path (symbolic links and ".."
 * resolved). */
static int contains_file(const oci_strlist *l, const char *path)
{
	char want[PATH_MAX], got[PATH_MAX];
	size_t i;

	if (!realpath(path, want))
		fail_msg("realpath %s: %s", path, strerror(errno));
	for (i = 0; i < l->n; i++)
		if (realpath(l->v[i], got) && !strcmp(got, want))
			return 1;
	return 0;
}

static void put(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		fail_msg("fopen %s: %s", path, strerror(errno));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int have_cc(void)
{
	return system("cc --version >/dev/null 2>&1") == 0;
}

/* Run a shell command in dir; fails the test when it fails. */
static void sh(const char *dir, const char *cmd)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "cd '%s' && %s", dir, cmd);
	if (system(buf) != 0)
		fail_msg("failed: %s", buf);
}

/* 1 if the 64-bit little-endian ELF file has a PT_INTERP, 0 if not, -1 if
 * it can not tell: read here with <elf.h>, not with libelf. */
static int has_interp(const char *path)
{
	Elf64_Ehdr eh;
	FILE *f = fopen(path, "rb");
	int found = -1, i;

	if (!f)
		return -1;
	if (fread(&eh, sizeof(eh), 1, f) == 1 && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_ident[EI_DATA] == ELFDATA2LSB &&
	    eh.e_phentsize == sizeof(Elf64_Phdr)) {
		found = 0;
		for (i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;

			if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * sizeof(ph)), SEEK_SET) != 0 ||
			    fread(&ph, sizeof(ph), 1, f) != 1) {
				found = -1;
				break;
			}
			if (ph.p_type == PT_INTERP)
				found = 1;
		}
	}
	fclose(f);
	return found;
}

/* ---- oci_elf_arch ---- */

static void test_arch(void **state)
{
	(void)state;
	assert_string_equal(oci_elf_arch(EM_X86_64, ELFCLASS64), "amd64");
	assert_string_equal(oci_elf_arch(EM_AARCH64, ELFCLASS64), "arm64");
	assert_string_equal(oci_elf_arch(EM_ARM, ELFCLASS32), "arm");
	assert_string_equal(oci_elf_arch(EM_386, ELFCLASS32), "386");
	assert_string_equal(oci_elf_arch(EM_S390, ELFCLASS64), "s390x");
	assert_string_equal(oci_elf_arch(EM_RISCV, ELFCLASS64), "riscv64");
	assert_null(oci_elf_arch(EM_NONE, ELFCLASS64));
	assert_null(oci_elf_arch(EM_SPARC, ELFCLASS32));
}

/* ---- oci_elf_read ---- */

static void test_read_ls(void **state)
{
	ocibuild_error err = { 0 };
	oci_elf_info info;

	(void)state;
	if (access(LS, R_OK) != 0)
		skip();
	if (oci_elf_read(LS, &info, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(info.is_elf, 1);
	assert_int_equal(info.elfclass, sizeof(void *) == 8 ? 2 : 1);
#if defined(__x86_64__)
	assert_int_equal(info.machine, EM_X86_64);
#endif
	if (HOST_ARCH)
		assert_string_equal(oci_elf_arch(info.machine, info.elfclass), HOST_ARCH);
	assert_non_null(info.interp);
	assert_int_equal(info.interp[0], '/');
	assert_non_null(strstr(info.interp, "ld-"));
	assert_int_equal(has_interp(LS), 1);
	if (!contains(&info.needed, "libc.so.6"))
		fail_msg("libc.so.6 is not among the %zu DT_NEEDED of %s", info.needed.n, LS);
	assert_int_equal(oci_elf_is_elf(LS), 1);
	oci_elf_release(&info);
	assert_null(info.interp);
	assert_int_equal(info.needed.n, 0);
}

static void test_read_not_elf(void **state)
{
	char *dir = make_tmpdir(), *text = pjoin(dir, "script.sh"), *tiny = pjoin(dir, "tiny");
	char *empty = pjoin(dir, "empty");
	ocibuild_error err = { 0 };
	oci_elf_info info;

	(void)state;
	put(text, "#!/bin/sh\necho hello\n", 21);
	put(tiny, "\x7f" "EL", 3);
	put(empty, "", 0);

	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(oci_elf_read(text, &info, &err), 0);
	assert_int_equal(info.is_elf, 0);
	assert_null(info.interp);
	assert_int_equal(info.needed.n, 0);
	assert_int_equal(info.runpath.n, 0);
	oci_elf_release(&info);
	assert_int_equal(oci_elf_is_elf(text), 0);

	assert_int_equal(oci_elf_read(tiny, &info, &err), 0);
	assert_int_equal(info.is_elf, 0);
	oci_elf_release(&info);
	assert_int_equal(oci_elf_read(empty, &info, &err), 0);
	assert_int_equal(info.is_elf, 0);
	oci_elf_release(&info);
	assert_int_equal(oci_elf_is_elf(empty), 0);
	assert_int_equal(err.kind, OCIBUILD_ERR_NONE);

	free(text);
	free(tiny);
	free(empty);
	remove_tree(dir);
}

/* The magic followed by garbage: an error naming the file. */
static void test_read_damaged(void **state)
{
	char *dir = make_tmpdir(), *bad = pjoin(dir, "damaged");
	static const char junk[] = "\x7f" "ELF\x09\x09\x09 this is not an ELF header at all....";
	ocibuild_error err = { 0 };
	oci_elf_info info;

	(void)state;
	put(bad, junk, sizeof(junk) - 1);
	assert_int_equal(oci_elf_is_elf(bad), 1);
	assert_int_equal(oci_elf_read(bad, &info, &err), -1);
	assert_non_null(err.message);
	if (!strstr(err.message, bad))
		fail_msg("%s", err.message);
	assert_null(info.interp);
	ocibuild_error_clear(&err);
	free(bad);
	remove_tree(dir);
}

static void test_read_static_busybox(void **state)
{
	ocibuild_error err = { 0 };
	oci_elf_info info;

	(void)state;
	if (access(BUSYBOX, R_OK) != 0 || has_interp(BUSYBOX) != 0)
		skip(); /* missing, or not a static build */
	if (oci_elf_read(BUSYBOX, &info, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(info.is_elf, 1);
	assert_null(info.interp);
	assert_int_equal(info.needed.n, 0);
	if (HOST_ARCH)
		assert_string_equal(oci_elf_arch(info.machine, info.elfclass), HOST_ARCH);
	oci_elf_release(&info);
}

/* ---- oci_elf_closure ---- */

static void test_closure_ls(void **state)
{
	ocibuild_error err = { 0 };
	oci_strlist bins = { 0 }, files = { 0 };
	oci_elf_info info;
	const char *libc;
	size_t i, j;

	(void)state;
	if (access(LS, R_OK) != 0)
		skip();
	assert_int_equal(oci_elf_read(LS, &info, &err), 0);
	assert_int_equal(oci_strlist_push(&bins, LS, &err), 0);
	if (oci_elf_closure(&bins, &files, &err) < 0)
		fail_msg("%s", err.message);
	/* the interpreter, as the binary names it */
	if (!contains(&files, info.interp))
		fail_msg("the interpreter %s is not in the closure", info.interp);
	libc = with_base(&files, "libc.so.6");
	if (!libc)
		fail_msg("no libc.so.6 in the closure of %s", LS);
	assert_int_equal(libc[0], '/');
	assert_int_equal(oci_elf_is_elf(libc), 1);
	/* the binaries themselves are not part of it */
	assert_false(contains(&files, LS));
	for (i = 0; i < files.n; i++) {
		oci_elf_info li;

		/* absolute paths of readable files, each once */
		assert_int_equal(files.v[i][0], '/');
		if (access(files.v[i], R_OK) != 0)
			fail_msg("%s is not readable", files.v[i]);
		for (j = i + 1; j < files.n; j++)
			assert_string_not_equal(files.v[i], files.v[j]);
		/* closed: what each library needs is there too */
		assert_int_equal(oci_elf_read(files.v[i], &li, &err), 0);
		assert_int_equal(li.is_elf, 1);
		assert_int_equal(li.machine, info.machine);
		for (j = 0; j < li.needed.n; j++)
			if (!with_base(&files, li.needed.v[j]))
				fail_msg("%s needs %s, not in the closure", files.v[i], li.needed.v[j]);
		oci_elf_release(&li);
	}
	for (i = 0; i < info.needed.n; i++)
		if (!with_base(&files, info.needed.v[i]))
			fail_msg("%s needs %s, not in the closure", LS, info.needed.v[i]);
	oci_elf_release(&info);
	oci_strlist_release(&bins);
	oci_strlist_release(&files);
}

/* Files that are not ELF (scripts) need nothing. */
static void test_closure_not_elf(void **state)
{
	char *dir = make_tmpdir(), *script = pjoin(dir, "start.sh");
	ocibuild_error err = { 0 };
	oci_strlist bins = { 0 }, files = { 0 };

	(void)state;
	put(script, "#!/bin/sh\n", 10);
	assert_int_equal(oci_strlist_push(&bins, script, &err), 0);
	assert_int_equal(oci_elf_closure(&bins, &files, &err), 0);
	assert_int_equal(files.n, 0);
	oci_strlist_release(&bins);
	free(script);
	remove_tree(dir);
}

/* A program linked against a library that is then removed. */
static void test_closure_missing_lib(void **state)
{
	char *dir, *prog;
	ocibuild_error err = { 0 };
	oci_strlist bins = { 0 }, files = { 0 };
	oci_elf_info info;

	(void)state;
	if (!have_cc())
		skip();
	dir = make_tmpdir();
	sh(dir, "printf 'int missingxyz(void) { return 42; }\\n' > stub.c && "
		"printf 'int missingxyz(void);\\nint main(void) { return missingxyz(); }\\n' > main.c && "
		"cc -shared -fPIC -o libmissingxyz.so stub.c && "
		"cc -o prog main.c -Wl,--no-as-needed -L. -lmissingxyz && "
		"rm libmissingxyz.so");
	prog = pjoin(dir, "prog");
	assert_int_equal(oci_elf_read(prog, &info, &err), 0);
	assert_true(contains(&info.needed, "libmissingxyz.so"));
	oci_elf_release(&info);

	assert_int_equal(oci_strlist_push(&bins, prog, &err), 0);
	assert_int_equal(oci_elf_closure(&bins, &files, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(err.message);
	if (!strstr(err.message, "libmissingxyz.so") || !strstr(err.message, prog))
		fail_msg("%s", err.message);
	ocibuild_error_clear(&err);
	oci_strlist_release(&bins);
	oci_strlist_release(&files);
	free(prog);
	remove_tree(dir);
}

/* $ORIGIN in a RUNPATH is the directory of the binary, for the libraries
 * found through it too. */
static void test_closure_origin(void **state)
{
	char *dir, *prog, *liba, *libb;
	ocibuild_error err = { 0 };
	oci_strlist bins = { 0 }, files = { 0 };
	oci_elf_info info;

	(void)state;
	if (!have_cc())
		skip();
	dir = make_tmpdir();
	sh(dir, "mkdir -p bin lib && "
		"printf 'int bfun(void) { return 1; }\\n' > b.c && "
		"printf 'int bfun(void);\\nint afun(void) { return bfun(); }\\n' > a.c && "
		"printf 'int afun(void);\\nint main(void) { return afun(); }\\n' > main.c && "
		"cc -shared -fPIC -o lib/libocitb.so b.c && "
		"cc -shared -fPIC -o lib/libocita.so a.c -Wl,--no-as-needed -Llib -locitb "
		"'-Wl,-rpath,$ORIGIN' && "
		"cc -o bin/prog main.c -Wl,--no-as-needed -Llib -locita '-Wl,-rpath,$ORIGIN/../lib'");
	prog = pjoin(dir, "bin/prog");
	liba = pjoin(dir, "lib/libocita.so");
	libb = pjoin(dir, "lib/libocitb.so");

	assert_int_equal(oci_elf_read(prog, &info, &err), 0);
	assert_true(contains(&info.needed, "libocita.so"));
	if (!contains(&info.runpath, "$ORIGIN/../lib"))
		fail_msg("runpath: %zu entries, %s", info.runpath.n,
			 info.runpath.n ? info.runpath.v[0] : "");
	oci_elf_release(&info);

	assert_int_equal(oci_strlist_push(&bins, prog, &err), 0);
	if (oci_elf_closure(&bins, &files, &err) < 0)
		fail_msg("%s", err.message);
	if (!contains_file(&files, liba))
		fail_msg("%s not in the closure", liba);
	if (!contains_file(&files, libb))
		fail_msg("%s not in the closure", libb);
	assert_non_null(with_base(&files, "libc.so.6"));
	oci_strlist_release(&bins);
	oci_strlist_release(&files);
	free(prog);
	free(liba);
	free(libb);
	remove_tree(dir);
}

/* An executable's DT_RPATH (unlike DT_RUNPATH) is also searched for the
 * libraries its libraries need: the program below runs. */
static void test_closure_rpath_inherited(void **state)
{
	char *dir, *prog, *liba, *libb, *msg = NULL;
	ocibuild_error err = { 0 };
	oci_strlist bins = { 0 }, files = { 0 };
	int ok;

	(void)state;
	if (!have_cc())
		skip();
	dir = make_tmpdir();
	sh(dir, "mkdir -p bin lib && "
		"printf 'int bfun(void) { return 7; }\\n' > b.c && "
		"printf 'int bfun(void);\\nint afun(void) { return bfun(); }\\n' > a.c && "
		"printf 'int afun(void);\\nint main(void) { return afun() == 7 ? 0 : 1; }\\n' > main.c && "
		"cc -shared -fPIC -o lib/libocitb.so b.c && "
		"cc -shared -fPIC -o lib/libocita.so a.c -Wl,--no-as-needed -Llib -locitb && "
		"cc -o bin/prog main.c -Wl,--no-as-needed -Llib -locita -Wl,--disable-new-dtags "
		"'-Wl,-rpath,$ORIGIN/../lib' && "
		"env -u LD_LIBRARY_PATH ./bin/prog");
	prog = pjoin(dir, "bin/prog");
	liba = pjoin(dir, "lib/libocita.so");
	libb = pjoin(dir, "lib/libocitb.so");
	assert_int_equal(oci_strlist_push(&bins, prog, &err), 0);
	ok = oci_elf_closure(&bins, &files, &err) == 0;
	if (!ok)
		msg = strdup(err.message ? err.message : "?");
	ok = ok && contains_file(&files, liba) && contains_file(&files, libb);
	ocibuild_error_clear(&err);
	oci_strlist_release(&bins);
	oci_strlist_release(&files);
	free(prog);
	free(liba);
	free(libb);
	remove_tree(dir);
	if (!ok) {
		char shown[1024];

		snprintf(shown, sizeof(shown), "%s", msg ? msg : "the libraries are missing");
		free(msg);
		fail_msg("closure: %s", shown);
	}
}

/* ---- oci_elf_check_tree ---- */

struct logged {
	int warnings;
	char last[1024];
};

static void log_cb(void *userdata, ocibuild_log_level level, const char *message)
{
	struct logged *l = userdata;

	if (level != OCIBUILD_LOG_WARN)
		return;
	l->warnings++;
	snprintf(l->last, sizeof(l->last), "%s", message);
}

static void test_check_tree(void **state)
{
	char *dir = make_tmpdir(), *lib = pjoin(dir, "lib"), *nif = pjoin(lib, "nif.so");
	char *txt = pjoin(dir, "README"), cmd[PATH_MAX * 2];
	oci_platform v[2] = { { .os = (char *)"linux", .architecture = (char *)HOST_ARCH },
			      { .os = (char *)"linux", .architecture = (char *)"s390x" } };
	ocibuild_ctx *ctx = ocibuild_ctx_new();
	struct logged l = { 0 };
	oci_strlist elves = { 0 };
	ocibuild_error err = { 0 };
	oci_walk w = { 0 };
	FILE *f;

	(void)state;
	if (!HOST_ARCH) {
		skip();
		return;
	}
	assert_non_null(ctx);
	ocibuild_ctx_set_log(ctx, log_cb, &l);
	assert_int_equal(mkdir(lib, 0755), 0);
	snprintf(cmd, sizeof(cmd), "cp %s '%s'", LS, nif);
	assert_int_equal(system(cmd), 0);
	f = fopen(txt, "w");
	assert_non_null(f);
	fprintf(f, "%0100d\n", 0); /* long enough to be looked at, not ELF */
	fclose(f);
	assert_int_equal(oci_walk_dir(dir, &w, &err), 0);

	/* the host's platform: the ELF file is listed, nothing logged */
	assert_int_equal(oci_elf_check_tree(ctx, dir, &w, v, 1, 1, &elves, &err), 0);
	assert_int_equal(elves.n, 1);
	assert_string_equal(elves.v[0], nif);
	assert_int_equal(l.warnings, 0);
	oci_strlist_release(&elves);

	/* one foreign platform: refused, naming the file */
	assert_int_equal(oci_elf_check_tree(ctx, dir, &w, &v[1], 1, 0, &elves, &err), -1);
	assert_int_equal(err.kind, OCIBUILD_ERR_INPUT);
	assert_non_null(strstr(err.message, nif));
	assert_non_null(strstr(err.message, "--platform"));
	ocibuild_error_clear(&err);

	/* several platforms, the image runs its own ERTS: refused */
	assert_int_equal(oci_elf_check_tree(ctx, dir, &w, v, 2, 1, &elves, &err), -1);
	assert_non_null(strstr(err.message, "linux/s390x"));
	ocibuild_error_clear(&err);
	oci_strlist_release(&elves);

	/* several platforms, ERTS from the base: one warning, file not listed */
	assert_int_equal(oci_elf_check_tree(ctx, dir, &w, v, 2, 0, &elves, &err), 0);
	assert_int_equal(elves.n, 0);
	assert_int_equal(l.warnings, 1);
	assert_non_null(strstr(l.last, "linux/s390x"));
	assert_non_null(strstr(l.last, "lib/nif.so"));
	assert_null(strstr(l.last, "README"));

	oci_strlist_release(&elves);
	oci_walk_release(&w);
	ocibuild_ctx_free(ctx);
	free(lib);
	free(nif);
	free(txt);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arch),
		cmocka_unit_test(test_read_ls),
		cmocka_unit_test(test_read_not_elf),
		cmocka_unit_test(test_read_damaged),
		cmocka_unit_test(test_read_static_busybox),
		cmocka_unit_test(test_closure_ls),
		cmocka_unit_test(test_closure_not_elf),
		cmocka_unit_test(test_closure_missing_lib),
		cmocka_unit_test(test_closure_origin),
		cmocka_unit_test(test_closure_rpath_inherited),
		cmocka_unit_test(test_check_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
