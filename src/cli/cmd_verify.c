/* ocibuild verify: check an image's signatures against a public key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../lib/banned.h"

enum { F_KEY = 400, F_RECURSIVE };

static const struct cli_flag verify_flags[] = {
	{ "key", F_KEY, "PUB", NULL, "the public key to verify with (PEM, ECDSA P-256; e.g. cosign.pub) (required)" },
	{ "recursive", F_RECURSIVE, NULL, NULL, "for an index: also check each platform manifest it lists (one line each; exit 0 only when all verify)" },
	CLI_CONNECTION_FLAGS,
	{ "json", F_JSON, NULL, NULL, "print the result as one JSON object on stdout" },
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void verify_help(void)
{
	printf("usage: ocibuild verify REFERENCE --key PUBLIC_KEY.pem [--recursive]\n\n"
	       "Checks the signatures stored as cosign stores them (the sha256-<hex>.sig tag,\n"
	       "as --sign-key writes them): each must name the image's digest and repository\n"
	       "and its ECDSA signature must verify with the key. Prints one line per verified\n"
	       "signature; exits 0 when at least one verified, 1 otherwise (with the reason).\n"
	       "With --recursive, an index and each manifest it lists are checked: one line per\n"
	       "digest (its platform, and verified or why not); exits 0 only when all verified.\n"
	       "Credentials are those of a pull.\n\noptions:\n");
	cli_print_flags(verify_flags);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* "(linux/arm64)", "(index)", or nothing for an image REF named itself */
static void print_what(const ocibuild_verify_manifest *m)
{
	if (m->platform)
		printf(" (%s)", m->platform);
	else if (m->index)
		fputs(" (index)", stdout);
}

static void print_manifests(const ocibuild_verify_opts *o, const ocibuild_verify_result *res)
{
	size_t i;

	for (i = 0; i < res->nmanifests; i++) {
		const ocibuild_verify_manifest *m = &res->manifests[i];

		printf("%s@%s", res->repository, m->digest);
		print_what(m);
		if (m->reason)
			printf(" not verified: %s\n", m->reason);
		else
			printf(" verified with %s\n", o->key);
	}
}

static void print_json(const char *ref, const ocibuild_verify_opts *o,
		       const ocibuild_verify_result *res)
{
	size_t i;

	fputs("{\"reference\":", stdout);
	json_string(ref);
	fputs(",\"repository\":", stdout);
	json_string(res->repository);
	fputs(",\"digest\":", stdout);
	json_string(res->digest);
	fputs(",\"key\":", stdout);
	json_string(o->key);
	printf(",\"signatures\":%zu,\"verified\":%zu", res->signatures, res->verified);
	if (o->recursive) {
		fputs(",\"manifests\":[", stdout);
		for (i = 0; i < res->nmanifests; i++) {
			const ocibuild_verify_manifest *m = &res->manifests[i];

			fputs(i ? ",{\"digest\":" : "{\"digest\":", stdout);
			json_string(m->digest);
			fputs(",\"platform\":", stdout);
			if (m->platform)
				json_string(m->platform);
			else
				fputs("null", stdout);
			printf(",\"index\":%s,\"signatures\":%zu,\"verified\":%zu,\"reason\":",
			       m->index ? "true" : "false", m->signatures, m->verified);
			if (m->reason)
				json_string(m->reason);
			else
				fputs("null", stdout);
			putchar('}');
		}
		putchar(']');
	}
	fputs("}\n", stdout);
}

int cmd_verify(int argc, char **argv)
{
	struct cli_output out;
	struct cli_registry reg;
	struct option *longopts = NULL;
	ocibuild_verify_opts o = OCIBUILD_VERIFY_OPTS_INIT;
	ocibuild_verify_result res;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx = NULL;
	const char *ref = NULL;
	char shortopts[64];
	int c, json = 0, rc = CLI_USAGE;

	memset(&reg, 0, sizeof(reg));
	cli_output_init(&out);
	if (cli_getopt_tables(verify_flags, &longopts, shortopts, sizeof(shortopts)) < 0) {
		fputs("ocibuild: error: out of memory\n", stderr);
		return CLI_FAIL;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case F_KEY: o.key = optarg; break;
		case F_JSON: json = 1; break;
		case F_RECURSIVE: o.recursive = 1; break;
		case 'h':
			verify_help();
			rc = CLI_OK;
			goto done;
		default:
			if (cli_other_flag(c, optarg, "verify", &reg, &out, argv))
				goto done;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_error("verify", "pass one image reference");
		goto done;
	}
	ref = argv[optind];
	if (!o.key) {
		cli_usage_error("verify", "no key: pass --key PUBLIC_KEY.pem");
		goto done;
	}
	o.ref = ref;
	o.registry.ca_file = reg.ca_file;
	o.registry.insecure_registries = cli_insecure(&reg);
	if (!(ctx = cli_ctx_new(&out, 0, &rc)))
		goto done;
	rc = ocibuild_verify(ctx, &o, &res, &err) < 0 ? CLI_FAIL : CLI_OK;
	/* a recursive check reports each digest, also when one failed */
	if (rc == CLI_OK || res.nmanifests) {
		if (json)
			print_json(ref, &o, &res);
		else if (o.recursive)
			print_manifests(&o, &res);
		else
			for (size_t i = 0; i < res.verified; i++)
				printf("%s@%s verified with %s\n", res.repository, res.digest, o.key);
	}
	if (fflush(stdout) != 0 && rc == CLI_OK)
		rc = CLI_FAIL;
	if (err.kind != OCIBUILD_ERR_NONE)
		rc = cli_report(&err);
	ocibuild_verify_result_release(&res);
done:
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
	free(longopts);
	free(reg.insecure);
	return rc;
}
