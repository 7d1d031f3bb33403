"""Predicted CO-RE relocations of the programs in ``tests/fixtures/source``, checked against clang.

Each ``tests/fixtures/source/*.bpf.c`` lists the relocations clang 16 emits for it in ``//@ kind
spec [access]`` lines (``//! flags:`` gives extra compiler flags). The prediction must equal that
set (no compiler needed), and the oracle tests compile every program once per session with
``clang-16 -g -O2 -target bpf`` against a ``vmlinux.h`` dumped from the primary sample kernel and
read the relocations back with libbpf's own log (``bpftool -d gen min_core_btf``). The layouts of
the program's own types are compared with the BTF clang wrote into the object.
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from oracle import libbpf_relocations

import bpfls.btf
from bpfls.analysis.diagnostics import CODES
from bpfls.btf import Kind
from bpfls.core.relo import KIND_BY_NAME
from bpfls.source import SourceOptions, analyze

from conftest import ROOT, SAMPLE_DIR, require_tool, run_bpftool

CORPUS_DIR = ROOT / "tests" / "fixtures" / "source"
PROGRAMS = sorted(CORPUS_DIR.glob("*.bpf.c"))
PRIMARY = SAMPLE_DIR / "6.12-amd64.btf.xz"


def corpus_flags(path: Path) -> list[str]:
    for line in path.read_text().splitlines():
        if line.startswith("//! flags:"):
            return shlex.split(line[len("//! flags:"):])
    return []


def defines_of(flags: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {"__TARGET_ARCH_x86": None}
    for f in flags:
        if f.startswith("-D"):
            name, _, value = f[2:].partition("=")
            out[name] = value or None
    return out


def expected(path: Path) -> set[tuple[str, str, str]]:
    out = set()
    for line in path.read_text().splitlines():
        if not line.startswith("//@ "):
            continue
        kind, rest = line[4:].split(" ", 1)
        if KIND_BY_NAME[kind].is_field:
            spec, access = rest.rsplit(" ", 1)
        else:
            spec, access = rest, ""
        out.add((kind, spec, access))
    return out


def relocation_set(model) -> set[tuple[str, str, str]]:
    """What clang would emit: reachable code, minus branches that are dead on every kernel."""
    out = set()
    for a in model.accesses:
        if not a.reachable or (a.guard is not None and a.guard.is_false):
            continue
        out.add((str(a.kind), a.spec, a.access_str if a.kind.is_field else ""))
    return out


@pytest.fixture(scope="session")
def primary():
    return bpfls.btf.load(PRIMARY)


def options_for(path: Path, primary) -> SourceOptions:
    return SourceOptions(primary=primary, include_dirs=(str(CORPUS_DIR / "include"),),
                         defines=defines_of(corpus_flags(path)))


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_predicted_relocations(path: Path, primary) -> None:
    model = analyze(str(path), None, options_for(path, primary))
    want = expected(path)
    assert want, f"{path.name} lists no relocations"
    got = relocation_set(model)
    assert got == want, (f"missing: {sorted(want - got)}\nextra: {sorted(got - want)}")
    assert not [d for d in model.diagnostics if CODES[d.code].severity == "error"], \
        model.diagnostics


# -- the oracle ---------------------------------------------------------------------------------

def _multiarch_includes() -> list[str]:
    return [f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
            if os.path.exists(os.path.join(d, "asm", "errno.h"))]


def _libbpf_relocations(bpftool: str, obj: Path, raw: Path) -> set[tuple[str, str, str]]:
    return {(r.kind, r.spec, r.access if KIND_BY_NAME[r.kind].is_field else "")
            for r in libbpf_relocations(bpftool, obj, raw)}


def _build_all(bpftool: str, clang: str, work: Path, raw: Path, programs: list[Path],
               arch: str, flags) -> dict:
    """Compile each program against ``raw``'s vmlinux.h; path → (object or None, relocations
    libbpf reads, or clang's error text)."""
    (work / "vmlinux.h").write_text(run_bpftool(bpftool, "btf", "dump", "file", str(raw),
                                                "format", "c"))
    extra = _multiarch_includes()

    def build(path: Path):
        obj = work / (path.name.removesuffix(".c") + ".o")
        r = subprocess.run([clang, "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                            f"-I{work}", f"-I{CORPUS_DIR / 'include'}", *extra, *flags(path),
                            "-c", str(path), "-o", str(obj)], capture_output=True, text=True)
        if r.returncode:
            return path, None, r.stderr
        return path, obj, _libbpf_relocations(bpftool, obj, raw)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return {p: (obj, relos) for p, obj, relos in pool.map(build, programs)}


@pytest.fixture(scope="session")
def clang_corpus(tmp_path_factory, raw_sample, bpftool):
    """Every corpus program compiled once: path → (object, relocations libbpf reads)."""
    return _build_all(bpftool, require_tool("clang-16"), tmp_path_factory.mktemp("corpus"),
                      raw_sample(PRIMARY), PROGRAMS, "x86", corpus_flags)


@pytest.mark.oracle
@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_clang_emits_the_listed_relocations(path: Path, clang_corpus) -> None:
    obj, relos = clang_corpus[path]
    assert obj is not None, f"clang failed:\n{relos}"
    want = expected(path)
    assert relos == want, (f"clang has, not listed: {sorted(relos - want)}\n"
                           f"listed, clang has not: {sorted(want - relos)}")


@pytest.mark.oracle
@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_local_type_layouts_match_clang(path: Path, clang_corpus, primary) -> None:
    obj, _ = clang_corpus[path]
    assert obj is not None
    objbtf = bpfls.btf.load(obj)
    model = analyze(str(path), None, options_for(path, primary))
    local = model.local
    compared = 0
    for tid, info in model.local_types.items():
        t = local[tid]
        if not t.name or t.kind not in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
            continue
        theirs = objbtf.find(t.name, t.kind)
        if theirs is None:
            continue  # clang emits only the types the program uses
        compared += 1
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            assert (t.size, t.kflag, t.values) == (theirs.size, theirs.kflag, theirs.values)
            continue
        mine = [(m.name, m.bit_offset, m.bitfield_size) for m in t.members]
        clangs = [(m.name, m.bit_offset, m.bitfield_size) for m in theirs.members]
        assert (t.size, mine) == (theirs.size, clangs), f"{info.kind} {t.name}"
    if path.name == "local_types.bpf.c":
        assert compared >= 7


#: programs that compile for any architecture: also checked against an arm64 kernel, with the
#: architecture left for the analysis to infer from the primary kernel
ARM64_PROGRAMS = [CORPUS_DIR / n for n in ("tracing.bpf.c", "guards.bpf.c", "field_info.bpf.c")]
ARM64 = SAMPLE_DIR / "6.12-arm64.btf.xz"


@pytest.fixture(scope="session")
def clang_arm64(tmp_path_factory, raw_sample, bpftool):
    built = _build_all(bpftool, require_tool("clang-16"), tmp_path_factory.mktemp("corpus-arm64"),
                       raw_sample(ARM64), ARM64_PROGRAMS, "arm64", lambda path: [])
    return {p: relos for p, (_, relos) in built.items()}  # relocations, or clang's error


@pytest.mark.oracle
@pytest.mark.parametrize("path", ARM64_PROGRAMS, ids=lambda p: p.name)
def test_arm64_prediction_equals_clang(path: Path, clang_arm64) -> None:
    relos = clang_arm64[path]
    assert isinstance(relos, set), f"clang failed:\n{relos}"
    model = analyze(str(path), None, SourceOptions(primary=bpfls.btf.load(ARM64),
                                                   include_dirs=(str(CORPUS_DIR / "include"),)))
    assert model.arch == "arm64"
    got = relocation_set(model)
    assert got == relos, (f"missing: {sorted(relos - got)}\nextra: {sorted(got - relos)}")
