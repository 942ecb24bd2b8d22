/* The one allocation wrapper: every allocation in the library goes through
 * it, so a test build can make allocations fail (OCIBUILD_FAIL_ALLOC) and
 * trace where each one is made (OCIBUILD_ALLOC_TRACE): see mem.c. */
#ifndef OCI_MEM_H
#define OCI_MEM_H
#include <stddef.h>

void *oci_malloc(size_t n);
void *oci_calloc(size_t count, size_t size);
void *oci_realloc(void *p, size_t n);
/* realloc for arrays: fails (NULL) on count*size overflow. */
void *oci_reallocarray(void *p, size_t count, size_t size);
char *oci_strdup(const char *s);
char *oci_strndup(const char *s, size_t n);
void oci_free(void *p);
#endif
