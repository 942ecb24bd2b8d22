/* Small containers shared by every module (src/lib/util): a list of
 * strings and a map of strings, each owning copies of what it holds. */
#ifndef OCI_STRLIST_H
#define OCI_STRLIST_H
#include <stddef.h>

#include "err.h"

/* String map; keys unique (documents serialise it sorted by key). */
typedef struct oci_map {
	char **keys;
	char **vals;
	size_t n;
} oci_map;

OCI_MUST_USE int oci_map_set(oci_map *m, const char *key, const char *val, ocibuild_error *err);
const char *oci_map_get(const oci_map *m, const char *key);
OCI_MUST_USE int oci_map_copy(oci_map *dst, const oci_map *src, ocibuild_error *err);
void oci_map_release(oci_map *m);

typedef struct oci_strlist {
	char **v;
	size_t n;
} oci_strlist;

OCI_MUST_USE int oci_strlist_push(oci_strlist *l, const char *s, ocibuild_error *err);
int oci_strlist_has(const oci_strlist *l, const char *s);
void oci_strlist_release(oci_strlist *l);
#endif
