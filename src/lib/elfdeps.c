#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gelf.h>
#include <libelf.h>

#include "elfdeps.h"
#include "blobstore.h"
#include "buf.h"
#include "caps.h"
#include "ctx.h"
#include "err.h"
#include "fs.h"
#include "mem.h"
#include "par.h"
#include "banned.h"

/* an ld.so.conf file (or one it includes) */
#define LD_CONF_MAX (1u << 20)

int oci_elf_is_elf(const char *path)
{
	return oci_file_is_elf(AT_FDCWD, path, 0) == 1;
}

const char *oci_elf_arch(int machine, int elfclass)
{
	switch (machine) {
	case EM_X86_64:
		return "amd64";
	case EM_AARCH64:
		return "arm64";
	case EM_ARM:
		return "arm";
	case EM_386:
		return "386";
	case EM_PPC64:
		return "ppc64le";
	case EM_S390:
		return elfclass == ELFCLASS64 ? "s390x" : "s390";
	case EM_RISCV:
		return elfclass == ELFCLASS64 ? "riscv64" : "riscv32";
	default:
		return NULL;
	}
}

static int split_push(oci_strlist *l, const char *s, ocibuild_error *err)
{
	while (*s) {
		const char *c = strchr(s, ':');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		char *one = oci_strndup(s, n);

		if (!one)
			return oci_err_nomem(err);
		if (n && oci_strlist_push(l, one, err) < 0) {
			oci_free(one);
			return -1;
		}
		oci_free(one);
		s += n + (c ? 1 : 0);
	}
	return 0;
}

int oci_elf_read(const char *path, oci_elf_info *info, ocibuild_error *err)
{
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t i, nph;
	int fd, rc = -1, has_runpath = 0;

	memset(info, 0, sizeof(*info));
	if (!oci_elf_is_elf(path))
		return 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return oci_err(err, OCIBUILD_ERR_INTERNAL, 0, "libelf is out of date");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return oci_err_errno(err, errno, "cannot read '%s': %s", path, strerror(errno));
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		oci_err(err, OCIBUILD_ERR_INPUT, 0, "'%s' is a damaged ELF file: %s", path,
			elf_errmsg(-1));
		goto out;
	}
	info->is_elf = 1;
	info->machine = eh.e_machine;
	info->elfclass = gelf_getclass(e);
	if (elf_getphdrnum(e, &nph) == 0) {
		for (i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
				continue;
			{
				size_t len;
				char *raw = elf_rawfile(e, &len);

				if (raw && ph.p_offset < len && ph.p_filesz <= len - ph.p_offset) {
					info->interp = oci_strndup(raw + ph.p_offset,
								   strnlen(raw + ph.p_offset, ph.p_filesz));
					if (!info->interp) {
						oci_err_nomem(err);
						goto out;
					}
				}
			}
		}
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		size_t j;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		data = elf_getdata(scn, NULL);
		for (j = 0; data && sh.sh_entsize && j < sh.sh_size / sh.sh_entsize; j++) {
			GElf_Dyn dyn;
			const char *s;

			if (!gelf_getdyn(data, (int)j, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH)
				continue;
			s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!s)
				continue;
			if (dyn.d_tag == DT_RPATH && has_runpath)
				continue; /* DT_RUNPATH wins over DT_RPATH */
			if (dyn.d_tag == DT_RUNPATH && !has_runpath) {
				oci_strlist_release(&info->runpath);
				has_runpath = 1;
			}
			if (dyn.d_tag == DT_RPATH)
				info->is_rpath = 1;
			if (dyn.d_tag == DT_NEEDED ? oci_strlist_push(&info->needed, s, err) < 0
						   : split_push(&info->runpath, s, err) < 0)
				goto out;
		}
	}
	if (has_runpath)
		info->is_rpath = 0;
	rc = 0;
out:
	if (e)
		elf_end(e);
	close(fd);
	if (rc < 0)
		oci_elf_release(info);
	return rc;
}

void oci_elf_release(oci_elf_info *info)
{
	oci_free(info->interp);
	oci_strlist_release(&info->needed);
	oci_strlist_release(&info->runpath);
	memset(info, 0, sizeof(*info));
}

static int push_unique(oci_strlist *l, const char *s, ocibuild_error *err)
{
	return oci_strlist_has(l, s) ? 0 : oci_strlist_push(l, s, err);
}

/* Directories from an ld.so.conf file, following `include` globs. */
static int read_ldconf(const char *path, oci_strlist *dirs, int depth, ocibuild_error *err)
{
	oci_buf b = OCI_BUF_INIT(LD_CONF_MAX);
	char *line, *next;
	int rc = 0;

	if (depth > 8 || oci_read_file(path, LD_CONF_MAX, &b, NULL) < 0) {
		oci_buf_release(&b);
		return 0;
	}
	for (line = b.data; line && rc == 0; line = next) {
		char *hash, *end;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line)
			continue;
		if (!strncmp(line, "include", 7) && (line[7] == ' ' || line[7] == '\t')) {
			glob_t g;
			size_t i;
			char *pat = line + 8;

			while (*pat == ' ' || *pat == '\t')
				pat++;
			if (glob(pat, 0, NULL, &g) == 0) {
				for (i = 0; i < g.gl_pathc && rc == 0; i++)
					rc = read_ldconf(g.gl_pathv[i], dirs, depth + 1, err);
				globfree(&g);
			}
		} else if (line[0] == '/') {
			rc = push_unique(dirs, line, err);
		}
	}
	oci_buf_release(&b);
	return rc;
}

static char *expand_origin(const char *dir, const char *binary)
{
	oci_buf b = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	const char *slash = strrchr(binary, '/');
	size_t olen = slash ? (size_t)(slash - binary) : 1;
	const char *p = dir;

	while (*p) {
		if (!strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9)) {
			if (oci_buf_append(&b, slash ? binary : ".", olen, NULL) < 0)
				goto fail;
			p += p[1] == '{' ? 9 : 7;
		} else {
			if (oci_buf_append(&b, p, 1, NULL) < 0)
				goto fail;
			p++;
		}
	}
	return oci_buf_detach(&b, NULL);
fail:
	oci_buf_release(&b);
	return NULL;
}

/* Find lib for a binary of (machine, class): its runpath first, then the
 * system directories. *out gets a heap path, or NULL when not found; -1
 * only when out of memory. */
static int resolve(const char *lib, const oci_elf_info *bin, const char *binpath,
		   const oci_strlist *inherited, const oci_strlist *sysdirs, char **out,
		   ocibuild_error *err)
{
	size_t i, pass;

	*out = NULL;
	if (strchr(lib, '/'))
		return (*out = oci_strdup(lib)) ? 0 : oci_err_nomem(err);
	/* the object's own runpath; then (as the loader does) the DT_RPATH of
	 * the executables that load it, already expanded; then the system */
	for (pass = 0; pass < 3; pass++) {
		const oci_strlist *dirs = pass == 0 ? &bin->runpath : pass == 1 ? inherited : sysdirs;

		for (i = 0; i < dirs->n; i++) {
			char *dir = pass ? oci_strdup(dirs->v[i]) : expand_origin(dirs->v[i], binpath);
			oci_buf p = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
			ocibuild_error e = { 0 };
			oci_elf_info li;
			struct stat st;
			int rc;

			if (!dir)
				return oci_err_nomem(err);
			rc = oci_buf_printf(&p, err, "%s/%s", dir, lib);
			oci_free(dir);
			if (rc < 0)
				return -1;
			if (stat(p.data, &st) == 0 && S_ISREG(st.st_mode)) {
				if (oci_elf_read(p.data, &li, &e) == 0) {
					int ok = li.is_elf && li.machine == bin->machine &&
						 li.elfclass == bin->elfclass;

					oci_elf_release(&li);
					if (ok) {
						*out = oci_buf_detach(&p, NULL);
						return 0;
					}
				} else if (e.kind == OCIBUILD_ERR_NOMEM) {
					oci_buf_release(&p);
					return oci_err_nomem(err);
				}
				ocibuild_error_clear(&e);
			}
			oci_buf_release(&p);
		}
	}
	return 0;
}

int oci_elf_closure(const oci_strlist *binaries, oci_strlist *files, ocibuild_error *err)
{
	static const char *const defaults[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
		"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/lib64", "/usr/lib64", "/lib", "/usr/lib", NULL,
	};
	oci_strlist sysdirs = { 0 }, queue = { 0 }, inherited = { 0 };
	size_t i, q;
	int rc = -1;

	if (read_ldconf("/etc/ld.so.conf", &sysdirs, 0, err) < 0)
		goto out;
	for (i = 0; defaults[i]; i++)
		if (push_unique(&sysdirs, defaults[i], err) < 0)
			goto out;
	for (i = 0; i < binaries->n; i++)
		if (push_unique(&queue, binaries->v[i], err) < 0)
			goto out;
	for (q = 0; q < queue.n; q++) {
		oci_elf_info info;
		const char *bin = queue.v[q];

		if (oci_elf_read(bin, &info, err) < 0)
			goto out;
		if (!info.is_elf) {
			oci_elf_release(&info);
			continue;
		}
		if (q < binaries->n && info.is_rpath) {
			for (i = 0; i < info.runpath.n; i++) {
				char *d = expand_origin(info.runpath.v[i], bin);

				if (!d)
					oci_err_nomem(err);
				if (!d || push_unique(&inherited, d, err) < 0) {
					oci_free(d);
					oci_elf_release(&info);
					goto out;
				}
				oci_free(d);
			}
		}
		if (info.interp) {
			if (access(info.interp, R_OK) < 0) {
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"'%s' needs the dynamic loader '%s', which is not on this machine",
					bin, info.interp);
				oci_elf_release(&info);
				goto out;
			}
			if (push_unique(files, info.interp, err) < 0 ||
			    push_unique(&queue, info.interp, err) < 0) {
				oci_elf_release(&info);
				goto out;
			}
		}
		for (i = 0; i < info.needed.n; i++) {
			char *found;

			if (resolve(info.needed.v[i], &info, bin, &inherited, &sysdirs, &found,
				    err) < 0) {
				oci_elf_release(&info);
				goto out;
			}
			if (!found) {
				oci_err(err, OCIBUILD_ERR_INPUT, 0,
					"'%s' needs '%s', which is not installed on this machine: install the package that provides it",
					bin, info.needed.v[i]);
				oci_elf_release(&info);
				goto out;
			}
			if (push_unique(files, found, err) < 0 ||
			    push_unique(&queue, found, err) < 0) {
				oci_free(found);
				oci_elf_release(&info);
				goto out;
			}
			oci_free(found);
		}
		oci_elf_release(&info);
	}
	rc = 0;
out:
	oci_strlist_release(&sysdirs);
	oci_strlist_release(&queue);
	oci_strlist_release(&inherited);
	return rc;
}

/* NIFs of a release without ERTS that do not match some of the platforms:
 * a base image can provide ERTS for each platform, but not the project's
 * native code, so the user is told which images will miss it. */
static void warn_foreign_nifs(ocibuild_ctx *ctx, const oci_platform *v, size_t np,
			      const oci_strlist *files, const unsigned char *foreign)
{
	oci_buf m = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	size_t i, n = 0;
	int rc = oci_buf_puts(&m, "native code built for this machine will not run on ", NULL);

	for (i = 0; i < np && rc == 0; i++) {
		char *ps;

		if (!foreign[i])
			continue;
		ps = oci_platform_string(&v[i]);
		rc = oci_buf_printf(&m, NULL, "%s%s", n++ ? ", " : "", ps ? ps : "?");
		oci_free(ps);
	}
	if (rc == 0)
		rc = oci_buf_puts(&m, ": ", NULL);
	for (i = 0; i < files->n && rc == 0; i++)
		rc = oci_buf_printf(&m, NULL, "%s%s", i ? ", " : "", files->v[i]);
	if (rc == 0)
		rc = oci_buf_puts(&m, "; build those NIFs for each platform, or leave out the platforms they are not built for",
				  NULL);
	/* a warning only: when its list does not fit in memory, say it without the list */
	oci_log(ctx, OCIBUILD_LOG_WARN, "%s",
		rc == 0 ? m.data
			: "native code built for this machine will not run on some of the platforms; build its NIFs for each platform");
	oci_buf_release(&m);
}

/* The ELF magic of every regular file of 64 bytes or more in a walk, one
 * slot per entry: 1 ELF, 0 not (or not a candidate), 2 not known here (a
 * path too long for the stack buffer: the caller checks it itself). */
struct magic {
	const char *root;
	const oci_walk *w;
	unsigned char *is_elf;
};

/* Every file has to be opened (any of them may be a NIF or an ERTS
 * binary without an x bit), but a .beam (oci_file_not_native) and those
 * the walk read (w->magic): the opens
 * go side by side on the context's threads, each into a slot of its own. */
static int magic_one(void *ud, size_t i)
{
	struct magic *m = ud;
	const oci_walk_entry *e = &m->w->v[i];
	char path[4096];
	int n;

	if (e->type != OCI_TAR_FILE || e->size < 64 || oci_file_not_native(e->rel))
		return 0;
	if (e->elf != OCI_WALK_ELF_UNKNOWN) { /* the walk read it */
		m->is_elf[i] = e->elf == OCI_WALK_ELF_YES;
		return 0;
	}
	n = snprintf(path, sizeof(path), "%s/%s", m->root, e->rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		m->is_elf[i] = 2;
	else
		m->is_elf[i] = (unsigned char)oci_elf_is_elf(path);
	return 0;
}

int oci_elf_check_tree(ocibuild_ctx *ctx, const char *root, const oci_walk *w,
		       const oci_platform *v, size_t np, int own_erts, oci_strlist *elves,
		       ocibuild_error *err)
{
	oci_buf path = OCI_BUF_INIT(OCI_MAX_PATH_TEXT);
	oci_strlist foreign_files = { 0 };
	unsigned char *foreign = oci_calloc(np, 1);
	const oci_platform *want0 = &v[0];
	struct magic mg = { root, w, w->n ? oci_calloc(w->n, 1) : NULL };
	size_t i, k;
	int rc = foreign && (mg.is_elf || !w->n) ? 0 : oci_err_nomem(err);

	if (rc == 0)
		oci_par_for(w->n, oci_ctx_threads(ctx), magic_one, &mg);
	for (i = 0; i < w->n && rc == 0; i++) {
		const oci_walk_entry *e = &w->v[i];
		oci_elf_info info;
		const char *arch;
		int matches = 1;

		if (e->type != OCI_TAR_FILE || e->size < 64)
			continue;
		oci_buf_reset(&path);
		if (oci_buf_printf(&path, err, "%s/%s", root, e->rel) < 0) {
			rc = -1;
			break;
		}
		if (!mg.is_elf[i] || (mg.is_elf[i] == 2 && !oci_elf_is_elf(path.data)))
			continue;
		if (oci_elf_read(path.data, &info, err) < 0) {
			rc = -1;
			break;
		}
		arch = oci_elf_arch(info.machine, info.elfclass);
		for (k = 0; k < np && rc == 0; k++) {
			const oci_platform *want = &v[k];
			char *ws;

			if (arch && !strcmp(arch, want->architecture))
				continue;
			matches = 0;
			if (np == 1) {
				rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
					     "'%s' is built for %s but the image is for %s/%s: build the release on (or for) %s, or pass --platform %s/%s",
					     path.data, arch ? arch : "an unknown machine", want0->os,
					     want0->architecture, want0->architecture, want0->os,
					     arch ? arch : "?");
			} else if (own_erts) {
				ws = oci_platform_string(want);
				rc = oci_err(err, OCIBUILD_ERR_INPUT, 0,
					     "'%s' is built for %s, so this release (it bundles ERTS) can not run on %s: build the release without ERTS (include_erts false in rebar.config's relx, include_erts: false in mix.exs) and use a --base image that provides Erlang for each platform",
					     path.data, arch ? arch : "an unknown machine",
					     ws ? ws : want->architecture);
				oci_free(ws);
			} else {
				foreign[k] = 1;
				if (!oci_strlist_has(&foreign_files, e->rel))
					rc = oci_strlist_push(&foreign_files, e->rel, err);
			}
		}
		if (rc == 0 && matches && elves)
			rc = oci_strlist_push(elves, path.data, err);
		oci_elf_release(&info);
	}
	if (rc == 0 && foreign_files.n)
		warn_foreign_nifs(ctx, v, np, &foreign_files, foreign);
	oci_free(mg.is_elf);
	oci_free(foreign);
	oci_strlist_release(&foreign_files);
	oci_buf_release(&path);
	return rc;
}
