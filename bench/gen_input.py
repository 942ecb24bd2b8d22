#!/usr/bin/env python3
"""Deterministic generator for the benchmark input: a directory shaped like
an Erlang/Elixir release that bundles ERTS (what `mix release` or rebar3
produces), about 60 MiB in about 5,000 files.

    gen_input.py OUTDIR [--seed N] [--mb MB] [--files N] [--lock REBAR_LOCK]

The same arguments always give byte-identical files (and fixed mtimes).
Contents are synthetic but sized and mixed to compress like a real release:
beam files are tokens drawn from per-application vocabularies with
zlib-like random runs (literal tables, debug info), ERTS binaries mix
"machine code" snippets, string tables, zero padding and random regions.
"""
import argparse
import hashlib
import os
import random
import sys

MTIME = 1672531200  # 2023-01-01T00:00:00Z

# (name, vsn, relative share of beam files)
APPS = [
    ("kernel", "8.5.4", 150), ("stdlib", "4.3.1", 95), ("compiler", "8.2.6", 70),
    ("sasl", "4.2", 14), ("crypto", "5.1.4", 8), ("ssl", "10.9.1", 110),
    ("public_key", "1.13.3", 40), ("asn1", "5.0.21", 30), ("inets", "8.3.1", 75),
    ("mnesia", "4.21.4", 45), ("os_mon", "2.8.1", 12), ("runtime_tools", "1.19", 20),
    ("tools", "3.5.3", 25), ("xmerl", "1.3.31", 50), ("syntax_tools", "3.1", 24),
    ("parsetools", "2.4.1", 6), ("eex", "1.15.4", 10), ("elixir", "1.15.4", 420),
    ("logger", "1.15.4", 30), ("mix", "1.15.4", 160), ("iex", "1.15.4", 35),
    ("ex_unit", "1.15.4", 45), ("cowboy", "2.10.0", 40), ("cowlib", "2.12.1", 30),
    ("ranch", "2.1.0", 20), ("telemetry", "1.2.1", 6), ("jason", "1.4.1", 18),
    ("plug", "1.14.2", 90), ("plug_crypto", "1.2.5", 12), ("plug_cowboy", "2.6.1", 12),
    ("phoenix", "1.7.7", 180), ("phoenix_html", "3.3.2", 30),
    ("phoenix_live_view", "0.19.5", 140), ("phoenix_pubsub", "2.1.3", 14),
    ("phoenix_template", "1.0.3", 8), ("ecto", "3.10.3", 200), ("ecto_sql", "3.10.2", 110),
    ("postgrex", "0.17.3", 90), ("db_connection", "2.5.0", 30), ("decimal", "2.1.1", 6),
    ("mime", "2.0.5", 4), ("castore", "1.0.3", 3), ("finch", "0.16.0", 30),
    ("mint", "1.5.1", 40), ("nimble_options", "1.0.2", 6), ("nimble_pool", "1.0.0", 4),
    ("hpax", "0.1.2", 8), ("gettext", "0.23.1", 60), ("expo", "0.4.1", 30),
    ("swoosh", "1.11.5", 120), ("oban", "2.15.4", 110), ("tesla", "1.7.0", 80),
    ("ex_aws", "2.5.0", 70), ("broadway", "1.0.7", 40), ("absinthe", "1.7.5", 380),
    ("myapp", "0.1.0", 220),
]
ELIXIR_APPS = {"eex", "elixir", "logger", "mix", "iex", "ex_unit", "jason", "plug",
               "plug_crypto", "plug_cowboy", "phoenix", "phoenix_html",
               "phoenix_live_view", "phoenix_pubsub", "phoenix_template", "ecto",
               "ecto_sql", "postgrex", "db_connection", "decimal", "mime", "castore",
               "finch", "mint", "nimble_options", "nimble_pool", "gettext", "expo",
               "swoosh", "oban", "tesla", "ex_aws", "broadway", "absinthe", "myapp"}
# what ships with Erlang/OTP and with Elixir; the rest but myapp are hex deps
OTP_APPS = {"kernel", "stdlib", "compiler", "sasl", "crypto", "ssl", "public_key", "asn1",
            "inets", "mnesia", "os_mon", "runtime_tools", "tools", "xmerl", "syntax_tools",
            "parsetools"}
ELIXIR_OWN_APPS = {"eex", "elixir", "logger", "mix", "iex", "ex_unit"}
# priv/*.so: (app, file, KiB)
NIFS = [("crypto", "crypto.so", 1400), ("crypto", "crypto_callback.so", 40),
        ("asn1", "asn1rt_nif.so", 90), ("runtime_tools", "dyntrace.so", 60),
        ("os_mon", "memsup", 80), ("myapp", "myapp_nif.so", 2200)]
# erts-13.2/bin: (file, KiB, executable)
ERTS_BIN = [("beam.smp", 9800, True), ("erlexec", 1100, True), ("erl_child_setup", 1500, True),
            ("inet_gethost", 1300, True), ("epmd", 1200, True), ("heart", 900, True),
            ("dyn_erl", 700, True), ("escript", 700, True), ("erlc", 800, True),
            ("ct_run", 700, True), ("run_erl", 600, True), ("to_erl", 500, True),
            ("typer", 700, True), ("dialyzer", 700, True), ("yielding_c_fun", 300, True)]
WORDS = ("server supervisor worker handler state call cast info reply noreply stop ok "
         "error undefined true false badarg function_clause case_clause erlang lists maps "
         "binary io_lib gen_server proc_lib application logger timer ets dets string "
         "unicode socket tcp ssl http request response header body conn pool config "
         "schema query repo changeset field type value key opts params socket channel "
         "pubsub topic message payload encode decode parse render template view live "
         "component router endpoint controller plug session cookie token cipher digest "
         "sha256 hmac verify sign cert chain store table index cursor stream buffer "
         "acc list map tuple atom integer float bitstring module_info get_value "
         "put delete update merge fold filter reduce foreach spawn link monitor "
         "demonitor trap_exit exit throw catch after receive send self node").split()


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def rand(self, n):
        return self.r.randbytes(n)

    def vocab(self, n, lo, hi, alphabet=None):
        r = self.r
        out = []
        for _ in range(n):
            k = r.randint(lo, hi)
            if alphabet is None:
                out.append(r.randbytes(k))
            else:
                out.append(bytes(r.choice(alphabet) for _ in range(k)))
        return out

    def blocks(self, snippets, weights, n, lo, hi):
        """n "basic blocks": short runs of snippets, reused to give LZ matches."""
        return [b"".join(self.r.choices(snippets, cum_weights=weights, k=self.r.randint(lo, hi)))
                for _ in range(n)]

    def tokens(self, vocab, nbytes, weights=None):
        """About nbytes of tokens drawn from vocab (cumulative weights)."""
        avg = sum(len(v) for v in vocab) / len(vocab)
        k = max(1, int(nbytes / avg) + 1)
        b = b"".join(self.r.choices(vocab, cum_weights=weights, k=k))
        return b[:nbytes]


def zipf_cum(n, s=1.1):
    acc, out = 0.0, []
    for i in range(1, n + 1):
        acc += 1.0 / (i ** s)
        out.append(acc)
    return out


def mixed_blob(g, size, code_vocab, code_w, text_vocab, mix):
    """size bytes built from segments: (code, text, zero, random) shares in mix."""
    r = g.r
    parts, total = [], 0
    kinds = ("code", "text", "zero", "rand")
    while total < size:
        kind = r.choices(kinds, weights=mix)[0]
        n = min(size - total, r.randint(2048, 65536))
        if kind == "code":
            parts.append(g.tokens(code_vocab, n, code_w))
        elif kind == "text":
            parts.append(g.tokens(text_vocab, n))
        elif kind == "zero":
            parts.append(bytes(min(n, 8192)))
            n = min(n, 8192)
        else:
            parts.append(g.rand(n))
        total += n
    return b"".join(parts)[:size]


def elf_header(g):
    return b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\x3e\x00\x01\x00\x00\x00" + g.rand(40)


def beam_file(g, size, atoms, atom_w, code_vocab, code_w, modname):
    """A fake BEAM container of about `size` bytes."""
    r = g.r
    body = []

    def chunk(tag, data):
        pad = (-len(data)) % 4
        body.append(tag + len(data).to_bytes(4, "big") + data + bytes(pad))

    n_atoms = 10 + size // 400
    atom_b = b"".join(bytes([len(a)]) + a for a in
                      [modname.encode()] + r.choices(atoms, cum_weights=atom_w, k=n_atoms))
    chunk(b"AtU8", len(atom_b).to_bytes(4, "big") + atom_b)
    rest = max(0, size - len(atom_b) - 120)
    code_n = int(rest * 0.64)
    lit_n = int(rest * 0.08)   # compressed literal table: random
    line_n = int(rest * 0.06)
    dbgi_n = rest - code_n - lit_n - line_n  # compressed debug info: mostly random
    code = g.tokens(code_vocab, code_n, code_w)
    chunk(b"Code", bytes([0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 178]) + code)
    chunk(b"StrT", b"")
    imp = b"".join(r.randrange(0, 64).to_bytes(4, "big") for _ in range(3 * (4 + size // 2000)))
    chunk(b"ImpT", imp)
    chunk(b"ExpT", imp[: len(imp) // 2])
    chunk(b"LitT", (lit_n).to_bytes(4, "big") + g.rand(lit_n))
    chunk(b"Line", bytes(r.randrange(0, 24) for _ in range(line_n)))
    dbgi = g.rand(dbgi_n // 3) + g.tokens(atoms, dbgi_n - dbgi_n // 3, atom_w)
    chunk(b"Dbgi", dbgi)
    chunk(b"CInf", b"\x83l\x00\x00\x00\x03h\x02w\x07versionk\x00\x058.2.6" + g.rand(16))
    payload = b"BEAM" + b"".join(body)
    return b"FOR1" + len(payload).to_bytes(4, "big") + payload


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def camel(w):
    return "".join(p.capitalize() for p in w.split("_"))


def write_lock(path):
    """A rebar.lock as a real project has one: the release's hex dependencies
    at their versions (checksums are made up but well-formed), so that a
    build puts them in a layer of their own and the app layer holds only the
    project's code."""
    deps = [(n, v) for n, v, _ in APPS if n not in OTP_APPS and n not in ELIXIR_OWN_APPS
            and n != "myapp"]

    def h(n, salt):
        return hashlib.sha256(f"{salt}:{n}".encode()).hexdigest().upper()
    pkgs = ",\n ".join(f'{{<<"{n}">>,{{pkg,<<"{n}">>,<<"{v}">>}},0}}' for n, v in deps)
    hashes = ",\n  ".join(f'{{<<"{n}">>, <<"{h(n, "inner")}">>}}' for n, _ in deps)
    ext = ",\n  ".join(f'{{<<"{n}">>, <<"{h(n, "outer")}">>}}' for n, _ in deps)
    text = (f'{{"1.2.0",\n[{pkgs}]}}.\n[\n{{pkg_hash,[\n  {hashes}]}},\n'
            f'{{pkg_hash_ext,[\n  {ext}]}}\n].\n')
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--mb", type=float, default=60.0)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--lock", help="also write a rebar.lock naming the hex dependencies here")
    a = ap.parse_args()
    g = Gen(a.seed)
    r = g.r
    target = int(a.mb * 1024 * 1024)
    scale = target / (60 * 1024 * 1024)
    fscale = a.files / 5000
    root = a.out
    total_bytes = 0
    nfiles = 0

    def put(rel, data, mode=0o644):
        nonlocal total_bytes, nfiles
        write(os.path.join(root, rel), data, mode)
        total_bytes += len(data)
        nfiles += 1

    # Shared "machine code" for ERTS and NIFs: x86-ish instruction snippets.
    x86_ops = g.vocab(600, 2, 9)
    x86 = g.blocks(x86_ops, zipf_cum(len(x86_ops), 1.05), 1500, 2, 6)
    x86_w = zipf_cum(len(x86), 0.9)
    cstr = [w.encode() for w in WORDS] + [b"\0", b"%s", b"%d\n", b"erts_", b"_alloc",
                                            b"enif_", b"beam_", b"GLIBC_2.", b".text"]
    # --- erts-13.2/bin
    erts = "erts-13.2"
    for name, kib, ex in ERTS_BIN:
        size = int(kib * 1024 * scale)
        data = elf_header(g) + mixed_blob(g, size, x86, x86_w, cstr, (66, 14, 8, 12))
        put(f"{erts}/bin/{name}", data[:size], 0o755)
    for name in ("erl", "start", "erl.src", "start.src", "start_erl.src", "no_dot_erlang.boot",
                 "start.boot", "start_clean.boot", "start.script"):
        txt = ("#!/bin/sh\nset -e\nROOTDIR=\"${ERL_ROOTDIR:-$(dirname \"$0\")/../..}\"\n"
               "BINDIR=$ROOTDIR/erts-13.2/bin\nEMU=beam\nPROGNAME=`echo $0 | sed 's/.*\\///'`\n"
               "export EMU\nexport ROOTDIR\nexport BINDIR\nexport PROGNAME\n"
               "exec \"$BINDIR/erlexec\" ${1+\"$@\"}\n").encode()
        if name.endswith((".boot", ".script")):
            txt = g.tokens([w.encode() for w in WORDS] + [b"\x83", b"h\x02", b"w\x04"], 9000)
        put(f"{erts}/bin/{name}", txt, 0o755 if "." not in name else 0o644)
    for h in ("erl_nif.h", "erl_driver.h", "erl_nif_api_funcs.h", "erl_drv_nif.h",
              "erl_fixed_size_int_types.h", "erl_int_sizes_config.h"):
        put(f"{erts}/include/{h}", b"/* generated */\n" + g.tokens(
            [w.encode() + b" " for w in WORDS] + [b"ERL_NIF_TERM ", b"(", b");\n", b"#define "],
            int(r.randint(3000, 40000) * scale)))

    # --- lib/<app>-<vsn>
    nif_bytes = sum(k for _, _, k in NIFS) * 1024 * scale
    small_files = int(len(APPS) * 3 * fscale)  # .app, hrl, priv text: estimated below
    n_beams = max(len(APPS), int(a.files - nfiles - len(NIFS) - small_files - 10))
    share = sum(s for _, _, s in APPS)
    counts = [max(1, round(s * n_beams / share)) for _, _, s in APPS]
    # beam sizes: skewed between 2 and 40 KiB, rescaled to the byte budget
    budget = target - total_bytes - nif_bytes - 450 * 1024 * scale
    raw = [r.random() ** 2.2 for _ in range(sum(counts))]
    lo, hi = 2048, 40960
    f = 1.0
    for _ in range(40):
        sizes = [int(min(hi, max(lo, lo + x * (hi - lo) * f))) for x in raw]
        s = sum(sizes)
        if abs(s - budget) < budget * 0.002:
            break
        f *= budget / s
    si = 0
    for (app, vsn, _), cnt in zip(APPS, counts):
        base = f"lib/{app}-{vsn}"
        atoms = [w.encode() for w in r.sample(WORDS, 60)] + [
            f"{app}_{w}".encode() for w in r.sample(WORDS, 40)] + g.vocab(60, 3, 14, b"abcdefghijklmnopqrstuvwxyz_")
        atom_w = zipf_cum(len(atoms), 0.9)
        ops = g.vocab(200, 2, 8) + x86_ops[:40]
        code = g.blocks(ops, zipf_cum(len(ops), 1.0), 500, 2, 6)
        code_w = zipf_cum(len(code), 0.9)
        mods, seen = [], set()
        while len(mods) < cnt:
            ws = r.sample(WORDS, r.randint(1, 3))
            if app in ELIXIR_APPS:
                m = "Elixir." + camel(app) + "." + ".".join(camel(w) for w in ws)
            else:
                m = app + "_" + "_".join(ws)
            if m not in seen:
                seen.add(m)
                mods.append(m)
        for m in mods:
            put(f"{base}/ebin/{m}.beam",
                beam_file(g, sizes[si], atoms, atom_w, code, code_w, m))
            si += 1
        app_file = (f"{{application,{app},\n [{{description,\"{app}\"}},\n  {{vsn,\"{vsn}\"}},\n"
                    f"  {{modules,[" + ",\n    ".join(f"'{m}'" for m in mods) + "]},\n"
                    "  {registered,[]},\n  {applications,[kernel,stdlib]}]}.\n").encode()
        put(f"{base}/ebin/{app}.app", app_file)
        if r.random() < 0.5 * fscale + 0.01:
            put(f"{base}/include/{app}.hrl", g.tokens(
                [w.encode() + b" " for w in WORDS] + [b"-record(", b"-define(", b").\n"],
                r.randint(500, 12000)))
        if r.random() < 0.3 * fscale:
            put(f"{base}/priv/{app}.conf", g.tokens([w.encode() + b" " for w in WORDS] + [b"\n"],
                                                    r.randint(200, 6000)))
    for app, name, kib in NIFS:
        vsn = dict((n, v) for n, v, _ in APPS)[app]
        size = int(kib * 1024 * scale)
        data = elf_header(g) + mixed_blob(g, size, x86, x86_w, cstr, (64, 12, 10, 14))
        put(f"lib/{app}-{vsn}/priv/lib/{name}", data[:size], 0o755)
    # pad the file count with small static assets (priv/static), like a Phoenix app
    i = 0
    while nfiles < a.files - 8:
        put(f"lib/myapp-0.1.0/priv/static/assets/chunk-{i:04d}.js",
            g.tokens([w.encode() for w in WORDS] + [b"(", b")", b"{", b"}", b";", b"=>", b" "],
                     r.randint(300, 3000)))
        i += 1

    # --- releases and bin
    rel = "releases/0.1.0"
    boot_atoms = [w.encode() for w in WORDS] + [b"\x83", b"h\x03", b"w\x06", b"l\x00\x00"]
    put(f"{rel}/start.boot", g.tokens(boot_atoms, int(90000 * scale)))
    put(f"{rel}/start_clean.boot", g.tokens(boot_atoms, int(70000 * scale)))
    put(f"{rel}/sys.config", (
        "[{kernel,[{logger_level,info}]},\n {myapp,[{http_port,4000},{pool_size,10},\n"
        "  {'Elixir.Myapp.Repo',[{database,\"myapp\"},{pool_size,10}]}]},\n"
        " {sasl,[{errlog_type,error}]}].\n").encode())
    put(f"{rel}/vm.args", b"-name myrel@127.0.0.1\n-setcookie myrel\n+K true\n+A 30\n"
        b"+sbwt none\n-kernel inet_dist_listen_min 9100\n")
    put(f"{rel}/myrel.rel", ("{release,{\"myrel\",\"0.1.0\"},{erts,\"13.2\"},[" + ",".join(
        f"{{{n},\"{v}\"}}" for n, v, _ in APPS) + "]}.\n").encode())
    put("releases/start_erl.data", b"13.2 0.1.0\n")
    put("releases/RELEASES", b"[{release,\"myrel\",\"0.1.0\",\"13.2\",[],permanent}].\n")
    put("bin/myrel", (
        "#!/bin/sh\nset -e\nSCRIPT=$(readlink -f \"$0\")\nRELEASE_ROOT=$(dirname \"$SCRIPT\")/..\n"
        "RELEASE_VSN=0.1.0\nERTS_VSN=13.2\nexport RELEASE_ROOT RELEASE_VSN\n"
        "case $1 in\n  start) exec \"$RELEASE_ROOT/erts-$ERTS_VSN/bin/erl\" -boot "
        "\"$RELEASE_ROOT/releases/$RELEASE_VSN/start\" -config \"$RELEASE_ROOT/releases/"
        "$RELEASE_VSN/sys\" -args_file \"$RELEASE_ROOT/releases/$RELEASE_VSN/vm.args\" -noshell ;;\n"
        "  *) echo \"usage: myrel start\" >&2; exit 1 ;;\nesac\n").encode(), 0o755)

    for d, dirs, files in os.walk(root, topdown=False):
        for fn in files:
            os.utime(os.path.join(d, fn), (MTIME, MTIME))
        os.utime(d, (MTIME, MTIME))
    if a.lock:
        write_lock(a.lock)
    print(f"{nfiles} files, {total_bytes} bytes ({total_bytes / 1048576:.1f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
