/* ELF files: machine, interpreter and DT_NEEDED, and the closure of shared
 * libraries a set of binaries needs, resolved on the build host the way the
 * dynamic loader would (RPATH/RUNPATH with $ORIGIN, ld.so.conf, the default
 * directories) without running anything. */
#ifndef OCI_ELFDEPS_H
#define OCI_ELFDEPS_H
#include "oci.h"
#include "walk.h"

typedef struct oci_elf_info {
	int is_elf;
	int machine;  /* e_machine */
	int elfclass; /* 1 = 32-bit, 2 = 64-bit */
	char *interp; /* PT_INTERP, NULL for static binaries */
	oci_strlist needed;
	oci_strlist runpath; /* DT_RUNPATH or DT_RPATH entries, unexpanded */
	int is_rpath;        /* they came from DT_RPATH (no DT_RUNPATH) */
} oci_elf_info;

/* Read path; a file that is not ELF gives is_elf = 0 and success. */
int oci_elf_read(const char *path, oci_elf_info *info, ocibuild_error *err);
void oci_elf_release(oci_elf_info *info);
/* 1 if the first bytes of the file are the ELF magic. */
int oci_elf_is_elf(const char *path);
/* OCI architecture name for an ELF machine ("amd64", "arm64"...), or NULL. */
const char *oci_elf_arch(int machine, int elfclass);

/* Host files (absolute paths) the binaries need at run time: the
 * interpreter and the shared library closure. `sysroot` is "" for the
 * running system. Fails naming the binary and the library that is missing. */
int oci_elf_closure(const oci_strlist *binaries, oci_strlist *files, ocibuild_error *err);

/* Check that every ELF file of a tree is for the image's architecture:
 * the regular files of `w` (entries relative to `root`) against the np
 * platforms `v`. With one platform a foreign file is refused; with
 * several, it is refused when the image runs its own ERTS (`own_erts`:
 * bundled ERTS or runtime layer), and otherwise (a NIF that a base image's
 * ERTS will load) one warning is logged through ctx naming the files and
 * the platforms they will not run on. When `elves` is not NULL it gets the
 * host paths of the ELF files that match every platform. */
int oci_elf_check_tree(ocibuild_ctx *ctx, const char *root, const oci_walk *w,
		       const oci_platform *v, size_t np, int own_erts, oci_strlist *elves,
		       ocibuild_error *err);
#endif
