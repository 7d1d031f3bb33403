"""The source prediction against what clang emits, on the shared corpus's programs.

For each program of ``../shared/corpus/programs.tsv`` that the corpus build compiled, the
source model is run with the program's own flags (its ``-I``/``-D``/``-U``, the build's
``vmlinux.h`` directory for ``{vmlinux}``, the primary sample kernel) and its predicted
relocations — (kind, spec) of every reachable access that is not dead on every kernel — are
compared with the object's ``.BTF.ext`` relocations. Source-level errors are collected too
(clang compiled every one of these files, so any error is a false one).

Used by ``tests/test_prediction_corpus.py`` and ``bench/prediction_bench.py``; needs no
pytest.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shared_corpus import BUILD_KERNEL, programs, sources

from bpfls.analysis.diagnostics import CODES
from bpfls.btf import Btf, load
from bpfls.core.ext import read_ext
from bpfls.core.spec import format_spec
from bpfls.project.compdb import parse_flags
from bpfls.source import SourceOptions, analyze

Relo = tuple[str, str]  # (kind, spec)


@dataclass
class FileOutcome:
    name: str
    project: str
    emitted: set[Relo]
    predicted: set[Relo]
    errors: list[tuple[str, str, str, int]]  # (code, message, path, line)
    seconds: float

    @property
    def missing(self) -> set[Relo]:
        return self.emitted - self.predicted

    @property
    def extra(self) -> set[Relo]:
        return self.predicted - self.emitted


@dataclass
class ProjectFigures:
    files: int = 0
    emitted: int = 0
    found: int = 0
    extra: int = 0
    files_with_errors: int = 0
    errors: int = 0
    seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)

    def add(self, f: FileOutcome) -> None:
        self.files += 1
        self.emitted += len(f.emitted)
        self.found += len(f.emitted & f.predicted)
        self.extra += len(f.extra)
        self.files_with_errors += bool(f.errors)
        self.errors += len(f.errors)
        self.seconds += f.seconds
        self.codes.update(e[0] for e in f.errors)

    @property
    def recall(self) -> float:
        return self.found / self.emitted if self.emitted else 1.0

    @property
    def extra_rate(self) -> float:
        return self.extra / self.emitted if self.emitted else 0.0

    def line(self, name: str) -> str:
        return (f"{name:24s} {self.files:4d} files {self.emitted:5d} relocations "
                f"{100 * self.recall:6.2f}% found {self.extra:4d} extra "
                f"({100 * self.extra_rate:.2f}%) {self.files_with_errors:3d} files with "
                f"errors ({self.errors})")


def options_for(flags: list[str], src: Path, vmlinux_dir: Path, primary: Btf) -> SourceOptions:
    """The source options a program's clang flags (``programs.tsv``) give."""
    parsed = parse_flags([f.replace("{vmlinux}", str(vmlinux_dir)) for f in flags], src.parent)
    defines: dict[str, str | None] = {}
    for d in parsed.defines:
        name, _, value = d.partition("=")
        defines[name] = value or None
    defines.setdefault("__TARGET_ARCH_x86", None)
    return SourceOptions(primary=primary, include_dirs=tuple(parsed.include), defines=defines,
                         undefines=tuple(parsed.undefines))


def emitted(obj: Path) -> set[Relo]:
    return {(str(r.kind), format_spec(r.relocation)) for r in read_ext(obj).relocations}


def predict(src: Path, options: SourceOptions) -> tuple[set[Relo], list]:
    model = analyze(str(src), None, options)
    got = {(str(a.kind), a.spec) for a in model.accesses
           if a.reachable and not (a.guard is not None and a.guard.is_false)}
    errors = [(d.code, d.message, d.path, d.range.start.line + 1) for d in model.diagnostics
              if CODES[d.code].severity == "error"]
    return got, errors


def compare(objects: dict[str, Path], vmlinux_dir: Path, primary: Btf | None = None,
            only: list[str] | None = None) -> list[FileOutcome]:
    """Each compiled program's outcome, in ``programs.tsv`` order."""
    primary = primary or load(BUILD_KERNEL)
    projects = programs()
    out = []
    for name, (src, flags) in sources().items():
        obj = objects.get(name)
        if obj is None or (only and not any(o in name for o in only)):
            continue
        t0 = time.perf_counter()
        got, errors = predict(src, options_for(flags, src, vmlinux_dir, primary))
        dt = time.perf_counter() - t0
        out.append(FileOutcome(name, projects.get(name, ""), emitted(obj), got, errors, dt))
    return out


def figures(outcomes: list[FileOutcome]) -> dict[str, ProjectFigures]:
    """Per project, and ``"all"``."""
    out: dict[str, ProjectFigures] = {}
    for f in outcomes:
        out.setdefault(f.project, ProjectFigures()).add(f)
        out.setdefault("all", ProjectFigures()).add(f)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == "all", kv[0])))
