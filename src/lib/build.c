/* One build: validate options, make the layer, assemble config and
 * manifest on top of the base, and write the outputs. Everything is staged
 * in a temporary layout directory beside the target and only moved into
 * place at the end, so a failed build leaves nothing behind. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "distribute.h"
#include "blobstore.h"
#include "ctx.h"
#include "dpkg.h"
#include "elfdeps.h"
#include "err.h"
#include "layer.h"
#include "layout.h"
#include "layercache.h"
#include "mem.h"
#include "oci.h"
#include "ref.h"
#include "release.h"
#include "sbom.h"
#include "vcs.h"
#include "walk.h"
#include "banned.h"

/* the os-release text the runtime layer carries */
#define OS_RELEASE_MAX (64u << 10)

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_MTIME 1

#define MAX_LAYERS 8

/* One layer to make: a subset of a walk, in walk order. */
struct layer_plan {
	const char *what;  /* for history and logs: "files", "erts", ... */
	const oci_walk *w;
	const char *root;
	const char *prefix;
	unsigned prefix_mode;
	const oci_walk_entry **v;
	size_t n;
	oci_layer_result r;
};

/* What differs between the platforms of one build: the base, the SBOM
 * (it names the base's digest), the config and the manifest. The layers
 * made from the input are shared by every platform. */
struct plat {
	oci_platform platform;
	oci_base base;
	oci_walk sb;       /* the sbom layer */
	oci_buf sbom;
	struct layer_plan sbom_layer;
	int has_sbom;
	const struct plat *same_sbom; /* an earlier platform with the same SBOM */
	oci_image_config config;
	oci_manifest manifest;
	oci_descriptor desc;
};

struct build {
	ocibuild_ctx *ctx;
	const ocibuild_build_opts *o;
	const char *tree;  /* --dir or the release directory */
	int is_release;
	int bundle;        /* add the runtime layer */
	oci_release rel;
	const char *release_cmd; /* the default Cmd: start, foreground */
	oci_walk w;        /* the tree */
	oci_walk rt;       /* the runtime layer's files */
	oci_dpkg dpkg;     /* their packages' records (status.d) */
	oci_buf osrel;     /* the os-release the runtime layer carries (deb purls) */
	oci_release_app *apps; /* lib/ of the release, for the SBOM */
	size_t napps;
	oci_net net;
	oci_strlist refs; /* pushed references */
	struct layer_plan layers[MAX_LAYERS]; /* shared by every platform */
	size_t nlayers;
	oci_vcs vcs;
	struct plat *plats; /* in the order given */
	size_t np;
	char *workdir;     /* normalised, absolute */
	oci_strlist tags;  /* normalised "name:tag" */
	char created[32];
	int64_t mtime;
	char *stage;       /* temporary layout dir */
	char *lcache;      /* the layer cache's directory, or NULL */
	int layout_exists;
	/* what the tags point at: the one manifest, or the index of several */
	oci_descriptor top;
	oci_layout_txn txn;      /* adding to an existing layout */
	oci_sign_key *sign;      /* --sign-key, loaded before any work */
};

static int kv_check(const char *kv, const char *flag, ocibuild_error *err)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad %s '%s': expected KEY=VALUE with a non-empty KEY", flag, kv);
	return 0;
}

static int port_check(const char *p, oci_buf *out, ocibuild_error *err)
{
	char *end;
	unsigned long n;
	const char *proto = "tcp";

	errno = 0;
	n = strtoul(p, &end, 10);
	if (end == p || errno || n < 1 || n > 65535)
		goto bad;
	if (*end == '/') {
		proto = end + 1;
		if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
			goto bad;
	} else if (*end) {
		goto bad;
	}
	oci_buf_reset(out);
	return oci_buf_printf(out, err, "%lu/%s", n, proto);
bad:
	return oci_err(err, OCIBUILD_ERR_OPTION, 0,
		       "bad port '%s': use PORT or PORT/tcp|udp|sctp with PORT in 1-65535", p);
}

/* "/opt//app/" -> "/opt/app"; refuses relative paths and "..". */
static int norm_workdir(const char *in, char **out, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	const char *p = in;

	if (!in || in[0] != '/')
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad workdir '%s': it must be an absolute path such as /app",
			       in ? in : "");
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (!len || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			oci_buf_release(&b);
			return oci_err(err, OCIBUILD_ERR_OPTION, 0,
				       "bad workdir '%s': '..' is not allowed", in);
		}
		if (oci_buf_puts(&b, "/", err) < 0 || oci_buf_append(&b, s, len, err) < 0) {
			oci_buf_release(&b);
			return -1;
		}
	}
	if (!b.len && oci_buf_puts(&b, "/", err) < 0)
		return -1;
	*out = oci_buf_detach(&b, NULL);
	return *out ? 0 : oci_err_nomem(err);
}

#define MAX_EPOCH 253402300799LL /* 9999-12-31T23:59:59Z */

/* Exactly n decimal digits. */
static int take_digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" -> seconds since 1970. */
static int parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0, leap;
	int64_t t;

	if (take_digits(&p, 4, &y) < 0 || *p++ != '-' || take_digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || take_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (take_digits(&p, 2, &h) < 0 || *p++ != ':' || take_digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || take_digits(&p, 2, &se) < 0)
		return -1;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (take_digits(&p, 2, &oh) < 0 || *p++ != ':' || take_digits(&p, 2, &om) < 0 ||
		    oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > MAX_EPOCH)
		return -1;
	*out = t;
	return 0;
}

/* --created: "now", RFC 3339 or "@SECONDS"; *now is set for "now". */
static int parse_created(const char *s, int64_t *out, int *now, ocibuild_error *err)
{
	*now = 0;
	if (!strcmp(s, "now")) {
		*now = 1;
		return 0;
	}
	if (s[0] == '@' && s[1] >= '0' && s[1] <= '9') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (!errno && !*end && v >= 0 && v <= MAX_EPOCH) {
			*out = v;
			return 0;
		}
	} else if (parse_rfc3339(s, out) == 0) {
		return 0;
	}
	return oci_err(err, OCIBUILD_ERR_OPTION, 0,
		       "bad --created '%s': use now, an RFC 3339 time such as 2024-05-01T12:00:00Z, or @SECONDS since 1970",
		       s);
}

static int validate(struct build *b, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;
	int rc = -1;

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
		if (kv_check(o->env.items[i], "--env", err) < 0)
			goto out;
	for (i = 0; i < o->labels.count; i++)
		if (kv_check(o->labels.items[i], "--label", err) < 0)
			goto out;
	for (i = 0; i < o->annotations.count; i++)
		if (kv_check(o->annotations.items[i], "--annotation", err) < 0)
			goto out;
	for (i = 0; i < o->expose.count; i++)
		if (port_check(o->expose.items[i], &tmp, err) < 0)
			goto out;
	if (norm_workdir(o->workdir ? o->workdir : "/app", &b->workdir, err) < 0)
		goto out;
	if (o->platform) {
		oci_platform *v;

		if (oci_platform_list_parse(o->platform, &v, &b->np, err) < 0) {
			oci_err_as_option(err);
			goto out;
		}
		b->plats = oci_calloc(b->np, sizeof(*b->plats));
		if (!b->plats) {
			oci_platform_list_release(v, b->np);
			b->np = 0;
			oci_err_nomem(err);
			goto out;
		}
		for (i = 0; i < b->np; i++) {
			b->plats[i].platform = v[i];
			oci_buf_init(&b->plats[i].sbom, OCI_MAX_SBOM);
		}
		oci_free(v);
	} else {
		b->plats = oci_calloc(1, sizeof(*b->plats));
		if (!b->plats) {
			oci_err_nomem(err);
			goto out;
		}
		b->np = 1;
		oci_buf_init(&b->plats[0].sbom, OCI_MAX_SBOM);
		if (oci_platform_host(&b->plats[0].platform, err) < 0)
			goto out;
	}
	if (o->user && !*o->user) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "empty --uid: pass a number such as 65534");
		goto out;
	}
	if (o->has_source_date_epoch && o->source_date_epoch < 0) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "SOURCE_DATE_EPOCH must not be negative");
		goto out;
	}
	if (o->created && *o->created) {
		int64_t t;
		int now;

		if (parse_created(o->created, &t, &now, err) < 0)
			goto out;
	}
	if (o->sign_key && !o->push) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0,
			"--sign-key signs the image in the registry: add --push REGISTRY[/NAMESPACE]");
		goto out;
	}
	if (o->sign_key && oci_sign_key_load(o->sign_key, NULL, &b->sign, err) < 0)
		goto out;
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
	const ocibuild_build_opts *o = b->o;
	int64_t t = DEFAULT_MTIME;
	time_t tt;
	struct tm tm;
	int now = 0;

	b->mtime = o->has_source_date_epoch ? o->source_date_epoch : DEFAULT_MTIME;
	if (o->created && *o->created) {
		if (parse_created(o->created, &t, &now, err) < 0)
			return -1;
		if (now)
			t = (int64_t)time(NULL);
	} else if (o->has_source_date_epoch) {
		t = o->source_date_epoch;
	} else if (oci_vcs_commit_time(o->project ? o->project : b->tree, &t) < 0) {
		t = DEFAULT_MTIME;
	}
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(b->created, sizeof(b->created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "timestamp %lld is out of range",
			       (long long)t);
	return 0;
}

static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return oci_strdup(".");
	if (slash == path)
		return oci_strdup("/");
	return oci_strndup(path, (size_t)(slash - path));
}

static int make_stage(struct build *b, ocibuild_error *err)
{
	const char *target = b->o->layout ? b->o->layout : b->o->output;
	const char *tmpdir = getenv("TMPDIR");
	char *parent = target ? parent_dir(target) : oci_strdup(tmpdir && *tmpdir ? tmpdir : "/tmp");
	oci_buf t = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct stat st;
	int rc = -1;

	if (!parent)
		return oci_err_nomem(err);
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		oci_err(err, OCIBUILD_ERR_INPUT, ENOENT,
			"cannot write '%s': directory '%s' does not exist; create it first",
			target ? target : parent, parent);
		goto out;
	}
	if (oci_buf_printf(&t, err, "%s/.ocibuild-stage-XXXXXX", parent) < 0)
		goto out;
	if (!mkdtemp(t.data)) {
		int e = errno;

		oci_err_errno(err, e, "cannot write to directory '%s': %s%s", parent, strerror(e),
			      e == EACCES || e == EROFS ? "; choose an output location you can write to" : "");
		goto out;
	}
	chmod(t.data, 0755);
	b->stage = oci_buf_detach(&t, NULL);
	rc = b->stage ? oci_blobs_prepare(b->stage, err) : oci_err_nomem(err);
out:
	oci_buf_release(&t);
	oci_free(parent);
	return rc;
}

static int check_layout_target(struct build *b, ocibuild_error *err)
{
	const char *dir = b->o->layout;
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct stat st;
	int rc = 0;

	if (!dir)
		return 0;
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return oci_err_errno(err, errno, "cannot use layout '%s': %s", dir, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "layout '%s' exists and is not a directory: choose another --layout",
			       dir);
	if (oci_buf_printf(&p, err, "%s/oci-layout", dir) < 0)
		return -1;
	if (stat(p.data, &st) == 0) {
		b->layout_exists = 1;
		goto out;
	}
	/* its lock but no oci-layout yet: another writer is making it, and we
	 * add to it under the lock like to any layout */
	oci_buf_reset(&p);
	if (oci_buf_printf(&p, err, "%s/%s", dir, OCI_LAYOUT_LOCK) < 0) {
		rc = -1;
	} else if (stat(p.data, &st) == 0) {
		b->layout_exists = 1;
	} else if (rmdir(dir) == 0) {
		/* an empty directory: treat it as new (we recreate it at the end) */
		b->layout_exists = 0;
	} else {
		rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
			     "'%s' exists and is not an OCI layout (no oci-layout file): choose an empty or new directory for --layout",
			     dir);
	}
out:
	oci_buf_release(&p);
	return rc;
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

static struct layer_plan *init_plan(struct layer_plan *p, const char *what, const oci_walk *w,
				    const char *root, const char *prefix, unsigned prefix_mode,
				    ocibuild_error *err)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->w = w;
	p->root = root;
	p->prefix = prefix;
	p->prefix_mode = prefix_mode;
	p->v = oci_calloc(w->n ? w->n : 1, sizeof(*p->v));
	if (!p->v) {
		oci_err_nomem(err);
		return NULL;
	}
	return p;
}

/* A layer shared by every platform. */
static struct layer_plan *new_plan(struct build *b, const char *what, const oci_walk *w,
				   const char *root, const char *prefix, unsigned prefix_mode,
				   ocibuild_error *err)
{
	if (b->nlayers == MAX_LAYERS) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "too many layers");
		return NULL;
	}
	return init_plan(&b->layers[b->nlayers++], what, w, root, prefix, prefix_mode, err);
}

/* Entries whose flag is set, in walk order. */
static void plan_take(struct layer_plan *p, const unsigned char *pick)
{
	size_t i;

	p->n = 0;
	for (i = 0; i < p->w->n; i++)
		if (pick[i])
			p->v[p->n++] = &p->w->v[i];
}

/* Flag the directories above entry i, so a layer never holds a file
 * without its parents. */
static void pick_parents(const oci_walk *w, size_t i, unsigned char *pick)
{
	char *path = oci_strdup(w->v[i].rel), *slash;

	if (!path)
		return;
	while ((slash = strrchr(path, '/'))) {
		long j;

		*slash = '\0';
		j = oci_walk_find(w, path);
		if (j >= 0) {
			if (pick[j])
				break;
			pick[j] = 1;
		}
	}
	oci_free(path);
}

static int plan_tree(struct build *b, unsigned prefix_mode, ocibuild_error *err)
{
	unsigned char *pick;
	size_t i;
	int g;

	if (!b->is_release) {
		struct layer_plan *p = new_plan(b, "files", &b->w, b->tree, b->workdir + 1,
						prefix_mode, err);

		if (!p)
			return -1;
		for (i = 0; i < b->w.n; i++)
			p->v[p->n++] = &b->w.v[i];
		return 0;
	}
	pick = oci_calloc(b->w.n ? b->w.n : 1, 1);
	if (!pick)
		return oci_err_nomem(err);
	for (g = 0; g < OCI_GROUP_COUNT; g++) {
		struct layer_plan *p;
		int any = 0;

		memset(pick, 0, b->w.n);
		for (i = 0; i < b->w.n; i++) {
			if ((int)oci_release_classify(&b->rel, b->w.v[i].rel) != g)
				continue;
			/* directories alone do not make a layer */
			if (b->w.v[i].type != OCI_TAR_DIR)
				any = 1;
			pick[i] = 1;
			pick_parents(&b->w, i, pick);
		}
		if (!any)
			continue;
		p = new_plan(b, oci_group_name((oci_group)g), &b->w, b->tree, b->workdir + 1,
			     prefix_mode, err);
		if (!p) {
			oci_free(pick);
			return -1;
		}
		plan_take(p, pick);
	}
	oci_free(pick);
	return 0;
}

/* NIFs of a release without ERTS that do not match some of the platforms:
 * a base image can provide ERTS for each platform, but not the project's
 * native code, so the user is told which images will miss it. */
static void warn_foreign_nifs(struct build *b, const oci_strlist *files,
			      const unsigned char *foreign)
{
	oci_buf m = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	size_t i, n = 0;
	int rc = oci_buf_puts(&m, "native code built for this machine will not run on ", NULL);

	for (i = 0; i < b->np && rc == 0; i++) {
		char *ps;

		if (!foreign[i])
			continue;
		ps = oci_platform_string(&b->plats[i].platform);
		rc = oci_buf_printf(&m, NULL, "%s%s", n++ ? ", " : "", ps ? ps : "?");
		oci_free(ps);
	}
	if (rc == 0)
		rc = oci_buf_puts(&m, ": ", NULL);
	for (i = 0; i < files->n && rc == 0; i++)
		rc = oci_buf_printf(&m, NULL, "%s%s", i ? ", " : "", files->v[i]);
	if (rc == 0)
		rc = oci_buf_puts(&m, "; build those NIFs for each platform, or leave out the platforms they are not built for",
				  NULL);
	/* a warning only: when its list does not fit in memory, say it without the list */
	oci_log(b->ctx, OCIBUILD_LOG_WARN, "%s",
		rc == 0 ? m.data
			: "native code built for this machine will not run on some of the platforms; build its NIFs for each platform");
	oci_buf_release(&m);
}

/* Every ELF file of the release must be for the image's architecture. With
 * several platforms, a release that bundles ERTS (or the runtime) is
 * refused for a foreign one; a release without ERTS only gets a warning
 * about its NIFs. `elves` gets the files that match every platform. */
static int check_elf(struct build *b, oci_strlist *elves, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	oci_strlist foreign_files = { 0 };
	unsigned char *foreign = oci_calloc(b->np, 1);
	const oci_platform *want0 = &b->plats[0].platform;
	size_t i, k;
	int rc = foreign ? 0 : oci_err_nomem(err);

	for (i = 0; i < b->w.n && rc == 0; i++) {
		const oci_walk_entry *e = &b->w.v[i];
		oci_elf_info info;
		const char *arch;
		int matches = 1;

		if (e->type != OCI_TAR_FILE || e->size < 64)
			continue;
		oci_buf_reset(&path);
		if (oci_buf_printf(&path, err, "%s/%s", b->tree, e->rel) < 0) {
			rc = -1;
			break;
		}
		if (!oci_elf_is_elf(path.data))
			continue;
		if (oci_elf_read(path.data, &info, err) < 0) {
			rc = -1;
			break;
		}
		arch = oci_elf_arch(info.machine, info.elfclass);
		for (k = 0; k < b->np && rc == 0; k++) {
			const oci_platform *want = &b->plats[k].platform;
			char *ws;

			if (arch && !strcmp(arch, want->architecture))
				continue;
			matches = 0;
			if (b->np == 1) {
				rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
					     "'%s' is built for %s but the image is for %s/%s: build the release on (or for) %s, or pass --platform %s/%s",
					     path.data, arch ? arch : "an unknown machine", want0->os,
					     want0->architecture, want0->architecture, want0->os,
					     arch ? arch : "?");
			} else if (b->rel.has_erts || b->bundle) {
				ws = oci_platform_string(want);
				rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
					     "'%s' is built for %s, so this release (it bundles ERTS) can not run on %s: build the release without ERTS (include_erts false in rebar.config's relx, include_erts: false in mix.exs) and use a --base image that provides Erlang for each platform",
					     path.data, arch ? arch : "an unknown machine",
					     ws ? ws : want->architecture);
				oci_free(ws);
			} else {
				foreign[k] = 1;
				if (!oci_strlist_has(&foreign_files, e->rel))
					rc = oci_strlist_push(&foreign_files, e->rel, err);
			}
		}
		if (rc == 0 && matches && elves)
			rc = oci_strlist_push(elves, path.data, err);
		oci_elf_release(&info);
	}
	if (rc == 0 && foreign_files.n)
		warn_foreign_nifs(b, &foreign_files, foreign);
	oci_free(foreign);
	oci_strlist_release(&foreign_files);
	oci_buf_release(&path);
	return rc;
}

static const char *const busybox_applets[] = {
	"sh", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo",
	"env", "expr", "grep", "head", "hostname", "id", "kill", "ls", "mkdir", "mv", "od",
	"printf", "ps", "readlink", "rm", "sed", "sleep", "sort", "tail", "test", "touch",
	"tr", "uname", "wc", "which", NULL,
};

static int has_rel(const oci_walk *w, const char *rel)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->v[i].rel, rel))
			return 1;
	return 0;
}

/* Add a directory entry for every parent that is missing (the runtime
 * layer is small: a linear search is fine), then sort. */
static int add_parents(oci_walk *w, ocibuild_error *err)
{
	size_t i, n = w->n;

	for (i = 0; i < n; i++) {
		char *path = oci_strdup(w->v[i].rel), *slash;

		if (!path)
			return oci_err_nomem(err);
		while ((slash = strrchr(path, '/'))) {
			*slash = '\0';
			if (has_rel(w, path))
				continue;
			if (oci_walk_add(w, path, OCI_TAR_DIR, 0755, NULL, NULL, err) < 0) {
				oci_free(path);
				return -1;
			}
		}
		oci_free(path);
	}
	oci_walk_sort(w);
	return 0;
}

/* OpenSSL 3 loads providers from a directory compiled into libcrypto
 * (Debian: ossl-modules beside it), and the crypto application loads the
 * legacy provider when it can: without legacy.so :crypto lacks md4 and the
 * other legacy algorithms it has on the host. Its libraries are libcrypto
 * and libc, in the closure already. NULL when there is none. */
static const char *legacy_provider(const oci_strlist *files, char *out, size_t size)
{
	char real[PATH_MAX];
	size_t i;

	for (i = 0; i < files->n; i++) {
		const char *base = strrchr(files->v[i], '/');
		char *slash;

		if (!base || strncmp(base + 1, "libcrypto.so.3", 14) || !realpath(files->v[i], real))
			continue;
		slash = strrchr(real, '/');
		*slash = '\0';
		if ((size_t)snprintf(out, size, "%s/ossl-modules/legacy.so", real) < size &&
		    oci_elf_is_elf(out))
			return out;
	}
	return NULL;
}

/* For scanners: a dpkg status record (status.d/NAME, as distroless images
 * have them) for each Debian package that owns a file copied from this
 * machine, and its /etc/os-release. */
static int plan_packages(struct build *b, const oci_strlist *host, ocibuild_error *err)
{
	static const char *const osrel[] = { "/etc/os-release", "/usr/lib/os-release", NULL };
	size_t i;
	int r = oci_dpkg_owners("/var/lib/dpkg", host, &b->dpkg, err);

	if (r < 0)
		return -1;
	if (r == 0)
		oci_log(b->ctx, OCIBUILD_LOG_INFO,
			"no dpkg database in /var/lib/dpkg (not a Debian system): the runtime layer has no package records, so scanners will not list its libraries");
	for (i = 0; i < b->dpkg.n; i++) {
		oci_buf name = OCI_BUF_INIT(OCI_MAX_TEXT);

		if (oci_buf_printf(&name, err, "var/lib/dpkg/status.d/%s", b->dpkg.v[i].name) < 0 ||
		    oci_walk_add_data(&b->rt, name.data, 0644, b->dpkg.v[i].record, b->dpkg.v[i].len,
				      err) < 0) {
			oci_buf_release(&name);
			return -1;
		}
		oci_buf_release(&name);
	}
	for (i = 0; osrel[i]; i++)
		if (access(osrel[i], R_OK) == 0)
			return oci_read_file(osrel[i], OS_RELEASE_MAX, &b->osrel, err) < 0
				       ? -1
				       : oci_walk_add(&b->rt, "etc/os-release", OCI_TAR_FILE, 0644,
						      osrel[i], NULL, err);
	return 0;
}

/* The runtime layer for a scratch image: the loader and shared libraries
 * the release's ELF files need, busybox as /bin/sh and the start scripts'
 * tools, passwd/group entries for the image user, /tmp and CA roots, and
 * the records of the Debian packages they come from. */
static int plan_runtime(struct build *b, const oci_strlist *elves, ocibuild_error *err)
{
	static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
				     "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
	static const char group[] = "root:x:0:\nnogroup:x:65534:\n";
	static const char *const ca[] = { "/etc/ssl/certs/ca-certificates.crt",
					  "/etc/pki/tls/certs/ca-bundle.crt", NULL };
	oci_strlist files = { 0 }, host = { 0 };
	struct layer_plan *p;
	oci_elf_info bb;
	char root[PATH_MAX], real[PATH_MAX], legacy[PATH_MAX];
	size_t i, rlen;
	int rc = -1;

	if (oci_elf_closure(elves, &files, err) < 0)
		goto out;
	if (!realpath(b->tree, root)) {
		oci_err_errno(err, errno, "cannot resolve '%s': %s", b->tree, strerror(errno));
		goto out;
	}
	rlen = strlen(root);
	for (i = 0; i < files.n; i++) {
		/* a library the release ships (a NIF's, found through
		 * $ORIGIN) is in its layers already, where $ORIGIN finds it
		 * in the image too; a copy would hold the checkout's path */
		if (realpath(files.v[i], real) && !strncmp(real, root, rlen) &&
		    (real[rlen] == '/' || rlen == 1))
			continue;
		if (files.v[i][0] != '/') {
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"'%s' is needed by the release but is neither in it nor on an absolute path: link it with an absolute or $ORIGIN runpath",
				files.v[i]);
			goto out;
		}
		if (oci_walk_add(&b->rt, files.v[i] + 1, OCI_TAR_FILE, 0755, files.v[i], NULL,
				 err) < 0 ||
		    oci_strlist_push(&host, files.v[i], err) < 0)
			goto out;
	}
	if (legacy_provider(&files, legacy, sizeof(legacy)) &&
	    (oci_walk_add(&b->rt, legacy + 1, OCI_TAR_FILE, 0644, legacy, NULL, err) < 0 ||
	     oci_strlist_push(&host, legacy, err) < 0))
		goto out;
	if (oci_elf_read("/bin/busybox", &bb, NULL) == 0 && bb.is_elf && !bb.interp &&
	    oci_elf_arch(bb.machine, bb.elfclass) &&
	    !strcmp(oci_elf_arch(bb.machine, bb.elfclass), b->plats[0].platform.architecture)) {
		oci_elf_release(&bb);
		if (oci_walk_add(&b->rt, "bin/busybox", OCI_TAR_FILE, 0755, "/bin/busybox", NULL,
				 err) < 0 ||
		    oci_strlist_push(&host, "/bin/busybox", err) < 0)
			goto out;
		for (i = 0; busybox_applets[i]; i++) {
			oci_buf name = OCI_BUF_INIT(OCI_MAX_TEXT);

			if (oci_buf_printf(&name, err, "bin/%s", busybox_applets[i]) < 0 ||
			    oci_walk_add(&b->rt, name.data, OCI_TAR_SYMLINK, 0777, NULL, "busybox",
					 err) < 0) {
				oci_buf_release(&name);
				goto out;
			}
			oci_buf_release(&name);
		}
	} else {
		oci_elf_release(&bb);
		oci_log(b->ctx, OCIBUILD_LOG_WARN,
			"no static busybox on this machine: the image has no /bin/sh, so the release start script can not run; install busybox-static");
	}
	if (oci_walk_add_data(&b->rt, "etc/passwd", 0644, passwd, sizeof(passwd) - 1, err) < 0 ||
	    oci_walk_add_data(&b->rt, "etc/group", 0644, group, sizeof(group) - 1, err) < 0 ||
	    oci_walk_add(&b->rt, "tmp", OCI_TAR_DIR, 01777, NULL, NULL, err) < 0)
		goto out;
	for (i = 0; ca[i]; i++) {
		if (access(ca[i], R_OK) == 0) {
			if (oci_walk_add(&b->rt, ca[i] + 1, OCI_TAR_FILE, 0644, ca[i], NULL, err) < 0 ||
			    oci_strlist_push(&host, ca[i], err) < 0)
				goto out;
			break;
		}
	}
	if (plan_packages(b, &host, err) < 0 || add_parents(&b->rt, err) < 0)
		goto out;
	p = new_plan(b, "runtime", &b->rt, "/", "", 0755, err);
	if (!p)
		goto out;
	for (i = 0; i < b->rt.n; i++)
		p->v[p->n++] = &b->rt.v[i];
	rc = 0;
out:
	oci_strlist_release(&files);
	oci_strlist_release(&host);
	return rc;
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
	in.debs = &b->dpkg;
	in.os_release = b->osrel.data;
	in.created = b->created;
	if (!pl->base.scratch) {
		in.base_name = pl->base.name;
		in.base_digest = pl->base.manifest_digest;
	}
	oci_buf_init(&pl->sbom, OCI_MAX_SBOM);
	if (oci_sbom_spdx(&in, &pl->sbom, err) < 0)
		return -1;
	/* --sbom gets the first platform's document */
	if (pl == b->plats && b->o->sbom &&
	    oci_write_file_atomic(b->o->sbom, pl->sbom.data, pl->sbom.len, 0, err) < 0)
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
	if (!init_plan(&pl->sbom_layer, "sbom", &pl->sb, "/", "", 0755, err))
		return -1;
	pl->has_sbom = 1;
	pl->sbom_layer.v[pl->sbom_layer.n++] = &pl->sb.v[0];
	return 0;
}

/* A layer from the cache, when its input has not changed. *hit says
 * whether it was; a cached blob that fails its digest is dropped (with the
 * entry) and the layer made again. */
static int layer_from_cache(struct build *b, struct layer_plan *p, const char *key, int *hit,
			    ocibuild_error *err)
{
	char *blob;

	*hit = 0;
	if (oci_lcache_get(b->lcache, key, &p->r, hit, err) < 0 || !*hit)
		return *hit ? 0 : err->kind == OCIBUILD_ERR_NONE ? 0 : -1;
	if (oci_blobs_import(b->stage, b->lcache, p->r.digest, p->r.size, b->o->layout != NULL,
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

static int build_layer(struct build *b, struct layer_plan *p, ocibuild_error *err)
{
	oci_layer_opts lo;
	char h1[32], h2[32], key[OCI_LCACHE_KEY_LEN + 1];
	int hit = 0;

	memset(&lo, 0, sizeof(lo));
	lo.root = p->root;
	lo.prefix = p->prefix;
	lo.prefix_mode = p->prefix_mode;
	lo.mtime = b->mtime;
	lo.compression = b->o->compression;
	lo.threads = oci_ctx_threads(b->ctx);
	lo.cancel = b->ctx->cancel;
	lo.cancel_userdata = b->ctx->cancel_userdata;
	if (b->lcache) {
		if (oci_lcache_key(&lo, p->v, p->n, key, err) < 0 ||
		    layer_from_cache(b, p, key, &hit, err) < 0)
			return -1;
		if (hit)
			return 0;
	}
	if (oci_layer_build(&lo, p->v, p->n, b->stage, b->o->layout != NULL, &p->r, err) < 0)
		return -1;
	oci_log(b->ctx, OCIBUILD_LOG_INFO, "%s layer %.19s: %zu entries, %s tar, %s %s",
		p->what, p->r.digest, p->n, human(p->r.tar_size, h1, sizeof(h1)),
		human((uint64_t)p->r.size, h2, sizeof(h2)),
		b->o->compression == OCIBUILD_COMPRESS_NONE ? "uncompressed"
		: b->o->compression == OCIBUILD_COMPRESS_ZSTD ? "zstd" : "gzip");
	if (b->lcache && oci_lcache_put(b->lcache, key, b->stage, &p->r, err) < 0) {
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

static int build_layers(struct build *b, ocibuild_error *err)
{
	size_t i;
	uint64_t gone = 0;

	for (i = 0; i < b->nlayers; i++)
		if (build_layer(b, &b->layers[i], err) < 0)
			return -1;
	if (b->lcache) {
		if (oci_lcache_trim(b->lcache, b->o->cache_max ? b->o->cache_max
							   : OCIBUILD_DEFAULT_CACHE_MAX,
				    &gone, err) < 0)
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
		else if (build_layer(b, &pl->sbom_layer, err) < 0)
			return -1;
	}
	return 0;
}

/* Set K=V in an Env list; an existing K is replaced only when `replace`. */
static int env_put(oci_strlist *env, const char *kv, int replace, ocibuild_error *err)
{
	size_t klen = (size_t)(strchr(kv, '=') - kv), i;

	for (i = 0; i < env->n; i++) {
		if (!strncmp(env->v[i], kv, klen + 1)) {
			char *d;

			if (!replace)
				return 0;
			d = oci_strdup(kv);
			if (!d)
				return oci_err_nomem(err);
			oci_free(env->v[i]);
			env->v[i] = d;
			return 0;
		}
	}
	return oci_strlist_push(env, kv, err);
}

/* Set every KEY=VALUE of kvs (already checked by validate) in m. */
static int map_set_kv(oci_map *m, const ocibuild_strv *kvs, ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < kvs->count; i++) {
		const char *kv = kvs->items[i], *eq = strchr(kv, '=');
		char *k = oci_strndup(kv, (size_t)(eq - kv));
		int rc;

		if (!k)
			return oci_err_nomem(err);
		rc = oci_map_set(m, k, eq + 1, err);
		oci_free(k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int set_strlist(oci_strlist *l, const ocibuild_strv *v, ocibuild_error *err)
{
	size_t i;

	oci_strlist_release(l);
	for (i = 0; i < v->count; i++)
		if (oci_strlist_push(l, v->items[i], err) < 0)
			return -1;
	return 0;
}

static int replace_str(char **dst, const char *s, ocibuild_error *err)
{
	char *d = oci_strdup(s);

	if (!d)
		return oci_err_nomem(err);
	oci_free(*dst);
	*dst = d;
	return 0;
}

/* What a release needs to start as a non-root user on a read-only
 * directory: a home, a UTF-8 locale, and a writable place for the files
 * the start scripts (and a crash) write. The start script is the
 * Entrypoint and its command the Cmd, so `docker run IMAGE eval ...` runs
 * `bin/NAME eval ...`. */
static int release_config(struct build *b, oci_image_config *c, ocibuild_error *err)
{
	oci_buf bin = OCI_BUF_INIT(OCI_MAX_TEXT);
	int rc = -1;

	/* a crash dump goes to the working directory, the read-only /app */
	if (env_put(&c->env, "HOME=/tmp", 0, err) < 0 ||
	    env_put(&c->env, "LANG=C.UTF-8", 0, err) < 0 ||
	    env_put(&c->env, "ERL_CRASH_DUMP=/tmp/erl_crash.dump", 0, err) < 0)
		goto out;
	if (b->rel.kind == OCI_REL_MIX
		    ? env_put(&c->env, "RELEASE_TMP=/tmp", 0, err) < 0
		    : env_put(&c->env, "RELX_OUT_FILE_PATH=/tmp", 0, err) < 0)
		goto out;
	if (b->o->entrypoint_set) {
		rc = 0;
		goto out;
	}
	if (oci_buf_printf(&bin, err, "%s%sbin/%s", b->workdir,
			   strcmp(b->workdir, "/") ? "/" : "", b->rel.name) < 0)
		goto out;
	oci_strlist_release(&c->entrypoint);
	if (oci_strlist_push(&c->entrypoint, bin.data, err) < 0)
		goto out;
	c->has_entrypoint = 1;
	oci_strlist_release(&c->cmd);
	c->has_cmd = 0;
	if (b->release_cmd) {
		if (oci_strlist_push(&c->cmd, b->release_cmd, err) < 0)
			goto out;
		c->has_cmd = 1;
	}
	rc = 0;
out:
	oci_buf_release(&bin);
	return rc;
}

/* The layers of one platform's image after the base's: the shared ones,
 * then its sbom layer. */
static size_t plat_nlayers(const struct build *b, const struct plat *pl)
{
	return b->nlayers + (pl->has_sbom ? 1 : 0);
}

static const struct layer_plan *plat_layer(const struct build *b, const struct plat *pl,
					   size_t i)
{
	return i < b->nlayers ? &b->layers[i] : &pl->sbom_layer;
}

static int make_config(struct build *b, struct plat *pl, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	oci_image_config *c = &pl->config;
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i, j;
	int has_path = 0, rc = -1;

	if (pl->base.config_json) {
		if (oci_config_parse(pl->base.config_json, pl->base.config_len, c, err) < 0)
			return -1;
	} else {
		memset(c, 0, sizeof(*c));
	}
	oci_platform_release(&c->platform);
	c->platform.os = oci_strdup(pl->platform.os);
	c->platform.architecture = oci_strdup(pl->platform.architecture);
	c->platform.variant = pl->platform.variant ? oci_strdup(pl->platform.variant) : NULL;
	if (!c->platform.os || !c->platform.architecture ||
	    (pl->platform.variant && !c->platform.variant)) {
		oci_err_nomem(err);
		goto out;
	}
	if (replace_str(&c->created, b->created, err) < 0)
		goto out;
	if (o->user ? replace_str(&c->user, o->user, err) < 0
		    : (!c->user || !*c->user) && replace_str(&c->user, "65534", err) < 0)
		goto out;
	for (i = 0; i < o->env.count; i++)
		if (env_put(&c->env, o->env.items[i], 1, err) < 0)
			goto out;
	for (i = 0; i < c->env.n; i++)
		has_path |= !strncmp(c->env.v[i], "PATH=", 5);
	if (!has_path && oci_strlist_push(&c->env, DEFAULT_PATH, err) < 0)
		goto out;
	if (o->entrypoint_set) {
		if (set_strlist(&c->entrypoint, &o->entrypoint, err) < 0)
			goto out;
		c->has_entrypoint = 1;
		/* as in a Dockerfile: a new ENTRYPOINT drops the base's CMD */
		oci_strlist_release(&c->cmd);
		c->has_cmd = 0;
	}
	if (b->is_release && release_config(b, c, err) < 0)
		goto out;
	/* after the entrypoint: --entrypoint X -c Y keeps both */
	if (o->cmd_set) {
		if (set_strlist(&c->cmd, &o->cmd, err) < 0)
			goto out;
		c->has_cmd = 1;
	}
	if (replace_str(&c->working_dir, b->workdir, err) < 0)
		goto out;
	for (i = 0; i < o->expose.count; i++) {
		int dup = 0;

		if (port_check(o->expose.items[i], &tmp, err) < 0)
			goto out;
		for (j = 0; j < c->exposed_ports.n; j++)
			dup |= !strcmp(c->exposed_ports.v[j], tmp.data);
		if (!dup && oci_strlist_push(&c->exposed_ports, tmp.data, err) < 0)
			goto out;
	}
	if (map_set_kv(&c->labels, &o->labels, err) < 0)
		goto out;
	for (i = 0; i < plat_nlayers(b, pl); i++) {
		const struct layer_plan *p = plat_layer(b, pl, i);

		if (oci_strlist_push(&c->diff_ids, p->r.diff_id, err) < 0)
			goto out;
		oci_buf_reset(&tmp);
		if (oci_buf_printf(&tmp, err, "ocibuild build: %s layer in %s", p->what,
				   *p->prefix ? b->workdir : "/") < 0 ||
		    oci_config_add_history(c, b->created, tmp.data, "ocibuild " OCIBUILD_VERSION,
					   0, err) < 0)
			goto out;
	}
	rc = 0;
out:
	oci_buf_release(&tmp);
	return rc;
}

/* Docker media types of base layers become their OCI twins: same bytes. */
static const char *oci_layer_type(const char *mt)
{
	if (!strcmp(mt, OCI_MT_DOCKER_LAYER))
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	if (!strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return "application/vnd.oci.image.layer.v1.tar";
	return mt;
}

static int add_layer_desc(oci_manifest *m, const char *mt, const char *digest,
			  int64_t size, ocibuild_error *err)
{
	oci_descriptor *v = oci_reallocarray(m->layers, m->nlayers + 1, sizeof(*v));

	if (!v)
		return oci_err_nomem(err);
	m->layers = v;
	memset(&v[m->nlayers], 0, sizeof(*v));
	v[m->nlayers].media_type = oci_strdup(oci_layer_type(mt));
	if (!v[m->nlayers].media_type)
		return oci_err_nomem(err);
	memcpy(v[m->nlayers].digest, digest, OCI_DIGEST_LEN + 1);
	v[m->nlayers].size = size;
	m->nlayers++;
	return 0;
}

static int make_manifest(struct build *b, struct plat *pl, ocibuild_error *err)
{
	const ocibuild_build_opts *o = b->o;
	oci_manifest *m = &pl->manifest;
	oci_buf doc = OCI_BUF_INIT(OCI_MAX_CONFIG);
	size_t i;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->media_type = oci_strdup(OCI_MT_MANIFEST);
	if (!m->media_type) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < pl->base.manifest.nlayers; i++) {
		const oci_descriptor *l = &pl->base.manifest.layers[i];

		/* a registry base's layers stay remote when only pushing to the
		 * same registry: they are mounted there */
		if ((pl->base.layers_local || oci_blobs_has(pl->base.layout_dir, l->digest)) &&
		    oci_blobs_import(b->stage, pl->base.layout_dir, l->digest, l->size,
				     o->layout != NULL, err) < 0)
			goto out;
		if (add_layer_desc(m, l->media_type, l->digest, l->size, err) < 0)
			goto out;
	}
	for (i = 0; i < plat_nlayers(b, pl); i++)
		if (add_layer_desc(m, oci_layer_media_type(o->compression),
				   plat_layer(b, pl, i)->r.digest, plat_layer(b, pl, i)->r.size,
				   err) < 0)
			goto out;
	if (oci_config_serialize(&pl->config, &doc, err) < 0)
		goto out;
	m->config.media_type = oci_strdup(OCI_MT_CONFIG);
	m->config.size = (int64_t)doc.len;
	if (!m->config.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_blobs_put(b->stage, doc.data, doc.len, m->config.digest, o->layout != NULL,
			  err) < 0)
		goto out;
	if (oci_map_set(&m->annotations, OCI_ANN_CREATED, b->created, err) < 0)
		goto out;
	if (b->is_release &&
	    oci_map_set(&m->annotations, OCI_ANN_VERSION, b->rel.version, err) < 0)
		goto out;
	if (map_set_kv(&m->annotations, &o->annotations, err) < 0)
		goto out;
	/* where the image comes from can not be overridden */
	if ((b->vcs.source &&
	     oci_map_set(&m->annotations, OCI_ANN_SOURCE, b->vcs.source, err) < 0) ||
	    (b->vcs.revision &&
	     oci_map_set(&m->annotations, OCI_ANN_REVISION, b->vcs.revision, err) < 0))
		goto out;
	if (!pl->base.scratch &&
	    (oci_map_set(&m->annotations, OCI_ANN_BASE_DIGEST, pl->base.manifest_digest, err) < 0 ||
	     oci_map_set(&m->annotations, OCI_ANN_BASE_NAME, pl->base.name, err) < 0))
		goto out;
	if (oci_manifest_serialize(m, &doc, err) < 0)
		goto out;
	pl->desc.media_type = oci_strdup(OCI_MT_MANIFEST);
	pl->desc.size = (int64_t)doc.len;
	if (!pl->desc.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	pl->desc.platform = oci_calloc(1, sizeof(oci_platform));
	if (!pl->desc.platform) {
		oci_err_nomem(err);
		goto out;
	}
	pl->desc.platform->os = oci_strdup(pl->platform.os);
	pl->desc.platform->architecture = oci_strdup(pl->platform.architecture);
	if (pl->platform.variant)
		pl->desc.platform->variant = oci_strdup(pl->platform.variant);
	rc = oci_blobs_put(b->stage, doc.data, doc.len, pl->desc.digest,
			   o->layout != NULL, err);
out:
	oci_buf_release(&doc);
	return rc;
}

/* What the tags point at: the manifest of a single platform, as it always
 * was, or an image index of every platform's manifest in the order given,
 * carrying the creation time and the -a annotations. */
static int make_top(struct build *b, ocibuild_error *err)
{
	oci_buf doc = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_index x;
	size_t i;
	int rc = -1;

	if (b->np == 1)
		return oci_descriptor_copy(&b->top, &b->plats[0].desc, err);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < b->np; i++)
		if (oci_index_add(&x, &b->plats[i].desc, err) < 0)
			goto out;
	if (oci_map_set(&x.annotations, OCI_ANN_CREATED, b->created, err) < 0 ||
	    map_set_kv(&x.annotations, &b->o->annotations, err) < 0 ||
	    oci_index_serialize(&x, &doc, err) < 0)
		goto out;
	b->top.media_type = oci_strdup(OCI_MT_INDEX);
	b->top.size = (int64_t)doc.len;
	if (!b->top.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	rc = oci_blobs_put(b->stage, doc.data, doc.len, b->top.digest, b->o->layout != NULL, err);
out:
	oci_index_release(&x);
	oci_buf_release(&doc);
	return rc;
}

static int write_stage_index(struct build *b, ocibuild_error *err)
{
	oci_index x;
	size_t i;
	int rc = 0;

	memset(&x, 0, sizeof(x));
	for (i = 0; i < b->tags.n && rc == 0; i++)
		rc = oci_layout_set_ref(&x, &b->top, b->tags.v[i], err);
	if (rc == 0)
		rc = oci_layout_write_index(b->stage, &x, b->o->layout != NULL, err);
	oci_index_release(&x);
	return rc;
}

static int write_archive(struct build *b, ocibuild_error *err)
{
	const char *out = b->o->output;
	size_t n = strlen(out);
	oci_buf dm = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_archive_opts ao;
	oci_platform host;
	const struct plat *pick = &b->plats[0];
	size_t i;
	int rc;

	/* Docker's manifest.json names one image: the build host's platform
	 * when it is among them, else the first */
	if (b->np > 1 && oci_platform_host(&host, NULL) == 0) {
		for (i = 0; i < b->np; i++) {
			if (oci_platform_match(&host, &b->plats[i].platform)) {
				pick = &b->plats[i];
				break;
			}
		}
		oci_platform_release(&host);
	}
	if (oci_docker_manifest_json(&pick->manifest, &b->tags, &dm, err) < 0)
		return -1;
	memset(&ao, 0, sizeof(ao));
	ao.path = out;
	ao.gzip = !strcmp(out + n - 3, ".gz") || !strcmp(out + n - 4, ".tgz");
	ao.threads = oci_ctx_threads(b->ctx);
	ao.mtime = b->mtime;
	ao.docker_manifest = dm.data;
	ao.cancel = b->ctx->cancel;
	ao.cancel_userdata = b->ctx->cancel_userdata;
	rc = oci_archive_write(b->stage, &ao, err);
	oci_buf_release(&dm);
	return rc;
}

static int write_layout(struct build *b, ocibuild_error *err)
{
	const char *dir = b->o->layout;
	oci_layout_txn *t = &b->txn;
	size_t i, k;

	if (!b->layout_exists) {
		if (rename(b->stage, dir) == 0) {
			oci_free(b->stage);
			b->stage = NULL;
			return 0;
		}
		/* another writer made it since we looked: add to it instead */
		if (errno != EEXIST && errno != ENOTEMPTY)
			return oci_err_errno(err, errno, "cannot create layout '%s': %s", dir,
					     strerror(errno));
	}
	if (oci_layout_txn_begin(t, dir, b->ctx->lock_timeout, b->ctx->cancel,
				 b->ctx->cancel_userdata, err) < 0)
		return -1;
	for (k = 0; k < b->np; k++) {
		const oci_manifest *m = &b->plats[k].manifest;

		for (i = 0; i < m->nlayers; i++)
			if (oci_layout_txn_add(t, b->stage, m->layers[i].digest, m->layers[i].size,
					       err) < 0)
				return -1;
		if (oci_layout_txn_add(t, b->stage, m->config.digest, m->config.size, err) < 0 ||
		    oci_layout_txn_add(t, b->stage, b->plats[k].desc.digest, b->plats[k].desc.size,
				       err) < 0)
			return -1;
	}
	/* the index last: a reader never finds it before what it names */
	if (b->np > 1 && oci_layout_txn_add(t, b->stage, b->top.digest, b->top.size, err) < 0)
		return -1;
	return oci_layout_txn_commit(t, &b->top, (const char *const *)b->tags.v, b->tags.n, err);
}

static void cleanup(struct build *b)
{
	size_t i;

	oci_layout_txn_abort(&b->txn); /* nothing to undo after its commit */
	if (b->stage)
		oci_remove_tree(b->stage);
	oci_free(b->stage);
	oci_free(b->lcache);
	oci_free(b->workdir);
	oci_strlist_release(&b->tags);
	for (i = 0; i < b->np; i++) {
		struct plat *pl = &b->plats[i];

		oci_platform_release(&pl->platform);
		oci_base_release(&pl->base);
		oci_manifest_release(&pl->manifest);
		oci_config_release(&pl->config);
		oci_descriptor_release(&pl->desc);
		oci_free(pl->sbom_layer.v);
		oci_walk_release(&pl->sb);
		oci_buf_release(&pl->sbom);
	}
	oci_free(b->plats);
	oci_descriptor_release(&b->top);
	for (i = 0; i < b->nlayers; i++)
		oci_free(b->layers[i].v);
	oci_walk_release(&b->w);
	oci_walk_release(&b->rt);
	oci_dpkg_release(&b->dpkg);
	oci_buf_release(&b->osrel);
	oci_release_apps_release(b->apps, b->napps);
	oci_release_release(&b->rel);
	oci_vcs_release(&b->vcs);
	oci_strlist_release(&b->refs);
	oci_sign_key_release(b->sign);
}


/* Base layers are needed on disk for a file output, and for a push to a
 * registry other than the base's (no cross-registry mount). */
static int need_base_layers(struct build *b)
{
	const ocibuild_build_opts *o = b->o;
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
	const ocibuild_build_opts *o = b->o;
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
	const ocibuild_build_opts *o = b->o;

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
	const ocibuild_build_opts *o = b->o;
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
	b->release_cmd = oci_release_default_cmd(&b->rel);
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

/* The runtime layer is this machine's libraries, loader and busybox: it
 * suits only images for this machine's architecture. */
static int check_runtime_platforms(struct build *b, ocibuild_error *err)
{
	oci_platform host;
	size_t i;
	int rc = 0;

	if (oci_platform_host(&host, err) < 0)
		return -1;
	for (i = 0; i < b->np && rc == 0; i++) {
		char *ps;

		if (!strcmp(host.architecture, b->plats[i].platform.architecture))
			continue;
		ps = oci_platform_string(&b->plats[i].platform);
		rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
			     "--bundle-runtime copies this machine's %s libraries, loader and busybox, so it can not make the %s image: build the release without ERTS (include_erts false in rebar.config's relx, include_erts: false in mix.exs) and use a --base image that provides Erlang for each platform",
			     host.architecture, ps ? ps : b->plats[i].platform.architecture);
		oci_free(ps);
	}
	oci_platform_release(&host);
	return rc;
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
		if (b->o->bundle_runtime && b->np > 1 && check_runtime_platforms(b, err) < 0)
			goto out;
		if (check_elf(b, &elves, err) < 0)
			goto out;
		if (b->bundle && plan_runtime(b, &elves, err) < 0)
			goto out;
	}
	if (plan_tree(b, mode, err) < 0)
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

int ocibuild_build(ocibuild_ctx *ctx, const ocibuild_build_opts *opts,
		   ocibuild_build_result *result, ocibuild_error *err)
{
	struct build b;
	size_t i;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	oci_buf_init(&b.osrel, OS_RELEASE_MAX);
	b.ctx = ctx;
	b.o = opts;
	b.tree = opts->dir;
	b.is_release = !opts->dir;
	memset(result, 0, sizeof(*result));
	if (validate(&b, err) < 0)
		goto out;
	if (b.is_release && open_release(&b, err) < 0)
		goto out;
	if (set_times(&b, err) < 0)
		goto out;
	if (!opts->no_cache && !(b.lcache = oci_cache_dir(NULL))) {
		oci_err_nomem(err);
		goto out;
	}
	b.net.ca_file = opts->ca_file;
	b.net.insecure = opts->insecure_registries;
	b.net.chunk = opts->chunk_size ? opts->chunk_size : OCIBUILD_DEFAULT_CHUNK_SIZE;
	b.net.jobs = ctx->jobs > 0 ? ctx->jobs : OCIBUILD_DEFAULT_JOBS;
	for (i = 0; i < b.np; i++)
		if (oci_base_open(ctx, &b.net, opts->base, &b.plats[i].platform,
				  need_base_layers(&b), &b.plats[i].base, err) < 0)
			goto out;
	if (b.is_release && !opts->no_vcs_annotations &&
	    oci_vcs_detect(opts->project ? opts->project : b.tree, NULL, &b.vcs, err) < 0)
		goto out;
	if (oci_walk_dir(b.tree, &b.w, err) < 0)
		goto out;
	if (plan_layers(&b, err) < 0)
		goto out;
	if (check_layout_target(&b, err) < 0 || make_stage(&b, err) < 0)
		goto out;
	if (build_layers(&b, err) < 0 || oci_ctx_cancelled(ctx, err) < 0)
		goto out;
	for (i = 0; i < b.np; i++)
		if (make_config(&b, &b.plats[i], err) < 0 ||
		    make_manifest(&b, &b.plats[i], err) < 0)
			goto out;
	if (make_top(&b, err) < 0 || write_stage_index(&b, err) < 0)
		goto out;
	if (opts->output) {
		if (oci_ctx_cancelled(ctx, err) < 0 || write_archive(&b, err) < 0)
			goto out;
		oci_log(ctx, OCIBUILD_LOG_INFO, "wrote %s", opts->output);
	}
	if (opts->push) {
		char *cache = oci_cache_dir(NULL);
		oci_strlist base_blobs = { 0 };
		size_t k;

		/* every platform's base comes from the same reference: one
		 * registry and repository to mount from */
		rc = cache ? 0 : oci_err_nomem(err);
		for (k = 0; k < b.np; k++) {
			const oci_manifest *bm = &b.plats[k].base.manifest;

			for (i = 0; rc == 0 && i < bm->nlayers; i++)
				if (!oci_strlist_has(&base_blobs, bm->layers[i].digest))
					rc = oci_strlist_push(&base_blobs, bm->layers[i].digest, err);
		}
		if (rc == 0)
			rc = oci_push_tags(ctx, &b.net, b.stage, b.top.digest, opts->push,
					   (const char *const *)b.tags.v, b.tags.n, b.plats[0].base.reg,
					   b.plats[0].base.repo, &base_blobs, cache, b.sign,
					   !opts->no_attach_sbom, &b.refs, err);
		oci_strlist_release(&base_blobs);
		oci_free(cache);
		if (rc == 0)
			rc = oci_write_refs(opts->image_refs, opts->digest_file, &b.refs,
					    b.top.digest, err);
		if (rc < 0) {
			if (opts->output)
				unlink(opts->output);
			goto out;
		}
		rc = -1;
		oci_digest_refs(&b.refs, result->pushed_ref, sizeof(result->pushed_ref));
	}
	if (opts->layout) {
		if (oci_ctx_cancelled(ctx, err) < 0 || write_layout(&b, err) < 0) {
			if (opts->output)
				unlink(opts->output);
			goto out;
		}
		oci_log(ctx, OCIBUILD_LOG_INFO, "wrote layout %s", opts->layout);
	}
	memcpy(result->manifest_digest, b.top.digest, sizeof(result->manifest_digest));
	result->manifest_size = b.top.size;
	result->layer_count = b.plats[0].manifest.nlayers;
	rc = 0;
out:
	if (rc < 0 && err && err->kind == OCIBUILD_ERR_NOSPACE)
		oci_err(err, OCIBUILD_ERR_NOSPACE, err->code,
			"no space left on the device holding '%s': free some space or write the output elsewhere",
			opts->layout ? opts->layout : opts->output);
	if (rc < 0 && opts->sbom && b.np && b.plats[0].sbom.len)
		unlink(opts->sbom);
	cleanup(&b);
	return rc;
}
