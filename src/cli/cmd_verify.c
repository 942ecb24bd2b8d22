/* ocibuild verify: check an image's signatures against a public key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../lib/banned.h"

enum { F_KEY = 400 };

static const struct cli_flag verify_flags[] = {
	{ "key", F_KEY, "PUB", NULL, "the public key to verify with (PEM, ECDSA P-256; e.g. cosign.pub) (required)" },
	CLI_CONNECTION_FLAGS,
	{ "json", F_JSON, NULL, NULL, "print the result as one JSON object on stdout" },
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void verify_help(void)
{
	printf("usage: ocibuild verify REFERENCE --key PUBLIC_KEY.pem\n\n"
	       "Checks the signatures stored as cosign stores them (the sha256-<hex>.sig tag,\n"
	       "as --sign-key writes them): each must name the image's digest and repository\n"
	       "and its ECDSA signature must verify with the key. Prints one line per verified\n"
	       "signature; exits 0 when at least one verified, 1 otherwise (with the reason).\n"
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
	o.ca_file = reg.ca_file;
	o.insecure_registries = cli_insecure(&reg);
	if (!(ctx = cli_ctx_new(&out, 0, &rc)))
		goto done;
	if (ocibuild_verify(ctx, &o, &res, &err) < 0) {
		rc = cli_report(&err);
		goto done;
	}
	if (json) {
		fputs("{\"reference\":", stdout);
		json_string(ref);
		fputs(",\"repository\":", stdout);
		json_string(res.repository);
		fputs(",\"digest\":", stdout);
		json_string(res.digest);
		fputs(",\"key\":", stdout);
		json_string(o.key);
		printf(",\"signatures\":%zu,\"verified\":%zu}\n", res.signatures, res.verified);
	} else {
		size_t i;

		for (i = 0; i < res.verified; i++)
			printf("%s@%s verified with %s\n", res.repository, res.digest, o.key);
	}
	rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
	free(longopts);
	free(reg.insecure);
	return rc;
}
