/* Where the image's source is: CI variables (GitHub, GitLab, Azure), else
 * git. A missing or slow git never fails a build. */
#ifndef OCI_VCS_H
#define OCI_VCS_H
#include "ocibuild/ocibuild.h"
#include <sys/types.h>
#include "err.h"

typedef struct oci_vcs {
	char *source;   /* https URL without credentials, or NULL */
	char *revision; /* commit, or NULL */
} oci_vcs;

/* git run in the background for what the build takes from it: HEAD's
 * commit time and hash (one run) and, when asked, the origin's URL (a
 * second run, side by side). Started early, read after other work. */
typedef struct oci_vcs_git {
	pid_t pid[2];
	int fd[2];
	char out[2][4096];
	size_t len[2];
	int started, waited;
} oci_vcs_git;

/* Start git for the work tree holding dir (never fails: a missing git is
 * no answer). want_remote: also read remote.origin.url. Then
 * oci_vcs_git_wait (reads what git printed, at most 3 s in all) or
 * oci_vcs_git_release (stops them). */
void oci_vcs_git_start(oci_vcs_git *g, const char *dir, int want_remote);
void oci_vcs_git_wait(oci_vcs_git *g);
/* Kill and reap runs not yet waited for; harmless after oci_vcs_git_wait. */
void oci_vcs_git_release(oci_vcs_git *g);
/* HEAD's commit time from a waited-for g, in seconds since 1970: 0 and *out
 * set, or -1 (no git, no commit, too slow). */
int oci_vcs_git_time(const oci_vcs_git *g, int64_t *out);
/* Do CI variables (GitHub, GitLab, Azure) name the source? Then
 * oci_vcs_detect needs no git. env as below. */
int oci_vcs_from_ci(const char *(*env)(const char *));
/* env: a getenv-like lookup (NULL uses getenv). dir: the working tree.
 * git: a waited-for oci_vcs_git of dir started with want_remote, or NULL
 * to run git here when CI variables do not say. */
int oci_vcs_detect(const char *dir, const char *(*env)(const char *), oci_vcs_git *git,
		   oci_vcs *v, ocibuild_error *err);
/* git@host:org/repo.git, ssh://..., https://user:tok@host/org/repo.git?t=x#y
 * -> https://host/org/repo (heap) into *out, or NULL for something else.
 * Userinfo, query and fragment are dropped: they may carry credentials, and
 * this is what an image records. -1 only when out of memory. */
OCI_MUST_USE int oci_vcs_normalize_url(const char *url, char **out, ocibuild_error *err);
void oci_vcs_release(oci_vcs *v);
#endif
