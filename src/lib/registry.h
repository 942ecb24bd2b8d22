/* The distribution API: manifests and blobs, pull and push, with
 * authentication (Basic and Bearer tokens), retries and TLS policy. One
 * oci_registry per registry, shared by threads; each thread brings its own
 * oci_http handle. */
#ifndef OCI_REGISTRY_H
#define OCI_REGISTRY_H
#include "auth.h"
#include "buf.h"
#include "ctx.h"
#include "http.h"

typedef struct oci_reg_opts {
	const char *ca_file;
	ocibuild_strv insecure; /* hosts that may use plain HTTP */
	int push;               /* use push credentials */
	int no_retry;           /* one connection attempt (see oci_net) */
	oci_getenv_fn env;
	ocibuild_ctx *ctx;
} oci_reg_opts;

typedef struct oci_registry oci_registry;

int oci_reg_open(oci_registry **out, const char *domain, const oci_reg_opts *o,
		 ocibuild_error *err);
/* Frees the handle: its tokens, credentials and lock (it holds no
 * connection: the HTTP handles are the caller's). */
void oci_reg_release(oci_registry *r);
const char *oci_reg_domain(const oci_registry *r);
ocibuild_ctx *oci_reg_ctx(const oci_registry *r);
/* A new HTTP handle for the calling thread. */
int oci_reg_http(oci_registry *r, oci_http **h, ocibuild_error *err);

/* GET a manifest or index (any of the four media types); digest_out gets
 * the sha256 of the bytes, checked against ref when ref is a digest. */
int oci_reg_get_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 oci_buf *out, char *digest_out, char **media_type, ocibuild_error *err);
/* GET /v2/<repo>/tags/list (the first page, as the registry sends it, at
 * most OCI_MAX_TAGS_LIST bytes) into out. */
#define OCI_MAX_TAGS_LIST (4u << 20)
int oci_reg_get_tags(oci_registry *r, oci_http *h, const char *repo, oci_buf *out,
		     ocibuild_error *err);
int oci_reg_put_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 const char *media_type, const void *data, size_t len,
			 ocibuild_error *err);
/* The same, for a manifest with a subject: *subject_ack is 1 when the
 * registry answered with an OCI-Subject header (it keeps the referrers
 * list itself). */
int oci_reg_put_referrer(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 const char *media_type, const void *data, size_t len, int *subject_ack,
			 ocibuild_error *err);
/* GET /v2/<repo>/referrers/<digest>[?artifactType=...]: *supported is 1
 * and out holds the image index when the registry has the referrers API,
 * 0 when it answered anything else (no API: use the tag schema). */
int oci_reg_get_referrers(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			  const char *artifact_type, oci_buf *out, int *supported,
			  ocibuild_error *err);
/* HEAD a manifest by tag or digest: *found is 1 when the registry has it,
 * and digest_out (72 bytes) then holds its Docker-Content-Digest, or "" when
 * the registry did not say. */
int oci_reg_manifest_head(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			  int *found, char *digest_out, ocibuild_error *err);
int oci_reg_blob_exists(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			int *exists, ocibuild_error *err);
/* Cross-repository mount; *mounted = 0 when the registry declines. */
int oci_reg_mount(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		  const char *from, int *mounted, ocibuild_error *err);
/* Upload a blob from a file: one PUT up to chunk bytes, else PATCH chunks,
 * resuming from the registry's Range after a dropped connection. */
int oci_reg_upload(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		   const char *path, uint64_t size, uint64_t chunk, ocibuild_error *err);
/* Upload a blob while it is still being written: a POST at once, then,
 * once fd_of has given the file (it blocks until there is one; -1: there
 * will be none), one PATCH whose body follows the file as grow says it
 * grows (oci_http_req's body_grow) up to chunk bytes (0: no limit), the
 * rest in PATCH chunks as oci_reg_upload sends them, then a PUT with the
 * digest, which digest and *size hold by the time grow has said the file
 * is complete. A file complete by the time the session is open, and no
 * larger than a chunk, goes in that one PUT. Only what every request gets
 * is retried: a failure leaves the blob to oci_reg_upload. */
int oci_reg_upload_growing(oci_registry *r, oci_http *h, const char *repo,
			   int (*fd_of)(void *userdata),
			   int (*grow)(void *userdata, uint64_t off, uint64_t *end, int *done),
			   void *userdata, const char *digest, const int64_t *size,
			   uint64_t chunk, ocibuild_error *err);
/* Download a blob into the blob store dir, checked against its digest. */
int oci_reg_get_blob(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		     int64_t size, const char *store, ocibuild_error *err);
/* Try user/password against the registry's /v2/ endpoint. */
/* For a registry that may speak plain HTTP and has not been asked yet: one
 * GET /v2/ (any answer, no authentication) settles whether it speaks TLS,
 * so that requests made in parallel next do not each try TLS first (each
 * try loads the CA bundle). A no-op otherwise. */
int oci_reg_settle(oci_registry *r, oci_http *h, ocibuild_error *err);
/* Take the scheme `from` (a client of the same host, e.g. the push's)
 * has settled, so that r does not try TLS again; plain HTTP only when r
 * allows it too. A no-op when hosts differ or nothing is settled. */
void oci_reg_scheme_from(oci_registry *r, oci_registry *from);
int oci_reg_check_login(oci_registry *r, const char *user, const char *password,
			ocibuild_error *err);
#endif
