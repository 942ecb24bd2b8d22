/* libcurl and libarchive, loaded when first needed rather than at start-up.
 *
 * Together they pull in some forty shared libraries (TLS, Kerberos, LDAP,
 * ICU, XML ...), whose loading and constructors cost every run a few
 * milliseconds, while a local build touches neither. The modules that use
 * them (http, tar) call oci_dl_curl / oci_dl_archive at their entry points
 * and then call the libraries by their usual names: dl_curl.h and
 * dl_archive.h map those names onto the loaded tables.
 *
 * The tables are process-wide, filled once (pthread_once) and never
 * changed afterwards, like the dynamic linker's own; a library that can
 * not be loaded is an error naming it and the package that has it. */
#ifndef OCI_DL_H
#define OCI_DL_H
#include <curl/curl.h>
#include <archive.h>
#include <archive_entry.h>
#include "ocibuild/ocibuild.h"

struct oci_dl_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

struct oci_dl_archive {
	struct archive *(*read_new)(void);
	int (*read_support_format_tar)(struct archive *a);
	int (*read_support_filter_gzip)(struct archive *a);
	int (*read_support_filter_zstd)(struct archive *a);
	int (*read_open_filename)(struct archive *a, const char *path, size_t block);
	int (*read_next_header)(struct archive *a, struct archive_entry **e);
	la_ssize_t (*read_data)(struct archive *a, void *buf, size_t len);
	int (*read_data_into_fd)(struct archive *a, int fd);
	int (*read_free)(struct archive *a);
	const char *(*error_string)(struct archive *a);
	const char *(*entry_pathname)(struct archive_entry *e);
	__LA_MODE_T (*entry_filetype)(struct archive_entry *e);
};

/* Load libcurl (and curl_global_init it) once: the table, or NULL with err
 * set (err may be NULL). */
const struct oci_dl_curl *oci_dl_curl(ocibuild_error *err);
/* Load libarchive once: the table, or NULL with err set. */
const struct oci_dl_archive *oci_dl_archive(ocibuild_error *err);

/* The tables once loaded (the macros of dl_curl.h and dl_archive.h use
 * them): to be called only after a successful oci_dl_curl/oci_dl_archive. */
const struct oci_dl_curl *oci_dl_curl_fns(void);
const struct oci_dl_archive *oci_dl_archive_fns(void);
#endif
