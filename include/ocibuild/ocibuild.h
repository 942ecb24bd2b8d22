/*
 * libocibuild: build OCI container images from directories and BEAM
 * releases without a container runtime.
 *
 * The library never prints and never exits. Every fallible function returns
 * 0 on success or a negative value on failure and fills the ocibuild_error
 * passed as its last argument; the caller releases it with
 * ocibuild_error_clear(). Progress and log lines leave the library only
 * through the callback set on the context.
 */
#ifndef OCIBUILD_OCIBUILD_H
#define OCIBUILD_OCIBUILD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OCIBUILD_VERSION "0.1.0"

/* What went wrong, coarse enough for a caller to choose an exit code. */
typedef enum ocibuild_error_kind {
	OCIBUILD_ERR_NONE = 0,
	OCIBUILD_ERR_OPTION,      /* an option is missing or malformed */
	OCIBUILD_ERR_INPUT,       /* the input (tree, base, layout) is wrong */
	OCIBUILD_ERR_IO,          /* a file could not be read or written */
	OCIBUILD_ERR_NOSPACE,     /* the disk (or quota) is full */
	OCIBUILD_ERR_UNSUPPORTED, /* valid but not something we handle */
	OCIBUILD_ERR_DIGEST,      /* content does not match its digest */
	OCIBUILD_ERR_CANCELLED,   /* the cancel callback asked us to stop */
	OCIBUILD_ERR_NOMEM,
	OCIBUILD_ERR_NETWORK,     /* could not talk to a server */
	OCIBUILD_ERR_AUTH,        /* credentials missing or refused */
	OCIBUILD_ERR_REGISTRY,    /* the registry refused a request */
	OCIBUILD_ERR_INTERNAL
} ocibuild_error_kind;

typedef struct ocibuild_error {
	ocibuild_error_kind kind;
	int code;      /* errno, or 0 */
	char *message; /* one line, heap allocated, names the subject */
} ocibuild_error;

/* Free the message and reset the error to OCIBUILD_ERR_NONE. */
void ocibuild_error_clear(ocibuild_error *err);

typedef enum ocibuild_compression {
	OCIBUILD_COMPRESS_GZIP = 0,
	OCIBUILD_COMPRESS_ZSTD,
	OCIBUILD_COMPRESS_NONE
} ocibuild_compression;

/* Parse "gzip", "zstd" or "none"; returns -1 for anything else. */
int ocibuild_compression_parse(const char *name, ocibuild_compression *out);

typedef enum ocibuild_log_level {
	OCIBUILD_LOG_DEBUG = 0,
	OCIBUILD_LOG_INFO,
	OCIBUILD_LOG_WARN
} ocibuild_log_level;

typedef void (*ocibuild_log_fn)(void *userdata, ocibuild_log_level level,
				const char *message);
/* Return non-zero to ask a running operation to stop (it then fails with
 * OCIBUILD_ERR_CANCELLED after removing what it had written). */
typedef int (*ocibuild_cancel_fn)(void *userdata);

/* Progress of registry transfers, one event at a time. */
typedef enum ocibuild_event_kind {
	OCIBUILD_EV_BLOB_PROGRESS = 0, /* bytes moved so far (done) */
	OCIBUILD_EV_BLOB_EXISTS,       /* the registry already has it */
	OCIBUILD_EV_BLOB_MOUNTED,      /* mounted from another repository */
	OCIBUILD_EV_BLOB_UPLOADED,
	OCIBUILD_EV_BLOB_DOWNLOADED,
	OCIBUILD_EV_BLOB_CACHED,       /* found in the local cache */
	OCIBUILD_EV_MANIFEST_PUSHED,   /* ref = registry/repo@digest */
	OCIBUILD_EV_TAG_PUSHED         /* ref = registry/repo:tag */
} ocibuild_event_kind;

typedef struct ocibuild_event {
	ocibuild_event_kind kind;
	const char *digest;
	int64_t size;
	uint64_t done;
	const char *ref;
} ocibuild_event;

typedef void (*ocibuild_progress_fn)(void *userdata, const ocibuild_event *ev);

/* Optional: loads and initialises libcurl now, which the first registry
 * call does otherwise (once per process, thread-safe; libcurl and
 * libarchive are loaded only when needed). Programs using the registry
 * functions should ignore SIGPIPE, as libcurl needs. */
void ocibuild_global_init(void);

/* Options, callbacks and worker count for library calls. Not thread safe:
 * use one context per concurrent build. */
/* What the library uses when an option is left 0. */
#define OCIBUILD_DEFAULT_JOBS 4                 /* blobs in flight to or from a registry */
#define OCIBUILD_DEFAULT_CHUNK_SIZE (16u << 20) /* uploads larger than this go in chunks */
#define OCIBUILD_DEFAULT_CACHE_MAX (10ull << 30) /* the layer and blob cache's size bound */

typedef struct ocibuild_ctx ocibuild_ctx;

/* Returns NULL only when out of memory. Free with ocibuild_ctx_free(). */
ocibuild_ctx *ocibuild_ctx_new(void);
void ocibuild_ctx_free(ocibuild_ctx *ctx);
void ocibuild_ctx_set_log(ocibuild_ctx *ctx, ocibuild_log_fn fn, void *userdata);
void ocibuild_ctx_set_cancel(ocibuild_ctx *ctx, ocibuild_cancel_fn fn,
			     void *userdata);
/* Progress events may come from several threads at once; the callback
 * is called with a lock held, so it need not lock itself. */
void ocibuild_ctx_set_progress(ocibuild_ctx *ctx, ocibuild_progress_fn fn,
			       void *userdata);
/* Compression workers; 0 (the default) means one per online CPU. The
 * output bytes never depend on this number. Blobs in flight to or from a
 * registry are ocibuild_registry_opts.jobs. */
void ocibuild_ctx_set_jobs(ocibuild_ctx *ctx, int jobs);
/* The time limit of one exchange with a registry or token service, in
 * seconds (0: the defaults, 120 s for documents and 3600 s for a blob or
 * an upload chunk). A transfer that stalls is cut off sooner, after 60 s
 * under 1 KiB/s. */
void ocibuild_ctx_set_request_timeout(ocibuild_ctx *ctx, long seconds);
/* How long a build or pull adding to an existing OCI layout waits for
 * another writer of that layout to finish (default 120 seconds; 0 means
 * do not wait). The wait also ends when the cancel callback says so. */
void ocibuild_ctx_set_lock_timeout(ocibuild_ctx *ctx, unsigned seconds);

/* A list of strings, owned by the caller. */
typedef struct ocibuild_strv {
	const char *const *items;
	size_t count;
} ocibuild_strv;

/* Every options struct starts with a version: initialise it with its
 * OCIBUILD_..._OPTS_INIT (then set fields), so that a program built
 * against an older header keeps working with a newer library. A call
 * given a version this library does not know (0 among them: a struct not
 * initialised that way) fails with OCIBUILD_ERR_OPTION. The macros use
 * designated initializers (C99; C++20). */

/* How to talk to registries: embedded in the build, push and pull options
 * and taken by ocibuild_login. Fields left 0 get the library's defaults. */
#define OCIBUILD_REGISTRY_OPTS_VERSION 1
typedef struct ocibuild_registry_opts {
	unsigned int version;
	const char *ca_file; /* extra CA bundle (PEM) for registries */
	ocibuild_strv insecure_registries; /* may use plain HTTP */
	uint64_t chunk_size; /* upload in PATCH chunks above this size (0: OCIBUILD_DEFAULT_CHUNK_SIZE) */
	int jobs;            /* blobs in flight at once (0: OCIBUILD_DEFAULT_JOBS) */
	const char *image_refs;  /* write every pushed (or the pulled) ref here, one a line */
	const char *digest_file; /* write the manifest (or index) digest here */
	/* with a push: sign the pushed image with this ECDSA P-256 private
	 * key (PEM, or cosign's encrypted key file; password from
	 * OCIBUILD_SIGN_PASSWORD or COSIGN_PASSWORD), stored as cosign does */
	const char *sign_key;
} ocibuild_registry_opts;
#define OCIBUILD_REGISTRY_OPTS_INIT { .version = OCIBUILD_REGISTRY_OPTS_VERSION }

#define OCIBUILD_BUILD_OPTS_VERSION 1
typedef struct ocibuild_build_opts {
	unsigned int version;
	/* Registries (pulling a --base reference, pushing with push) */
	ocibuild_registry_opts registry;
	const char *dir;     /* tree to put in the image; or one of: */
	const char *release; /* a BEAM release directory (bin/, releases/, lib/) */
	const char *project; /* a rebar3/Mix project: its newest release under _build */
	const char *release_name; /* with project: which release when several */
	const char *lock;    /* rebar.lock or mix.lock; default: the project's */
	/* With a scratch base, a release that bundles ERTS gets the shared
	 * libraries, loader and busybox it needs (a runtime layer): by default,
	 * or when bundle_runtime is set; no_bundle_runtime leaves them out (the
	 * image will then not start). A release without ERTS on scratch is
	 * refused: it has no Erlang to start. */
	int bundle_runtime;
	int no_bundle_runtime;
	const char *sbom;    /* also write the SPDX document (the first platform's) here */
	int no_vcs_annotations; /* do not add source/revision annotations */
	const char *base;    /* "scratch" (default when NULL) or "oci:DIR[:TAG]" */
	const char *workdir; /* absolute path in the image; default "/app" */
	ocibuild_strv tags;  /* "name:tag", at least one (a release's: see ocibuild_release_defaults) */
	const char *output;  /* FILE.tar or FILE.tar.gz, or NULL */
	const char *layout;  /* OCI layout directory, or NULL */
	ocibuild_compression compression;
	/* "os/arch[/variant]"; NULL = build host. Several, separated by
	 * commas ("linux/amd64,linux/arm64"), make an OCI image index with one
	 * manifest per platform in that order, sharing the layers made from
	 * the input; the base is resolved per platform. */
	const char *platform;
	const char *user;     /* config.User; NULL = "65534" */
	ocibuild_strv env;    /* "K=V": override the base's K */
	ocibuild_strv entrypoint;
	int entrypoint_set; /* replace the base's Entrypoint (and clear Cmd) */
	ocibuild_strv cmd;
	int cmd_set;
	ocibuild_strv expose;      /* "8080" or "53/udp" */
	ocibuild_strv labels;      /* "K=V" */
	ocibuild_strv annotations; /* "K=V" on the manifest (and on the index) */
	/* Timestamp for file mtimes (else 1, 1970-01-01T00:00:01Z) and, unless
	 * `created` says otherwise, for config.created, history and the
	 * created annotations. */
	int64_t source_date_epoch;
	int has_source_date_epoch;
	/* The image's creation time: "now", an RFC 3339 time
	 * ("2024-05-01T12:00:00Z", "...+02:00"), or "@SECONDS". NULL: the
	 * source date epoch, else the commit time of the git HEAD of the
	 * input (the project, release or directory), else
	 * 1970-01-01T00:00:01Z, so that the same input gives the same digest. */
	const char *created;
	const char *push;   /* "registry[/namespace]": push NAME:TAG there */
	/* Layers are kept in the cache ($OCIBUILD_CACHE_DIR, else
	 * $XDG_CACHE_HOME/ocibuild, else ~/.cache/ocibuild) and taken from it
	 * when their input has not changed; set to bypass it. */
	int no_cache;
	/* After the build, the least recently used blobs of the cache are
	 * removed until the cache holds at most this many bytes (0:
	 * OCIBUILD_DEFAULT_CACHE_MAX). */
	uint64_t cache_max;
	/* with push: do not attach the SBOM to the pushed image (by default
	 * a release image's SBOM is attached to each pushed image manifest as
	 * an OCI 1.1 referrer, see ocibuild_sbom_fetch) */
	int no_attach_sbom;
	/* Images in a registry used as a layer cache ("registry/repo:tag" or
	 * "@sha256:..."; default with push and without no_cache: each
	 * NAME:TAG where it is pushed):
	 * a layer whose diff_id (its tar's SHA-256) one of them has, with the
	 * compression asked for, is not compressed or uploaded again but
	 * reused from there (mounted or copied on push, downloaded only for
	 * -o or --layout). One that can not be read is logged and skipped. */
	ocibuild_strv cache_from;
} ocibuild_build_opts;
#define OCIBUILD_BUILD_OPTS_INIT \
	{ .version = OCIBUILD_BUILD_OPTS_VERSION, .registry = OCIBUILD_REGISTRY_OPTS_INIT }

typedef struct ocibuild_build_result {
	char manifest_digest[72]; /* "sha256:<64 hex>"; of the index with several platforms */
	/* when pushed (or pulled): "registry/repo@sha256:...", one line per
	 * repository (several when the tags name several images); else NULL.
	 * Heap: free with ocibuild_build_result_release(). */
	char *pushed_ref;
	int64_t manifest_size;
	size_t layer_count; /* base layers included (the first platform's) */
} ocibuild_build_result;

/* Free what a build, push or pull put in result (pushed_ref) and zero it.
 * Safe on a zeroed result and after a failed call. */
void ocibuild_build_result_release(ocibuild_build_result *result);

/* Build an image from opts->dir on top of opts->base and write it to
 * opts->output and/or opts->layout. On failure nothing is left at either
 * target (an existing layout keeps exactly what it had) and result holds
 * nothing to free; on success release it with
 * ocibuild_build_result_release(). */
int ocibuild_build(ocibuild_ctx *ctx, const ocibuild_build_opts *opts,
		   ocibuild_build_result *result, ocibuild_error *err);

/* What a build of a release takes when it is not told, so that front-ends
 * (the rebar3 plugin, the Mix task) need not work it out. */
typedef struct ocibuild_release_defaults {
	char *name;    /* the release's name (releases/VSN/NAME.rel) */
	char *version; /* its version (releases/start_erl.data) */
	/* "NAME:VSN", with '_' for each '+' of build metadata, which a tag
	 * cannot hold ("0.3.0+build.7" gives "NAME:0.3.0_build.7") */
	char *tag;
	/* "DIR/NAME-VSN.tar" for a release in DIR/rel/ (such as
	 * _build/prod/rel/NAME), relative to the working directory when under
	 * it; NULL for a release elsewhere */
	char *output;
} ocibuild_release_defaults;

/* Fill *out (an out-parameter) from the release of opts: opts->release, or
 * the one opts->project and opts->release_name pick, as ocibuild_build()
 * would. The caller frees it with ocibuild_release_defaults_release(), also
 * after a failure. */
int ocibuild_release_defaults_init(ocibuild_release_defaults *out,
				   const ocibuild_build_opts *opts, ocibuild_error *err);
void ocibuild_release_defaults_release(ocibuild_release_defaults *d);

/* Split an argument list given as a JSON array of strings
 * ('["/app/bin/x","start"]') or as words separated by spaces ('a b c').
 * On success *out is a NULL-terminated array the caller frees with
 * ocibuild_argv_free(); *count excludes the NULL. */
int ocibuild_argv_parse(const char *s, char ***out, size_t *count,
			ocibuild_error *err);
void ocibuild_argv_free(char **argv);

#define OCIBUILD_PUSH_OPTS_VERSION 1
typedef struct ocibuild_push_opts {
	unsigned int version;
	ocibuild_registry_opts registry;
	const char *source; /* an image archive (.tar, .tar.gz) or OCI layout dir */
	const char *push;   /* "registry[/namespace]" */
	ocibuild_strv tags; /* NAME:TAG to push as; default: the source's tags */
	int no_attach_sbom; /* as in ocibuild_build_opts */
} ocibuild_push_opts;
#define OCIBUILD_PUSH_OPTS_INIT \
	{ .version = OCIBUILD_PUSH_OPTS_VERSION, .registry = OCIBUILD_REGISTRY_OPTS_INIT }

/* Push an existing image. result->pushed_ref is the digest reference. */
int ocibuild_push(ocibuild_ctx *ctx, const ocibuild_push_opts *opts,
		  ocibuild_build_result *result, ocibuild_error *err);

#define OCIBUILD_PULL_OPTS_VERSION 1
typedef struct ocibuild_pull_opts {
	unsigned int version;
	/* chunk_size is not used; a sign_key is refused (nothing is pushed) */
	ocibuild_registry_opts registry;
	const char *ref;      /* e.g. docker.io/library/debian:stable-slim */
	const char *platform; /* NULL: the build host's */
	const char *layout;   /* OCI layout to write (or add) the image to */
} ocibuild_pull_opts;
#define OCIBUILD_PULL_OPTS_INIT \
	{ .version = OCIBUILD_PULL_OPTS_VERSION, .registry = OCIBUILD_REGISTRY_OPTS_INIT }

/* Pull an image (through the cache) into an OCI layout. */
int ocibuild_pull(ocibuild_ctx *ctx, const ocibuild_pull_opts *opts,
		  ocibuild_build_result *result, ocibuild_error *err);

/* Check user/password against the registry, then store them in docker's
 * config.json ($DOCKER_CONFIG or ~/.docker). Of opts (NULL: the
 * defaults) only ca_file and insecure_registries are used. */
int ocibuild_login(ocibuild_ctx *ctx, const char *registry, const char *user,
		   const char *password, const ocibuild_registry_opts *opts,
		   ocibuild_error *err);

#define OCIBUILD_VERIFY_OPTS_VERSION 1
typedef struct ocibuild_verify_opts {
	unsigned int version;
	const char *ref; /* the image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:... */
	const char *key; /* PEM public key (SubjectPublicKeyInfo, ECDSA P-256), e.g. cosign.pub */
	/* of the registry options only ca_file and insecure_registries are used */
	ocibuild_registry_opts registry;
	int recursive; /* also check each manifest an index lists (result->manifests) */
} ocibuild_verify_opts;
#define OCIBUILD_VERIFY_OPTS_INIT \
	{ .version = OCIBUILD_VERIFY_OPTS_VERSION, .registry = OCIBUILD_REGISTRY_OPTS_INIT }

/* The outcome for one digest of a recursive check. */
typedef struct ocibuild_verify_manifest {
	char digest[72];
	char *platform;    /* "os/arch[/variant]" from the index, or NULL (the top, or none given) */
	int index;         /* 1 when this is an image index */
	size_t signatures; /* signature layers found for it */
	size_t verified;   /* of them, those that verify */
	char *reason;      /* NULL when verified, else why not (one line) */
} ocibuild_verify_manifest;

typedef struct ocibuild_verify_result {
	char repository[1024]; /* "registry/repo" */
	char digest[72];       /* the manifest (or index) REF resolved to */
	size_t signatures;     /* signature layers found for that digest */
	size_t verified;       /* of them, those that name it and verify with the key */
	/* with opts->recursive: REF's digest first, then each manifest its
	 * index lists, in the index's order (just the one for an image);
	 * heap, free with ocibuild_verify_result_release. NULL/0 otherwise. */
	ocibuild_verify_manifest *manifests;
	size_t nmanifests;
} ocibuild_verify_result;

/* Check the cosign-format signatures of an image (the "sha256-<hex>.sig"
 * tag of its repository, as --sign-key stores them) against a public key:
 * resolve opts->ref to the digest of the manifest the registry sends,
 * fetch each signature payload (digest-checked, at most 64 KiB), and count
 * those that name this digest and repository and whose ECDSA signature
 * over the payload verifies with the key. Credentials are those of a pull.
 * Returns 0 when at least one verified; otherwise -1 with err saying why
 * (no signature, signed by another key, the tag now names an unsigned
 * image, a payload naming another image). result is filled as far as it
 * got in both cases. Without opts->recursive an index is checked as
 * itself, not per platform. With it (as `cosign verify` of each manifest
 * `cosign sign --recursive` signed), each manifest the index lists is
 * checked too and gets an entry in result->manifests with its reason when
 * it did not verify; then 0 only when every one verified, else -1 with err
 * counting the failures and naming the first. An error that stops the
 * check (network, credentials, memory) returns -1 with that error, the
 * entries made so far kept. Call ocibuild_verify_result_release in every
 * case. */
int ocibuild_verify(ocibuild_ctx *ctx, const ocibuild_verify_opts *opts,
		    ocibuild_verify_result *result, ocibuild_error *err);
/* Free result->manifests (the fixed fields stay as they are). */
void ocibuild_verify_result_release(ocibuild_verify_result *result);

#define OCIBUILD_SBOM_OPTS_VERSION 1
typedef struct ocibuild_sbom_opts {
	unsigned int version;
	const char *ref;      /* REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:... */
	const char *platform; /* for an index: which image ("os/arch[/variant]"); NULL: the host's */
	const char *output;   /* write the SBOM here (temp + rename), or NULL: into the result */
	/* of the registry options only ca_file and insecure_registries are used */
	ocibuild_registry_opts registry;
} ocibuild_sbom_opts;
#define OCIBUILD_SBOM_OPTS_INIT \
	{ .version = OCIBUILD_SBOM_OPTS_VERSION, .registry = OCIBUILD_REGISTRY_OPTS_INIT }

typedef struct ocibuild_sbom_result {
	char subject[72];  /* the image manifest whose SBOM it is */
	char artifact[72]; /* the artifact manifest holding it */
	const char *found_by; /* "referrers API", "referrers tag schema" or "sbom tag" (static) */
	/* when opts->output is NULL: the document (free with
	 * ocibuild_sbom_result_release) */
	char *data;
	size_t len;
} ocibuild_sbom_result;

/* Find the SPDX SBOM attached to an image (as push attaches it: an OCI 1.1
 * referrer with artifactType application/spdx+json): resolve opts->ref (an
 * index to the platform's manifest), then ask the registry's referrers
 * API, else read the "sha256-<hex>" referrers tag index, else the
 * "sha256-<hex>.sbom" tag; the artifact's subject must be the image and
 * the document is checked against its digest. Credentials are those of a
 * pull. */
int ocibuild_sbom_fetch(ocibuild_ctx *ctx, const ocibuild_sbom_opts *opts,
			ocibuild_sbom_result *result, ocibuild_error *err);
void ocibuild_sbom_result_release(ocibuild_sbom_result *result);

/* Validate "name:tag" against the OCI distribution grammar. Returns 0 when
 * valid, else -1 with err saying which part is wrong. */
int ocibuild_tag_check(const char *tag, ocibuild_error *err);

#ifdef __cplusplus
}
#endif
#endif
