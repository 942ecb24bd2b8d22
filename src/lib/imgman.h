/* The manifests and the image index a build writes into its stage: the
 * base's layers and the new ones, the config blob, the annotations, and
 * with several platforms the index the tags point at. */
#ifndef OCI_IMGMAN_H
#define OCI_IMGMAN_H
#include "ocibuild/ocibuild.h"
#include "base.h"
#include "oci.h"

/* One layer the build made, after the base's. */
typedef struct oci_imgman_layer {
	const char *digest;
	int64_t size;
} oci_imgman_layer;

typedef struct oci_imgman_in {
	const char *stage; /* the staging layout the blobs go into */
	int durable;       /* the stage becomes a layout: sync its blobs */
	const oci_base *base;
	const oci_platform *platform;
	const oci_image_config *config;
	ocibuild_compression compression; /* of the new layers */
	const oci_imgman_layer *layers;
	size_t nlayers;
	const char *created;  /* "YYYY-MM-DDTHH:MM:SSZ" */
	const char *version;  /* a release's version, or NULL */
	const ocibuild_strv *annotations; /* -a KEY=VALUE, checked */
	const char *source, *revision;    /* where the image comes from, or NULL */
} oci_imgman_in;

/* Docker media types of base layers become their OCI twins (same bytes);
 * any other type is returned as it is. */
const char *oci_imgman_layer_type(const char *mt);

/* Fill m (zeroed first) and desc (zeroed by the caller) with the manifest
 * of in: the base's layers (imported into the stage when they are on disk:
 * a registry base's stay remote when only pushing to the same registry),
 * then in's layers; the config and the manifest put into the stage.
 * Annotations: created, version, -a, then source, revision and the base's
 * digest and name, which -a can not override. Free m and desc with
 * oci_manifest_release and oci_descriptor_release, also after a failure. */
int oci_imgman_manifest(const oci_imgman_in *in, oci_manifest *m, oci_descriptor *desc,
			ocibuild_error *err);

/* What the tags point at, into *top (zeroed by the caller): with one
 * manifest its descriptor, with several an image index of v[0..n) in that
 * order, carrying created and the -a annotations, put into the stage. */
int oci_imgman_index(const char *stage, int durable, const oci_descriptor *const *v, size_t n,
		     const char *created, const ocibuild_strv *annotations, oci_descriptor *top,
		     ocibuild_error *err);
#endif
