/* Rendering progress events: a live line per blob in flight on a terminal
 * (bytes and rate), one line per finished blob otherwise, JSON lines with
 * --json, nothing with --quiet. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "../lib/banned.h"

static const char *what(ocibuild_event_kind k)
{
	switch (k) {
	case OCIBUILD_EV_BLOB_EXISTS: return "exists";
	case OCIBUILD_EV_BLOB_MOUNTED: return "mounted";
	case OCIBUILD_EV_BLOB_UPLOADED: return "uploaded";
	case OCIBUILD_EV_BLOB_DOWNLOADED: return "downloaded";
	case OCIBUILD_EV_BLOB_CACHED: return "cached";
	case OCIBUILD_EV_MANIFEST_PUSHED: return "manifest";
	case OCIBUILD_EV_TAG_PUSHED: return "tag";
	default: return "progress";
	}
}

static void size_str(char *buf, size_t n, double v)
{
	if (v >= 1 << 20)
		snprintf(buf, n, "%.1f MiB", v / (1 << 20));
	else if (v >= 1 << 10)
		snprintf(buf, n, "%.1f KiB", v / (1 << 10));
	else
		snprintf(buf, n, "%.0f B", v);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Remove the live lines from the screen (cursor back to where they began). */
static void clear_live(struct cli_output *o)
{
	for (; o->live > 0; o->live--)
		fputs("\033[1A\r\033[K", stderr);
}

static void draw_live(struct cli_output *o)
{
	int i;

	clear_live(o);
	for (i = 0; i < o->nblobs; i++) {
		struct cli_live *b = &o->blobs[i];
		double secs = now() - b->start;
		char done[32], sz[32], rate[32];

		size_str(done, sizeof(done), (double)b->done);
		size_str(sz, sizeof(sz), (double)b->size);
		size_str(rate, sizeof(rate), secs > 0.05 ? (double)b->done / secs : 0);
		fprintf(stderr, "%s: %s / %s  %s/s\n", b->digest, done, sz, rate);
		o->live++;
	}
	o->last_draw = now();
}

static struct cli_live *find_blob(struct cli_output *o, const char *digest, int add)
{
	int i;

	for (i = 0; i < o->nblobs; i++)
		if (!strncmp(o->blobs[i].digest, digest, sizeof(o->blobs[i].digest) - 1))
			return &o->blobs[i];
	if (!add || o->nblobs == CLI_LIVE_MAX)
		return NULL;
	snprintf(o->blobs[o->nblobs].digest, sizeof(o->blobs[0].digest), "%s", digest);
	o->blobs[o->nblobs].start = now();
	return &o->blobs[o->nblobs++];
}

void cli_progress(void *userdata, const ocibuild_event *ev)
{
	struct cli_output *o = userdata;
	struct cli_live *b;
	char sz[32];

	if (o->quiet)
		return;
	if (o->json) {
		fprintf(stderr, "{\"event\":\"%s\",\"digest\":\"%s\",\"size\":%lld,\"done\":%llu%s%s%s}\n",
			what(ev->kind), ev->digest ? ev->digest : "", (long long)ev->size,
			(unsigned long long)ev->done, ev->ref ? ",\"ref\":\"" : "",
			ev->ref ? ev->ref : "", ev->ref ? "\"" : "");
		return;
	}
	size_str(sz, sizeof(sz), (double)ev->size);
	if (ev->kind == OCIBUILD_EV_BLOB_PROGRESS) {
		/* in CI only finished blobs are reported */
		if (!o->tty || !ev->digest)
			return;
		b = find_blob(o, ev->digest, 1);
		if (b) {
			b->size = ev->size;
			b->done = ev->done;
		}
		if (now() - o->last_draw >= 0.1)
			draw_live(o);
		return;
	}
	if (o->tty) {
		clear_live(o);
		if (ev->digest && (b = find_blob(o, ev->digest, 0)))
			*b = o->blobs[--o->nblobs];
	}
	if (ev->kind == OCIBUILD_EV_MANIFEST_PUSHED || ev->kind == OCIBUILD_EV_TAG_PUSHED)
		fprintf(stderr, "ocibuild: pushed %s\n", ev->ref ? ev->ref : "");
	else
		fprintf(stderr, "ocibuild: %.19s %s (%s)\n", ev->digest ? ev->digest : "",
			what(ev->kind), sz);
	if (o->tty && o->nblobs)
		draw_live(o);
}

void cli_output_init(struct cli_output *o)
{
	memset(o, 0, sizeof(*o));
	o->tty = isatty(2);
}

int cli_other_flag(int c, const char *arg, const char *cmd, struct cli_registry *r,
		   struct cli_output *out, char *const argv[])
{
	switch (cli_registry_flag(c, arg, cmd, r, out)) {
	case 1:
		return 0;
	case -1:
		return CLI_USAGE;
	default:
		cli_getopt_error(cmd, c, argv);
		return CLI_USAGE;
	}
}

int cli_registry_flag(int c, const char *arg, const char *cmd, struct cli_registry *r,
		      struct cli_output *out)
{
	switch (c) {
	case F_CA_FILE:
		r->ca_file = arg;
		return 1;
	case F_INSECURE: {
		const char **v = realloc(r->insecure, (r->ninsecure + 1) * sizeof(*v));

		if (!v)
			return -1;
		v[r->ninsecure++] = arg;
		r->insecure = v;
		return 1;
	}
	case F_CHUNK: {
		long long v = cli_parse_size(arg);

		if (v < 1024) {
			cli_usage_error(cmd, "bad --chunk-size '%s': use a size of at least 1K, such as 16M", arg);
			return -1;
		}
		r->chunk = (unsigned long long)v;
		return 1;
	}
	case F_IMAGE_REFS:
		r->image_refs = arg;
		return 1;
	case F_DIGEST_FILE:
		r->digest_file = arg;
		return 1;
	case F_SIGN_KEY:
		r->sign_key = arg;
		return 1;
	case F_NO_ATTACH_SBOM:
		r->no_attach_sbom = 1;
		return 1;
	case F_JSON:
		out->json = 1;
		return 1;
	default:
		return 0;
	}
}

ocibuild_strv cli_insecure(const struct cli_registry *r)
{
	ocibuild_strv v = { r->insecure, r->ninsecure };

	return v;
}

ocibuild_registry_opts cli_registry_opts(const struct cli_registry *r)
{
	ocibuild_registry_opts o = OCIBUILD_REGISTRY_OPTS_INIT;

	o.ca_file = r->ca_file;
	o.insecure_registries = cli_insecure(r);
	o.chunk_size = r->chunk;
	o.image_refs = r->image_refs;
	o.digest_file = r->digest_file;
	o.sign_key = r->sign_key;
	return o;
}
