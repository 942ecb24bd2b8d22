/* Where the image's source is: CI variables (GitHub, GitLab, Azure), else
 * git. A missing or slow git never fails a build. */
#ifndef OCI_VCS_H
#define OCI_VCS_H
#include "ocibuild/ocibuild.h"
#include "err.h"

typedef struct oci_vcs {
	char *source;   /* https URL without credentials, or NULL */
	char *revision; /* commit, or NULL */
} oci_vcs;

/* env: a getenv-like lookup (NULL uses getenv). dir: the working tree. */
int oci_vcs_detect(const char *dir, const char *(*env)(const char *), oci_vcs *v,
		   ocibuild_error *err);
/* git@host:org/repo.git, ssh://..., https://user:tok@host/org/repo.git?t=x#y
 * -> https://host/org/repo (heap) into *out, or NULL for something else.
 * Userinfo, query and fragment are dropped: they may carry credentials, and
 * this is what an image records. -1 only when out of memory. */
OCI_MUST_USE int oci_vcs_normalize_url(const char *url, char **out, ocibuild_error *err);
/* The commit time of HEAD of the git work tree holding dir, in seconds
 * since 1970: 0 and *out set, or -1 (no git, no commit, too slow). */
int oci_vcs_commit_time(const char *dir, int64_t *out);
void oci_vcs_release(oci_vcs *v);
#endif
