#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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

/* Run `git -C dir args...`; first line of stdout, or NULL on any failure
 * or after the timeout. */
static char *git_line(const char *dir, const char *a1, const char *a2, const char *a3)
{
	int pipefd[2], status, waited = 0;
	pid_t pid;
	char buf[4096];
	size_t len = 0;
	char *nl;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return NULL;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return NULL;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], 1);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 2);
		}
		execlp("git", "git", "-C", dir, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (n > 0) {
			len += (size_t)n;
			if (len >= sizeof(buf) - 1)
				break;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		if (waited >= GIT_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			len = 0;
			break;
		}
		nanosleep(&ts, NULL);
		waited += 10;
	}
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return NULL;
	buf[len] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return *buf ? oci_strdup(buf) : NULL;
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

int oci_vcs_detect(const char *dir, const char *(*env)(const char *), oci_vcs *v,
		   ocibuild_error *err)
{
	const char *a, *b;

	memset(v, 0, sizeof(*v));
	if (!env)
		env = plain_getenv;
	if ((a = env("GITHUB_REPOSITORY")) && *a) {
		oci_buf url = OCI_BUF_INIT(OCI_MAX_TEXT);
		const char *server = env("GITHUB_SERVER_URL");
		int rc;

		if (oci_buf_printf(&url, err, "%s/%s", server && *server ? server : "https://github.com",
				   a) < 0)
			return -1;
		rc = set_pair(v, url.data, env("GITHUB_SHA"), err);
		oci_buf_release(&url);
		return rc;
	}
	if ((a = env("CI_PROJECT_URL")) && *a)
		return set_pair(v, a, env("CI_COMMIT_SHA"), err);
	if ((a = env("BUILD_REPOSITORY_URI")) && *a)
		return set_pair(v, a, env("BUILD_SOURCEVERSION"), err);
	{
		char *url = git_line(dir, "config", "--get", "remote.origin.url");
		char *rev = git_line(dir, "rev-parse", "--verify", "HEAD");
		int rc;

		b = rev;
		rc = set_pair(v, url, b, err);
		oci_free(url);
		oci_free(rev);
		return rc;
	}
}

int oci_vcs_commit_time(const char *dir, int64_t *out)
{
	char *line = git_line(dir, "show", "-s", "--format=%ct"), *end;
	long long v;
	int rc = -1;

	if (!line)
		return -1;
	errno = 0;
	v = strtoll(line, &end, 10);
	if (!errno && end != line && !*end && v >= 0 && v <= 253402300799LL) {
		*out = v;
		rc = 0;
	}
	oci_free(line);
	return rc;
}

void oci_vcs_release(oci_vcs *v)
{
	oci_free(v->source);
	oci_free(v->revision);
	memset(v, 0, sizeof(*v));
}
