/* The outputs of a build. Everything is staged in a temporary layout
 * directory beside the target and only moved into place at the end, so a
 * failed build leaves nothing behind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "blobstore.h"
#include "ctx.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return oci_strdup(".");
	if (slash == path)
		return oci_strdup("/");
	return oci_strndup(path, (size_t)(slash - path));
}

static int make_stage(oci_output *o, ocibuild_error *err)
{
	const char *target = o->layout ? o->layout : o->archive;
	const char *tmpdir = getenv("TMPDIR");
	char *parent = target ? parent_dir(target) : oci_strdup(tmpdir && *tmpdir ? tmpdir : "/tmp");
	oci_buf t = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct stat st;
	int rc = -1;

	if (!parent)
		return oci_err_nomem(err);
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		oci_err(err, OCIBUILD_ERR_INPUT, ENOENT,
			"cannot write '%s': directory '%s' does not exist; create it first",
			target ? target : parent, parent);
		goto out;
	}
	if (oci_buf_printf(&t, err, "%s/.ocibuild-stage-XXXXXX", parent) < 0)
		goto out;
	if (!mkdtemp(t.data)) {
		int e = errno;

		oci_err_errno(err, e, "cannot write to directory '%s': %s%s", parent, strerror(e),
			      e == EACCES || e == EROFS ? "; choose an output location you can write to" : "");
		goto out;
	}
	chmod(t.data, 0755);
	o->stage = oci_buf_detach(&t, NULL);
	rc = o->stage ? oci_blobs_prepare(o->stage, err) : oci_err_nomem(err);
out:
	oci_buf_release(&t);
	oci_free(parent);
	return rc;
}

static int check_layout_target(oci_output *o, ocibuild_error *err)
{
	const char *dir = o->layout;
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct stat st;
	int rc = 0;

	if (!dir)
		return 0;
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return oci_err_errno(err, errno, "cannot use layout '%s': %s", dir, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "layout '%s' exists and is not a directory: choose another --layout",
			       dir);
	if (oci_buf_printf(&p, err, "%s/oci-layout", dir) < 0)
		return -1;
	if (stat(p.data, &st) == 0) {
		o->layout_exists = 1;
		goto out;
	}
	/* its lock but no oci-layout yet: another writer is making it, and we
	 * add to it under the lock like to any layout */
	oci_buf_reset(&p);
	if (oci_buf_printf(&p, err, "%s/%s", dir, OCI_LAYOUT_LOCK) < 0) {
		rc = -1;
	} else if (stat(p.data, &st) == 0) {
		o->layout_exists = 1;
	} else if (rmdir(dir) == 0) {
		/* an empty directory: treat it as new (we recreate it at the end) */
		o->layout_exists = 0;
	} else {
		rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
			     "'%s' exists and is not an OCI layout (no oci-layout file): choose an empty or new directory for --layout",
			     dir);
	}
out:
	oci_buf_release(&p);
	return rc;
}

int oci_output_stage(oci_output *o, ocibuild_error *err)
{
	if (check_layout_target(o, err) < 0)
		return -1;
	return make_stage(o, err);
}

int oci_output_direct(oci_output *o, ocibuild_error *err)
{
	return oci_archive_begin(o->archive, &o->direct_tmp, &o->direct_fd, err);
}

/* The temp file closed; removed unless it became the archive. */
static void direct_end(oci_output *o, int renamed)
{
	if (!o->direct_tmp)
		return;
	close(o->direct_fd);
	if (!renamed)
		unlink(o->direct_tmp);
	oci_free(o->direct_tmp);
	o->direct_tmp = NULL;
}

int oci_output_index(const oci_output *o, const oci_descriptor *top, const oci_strlist *tags,
		     ocibuild_error *err)
{
	oci_index x;
	size_t i;
	int rc = 0;

	memset(&x, 0, sizeof(x));
	for (i = 0; i < tags->n && rc == 0; i++)
		rc = oci_layout_set_ref(&x, top, tags->v[i], err);
	if (rc == 0)
		rc = oci_layout_write_index(o->stage, &x, o->layout != NULL, err);
	oci_index_release(&x);
	return rc;
}

int oci_output_archive(oci_output *o, ocibuild_ctx *ctx, const oci_output_image *v,
		       size_t n, const oci_strlist *tags, int64_t mtime, ocibuild_error *err)
{
	oci_buf dm = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	oci_archive_opts ao;
	oci_platform host;
	const oci_output_image *pick = &v[0];
	size_t i;
	int rc;

	/* Docker's manifest.json names one image: the build host's platform
	 * when it is among them, else the first */
	if (n > 1 && oci_platform_host(&host, NULL) == 0) {
		for (i = 0; i < n; i++) {
			if (oci_platform_match(&host, v[i].platform)) {
				pick = &v[i];
				break;
			}
		}
		oci_platform_release(&host);
	}
	if (oci_docker_manifest_json(pick->manifest, tags, &dm, err) < 0)
		return -1;
	memset(&ao, 0, sizeof(ao));
	ao.path = o->archive;
	ao.gzip = o->gzip;
	ao.threads = oci_ctx_threads(ctx);
	ao.mtime = mtime;
	ao.docker_manifest = dm.data;
	ao.front = o->front;
	if (o->front_written && o->direct_tmp) {
		ao.front_tmp = o->direct_tmp;
		ao.front_fd = o->direct_fd;
		ao.front_size = o->front_size;
	} else {
		/* the front blob is in the stage: the archive is written whole */
		direct_end(o, 0);
	}
	ao.cancel = ctx->cancel;
	ao.cancel_userdata = ctx->cancel_userdata;
	rc = oci_archive_write(o->stage, &ao, err);
	if (ao.front_tmp)
		direct_end(o, rc == 0);
	oci_buf_release(&dm);
	return rc;
}

int oci_output_layout(oci_output *o, ocibuild_ctx *ctx, const oci_output_image *v, size_t n,
		      const oci_descriptor *top, const oci_strlist *tags, ocibuild_error *err)
{
	const char *dir = o->layout;
	oci_layout_txn *t = &o->txn;
	size_t i, k;

	if (!o->layout_exists) {
		if (rename(o->stage, dir) == 0) {
			oci_free(o->stage);
			o->stage = NULL;
			return 0;
		}
		/* another writer made it since we looked: add to it instead */
		if (errno != EEXIST && errno != ENOTEMPTY)
			return oci_err_errno(err, errno, "cannot create layout '%s': %s", dir,
					     strerror(errno));
	}
	if (oci_layout_txn_begin(t, dir, ctx->lock_timeout, ctx->cancel, ctx->cancel_userdata,
				 err) < 0)
		return -1;
	for (k = 0; k < n; k++) {
		const oci_manifest *m = v[k].manifest;

		for (i = 0; i < m->nlayers; i++)
			if (oci_layout_txn_add(t, o->stage, m->layers[i].digest, m->layers[i].size,
					       err) < 0)
				return -1;
		if (oci_layout_txn_add(t, o->stage, m->config.digest, m->config.size, err) < 0 ||
		    oci_layout_txn_add(t, o->stage, v[k].desc->digest, v[k].desc->size, err) < 0)
			return -1;
	}
	/* the index last: a reader never finds it before what it names */
	if (n > 1 && oci_layout_txn_add(t, o->stage, top->digest, top->size, err) < 0)
		return -1;
	return oci_layout_txn_commit(t, top, (const char *const *)tags->v, tags->n, err);
}

void oci_output_release(oci_output *o)
{
	direct_end(o, 0);
	oci_layout_txn_abort(&o->txn); /* nothing to undo after its commit */
	if (o->stage)
		oci_remove_tree(o->stage);
	oci_free(o->stage);
	o->stage = NULL;
}
