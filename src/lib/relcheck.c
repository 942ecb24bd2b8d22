/* A release as a build input: opened as the plan says and checked for
 * what could not start in the image. */
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "mem.h"
#include "relcheck.h"
#include "banned.h"

int oci_relcheck_open(const oci_bplan *p, oci_release *rel, ocibuild_error *err)
{
	char *dir = NULL;
	size_t i;
	int rc;

	if (p->project && oci_release_find(p->project, p->release_name, &dir, err) < 0)
		return -1;
	if (p->project && !p->lock) {
		/* the project's own lock, even when the release lives elsewhere */
		static const char *const names[] = { "rebar.lock", "mix.lock" };
		oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

		for (i = 0; i < 2; i++) {
			oci_buf_reset(&path);
			if (oci_buf_printf(&path, err, "%s/%s", p->project, names[i]) < 0) {
				oci_buf_release(&path);
				oci_free(dir);
				return -1;
			}
			if (access(path.data, R_OK) == 0)
				break;
		}
		rc = oci_release_open(dir, i < 2 ? path.data : NULL, rel, err);
		oci_buf_release(&path);
	} else {
		rc = oci_release_open(dir ? dir : p->release, p->lock, rel, err);
	}
	oci_free(dir);
	return rc < 0 ? -1 : 0;
}

/* A release on scratch starts only with ERTS and what ERTS needs: refuse
 * one without ERTS, bundle the runtime for one with it (unless told not
 * to), and refuse start commands that leave the container at once. */
int oci_relcheck_startable(const oci_release *rel, const oci_bplan *p, int *bundle,
			   ocibuild_error *err)
{
	static const char *const relx_bg[] = { "start", "daemon", "daemon_boot", NULL };
	static const char *const mix_bg[] = { "daemon", "daemon_iex", NULL };
	const char *const *bg = rel->kind == OCI_REL_MIX ? mix_bg : relx_bg;
	size_t i;

	if (p->cmd_set && p->cmd.count && !p->entrypoint_set && !rel->plain_script) {
		for (i = 0; bg[i]; i++)
			if (!strcmp(p->cmd.items[0], bg[i]))
				return oci_err(err, OCIBUILD_ERR_OPTION, 0,
					       "-c %s starts the release in the background (run_erl, with its pipes and logs in the release directory): the container would exit at once, and %s is not writable by the image's user; leave -c out to run '%s' in the foreground",
					       bg[i], p->workdir, oci_release_default_cmd(rel));
	}
	*bundle = p->bundle_runtime;
	if (!oci_bplan_scratch(p))
		return 0;
	if (!rel->has_erts)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "release '%s' does not include ERTS, so nothing in a scratch image can start it: pass a --base image that provides Erlang/OTP (ERTS %s), such as docker.io/library/erlang:27-slim, or build the release with ERTS (include_erts true in rebar.config's relx, include_erts: true in mix.exs)",
			       rel->dir, rel->erts_version);
	*bundle = !p->no_bundle_runtime;
	return 0;
}

const char *oci_relcheck_runtime_note(const oci_release *rel, const oci_bplan *p,
				      ocibuild_log_level *level)
{
	if (!oci_bplan_scratch(p) || !rel->has_erts)
		return NULL;
	if (p->no_bundle_runtime) {
		*level = OCIBUILD_LOG_WARN;
		return "--no-bundle-runtime: the image has no shared libraries, loader or /bin/sh, so the release will not start on scratch";
	}
	if (!p->bundle_runtime) {
		*level = OCIBUILD_LOG_INFO;
		return "adding the runtime ERTS needs on scratch (libraries, loader, busybox as /bin/sh); --no-bundle-runtime leaves it out";
	}
	return NULL;
}
