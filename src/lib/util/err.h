/* Filling an ocibuild_error at the place a failure is understood. */
#ifndef OCI_ERR_H
#define OCI_ERR_H
#include "ocibuild/ocibuild.h"

/* On a function whose result says whether it failed: ignoring the result
 * is a compile warning (-Werror: an error), so no failure goes unnoticed. */
#define OCI_MUST_USE __attribute__((warn_unused_result))

/* Set err (replacing any earlier message) and return -1, so that a failure
 * site is one line: `return oci_err(err, OCIBUILD_ERR_IO, errno, "...")`.
 * err may be NULL. */
int oci_err(ocibuild_error *err, ocibuild_error_kind kind, int code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same, with the kind chosen from errno (ENOSPC/EDQUOT -> NOSPACE,
 * ENOMEM -> NOMEM, else IO). */
int oci_err_errno(ocibuild_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Out of memory: never allocates. */
int oci_err_nomem(ocibuild_error *err);
/* The failure was the caller's input: kind OPTION, unless it was memory. */
void oci_err_as_option(ocibuild_error *err);
/* 0 when an options struct of type `type` ("ocibuild_build_opts") has
 * the version this library knows; else fail (OPTION) saying to initialise
 * it with the type's _INIT macro. */
int oci_err_version(unsigned have, unsigned known, const char *type, ocibuild_error *err);
/* Prepend "prefix: " to an existing message. */
void oci_err_prefix(ocibuild_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#endif
