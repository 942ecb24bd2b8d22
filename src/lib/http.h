/* One HTTP exchange at a time per handle, over libcurl (the only module
 * that touches it). Redirects are not followed here: the registry module
 * follows them itself so that credentials never reach another host. */
#ifndef OCI_HTTP_H
#define OCI_HTTP_H
#include <stdint.h>
#include "buf.h"
#include "sink.h"

/* what is kept of an error body; the transfer ends there */
#define OCI_HTTP_MAX_ERROR_BODY (64u << 10)

typedef struct oci_http_opts {
	const char *ca_file;    /* extra CA bundle, or NULL */
	const char *user_agent;
	long connect_timeout_s;
	long timeout_s; /* whole exchange, unless the request sets one; 0: none */
	ocibuild_cancel_fn cancel;
	void *cancel_userdata;
} oci_http_opts;

typedef struct oci_http oci_http;

typedef struct oci_http_req {
	const char *method; /* GET HEAD POST PUT PATCH DELETE */
	const char *url;
	const char *const *headers; /* "Name: value" */
	size_t nheaders;
	const void *body; /* in-memory body, or */
	int body_fd;      /* a file range (fd >= 0; use -1 for none) */
	uint64_t body_off, body_len;
	/* or, with body_fd, a file still being written (body_off and body_len
	 * unused): blocks until the file holds more than off bytes or is
	 * complete, setting *end to the bytes it holds and *done once it is
	 * complete; -1 ends the request (it fails). Sent with no length. */
	int (*body_grow)(void *userdata, uint64_t off, uint64_t *end, int *done);
	void *body_grow_userdata;
	oci_buf *out;      /* response body into memory (capped), or */
	oci_sink *out_sink; /* streamed (only for 2xx), or neither */
	uint64_t out_max;   /* a 2xx body larger than this is cut off: OCI_HTTP_TOO_BIG (0: no cap) */
	long timeout_s;     /* whole exchange (0: the handle's) */
	/* called with bytes sent or received so far (may be NULL) */
	void (*progress)(void *userdata, uint64_t done);
	void *progress_userdata;
} oci_http_req;

typedef struct oci_http_resp {
	long status;
	char *location;
	char *www_authenticate;
	char *docker_content_digest;
	char *content_type;
	char *range;
	char *retry_after;
	char *oci_subject; /* a registry with the referrers API answers a PUT with it */
	int64_t content_length; /* -1 when unknown */
} oci_http_resp;

/* Transport failures, so the caller can decide to retry or fall back. */
typedef enum oci_http_fail {
	OCI_HTTP_OK = 0,
	OCI_HTTP_CONNECT,   /* refused, reset, timed out, DNS */
	OCI_HTTP_NOT_TLS,   /* the server does not speak TLS */
	OCI_HTTP_TLS_VERIFY, /* certificate not trusted */
	OCI_HTTP_TLS_NAME,  /* certificate trusted, but for another host name */
	OCI_HTTP_TIMEOUT,   /* the whole exchange took longer than its time limit */
	OCI_HTTP_TOO_BIG,   /* a 2xx body was larger than its cap (out_max or out->max) */
	OCI_HTTP_LOCAL,     /* our side failed (out of memory, a sink's write) */
	OCI_HTTP_OTHER
} oci_http_fail;

int oci_http_new(oci_http **out, const oci_http_opts *o, ocibuild_error *err);
void oci_http_release(oci_http *h);
/* Perform one request. Returns 0 when a response arrived (any status; a
 * non-2xx body beyond out->max is dropped and the transfer cut short there),
 * or -1 with *fail set, err filled and *resp released. */
int oci_http_do(oci_http *h, const oci_http_req *r, oci_http_resp *resp,
		oci_http_fail *fail, ocibuild_error *err);
void oci_http_resp_release(oci_http_resp *resp);
/* Does the server of url (an https:// URL) finish a TLS handshake? Only the
 * handshake, on a connection of its own that is closed at once: nothing is
 * sent over it and the peer's certificate is NOT verified (so no CA bundle
 * is loaded). Its one use is to learn that an endpoint does not speak TLS;
 * a caller must trust nothing else about the peer from it. Returns 1 (it
 * speaks TLS), 0 (it answered, but not in TLS), or -1 with *fail and err
 * set (could not connect, out of memory, ...). */
int oci_http_speaks_tls(oci_http *h, const char *url, oci_http_fail *fail, ocibuild_error *err);
/* Percent-encode for a query value (caller frees). */
char *oci_http_escape(const char *s);
#endif
