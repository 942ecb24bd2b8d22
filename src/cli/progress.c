/* Rendering progress events: a live line on a terminal, one line per
 * finished blob otherwise, JSON lines with --json, nothing with --quiet. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

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

void cli_progress(void *userdata, const ocibuild_event *ev)
{
	struct cli_output *o = userdata;
	char sz[32], done[32];

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
		if (!o->tty)
			return;
		size_str(done, sizeof(done), (double)ev->done);
		fprintf(stderr, "\r\033[K%.19s: %s / %s", ev->digest ? ev->digest : "", done, sz);
		o->live = 1;
		return;
	}
	if (o->live) {
		fputs("\r\033[K", stderr);
		o->live = 0;
	}
	if (ev->kind == OCIBUILD_EV_MANIFEST_PUSHED || ev->kind == OCIBUILD_EV_TAG_PUSHED)
		fprintf(stderr, "ocibuild: pushed %s\n", ev->ref ? ev->ref : "");
	else
		fprintf(stderr, "ocibuild: %.19s %s (%s)\n", ev->digest ? ev->digest : "",
			what(ev->kind), sz);
}

void cli_output_init(struct cli_output *o)
{
	memset(o, 0, sizeof(*o));
	o->tty = isatty(2);
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
