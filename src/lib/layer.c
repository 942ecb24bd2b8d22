#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"
#include "blobstore.h"
#include "compress.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

#define READ_CHUNK (256 * 1024)

const char *oci_layer_media_type(ocibuild_compression kind)
{
	switch (kind) {
	case OCIBUILD_COMPRESS_GZIP:
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	case OCIBUILD_COMPRESS_ZSTD:
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	default:
		return "application/vnd.oci.image.layer.v1.tar";
	}
}

static int cancelled(const oci_layer_opts *o, ocibuild_error *err)
{
	if (o->cancel && o->cancel(o->cancel_userdata))
		return oci_err(err, OCIBUILD_ERR_CANCELLED, 0, "interrupted");
	return 0;
}

static int put_header(oci_sink *s, oci_buf *hb, const oci_tar_entry *te,
		      ocibuild_error *err)
{
	oci_buf_reset(hb);
	if (oci_tar_header(te, hb, err) < 0)
		return -1;
	return oci_sink_write(s, hb->data, hb->len, err);
}

/* The directory of the last file read, open: the entries come sorted, so
 * most files are opened by their name in it, a one-step lookup rather
 * than one through every component of root/rel. */
struct at_dir {
	const char *root;
	int root_fd; /* -1: not opened yet; -2: could not be */
	int fd;      /* of dir, below root; -1: none */
	oci_buf dir;
};

static void at_dir_release(struct at_dir *a)
{
	if (a->fd >= 0 && a->fd != a->root_fd)
		close(a->fd);
	if (a->root_fd >= 0)
		close(a->root_fd);
	oci_buf_release(&a->dir);
}

/* e (under root) opened through its directory, or -1 with errno: the
 * caller then opens it by its whole path, which says what is wrong. */
static int open_at_dir(struct at_dir *a, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	size_t dlen = slash ? (size_t)(slash - rel) : 0;

	if (a->root_fd == -1) {
		a->root_fd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (a->root_fd < 0)
			a->root_fd = -2;
	}
	if (a->root_fd < 0)
		return -1;
	if (a->fd < 0 || a->dir.len != dlen || memcmp(a->dir.data, rel, dlen) != 0) {
		if (a->fd >= 0 && a->fd != a->root_fd)
			close(a->fd);
		a->fd = -1;
		oci_buf_reset(&a->dir);
		if (oci_buf_append(&a->dir, rel, dlen, NULL) < 0)
			return -1;
		a->fd = dlen ? openat(a->root_fd, a->dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
			     : a->root_fd;
		if (a->fd < 0)
			return -1;
	}
	return openat(a->fd, slash ? slash + 1 : rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static char *whole_path(const oci_layer_opts *o, const oci_walk_entry *e)
{
	return e->src ? oci_strdup(e->src) : oci_path_join(o->root, e->rel);
}

static int put_file(const oci_layer_opts *o, struct at_dir *a, const oci_walk_entry *e,
		    oci_sink *s, unsigned char *buf, ocibuild_error *err)
{
	char *path;
	int fd = -1, rc = 0;
	uint64_t left = e->size;
	unsigned chunks = 0;

	if (e->data)
		return oci_sink_write(s, e->data, e->size, err);
	/* the whole path names the file in errors, and opens it when the
	 * way through its directory did not (and then says what is wrong) */
	if (!(path = whole_path(o, e)))
		return oci_err_nomem(err);
	if (!e->src)
		fd = open_at_dir(a, e->rel);
	if (fd < 0)
		fd = open(path, O_RDONLY | (e->src ? 0 : O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0) {
		rc = oci_err_errno(err, errno,
				   "cannot read '%s': %s; make it readable or remove it from the tree",
				   path, strerror(errno));
		goto out;
	}
	/* read-ahead matters for a file read in several chunks; for the many
	 * small ones the hint would be a system call for nothing */
	if (e->size > READ_CHUNK)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* a sink that offers it takes the bytes in the kernel; the loop
	 * below does the rest, if any (and finds a file that shrank) */
	if (oci_sink_copy(s, fd, &left, path, err) < 0) {
		close(fd);
		rc = -1;
		goto out;
	}
	while (left) {
		size_t want = left < READ_CHUNK ? (size_t)left : READ_CHUNK;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = oci_err_errno(err, errno, "cannot read '%s': %s", path,
					   strerror(errno));
			break;
		}
		if (n == 0) {
			rc = oci_err(err, OCIBUILD_ERR_IO, 0,
				     "'%s' shrank while it was being read: do not change the tree during a build",
				     path);
			break;
		}
		rc = oci_sink_write(s, buf, (size_t)n, err);
		if (rc < 0)
			break;
		left -= (uint64_t)n;
		if ((++chunks & 15) == 0 && (rc = cancelled(o, err)) < 0)
			break;
	}
	close(fd);
out:
	oci_free(path);
	return rc;
}

int oci_layer_tar(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		  size_t n, oci_sink *sink, ocibuild_error *err)
{
	oci_buf hb = OCI_BUF_INIT(OCI_TAR_MAX_HEADER), path = OCI_BUF_INIT(OCI_TAR_MAX_HEADER);
	struct at_dir at = { o->root, -1, -1, OCI_BUF_INIT(OCI_MAX_PATH_TEXT) };
	unsigned char *buf = oci_malloc(READ_CHUNK);
	size_t plen = strlen(o->prefix), i;
	int rc = -1;

	if (!buf)
		return oci_err_nomem(err);
	/* the prefix and each of its parents, outermost first */
	for (i = 1; i <= plen; i++) {
		if (i < plen && o->prefix[i] != '/')
			continue;
		oci_tar_entry te = { 0 };

		oci_buf_reset(&path);
		if (oci_buf_append(&path, o->prefix, i, err) < 0)
			goto out;
		te.path = path.data;
		te.type = OCI_TAR_DIR;
		te.mode = i == plen ? o->prefix_mode : 0755;
		te.mtime = o->mtime;
		if (put_header(sink, &hb, &te, err) < 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		const oci_walk_entry *e = entries[i];
		oci_tar_entry te = { 0 };

		if (cancelled(o, err) < 0)
			goto out;
		oci_sink_mark(sink);
		oci_buf_reset(&path);
		if (plen && oci_buf_printf(&path, err, "%s/", o->prefix) < 0)
			goto out;
		if (oci_buf_puts(&path, e->rel, err) < 0)
			goto out;
		te.path = path.data;
		te.type = e->type;
		te.mode = e->mode;
		te.size = e->size;
		te.link = e->link;
		te.mtime = o->mtime;
		if (put_header(sink, &hb, &te, err) < 0)
			goto out;
		if (e->type != OCI_TAR_FILE)
			continue;
		if (put_file(o, &at, e, sink, buf, err) < 0 ||
		    oci_tar_zeros(sink, oci_tar_padding(e->size), err) < 0)
			goto out;
	}
	rc = oci_tar_end(sink, err);
out:
	at_dir_release(&at);
	oci_buf_release(&hb);
	oci_buf_release(&path);
	oci_free(buf);
	return rc;
}

int oci_layer_to_fd(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		    size_t n, int fd, const char *path, oci_layer_result *r,
		    ocibuild_error *err)
{
	oci_file_sink file;
	oci_hash_sink zhash, thash;
	oci_zw *zw = NULL;
	/* uncompressed, the blob is the tar: one hash serves as both digests */
	int want_z = r && o->compression != OCIBUILD_COMPRESS_NONE;
	int rc = -1, have_file = 0, have_z = 0, have_t = 0;

	if (oci_file_sink_init(&file, fd, path, err) < 0)
		goto out;
	have_file = 1;
	if (o->write_behind)
		oci_file_sink_write_behind(&file);
	file.on_wrote = o->grew;
	file.on_wrote_userdata = o->grew_userdata;
	if (want_z) {
		if (oci_hash_sink_init(&zhash, &file.base, err) < 0)
			goto out;
		have_z = 1;
	}
	if (oci_zw_new(&zw, o->compression, o->threads, have_z ? &zhash.base : &file.base,
		       err) < 0)
		goto out;
	if (r) {
		if (oci_hash_sink_init(&thash, oci_zw_sink(zw), err) < 0)
			goto out;
		have_t = 1;
	}
	if (o->members && o->members->nold &&
	    oci_zw_reuse_from(zw, o->members->fd, o->members->old, o->members->nold, err) < 0)
		goto out;
	if (oci_layer_tar(o, entries, n, have_t ? &thash.base : oci_zw_sink(zw), err) < 0 ||
	    oci_zw_finish(zw, err) < 0 || oci_file_sink_flush(&file, err) < 0)
		goto out;
	if (o->members && o->compression == OCIBUILD_COMPRESS_GZIP)
		o->members->made = oci_zw_take_members(zw, &o->members->nmade, &o->members->reused);
	if (r) {
		oci_hash_sink_final(&thash, r->diff_id);
		r->tar_size = thash.count;
		if (have_z) {
			oci_hash_sink_final(&zhash, r->digest);
			r->size = (int64_t)zhash.count;
		} else {
			memcpy(r->digest, r->diff_id, sizeof(r->digest));
			r->size = (int64_t)thash.count;
		}
	}
	rc = 0;
out:
	oci_zw_release(zw);
	if (have_t)
		oci_hash_sink_release(&thash);
	if (have_z)
		oci_hash_sink_release(&zhash);
	if (have_file)
		oci_file_sink_release(&file);
	return rc;
}

int oci_layer_build(const oci_layer_opts *o, const oci_walk_entry *const *entries,
		    size_t n, const char *blob_dir, int durable,
		    oci_layer_result *r, ocibuild_error *err)
{
	oci_layer_opts lo = *o;
	oci_blob_tmp t;

	lo.write_behind = durable; /* the commit fsyncs it */
	if (oci_blobs_begin(blob_dir, &t, err) < 0)
		return -1;
	if (oci_layer_to_fd(&lo, entries, n, t.fd, t.path, r, err) < 0) {
		oci_blobs_abort(&t);
		return -1;
	}
	return oci_blobs_commit(blob_dir, &t, r->digest, durable, err);
}
