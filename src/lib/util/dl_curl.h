/* libcurl's functions by their names, called through the table oci_dl_curl
 * loaded (dl.h). Include after <curl/curl.h>, in a module that calls
 * oci_dl_curl before anything else of libcurl. */
#ifndef OCI_DL_CURL_H
#define OCI_DL_CURL_H
#include "dl.h"

/* curl.h may define these two as type-checking macros */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (oci_dl_curl_fns()->global_init)
#define curl_easy_init (oci_dl_curl_fns()->easy_init)
#define curl_easy_setopt (oci_dl_curl_fns()->easy_setopt)
#define curl_easy_getinfo (oci_dl_curl_fns()->easy_getinfo)
#define curl_easy_perform (oci_dl_curl_fns()->easy_perform)
#define curl_easy_reset (oci_dl_curl_fns()->easy_reset)
#define curl_easy_cleanup (oci_dl_curl_fns()->easy_cleanup)
#define curl_easy_strerror (oci_dl_curl_fns()->easy_strerror)
#define curl_slist_append (oci_dl_curl_fns()->slist_append)
#define curl_slist_free_all (oci_dl_curl_fns()->slist_free_all)
#endif
