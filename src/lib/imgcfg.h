/* The image config a build writes: the values the options give it
 * (environment, ports, working directory) checked and normalised, and the
 * config made from the base's, the options, a release's start settings
 * and the new layers. */
#ifndef OCI_IMGCFG_H
#define OCI_IMGCFG_H
#include "buf.h"
#include "oci.h"
#include "release.h"

/* One layer the build adds, for diff_ids and the history. */
typedef struct oci_imgcfg_layer {
	const char *diff_id;
	const char *what; /* "files", "runtime", "app", ... */
	int in_workdir;   /* its files are under the working directory, else under / */
} oci_imgcfg_layer;

typedef struct oci_imgcfg_in {
	const char *base_config; /* the base image's config JSON, or NULL for scratch */
	size_t base_config_len;
	const oci_platform *platform;
	const char *created; /* "YYYY-MM-DDTHH:MM:SSZ", also for the history */
	const char *user;    /* NULL: the base's, else "65534" */
	ocibuild_strv env;   /* KEY=VALUE, replacing the base's KEY */
	ocibuild_strv entrypoint, cmd;
	int entrypoint_set, cmd_set;
	const oci_strlist *ports; /* "PORT/PROTO" (oci_imgcfg_port), may be NULL */
	ocibuild_strv labels;     /* KEY=VALUE */
	const char *workdir;      /* absolute, normalised (oci_imgcfg_workdir) */
	const oci_release *release; /* NULL unless the image holds this release */
	const oci_imgcfg_layer *layers;
	size_t nlayers;
} oci_imgcfg_in;

/* Fill `c` from `in`. The base's Cmd goes with a new Entrypoint (as in a
 * Dockerfile); a release gets HOME, LANG, ERL_CRASH_DUMP and its start
 * script's temp directory (each unless set), its start script as the
 * Entrypoint and its foreground command as the Cmd (unless an Entrypoint
 * is given); a Cmd given is set last. PATH gets a default when nobody set
 * it. Free `c` with oci_config_release, also after a failure. */
int oci_imgcfg_make(const oci_imgcfg_in *in, oci_image_config *c, ocibuild_error *err);

/* Fails (an option error naming `flag`) unless kv is KEY=VALUE with a
 * non-empty KEY. */
int oci_imgcfg_kv_check(const char *kv, const char *flag, ocibuild_error *err);

/* Set every KEY=VALUE of kvs (checked with oci_imgcfg_kv_check) in m. */
int oci_imgcfg_set_kv(oci_map *m, const ocibuild_strv *kvs, ocibuild_error *err);

/* "8080" -> "8080/tcp", "53/udp" stays; PORT is 1-65535 and the protocol
 * tcp, udp or sctp. `out` is reset and gets the normalised form. */
int oci_imgcfg_port(const char *p, oci_buf *out, ocibuild_error *err);

/* "/opt//app/./" -> "/opt/app" (*out allocated); refuses a relative path
 * and "..". */
int oci_imgcfg_workdir(const char *in, char **out, ocibuild_error *err);
#endif
