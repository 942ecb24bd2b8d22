/* ocibuild: the command-line front end of libocibuild. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../lib/banned.h"

/* the longest timeout a variable or option may ask for: a day */
#define MAX_TIMEOUT_S 86400

/* read by the library's worker threads (the cancel callback) while the
 * handler may write it: a lock-free atomic, safe in a signal handler too */
static atomic_int got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

void cli_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int ctx_env(ocibuild_ctx *ctx)
{
	const char *v = getenv("OCIBUILD_REQUEST_TIMEOUT");
	char *end;
	long n;

	if (!v || !*v)
		return CLI_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 1 || n > MAX_TIMEOUT_S) {
		fprintf(stderr,
			"ocibuild: error: OCIBUILD_REQUEST_TIMEOUT must be a number of seconds from 1 to %d, not '%.40s'\n",
			MAX_TIMEOUT_S, v);
		return CLI_USAGE;
	}
	ocibuild_ctx_set_request_timeout(ctx, n);
	return CLI_OK;
}

ocibuild_ctx *cli_ctx_new(struct cli_output *out, int progress, int *rc)
{
	ocibuild_ctx *ctx = ocibuild_ctx_new();

	if (!ctx) {
		fputs("ocibuild: error: out of memory\n", stderr);
		*rc = CLI_FAIL;
		return NULL;
	}
	ocibuild_ctx_set_log(ctx, cli_log, out);
	if (progress)
		ocibuild_ctx_set_progress(ctx, cli_progress, out);
	ocibuild_ctx_set_cancel(ctx, cli_interrupted, NULL);
	if ((*rc = ctx_env(ctx)) != CLI_OK) {
		ocibuild_ctx_free(ctx);
		return NULL;
	}
	cli_signals_install();
	return ctx;
}

int cli_interrupted(void *userdata)
{
	(void)userdata;
	return got_signal != 0;
}

void cli_log(void *userdata, ocibuild_log_level level, const char *message)
{
	struct cli_output *o = userdata;

	if (level == OCIBUILD_LOG_DEBUG || (o && o->quiet && level < OCIBUILD_LOG_WARN))
		return;
	/* a log line goes above the live progress lines */
	for (; o && o->live > 0; o->live--)
		fputs("\033[1A\r\033[K", stderr);
	if (o && o->json) {
		fprintf(stderr, "{\"event\":\"%s\",\"message\":\"", level == OCIBUILD_LOG_WARN ? "warning" : "log");
		for (; *message; message++) {
			if (*message == '"' || *message == '\\')
				fputc('\\', stderr);
			fputc(*message, stderr);
		}
		fputs("\"}\n", stderr);
		return;
	}
	fprintf(stderr, "ocibuild: %s%s\n", level == OCIBUILD_LOG_WARN ? "warning: " : "",
		message);
}

int cli_parse_lock_timeout(const char *cmd, const char *arg, unsigned *seconds)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || v > MAX_TIMEOUT_S) {
		cli_usage_error(cmd, "bad --lock-timeout '%s': use a number of seconds from 0 to %d", arg,
				MAX_TIMEOUT_S);
		return -1;
	}
	*seconds = (unsigned)v;
	return 0;
}

long long cli_parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	return *end ? -1 : v;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("ocibuild: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'ocibuild %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_USAGE;
}

int cli_report(const ocibuild_error *err)
{
	const char *msg = err->message;

	if (err->kind == OCIBUILD_ERR_NOMEM)
		msg = "out of memory";
	fprintf(stderr, "ocibuild: error: %s\n", msg ? msg : "unknown failure");
	switch (err->kind) {
	case OCIBUILD_ERR_OPTION:
		return CLI_USAGE;
	case OCIBUILD_ERR_CANCELLED:
		/* the shell's convention: 128 + the signal that stopped us */
		return got_signal ? 128 + got_signal : CLI_INTERRUPTED;
	default:
		return CLI_FAIL;
	}
}

int cli_getopt_tables(const struct cli_flag *flags, struct option **longopts,
		      char *shortopts, size_t shortlen)
{
	size_t n = 0, i, s = 0;
	struct option *lo;

	while (flags[n].lng)
		n++;
	lo = calloc(n + 1, sizeof(*lo));
	if (!lo)
		return -1;
	shortopts[s++] = ':'; /* report a missing value as ':' */
	for (i = 0; i < n; i++) {
		lo[i].name = flags[i].lng;
		lo[i].has_arg = flags[i].arg ? required_argument : no_argument;
		lo[i].val = flags[i].shrt;
		if (flags[i].shrt < 256 && s + 3 < shortlen) {
			shortopts[s++] = (char)flags[i].shrt;
			if (flags[i].arg)
				shortopts[s++] = ':';
		}
	}
	shortopts[s] = '\0';
	*longopts = lo;
	return 0;
}

void cli_print_flags(const struct cli_flag *f)
{
	for (; f->lng; f++) {
		char left[64];

		if (f->shrt < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", f->shrt, f->lng,
				 f->arg ? " " : "", f->arg ? f->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", f->lng, f->arg ? " " : "",
				 f->arg ? f->arg : "");
		printf("  %-30s %s", left, f->help);
		if (f->def)
			printf(" (default: %s)", f->def);
		putchar('\n');
	}
}

int cli_getopt_error(const char *cmd, int c, char *const argv[])
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", arg);
	if (optopt && optopt < 256)
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "build", cmd_build, "build an OCI image from a directory or a BEAM release" },
	{ "push", cmd_push, "push an image archive or layout to a registry" },
	{ "pull", cmd_pull, "pull an image from a registry into an OCI layout" },
	{ "verify", cmd_verify, "check an image's signatures (as --sign-key stores them) with a public key" },
	{ "sbom", cmd_sbom, "print the SBOM attached to a pushed image (OCI 1.1 referrer)" },
	{ "login", cmd_login, "store registry credentials in docker's config.json" },
	{ NULL, NULL, NULL },
};

static void usage(void)
{
	const struct command *c;

	printf("ocibuild %s: build OCI container images without Docker\n\n"
	       "usage: ocibuild COMMAND [OPTIONS]\n\ncommands:\n",
	       OCIBUILD_VERSION);
	for (c = commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\nglobal options:\n"
	       "  -h, --help                     show this help\n"
	       "  -V, --version                  print the version\n\n"
	       "Run 'ocibuild COMMAND --help' for the options of a command.\n"
	       "Environment: SOURCE_DATE_EPOCH sets file times and the image creation time;\n"
	       "OCIBUILD_REQUEST_TIMEOUT=SECONDS limits each registry exchange (default: 120 s,\n"
	       "3600 s for a blob or an upload chunk); OCIBUILD_CRED_HELPER_TIMEOUT=SECONDS the\n"
	       "time a docker-credential-* helper may take (default: 30 s).\n");
}

int main(int argc, char **argv)
{
	const struct command *c;

	/* before any thread exists; a pipe closed by a credential helper
	 * must be an error, not the end of the process. libcurl is loaded
	 * and initialised by the first registry call, not here: a local
	 * build never loads it */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		usage();
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage();
		return CLI_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
#ifdef OCI_FAULT_INJECTION
		printf("ocibuild %s (fault injection: OCIBUILD_FAIL_ALLOC=N)\n", OCIBUILD_VERSION);
#else
		printf("ocibuild %s\n", OCIBUILD_VERSION);
#endif
		return CLI_OK;
	}
	for (c = commands; c->name; c++)
		if (!strcmp(argv[1], c->name))
			return c->run(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
