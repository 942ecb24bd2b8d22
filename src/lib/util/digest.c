#include <string.h>
#include <openssl/evp.h>

#include "digest.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

int oci_sha256_init(oci_sha256 *h, ocibuild_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	h->md = NULL;
	if (!md)
		return oci_err_nomem(err);
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return oci_err(err, OCIBUILD_ERR_INTERNAL, 0,
			       "OpenSSL could not start a SHA-256 digest");
	}
	h->md = md;
	return 0;
}

void oci_sha256_update(oci_sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->md, data, len);
}

void oci_sha256_final(oci_sha256 *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex(h->md, d, &n);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hex[d[i] >> 4];
		out[8 + 2 * i] = hex[d[i] & 15];
	}
	out[OCI_DIGEST_LEN] = '\0';
}

void oci_sha256_release(oci_sha256 *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

int oci_sha256_buf(const void *data, size_t len, char *out, ocibuild_error *err)
{
	oci_sha256 h;

	if (oci_sha256_init(&h, err) < 0)
		return -1;
	oci_sha256_update(&h, data, len);
	oci_sha256_final(&h, out);
	oci_sha256_release(&h);
	return 0;
}

int oci_hex_valid(const char *s, size_t n)
{
	/* 1 for '0'-'9' and 'a'-'f' */
	static const unsigned char hex[256] = {
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
		['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
		['e'] = 1, ['f'] = 1,
	};
	size_t i;

	/* stops at the first other byte: s may end (NUL) before n */
	for (i = 0; i < n; i++)
		if (!hex[(unsigned char)s[i]])
			return 0;
	return 1;
}

int oci_digest_valid(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && strlen(s) == OCI_DIGEST_LEN &&
	       oci_hex_valid(s + 7, OCI_DIGEST_LEN - 7);
}

const char *oci_digest_hex(const char *digest)
{
	return digest + 7;
}

char *oci_b64_encode(const unsigned char *in, size_t n)
{
	char *out = oci_malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

char *oci_b64_decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *out = oci_malloc(3 * (n / 4) + 3);
	int r;

	if (!out)
		return NULL;
	r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (r < 0) {
		oci_free(out);
		return NULL;
	}
	if (n && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	*outlen = (size_t)r - pad;
	out[*outlen] = '\0';
	return (char *)out;
}
