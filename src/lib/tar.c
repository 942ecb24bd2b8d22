#include <stdio.h>
#include <string.h>
#include <archive.h>
#include <archive_entry.h>

#include "tar.h"
#include "err.h"
#include "dl_archive.h"
#include "banned.h"

#define NAME_LEN 100
#define PREFIX_LEN 155
#define MAX_OCTAL11 077777777777ULL

static const unsigned char zeros[2 * OCI_TAR_BLOCK];

size_t oci_tar_padding(uint64_t size)
{
	return (size_t)((OCI_TAR_BLOCK - size % OCI_TAR_BLOCK) % OCI_TAR_BLOCK);
}

int oci_tar_zeros(oci_sink *s, size_t n, ocibuild_error *err)
{
	return n ? oci_sink_write(s, zeros, n, err) : 0;
}

int oci_tar_end(oci_sink *s, ocibuild_error *err)
{
	return oci_tar_zeros(s, sizeof(zeros), err);
}

/* width-1 octal digits, zero padded, then NUL; v must fit (callers clamp).
 * By hand: a header has eight such fields and snprintf showed in profiles
 * of releases with tens of thousands of files. */
static void octal(char *field, size_t width, uint64_t v)
{
	size_t i = width - 1;

	field[i] = '\0';
	while (i > 0) {
		field[--i] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

/* One "len key=value\n" record; len counts the whole record. */
static int pax_record(oci_buf *b, const char *key, const char *val, ocibuild_error *err)
{
	size_t base = 1 + strlen(key) + 1 + strlen(val) + 1;
	size_t len = base, digits;
	char tmp[24];

	for (;;) {
		digits = (size_t)snprintf(tmp, sizeof(tmp), "%zu", len);
		if (base + digits == len)
			break;
		len = base + digits;
	}
	return oci_buf_printf(b, err, "%zu %s=%s\n", len, key, val);
}

/* Split path into ustar prefix and name; returns 0 when it fits. */
static int split_name(const char *path, size_t *prefix_len)
{
	size_t len = strlen(path), i;

	if (len <= NAME_LEN) {
		*prefix_len = 0;
		return 0;
	}
	for (i = 0; i < len && i <= PREFIX_LEN; i++) {
		if (path[i] != '/' || i == 0)
			continue;
		if (len - i - 1 <= NAME_LEN && len - i - 1 >= 1) {
			*prefix_len = i;
			return 0;
		}
	}
	return -1;
}

static void fill_header(unsigned char *h, const char *name, size_t name_len,
			const char *prefix, size_t prefix_len, char type,
			unsigned mode, uint64_t size, int64_t mtime, const char *link)
{
	unsigned sum = 0;
	size_t i;

	memset(h, 0, OCI_TAR_BLOCK);
	memcpy(h, name, name_len > NAME_LEN ? NAME_LEN : name_len);
	octal((char *)h + 100, 8, mode & 07777);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, size > MAX_OCTAL11 ? 0 : size);
	octal((char *)h + 136, 12,
	      mtime < 0 ? 0 : (uint64_t)mtime > MAX_OCTAL11 ? MAX_OCTAL11 : (uint64_t)mtime);
	h[156] = (unsigned char)type;
	if (link) {
		size_t l = strlen(link);

		memcpy(h + 157, link, l > NAME_LEN ? NAME_LEN : l);
	}
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	octal((char *)h + 329, 8, 0);
	octal((char *)h + 337, 8, 0);
	if (prefix_len)
		memcpy(h + 345, prefix, prefix_len);
	memset(h + 148, ' ', 8);
	for (i = 0; i < OCI_TAR_BLOCK; i++)
		sum += h[i];
	octal((char *)h + 148, 7, sum);
	h[155] = ' ';
}

int oci_tar_header(const oci_tar_entry *e, oci_buf *out, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_TAR_MAX_HEADER), pax = OCI_BUF_INIT(OCI_TAR_MAX_HEADER);
	unsigned char h[OCI_TAR_BLOCK];
	size_t prefix_len = 0;
	const char *name;
	uint64_t size = e->type == OCI_TAR_FILE ? e->size : 0;
	char type = e->type == OCI_TAR_DIR ? '5' : e->type == OCI_TAR_SYMLINK ? '2' : '0';
	int rc = -1;

	if (!e->path || !*e->path || e->path[0] == '/') {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "tar entry with an empty or absolute path");
		goto out;
	}
	if (oci_buf_puts(&path, e->path, err) < 0)
		goto out;
	if (e->type == OCI_TAR_DIR && path.data[path.len - 1] != '/' &&
	    oci_buf_puts(&path, "/", err) < 0)
		goto out;
	if (split_name(path.data, &prefix_len) < 0 &&
	    pax_record(&pax, "path", path.data, err) < 0)
		goto out;
	if (e->type == OCI_TAR_SYMLINK && !e->link) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "symlink '%s' without a target", e->path);
		goto out;
	}
	if (e->type == OCI_TAR_SYMLINK && strlen(e->link) > NAME_LEN &&
	    pax_record(&pax, "linkpath", e->link, err) < 0)
		goto out;
	if (size > MAX_OCTAL11) {
		char num[24];

		snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
		if (pax_record(&pax, "size", num, err) < 0)
			goto out;
	}
	if (e->mtime < 0 || (uint64_t)e->mtime > MAX_OCTAL11) {
		char num[24];

		snprintf(num, sizeof(num), "%lld", (long long)e->mtime);
		if (pax_record(&pax, "mtime", num, err) < 0)
			goto out;
	}
	if (pax.len) {
		static const char pax_name[] = "././@PaxHeader";

		fill_header(h, pax_name, sizeof(pax_name) - 1, NULL, 0, 'x', 0644,
			    pax.len, e->mtime, NULL);
		if (oci_buf_append(out, h, sizeof(h), err) < 0 ||
		    oci_buf_append(out, pax.data, pax.len, err) < 0 ||
		    oci_buf_append(out, zeros, oci_tar_padding(pax.len), err) < 0)
			goto out;
	}
	name = path.data + (prefix_len ? prefix_len + 1 : 0);
	fill_header(h, name, strlen(name), path.data, prefix_len, type, e->mode, size,
		    e->mtime, e->type == OCI_TAR_SYMLINK ? e->link : NULL);
	rc = oci_buf_append(out, h, sizeof(h), err);
out:
	oci_buf_release(&path);
	oci_buf_release(&pax);
	return rc;
}

struct archive *oci_tar_read_open(const char *path, const char *what, ocibuild_error *err)
{
	struct archive *a;

	if (!oci_dl_archive(err))
		return NULL;
	a = archive_read_new();
	if (!a) {
		oci_err_nomem(err);
		return NULL;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "cannot read %s '%s': %s", what, path,
			archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

const char *oci_tar_read_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);

	while (name && name[0] == '.' && name[1] == '/')
		name += 2;
	return name;
}
