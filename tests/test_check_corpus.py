"""End to end on the corpus: bpfls's predicted relocations and verdicts equal libbpf's, and the
diagnostics are exactly the ones each program's `// expect:` comments name.

A program is built with the headers its ``//!`` lines name (:mod:`corpus_headers`): by
default the primary kernel's ``vmlinux.h``.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from dataclasses import replace
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
from corpus_headers import chooses_primary, include_dirs, write_headers

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(CORPUS.glob("*.bpf.c")) + sorted((CORPUS / "rejected").glob("*.bpf.c"))
#: the codes of relocations libbpf refuses before the verifier runs
HARD = frozenset({"relocation-error", "ambiguous-flavors", "anonymous-root",
                  "enum-sign-extension"})
PRIMARY = "6.12-amd64"
KERNEL_NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
EXPECT = re.compile(r"//\s*expect:\s*(?P<code>[\w-]+)(?:@(?P<kernels>[\w.,-]+))?")


class Corpus:
    """The kernels, and each program's include path and kernels as its directives say
    (:mod:`corpus_headers`)."""

    def __init__(self, kernels: KernelSet, root: Path) -> None:
        self.all = kernels
        self.root = root
        self.dumps: dict[str, Path] = {}

    def vmlinux_dir(self, kernel: str | None) -> Path:
        kernel = kernel or PRIMARY
        d = self.dumps.get(kernel)
        if d is None:
            from bpfls.btf.dump_c import dump_c

            d = self.dumps[kernel] = write_headers(self.root / kernel,
                                                   dump_c(self.all.get(kernel).btf))
        return d

    def include_dirs(self, prog: Path) -> list[Path]:
        """The program's include path, searched in order."""
        return include_dirs(prog, self.vmlinux_dir)

    def kernels(self, prog: Path) -> KernelSet:
        return replace(self.all, primary_default=True) if chooses_primary(prog) else self.all

    def model(self, prog: Path):
        ks = self.kernels(prog)
        return analyze(str(prog), prog.read_text(), SourceOptions(
            primary=ks.primary_btf, kernels=tuple((k.name, k.btf) for k in ks.loaded),
            include_dirs=tuple(str(d) for d in self.include_dirs(prog)),
            defines={"__TARGET_ARCH_x86": None}))

    def check(self, prog: Path):
        return check_model(self.model(prog), self.kernels(prog))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(load_sample_kernels(KERNEL_NAMES, PRIMARY), tmp_path_factory.mktemp("inc"))


@pytest.fixture(scope="module")
def kernels(corpus: Corpus) -> KernelSet:
    return corpus.all


@pytest.fixture(scope="module")
def build(tmp_path_factory, raw_sample, bpftool, corpus: Corpus):
    """Each corpus program compiled once."""
    clang = require_tool("clang-16")
    out = tmp_path_factory.mktemp("obj")
    extra = tuple(f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
                  if os.path.exists(os.path.join(d, "asm", "errno.h")))  # for usdt.bpf.h
    assert len({p.name for p in PROGRAMS}) == len(PROGRAMS)
    objs = {}
    for p in PROGRAMS:
        first, *rest = corpus.include_dirs(p)
        objs[p.name] = compile_bpf(clang, p, first, out,
                                   extra=tuple(f"-I{d}" for d in rest) + extra)
    raws = {n: raw_sample(SAMPLE_DIR / f"{n}.btf.xz") for n in KERNEL_NAMES}
    return objs, raws


def _hard_errors(report, kernel: str) -> dict[tuple[str, str], str]:
    """(kind, spec) → code of every relocation bpfls says libbpf rejects on ``kernel``."""
    return {(d.data["kind"], d.data["spec"]): d.code for d in report.diagnostics
            if d.code in HARD and kernel in d.kernels}


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_relocations_and_verdicts_equal_libbpf(prog: Path, corpus: Corpus, build,
                                               bpftool: str) -> None:
    _compare_with_bpftool(prog, corpus, build, bpftool)


def _compare_with_bpftool(prog: Path, corpus: Corpus, build, bpftool: str) -> None:
    objs, raws = build
    model = corpus.model(prog)
    ours = Counter((str(a.kind), a.spec) for a in model.accesses if a.reachable)
    report = check_model(model, corpus.kernels(prog))
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
def test_hard_errors_equal_libbpf_loader(prog: Path, corpus: Corpus, build,
                                         loader) -> None:
    """The object fails CO-RE relocation on a kernel exactly where bpfls predicts a hard
    error there, with the same reason; everywhere else libbpf relocates every instruction."""
    objs, raws = build
    report = corpus.check(prog)
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
def test_diagnostics_match_expectations(prog: Path, corpus: Corpus) -> None:
    report = corpus.check(prog)
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
    """The get_task_state example: no CO-RE error on any kernel from 5.4 to 7.1; its tp_btf
    program needs BPF_PROG_TYPE_TRACING, which 5.4 lacks (5.5 added it)."""
    files = sorted((shared_btf / "kernels").glob("*.btf.gz"))
    ks = KernelSet(tuple(Kernel(f.name, str(f), load(f)) for f in files), None)
    primary = load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")
    prog = CORPUS / "guard_state.bpf.c"
    model = analyze(str(prog), prog.read_text(),
                    SourceOptions(primary=primary, defines={"__TARGET_ARCH_x86": None}))
    report = check_model(model, ks)
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    assert [(d.code, d.kernels) for d in errors] == [
        ("program-type-missing", ("linux-5.4.btf.gz",))]
    assert len(report.relocations) == 6


def test_memoised_resolution_equals_fresh(corpus: Corpus, monkeypatch) -> None:
    """Re-checking reuses resolutions across runs; the answers must equal a fresh resolve."""
    import bpfls.analysis.check as chk

    for prog in PROGRAMS:
        first = corpus.check(prog)
        again = corpus.check(prog)  # served from the memo
        monkeypatch.setattr(chk, "_memo_for", lambda target, model: None)
        fresh = corpus.check(prog)
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


def test_checking_leaves_the_model_as_it_was(corpus: Corpus) -> None:
    for prog in PROGRAMS:
        model = corpus.model(prog)
        before = _state(model)
        check_model(model, corpus.kernels(prog))
        assert _state(model) == before, prog.name


def test_primary_comes_from_the_programs_vmlinux_h(corpus: Corpus) -> None:
    """With no primary chosen, the kernel whose dump the program includes is its primary;
    a chosen primary stays."""
    prog = CORPUS / "vmlinux_primary.bpf.c"
    model = corpus.model(prog)
    assert model.vmlinux_kernel == "5.10-amd64"
    assert model.local.base is corpus.all.get("5.10-amd64").btf
    assert corpus.check(prog).primary == "5.10-amd64"
    assert check_model(model, corpus.all).primary == PRIMARY  # chosen: kept
    wrapper = corpus.model(CORPUS / "vmlinux_wrapper.bpf.c")
    assert wrapper.vmlinux_kernel == PRIMARY  # the dump behind the project's own header
    assert str(CORPUS / "include" / "wrapper" / "vmlinux.h") in wrapper.files
