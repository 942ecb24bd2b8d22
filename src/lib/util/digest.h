/* Streaming SHA-256 in the "sha256:<hex>" form OCI uses. */
#ifndef OCI_DIGEST_H
#define OCI_DIGEST_H
#include <stddef.h>
#include "ocibuild/ocibuild.h"

#define OCI_DIGEST_LEN 71 /* "sha256:" + 64 hex, without the NUL */

typedef struct oci_sha256 {
	void *md; /* EVP_MD_CTX */
} oci_sha256;

int oci_sha256_init(oci_sha256 *h, ocibuild_error *err);
void oci_sha256_update(oci_sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" into out (OCI_DIGEST_LEN + 1 bytes). The context
 * can not be updated afterwards, only released. */
void oci_sha256_final(oci_sha256 *h, char *out);
void oci_sha256_release(oci_sha256 *h);
int oci_sha256_buf(const void *data, size_t len, char *out, ocibuild_error *err);
/* 1 when the n bytes at s are lower-case hex digits (s holds n bytes). */
int oci_hex_valid(const char *s, size_t n);
/* 1 when s is "sha256:" followed by exactly 64 lower-case hex digits. */
int oci_digest_valid(const char *s);
/* The hex part of a valid digest. */
const char *oci_digest_hex(const char *digest);
/* Base64 (standard alphabet, padded) of n bytes; heap, NUL-terminated;
 * NULL when out of memory. */
char *oci_b64_encode(const unsigned char *in, size_t n);
/* Decode; *outlen gets the byte count (the result is also NUL-terminated);
 * NULL when in is not base64 or out of memory. */
char *oci_b64_decode(const char *in, size_t *outlen);
#endif
