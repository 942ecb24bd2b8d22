/* rebar.lock and mix.lock, parsed without evaluating them: a small reader
 * for the Erlang and Elixir term syntax the two files use, and the
 * interpretation of their entries (hex packages and git dependencies). */
#ifndef OCI_LOCKFILE_H
#define OCI_LOCKFILE_H
#include <stddef.h>
#include "ocibuild/ocibuild.h"

typedef enum oci_dep_source { OCI_DEP_HEX, OCI_DEP_GIT, OCI_DEP_OTHER } oci_dep_source;

typedef struct oci_lock_dep {
	char *name;     /* application name */
	char *version;  /* hex version, or NULL for git */
	oci_dep_source source;
	char *hex_name; /* package name on hex (may differ from name) */
	char *repo;     /* hex repository ("hexpm") */
	char *git_url;
	char *git_ref;  /* commit */
	char *sha256;   /* hex checksum of the package tarball, lower-case, or NULL */
	char **requires; /* mix.lock: the packages this one requires (names) */
	size_t nrequires;
} oci_lock_dep;

typedef struct oci_lock {
	oci_lock_dep *deps;
	size_t n;
} oci_lock;

int oci_lock_parse_rebar(const char *text, size_t len, oci_lock *out, ocibuild_error *err);
int oci_lock_parse_mix(const char *text, size_t len, oci_lock *out, ocibuild_error *err);
/* Read a rebar.lock or mix.lock (chosen by file name). */
int oci_lock_load(const char *path, oci_lock *out, ocibuild_error *err);
const oci_lock_dep *oci_lock_find(const oci_lock *l, const char *name);
void oci_lock_release(oci_lock *l);

/* An application resource file (ebin/NAME.app), read with the same term
 * reader: its name, vsn and the applications it needs. */
typedef struct oci_lock_app {
	char *name;
	char *vsn;    /* NULL when the file has none */
	char **uses;  /* applications, then included_applications */
	size_t nuses;
} oci_lock_app;

/* Parse the text of an .app file; `file` names it in errors. Free `out`
 * with oci_lock_app_release (also filled on error: empty). */
int oci_lock_app_parse(const char *text, size_t len, const char *file, oci_lock_app *out,
		       ocibuild_error *err);
void oci_lock_app_release(oci_lock_app *a);
#endif
