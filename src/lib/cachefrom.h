/* --cache-from: images already in a registry as a layer cache. Each cache
 * reference is resolved per platform to a manifest and config; a layer to
 * build whose diff_id (tar + SHA-256, no compression) equals one of their
 * diff_ids reuses that remote blob instead of being compressed and
 * uploaded. A cache reference that can not be read is logged and left out:
 * a cache never breaks a build. */
#ifndef OCI_CACHEFROM_H
#define OCI_CACHEFROM_H
#include "layer.h"
#include "transfer.h"

/* A remote layer: its diff_id, its descriptor, and the source it lives in. */
typedef struct oci_cf_layer {
	char diff_id[OCI_DIGEST_LEN + 1];
	char digest[OCI_DIGEST_LEN + 1];
	int64_t size;
	char *media_type;
	char *made_by; /* its history entry's created_by, or NULL */
	size_t src; /* index into oci_cachefrom.src */
} oci_cf_layer;

typedef struct oci_cachefrom {
	oci_blob_source *src; /* one per cache reference that resolved */
	oci_strlist *blobs;   /* src[i].blobs points at blobs[i] */
	oci_strlist names;    /* the references as given, for logs */
	oci_strlist notes;    /* log lines not told yet (oci_cachefrom_tell) */
	size_t *reused;       /* layers reused from each source */
	size_t nsrc;
	oci_cf_layer *v;
	size_t n;
} oci_cachefrom;

/* Resolve `refs` (or, when there are none and `push` is set, each of
 * `tags` at its push destination) for every platform of `plats`, reading
 * manifests and configs through `cache` with pull credentials. A ref on
 * the host of `known` (a registry client already in use, or NULL) takes
 * its settled scheme instead of trying TLS again. Fails only
 * when cancelled or out of memory; any other failure of a reference is
 * noted and the reference left out. What it has to say is kept for
 * oci_cachefrom_tell. Release with oci_cachefrom_release. */
int oci_cachefrom_open(ocibuild_ctx *ctx, const oci_net *net, oci_registry *known,
		       const ocibuild_strv *refs, const char *push, const oci_strlist *tags,
		       const oci_platform *plats, size_t np, const char *cache, oci_cachefrom *cf,
		       ocibuild_error *err);
/* Log what opening the images had to say, and forget it. */
void oci_cachefrom_tell(ocibuild_ctx *ctx, oci_cachefrom *cf);
/* The diff_id of the layer that o and entries would make: the tar stream
 * hashed, nothing compressed or written. tar_size may be NULL. */
int oci_cachefrom_diff_id(const oci_layer_opts *o, const oci_walk_entry *const *entries,
			  size_t n, char *diff_id, uint64_t *tar_size, ocibuild_error *err);
/* The remote layer with this diff_id compressed as `c`, or NULL. */
const oci_cf_layer *oci_cachefrom_find(const oci_cachefrom *cf, const char *diff_id,
				       ocibuild_compression c);
/* The first remote layer, compressed as `c`, whose history says it was
 * made as a `what` layer by this tool ("ocibuild build: WHAT layer in
 * ..."), or NULL. */
const oci_cf_layer *oci_cachefrom_made_as(const oci_cachefrom *cf, const char *what,
					  ocibuild_compression c);
/* Download layer l into the blob store `store`, digest-checked and capped
 * at its size (for an output that must hold every blob). */
int oci_cachefrom_fetch(ocibuild_ctx *ctx, const oci_cachefrom *cf, const oci_cf_layer *l,
			const char *store, ocibuild_error *err);
void oci_cachefrom_release(oci_cachefrom *cf);
#endif
