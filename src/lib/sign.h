/* Image signatures in cosign's format: an ECDSA P-256 key, the "simple
 * signing" payload naming the repository and the manifest digest, and the
 * base64 DER signature over it. No registry here: attach.c stores them. */
#ifndef OCI_SIGN_H
#define OCI_SIGN_H
#include <stddef.h>
#include "auth.h"
#include "buf.h"

#define OCI_SIGN_PAYLOAD_TYPE "application/vnd.dev.cosign.simplesigning.v1+json"
#define OCI_SIGN_ANNOTATION "dev.cosignproject.cosign/signature"

typedef struct oci_sign_key oci_sign_key;

/* Read a private key: PEM PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
 * SEC1 ("EC PRIVATE KEY"), or cosign's own "ENCRYPTED SIGSTORE/COSIGN PRIVATE
 * KEY". Passwords come from OCIBUILD_SIGN_PASSWORD, else COSIGN_PASSWORD
 * (read through env; never copied into messages). Only ECDSA P-256 keys. */
int oci_sign_key_load(const char *path, oci_getenv_fn env, oci_sign_key **out,
		      ocibuild_error *err);
/* Read a public key to verify with: PEM "PUBLIC KEY" (SubjectPublicKeyInfo,
 * as `openssl pkey -pubout` and cosign.pub), ECDSA P-256 only. Free with
 * oci_sign_key_release(); it can only verify. */
int oci_sign_pubkey_load(const char *path, oci_sign_key **out, ocibuild_error *err);
void oci_sign_key_release(oci_sign_key *k);
/* The public key as PEM "PUBLIC KEY" (SubjectPublicKeyInfo). */
int oci_sign_key_public_pem(const oci_sign_key *k, oci_buf *out, ocibuild_error *err);

/* The simple signing payload for `repository` (e.g. "ghcr.io/org/app",
 * no tag) and `digest`; compact JSON with sorted keys. */
int oci_sign_payload(const char *repository, const char *digest, oci_buf *out,
		     ocibuild_error *err);
/* Read a payload: *repository (critical.identity.docker-reference) and
 * *digest (critical.image.docker-manifest-digest), both heap, when
 * critical.type is cosign's; -1 otherwise. */
int oci_sign_payload_parse(const char *data, size_t len, char **repository, char **digest,
			   ocibuild_error *err);
/* Sign SHA-256(data) with k: the base64 of the DER signature (heap). */
int oci_sign_data(const oci_sign_key *k, const void *data, size_t len, char **b64sig,
		  ocibuild_error *err);
/* 1 when b64sig is k's signature of data, 0 when not (or not base64, or
 * longer than 64 KiB), -1 only when out of memory (err filled). */
int oci_sign_check(const oci_sign_key *k, const void *data, size_t len, const char *b64sig,
		   ocibuild_error *err);
/* oci_sign_check as a yes/no: 1 when it verifies, else 0. */
int oci_sign_verify(const oci_sign_key *k, const void *data, size_t len, const char *b64sig);
#endif
