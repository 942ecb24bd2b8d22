/* Image references, following the distribution reference grammar:
 * [domain[:port]/]path[:tag][@sha256:hex], normalised the way Docker does
 * (no domain -> docker.io, one docker.io component -> library/, neither
 * tag nor digest -> latest). */
#ifndef OCI_REF_H
#define OCI_REF_H
#include "ocibuild/ocibuild.h"

#define OCI_DOCKER_HUB "docker.io"
#define OCI_DOCKER_HUB_API "registry-1.docker.io"

typedef struct oci_ref {
	char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;   /* "library/debian" */
	char *tag;    /* NULL when only a digest was given */
	char *digest; /* NULL when absent */
} oci_ref;

int oci_ref_parse(const char *s, oci_ref *r, ocibuild_error *err);
/* "domain/path[:tag][@digest]"; caller frees; NULL when out of memory. */
char *oci_ref_string(const oci_ref *r);
/* The host to talk to for the domain (registry-1.docker.io for Docker Hub). */
const char *oci_ref_api_host(const oci_ref *r);
void oci_ref_release(oci_ref *r);
/* Validate a tag (the part after ':'). */
int oci_tag_valid(const char *tag, size_t len);
#endif
