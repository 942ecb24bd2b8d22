#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vcs.h"
#include "buf.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define GIT_TIMEOUT_MS 3000

/* oci_vcs_normalize_url of a URL without query and fragment; b collects
 * the result. NULL for something else, and with *nomem set when out of
 * memory. */
static char *normalize(const char *url, oci_buf *b, int *nomem)
{
	ocibuild_error e = { 0 };
	char *r;

	const char *host, *path, *at, *p;
	size_t hlen, plen;

	if (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7) ||
	    !strncmp(url, "ssh://", 6) || !strncmp(url, "git://", 6) ||
	    !strncmp(url, "git+ssh://", 10)) {
		host = strstr(url, "://") + 3;
		path = strchr(host, '/');
		if (!path)
			return NULL;
		/* credentials end at the last '@' before the path */
		for (at = NULL, p = host; p < path; p++)
			if (*p == '@')
				at = p;
		if (at)
			host = at + 1;
		hlen = (size_t)(path - host);
		/* drop an ssh port, keep an https one */
		if (strncmp(url, "http", 4)) {
			const char *colon = memchr(host, ':', hlen);

			if (colon)
				hlen = (size_t)(colon - host);
		}
	} else if (strstr(url, "://")) {
		return NULL; /* file://, ftp://...: not a public source */
	} else {
		/* scp-like: [user@]host:path */
		const char *colon = strchr(url, ':');
		const char *slash = strchr(url, '/');

		if (!colon || (slash && slash < colon))
			return NULL;
		at = memchr(url, '@', (size_t)(colon - url));
		host = at ? at + 1 : url;
		hlen = (size_t)(colon - host);
		path = colon + 1;
	}
	while (*path == '/')
		path++;
	plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	if (plen > 4 && !strncmp(path + plen - 4, ".git", 4))
		plen -= 4;
	while (plen && path[plen - 1] == '/')
		plen--;
	if (!hlen || !plen)
		return NULL;
	/* a URL past the cap is not one to record; no memory is an error */
	if (oci_buf_printf(b, &e, "https://%.*s/%.*s", (int)hlen, host, (int)plen, path) < 0) {
		*nomem = e.kind == OCIBUILD_ERR_NOMEM;
		ocibuild_error_clear(&e);
		oci_buf_release(b);
		return NULL;
	}
	r = oci_buf_detach(b, NULL);
	*nomem = !r;
	return r;
}

int oci_vcs_normalize_url(const char *full, char **out, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT), cut = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	size_t n = full ? strcspn(full, "?#") : 0;
	int nomem = 0;

	*out = NULL;
	/* a query or fragment may carry a token (?private_token=...): the
	 * URL ends before them; a longer one is not one to record */
	if (!n || n > cut.max)
		return 0;
	if (oci_buf_append(&cut, full, n, NULL) < 0)
		return oci_err_nomem(err);
	*out = normalize(cut.data, &b, &nomem);
	oci_buf_release(&cut);
	return nomem ? oci_err_nomem(err) : 0;
}

/* Start `git -C dir a1 a2 a3 a4` with its stdout on a pipe: the child's
 * pid and the pipe's read end (non-blocking) in *pid and *fd, or -1. */
static void git_start(const char *dir, const char *a1, const char *a2, const char *a3,
		      const char *a4, pid_t *pid, int *fd)
{
	int pipefd[2];

	*pid = -1;
	*fd = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	*pid = fork();
	if (*pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return;
	}
	if (*pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], 1);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 2);
		}
		execlp("git", "git", "-C", dir, a1, a2, a3, a4, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	*fd = pipefd[0];
}

void oci_vcs_git_start(oci_vcs_git *g, const char *dir, int want_remote)
{
	size_t i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < 2; i++) {
		g->pid[i] = -1;
		g->fd[i] = -1;
	}
	g->started = 1;
	/* HEAD's commit time and hash in one run */
	git_start(dir, "show", "-s", "--format=%ct%n%H", "HEAD", &g->pid[0], &g->fd[0]);
	if (want_remote)
		git_start(dir, "config", "--get", "remote.origin.url", NULL, &g->pid[1],
			  &g->fd[1]);
}

/* Reap run i; its output stands only when it exited 0. */
static void git_reap(oci_vcs_git *g, size_t i, int killed)
{
	int status;

	if (g->fd[i] >= 0)
		close(g->fd[i]);
	g->fd[i] = -1;
	if (g->pid[i] <= 0)
		return;
	if (killed)
		kill(g->pid[i], SIGKILL);
	if (waitpid(g->pid[i], &status, 0) < 0 || killed || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		g->len[i] = 0;
	g->pid[i] = -1;
}

void oci_vcs_git_wait(oci_vcs_git *g)
{
	int waited = 0;
	size_t i;

	for (;;) {
		struct pollfd p[2];
		nfds_t n = 0;
		int rc;

		for (i = 0; i < 2; i++)
			if (g->fd[i] >= 0) {
				p[n].fd = g->fd[i];
				p[n].events = POLLIN;
				n++;
			}
		if (!n || waited >= GIT_TIMEOUT_MS)
			break;
		rc = poll(p, n, 10);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0) {
			waited += 10;
			continue;
		}
		for (i = 0; i < 2; i++) {
			ssize_t got;

			if (g->fd[i] < 0)
				continue;
			got = read(g->fd[i], g->out[i] + g->len[i], sizeof(g->out[i]) - 1 - g->len[i]);
			if (got > 0) {
				g->len[i] += (size_t)got;
				if (g->len[i] < sizeof(g->out[i]) - 1)
					continue;
			} else if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
				continue;
			}
			git_reap(g, i, 0); /* end of output (or full): git is done */
		}
	}
	/* still running after the time limit: no answer */
	for (i = 0; i < 2; i++)
		if (g->fd[i] >= 0 || g->pid[i] > 0)
			git_reap(g, i, 1);
	for (i = 0; i < 2; i++)
		g->out[i][g->len[i]] = '\0';
	g->started = 0;
	g->waited = 1;
}

void oci_vcs_git_release(oci_vcs_git *g)
{
	size_t i;

	if (!g->started)
		return;
	for (i = 0; i < 2; i++)
		git_reap(g, i, 1);
	g->started = 0;
}

/* Line n (0-based) of run i's output, into out (size max); "" if none. */
static void git_line(const oci_vcs_git *g, size_t i, int n, char *out, size_t max)
{
	const char *p = g->waited ? g->out[i] : "";
	size_t len;

	while (n-- > 0 && (p = strchr(p, '\n')))
		p++;
	if (!p)
		p = "";
	len = strcspn(p, "\n");
	if (len >= max)
		len = 0;
	memcpy(out, p, len);
	out[len] = '\0';
}

static const char *plain_getenv(const char *name)
{
	return getenv(name);
}

static int set_pair(oci_vcs *v, const char *src, const char *rev, ocibuild_error *err)
{
	if (src && oci_vcs_normalize_url(src, &v->source, err) < 0)
		return -1;
	v->revision = rev && *rev ? oci_strdup(rev) : NULL;
	if (rev && *rev && !v->revision)
		return oci_err_nomem(err);
	return 0;
}

/* CI systems that name the source: the variable with the repository
 * (GitHub's is a name on GITHUB_SERVER_URL, the others a URL) and the one
 * with the commit. */
static const struct {
	const char *repo, *rev;
} ci_vars[] = {
	{ "GITHUB_REPOSITORY", "GITHUB_SHA" },
	{ "CI_PROJECT_URL", "CI_COMMIT_SHA" },
	{ "BUILD_REPOSITORY_URI", "BUILD_SOURCEVERSION" },
};

/* The first entry of ci_vars that env sets, or -1. */
static int ci_index(const char *(*env)(const char *))
{
	size_t i;

	for (i = 0; i < sizeof(ci_vars) / sizeof(ci_vars[0]); i++) {
		const char *a = env(ci_vars[i].repo);

		if (a && *a)
			return (int)i;
	}
	return -1;
}

int oci_vcs_from_ci(const char *(*env)(const char *))
{
	return ci_index(env ? env : plain_getenv) >= 0;
}

int oci_vcs_detect(const char *dir, const char *(*env)(const char *), oci_vcs_git *git,
		   oci_vcs *v, ocibuild_error *err)
{
	const char *a;
	int ci;

	memset(v, 0, sizeof(*v));
	if (!env)
		env = plain_getenv;
	ci = ci_index(env);
	if (ci == 0) {
		oci_buf url = OCI_BUF_INIT(OCI_MAX_TEXT);
		const char *server = env("GITHUB_SERVER_URL");
		int rc;

		a = env(ci_vars[0].repo);
		if (oci_buf_printf(&url, err, "%s/%s", server && *server ? server : "https://github.com",
				   a) < 0)
			return -1;
		rc = set_pair(v, url.data, env(ci_vars[0].rev), err);
		oci_buf_release(&url);
		return rc;
	}
	if (ci > 0)
		return set_pair(v, env(ci_vars[ci].repo), env(ci_vars[ci].rev), err);
	{
		oci_vcs_git own;
		char url[sizeof(own.out[1])], rev[sizeof(own.out[0])];

		if (!git) {
			oci_vcs_git_start(&own, dir, 1);
			oci_vcs_git_wait(&own);
			git = &own;
		}
		git_line(git, 1, 0, url, sizeof(url));
		git_line(git, 0, 1, rev, sizeof(rev));
		return set_pair(v, *url ? url : NULL, rev, err);
	}
}

int oci_vcs_git_time(const oci_vcs_git *g, int64_t *out)
{
	char line[32], *end;
	long long v;

	git_line(g, 0, 0, line, sizeof(line));
	if (!*line)
		return -1;
	errno = 0;
	v = strtoll(line, &end, 10);
	if (errno || end == line || *end || v < 0 || v > 253402300799LL)
		return -1;
	*out = v;
	return 0;
}

void oci_vcs_release(oci_vcs *v)
{
	oci_free(v->source);
	oci_free(v->revision);
	memset(v, 0, sizeof(*v));
}
