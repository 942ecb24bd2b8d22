#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
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

/* err->code of a failure because an answer passed its size cap */
#define ERR_CODE_TOO_BIG 413
/* registry text in a message is cut here */
#define CLEAN_TEXT_MAX 300u
#define MAX_TOKEN_BODY (1 << 20)
/* Retries: one budget per request, or per blob across its upload sessions,
 * and one for the whole command (the registry object). */
#define RETRY_TRIES 6                 /* retries of one request or one blob */
#define RETRY_SLEEP_MS (120 * 1000)   /* time slept for one request or blob */
#define RETRY_COMMAND_MS (600 * 1000) /* time slept by the whole command */
#define RETRY_AFTER_MAX_S 30          /* a Retry-After is honoured up to this */
/* Time limits of one exchange (OCIBUILD_REQUEST_TIMEOUT replaces both). */
#define TIMEOUT_DOCUMENT_S 120
#define TIMEOUT_BLOB_S 3600
/* Tokens: expiry as given, within these bounds */
#define TOKEN_MIN_S 60
#define TOKEN_MAX_S (24 * 3600)
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
	ocibuild_error cred_err; /* the lookup failed: told again, not redone */
	pthread_mutex_t mu;
	char *basic; /* "Basic ..." once the registry asked for Basic */
	int basic_refused;
	struct token *tokens;
	size_t ntokens;
	unsigned seed;
	long slept_ms; /* by every retry of this command, under mu */
};

/* What retrying one request (or one blob) may still cost. */
struct budget {
	int tries;
	long slept_ms;
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
		oci_reg_release(r);
		return oci_err_nomem(err);
	}
	r->may_plain = host_is_local(r->host);
	for (i = 0; i < o->insecure.count; i++)
		if (!strcmp(o->insecure.items[i], domain) || !strcmp(o->insecure.items[i], r->host))
			r->may_plain = 1;
	*out = r;
	return 0;
}

void oci_reg_release(oci_registry *r)
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
	ocibuild_error_clear(&r->cred_err);
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
	ho.cancel = r->o.ctx ? oci_ctx_stop : NULL;
	ho.cancel_userdata = r->o.ctx;
	return oci_http_new(h, &ho, err);
}

/* ---- URLs ---- */

static char *base_url(oci_registry *r)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);

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
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
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

/* The origin of an absolute URL as "scheme://host:port", the port made
 * explicit, so that two spellings of one origin compare equal. */
static int url_origin(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://"), *h, *end, *port = NULL;
	size_t sl, hl;
	int n;

	if (!p)
		return -1;
	sl = (size_t)(p - url);
	h = p + 3;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return -1;
		hl = (size_t)(rb + 1 - h);
		if (rb + 1 < end && rb[1] == ':')
			port = rb + 2;
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));

		hl = (size_t)((colon ? colon : end) - h);
		if (colon)
			port = colon + 1;
	}
	if (!hl || memchr(h, '@', (size_t)(end - h)))
		return -1; /* user information: never ours */
	n = snprintf(out, len, "%.*s://%.*s:%.*s", (int)sl, url, (int)hl, h,
		     port ? (int)(end - port) : 3,
		     port ? port : (sl == 5 && !strncasecmp(url, "https", 5) ? "443" : "80"));
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Does the URL point at the registry itself, on the scheme it speaks (so
 * that its credentials may go there)? */
static int origin_is(oci_registry *r, const char *scheme, const char *url)
{
	char mine[1024], theirs[1024], base[1024];
	int n = snprintf(base, sizeof(base), "%s://%s/", scheme, r->host);

	if (n < 0 || (size_t)n >= sizeof(base) || url_origin(base, mine, sizeof(mine)) < 0 ||
	    url_origin(url, theirs, sizeof(theirs)) < 0)
		return 0;
	return !strcasecmp(mine, theirs);
}

static int same_origin(oci_registry *r, const char *url)
{
	const char *scheme;

	pthread_mutex_lock(&r->mu);
	scheme = r->scheme;
	pthread_mutex_unlock(&r->mu);
	return origin_is(r, scheme, url);
}

/* A URL for a message: no query or fragment (upload URLs carry signed
 * state there) and no user information. */
static char *url_for_humans(const char *url)
{
	const char *p = strstr(url, "://"), *at;
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);

	if (p) {
		const char *h = p + 3, *end = h + strcspn(h, "/?#");

		at = memchr(h, '@', (size_t)(end - h));
		if (oci_buf_append(&b, url, (size_t)(h - url), NULL) < 0)
			goto fail;
		url = at ? at + 1 : h;
	}
	if (oci_buf_append(&b, url, strcspn(url, "?#"), NULL) < 0)
		goto fail;
	return oci_buf_detach(&b, NULL);
fail:
	oci_buf_release(&b);
	return NULL;
}

/* HTTPS to plain HTTP is never followed: not for the registry's own host
 * (the credentials would travel in clear) and not for another (the bytes
 * could be changed on the way, and the next hop may ask for credentials). */
static int refuse_downgrade(oci_registry *r, const char *url, ocibuild_error *err)
{
	char origin[1024];
	int tls;

	pthread_mutex_lock(&r->mu);
	tls = !strcmp(r->scheme, "https");
	pthread_mutex_unlock(&r->mu);
	if (!tls || strncasecmp(url, "http://", 7))
		return 0;
	if (url_origin(url, origin, sizeof(origin)) < 0)
		snprintf(origin, sizeof(origin), "http://...");
	return oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
		       "registry '%s' sent ocibuild to plain HTTP at '%s': refusing to leave HTTPS (credentials and content would travel in clear)",
		       r->domain, origin);
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

/* Called with r->mu held. A lookup that failed (a credential helper that
 * failed, timed out or was interrupted) is not redone by the next request
 * or upload worker: its error is given again. */
static int load_cred(oci_registry *r, ocibuild_error *err)
{
	if (r->cred_loaded)
		return 0;
	if (r->cred_err.kind)
		return oci_err(err, r->cred_err.kind, r->cred_err.code, "%s", r->cred_err.message);
	if (oci_auth_lookup_ctx(r->o.ctx, r->domain, r->o.push, r->o.env, &r->cred, err) < 0) {
		if (err->kind != OCIBUILD_ERR_NOMEM && err->message) {
			r->cred_err.message = oci_strdup(err->message);
			if (r->cred_err.message) {
				r->cred_err.kind = err->kind;
				r->cred_err.code = err->code;
			}
		}
		return -1;
	}
	r->cred_loaded = 1;
	return 0;
}

static int store_token(oci_registry *r, const char *scope, char *value, long expires_in,
		       ocibuild_error *err)
{
	struct token *v;
	time_t expires;
	size_t i;

	/* whatever the token service says, within sane bounds, and renewed a
	 * little early */
	if (expires_in < TOKEN_MIN_S)
		expires_in = TOKEN_MIN_S;
	if (expires_in > TOKEN_MAX_S)
		expires_in = TOKEN_MAX_S;
	expires = time(NULL) + expires_in - 10;
	for (i = 0; i < r->ntokens; i++) {
		if (!strcmp(r->tokens[i].scope, scope)) {
			oci_free(r->tokens[i].value);
			r->tokens[i].value = value;
			r->tokens[i].expires = expires;
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
	v[r->ntokens].expires = expires;
	r->ntokens++;
	return 0;
}

/* A token realm gets the user's credentials: it must be HTTPS, unless the
 * registry itself is one that may speak plain HTTP and does. Called with
 * r->mu held. */
static int check_realm(oci_registry *r, const char *realm, ocibuild_error *err)
{
	char *shown;
	int plain_ok;

	if (!strncasecmp(realm, "https://", 8))
		return 0;
	plain_ok = r->may_plain && !strcmp(r->scheme, "http");
	if (!strncasecmp(realm, "http://", 7) && plain_ok)
		return 0;
	shown = url_for_humans(realm);
	if (!shown)
		return oci_err_nomem(err);
	oci_err(err, OCIBUILD_ERR_AUTH, 0,
		strncasecmp(realm, "http://", 7)
			? "registry '%s' names the token realm '%s', which is not an HTTPS URL: refusing to send credentials there"
			: "registry '%s' names the plain-HTTP token realm '%s': refusing to send credentials there (a token service must use HTTPS unless the registry is plain HTTP itself and allowed with --insecure-registry)",
		r->domain, shown);
	oci_free(shown);
	return -1;
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
	oci_buf url = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), body = OCI_BUF_INIT(MAX_TOKEN_BODY);
	oci_buf form = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	oci_http_req q;
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
	if (check_realm(r, ch->realm, err) < 0)
		return -1;
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
		char *basic = oci_auth_basic_header(r->cred.username, r->cred.password);
		oci_buf a = OCI_BUF_INIT(OCI_AUTH_MAX_HEADER);

		if (!basic || oci_buf_printf(&a, err, "Authorization: %s", basic) < 0) {
			if (!basic)
				oci_err_nomem(err);
			oci_free(basic);
			goto out;
		}
		memset(basic, 0, strlen(basic));
		oci_free(basic);
		auth = oci_buf_detach(&a, NULL);
	}
	/* one exchange: with an OAuth2 refresh token from `docker login`, POST
	 * the grant; else GET, with Basic credentials when there are some */
	memset(&q, 0, sizeof(q));
	q.body_fd = -1;
	q.out = &body;
	if (r->cred.identity_token) {
		char *tok = oci_http_escape(r->cred.identity_token);
		int frc = tok ? oci_buf_printf(&form, err,
					      "grant_type=refresh_token&client_id=ocibuild&refresh_token=%s%s%s",
					      tok, svc ? "&service=" : "", svc ? svc : "")
			      : oci_err_nomem(err);

		if (tok)
			memset(tok, 0, strlen(tok));
		oci_free(tok);
		if (frc < 0 || append_scopes(&form, scope, 1, err) < 0)
			goto out;
		hdrs[0] = "Content-Type: application/x-www-form-urlencoded";
		q.method = "POST";
		q.url = ch->realm;
		q.body = form.data;
		q.body_len = form.len;
	} else {
		hdrs[0] = auth;
		q.method = "GET";
		q.url = url.data;
	}
	q.headers = hdrs;
	q.nheaders = hdrs[0] ? 1 : 0;
	if (oci_http_do(h, &q, &resp, &fail, err) < 0) {
		oci_err_prefix(err, "cannot get a token for '%s'", r->domain);
		goto out;
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
	if (oci_auth_parse_token(body.data, body.len, &token, &expires, err) < 0)
		goto out;
	rc = store_token(r, scope, token, expires, err);
out:
	if (auth)
		memset(auth, 0, strlen(auth));
	oci_free(auth);
	oci_free(svc);
	memset(body.data, 0, body.len);
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
	oci_http_req http; /* url: a path on the registry or an absolute URL */
	const char *scope;
	int follow;
	int no_auth; /* a 401 is an answer, not a reason to authenticate */
	struct budget *budget; /* shared by the requests of one blob, or NULL */
};

static void rreq_init(struct rreq *q, const char *method, const char *url, const char *scope)
{
	memset(q, 0, sizeof(*q));
	q->http.method = method;
	q->http.url = url;
	q->http.body_fd = -1;
	q->scope = scope;
}

/* Sleep before retry number `tries` (from 1), within the request's (or
 * blob's) budget and the command's. Returns 0 having slept, or -1 when
 * either budget is spent or the user cancelled. */
static int backoff(oci_registry *r, struct budget *b, const char *retry_after)
{
	long ms = 250L << (b->tries < 6 ? b->tries : 6), slept = 0;
	ocibuild_ctx *ctx = r->o.ctx;

	if (retry_after) {
		char *end;
		long s;

		errno = 0;
		s = strtol(retry_after, &end, 10);
		if (end != retry_after && !errno && s >= 0)
			ms = (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000L;
	}
	pthread_mutex_lock(&r->mu);
	/* jitter: up to a quarter more */
	ms += (long)(rand_r(&r->seed) % (unsigned)(ms / 4 + 1));
	if (b->tries >= RETRY_TRIES || b->slept_ms + ms > RETRY_SLEEP_MS ||
	    r->slept_ms + ms > RETRY_COMMAND_MS) {
		pthread_mutex_unlock(&r->mu);
		return -1;
	}
	r->slept_ms += ms;
	pthread_mutex_unlock(&r->mu);
	b->tries++;
	b->slept_ms += ms;
	/* in short steps, so that Ctrl-C is not kept waiting */
	while (slept < ms) {
		long step = ms - slept < 100 ? ms - slept : 100;
		struct timespec ts = { 0, step * 1000000L };

		if (ctx && oci_ctx_stop(ctx))
			return -1;
		nanosleep(&ts, NULL);
		slept += step;
	}
	return 0;
}

/* The error for a spent budget, keeping the last failure's text. */
static int budget_spent(oci_registry *r, const struct budget *b, const char *what,
			ocibuild_error *err)
{
	if (err->kind == OCIBUILD_ERR_CANCELLED || err->kind == OCIBUILD_ERR_NOMEM)
		return -1;
	if (oci_ctx_cancelled(r->o.ctx, err) < 0)
		return -1;
	if (err->kind == OCIBUILD_ERR_NONE)
		oci_err(err, OCIBUILD_ERR_NETWORK, 0, "registry '%s' kept failing", r->domain);
	oci_err_prefix(err, "gave up on %s after %d attempt%s and %ld s of waiting", what,
		       b->tries + 1, b->tries ? "s" : "", (b->slept_ms + 999) / 1000);
	return -1;
}

/* Registry text for a message: control characters become spaces (no forged
 * lines, no terminal escapes), anything after "Basic " or "Bearer " is
 * redacted, and it is cut to a few hundred bytes. */
static char *clean_registry_text(const char *in)
{
	static const char *const secrets[] = { "basic ", "bearer ", "token=", "password=" };
	oci_buf b = OCI_BUF_INIT(2 * CLEAN_TEXT_MAX);
	size_t i, k;

	for (i = 0; in[i] && b.len < CLEAN_TEXT_MAX;) {
		unsigned char c = (unsigned char)in[i];

		for (k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
			size_t n = strlen(secrets[k]);

			if (!strncasecmp(in + i, secrets[k], n)) {
				if (oci_buf_append(&b, in + i, n, NULL) < 0 ||
				    oci_buf_puts(&b, "[redacted]", NULL) < 0)
					goto fail;
				i += n;
				while (in[i] && in[i] != ' ' && in[i] != ',' && in[i] != '"' &&
				       (unsigned char)in[i] >= 0x20)
					i++;
				break;
			}
		}
		if (k < sizeof(secrets) / sizeof(secrets[0]))
			continue;
		if (oci_buf_append(&b, c < 0x20 || c == 0x7f ? " " : in + i, 1, NULL) < 0)
			goto fail;
		i++;
	}
	if (in[i] && oci_buf_puts(&b, "...", NULL) < 0)
		goto fail;
	return oci_buf_detach(&b, NULL);
fail:
	oci_buf_release(&b);
	return NULL;
}

static int registry_said(oci_registry *r, const struct rreq *q, const oci_http_resp *resp,
			 const oci_buf *body, ocibuild_error *err)
{
	char *raw = body ? oci_registry_error(body->data, body->len) : NULL;
	char *msg = raw ? clean_registry_text(raw) : NULL;
	char *url = url_for_humans(q->http.url);

	oci_err(err, resp->status == 401 || resp->status == 403 ? OCIBUILD_ERR_AUTH
								  : OCIBUILD_ERR_REGISTRY,
		(int)resp->status, "registry '%s' answered %ld to %s %s%s%s", r->domain,
		resp->status, q->http.method, url ? url : "", msg ? ": " : "", msg ? msg : "");
	oci_free(raw);
	oci_free(msg);
	oci_free(url);
	return -1;
}

/* The Authorization header for a request to the registry itself: a token
 * for the scope, else Basic once the registry asked for it. Sets
 * *sent_basic. */
static int add_auth(oci_registry *r, const struct rreq *q, const char *url, oci_buf *authh,
		    int *sent_basic, ocibuild_error *err)
{
	const char *tok;
	int rc = 0;

	oci_buf_reset(authh);
	*sent_basic = 0;
	if (!same_origin(r, url))
		return 0;
	pthread_mutex_lock(&r->mu);
	tok = q->scope ? find_token(r, q->scope) : NULL;
	if (tok) {
		rc = oci_buf_printf(authh, NULL, "Authorization: Bearer %s", tok);
	} else if (r->basic) {
		rc = oci_buf_printf(authh, NULL, "Authorization: %s", r->basic);
		*sent_basic = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return rc < 0 ? oci_err_nomem(err) : 0;
}

enum next { NEXT_FAIL = -1, NEXT_RETRY = 1, NEXT_AGAIN = 2 };

/* After a transport failure: retry after a pause, go again at once (plain
 * HTTP from now on), or fail with the error saying what to do. */
static enum next on_transport_failure(oci_registry *r, const oci_http_req *q,
				      oci_http_fail fail, struct budget *b, ocibuild_error *err)
{
	int switched = 0, ours = origin_is(r, "https", q->url);

	switch (fail) {
	case OCI_HTTP_LOCAL:
		return NEXT_FAIL; /* out of memory, a full disk: said already */
	case OCI_HTTP_TOO_BIG:
		oci_err_prefix(err, "registry '%s'", r->domain);
		err->code = ERR_CODE_TOO_BIG;
		return NEXT_FAIL;
	case OCI_HTTP_TIMEOUT: {
		char *shown = url_for_humans(q->url);

		oci_err(err, OCIBUILD_ERR_NETWORK, 0,
			"registry '%s' did not finish answering %s %s within %ld s: check the network, or raise OCIBUILD_REQUEST_TIMEOUT",
			r->domain, q->method, shown ? shown : "", q->timeout_s);
		oci_free(shown);
		return NEXT_FAIL;
	}
	case OCI_HTTP_NOT_TLS:
		pthread_mutex_lock(&r->mu);
		if (r->may_plain && ours &&
		    (!r->scheme_fixed || !strcmp(r->scheme, "http"))) {
			/* the server does not speak TLS at all and plain HTTP is
			 * allowed for this host: use it from now on (another
			 * thread may have found out first) */
			r->scheme = "http";
			r->scheme_fixed = 1;
			switched = 1;
		}
		pthread_mutex_unlock(&r->mu);
		if (switched) {
			ocibuild_error_clear(err);
			return NEXT_AGAIN;
		}
		if (!r->may_plain) {
			oci_err(err, OCIBUILD_ERR_NETWORK, 0,
				"registry '%s' does not speak TLS: if it is a plain-HTTP registry you trust, pass --insecure-registry %s",
				r->domain, r->domain);
			return NEXT_FAIL;
		}
		break;
	case OCI_HTTP_TLS_VERIFY:
		oci_err(err, OCIBUILD_ERR_NETWORK, 0,
			"the TLS certificate of registry '%s' is not trusted: pass --ca-file CA.pem with the CA that signed it",
			r->domain);
		return NEXT_FAIL;
	case OCI_HTTP_TLS_NAME:
		oci_err(err, OCIBUILD_ERR_NETWORK, 0,
			"the TLS certificate of registry '%s' is signed by a trusted CA but issued for another host name: use the name it was issued for, or reissue it for '%s'",
			r->domain, r->host);
		return NEXT_FAIL;
	case OCI_HTTP_CONNECT:
		/* a streamed download restarts from its caller, with a new file;
		 * a client told not to retry (a cache) gives up at once */
		if (!q->out_sink && !r->o.no_retry) {
			if (backoff(r, b, NULL) == 0) {
				ocibuild_error_clear(err);
				return NEXT_RETRY;
			}
			if (err->kind != OCIBUILD_ERR_CANCELLED && oci_ctx_cancelled(r->o.ctx, err) < 0)
				return NEXT_FAIL;
		}
		break;
	default:
		break;
	}
	if (err->kind == OCIBUILD_ERR_CANCELLED)
		return NEXT_FAIL;
	oci_err_prefix(err, "cannot reach registry '%s'", r->domain);
	return NEXT_FAIL;
}

/* One request to the registry with its authentication, retries (within
 * the budget), the switch to plain HTTP where allowed, and redirects
 * (never from HTTPS to plain HTTP; credentials only to the registry's own
 * scheme, host and port). */
static int reg_do(oci_registry *r, oci_http *h, const struct rreq *q, oci_http_resp *resp,
		  ocibuild_error *err)
{
	char *url = resolve_url(r, q->http.url);
	const char **hdrs = oci_calloc(q->http.nheaders + 1, sizeof(char *));
	oci_buf authh = OCI_BUF_INIT(OCI_AUTH_MAX_HEADER);
	struct budget own = { 0, 0 }, *b = q->budget ? q->budget : &own;
	int auth_tries = 0, redirects = 0, rc = -1, sent_basic = 0;

	memset(resp, 0, sizeof(*resp));
	if (!url || !hdrs) {
		oci_err_nomem(err);
		goto out;
	}
	for (;;) {
		oci_http_req hq = q->http;
		oci_http_fail fail;
		size_t n = q->http.nheaders;

		if (refuse_downgrade(r, url, err) < 0)
			goto out;
		if (n)
			memcpy(hdrs, q->http.headers, n * sizeof(char *));
		hq.url = url;
		if (add_auth(r, q, url, &authh, &sent_basic, err) < 0)
			goto out;
		if (authh.len)
			hdrs[n++] = authh.data;
		hq.headers = hdrs;
		hq.nheaders = n;
		if (!hq.timeout_s)
			hq.timeout_s = r->o.ctx && r->o.ctx->request_timeout_s
					       ? r->o.ctx->request_timeout_s
				       : hq.out_sink || hq.body_fd >= 0 ? TIMEOUT_BLOB_S
									  : TIMEOUT_DOCUMENT_S;
		if (hq.out)
			oci_buf_reset(hq.out);
		oci_http_resp_release(resp);
		if (oci_http_do(h, &hq, resp, &fail, err) < 0) {
			enum next next = on_transport_failure(r, &hq, fail, b, err);

			if (next == NEXT_FAIL)
				goto out;
			if (next == NEXT_AGAIN) {
				oci_free(url);
				url = resolve_url(r, q->http.url);
				if (!url) {
					oci_err_nomem(err);
					goto out;
				}
			}
			continue;
		}
		pthread_mutex_lock(&r->mu);
		r->scheme_fixed = 1;
		pthread_mutex_unlock(&r->mu);
		if (resp->status == 401 && !q->no_auth && same_origin(r, url)) {
			if (on_unauthorized(r, h, resp->www_authenticate, q->scope, auth_tries,
					    sent_basic, err) < 0)
				goto out;
			auth_tries++;
			continue;
		}
		if ((resp->status == 429 || resp->status >= 500) && !q->http.out_sink &&
		    backoff(r, b, resp->retry_after) == 0)
			continue;
		if (oci_ctx_cancelled(r->o.ctx, err) < 0)
			goto out;
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
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);

	if (oci_buf_printf(&p, NULL, "/v2/%s/%s/%s", repo, kind, ref) < 0)
		return NULL;
	return oci_buf_detach(&p, NULL);
}

static char *scope_for(const oci_registry *r, const char *repo, const char *from)
{
	oci_buf s = OCI_BUF_INIT(OCI_MAX_TEXT);

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
	q.http.headers = hdrs;
	q.http.nheaders = 1;
	out->max = OCI_MAX_MANIFEST;
	q.http.out = out;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0) {
		if (err->code == ERR_CODE_TOO_BIG) {
			ocibuild_error_clear(err);
			oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
				"manifest '%s' of '%s' from registry '%s' is larger than the %u MiB limit: refusing it",
				ref, repo, r->domain, OCI_MAX_MANIFEST >> 20);
		}
		goto out;
	}
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
	if (oci_sha256_buf(out->data, out->len, digest_out, err) < 0) {
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
	if (oci_json_media_type(out->data, out->len, media_type, err) < 0) {
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

int oci_reg_get_tags(oci_registry *r, oci_http *h, const char *repo, oci_buf *out,
		     ocibuild_error *err)
{
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, "tags", "list"), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "GET", path, scope);
	out->max = OCI_MAX_TAGS_LIST;
	q.http.out = out;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0) {
		if (err->code == ERR_CODE_TOO_BIG) {
			ocibuild_error_clear(err);
			oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
				"the tag list of '%s' from registry '%s' is larger than the %u MiB limit: refusing it",
				repo, r->domain, OCI_MAX_TAGS_LIST >> 20);
		}
		goto out;
	}
	if (resp.status != 200)
		registry_said(r, &q, &resp, out, err);
	else
		rc = 0;
	oci_http_resp_release(&resp);
out:
	oci_free(path);
	oci_free(scope);
	return rc;
}

static int put_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			const char *media_type, const void *data, size_t len, int *subject_ack,
			ocibuild_error *err)
{
	oci_buf ct = OCI_BUF_INIT(OCI_MAX_TEXT), body = OCI_BUF_INIT(OCI_HTTP_MAX_ERROR_BODY);
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
	q.http.headers = hdrs;
	q.http.nheaders = 1;
	q.http.body = data;
	q.http.body_len = len;
	q.http.out = &body;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status != 201 && resp.status != 200)
		registry_said(r, &q, &resp, &body, err);
	else
		rc = 0;
	if (subject_ack)
		*subject_ack = rc == 0 && resp.oci_subject && *resp.oci_subject;
	oci_http_resp_release(&resp);
out:
	oci_buf_release(&ct);
	oci_buf_release(&body);
	oci_free(path);
	oci_free(scope);
	return rc;
}

int oci_reg_put_manifest(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 const char *media_type, const void *data, size_t len,
			 ocibuild_error *err)
{
	return put_manifest(r, h, repo, ref, media_type, data, len, NULL, err);
}

int oci_reg_put_referrer(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			 const char *media_type, const void *data, size_t len, int *subject_ack,
			 ocibuild_error *err)
{
	*subject_ack = 0;
	return put_manifest(r, h, repo, ref, media_type, data, len, subject_ack, err);
}

int oci_reg_get_referrers(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			  const char *artifact_type, oci_buf *out, int *supported,
			  ocibuild_error *err)
{
	static const char *const hdrs[] = { "Accept: " OCI_MT_INDEX };
	struct rreq q;
	oci_http_resp resp;
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	char *scope = scope_for(r, repo, NULL), *esc = NULL, *mt = NULL;
	int rc = -1;

	*supported = 0;
	if (!scope || (artifact_type && !(esc = oci_http_escape(artifact_type)))) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_buf_printf(&p, err, "/v2/%s/referrers/%s%s%s", repo, digest,
			   esc ? "?artifactType=" : "", esc ? esc : "") < 0)
		goto out;
	rreq_init(&q, "GET", p.data, scope);
	q.http.headers = hdrs;
	q.http.nheaders = 1;
	out->max = OCI_MAX_MANIFEST;
	q.http.out = out;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0) {
		if (err->code != ERR_CODE_TOO_BIG)
			goto out;
		ocibuild_error_clear(err);
		oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
			"the referrers of %s in '%s' from registry '%s' are larger than the %u MiB limit: refusing them",
			digest, repo, r->domain, OCI_MAX_MANIFEST >> 20);
		goto out;
	}
	/* the answer of a registry without the API: 404 (or 400, 405...);
	 * with it: 200 and an image index */
	rc = 0;
	if (resp.status == 200 &&
	    oci_json_media_type(out->data, out->len, &mt, err) < 0)
		rc = -1;
	*supported = rc == 0 && resp.status == 200 && mt && !strcmp(mt, OCI_MT_INDEX);
	oci_http_resp_release(&resp);
out:
	oci_free(mt);
	oci_free(esc);
	oci_free(scope);
	oci_buf_release(&p);
	return rc;
}

/* HEAD /v2/<repo>/<kind>/<ref>: *found for 200, nothing for 404, the
 * registry's answer as the error otherwise; digest_out (may be NULL) gets
 * a valid Docker-Content-Digest. */
static int head_ref(oci_registry *r, oci_http *h, const char *repo, const char *kind,
		    const char *ref, const char *accept, int *found, char *digest_out,
		    ocibuild_error *err)
{
	const char *hdrs[1] = { accept };
	struct rreq q;
	oci_http_resp resp;
	char *path = v2_path(repo, kind, ref), *scope = scope_for(r, repo, NULL);
	int rc = -1;

	*found = 0;
	if (digest_out)
		digest_out[0] = '\0';
	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	rreq_init(&q, "HEAD", path, scope);
	q.http.headers = hdrs;
	q.http.nheaders = accept ? 1 : 0;
	q.follow = 1;
	if (reg_do(r, h, &q, &resp, err) < 0)
		goto out;
	if (resp.status == 200) {
		*found = 1;
		if (digest_out && resp.docker_content_digest &&
		    oci_digest_valid(resp.docker_content_digest))
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

int oci_reg_manifest_head(oci_registry *r, oci_http *h, const char *repo, const char *ref,
			  int *found, char *digest_out, ocibuild_error *err)
{
	return head_ref(r, h, repo, "manifests", ref, ACCEPT_MANIFESTS, found, digest_out, err);
}

int oci_reg_blob_exists(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			int *exists, ocibuild_error *err)
{
	return head_ref(r, h, repo, "blobs", digest, NULL, exists, NULL, err);
}

int oci_reg_mount(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		  const char *from, int *mounted, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
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

/* curl calls its progress function many times a second whether or not a
 * byte moved: an event goes out only when the count changed. */
struct up_progress {
	oci_registry *r;
	const char *digest;
	uint64_t size, base;
	uint64_t last;
	int told;
};

static int progress_moved(uint64_t *last, int *told, uint64_t done)
{
	if (*told && *last == done)
		return 0;
	*last = done;
	*told = 1;
	return 1;
}

static void on_up_progress(void *ud, uint64_t done)
{
	struct up_progress *p = ud;

	if (p->r->o.ctx && progress_moved(&p->last, &p->told, p->base + done))
		oci_progress(p->r->o.ctx, OCIBUILD_EV_BLOB_PROGRESS, p->digest, (int64_t)p->size,
			     p->base + done, NULL);
}

/* An upload session: where it is and what it may still cost. */
struct upload {
	oci_registry *r;
	oci_http *h;
	const char *repo, *digest, *scope;
	int fd;
	uint64_t size, chunk;
	char *location; /* the session's URL, without a fragment */
	struct budget *budget;
	struct up_progress prog;
	oci_buf body; /* error bodies */
};

/* How an upload session ended. */
enum up_status {
	UP_DONE = 0,
	UP_FAILED = -1,  /* err says why; nothing more to try */
	UP_RESTART = -2, /* start a new session (err says why) */
};

/* Keep a Location for the session, its fragment dropped (it is never sent
 * and would swallow the digest parameter). */
static int take_location(struct upload *u, oci_http_resp *resp, ocibuild_error *err)
{
	char *loc = resp->location;

	resp->location = NULL;
	loc[strcspn(loc, "#")] = '\0';
	if (!*loc) {
		oci_free(loc);
		return oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
			       "registry '%s' answered an upload with an empty Location", u->r->domain);
	}
	oci_free(u->location);
	u->location = loc;
	return 0;
}

/* The last byte an upload holds, from "0-N" (or "bytes=0-N"). Returns 0, or
 * -1 when the value is not of that form. */
static int parse_range_end(const char *range, uint64_t *last)
{
	const char *p = range;
	char *end;
	unsigned long long v;

	if (!strncmp(p, "bytes=", 6))
		p += 6;
	if (strncmp(p, "0-", 2) || p[2] < '0' || p[2] > '9')
		return -1;
	errno = 0;
	v = strtoull(p + 2, &end, 10);
	if (errno || *end)
		return -1;
	*last = v;
	return 0;
}

/* Open a session: POST, then the Location to send bytes to. */
static enum up_status upload_open(struct upload *u, ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct rreq q;
	oci_http_resp resp;
	enum up_status st = UP_FAILED;

	if (oci_buf_printf(&path, err, "/v2/%s/blobs/uploads/", u->repo) < 0)
		return UP_FAILED;
	rreq_init(&q, "POST", path.data, u->scope);
	q.http.out = &u->body;
	q.budget = u->budget;
	if (reg_do(u->r, u->h, &q, &resp, err) < 0)
		goto out;
	if (resp.status != 202 || !resp.location) {
		registry_said(u->r, &q, &resp, &u->body, err);
		if (resp.status == 202)
			oci_err_prefix(err, "no Location for the upload of %s", u->digest);
	} else if (take_location(u, &resp, err) == 0) {
		st = UP_DONE;
	}
	oci_http_resp_release(&resp);
out:
	oci_buf_release(&path);
	return st;
}

/* After a dropped PATCH: ask the session where it stands. Sets *off.
 * "0-0" says either nothing or one byte arrived (docker-registry answers
 * it for both), so the session is restarted rather than guessed at. */
static enum up_status upload_where(struct upload *u, uint64_t *off, ocibuild_error *err)
{
	struct rreq q;
	oci_http_resp resp;
	uint64_t last;
	enum up_status st = UP_RESTART;

	rreq_init(&q, "GET", u->location, u->scope);
	q.budget = u->budget;
	if (reg_do(u->r, u->h, &q, &resp, err) < 0) {
		if (err->kind == OCIBUILD_ERR_CANCELLED || err->kind == OCIBUILD_ERR_NOMEM)
			return UP_FAILED;
		return UP_RESTART;
	}
	if (resp.status != 204) {
		/* the session is gone (the registry restarted): start over */
		oci_err(err, OCIBUILD_ERR_NETWORK, 0, "the upload of %s to '%s' was lost", u->digest,
			u->r->domain);
	} else if (!resp.range || !strcmp(resp.range, "0-0") || !strcmp(resp.range, "bytes=0-0")) {
		oci_err(err, OCIBUILD_ERR_NETWORK, 0, "the upload of %s to '%s' was cut off at its start",
			u->digest, u->r->domain);
	} else if (parse_range_end(resp.range, &last) < 0 || last >= u->size) {
		char *shown = clean_registry_text(resp.range);

		oci_err(err, OCIBUILD_ERR_REGISTRY, 0,
			"registry '%s' says the upload of %s holds bytes '%s' of %llu: a wrong upload Range, giving up",
			u->r->domain, u->digest, shown ? shown : "?", (unsigned long long)u->size);
		oci_free(shown);
		st = UP_FAILED;
	} else {
		*off = last + 1;
		st = resp.location && take_location(u, &resp, err) < 0 ? UP_FAILED : UP_DONE;
	}
	oci_http_resp_release(&resp);
	return st;
}

/* Send [*off, size) in PATCH chunks, resuming after dropped connections. */
static enum up_status upload_chunks(struct upload *u, uint64_t *off, ocibuild_error *err)
{
	oci_buf range = OCI_BUF_INIT(OCI_MAX_TEXT);
	enum up_status st = UP_FAILED;

	while (*off < u->size) {
		uint64_t n = u->size - *off < u->chunk ? u->size - *off : u->chunk;
		const char *hdrs[2] = { NULL, "Content-Type: application/octet-stream" };
		struct rreq q;
		oci_http_resp resp;

		oci_buf_reset(&range);
		if (oci_buf_printf(&range, err, "Content-Range: %llu-%llu", (unsigned long long)*off,
				   (unsigned long long)(*off + n - 1)) < 0)
			goto out;
		hdrs[0] = range.data;
		rreq_init(&q, "PATCH", u->location, u->scope);
		q.http.headers = hdrs;
		q.http.nheaders = 2;
		q.http.body_fd = u->fd;
		q.http.body_off = *off;
		q.http.body_len = n;
		q.http.out = &u->body;
		q.http.progress = on_up_progress;
		q.http.progress_userdata = &u->prog;
		q.budget = u->budget;
		u->prog.base = *off;
		if (reg_do(u->r, u->h, &q, &resp, err) == 0) {
			if (resp.status == 202) {
				*off += n;
				if (resp.location && take_location(u, &resp, err) < 0) {
					oci_http_resp_release(&resp);
					goto out;
				}
				oci_http_resp_release(&resp);
				continue;
			}
			registry_said(u->r, &q, &resp, &u->body, err);
			st = resp.status >= 500 ? UP_RESTART : UP_FAILED;
			oci_http_resp_release(&resp);
			goto out;
		}
		if (err->kind != OCIBUILD_ERR_NETWORK)
			goto out;
		/* the connection dropped (reg_do retried what it could): ask
		 * where the upload stands, and go on from there */
		if (backoff(u->r, u->budget, NULL) < 0) {
			budget_spent(u->r, u->budget, u->digest, err);
			goto out;
		}
		ocibuild_error_clear(err);
		st = upload_where(u, off, err);
		if (st != UP_DONE)
			goto out;
		oci_log(u->r->o.ctx, OCIBUILD_LOG_INFO, "resuming %.19s at byte %llu", u->digest,
			(unsigned long long)*off);
		st = UP_FAILED;
	}
	st = UP_DONE;
out:
	oci_buf_release(&range);
	return st;
}

/* Close the session: PUT the rest (or everything) with the digest. */
static enum up_status upload_close(struct upload *u, uint64_t off, ocibuild_error *err)
{
	static const char *const hdrs[1] = { "Content-Type: application/octet-stream" };
	oci_buf url = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	struct rreq q;
	oci_http_resp resp;
	enum up_status st = UP_FAILED;

	if (oci_buf_printf(&url, err, "%s%sdigest=%s", u->location,
			   strchr(u->location, '?') ? "&" : "?", u->digest) < 0)
		return UP_FAILED;
	rreq_init(&q, "PUT", url.data, u->scope);
	q.http.headers = hdrs;
	q.http.nheaders = 1;
	q.http.body_fd = u->fd;
	q.http.body_off = off;
	q.http.body_len = u->size - off;
	q.http.out = &u->body;
	q.http.progress = on_up_progress;
	q.http.progress_userdata = &u->prog;
	q.budget = u->budget;
	u->prog.base = off;
	if (reg_do(u->r, u->h, &q, &resp, err) < 0) {
		st = err->kind == OCIBUILD_ERR_NETWORK ? UP_RESTART : UP_FAILED;
		goto out;
	}
	if (resp.status == 201) {
		st = UP_DONE;
	} else {
		/* a 5xx, or a digest the registry computed otherwise (bytes
		 * lost or doubled by a resume): a new session may do better */
		int bad_digest = resp.status == 400 &&
				 strstr(u->body.data, "DIGEST_INVALID");

		registry_said(u->r, &q, &resp, &u->body, err);
		st = resp.status >= 500 || bad_digest ? UP_RESTART : UP_FAILED;
	}
	oci_http_resp_release(&resp);
out:
	oci_buf_release(&url);
	return st;
}

static enum up_status upload_session(struct upload *u, ocibuild_error *err)
{
	uint64_t off = 0;
	enum up_status st = upload_open(u, err);

	if (st == UP_DONE && u->chunk && u->size > u->chunk)
		st = upload_chunks(u, &off, err);
	if (st == UP_DONE)
		st = upload_close(u, off, err);
	return st;
}

/* u for a blob of repo (digest names it in messages), with no session
 * open and no file yet; 0, or -1 when out of memory. upload_release frees
 * what it holds, also then. */
static int upload_init(struct upload *u, oci_registry *r, oci_http *h, const char *repo,
		       const char *digest, struct budget *b, ocibuild_error *err)
{
	memset(u, 0, sizeof(*u));
	u->r = r;
	u->h = h;
	u->repo = repo;
	u->digest = digest;
	u->fd = -1;
	u->budget = b;
	u->body = (oci_buf)OCI_BUF_INIT(OCI_HTTP_MAX_ERROR_BODY);
	u->scope = scope_for(r, repo, NULL);
	return u->scope ? 0 : oci_err_nomem(err);
}

static void upload_release(struct upload *u)
{
	oci_free((char *)u->scope);
	oci_free(u->location);
	oci_buf_release(&u->body);
}

int oci_reg_upload(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		   const char *path, uint64_t size, uint64_t chunk, ocibuild_error *err)
{
	struct budget b = { 0, 0 };
	struct upload u;
	int rc = -1;

	if (upload_init(&u, r, h, repo, digest, &b, err) < 0)
		goto out;
	u.size = size;
	u.chunk = chunk;
	u.prog = (struct up_progress){ r, digest, size, 0, 0, 0 };
	u.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (u.fd < 0) {
		oci_err_errno(err, errno, "cannot read blob '%s': %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		enum up_status st;

		ocibuild_error_clear(err);
		st = upload_session(&u, err);
		if (st == UP_DONE) {
			rc = 0;
			break;
		}
		if (st == UP_FAILED)
			break;
		/* one budget for every session of this blob */
		if (backoff(r, &b, NULL) < 0) {
			budget_spent(r, &b, digest, err);
			break;
		}
		oci_log(r->o.ctx, OCIBUILD_LOG_INFO, "uploading %.19s again: %s", digest, err->message);
	}
out:
	if (u.fd >= 0)
		close(u.fd);
	upload_release(&u);
	return rc;
}

/* The body of a growing blob's first PATCH: the file, up to a cap. */
struct capped {
	int (*grow)(void *userdata, uint64_t off, uint64_t *end, int *done);
	void *userdata;
	uint64_t cap; /* 0: none */
};

static int capped_grow(void *ud, uint64_t off, uint64_t *end, int *done)
{
	struct capped *c = ud;

	if (c->grow(c->userdata, off, end, done) < 0)
		return -1;
	if (c->cap && *end >= c->cap) {
		*end = c->cap;
		*done = 1;
	}
	return 0;
}

int oci_reg_upload_growing(oci_registry *r, oci_http *h, const char *repo,
			   int (*fd_of)(void *userdata),
			   int (*grow)(void *userdata, uint64_t off, uint64_t *end, int *done),
			   void *userdata, const char *digest, const int64_t *size,
			   uint64_t chunk, ocibuild_error *err)
{
	static const char *const hdrs[1] = { "Content-Type: application/octet-stream" };
	struct budget b = { 0, 0 };
	struct capped c = { grow, userdata, chunk };
	struct upload u;
	struct rreq q;
	oci_http_resp resp;
	uint64_t off = 0, sent = 0;
	int rc = -1, done = 0;

	/* named for messages so until it is made */
	if (upload_init(&u, r, h, repo, "a layer being made", &b, err) < 0)
		goto out;
	/* the session is opened while the file is still empty */
	if (upload_open(&u, err) != UP_DONE)
		goto out;
	if ((u.fd = fd_of(userdata)) < 0 || grow(userdata, 0, &sent, &done) < 0)
		goto not_made;
	/* complete by now and small enough: one PUT with it all */
	if (!(done && (!chunk || sent <= chunk))) {
		rreq_init(&q, "PATCH", u.location, u.scope);
		q.http.headers = hdrs;
		q.http.nheaders = 1;
		q.http.body_fd = u.fd;
		q.http.body_grow = capped_grow;
		q.http.body_grow_userdata = &c;
		q.http.out = &u.body;
		q.budget = &b;
		if (reg_do(r, h, &q, &resp, err) < 0)
			goto out;
		if (resp.status != 202) {
			registry_said(r, &q, &resp, &u.body, err);
			oci_http_resp_release(&resp);
			goto out;
		}
		if (resp.location && take_location(&u, &resp, err) < 0) {
			oci_http_resp_release(&resp);
			goto out;
		}
		oci_http_resp_release(&resp);
		/* what the PATCH held: the file, or its first chunk bytes */
		if (capped_grow(&c, 0, &off, &done) < 0)
			goto not_made;
	}
	/* the rest, once the file is complete and its digest known */
	for (done = 0; !done;)
		if (grow(userdata, off, &sent, &done) < 0)
			goto not_made;
	u.digest = digest;
	u.size = (uint64_t)*size;
	u.chunk = chunk ? chunk : u.size;
	u.prog = (struct up_progress){ r, digest, u.size, 0, 0, 0 };
	if (off < u.size && off && upload_chunks(&u, &off, err) != UP_DONE)
		goto out;
	if (upload_close(&u, off, err) == UP_DONE)
		rc = 0;
	goto out;
not_made:
	oci_err(err, OCIBUILD_ERR_INPUT, 0, "the layer being uploaded was not made");
out:
	upload_release(&u);
	return rc;
}

struct dl_progress {
	oci_registry *r;
	const char *digest;
	int64_t size;
	uint64_t last;
	int told;
};

static void on_dl_progress(void *ud, uint64_t done)
{
	struct dl_progress *p = ud;

	if (p->r->o.ctx && progress_moved(&p->last, &p->told, done))
		oci_progress(p->r->o.ctx, OCIBUILD_EV_BLOB_PROGRESS, p->digest, p->size, done, NULL);
}

/* One GET of a blob into a temp file of the store; *again when a later
 * attempt may succeed. */
static int get_blob_once(oci_registry *r, oci_http *h, const char *repo, const char *digest,
			 int64_t size, const char *path, const char *scope, const char *store,
			 struct budget *b, char **retry_after, int *again, ocibuild_error *err)
{
	struct dl_progress prog = { r, digest, size, 0, 0 };
	oci_buf ebody = OCI_BUF_INIT(OCI_HTTP_MAX_ERROR_BODY);
	char got[OCI_DIGEST_LEN + 1];
	oci_blob_tmp t;
	oci_file_sink fs;
	oci_hash_sink hs;
	struct rreq q;
	oci_http_resp resp;
	int rc = -1;

	*again = 0;
	if (oci_blobs_begin(store, &t, err) < 0)
		return -1;
	if (oci_file_sink_init(&fs, t.fd, t.path, err) < 0 ||
	    oci_hash_sink_init(&hs, &fs.base, err) < 0) {
		oci_blobs_abort(&t);
		return -1;
	}
	rreq_init(&q, "GET", path, scope);
	q.http.out = &ebody;
	q.http.out_sink = &hs.base;
	/* a blob never grows past its descriptor: stop reading there */
	q.http.out_max = size >= 0 ? (uint64_t)size : 0;
	q.http.progress = on_dl_progress;
	q.http.progress_userdata = &prog;
	q.follow = 1;
	q.budget = b;
	if (reg_do(r, h, &q, &resp, err) < 0) {
		if (err->code == ERR_CODE_TOO_BIG) {
			ocibuild_error_clear(err);
			oci_err(err, OCIBUILD_ERR_DIGEST, 0,
				"blob %s from '%s/%s' is larger than the %lld bytes its descriptor says: refusing it",
				digest, r->domain, repo, (long long)size);
		}
		*again = err->kind == OCIBUILD_ERR_NETWORK &&
			 !strstr(err->message, "OCIBUILD_REQUEST_TIMEOUT");
		goto out;
	}
	if (resp.status == 200) {
		if (oci_file_sink_flush(&fs, err) < 0)
			goto out_resp;
		oci_hash_sink_final(&hs, got);
		if (size >= 0 && (int64_t)hs.count != size)
			oci_err(err, OCIBUILD_ERR_DIGEST, 0,
				"blob %s from '%s/%s' is %llu bytes, but its descriptor says %lld: refusing it",
				digest, r->domain, repo, (unsigned long long)hs.count, (long long)size);
		else if (strcmp(got, digest) != 0)
			oci_err(err, OCIBUILD_ERR_DIGEST, 0,
				"blob %s from '%s/%s' does not match its digest (its bytes hash to %s): refusing it",
				digest, r->domain, repo, got);
		else
			rc = 0;
	} else {
		registry_said(r, &q, &resp, &ebody, err);
		*again = resp.status >= 500 || resp.status == 429;
		if (*again && resp.retry_after) {
			oci_free(*retry_after);
			*retry_after = resp.retry_after;
			resp.retry_after = NULL;
		}
	}
out_resp:
	oci_http_resp_release(&resp);
out:
	oci_hash_sink_release(&hs);
	oci_file_sink_release(&fs);
	oci_buf_release(&ebody);
	if (rc == 0)
		return oci_blobs_commit(store, &t, digest, 0, err);
	oci_blobs_abort(&t);
	return -1;
}

int oci_reg_get_blob(oci_registry *r, oci_http *h, const char *repo, const char *digest,
		     int64_t size, const char *store, ocibuild_error *err)
{
	char *path = v2_path(repo, "blobs", digest), *scope = scope_for(r, repo, NULL);
	char *retry_after = NULL;
	struct budget b = { 0, 0 };
	int rc = -1, again;

	if (!path || !scope) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_blobs_prepare(store, err) < 0)
		goto out;
	for (;;) {
		ocibuild_error_clear(err);
		if (get_blob_once(r, h, repo, digest, size, path, scope, store, &b, &retry_after,
				  &again, err) == 0) {
			rc = 0;
			break;
		}
		if (!again)
			break;
		if (backoff(r, &b, retry_after) < 0) {
			budget_spent(r, &b, digest, err);
			break;
		}
	}
out:
	oci_free(retry_after);
	oci_free(path);
	oci_free(scope);
	return rc;
}

/* r speaks scheme from now on, unless another thread settled it first. */
static void settle_scheme(oci_registry *r, const char *scheme)
{
	pthread_mutex_lock(&r->mu);
	if (!r->scheme_fixed) {
		r->scheme = scheme;
		r->scheme_fixed = 1;
	}
	pthread_mutex_unlock(&r->mu);
}

/* Settle r's scheme by oci_http_speaks_tls: 0 when settled, -1 when it
 * could not tell (err says why). */
static int tls_or_plain(oci_registry *r, oci_http *h, ocibuild_error *err)
{
	oci_buf url = OCI_BUF_INIT(OCI_MAX_TEXT);
	oci_http_fail fail;
	int tls;

	if (oci_buf_printf(&url, err, "https://%s/v2/", r->host) < 0)
		return -1;
	tls = oci_http_speaks_tls(h, url.data, &fail, err);
	oci_buf_release(&url);
	if (tls < 0)
		return -1;
	settle_scheme(r, tls ? "https" : "http");
	return 0;
}

int oci_reg_settle(oci_registry *r, oci_http *h, ocibuild_error *err)
{
	ocibuild_error probe = { 0 };
	struct rreq q;
	oci_http_resp resp;
	int known, nomem;

	pthread_mutex_lock(&r->mu);
	known = r->scheme_fixed || !r->may_plain;
	pthread_mutex_unlock(&r->mu);
	if (known)
		return 0;
	/* A TLS handshake alone, unverified, tells a plain-HTTP registry from
	 * a TLS one without loading the CA bundle (which a plain registry
	 * never needs). It only picks the scheme: every request after it is
	 * verified as always, so a TLS registry with a bad certificate is
	 * refused by the first of them, and nothing (no credentials, no
	 * request at all) goes over the unverified connection. */
	if (tls_or_plain(r, h, &probe) == 0)
		return 0;
	nomem = probe.kind == OCIBUILD_ERR_NOMEM;
	ocibuild_error_clear(&probe);
	if (nomem)
		return oci_err_nomem(err);
	/* could not tell (not reachable, ...): the request says why */
	rreq_init(&q, "GET", "/v2/", "");
	q.no_auth = 1;
	if (reg_do(r, h, &q, &resp, err) < 0)
		return -1;
	oci_http_resp_release(&resp);
	return 0;
}

void oci_reg_scheme_from(oci_registry *r, oci_registry *from)
{
	const char *scheme = NULL;

	if (r == from || strcmp(r->host, from->host))
		return;
	pthread_mutex_lock(&from->mu);
	if (from->scheme_fixed)
		scheme = from->scheme;
	pthread_mutex_unlock(&from->mu);
	if (!scheme || (!strcmp(scheme, "http") && !r->may_plain))
		return;
	settle_scheme(r, scheme);
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
	oci_http_release(h);
	return rc;
}
