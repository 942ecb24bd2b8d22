/* ocibuild sbom: print (or write) the SBOM attached to a pushed image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { F_SBOM_PLATFORM = 500 };

static const struct cli_flag sbom_flags[] = {
	{ "output", 'o', "FILE", "stdout", "write the SBOM to FILE (whole or not at all)" },
	{ "platform", F_SBOM_PLATFORM, "OS/ARCH", "the host's", "which image of an image index" },
	CLI_CONNECTION_FLAGS,
	{ "quiet", 'q', NULL, NULL, "print only errors (and the SBOM)" },
	{ "help", 'h', NULL, NULL, "show this help" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void sbom_help(void)
{
	printf("usage: ocibuild sbom REFERENCE [-o FILE]\n\n"
	       "Finds the SPDX SBOM attached to the image (as push attaches it: an OCI 1.1\n"
	       "referrer with artifactType application/spdx+json) through the registry's\n"
	       "referrers API, else the sha256-<hex> referrers tag, else the sha256-<hex>.sbom\n"
	       "tag, checks it against its digest and prints it byte for byte.\n"
	       "Credentials are those of a pull.\n\noptions:\n");
	cli_print_flags(sbom_flags);
}

int cmd_sbom(int argc, char **argv)
{
	struct cli_output out;
	struct cli_registry reg;
	struct option *longopts = NULL;
	ocibuild_sbom_opts o = OCIBUILD_SBOM_OPTS_INIT;
	ocibuild_sbom_result res;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx = NULL;
	char shortopts[64];
	int c, rc = CLI_USAGE;

	memset(&res, 0, sizeof(res));
	memset(&reg, 0, sizeof(reg));
	cli_output_init(&out);
	if (cli_getopt_tables(sbom_flags, &longopts, shortopts, sizeof(shortopts)) < 0) {
		fputs("ocibuild: error: out of memory\n", stderr);
		return CLI_FAIL;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case F_SBOM_PLATFORM: o.platform = optarg; break;
		case 'q': out.quiet = 1; break;
		case 'h':
			sbom_help();
			rc = CLI_OK;
			goto done;
		default:
			if (cli_other_flag(c, optarg, "sbom", &reg, &out, argv))
				goto done;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_error("sbom", "pass one image reference");
		goto done;
	}
	o.ref = argv[optind];
	o.registry.ca_file = reg.ca_file;
	o.registry.insecure_registries = cli_insecure(&reg);
	if (!(ctx = cli_ctx_new(&out, 0, &rc)))
		goto done;
	if (ocibuild_sbom_fetch(ctx, &o, &res, &err) < 0) {
		rc = cli_report(&err);
		goto done;
	}
	rc = CLI_OK;
	if (!o.output && (fwrite(res.data, 1, res.len, stdout) != res.len || fflush(stdout) != 0)) {
		fputs("ocibuild: error: cannot write the SBOM to stdout\n", stderr);
		rc = CLI_FAIL;
	}
done:
	ocibuild_sbom_result_release(&res);
	ocibuild_error_clear(&err);
	ocibuild_ctx_free(ctx);
	free(longopts);
	free(reg.insecure);
	return rc;
}
