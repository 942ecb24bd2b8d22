/* A release as a build input: found and opened as the plan says, and
 * checked before anything is built for what could not start in the image
 * (no ERTS on scratch, a start command that leaves at once). Never logs:
 * what is worth a line is returned for the caller to log. */
#ifndef OCI_RELCHECK_H
#define OCI_RELCHECK_H
#include "ocibuild/ocibuild.h"
#include "buildplan.h"
#include "release.h"

/* The release of p (--release DIR, or --project's newest or named one,
 * with --lock or else the project's own rebar.lock or mix.lock) into rel.
 * Free rel with oci_release_release, also after a failure. */
int oci_relcheck_open(const oci_bplan *p, oci_release *rel, ocibuild_error *err);

/* Refuse what could not start: a -c that starts the release in the
 * background, a release without ERTS on scratch. *bundle: whether the
 * image gets the runtime layer (--bundle-runtime, and by default a
 * release with ERTS on scratch). */
int oci_relcheck_startable(const oci_release *rel, const oci_bplan *p, int *bundle,
			   ocibuild_error *err);

/* What to tell the user of the runtime on scratch (*level set), or NULL
 * when there is nothing to say. */
const char *oci_relcheck_runtime_note(const oci_release *rel, const oci_bplan *p,
				      ocibuild_log_level *level);
#endif
