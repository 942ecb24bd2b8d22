/* The runtime layer of a release on scratch: what ERTS needs to start
 * where there is no base image, copied from the build host. The loader
 * and the shared-library closure of the release's ELF files (less what
 * the release ships itself), OpenSSL's legacy provider, a static busybox
 * as /bin/sh with the applets the start scripts call, passwd/group
 * entries for the image user, /tmp, the CA roots, and for scanners the
 * host's os-release and the dpkg records of the packages it all comes
 * from. */
#ifndef OCI_RUNTIME_H
#define OCI_RUNTIME_H
#include "buf.h"
#include "ctx.h"
#include "dpkg.h"
#include "oci.h"
#include "walk.h"

typedef struct oci_runtime {
	oci_walk files;     /* the layer's entries (host sources), sorted, parents included */
	oci_dpkg dpkg;      /* packages owning the copied host files (status.d records) */
	oci_buf os_release; /* the os-release copied into the layer, for deb purls; may be empty */
} oci_runtime;

/* Fill `rt` (zeroed by the caller) with the runtime layer for the release
 * in `tree` whose ELF files (host paths) are `elves`, for architecture
 * `arch` (busybox is taken only when it is static and of that
 * architecture). What is missing but not required (busybox, a dpkg
 * database) is logged through ctx. Free with oci_runtime_release, also
 * after a failure. */
int oci_runtime_plan(ocibuild_ctx *ctx, const char *tree, const oci_strlist *elves,
		     const char *arch, oci_runtime *rt, ocibuild_error *err);
void oci_runtime_release(oci_runtime *rt);

/* The runtime is this machine's: fails, naming the first platform of
 * `v` (n of them) whose architecture is not the host's. */
int oci_runtime_check_platforms(const oci_platform *v, size_t n, ocibuild_error *err);

/* Add a directory entry (0755) for every parent of an entry of `w` that
 * has none, then sort `w`. */
int oci_runtime_add_parents(oci_walk *w, ocibuild_error *err);

/* OpenSSL's legacy provider module beside a libcrypto.so.3 of `files`
 * ("DIR/ossl-modules/legacy.so", DIR the library's resolved directory),
 * written to `out` (size bytes) when it is an ELF file. Returns out, or
 * NULL when there is none. */
const char *oci_runtime_legacy_provider(const oci_strlist *files, char *out, size_t size);

/* The busybox applets linked in /bin, NULL-terminated. */
extern const char *const oci_runtime_applets[];
#endif
