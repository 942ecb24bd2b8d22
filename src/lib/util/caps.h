/* Size caps that several modules share: how far a buffer made or read here
 * may grow (an oci_buf's max), so that no input makes one grow without
 * bound. A cap that one module owns is defined in that module. (Not named
 * limits.h: with -Isrc/lib that would hide the system's <limits.h>.) */
#ifndef OCI_CAPS_H
#define OCI_CAPS_H

/* a short string made here: a reference, a purl, an SPDX id, a header line */
#define OCI_MAX_TEXT 4096u
/* a path, URL, glob pattern or symlink target made here */
#define OCI_MAX_PATH_TEXT (64u << 10)
/* an SBOM document: build makes it, referrer reads it back */
#define OCI_MAX_SBOM (64u << 20)

#endif
