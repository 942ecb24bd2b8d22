#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "blobstore.h"
#include "err.h"
#include "layer.h"
#include "mem.h"
#include "walk.h"
#include "banned.h"

static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

int oci_layout_read_index(const char *dir, oci_index *x, ocibuild_error *err)
{
	char *p = oci_path_join(dir, "index.json");
	oci_buf b = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	struct stat st;
	int rc;

	memset(x, 0, sizeof(*x));
	if (!p)
		return oci_err_nomem(err);
	if (stat(p, &st) < 0 && errno == ENOENT) {
		oci_free(p);
		return 0;
	}
	rc = oci_read_file(p, OCI_MAX_MANIFEST, &b, err);
	if (rc == 0) {
		rc = oci_index_parse(b.data, b.len, x, err);
		if (rc < 0)
			oci_err_prefix(err, "'%s'", p);
	}
	oci_buf_release(&b);
	oci_free(p);
	return rc;
}

int oci_layout_write_index(const char *dir, const oci_index *x, int durable,
			   ocibuild_error *err)
{
	char *lf = oci_path_join(dir, "oci-layout"), *ix = oci_path_join(dir, "index.json");
	oci_buf b = OCI_BUF_INIT(OCI_MAX_MANIFEST);
	struct stat st;
	int rc = -1;

	if (!lf || !ix) {
		oci_err_nomem(err);
		goto out;
	}
	if (stat(lf, &st) < 0 &&
	    oci_write_file_atomic(lf, layout_file, sizeof(layout_file) - 1, durable, err) < 0)
		goto out;
	if (oci_index_serialize(x, &b, err) < 0)
		goto out;
	rc = oci_write_file_atomic(ix, b.data, b.len, durable, err);
out:
	oci_buf_release(&b);
	oci_free(lf);
	oci_free(ix);
	return rc;
}

int oci_layout_set_ref(oci_index *x, const oci_descriptor *desc,
		       const char *ref_name, ocibuild_error *err)
{
	oci_descriptor d;
	size_t i;
	int rc;

	for (i = 0; i < x->n; i++) {
		const char *n = oci_map_get(&x->manifests[i].annotations, OCI_ANN_REF_NAME);

		if (n && !strcmp(n, ref_name)) {
			oci_index_remove(x, i);
			break;
		}
	}
	if (oci_descriptor_copy(&d, desc, err) < 0)
		return -1;
	rc = oci_map_set(&d.annotations, OCI_ANN_REF_NAME, ref_name, err);
	if (rc == 0)
		rc = oci_index_add(x, &d, err);
	oci_descriptor_release(&d);
	return rc;
}

static int make_tmp_near(const char *path, char **tmp, int *fd, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(1 << 16);
	const char *slash = strrchr(path, '/');

	if (slash)
		oci_buf_append(&b, path, (size_t)(slash - path + 1), NULL);
	if (oci_buf_printf(&b, err, ".%s.tmp-XXXXXX", slash ? slash + 1 : path) < 0)
		return -1;
	*fd = mkostemp(b.data, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		oci_buf_release(&b);
		return oci_err_errno(err, e,
				     "cannot create '%s': %s; choose an output path in a directory you can write to",
				     path, strerror(e));
	}
	fchmod(*fd, 0644);
	*tmp = oci_buf_detach(&b, NULL);
	return 0;
}

int oci_archive_write(const char *src, const oci_archive_opts *o, ocibuild_error *err)
{
	oci_walk w = { 0 };
	const oci_walk_entry **v = NULL;
	oci_layer_opts lo;
	char *tmp = NULL;
	int fd = -1, rc = -1;
	size_t i;

	if (oci_walk_dir(src, &w, err) < 0)
		goto out;
	if (o->docker_manifest &&
	    oci_walk_add_data(&w, "manifest.json", 0644, o->docker_manifest,
			      strlen(o->docker_manifest), err) < 0)
		goto out;
	oci_walk_sort(&w);
	v = oci_calloc(w.n, sizeof(*v));
	if (!v) {
		oci_err_nomem(err);
		goto out;
	}
	for (i = 0; i < w.n; i++) {
		/* the layout's own files are readable by everyone in the archive */
		w.v[i].mode = w.v[i].type == OCI_TAR_DIR ? 0755 : 0644;
		v[i] = &w.v[i];
	}
	memset(&lo, 0, sizeof(lo));
	lo.root = src;
	lo.prefix = "";
	lo.mtime = o->mtime;
	lo.compression = o->gzip ? OCIBUILD_COMPRESS_GZIP : OCIBUILD_COMPRESS_NONE;
	lo.threads = o->threads;
	lo.cancel = o->cancel;
	lo.cancel_userdata = o->cancel_userdata;
	if (make_tmp_near(o->path, &tmp, &fd, err) < 0)
		goto out;
	if (oci_layer_to_fd(&lo, v, w.n, fd, tmp, NULL, err) < 0)
		goto out;
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		oci_err_errno(err, errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, o->path) < 0) {
		oci_err_errno(err, errno, "cannot create '%s': %s", o->path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	oci_free(tmp);
	oci_free(v);
	oci_walk_release(&w);
	return rc;
}
