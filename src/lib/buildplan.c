/* A build's plan: the public options checked, in the order a user reads
 * them, and normalised for the stages of build.c. */
#include <string.h>

#include "buildplan.h"
#include "buf.h"
#include "caps.h"
#include "distribute.h"
#include "err.h"
#include "imgcfg.h"
#include "mem.h"
#include "ref.h"
#include "timestamp.h"
#include "banned.h"

/* No base, an empty one or "scratch": an image of the input's layers
 * alone. */
static int is_scratch(const char *base)
{
	return !base || !*base || !strcmp(base, "scratch");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

/* An empty --dir is none, as for the CLI's release defaults. */
static const char *dir_of(const ocibuild_build_opts *o)
{
	return o->dir && *o->dir ? o->dir : NULL;
}

/* The options checked, as the later stages use them. */
static void fill(oci_bplan *p, const ocibuild_build_opts *o)
{
	p->dir = dir_of(o);
	p->release = o->release;
	p->project = o->project;
	p->release_name = o->release_name;
	p->lock = o->lock;
	p->base = o->base;
	p->output = o->output;
	p->output_gzip = o->output && (ends_with(o->output, ".gz") || ends_with(o->output, ".tgz"));
	p->layout = o->layout;
	p->push = o->push;
	p->sbom = o->sbom;
	p->user = o->user;
	p->env = o->env;
	p->labels = o->labels;
	p->annotations = o->annotations;
	p->cache_from = o->cache_from;
	p->entrypoint = o->entrypoint;
	p->entrypoint_set = o->entrypoint_set;
	p->cmd = o->cmd;
	p->cmd_set = o->cmd_set;
	p->bundle_runtime = o->bundle_runtime;
	p->no_bundle_runtime = o->no_bundle_runtime;
	p->vcs_annotations = !o->no_vcs_annotations;
	p->attach_sbom = !o->no_attach_sbom;
	p->compression = o->compression;
	p->cache = !o->no_cache;
	p->cache_max = o->cache_max ? o->cache_max : OCIBUILD_DEFAULT_CACHE_MAX;
	p->created_set = o->created && *o->created;
	p->has_source_date_epoch = o->has_source_date_epoch;
	p->source_date_epoch = o->source_date_epoch;
}

/* Base layers are needed on disk for a file output, and for a push to a
 * registry other than the base's (no cross-registry mount). */
static int need_base_layers(const oci_bplan *p)
{
	char *domain = NULL, *repo = NULL, *tag = NULL;
	oci_ref base;
	int need = 1;

	if (p->output || p->layout || !p->push || is_scratch(p->base) ||
	    !strncmp(p->base, "oci:", 4) || !p->tags.n)
		return 1;
	if (oci_ref_parse(p->base, &base, NULL) < 0)
		return 1;
	if (oci_push_target(p->push, p->tags.v[0], &domain, &repo, &tag, NULL) == 0)
		need = strcmp(domain, base.domain) != 0;
	oci_free(domain);
	oci_free(repo);
	oci_free(tag);
	oci_ref_release(&base);
	return need;
}

/* Which input, and what goes with which. */
static int check_input(const ocibuild_build_opts *o, ocibuild_error *err)
{
	int inputs = !!dir_of(o) + !!o->release + !!o->project;

	if (inputs != 1)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "%s: pass exactly one of --dir DIR, --release DIR or --project DIR",
			       inputs ? "several inputs" : "no input");
	if (o->release_name && !o->project)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "a release name needs --project DIR");
	if (o->bundle_runtime && !is_scratch(o->base))
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "--bundle-runtime is for --base scratch: a base image brings its own runtime");
	if (o->bundle_runtime && dir_of(o))
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "--bundle-runtime needs a release (--release or --project)");
	if (o->bundle_runtime && o->no_bundle_runtime)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "--bundle-runtime and --no-bundle-runtime contradict each other: pass one of them");
	if (!o->tags.count)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0, "no tag: pass -t NAME:TAG");
	if (!o->output && !o->layout && !o->push)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "no output: pass -o FILE.tar (or FILE.tar.gz), --layout DIR or --push REGISTRY");
	if (o->output && !ends_with(o->output, ".tar") && !ends_with(o->output, ".tar.gz") &&
	    !ends_with(o->output, ".tgz"))
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad output name '%s': it must end in .tar, .tar.gz or .tgz",
			       o->output);
	return 0;
}

/* Each tag checked; "myapp" means "myapp:latest", as with docker and
 * podman. */
static int check_tags(oci_bplan *p, const ocibuild_strv *tags, oci_buf *tmp, ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < tags->count; i++) {
		const char *t = tags->items[i];
		oci_ref r;
		int has_tag;

		if (ocibuild_tag_check(t, err) < 0) {
			oci_err_as_option(err);
			return -1;
		}
		if (oci_ref_parse(t, &r, err) < 0)
			return -1;
		has_tag = strrchr(t, ':') && strrchr(t, ':') > strrchr(t, '/');
		oci_ref_release(&r);
		oci_buf_reset(tmp);
		if (oci_buf_printf(tmp, err, "%s%s", t, has_tag ? "" : ":latest") < 0 ||
		    oci_strlist_push(&p->tags, tmp->data, err) < 0)
			return -1;
	}
	return 0;
}

/* The image config's values: env, labels, annotations, ports, workdir. */
static int check_config(oci_bplan *p, const ocibuild_build_opts *o, oci_buf *tmp,
			ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < o->env.count; i++)
		if (oci_imgcfg_kv_check(o->env.items[i], "--env", err) < 0)
			return -1;
	for (i = 0; i < o->labels.count; i++)
		if (oci_imgcfg_kv_check(o->labels.items[i], "--label", err) < 0)
			return -1;
	for (i = 0; i < o->annotations.count; i++)
		if (oci_imgcfg_kv_check(o->annotations.items[i], "--annotation", err) < 0)
			return -1;
	for (i = 0; i < o->expose.count; i++)
		if (oci_imgcfg_port(o->expose.items[i], tmp, err) < 0 ||
		    oci_strlist_push(&p->ports, tmp->data, err) < 0)
			return -1;
	return oci_imgcfg_workdir(o->workdir ? o->workdir : "/app", &p->workdir, err);
}

/* --platform, else the build host's. */
static int platforms(oci_bplan *p, const char *list, ocibuild_error *err)
{
	if (list) {
		if (oci_platform_list_parse(list, &p->platforms, &p->np, err) < 0) {
			oci_err_as_option(err);
			return -1;
		}
		return 0;
	}
	p->platforms = oci_calloc(1, sizeof(*p->platforms));
	if (!p->platforms)
		return oci_err_nomem(err);
	p->np = 1;
	return oci_platform_host(&p->platforms[0], err);
}

int oci_bplan_init(oci_bplan *p, const ocibuild_build_opts *o, ocibuild_error *err)
{
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (check_input(o, err) < 0 || check_tags(p, &o->tags, &tmp, err) < 0 ||
	    check_config(p, o, &tmp, err) < 0 || platforms(p, o->platform, err) < 0)
		goto out;
	if (o->user && !*o->user) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "empty --uid: pass a number such as 65534");
		goto out;
	}
	if (o->has_source_date_epoch && o->source_date_epoch < 0) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "SOURCE_DATE_EPOCH must not be negative");
		goto out;
	}
	if (o->created && *o->created &&
	    oci_timestamp_parse(o->created, &p->created, &p->created_now, err) < 0)
		goto out;
	for (i = 0; i < o->cache_from.count; i++) {
		oci_ref r;

		if (oci_ref_parse(o->cache_from.items[i], &r, err) < 0) {
			oci_err_prefix(err, "bad --cache-from");
			oci_err_as_option(err);
			goto out;
		}
		oci_ref_release(&r);
	}
	if (o->registry.sign_key && !o->push) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0,
			"--sign-key signs the image in the registry: add --push REGISTRY[/NAMESPACE]");
		goto out;
	}
	if (o->registry.sign_key && oci_sign_key_load(o->registry.sign_key, NULL, &p->sign, err) < 0)
		goto out;
	fill(p, o);
	p->base_layers = need_base_layers(p);
	rc = 0;
out:
	oci_buf_release(&tmp);
	return rc;
}

int oci_bplan_scratch(const oci_bplan *p)
{
	return is_scratch(p->base);
}

void oci_bplan_release(oci_bplan *p)
{
	oci_strlist_release(&p->tags);
	oci_strlist_release(&p->ports);
	oci_free(p->workdir);
	oci_platform_list_release(p->platforms, p->np);
	oci_sign_key_release(p->sign);
	memset(p, 0, sizeof(*p));
}
