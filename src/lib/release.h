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

/* What an application directory lib/NAME-VSN of the release is. */
typedef enum oci_app_kind {
	OCI_APP_OWN,      /* the project's own app (the release's name, or src/ at the root) */
	OCI_APP_UMBRELLA, /* a member of the project: apps/NAME/ */
	OCI_APP_PATH,     /* anything else, a path dependency: not in the lock, or
			   * a hex entry at another version than the image has */
	OCI_APP_HEX,      /* a hex package of the lock, at the locked version */
	OCI_APP_GIT,      /* a git dependency of the lock */
	OCI_APP_OTP,      /* an Erlang/OTP application */
	OCI_APP_ELIXIR,   /* one of Elixir's own applications */
} oci_app_kind;

typedef struct oci_release_app {
	char *name;
	char *version;            /* ebin/NAME.app's vsn, else the directory's */
	char *dir;                /* "lib/NAME-VSN" */
	oci_app_kind kind;
	const oci_lock_dep *dep;  /* the lock entry (hex, git), points into r->lock */
	oci_lock_app app;         /* the .app's applications; empty when unreadable */
} oci_release_app;

/* The application directories in the release's lib/, sorted by directory
 * name, classified. An .app file that cannot be read leaves the version of
 * the directory name and no applications. *v is heap; free it with
 * oci_release_apps_release. */
int oci_release_apps(const oci_release *r, oci_release_app **v, size_t *n,
		     ocibuild_error *err);
void oci_release_apps_release(oci_release_app *v, size_t n);
/* The project directory holding the release (DIR of DIR/_build/P/rel/N),
 * else the lock file's directory, else NULL. Heap. */
char *oci_release_project(const oci_release *r);
/* Elixir's applications (elixir, logger, ...): part of the runtime. */
int oci_release_is_elixir_app(const char *app);
void oci_release_release(oci_release *r);
#endif
