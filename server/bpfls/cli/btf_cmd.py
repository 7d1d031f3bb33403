"""``bpfls btf info|show|find|diff|dump|extract``: look at kernel BTF from the shell."""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from collections import Counter

from bpfls.btf import Btf, BtfError, Kind, load
from bpfls.btf.btf import find_by_spec
from bpfls.btf.kinds import parse_kind


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("btf", help="inspect BTF files (kernels, modules, BPF objects)")
    bsub = p.add_subparsers(dest="btf_command", metavar="SUBCOMMAND",
                            parser_class=type(p))
    bsub.required = True

    def add(name: str, help: str, func) -> argparse.ArgumentParser:
        sp = bsub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=lambda a: _guard(func, a))
        return sp

    sp = add("info", "kinds and counts, byte order, base and size of a BTF file", cmd_info)
    sp.add_argument("file")
    sp.add_argument("--base", help="base BTF for split (module) BTF")

    sp = add("show", "print a type's C definition with its layout", cmd_show)
    sp.add_argument("file")
    sp.add_argument("type", nargs="+", help="e.g. 'struct task_struct', 'enum bpf_func_id'")
    sp.add_argument("--base", help="base BTF for split (module) BTF")
    sp.add_argument("--format", choices=("layout", "c"), default="layout",
                    help="layout: C with offsets, sizes and holes (default); c: exactly as "
                         "bpftool prints the definition")
    sp.add_argument("--real-names", action="store_true",
                    help="with --format c: keep the BTF's own names where bpftool renames "
                         "clashing ones (foo___2)")

    sp = add("find", "list types whose name matches a glob pattern", cmd_find)
    sp.add_argument("file")
    sp.add_argument("pattern", help="glob, e.g. 'task_*' (a plain word matches as a substring)")
    sp.add_argument("--base", help="base BTF for split (module) BTF")
    sp.add_argument("--kind", help="only this kind (struct, union, enum, typedef, func, ...)")

    sp = add("diff", "fields added, removed, retyped or moved between two BTF files", cmd_diff)
    sp.add_argument("a")
    sp.add_argument("b")
    sp.add_argument("type", nargs="*", help="types to compare (default: every struct and union)")
    sp.add_argument("--base", help="base BTF for both files when they are split BTF")

    sp = add("dump", "dump every type", cmd_dump)
    sp.add_argument("file")
    sp.add_argument("--base", help="base BTF for split (module) BTF")
    sp.add_argument("--format", choices=("bpftool-json", "raw"), default="raw",
                    help="bpftool-json: exactly `bpftool -j btf dump file F format raw`; "
                         "raw: the same as bpftool's plain text")

    sp = add("extract", "extract the .BTF of a kernel image or package", cmd_extract)
    sp.add_argument("image", help="ELF vmlinux, vmlinuz (x86 bzImage / arm64 Image) or a "
                                  "linux-image-*.deb")
    sp.add_argument("-o", "--output", required=True, help="where to write the raw BTF "
                    "(a name ending in .xz/.gz is compressed)")


def _guard(func, args: argparse.Namespace) -> int:
    try:
        return func(args)
    except BtfError as e:
        print(f"bpfls: error: {e}", file=sys.stderr)
        return 2


def _load(args: argparse.Namespace, attr: str = "file") -> Btf:
    return load(getattr(args, attr), base=args.base) if args.base else load(getattr(args, attr))


def cmd_info(args: argparse.Namespace) -> int:
    btf = _load(args)
    counts = Counter(t.kind for t in btf)
    out = sys.stdout
    print(f"file:        {btf.path}", file=out)
    print(f"source:      {btf.origin}", file=out)
    print(f"byte order:  {btf.byte_order}-endian", file=out)
    print(f"size:        {btf.raw_size} bytes (types {btf.header.type_len}, "
          f"strings {btf.header.str_len})", file=out)
    if btf.base is not None:
        print(f"base:        {btf.base.path} ({btf.base.end_id - 1} types)", file=out)
    print(f"types:       {btf.nr_types} (ids {btf.start_id}..{btf.end_id - 1})", file=out)
    for kind in Kind:
        if counts.get(kind):
            print(f"  {kind.name:<12}{counts[kind]:>8}", file=out)
    return 0


def _lookup(btf: Btf, spec: str) -> object:
    t = find_by_spec(btf, spec)
    if t is None:
        t = _dumped(btf, spec)
    if t is None:
        raise BtfError(f"no type {spec!r}", btf.path)
    return t


def _dumped(btf: Btf, spec: str) -> object:
    """A ``name___N`` as a bpftool dump (and so ``vmlinux.h``) names the N-th of several
    types called ``name``."""
    word, _, rest = " ".join(spec.split()).partition(" ")
    name = rest if rest else word
    if not re.fullmatch(r"\w+___\d+", name):
        return None
    from bpfls.btf.dump_c import renderer  # only for such a name: the whole header is named

    kinds = {"struct": Kind.STRUCT, "union": Kind.UNION, "enum": Kind.ENUM,
             "typedef": Kind.TYPEDEF}
    want = kinds.get(word) if rest else None
    for tid in renderer(btf).dumped_named(name):
        t = btf[tid]
        if want is None or t.kind == want or (want == Kind.ENUM and t.kind == Kind.ENUM64):
            return t
    return None


def cmd_show(args: argparse.Namespace) -> int:
    # the renderers load for this subcommand only (fast CLI start-up)
    from bpfls.btf.dump_c import render_c
    from bpfls.btf.layout import render_layout

    btf = _load(args)
    chunks = []
    for spec in args.type:
        t = _lookup(btf, spec)
        chunks.append(render_c(btf, t, real_names=args.real_names) if args.format == "c"
                      else render_layout(btf, t))
    sys.stdout.write("\n\n".join(chunks) + "\n")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    from bpfls.btf.cnames import base_name  # for this subcommand only: fast start-up

    btf = _load(args)
    try:
        kind = parse_kind(args.kind) if args.kind else None
    except ValueError as e:
        raise BtfError(str(e)) from None
    pat = args.pattern
    if not any(c in pat for c in "*?["):
        pat = f"*{pat}*"
    n = 0
    for t in btf:
        name = t.name
        if name and (kind is None or t.kind == kind) and fnmatch.fnmatchcase(name, pat):
            label = base_name(t) if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                                               Kind.FWD) else name
            print(f"[{t.id}] {t.kind.name} {label}")
            n += 1
    return 0 if n else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from bpfls.btf.diff import diff_btf, format_diff  # for this subcommand only: fast start-up

    base = load(args.base) if args.base else None
    a = load(args.a, base=base)
    b = load(args.b, base=base)
    diffs = diff_btf(a, b, args.type or None)
    text = format_diff(diffs, a, b)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 1 if diffs else 0


def cmd_dump(args: argparse.Namespace) -> int:
    from bpfls.btf.dump_json import dump_bpftool_bytes  # for this subcommand only: fast start-up

    btf = _load(args)
    data = dump_bpftool_bytes(btf, json=args.format == "bpftool-json")
    # bytes, not text: names that are not valid UTF-8 are written unchanged, as bpftool does
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from bpfls.btf.extract import extract_btf, write_btf  # for this subcommand only: fast start-up

    data = extract_btf(args.image)
    write_btf(data, args.output)
    btf = load(args.output)
    print(f"{args.output}: {btf.nr_types} types, {len(data)} bytes of BTF from {args.image}",
          file=sys.stderr)
    return 0
