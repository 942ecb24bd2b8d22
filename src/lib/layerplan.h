/* Layer planning: which entries of a walk go into which layer, before any
 * layer is made. A directory tree is one layer; a release is split by
 * release's groups (erts, deps, app), each layer carrying the directories
 * above its files. */
#ifndef OCI_LAYERPLAN_H
#define OCI_LAYERPLAN_H
#include "ocibuild/ocibuild.h"
#include "layer.h"
#include "release.h"
#include "walk.h"

/* The layers a build makes from its input (the sbom layer aside). */
#define OCI_LPLAN_MAX 8

/* One layer to make: a subset of a walk, in walk order. The walk and the
 * strings are borrowed and must outlive the plan. */
typedef struct oci_lplan {
	const char *what; /* for history and logs: "files", "erts", ... */
	const oci_walk *w;
	const char *root;
	const char *prefix;
	unsigned prefix_mode;
	const oci_walk_entry **v;
	size_t n;
	oci_layer_result r; /* filled when the layer is made */
	const char *from;   /* a --cache-from ref holds its blob; not in the stage */
} oci_lplan;

/* The layers shared by every platform of a build; zero it before use. */
typedef struct oci_lplans {
	oci_lplan v[OCI_LPLAN_MAX];
	size_t n;
} oci_lplans;

/* An empty plan of w's entries (room for all of them). Free it with
 * oci_lplan_release, also after a failure. */
int oci_lplan_init(oci_lplan *p, const char *what, const oci_walk *w, const char *root,
		   const char *prefix, unsigned prefix_mode, ocibuild_error *err);

/* Take every entry of the plan's walk, in walk order. */
void oci_lplan_take_all(oci_lplan *p);

/* A new plan at the end of s (OCIBUILD_ERR_INTERNAL when s is full), or
 * NULL. */
oci_lplan *oci_lplan_add(oci_lplans *s, const char *what, const oci_walk *w, const char *root,
			 const char *prefix, unsigned prefix_mode, ocibuild_error *err);

/* The layers of the tree w at root, put under prefix: one "files" layer
 * of everything when rel is NULL, else one layer for each of rel's
 * groups that has more than directories, with the directories above each
 * of its entries. */
int oci_lplan_tree(oci_lplans *s, const oci_walk *w, const oci_release *rel, const char *root,
		   const char *prefix, unsigned prefix_mode, ocibuild_error *err);

void oci_lplan_release(oci_lplan *p);
void oci_lplans_release(oci_lplans *s);
#endif
