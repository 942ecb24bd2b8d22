/* The layer cache: a layer already built from exactly the same input is
 * taken from the cache instead of being made again.
 *
 * The key of a layer is a SHA-256 over what decides its bytes: the layer
 * options (compression, prefix, file times) and, for every entry in order,
 * its path, type, mode, size, link target and content digest. Content,
 * not file identity and times: release tools (relx, mix release) copy every
 * file into a new release directory on each run, so inode and ctime never
 * survive from one build to the next, and a key made of them would always
 * miss. The stat index only saves reading a file whose stat tuple has not
 * changed since its content was hashed; a copied file is read again and
 * still gives the same key. An entry
 * maps the key to the blob's digest, diff_id and sizes; the blob itself is
 * in the content-addressed cache, so an entry whose blob is gone is a miss
 * and is dropped, and one whose blob is corrupt is made again.
 *
 * Entries and blobs are written under temporary names and renamed, so
 * builds sharing a cache need no lock. */
#ifndef OCI_LAYERCACHE_H
#define OCI_LAYERCACHE_H
#include "layer.h"

#define OCI_LCACHE_KEY_LEN 64

/* What computing a key cost: the regular files of the layer, and how many
 * of them were read (the others the stat index vouched for). */
typedef struct oci_lcache_stats {
	size_t files, read;
} oci_lcache_stats;

/* Compute the key of a layer; key gets OCI_LCACHE_KEY_LEN hex digits + NUL.
 * A file's content digest comes from cache_dir's stat index (statindex.h)
 * when the file is unchanged since it was hashed; the others are read and
 * hashed on o->threads threads, and the index updated. cache_dir may be
 * NULL (every file is read). cost, when not NULL, gets the counts. */
int oci_lcache_key(const char *cache_dir, const oci_layer_opts *o, const oci_walk_entry *const *entries,
		   size_t n, char *key, oci_lcache_stats *cost, ocibuild_error *err);
/* Look the key up in cache_dir. *hit is set and r filled when an entry
 * names a blob that is present in cache_dir with the recorded size.
 * *checked (may be NULL) is 1 when a check of that blob against its digest
 * vouches for it: its device, inode and mtime are those the check saw, and
 * the mtime was older than the check by more than the timestamp
 * granularity (any write since would have moved it). */
int oci_lcache_get(const char *cache_dir, const char *key, oci_layer_result *r, int *hit,
		   int *checked, ocibuild_error *err);
/* Put the blob of a hit into dst_dir (a hard link when possible). It is read
 * and checked against its digest unless `checked` (from oci_lcache_get);
 * a check that can vouch for it is recorded in key's entry, so that later
 * builds need not read it. OCIBUILD_ERR_DIGEST when it is corrupt. */
int oci_lcache_take(const char *cache_dir, const char *key, const oci_layer_result *r,
		    int checked, const char *dst_dir, int durable, ocibuild_error *err);
/* Record r (whose blob is in blob_dir, just made by this process) under
 * key: the blob is added to the cache's blob store (hard link when
 * possible, not read again) and the entry written. */
int oci_lcache_put(const char *cache_dir, const char *key, const char *blob_dir,
		   const oci_layer_result *r, ocibuild_error *err);
/* 1 when cache_dir holds no entry at all (a fresh runner's cache): every
 * lookup would miss, so a build need not compute the keys to look up. 0
 * when it holds some, or can not be read (then look up as usual). An entry
 * another build adds meanwhile is only a missed hit. */
int oci_lcache_empty(const char *cache_dir);
/* Forget an entry (its blob turned out to be corrupt). */
void oci_lcache_drop(const char *cache_dir, const char *key);
/* Mark a blob of the cache as just used (least recently used go first; the
 * access time says when). */
void oci_lcache_touch(const char *cache_dir, const char *digest);
/* The gzip members of the blob last made for a layer, so that its next
 * build can take the blocks that did not change (oci_layer_members). The
 * slot names the layer across builds, not its content: a digest of its
 * root, prefix, role and first entry (oci_lcache_slot, 16 hex digits and a
 * NUL). A record of another format or libdeflate is ignored. */
void oci_lcache_slot(const char *root, const char *prefix, const char *what,
		     const char *first, char *slot);
/* 1 when found: digest (OCI_DIGEST_LEN + 1) names the blob, *v (oci_free)
 * its *n members; 0 when there is none usable; -1 out of memory. */
int oci_lcache_members_get(const char *cache_dir, const char *slot, char *digest,
			   oci_gz_member **v, size_t *n, ocibuild_error *err);
/* Record the members of blob digest (in the cache) for slot. */
int oci_lcache_members_put(const char *cache_dir, const char *slot, const char *digest,
			   const oci_gz_member *v, size_t n, ocibuild_error *err);
/* Remove the least recently used blobs of cache_dir until they add up to
 * at most max bytes; *removed (may be NULL) gets how many bytes went.
 * Entries whose blob is gone are misses from then on. Safe with other
 * builds at work on the same cache: a blob removed under one of them is a
 * miss there. */
int oci_lcache_trim(const char *cache_dir, uint64_t max, uint64_t *removed,
		    ocibuild_error *err);
#endif
