/* One build: validate options, make the layer, assemble config and
 * manifest on top of the base, and write the outputs (output.c: staged
 * beside the target, moved into place at the end). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "distribute.h"
#include "blobstore.h"
#include "cachefrom.h"
#include "ctx.h"
#include "elfdeps.h"
#include "err.h"
#include "fs.h"
#include "layer.h"
#include "layout.h"
#include "layercache.h"
#include "layerplan.h"
#include "imgcfg.h"
#include "imgman.h"
#include "mem.h"
#include "output.h"
#include "oci.h"
#include "ref.h"
#include "release.h"
#include "runtime.h"
#include "sbom.h"
#include "timestamp.h"
#include "vcs.h"
#include "walk.h"
#include "banned.h"

#define DEFAULT_MTIME 1

/* What differs between the platforms of one build: the base, the SBOM
 * (it names the base's digest), the config and the manifest. The layers
 * made from the input are shared by every platform. */
struct plat {
	const oci_platform *platform; /* in build's platforms */
	oci_base base;
	oci_walk sb;       /* the sbom layer */
	oci_buf sbom;
	oci_lplan sbom_layer;
	int has_sbom;
	const struct plat *same_sbom; /* an earlier platform with the same SBOM */
	oci_image_config config;
	oci_manifest manifest;
	oci_descriptor desc;
};

/* What validate made of the options: the stages after it read this, never
 * the options (the push still takes its own from them). */
struct plan {
	const char *release, *project, *release_name, *lock; /* a release input */
	const char *base;   /* NULL, "" or "scratch" for scratch */
	const char *output; /* -o FILE.tar[.gz|.tgz], or NULL */
	int output_gzip;
	const char *layout; /* --layout DIR, or NULL */
	const char *push;   /* --push REGISTRY[/NAMESPACE], or NULL */
	const char *sbom;   /* --sbom FILE, or NULL */
	const char *user;   /* NULL: the base's, else 65534 */
	ocibuild_strv env, labels, annotations; /* KEY=VALUE, checked */
	oci_strlist ports;  /* "PORT/PROTO" */
	ocibuild_strv entrypoint, cmd;
	int entrypoint_set, cmd_set;
	int bundle_runtime, no_bundle_runtime; /* as given; see build's bundle */
	int vcs_annotations;
	ocibuild_compression compression;
	int cache;          /* use the layer cache */
	uint64_t cache_max; /* what it may keep, in bytes */
	int created_set, created_now; /* --created given; as "now" */
	int64_t created;    /* --created, unless "now" */
	int has_source_date_epoch;
	int64_t source_date_epoch;
};

struct build {
	ocibuild_ctx *ctx;
	const ocibuild_build_opts *o; /* read by validate (and the push) only */
	struct plan plan;
	const char *tree;  /* --dir or the release directory */
	int is_release;
	int bundle;        /* add the runtime layer */
	oci_release rel;
	oci_walk w;        /* the tree */
	oci_runtime runtime; /* the runtime layer's files, packages, os-release */
	oci_release_app *apps; /* lib/ of the release, for the SBOM */
	size_t napps;
	oci_net net;
	oci_strlist refs; /* pushed references */
	oci_lplans layers;  /* shared by every platform */
	oci_vcs vcs;
	oci_platform *platforms; /* in the order given */
	struct plat *plats;       /* one for each of them */
	size_t np;
	char *workdir;     /* normalised, absolute */
	oci_strlist tags;  /* normalised "name:tag" */
	char created[32];
	int64_t mtime;
	oci_output out;    /* the stage and the targets */
	oci_output_image *imgs; /* each platform's image, for the outputs */
	char *lcache;      /* the layer cache's directory, or NULL */
	/* what the tags point at: the one manifest, or the index of several */
	oci_descriptor top;
	oci_sign_key *sign;      /* --sign-key, loaded before any work */
	oci_cachefrom cf;        /* --cache-from, read at the first layer cache miss */
	int cf_open;
	oci_push_stream *stream; /* --push: layers upload as they are made */
};

/* The options validate checked, as the later stages use them. */
static void fill_plan(struct build *b)
{
	const ocibuild_build_opts *o = b->o;
	struct plan *p = &b->plan;
	size_t n = o->output ? strlen(o->output) : 0;

	p->release = o->release;
	p->project = o->project;
	p->release_name = o->release_name;
	p->lock = o->lock;
	p->base = o->base;
	p->output = o->output;
	p->output_gzip = n && (!strcmp(o->output + n - 3, ".gz") || !strcmp(o->output + n - 4, ".tgz"));
	p->layout = o->layout;
	p->push = o->push;
	p->sbom = o->sbom;
	p->user = o->user;
	p->env = o->env;
	p->labels = o->labels;
	p->annotations = o->annotations;
	p->entrypoint = o->entrypoint;
	p->entrypoint_set = o->entrypoint_set;
	p->cmd = o->cmd;
	p->cmd_set = o->cmd_set;
	p->bundle_runtime = o->bundle_runtime;
	p->no_bundle_runtime = o->no_bundle_runtime;
	p->vcs_annotations = !o->no_vcs_annotations;
	p->compression = o->compression;
	p->cache = !o->no_cache;
	p->cache_max = o->cache_max ? o->cache_max : OCIBUILD_DEFAULT_CACHE_MAX;
	p->created_set = o->created && *o->created;
	p->has_source_date_epoch = o->has_source_date_epoch;
	p->source_date_epoch = o->source_date_epoch;
}

static int validate(struct build *b, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_TEXT);
	oci_platform *v = NULL;
	size_t i, np;
	int rc = -1;

	b->tree = o->dir;
	b->is_release = !o->dir;
	if (!!(o->dir && *o->dir) + !!o->release + !!o->project != 1)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "%s: pass exactly one of --dir DIR, --release DIR or --project DIR",
			       o->dir || o->release || o->project ? "several inputs"
								  : "no input");
	if (o->release_name && !o->project)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "a release name needs --project DIR");
	if (o->bundle_runtime && o->base && strcmp(o->base, "scratch"))
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "--bundle-runtime is for --base scratch: a base image brings its own runtime");
	if (o->bundle_runtime && o->dir)
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
	if (o->output) {
		size_t n = strlen(o->output);

		if (!((n > 4 && !strcmp(o->output + n - 4, ".tar")) ||
		      (n > 7 && !strcmp(o->output + n - 7, ".tar.gz")) ||
		      (n > 4 && !strcmp(o->output + n - 4, ".tgz"))))
			return oci_err(err, OCIBUILD_ERR_OPTION, 0,
				       "bad output name '%s': it must end in .tar, .tar.gz or .tgz",
				       o->output);
	}
	for (i = 0; i < o->tags.count; i++) {
		const char *t = o->tags.items[i];
		oci_ref r;
		int has_tag;

		if (ocibuild_tag_check(t, err) < 0) {
			oci_err_as_option(err);
			goto out;
		}
		/* "myapp" means "myapp:latest", as with docker and podman */
		if (oci_ref_parse(t, &r, err) < 0)
			goto out;
		has_tag = strrchr(t, ':') && strrchr(t, ':') > strrchr(t, '/');
		oci_ref_release(&r);
		oci_buf_reset(&tmp);
		if (oci_buf_printf(&tmp, err, "%s%s", t, has_tag ? "" : ":latest") < 0 ||
		    oci_strlist_push(&b->tags, tmp.data, err) < 0)
			goto out;
	}
	for (i = 0; i < o->env.count; i++)
		if (oci_imgcfg_kv_check(o->env.items[i], "--env", err) < 0)
			goto out;
	for (i = 0; i < o->labels.count; i++)
		if (oci_imgcfg_kv_check(o->labels.items[i], "--label", err) < 0)
			goto out;
	for (i = 0; i < o->annotations.count; i++)
		if (oci_imgcfg_kv_check(o->annotations.items[i], "--annotation", err) < 0)
			goto out;
	for (i = 0; i < o->expose.count; i++)
		if (oci_imgcfg_port(o->expose.items[i], &tmp, err) < 0 ||
		    oci_strlist_push(&b->plan.ports, tmp.data, err) < 0)
			goto out;
	if (oci_imgcfg_workdir(o->workdir ? o->workdir : "/app", &b->workdir, err) < 0)
		goto out;
	if (o->platform) {
		if (oci_platform_list_parse(o->platform, &v, &np, err) < 0) {
			oci_err_as_option(err);
			goto out;
		}
	} else {
		np = 1;
		v = oci_calloc(1, sizeof(*v));
		if (!v || oci_platform_host(&v[0], err) < 0) {
			if (!v)
				oci_err_nomem(err);
			oci_platform_list_release(v, np);
			goto out;
		}
	}
	b->plats = oci_calloc(np, sizeof(*b->plats));
	if (!b->plats) {
		oci_platform_list_release(v, np);
		oci_err_nomem(err);
		goto out;
	}
	b->platforms = v;
	b->np = np;
	b->imgs = oci_calloc(np, sizeof(*b->imgs));
	if (!b->imgs) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < b->np; i++) {
		b->plats[i].platform = &b->platforms[i];
		b->imgs[i].platform = &b->platforms[i];
		b->imgs[i].manifest = &b->plats[i].manifest;
		b->imgs[i].desc = &b->plats[i].desc;
		oci_buf_init(&b->plats[i].sbom, OCI_MAX_SBOM);
	}
	if (o->user && !*o->user) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "empty --uid: pass a number such as 65534");
		goto out;
	}
	if (o->has_source_date_epoch && o->source_date_epoch < 0) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "SOURCE_DATE_EPOCH must not be negative");
		goto out;
	}
	if (o->created && *o->created &&
	    oci_timestamp_parse(o->created, &b->plan.created, &b->plan.created_now, err) < 0)
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
	if (o->registry.sign_key && oci_sign_key_load(o->registry.sign_key, NULL, &b->sign, err) < 0)
		goto out;
	fill_plan(b);
	rc = 0;
out:
	oci_buf_release(&tmp);
	return rc;
}

/* File times come from the source date epoch only, so that layers stay
 * byte-identical across commits; the creation time is --created, else the
 * source date epoch, else the commit time of the input's git HEAD, else
 * DEFAULT_MTIME: the same input gives the same digest. */
static int set_times(struct build *b, ocibuild_error *err)
{
	const struct plan *o = &b->plan;
	int64_t t = DEFAULT_MTIME;

	b->mtime = o->has_source_date_epoch ? o->source_date_epoch : DEFAULT_MTIME;
	if (o->created_set) {
		t = o->created_now ? (int64_t)time(NULL) : o->created;
	} else if (o->has_source_date_epoch) {
		t = o->source_date_epoch;
	} else if (oci_vcs_commit_time(o->project ? o->project : b->tree, &t) < 0) {
		t = DEFAULT_MTIME;
	}
	return oci_timestamp_format(t, b->created, sizeof(b->created), err);
}

static const char *human(uint64_t n, char *buf, size_t len)
{
	if (n >= 10u << 20)
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 10u << 10)
		snprintf(buf, len, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	return buf;
}

/* The runtime layer for a scratch image (runtime.c), shared by every
 * platform. */
static int plan_runtime(struct build *b, const oci_strlist *elves, ocibuild_error *err)
{
	oci_lplan *p;

	if (oci_runtime_plan(b->ctx, b->tree, elves, b->platforms[0].architecture, &b->runtime,
			     err) < 0)
		return -1;
	p = oci_lplan_add(&b->layers, "runtime", &b->runtime.files, "/", "", 0755, err);
	if (!p)
		return -1;
	oci_lplan_take_all(p);
	return 0;
}

/* The SBOM names the base image's digest, which differs per platform: one
 * sbom layer per platform, made once for platforms with the same SBOM. */
static int plan_sbom(struct build *b, struct plat *pl, ocibuild_error *err)
{
	oci_sbom_input in;
	size_t i;

	memset(&in, 0, sizeof(in));
	in.release = &b->rel;
	in.apps = b->apps;
	in.napps = b->napps;
	in.debs = &b->runtime.dpkg;
	in.os_release = b->runtime.os_release.data;
	in.created = b->created;
	if (!pl->base.scratch) {
		in.base_name = pl->base.name;
		in.base_digest = pl->base.manifest_digest;
	}
	oci_buf_init(&pl->sbom, OCI_MAX_SBOM);
	if (oci_sbom_spdx(&in, &pl->sbom, err) < 0)
		return -1;
	/* --sbom gets the first platform's document */
	if (pl == b->plats && b->plan.sbom &&
	    oci_write_file_atomic(b->plan.sbom, pl->sbom.data, pl->sbom.len, 0, err) < 0)
		return -1;
	for (i = 0; &b->plats[i] != pl; i++) {
		if (b->plats[i].sbom.len == pl->sbom.len &&
		    !memcmp(b->plats[i].sbom.data, pl->sbom.data, pl->sbom.len)) {
			pl->same_sbom = &b->plats[i];
			break;
		}
	}
	if (oci_walk_add_data(&pl->sb, "sbom.spdx.json", 0644, pl->sbom.data, pl->sbom.len,
			      err) < 0)
		return -1;
	if (oci_lplan_init(&pl->sbom_layer, "sbom", &pl->sb, "/", "", 0755, err) < 0)
		return -1;
	pl->has_sbom = 1;
	pl->sbom_layer.v[pl->sbom_layer.n++] = &pl->sb.v[0];
	return 0;
}

/* A layer from the cache, when its input has not changed. *hit says
 * whether it was; a cached blob that fails its digest is dropped (with the
 * entry) and the layer made again. */
static int layer_from_cache(struct build *b, oci_lplan *p, const char *key, int *hit,
			    ocibuild_error *err)
{
	char *blob;

	*hit = 0;
	if (oci_lcache_get(b->lcache, key, &p->r, hit, err) < 0 || !*hit)
		return *hit ? 0 : err->kind == OCIBUILD_ERR_NONE ? 0 : -1;
	if (oci_blobs_import(b->out.stage, b->lcache, p->r.digest, p->r.size, b->plan.layout != NULL,
			     err) == 0) {
		oci_lcache_touch(b->lcache, p->r.digest);
		oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: from the cache", p->what,
			p->r.digest);
		return 0;
	}
	*hit = 0;
	if (err->kind == OCIBUILD_ERR_IO && err->code == ENOENT) {
		/* another build trimmed the cache under us: a miss */
		ocibuild_error_clear(err);
		oci_lcache_drop(b->lcache, key);
		return 0;
	}
	if (err->kind != OCIBUILD_ERR_DIGEST)
		return -1;
	blob = oci_blobs_path(b->lcache, p->r.digest);
	if (!blob)
		return oci_err_nomem(err);
	oci_log(b->ctx, OCIBUILD_LOG_WARN, "cache file '%s' is corrupt (%s): removed, making the layer again",
		blob, err->message);
	ocibuild_error_clear(err);
	unlink(blob);
	oci_free(blob);
	oci_lcache_drop(b->lcache, key);
	return 0;
}

/* A layer whose diff_id a --cache-from image has: its blob is reused from
 * there, nothing compressed. Downloaded only when an output on disk (or the
 * SBOM referrer, which reads the sbom layer) needs its bytes. */
static int layer_from_remote(struct build *b, oci_lplan *p, const oci_layer_opts *lo,
			     const char *key, int *hit, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	const oci_cf_layer *l;
	char diff_id[OCI_DIGEST_LEN + 1];
	uint64_t tar_size;

	*hit = 0;
	if (!b->cf_open) {
		char *cache = oci_cache_dir(NULL);
		int rc;

		b->cf_open = 1;
		if (!cache)
			return oci_err_nomem(err);
		/* --no-cache: no layer from any cache unless one is named */
		rc = oci_cachefrom_open(b->ctx, &b->net, &o->cache_from,
					b->plan.cache ? b->plan.push : NULL, &b->tags, b->platforms,
					b->np, cache, &b->cf, err);
		oci_free(cache);
		if (rc < 0)
			return -1;
	}
	if (!b->cf.n)
		return 0;
	if (oci_cachefrom_diff_id(lo, p->v, p->n, diff_id, &tar_size, err) < 0)
		return -1;
	l = oci_cachefrom_find(&b->cf, diff_id, b->plan.compression);
	if (!l)
		return 0;
	if ((b->plan.output || b->plan.layout ||
	     (b->plan.push && !o->no_attach_sbom && !strcmp(p->what, "sbom"))) &&
	    oci_cachefrom_fetch(b->ctx, &b->cf, l, b->out.stage, err) < 0)
		return -1;
	memcpy(p->r.digest, l->digest, sizeof(p->r.digest));
	memcpy(p->r.diff_id, diff_id, sizeof(p->r.diff_id));
	p->r.size = l->size;
	p->r.tar_size = tar_size;
	p->from = b->cf.names.v[l->src];
	b->cf.reused[l->src]++;
	*hit = 1;
	oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: reused from %s", p->what, p->r.digest,
		p->from);
	/* downloaded: the next build here finds it in the layer cache */
	if (b->lcache && oci_blobs_has(b->out.stage, l->digest) &&
	    oci_lcache_put(b->lcache, key, b->out.stage, &p->r, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		ocibuild_error_clear(err);
	}
	return 0;
}

static int build_layer(struct build *b, oci_lplan *p, ocibuild_error *err)
{
	oci_layer_opts lo;
	char h1[32], h2[32], key[OCI_LCACHE_KEY_LEN + 1];
	int hit = 0;

	memset(&lo, 0, sizeof(lo));
	lo.root = p->root;
	lo.prefix = p->prefix;
	lo.prefix_mode = p->prefix_mode;
	lo.mtime = b->mtime;
	lo.compression = b->plan.compression;
	lo.threads = oci_ctx_threads(b->ctx);
	lo.cancel = b->ctx->cancel;
	lo.cancel_userdata = b->ctx->cancel_userdata;
	if (b->lcache) {
		if (oci_lcache_key(b->ctx, b->lcache, &lo, p->v, p->n, key, err) < 0 ||
		    layer_from_cache(b, p, key, &hit, err) < 0)
			return -1;
		if (hit)
			return 0;
	}
	if (layer_from_remote(b, p, &lo, key, &hit, err) < 0)
		return -1;
	if (hit)
		return 0;
	if (oci_layer_build(&lo, p->v, p->n, b->out.stage, b->plan.layout != NULL, &p->r, err) < 0)
		return -1;
	oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: %zu entries, %s tar, %s %s",
		p->what, p->r.digest, p->n, human(p->r.tar_size, h1, sizeof(h1)),
		human((uint64_t)p->r.size, h2, sizeof(h2)),
		b->plan.compression == OCIBUILD_COMPRESS_NONE ? "uncompressed"
		: b->plan.compression == OCIBUILD_COMPRESS_ZSTD ? "zstd" : "gzip");
	if (b->lcache && oci_lcache_put(b->lcache, key, b->out.stage, &p->r, err) < 0) {
		/* a cache that can not be written costs the next build time,
		 * not this one its result */
		if (err->kind == OCIBUILD_ERR_NOMEM)
			return -1;
		oci_log(b->ctx, OCIBUILD_LOG_WARN, "the layer cache '%s' is not usable (%s): going on without it",
			b->lcache, err->message);
		ocibuild_error_clear(err);
		oci_free(b->lcache);
		b->lcache = NULL;
	}
	return 0;
}

/* With --push, a layer in the stage goes up now, while the next are made
 * (one reused from a --cache-from image is mounted at the push instead). */
static int stream_layer(struct build *b, const oci_lplan *p, ocibuild_error *err)
{
	if (!b->stream || p->from || !oci_blobs_has(b->out.stage, p->r.digest))
		return 0;
	return oci_push_stream_add(b->stream, p->r.digest, p->r.size, err);
}

static int build_layers(struct build *b, ocibuild_error *err)
{
	size_t i;
	uint64_t gone = 0;

	for (i = 0; i < b->layers.n; i++)
		if (build_layer(b, &b->layers.v[i], err) < 0 ||
		    stream_layer(b, &b->layers.v[i], err) < 0)
			return -1;
	if (b->lcache) {
		if (oci_lcache_trim(b->lcache, b->plan.cache_max, &gone, err) < 0)
			return -1;
		if (gone)
			oci_log(b->ctx, OCIBUILD_LOG_INFO,
				"cache: removed %llu bytes of least recently used blobs",
				(unsigned long long)gone);
	}
	for (i = 0; i < b->np; i++) {
		struct plat *pl = &b->plats[i];

		if (!pl->has_sbom)
			continue;
		if (pl->same_sbom)
			pl->sbom_layer.r = pl->same_sbom->sbom_layer.r;
		else if (build_layer(b, &pl->sbom_layer, err) < 0 ||
			 stream_layer(b, &pl->sbom_layer, err) < 0)
			return -1;
	}
	for (i = 0; i < b->cf.nsrc; i++)
		if (b->cf.reused[i])
			oci_log(b->ctx, OCIBUILD_LOG_INFO, "reused %zu layer%s from %s", b->cf.reused[i],
				b->cf.reused[i] == 1 ? "" : "s", b->cf.names.v[i]);
	return 0;
}

/* The layers of one platform's image after the base's: the shared ones,
 * then its sbom layer. */
static size_t plat_nlayers(const struct build *b, const struct plat *pl)
{
	return b->layers.n + (pl->has_sbom ? 1 : 0);
}

static const oci_lplan *plat_layer(const struct build *b, const struct plat *pl,
					   size_t i)
{
	return i < b->layers.n ? &b->layers.v[i] : &pl->sbom_layer;
}

static int make_config(struct build *b, struct plat *pl, ocibuild_error *err)
{
	oci_imgcfg_layer layers[OCI_LPLAN_MAX + 1];
	oci_imgcfg_in in;
	size_t i;

	memset(&in, 0, sizeof(in));
	in.base_config = pl->base.config_json;
	in.base_config_len = pl->base.config_len;
	in.platform = pl->platform;
	in.created = b->created;
	in.user = b->plan.user;
	in.env = b->plan.env;
	in.entrypoint = b->plan.entrypoint;
	in.entrypoint_set = b->plan.entrypoint_set;
	in.cmd = b->plan.cmd;
	in.cmd_set = b->plan.cmd_set;
	in.ports = &b->plan.ports;
	in.labels = b->plan.labels;
	in.workdir = b->workdir;
	in.release = b->is_release ? &b->rel : NULL;
	for (i = 0; i < plat_nlayers(b, pl); i++) {
		const oci_lplan *p = plat_layer(b, pl, i);

		layers[i].diff_id = p->r.diff_id;
		layers[i].what = p->what;
		layers[i].in_workdir = *p->prefix != '\0';
	}
	in.layers = layers;
	in.nlayers = i;
	return oci_imgcfg_make(&in, &pl->config, err);
}

static int make_manifest(struct build *b, struct plat *pl, ocibuild_error *err)
{
	oci_imgman_layer layers[OCI_LPLAN_MAX + 1];
	oci_imgman_in in;
	size_t i;

	memset(&in, 0, sizeof(in));
	in.stage = b->out.stage;
	in.durable = b->plan.layout != NULL;
	in.base = &pl->base;
	in.platform = pl->platform;
	in.config = &pl->config;
	in.compression = b->plan.compression;
	for (i = 0; i < plat_nlayers(b, pl); i++) {
		layers[i].digest = plat_layer(b, pl, i)->r.digest;
		layers[i].size = plat_layer(b, pl, i)->r.size;
	}
	in.layers = layers;
	in.nlayers = i;
	in.created = b->created;
	in.version = b->is_release ? b->rel.version : NULL;
	in.annotations = &b->plan.annotations;
	in.source = b->vcs.source;
	in.revision = b->vcs.revision;
	return oci_imgman_manifest(&in, &pl->manifest, &pl->desc, err);
}

/* What the tags point at: the manifest of a single platform, as it always
 * was, or an image index of every platform's manifest in the order given. */
static int make_top(struct build *b, ocibuild_error *err)
{
	const oci_descriptor **v = oci_calloc(b->np, sizeof(*v));
	size_t i;
	int rc;

	if (!v)
		return oci_err_nomem(err);
	for (i = 0; i < b->np; i++)
		v[i] = &b->plats[i].desc;
	rc = oci_imgman_index(b->out.stage, b->plan.layout != NULL, v, b->np, b->created,
			      &b->plan.annotations, &b->top, err);
	oci_free(v);
	return rc;
}

static void cleanup(struct build *b)
{
	size_t i;

	oci_push_stream_free(b->stream); /* before its blobs go */
	oci_output_release(&b->out);
	oci_free(b->imgs);
	oci_free(b->lcache);
	oci_free(b->workdir);
	oci_strlist_release(&b->tags);
	oci_strlist_release(&b->plan.ports);
	for (i = 0; i < b->np; i++) {
		struct plat *pl = &b->plats[i];

		oci_base_release(&pl->base);
		oci_manifest_release(&pl->manifest);
		oci_config_release(&pl->config);
		oci_descriptor_release(&pl->desc);
		oci_lplan_release(&pl->sbom_layer);
		oci_walk_release(&pl->sb);
		oci_buf_release(&pl->sbom);
	}
	oci_free(b->plats);
	oci_platform_list_release(b->platforms, b->np);
	oci_descriptor_release(&b->top);
	oci_lplans_release(&b->layers);
	oci_walk_release(&b->w);
	oci_runtime_release(&b->runtime);
	oci_release_apps_release(b->apps, b->napps);
	oci_release_release(&b->rel);
	oci_vcs_release(&b->vcs);
	oci_strlist_release(&b->refs);
	oci_sign_key_release(b->sign);
	oci_cachefrom_release(&b->cf);
}


/* Base layers are needed on disk for a file output, and for a push to a
 * registry other than the base's (no cross-registry mount). */
static int need_base_layers(struct build *b)
{
	const struct plan *o = &b->plan;
	char *domain = NULL, *repo = NULL, *tag = NULL;
	oci_ref base;
	int need = 1;

	if (o->output || o->layout || !o->push || !o->base || !strcmp(o->base, "scratch") ||
	    !strncmp(o->base, "oci:", 4) || !b->tags.n)
		return 1;
	if (oci_ref_parse(o->base, &base, NULL) < 0)
		return 1;
	if (oci_push_target(o->push, b->tags.v[0], &domain, &repo, &tag, NULL) == 0)
		need = strcmp(domain, base.domain) != 0;
	oci_free(domain);
	oci_free(repo);
	oci_free(tag);
	oci_ref_release(&base);
	return need;
}

static int is_scratch(const char *base)
{
	return !base || !*base || !strcmp(base, "scratch");
}

/* A release on scratch starts only with ERTS and what ERTS needs: refuse
 * one without ERTS, bundle the runtime for one with it (unless told not
 * to), and refuse start commands that leave the container at once. */
static int check_startable(struct build *b, ocibuild_error *err)
{
	const struct plan *o = &b->plan;
	static const char *const relx_bg[] = { "start", "daemon", "daemon_boot", NULL };
	static const char *const mix_bg[] = { "daemon", "daemon_iex", NULL };
	const char *const *bg = b->rel.kind == OCI_REL_MIX ? mix_bg : relx_bg;
	size_t i;

	if (o->cmd_set && o->cmd.count && !o->entrypoint_set && !b->rel.plain_script) {
		for (i = 0; bg[i]; i++)
			if (!strcmp(o->cmd.items[0], bg[i]))
				return oci_err(err, OCIBUILD_ERR_OPTION, 0,
					       "-c %s starts the release in the background (run_erl, with its pipes and logs in the release directory): the container would exit at once, and %s is not writable by the image's user; leave -c out to run '%s' in the foreground",
					       bg[i], b->workdir, oci_release_default_cmd(&b->rel));
	}
	b->bundle = o->bundle_runtime;
	if (!is_scratch(o->base))
		return 0;
	if (!b->rel.has_erts)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "release '%s' does not include ERTS, so nothing in a scratch image can start it: pass a --base image that provides Erlang/OTP (ERTS %s), such as docker.io/library/erlang:27-slim, or build the release with ERTS (include_erts true in rebar.config's relx, include_erts: true in mix.exs)",
			       b->rel.dir, b->rel.erts_version);
	b->bundle = !o->no_bundle_runtime;
	return 0;
}

static void log_runtime_choice(struct build *b)
{
	const struct plan *o = &b->plan;

	if (!is_scratch(o->base) || !b->rel.has_erts)
		return;
	if (o->no_bundle_runtime)
		oci_log(b->ctx, OCIBUILD_LOG_WARN,
			"--no-bundle-runtime: the image has no shared libraries, loader or /bin/sh, so the release will not start on scratch");
	else if (!o->bundle_runtime)
		oci_log(b->ctx, OCIBUILD_LOG_INFO,
			"adding the runtime ERTS needs on scratch (libraries, loader, busybox as /bin/sh); --no-bundle-runtime leaves it out");
}

/* Find and open the release; pick its start command. */
static int open_release(struct build *b, ocibuild_error *err)
{
	const struct plan *o = &b->plan;
	char *dir = NULL;
	size_t i;
	int rc;

	if (o->project && oci_release_find(o->project, o->release_name, &dir, err) < 0)
		return -1;
	if (o->project && !o->lock) {
		/* the project's own lock, even when the release lives elsewhere */
		static const char *const names[] = { "rebar.lock", "mix.lock" };
		oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

		for (i = 0; i < 2; i++) {
			oci_buf_reset(&p);
			if (oci_buf_printf(&p, err, "%s/%s", o->project, names[i]) < 0) {
				oci_free(dir);
				return -1;
			}
			if (access(p.data, R_OK) == 0)
				break;
		}
		rc = oci_release_open(dir, i < 2 ? p.data : NULL, &b->rel, err);
		oci_buf_release(&p);
	} else {
		rc = oci_release_open(dir ? dir : o->release, o->lock, &b->rel, err);
	}
	oci_free(dir);
	if (rc < 0)
		return -1;
	b->tree = b->rel.dir;
	if (check_startable(b, err) < 0)
		return -1;
	oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s release %s %s (ERTS %s%s)%s%s",
		b->rel.kind == OCI_REL_MIX ? "Mix" : "relx", b->rel.name, b->rel.version,
		b->rel.erts_version, b->rel.has_erts ? ", bundled" : ", not bundled",
		b->rel.lock_path ? ", lock " : ", no lock file",
		b->rel.lock_path ? b->rel.lock_path : "");
	log_runtime_choice(b);
	return 0;
}

static int plan_layers(struct build *b, ocibuild_error *err)
{
	oci_strlist elves = { 0 };
	struct stat st;
	unsigned mode = stat(b->tree, &st) == 0 ? (st.st_mode & 07777) : 0755;
	size_t i;
	int rc = -1;

	if (b->is_release) {
		/* asked for: say why; by default the ELF check names ERTS */
		if (b->plan.bundle_runtime && b->np > 1 && oci_runtime_check_platforms(b->platforms, b->np, err) < 0)
			goto out;
		if (oci_elf_check_tree(b->ctx, b->tree, &b->w, b->platforms, b->np,
				       b->rel.has_erts || b->bundle, &elves, err) < 0)
			goto out;
		if (b->bundle && plan_runtime(b, &elves, err) < 0)
			goto out;
	}
	if (oci_lplan_tree(&b->layers, &b->w, b->is_release ? &b->rel : NULL, b->tree,
			   b->workdir + 1, mode, err) < 0)
		goto out;
	if (b->is_release && oci_release_apps(&b->rel, &b->apps, &b->napps, err) < 0)
		goto out;
	for (i = 0; b->is_release && i < b->np; i++)
		if (plan_sbom(b, &b->plats[i], err) < 0)
			goto out;
	rc = 0;
out:
	oci_strlist_release(&elves);
	return rc;
}

/* --push: the image (with its signature and SBOM) into each tag's
 * repository, then --image-refs, --digest-file and result->pushed_ref. */
static int push_image(struct build *b, ocibuild_build_result *result, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	char *cache = oci_cache_dir(NULL);
	oci_strlist base_blobs = { 0 };
	oci_blob_source *src = oci_calloc(b->cf.nsrc + 1, sizeof(*src));
	oci_push_tags_opts po;
	size_t i, k, nsrc = 0;
	int rc = cache && src ? 0 : oci_err_nomem(err);

	/* every platform's base comes from the same reference: one
	 * registry and repository to mount from */
	for (k = 0; k < b->np; k++) {
		const oci_manifest *bm = &b->plats[k].base.manifest;

		for (i = 0; rc == 0 && i < bm->nlayers; i++)
			if (!oci_strlist_has(&base_blobs, bm->layers[i].digest))
				rc = oci_strlist_push(&base_blobs, bm->layers[i].digest, err);
	}
	memset(&po, 0, sizeof(po));
	po.net = &b->net;
	po.layout = b->out.stage;
	po.manifest_digest = b->top.digest;
	po.prefix = o->push;
	po.tags = (const char *const *)b->tags.v;
	po.ntags = b->tags.n;
	/* the blobs not in the stage: the base's, and the reused ones */
	if (rc == 0 && b->plats[0].base.reg) {
		src[nsrc].reg = b->plats[0].base.reg;
		src[nsrc].repo = b->plats[0].base.repo;
		src[nsrc++].blobs = &base_blobs;
	}
	for (k = 0; rc == 0 && k < b->cf.nsrc; k++)
		src[nsrc++] = b->cf.src[k];
	po.sources = src;
	po.nsources = nsrc;
	po.cache = cache;
	po.sign = b->sign;
	po.attach_sbom = !o->no_attach_sbom;
	po.stream = b->stream;
	if (rc == 0)
		rc = oci_push_tags(b->ctx, &po, &b->refs, err);
	oci_strlist_release(&base_blobs);
	oci_free(src);
	oci_free(cache);
	if (rc == 0)
		rc = oci_write_refs(o->registry.image_refs, o->registry.digest_file, &b->refs,
				    b->top.digest, err);
	if (rc == 0)
		rc = oci_digest_refs(&b->refs, &result->pushed_ref, err);
	return rc;
}

int ocibuild_build(ocibuild_ctx *ctx, const ocibuild_build_opts *opts,
		   ocibuild_build_result *result, ocibuild_error *err)
{
	struct build b;
	size_t i;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	b.o = opts;
	memset(result, 0, sizeof(*result));
	if (oci_err_version(opts->version, OCIBUILD_BUILD_OPTS_VERSION, "ocibuild_build_opts",
			    err) < 0 ||
	    oci_net_init(&b.net, &opts->registry, err) < 0)
		goto out;
	if (validate(&b, err) < 0)
		goto out;
	if (b.is_release && open_release(&b, err) < 0)
		goto out;
	if (set_times(&b, err) < 0)
		goto out;
	if (b.plan.cache && !(b.lcache = oci_cache_dir(NULL))) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < b.np; i++)
		if (oci_base_open(ctx, &b.net, b.plan.base, b.plats[i].platform,
				  need_base_layers(&b), &b.plats[i].base, err) < 0)
			goto out;
	if (b.is_release && b.plan.vcs_annotations &&
	    oci_vcs_detect(b.plan.project ? b.plan.project : b.tree, NULL, &b.vcs, err) < 0)
		goto out;
	if (oci_walk_dir(b.tree, &b.w, err) < 0)
		goto out;
	if (plan_layers(&b, err) < 0)
		goto out;
	b.out.archive = b.plan.output;
	b.out.gzip = b.plan.output_gzip;
	b.out.layout = b.plan.layout;
	if (oci_output_stage(&b.out, err) < 0)
		goto out;
	if (opts->push && oci_push_stream_begin(ctx, &b.net, b.out.stage, opts->push, b.tags.v[0],
						&b.stream, err) < 0)
		goto out;
	if (build_layers(&b, err) < 0 || oci_ctx_cancelled(ctx, err) < 0)
		goto out;
	for (i = 0; i < b.np; i++)
		if (make_config(&b, &b.plats[i], err) < 0 ||
		    make_manifest(&b, &b.plats[i], err) < 0)
			goto out;
	if (make_top(&b, err) < 0 || oci_output_index(&b.out, &b.top, &b.tags, err) < 0)
		goto out;
	if (b.plan.output) {
		if (oci_ctx_cancelled(ctx, err) < 0 ||
		    oci_output_archive(&b.out, ctx, b.imgs, b.np, &b.tags, b.mtime, err) < 0)
			goto out;
		oci_log(ctx, OCIBUILD_LOG_INFO, "wrote %s", b.plan.output);
	}
	if (opts->push && push_image(&b, result, err) < 0) {
		if (opts->output)
			unlink(opts->output);
		goto out;
	}
	if (b.plan.layout) {
		if (oci_ctx_cancelled(ctx, err) < 0 ||
		    oci_output_layout(&b.out, ctx, b.imgs, b.np, &b.top, &b.tags, err) < 0) {
			if (b.plan.output)
				unlink(b.plan.output);
			goto out;
		}
		oci_log(ctx, OCIBUILD_LOG_INFO, "wrote layout %s", b.plan.layout);
	}
	memcpy(result->manifest_digest, b.top.digest, sizeof(result->manifest_digest));
	result->manifest_size = b.top.size;
	result->layer_count = b.plats[0].manifest.nlayers;
	rc = 0;
out:
	if (rc < 0 && err && err->kind == OCIBUILD_ERR_NOSPACE)
		oci_err(err, OCIBUILD_ERR_NOSPACE, err->code,
			"no space left on the device holding '%s': free some space or write the output elsewhere",
			b.plan.layout ? b.plan.layout : b.plan.output);
	if (rc < 0 && b.plan.sbom && b.np && b.plats[0].sbom.len)
		unlink(b.plan.sbom);
	if (rc < 0)
		ocibuild_build_result_release(result);
	cleanup(&b);
	return rc;
}
