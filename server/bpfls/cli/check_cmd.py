"""``bpfls check FILE...``: the CO-RE checker for CI.

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 usage, configuration or load
errors (a kernel that fails to load is reported once; the others are still checked).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile

from bpfls.analysis.diagnostics import Severity
from bpfls.project.compiler import find_clang, wants_compile
from bpfls.project.config import ConfigError, effective_config
from bpfls.project.kernels import load_kernels

_FAIL_ON = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check the CO-RE relocations of BPF C files against the "
                       "configured kernels", description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--kernel", action="append", default=[], metavar="NAME=PATH",
                   help="a kernel to check against (repeatable; replaces the configured ones)")
    p.add_argument("--primary", metavar="NAME",
                   help="the kernel vmlinux.h was generated from")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="add an include directory")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VAL]",
                   help="define a macro")
    p.add_argument("--config", metavar="FILE", help="use this bpfls.toml instead of searching")
    p.add_argument("-p", "--compile-commands", metavar="PATH",
                   help="take each file's include paths and macros from this "
                        "compile_commands.json (or compile_flags.txt, or the directory "
                        "holding one) instead of searching beside each file")
    p.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    p.add_argument("--matrix", action="store_true",
                   help="print the program x kernel table (will each program load and attach "
                        "on each kernel) instead of the diagnostics")
    p.add_argument("--fail-on", choices=tuple(_FAIL_ON), default="error",
                   help="lowest severity that makes the exit code 1 (default: error)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="check N files at a time (default: the number of CPUs)")
    p.add_argument("--compile", action="store_true",
                   help="compile each source with clang and judge the object's exact "
                        "relocations (the prediction stays for files clang rejects)")
    p.set_defaults(func=run)


def _parse_kernels(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--kernel {item!r}: expected NAME=PATH")
        out.append((name, path))
    return out


def _collect_less() -> None:
    """A check allocates many objects per file (tokens, trees, types, relocations) of which
    few form cycles: the cycle collector runs far less often than Python's default (which
    costs a fifth of the run), and never looks again at what is loaded now (the kernels)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run(args: argparse.Namespace) -> int:
    # the checker itself loads when it runs, not while the parser is built (fast `--help` and
    # other subcommands)
    from bpfls.cli.check_files import Checker, check_all
    from bpfls.cli.formats import FORMATTERS, format_matrix

    try:
        cfg = effective_config(args.files[0], config_file=args.config,
                               kernels=_parse_kernels(args.kernel), primary=args.primary,
                               include=args.include, defines=args.defines,
                               compile_commands=args.compile_commands)
    except ConfigError as e:
        print(f"bpfls: error: {e}", file=sys.stderr)
        return 2
    mode = "always" if args.compile else cfg.compile or "never"
    if mode == "always" and find_clang() is None:
        print("bpfls: error: --compile: no clang with the BPF target on PATH (install clang)",
              file=sys.stderr)
        return 2
    kernels = load_kernels(cfg)
    status = 0
    for k in kernels.failed:
        print(f"bpfls: error: kernel {k.name!r}: {k.error}", file=sys.stderr)
        status = 2
    if not kernels.loaded:
        print("bpfls: error: no kernel could be loaded", file=sys.stderr)
        return 2
    _collect_less()
    checker = Checker(cfg, kernels, wants_compile(mode), args.compile_commands)
    reports = []
    with tempfile.TemporaryDirectory(prefix="bpfls-check-") as tmp:
        checker.out_dir = tmp
        for report, trouble, config_error in check_all(checker, args.files, args.jobs):
            if config_error is not None:
                print(f"bpfls: error: {config_error}", file=sys.stderr)
                return 2
            if trouble:
                print(f"bpfls: error: {trouble}", file=sys.stderr)
                status = 2
            reports.append(report)
    fmt = format_matrix if args.matrix else FORMATTERS[args.format]
    sys.stdout.write(fmt(reports, kernels))
    threshold = _FAIL_ON[args.fail_on]
    if status == 0 and any(d.severity.rank >= threshold.rank
                           for r in reports for d in r.diagnostics):
        status = 1
    return status
