"""The shared corpus (``../shared/corpus``): real BPF programs of public projects, compiled.

``programs.tsv`` lists each program (source, flags, project, object name) and ``build.sh``
compiles them all against a ``vmlinux.h`` dumped from a kernel's BTF (see the corpus's
README). :func:`build_corpus` runs it once into a directory and returns what came out:
the objects by name, the project of each, and every program that failed, by name, with its
first error line (:func:`built` reads the same from a directory built before). The tests
(``conftest.shared_corpus``) and ``bench/object_bench.py`` use it; it needs no pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT.parent / "shared" / "corpus"
#: the kernel every program is compiled against (its ``vmlinux.h``), as the corpus prescribes
BUILD_KERNEL = ROOT / "sample-btf" / "6.12-amd64.btf.xz"
#: the compiler the corpus's relocation counts are given for
CLANG = "clang-16"
#: what building needs: tool → the Debian package that has it
TOOLS = {CLANG: CLANG, "bpftool": "bpftool", "xz": "xz-utils"}


class CorpusBuildError(RuntimeError):
    """``build.sh`` could not start (a missing tool, an unreadable kernel)."""


@dataclass(frozen=True)
class SharedCorpus:
    """The corpus compiled once into ``out`` (``build.sh``'s logs in ``out/log``): ``objects``
    (name → object file), ``projects`` (name → project, for every program listed), ``failed``
    (name → first error line of each program that did not compile), how long the build took,
    and the raw sample kernels (name → raw BTF file) to judge the objects on."""

    out: Path
    objects: dict[str, Path]
    projects: dict[str, str]
    failed: dict[str, str]
    build_seconds: float
    kernels: dict[str, Path]


def find_tool(name: str) -> str | None:
    """The path of an external tool (``PATH``, then ``/usr/sbin``), or ``None``."""
    sbin = Path("/usr/sbin") / name
    return shutil.which(name) or (str(sbin) if sbin.exists() else None)


def programs(corpus: Path = CORPUS_DIR) -> dict[str, str]:
    """Object name → project of each program ``programs.tsv`` lists, in its order (a line
    without a name gets the source's base name, as ``build.sh`` does)."""
    out: dict[str, str] = {}
    for line in (corpus / "programs.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        src, project = cols[0], cols[2] if len(cols) > 2 else ""
        name = cols[3] if len(cols) > 3 and cols[3] else Path(src).name.removesuffix(".c")
        out[name] = project
    return out


def sources(corpus: Path = CORPUS_DIR) -> dict[str, tuple[Path, list[str]]]:
    """Object name → (source file, its clang flags as ``programs.tsv`` gives them, with
    ``{corpus}`` filled in; ``{vmlinux}`` is left for the caller)."""
    out: dict[str, tuple[Path, list[str]]] = {}
    for line in (corpus / "programs.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        src, flags = cols[0], cols[1].split() if len(cols) > 1 else []
        name = cols[3] if len(cols) > 3 and cols[3] else Path(src).name.removesuffix(".c")
        out[name] = (corpus / src, [f.replace("{corpus}", str(corpus)) for f in flags])
    return out


def _first_error(log: Path) -> str:
    if not log.exists():
        return "no log"
    lines = log.read_text(errors="replace").splitlines()
    return next((ln for ln in lines if "error" in ln), lines[0] if lines else "no output")


def build_corpus(out: Path, kernels: Mapping[str, Path], *, cc: str = CLANG,
                 bpftool: str = "bpftool", jobs: int = 2,
                 corpus: Path = CORPUS_DIR) -> SharedCorpus:
    """Compile every program of ``corpus`` into ``out`` (``CC=cc JOBS=jobs build.sh out
    sample-btf/6.12-amd64.btf.xz``). ``kernels`` (name → raw BTF) is passed through."""
    env = dict(os.environ, CC=cc, BPFTOOL=bpftool, JOBS=str(jobs))
    t0 = time.perf_counter()
    p = subprocess.run([str(corpus / "build.sh"), str(out), str(BUILD_KERNEL)], env=env,
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise CorpusBuildError(f"build.sh failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return built(out, kernels, seconds, corpus)


def built(out: Path, kernels: Mapping[str, Path], seconds: float = 0.0,
          corpus: Path = CORPUS_DIR) -> SharedCorpus:
    """What an earlier :func:`build_corpus` left in ``out`` (``build.sh``'s status files)."""
    projects = programs(corpus)
    objects, failed = {}, {}
    for name in projects:
        status = out / "log" / f"{name}.status"
        obj = out / f"{name}.o"
        if obj.exists() and status.exists() and status.read_text().strip() == "ok":
            objects[name] = obj
        else:
            failed[name] = _first_error(out / "log" / f"{name}.log")
    return SharedCorpus(out, objects, projects, failed, seconds, dict(kernels))
