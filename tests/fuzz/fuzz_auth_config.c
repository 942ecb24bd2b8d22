/* libFuzzer harness for docker's config.json and podman's auth.json
 * (oci_auth_config_parse in src/lib/auth.c), looked up for a few
 * registries, with and without credential helpers.
 *
 * Credentials found are a user and a password, or an identity token, and
 * name where they came from; a refused file gives no credentials and a
 * one-line message. abort() otherwise. Helpers are never run here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bad(const char *domain, const char *what)
{
	fprintf(stderr, "%s: %s\n", domain, what);
	abort();
}

static void lookup(const uint8_t *data, size_t size, const char *domain, int helpers)
{
	ocibuild_error err = { 0 };
	oci_cred c = { 0 };
	char *helper = NULL;
	int found = -1, rc;

	rc = oci_auth_config_parse((const char *)data, size, "config.json", domain,
				   "docker config.json", &c, &found, helpers ? &helper : NULL, &err);
	if (rc < 0) {
		if (c.username || c.password || c.identity_token || helper)
			bad(domain, "refused, but credentials or a helper left behind");
		if (!err.message || strchr(err.message, '\n'))
			bad(domain, "refused without a one-line message");
	} else if (found) {
		if (helper)
			bad(domain, "both credentials and a helper");
		if (!(c.username && c.password) && !c.identity_token)
			bad(domain, "found, but neither user and password nor a token");
		if (!c.source || strcmp(c.source, "docker config.json"))
			bad(domain, "credentials that do not name their source");
	} else if (c.username || c.password || c.identity_token) {
		bad(domain, "credentials, but not found");
	}
	free(helper);
	oci_cred_release(&c);
	ocibuild_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lookup(data, size, "docker.io", 1);
	lookup(data, size, "localhost:5000", 1);
	lookup(data, size, "ghcr.io", 0);
	return 0;
}
