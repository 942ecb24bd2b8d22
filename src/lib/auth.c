/* Reads docker's and podman's auth files with jansson, like the oci module. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "auth.h"
#include "blobstore.h"
#include "digest.h"
#include "buf.h"
#include "ctx.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

#define MAX_AUTH_FILE (4u << 20)

const char *oci_sys_getenv(const char *n)
{
	return getenv(n);
}

void oci_cred_release(oci_cred *c)
{
	if (c->password)
		memset(c->password, 0, strlen(c->password));
	if (c->identity_token)
		memset(c->identity_token, 0, strlen(c->identity_token));
	oci_free(c->username);
	oci_free(c->password);
	oci_free(c->identity_token);
	oci_free(c->source);
	memset(c, 0, sizeof(*c));
}

static int set_cred(oci_cred *c, const char *user, const char *pass, const char *idtoken,
		    const char *source, ocibuild_error *err)
{
	oci_cred_release(c);
	c->username = user ? oci_strdup(user) : NULL;
	c->password = pass ? oci_strdup(pass) : NULL;
	c->identity_token = idtoken ? oci_strdup(idtoken) : NULL;
	c->source = oci_strdup(source);
	if ((user && !c->username) || (pass && !c->password) || (idtoken && !c->identity_token) ||
	    !c->source) {
		oci_cred_release(c);
		return oci_err_nomem(err);
	}
	return 0;
}

char *oci_auth_basic_header(const char *user, const char *pass)
{
	oci_buf up = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), h = OCI_BUF_INIT(OCI_AUTH_MAX_HEADER);
	char *enc;

	if (oci_buf_printf(&up, NULL, "%s:%s", user ? user : "", pass ? pass : "") < 0)
		return NULL;
	enc = oci_b64_encode((const unsigned char *)up.data, up.len);
	memset(up.data, 0, up.len);
	oci_buf_release(&up);
	if (!enc || oci_buf_printf(&h, NULL, "Basic %s", enc) < 0) {
		oci_free(enc);
		return NULL;
	}
	oci_free(enc);
	return oci_buf_detach(&h, NULL);
}

/* Keys a docker config may use for a registry. */
static int key_matches(const char *key, const char *domain)
{
	const char *k = key;
	size_t dl = strlen(domain);

	if (!strncmp(k, "https://", 8))
		k += 8;
	else if (!strncmp(k, "http://", 7))
		k += 7;
	if (!strcmp(domain, "docker.io") &&
	    (!strncmp(k, "index.docker.io", 15) || !strncmp(k, "registry-1.docker.io", 20) ||
	     !strncmp(k, "docker.io", 9)))
		return k[strcspn(k, "/")] == '\0' || k[strcspn(k, "/")] == '/';
	return !strncmp(k, domain, dl) && (k[dl] == '\0' || k[dl] == '/');
}

/* Read an auth file, opened without blocking and refused unless it is a
 * regular file: a FIFO or a device there must not hang or feed us forever.
 * *missing is set, and nothing read, when path does not exist. */
static int read_auth_file(const char *path, oci_buf *b, int *missing, ocibuild_error *err)
{
	struct stat st;
	int fd, rc = -1;

	*missing = 0;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*missing = 1;
			return 0;
		}
		return oci_err_errno(err, errno, "cannot read '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		oci_err_errno(err, errno, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		oci_err(err, OCIBUILD_ERR_AUTH, 0,
			"'%s' is not a regular file: replace it with a JSON file or remove it", path);
		goto out;
	}
	for (;;) {
		char tmp[65536];
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			oci_err_errno(err, errno, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > MAX_AUTH_FILE) {
			oci_err(err, OCIBUILD_ERR_AUTH, 0,
				"'%s' is larger than %u bytes: that is no auth file; fix or remove it",
				path, MAX_AUTH_FILE);
			goto out;
		}
		if (oci_buf_append(b, tmp, (size_t)n, err) < 0)
			goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

static json_t *parse_json(const char *text, size_t len, const char *path, ocibuild_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(text ? text : "", len, 0, &je);

	if (!j) {
		oci_err(err, OCIBUILD_ERR_AUTH, 0, "'%s' is not valid JSON (line %d): fix or remove it",
			path, je.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		oci_err(err, OCIBUILD_ERR_AUTH, 0, "'%s' is not a JSON object: fix or remove it", path);
		return NULL;
	}
	return j;
}

static json_t *load_json_file(const char *path, ocibuild_error *err, int *missing)
{
	oci_buf b = OCI_BUF_INIT(MAX_AUTH_FILE);
	json_t *j = NULL;

	if (read_auth_file(path, &b, missing, err) == 0 && !*missing)
		j = parse_json(b.data, b.len, path, err);
	memset(b.data, 0, b.len);
	oci_buf_release(&b);
	return j;
}

/* An "auths" entry: {"auth": base64(user:pass)} or {"identitytoken": ...}. */
static int from_auths(json_t *cfg, const char *domain, const char *source, oci_cred *c,
		      int *found, ocibuild_error *err)
{
	json_t *auths = json_object_get(cfg, "auths"), *v;
	const char *k;

	*found = 0;
	if (!json_is_object(auths))
		return 0;
	json_object_foreach(auths, k, v) {
		const char *a, *tok;
		size_t n;
		char *dec, *colon;
		int rc;

		if (!key_matches(k, domain) || !json_is_object(v))
			continue;
		a = json_string_value(json_object_get(v, "auth"));
		tok = json_string_value(json_object_get(v, "identitytoken"));
		if (!a || !*a) {
			const char *u = json_string_value(json_object_get(v, "username"));
			const char *p = json_string_value(json_object_get(v, "password"));

			if (!tok && !(u && p))
				continue;
			*found = 1;
			return set_cred(c, u, p, tok, source, err);
		}
		dec = oci_b64_decode(a, &n);
		colon = dec ? strchr(dec, ':') : NULL;
		if (!colon) {
			oci_free(dec);
			return oci_err(err, OCIBUILD_ERR_AUTH, 0,
				       "the credentials for '%s' in %s are not base64 of user:password: log in again",
				       domain, source);
		}
		*colon = '\0';
		*found = 1;
		rc = set_cred(c, dec, colon + 1, tok, source, err);
		memset(dec, 0, n);
		oci_free(dec);
		return rc;
	}
	return 0;
}

/* ---- credential helpers ---- */

/* A helper is someone else's program: it gets a time limit, can be
 * interrupted through the context, runs in its own process group (so that
 * whatever it started dies with it) and may answer at most this much. */
#define HELPER_TIMEOUT_S 30
#define HELPER_TIMEOUT_MAX_S 86400
#define MAX_HELPER_OUTPUT (1u << 20)
/* how often the cancel callback is asked while a helper runs */
#define HELPER_POLL_MS 100

static int helper_timeout(oci_getenv_fn env, long *secs, ocibuild_error *err)
{
	const char *v = env("OCIBUILD_CRED_HELPER_TIMEOUT");
	char *end;
	unsigned long long n;

	*secs = HELPER_TIMEOUT_S;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || errno || *end || n < 1 || n > HELPER_TIMEOUT_MAX_S)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "OCIBUILD_CRED_HELPER_TIMEOUT='%.32s' is not a number of seconds from 1 to %d: fix or unset it",
			       v, HELPER_TIMEOUT_MAX_S);
	*secs = (long)n;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stop a helper that has not been reaped yet, and everything in its group. */
static void helper_kill(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Run `prog action` with input on its stdin; its stdout and stderr go to out
 * (at most MAX_HELPER_OUTPUT bytes). 0 when it ran to its end (exit status
 * in *status); -1 when it could not be started, took longer than the time
 * limit, answered too much or the context's cancel callback asked to stop:
 * then it and its process group are killed. The answer is taken as soon as
 * the helper itself has exited, even if a process it left behind still holds
 * its stdout. */
static int helper_run(ocibuild_ctx *ctx, oci_getenv_fn env, const char *prog,
		      const char *action, const char *input, size_t inlen, oci_buf *out,
		      int *status, ocibuild_error *err)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, rc = -1, exited = 0, i;
	size_t off = 0;
	long secs;
	long long deadline;
	pid_t pid = -1;

	*status = 0;
	if (helper_timeout(env, &secs, err) < 0)
		return -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		oci_err_errno(err, errno, "cannot run %s: %s", prog, strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		oci_err_errno(err, errno, "cannot run %s: %s", prog, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		setpgid(0, 0);
		/* the caller may ignore SIGPIPE or block signals: the helper
		 * gets the defaults */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(in[0], 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		execlp(prog, prog, action, (char *)NULL);
		_exit(127);
	}
	/* also here, so that a kill of the group cannot miss a helper that
	 * has not run setpgid yet */
	setpgid(pid, pid);
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	if (!inlen) {
		close(in[1]);
		in[1] = -1;
	}
	deadline = now_ms() + secs * 1000;
	for (;;) {
		struct pollfd pf[2];
		nfds_t n = 0;
		long long left;
		int w, reading = outp[0] >= 0;

		if (ctx && oci_ctx_stop(ctx)) {
			oci_err(err, OCIBUILD_ERR_CANCELLED, 0, "interrupted while %s was running",
				prog);
			goto kill;
		}
		if (!exited) {
			w = waitpid(pid, status, WNOHANG);
			if (w == pid)
				exited = 1;
			else if (w < 0 && errno != EINTR) {
				oci_err_errno(err, errno, "cannot wait for %s: %s", prog, strerror(errno));
				goto kill;
			}
		}
		if (exited && !reading)
			break;
		left = deadline - now_ms();
		if (!exited && left <= 0) {
			oci_err(err, OCIBUILD_ERR_AUTH, ETIMEDOUT,
				"the credential helper %s did not finish within %ld s: fix it, or allow it more time with OCIBUILD_CRED_HELPER_TIMEOUT=SECONDS",
				prog, secs);
			goto kill;
		}
		if (reading) {
			pf[n].fd = outp[0];
			pf[n].events = POLLIN;
			n++;
		}
		if (in[1] >= 0) {
			pf[n].fd = in[1];
			pf[n].events = POLLOUT;
			n++;
		}
		/* once the helper has exited, take what it wrote and no more:
		 * a process it left behind may hold the pipe open forever */
		if (poll(pf, n, exited ? 0 : (int)(left < HELPER_POLL_MS ? left : HELPER_POLL_MS)) < 0 &&
		    errno != EINTR) {
			oci_err_errno(err, errno, "cannot wait for %s: %s", prog, strerror(errno));
			goto kill;
		}
		if (in[1] >= 0) {
			ssize_t k = write(in[1], input + off, inlen - off);

			if (k > 0)
				off += (size_t)k;
			/* EPIPE: the helper does not read its input; its exit
			 * status says why (SIGPIPE is the caller's to ignore) */
			if (off == inlen || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (reading) {
			char tmp[4096];
			ssize_t k = read(outp[0], tmp, sizeof(tmp));

			if (k > 0 && out->len + (size_t)k > MAX_HELPER_OUTPUT) {
				oci_err(err, OCIBUILD_ERR_AUTH, 0,
					"the credential helper %s answered more than %u bytes: fix it or remove it from your docker config",
					prog, MAX_HELPER_OUTPUT);
				goto kill;
			}
			if (k > 0 && oci_buf_append(out, tmp, (size_t)k, err) < 0)
				goto kill;
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR) ||
			    (k < 0 && exited)) {
				close(outp[0]);
				outp[0] = -1;
			}
		}
	}
	rc = 0;
	goto out;
kill:
	if (!exited)
		helper_kill(pid);
out:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return rc;
}

/* The helper's "not installed" and "failed" errors. */
static int helper_failed(const char *prog, int status, const char *what, const char *domain,
			 ocibuild_error *err)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return oci_err(err, OCIBUILD_ERR_AUTH, 0,
			       "the credential helper '%s' named in your docker config is not installed: install it or remove it from the config",
			       prog);
	if (WIFEXITED(status))
		return oci_err(err, OCIBUILD_ERR_AUTH, 0, "%s failed to %s the credentials for '%s' (exit %d)",
			       prog, what, domain, WEXITSTATUS(status));
	return oci_err(err, OCIBUILD_ERR_AUTH, 0, "%s failed to %s the credentials for '%s' (signal %d)",
		       prog, what, domain, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The server name helpers know a registry by. */
static const char *helper_server(const char *domain)
{
	return !strcmp(domain, "docker.io") ? "https://index.docker.io/v1/" : domain;
}

/* docker-credential-<name> get, with the server on stdin. */
static int helper_get(ocibuild_ctx *ctx, oci_getenv_fn env, const char *name,
		      const char *domain, oci_cred *c, int *found, ocibuild_error *err)
{
	oci_buf prog = OCI_BUF_INIT(OCI_MAX_TEXT), out = OCI_BUF_INIT(MAX_HELPER_OUTPUT + 1),
		src = OCI_BUF_INIT(OCI_MAX_TEXT);
	const char *server = helper_server(domain);
	int status, rc = -1;
	json_t *j = NULL;
	json_error_t je;

	*found = 0;
	if (oci_buf_printf(&prog, err, "docker-credential-%s", name) < 0 ||
	    oci_buf_printf(&src, err, "credential helper %s", prog.data) < 0)
		goto out;
	if (helper_run(ctx, env, prog.data, "get", server, strlen(server), &out, &status, err) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* "credentials not found" means: nothing stored for this server */
		if (WIFEXITED(status) && WEXITSTATUS(status) != 127 &&
		    strstr(out.data, "not found")) {
			rc = 0;
			goto out;
		}
		helper_failed(prog.data, status, "get", domain, err);
		goto out;
	}
	j = json_loadb(out.data, out.len, 0, &je);
	if (!json_is_object(j)) {
		oci_err(err, OCIBUILD_ERR_AUTH, 0, "%s answered something that is not JSON",
			prog.data);
		goto out;
	}
	{
		const char *u = json_string_value(json_object_get(j, "Username"));
		const char *s = json_string_value(json_object_get(j, "Secret"));

		*found = 1;
		if (u && !strcmp(u, "<token>"))
			rc = set_cred(c, NULL, NULL, s, src.data, err);
		else
			rc = set_cred(c, u, s, NULL, src.data, err);
	}
out:
	memset(out.data, 0, out.len);
	json_decref(j);
	oci_buf_release(&prog);
	oci_buf_release(&out);
	oci_buf_release(&src);
	return rc;
}

/* docker-credential-<name> store, with {ServerURL, Username, Secret} on
 * stdin, as `docker login` does. */
static int helper_store(ocibuild_ctx *ctx, oci_getenv_fn env, const char *name,
			const char *domain, const char *user, const char *password,
			ocibuild_error *err)
{
	oci_buf prog = OCI_BUF_INIT(OCI_MAX_TEXT), out = OCI_BUF_INIT(MAX_HELPER_OUTPUT + 1);
	json_t *j = json_object(), *u = json_string(user), *p = json_string(password);
	char *in = NULL;
	int status, rc = -1;

	if (j && (!u || !p)) {
		oci_err(err, OCIBUILD_ERR_OPTION, 0,
			"the user name or password for '%s' is not UTF-8 text, which credential helpers need",
			domain);
		goto out;
	}
	if (!j || json_object_set_new(j, "ServerURL", json_string(helper_server(domain))) < 0 ||
	    json_object_set(j, "Username", u) < 0 || json_object_set(j, "Secret", p) < 0 ||
	    !(in = json_dumps(j, JSON_COMPACT))) {
		oci_err_nomem(err);
		goto out;
	}
	if (oci_buf_printf(&prog, err, "docker-credential-%s", name) < 0 ||
	    helper_run(ctx, env, prog.data, "store", in, strlen(in), &out, &status, err) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		helper_failed(prog.data, status, "store", domain, err);
		goto out;
	}
	rc = 0;
out:
	if (in) {
		memset(in, 0, strlen(in));
		free(in);
	}
	json_decref(u);
	json_decref(p);
	json_decref(j);
	memset(out.data, 0, out.len);
	oci_buf_release(&prog);
	oci_buf_release(&out);
	return rc;
}

static char *docker_config_path(oci_getenv_fn env)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	const char *d = env("DOCKER_CONFIG"), *home = env("HOME");

	if (d && *d) {
		if (oci_buf_printf(&b, NULL, "%s/config.json", d) < 0)
			return NULL;
	} else if (home && *home) {
		if (oci_buf_printf(&b, NULL, "%s/.docker/config.json", home) < 0)
			return NULL;
	} else {
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

/* The helper config.json names for domain: its credHelpers entry (then
 * *per_host is set), else credsStore; NULL for none. Points into cfg. */
static const char *config_helper(json_t *cfg, const char *domain, int *per_host)
{
	json_t *helpers = json_object_get(cfg, "credHelpers"), *v;
	const char *k, *helper = NULL;

	*per_host = 0;
	if (json_is_object(helpers))
		json_object_foreach(helpers, k, v)
			if (key_matches(k, domain) && json_is_string(v) && *json_string_value(v))
				helper = json_string_value(v);
	if (helper) {
		*per_host = 1;
		return helper;
	}
	v = json_object_get(cfg, "credsStore");
	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

int oci_auth_config_parse(const char *text, size_t len, const char *path, const char *domain,
			  const char *source, oci_cred *c, int *found, char **helper,
			  ocibuild_error *err)
{
	json_t *cfg, *helpers;
	const char *h = NULL;
	int rc = 0;

	*found = 0;
	if (helper)
		*helper = NULL;
	cfg = parse_json(text, len, path, err);
	if (!cfg)
		return -1;
	helpers = helper ? json_object_get(cfg, "credHelpers") : NULL;
	if (json_is_object(helpers)) {
		const char *k;
		json_t *v;

		json_object_foreach(helpers, k, v)
			if (key_matches(k, domain) && json_is_string(v) && *json_string_value(v))
				h = json_string_value(v);
	}
	if (!h) {
		rc = from_auths(cfg, domain, source, c, found, err);
		if (helper && rc == 0 && !*found)
			h = json_string_value(json_object_get(cfg, "credsStore"));
		if (h && !*h)
			h = NULL;
	}
	if (h && rc == 0) {
		*helper = oci_strdup(h);
		if (!*helper)
			rc = oci_err_nomem(err);
	}
	json_decref(cfg);
	return rc;
}

static int from_docker_config(ocibuild_ctx *ctx, const char *domain, oci_getenv_fn env,
			      oci_cred *c, int *found, ocibuild_error *err)
{
	char *path = docker_config_path(env), *helper = NULL;
	oci_buf b = OCI_BUF_INIT(MAX_AUTH_FILE);
	int missing, rc;

	*found = 0;
	if (!path)
		return 0;
	rc = read_auth_file(path, &b, &missing, err);
	if (rc == 0 && !missing)
		rc = oci_auth_config_parse(b.data, b.len, path, domain, "docker config.json", c,
					   found, &helper, err);
	oci_buf_release(&b);
	if (rc == 0 && helper)
		rc = helper_get(ctx, env, helper, domain, c, found, err);
	oci_free(helper);
	oci_free(path);
	return rc;
}

static int from_podman(const char *domain, oci_getenv_fn env, oci_cred *c, int *found,
		       ocibuild_error *err)
{
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), b = OCI_BUF_INIT(MAX_AUTH_FILE);
	const char *f = env("REGISTRY_AUTH_FILE"), *rt = env("XDG_RUNTIME_DIR");
	int missing, rc;

	*found = 0;
	if (f && *f)
		rc = oci_buf_puts(&p, f, err);
	else if (rt && *rt)
		rc = oci_buf_printf(&p, err, "%s/containers/auth.json", rt);
	else
		return 0;
	if (rc == 0)
		rc = read_auth_file(p.data, &b, &missing, err);
	if (rc == 0 && !missing)
		rc = oci_auth_config_parse(b.data, b.len, p.data, domain, "containers auth.json", c,
					   found, NULL, err);
	oci_buf_release(&b);
	oci_buf_release(&p);
	return rc;
}

int oci_auth_lookup(const char *domain, int push, oci_getenv_fn env, oci_cred *c,
		    ocibuild_error *err)
{
	return oci_auth_lookup_ctx(NULL, domain, push, env, c, err);
}

int oci_auth_lookup_ctx(ocibuild_ctx *ctx, const char *domain, int push, oci_getenv_fn env,
			oci_cred *c, ocibuild_error *err)
{
	const char *u, *p;
	int found = 0;

	memset(c, 0, sizeof(*c));
	if (!env)
		env = oci_sys_getenv;
	u = env(push ? "OCIBUILD_PUSH_USERNAME" : "OCIBUILD_PULL_USERNAME");
	p = env(push ? "OCIBUILD_PUSH_PASSWORD" : "OCIBUILD_PULL_PASSWORD");
	if (u && *u && p)
		return set_cred(c, u, p, NULL,
				push ? "OCIBUILD_PUSH_USERNAME/PASSWORD" : "OCIBUILD_PULL_USERNAME/PASSWORD",
				err);
	if (from_docker_config(ctx, domain, env, c, &found, err) < 0)
		return -1;
	if (found)
		return 0;
	if (from_podman(domain, env, c, &found, err) < 0)
		return -1;
	if (found)
		return 0;
	p = env("GITHUB_TOKEN");
	if (!strcmp(domain, "ghcr.io") && p && *p) {
		u = env("GITHUB_ACTOR");
		return set_cred(c, u && *u ? u : "token", p, NULL, "GITHUB_TOKEN", err);
	}
	return set_cred(c, NULL, NULL, NULL, "anonymous", err);
}

/* ---- challenges ---- */

void oci_challenge_release(oci_challenge *c)
{
	oci_free(c->realm);
	oci_free(c->service);
	oci_free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* A parameter value that could not be kept whole: never use part of it. */
static int value_failed(oci_buf *v, oci_challenge *c, ocibuild_error *err)
{
	size_t max = v->max;
	int full = v->len >= max;

	oci_buf_release(v);
	oci_challenge_release(c);
	if (!full)
		return oci_err_nomem(err);
	return oci_err(err, OCIBUILD_ERR_AUTH, 0,
		       "the registry's WWW-Authenticate header has a parameter longer than %zu bytes: it cannot be used to log in",
		       max);
}

int oci_challenge_parse(const char *h, oci_challenge *c, ocibuild_error *err)
{
	const char *p = h;

	memset(c, 0, sizeof(*c));
	if (!h)
		return 0;
	while (*p == ' ')
		p++;
	if (!strncasecmp(p, "Basic", 5) && (p[5] == ' ' || p[5] == '\0'))
		c->scheme = OCI_AUTH_BASIC;
	else if (!strncasecmp(p, "Bearer", 6) && (p[6] == ' ' || p[6] == '\0'))
		c->scheme = OCI_AUTH_BEARER;
	else
		return 0;
	p += c->scheme == OCI_AUTH_BASIC ? 5 : 6;
	while (*p) {
		const char *k, *eq;
		oci_buf v = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
		char **dst = NULL;
		size_t kl;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		k = p;
		eq = strchr(p, '=');
		if (!eq)
			break;
		kl = (size_t)(eq - k);
		p = eq + 1;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (oci_buf_append(&v, p, 1, NULL) < 0)
					return value_failed(&v, c, err);
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != ' ') {
				if (oci_buf_append(&v, p, 1, NULL) < 0)
					return value_failed(&v, c, err);
				p++;
			}
		}
		if (kl == 5 && !strncasecmp(k, "realm", 5))
			dst = &c->realm;
		else if (kl == 7 && !strncasecmp(k, "service", 7))
			dst = &c->service;
		else if (kl == 5 && !strncasecmp(k, "scope", 5))
			dst = &c->scope;
		if (dst) {
			oci_free(*dst);
			*dst = oci_buf_detach(&v, NULL);
			if (!*dst) {
				oci_challenge_release(c);
				return oci_err_nomem(err);
			}
		}
		oci_buf_release(&v);
	}
	return 0;
}

int oci_auth_parse_token(const char *json, size_t len, char **token, long *expires_in,
			 ocibuild_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(json, len, 0, &je);
	const char *t;
	json_t *e;

	*token = NULL;
	*expires_in = 60;
	if (!json_is_object(j)) {
		json_decref(j);
		return oci_err(err, OCIBUILD_ERR_AUTH, 0, "the token server answered something that is not JSON");
	}
	t = json_string_value(json_object_get(j, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(j, "access_token"));
	e = json_object_get(j, "expires_in");
	/* a token server's word on its lifetime is trusted up to a day, so
	 * callers can add it to a time without overflow */
	if (json_is_integer(e) && json_integer_value(e) > 0)
		*expires_in = json_integer_value(e) > OCI_TOKEN_MAX_LIFETIME ?
				      OCI_TOKEN_MAX_LIFETIME : (long)json_integer_value(e);
	if (!t || !*t) {
		json_decref(j);
		return oci_err(err, OCIBUILD_ERR_AUTH, 0, "the token server answered without a token");
	}
	*token = oci_strdup(t);
	json_decref(j);
	return *token ? 0 : oci_err_nomem(err);
}

/* Where writing path lands: the end of its chain of symlinks (which may not
 * exist yet), so that a symlinked config.json stays a symlink (heap). */
static char *link_target(const char *path, ocibuild_error *err)
{
	char *cur = oci_strdup(path);
	int hops;

	if (!cur) {
		oci_err_nomem(err);
		return NULL;
	}
	for (hops = 0;; hops++) {
		oci_buf next = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
		char tmp[4096], *slash;
		struct stat st;
		ssize_t n;

		if (lstat(cur, &st) < 0 || !S_ISLNK(st.st_mode))
			return cur;
		if (hops >= 40) {
			oci_err(err, OCIBUILD_ERR_AUTH, ELOOP,
				"'%s' is a chain of more than 40 symlinks: point it at a file", path);
			break;
		}
		n = readlink(cur, tmp, sizeof(tmp));
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			oci_err_errno(err, n < 0 ? errno : ENAMETOOLONG, "cannot read symlink '%s': %s",
				      cur, strerror(n < 0 ? errno : ENAMETOOLONG));
			break;
		}
		slash = strrchr(cur, '/');
		if (tmp[0] == '/' || !slash)
			n = oci_buf_printf(&next, err, "%.*s", (int)n, tmp);
		else
			n = oci_buf_printf(&next, err, "%.*s/%.*s", (int)(slash - cur), cur, (int)n, tmp);
		if (n < 0)
			break;
		oci_free(cur);
		cur = oci_buf_detach(&next, NULL);
	}
	oci_free(cur);
	return NULL;
}

int oci_auth_login(ocibuild_ctx *ctx, const char *domain, const char *user,
		   const char *password, oci_getenv_fn env, ocibuild_error *err)
{
	char *path, *target = NULL, *dir, *slash, *enc = NULL, *s = NULL;
	oci_buf up = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	json_t *cfg, *auths, *entry;
	int missing, rc = -1, per_host;
	const char *key = helper_server(domain), *helper;

	if (!env)
		env = oci_sys_getenv;
	path = docker_config_path(env);
	if (!path)
		return oci_err(err, OCIBUILD_ERR_AUTH, 0, "neither DOCKER_CONFIG nor HOME is set");
	cfg = load_json_file(path, err, &missing);
	if (!cfg && !missing)
		goto out;
	if (!cfg)
		cfg = json_object();
	auths = json_object_get(cfg, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(cfg, "auths", auths);
	}
	entry = json_object();
	if (!entry) {
		oci_err_nomem(err);
		goto out;
	}
	json_object_set_new(auths, key, entry);
	/* with a credential store, as `docker login`: the password goes to the
	 * helper and config.json only says that there is a login */
	helper = config_helper(cfg, domain, &per_host);
	if (helper) {
		if (helper_store(ctx, env, helper, domain, user, password, err) < 0)
			goto out;
	} else {
		if (oci_buf_printf(&up, err, "%s:%s", user, password) < 0)
			goto out;
		enc = oci_b64_encode((const unsigned char *)up.data, up.len);
		if (!enc) {
			oci_err_nomem(err);
			goto out;
		}
		json_object_set_new(entry, "auth", json_string(enc));
	}
	s = json_dumps(cfg, JSON_INDENT(1) | JSON_SORT_KEYS);
	target = link_target(path, err);
	if (!target)
		goto out;
	dir = oci_strdup(target);
	if (!s || !dir) {
		oci_free(dir);
		oci_err_nomem(err);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = slash && *dir ? oci_mkdirs(dir, 0700, err) : 0;
	oci_free(dir);
	if (rc == 0)
		rc = oci_write_file_mode(target, s, strlen(s), 0600, 1, err);
out:
	memset(up.data, 0, up.len);
	oci_buf_release(&up);
	if (enc)
		memset(enc, 0, strlen(enc));
	oci_free(enc);
	if (s)
		memset(s, 0, strlen(s));
	free(s);
	json_decref(cfg);
	oci_free(target);
	oci_free(path);
	return rc;
}
