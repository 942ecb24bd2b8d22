/* libFuzzer harness for rebar.lock and mix.lock (src/lib/lockfile.c).
 *
 * Each input goes to both parsers. An accepted lock has what its entries
 * promise (a name; a hex package's name, version and repository; a git
 * dependency's URL; a lower-case checksum) and oci_lock_find finds every
 * name; a refused one is empty and has a one-line message. The same input
 * goes to the .app reader: an accepted file has a name and names for what
 * it uses, a refused one leaves nothing. abort() otherwise. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bad(const char *which, const char *what)
{
	fprintf(stderr, "%s: %s\n", which, what);
	abort();
}

static void check(const char *which, int rc, oci_lock *l, ocibuild_error *err)
{
	size_t i;

	if (rc < 0) {
		if (l->n || l->deps)
			bad(which, "refused, but dependencies left behind");
		if (!err->message || strchr(err->message, '\n'))
			bad(which, "refused without a one-line message");
		ocibuild_error_clear(err);
		return;
	}
	for (i = 0; i < l->n; i++) {
		const oci_lock_dep *d = &l->deps[i], *f;
		const char *p;

		if (!d->name)
			bad(which, "a dependency without a name");
		if (d->source == OCI_DEP_HEX && (!d->hex_name || !d->version || !d->repo))
			bad(which, "a hex package without name, version or repository");
		if (d->source == OCI_DEP_GIT && !d->git_url)
			bad(which, "a git dependency without a URL");
		for (p = d->sha256; p && *p; p++)
			if (isupper((unsigned char)*p))
				bad(which, "a checksum that is not lower-case");
		f = oci_lock_find(l, d->name);
		if (!f || f > d || strcmp(f->name, d->name))
			bad(which, "oci_lock_find does not find a dependency by its name");
	}
	oci_lock_release(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocibuild_error err = { 0 };
	oci_lock l;
	int rc;

	rc = oci_lock_parse_rebar((const char *)data, size, &l, &err);
	check("rebar.lock", rc, &l, &err);
	rc = oci_lock_parse_mix((const char *)data, size, &l, &err);
	check("mix.lock", rc, &l, &err);
	{
		oci_lock_app a;
		size_t i;

		rc = oci_lock_app_parse((const char *)data, size, "x.app", &a, &err);
		if (rc < 0) {
			if (a.name || a.vsn || a.uses || a.nuses)
				bad(".app", "refused, but fields left behind");
			if (!err.message || strchr(err.message, '\n'))
				bad(".app", "refused without a one-line message");
			ocibuild_error_clear(&err);
		} else {
			if (!a.name)
				bad(".app", "accepted without a name");
			for (i = 0; i < a.nuses; i++)
				if (!a.uses[i])
					bad(".app", "an application without a name");
			oci_lock_app_release(&a);
		}
	}
	return 0;
}
