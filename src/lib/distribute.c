#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "distribute.h"
#include "attach.h"
#include "blobstore.h"
#include "ctx.h"
#include "err.h"
#include "fs.h"
#include "layout.h"
#include "mem.h"
#include "referrer.h"
#include "tar.h"
#include "dl_archive.h"
#include "banned.h"

/* the --image-refs file */
#define IMAGE_REFS_MAX (1u << 20)

int oci_push_target(const char *prefix, const char *tag, char **domain, char **repo,
		    char **tagpart, ocibuild_error *err)
{
	oci_buf full = OCI_BUF_INIT(OCI_MAX_TEXT);
	const char *colon = strrchr(tag, ':'), *slash = strrchr(tag, '/');
	const char *first = strchr(tag, '/'), *name_start = tag;
	oci_ref r;
	int rc;

	*domain = *repo = *tagpart = NULL;
	if (colon && slash && colon < slash)
		colon = NULL;
	/* the image's repository path is kept ("team/app:1" goes to
	 * PREFIX/team/app), without a registry it may name ("ghcr.io/team/
	 * app:1" too): the prefix says where it goes */
	if (first && (memchr(tag, '.', (size_t)(first - tag)) || memchr(tag, ':', (size_t)(first - tag)) ||
		      ((size_t)(first - tag) == 9 && !strncmp(tag, "localhost", 9))))
		name_start = first + 1;
	if (oci_buf_printf(&full, err, "%s/%.*s:%s", prefix,
			   (int)(colon ? (size_t)(colon - name_start) : strlen(name_start)),
			   name_start, colon ? colon + 1 : "latest") < 0)
		return -1;
	rc = oci_ref_parse(full.data, &r, err);
	if (rc < 0) {
		oci_err_prefix(err, "cannot push to '%s'", prefix);
		oci_err_as_option(err);
		oci_buf_release(&full);
		return -1;
	}
	/* a bare "myorg" prefix means Docker Hub's myorg/, not library/ */
	if (!strchr(prefix, '/') && !strchr(prefix, '.') && !strchr(prefix, ':') &&
	    strcmp(prefix, "localhost")) {
		oci_buf p = OCI_BUF_INIT(OCI_MAX_TEXT);

		oci_free(r.path);
		r.path = NULL;
		if (oci_buf_printf(&p, NULL, "%s/%.*s", prefix,
				   (int)(colon ? (size_t)(colon - name_start) : strlen(name_start)),
				   name_start) == 0)
			r.path = oci_buf_detach(&p, NULL);
		oci_buf_release(&p);
	}
	*domain = r.domain;
	*repo = r.path;
	*tagpart = r.tag;
	r.domain = r.path = r.tag = NULL;
	oci_ref_release(&r);
	oci_buf_release(&full);
	return *repo && *tagpart ? 0 : oci_err_nomem(err);
}

struct oci_push_stream {
	char *domain;
	char *repo;
	oci_registry *reg;
	oci_push_session *session; /* NULL once oci_push_tags took it */
};

oci_registry *oci_push_stream_registry(const oci_push_stream *s)
{
	return s ? s->reg : NULL;
}

int oci_push_stream_begin(ocibuild_ctx *ctx, const oci_net *net, const char *layout,
			  const char *prefix, const char *tag, oci_push_stream **out,
			  ocibuild_error *err)
{
	oci_push_stream *s = oci_calloc(1, sizeof(*s));
	oci_push_opts po;
	char *tagpart = NULL;

	*out = NULL;
	if (!s)
		return oci_err_nomem(err);
	if (oci_push_target(prefix, tag, &s->domain, &s->repo, &tagpart, err) < 0 ||
	    oci_net_registry(ctx, net, s->domain, 1, &s->reg, err) < 0)
		goto fail;
	memset(&po, 0, sizeof(po));
	po.layout = layout;
	po.repo = s->repo;
	po.chunk = net->chunk;
	po.jobs = net->jobs;
	if (oci_push_session_begin(s->reg, &po, &s->session, err) < 0)
		goto fail;
	oci_free(tagpart);
	*out = s;
	return 0;
fail:
	oci_free(tagpart);
	oci_push_stream_free(s);
	return -1;
}

int oci_push_stream_add(oci_push_stream *s, const char *digest, int64_t size,
			ocibuild_error *err)
{
	return oci_push_session_add(s->session, digest, size, err);
}

int oci_push_stream_add_from(oci_push_stream *s, const char *digest, int64_t size,
			     const oci_blob_source *src, ocibuild_error *err)
{
	/* from another registry it is fetched and uploaded: left to the end,
	 * when the cache to fetch it into is known */
	if (!s->session || strcmp(oci_reg_domain(src->reg), s->domain))
		return 0;
	return oci_push_session_add_from(s->session, digest, size, src, err);
}

int oci_push_stream_feed(oci_push_stream *s, oci_push_feed **out, ocibuild_error *err)
{
	*out = NULL;
	if (!s->session)
		return 0;
	return oci_push_session_feed(s->session, out, err);
}

void oci_push_stream_free(oci_push_stream *s)
{
	if (!s)
		return;
	oci_push_session_abort(s->session);
	oci_reg_release(s->reg);
	oci_free(s->domain);
	oci_free(s->repo);
	oci_free(s);
}

int oci_push_tags(ocibuild_ctx *ctx, const oci_push_tags_opts *o, oci_strlist *refs,
		  ocibuild_error *err)
{
	const oci_net *net = o->net;
	const char *layout = o->layout, *manifest_digest = o->manifest_digest;
	const char *prefix = o->prefix, *cache = o->cache;
	const char *const *tags = o->tags;
	size_t ntags = o->ntags;
	const oci_sign_key *sign = o->sign;
	oci_push_stream *stream = o->stream;
	size_t i, j, k, nregs = 0;
	int rc = 0;
	unsigned char *done = oci_calloc(ntags ? ntags : 1, 1);
	/* one client per registry, and the first repository pushed there: the
	 * next repositories mount every blob from it instead of uploading */
	struct pushed_to {
		char *domain;
		char *repo;
		oci_registry *reg;
		int borrowed; /* the stream's */
	} *to = oci_calloc(ntags ? ntags : 1, sizeof(*to));

	if (!done || !to) {
		oci_free(done);
		oci_free(to);
		return oci_err_nomem(err);
	}
	/* one push per repository, with all of its tags */
	for (i = 0; i < ntags && rc == 0; i++) {
		char *domain, *repo, *tag, *ref = NULL;
		const char **group = NULL;
		size_t ng = 0;
		oci_registry *reg = NULL;
		const char *mount_repo = NULL;
		oci_push_opts po;

		if (done[i])
			continue;
		if (oci_push_target(prefix, tags[i], &domain, &repo, &tag, err) < 0) {
			rc = -1;
			break;
		}
		group = oci_calloc(ntags, sizeof(*group));
		if (!group) {
			rc = oci_err_nomem(err);
			goto next;
		}
		for (j = i; j < ntags; j++) {
			char *d2, *r2, *t2;

			if (done[j] || oci_push_target(prefix, tags[j], &d2, &r2, &t2, err) < 0)
				continue;
			if (!strcmp(d2, domain) && !strcmp(r2, repo)) {
				done[j] = 1;
				group[ng++] = t2;
				t2 = NULL;
			}
			oci_free(d2);
			oci_free(r2);
			oci_free(t2);
		}
		for (k = 0; k < nregs && strcmp(to[k].domain, domain); k++)
			;
		if (k < nregs) {
			reg = to[k].reg;
			mount_repo = to[k].repo;
		} else {
			if (stream && stream->session && !strcmp(stream->domain, domain)) {
				reg = stream->reg;
				to[nregs].borrowed = 1;
			} else if (oci_net_registry(ctx, net, domain, 1, &reg, err) < 0) {
				rc = -1;
				goto next;
			}
			to[nregs].reg = reg;
			to[nregs].domain = oci_strdup(domain);
			to[nregs].repo = oci_strdup(repo);
			nregs++;
			if (!to[nregs - 1].domain || !to[nregs - 1].repo) {
				rc = oci_err_nomem(err);
				goto next;
			}
		}
		memset(&po, 0, sizeof(po));
		po.layout = layout;
		po.manifest_digest = manifest_digest;
		po.repo = repo;
		po.tags = group;
		po.ntags = ng;
		po.chunk = net->chunk;
		po.jobs = net->jobs;
		po.sources = o->sources;
		po.nsources = o->nsources;
		po.mount_repo = mount_repo;
		po.cache = cache;
		if (stream && stream->session && !strcmp(stream->domain, domain) &&
		    !strcmp(stream->repo, repo)) {
			/* its blobs are going up since the build made them */
			rc = oci_push_session_finish(stream->session, &po, &ref, err);
			stream->session = NULL;
		} else {
			rc = oci_push_image(reg, &po, &ref, err);
		}
		if (rc == 0) {
			oci_buf t = OCI_BUF_INIT(OCI_MAX_TEXT);

			for (j = 0; j < ng && rc == 0; j++) {
				oci_buf_reset(&t);
				if (oci_buf_printf(&t, err, "%s/%s:%s", domain, repo, group[j]) < 0 ||
				    oci_strlist_push(refs, t.data, err) < 0)
					rc = -1;
			}
			oci_buf_release(&t);
			if (rc == 0)
				rc = oci_strlist_push(refs, ref, err);
		}
		if (rc == 0 && sign)
			rc = oci_attach_signatures(ctx, reg, repo, layout, manifest_digest, sign,
						   cache, refs, err);
		if (rc == 0 && o->attach_sbom)
			rc = oci_referrer_attach_sboms(ctx, reg, repo, layout, manifest_digest, cache,
						       sign, refs, err);
next:
		if (group)
			for (j = 0; j < ng; j++)
				oci_free((char *)group[j]);
		oci_free(group);
		oci_free(ref);
		oci_free(domain);
		oci_free(repo);
		oci_free(tag);
	}
	for (k = 0; k < nregs; k++) {
		if (!to[k].borrowed)
			oci_reg_release(to[k].reg);
		oci_free(to[k].domain);
		oci_free(to[k].repo);
	}
	oci_free(to);
	oci_free(done);
	return rc;
}

int oci_digest_refs(const oci_strlist *refs, char **out, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(1 << 20);
	size_t i;

	*out = NULL;
	for (i = 0; i < refs->n; i++) {
		if (!strchr(refs->v[i], '@'))
			continue;
		if (oci_buf_printf(&b, err, "%s%s", b.len ? "\n" : "", refs->v[i]) < 0) {
			oci_buf_release(&b);
			return -1;
		}
	}
	*out = oci_buf_detach(&b, NULL);
	return *out ? 0 : oci_err_nomem(err);
}

void ocibuild_build_result_release(ocibuild_build_result *result)
{
	if (!result)
		return;
	oci_free(result->pushed_ref);
	memset(result, 0, sizeof(*result));
}

int oci_write_refs(const char *image_refs, const char *digest_file, const oci_strlist *refs,
		   const char *digest, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(IMAGE_REFS_MAX);
	size_t i;
	int rc = 0;

	if (image_refs) {
		for (i = 0; i < refs->n; i++)
			if (oci_buf_printf(&b, err, "%s\n", refs->v[i]) < 0)
				rc = -1;
		if (rc == 0)
			rc = oci_write_file_atomic(image_refs, b.data, b.len, 0, err);
	}
	if (rc == 0 && digest_file) {
		oci_buf_reset(&b);
		if (oci_buf_printf(&b, err, "%s\n", digest) < 0)
			rc = -1;
		else
			rc = oci_write_file_atomic(digest_file, b.data, b.len, 0, err);
	}
	oci_buf_release(&b);
	return rc;
}

/* ---- push ---- */

/* Unpack an image archive into dir, refusing anything but the layout's own
 * files (no links, no paths outside). */
static int unpack_archive(const char *path, const char *dir, ocibuild_error *err)
{
	struct archive *a = oci_tar_read_open(path, "image archive", err);
	struct archive_entry *e;
	int rc = -1, r;

	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = oci_tar_read_name(e);
		oci_buf out = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
		int fd;

		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (strcmp(name, "index.json") && strcmp(name, "oci-layout") &&
		    strcmp(name, "manifest.json") &&
		    (strncmp(name, "blobs/sha256/", 13) || strchr(name + 13, '/') ||
		     strstr(name, "..")))
			continue;
		if (oci_buf_printf(&out, err, "%s/%s", dir, name) < 0)
			goto out;
		if (!strncmp(name, "blobs/", 6) && oci_blobs_prepare(dir, err) < 0) {
			oci_buf_release(&out);
			goto out;
		}
		fd = open(out.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0 || archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
			oci_err(err, OCIBUILD_ERR_IO, errno, "cannot unpack '%s' from '%s': %s", name,
				path, fd < 0 ? strerror(errno) : archive_error_string(a));
			if (fd >= 0)
				close(fd);
			oci_buf_release(&out);
			goto out;
		}
		close(fd);
		oci_buf_release(&out);
	}
	if (r != ARCHIVE_EOF) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "'%s' is not a readable image archive: %s", path,
			archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

int ocibuild_push(ocibuild_ctx *ctx, const ocibuild_push_opts *o, ocibuild_build_result *res,
		  ocibuild_error *err)
{
	const ocibuild_registry_opts *ro = &o->registry;
	oci_net net;
	oci_strlist refs = { 0 }, tags = { 0 };
	oci_push_tags_opts pto;
	oci_index x;
	struct stat st;
	oci_sign_key *key = NULL;
	char *tmp = NULL, *cache = NULL;
	const char *layout = o->source;
	const char *digest = NULL;
	size_t i;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	if (oci_err_version(o->version, OCIBUILD_PUSH_OPTS_VERSION, "ocibuild_push_opts", err) < 0 ||
	    oci_net_init(&net, ro, err) < 0)
		return -1;
	if (!o->source || !o->push)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "usage: ocibuild push IMAGE.tar|LAYOUT_DIR --push REGISTRY[/NAMESPACE]");
	if (stat(o->source, &st) < 0)
		return oci_err(err, OCIBUILD_ERR_INPUT, errno, "'%s' does not exist: pass an image archive or layout",
			       o->source);
	if (ro->sign_key && oci_sign_key_load(ro->sign_key, NULL, &key, err) < 0)
		return -1;
	/* the signatures' and the SBOM artifact's small blobs go through it */
	cache = oci_cache_dir(NULL);
	if (!cache) {
		oci_sign_key_release(key);
		return oci_err_nomem(err);
	}
	if (!S_ISDIR(st.st_mode)) {
		oci_buf t = OCI_BUF_INIT(OCI_MAX_TEXT);
		const char *td = getenv("TMPDIR");

		if (oci_buf_printf(&t, err, "%s/ocibuild-push-XXXXXX", td && *td ? td : "/tmp") < 0)
			goto out;
		if (!mkdtemp(t.data)) {
			oci_err_errno(err, errno, "cannot make a temporary directory %s: %s", t.data,
				      strerror(errno));
			oci_buf_release(&t);
			goto out;
		}
		tmp = oci_buf_detach(&t, NULL);
		if (unpack_archive(o->source, tmp, err) < 0)
			goto out;
		layout = tmp;
	}
	if (oci_layout_read_index(layout, &x, err) < 0)
		goto out;
	if (x.n == 0) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"'%s' holds no OCI image index: pass an archive or layout written by ocibuild, skopeo or docker 25+",
			o->source);
		goto out;
	}
	digest = x.manifests[0].digest;
	for (i = 1; i < x.n; i++) {
		if (strcmp(x.manifests[i].digest, digest)) {
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"'%s' holds several images: push one layout or archive per image",
				o->source);
			goto out;
		}
	}
	if (o->tags.count) {
		for (i = 0; i < o->tags.count; i++)
			if (ocibuild_tag_check(o->tags.items[i], err) < 0 ||
			    oci_strlist_push(&tags, o->tags.items[i], err) < 0) {
				oci_err_as_option(err);
				goto out;
			}
	} else {
		for (i = 0; i < x.n; i++) {
			const char *n = oci_map_get(&x.manifests[i].annotations, OCI_ANN_REF_NAME);

			if (n && oci_strlist_push(&tags, n, err) < 0)
				goto out;
		}
		if (!tags.n) {
			oci_err(err, OCIBUILD_ERR_OPTION, 0, "'%s' has no tags: pass -t NAME:TAG",
				o->source);
			goto out;
		}
	}
	memset(&pto, 0, sizeof(pto));
	pto.net = &net;
	pto.layout = layout;
	pto.manifest_digest = digest;
	pto.prefix = o->push;
	pto.tags = (const char *const *)tags.v;
	pto.ntags = tags.n;
	pto.cache = cache;
	pto.sign = key;
	pto.attach_sbom = !o->no_attach_sbom;
	if (oci_push_tags(ctx, &pto, &refs, err) < 0)
		goto out;
	if (oci_write_refs(ro->image_refs, ro->digest_file, &refs, digest, err) < 0 ||
	    oci_digest_refs(&refs, &res->pushed_ref, err) < 0)
		goto out;
	memcpy(res->manifest_digest, digest, OCI_DIGEST_LEN + 1);
	rc = 0;
out:
	oci_index_release(&x);
	oci_strlist_release(&refs);
	oci_strlist_release(&tags);
	if (tmp)
		oci_remove_tree(tmp);
	oci_free(tmp);
	oci_free(cache);
	oci_sign_key_release(key);
	return rc;
}

/* ---- pull ---- */

int ocibuild_pull(ocibuild_ctx *ctx, const ocibuild_pull_opts *o, ocibuild_build_result *res,
		  ocibuild_error *err)
{
	const ocibuild_registry_opts *ro = &o->registry;
	oci_net net;
	oci_registry *reg = NULL;
	oci_platform want;
	oci_pulled p;
	oci_ref ref;
	oci_descriptor d;
	oci_layout_txn txn;
	oci_strlist refs = { 0 };
	oci_buf pulled = OCI_BUF_INIT(OCI_MAX_TEXT);
	char *cache = oci_cache_dir(NULL);
	size_t i;
	int rc = -1, wrote_refs = 0;

	memset(res, 0, sizeof(*res));
	memset(&txn, 0, sizeof(txn));
	memset(&d, 0, sizeof(d));
	memset(&p, 0, sizeof(p));
	memset(&want, 0, sizeof(want));
	memset(&ref, 0, sizeof(ref));
	if (!cache)
		return oci_err_nomem(err);
	if (oci_err_version(o->version, OCIBUILD_PULL_OPTS_VERSION, "ocibuild_pull_opts", err) < 0 ||
	    oci_net_init(&net, ro, err) < 0)
		goto out;
	if (ro->sign_key) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0,
			"a pull pushes nothing to sign: leave the sign key out, or sign with a push");
		goto out;
	}
	if (!o->ref || !o->layout) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0, "usage: ocibuild pull REFERENCE --layout DIR");
		goto out;
	}
	if (oci_ref_parse(o->ref, &ref, err) < 0) {
		oci_err_as_option(err);
		goto out;
	}
	if (o->platform ? oci_platform_parse(o->platform, &want, err) : oci_platform_host(&want, err))
		goto out;
	if (oci_net_registry(ctx, &net, ref.domain, 0, &reg, err) < 0 ||
	    oci_pull_resolve(reg, &ref, &want, cache, &p, err) < 0 ||
	    oci_pull_layers(reg, ref.path, &p.manifest, cache, net.jobs, err) < 0)
		goto out;
	memcpy(res->manifest_digest, p.digest, sizeof(p.digest));
	if (oci_buf_printf(&pulled, err, "%s/%s@%s", ref.domain, ref.path, p.digest) < 0)
		goto out;
	if (!(res->pushed_ref = oci_buf_detach(&pulled, NULL))) {
		oci_err_nomem(err);
		goto out;
	}
	/* the files naming the image first: writing them is the last thing
	 * that can fail before the layout's index.json names it */
	if (oci_strlist_push(&refs, res->pushed_ref, err) < 0)
		goto out;
	wrote_refs = 1;
	if (oci_write_refs(ro->image_refs, ro->digest_file, &refs, p.digest, err) < 0)
		goto out;
	/* on failure: remove a layout we made, or the blobs we added */
	if (oci_layout_txn_begin(&txn, o->layout, ctx->lock_timeout, ctx->cancel,
				 ctx->cancel_userdata, err) < 0)
		goto out;
	for (i = 0; i <= p.manifest.nlayers + 1; i++) {
		const char *dg = i < p.manifest.nlayers ? p.manifest.layers[i].digest
			       : i == p.manifest.nlayers ? p.manifest.config.digest : p.digest;
		int64_t sz = i < p.manifest.nlayers ? p.manifest.layers[i].size
			   : i == p.manifest.nlayers ? p.manifest.config.size : -1;

		if (oci_layout_txn_add(&txn, cache, dg, sz, err) < 0)
			goto out;
	}
	{
		char *mp = oci_blobs_path(o->layout, p.digest);
		struct stat st;

		d.size = mp && stat(mp, &st) == 0 ? (int64_t)st.st_size : 0;
		oci_free(mp);
	}
	d.media_type = oci_strdup(p.media_type ? p.media_type : OCI_MT_MANIFEST);
	memcpy(d.digest, p.digest, sizeof(d.digest));
	if (!d.media_type) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_layout_txn_commit(&txn, &d, &o->ref, 1, err) < 0)
		goto out;
	rc = 0;
out:
	oci_layout_txn_abort(&txn); /* nothing to undo after its commit */
	if (rc < 0 && wrote_refs) {
		if (ro->image_refs)
			unlink(ro->image_refs);
		if (ro->digest_file)
			unlink(ro->digest_file);
	}
	if (rc < 0)
		ocibuild_build_result_release(res);
	oci_buf_release(&pulled);
	oci_strlist_release(&refs);
	oci_descriptor_release(&d);
	oci_pulled_release(&p);
	oci_platform_release(&want);
	oci_ref_release(&ref);
	oci_reg_release(reg);
	oci_free(cache);
	return rc;
}

/* ---- login ---- */

int ocibuild_login(ocibuild_ctx *ctx, const char *registry, const char *user,
		   const char *password, const ocibuild_registry_opts *opts,
		   ocibuild_error *err)
{
	oci_net net;
	oci_registry *reg = NULL;
	oci_ref ref;
	oci_buf probe = OCI_BUF_INIT(OCI_MAX_TEXT);
	int rc = -1;

	memset(&ref, 0, sizeof(ref));
	if (oci_net_init(&net, opts, err) < 0)
		return -1;
	if (!registry || !user || !*user || !password)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "usage: ocibuild login REGISTRY -u USER --password-stdin");
	/* accept "ghcr.io", "localhost:5000", "https://index.docker.io/v1/" */
	if (!strncmp(registry, "https://", 8))
		registry += 8;
	else if (!strncmp(registry, "http://", 7))
		registry += 7;
	if (oci_buf_printf(&probe, err, "%.*s/x", (int)strcspn(registry, "/"), registry) < 0 ||
	    oci_ref_parse(probe.data, &ref, err) < 0) {
		oci_err_as_option(err);
		goto out;
	}
	if (oci_net_registry(ctx, &net, ref.domain, 1, &reg, err) < 0)
		goto out;
	if (oci_reg_check_login(reg, user, password, err) < 0)
		goto out;
	rc = oci_auth_login(ctx, ref.domain, user, password, NULL, err);
out:
	oci_reg_release(reg);
	oci_ref_release(&ref);
	oci_buf_release(&probe);
	return rc;
}
