#include <string.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "sign.h"
#include "blobstore.h"
#include "digest.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

/* a base64 signature we read */
#define SIG_B64_MAX (1u << 16)
/* the memory scrypt may use to derive a cosign key's key */
#define SCRYPT_MAX_MEM ((uint64_t)1 << 30)

struct oci_sign_key {
	EVP_PKEY *pkey;
};

#define KEY_FILE_MAX (1u << 16)

struct pw {
	const char *s;
	int asked;
};

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
	struct pw *p = u;
	size_t n;

	(void)rwflag;
	p->asked = 1;
	if (!p->s)
		return -1;
	n = strlen(p->s);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, p->s, n);
	return (int)n;
}

static const char *password(oci_getenv_fn env)
{
	if (!env)
		env = oci_sys_getenv;
	return env("OCIBUILD_SIGN_PASSWORD") ? env("OCIBUILD_SIGN_PASSWORD")
					    : env("COSIGN_PASSWORD");
}

static int b64_field(json_t *obj, const char *name, unsigned char **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));

	*out = s ? (unsigned char *)oci_b64_decode(s, len) : NULL;
	return *out ? 0 : -1;
}

/* cosign's key file: PEM around JSON {kdf: scrypt, cipher: nacl/secretbox,
 * ciphertext}, the plaintext being the PKCS#8 DER key. */
static int cosign_decrypt(const char *path, const unsigned char *json, long jlen,
			  const char *pass, EVP_PKEY **pkey, ocibuild_error *err)
{
	json_t *doc = json_loadb((const char *)json, (size_t)jlen, 0, NULL);
	json_t *kdf = json_object_get(doc, "kdf"), *cipher = json_object_get(doc, "cipher");
	json_t *params = json_object_get(kdf, "params");
	unsigned char *salt = NULL, *nonce = NULL, *ct = NULL, *plain = NULL;
	unsigned char key[crypto_secretbox_KEYBYTES];
	size_t saltlen, noncelen, ctlen;
	json_int_t n = json_integer_value(json_object_get(params, "N"));
	json_int_t r = json_integer_value(json_object_get(params, "r"));
	json_int_t p = json_integer_value(json_object_get(params, "p"));
	int rc = -1;

	if (!doc || strcmp(json_string_value(json_object_get(kdf, "name")) ?: "", "scrypt") ||
	    strcmp(json_string_value(json_object_get(cipher, "name")) ?: "", "nacl/secretbox") ||
	    n < 2 || n > (1 << 22) || r < 1 || r > 64 || p < 1 || p > 16 ||
	    b64_field(kdf, "salt", &salt, &saltlen) < 0 ||
	    b64_field(cipher, "nonce", &nonce, &noncelen) < 0 ||
	    noncelen != crypto_secretbox_NONCEBYTES ||
	    b64_field(doc, "ciphertext", &ct, &ctlen) < 0 || ctlen < crypto_secretbox_MACBYTES) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"signing key %s is not a valid cosign key file (scrypt + nacl/secretbox)",
			path);
		goto out;
	}
	if (!pass) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"signing key %s is encrypted: set OCIBUILD_SIGN_PASSWORD (or COSIGN_PASSWORD)",
			path);
		goto out;
	}
	if (sodium_init() < 0) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "libsodium could not start");
		goto out;
	}
	if (EVP_PBE_scrypt(pass, strlen(pass), salt, saltlen, (uint64_t)n, (uint64_t)r,
			   (uint64_t)p, SCRYPT_MAX_MEM, key, sizeof(key)) != 1) {
		oci_err(err, OCIBUILD_ERR_INTERNAL, 0,
			"OpenSSL could not derive the key of %s (scrypt)", path);
		goto out;
	}
	plain = oci_malloc(ctlen);
	if (!plain) {
		oci_err_nomem(err);
		goto out;
	}
	if (crypto_secretbox_open_easy(plain, ct, ctlen, nonce, key) != 0) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"wrong password for signing key %s (OCIBUILD_SIGN_PASSWORD / COSIGN_PASSWORD)",
			path);
		goto out;
	}
	{
		const unsigned char *q = plain;

		*pkey = d2i_AutoPrivateKey(NULL, &q, (long)(ctlen - crypto_secretbox_MACBYTES));
	}
	if (!*pkey) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"signing key %s decrypts to something that is not a private key", path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	if (plain)
		sodium_memzero(plain, ctlen);
	oci_free(plain);
	oci_free(salt);
	oci_free(nonce);
	oci_free(ct);
	json_decref(doc);
	return rc;
}

static int check_p256(const char *what, const char *path, EVP_PKEY *pkey, ocibuild_error *err)
{
	char group[64] = "";
	size_t glen = 0;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1"))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "%s %s is not an ECDSA P-256 key: make one with "
			       "'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256'",
			       what, path);
	return 0;
}

/* A loaded key becomes an oci_sign_key once it is P-256; ownership of
 * *pkey moves to *out on success. */
static int wrap_key(EVP_PKEY **pkey, const char *what, const char *path, oci_sign_key **out,
		    ocibuild_error *err)
{
	if (check_p256(what, path, *pkey, err) < 0)
		return -1;
	*out = oci_calloc(1, sizeof(**out));
	if (!*out)
		return oci_err_nomem(err);
	(*out)->pkey = *pkey;
	*pkey = NULL;
	return 0;
}

int oci_sign_key_load(const char *path, oci_getenv_fn env, oci_sign_key **out,
		      ocibuild_error *err)
{
	oci_buf file = OCI_BUF_INIT(KEY_FILE_MAX);
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int rc = -1;

	*out = NULL;
	if (oci_read_file(path, KEY_FILE_MAX, &file, err) < 0) {
		oci_err_prefix(err, "signing key");
		goto out;
	}
	bio = BIO_new_mem_buf(file.data, (int)file.len);
	if (!bio || !PEM_read_bio(bio, &name, &header, &data, &dlen)) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"signing key %s is not a PEM file (expected -----BEGIN ... PRIVATE KEY-----)",
			path);
		goto out;
	}
	if (!strcmp(name, "ENCRYPTED SIGSTORE PRIVATE KEY") ||
	    !strcmp(name, "ENCRYPTED COSIGN PRIVATE KEY")) {
		if (cosign_decrypt(path, data, dlen, password(env), &pkey, err) < 0)
			goto out;
	} else {
		struct pw pw = { password(env), 0 };

		BIO_free(bio);
		bio = BIO_new_mem_buf(file.data, (int)file.len);
		if (bio)
			pkey = PEM_read_bio_PrivateKey(bio, NULL, pw_cb, &pw);
		if (!pkey) {
			if (pw.asked && !pw.s)
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"signing key %s is encrypted: set OCIBUILD_SIGN_PASSWORD "
					"(or COSIGN_PASSWORD)", path);
			else if (pw.asked)
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"wrong password for signing key %s "
					"(OCIBUILD_SIGN_PASSWORD / COSIGN_PASSWORD)", path);
			else
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"signing key %s holds no private key (found '%s'): give the "
					"private half of an ECDSA P-256 key pair", path, name);
			goto out;
		}
	}
	rc = wrap_key(&pkey, "signing key", path, out, err);
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (data)
		OPENSSL_clear_free(data, (size_t)dlen);
	BIO_free(bio);
	OPENSSL_cleanse(file.data, file.len);
	oci_buf_release(&file);
	return rc;
}

int oci_sign_pubkey_load(const char *path, oci_sign_key **out, ocibuild_error *err)
{
	oci_buf file = OCI_BUF_INIT(KEY_FILE_MAX);
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = -1;

	*out = NULL;
	if (oci_read_file(path, KEY_FILE_MAX, &file, err) < 0) {
		oci_err_prefix(err, "public key");
		goto out;
	}
	if (!memmem(file.data, file.len, "-----BEGIN PUBLIC KEY-----", 26)) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"%s holds no public key (expected -----BEGIN PUBLIC KEY-----): give the "
			"public half, e.g. 'openssl pkey -in KEY.pem -pubout' or cosign.pub", path);
		goto out;
	}
	bio = BIO_new_mem_buf(file.data, (int)file.len);
	if (!bio) {
		oci_err_nomem(err);
		goto out;
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pkey) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"public key %s is not a valid PEM SubjectPublicKeyInfo", path);
		goto out;
	}
	rc = wrap_key(&pkey, "public key", path, out, err);
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	oci_buf_release(&file);
	return rc;
}

void oci_sign_key_release(oci_sign_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	oci_free(k);
}

int oci_sign_key_public_pem(const oci_sign_key *k, oci_buf *out, ocibuild_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc;

	if (!bio)
		return oci_err_nomem(err);
	if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1) {
		BIO_free(bio);
		ERR_clear_error();
		return oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "OpenSSL could not write a public key");
	}
	n = BIO_get_mem_data(bio, &p);
	rc = oci_buf_append(out, p, (size_t)n, err);
	BIO_free(bio);
	return rc;
}

int oci_sign_payload(const char *repository, const char *digest, oci_buf *out,
		     ocibuild_error *err)
{
	json_t *doc = json_pack("{s:{s:{s:s},s:{s:s},s:s},s:n}", "critical", "identity",
				"docker-reference", repository, "image",
				"docker-manifest-digest", digest, "type",
				"cosign container image signature", "optional");
	char *s;
	int rc;

	if (!doc)
		return oci_err_nomem(err);
	s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (!s)
		return oci_err_nomem(err);
	rc = oci_buf_append(out, s, strlen(s), err);
	free(s);
	return rc;
}

int oci_sign_payload_parse(const char *data, size_t len, char **repository, char **digest,
			   ocibuild_error *err)
{
	json_t *doc = json_loadb(data, len, 0, NULL);
	json_t *crit = json_object_get(doc, "critical");
	const char *type = json_string_value(json_object_get(crit, "type"));
	const char *r = json_string_value(
		json_object_get(json_object_get(crit, "identity"), "docker-reference"));
	const char *d = json_string_value(
		json_object_get(json_object_get(crit, "image"), "docker-manifest-digest"));
	int rc = 0;

	*repository = *digest = NULL;
	if (!json_is_object(doc) || !type || strcmp(type, "cosign container image signature") ||
	    !r || !d)
		rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
			     "not a cosign simple signing payload (critical.type, identity, image)");
	else if (!(*repository = oci_strdup(r)) || !(*digest = oci_strdup(d))) {
		oci_free(*repository);
		*repository = NULL;
		rc = oci_err_nomem(err);
	}
	json_decref(doc);
	return rc;
}

int oci_sign_data(const oci_sign_key *k, const void *data, size_t len, char **b64sig,
		  ocibuild_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int rc = -1;

	*b64sig = NULL;
	if (!md)
		return oci_err_nomem(err);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, data, len) != 1 ||
	    !(sig = oci_malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, data, len) != 1) {
		oci_err(err, sig ? OCIBUILD_ERR_INTERNAL : OCIBUILD_ERR_NOMEM, 0,
			"OpenSSL could not sign the image");
		goto out;
	}
	*b64sig = oci_b64_encode(sig, siglen);
	rc = *b64sig ? 0 : oci_err_nomem(err);
out:
	ERR_clear_error();
	oci_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

int oci_sign_check(const oci_sign_key *k, const void *data, size_t len, const char *b64sig,
		   ocibuild_error *err)
{
	size_t n = strlen(b64sig), siglen = 0;
	unsigned char *sig = n <= SIG_B64_MAX ? oci_malloc(3 * (n / 4) + 3) : NULL;
	EVP_MD_CTX *md;
	int ok = 0, r;

	if (n > SIG_B64_MAX)
		return 0;
	if (!sig)
		return oci_err_nomem(err);
	md = EVP_MD_CTX_new();
	if (!md) {
		oci_free(sig);
		return oci_err_nomem(err);
	}
	/* EVP_DecodeBlock counts the padding as zero bytes: take them off */
	r = EVP_DecodeBlock(sig, (const unsigned char *)b64sig, (int)n);
	if (r >= 0) {
		siglen = (size_t)r;
		if (n && b64sig[n - 1] == '=')
			siglen--;
		if (n > 1 && b64sig[n - 2] == '=')
			siglen--;
	}
	if (r >= 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, data, len) == 1)
		ok = 1;
	ERR_clear_error();
	oci_free(sig);
	EVP_MD_CTX_free(md);
	return ok;
}

int oci_sign_verify(const oci_sign_key *k, const void *data, size_t len, const char *b64sig)
{
	return oci_sign_check(k, data, len, b64sig, NULL) == 1;
}
