"""End to end on the corpus: bpfls's predicted relocations and verdicts equal libbpf's, and the
diagnostics are exactly the ones each program's `// expect:` comments name."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from oracle import compile_bpf, libbpf_relocations

from bpfls.analysis.check import check_model
from bpfls.btf import load
from bpfls.config import KernelSpec
from bpfls.kernels import Kernel, KernelSet, load_kernels
from bpfls.source import SourceOptions, analyze

from conftest import SAMPLE_DIR, require_tool

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(CORPUS.glob("*.bpf.c"))
PRIMARY = "6.12-amd64"
KERNEL_NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
EXPECT = re.compile(r"//\s*expect:\s*(?P<code>[\w-]+)(?:@(?P<kernels>[\w.,-]+))?")


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    from bpfls.config import Config

    cfg = Config(kernels=tuple(KernelSpec(n, str(SAMPLE_DIR / f"{n}.btf.xz"))
                               for n in KERNEL_NAMES), primary=PRIMARY)
    ks = load_kernels(cfg)
    assert all(k.ok for k in ks)
    return ks


@pytest.fixture(scope="module")
def build(tmp_path_factory, raw_sample, bpftool):
    """vmlinux.h of the primary kernel, and each corpus program compiled once."""
    clang = require_tool("clang-16")
    inc = tmp_path_factory.mktemp("inc")
    from bpfls.btf.render import dump_c

    (inc / "vmlinux.h").write_text(dump_c(load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")))
    out = tmp_path_factory.mktemp("obj")
    objs = {p.name: compile_bpf(clang, p, inc, out) for p in PROGRAMS}
    raws = {n: raw_sample(SAMPLE_DIR / f"{n}.btf.xz") for n in KERNEL_NAMES}
    return objs, raws


def _model(path: Path, kernels: KernelSet):
    return analyze(str(path), path.read_text(),
                   SourceOptions(primary=kernels.primary_btf, defines={"__TARGET_ARCH_x86": None}))


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_relocations_and_verdicts_equal_libbpf(prog: Path, kernels: KernelSet, build,
                                               bpftool: str) -> None:
    objs, raws = build
    model = _model(prog, kernels)
    ours = Counter((str(a.kind), a.spec) for a in model.accesses if a.reachable)
    report = check_model(model, kernels)
    for name in KERNEL_NAMES:
        theirs = libbpf_relocations(bpftool, objs[prog.name], raws[name])
        assert set(ours) == {r.key for r in theirs}, name
        verdicts = {}
        for r in theirs:
            verdicts.setdefault(r.key, set()).add(r.resolved)
        for rel in report.relocations:
            got = rel.results[name].resolved
            assert {got} == verdicts[(rel.kind, rel.spec)], (name, rel.kind, rel.spec)


def _expected(prog: Path) -> Counter:
    want = Counter()
    for i, line in enumerate(prog.read_text().splitlines()):
        for m in EXPECT.finditer(line):
            ks = tuple(sorted(m["kernels"].split(","))) if m["kernels"] else None
            want[(i, m["code"], ks)] += 1
    return want


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_diagnostics_match_expectations(prog: Path, kernels: KernelSet) -> None:
    report = check_model(_model(prog, kernels), kernels)
    got = Counter()
    want = _expected(prog)
    for d in report.diagnostics:
        if d.severity.value not in ("error", "warning"):
            continue
        ks = tuple(sorted(d.kernels)) if d.kernels else None
        key = (d.range.start.line, d.code, ks)
        if (d.range.start.line, d.code, None) in want:
            key = (d.range.start.line, d.code, None)
        got[key] += 1
    assert got == want, [str(d) for d in report.diagnostics]


def test_guard_example_has_no_error_on_any_shared_kernel(shared_btf: Path) -> None:
    """The issue's get_task_state example: no error on any kernel from 5.4 to 7.1."""
    files = sorted((shared_btf / "kernels").glob("*.btf.gz"))
    ks = KernelSet(tuple(Kernel(f.name, str(f), load(f)) for f in files), None)
    primary = load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")
    prog = CORPUS / "guard_state.bpf.c"
    model = analyze(str(prog), prog.read_text(),
                    SourceOptions(primary=primary, defines={"__TARGET_ARCH_x86": None}))
    report = check_model(model, ks)
    assert [d for d in report.diagnostics if d.severity.value == "error"] == []
    assert len(report.relocations) == 6


def test_memoised_resolution_equals_fresh(kernels: KernelSet, monkeypatch) -> None:
    """Re-checking reuses resolutions across runs; the answers must equal a fresh resolve."""
    import bpfls.analysis.check as chk

    for prog in PROGRAMS:
        first = check_model(_model(prog, kernels), kernels)
        again = check_model(_model(prog, kernels), kernels)  # served from the memo
        monkeypatch.setattr(chk, "_memo_for", lambda target, model: None)
        fresh = check_model(_model(prog, kernels), kernels)
        monkeypatch.undo()
        for a, b, c in zip(first.relocations, again.relocations, fresh.relocations,
                           strict=True):
            assert a.results == b.results == c.results, (prog.name, a.spec)
        assert [d.message for d in again.diagnostics] == [d.message for d in fresh.diagnostics]
