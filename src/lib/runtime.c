/* The runtime layer of a release on scratch (see runtime.h): the policy of
 * what a scratch image needs so that ERTS and the start scripts run as the
 * image user, taken from the build host. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "blobstore.h"
#include "elfdeps.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

/* the os-release text the runtime layer carries */
#define OS_RELEASE_MAX (64u << 10)

/* what the relx and Mix start scripts call */
const char *const oci_runtime_applets[] = {
	"sh", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo",
	"env", "expr", "grep", "head", "hostname", "id", "kill", "ls", "mkdir", "mv", "od",
	"printf", "ps", "readlink", "rm", "sed", "sleep", "sort", "tail", "test", "touch",
	"tr", "uname", "wc", "which", NULL,
};

static int has_rel(const oci_walk *w, const char *rel)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->v[i].rel, rel))
			return 1;
	return 0;
}

/* The runtime layer is small: a linear search is fine. */
int oci_runtime_add_parents(oci_walk *w, ocibuild_error *err)
{
	size_t i, n = w->n;

	for (i = 0; i < n; i++) {
		char *path = oci_strdup(w->v[i].rel), *slash;

		if (!path)
			return oci_err_nomem(err);
		while ((slash = strrchr(path, '/'))) {
			*slash = '\0';
			if (has_rel(w, path))
				continue;
			if (oci_walk_add(w, path, OCI_TAR_DIR, 0755, NULL, NULL, err) < 0) {
				oci_free(path);
				return -1;
			}
		}
		oci_free(path);
	}
	oci_walk_sort(w);
	return 0;
}

/* OpenSSL 3 loads providers from a directory compiled into libcrypto
 * (Debian: ossl-modules beside it), and the crypto application loads the
 * legacy provider when it can: without legacy.so :crypto lacks md4 and the
 * other legacy algorithms it has on the host. Its libraries are libcrypto
 * and libc, in the closure already. */
const char *oci_runtime_legacy_provider(const oci_strlist *files, char *out, size_t size)
{
	char real[PATH_MAX];
	size_t i;

	for (i = 0; i < files->n; i++) {
		const char *base = strrchr(files->v[i], '/');
		char *slash;

		if (!base || strncmp(base + 1, "libcrypto.so.3", 14) || !realpath(files->v[i], real))
			continue;
		slash = strrchr(real, '/');
		*slash = '\0';
		if ((size_t)snprintf(out, size, "%s/ossl-modules/legacy.so", real) < size &&
		    oci_elf_is_elf(out))
			return out;
	}
	return NULL;
}

/* For scanners: a dpkg status record (status.d/NAME, as distroless images
 * have them) for each Debian package that owns a file copied from this
 * machine, and its /etc/os-release. */
static int plan_packages(ocibuild_ctx *ctx, oci_runtime *rt, const oci_strlist *host,
			 ocibuild_error *err)
{
	static const char *const osrel[] = { "/etc/os-release", "/usr/lib/os-release", NULL };
	size_t i;
	int r = oci_dpkg_owners("/var/lib/dpkg", host, oci_ctx_threads(ctx), &rt->dpkg, err);

	if (r < 0)
		return -1;
	if (r == 0)
		oci_log(ctx, OCIBUILD_LOG_INFO,
			"no dpkg database in /var/lib/dpkg (not a Debian system): the runtime layer has no package records, so scanners will not list its libraries");
	for (i = 0; i < rt->dpkg.n; i++) {
		oci_buf name = OCI_BUF_INIT(OCI_MAX_TEXT);

		if (oci_buf_printf(&name, err, "var/lib/dpkg/status.d/%s", rt->dpkg.v[i].name) < 0 ||
		    oci_walk_add_data(&rt->files, name.data, 0644, rt->dpkg.v[i].record,
				      rt->dpkg.v[i].len, err) < 0) {
			oci_buf_release(&name);
			return -1;
		}
		oci_buf_release(&name);
	}
	for (i = 0; osrel[i]; i++)
		if (access(osrel[i], R_OK) == 0)
			return oci_read_file(osrel[i], OS_RELEASE_MAX, &rt->os_release, err) < 0
				       ? -1
				       : oci_walk_add(&rt->files, "etc/os-release", OCI_TAR_FILE,
						      0644, osrel[i], NULL, err);
	return 0;
}

/* busybox as /bin/sh and the applets, when this machine has a static one
 * for the image's architecture. */
static int add_busybox(ocibuild_ctx *ctx, oci_runtime *rt, const char *arch, oci_strlist *host,
		       ocibuild_error *err)
{
	oci_elf_info bb;
	size_t i;

	if (!(oci_elf_read("/bin/busybox", &bb, NULL) == 0 && bb.is_elf && !bb.interp &&
	      oci_elf_arch(bb.machine, bb.elfclass) &&
	      !strcmp(oci_elf_arch(bb.machine, bb.elfclass), arch))) {
		oci_elf_release(&bb);
		oci_log(ctx, OCIBUILD_LOG_WARN,
			"no static busybox on this machine: the image has no /bin/sh, so the release start script can not run; install busybox-static");
		return 0;
	}
	oci_elf_release(&bb);
	if (oci_walk_add(&rt->files, "bin/busybox", OCI_TAR_FILE, 0755, "/bin/busybox", NULL,
			 err) < 0 ||
	    oci_strlist_push(host, "/bin/busybox", err) < 0)
		return -1;
	for (i = 0; oci_runtime_applets[i]; i++) {
		oci_buf name = OCI_BUF_INIT(OCI_MAX_TEXT);

		if (oci_buf_printf(&name, err, "bin/%s", oci_runtime_applets[i]) < 0 ||
		    oci_walk_add(&rt->files, name.data, OCI_TAR_SYMLINK, 0777, NULL, "busybox",
				 err) < 0) {
			oci_buf_release(&name);
			return -1;
		}
		oci_buf_release(&name);
	}
	return 0;
}

int oci_runtime_plan(ocibuild_ctx *ctx, const char *tree, const oci_strlist *elves,
		     const char *arch, oci_runtime *rt, ocibuild_error *err)
{
	static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
				     "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
	static const char group[] = "root:x:0:\nnogroup:x:65534:\n";
	static const char *const ca[] = { "/etc/ssl/certs/ca-certificates.crt",
					  "/etc/pki/tls/certs/ca-bundle.crt", NULL };
	oci_strlist files = { 0 }, host = { 0 };
	char root[PATH_MAX], real[PATH_MAX], legacy[PATH_MAX];
	size_t i, rlen;
	int rc = -1;

	if (oci_elf_closure(elves, &files, err) < 0)
		goto out;
	if (!realpath(tree, root)) {
		oci_err_errno(err, errno, "cannot resolve '%s': %s", tree, strerror(errno));
		goto out;
	}
	rlen = strlen(root);
	for (i = 0; i < files.n; i++) {
		/* a library the release ships (a NIF's, found through
		 * $ORIGIN) is in its layers already, where $ORIGIN finds it
		 * in the image too; a copy would hold the checkout's path */
		if (realpath(files.v[i], real) && !strncmp(real, root, rlen) &&
		    (real[rlen] == '/' || rlen == 1))
			continue;
		if (files.v[i][0] != '/') {
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"'%s' is needed by the release but is neither in it nor on an absolute path: link it with an absolute or $ORIGIN runpath",
				files.v[i]);
			goto out;
		}
		if (oci_walk_add(&rt->files, files.v[i] + 1, OCI_TAR_FILE, 0755, files.v[i], NULL,
				 err) < 0 ||
		    oci_strlist_push(&host, files.v[i], err) < 0)
			goto out;
	}
	if (oci_runtime_legacy_provider(&files, legacy, sizeof(legacy)) &&
	    (oci_walk_add(&rt->files, legacy + 1, OCI_TAR_FILE, 0644, legacy, NULL, err) < 0 ||
	     oci_strlist_push(&host, legacy, err) < 0))
		goto out;
	if (add_busybox(ctx, rt, arch, &host, err) < 0)
		goto out;
	if (oci_walk_add_data(&rt->files, "etc/passwd", 0644, passwd, sizeof(passwd) - 1, err) < 0 ||
	    oci_walk_add_data(&rt->files, "etc/group", 0644, group, sizeof(group) - 1, err) < 0 ||
	    oci_walk_add(&rt->files, "tmp", OCI_TAR_DIR, 01777, NULL, NULL, err) < 0)
		goto out;
	for (i = 0; ca[i]; i++) {
		if (access(ca[i], R_OK) == 0) {
			if (oci_walk_add(&rt->files, ca[i] + 1, OCI_TAR_FILE, 0644, ca[i], NULL,
					 err) < 0 ||
			    oci_strlist_push(&host, ca[i], err) < 0)
				goto out;
			break;
		}
	}
	if (plan_packages(ctx, rt, &host, err) < 0 || oci_runtime_add_parents(&rt->files, err) < 0)
		goto out;
	rc = 0;
out:
	oci_strlist_release(&files);
	oci_strlist_release(&host);
	return rc;
}

void oci_runtime_release(oci_runtime *rt)
{
	oci_walk_release(&rt->files);
	oci_dpkg_release(&rt->dpkg);
	oci_buf_release(&rt->os_release);
}

int oci_runtime_check_platforms(const oci_platform *v, size_t n, ocibuild_error *err)
{
	oci_platform host;
	size_t i;
	int rc = 0;

	if (oci_platform_host(&host, err) < 0)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		char *ps;

		if (!strcmp(host.architecture, v[i].architecture))
			continue;
		ps = oci_platform_string(&v[i]);
		rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
			     "--bundle-runtime copies this machine's %s libraries, loader and busybox, so it can not make the %s image: build the release without ERTS (include_erts false in rebar.config's relx, include_erts: false in mix.exs) and use a --base image that provides Erlang for each platform",
			     host.architecture, ps ? ps : v[i].architecture);
		oci_free(ps);
	}
	oci_platform_release(&host);
	return rc;
}
