/* Making a build's layers: each planned layer from the layer cache when
 * its input has not changed, else reused from a --cache-from image that
 * has its diff_id, else tarred and compressed into the stage; with --push
 * each blob made in the stage is handed to the upload stream at once. */
#ifndef OCI_LAYERMAKE_H
#define OCI_LAYERMAKE_H
#include "ocibuild/ocibuild.h"
#include "cachefrom.h"
#include "distribute.h"
#include "layerplan.h"
#include "transfer.h"

/* Zero it, fill the inputs, and free it with oci_lmake_release on every
 * path. The borrowed pointers must outlive it. */
typedef struct oci_lmake {
	ocibuild_ctx *ctx;
	const char *stage;    /* the blob store the layers go to */
	int durable;          /* fsync the blobs (the stage becomes a --layout) */
	ocibuild_compression compression;
	int64_t mtime;        /* every entry's file time */
	char *lcache;         /* the layer cache's directory, owned; NULL: none,
			       * and NULL again once it can not be written */
	uint64_t cache_max;   /* what the layer cache may keep, in bytes */
	/* --cache-from, opened at the first layer that misses the layer cache */
	const oci_net *net;
	const ocibuild_strv *cache_from; /* the references given */
	const char *cf_push;  /* without them: each of tags where this push goes, or NULL */
	const oci_strlist *tags;
	const oci_platform *platforms;
	size_t np;
	int fetch;            /* a reused blob is needed in the stage (-o, --layout) */
	int fetch_sbom;       /* a reused sbom layer is (the SBOM referrer reads it) */
	oci_push_stream *stream; /* borrowed, or NULL */
	/* -o written directly, or front_path NULL: the layer front, when it is
	 * compressed here (no layer cache to put it in, no push to read it),
	 * goes into the archive's temp file front_fd (front_path) at
	 * OCI_ARCHIVE_FRONT_AT instead of the stage; front_made is then set */
	const oci_lplan *front;
	const char *front_path;
	int front_fd;
	int front_made;
	/* state */
	oci_cachefrom cf;     /* the cache images; their blob sources go to the push */
	int cf_open;
	struct lm_later *later; /* layers put in the layer cache on threads of their own */
	/* oci_lmake_fetch_members: the cache image's blob of a role, in the
	 * layer cache, and its gzip members (none: n 0) */
	struct {
		char what[16];
		char digest[OCI_DIGEST_LEN + 1];
		oci_gz_member *v;
		size_t n;
	} rm;
} oci_lmake;

/* The role of the layer a build most likely changes (the project's own
 * code), and the largest cache image blob of it fetched for its blocks. */
#define OCI_LMAKE_CHANGED_ROLE "app"
#define OCI_LMAKE_FETCH_MAX (256 << 20)

/* Make the layers v[0..n) (fills each one's r, and its from when a
 * --cache-from image holds its blob) and, with a stream, queue each blob
 * made for upload. The passes that only read the input run one layer per
 * thread (oci_ctx_threads); logs, events, uploads and results are the same,
 * and in the same order, for any thread count. A layer whose cache key was
 * not needed to look it up (an empty cache) is put in the layer cache on
 * a thread of its own while the build goes on: oci_lmake_finish waits. */
int oci_lmake_layers(oci_lmake *m, oci_lplan *const *v, size_t n, ocibuild_error *err);

/* Whether the layer cache holds nothing to look up (there is none, or it
 * is empty, as on a fresh runner). */
int oci_lmake_nothing_cached(const oci_lmake *m);
/* Open the --cache-from images now (once), rather than at the first layer
 * that misses the layer cache: on a fresh runner, while the input is still
 * walked (only the fields that open reads need be set: ctx, net, the
 * references, tags, platforms and the stream). Logs nothing; the layers
 * tell what it had to say. 0, or -1 when cancelled or out of memory. */
int oci_lmake_open_cache_from(oci_lmake *m, ocibuild_error *err);
/* On a fresh runner the layer a build most likely changes (the app) has
 * no earlier blob in the layer cache, but the cache image has one: fetch
 * it into the layer cache (called after oci_lmake_open_cache_from, while
 * the input is walked) and find its gzip members, so that the layer's
 * unchanged blocks are taken from it rather than compressed, as from a
 * local earlier blob (each checked to decompress to the very block).
 * Fails only when memory runs out or on an interrupt; otherwise there is
 * just no shortcut. */
int oci_lmake_fetch_members(oci_lmake *m, ocibuild_error *err);
/* Wait for the layers still being put in the layer cache (tell what their
 * keys cost), then bring the cache down to cache_max, least recently used
 * first. Call once the image is made: a failure here is only logged. */
void oci_lmake_finish(oci_lmake *m);

/* Log how many layers each --cache-from image gave. */
void oci_lmake_log_reused(oci_lmake *m);

void oci_lmake_release(oci_lmake *m);
#endif
