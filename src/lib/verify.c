/* ocibuild verify: check an image's cosign-format signatures (the
 * "sha256-<hex>.sig" tag of its repository) against a public key. */
#include <stdio.h>
#include <string.h>

#include "blobstore.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "oci.h"
#include "ref.h"
#include "sign.h"
#include "transfer.h"
#include "banned.h"

/* a simple signing payload is a few hundred bytes; attach.c writes them
 * under this cap too */
#define PAYLOAD_MAX (1u << 16)

/* What the signature layers said, to name the reason when none verified. */
struct tally {
	size_t unusable;       /* too large, no signature, unreadable payload */
	size_t other_digest;   /* the payload names another image */
	size_t other_repo;     /* the payload names another repository */
	size_t bad_signature;  /* names this image, signed by another key */
	char *seen_digest;     /* the first other digest named */
	char *seen_repo;       /* the first other repository named */
};

static void tally_release(struct tally *t)
{
	oci_free(t->seen_digest);
	oci_free(t->seen_repo);
}

/* A name from a payload, fit for a one-line message: short and printable,
 * else a neutral word (the payload is the registry's text, not ours). */
static const char *shown(const char *s, const char *instead)
{
	const char *p;

	if (!s || strlen(s) > 255)
		return instead;
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return instead;
	return s;
}

/* The payload of one signature layer into `payload`: fetched into the
 * cache, digest-checked on the way in and again as read. 1 when usable, 0
 * when not (counted), -1 on an error that stops everything. */
static int fetch_payload(oci_registry *reg, oci_http *h, const char *repo, const char *cache,
			 const oci_descriptor *d, oci_buf *payload, ocibuild_error *err)
{
	char got[OCI_DIGEST_LEN + 1], *path;
	int rc;

	oci_buf_reset(payload);
	if (d->size <= 0 || (uint64_t)d->size > PAYLOAD_MAX || !oci_digest_valid(d->digest))
		return 0;
	if (oci_reg_get_blob(reg, h, repo, d->digest, d->size, cache, err) < 0) {
		/* a missing payload makes this layer unusable, not the others */
		if (err->kind == OCIBUILD_ERR_CANCELLED || err->kind == OCIBUILD_ERR_NOMEM ||
		    err->kind == OCIBUILD_ERR_NETWORK || err->kind == OCIBUILD_ERR_AUTH)
			return -1;
		ocibuild_error_clear(err);
		return 0;
	}
	path = oci_blobs_path(cache, d->digest);
	if (!path)
		return oci_err_nomem(err);
	rc = oci_read_file(path, PAYLOAD_MAX, payload, err);
	oci_free(path);
	if (rc < 0 || oci_sha256_buf(payload->data, payload->len, got, err) < 0)
		return -1;
	return strcmp(got, d->digest) ? 0 : 1;
}

/* Check one layer of the signature manifest; 1 when it verifies. */
static int check_layer(oci_registry *reg, oci_http *h, const char *repo, const char *cache,
		       const oci_descriptor *d, const char *name, const char *digest,
		       const oci_sign_key *key, struct tally *t, ocibuild_error *err)
{
	oci_buf payload = OCI_BUF_INIT(PAYLOAD_MAX);
	const char *sig = oci_map_get(&d->annotations, OCI_SIGN_ANNOTATION);
	char *pr = NULL, *pd = NULL;
	int rc;

	rc = sig ? fetch_payload(reg, h, repo, cache, d, &payload, err) : 0;
	if (rc < 0)
		goto out;
	if (rc == 1 && oci_sign_payload_parse(payload.data, payload.len, &pr, &pd, err) < 0) {
		if (err->kind == OCIBUILD_ERR_NOMEM) {
			rc = -1;
			goto out;
		}
		ocibuild_error_clear(err);
		rc = 0;
	}
	if (rc == 0) {
		t->unusable++;
		goto out;
	}
	rc = 0;
	if (strcmp(pd, digest)) {
		t->other_digest++;
		if (!t->seen_digest) {
			t->seen_digest = pd;
			pd = NULL;
		}
	} else if (strcmp(pr, name)) {
		t->other_repo++;
		if (!t->seen_repo) {
			t->seen_repo = pr;
			pr = NULL;
		}
	} else {
		rc = oci_sign_check(key, payload.data, payload.len, sig, err);
		if (rc == 0)
			t->bad_signature++;
	}
out:
	oci_free(pr);
	oci_free(pd);
	oci_buf_release(&payload);
	return rc;
}

/* 1 when the repository's tag list holds a signature tag other than
 * `mine` (so the image REF names now is not the one that was signed), 0
 * when not or when the registry does not list tags, -1 out of memory. */
static int other_signatures(oci_registry *reg, oci_http *h, const char *repo, const char *mine,
			    ocibuild_error *err)
{
	oci_buf tags = OCI_BUF_INIT(OCI_MAX_TAGS_LIST);
	const char *p;
	int found = 0;

	/* a registry that will not list tags only makes the message vaguer */
	if (oci_reg_get_tags(reg, h, repo, &tags, err) < 0 || !tags.len) {
		oci_buf_release(&tags);
		if (err->kind == OCIBUILD_ERR_NOMEM || err->kind == OCIBUILD_ERR_CANCELLED)
			return -1;
		ocibuild_error_clear(err);
		return 0;
	}
	/* a tag in the JSON list: "sha256-<64 hex>.sig" */
	for (p = tags.data; !found && (p = strstr(p, "\"sha256-")); p++) {
		size_t n = strspn(p + 8, "0123456789abcdef");

		found = n == 64 && !strncmp(p + 8 + 64, ".sig\"", 5) && strncmp(p + 1, mine, 75);
	}
	oci_buf_release(&tags);
	return found;
}

/* Check the signatures of `digest` in repo `path` (name: "registry/repo").
 * subject names the image in messages; by_tag: the user named it by a tag,
 * so a missing signature may mean the tag moved. Counts go to *sigs and
 * *verified. 0 when one verified, else -1 with err saying why (kinds INPUT
 * and DIGEST are verdicts; any other kind stopped the check). */
static int check_digest(oci_registry *reg, oci_http *h, const char *path, const char *cache,
			const char *name, const char *digest, const char *subject, int by_tag,
			const char *keyname, const oci_sign_key *key, size_t *sigs,
			size_t *verified, ocibuild_error *err)
{
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_manifest m;
	struct tally t;
	char sigdigest[OCI_DIGEST_LEN + 1], tag[80], *mt = NULL;
	size_t i;
	int rc = -1, moved;

	memset(&m, 0, sizeof(m));
	memset(&t, 0, sizeof(t));
	snprintf(tag, sizeof(tag), "sha256-%s.sig", oci_digest_hex(digest));
	if (oci_reg_get_manifest(reg, h, path, tag, &raw, sigdigest, &mt, err) < 0) {
		if (err->code != 404 || err->kind != OCIBUILD_ERR_INPUT)
			goto out;
		ocibuild_error_clear(err);
		moved = by_tag ? other_signatures(reg, h, path, tag, err) : 0;
		if (moved < 0)
			goto out;
		if (moved)
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"'%s' now points at %s, which is not signed, while %s holds "
				"signatures of other images: the tag was moved after signing "
				"(verify the signed image by its digest, or sign this one)",
				subject, digest, name);
		else
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"no signature for %s: %s has no tag %s; sign it with "
				"'ocibuild push --sign-key' (or cosign sign)",
				subject, name, tag);
		goto out;
	}
	if (oci_manifest_parse(raw.data, raw.len, &m, err) < 0) {
		oci_err_prefix(err, "signatures %s:%s", name, tag);
		goto out;
	}
	for (i = 0; i < m.nlayers; i++) {
		const oci_descriptor *d = &m.layers[i];
		int ok;

		if (!d->media_type || strcmp(d->media_type, OCI_SIGN_PAYLOAD_TYPE))
			continue;
		(*sigs)++;
		ok = check_layer(reg, h, path, cache, d, name, digest, key, &t, err);
		if (ok < 0)
			goto out;
		*verified += (size_t)ok;
	}
	if (*verified) {
		rc = 0;
	} else if (!*sigs) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"no signature for %s: %s:%s holds no cosign signature layer", subject,
			name, tag);
	} else if (t.other_digest) {
		oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			"the signature of %s@%s names %s, not %s: it was made for another image "
			"(the signature tag was tampered with or copied)",
			name, digest, shown(t.seen_digest, "another digest"), digest);
	} else if (t.other_repo) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"the signature of %s@%s names %s, not %s: it was made for another repository",
			name, digest, shown(t.seen_repo, "another name"), name);
	} else if (t.bad_signature) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"no signature of %s@%s verifies with %s (%zu signature%s by another key)",
			name, digest, keyname, t.bad_signature, t.bad_signature == 1 ? "" : "s");
	} else {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"no usable signature for %s@%s: %zu signature layer%s without a readable "
			"payload (at most %u KiB) or signature annotation",
			name, digest, t.unusable, t.unusable == 1 ? "" : "s", PAYLOAD_MAX >> 10);
	}
out:
	tally_release(&t);
	oci_manifest_release(&m);
	oci_free(mt);
	oci_buf_release(&raw);
	return rc;
}

/* A failed check that is a verdict on the image, not a failure to check. */
static int is_verdict(const ocibuild_error *err)
{
	return err->kind == OCIBUILD_ERR_INPUT || err->kind == OCIBUILD_ERR_DIGEST;
}

/* Record the outcome of one check in e: the reason (taken from err, which
 * is cleared) when it failed with a verdict. -1 when the check itself
 * failed (err kept). */
static int record(ocibuild_verify_manifest *e, int rc, ocibuild_error *err)
{
	if (rc == 0)
		return 0;
	if (!is_verdict(err) || !err->message)
		return -1;
	e->reason = err->message;
	err->message = NULL;
	ocibuild_error_clear(err);
	return 0;
}

/* --recursive: the top digest's outcome (rc_top, err) as the first entry,
 * then, for an index (raw, mt), each manifest it lists. 0 when all
 * verified, else -1 with err naming those that did not. */
static int check_children(oci_registry *reg, oci_http *h, const oci_ref *ref, const char *cache,
			  const char *name, const char *raw, size_t rawlen, const char *mt,
			  const ocibuild_verify_opts *o, const oci_sign_key *key, int rc_top,
			  ocibuild_verify_result *res, ocibuild_error *err)
{
	oci_buf subject = OCI_BUF_INIT(OCI_MAX_TEXT);
	oci_index x;
	ocibuild_verify_manifest *e, top;
	const ocibuild_verify_manifest *first = NULL;
	size_t i, failed = 0;
	int rc = -1, is_index = oci_media_type_kind(mt) == OCI_MT_KIND_INDEX;

	memset(&x, 0, sizeof(x));
	memset(&top, 0, sizeof(top));
	if (record(&top, rc_top, err) < 0)
		return -1;
	if (is_index && oci_index_parse(raw, rawlen, &x, err) < 0) {
		oci_err_prefix(err, "%s@%s", name, res->digest);
		goto out;
	}
	res->manifests = oci_calloc(1 + x.n, sizeof(*res->manifests));
	if (!res->manifests) {
		oci_err_nomem(err);
		goto out;
	}
	e = &res->manifests[res->nmanifests++];
	memcpy(e->digest, res->digest, sizeof(e->digest));
	e->index = is_index;
	e->signatures = res->signatures;
	e->verified = res->verified;
	e->reason = top.reason;
	top.reason = NULL;
	for (i = 0; i < x.n; i++) {
		const oci_descriptor *d = &x.manifests[i];

		e = &res->manifests[res->nmanifests++];
		memcpy(e->digest, d->digest, sizeof(e->digest));
		e->index = oci_media_type_kind(d->media_type) == OCI_MT_KIND_INDEX;
		/* the index is the registry's text: only a printable platform is
		 * shown, so that it cannot break the one-line report */
		if (d->platform && !(e->platform = oci_platform_string(d->platform))) {
			oci_err_nomem(err);
			goto out;
		}
		if (e->platform && shown(e->platform, NULL) != e->platform) {
			oci_free(e->platform);
			if (!(e->platform = oci_strdup("unknown-platform"))) {
				oci_err_nomem(err);
				goto out;
			}
		}
		oci_buf_reset(&subject);
		if (oci_buf_printf(&subject, err, "%s@%s", name, d->digest) < 0 ||
		    record(e, check_digest(reg, h, ref->path, cache, name, d->digest, subject.data,
					   0, o->key, key, &e->signatures, &e->verified, err),
			   err) < 0)
			goto out;
	}
	for (i = 0; i < res->nmanifests; i++)
		if (res->manifests[i].reason && !failed++)
			first = &res->manifests[i];
	if (!failed) {
		rc = 0;
	} else {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"%zu of %zu manifests of %s@%s not verified with %s, first %s@%s (%s): %s",
			failed, res->nmanifests, name, res->digest, o->key, name, first->digest,
			first->platform ? first->platform : first->index ? "index" : "image",
			first->reason);
	}
out:
	oci_free(top.reason);
	oci_index_release(&x);
	oci_buf_release(&subject);
	return rc;
}

int ocibuild_verify(ocibuild_ctx *ctx, const ocibuild_verify_opts *o, ocibuild_verify_result *res,
		    ocibuild_error *err)
{
	oci_net net;
	oci_buf raw = OCI_BUF_INIT(OCI_MAX_MANIFEST), name = OCI_BUF_INIT(OCI_MAX_TEXT);
	oci_registry *reg = NULL;
	oci_http *h = NULL;
	oci_sign_key *key = NULL;
	oci_ref ref;
	char *mt = NULL, *cache = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&ref, 0, sizeof(ref));
	if (oci_err_version(o->version, OCIBUILD_VERIFY_OPTS_VERSION, "ocibuild_verify_opts",
			    err) < 0)
		return -1;
	if (!o->ref || !o->key)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "usage: ocibuild verify REFERENCE --key PUBLIC_KEY.pem");
	if (oci_net_init(&net, &o->registry, err) < 0 || oci_sign_pubkey_load(o->key, &key, err) < 0)
		return -1;
	if (oci_net_open_ref(ctx, &net, o->ref, &ref, &reg, &h, err) < 0)
		goto out;
	cache = oci_cache_dir(NULL);
	if (!cache) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_buf_printf(&name, err, "%s/%s", ref.domain, ref.path) < 0)
		goto out;
	snprintf(res->repository, sizeof(res->repository), "%s", name.data);
	if (oci_reg_get_manifest(reg, h, ref.path, ref.digest ? ref.digest : ref.tag, &raw,
				 res->digest, &mt, err) < 0)
		goto out;
	rc = check_digest(reg, h, ref.path, cache, name.data, res->digest, o->ref, !ref.digest,
			  o->key, key, &res->signatures, &res->verified, err);
	if (o->recursive)
		rc = check_children(reg, h, &ref, cache, name.data, raw.data, raw.len, mt, o, key,
				    rc, res, err);
out:
	oci_free(mt);
	oci_free(cache);
	oci_http_release(h);
	oci_reg_release(reg);
	oci_ref_release(&ref);
	oci_sign_key_release(key);
	oci_buf_release(&raw);
	oci_buf_release(&name);
	return rc;
}

void ocibuild_verify_result_release(ocibuild_verify_result *res)
{
	size_t i;

	if (!res)
		return;
	for (i = 0; i < res->nmanifests; i++) {
		oci_free(res->manifests[i].platform);
		oci_free(res->manifests[i].reason);
	}
	oci_free(res->manifests);
	res->manifests = NULL;
	res->nmanifests = 0;
}
