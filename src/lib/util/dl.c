#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dl.h"
#include "err.h"
#include "banned.h"

/* The sonames come from the build (Makefile: the soname of the library
 * the compiler would link against), so that the one loaded is the one
 * compiled for. */
#ifndef OCI_CURL_SONAME
#define OCI_CURL_SONAME "libcurl.so.4"
#endif
#ifndef OCI_ARCHIVE_SONAME
#define OCI_ARCHIVE_SONAME "libarchive.so.13"
#endif

struct lib {
	const char *soname, *package;
	const char *const *names; /* in the order of the table's members */
	void **slots;
	size_t n;
	int ok;
	char why[256];
	pthread_once_t once;
};

static struct oci_dl_curl curl_fns;
static struct oci_dl_archive archive_fns;

static const char *const curl_names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_getinfo",
	"curl_easy_perform", "curl_easy_reset", "curl_easy_cleanup", "curl_easy_strerror",
	"curl_slist_append", "curl_slist_free_all",
};

static const char *const archive_names[] = {
	"archive_read_new", "archive_read_support_format_tar", "archive_read_support_filter_gzip",
	"archive_read_support_filter_zstd", "archive_read_open_filename",
	"archive_read_next_header", "archive_read_data", "archive_read_data_into_fd",
	"archive_read_free", "archive_error_string", "archive_entry_pathname",
	"archive_entry_filetype",
};

/* the tables are arrays of function pointers, one per name */
_Static_assert(sizeof(curl_fns) == sizeof(curl_names) / sizeof(curl_names[0]) * sizeof(void (*)(void)),
	       "one libcurl name per member of struct oci_dl_curl");
_Static_assert(sizeof(archive_fns) ==
		       sizeof(archive_names) / sizeof(archive_names[0]) * sizeof(void (*)(void)),
	       "one libarchive name per member of struct oci_dl_archive");

static struct lib curl_lib = {
	OCI_CURL_SONAME, "libcurl4", curl_names, (void **)&curl_fns,
	sizeof(curl_names) / sizeof(curl_names[0]), 0, "", PTHREAD_ONCE_INIT,
};
static struct lib archive_lib = {
	OCI_ARCHIVE_SONAME, "libarchive13", archive_names, (void **)&archive_fns,
	sizeof(archive_names) / sizeof(archive_names[0]), 0, "", PTHREAD_ONCE_INIT,
};

static void load(struct lib *l)
{
	/* never closed: the library stays for the life of the process */
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!h) {
		snprintf(l->why, sizeof(l->why), "%s", dlerror());
		return;
	}
	for (i = 0; i < l->n; i++) {
		void *f = dlsym(h, l->names[i]);

		if (!f) {
			snprintf(l->why, sizeof(l->why), "%s has no %s", l->soname, l->names[i]);
			return;
		}
		/* POSIX: a function's address from dlsym converts to a pointer
		 * to function */
		memcpy(&l->slots[i], &f, sizeof(f));
	}
	l->ok = 1;
}

static void load_curl(void)
{
	load(&curl_lib);
	/* libcurl 7.84 and later initialise thread-safely; here, once */
	if (curl_lib.ok && curl_fns.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		curl_lib.ok = 0;
		snprintf(curl_lib.why, sizeof(curl_lib.why), "curl_global_init failed");
	}
}

static void load_archive(void)
{
	load(&archive_lib);
}

static int loaded(struct lib *l, ocibuild_error *err)
{
	if (l->ok)
		return 1;
	oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0, "cannot load %s (%s): install the %s package",
		l->soname, l->why, l->package);
	return 0;
}

const struct oci_dl_curl *oci_dl_curl(ocibuild_error *err)
{
	pthread_once(&curl_lib.once, load_curl);
	return loaded(&curl_lib, err) ? &curl_fns : NULL;
}

const struct oci_dl_archive *oci_dl_archive(ocibuild_error *err)
{
	pthread_once(&archive_lib.once, load_archive);
	return loaded(&archive_lib, err) ? &archive_fns : NULL;
}

const struct oci_dl_curl *oci_dl_curl_fns(void)
{
	return &curl_fns;
}

const struct oci_dl_archive *oci_dl_archive_fns(void)
{
	return &archive_fns;
}
