#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>

#include "http.h"
#include "dl_curl.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

struct oci_http {
	CURL *curl;
	oci_http_opts o;
	char *ca_file;
	char *user_agent;
};

struct xfer {
	const oci_http_req *req;
	oci_http_resp *resp;
	ocibuild_error *err;
	int sink_failed;
	int too_big;   /* a 2xx body passed its cap */
	int truncated; /* an error body passed its cap: cut short on purpose */
	int read_failed; /* the request body could not be read */
	uint64_t sent, received;
	oci_http *h;
	uint64_t grow_end; /* body_grow: what the file holds */
	int grow_done;
};

void ocibuild_global_init(void)
{
	(void)oci_dl_curl(NULL);
}

int oci_http_new(oci_http **out, const oci_http_opts *o, ocibuild_error *err)
{
	oci_http *h;

	*out = NULL;
	/* libcurl is loaded (and initialised) by the first connection */
	if (!oci_dl_curl(err))
		return -1;
	h = oci_calloc(1, sizeof(*h));
	if (!h)
		return oci_err_nomem(err);
	h->curl = curl_easy_init();
	h->o = *o;
	h->ca_file = o->ca_file ? oci_strdup(o->ca_file) : NULL;
	h->user_agent = oci_strdup(o->user_agent ? o->user_agent : "ocibuild/" OCIBUILD_VERSION);
	if (!h->curl || (o->ca_file && !h->ca_file) || !h->user_agent) {
		oci_http_release(h);
		return oci_err_nomem(err);
	}
	*out = h;
	return 0;
}

void oci_http_release(oci_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	oci_free(h->ca_file);
	oci_free(h->user_agent);
	oci_free(h);
}

void oci_http_resp_release(oci_http_resp *r)
{
	oci_free(r->location);
	oci_free(r->www_authenticate);
	oci_free(r->docker_content_digest);
	oci_free(r->content_type);
	oci_free(r->range);
	oci_free(r->retry_after);
	oci_free(r->oci_subject);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

static int keep_header(char **dst, const char *v, size_t n)
{
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	oci_free(*dst);
	*dst = oci_strndup(v, n);
	return *dst ? 0 : -1;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{ "location", offsetof(oci_http_resp, location) },
		{ "www-authenticate", offsetof(oci_http_resp, www_authenticate) },
		{ "docker-content-digest", offsetof(oci_http_resp, docker_content_digest) },
		{ "content-type", offsetof(oci_http_resp, content_type) },
		{ "range", offsetof(oci_http_resp, range) },
		{ "retry-after", offsetof(oci_http_resp, retry_after) },
		{ "oci-subject", offsetof(oci_http_resp, oci_subject) },
	};
	const char *colon = memchr(data, ':', n);
	size_t i;

	if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (e.g. after 100 Continue): forget the old headers */
		oci_http_resp_release(x->resp);
		return n;
	}
	if (!colon)
		return n;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t kl = strlen(keep[i].name);

		if ((size_t)(colon - data) == kl && !strncasecmp(data, keep[i].name, kl)) {
			/* keep the first WWW-Authenticate (Bearer before Basic is the
			 * registry's order of preference) */
			char **dst = (char **)((char *)x->resp + keep[i].off);

			if (*dst && keep[i].off == offsetof(oci_http_resp, www_authenticate))
				break;
			if (keep_header(dst, colon + 1, n - (size_t)(colon + 1 - data)) < 0) {
				oci_err_nomem(x->err);
				x->sink_failed = 1;
				return 0;
			}
		}
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;
	size_t cap;
	int ok;

	curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
	ok = status >= 200 && status < 300;
	x->received += n;
	if (ok && x->req->out_max && x->received > x->req->out_max) {
		x->too_big = 1;
		return 0;
	}
	if (x->req->out_sink && ok) {
		if (oci_sink_write(x->req->out_sink, data, n, x->err) < 0) {
			x->sink_failed = 1;
			return 0;
		}
		return n;
	}
	if (!x->req->out) {
		/* nobody wants an error body: stop once it is clearly not small */
		if (!ok && x->received > OCI_HTTP_MAX_ERROR_BODY) {
			x->truncated = 1;
			return 0;
		}
		return n;
	}
	cap = ok || x->req->out->max < OCI_HTTP_MAX_ERROR_BODY ? x->req->out->max : OCI_HTTP_MAX_ERROR_BODY;
	if (x->req->out->len + n > cap) {
		if (ok) {
			x->too_big = 1;
			return 0;
		}
		/* an error body: keep what fits and stop reading, however slowly
		 * the rest would come */
		if (x->req->out->len < cap &&
		    oci_buf_append(x->req->out, data, cap - x->req->out->len, x->err) < 0) {
			x->sink_failed = 1;
			return 0;
		}
		x->truncated = 1;
		return 0;
	}
	if (oci_buf_append(x->req->out, data, n, x->err) < 0) {
		x->sink_failed = 1;
		return 0;
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	const oci_http_req *r = x->req;
	size_t want = size * nitems;
	uint64_t left;
	ssize_t n;

	if (r->body_grow) {
		while (x->sent >= x->grow_end && !x->grow_done)
			if (r->body_grow(r->body_grow_userdata, x->sent, &x->grow_end,
					 &x->grow_done) < 0) {
				x->read_failed = ECANCELED;
				return CURL_READFUNC_ABORT;
			}
		left = x->grow_end - x->sent;
	} else {
		left = r->body_len - x->sent;
	}
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (r->body_fd >= 0) {
		do
			n = pread(r->body_fd, buf, want,
				  (off_t)((r->body_grow ? 0 : r->body_off) + x->sent));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			x->read_failed = n < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
	} else {
		memcpy(buf, (const char *)r->body + x->sent, want);
		n = (ssize_t)want;
	}
	x->sent += (uint64_t)n;
	return (size_t)n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;

	(void)dltotal;
	(void)ultotal;
	if (x->h->o.cancel && x->h->o.cancel(x->h->o.cancel_userdata))
		return 1;
	if (x->req->progress)
		x->req->progress(x->req->progress_userdata,
				 (uint64_t)(ulnow > dlnow ? ulnow : dlnow));
	return 0;
}

int oci_http_do(oci_http *h, const oci_http_req *r, oci_http_resp *resp,
		oci_http_fail *fail, ocibuild_error *err)
{
	struct curl_slist *hdrs = NULL;
	struct xfer x = { r, resp, err, 0, 0, 0, 0, 0, 0, h };
	CURL *c = h->curl;
	CURLcode cc;
	char ebuf[CURL_ERROR_SIZE] = "";
	size_t i;
	int has_body = r->body || r->body_fd >= 0;
	long timeout;

	*fail = OCI_HTTP_OK;
	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	curl_easy_reset(c);
	for (i = 0; i < r->nheaders; i++) {
		struct curl_slist *n = curl_slist_append(hdrs, r->headers[i]);

		if (!n) {
			curl_slist_free_all(hdrs);
			return oci_err_nomem(err);
		}
		hdrs = n;
	}
	/* no "Expect: 100-continue" round trip before uploads */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->o.connect_timeout_s ? h->o.connect_timeout_s : 30L);
	/* a stalled transfer (under 1 KiB/s for a minute) is a dropped one */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	timeout = r->timeout_s ? r->timeout_s : h->o.timeout_s;
	if (timeout > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 r->body_grow ? (curl_off_t)-1
					      : (curl_off_t)(has_body ? r->body_len : 0));
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	if (x.sink_failed) {
		*fail = OCI_HTTP_LOCAL;
		goto failed;
	}
	if (x.too_big) {
		*fail = OCI_HTTP_TOO_BIG;
		oci_err(err, OCIBUILD_ERR_REGISTRY, 0, "the answer to %s %s is larger than %llu bytes",
			r->method, r->url,
			(unsigned long long)(r->out_max ? r->out_max : r->out ? r->out->max : 0));
		goto failed;
	}
	if (cc == CURLE_WRITE_ERROR && x.truncated)
		cc = CURLE_OK; /* an error body cut short on purpose: the status stands */
	if (cc != CURLE_OK) {
		switch (cc) {
		case CURLE_OPERATION_TIMEDOUT: {
			curl_off_t us = 0;

			curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us);
			if (timeout > 0 && us >= (curl_off_t)timeout * 1000000 - 500000) {
				*fail = OCI_HTTP_TIMEOUT;
				oci_err(err, OCIBUILD_ERR_NETWORK, (int)cc,
					"%s %s did not finish within %ld s", r->method, r->url, timeout);
				goto failed;
			}
			*fail = OCI_HTTP_CONNECT;
			break;
		}
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			*fail = OCI_HTTP_CONNECT;
			break;
		case CURLE_SSL_CONNECT_ERROR:
			*fail = OCI_HTTP_NOT_TLS;
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
			/* libcurl says which check failed only in its text */
			*fail = strstr(ebuf, "name") ? OCI_HTTP_TLS_NAME : OCI_HTTP_TLS_VERIFY;
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			*fail = OCI_HTTP_OTHER;
			if (x.read_failed) {
				*fail = OCI_HTTP_LOCAL;
				oci_err_errno(err, x.read_failed, "cannot read what to send to %s: %s",
					      r->url, strerror(x.read_failed));
				goto failed;
			}
			oci_err(err, OCIBUILD_ERR_CANCELLED, 0, "interrupted");
			goto failed;
		default:
			*fail = OCI_HTTP_OTHER;
			break;
		}
		oci_err(err, OCIBUILD_ERR_NETWORK, (int)cc, "%s: %s", r->url,
			*ebuf ? ebuf : curl_easy_strerror(cc));
		goto failed;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	{
		curl_off_t cl = -1;

		curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		resp->content_length = cl;
	}
	return 0;
failed:
	oci_http_resp_release(resp);
	return -1;
}

int oci_http_speaks_tls(oci_http *h, const char *url, oci_http_fail *fail, ocibuild_error *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode cc;

	*fail = OCI_HTTP_OK;
	if (strncasecmp(url, "https://", 8)) {
		*fail = OCI_HTTP_OTHER;
		return oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "'%s' is not an https URL", url);
	}
	/* a handle of its own: the unverified connection is never reused */
	c = curl_easy_init();
	if (!c) {
		*fail = OCI_HTTP_LOCAL;
		return oci_err_nomem(err);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->o.connect_timeout_s ? h->o.connect_timeout_s : 30L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	switch (cc) {
	case CURLE_OK:
		return 1;
	case CURLE_SSL_CONNECT_ERROR:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		*fail = OCI_HTTP_LOCAL;
		return oci_err_nomem(err);
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		*fail = OCI_HTTP_CONNECT;
		break;
	default:
		*fail = OCI_HTTP_OTHER;
		break;
	}
	return oci_err(err, OCIBUILD_ERR_NETWORK, (int)cc, "%s: %s", url,
		       *ebuf ? ebuf : curl_easy_strerror(cc));
}

char *oci_http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			if (oci_buf_append(&b, s, 1, NULL) < 0)
				goto fail;
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			if (oci_buf_append(&b, e, 3, NULL) < 0)
				goto fail;
		}
	}
	return oci_buf_detach(&b, NULL);
fail:
	oci_buf_release(&b);
	return NULL;
}
