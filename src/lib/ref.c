#include <ctype.h>
#include <string.h>

#include "ref.h"
#include "buf.h"
#include "digest.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

/* an image reference as a string */
#define REF_STRING_MAX 1024u

#define MAX_NAME 255
#define MAX_TAG 128

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

int oci_tag_valid(const char *tag, size_t len)
{
	size_t i;

	if (len == 0 || len > MAX_TAG)
		return 0;
	if (!(is_alnum(tag[0]) || tag[0] == '_'))
		return 0;
	for (i = 1; i < len; i++)
		if (!(is_alnum(tag[i]) || tag[i] == '_' || tag[i] == '.' || tag[i] == '-'))
			return 0;
	return 1;
}

/* [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int path_component_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return 0;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i >= len || !is_lower_alnum(s[i]))
			return 0;
	}
	return 1;
}

static int host_valid(const char *s, size_t len)
{
	size_t i, start = 0, colon = len;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		size_t j;

		/* an IPv6 address: hex digits and colons only */
		if (!close || close == s + 1)
			return 0;
		for (j = 1; s + j < close; j++)
			if (!isxdigit((unsigned char)s[j]) && s[j] != ':')
				return 0;
		i = (size_t)(close - s) + 1;
		if (i == len)
			return 1;
		if (s[i] != ':')
			return 0;
		colon = i;
	} else {
		const char *c = memchr(s, ':', len);

		if (c)
			colon = (size_t)(c - s);
		/* dot-separated components of [a-zA-Z0-9-], not starting or ending with '-' */
		for (i = 0; i <= colon; i++) {
			if (i == colon || s[i] == '.') {
				if (i == start || s[start] == '-' || s[i - 1] == '-')
					return 0;
				start = i + 1;
			} else if (!is_alnum(s[i]) && s[i] != '-') {
				return 0;
			}
		}
	}
	if (colon < len) {
		if (colon + 1 == len)
			return 0;
		for (i = colon + 1; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return 0;
	}
	return 1;
}

int oci_ref_parse(const char *s, oci_ref *r, ocibuild_error *err)
{
	const char *at, *name_end, *slash, *p, *tag = NULL;
	size_t name_len, dlen = 0;
	int has_domain = 0;
	oci_buf path = OCI_BUF_INIT(OCI_MAX_TEXT);

	memset(r, 0, sizeof(*r));
	if (!*s)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "empty image reference");
	at = strchr(s, '@');
	if (at && !oci_digest_valid(at + 1))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "bad image reference '%s': the part after '@' must be sha256:<64 hex digits>",
			       s);
	name_end = at ? at : s + strlen(s);
	/* a tag is after the last ':' that follows the last '/' */
	slash = NULL;
	for (p = s; p < name_end; p++)
		if (*p == '/')
			slash = p;
	for (p = slash ? slash : s; p < name_end; p++) {
		if (*p == ':') {
			tag = p + 1;
			break;
		}
	}
	name_len = (size_t)((tag ? tag - 1 : name_end) - s);
	if (tag && !oci_tag_valid(tag, (size_t)(name_end - tag)))
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "bad tag in '%s': a tag is 1-128 of [A-Za-z0-9_.-] and does not start with '.' or '-'",
			       s);
	if (name_len == 0 || name_len > MAX_NAME)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "bad image name in '%s': it must have 1 to %d characters", s,
			       MAX_NAME);
	/* the first component is a domain when it has '.' or ':' or is localhost */
	p = memchr(s, '/', name_len);
	if (p) {
		size_t first = (size_t)(p - s);

		if (memchr(s, '.', first) || memchr(s, ':', first) ||
		    (first == 9 && !memcmp(s, "localhost", 9)) || s[0] == '[') {
			if (!host_valid(s, first))
				return oci_err(err, OCIBUILD_ERR_INPUT, 0,
					       "bad registry host in '%s'", s);
			has_domain = 1;
			dlen = first;
		}
	}
	{
		const char *c = s + (has_domain ? dlen + 1 : 0), *end = s + name_len;

		while (c <= end) {
			const char *e = memchr(c, '/', (size_t)(end - c));

			if (!e)
				e = end;
			if (!path_component_valid(c, (size_t)(e - c)))
				return oci_err(err, OCIBUILD_ERR_INPUT, 0,
					       "bad image name in '%s': use lower-case letters, digits and separators '.', '_', '__', '-' between them, components split by '/'",
					       s);
			c = e + 1;
		}
	}
	r->domain = has_domain ? oci_strndup(s, dlen) : oci_strdup(OCI_DOCKER_HUB);
	if (!r->domain)
		goto nomem;
	if (!strcmp(r->domain, "index.docker.io")) {
		oci_free(r->domain);
		r->domain = oci_strdup(OCI_DOCKER_HUB);
		if (!r->domain)
			goto nomem;
	}
	{
		const char *ps = s + (has_domain ? dlen + 1 : 0);
		size_t pl = name_len - (has_domain ? dlen + 1 : 0);

		if (!strcmp(r->domain, OCI_DOCKER_HUB) && !memchr(ps, '/', pl) &&
		    oci_buf_puts(&path, "library/", err) < 0)
			goto fail;
		if (oci_buf_append(&path, ps, pl, err) < 0)
			goto fail;
	}
	r->path = oci_buf_detach(&path, NULL);
	if (!r->path)
		goto nomem;
	/* the limit applies to the normalised name, as Docker does */
	if (strlen(r->domain) + 1 + strlen(r->path) > MAX_NAME) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0,
			"bad image name in '%s': with its registry it is longer than %d characters",
			s, MAX_NAME);
		goto fail;
	}
	if (tag)
		r->tag = oci_strndup(tag, (size_t)(name_end - tag));
	else if (!at)
		r->tag = oci_strdup("latest");
	if (at)
		r->digest = oci_strdup(at + 1);
	if ((tag || !at) && !r->tag)
		goto nomem;
	if (at && !r->digest)
		goto nomem;
	return 0;
nomem:
	oci_err_nomem(err);
fail:
	oci_buf_release(&path);
	oci_ref_release(r);
	return -1;
}

char *oci_ref_string(const oci_ref *r)
{
	oci_buf b = OCI_BUF_INIT(REF_STRING_MAX);

	if (oci_buf_printf(&b, NULL, "%s/%s", r->domain, r->path) < 0 ||
	    (r->tag && oci_buf_printf(&b, NULL, ":%s", r->tag) < 0) ||
	    (r->digest && oci_buf_printf(&b, NULL, "@%s", r->digest) < 0)) {
		oci_buf_release(&b);
		return NULL;
	}
	return oci_buf_detach(&b, NULL);
}

const char *oci_ref_api_host(const oci_ref *r)
{
	return strcmp(r->domain, OCI_DOCKER_HUB) ? r->domain : OCI_DOCKER_HUB_API;
}

void oci_ref_release(oci_ref *r)
{
	oci_free(r->domain);
	oci_free(r->path);
	oci_free(r->tag);
	oci_free(r->digest);
	memset(r, 0, sizeof(*r));
}

int ocibuild_tag_check(const char *tag, ocibuild_error *err)
{
	oci_ref r;

	if (oci_ref_parse(tag, &r, err) < 0)
		return -1;
	if (r.digest) {
		oci_ref_release(&r);
		return oci_err(err, OCIBUILD_ERR_INPUT, 0,
			       "bad tag '%s': a tag names an image as NAME:TAG, without '@digest'",
			       tag);
	}
	oci_ref_release(&r);
	return 0;
}
