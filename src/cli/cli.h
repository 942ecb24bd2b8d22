/* Shared pieces of the command-line tool: flag tables, help, errors. */
#ifndef OCIBUILD_CLI_H
#define OCIBUILD_CLI_H
#include <getopt.h>
#include "ocibuild/ocibuild.h"

/* One flag, described once: getopt, --help and the docs come from this. */
struct cli_flag {
	const char *lng;
	int shrt;         /* short letter, or a value >= 256 when none */
	const char *arg;  /* value placeholder, NULL for a switch */
	const char *def;  /* default shown in --help, or NULL */
	const char *help;
};

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* Build the getopt_long tables for flags; caller frees *longopts. */
int cli_getopt_tables(const struct cli_flag *flags, struct option **longopts,
		      char *shortopts, size_t shortlen);
void cli_print_flags(const struct cli_flag *flags);
/* Print "ocibuild: error: ..." and return CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Report a library error on stderr; returns the exit code for its kind. */
int cli_report(const ocibuild_error *err);
/* Diagnose a getopt failure (unknown flag, missing value). */
int cli_getopt_error(const char *cmd, int c, char *const argv[]);

void cli_log(void *userdata, ocibuild_log_level level, const char *message);
/* Install SIGINT/SIGTERM handlers; the returned callback reports them. */
void cli_signals_install(void);
int cli_interrupted(void *userdata);

int cmd_build(int argc, char **argv);
#endif
