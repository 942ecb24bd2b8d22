#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"
#include "blobstore.h"
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "oci.h"
#include "banned.h"

#define MAX_ATTEMPTS 6
#define MAX_ERROR_BODY (64 * 1024)
#define ACCEPT_MANIFESTS                                                                    \
	"Accept: application/vnd.oci.image.index.v1+json, "                                 \
	"application/vnd.oci.image.manifest.v1+json, "                                      \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                       \
	"application/vnd.docker.distribution.manifest.v2+json"

struct token {
	char *scope;
	char *value;
	time_t expires;
};

struct oci_registry {
	char *domain;  /* as in references: docker.io, localhost:5000 */
	char *host;    /* API host: registry-1.docker.io for Docker Hub */
	const char *scheme;
	int scheme_fixed;
	int may_plain; /* plain HTTP allowed for this host */
	oci_reg_opts o;
	char *ca_file;
	oci_cred cred;
	int cred_loaded;
	pthread_mutex_t mu;
	char *basic; /* "Basic ..." once the registry asked for Basic */
	int basic_refused;
	struct token *tokens;
	size_t ntokens;
	unsigned seed;
};

static int host_is_local(const char *host)
{
	size_t n = strcspn(host, ":");

	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5);
	return (n == 9 && !strncmp(host, "localhost", 9)) ||
	       (n == 9 && !strncmp(host, "127.0.0.1", 9)) || !strncmp(host, "127.", 4);
}

int oci_reg_open(oci_registry **out, const char *domain, const oci_reg_opts *o,
		 ocibuild_error *err)
{
	oci_registry *r = oci_calloc(1, sizeof(*r));
	size_t i;

	*out = NULL;
	if (!r)
		return oci_err_nomem(err);
	pthread_mutex_init(&r->mu, NULL);
	r->o = *o;
	r->domain = oci_strdup(domain);
	r->host = oci_strdup(strcmp(domain, "docker.io") ? domain : "registry-1.docker.io");
	r->ca_file = o->ca_file ? oci_strdup(o->ca_file) : NULL;
	r->o.ca_file = r->ca_file;
	r->scheme = "https";
	r->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	if (!r->domain || !r->host || (o->ca_file && !r->ca_file)) {
		oci_reg_close(r);
		return oci_err_nomem(err);
	}
	r->may_plain = host_is_local(r->host);
	for (i = 0; i < o->insecure.count; i++)
		if (!strcmp(o->insecure.items[i], domain) || !strcmp(o->insecure.items[i], r->host))
			r->may_plain = 1;
	*out = r;
	return 0;
}

void oci_reg_close(oci_registry *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ntokens; i++) {
		oci_free(r->tokens[i].scope);
		oci_free(r->tokens[i].value);
	}
	oci_free(r->tokens);
	oci_free(r->basic);
	oci_cred_release(&r->cred);
	oci_free(r->domain);
	oci_free(r->host);
	oci_free(r->ca_file);
	pthread_mutex_destroy(&r->mu);
	oci_free(r);
}

const char *oci_reg_domain(const oci_registry *r)
{
	return r->domain;
}

ocibuild_ctx *oci_reg_ctx(const oci_registry *r)
{
	return r->o.ctx;
}

int oci_reg_http(oci_registry *r, oci_http **h, ocibuild_error *err)
{
	oci_http_opts ho;

	memset(&ho, 0, sizeof(ho));
	ho.ca_file = r->ca_file;
	ho.cancel = r->o.ctx ? r->o.ctx->cancel : NULL;
	ho.cancel_userdata = r->o.ctx ? r->o.ctx->cancel_userdata : NULL;
	return oci_http_new(h, &ho, err);
}

/* ---- URLs ---- */

static char *base_url(oci_registry *r)
{
	oci_buf b = OCI_BUF_INIT(4096);

	int rc;

	pthread_mutex_lock(&r->mu);
	rc = oci_buf_printf(&b, NULL, "%s://%s", r->scheme, r->host);
	pthread_mutex_unlock(&r->mu);
	if (rc < 0) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

/* An absolute URL for a path ("/v2/...") or a Location value. */
static char *resolve_url(oci_registry *r, const char *ref)
{
	oci_buf b = OCI_BUF_INIT(1 << 16);
	char *base;

	if (!strncmp(ref, "http://", 7) || !strncmp(ref, "https://", 8))
		return oci_strdup(ref);
	base = base_url(r);
	if (!base || oci_buf_printf(&b, NULL, "%s%s%s", base, ref[0] == '/' ? "" : "/", ref) < 0) {
		oci_free(base);
		return NULL;
	}
	oci_free(base);
	return oci_buf_detach(&b, NULL);
}

/* Does the URL point at the registry itself (so credentials may go)? */
static int same_host(oci_registry *r, const char *url)
{
	const char *p = strstr(url, "://");
	size_t hl = strlen(r->host);

	if (!p)
		return 0;
	p += 3;
	return !strncmp(p, r->host, hl) && (p[hl] == '/' || p[hl] == '\0');
}

/* ---- authentication ---- */

static const char *find_token(oci_registry *r, const char *scope)
{
	size_t i;
	time_t now = time(NULL);

	for (i = 0; i < r->ntokens; i++)
		if (!strcmp(r->tokens[i].scope, scope) && r->tokens[i].expires > now)
			return r->tokens[i].value;
	return NULL;
}

static int load_cred(oci_registry *r, ocibuild_error *err)
{
	if (r->cred_loaded)
		return 0;
	if (oci_auth_lookup(r->domain, r->o.push, r->o.env, &r->cred, err) < 0)
		return -1;
	r->cred_loaded = 1;
	return 0;
}

static int store_token(oci_registry *r, const char *scope, char *value, long expires_in,
		       ocibuild_error *err)
{
	struct token *v;
	size_t i;

	for (i = 0; i < r->ntokens; i++) {
		if (!strcmp(r->tokens[i].scope, scope)) {
			oci_free(r->tokens[i].value);
			r->tokens[i].value = value;
			/* refresh a little early */
			r->tokens[i].expires = time(NULL) + (expires_in > 30 ? expires_in - 10 : expires_in);
			return 0;
		}
	}
	v = oci_reallocarray(r->tokens, r->ntokens + 1, sizeof(*v));
	if (!v) {
		oci_free(value);
		return oci_err_nomem(err);
	}
	r->tokens = v;
	v[r->ntokens].scope = oci_strdup(scope);
	if (!v[r->ntokens].scope) {
		oci_free(value);
		return oci_err_nomem(err);
	}
	v[r->ntokens].value = value;
	v[r->ntokens].expires = time(NULL) + (expires_in > 30 ? expires_in - 10 : expires_in);
	r->ntokens++;
	return 0;
}

/* "scope=A&scope=B" for the space-separated scopes, escaped; `amp` puts
 * an '&' before the first one. */
static int append_scopes(oci_buf *b, const char *scope, int amp, ocibuild_error *err)
{
	const char *s;

	for (s = scope; *s;) {
		size_t n = strcspn(s, " ");
		char *one = oci_strndup(s, n), *esc = one ? oci_http_escape(one) : NULL;
		int rc;

		oci_free(one);
		rc = esc ? oci_buf_printf(b, err, "%sscope=%s", amp ? "&" : "", esc) : oci_err_nomem(err);
		oci_free(esc);
		if (rc < 0)
			return -1;
		amp = 1;
		s += n;
		while (*s == ' ')
			s++;
	}
	return 0;
}

/* Ask the token service for a token covering `scope` (space-separated
 * scopes). Called with r->mu held. */
static int fetch_token(oci_registry *r, oci_http *h, const oci_challenge *ch, const char *scope,
		       ocibuild_error *err)
{
	oci_buf url = OCI_BUF_INIT(1 << 16), body = OCI_BUF_INIT(1 << 20);
	oci_buf form = OCI_BUF_INIT(1 << 16);
	oci_http_resp resp;
	oci_http_fail fail;
	const char *hdrs[1];
	char *auth = NULL, *svc = NULL, *token = NULL;
	long expires = 60;
	int rc = -1;

	if (load_cred(r, err) < 0)
		return -1;
	if (!ch->realm)
		return oci_err(err, OCIBUILD_ERR_AUTH, 0,
			       "registry '%s' asked for a token without saying where to get it",
			       r->domain);
	if (oci_buf_printf(&url, err, "%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?") < 0)
		goto out;
	if (ch->service) {
		svc = oci_http_escape(ch->service);
		if (!svc || oci_buf_printf(&url, err, "service=%s", svc) < 0)
			goto out;
	}
	if (append_scopes(&url, scope, url.data[url.len - 1] != '?', err) < 0)
		goto out;
	if (r->cred.username && r->cred.password) {
		{
			char *basic = oci_auth_basic_header(r->cred.username, r->cred.password);
			oci_buf a = OCI_BUF_INIT(1 << 17);

			if (!basic || oci_buf_printf(&a, err, "Authorization: %s", basic) < 0) {
				oci_free(basic);
				goto out;
			}
			oci_free(basic);
			auth = oci_buf_detach(&a, NULL);
		}
	}
	if (r->cred.identity_token) {
		/* an OAuth2 refresh token from `docker login`: POST the grant */
		const char *form_hdr[1] = { "Content-Type: application/x-www-form-urlencoded" };
		char *tok = oci_http_escape(r->cred.identity_token);
		oci_http_req q;

		if (!tok || oci_buf_printf(&form, err, "grant_type=refresh_token&client_id=ocibuild&refresh_token=%s%s%s",
					   tok, svc ? "&service=" : "", svc ? svc : "") < 0) {
			if (tok)
				memset(tok, 0, strlen(tok));
			oci_free(tok);
			goto out;
		}
		memset(tok, 0, strlen(tok));
		oci_free(tok);
		if (append_scopes(&form, scope, 1, err) < 0)
			goto out;
		memset(&q, 0, sizeof(q));
		q.method = "POST";
		q.url = ch->realm;
		q.headers = form_hdr;
		q.nheaders = 1;
		q.body = form.data;
		q.body_fd = -1;
		q.body_len = form.len;
		q.out = &body;
		if (oci_http_do(h, &q, &resp, &fail, err) < 0) {
			oci_err_prefix(err, "cannot get a token for '%s'", r->domain);
			goto out;
		}
	} else {
		oci_http_req q;

		memset(&q, 0, sizeof(q));
		q.method = "GET";
		q.url = url.data;
		hdrs[0] = auth;
		q.headers = hdrs;
		q.nheaders = auth ? 1 : 0;
		q.body_fd = -1;
		q.out = &body;
		if (oci_http_do(h, &q, &resp, &fail, err) < 0) {
			oci_err_prefix(err, "cannot get a token for '%s'", r->domain);
			goto out;
		}
	}
	if (resp.status == 401 || resp.status == 403) {
		oci_err(err, OCIBUILD_ERR_AUTH, (int)resp.status,
			"registry '%s' refused the credentials from %s (token service answered %ld): check them or log in again",
			r->domain, r->cred.source ? r->cred.source : "anonymous", resp.status);
		oci_http_resp_release(&resp);
		goto out;
	}
	if (resp.status != 200) {
		oci_err(err, OCIBUILD_ERR_AUTH, (int)resp.status,
			"the token service of '%s' answered %ld", r->domain, resp.status);
		oci_http_resp_release(&resp);
		goto out;
	}
	oci_http_resp_release(&resp);
	if (oci_auth_parse_token(body.data ? body.data : "", body.len, &token, &expires, err) < 0)
		goto out;
	rc = store_token(r, scope, token, expires, err);
out:
	if (auth)
		memset(auth, 0, strlen(auth));
	oci_free(auth);
	oci_free(svc);
	if (body.data)
		memset(body.data, 0, body.len);
	if (form.data)
		memset(form.data, 0, form.len);
	oci_buf_release(&body);
	oci_buf_release(&form);
	oci_buf_release(&url);
	return rc;
}

/* React to a 401: set up Basic or get a Bearer token. Returns 1 when the
 * request is worth retrying. */
static int on_unauthorized(oci_registry *r, oci_http *h, const char *header, const char *scope,
			   int tried, int sent_basic, ocibuild_error *err)
{
	oci_challenge ch;
	int rc = -1;

	if (oci_challenge_parse(header, &ch, err) < 0)
		return -1;
	pthread_mutex_lock(&r->mu);
	if (load_cred(r, err) < 0)
		goto out;
	if (ch.scheme == OCI_AUTH_BASIC) {
		if (!r->cred.username || !r->cred.password) {
			oci_err(err, OCIBUILD_ERR_AUTH, 401,
				"registry '%s' needs a login and no credentials were found: set OCIBUILD_%s_USERNAME and OCIBUILD_%s_PASSWORD or run `ocibuild login %s`",
				r->domain, r->o.push ? "PUSH" : "PULL", r->o.push ? "PUSH" : "PULL",
				r->domain);
			goto out;
		}
		if (sent_basic || tried > 1) {
			oci_err(err, OCIBUILD_ERR_AUTH, 401,
				"registry '%s' refused the credentials from %s: check them or log in again",
				r->domain, r->cred.source);
			goto out;
		}
		/* another thread may have set it up already */
		if (!r->basic)
			r->basic = oci_auth_basic_header(r->cred.username, r->cred.password);
		rc = r->basic ? 1 : oci_err_nomem(err);
	} else if (ch.scheme == OCI_AUTH_BEARER) {
		if (tried >= 2 && !strcmp(r->cred.source, "anonymous")) {
			oci_err(err, OCIBUILD_ERR_AUTH, 401,
				"registry '%s' denied access (%s) without credentials: run `ocibuild login %s` or set OCIBUILD_%s_USERNAME/PASSWORD",
				r->domain, scope, r->domain, r->o.push ? "PUSH" : "PULL");
			goto out;
		}
		if (tried >= 2) {
			oci_err(err, OCIBUILD_ERR_AUTH, 401,
				"registry '%s' denied access (%s) with the credentials from %s: check they may %s this repository",
				r->domain, scope, r->cred.source, r->o.push ? "push to" : "pull from");
			goto out;
		}
		rc = fetch_token(r, h, &ch, scope, err) < 0 ? -1 : 1;
	} else {
		oci_err(err, OCIBUILD_ERR_AUTH, 401,
			"registry '%s' asks for an authentication scheme ocibuild does not support (%s)",
			r->domain, header ? header : "none");
	}
out:
	pthread_mutex_unlock(&r->mu);
	oci_challenge_release(&ch);
	return rc;
}

/* ---- requests ---- */

struct rreq {
	const char *method;
	const char *url; /* path or absolute */
	const char *scope;
	const char *const *headers;
	size_t nheaders;
	const void *body;
	int body_fd;
	uint64_t body_off, body_len;
	oci_buf *out;
	oci_sink *out_sink;
	int follow;
	void (*progress)(void *userdata, uint64_t done);
	void *progress_userdata;
};

static void rreq_init(struct rreq *q, const char *method, const char *url, const char *scope)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
	q->url = url;
	q->scope = scope;
	q->body_fd = -1;
}

static void backoff(oci_registry *r, int attempt, const char *retry_after)
{
	long ms = 250L << (attempt < 6 ? attempt : 6);
	struct timespec ts;

	if (retry_after) {
		char *end;
		long s = strtol(retry_after, &end, 10);

		if (end != retry_after && s >= 0 && s < 120)
			ms = s * 1000;
	}
	/* jitter: up to a quarter more */
	pthread_mutex_lock(&r->mu);
	ms += (long)(rand_r(&r->seed) % (unsigned)(ms / 4 + 1));
	pthread_mutex_unlock(&r->mu);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int registry_said(oci_registry *r, const struct rreq *q, const oci_http_resp *resp,
			 const oci_buf *body, ocibuild_error *err)
{
	char *msg = body && body->data ? oci_registry_error(body->data, body->len) : NULL;

	oci_err(err, resp->status == 401 || resp->status == 403 ? OCIBUILD_ERR_AUTH
								  : OCIBUILD_ERR_REGISTRY,
		(int)resp->status, "registry '%s' answered %ld to %s %s%s%s", r->domain,
		resp->status, q->method, q->url, msg ? ": " : "", msg ? msg : "");
	oci_free(msg);
	return -1;
}

static int reg_do(oci_registry *r, oci_http *h, const struct rreq *q, oci_http_resp *resp,
		  ocibuild_error *err)
{
	char *url = resolve_url(r, q->url);
	const char **hdrs = oci_calloc(q->nheaders + 1, sizeof(char *));
	oci_buf authh = OCI_BUF_INIT(1 << 17);
	int attempt = 0, auth_tries = 0, redirects = 0, rc = -1, sent_basic = 0;

	memset(resp, 0, sizeof(*resp));
	if (!url || !hdrs) {
		oci_err_nomem(err);
		goto out;
	}
	for (;;) {
		oci_http_req hq;
		oci_http_fail fail;
		size_t n = q->nheaders;

		if (q->nheaders)
			memcpy(hdrs, q->headers, q->nheaders * sizeof(char *));
		oci_buf_reset(&authh);
		if (same_host(r, url)) {
			const char *tok;

			int hrc = 0;

			pthread_mutex_lock(&r->mu);
			tok = q->scope ? find_token(r, q->scope) : NULL;
			sent_basic = 0;
			if (tok) {
				hrc = oci_buf_printf(&authh, NULL, "Authorization: Bearer %s", tok);
			} else if (r->basic) {
				hrc = oci_buf_printf(&authh, NULL, "Authorization: %s", r->basic);
				sent_basic = 1;
			}
			pthread_mutex_unlock(&r->mu);
			if (hrc < 0) {
				oci_err_nomem(err);
				goto out;
			}
			if (authh.len)
				hdrs[n++] = authh.data;
		}
		memset(&hq, 0, sizeof(hq));
		hq.method = q->method;
		hq.url = url;
		hq.headers = hdrs;
		hq.nheaders = n;
		hq.body = q->body;
		hq.body_fd = q->body_fd;
		hq.body_off = q->body_off;
		hq.body_len = q->body_len;
		hq.out = q->out;
		hq.out_sink = q->out_sink;
		hq.progress = q->progress;
		hq.progress_userdata = q->progress_userdata;
		if (q->out)
			oci_buf_reset(q->out);
		oci_http_resp_release(resp);
		if (oci_http_do(h, &hq, resp, &fail, err) < 0) {
			int fixed;

			if (err->kind == OCIBUILD_ERR_CANCELLED)
				goto out;
			pthread_mutex_lock(&r->mu);
			fixed = r->scheme_fixed;
			if (fail == OCI_HTTP_NOT_TLS && r->may_plain && same_host(r, url) &&
			    !strncmp(url, "https://", 8) &&
			    (!fixed || !strcmp(r->scheme, "http"))) {
				/* the server does not speak TLS at all: plain HTTP is
				 * allowed for this host, so use it from now on (another
				 * thread may have found out first) */
				r->scheme = "http";
				r->scheme_fixed = 1;
				pthread_mutex_unlock(&r->mu);
				oci_free(url);
				url = resolve_url(r, q->url);
				if (!url) {
					oci_err_nomem(err);
					goto out;
				}
				continue;
			}
			pthread_mutex_unlock(&r->mu);
			if (fail == OCI_HTTP_TLS_VERIFY) {
				oci_err(err, OCIBUILD_ERR_NETWORK, 0,
					"the TLS certificate of registry '%s' is not trusted: pass --ca-file CA.pem with the CA that signed it",
					r->domain);
				goto out;
			}
			if (fail == OCI_HTTP_NOT_TLS && !r->may_plain) {
				oci_err(err, OCIBUILD_ERR_NETWORK, 0,
					"registry '%s' does not speak TLS: if it is a plain-HTTP registry you trust, pass --insecure-registry %s",
					r->domain, r->domain);
				goto out;
			}
			if (fail == OCI_HTTP_CONNECT && !q->out_sink && attempt + 1 < MAX_ATTEMPTS) {
				backoff(r, attempt++, NULL);
				continue;
			}
			oci_err_prefix(err, "cannot reach registry '%s'", r->domain);
			goto out;
		}
		pthread_mutex_lock(&r->mu);
		r->scheme_fixed = 1;
		pthread_mutex_unlock(&r->mu);
		if (resp->status == 401 && same_host(r, url)) {
			int again = on_unauthorized(r, h, resp->www_authenticate, q->scope, auth_tries,
						    sent_basic, err);

			if (again < 0)
				goto out;
			auth_tries++;
			continue;
		}
		if ((resp->status == 429 || resp->status >= 500) && !q->out_sink &&
		    attempt + 1 < MAX_ATTEMPTS) {
			backoff(r, attempt++, resp->retry_after);
			continue;
		}
		if (q->follow && resp->status >= 300 && resp->status < 400 && resp->location &&
		    redirects < 5) {
			char *next = resolve_url(r, resp->location);

			if (!next) {
				oci_err_nomem(err);
				goto out;
			}
			oci_free(url);
			url = next;
			redirects++;
			continue;
		}
		/* failures that were retried leave nothing behind */
		ocibuild_error_clear(err);
		rc = 0;
		break;
	}
out:
	oci_buf_release(&authh);
	oci_free(hdrs);
	oci_free(url);
	if (rc < 0)
		oci_http_resp_release(resp);
	return rc;
}

/* "/v2/<repo>/<kind>/<ref>" */
static char *v2_path(const char *repo, const char *kind, const char *ref)
{
	oci_buf p = OCI_BUF_INIT(1 << 16);

	if (oci_buf_printf(&p, NULL, "/v2/%s/%s/%s", repo, kind, ref) < 0)
		return NULL;
	return oci_buf_detach(&p, NULL);
}

static char *scope_for(const oci_registry *r, const char *repo, const char *from)
{
	oci_buf s = OCI_BUF_INIT(4096);

	if (oci_buf_printf(&s, NULL, "repository:%s:%s", repo, r->o.push ? "pull,push" : "pull") < 0)
		return NULL;
	if (from && oci_buf_printf(&s, NULL, " repository:%s:pull", from) < 0)
		return NULL;
	return oci_buf_detach(&s, NULL);
}

int oci_reg_get_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 oci_buf *out, char *digest_out, char **media_type, ocibuild_error *err)
{
	static const char *const hdrs[] = { ACCEPT_MANIFESTS };
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, "manifests", ref), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	*media_type = NULL;
	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "GET", path, scope);
	q.headers = hdrs;
	q.nheaders = 1;
	out->max = OCI_MAX_MANIFEST;
	q.out = out;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status == 404) {
		oci_err(err, OCIBUILD_ERR_INPUT, 404, "image '%s/%s:%s' was not found in the registry",
			r->domain, repo, ref);
		oci_http_resp_release(&resp);
		goto out;
	}
	if (resp.status != 200) {
		registry_said(r, &q, &resp, out, err);
		oci_http_resp_release(&resp);
		goto out;
	}
	if (oci_sha256_buf(out->data ? out->data : "", out->len, digest_out, err) < 0) {
		oci_http_resp_release(&resp);
		goto out;
	}
	if (oci_digest_valid(ref) && strcmp(ref, digest_out)) {
		oci_err(err, OCIBUILD_ERR_DIGEST, 0,
			"registry '%s' sent a manifest for %s whose digest is %s: refusing it",
			r->domain, ref, digest_out);
		oci_http_resp_release(&resp);
		goto out;
	}
	if (out->data && oci_json_media_type(out->data, out->len, media_type, err) < 0) {
		oci_http_resp_release(&resp);
		goto out;
	}
	if (!*media_type && resp.content_type &&
	    !(*media_type = oci_strndup(resp.content_type, strcspn(resp.content_type, ";")))) {
		oci_err_nomem(err);
		oci_http_resp_release(&resp);
		goto out;
	}
	oci_http_resp_release(&resp);
	rc = 0;
out:
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_put_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 const char *media_type, const void *data, size_t len,
			 ocibuild_error *err)
{
	oci_buf ct = OCI_BUF_INIT(4096), body = OCI_BUF_INIT(MAX_ERROR_BODY);
	const char *hdrs[1];
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, "manifests", ref), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	if (!path || !scope || oci_buf_printf(&ct, err, "Content-Type: %s", media_type) < 0) {
		if (!path || !scope)
			oci_err_nomem(err);
		goto out;
	}
	hdrs[0] = ct.data;
	rreq_init(&q, "PUT", path, scope);
	q.headers = hdrs;
	q.nheaders = 1;
	q.body = data;
	q.body_len = len;
	q.out = &body;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status != 201 && resp.status != 200)
		registry_said(r, &q, &resp, &body, err);
	else
		rc = 0;
	oci_http_resp_release(&resp);
out:
	oci_buf_release(&ct);
	oci_buf_release(&body);
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_manifest_head(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			  int *found, char *digest_out, ocibuild_error *err)
{
	static const char *const hdrs[] = { ACCEPT_MANIFESTS };
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, "manifests", ref), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	*found = 0;
	digest_out[0] = '\0';
	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "HEAD", path, scope);
	q.headers = hdrs;
	q.nheaders = 1;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status == 200) {
		*found = 1;
		if (resp.docker_content_digest && oci_digest_valid(resp.docker_content_digest))
			memcpy(digest_out, resp.docker_content_digest, OCI_DIGEST_LEN + 1);
	} else if (resp.status != 404) {
		registry_said(r, &q, &resp, NULL, err);
	}
	rc = resp.status == 200 || resp.status == 404 ? 0 : -1;
	oci_http_resp_release(&resp);
out:
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_blob_exists(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			int *exists, ocibuild_error *err)
{
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, "blobs", digest), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	*exists = 0;
	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "HEAD", path, scope);
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status == 200)
		*exists = 1;
	else if (resp.status != 404)
		registry_said(r, &q, &resp, NULL, err);
	rc = resp.status == 200 || resp.status == 404 ? 0 : -1;
	oci_http_resp_release(&resp);
out:
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_mount(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		  const char *from, int *mounted, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(1 << 16);
	struct rreq q;
	oci_http_resp resp;
	char *scope = scope_for(r, repo, from), *efrom = oci_http_escape(from);
	int rc = -1;

	*mounted = 0;
	if (!scope || !efrom ||
	    oci_buf_printf(&path, err, "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest,
			   efrom) < 0) {
		if (!scope || !efrom)
			oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "POST", path.data, scope);
	if (reg_do(r, h, &q, &resp, err) < 0) {
		/* mounting is best effort: an upload follows */
		if (err->kind == OCIBUILD_ERR_CANCELLED)
			goto out;
		ocibuild_error_clear(err);
		rc = 0;
		goto out;
	}
	*mounted = resp.status == 201;
	if (resp.status == 202 && resp.location) {
		/* the registry opened an upload instead: close it */
		struct rreq d;
		oci_http_resp dr;

		rreq_init(&d, "DELETE", resp.location, scope);
		if (reg_do(r, h, &d, &dr, err) == 0)
			oci_http_resp_release(&dr);
		ocibuild_error_clear(err);
	}
	oci_http_resp_release(&resp);
	rc = 0;
out:
	oci_buf_release(&path);
	oci_free(scope);
	oci_free(efrom);
	return rc;
}

struct up_progress {
	oci_registry *r;
	const char *digest;
	uint64_t size, base;
};

static void on_up_progress(void *ud, uint64_t done)
{
	struct up_progress *p = ud;

	if (p->r->o.ctx)
		oci_progress(p->r->o.ctx, OCIBUILD_EV_BLOB_PROGRESS, p->digest, (int64_t)p->size,
			     p->base + done, NULL);
}

/* Where an open upload stands: the offset to continue from, or -1 when
 * the session is gone. */
static int64_t upload_offset(oci_registry *r, oci_http *h, const char *location,
			     const char *scope, char **new_location, ocibuild_error *err)
{
	struct rreq q;
	oci_http_resp resp;
	int64_t off = -1;

	rreq_init(&q, "GET", location, scope);
	if (reg_do(r, h, &q, &resp, err) < 0) {
		ocibuild_error_clear(err);
		return -1;
	}
	if (resp.status == 204) {
		const char *dash = resp.range ? strchr(resp.range, '-') : NULL;

		off = dash ? strtoll(dash + 1, NULL, 10) + 1 : 0;
		if (resp.location) {
			*new_location = resp.location;
			resp.location = NULL;
		}
	}
	oci_http_resp_release(&resp);
	return off;
}

static int upload_once(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		       int fd, uint64_t size, uint64_t chunk, const char *scope,
		       int *retryable, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(1 << 16), body = OCI_BUF_INIT(MAX_ERROR_BODY);
	oci_buf hdr1 = OCI_BUF_INIT(256), hdr2 = OCI_BUF_INIT(256);
	static const char *const put_hdrs[1] = { "Content-Type: application/octet-stream" };
	struct up_progress prog = { r, digest, size, 0 };
	char *location = NULL;
	struct rreq q;
	oci_http_resp resp;
	uint64_t off = 0;
	int rc = -1, resumes = 0;

	*retryable = 0;
	if (oci_buf_printf(&path, err, "/v2/%s/blobs/uploads/", repo) < 0)
		return -1;
	rreq_init(&q, "POST", path.data, scope);
	q.out = &body;
	/* a connection failure here was already retried by reg_do */
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status != 202 || !resp.location) {
		registry_said(r, &q, &resp, &body, err);
		oci_http_resp_release(&resp);
		goto out;
	}
	location = resp.location;
	resp.location = NULL;
	oci_http_resp_release(&resp);
	if (chunk && size > chunk) {
		while (off < size) {
			uint64_t n = size - off < chunk ? size - off : chunk;
			const char *hdrs[2];
			int64_t at;

			oci_buf_reset(&hdr1);
			oci_buf_reset(&hdr2);
			oci_buf_printf(&hdr1, NULL, "Content-Range: %llu-%llu",
				       (unsigned long long)off, (unsigned long long)(off + n - 1));
			oci_buf_puts(&hdr2, "Content-Type: application/octet-stream", NULL);
			hdrs[0] = hdr1.data;
			hdrs[1] = hdr2.data;
			rreq_init(&q, "PATCH", location, scope);
			q.headers = hdrs;
			q.nheaders = 2;
			q.body_fd = fd;
			q.body_off = off;
			q.body_len = n;
			q.out = &body;
			q.progress = on_up_progress;
			q.progress_userdata = &prog;
			prog.base = off;
			if (reg_do(r, h, &q, &resp, err) == 0 && resp.status == 202) {
				off += n;
				if (resp.location) {
					oci_free(location);
					location = resp.location;
					resp.location = NULL;
				}
				oci_http_resp_release(&resp);
				continue;
			}
			if (err->kind == OCIBUILD_ERR_CANCELLED)
				goto out;
			if (err->kind != OCIBUILD_ERR_NETWORK && err->kind != OCIBUILD_ERR_NONE) {
				goto out;
			}
			if (err->kind == OCIBUILD_ERR_NONE) {
				registry_said(r, &q, &resp, &body, err);
				oci_http_resp_release(&resp);
				*retryable = resp.status >= 500;
				goto out;
			}
			/* the connection dropped: ask where the upload stands */
			if (++resumes > 3) {
				*retryable = 1;
				goto out;
			}
			backoff(r, resumes, NULL);
			ocibuild_error_clear(err);
			{
				char *nl = NULL;

				at = upload_offset(r, h, location, scope, &nl, err);
				if (nl) {
					oci_free(location);
					location = nl;
				}
			}
			if (at < 0) {
				/* the session is gone (registry restarted): start over */
				oci_err(err, OCIBUILD_ERR_NETWORK, 0,
					"the upload of %s to '%s' was lost", digest, r->domain);
				*retryable = 1;
				goto out;
			}
			off = (uint64_t)at;
			oci_log(r->o.ctx, OCIBUILD_LOG_INFO, "resuming %.19s at byte %llu", digest,
				(unsigned long long)off);
		}
	}
	oci_buf_reset(&path);
	if (oci_buf_printf(&path, err, "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?",
			   digest) < 0)
		goto out;
	{
		rreq_init(&q, "PUT", path.data, scope);
		q.headers = put_hdrs;
		q.nheaders = 1;
		q.body_fd = fd;
		q.body_off = off;
		q.body_len = size - off;
		q.out = &body;
		q.progress = on_up_progress;
		q.progress_userdata = &prog;
		prog.base = off;
	}
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status != 201) {
		registry_said(r, &q, &resp, &body, err);
		*retryable = resp.status >= 500;
		oci_http_resp_release(&resp);
		goto out;
	}
	oci_http_resp_release(&resp);
	rc = 0;
out:
	oci_free(location);
	oci_buf_release(&path);
	oci_buf_release(&body);
	oci_buf_release(&hdr1);
	oci_buf_release(&hdr2);
	return rc;
}

int oci_reg_upload(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		   const char *path, uint64_t size, uint64_t chunk, ocibuild_error *err)
{
	char *scope = scope_for(r, repo, NULL);
	int fd = open(path, O_RDONLY | O_CLOEXEC), attempt, rc = -1;

	if (!scope) {
		if (fd >= 0)
			close(fd);
		return oci_err_nomem(err);
	}
	if (fd < 0) {
		oci_err_errno(err, errno, "cannot read blob '%s': %s", path, strerror(errno));
		goto out;
	}
	for (attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		int retryable;

		ocibuild_error_clear(err);
		if (upload_once(r, h, repo, digest, fd, size, chunk, scope, &retryable, err) == 0) {
			rc = 0;
			break;
		}
		if (!retryable)
			break;
		backoff(r, attempt, NULL);
	}
out:
	if (fd >= 0)
		close(fd);
	oci_free(scope);
	return rc;
}

struct dl_progress {
	oci_registry *r;
	const char *digest;
	int64_t size;
};

static void on_dl_progress(void *ud, uint64_t done)
{
	struct dl_progress *p = ud;

	if (p->r->o.ctx)
		oci_progress(p->r->o.ctx, OCIBUILD_EV_BLOB_PROGRESS, p->digest, p->size, done, NULL);
}

int oci_reg_get_blob(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		     int64_t size, const char *store, ocibuild_error *err)
{
	char *path = v2_path(repo, "blobs", digest), *scope = scope_for(r, repo, NULL);
	struct dl_progress prog = { r, digest, size };
	char *retry_after = NULL;
	int attempt, rc = -1;

	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_blobs_prepare(store, err) < 0)
		goto out;
	for (attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		oci_blob_tmp t;
		oci_file_sink fs;
		oci_hash_sink hs;
		struct rreq q;
		oci_http_resp resp;
		oci_buf ebody = OCI_BUF_INIT(MAX_ERROR_BODY);
		char got[OCI_DIGEST_LEN + 1];
		int ok = 0, net = 0;

		ocibuild_error_clear(err);
		if (oci_blobs_begin(store, &t, err) < 0)
			goto out;
		if (oci_file_sink_init(&fs, t.fd, t.path, err) < 0 ||
		    oci_hash_sink_init(&hs, &fs.base, err) < 0) {
			oci_blobs_abort(&t);
			goto out;
		}
		rreq_init(&q, "GET", path, scope);
		q.out = &ebody;
		q.out_sink = &hs.base;
		q.follow = 1;
		q.progress = on_dl_progress;
		q.progress_userdata = &prog;
		if (reg_do(r, h, &q, &resp, err) == 0) {
			if (resp.status == 200 && oci_file_sink_flush(&fs, err) == 0) {
				oci_hash_sink_final(&hs, got);
				if (strcmp(got, digest) != 0 || (size >= 0 && (int64_t)hs.count != size))
					oci_err(err, OCIBUILD_ERR_DIGEST, 0,
						"blob %s from '%s/%s' does not match its digest (got %s): refusing it",
						digest, r->domain, repo, got);
				else
					ok = 1;
			} else if (resp.status != 200) {
				registry_said(r, &q, &resp, &ebody, err);
				net = resp.status >= 500 || resp.status == 429;
				if (net && resp.retry_after) {
					oci_free(retry_after);
					retry_after = resp.retry_after;
					resp.retry_after = NULL;
				}
			}
			oci_http_resp_release(&resp);
		} else {
			net = err->kind == OCIBUILD_ERR_NETWORK;
		}
		oci_hash_sink_release(&hs);
		oci_file_sink_release(&fs);
		oci_buf_release(&ebody);
		if (ok) {
			rc = oci_blobs_commit(store, &t, digest, 0, err);
			goto out;
		}
		oci_blobs_abort(&t);
		if (!net)
			goto out;
		backoff(r, attempt, retry_after);
	}
out:
	oci_free(retry_after);
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_check_login(oci_registry *r, const char *user, const char *password,
			ocibuild_error *err)
{
	oci_http *h = NULL;
	struct rreq q;
	oci_http_resp resp;
	int rc = -1;

	oci_cred_release(&r->cred);
	r->cred.username = oci_strdup(user);
	r->cred.password = oci_strdup(password);
	r->cred.source = oci_strdup("the given user and password");
	r->cred_loaded = 1;
	if (!r->cred.username || !r->cred.password || !r->cred.source)
		return oci_err_nomem(err);
	if (oci_reg_http(r, &h, err) < 0)
		return -1;
	rreq_init(&q, "GET", "/v2/", "");
	if (reg_do(r, h, &q, &resp, err) == 0) {
		if (resp.status == 200)
			rc = 0;
		else
			oci_err(err, OCIBUILD_ERR_AUTH, (int)resp.status,
				"registry '%s' refused the login (%ld)", r->domain, resp.status);
		oci_http_resp_release(&resp);
	}
	oci_http_free(h);
	return rc;
}
