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

/* How progress and logs are shown; cli_log and cli_progress take it. */
#define CLI_LIVE_MAX 16

/* A blob in flight, shown on its own live line on a terminal. */
struct cli_live {
	char digest[20];
	long long size;
	unsigned long long done;
	double start;
};

struct cli_output {
	int quiet;
	int json;
	int tty;
	int live; /* number of live lines on screen */
	struct cli_live blobs[CLI_LIVE_MAX];
	int nblobs;
	double last_draw;
};

void cli_output_init(struct cli_output *o);
void cli_log(void *userdata, ocibuild_log_level level, const char *message);
void cli_progress(void *userdata, const ocibuild_event *ev);
/* Parse a size such as 16M, 512k or 1048576 into bytes; -1 when bad. */
long long cli_parse_size(const char *s);

#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)

/* Flags shared by the commands that talk to registries. */
enum {
	F_CA_FILE = 1000, F_INSECURE, F_CHUNK, F_IMAGE_REFS, F_DIGEST_FILE, F_JSON, F_SIGN_KEY,
	F_LOCK_TIMEOUT, F_NO_ATTACH_SBOM,
};
/* Of the commands that add to an OCI layout (build, pull). */
#define CLI_LOCK_TIMEOUT_FLAG                                                                   \
	{ "lock-timeout", F_LOCK_TIMEOUT, "SECONDS", "120", "how long to wait while another process writes to the same --layout (0: do not wait)" }
/* Parse the value of --lock-timeout: 0 when valid, else prints a usage
 * error and returns -1. */
int cli_parse_lock_timeout(const char *cmd, const char *arg, unsigned *seconds);
#define CLI_CONNECTION_FLAGS                                                                    \
	{ "ca-file", F_CA_FILE, "FILE", "the system CAs", "also trust this CA for registries (PEM)" }, \
	{ "insecure-registry", F_INSECURE, "HOST", "localhost, 127.0.0.1, [::1]", "may use plain HTTP when it does not speak TLS; repeatable" }
#define CLI_REGISTRY_FLAGS                                                                      \
	CLI_CONNECTION_FLAGS,                                                                   \
	{ "chunk-size", F_CHUNK, "SIZE", "16M", "upload blobs larger than this in resumable chunks" }, \
	{ "image-refs", F_IMAGE_REFS, "FILE", NULL, "write every pushed reference to FILE, one a line" }, \
	{ "digest-file", F_DIGEST_FILE, "FILE", NULL, "write the image digest to FILE" }, \
	{ "sign-key", F_SIGN_KEY, "KEY", NULL, "sign the pushed image as cosign does (ECDSA P-256 PEM or cosign.key; password from OCIBUILD_SIGN_PASSWORD or COSIGN_PASSWORD)" }, \
	{ "no-attach-sbom", F_NO_ATTACH_SBOM, NULL, NULL, "do not attach the image's SBOM to the pushed image (an OCI 1.1 referrer)" }, \
	{ "json", F_JSON, NULL, NULL, "progress as JSON lines on stderr" }

/* Values of the registry flags, filled by cli_registry_flag(). */
struct cli_registry {
	const char *ca_file;
	const char **insecure;
	size_t ninsecure;
	unsigned long long chunk;
	const char *image_refs;
	const char *digest_file;
	const char *sign_key;
	int no_attach_sbom;
};

/* Handle one of CLI_REGISTRY_FLAGS: 1 when handled, 0 when not one of
 * them, -1 after printing a usage error. */
int cli_registry_flag(int c, const char *arg, const char *cmd, struct cli_registry *r,
		      struct cli_output *out);
/* The default branch of a command's getopt loop: a registry flag (0), or
 * CLI_USAGE after saying what is wrong with it or that it is unknown. */
int cli_other_flag(int c, const char *arg, const char *cmd, struct cli_registry *r,
		   struct cli_output *out, char *const argv[]);
ocibuild_strv cli_insecure(const struct cli_registry *r);
/* The library's registry options from the flags (jobs left 0). */
ocibuild_registry_opts cli_registry_opts(const struct cli_registry *r);

int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_sbom(int argc, char **argv);
/* Install SIGINT/SIGTERM handlers; the returned callback reports them. */
void cli_signals_install(void);
struct cli_output;
/* A command's context: logs (and progress, when asked) to out, Ctrl-C as
 * its cancel callback, the settings of the environment
 * (OCIBUILD_REQUEST_TIMEOUT), signal handlers installed. NULL with *rc set
 * (CLI_FAIL out of memory, CLI_USAGE a bad setting) after saying why. */
ocibuild_ctx *cli_ctx_new(struct cli_output *out, int progress, int *rc);
int cli_interrupted(void *userdata);

int cmd_build(int argc, char **argv);
#endif
