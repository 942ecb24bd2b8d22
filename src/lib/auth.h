/* Registry credentials and challenges. Credentials are looked up in the
 * order docker and podman users expect and never printed; `source` says
 * where they came from, for error messages. */
#ifndef OCI_AUTH_H
#define OCI_AUTH_H
#include "ocibuild/ocibuild.h"

/* an Authorization header made here (Basic of a long password, a Bearer token) */
#define OCI_AUTH_MAX_HEADER (1u << 17)

typedef struct oci_cred {
	char *username;
	char *password;       /* or a token */
	char *identity_token; /* OAuth refresh token from config.json */
	char *source;         /* "OCIBUILD_PUSH_USERNAME", "~/.docker/config.json", ... */
} oci_cred;

typedef const char *(*oci_getenv_fn)(const char *name);
/* getenv(3) as an oci_getenv_fn. */
const char *oci_sys_getenv(const char *name);

/* Credentials for a registry domain ("docker.io", "localhost:5000").
 * Nothing found is success with empty fields and source "anonymous".
 * A credential helper named in config.json (credHelpers, credsStore) runs
 * in its own process group, at most OCIBUILD_CRED_HELPER_TIMEOUT seconds
 * (default 30, read through env), and is killed when ctx's cancel callback
 * asks to stop (error kind OCIBUILD_ERR_CANCELLED). ctx may be NULL. */
int oci_auth_lookup_ctx(ocibuild_ctx *ctx, const char *domain, int push, oci_getenv_fn env,
			oci_cred *c, ocibuild_error *err);
/* The same without a context: a helper can only time out. */
int oci_auth_lookup(const char *domain, int push, oci_getenv_fn env, oci_cred *c,
		    ocibuild_error *err);
void oci_cred_release(oci_cred *c);
/* Credentials for domain from the text of a docker config.json or a podman
 * auth.json (path names it in errors, source goes to c->source); *found
 * says whether it had any. With helper non-NULL (docker's file), a
 * matching "credHelpers" entry, or else "credsStore" when "auths" has
 * nothing, is returned there (heap, caller frees) for the caller to run. */
int oci_auth_config_parse(const char *text, size_t len, const char *path, const char *domain,
			  const char *source, oci_cred *c, int *found, char **helper,
			  ocibuild_error *err);

typedef enum oci_auth_scheme { OCI_AUTH_NONE, OCI_AUTH_BASIC, OCI_AUTH_BEARER } oci_auth_scheme;

typedef struct oci_challenge {
	oci_auth_scheme scheme;
	char *realm;
	char *service;
	char *scope;
} oci_challenge;

/* Parse a WWW-Authenticate value. Unknown schemes give OCI_AUTH_NONE. */
int oci_challenge_parse(const char *header, oci_challenge *c, ocibuild_error *err);
void oci_challenge_release(oci_challenge *c);

/* "Basic base64(user:pass)" (caller frees). */
char *oci_auth_basic_header(const char *user, const char *pass);
/* Token from a token endpoint's JSON ("token" or "access_token"), and
 * its lifetime in seconds: default 60, at most OCI_TOKEN_MAX_LIFETIME. */
#define OCI_TOKEN_MAX_LIFETIME 86400L
int oci_auth_parse_token(const char *json, size_t len, char **token, long *expires_in,
			 ocibuild_error *err);
/* Store user/password for domain as `docker login` does: through the
 * credential helper config.json names for it (credHelpers, else credsStore;
 * `docker-credential-NAME store`), config.json then getting only an empty
 * "auths" entry; without one, base64 in config.json. config.json is
 * $DOCKER_CONFIG/config.json (default ~/.docker/config.json); everything
 * else in it is kept, and when it is a symlink the file it points to is
 * replaced (atomically), not the link. ctx (may be NULL) as for
 * oci_auth_lookup_ctx. */
int oci_auth_login(ocibuild_ctx *ctx, const char *domain, const char *user,
		   const char *password, oci_getenv_fn env, ocibuild_error *err);
#endif
