/* The image config a build writes (see imgcfg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imgcfg.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int oci_imgcfg_kv_check(const char *kv, const char *flag, ocibuild_error *err)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv)
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad %s '%s': expected KEY=VALUE with a non-empty KEY", flag, kv);
	return 0;
}

int oci_imgcfg_port(const char *p, oci_buf *out, ocibuild_error *err)
{
	char *end;
	unsigned long n;
	const char *proto = "tcp";

	errno = 0;
	n = strtoul(p, &end, 10);
	if (end == p || errno || n < 1 || n > 65535)
		goto bad;
	if (*end == '/') {
		proto = end + 1;
		if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
			goto bad;
	} else if (*end) {
		goto bad;
	}
	oci_buf_reset(out);
	return oci_buf_printf(out, err, "%lu/%s", n, proto);
bad:
	return oci_err(err, OCIBUILD_ERR_OPTION, 0,
		       "bad port '%s': use PORT or PORT/tcp|udp|sctp with PORT in 1-65535", p);
}

int oci_imgcfg_workdir(const char *in, char **out, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	const char *p = in;

	if (!in || in[0] != '/')
		return oci_err(err, OCIBUILD_ERR_OPTION, 0,
			       "bad workdir '%s': it must be an absolute path such as /app",
			       in ? in : "");
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (!len || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			oci_buf_release(&b);
			return oci_err(err, OCIBUILD_ERR_OPTION, 0,
				       "bad workdir '%s': '..' is not allowed", in);
		}
		if (oci_buf_puts(&b, "/", err) < 0 || oci_buf_append(&b, s, len, err) < 0) {
			oci_buf_release(&b);
			return -1;
		}
	}
	if (!b.len && oci_buf_puts(&b, "/", err) < 0)
		return -1;
	*out = oci_buf_detach(&b, NULL);
	return *out ? 0 : oci_err_nomem(err);
}

/* Set K=V in an Env list; an existing K is replaced only when `replace`. */
static int env_put(oci_strlist *env, const char *kv, int replace, ocibuild_error *err)
{
	size_t klen = (size_t)(strchr(kv, '=') - kv), i;

	for (i = 0; i < env->n; i++) {
		if (!strncmp(env->v[i], kv, klen + 1)) {
			char *d;

			if (!replace)
				return 0;
			d = oci_strdup(kv);
			if (!d)
				return oci_err_nomem(err);
			oci_free(env->v[i]);
			env->v[i] = d;
			return 0;
		}
	}
	return oci_strlist_push(env, kv, err);
}

int oci_imgcfg_set_kv(oci_map *m, const ocibuild_strv *kvs, ocibuild_error *err)
{
	size_t i;

	for (i = 0; i < kvs->count; i++) {
		const char *kv = kvs->items[i], *eq = strchr(kv, '=');
		char *k = oci_strndup(kv, (size_t)(eq - kv));
		int rc;

		if (!k)
			return oci_err_nomem(err);
		rc = oci_map_set(m, k, eq + 1, err);
		oci_free(k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int set_strlist(oci_strlist *l, const ocibuild_strv *v, ocibuild_error *err)
{
	size_t i;

	oci_strlist_release(l);
	for (i = 0; i < v->count; i++)
		if (oci_strlist_push(l, v->items[i], err) < 0)
			return -1;
	return 0;
}

static int replace_str(char **dst, const char *s, ocibuild_error *err)
{
	char *d = oci_strdup(s);

	if (!d)
		return oci_err_nomem(err);
	oci_free(*dst);
	*dst = d;
	return 0;
}

/* What a release needs to start as a non-root user on a read-only
 * directory: a home, a UTF-8 locale, and a writable place for the files
 * the start scripts (and a crash) write. The start script is the
 * Entrypoint and its command the Cmd, so `docker run IMAGE eval ...` runs
 * `bin/NAME eval ...`. */
static int release_config(const oci_imgcfg_in *in, oci_image_config *c, ocibuild_error *err)
{
	const char *cmd = oci_release_default_cmd(in->release);
	oci_buf bin = OCI_BUF_INIT(OCI_MAX_TEXT);
	int rc = -1;

	/* a crash dump goes to the working directory, the read-only /app */
	if (env_put(&c->env, "HOME=/tmp", 0, err) < 0 ||
	    env_put(&c->env, "LANG=C.UTF-8", 0, err) < 0 ||
	    env_put(&c->env, "ERL_CRASH_DUMP=/tmp/erl_crash.dump", 0, err) < 0)
		goto out;
	if (in->release->kind == OCI_REL_MIX
		    ? env_put(&c->env, "RELEASE_TMP=/tmp", 0, err) < 0
		    : env_put(&c->env, "RELX_OUT_FILE_PATH=/tmp", 0, err) < 0)
		goto out;
	if (in->entrypoint_set) {
		rc = 0;
		goto out;
	}
	if (oci_buf_printf(&bin, err, "%s%sbin/%s", in->workdir,
			   strcmp(in->workdir, "/") ? "/" : "", in->release->name) < 0)
		goto out;
	oci_strlist_release(&c->entrypoint);
	if (oci_strlist_push(&c->entrypoint, bin.data, err) < 0)
		goto out;
	c->has_entrypoint = 1;
	oci_strlist_release(&c->cmd);
	c->has_cmd = 0;
	if (cmd) {
		if (oci_strlist_push(&c->cmd, cmd, err) < 0)
			goto out;
		c->has_cmd = 1;
	}
	rc = 0;
out:
	oci_buf_release(&bin);
	return rc;
}

int oci_imgcfg_make(const oci_imgcfg_in *in, oci_image_config *c, ocibuild_error *err)
{
	oci_buf tmp = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i, j;
	int has_path = 0, rc = -1;

	if (in->base_config) {
		if (oci_config_parse(in->base_config, in->base_config_len, c, err) < 0)
			return -1;
	} else {
		memset(c, 0, sizeof(*c));
	}
	oci_platform_release(&c->platform);
	c->platform.os = oci_strdup(in->platform->os);
	c->platform.architecture = oci_strdup(in->platform->architecture);
	c->platform.variant = in->platform->variant ? oci_strdup(in->platform->variant) : NULL;
	if (!c->platform.os || !c->platform.architecture ||
	    (in->platform->variant && !c->platform.variant)) {
		oci_err_nomem(err);
		goto out;
	}
	if (replace_str(&c->created, in->created, err) < 0)
		goto out;
	if (in->user ? replace_str(&c->user, in->user, err) < 0
		    : (!c->user || !*c->user) && replace_str(&c->user, "65534", err) < 0)
		goto out;
	for (i = 0; i < in->env.count; i++)
		if (env_put(&c->env, in->env.items[i], 1, err) < 0)
			goto out;
	for (i = 0; i < c->env.n; i++)
		has_path |= !strncmp(c->env.v[i], "PATH=", 5);
	if (!has_path && oci_strlist_push(&c->env, DEFAULT_PATH, err) < 0)
		goto out;
	if (in->entrypoint_set) {
		if (set_strlist(&c->entrypoint, &in->entrypoint, err) < 0)
			goto out;
		c->has_entrypoint = 1;
		/* as in a Dockerfile: a new ENTRYPOINT drops the base's CMD */
		oci_strlist_release(&c->cmd);
		c->has_cmd = 0;
	}
	if (in->release && release_config(in, c, err) < 0)
		goto out;
	/* after the entrypoint: --entrypoint X -c Y keeps both */
	if (in->cmd_set) {
		if (set_strlist(&c->cmd, &in->cmd, err) < 0)
			goto out;
		c->has_cmd = 1;
	}
	if (replace_str(&c->working_dir, in->workdir, err) < 0)
		goto out;
	for (i = 0; in->ports && i < in->ports->n; i++) {
		int dup = 0;

		for (j = 0; j < c->exposed_ports.n; j++)
			dup |= !strcmp(c->exposed_ports.v[j], in->ports->v[i]);
		if (!dup && oci_strlist_push(&c->exposed_ports, in->ports->v[i], err) < 0)
			goto out;
	}
	if (oci_imgcfg_set_kv(&c->labels, &in->labels, err) < 0)
		goto out;
	for (i = 0; i < in->nlayers; i++) {
		const oci_imgcfg_layer *l = &in->layers[i];

		if (oci_strlist_push(&c->diff_ids, l->diff_id, err) < 0)
			goto out;
		oci_buf_reset(&tmp);
		if (oci_buf_printf(&tmp, err, "ocibuild build: %s layer in %s", l->what,
				   l->in_workdir ? in->workdir : "/") < 0 ||
		    oci_config_add_history(c, in->created, tmp.data, "ocibuild " OCIBUILD_VERSION,
					   0, err) < 0)
			goto out;
	}
	rc = 0;
out:
	oci_buf_release(&tmp);
	return rc;
}
