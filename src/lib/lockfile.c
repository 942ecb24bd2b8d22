#include <ctype.h>
#include <string.h>

#include "lockfile.h"
#include "blobstore.h"
#include "buf.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "banned.h"

#define MAX_DEPTH 64
#define MAX_LOCK (16u << 20)

enum term_type { TT_TUPLE, TT_LIST, TT_MAP, TT_ATOM, TT_STR, TT_INT };

struct term {
	enum term_type type;
	int line;
	char *s; /* atom, string or integer text */
	struct term **v;
	size_t n;
};

struct reader {
	const char *p, *end;
	int line;
	int elixir;
	const char *file;
	ocibuild_error *err;
};

static void term_free(struct term *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		term_free(t->v[i]);
	oci_free(t->v);
	oci_free(t->s);
	oci_free(t);
}

static int fail(struct reader *r, const char *what)
{
	return oci_err(r->err, OCIBUILD_ERR_INPUT, 0,
		       "%s line %d: %s; regenerate the lock file with %s", r->file, r->line,
		       what, r->elixir ? "mix deps.get" : "rebar3 lock");
}

static void skip_space(struct reader *r)
{
	while (r->p < r->end) {
		char c = *r->p;

		if (c == '\n') {
			r->line++;
			r->p++;
		} else if (isspace((unsigned char)c)) {
			r->p++;
		} else if ((c == '%' && !r->elixir) || (c == '#' && r->elixir)) {
			while (r->p < r->end && *r->p != '\n')
				r->p++;
		} else {
			break;
		}
	}
}

static struct term *new_term(struct reader *r, enum term_type type)
{
	struct term *t = oci_calloc(1, sizeof(*t));

	if (!t) {
		oci_err_nomem(r->err);
		return NULL;
	}
	t->type = type;
	t->line = r->line;
	return t;
}

/* Capacity for n + 1 elements of an array grown only here: doubled when n
 * reaches a power of two, so that a list of 100k entries is not copied
 * 100k times. */
static size_t grown(size_t n)
{
	return n && !(n & (n - 1)) ? 2 * n : n + 1;
}

static int push(struct reader *r, struct term *parent, struct term *child)
{
	size_t n = parent->n;
	struct term **v = n && (n & (n - 1)) ? parent->v
					     : oci_reallocarray(parent->v, grown(n), sizeof(*v));

	if (!v) {
		term_free(child);
		return oci_err_nomem(r->err);
	}
	parent->v = v;
	v[parent->n++] = child;
	return 0;
}

/* A double-quoted string with backslash escapes; r->p is at the quote. */
static char *read_quoted(struct reader *r, char quote)
{
	oci_buf b = OCI_BUF_INIT(MAX_LOCK);
	int start_line = r->line;

	r->p++;
	while (r->p < r->end && *r->p != quote) {
		char c = *r->p++;

		if (c == '\n')
			r->line++;
		if (c == '\\' && r->p < r->end)
			c = *r->p++;
		if (r->elixir && c == '#' && r->p < r->end && *r->p == '{') {
			oci_buf_release(&b);
			fail(r, "string interpolation is not allowed in a lock file");
			return NULL;
		}
		if (oci_buf_append(&b, &c, 1, r->err) < 0) {
			oci_buf_release(&b);
			return NULL;
		}
	}
	if (r->p >= r->end) {
		oci_buf_release(&b);
		r->line = start_line;
		fail(r, "unterminated string");
		return NULL;
	}
	r->p++;
	return oci_buf_detach(&b, NULL);
}

static int is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '@' || c == '?' || c == '!';
}

static struct term *parse(struct reader *r, int depth);

/* Elements up to `close`, separated by commas (a trailing comma is allowed
 * in Elixir). In Elixir, `key: value` and `"key": value` and `k => v`
 * become 2-tuples. */
static struct term *parse_seq(struct reader *r, enum term_type type, char close, int depth)
{
	struct term *t = new_term(r, type);

	if (!t)
		return NULL;
	skip_space(r);
	while (r->p < r->end && *r->p != close) {
		struct term *e = parse(r, depth + 1);

		if (!e)
			goto bad;
		skip_space(r);
		if (r->elixir && r->p + 1 < r->end && r->p[0] == '=' && r->p[1] == '>') {
			struct term *pair = new_term(r, TT_TUPLE), *v;

			r->p += 2;
			v = pair ? parse(r, depth + 1) : NULL;
			if (!pair || !v || push(r, pair, e) < 0) {
				term_free(pair);
				term_free(v);
				if (pair == NULL || v == NULL)
					term_free(e);
				goto bad;
			}
			if (push(r, pair, v) < 0) {
				term_free(pair);
				goto bad;
			}
			e = pair;
			skip_space(r);
		}
		if (push(r, t, e) < 0)
			goto bad;
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			skip_space(r);
			continue;
		}
		if (r->p >= r->end || *r->p != close) {
			fail(r, "expected ',' or a closing bracket");
			goto bad;
		}
	}
	if (r->p >= r->end) {
		fail(r, "unexpected end of file");
		goto bad;
	}
	r->p++;
	return t;
bad:
	term_free(t);
	return NULL;
}

/* Elixir keyword key: `name:` or `"name":` followed by space. */
static struct term *keyword_pair(struct reader *r, char *key, int depth)
{
	struct term *pair = new_term(r, TT_TUPLE), *k, *v;

	if (!pair) {
		oci_free(key);
		return NULL;
	}
	k = new_term(r, TT_ATOM);
	if (!k) {
		oci_free(key);
		term_free(pair);
		return NULL;
	}
	k->s = key;
	if (push(r, pair, k) < 0) {
		term_free(pair);
		return NULL;
	}
	v = parse(r, depth + 1);
	if (!v || push(r, pair, v) < 0) {
		term_free(pair);
		return NULL;
	}
	return pair;
}

static struct term *parse(struct reader *r, int depth)
{
	struct term *t;
	char c;

	if (depth > MAX_DEPTH) {
		fail(r, "terms nested too deep");
		return NULL;
	}
	skip_space(r);
	if (r->p >= r->end) {
		fail(r, "unexpected end of file");
		return NULL;
	}
	c = *r->p;
	if (c == '{') {
		r->p++;
		return parse_seq(r, TT_TUPLE, '}', depth);
	}
	if (c == '[') {
		r->p++;
		return parse_seq(r, TT_LIST, ']', depth);
	}
	if (r->elixir && c == '%' && r->p + 1 < r->end && r->p[1] == '{') {
		r->p += 2;
		return parse_seq(r, TT_MAP, '}', depth);
	}
	if (!r->elixir && c == '<' && r->p + 2 < r->end && r->p[1] == '<' && r->p[2] == '"') {
		r->p += 2;
		t = new_term(r, TT_STR);
		if (!t || !(t->s = read_quoted(r, '"'))) {
			term_free(t);
			return NULL;
		}
		if (r->p + 1 >= r->end || r->p[0] != '>' || r->p[1] != '>') {
			term_free(t);
			fail(r, "expected '>>' after a binary");
			return NULL;
		}
		r->p += 2;
		return t;
	}
	if (c == '"') {
		char *s = read_quoted(r, '"');

		if (!s)
			return NULL;
		if (r->elixir && r->p < r->end && *r->p == ':' &&
		    (r->p + 1 >= r->end || isspace((unsigned char)r->p[1]))) {
			r->p++;
			return keyword_pair(r, s, depth);
		}
		t = new_term(r, TT_STR);
		if (!t) {
			oci_free(s);
			return NULL;
		}
		t->s = s;
		return t;
	}
	if (!r->elixir && c == '\'') {
		t = new_term(r, TT_ATOM);
		if (!t || !(t->s = read_quoted(r, '\''))) {
			term_free(t);
			return NULL;
		}
		return t;
	}
	if (r->elixir && c == ':' && r->p + 1 < r->end && r->p[1] == '"') {
		r->p++;
		t = new_term(r, TT_ATOM);
		if (!t || !(t->s = read_quoted(r, '"'))) {
			term_free(t);
			return NULL;
		}
		return t;
	}
	if (c == '-' || isdigit((unsigned char)c)) {
		const char *s = r->p++;

		while (r->p < r->end && (isdigit((unsigned char)*r->p) || *r->p == '_'))
			r->p++;
		/* a float (an .app file's env may hold one); "1." ends a term */
		if (r->p + 1 < r->end && *r->p == '.' && isdigit((unsigned char)r->p[1])) {
			r->p++;
			while (r->p < r->end && isdigit((unsigned char)*r->p))
				r->p++;
			if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
				r->p++;
				if (r->p < r->end && (*r->p == '-' || *r->p == '+'))
					r->p++;
				while (r->p < r->end && isdigit((unsigned char)*r->p))
					r->p++;
			}
		}
		t = new_term(r, TT_INT);
		if (t && !(t->s = oci_strndup(s, (size_t)(r->p - s)))) {
			term_free(t);
			oci_err_nomem(r->err);
			return NULL;
		}
		return t;
	}
	if ((r->elixir && c == ':') || islower((unsigned char)c) ||
	    (r->elixir && isupper((unsigned char)c))) {
		const char *s;
		char *name;

		if (c == ':')
			r->p++;
		s = r->p;
		while (r->p < r->end && (is_ident(*r->p) || (r->elixir && *r->p == '.')))
			r->p++;
		if (r->p == s) {
			fail(r, "unexpected character");
			return NULL;
		}
		name = oci_strndup(s, (size_t)(r->p - s));
		if (!name) {
			oci_err_nomem(r->err);
			return NULL;
		}
		if (r->elixir && c != ':' && r->p < r->end && *r->p == ':' &&
		    (r->p + 1 >= r->end || isspace((unsigned char)r->p[1]))) {
			r->p++;
			return keyword_pair(r, name, depth);
		}
		t = new_term(r, TT_ATOM);
		if (!t) {
			oci_free(name);
			return NULL;
		}
		t->s = name;
		return t;
	}
	fail(r, "unexpected character");
	return NULL;
}

/* ---- interpretation ---- */

static const char *str_of(const struct term *t)
{
	return t && (t->type == TT_STR || t->type == TT_ATOM) ? t->s : NULL;
}

static int is_atom(const struct term *t, const char *name)
{
	return t && t->type == TT_ATOM && !strcmp(t->s, name);
}

static int dup_into(char **dst, const char *s, ocibuild_error *err)
{
	if (!s)
		return 0;
	*dst = oci_strdup(s);
	return *dst ? 0 : oci_err_nomem(err);
}

static oci_lock_dep *add_dep(oci_lock *l, ocibuild_error *err)
{
	size_t n = l->n;
	oci_lock_dep *v = n && (n & (n - 1)) ? l->deps
					     : oci_reallocarray(l->deps, grown(n), sizeof(*v));

	if (!v) {
		oci_err_nomem(err);
		return NULL;
	}
	l->deps = v;
	memset(&v[l->n], 0, sizeof(*v));
	return &v[l->n++];
}

static void lower(char *s)
{
	for (; s && *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int rebar_entry(struct reader *r, const struct term *e, oci_lock *l)
{
	const struct term *src;
	oci_lock_dep *d;

	r->line = e->line;
	if (e->type != TT_TUPLE || e->n < 2 || !str_of(e->v[0]) || e->v[1]->type != TT_TUPLE ||
	    e->v[1]->n < 2)
		return fail(r, "expected {<<\"name\">>, {pkg|git, ...}, Level}");
	src = e->v[1];
	d = add_dep(l, r->err);
	if (!d || dup_into(&d->name, str_of(e->v[0]), r->err) < 0)
		return -1;
	if (is_atom(src->v[0], "pkg")) {
		if (src->n < 3 || !str_of(src->v[1]) || !str_of(src->v[2]))
			return fail(r, "expected {pkg, <<\"name\">>, <<\"version\">>}");
		d->source = OCI_DEP_HEX;
		if (dup_into(&d->hex_name, str_of(src->v[1]), r->err) < 0 ||
		    dup_into(&d->version, str_of(src->v[2]), r->err) < 0 ||
		    dup_into(&d->repo, "hexpm", r->err) < 0)
			return -1;
	} else if (is_atom(src->v[0], "git") || is_atom(src->v[0], "git_subdir")) {
		const struct term *ref = src->n > 2 ? src->v[2] : NULL;

		if (!str_of(src->v[1]))
			return fail(r, "expected {git, \"url\", {ref, \"sha\"}}");
		d->source = OCI_DEP_GIT;
		if (dup_into(&d->git_url, str_of(src->v[1]), r->err) < 0)
			return -1;
		if (ref && ref->type == TT_TUPLE && ref->n == 2 && str_of(ref->v[1]) &&
		    dup_into(&d->git_ref, str_of(ref->v[1]), r->err) < 0)
			return -1;
	} else {
		d->source = OCI_DEP_OTHER;
	}
	return 0;
}

static int rebar_hashes(struct reader *r, const struct term *t, oci_lock *l, int outer)
{
	size_t i;

	r->line = t->line;
	if (t->type != TT_LIST)
		return fail(r, "expected a list of {<<\"name\">>, <<\"HASH\">>}");
	for (i = 0; i < t->n; i++) {
		const struct term *e = t->v[i];
		size_t j;

		if (e->type != TT_TUPLE || e->n != 2 || !str_of(e->v[0]) || !str_of(e->v[1])) {
			r->line = e->line;
			return fail(r, "expected {<<\"name\">>, <<\"HASH\">>}");
		}
		for (j = 0; j < l->n; j++) {
			oci_lock_dep *d = &l->deps[j];

			if (strcmp(d->name, e->v[0]->s) || (d->sha256 && !outer))
				continue;
			oci_free(d->sha256);
			d->sha256 = NULL;
			if (dup_into(&d->sha256, e->v[1]->s, r->err) < 0)
				return -1;
			lower(d->sha256);
		}
	}
	return 0;
}

static int read_terms(struct reader *r, struct term **terms, size_t max, size_t *n)
{
	*n = 0;
	for (;;) {
		struct term *t;

		skip_space(r);
		if (r->p >= r->end)
			return 0;
		if (*n == max)
			return fail(r, "unexpected extra term");
		t = parse(r, 0);
		if (!t)
			return -1;
		terms[(*n)++] = t;
		skip_space(r);
		if (!r->elixir) {
			if (r->p >= r->end || *r->p != '.')
				return fail(r, "expected '.' after a term");
			r->p++;
		}
	}
}

static int parse_rebar(const char *text, size_t len, const char *file, oci_lock *out,
		       ocibuild_error *err)
{
	struct reader r = { text, text + len, 1, 0, file, err };
	struct term *terms[2] = { NULL, NULL };
	const struct term *deps;
	size_t n = 0, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (read_terms(&r, terms, 2, &n) < 0)
		goto out;
	if (n == 0) {
		rc = 0; /* an empty lock: no dependencies */
		goto out;
	}
	deps = terms[0];
	if (deps->type == TT_TUPLE && deps->n == 2 && deps->v[0]->type == TT_STR)
		deps = deps->v[1];
	r.line = deps->line;
	if (deps->type != TT_LIST) {
		fail(&r, "expected {\"1.2.0\", [...]} or a list of dependencies");
		goto out;
	}
	for (i = 0; i < deps->n; i++)
		if (rebar_entry(&r, deps->v[i], out) < 0)
			goto out;
	if (n == 2) {
		const struct term *meta = terms[1];

		r.line = meta->line;
		if (meta->type != TT_LIST) {
			fail(&r, "expected [{pkg_hash, [...]}, ...]");
			goto out;
		}
		for (i = 0; i < meta->n; i++) {
			const struct term *e = meta->v[i];

			if (e->type != TT_TUPLE || e->n != 2)
				continue;
			if (is_atom(e->v[0], "pkg_hash") && rebar_hashes(&r, e->v[1], out, 0) < 0)
				goto out;
			if (is_atom(e->v[0], "pkg_hash_ext") && rebar_hashes(&r, e->v[1], out, 1) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	term_free(terms[0]);
	term_free(terms[1]);
	if (rc < 0)
		oci_lock_release(out);
	return rc;
}

/* The names in a list of atoms or of tuples that start with one: an .app's
 * [kernel, stdlib] or a mix.lock entry's [{:dep, "~> 1.0", opts}]. */
static int names_of(struct reader *r, const struct term *t, char ***out, size_t *n)
{
	size_t i;

	if (t->type != TT_LIST)
		return 0;
	for (i = 0; i < t->n; i++) {
		const struct term *e = t->v[i];
		const char *name = e->type == TT_TUPLE && e->n ? str_of(e->v[0]) : str_of(e);
		char **v;

		if (!name)
			continue;
		v = oci_reallocarray(*out, *n + 1, sizeof(*v));
		if (!v)
			return oci_err_nomem(r->err);
		*out = v;
		if (!(v[*n] = oci_strdup(name)))
			return oci_err_nomem(r->err);
		(*n)++;
	}
	return 0;
}

static int mix_entry(struct reader *r, const struct term *pair, oci_lock *l)
{
	const struct term *v;
	oci_lock_dep *d;

	r->line = pair->line;
	if (pair->type != TT_TUPLE || pair->n != 2 || !str_of(pair->v[0]))
		return fail(r, "expected \"name\": {...}");
	v = pair->v[1];
	if (v->type != TT_TUPLE || v->n < 2 || v->v[0]->type != TT_ATOM)
		return fail(r, "expected {:hex, ...} or {:git, ...}");
	d = add_dep(l, r->err);
	if (!d || dup_into(&d->name, str_of(pair->v[0]), r->err) < 0)
		return -1;
	if (is_atom(v->v[0], "hex")) {
		if (v->n < 4 || !str_of(v->v[1]) || v->v[2]->type != TT_STR)
			return fail(r, "expected {:hex, :name, \"version\", \"hash\", ...}");
		d->source = OCI_DEP_HEX;
		if (dup_into(&d->hex_name, str_of(v->v[1]), r->err) < 0 ||
		    dup_into(&d->version, v->v[2]->s, r->err) < 0)
			return -1;
		/* the outer checksum (of the tarball) is the last element in
		 * current locks; older ones only have the inner one */
		if (v->n >= 8 && v->v[7]->type == TT_STR) {
			if (dup_into(&d->sha256, v->v[7]->s, r->err) < 0)
				return -1;
		} else if (v->v[3]->type == TT_STR &&
			   dup_into(&d->sha256, v->v[3]->s, r->err) < 0) {
			return -1;
		}
		lower(d->sha256);
		if (v->n >= 6 && names_of(r, v->v[5], &d->requires, &d->nrequires) < 0)
			return -1;
		if (dup_into(&d->repo, v->n >= 7 && v->v[6]->type == TT_STR ? v->v[6]->s : "hexpm",
			     r->err) < 0)
			return -1;
	} else if (is_atom(v->v[0], "git")) {
		if (v->n < 3 || v->v[1]->type != TT_STR || v->v[2]->type != TT_STR)
			return fail(r, "expected {:git, \"url\", \"ref\", opts}");
		d->source = OCI_DEP_GIT;
		if (dup_into(&d->git_url, v->v[1]->s, r->err) < 0 ||
		    dup_into(&d->git_ref, v->v[2]->s, r->err) < 0)
			return -1;
	} else {
		d->source = OCI_DEP_OTHER;
	}
	return 0;
}

static int parse_mix(const char *text, size_t len, const char *file, oci_lock *out,
		     ocibuild_error *err)
{
	struct reader r = { text, text + len, 1, 1, file, err };
	struct term *terms[1] = { NULL };
	size_t n = 0, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (read_terms(&r, terms, 1, &n) < 0)
		goto out;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	r.line = terms[0]->line;
	if (terms[0]->type != TT_MAP) {
		fail(&r, "expected a map %{...}");
		goto out;
	}
	for (i = 0; i < terms[0]->n; i++)
		if (mix_entry(&r, terms[0]->v[i], out) < 0)
			goto out;
	rc = 0;
out:
	term_free(terms[0]);
	if (rc < 0)
		oci_lock_release(out);
	return rc;
}

int oci_lock_parse_rebar(const char *text, size_t len, oci_lock *out, ocibuild_error *err)
{
	return parse_rebar(text, len, "rebar.lock", out, err);
}

int oci_lock_parse_mix(const char *text, size_t len, oci_lock *out, ocibuild_error *err)
{
	return parse_mix(text, len, "mix.lock", out, err);
}

static int looks_like_mix(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s[0] == '%' && s[1] == '{';
}

int oci_lock_load(const char *path, oci_lock *out, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(MAX_LOCK);
	const char *base = strrchr(path, '/');
	int rc;

	memset(out, 0, sizeof(*out));
	base = base ? base + 1 : path;
	if (oci_read_file(path, MAX_LOCK, &b, err) < 0)
		return -1;
	/* by name, else by content (a copy may be called anything): a
	 * mix.lock is one Elixir map, "%{...}", a rebar.lock Erlang terms */
	if (!strcmp(base, "mix.lock") ||
	    (strcmp(base, "rebar.lock") && looks_like_mix(b.data)))
		rc = parse_mix(b.data, b.len, path, out, err);
	else
		rc = parse_rebar(b.data, b.len, path, out, err);
	oci_buf_release(&b);
	return rc;
}

const oci_lock_dep *oci_lock_find(const oci_lock *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->deps[i].name, name))
			return &l->deps[i];
	return NULL;
}

static void free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		oci_free(v[i]);
	oci_free(v);
}

void oci_lock_release(oci_lock *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		oci_lock_dep *d = &l->deps[i];

		oci_free(d->name);
		oci_free(d->version);
		oci_free(d->hex_name);
		oci_free(d->repo);
		oci_free(d->git_url);
		oci_free(d->git_ref);
		oci_free(d->sha256);
		free_names(d->requires, d->nrequires);
	}
	oci_free(l->deps);
	memset(l, 0, sizeof(*l));
}

int oci_lock_app_parse(const char *text, size_t len, const char *file, oci_lock_app *out,
		       ocibuild_error *err)
{
	struct reader r = { text, text + len, 1, 0, file, err };
	struct term *terms[1] = { NULL };
	const struct term *t, *props;
	size_t n = 0, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (read_terms(&r, terms, 1, &n) < 0)
		goto out;
	t = terms[0];
	if (n != 1 || t->type != TT_TUPLE || t->n != 3 || !is_atom(t->v[0], "application") ||
	    !str_of(t->v[1]) || t->v[2]->type != TT_LIST) {
		r.line = n ? t->line : 1;
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"%s line %d: expected {application, Name, [...]}; rebuild the release", file,
			r.line);
		goto out;
	}
	if (dup_into(&out->name, str_of(t->v[1]), err) < 0)
		goto out;
	props = t->v[2];
	for (i = 0; i < props->n; i++) {
		const struct term *p = props->v[i];

		if (p->type != TT_TUPLE || p->n != 2)
			continue;
		if (is_atom(p->v[0], "vsn") && p->v[1]->type == TT_STR && !out->vsn &&
		    dup_into(&out->vsn, p->v[1]->s, err) < 0)
			goto out;
		if ((is_atom(p->v[0], "applications") ||
		     is_atom(p->v[0], "included_applications")) &&
		    names_of(&r, p->v[1], &out->uses, &out->nuses) < 0)
			goto out;
	}
	rc = 0;
out:
	term_free(terms[0]);
	if (rc < 0)
		oci_lock_app_release(out);
	return rc;
}

void oci_lock_app_release(oci_lock_app *a)
{
	oci_free(a->name);
	oci_free(a->vsn);
	free_names(a->uses, a->nuses);
	memset(a, 0, sizeof(*a));
}
