#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "release.h"
#include "blobstore.h"
#include "buf.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

/* releases/start_erl.data: "ERTS_VSN REL_VSN" */
#define START_ERL_MAX 4096u
/* an application's .app file, a release's start script */
#define APP_TEXT_MAX (4u << 20)

/* Applications that ship with Erlang/OTP or Elixir: the runtime, not the
 * project's dependencies. */
static const char *const otp_apps[] = {
	"asn1", "common_test", "compiler", "crypto", "debugger", "dialyzer", "diameter",
	"edoc", "eldap", "erl_docgen", "erl_interface", "erts", "et", "eunit", "ftp",
	"hipe", "inets", "jinterface", "kernel", "megaco", "mnesia", "observer", "odbc",
	"os_mon", "otp_mibs", "parsetools", "public_key", "reltool", "runtime_tools",
	"sasl", "snmp", "ssh", "ssl", "stdlib", "syntax_tools", "tftp", "tools", "wx",
	"xmerl",
	/* Elixir's own applications */
	"eex", "elixir", "ex_unit", "iex", "logger", "mix",
	NULL,
};

int oci_release_is_elixir_app(const char *app)
{
	static const char *const ex[] = { "eex", "elixir", "ex_unit", "iex", "logger", "mix", NULL };
	size_t i;

	for (i = 0; ex[i]; i++)
		if (!strcmp(app, ex[i]))
			return 1;
	return 0;
}

int oci_release_is_otp_app(const char *app)
{
	size_t i;

	for (i = 0; otp_apps[i]; i++)
		if (!strcmp(app, otp_apps[i]))
			return 1;
	return 0;
}

const char *oci_group_name(oci_group g)
{
	static const char *const names[] = { "erts", "deps", "app" };

	return g < OCI_GROUP_COUNT ? names[g] : "?";
}

char *oci_release_app_name(const char *dirname)
{
	const char *base = strrchr(dirname, '/'), *p;

	base = base ? base + 1 : dirname;
	/* the version starts at the first '-' followed by a digit */
	for (p = base; *p; p++)
		if (*p == '-' && p[1] >= '0' && p[1] <= '9')
			return oci_strndup(base, (size_t)(p - base));
	return oci_strdup(base);
}

/* No allocation here: a failure would read as "absent". */
static int exists(const char *dir, const char *rel, int want_dir)
{
	char p[PATH_MAX];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/%s", dir, rel);

	if (n < 0 || (size_t)n >= sizeof(p))
		return 0;
	return stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static int not_a_release(const char *dir, const char *why, ocibuild_error *err)
{
	return oci_err(err, OCIBUILD_ERR_INPUT, 0,
		       "'%s' is not a release (%s): build one with `rebar3 as prod release` or `MIX_ENV=prod mix release`",
		       dir, why);
}

/* A relx dev_mode release links lib/<app> to the build directory. */
static int check_not_dev_mode(const char *dir, ocibuild_error *err)
{
	char *lib = oci_path_join(dir, "lib");
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (!lib)
		return oci_err_nomem(err);
	d = opendir(lib);
	while (d && (de = readdir(d)) && rc == 0) {
		char *p;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		p = oci_path_join(lib, de->d_name);
		if (p && lstat(p, &st) == 0 && S_ISLNK(st.st_mode))
			rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
				     "release '%s' was built in dev mode (lib/%s is a symlink out of the release): build it with `rebar3 as prod release`",
				     dir, de->d_name);
		oci_free(p);
	}
	if (d)
		closedir(d);
	oci_free(lib);
	return rc;
}

/* releases/<vsn>/<name>.rel names the release. */
static int find_name(oci_release *r, ocibuild_error *err)
{
	oci_buf pat = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	glob_t g;
	int rc;

	if (oci_buf_printf(&pat, err, "%s/releases/%s/*.rel", r->dir, r->version) < 0)
		return -1;
	rc = glob(pat.data, 0, NULL, &g);
	oci_buf_release(&pat);
	if (rc != 0 || g.gl_pathc == 0) {
		if (rc == 0)
			globfree(&g);
		return not_a_release(r->dir, "no releases/<version>/<name>.rel", err);
	}
	{
		const char *base = strrchr(g.gl_pathv[0], '/') + 1;

		r->name = oci_strndup(base, strlen(base) - 4);
	}
	globfree(&g);
	if (!r->name)
		return oci_err_nomem(err);
	{
		char bin[PATH_MAX];

		snprintf(bin, sizeof(bin), "bin/%s", r->name);
		if (!exists(r->dir, bin, 0))
			return not_a_release(r->dir, "no bin/<name> start script", err);
	}
	return 0;
}

static int read_start_erl(oci_release *r, ocibuild_error *err)
{
	char *p = oci_path_join(r->dir, "releases/start_erl.data");
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	char *sp, *end;
	int rc = -1;

	if (!p)
		return oci_err_nomem(err);
	if (oci_read_file(p, START_ERL_MAX, &b, err) < 0) {
		rc = err && err->kind == OCIBUILD_ERR_NOMEM
			     ? -1
			     : not_a_release(r->dir, "no releases/start_erl.data", err);
		goto out;
	}
	sp = strchr(b.data, ' ');
	if (!sp) {
		rc = not_a_release(r->dir, "releases/start_erl.data is not \"ERTS_VSN REL_VSN\"", err);
		goto out;
	}
	end = sp + 1 + strcspn(sp + 1, " \r\n");
	r->erts_version = oci_strndup(b.data, (size_t)(sp - b.data));
	r->version = oci_strndup(sp + 1, (size_t)(end - sp - 1));
	if (!r->erts_version || !r->version) {
		rc = oci_err_nomem(err);
		goto out;
	}
	if (!*r->version) {
		rc = not_a_release(r->dir, "empty version in start_erl.data", err);
		goto out;
	}
	rc = 0;
out:
	oci_buf_release(&b);
	oci_free(p);
	return rc;
}

/* DIR/_build/<profile>/rel/<name> -> DIR (heap), or NULL. */
static char *build_root(const char *dir)
{
	char *copy = realpath(dir, NULL), *s;
	int up;

	if (!copy)
		return NULL;
	while ((s = strrchr(copy, '/')) && s[1] == '\0')
		*s = '\0';
	for (up = 0; up < 4; up++) {
		s = strrchr(copy, '/');
		if (!s) {
			oci_free(copy);
			return NULL;
		}
		if (up == 1 && strcmp(s + 1, "rel")) {
			oci_free(copy);
			return NULL;
		}
		if (up == 3 && strcmp(s + 1, "_build")) {
			oci_free(copy);
			return NULL;
		}
		*s = '\0';
	}
	if (!*copy) {
		oci_free(copy);
		return oci_strdup("/");
	}
	return copy;
}

/* DIR/_build/<profile>/rel/<name> -> DIR/<lockname> into *out, NULL when
 * there is no such file; -1 only when out of memory. */
static int project_lock(const char *dir, char **out, ocibuild_error *err)
{
	const char *names[] = { "rebar.lock", "mix.lock" };
	char *root = build_root(dir);
	size_t i;

	*out = NULL;
	for (i = 0; root && i < 2; i++) {
		if (exists(root, names[i], 0)) {
			*out = oci_path_join(strcmp(root, "/") ? root : "", names[i]);
			oci_free(root);
			return *out ? 0 : oci_err_nomem(err);
		}
	}
	oci_free(root);
	return 0;
}

/* relx's extended start script knows "foreground"; the plain one
 * ({extended_start_script, false}) passes its arguments to erlexec. */
static int is_plain_script(const oci_release *r, ocibuild_error *err)
{
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), s = OCI_BUF_INIT(APP_TEXT_MAX);
	int rc;

	if (oci_buf_printf(&p, err, "%s/bin/%s", r->dir, r->name) < 0)
		return -1;
	rc = oci_read_file(p.data, APP_TEXT_MAX, &s, err);
	if (rc == 0)
		rc = !strstr(s.data, "foreground");
	oci_buf_release(&p);
	oci_buf_release(&s);
	return rc;
}

/* r->dir, r->name, r->version and r->erts_version of the release in dir;
 * the caller releases r, also after a failure. */
static int read_identity(const char *dir, oci_release *r, ocibuild_error *err)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return oci_err(err, OCIBUILD_ERR_INPUT, ENOENT,
			       "release directory '%s' does not exist: build it with `rebar3 as prod release` or `MIX_ENV=prod mix release`",
			       dir);
	r->dir = oci_strdup(dir);
	if (!r->dir)
		return oci_err_nomem(err);
	if (read_start_erl(r, err) < 0 || find_name(r, err) < 0)
		return -1;
	return 0;
}

int oci_release_open(const char *dir, const char *lock_path, oci_release *r,
		     ocibuild_error *err)
{
	char *erts;

	if (read_identity(dir, r, err) < 0 || check_not_dev_mode(dir, err) < 0)
		goto fail;
	r->kind = exists(dir, "releases/COOKIE", 0) ? OCI_REL_MIX : OCI_REL_RELX;
	if (r->kind == OCI_REL_RELX) {
		int plain = is_plain_script(r, err);

		if (plain < 0)
			goto fail;
		r->plain_script = plain;
	}
	erts = oci_malloc(strlen(r->erts_version) + 6);
	if (!erts) {
		oci_err_nomem(err);
		goto fail;
	}
	memcpy(erts, "erts-", 5);
	memcpy(erts + 5, r->erts_version, strlen(r->erts_version) + 1);
	r->has_erts = exists(dir, erts, 1);
	oci_free(erts);
	/* out of memory here must fail: without its lock file the SBOM would
	 * list the dependencies without their purls */
	if (lock_path) {
		r->lock_path = oci_strdup(lock_path);
		if (!r->lock_path) {
			oci_err_nomem(err);
			goto fail;
		}
	} else if (project_lock(dir, &r->lock_path, err) < 0) {
		goto fail;
	}
	if (r->lock_path && oci_lock_load(r->lock_path, &r->lock, err) < 0)
		goto fail;
	return 0;
fail:
	oci_release_release(r);
	return -1;
}

int oci_release_find(const char *project, const char *name, char **dir,
		     ocibuild_error *err)
{
	oci_buf pat = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), names = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	glob_t g;
	size_t i, best = (size_t)-1;
	struct timespec best_t = { 0, 0 };
	int rc = -1, distinct = 0, is_mix;
	char *first = NULL;

	*dir = NULL;
	{
		struct stat st;

		if (stat(project, &st) < 0 || !S_ISDIR(st.st_mode))
			return oci_err(err, OCIBUILD_ERR_INPUT, ENOENT,
				       "project directory '%s' %s: pass the directory holding rebar.config or mix.exs to --project",
				       project, errno == ENOENT ? "does not exist" : "is not a directory");
	}
	is_mix = exists(project, "mix.exs", 0);
	if (oci_buf_printf(&pat, err, "%s/_build/*/rel/%s/releases/start_erl.data", project,
			   name ? name : "*") < 0)
		return -1;
	if (glob(pat.data, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		oci_buf_release(&pat);
		if (name)
			return oci_err(err, OCIBUILD_ERR_INPUT, 0,
				       "no release named '%s' under '%s/_build': run `%s` first",
				       name, project,
				       is_mix ? "MIX_ENV=prod mix release" : "rebar3 as prod release");
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "no release under '%s/_build': run `%s` first", project,
			       is_mix ? "MIX_ENV=prod mix release" : "rebar3 as prod release");
	}
	for (i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		const char *p = g.gl_pathv[i], *end;

		/* .../rel/<name>/releases/start_erl.data */
		end = strstr(p, "/releases/start_erl.data");
		if (!end)
			continue;
		{
			const char *s = end;

			while (s > p && s[-1] != '/')
				s--;
			if (!first) {
				if (!(first = oci_strndup(s, (size_t)(end - s)))) {
					oci_err_nomem(err);
					goto out;
				}
			} else if (strncmp(first, s, (size_t)(end - s)) || first[end - s]) {
				distinct = 1;
			}
			if (oci_buf_printf(&names, err, "%s%.*s", names.len ? ", " : "",
					   (int)(end - s), s) < 0)
				goto out;
		}
		if (stat(p, &st) == 0 &&
		    (best == (size_t)-1 || st.st_mtim.tv_sec > best_t.tv_sec ||
		     (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec))) {
			best = i;
			best_t = st.st_mtim;
		}
	}
	if (distinct && !name) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"several releases under '%s/_build' (%s): choose one with --release NAME",
			project, names.data);
		goto out;
	}
	if (best == (size_t)-1) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "no release under '%s/_build'", project);
		goto out;
	}
	{
		const char *p = g.gl_pathv[best];

		*dir = oci_strndup(p, (size_t)(strstr(p, "/releases/start_erl.data") - p));
		rc = *dir ? 0 : oci_err_nomem(err);
	}
out:
	oci_free(first);
	globfree(&g);
	oci_buf_release(&pat);
	oci_buf_release(&names);
	return rc;
}

/* DIR/NAME-VSN.tar for a release in DIR/rel/, relative to the working
 * directory when under it; NULL (and 0) for a release elsewhere. */
static int default_output(const oci_release *r, char **out, ocibuild_error *err)
{
	char real[PATH_MAX], cwd[PATH_MAX], *s;
	const char *dir;
	size_t n;
	oci_buf b = OCI_BUF_INIT(2 * PATH_MAX);
	int rc;

	*out = NULL;
	if (!realpath(r->dir, real))
		return oci_err(err, OCIBUILD_ERR_IO, errno, "cannot resolve the release directory '%s': %s",
			       r->dir, strerror(errno));
	/* real is absolute, with no trailing '/': cut NAME, then rel */
	*strrchr(real, '/') = '\0';
	s = strrchr(real, '/');
	if (!s || strcmp(s + 1, "rel"))
		return 0;
	*s = '\0';
	dir = *real ? real : "/";
	if (getcwd(cwd, sizeof(cwd))) {
		n = strlen(cwd);
		if (!strcmp(dir, cwd))
			dir = "";
		else if (n > 1 && !strncmp(dir, cwd, n) && dir[n] == '/')
			dir += n + 1;
	}
	rc = oci_buf_printf(&b, err, "%s%s%s-%s.tar", dir, *dir && strcmp(dir, "/") ? "/" : "",
			    r->name, r->version);
	if (rc == 0 && !(*out = oci_strdup(b.data)))
		rc = oci_err_nomem(err);
	oci_buf_release(&b);
	return rc;
}

int ocibuild_release_defaults_init(ocibuild_release_defaults *out,
				   const ocibuild_build_opts *o, ocibuild_error *err)
{
	oci_release r;
	char *dir = NULL, *p;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (!o->release == !o->project)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "a release's defaults need one of --release DIR or --project DIR");
	if (o->project && oci_release_find(o->project, o->release_name, &dir, err) < 0)
		return -1;
	if (read_identity(dir ? dir : o->release, &r, err) < 0)
		goto out;
	out->tag = oci_malloc(strlen(r.name) + strlen(r.version) + 2);
	if (!out->tag) {
		oci_err_nomem(err);
		goto out;
	}
	memcpy(out->tag, r.name, strlen(r.name));
	out->tag[strlen(r.name)] = ':';
	memcpy(out->tag + strlen(r.name) + 1, r.version, strlen(r.version) + 1);
	for (p = out->tag + strlen(r.name) + 1; *p; p++)
		if (*p == '+')
			*p = '_';
	if (default_output(&r, &out->output, err) < 0)
		goto out;
	out->name = r.name;
	out->version = r.version;
	r.name = r.version = NULL;
	rc = 0;
out:
	oci_free(dir);
	oci_release_release(&r);
	if (rc < 0)
		ocibuild_release_defaults_release(out);
	return rc;
}

void ocibuild_release_defaults_release(ocibuild_release_defaults *d)
{
	oci_free(d->name);
	oci_free(d->version);
	oci_free(d->tag);
	oci_free(d->output);
	memset(d, 0, sizeof(*d));
}

oci_group oci_release_classify(const oci_release *r, const char *rel)
{
	char *app;
	oci_group g;

	if (!strncmp(rel, "erts-", 5))
		return OCI_GROUP_ERTS;
	if (strncmp(rel, "lib/", 4) || !rel[4])
		return OCI_GROUP_APP;
	{
		const char *s = rel + 4, *slash = strchr(s, '/');
		char *first = slash ? oci_strndup(s, (size_t)(slash - s)) : oci_strdup(s);

		app = first ? oci_release_app_name(first) : NULL;
		oci_free(first);
	}
	if (!app)
		return OCI_GROUP_APP;
	if (oci_release_is_otp_app(app))
		g = r->has_erts ? OCI_GROUP_ERTS : OCI_GROUP_DEPS;
	else if (oci_lock_find(&r->lock, app))
		g = OCI_GROUP_DEPS;
	else
		g = OCI_GROUP_APP;
	oci_free(app);
	return g;
}

const char *oci_release_default_cmd(const oci_release *r)
{
	if (r->plain_script)
		return "-noinput";
	return r->kind == OCI_REL_MIX ? "start" : "foreground";
}

char *oci_release_project(const oci_release *r)
{
	char *root = build_root(r->dir);
	const char *slash;

	if (root || !r->lock_path)
		return root;
	slash = strrchr(r->lock_path, '/');
	if (!slash)
		return oci_strdup(".");
	return slash == r->lock_path ? oci_strdup("/")
				     : oci_strndup(r->lock_path, (size_t)(slash - r->lock_path));
}

static int by_dir(const void *a, const void *b)
{
	return strcmp(((const oci_release_app *)a)->dir, ((const oci_release_app *)b)->dir);
}

/* Version and applications from lib/DIR/ebin/NAME.app. An unreadable or
 * unparsable file is not an error (-1 only when out of memory). */
static int read_app(const char *reldir, oci_release_app *a, ocibuild_error *err)
{
	oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT), text = OCI_BUF_INIT(APP_TEXT_MAX);
	ocibuild_error e = { 0 };
	int rc = 0;

	if (oci_buf_printf(&p, err, "%s/%s/ebin/%s.app", reldir, a->dir, a->name) < 0)
		return -1;
	if (oci_read_file(p.data, APP_TEXT_MAX, &text, &e) == 0 &&
	    oci_lock_app_parse(text.data, text.len, p.data, &a->app, &e) == 0 &&
	    a->app.vsn) {
		oci_free(a->version);
		a->version = oci_strdup(a->app.vsn);
		if (!a->version)
			rc = oci_err_nomem(err);
	}
	if (e.kind == OCIBUILD_ERR_NOMEM)
		rc = oci_err_nomem(err);
	ocibuild_error_clear(&e);
	oci_buf_release(&p);
	oci_buf_release(&text);
	return rc;
}

static oci_app_kind app_kind(const oci_release *r, const char *root, oci_release_app *a)
{
	const oci_lock_dep *d = oci_lock_find(&r->lock, a->name);
	char rel[PATH_MAX];

	if (oci_release_is_elixir_app(a->name))
		return OCI_APP_ELIXIR;
	if (oci_release_is_otp_app(a->name))
		return OCI_APP_OTP;
	/* a lock entry describes the image's copy only at its version */
	if (d && d->source == OCI_DEP_HEX && d->version && !strcmp(d->version, a->version)) {
		a->dep = d;
		return OCI_APP_HEX;
	}
	if (d && d->source == OCI_DEP_GIT) {
		a->dep = d;
		return OCI_APP_GIT;
	}
	if (root && (size_t)snprintf(rel, sizeof(rel), "apps/%s", a->name) < sizeof(rel) &&
	    exists(root, rel, 1))
		return OCI_APP_UMBRELLA;
	if (!strcmp(a->name, r->name))
		return OCI_APP_OWN;
	if (root && (size_t)snprintf(rel, sizeof(rel), "src/%s.app.src", a->name) < sizeof(rel) &&
	    exists(root, rel, 0))
		return OCI_APP_OWN;
	return OCI_APP_PATH;
}

int oci_release_apps(const oci_release *r, oci_release_app **out, size_t *nout,
		     ocibuild_error *err)
{
	char *lib = oci_path_join(r->dir, "lib"), *root = NULL;
	oci_release_app *v = NULL;
	size_t n = 0, i;
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (!lib)
		return oci_err_nomem(err);
	d = opendir(lib);
	if (!d) {
		rc = errno == ENOENT ? 0 : oci_err_errno(err, errno, "cannot read '%s': %s", lib,
							  strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		oci_release_app *a, *nv;

		if (de->d_name[0] == '.' || !exists(lib, de->d_name, 1))
			continue;
		nv = oci_reallocarray(v, n + 1, sizeof(*v));
		if (!nv) {
			oci_err_nomem(err);
			goto out;
		}
		v = nv;
		a = &v[n++];
		memset(a, 0, sizeof(*a));
		a->name = oci_release_app_name(de->d_name);
		a->dir = oci_path_join("lib", de->d_name);
		{
			const char *dash = a->name ? de->d_name + strlen(a->name) : NULL;

			a->version = oci_strdup(dash && *dash == '-' ? dash + 1 : "");
		}
		if (!a->name || !a->dir || !a->version) {
			oci_err_nomem(err);
			goto out;
		}
	}
	qsort(v, n, sizeof(*v), by_dir);
	root = oci_release_project(r);
	for (i = 0; i < n; i++) {
		if (read_app(r->dir, &v[i], err) < 0)
			goto out;
		v[i].kind = app_kind(r, root, &v[i]);
	}
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	oci_release_apps_release(v, n);
	oci_free(root);
	oci_free(lib);
	return rc;
}

void oci_release_apps_release(oci_release_app *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		oci_free(v[i].name);
		oci_free(v[i].version);
		oci_free(v[i].dir);
		oci_lock_app_release(&v[i].app);
	}
	oci_free(v);
}

void oci_release_release(oci_release *r)
{
	oci_free(r->dir);
	oci_free(r->name);
	oci_free(r->version);
	oci_free(r->erts_version);
	oci_free(r->lock_path);
	oci_lock_release(&r->lock);
	memset(r, 0, sizeof(*r));
}
