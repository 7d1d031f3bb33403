"""End to end on the corpus: bpfls's predicted relocations and verdicts equal libbpf's, and the
diagnostics are exactly the ones each program's `// expect:` comments name.

Programs under ``corpus/rejected/`` are ones libbpf refuses to load (a hard error before the
verifier runs). libbpf stops at the first hard error, so each of them has its failing
relocation last: everything before it is still compared, and libbpf's loader itself (through
ctypes, where loading BPF is permitted) must fail exactly where bpfls says it does."""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from oracle import compile_bpf, libbpf_relocations, relocations_from_log

from bpfls.analysis.check import check_model
from bpfls.btf import load
from bpfls.core.ext import read_ext
from bpfls.project.kernels import Kernel, KernelSet
from bpfls.source import SourceOptions, analyze

from conftest import SAMPLE_DIR, load_sample_kernels, require_tool
from coreoracle import parse_log

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(CORPUS.glob("*.bpf.c")) + sorted((CORPUS / "rejected").glob("*.bpf.c"))
#: the codes of relocations libbpf refuses before the verifier runs
HARD = frozenset({"relocation-error", "ambiguous-flavors", "anonymous-root",
                  "enum-sign-extension"})
PRIMARY = "6.12-amd64"
KERNEL_NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
EXPECT = re.compile(r"//\s*expect:\s*(?P<code>[\w-]+)(?:@(?P<kernels>[\w.,-]+))?")


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(KERNEL_NAMES, PRIMARY)


@pytest.fixture(scope="module")
def build(tmp_path_factory, raw_sample, bpftool):
    """vmlinux.h of the primary kernel, and each corpus program compiled once."""
    clang = require_tool("clang-16")
    inc = tmp_path_factory.mktemp("inc")
    from bpfls.btf.dump_c import dump_c

    (inc / "vmlinux.h").write_text(dump_c(load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")))
    out = tmp_path_factory.mktemp("obj")
    extra = tuple(f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
                  if os.path.exists(os.path.join(d, "asm", "errno.h")))  # for usdt.bpf.h
    assert len({p.name for p in PROGRAMS}) == len(PROGRAMS)
    objs = {p.name: compile_bpf(clang, p, inc, out, extra=extra) for p in PROGRAMS}
    raws = {n: raw_sample(SAMPLE_DIR / f"{n}.btf.xz") for n in KERNEL_NAMES}
    return objs, raws


def _model(path: Path, kernels: KernelSet):
    return analyze(str(path), path.read_text(),
                   SourceOptions(primary=kernels.primary_btf, defines={"__TARGET_ARCH_x86": None}))


def _hard_errors(report, kernel: str) -> dict[tuple[str, str], str]:
    """(kind, spec) → code of every relocation bpfls says libbpf rejects on ``kernel``."""
    return {(d.data["kind"], d.data["spec"]): d.code for d in report.diagnostics
            if d.code in HARD and kernel in d.kernels}


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_relocations_and_verdicts_equal_libbpf(prog: Path, kernels: KernelSet, build,
                                               bpftool: str) -> None:
    _compare_with_bpftool(prog, kernels, build, bpftool)


def _compare_with_bpftool(prog: Path, kernels: KernelSet, build, bpftool: str) -> None:
    objs, raws = build
    model = _model(prog, kernels)
    ours = Counter((str(a.kind), a.spec) for a in model.accesses if a.reachable)
    report = check_model(model, kernels)
    total = len(read_ext(objs[prog.name]).relocations)
    for name in KERNEL_NAMES:
        theirs = libbpf_relocations(bpftool, objs[prog.name], raws[name])
        assert set(ours) == {r.key for r in theirs}, name
        hard = _hard_errors(report, name)
        failed = [r for r in theirs if r.errors]
        if failed:  # libbpf stopped there: it must have judged every relocation
            assert failed == theirs[-1:] and len(theirs) == total, (name, failed)
            assert failed[0].key in hard, (name, failed[0].key, failed[0].errors)
        verdicts = {}
        for r in theirs:
            verdicts.setdefault(r.key, set()).add(r.resolved)
        for rel in report.relocations:
            key = (rel.kind, rel.spec)
            if failed and key == failed[0].key:
                assert not rel.results[name].resolved, (name, key)
                continue
            if rel.kind == "local_type_id":  # libbpf looks for no candidate: never a verdict
                assert rel.results[name].resolved, (name, key)
                continue
            # bpftool stops before patching instructions: what it cannot see is checked by
            # test_hard_errors_equal_libbpf_loader
            assert hard.get(key) in (None, "enum-sign-extension"), (name, key)
            got = rel.results[name].resolved
            assert {got} == verdicts[key], (name, rel.kind, rel.spec)


@pytest.fixture(scope="module")
def loader():
    """libbpf's own loader, where it can get as far as CO-RE relocation here."""
    from coreoracle import libbpf_or_skip

    return libbpf_or_skip()


#: libbpf's words for each hard error (its log line for the failing relocation)
_LIBBPF_WORDS = {"ambiguous-flavors": "ambiguity", "enum-sign-extension": "unexpected insn",
                 "anonymous-root": "candidate search failed"}


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_hard_errors_equal_libbpf_loader(prog: Path, kernels: KernelSet, build,
                                         loader) -> None:
    """The object fails CO-RE relocation on a kernel exactly where bpfls predicts a hard
    error there, with the same reason; everywhere else libbpf relocates every instruction."""
    objs, raws = build
    report = check_model(_model(prog, kernels), kernels)
    for name in KERNEL_NAMES:
        log = loader.relocate(objs[prog.name], raws[name])
        if "CO-RE relocating" not in log and "failed to perform CO-RE" not in log:
            pytest.skip(f"libbpf did not get as far as CO-RE relocation: {log[-300:]}")
        hard = _hard_errors(report, name)
        failed = [r for r in parse_log(log) if r.error]
        if not hard:
            assert "failed to perform CO-RE relocations" not in log, (name, log[-1500:])
            continue
        assert "failed to perform CO-RE relocations" in log and len(failed) == 1, name
        named = [r for r in relocations_from_log(log) if r.errors]
        if named:
            codes = {hard.get(named[0].key)}
        else:  # an anonymous root fails before libbpf prints the local spec
            codes = set(hard.values())
        words = {_LIBBPF_WORDS.get(c) for c in codes - {None}}
        assert any(w is None or w in failed[0].error for w in words), (name, codes, failed)


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
    expected_codes = {(line, code) for line, code, _ in want}
    for d in report.diagnostics:
        # hints and infos count only where an expectation names them
        if (d.severity.value not in ("error", "warning")
                and (d.range.start.line, d.code) not in expected_codes):
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


def _state(model) -> list:
    """Everything the model says, apart from the accesses' lazily formatted specs."""
    out = [(sd.code, sd.message, sd.range, sorted(sd.data.items(), key=str))
           for sd in model.diagnostics]
    for a in model.accesses:
        out.append(tuple(v for k, v in vars(a).items() if k != "spec_text"))
    out += [(f.name, f.reachable, f.calls) for f in model.functions.values()]
    return out


def test_checking_leaves_the_model_as_it_was(kernels: KernelSet) -> None:
    for prog in PROGRAMS:
        model = _model(prog, kernels)
        before = _state(model)
        check_model(model, kernels)
        assert _state(model) == before, prog.name
