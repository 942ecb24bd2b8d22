/* OCI documents as C structs: descriptors, image manifests, image indexes
 * and image configs, parsed from JSON (OCI or Docker v2 schema 2 media
 * types) and serialised deterministically (compact, keys sorted). This is
 * the only module that touches the JSON library. */
#ifndef OCI_OCI_H
#define OCI_OCI_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "digest.h"
#include "strlist.h"

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define OCI_MT_EMPTY "application/vnd.oci.empty.v1+json"
/* the empty config of an artifact manifest: "{}" */
#define OCI_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define OCI_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define OCI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_ANN_CREATED "org.opencontainers.image.created"
#define OCI_ANN_BASE_DIGEST "org.opencontainers.image.base.digest"
#define OCI_ANN_BASE_NAME "org.opencontainers.image.base.name"
#define OCI_ANN_VERSION "org.opencontainers.image.version"
#define OCI_ANN_SOURCE "org.opencontainers.image.source"
#define OCI_ANN_REVISION "org.opencontainers.image.revision"

/* Size limits for documents we read. */
#define OCI_MAX_MANIFEST (4u << 20)
#define OCI_MAX_CONFIG (16u << 20)

typedef struct oci_platform {
	char *os;
	char *architecture;
	char *variant; /* NULL when none */
} oci_platform;

/* "os/arch[/variant]" -> platform; -1 on bad syntax. */
int oci_platform_parse(const char *s, oci_platform *p, ocibuild_error *err);
/* The platform of the running host (linux, Go architecture names). */
int oci_platform_host(oci_platform *p, ocibuild_error *err);
/* "os/arch[/variant]", caller frees. */
char *oci_platform_string(const oci_platform *p);
int oci_platform_match(const oci_platform *want, const oci_platform *have);
void oci_platform_release(oci_platform *p);
/* "os/arch[/variant][,os/arch...]" -> *n platforms, in the order given.
 * Empty entries and duplicates are refused; the error names the entry.
 * Free *out with oci_platform_list_release(). */
int oci_platform_list_parse(const char *s, oci_platform **out, size_t *n, ocibuild_error *err);
void oci_platform_list_release(oci_platform *v, size_t n);

typedef struct oci_descriptor {
	char *media_type;
	char digest[OCI_DIGEST_LEN + 1];
	int64_t size;
	oci_map annotations;
	oci_platform *platform; /* NULL when absent */
	char *artifact_type;    /* NULL when absent */
} oci_descriptor;

void oci_descriptor_release(oci_descriptor *d);
OCI_MUST_USE int oci_descriptor_copy(oci_descriptor *dst, const oci_descriptor *src, ocibuild_error *err);

typedef struct oci_manifest {
	char *media_type;
	oci_descriptor config;
	oci_descriptor *layers;
	size_t nlayers;
	oci_map annotations;
	char *artifact_type;     /* NULL when absent */
	oci_descriptor *subject; /* the manifest this one refers to, or NULL */
} oci_manifest;

typedef struct oci_index {
	oci_descriptor *manifests;
	size_t n;
	oci_map annotations;
} oci_index;

typedef struct oci_history {
	char *created;
	char *created_by;
	char *comment;
	int empty_layer;
} oci_history;

typedef struct oci_image_config {
	char *created;
	char *author;
	oci_platform platform;
	/* the "config" object */
	char *user;
	oci_strlist env;
	oci_strlist entrypoint;
	int has_entrypoint;
	oci_strlist cmd;
	int has_cmd;
	char *working_dir;
	oci_strlist exposed_ports;
	oci_map labels;
	char *stop_signal;
	oci_strlist volumes;
	void *extra; /* other members of "config", kept as they were */
	oci_strlist diff_ids;
	oci_history *history;
	size_t nhistory;
} oci_image_config;

int oci_manifest_parse(const char *json, size_t len, oci_manifest *m, ocibuild_error *err);
int oci_manifest_serialize(const oci_manifest *m, oci_buf *out, ocibuild_error *err);
void oci_manifest_release(oci_manifest *m);

/* Parses OCI indexes and Docker manifest lists. */
int oci_index_parse(const char *json, size_t len, oci_index *x, ocibuild_error *err);
int oci_index_serialize(const oci_index *x, oci_buf *out, ocibuild_error *err);
/* Append a copy of d. */
OCI_MUST_USE int oci_index_add(oci_index *x, const oci_descriptor *d, ocibuild_error *err);
void oci_index_remove(oci_index *x, size_t i);
void oci_index_release(oci_index *x);
/* "linux/amd64, linux/arm64/v8" of an index's entries, for messages (heap). */
char *oci_index_platforms(const oci_index *x);

int oci_config_parse(const char *json, size_t len, oci_image_config *c, ocibuild_error *err);
int oci_config_serialize(const oci_image_config *c, oci_buf *out, ocibuild_error *err);
OCI_MUST_USE int oci_config_add_history(oci_image_config *c, const char *created,
			   const char *created_by, const char *comment,
			   int empty_layer, ocibuild_error *err);
void oci_config_release(oci_image_config *c);

/* Docker's `docker save` manifest.json for one image. */
int oci_docker_manifest_json(const oci_manifest *m, const oci_strlist *repo_tags,
			     oci_buf *out, ocibuild_error *err);

/* "CODE: message" from a registry's {"errors":[...]} body (heap), or NULL;
 * control characters in it are replaced by spaces. */
char *oci_registry_error(const char *json, size_t len);
/* The mediaType member of a JSON document (heap) into *out, NULL when it
 * has none; -1 only when out of memory. */
int oci_json_media_type(const char *json, size_t len, char **out, ocibuild_error *err);

/* What a media type names: an image manifest (OCI or Docker), an image
 * index (OCI index or Docker manifest list), or something else. */
typedef enum oci_mt_kind {
	OCI_MT_KIND_OTHER = 0,
	OCI_MT_KIND_MANIFEST,
	OCI_MT_KIND_INDEX,
} oci_mt_kind;

oci_mt_kind oci_media_type_kind(const char *mt);
#endif
