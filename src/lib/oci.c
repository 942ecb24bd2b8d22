#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <jansson.h>

#include "oci.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* ---- platforms ---- */

static int valid_platform_word(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

int oci_platform_parse(const char *s, oci_platform *p, ocibuild_error *err)
{
	const char *a = strchr(s, '/'), *b;

	memset(p, 0, sizeof(*p));
	b = a ? strchr(a + 1, '/') : NULL;
	if (!a || !valid_platform_word(s, (size_t)(a - s)) ||
	    !valid_platform_word(a + 1, b ? (size_t)(b - a - 1) : strlen(a + 1)) ||
	    (b && (!valid_platform_word(b + 1, strlen(b + 1)) || strchr(b + 1, '/'))))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "bad platform '%s': use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64",
			       s);
	p->os = oci_strndup(s, (size_t)(a - s));
	p->architecture = oci_strndup(a + 1, b ? (size_t)(b - a - 1) : strlen(a + 1));
	p->variant = b ? oci_strdup(b + 1) : NULL;
	if (!p->os || !p->architecture || (b && !p->variant)) {
		oci_platform_release(p);
		return oci_err_nomem(err);
	}
	return 0;
}

int oci_platform_host(oci_platform *p, ocibuild_error *err)
{
	static const struct {
		const char *uname, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", NULL },   { "aarch64", "arm64", NULL },
		{ "armv7l", "arm", "v7" },     { "armv6l", "arm", "v6" },
		{ "i686", "386", NULL },       { "i386", "386", NULL },
		{ "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },
		{ "riscv64", "riscv64", NULL }, { "loongarch64", "loong64", NULL },
	};
	struct utsname u;
	size_t i;
	const char *arch = NULL, *variant = NULL;

	memset(p, 0, sizeof(*p));
	if (uname(&u) < 0)
		return oci_err_errno(err, errno, "uname failed: %s", strerror(errno));
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(u.machine, map[i].uname)) {
			arch = map[i].arch;
			variant = map[i].variant;
		}
	}
	if (!arch)
		return oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			       "unknown host architecture '%s': pass --platform", u.machine);
	p->os = oci_strdup("linux");
	p->architecture = oci_strdup(arch);
	p->variant = variant ? oci_strdup(variant) : NULL;
	if (!p->os || !p->architecture || (variant && !p->variant)) {
		oci_platform_release(p);
		return oci_err_nomem(err);
	}
	return 0;
}

char *oci_platform_string(const oci_platform *p)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);

	if (oci_buf_printf(&b, NULL, "%s/%s%s%s", p->os ? p->os : "?",
			   p->architecture ? p->architecture : "?", p->variant ? "/" : "",
			   p->variant ? p->variant : "") < 0)
		return NULL;
	return oci_buf_detach(&b, NULL);
}

static int streq_null(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : !a && !b;
}

int oci_platform_match(const oci_platform *want, const oci_platform *have)
{
	if (!streq_null(want->os, have->os) ||
	    !streq_null(want->architecture, have->architecture))
		return 0;
	/* an unspecified variant matches any */
	return !want->variant || !have->variant || !strcmp(want->variant, have->variant);
}

void oci_platform_release(oci_platform *p)
{
	oci_free(p->os);
	oci_free(p->architecture);
	oci_free(p->variant);
	memset(p, 0, sizeof(*p));
}

void oci_platform_list_release(oci_platform *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		oci_platform_release(&v[i]);
	oci_free(v);
}

int oci_platform_list_parse(const char *s, oci_platform **out, size_t *n, ocibuild_error *err)
{
	oci_platform *v = NULL;
	size_t count = 1, k = 0, i;
	const char *p;
	int rc = -1;

	*out = NULL;
	*n = 0;
	for (p = s; *p; p++)
		count += *p == ',';
	v = oci_calloc(count, sizeof(*v));
	if (!v)
		return oci_err_nomem(err);
	for (p = s; k < count; k++) {
		size_t len = strcspn(p, ",");
		char *one;

		if (!len) {
			oci_err(err, OCIBUILD_ERR_INPUT, 0,
				"empty platform in '%s': list platforms as OS/ARCH[/VARIANT] separated by commas, e.g. linux/amd64,linux/arm64",
				s);
			goto out;
		}
		one = oci_strndup(p, len);
		if (!one) {
			oci_err_nomem(err);
			goto out;
		}
		rc = oci_platform_parse(one, &v[k], err);
		oci_free(one);
		if (rc < 0)
			goto out;
		rc = -1;
		for (i = 0; i < k; i++) {
			if (streq_null(v[i].os, v[k].os) &&
			    streq_null(v[i].architecture, v[k].architecture) &&
			    streq_null(v[i].variant, v[k].variant)) {
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"platform '%.*s' is listed twice in '%s': name each platform once",
					(int)len, p, s);
				k++;
				goto out;
			}
		}
		p += len + (p[len] == ',');
	}
	*out = v;
	*n = count;
	return 0;
out:
	oci_platform_list_release(v, k);
	return -1;
}

oci_mt_kind oci_media_type_kind(const char *mt)
{
	if (!mt)
		return OCI_MT_KIND_OTHER;
	if (!strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, OCI_MT_DOCKER_MANIFEST))
		return OCI_MT_KIND_MANIFEST;
	if (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_DOCKER_LIST))
		return OCI_MT_KIND_INDEX;
	return OCI_MT_KIND_OTHER;
}

/* ---- parsing helpers ---- */

static json_t *load(const char *json, size_t len, const char *what, ocibuild_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s is not valid JSON (line %d: %s)", what,
			je.line, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s is not a JSON object", what);
		return NULL;
	}
	return root;
}

/* Optional string member: copies into *out (NULL when absent). */
static int get_str(json_t *o, const char *key, char **out, const char *what,
		   ocibuild_error *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: '%s' is not a string", what, key);
	*out = oci_strdup(json_string_value(v));
	return *out ? 0 : oci_err_nomem(err);
}

static int get_strlist(json_t *o, const char *key, oci_strlist *l, int *present,
		       const char *what, ocibuild_error *err)
{
	json_t *v = json_object_get(o, key), *it;
	size_t i;

	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: '%s' is not an array", what, key);
	if (present)
		*present = 1;
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			return oci_err(err, OCIBUILD_ERR_INPUT, 0,
				       "%s: '%s' holds a non-string", what, key);
		if (oci_strlist_push(l, json_string_value(it), err) < 0)
			return -1;
	}
	return 0;
}

/* Object whose keys are the list ({"8080/tcp":{}}). */
static int get_keyset(json_t *o, const char *key, oci_strlist *l, const char *what,
		      ocibuild_error *err)
{
	json_t *v = json_object_get(o, key), *it;
	const char *k;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: '%s' is not an object", what, key);
	json_object_foreach(v, k, it) {
		if (oci_strlist_push(l, k, err) < 0)
			return -1;
	}
	return 0;
}

static int get_map(json_t *o, const char *key, oci_map *m, const char *what,
		   ocibuild_error *err)
{
	json_t *v = json_object_get(o, key), *it;
	const char *k;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: '%s' is not an object", what, key);
	json_object_foreach(v, k, it) {
		if (!json_is_string(it))
			return oci_err(err, OCIBUILD_ERR_INPUT, 0,
				       "%s: '%s.%s' is not a string", what, key, k);
		if (oci_map_set(m, k, json_string_value(it), err) < 0)
			return -1;
	}
	return 0;
}

static int parse_platform(json_t *o, oci_platform **out, ocibuild_error *err)
{
	oci_platform *p;
	int rc;

	*out = NULL;
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "descriptor platform is not an object");
	p = oci_calloc(1, sizeof(*p));
	if (!p)
		return oci_err_nomem(err);
	rc = get_str(o, "os", &p->os, "platform", err);
	if (rc == 0)
		rc = get_str(o, "architecture", &p->architecture, "platform", err);
	if (rc == 0)
		rc = get_str(o, "variant", &p->variant, "platform", err);
	if (rc < 0) {
		oci_platform_release(p);
		oci_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static int parse_descriptor(json_t *o, oci_descriptor *d, const char *what,
			    ocibuild_error *err)
{
	json_t *dg, *sz;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: descriptor is not an object", what);
	if (get_str(o, "mediaType", &d->media_type, what, err) < 0)
		return -1;
	if (!d->media_type)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: descriptor without mediaType", what);
	dg = json_object_get(o, "digest");
	if (!json_is_string(dg) || !oci_digest_valid(json_string_value(dg)))
		return oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			       "%s: descriptor digest is missing or not sha256", what);
	memcpy(d->digest, json_string_value(dg), OCI_DIGEST_LEN + 1);
	sz = json_object_get(o, "size");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "%s: descriptor size is missing", what);
	d->size = json_integer_value(sz);
	if (get_map(o, "annotations", &d->annotations, what, err) < 0 ||
	    get_str(o, "artifactType", &d->artifact_type, what, err) < 0)
		return -1;
	return parse_platform(json_object_get(o, "platform"), &d->platform, err);
}

void oci_descriptor_release(oci_descriptor *d)
{
	oci_free(d->media_type);
	oci_free(d->artifact_type);
	oci_map_release(&d->annotations);
	if (d->platform) {
		oci_platform_release(d->platform);
		oci_free(d->platform);
	}
	memset(d, 0, sizeof(*d));
}

int oci_descriptor_copy(oci_descriptor *dst, const oci_descriptor *src, ocibuild_error *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->media_type = oci_strdup(src->media_type);
	memcpy(dst->digest, src->digest, sizeof(dst->digest));
	dst->size = src->size;
	if (!dst->media_type || oci_map_copy(&dst->annotations, &src->annotations, err) < 0)
		goto fail;
	if (src->artifact_type && !(dst->artifact_type = oci_strdup(src->artifact_type)))
		goto fail;
	if (src->platform) {
		dst->platform = oci_calloc(1, sizeof(*dst->platform));
		if (!dst->platform)
			goto fail;
		dst->platform->os = oci_strdup(src->platform->os ? src->platform->os : "");
		dst->platform->architecture = oci_strdup(
			src->platform->architecture ? src->platform->architecture : "");
		if (src->platform->variant)
			dst->platform->variant = oci_strdup(src->platform->variant);
		if (!dst->platform->os || !dst->platform->architecture ||
		    (src->platform->variant && !dst->platform->variant))
			goto fail;
	}
	return 0;
fail:
	oci_descriptor_release(dst);
	return oci_err_nomem(err);
}

/* ---- serialising helpers ---- */

static json_t *str_or_null(const char *s)
{
	return json_string(s ? s : "");
}

static int set_new(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *map_json(const oci_map *m)
{
	json_t *o = json_object();
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < m->n; i++) {
		if (set_new(o, m->keys[i], json_string(m->vals[i])) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *list_json(const oci_strlist *l)
{
	json_t *a = json_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < l->n; i++) {
		if (json_array_append_new(a, json_string(l->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *descriptor_json(const oci_descriptor *d)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= set_new(o, "mediaType", str_or_null(d->media_type));
	bad |= set_new(o, "digest", json_string(d->digest));
	bad |= set_new(o, "size", json_integer(d->size));
	if (d->annotations.n)
		bad |= set_new(o, "annotations", map_json(&d->annotations));
	if (d->artifact_type)
		bad |= set_new(o, "artifactType", json_string(d->artifact_type));
	if (d->platform) {
		json_t *p = json_object();

		bad |= !p;
		if (p) {
			bad |= set_new(p, "architecture", str_or_null(d->platform->architecture));
			bad |= set_new(p, "os", str_or_null(d->platform->os));
			if (d->platform->variant)
				bad |= set_new(p, "variant", json_string(d->platform->variant));
			bad |= set_new(o, "platform", p);
		}
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int dump(json_t *root, oci_buf *out, ocibuild_error *err)
{
	char *s;
	int rc;

	if (!root)
		return oci_err_nomem(err);
	s = json_dumps(root, DUMP_FLAGS);
	json_decref(root);
	if (!s)
		return oci_err_nomem(err);
	oci_buf_reset(out);
	rc = oci_buf_puts(out, s, err);
	free(s);
	return rc;
}

/* ---- manifest ---- */

int oci_manifest_parse(const char *json, size_t len, oci_manifest *m, ocibuild_error *err)
{
	json_t *root, *layers, *it, *sv;
	size_t i;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	root = load(json, len, "image manifest", err);
	if (!root)
		return -1;
	sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			"image manifest has schemaVersion other than 2");
		goto out;
	}
	if (get_str(root, "mediaType", &m->media_type, "image manifest", err) < 0)
		goto out;
	if (m->media_type && oci_media_type_kind(m->media_type) != OCI_MT_KIND_MANIFEST) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			"expected an image manifest, got media type '%s'", m->media_type);
		goto out;
	}
	if (parse_descriptor(json_object_get(root, "config"), &m->config,
			     "image manifest config", err) < 0)
		goto out;
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "image manifest has no layers array");
		goto out;
	}
	m->layers = oci_calloc(json_array_size(layers), sizeof(*m->layers));
	if (!m->layers) {
		oci_err_nomem(err);
		goto out;
	}
	json_array_foreach(layers, i, it) {
		m->nlayers = i + 1;
		if (parse_descriptor(it, &m->layers[i], "image manifest layer", err) < 0)
			goto out;
	}
	if (get_map(root, "annotations", &m->annotations, "image manifest", err) < 0 ||
	    get_str(root, "artifactType", &m->artifact_type, "image manifest", err) < 0)
		goto out;
	if (json_object_get(root, "subject")) {
		m->subject = oci_calloc(1, sizeof(*m->subject));
		if (!m->subject) {
			oci_err_nomem(err);
			goto out;
		}
		if (parse_descriptor(json_object_get(root, "subject"), m->subject,
				     "image manifest subject", err) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		oci_manifest_release(m);
	return rc;
}

int oci_manifest_serialize(const oci_manifest *m, oci_buf *out, ocibuild_error *err)
{
	json_t *o = json_object(), *layers = json_array();
	size_t i;
	int bad = !o || !layers;

	if (bad) {
		json_decref(o);
		json_decref(layers);
		return oci_err_nomem(err);
	}
	bad |= set_new(o, "schemaVersion", json_integer(2));
	bad |= set_new(o, "mediaType", json_string(m->media_type ? m->media_type : OCI_MT_MANIFEST));
	bad |= set_new(o, "config", descriptor_json(&m->config));
	for (i = 0; i < m->nlayers; i++)
		bad |= json_array_append_new(layers, descriptor_json(&m->layers[i]));
	bad |= set_new(o, "layers", layers);
	if (m->annotations.n)
		bad |= set_new(o, "annotations", map_json(&m->annotations));
	if (m->artifact_type)
		bad |= set_new(o, "artifactType", json_string(m->artifact_type));
	if (m->subject)
		bad |= set_new(o, "subject", descriptor_json(m->subject));
	if (bad) {
		json_decref(o);
		return oci_err_nomem(err);
	}
	return dump(o, out, err);
}

void oci_manifest_release(oci_manifest *m)
{
	size_t i;

	oci_free(m->media_type);
	oci_descriptor_release(&m->config);
	for (i = 0; i < m->nlayers; i++)
		oci_descriptor_release(&m->layers[i]);
	oci_free(m->layers);
	oci_map_release(&m->annotations);
	oci_free(m->artifact_type);
	if (m->subject) {
		oci_descriptor_release(m->subject);
		oci_free(m->subject);
	}
	memset(m, 0, sizeof(*m));
}

/* ---- index ---- */

int oci_index_parse(const char *json, size_t len, oci_index *x, ocibuild_error *err)
{
	json_t *root, *list, *it, *sv;
	char *mt = NULL;
	size_t i;
	int rc = -1;

	memset(x, 0, sizeof(*x));
	root = load(json, len, "image index", err);
	if (!root)
		return -1;
	sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0, "image index has schemaVersion other than 2");
		goto out;
	}
	if (get_str(root, "mediaType", &mt, "image index", err) < 0)
		goto out;
	if (mt && oci_media_type_kind(mt) != OCI_MT_KIND_INDEX) {
		oci_err(err, OCIBUILD_ERR_UNSUPPORTED, 0,
			"expected an image index, got media type '%s'", mt);
		goto out;
	}
	list = json_object_get(root, "manifests");
	if (!json_is_array(list)) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "image index has no manifests array");
		goto out;
	}
	x->manifests = oci_calloc(json_array_size(list), sizeof(*x->manifests));
	if (!x->manifests) {
		oci_err_nomem(err);
		goto out;
	}
	json_array_foreach(list, i, it) {
		x->n = i + 1;
		if (parse_descriptor(it, &x->manifests[i], "image index entry", err) < 0)
			goto out;
	}
	if (get_map(root, "annotations", &x->annotations, "image index", err) < 0)
		goto out;
	rc = 0;
out:
	oci_free(mt);
	json_decref(root);
	if (rc < 0)
		oci_index_release(x);
	return rc;
}

int oci_index_serialize(const oci_index *x, oci_buf *out, ocibuild_error *err)
{
	json_t *o = json_object(), *list = json_array();
	size_t i;
	int bad = !o || !list;

	if (bad) {
		json_decref(o);
		json_decref(list);
		return oci_err_nomem(err);
	}
	bad |= set_new(o, "schemaVersion", json_integer(2));
	bad |= set_new(o, "mediaType", json_string(OCI_MT_INDEX));
	for (i = 0; i < x->n; i++)
		bad |= json_array_append_new(list, descriptor_json(&x->manifests[i]));
	bad |= set_new(o, "manifests", list);
	if (x->annotations.n)
		bad |= set_new(o, "annotations", map_json(&x->annotations));
	if (bad) {
		json_decref(o);
		return oci_err_nomem(err);
	}
	return dump(o, out, err);
}

int oci_index_add(oci_index *x, const oci_descriptor *d, ocibuild_error *err)
{
	oci_descriptor *v = oci_reallocarray(x->manifests, x->n + 1, sizeof(*v));

	if (!v)
		return oci_err_nomem(err);
	x->manifests = v;
	if (oci_descriptor_copy(&v[x->n], d, err) < 0)
		return -1;
	x->n++;
	return 0;
}

void oci_index_remove(oci_index *x, size_t i)
{
	oci_descriptor_release(&x->manifests[i]);
	memmove(&x->manifests[i], &x->manifests[i + 1],
		(x->n - i - 1) * sizeof(*x->manifests));
	x->n--;
}

void oci_index_release(oci_index *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		oci_descriptor_release(&x->manifests[i]);
	oci_free(x->manifests);
	oci_map_release(&x->annotations);
	memset(x, 0, sizeof(*x));
}

/* ---- config ---- */

static const char *const config_known[] = {
	"User", "Env", "Entrypoint", "Cmd", "WorkingDir", "ExposedPorts",
	"Labels", "StopSignal", "Volumes", NULL,
};

int oci_config_parse(const char *json, size_t len, oci_image_config *c, ocibuild_error *err)
{
	static const char what[] = "image config";
	json_t *root, *cfg, *rootfs, *hist, *it;
	size_t i;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	root = load(json, len, what, err);
	if (!root)
		return -1;
	if (get_str(root, "created", &c->created, what, err) < 0 ||
	    get_str(root, "author", &c->author, what, err) < 0 ||
	    get_str(root, "os", &c->platform.os, what, err) < 0 ||
	    get_str(root, "architecture", &c->platform.architecture, what, err) < 0 ||
	    get_str(root, "variant", &c->platform.variant, what, err) < 0)
		goto out;
	cfg = json_object_get(root, "config");
	if (cfg && json_is_object(cfg)) {
		const char *k;
		json_t *extra = json_object();

		if (!extra) {
			oci_err_nomem(err);
			goto out;
		}
		c->extra = extra;
		if (get_str(cfg, "User", &c->user, what, err) < 0 ||
		    get_strlist(cfg, "Env", &c->env, NULL, what, err) < 0 ||
		    get_strlist(cfg, "Entrypoint", &c->entrypoint, &c->has_entrypoint, what, err) < 0 ||
		    get_strlist(cfg, "Cmd", &c->cmd, &c->has_cmd, what, err) < 0 ||
		    get_str(cfg, "WorkingDir", &c->working_dir, what, err) < 0 ||
		    get_keyset(cfg, "ExposedPorts", &c->exposed_ports, what, err) < 0 ||
		    get_map(cfg, "Labels", &c->labels, what, err) < 0 ||
		    get_str(cfg, "StopSignal", &c->stop_signal, what, err) < 0 ||
		    get_keyset(cfg, "Volumes", &c->volumes, what, err) < 0)
			goto out;
		json_object_foreach(cfg, k, it) {
			size_t j;
			int known = 0;

			for (j = 0; config_known[j]; j++)
				known |= !strcmp(k, config_known[j]);
			if (!known && !json_is_null(it) &&
			    json_object_set(extra, k, it) < 0) {
				oci_err_nomem(err);
				goto out;
			}
		}
	}
	rootfs = json_object_get(root, "rootfs");
	if (rootfs && get_strlist(rootfs, "diff_ids", &c->diff_ids, NULL, what, err) < 0)
		goto out;
	hist = json_object_get(root, "history");
	if (json_is_array(hist) && json_array_size(hist)) {
		c->history = oci_calloc(json_array_size(hist), sizeof(*c->history));
		if (!c->history) {
			oci_err_nomem(err);
			goto out;
		}
		json_array_foreach(hist, i, it) {
			oci_history *h = &c->history[i];

			c->nhistory = i + 1;
			if (!json_is_object(it))
				continue;
			if (get_str(it, "created", &h->created, what, err) < 0 ||
			    get_str(it, "created_by", &h->created_by, what, err) < 0 ||
			    get_str(it, "comment", &h->comment, what, err) < 0)
				goto out;
			h->empty_layer = json_is_true(json_object_get(it, "empty_layer"));
		}
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		oci_config_release(c);
	return rc;
}

static json_t *keyset_json(const oci_strlist *l)
{
	json_t *o = json_object();
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < l->n; i++) {
		if (set_new(o, l->v[i], json_object()) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int oci_config_serialize(const oci_image_config *c, oci_buf *out, ocibuild_error *err)
{
	json_t *o = json_object(), *cfg = NULL, *rootfs = json_object(), *hist = json_array();
	size_t i;
	int bad = !o || !rootfs || !hist;

	if (!bad)
		cfg = c->extra ? json_deep_copy((json_t *)c->extra) : json_object();
	bad |= !cfg;
	if (bad) {
		json_decref(o);
		json_decref(cfg);
		json_decref(rootfs);
		json_decref(hist);
		return oci_err_nomem(err);
	}
	if (c->created)
		bad |= set_new(o, "created", json_string(c->created));
	if (c->author)
		bad |= set_new(o, "author", json_string(c->author));
	bad |= set_new(o, "architecture", str_or_null(c->platform.architecture));
	bad |= set_new(o, "os", str_or_null(c->platform.os));
	if (c->platform.variant)
		bad |= set_new(o, "variant", json_string(c->platform.variant));
	if (c->user)
		bad |= set_new(cfg, "User", json_string(c->user));
	if (c->env.n)
		bad |= set_new(cfg, "Env", list_json(&c->env));
	if (c->has_entrypoint)
		bad |= set_new(cfg, "Entrypoint", list_json(&c->entrypoint));
	if (c->has_cmd)
		bad |= set_new(cfg, "Cmd", list_json(&c->cmd));
	if (c->working_dir)
		bad |= set_new(cfg, "WorkingDir", json_string(c->working_dir));
	if (c->exposed_ports.n)
		bad |= set_new(cfg, "ExposedPorts", keyset_json(&c->exposed_ports));
	if (c->labels.n)
		bad |= set_new(cfg, "Labels", map_json(&c->labels));
	if (c->stop_signal)
		bad |= set_new(cfg, "StopSignal", json_string(c->stop_signal));
	if (c->volumes.n)
		bad |= set_new(cfg, "Volumes", keyset_json(&c->volumes));
	bad |= set_new(o, "config", cfg);
	bad |= set_new(rootfs, "type", json_string("layers"));
	bad |= set_new(rootfs, "diff_ids", list_json(&c->diff_ids));
	bad |= set_new(o, "rootfs", rootfs);
	for (i = 0; i < c->nhistory; i++) {
		const oci_history *h = &c->history[i];
		json_t *e = json_object();

		if (!e) {
			bad = 1;
			break;
		}
		if (h->created)
			bad |= set_new(e, "created", json_string(h->created));
		if (h->created_by)
			bad |= set_new(e, "created_by", json_string(h->created_by));
		if (h->comment)
			bad |= set_new(e, "comment", json_string(h->comment));
		if (h->empty_layer)
			bad |= set_new(e, "empty_layer", json_true());
		bad |= json_array_append_new(hist, e);
	}
	if (c->nhistory)
		bad |= set_new(o, "history", hist);
	else
		json_decref(hist);
	if (bad) {
		json_decref(o);
		return oci_err_nomem(err);
	}
	return dump(o, out, err);
}

int oci_config_add_history(oci_image_config *c, const char *created,
			   const char *created_by, const char *comment,
			   int empty_layer, ocibuild_error *err)
{
	oci_history *v = oci_reallocarray(c->history, c->nhistory + 1, sizeof(*v));
	oci_history *h;

	if (!v)
		return oci_err_nomem(err);
	c->history = v;
	h = &v[c->nhistory];
	memset(h, 0, sizeof(*h));
	h->created = created ? oci_strdup(created) : NULL;
	h->created_by = created_by ? oci_strdup(created_by) : NULL;
	h->comment = comment ? oci_strdup(comment) : NULL;
	h->empty_layer = empty_layer;
	c->nhistory++;
	if ((created && !h->created) || (created_by && !h->created_by) ||
	    (comment && !h->comment))
		return oci_err_nomem(err);
	return 0;
}

void oci_config_release(oci_image_config *c)
{
	size_t i;

	oci_free(c->created);
	oci_free(c->author);
	oci_platform_release(&c->platform);
	oci_free(c->user);
	oci_strlist_release(&c->env);
	oci_strlist_release(&c->entrypoint);
	oci_strlist_release(&c->cmd);
	oci_free(c->working_dir);
	oci_strlist_release(&c->exposed_ports);
	oci_map_release(&c->labels);
	oci_free(c->stop_signal);
	oci_strlist_release(&c->volumes);
	json_decref((json_t *)c->extra);
	oci_strlist_release(&c->diff_ids);
	for (i = 0; i < c->nhistory; i++) {
		oci_free(c->history[i].created);
		oci_free(c->history[i].created_by);
		oci_free(c->history[i].comment);
	}
	oci_free(c->history);
	memset(c, 0, sizeof(*c));
}

int oci_docker_manifest_json(const oci_manifest *m, const oci_strlist *repo_tags,
			     oci_buf *out, ocibuild_error *err)
{
	json_t *arr = json_array(), *o = json_object(), *layers = json_array();
	oci_buf p = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;
	int bad = !arr || !o || !layers;

	if (!bad) {
		bad |= oci_buf_printf(&p, err, "blobs/sha256/%s", oci_digest_hex(m->config.digest));
		bad |= set_new(o, "Config", json_string(p.data));
		for (i = 0; i < m->nlayers; i++) {
			oci_buf_reset(&p);
			bad |= oci_buf_printf(&p, err, "blobs/sha256/%s",
					      oci_digest_hex(m->layers[i].digest));
			bad |= json_array_append_new(layers, json_string(p.data));
		}
		bad |= set_new(o, "RepoTags", list_json(repo_tags));
		bad |= set_new(o, "Layers", layers);
		layers = NULL;
		bad |= json_array_append_new(arr, o);
		o = NULL;
	}
	oci_buf_release(&p);
	json_decref(o);
	json_decref(layers);
	if (bad) {
		json_decref(arr);
		return oci_err_nomem(err);
	}
	return dump(arr, out, err);
}

/* ---- argument lists ---- */

static int argv_push(char ***v, size_t *n, const char *s, size_t len, ocibuild_error *err)
{
	char **nv = oci_reallocarray(*v, *n + 2, sizeof(char *));

	if (!nv)
		return oci_err_nomem(err);
	*v = nv;
	nv[*n] = oci_strndup(s, len);
	if (!nv[*n])
		return oci_err_nomem(err);
	(*n)++;
	nv[*n] = NULL;
	return 0;
}

int ocibuild_argv_parse(const char *s, char ***out, size_t *count, ocibuild_error *err)
{
	char **v = oci_calloc(1, sizeof(char *));
	size_t n = 0, i;
	const char *p = s;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!v)
		return oci_err_nomem(err);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		json_error_t je;
		json_t *a = json_loads(s, JSON_DECODE_ANY, &je), *it;

		if (!json_is_array(a)) {
			rc = oci_err(err, OCIBUILD_ERR_OPTION, 0,
				     "bad argument list '%s': expected a JSON array of strings such as [\"/app/bin/x\",\"start\"]",
				     s);
		} else {
			json_array_foreach(a, i, it) {
				if (!json_is_string(it)) {
					rc = oci_err(err, OCIBUILD_ERR_OPTION, 0,
						     "bad argument list '%s': every element must be a string",
						     s);
					break;
				}
				rc = argv_push(&v, &n, json_string_value(it),
					       json_string_length(it), err);
				if (rc < 0)
					break;
			}
		}
		json_decref(a);
	} else {
		while (*p && rc == 0) {
			const char *w = p;

			while (*p && *p != ' ' && *p != '\t')
				p++;
			rc = argv_push(&v, &n, w, (size_t)(p - w), err);
			while (*p == ' ' || *p == '\t')
				p++;
		}
	}
	if (rc < 0) {
		ocibuild_argv_free(v);
		return -1;
	}
	*out = v;
	*count = n;
	return 0;
}

void ocibuild_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		oci_free(argv[i]);
	oci_free(argv);
}

/* ---- registry responses ---- */

char *oci_registry_error(const char *json, size_t len)
{
	json_t *j = json_loadb(json, len, 0, NULL), *errs, *e;
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;

	errs = json_is_object(j) ? json_object_get(j, "errors") : NULL;
	json_array_foreach(errs, i, e) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));

		if (oci_buf_printf(&b, NULL, "%s%s%s%s", b.len ? "; " : "", code ? code : "",
				   code && msg ? ": " : "", msg ? msg : "") < 0)
			break;
	}
	json_decref(j);
	if (!b.len) {
		oci_buf_release(&b);
		return NULL;
	}
	/* it ends up in a one-line message on a terminal: no line breaks or
	 * escape sequences from the server */
	for (i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
			b.data[i] = ' ';
	return oci_buf_detach(&b, NULL);
}

int oci_json_media_type(const char *json, size_t len, char **out, ocibuild_error *err)
{
	json_t *j = json_loadb(json, len, 0, NULL);
	const char *mt = json_is_object(j) ? json_string_value(json_object_get(j, "mediaType")) : NULL;

	*out = mt ? oci_strdup(mt) : NULL;
	json_decref(j);
	return mt && !*out ? oci_err_nomem(err) : 0;
}

char *oci_index_platforms(const oci_index *x)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_TEXT);
	size_t i;
	int rc;

	for (i = 0; i < x->n; i++) {
		char *p;

		if (!x->manifests[i].platform)
			continue;
		p = oci_platform_string(x->manifests[i].platform);
		/* attestation manifests are listed as unknown/unknown */
		rc = p && strcmp(p, "unknown/unknown")
			     ? oci_buf_printf(&b, NULL, "%s%s", b.len ? ", " : "", p)
			     : 0;
		oci_free(p);
		if (rc < 0) {
			oci_buf_release(&b);
			return NULL;
		}
	}
	return oci_buf_detach(&b, NULL);
}
