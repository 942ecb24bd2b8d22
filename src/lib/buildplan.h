/* A build's plan: the public build options checked once and normalised
 * (tags with their implied ":latest", ports as PORT/PROTO, the working
 * directory, the platforms, the times, the signing key loaded), so that
 * every later stage of a build reads this and never the options. */
#ifndef OCI_BUILDPLAN_H
#define OCI_BUILDPLAN_H
#include "ocibuild/ocibuild.h"
#include "oci.h"
#include "sign.h"
#include "strlist.h"

/* The strings and string vectors not listed as owned are borrowed from
 * the options, which must outlive the plan. */
typedef struct oci_bplan {
	const char *dir;    /* --dir, or NULL (also for an empty one) for a release input */
	const char *release, *project, *release_name, *lock; /* a release input */
	const char *base;   /* NULL, "" or "scratch" for scratch */
	const char *output; /* -o FILE.tar[.gz|.tgz], or NULL */
	int output_gzip;
	const char *layout; /* --layout DIR, or NULL */
	const char *push;   /* --push REGISTRY[/NAMESPACE], or NULL */
	const char *sbom;   /* --sbom FILE, or NULL */
	const char *user;   /* NULL: the base's, else 65534 */
	ocibuild_strv env, labels, annotations; /* KEY=VALUE, checked */
	ocibuild_strv cache_from; /* references, checked */
	oci_strlist tags;   /* owned: "name:tag", ":latest" when none was given */
	oci_strlist ports;  /* owned: "PORT/PROTO" */
	char *workdir;      /* owned: normalised, absolute */
	oci_platform *platforms; /* owned: in the order given, else the host's */
	size_t np;
	ocibuild_strv entrypoint, cmd;
	int entrypoint_set, cmd_set;
	int bundle_runtime, no_bundle_runtime; /* as given */
	int vcs_annotations;
	int attach_sbom;    /* attach the SBOM to the pushed image */
	int base_layers;    /* the base's layers are needed on disk: for a file
			     * output, or a push to another registry than the
			     * base's (no mount across registries) */
	ocibuild_compression compression;
	int cache;          /* use the layer cache */
	uint64_t cache_max; /* what it may keep, in bytes */
	int created_set, created_now; /* --created given; as "now" */
	int64_t created;    /* --created, unless "now" */
	int has_source_date_epoch;
	int64_t source_date_epoch;
	oci_sign_key *sign; /* owned: --sign-key, loaded, or NULL */
} oci_bplan;

/* Check o (its version is the caller's to check) and fill p: a refusal is
 * one line naming the option and what to pass (OCIBUILD_ERR_OPTION, or
 * the kind of a reference, time or key that does not parse). Free p with
 * oci_bplan_release, also after a failure. */
int oci_bplan_init(oci_bplan *p, const ocibuild_build_opts *o, ocibuild_error *err);

/* Whether p's image has no base: base NULL, "" or "scratch". */
int oci_bplan_scratch(const oci_bplan *p);
void oci_bplan_release(oci_bplan *p);
#endif
