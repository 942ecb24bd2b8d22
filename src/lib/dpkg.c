#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dpkg.h"
#include "blobstore.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "par.h"
#include "banned.h"

/* a status file far larger than any real one is not read */
#define STATUS_MAX (256u << 20)
#define RECORD_MAX (1u << 20)

/* ---- status records ---- */

/* The end of the line that starts at p (its '\n' or end). */
static const char *eol(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

/* If the line [p, e) is the field `name`, its value (leading blanks
 * skipped) in [*v, e). */
static int is_field(const char *p, const char *e, const char *name, const char **v)
{
	size_t n = strlen(name);

	if ((size_t)(e - p) <= n || strncasecmp(p, name, n) || p[n] != ':')
		return 0;
	p += n + 1;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	*v = p;
	return 1;
}

static int value_is(const char *v, const char *e, const char *want)
{
	while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return (size_t)(e - v) == strlen(want) && !memcmp(v, want, (size_t)(e - v));
}

/* "want ok installed", "hold ok installed": the last word is the state */
static int installed(const char *v, const char *e)
{
	const char *w = e;

	while (w > v && (w[-1] == ' ' || w[-1] == '\t' || w[-1] == '\r'))
		w--;
	e = w;
	while (w > v && w[-1] != ' ' && w[-1] != '\t')
		w--;
	return value_is(w, e, "installed");
}

/* dpkg's own bookkeeping: meaningless (or wrong) in an image */
static int dropped(const char *p, const char *e)
{
	static const char *const names[] = { "Conffiles", "Config-Version", "Triggers-Awaited",
					     "Triggers-Pending", NULL };
	const char *v;
	size_t i;

	for (i = 0; names[i]; i++)
		if (is_field(p, e, names[i], &v))
			return 1;
	return 0;
}

static int emit(const char *s, const char *e, oci_buf *out, ocibuild_error *err)
{
	const char *p, *le, *v;
	int skip = 0;

	for (p = s; p < e; p = le + 1) {
		le = eol(p, e);
		if (*p == ' ' || *p == '\t') { /* continuation of the field before */
			if (skip)
				continue;
		} else if (dropped(p, le)) {
			skip = 1;
			continue;
		} else if (is_field(p, le, "Status", &v)) {
			skip = 1;
			if (oci_buf_puts(out, "Status: install ok installed\n", err) < 0)
				return -1;
			continue;
		} else {
			skip = 0;
		}
		if (oci_buf_append(out, p, (size_t)(le - p), err) < 0 ||
		    oci_buf_append(out, "\n", 1, err) < 0)
			return -1;
		if (le == e)
			break;
	}
	return 0;
}

int oci_dpkg_record(const char *status, size_t len, const char *name, const char *arch,
		    oci_buf *out, ocibuild_error *err)
{
	const char *p = status, *end = status + len;

	while (p < end) {
		const char *s, *le, *v;
		int pkg = 0, ar = !arch, inst = 0;

		while (p < end && *p == '\n') /* blank lines between stanzas */
			p++;
		s = p;
		for (; p < end; p = le + 1) {
			le = eol(p, end);
			if (le == p) /* the blank line that ends the stanza */
				break;
			if (is_field(p, le, "Package", &v))
				pkg = value_is(v, le, name);
			else if (arch && is_field(p, le, "Architecture", &v))
				ar = value_is(v, le, arch);
			else if (is_field(p, le, "Status", &v))
				inst = installed(v, le);
			if (le == end) {
				p = end;
				break;
			}
		}
		if (pkg && ar && inst)
			return emit(s, p < end ? p : end, out, err) < 0 ? -1 : 1;
	}
	return 0;
}

/* ---- owners ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_pkg(const void *a, const void *b)
{
	const oci_dpkg_pkg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return strcmp(x->arch ? x->arch : "", y->arch ? y->arch : "");
}

/* A directory that /usr merge made a symlink into /usr. */
static int merged_dir(const char *p)
{
	return !strncmp(p, "/bin/", 5) || !strncmp(p, "/sbin/", 6) || !strncmp(p, "/lib", 4);
}

/* p and its other /usr-merge spelling */
static int push_spellings(oci_strlist *c, const char *p, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(PATH_MAX + 8);
	int rc = -1;

	if (oci_strlist_push(c, p, err) < 0)
		return -1;
	if (!strncmp(p, "/usr/", 5) && merged_dir(p + 4))
		rc = oci_strlist_push(c, p + 4, err);
	else if (merged_dir(p))
		rc = oci_buf_printf(&b, err, "/usr%s", p) < 0 ? -1 : oci_strlist_push(c, b.data, err);
	else
		rc = 0;
	oci_buf_release(&b);
	return rc;
}

static int add_pkg(oci_dpkg *d, const char *list, ocibuild_error *err)
{
	size_t n = strlen(list) - strlen(".list");
	const char *colon = memchr(list, ':', n);
	oci_dpkg_pkg *pk;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		oci_dpkg_pkg *v = oci_reallocarray(d->v, cap, sizeof(*v));

		if (!v)
			return oci_err_nomem(err);
		d->v = v;
		d->cap = cap;
	}
	pk = &d->v[d->n];
	memset(pk, 0, sizeof(*pk));
	pk->name = oci_strndup(list, colon ? (size_t)(colon - list) : n);
	if (colon)
		pk->arch = oci_strndup(colon + 1, n - (size_t)(colon + 1 - list));
	d->n++;
	if (!pk->name || (colon && !pk->arch))
		return oci_err_nomem(err);
	return 0;
}

/* A list file is read whole; one bigger than this (the biggest on a
 * Debian system are a few MiB) is not a file list. */
#define LIST_MAX (64u << 20)

/* Most lines of the lists (about 150,000 on a desktop system) can not be a
 * candidate: a line is looked up only when its length and last two bytes
 * hash to a bit the candidates set. */
#define SIEVE_BITS 4096u

static unsigned sieve_key(const char *p, size_t n)
{
	return (unsigned)((n * 131u + (unsigned char)p[n - 1] * 7u + (unsigned char)p[n - 2]) %
			  SIEVE_BITS);
}

static void sieve_add(unsigned char *sieve, const char *p)
{
	size_t n = strlen(p);

	if (n >= 2) {
		unsigned k = sieve_key(p, n);

		sieve[k / 8] |= (unsigned char)(1u << (k % 8));
	}
}

static int sieve_has(const unsigned char *sieve, const char *p, size_t n)
{
	unsigned k;

	if (n < 2)
		return 0;
	k = sieve_key(p, n);
	return sieve[k / 8] >> (k % 8) & 1;
}

/* 1 if a line of the list file is one of the sorted candidate paths, 0 if
 * none is, or -1 with *e set to the errno. */
static int list_owns(const char *path, char *const *cand, size_t nc,
		     const unsigned char *sieve, int *e)
{
	oci_buf b = OCI_BUF_INIT(LIST_MAX);
	ocibuild_error err = { 0 };
	char line[PATH_MAX + 1];
	const char *p, *end;
	int found = 0;

	if (oci_read_file(path, LIST_MAX, &b, &err) < 0) {
		*e = err.kind == OCIBUILD_ERR_NOMEM ? ENOMEM : err.code ? err.code : EFBIG;
		ocibuild_error_clear(&err);
		oci_buf_release(&b);
		return -1;
	}
	for (p = b.data, end = b.data + b.len; !found && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		const char *key = line;

		/* a line longer than any path is no candidate */
		if (n <= PATH_MAX && sieve_has(sieve, p, n)) {
			memcpy(line, p, n);
			line[n] = '\0';
			found = bsearch(&key, cand, nc, sizeof(char *), cmp_str) != NULL;
		}
		p += n + 1;
	}
	oci_buf_release(&b);
	return found;
}

/* The lists read side by side (about 950 files on a Debian system), each
 * answer in a slot of its own: own[i] as list_owns, e[i] its errno. */
struct owns {
	const char *admindir;
	char *const *lists, *const *cand;
	size_t nc;
	unsigned char sieve[SIEVE_BITS / 8];
	signed char *own;
	int *e;
};

static int owns_one(void *ud, size_t i)
{
	struct owns *o = ud;
	char path[PATH_MAX + 64];
	int n = snprintf(path, sizeof(path), "%s/info/%s", o->admindir, o->lists[i]);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		o->e[i] = ENAMETOOLONG;
		o->own[i] = -1;
	} else {
		o->own[i] = (signed char)list_owns(path, o->cand, o->nc, o->sieve, &o->e[i]);
	}
	return o->own[i] < 0 ? -1 : 0;
}

int oci_dpkg_owners(const char *admindir, const oci_strlist *files, int threads, oci_dpkg *out,
		    ocibuild_error *err)
{
	oci_strlist cand = { 0 }, lists = { 0 };
	oci_buf path = OCI_BUF_INIT(PATH_MAX + 64), status = OCI_BUF_INIT(STATUS_MAX);
	char real[PATH_MAX];
	DIR *dir = NULL;
	struct dirent *de;
	size_t i, j;
	int rc = -1;

	if (oci_buf_printf(&path, err, "%s/status", admindir) < 0)
		goto out;
	if (access(path.data, F_OK) < 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < files->n; i++) {
		if (push_spellings(&cand, files->v[i], err) < 0)
			goto out;
		if (realpath(files->v[i], real) && strcmp(real, files->v[i]) &&
		    push_spellings(&cand, real, err) < 0)
			goto out;
	}
	if (cand.n)
		qsort(cand.v, cand.n, sizeof(char *), cmp_str);

	oci_buf_reset(&path);
	if (oci_buf_printf(&path, err, "%s/info", admindir) < 0)
		goto out;
	dir = opendir(path.data);
	if (!dir) {
		oci_err_errno(err, errno, "cannot read the dpkg database '%s': %s", path.data,
			      strerror(errno));
		goto out;
	}
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);

		if (n > 5 && !strcmp(de->d_name + n - 5, ".list") &&
		    oci_strlist_push(&lists, de->d_name, err) < 0)
			goto out;
	}
	if (lists.n)
		qsort(lists.v, lists.n, sizeof(char *), cmp_str);
	if (lists.n && cand.n) {
		struct owns o = { admindir, lists.v, cand.v, cand.n, { 0 }, oci_calloc(lists.n, 1),
				  oci_calloc(lists.n, sizeof(int)) };

		for (i = 0; i < cand.n; i++)
			sieve_add(o.sieve, cand.v[i]);
		if (!o.own || !o.e) {
			oci_free(o.own);
			oci_free(o.e);
			oci_err_nomem(err);
			goto out;
		}
		oci_par_for(lists.n, threads, owns_one, &o);
		/* in list order: the first failure is the one reported */
		for (i = 0; i < lists.n; i++) {
			if (o.own[i] < 0) {
				if (o.e[i] == ENOMEM)
					oci_err_nomem(err);
				else
					oci_err_errno(err, o.e[i],
						      "cannot read the dpkg file list '%s/info/%s': %s",
						      admindir, lists.v[i], strerror(o.e[i]));
				break;
			}
			if (o.own[i] && add_pkg(out, lists.v[i], err) < 0)
				break;
		}
		oci_free(o.own);
		oci_free(o.e);
		if (i < lists.n)
			goto out;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_pkg);

	oci_buf_reset(&path);
	if (oci_buf_printf(&path, err, "%s/status", admindir) < 0 ||
	    oci_read_file(path.data, STATUS_MAX, &status, err) < 0)
		goto out;
	for (i = j = 0; i < out->n; i++) {
		oci_dpkg_pkg *pk = &out->v[i];
		oci_buf rec = OCI_BUF_INIT(RECORD_MAX);
		int r = 0;

		/* one record per name: status.d/NAME */
		if (!(j && !strcmp(out->v[j - 1].name, pk->name)))
			r = oci_dpkg_record(status.data, status.len, pk->name,
					    pk->arch, &rec, err);
		if (r > 0) {
			pk->record = oci_buf_detach(&rec, &pk->len);
			if (!pk->record)
				r = oci_err_nomem(err);
		}
		oci_buf_release(&rec);
		if (r < 0) { /* slots before j are kept, from i on are whole */
			for (; i < out->n; i++) {
				oci_free(out->v[i].name);
				oci_free(out->v[i].arch);
			}
			out->n = j;
			goto out;
		}
		if (r > 0) {
			out->v[j++] = *pk;
		} else { /* a list without an installed package: half removed */
			oci_free(pk->name);
			oci_free(pk->arch);
		}
	}
	out->n = j;
	rc = 1;
out:
	if (dir)
		closedir(dir);
	oci_strlist_release(&cand);
	oci_strlist_release(&lists);
	oci_buf_release(&path);
	oci_buf_release(&status);
	return rc;
}

void oci_dpkg_release(oci_dpkg *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		oci_free(d->v[i].name);
		oci_free(d->v[i].arch);
		oci_free(d->v[i].record);
	}
	oci_free(d->v);
	memset(d, 0, sizeof(*d));
}
