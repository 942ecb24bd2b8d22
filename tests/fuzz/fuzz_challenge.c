/* libFuzzer harness for the WWW-Authenticate parser (src/lib/auth.c).
 *
 * Whatever realm, service and scope a header yields, written back as one
 * quoted challenge, must parse again to the same values; an unknown scheme
 * yields none of them. abort() otherwise, so the fuzzer reports it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* key="value" with '"' and '\' escaped, as the parser reads it back */
static char *add(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static void put(char **o, const char *key, const char *v)
{
	char *p = *o;

	if (!v)
		return;
	p = add(p, key);
	p = add(p, "=\"");
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '"';
	*p++ = ',';
	*o = p;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void roundtrip(const char *in, const oci_challenge *c)
{
	size_t n = 64 + 2 * ((c->realm ? strlen(c->realm) : 0) + (c->service ? strlen(c->service) : 0) +
			     (c->scope ? strlen(c->scope) : 0));
	char *s = malloc(n), *o = s;
	ocibuild_error err = { 0 };
	oci_challenge c2;

	if (!s)
		return;
	o = add(o, c->scheme == OCI_AUTH_BASIC ? "Basic " : "Bearer ");
	put(&o, "realm", c->realm);
	put(&o, "service", c->service);
	put(&o, "scope", c->scope);
	*o = '\0';
	if (oci_challenge_parse(s, &c2, &err) < 0) {
		fprintf(stderr, "'%s' parses, but its rewrite '%s' does not: %s\n", in, s,
			err.message ? err.message : "?");
		abort();
	}
	if (c2.scheme != c->scheme || !same(c2.realm, c->realm) || !same(c2.service, c->service) ||
	    !same(c2.scope, c->scope)) {
		fprintf(stderr, "'%s' and its rewrite '%s' parse differently\n", in, s);
		abort();
	}
	oci_challenge_release(&c2);
	ocibuild_error_clear(&err);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	oci_challenge c;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oci_challenge_parse(s, &c, &err) == 0) {
		if (c.scheme == OCI_AUTH_NONE && (c.realm || c.service || c.scope)) {
			fprintf(stderr, "'%s': no scheme, but parameters\n", s);
			abort();
		}
		if (c.scheme != OCI_AUTH_NONE)
			roundtrip(s, &c);
		oci_challenge_release(&c);
	} else if (!err.message || strchr(err.message, '\n')) {
		fprintf(stderr, "'%s': failed without a one-line message\n", s);
		abort();
	}
	ocibuild_error_clear(&err);
	free(s);
	return 0;
}
