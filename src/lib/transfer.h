/* Moving images between a registry and the disk: resolve and pull an image
 * (through the content-addressed cache), and push an image from a layout,
 * several blobs at a time, manifest by digest first and tags after. */
#ifndef OCI_TRANSFER_H
#define OCI_TRANSFER_H
#include "oci.h"
#include "ref.h"
#include "registry.h"

/* How a call talks to registries: the caller's ocibuild_registry_opts
 * with the defaults filled in. */
typedef struct oci_net {
	const char *ca_file;
	ocibuild_strv insecure;
	uint64_t chunk;
	int jobs;
	/* a registry that cannot be reached is not tried again: for a cache,
	 * building without it beats waiting out a retry budget */
	int no_retry;
} oci_net;

/* Fill net from o (NULL: all defaults), after checking o's version. The
 * strings stay the caller's. */
int oci_net_init(oci_net *net, const ocibuild_registry_opts *o, ocibuild_error *err);

/* Open a registry client for domain. */
int oci_net_registry(ocibuild_ctx *ctx, const oci_net *net, const char *domain, int push,
		     oci_registry **out, ocibuild_error *err);
/* Parse refstr into ref (a bad reference is an option error; release ref
 * in any case) and open a pull client for its registry with one HTTP
 * handle for the calling thread. */
int oci_net_open_ref(ocibuild_ctx *ctx, const oci_net *net, const char *refstr, oci_ref *ref,
		     oci_registry **reg, oci_http **h, ocibuild_error *err);

/* The cache directory: $OCIBUILD_CACHE_DIR, $XDG_CACHE_HOME/ocibuild or
 * ~/.cache/ocibuild (heap). It is a blob store shared by concurrent builds. */
char *oci_cache_dir(oci_getenv_fn env);

typedef struct oci_pulled {
	char digest[OCI_DIGEST_LEN + 1]; /* of the platform's manifest */
	char *media_type;
	oci_manifest manifest;
	char *config_json;
	size_t config_len;
} oci_pulled;

/* Resolve ref (index -> the wanted platform -> manifest) and fetch the
 * manifest and config into the cache. Layers are not fetched. */
int oci_pull_resolve(oci_registry *reg, const oci_ref *ref, const oci_platform *want,
		     const char *cache, oci_pulled *out, ocibuild_error *err);
/* Fetch every layer missing from the cache, `jobs` at a time. */
int oci_pull_layers(oci_registry *reg, const char *repo, const oci_manifest *m,
		    const char *cache, int jobs, ocibuild_error *err);
void oci_pulled_release(oci_pulled *p);

/* A repository that holds some of an image's blobs without them being on
 * disk: a registry base, or a --cache-from image. */
typedef struct oci_blob_source {
	oci_registry *reg;        /* a client of its registry (pull credentials) */
	const char *repo;
	const oci_strlist *blobs; /* the digests it holds that the image uses */
} oci_blob_source;

typedef struct oci_push_opts {
	const char *layout;   /* where the image's blobs are */
	const char *manifest_digest;
	const char *repo;
	const char *const *tags;
	size_t ntags;
	uint64_t chunk;
	int jobs;
	/* blobs missing from the layout come from these repositories (the
	 * base image's, --cache-from images'): mounted when on the same
	 * registry, else fetched into the cache and uploaded */
	const oci_blob_source *sources;
	size_t nsources;
	/* a repository of the same registry that already holds the whole
	 * image (pushed just before): every blob is mounted from it */
	const char *mount_repo;
	const char *cache;
} oci_push_opts;

/* A push whose blobs may be handed over before the image exists (build
 * --push hands each layer over as soon as it is in the stage): `jobs`
 * upload workers take the blobs in the order given, each once, as
 * oci_push_image does (HEAD, mounts from o->mount_repo and o->sources,
 * upload from o->layout). After begin, exactly one of finish or abort
 * frees the session. reg must outlive it. */
typedef struct oci_push_session oci_push_session;

/* Start the workers (o->manifest_digest and o->tags are not read yet; the
 * strings o points to must outlive the session). *out: the session. */
int oci_push_session_begin(oci_registry *reg, const oci_push_opts *o, oci_push_session **out,
			   ocibuild_error *err);
/* Queue a blob of o->layout (a digest already queued is ignored). Fails
 * with a worker's error once an upload has failed. */
int oci_push_session_add(oci_push_session *s, const char *digest, int64_t size,
			 ocibuild_error *err);
/* Queue a blob that the source src (of the same registry; it must outlive
 * the session) holds: mounted from there at once when it can be, else left
 * to finish, which pushes it with all the sources. */
int oci_push_session_add_from(oci_push_session *s, const char *digest, int64_t size,
			      const oci_blob_source *src, ocibuild_error *err);
/* A blob of o->layout still being written, queued now: uploaded as it
 * grows (oci_reg_upload_growing), without a HEAD first, so only for a
 * blob that is new to the repository; should that upload fail, it is
 * pushed as any blob once complete. *out belongs to the session: tell it
 * of every write (grew) and, exactly once, of the end. */
typedef struct oci_push_feed oci_push_feed;
int oci_push_session_feed(oci_push_session *s, oci_push_feed **out, ocibuild_error *err);
/* fd (the writer's; duplicated) holds `written` bytes now. */
void oci_push_feed_grew(oci_push_feed *f, int fd, uint64_t written);
/* The blob is complete, as digest (size bytes), under that name in the
 * layout; NULL: it will not be, the upload under way is dropped. */
void oci_push_feed_end(oci_push_feed *f, const char *digest, int64_t size);
/* Queue the rest of image o->manifest_digest (o replaces begin's options:
 * the same layout and repository, now with all sources), wait for every
 * blob, then put the manifests an index lists by digest, then the top
 * one by its tags (by digest when it has none). ref_out gets
 * "domain/repo@sha256:..." (heap). Frees s. */
int oci_push_session_finish(oci_push_session *s, const oci_push_opts *o, char **ref_out,
			    ocibuild_error *err);
/* Stop: queued blobs are dropped, uploads under way end, nothing else is
 * written (no manifest, no tag). Frees s; NULL is ignored. */
void oci_push_session_abort(oci_push_session *s);

/* Push (begin, finish); ref_out gets "domain/repo@sha256:..." (heap). */
int oci_push_image(oci_registry *reg, const oci_push_opts *o, char **ref_out,
		   ocibuild_error *err);
#endif
