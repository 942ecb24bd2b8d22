/* Which entries go into which layer. */
#include <string.h>

#include "layerplan.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

int oci_lplan_init(oci_lplan *p, const char *what, const oci_walk *w, const char *root,
		   const char *prefix, unsigned prefix_mode, ocibuild_error *err)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->w = w;
	p->root = root;
	p->prefix = prefix;
	p->prefix_mode = prefix_mode;
	p->v = oci_calloc(w->n ? w->n : 1, sizeof(*p->v));
	if (!p->v)
		return oci_err_nomem(err);
	return 0;
}

void oci_lplan_take_all(oci_lplan *p)
{
	size_t i;

	for (i = 0; i < p->w->n; i++)
		p->v[p->n++] = &p->w->v[i];
}

oci_lplan *oci_lplan_add(oci_lplans *s, const char *what, const oci_walk *w, const char *root,
			 const char *prefix, unsigned prefix_mode, ocibuild_error *err)
{
	oci_lplan *p;

	if (s->n == OCI_LPLAN_MAX) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "too many layers");
		return NULL;
	}
	p = &s->v[s->n++];
	return oci_lplan_init(p, what, w, root, prefix, prefix_mode, err) < 0 ? NULL : p;
}

/* Entries whose flag is set, in walk order. */
static void take(oci_lplan *p, const unsigned char *pick)
{
	size_t i;

	p->n = 0;
	for (i = 0; i < p->w->n; i++)
		if (pick[i])
			p->v[p->n++] = &p->w->v[i];
}

/* Flag the directories above entry i, so a layer never holds a file
 * without its parents. -1 when out of memory. */
static int pick_parents(const oci_walk *w, size_t i, unsigned char *pick)
{
	char *path = oci_strdup(w->v[i].rel), *slash;

	if (!path)
		return -1;
	while ((slash = strrchr(path, '/'))) {
		long j;

		*slash = '\0';
		j = oci_walk_find(w, path);
		if (j >= 0) {
			if (pick[j])
				break;
			pick[j] = 1;
		}
	}
	oci_free(path);
	return 0;
}

/* The group of every entry. Under lib/ it depends only on the directory
 * right below lib/ (the app), and the walk is sorted, so an app's entries
 * come one after the other: it is looked up once per app. */
static void classify_all(const oci_release *rel, const oci_walk *w, unsigned char *grp)
{
	const char *key = NULL;
	size_t i, klen = 0;
	unsigned char kg = 0;

	for (i = 0; i < w->n; i++) {
		const char *r = w->v[i].rel, *slash;
		size_t len;

		if (strncmp(r, "lib/", 4) || !r[4]) {
			grp[i] = (unsigned char)oci_release_classify(rel, r);
			continue;
		}
		slash = strchr(r + 4, '/');
		len = slash ? (size_t)(slash - r) : strlen(r);
		if (!key || len != klen || memcmp(r, key, len)) {
			key = r;
			klen = len;
			kg = (unsigned char)oci_release_classify(rel, r);
		}
		grp[i] = kg;
	}
}

int oci_lplan_tree(oci_lplans *s, const oci_walk *w, const oci_release *rel, const char *root,
		   const char *prefix, unsigned prefix_mode, ocibuild_error *err)
{
	unsigned char *pick, *grp;
	size_t i;
	int g;

	if (!rel) {
		oci_lplan *p = oci_lplan_add(s, "files", w, root, prefix, prefix_mode, err);

		if (!p)
			return -1;
		oci_lplan_take_all(p);
		return 0;
	}
	pick = oci_calloc(w->n ? w->n : 1, 1);
	grp = oci_calloc(w->n ? w->n : 1, 1);
	if (!pick || !grp) {
		oci_free(pick);
		oci_free(grp);
		return oci_err_nomem(err);
	}
	classify_all(rel, w, grp);
	for (g = 0; g < OCI_GROUP_COUNT; g++) {
		oci_lplan *p;
		int any = 0;

		memset(pick, 0, w->n);
		for (i = 0; i < w->n; i++) {
			if (grp[i] != g)
				continue;
			/* directories alone do not make a layer */
			if (w->v[i].type != OCI_TAR_DIR)
				any = 1;
			pick[i] = 1;
			if (pick_parents(w, i, pick) < 0) {
				oci_free(pick);
				oci_free(grp);
				return oci_err_nomem(err);
			}
		}
		if (!any)
			continue;
		p = oci_lplan_add(s, oci_group_name((oci_group)g), w, root, prefix, prefix_mode, err);
		if (!p) {
			oci_free(pick);
			oci_free(grp);
			return -1;
		}
		take(p, pick);
	}
	oci_free(pick);
	oci_free(grp);
	return 0;
}

void oci_lplan_release(oci_lplan *p)
{
	oci_free(p->v);
	p->v = NULL;
	p->n = 0;
}

void oci_lplans_release(oci_lplans *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		oci_lplan_release(&s->v[i]);
	s->n = 0;
}
