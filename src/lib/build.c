/* One build, orchestrated: the options checked into a plan (buildplan.c),
 * a release opened and checked (relcheck.c), the layers planned
 * (layerplan.c) and made (layermake.c), each platform's config and
 * manifest assembled on top of its base (imgcfg.c, imgman.c), and the
 * outputs written (output.c: staged beside the target, moved into place
 * at the end) and pushed. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "buildplan.h"
#include "distribute.h"
#include "ctx.h"
#include "elfdeps.h"
#include "err.h"
#include "fs.h"
#include "layermake.h"
#include "layerplan.h"
#include "imgcfg.h"
#include "imgman.h"
#include "mem.h"
#include "output.h"
#include "oci.h"
#include "relcheck.h"
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

struct build {
	ocibuild_ctx *ctx;
	const ocibuild_build_opts *o; /* read by the push only */
	oci_bplan plan; /* the options, checked: the stages read this */
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
	oci_vcs_git git; /* started early, waited for by plan_layers */
	struct plat *plats;       /* one for each of plan.platforms */
	char created[32];
	int64_t mtime;
	oci_output out;    /* the stage and the targets */
	oci_output_image *imgs; /* each platform's image, for the outputs */
	/* what the tags point at: the one manifest, or the index of several */
	oci_descriptor top;
	oci_lmake lm;            /* makes the layers; its cf: --cache-from */
	oci_push_stream *stream; /* --push: layers upload as they are made */
	/* the registry work done while the input is walked (prefetch_*) */
	pthread_t pre_th;
	int pre_started, pre_cf, pre_rc;
	ocibuild_error pre_err;
};

/* One struct plat and one output image for each platform. */
static int new_plats(struct build *b, ocibuild_error *err)
{
	size_t i;

	b->plats = oci_calloc(b->plan.np, sizeof(*b->plats));
	b->imgs = oci_calloc(b->plan.np, sizeof(*b->imgs));
	if (!b->plats || !b->imgs)
		return oci_err_nomem(err);
	for (i = 0; i < b->plan.np; i++) {
		b->plats[i].platform = &b->plan.platforms[i];
		b->imgs[i].platform = &b->plan.platforms[i];
		b->imgs[i].manifest = &b->plats[i].manifest;
		b->imgs[i].desc = &b->plats[i].desc;
		oci_buf_init(&b->plats[i].sbom, OCI_MAX_SBOM);
	}
	return 0;
}

/* The work tree git is asked about (when the build asks git at all). */
static const char *vcs_dir(const struct build *b)
{
	return b->plan.project ? b->plan.project : b->tree;
}

/* Start git now, if the build needs it (the commit time when neither
 * --created nor SOURCE_DATE_EPOCH is given; the source labels of a release
 * when no CI variable names them), so that it runs while the tree is walked
 * and checked; plan_layers collects its answer. */
static void start_vcs(struct build *b)
{
	const oci_bplan *o = &b->plan;
	int want_time = !o->created_set && !o->has_source_date_epoch;
	int want_source = b->is_release && o->vcs_annotations && !oci_vcs_from_ci(NULL);

	if (want_time || want_source)
		oci_vcs_git_start(&b->git, vcs_dir(b), want_source);
}

/* File times come from the source date epoch only, so that layers stay
 * byte-identical across commits; the creation time is --created, else the
 * source date epoch, else the commit time of the input's git HEAD, else
 * DEFAULT_MTIME: the same input gives the same digest. */
static int set_times(struct build *b, ocibuild_error *err)
{
	const oci_bplan *o = &b->plan;
	int64_t t = DEFAULT_MTIME;

	b->mtime = o->has_source_date_epoch ? o->source_date_epoch : DEFAULT_MTIME;
	if (o->created_set) {
		t = o->created_now ? (int64_t)time(NULL) : o->created;
	} else if (o->has_source_date_epoch) {
		t = o->source_date_epoch;
	} else if (oci_vcs_git_time(&b->git, &t) < 0) {
		t = DEFAULT_MTIME;
	}
	return oci_timestamp_format(t, b->created, sizeof(b->created), err);
}

/* What git said: the creation time and the source labels. */
static int finish_vcs(struct build *b, ocibuild_error *err)
{
	if (b->git.started)
		oci_vcs_git_wait(&b->git);
	if (set_times(b, err) < 0)
		return -1;
	if (b->is_release && b->plan.vcs_annotations &&
	    oci_vcs_detect(vcs_dir(b), NULL, &b->git, &b->vcs, err) < 0)
		return -1;
	return 0;
}

/* The runtime layer for a scratch image (runtime.c), shared by every
 * platform. */
static int plan_runtime(struct build *b, const oci_strlist *elves, ocibuild_error *err)
{
	oci_lplan *p;

	if (oci_runtime_plan(b->ctx, b->tree, elves, b->plan.platforms[0].architecture, &b->runtime,
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

/* What layermake needs of the build, once the stage (and the push stream)
 * exist; the layer cache's directory is already in it. */
static void fill_lmake(struct build *b)
{
	oci_lmake *m = &b->lm;

	m->ctx = b->ctx;
	m->stage = b->out.stage;
	m->durable = b->plan.layout != NULL;
	m->compression = b->plan.compression;
	m->mtime = b->mtime;
	m->cache_max = b->plan.cache_max;
	m->net = &b->net;
	m->cache_from = &b->plan.cache_from;
	/* --no-cache: no layer from any cache unless one is named */
	m->cf_push = b->plan.cache ? b->plan.push : NULL;
	m->tags = &b->plan.tags;
	m->platforms = b->plan.platforms;
	m->np = b->plan.np;
	m->fetch = b->plan.output || b->plan.layout;
	m->fetch_sbom = b->plan.push && b->plan.attach_sbom;
	m->stream = b->stream;
	m->front = b->layers.n ? &b->layers.v[0] : NULL;
	m->front_path = b->out.direct_tmp;
	m->front_fd = b->out.direct_fd;
}

/* -o alone, a plain tar, and no layer cache: nothing but the archive reads
 * the first layer's blob, so it is written straight into the archive's
 * temp file rather than into the stage and copied from there. */
static int direct_archive(struct build *b, ocibuild_error *err)
{
	if (!b->plan.output || b->plan.output_gzip || b->plan.layout || b->o->push ||
	    b->lm.lcache || !b->layers.n)
		return 0;
	return oci_output_direct(&b->out, err);
}

/* Each platform's sbom layer (one made for platforms with the same SBOM),
 * then the layers made from the input, in one go: the SBOM is known from
 * the plan, and made first its upload is out of the way of the layers'. */
static int build_layers(struct build *b, ocibuild_error *err)
{
	oci_lplan **all;
	size_t i, n = 0;
	int rc;

	all = oci_calloc(b->plan.np + b->layers.n, sizeof(*all));
	if (!all)
		return oci_err_nomem(err);
	for (i = 0; i < b->plan.np; i++)
		if (b->plats[i].has_sbom && !b->plats[i].same_sbom)
			all[n++] = &b->plats[i].sbom_layer;
	for (i = 0; i < b->layers.n; i++)
		all[n++] = &b->layers.v[i];
	rc = oci_lmake_layers(&b->lm, all, n, err);
	oci_free(all);
	if (rc < 0)
		return -1;
	for (i = 0; i < b->plan.np; i++)
		if (b->plats[i].has_sbom && b->plats[i].same_sbom)
			b->plats[i].sbom_layer.r = b->plats[i].same_sbom->sbom_layer.r;
	oci_lmake_log_reused(&b->lm);
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
	in.workdir = b->plan.workdir;
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
	const oci_descriptor **v = oci_calloc(b->plan.np, sizeof(*v));
	size_t i;
	int rc;

	if (!v)
		return oci_err_nomem(err);
	for (i = 0; i < b->plan.np; i++)
		v[i] = &b->plats[i].desc;
	rc = oci_imgman_index(b->out.stage, b->plan.layout != NULL, v, b->plan.np, b->created,
			      &b->plan.annotations, &b->top, err);
	oci_free(v);
	return rc;
}

/* A build+push starts on its registry before its input is walked: the
 * stream (libcurl loaded, the registry's scheme settled) and, on a fresh
 * runner (no layer cache, or an empty one), the --cache-from images read.
 * That is mostly waiting on the network, and the walk and plan rarely keep
 * every core busy. Nothing it does is logged until the layers are made. */
static void *prefetch_main(void *ud)
{
	struct build *b = ud;

	b->pre_rc = oci_push_stream_begin(b->ctx, &b->net, b->out.stage, b->o->push,
					  b->plan.tags.v[0], &b->stream, &b->pre_err);
	if (b->pre_rc == 0 && b->pre_cf) {
		b->lm.stream = b->stream;
		b->pre_rc = oci_lmake_open_cache_from(&b->lm, &b->pre_err);
		if (b->pre_rc == 0)
			b->pre_rc = oci_lmake_fetch_members(&b->lm, &b->pre_err);
	}
	return NULL;
}

static void fill_lmake(struct build *b);

static void prefetch_start(struct build *b)
{
	fill_lmake(b);
	b->pre_cf = oci_lmake_nothing_cached(&b->lm);
	if (pthread_create(&b->pre_th, NULL, prefetch_main, b) == 0)
		b->pre_started = 1;
	else
		prefetch_main(b);
}

/* Wait for the prefetch; its error, if it failed. */
static int prefetch_join(struct build *b, ocibuild_error *err)
{
	if (b->pre_started)
		pthread_join(b->pre_th, NULL);
	b->pre_started = 0;
	if (b->pre_rc == 0)
		return 0;
	ocibuild_error_clear(err);
	*err = b->pre_err;
	memset(&b->pre_err, 0, sizeof(b->pre_err));
	b->pre_rc = 0;
	return -1;
}

static void cleanup(struct build *b)
{
	size_t i;

	if (b->pre_started) {
		/* the build failed before the layers: what the registry is
		 * still being asked is of no use any more */
		oci_ctx_halt(b->ctx, 1);
		pthread_join(b->pre_th, NULL);
		oci_ctx_halt(b->ctx, 0);
	}
	ocibuild_error_clear(&b->pre_err);
	oci_push_stream_free(b->stream); /* before its blobs go */
	oci_lmake_release(&b->lm); /* what it still puts in the cache reads the stage */
	oci_output_release(&b->out);
	oci_free(b->imgs);
	for (i = 0; b->plats && i < b->plan.np; i++) {
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
	oci_descriptor_release(&b->top);
	oci_lplans_release(&b->layers);
	oci_walk_release(&b->w);
	oci_runtime_release(&b->runtime);
	oci_release_apps_release(b->apps, b->napps);
	oci_release_release(&b->rel);
	oci_vcs_release(&b->vcs);
	oci_vcs_git_release(&b->git);
	oci_strlist_release(&b->refs);
	oci_bplan_release(&b->plan);
}


/* Find, open and check the release. */
static int open_release(struct build *b, ocibuild_error *err)
{
	ocibuild_log_level level;
	const char *note;

	if (oci_relcheck_open(&b->plan, &b->rel, err) < 0)
		return -1;
	b->tree = b->rel.dir;
	if (oci_relcheck_startable(&b->rel, &b->plan, &b->bundle, err) < 0)
		return -1;
	oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s release %s %s (ERTS %s%s)%s%s",
		b->rel.kind == OCI_REL_MIX ? "Mix" : "relx", b->rel.name, b->rel.version,
		b->rel.erts_version, b->rel.has_erts ? ", bundled" : ", not bundled",
		b->rel.lock_path ? ", lock " : ", no lock file",
		b->rel.lock_path ? b->rel.lock_path : "");
	note = oci_relcheck_runtime_note(&b->rel, &b->plan, &level);
	if (note)
		oci_log(b->ctx, level, "%s", note);
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
		if (b->plan.bundle_runtime && b->plan.np > 1 && oci_runtime_check_platforms(b->plan.platforms, b->plan.np, err) < 0)
			goto out;
		if (oci_elf_check_tree(b->ctx, b->tree, &b->w, b->plan.platforms, b->plan.np,
				       b->rel.has_erts || b->bundle, &elves, err) < 0)
			goto out;
		if (b->bundle && plan_runtime(b, &elves, err) < 0)
			goto out;
	}
	if (oci_lplan_tree(&b->layers, &b->w, b->is_release ? &b->rel : NULL, b->tree,
			   b->plan.workdir + 1, mode, err) < 0)
		goto out;
	if (b->is_release && oci_release_apps(&b->rel, &b->apps, &b->napps, err) < 0)
		goto out;
	if (finish_vcs(b, err) < 0)
		goto out;
	for (i = 0; b->is_release && i < b->plan.np; i++)
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
	oci_blob_source *src = oci_calloc(b->lm.cf.nsrc + 1, sizeof(*src));
	oci_push_tags_opts po;
	size_t i, k, nsrc = 0;
	int rc = cache && src ? 0 : oci_err_nomem(err);

	/* every platform's base comes from the same reference: one
	 * registry and repository to mount from */
	for (k = 0; k < b->plan.np; k++) {
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
	po.tags = (const char *const *)b->plan.tags.v;
	po.ntags = b->plan.tags.n;
	/* the blobs not in the stage: the base's, and the reused ones */
	if (rc == 0 && b->plats[0].base.reg) {
		src[nsrc].reg = b->plats[0].base.reg;
		src[nsrc].repo = b->plats[0].base.repo;
		src[nsrc++].blobs = &base_blobs;
	}
	for (k = 0; rc == 0 && k < b->lm.cf.nsrc; k++)
		src[nsrc++] = b->lm.cf.src[k];
	po.sources = src;
	po.nsources = nsrc;
	po.cache = cache;
	po.sign = b->plan.sign;
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
	int rc = -1, kept;

	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	b.o = opts;
	memset(result, 0, sizeof(*result));
	if (oci_err_version(opts->version, OCIBUILD_BUILD_OPTS_VERSION, "ocibuild_build_opts",
			    err) < 0 ||
	    oci_net_init(&b.net, &opts->registry, err) < 0)
		goto out;
	if (oci_bplan_init(&b.plan, opts, err) < 0 || new_plats(&b, err) < 0)
		goto out;
	b.tree = b.plan.dir;
	b.is_release = !b.plan.dir;
	if (b.is_release && open_release(&b, err) < 0)
		goto out;
	start_vcs(&b);
	if (b.plan.cache && !(b.lm.lcache = oci_cache_dir(NULL))) {
		oci_err_nomem(err);
		goto out;
	}
	b.out.archive = b.plan.output;
	b.out.gzip = b.plan.output_gzip;
	b.out.layout = b.plan.layout;
	if (oci_output_stage(&b.out, err) < 0)
		goto out;
	if (opts->push)
		prefetch_start(&b);
	for (i = 0; i < b.plan.np; i++)
		if (oci_base_open(ctx, &b.net, b.plan.base, b.plats[i].platform,
				  b.plan.base_layers, &b.plats[i].base, err) < 0)
			goto out;
	b.w.stamp = b.lm.lcache != NULL; /* the cache key compares them */
	b.w.threads = oci_ctx_threads(ctx);
	b.w.magic = b.is_release; /* for the ELF check (plan_layers) */
	if (oci_walk_dir(b.tree, &b.w, err) < 0)
		goto out;
	if (plan_layers(&b, err) < 0 || prefetch_join(&b, err) < 0 ||
	    direct_archive(&b, err) < 0)
		goto out;
	fill_lmake(&b);
	if (build_layers(&b, err) < 0 || oci_ctx_cancelled(ctx, err) < 0)
		goto out;
	for (i = 0; i < b.plan.np; i++)
		if (make_config(&b, &b.plats[i], err) < 0 ||
		    make_manifest(&b, &b.plats[i], err) < 0)
			goto out;
	if (make_top(&b, err) < 0 || oci_output_index(&b.out, &b.top, &b.plan.tags, err) < 0)
		goto out;
	if (b.plan.output) {
		if (b.layers.n) {
			b.out.front = b.layers.v[0].r.digest;
			b.out.front_size = b.layers.v[0].r.size;
			b.out.front_written = b.lm.front_made;
		}
		if (oci_ctx_cancelled(ctx, err) < 0 ||
		    (kept = oci_output_archive(&b.out, ctx, b.imgs, b.plan.np, &b.plan.tags,
					       b.mtime, err)) < 0)
			goto out;
		oci_log(ctx, OCIBUILD_LOG_INFO, kept ? "%s is up to date" : "wrote %s",
			b.plan.output);
	}
	if (opts->push && push_image(&b, result, err) < 0) {
		if (opts->output)
			unlink(opts->output);
		goto out;
	}
	/* the layers being put in the layer cache (they are read from the
	 * stage, which becomes the layout), then the cache trimmed */
	oci_lmake_finish(&b.lm);
	if (b.plan.layout) {
		if (oci_ctx_cancelled(ctx, err) < 0 ||
		    oci_output_layout(&b.out, ctx, b.imgs, b.plan.np, &b.top, &b.plan.tags, err) < 0) {
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
	if (rc < 0 && b.plan.sbom && b.plats && b.plats[0].sbom.len)
		unlink(b.plan.sbom);
	if (rc < 0)
		ocibuild_build_result_release(result);
	cleanup(&b);
	return rc;
}
