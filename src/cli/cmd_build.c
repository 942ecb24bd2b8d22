/* ocibuild build: flags -> ocibuild_build_opts -> ocibuild_build(). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../lib/banned.h"

/* the most worker threads --jobs may ask for */
#define MAX_JOBS 256

enum {
	F_DIR = 256, F_BASE, F_LAYOUT, F_WORKDIR, F_COMPRESSION, F_PLATFORM, F_UID,
	F_ENTRYPOINT, F_CMD, F_EXPOSE, F_RELEASE, F_PROJECT, F_LOCK, F_BUNDLE, F_SBOM, F_NOVCS,
	F_CREATED, F_NOBUNDLE, F_NOCACHE, F_CACHEMAX, F_CACHEFROM,
};

static const struct cli_flag build_flags[] = {
	{ "dir", F_DIR, "DIR", NULL, "directory to put in the image" },
	{ "release", F_RELEASE, "DIR|NAME", NULL, "a rebar3 or Mix release directory; with --project, the release's name" },
	{ "project", F_PROJECT, "DIR", NULL, "a rebar3 or Mix project: use its newest release under _build/" },
	{ "lock", F_LOCK, "FILE", "the project's", "rebar.lock or mix.lock naming the dependencies (deps layer, SBOM)" },
	{ "bundle-runtime", F_BUNDLE, NULL, "with --base scratch and a release that includes ERTS", "add the libraries, loader and busybox the release needs" },
	{ "no-bundle-runtime", F_NOBUNDLE, NULL, NULL, "leave them out (the release will not start on scratch)" },
	{ "sbom", F_SBOM, "FILE", NULL, "also write the image's SPDX 2.2 SBOM (releases) to FILE (with several platforms: the first one's)" },
	{ "no-vcs-annotations", F_NOVCS, NULL, NULL, "do not record the source URL and revision (from CI variables or git)" },
	{ "created", F_CREATED, "WHEN", "SOURCE_DATE_EPOCH, else the git HEAD's commit time, else 1970-01-01T00:00:01Z", "the image's creation time: now, an RFC 3339 time such as 2024-05-01T12:00:00Z, or @SECONDS since 1970" },
	{ "tag", 't', "NAME:TAG", "a release's NAME:VSN ('_' for '+')", "image name and tag; repeatable (required with --dir)" },
	{ "output", 'o', "FILE", "with none of --layout and --push, for a release in DIR/rel/: DIR/NAME-VSN.tar", "write an image archive: FILE.tar, or FILE.tar.gz to gzip it" },
	{ "layout", F_LAYOUT, "DIR", NULL, "write (or add to) an OCI image layout directory" },
	CLI_LOCK_TIMEOUT_FLAG,
	{ "base", F_BASE, "BASE", "scratch", "base image: scratch, oci:DIR[:TAG] (a layout on disk) or a registry reference such as debian:stable-slim" },
	{ "workdir", F_WORKDIR, "PATH", "/app", "where the files go in the image; also the working directory" },
	{ "compression", F_COMPRESSION, "ALGO", "gzip", "layer compression: gzip, zstd or none" },
	{ "cache-max", F_CACHEMAX, "SIZE", "10G", "keep the cache at most this big: the least recently used blobs go after the build" },
	{ "cache-from", F_CACHEFROM, "REF", "with --push (and no --no-cache): each NAME:TAG where it is pushed", "an image in a registry whose layers this build may reuse when their content is the same (nothing compressed or uploaded for them); repeatable; one that does not exist is skipped" },
	{ "no-cache", F_NOCACHE, NULL, NULL, "make every layer, and keep none, instead of taking unchanged layers from the layer cache in $OCIBUILD_CACHE_DIR (default ~/.cache/ocibuild)" },
	{ "platform", F_PLATFORM, "OS/ARCH[,...]", "the build host's", "image platform, e.g. linux/amd64 or linux/arm64/v8; several, comma-separated, make an image index" },
	{ "uid", F_UID, "UID[:GID]", "65534", "user the container runs as" },
	{ "env", 'e', "KEY=VALUE", NULL, "environment variable; repeatable" },
	{ "entrypoint", F_ENTRYPOINT, "ARGS", "the base's; releases: bin/NAME", "the image's Entrypoint: a JSON array or space-separated words; drops the base's (and the release's) Cmd unless -c is given too" },
	{ "cmd", 'c', "ARGS", "the base's; releases: foreground (relx), start (Mix)", "the image's Cmd: a JSON array or words; for a release, the arguments of its start script bin/NAME (the Entrypoint), e.g. '[\"eval\",\"MyApp.Release.migrate()\"]'" },
	{ "expose", F_EXPOSE, "PORT[/PROTO]", NULL, "port to declare, e.g. 8080 or 53/udp; repeatable" },
	{ "label", 'l', "KEY=VALUE", NULL, "image config label; repeatable" },
	{ "annotation", 'a', "KEY=VALUE", NULL, "image manifest annotation (and image index, with several platforms); repeatable" },
	{ "push", 'p', "REGISTRY[/NS]", NULL, "push the image there as NS/NAME:TAG for each -t; stdout gets its digest reference" },
	{ "jobs", 'j', "N", "one per CPU", "compression threads and blobs in flight (the output does not depend on it)" },
	CLI_REGISTRY_FLAGS,
	{ "quiet", 'q', NULL, NULL, "print only errors and the digest" },
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void build_help(void)
{
	printf("usage: ocibuild build (--dir DIR | --release DIR | --project DIR) -t NAME:TAG\n"
	       "                      (-o FILE.tar | --layout DIR | --push REGISTRY) [OPTIONS]\n"
	       "       ocibuild build (--release DIR | --project DIR) [OPTIONS]   (tag NAME:VSN,\n"
	       "                      archive _build/PROFILE/NAME-VSN.tar; it says so)\n\n"
	       "Builds an OCI image from a directory or a BEAM release with no container runtime.\n"
	       "A release is split into erts, deps and app layers plus an SBOM.\n"
	       "On success stdout gets the manifest digest (or, with --push, the pushed\n"
	       "REGISTRY/REPO@sha256:... reference); progress goes to stderr.\n\n"
	       "Several platforms (--platform linux/amd64,linux/arm64) make an OCI image index\n"
	       "with one manifest per platform, in the order given, sharing the layers made\n"
	       "from the input; its digest is the one printed, pushed and tagged. The Docker\n"
	       "manifest.json in an -o archive names one image only: the build host's platform\n"
	       "when it is in the list, else the first platform's.\n\n"
	       "options:\n");
	cli_print_flags(build_flags);
	printf("\nenvironment:\n"
	       "  SOURCE_DATE_EPOCH              seconds since 1970 for file times and the creation\n"
	       "                                 time (default: files 1970-01-01T00:00:01Z, created as\n"
	       "                                 --created says), so the same input gives the same digest\n");
}

/* A growable list of borrowed strings. */
struct strv {
	const char **v;
	size_t n;
};

static int strv_push(struct strv *s, const char *x)
{
	const char **v = realloc(s->v, (s->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	v[s->n++] = x;
	s->v = v;
	return 0;
}

static ocibuild_strv as_strv(const struct strv *s)
{
	ocibuild_strv r = { s->v, s->n };

	return r;
}

static int uid_valid(const char *s)
{
	const char *p = s;
	int colons = 0;

	if (!*s || *s == ':')
		return 0;
	for (; *p; p++) {
		if (*p == ':') {
			if (++colons > 1 || !p[1])
				return 0;
		} else if (*p < '0' || *p > '9') {
			return 0;
		}
	}
	return 1;
}

static int parse_epoch(ocibuild_build_opts *o)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 253402300799LL) {
		fprintf(stderr,
			"ocibuild: error: SOURCE_DATE_EPOCH='%s' is not a number of seconds since 1970: unset it or fix it\n",
			s);
		return -1;
	}
	o->source_date_epoch = v;
	o->has_source_date_epoch = 1;
	return 0;
}

/* An info line (not with -q). */
static void say(struct cli_output *out, const char *fmt, ...)
{
	char *msg = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&msg, &n);
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) == 0)
		cli_log(out, OCIBUILD_LOG_INFO, msg);
	free(msg);
}

/* Where the image went, when the tag or the output was not given. */
static void say_where(struct cli_output *out, const ocibuild_build_opts *o)
{
	char *tags = NULL;
	size_t n = 0, i;
	FILE *f = open_memstream(&tags, &n);

	if (!f)
		return;
	for (i = 0; i < o->tags.count; i++)
		fprintf(f, "%s%s", i ? ", " : "", o->tags.items[i]);
	if (fclose(f) == 0) {
		if (o->output)
			say(out, "image %s written to %s", tags, o->output);
		if (o->layout)
			say(out, "image %s added to the OCI layout %s", tags, o->layout);
	}
	free(tags);
}

int cmd_build(int argc, char **argv)
{
	ocibuild_build_opts o = OCIBUILD_BUILD_OPTS_INIT;
	ocibuild_build_result res = { 0 };
	ocibuild_error err = { 0 };
	struct strv tags = { 0 }, env = { 0 }, expose = { 0 }, labels = { 0 }, ann = { 0 };
	struct strv cache_from = { 0 };
	struct option *longopts = NULL;
	char shortopts[64];
	char **entrypoint = NULL, **cmd = NULL;
	size_t nentry = 0, ncmd = 0;
	ocibuild_ctx *ctx = NULL;
	int c, rc = CLI_FAIL, jobs = 0, lock_timeout_set = 0;
	unsigned lock_timeout = 0;
	struct cli_output out;
	struct cli_registry reg = { 0 };
	const char *release_arg = NULL;
	ocibuild_release_defaults defs = { 0 };
	int chose = 0;

	cli_output_init(&out);
	if (cli_getopt_tables(build_flags, &longopts, shortopts, sizeof(shortopts)) < 0) {
		fputs("ocibuild: error: out of memory\n", stderr);
		return CLI_FAIL;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case F_DIR: o.dir = optarg; break;
		case 't': bad = strv_push(&tags, optarg); break;
		case 'o': o.output = optarg; break;
		case F_LAYOUT: o.layout = optarg; break;
		case F_BASE: o.base = optarg; break;
		case F_WORKDIR: o.workdir = optarg; break;
		case F_COMPRESSION:
			if (ocibuild_compression_parse(optarg, &o.compression) < 0) {
				rc = cli_usage_error("build", "bad --compression '%s': use gzip, zstd or none", optarg);
				goto out;
			}
			break;
		case F_PLATFORM: o.platform = optarg; break;
		case F_UID:
			if (!uid_valid(optarg)) {
				rc = cli_usage_error("build", "bad --uid '%s': use a number such as 65534, or UID:GID", optarg);
				goto out;
			}
			o.user = optarg;
			break;
		case 'e': bad = strv_push(&env, optarg); break;
		case F_RELEASE: release_arg = optarg; break;
		case F_PROJECT: o.project = optarg; break;
		case F_LOCK: o.lock = optarg; break;
		case F_BUNDLE: o.bundle_runtime = 1; break;
		case F_NOBUNDLE: o.no_bundle_runtime = 1; break;
		case F_SBOM: o.sbom = optarg; break;
		case F_NOVCS: o.no_vcs_annotations = 1; break;
		case F_CREATED: o.created = optarg; break;
		case F_NOCACHE: o.no_cache = 1; break;
		case F_CACHEMAX: {
			long long v = cli_parse_size(optarg);

			if (v < 1) {
				rc = cli_usage_error("build", "bad --cache-max '%s': use a size such as 10G or 500M", optarg);
				goto out;
			}
			o.cache_max = (uint64_t)v;
			break;
		}
		case F_ENTRYPOINT:
		case 'c': {
			char ***dst = c == 'c' ? &cmd : &entrypoint;
			size_t *n = c == 'c' ? &ncmd : &nentry;

			ocibuild_argv_free(*dst);
			*dst = NULL;
			if (ocibuild_argv_parse(optarg, dst, n, &err) < 0) {
				rc = cli_report(&err);
				goto out;
			}
			break;
		}
		case F_EXPOSE: bad = strv_push(&expose, optarg); break;
		case 'l': bad = strv_push(&labels, optarg); break;
		case F_CACHEFROM: bad = strv_push(&cache_from, optarg); break;
		case 'a': bad = strv_push(&ann, optarg); break;
		case 'j': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > MAX_JOBS) {
				rc = cli_usage_error("build", "bad --jobs '%s': use a number from 1 to %d",
						     optarg, MAX_JOBS);
				goto out;
			}
			jobs = (int)v;
			break;
		}
		case F_LOCK_TIMEOUT:
			if (cli_parse_lock_timeout("build", optarg, &lock_timeout) < 0) {
				rc = CLI_USAGE;
				goto out;
			}
			lock_timeout_set = 1;
			break;
		case 'q': out.quiet = 1; break;
		case 'p': o.push = optarg; break;
		case 'h':
			build_help();
			rc = CLI_OK;
			goto out;
		default:
			if ((rc = cli_other_flag(c, optarg, "build", &reg, &out, argv)) != 0)
				goto out;
			rc = CLI_FAIL;
		}
		if (bad) {
			fputs("ocibuild: error: out of memory\n", stderr);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("build", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (parse_epoch(&o) < 0) {
		rc = CLI_USAGE;
		goto out;
	}
	if (o.project)
		o.release_name = release_arg;
	else
		o.release = release_arg;
	/* a release's image is NAME:VSN in _build/PROFILE/NAME-VSN.tar unless told */
	if (!(o.dir && *o.dir) && !o.release != !o.project &&
	    (!tags.n || (!o.output && !o.layout && !o.push))) {
		if (ocibuild_release_defaults_init(&defs, &o, &err) < 0) {
			rc = cli_report(&err);
			goto out;
		}
		if (!tags.n) {
			if (strv_push(&tags, defs.tag) < 0) {
				fputs("ocibuild: error: out of memory\n", stderr);
				goto out;
			}
			chose = 1;
		}
		if (!o.output && !o.layout && !o.push && defs.output) {
			o.output = defs.output;
			chose = 1;
		}
	}
	o.tags = as_strv(&tags);
	o.env = as_strv(&env);
	o.expose = as_strv(&expose);
	o.labels = as_strv(&labels);
	o.annotations = as_strv(&ann);
	o.cache_from = as_strv(&cache_from);
	o.entrypoint.items = (const char *const *)entrypoint;
	o.entrypoint.count = nentry;
	o.entrypoint_set = entrypoint != NULL;
	o.cmd.items = (const char *const *)cmd;
	o.cmd.count = ncmd;
	o.cmd_set = cmd != NULL;

	o.registry = cli_registry_opts(&reg);
	o.registry.jobs = jobs;
	o.no_attach_sbom = reg.no_attach_sbom;
	if (!(ctx = cli_ctx_new(&out, 1, &rc)))
		goto out;
	rc = CLI_FAIL;
	ocibuild_ctx_set_jobs(ctx, jobs);
	if (lock_timeout_set)
		ocibuild_ctx_set_lock_timeout(ctx, lock_timeout);
	if (ocibuild_build(ctx, &o, &res, &err) < 0) {
		rc = cli_report(&err);
		goto out;
	}
	printf("%s\n", res.pushed_ref ? res.pushed_ref : res.manifest_digest);
	rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
	if (tags.n == 1 && tags.v[0] == defs.tag && strchr(defs.version, '+'))
		say(&out, "version %s has build metadata and a tag can not hold '+': tagging the image %s",
		    defs.version, defs.tag);
	if (chose)
		say_where(&out, &o);
out:
	ocibuild_build_result_release(&res);
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
	ocibuild_argv_free(entrypoint);
	ocibuild_argv_free(cmd);
	free(tags.v);
	free(env.v);
	free(expose.v);
	free(labels.v);
	free(ann.v);
	free(cache_from.v);
	free(longopts);
	free(reg.insecure);
	ocibuild_release_defaults_release(&defs);
	return rc;
}
