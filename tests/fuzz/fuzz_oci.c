/* libFuzzer harness for the OCI document parsers (src/lib/oci.c).
 *
 * Each input goes to the manifest, index and config parsers. Whatever one
 * accepts is serialised, and the serialised form must parse again and
 * serialise to the same bytes: abort() otherwise, so the fuzzer reports it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const char *what, const oci_buf *a, const oci_buf *b)
{
	if (a->len == b->len && !memcmp(a->data, b->data, a->len))
		return;
	fprintf(stderr, "%s: serialise(parse(serialise(x))) differs from serialise(x)\n"
		"first:  %s\nsecond: %s\n", what, a->data, b->data);
	abort();
}

static void fail_reparse(const char *what, const oci_buf *a, const ocibuild_error *err)
{
	fprintf(stderr, "%s: its own output does not parse: %s\noutput: %s\n", what,
		err->message ? err->message : "?", a->data);
	abort();
}

static void manifest(const char *s, size_t n, ocibuild_error *err)
{
	oci_manifest m, m2;
	oci_buf a = OCI_BUF_INIT(64u << 20), b = OCI_BUF_INIT(64u << 20);

	if (oci_manifest_parse(s, n, &m, err) < 0)
		return;
	if (oci_manifest_serialize(&m, &a, err) == 0) {
		if (oci_manifest_parse(a.data, a.len, &m2, err) < 0)
			fail_reparse("manifest", &a, err);
		if (oci_manifest_serialize(&m2, &b, err) == 0)
			same_or_abort("manifest", &a, &b);
		oci_manifest_release(&m2);
	}
	oci_manifest_release(&m);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

static void index_(const char *s, size_t n, ocibuild_error *err)
{
	oci_index x, x2;
	oci_buf a = OCI_BUF_INIT(64u << 20), b = OCI_BUF_INIT(64u << 20);

	if (oci_index_parse(s, n, &x, err) < 0)
		return;
	if (oci_index_serialize(&x, &a, err) == 0) {
		if (oci_index_parse(a.data, a.len, &x2, err) < 0)
			fail_reparse("index", &a, err);
		if (oci_index_serialize(&x2, &b, err) == 0)
			same_or_abort("index", &a, &b);
		oci_index_release(&x2);
	}
	oci_index_release(&x);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

static void config(const char *s, size_t n, ocibuild_error *err)
{
	oci_image_config c, c2;
	oci_buf a = OCI_BUF_INIT(64u << 20), b = OCI_BUF_INIT(64u << 20);

	if (oci_config_parse(s, n, &c, err) < 0)
		return;
	if (oci_config_serialize(&c, &a, err) == 0) {
		if (oci_config_parse(a.data, a.len, &c2, err) < 0)
			fail_reparse("config", &a, err);
		if (oci_config_serialize(&c2, &b, err) == 0)
			same_or_abort("config", &a, &b);
		oci_config_release(&c2);
	}
	oci_config_release(&c);
	oci_buf_release(&a);
	oci_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	const char *s = (const char *)data;

	manifest(s, size, &err);
	index_(s, size, &err);
	config(s, size, &err);
	ocibuild_error_clear(&err);
	return 0;
}
