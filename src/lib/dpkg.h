/* Debian package records of host files, so that the runtime layer copied
 * from the build host can be read by vulnerability scanners: one dpkg
 * status record per owning package in /var/lib/dpkg/status.d/NAME, the
 * layout distroless images use. The dpkg database is read directly (the
 * info/NAME[:ARCH].list files and the status file); dpkg is never run. */
#ifndef OCI_DPKG_H
#define OCI_DPKG_H
#include "oci.h"
#include "buf.h"

typedef struct oci_dpkg_pkg {
	char *name;   /* "libc6" */
	char *arch;   /* "amd64" from a "libc6:amd64.list", or NULL */
	char *record; /* the status.d record, NUL-terminated, ends in "\n" */
	size_t len;
} oci_dpkg_pkg;

typedef struct oci_dpkg {
	oci_dpkg_pkg *v; /* sorted by name, each package once */
	size_t n, cap;
} oci_dpkg;

/* The packages of the dpkg database in `admindir` (normally /var/lib/dpkg)
 * that own any of `files` (absolute host paths), with their status
 * records. A file is looked up under its own name, its resolved name and
 * both spellings of the /usr merge (/lib/... and /usr/lib/...); files no
 * package owns are left out. Returns 1 with `out` filled, 0 when admindir
 * has no status file (not a Debian system: `out` stays empty), -1 on error.
 * The lists are read on up to `threads` threads. Free `out` with
 * oci_dpkg_release. */
int oci_dpkg_owners(const char *admindir, const oci_strlist *files, int threads, oci_dpkg *out,
		    ocibuild_error *err);

/* The status.d record of package `name` (architecture `arch`, or any when
 * NULL) in the text of a dpkg status file: the installed stanza's control
 * fields in their order, dpkg's own bookkeeping fields (Conffiles,
 * Config-Version, Triggers-*) dropped and Status set to "install ok
 * installed". Returns 1 with the record appended to `out`, 0 when no
 * installed stanza matches, -1 on error. */
int oci_dpkg_record(const char *status, size_t len, const char *name, const char *arch,
		    oci_buf *out, ocibuild_error *err);

void oci_dpkg_release(oci_dpkg *d);
#endif
