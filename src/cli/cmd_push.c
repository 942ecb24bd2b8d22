/* ocibuild push, pull and login. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../lib/banned.h"

enum { F_PLATFORM_P = 300, F_LAYOUT_P, F_PASSWORD_STDIN, F_USER };

static const struct cli_flag push_flags[] = {
	{ "push", 'p', "REGISTRY[/NS]", NULL, "where to push (required)" },
	{ "tag", 't', "NAME:TAG", "the image's own tags", "push under this name and tag; repeatable" },
	{ "jobs", 'j', "N", CLI_STR(OCIBUILD_DEFAULT_JOBS), "blobs in flight at once" },
	{ "quiet", 'q', NULL, NULL, "print only errors and the reference" },
	CLI_REGISTRY_FLAGS,
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static const struct cli_flag pull_flags[] = {
	{ "layout", F_LAYOUT_P, "DIR", NULL, "OCI layout to write or add the image to (required)" },
	CLI_LOCK_TIMEOUT_FLAG,
	{ "platform", F_PLATFORM_P, "OS/ARCH", "the build host's", "which image of a multi-platform index" },
	{ "jobs", 'j', "N", CLI_STR(OCIBUILD_DEFAULT_JOBS), "blobs in flight at once" },
	{ "quiet", 'q', NULL, NULL, "print only errors and the reference" },
	CLI_CONNECTION_FLAGS,
	{ "image-refs", F_IMAGE_REFS, "FILE", NULL, "write the pulled digest reference to FILE" },
	{ "digest-file", F_DIGEST_FILE, "FILE", NULL, "write the image digest to FILE" },
	{ "json", F_JSON, NULL, NULL, "progress as JSON lines on stderr" },
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static const struct cli_flag login_flags[] = {
	{ "username", 'u', "USER", NULL, "user name (required)" },
	{ "password-stdin", F_PASSWORD_STDIN, NULL, NULL, "read the password from standard input (required)" },
	CLI_CONNECTION_FLAGS,
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static int parse_jobs(const char *cmd, const char *arg, int *jobs)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || v < 1 || v > 64)
		return cli_usage_error(cmd, "bad --jobs '%s': use a number from 1 to 64", arg);
	*jobs = (int)v;
	return 0;
}

/* Parse flags common to the three commands; positional arguments are
 * collected into pos. Returns -1 after printing help (rc set) or an error. */
struct parsed {
	struct cli_output out;
	struct cli_registry reg;
	const char **tags;
	size_t ntags;
	const char *pos[4];
	size_t npos;
	const char *push, *layout, *platform, *user;
	int password_stdin, jobs;
	unsigned lock_timeout;
	int lock_timeout_set;
};

static int parse(const char *cmd, const struct cli_flag *flags, void (*help)(void), int argc,
		 char **argv, struct parsed *p, int *rc)
{
	struct option *longopts = NULL;
	char shortopts[64];
	int c;

	memset(p, 0, sizeof(*p));
	cli_output_init(&p->out);
	if (cli_getopt_tables(flags, &longopts, shortopts, sizeof(shortopts)) < 0) {
		*rc = CLI_FAIL;
		return -1;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'p': p->push = optarg; break;
		case 't': {
			const char **v = realloc(p->tags, (p->ntags + 1) * sizeof(*v));

			if (!v)
				goto fail;
			v[p->ntags++] = optarg;
			p->tags = v;
			break;
		}
		case 'j':
			if (parse_jobs(cmd, optarg, &p->jobs) != 0)
				goto usage;
			break;
		case 'q': p->out.quiet = 1; break;
		case 'u': p->user = optarg; break;
		case F_LAYOUT_P: p->layout = optarg; break;
		case F_LOCK_TIMEOUT:
			if (cli_parse_lock_timeout(cmd, optarg, &p->lock_timeout) < 0)
				goto usage;
			p->lock_timeout_set = 1;
			break;
		case F_PLATFORM_P: p->platform = optarg; break;
		case F_PASSWORD_STDIN: p->password_stdin = 1; break;
		case 'h':
			help();
			*rc = CLI_OK;
			goto done;
		default:
			if (cli_other_flag(c, optarg, cmd, &p->reg, &p->out, argv))
				goto usage;
		}
	}
	for (; optind < argc; optind++) {
		if (p->npos == 4) {
			cli_usage_error(cmd, "too many arguments");
			goto usage;
		}
		p->pos[p->npos++] = argv[optind];
	}
	free(longopts);
	return 0;
usage:
	*rc = CLI_USAGE;
	goto done;
fail:
	*rc = CLI_FAIL;
done:
	free(longopts);
	free(p->tags);
	free(p->reg.insecure);
	return -1;
}

static void release_parsed(struct parsed *p)
{
	free(p->tags);
	free(p->reg.insecure);
}

static ocibuild_ctx *make_ctx(struct parsed *p)
{
	int rc;
	ocibuild_ctx *ctx = cli_ctx_new(&p->out, 1, &rc);

	if (!ctx)
		return NULL;
	if (p->lock_timeout_set)
		ocibuild_ctx_set_lock_timeout(ctx, p->lock_timeout);
	return ctx;
}

static void push_help(void)
{
	printf("usage: ocibuild push IMAGE.tar|IMAGE.tar.gz|LAYOUT_DIR --push REGISTRY[/NS] [-t NAME:TAG]\n\n"
	       "Pushes an image made by `ocibuild build -o` (or any OCI archive or layout).\n"
	       "Blobs the registry has are skipped; the manifest is pushed by digest, then tagged.\n"
	       "stdout gets REGISTRY/NS/NAME@sha256:...\n\noptions:\n");
	cli_print_flags(push_flags);
}

static void pull_help(void)
{
	printf("usage: ocibuild pull REFERENCE --layout DIR [--platform OS/ARCH]\n\n"
	       "Pulls an image (through the cache in $OCIBUILD_CACHE_DIR or ~/.cache/ocibuild)\n"
	       "into an OCI layout, tagged with REFERENCE.\n\noptions:\n");
	cli_print_flags(pull_flags);
}

static void login_help(void)
{
	printf("usage: echo \"$PASSWORD\" | ocibuild login REGISTRY -u USER --password-stdin\n\n"
	       "Checks the credentials against REGISTRY and stores them in docker's config.json\n"
	       "($DOCKER_CONFIG/config.json or ~/.docker/config.json).\n\noptions:\n");
	cli_print_flags(login_flags);
}

static int finish(ocibuild_ctx *ctx, int rc, ocibuild_error *err, const char *ref)
{
	if (rc < 0)
		rc = cli_report(err);
	else {
		if (ref)
			printf("%s\n", ref);
		rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
	}
	ocibuild_error_clear(err);
	ocibuild_ctx_free(ctx);
	return rc;
}

int cmd_push(int argc, char **argv)
{
	struct parsed p;
	ocibuild_push_opts o = OCIBUILD_PUSH_OPTS_INIT;
	ocibuild_build_result res;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx;
	int rc = CLI_FAIL;

	if (parse("push", push_flags, push_help, argc, argv, &p, &rc) < 0)
		return rc;
	if (p.npos != 1 || !p.push) {
		release_parsed(&p);
		return cli_usage_error("push", p.npos != 1 ? "pass one image archive or layout"
							   : "no destination: pass --push REGISTRY[/NAMESPACE]");
	}
	o.registry = cli_registry_opts(&p.reg);
	o.registry.jobs = p.jobs;
	o.source = p.pos[0];
	o.push = p.push;
	o.tags.items = p.tags;
	o.tags.count = p.ntags;
	o.no_attach_sbom = p.reg.no_attach_sbom;
	ctx = make_ctx(&p);
	if (!ctx) {
		release_parsed(&p);
		return CLI_FAIL;
	}
	rc = ocibuild_push(ctx, &o, &res, &err);
	rc = finish(ctx, rc, &err, res.pushed_ref);
	ocibuild_build_result_release(&res);
	release_parsed(&p);
	return rc;
}

int cmd_pull(int argc, char **argv)
{
	struct parsed p;
	ocibuild_pull_opts o = OCIBUILD_PULL_OPTS_INIT;
	ocibuild_build_result res;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx;
	int rc = CLI_FAIL;

	if (parse("pull", pull_flags, pull_help, argc, argv, &p, &rc) < 0)
		return rc;
	if (p.npos != 1 || !p.layout) {
		release_parsed(&p);
		return cli_usage_error("pull", p.npos != 1 ? "pass one image reference"
							   : "no destination: pass --layout DIR");
	}
	o.registry = cli_registry_opts(&p.reg);
	o.registry.jobs = p.jobs;
	o.ref = p.pos[0];
	o.layout = p.layout;
	o.platform = p.platform;
	ctx = make_ctx(&p);
	if (!ctx) {
		release_parsed(&p);
		return CLI_FAIL;
	}
	rc = ocibuild_pull(ctx, &o, &res, &err);
	rc = finish(ctx, rc, &err, res.pushed_ref);
	ocibuild_build_result_release(&res);
	release_parsed(&p);
	return rc;
}

int cmd_login(int argc, char **argv)
{
	struct parsed p;
	ocibuild_registry_opts reg;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx;
	char pass[4096];
	size_t n;
	int rc = CLI_FAIL;

	if (parse("login", login_flags, login_help, argc, argv, &p, &rc) < 0)
		return rc;
	if (p.npos != 1 || !p.user || !p.password_stdin) {
		release_parsed(&p);
		return cli_usage_error("login", "usage: ocibuild login REGISTRY -u USER --password-stdin");
	}
	n = fread(pass, 1, sizeof(pass) - 1, stdin);
	pass[n] = '\0';
	while (n && (pass[n - 1] == '\n' || pass[n - 1] == '\r'))
		pass[--n] = '\0';
	ctx = make_ctx(&p);
	if (!ctx) {
		release_parsed(&p);
		return CLI_FAIL;
	}
	reg = cli_registry_opts(&p.reg);
	rc = ocibuild_login(ctx, p.pos[0], p.user, pass, &reg, &err);
	memset(pass, 0, sizeof(pass));
	if (rc == 0)
		fprintf(stderr, "ocibuild: login to %s succeeded; credentials stored\n", p.pos[0]);
	rc = finish(ctx, rc, &err, NULL);
	release_parsed(&p);
	return rc;
}
