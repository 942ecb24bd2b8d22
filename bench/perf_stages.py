#!/usr/bin/env python3
"""Read `perf script -F comm,tid,ip,sym,dso` output (with call chains) on stdin
and print where the CPU time went, by stage of a build or push.

Each sample is put in the first stage whose rule matches one of its frames,
from the leaf up: the compressors' and SHA-256's libraries by name, system
calls by their kernel entry point, ocibuild's own functions by prefix.
"""
import re
import sys
from collections import Counter

# (stage, regex over "symbol (dso)" of a frame); first match wins per frame,
# frames are tried leaf first
RULES = [
    ("compress", re.compile(r"\((/\S*libdeflate\S*|/\S*libzstd\S*|/\S*libz\.so\S*)\)|"
                            r"^(oci_deflate|oci_zstd|oci_gz|oci_compress)")),
    ("hash", re.compile(r"\(/\S*libcrypto\S*\)|^(oci_sha256|oci_digest|oci_hash)")),
    ("network", re.compile(r"\((/\S*libcurl\S*|/\S*libssl\S*|/\S*libnghttp2\S*)\)|"
                           r"^(__sys_sendto|__sys_recvfrom|__sys_sendmsg|__sys_recvmsg|__sys_connect|"
                           r"do_sys_poll|ep_poll|tcp_|inet_|sock_)")),
    ("fsync", re.compile(r"^(do_fsync|vfs_fsync|vfs_fsync_range|ext4_sync_file|__x64_sys_sync_file_range)")),
    ("read", re.compile(r"^(ksys_read|vfs_read|ksys_pread64|filemap_read|do_splice|vfs_copy_file_range)\b")),
    ("write", re.compile(r"^(ksys_write|vfs_write|ksys_pwrite64|do_truncate|vfs_fallocate)\b")),
    ("walk/open/stat", re.compile(r"^(vfs_statx|vfs_fstatat|vfs_fstat|__do_sys_newfstatat|__do_sys_newlstat|"
                                  r"do_sys_openat2|iterate_dir|__x64_sys_getdents64|__x64_sys_close|"
                                  r"do_readlinkat|do_linkat|do_renameat2|do_unlinkat|do_mkdirat|"
                                  r"do_utimes|chmod_common|chown_common|oci_walk)")),
    ("tar", re.compile(r"^oci_tar")),
    ("startup/exit", re.compile(r"\(/\S*ld-linux\S*\)|^(do_exit|do_group_exit|__x64_sys_execve)")),
    ("memory", re.compile(r"^(asm_exc_page_fault|exc_page_fault|__x64_sys_(mmap|munmap|brk|madvise|mprotect)|"
                          r"ksys_mmap_pgoff|__vm_munmap)")),
    ("threads", re.compile(r"^(__x64_sys_futex|do_futex|__do_sys_clone3?|kernel_clone|__x64_sys_sched_yield)")),
]


def classify(frames):
    for f in frames:
        for stage, rx in RULES:
            if rx.search(f):
                return stage
    # no rule: the first frame of ocibuild itself names the code, else "other"
    return "other (ocibuild, libc, kernel)"


def main():
    # --unclassified N: also print the N most frequent call chains of "other"
    show = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--unclassified" else 0
    counts = Counter()
    others = Counter()
    frames = []

    def take(frames):
        stage = classify(frames)
        counts[stage] += 1
        if show and stage.startswith("other"):
            others[" < ".join(f.split(" (")[0] for f in frames[:6])] += 1
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                take(frames)
            frames = []
            continue
        if line[:1] in " \t":
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1])
    if frames:
        take(frames)
    total = sum(counts.values()) or 1
    for stage, n in counts.most_common():
        print(f"  {stage:<32} {100.0 * n / total:5.1f}%")
    print(f"  {'(samples)':<32} {total:6d}")
    for chain, n in others.most_common(show):
        print(f"    other {n:5d}  {chain}")


if __name__ == "__main__":
    main()
