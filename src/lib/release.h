/* BEAM releases (relx/rebar3 and Mix): detection, the dependency lock, and
 * which layer each file of the release belongs to. */
#ifndef OCI_RELEASE_H
#define OCI_RELEASE_H
#include "lockfile.h"

typedef enum oci_rel_kind { OCI_REL_RELX, OCI_REL_MIX } oci_rel_kind;

typedef enum oci_group {
	OCI_GROUP_ERTS = 0, /* erts-<vsn>/ and, when ERTS is bundled, OTP apps */
	OCI_GROUP_DEPS,     /* locked dependencies (and OTP apps without ERTS) */
	OCI_GROUP_APP,      /* the project's own apps, bin/, releases/, the rest */
	OCI_GROUP_COUNT
} oci_group;

typedef struct oci_release {
	char *dir;
	char *name;
	char *version;
	char *erts_version;
	int has_erts;
	oci_rel_kind kind;
	int plain_script; /* relx {extended_start_script, false}: bin/NAME only
			   * runs erlexec, it has no commands */
	char *lock_path; /* NULL when there is no lock file */
	oci_lock lock;
} oci_release;

/* Open a release directory; lock_path may be NULL (then it is looked for
 * in the project that holds _build/<profile>/rel/<name>, if any). */
int oci_release_open(const char *dir, const char *lock_path, oci_release *r,
		     ocibuild_error *err);
/* The newest release under project/_build/<profile>/rel/, or the one named
 * `name`. *dir is a heap path. */
int oci_release_find(const char *project, const char *name, char **dir,
		     ocibuild_error *err);
oci_group oci_release_classify(const oci_release *r, const char *rel_path);
/* "lib/cowboy-2.10.0" -> "cowboy" (heap), NULL when out of memory. */
char *oci_release_app_name(const char *dirname);
int oci_release_is_otp_app(const char *app);
/* The release's start command: "foreground" (relx) or "start" (Mix); for
 * a plain start script, "-noinput" (its arguments go to erlexec, and the
 * shell it would start stops at the end of stdin). */
const char *oci_release_default_cmd(const oci_release *r);
const char *oci_group_name(oci_group g);
void oci_release_release(oci_release *r);
#endif
