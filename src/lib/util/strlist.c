/* Small containers: a string list and a string map (src/lib/util). */
#include <string.h>

#include "strlist.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

int oci_map_set(oci_map *m, const char *key, const char *val, ocibuild_error *err)
{
	size_t i;
	char *v = oci_strdup(val), *k;

	if (!v)
		return oci_err_nomem(err);
	for (i = 0; i < m->n; i++) {
		if (!strcmp(m->keys[i], key)) {
			oci_free(m->vals[i]);
			m->vals[i] = v;
			return 0;
		}
	}
	k = oci_strdup(key);
	if (!k) {
		oci_free(v);
		return oci_err_nomem(err);
	}
	{
		char **nk = oci_reallocarray(m->keys, m->n + 1, sizeof(char *));
		char **nv;

		if (nk)
			m->keys = nk;
		nv = nk ? oci_reallocarray(m->vals, m->n + 1, sizeof(char *)) : NULL;
		if (!nv) {
			oci_free(k);
			oci_free(v);
			return oci_err_nomem(err);
		}
		m->vals = nv;
	}
	m->keys[m->n] = k;
	m->vals[m->n] = v;
	m->n++;
	return 0;
}

const char *oci_map_get(const oci_map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i], key))
			return m->vals[i];
	return NULL;
}

int oci_map_copy(oci_map *dst, const oci_map *src, ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		if (oci_map_set(dst, src->keys[i], src->vals[i], err) < 0)
			return -1;
	return 0;
}

void oci_map_release(oci_map *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		oci_free(m->keys[i]);
		oci_free(m->vals[i]);
	}
	oci_free(m->keys);
	oci_free(m->vals);
	memset(m, 0, sizeof(*m));
}

int oci_strlist_push(oci_strlist *l, const char *s, ocibuild_error *err)
{
	char **v = oci_reallocarray(l->v, l->n + 1, sizeof(char *));
	char *d;

	if (!v)
		return oci_err_nomem(err);
	l->v = v;
	d = oci_strdup(s);
	if (!d)
		return oci_err_nomem(err);
	l->v[l->n++] = d;
	return 0;
}

int oci_strlist_has(const oci_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

void oci_strlist_release(oci_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		oci_free(l->v[i]);
	oci_free(l->v);
	l->v = NULL;
	l->n = 0;
}
