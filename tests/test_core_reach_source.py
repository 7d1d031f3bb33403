"""The source model and the compiled object agree on where each relocation executes.

For every corpus program and sample kernel, a relocation the source model says can execute
(its guard, evaluated with the kernel's existence checks: :meth:`Guard.evaluate`) is one
:func:`bpfls.core.objects.judge_object` says the verifier reaches, and the reverse. Relocations
are matched by kind and spec and, where the source and the object have the same number of
them, in line order (clang's line table places a relocated constant only roughly, so lines
alone do not match); where the numbers differ (an inlined helper appears once per caller in
the object, a bitfield macro repeats a relocation), the question is whether any executes.
The disagreements left are listed in :data:`EXPLAINED`, each with why the compiled code
differs from the source.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bpfls.analysis.check import resolve_model
from bpfls.analysis.rules import check_value
from bpfls.core.objects import judge_object
from bpfls.source import SourceOptions, analyze

from conftest import SAMPLE_DIR, load_sample_kernels, require_tool
from coreoracle import compile_objects, program_include_dirs
from corpus_headers import chooses_primary

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(CORPUS.glob("*.bpf.c")) + sorted((CORPUS / "rejected").glob("*.bpf.c"))
KERNELS = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]
PRIMARY = "6.12-amd64"

#: (program, kind, spec) → why the source model and the object disagree
EXPLAINED = {
    ("usdt.bpf.c", "byte_off", "struct pt_regs.ip"):
        "bpf_usdt_arg_cnt and bpf_usdt_cookie (usdt.bpf.h) are called by no program, so "
        "libbpf loads them with none; the source model counts them as reachable",
}


@pytest.fixture(scope="module")
def kernels():
    return load_sample_kernels(KERNELS, PRIMARY)


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    return compile_objects(require_tool("clang-16"), PROGRAMS, SAMPLE_DIR / f"{PRIMARY}.btf.xz")


def _source_executes(prog: Path, kernels) -> dict[str, dict[tuple[str, str], list]]:
    """kernel → (kind, spec) → [(line, can execute)] as the source model says."""
    incs = program_include_dirs(prog, SAMPLE_DIR / f"{PRIMARY}.btf.xz")
    if chooses_primary(prog):
        kernels = replace(kernels, primary_default=True)
    model = analyze(str(prog), prog.read_text(),
                    SourceOptions(primary=kernels.primary_btf,
                                  kernels=tuple((k.name, k.btf) for k in kernels.loaded),
                                  include_dirs=tuple(str(d) for d in incs),
                                  defines={"__TARGET_ARCH_x86": None}))
    judged = resolve_model(model, kernels.for_program(model.vmlinux_kernel))
    by_access = {id(j.access): j for j in judged}
    out: dict[str, dict[tuple[str, str], list]] = {}
    for k in kernels.loaded:
        def verdict(check, name=k.name):
            j = by_access.get(id(check))
            return check_value(j.results.get(name)) if j else None

        groups = out.setdefault(k.name, {})
        for j in judged:
            a = j.access
            if a.repeat:
                continue
            g = a.guard
            can = True if g is None or g.is_true else g.evaluate(verdict) is not False
            groups.setdefault((str(a.kind), a.spec), []).append((a.range.start.line + 1, can))
    return out


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_source_model_and_object_agree_on_what_executes(prog: Path, kernels, objects) -> None:
    source = _source_executes(prog, kernels)
    disagree: set[tuple[str, str, str]] = set()
    for k in kernels.loaded:
        compiled: dict[tuple[str, str], list] = {}
        for v in judge_object(objects[prog.name], k.btf):
            line = v.relo.line.line if v.relo.line else 0
            compiled.setdefault((str(v.resolution.kind), v.resolution.spec), []).append(
                (line, v.executes is not False))
        ours = source[k.name]
        assert set(ours) == set(compiled), (prog.name, k.name, set(ours) ^ set(compiled))
        for key, in_source in ours.items():
            in_object = compiled[key]
            if len(in_source) == len(in_object):
                same = [a[1] for a in sorted(in_source)] == [b[1] for b in sorted(in_object)]
            else:
                same = any(c for _, c in in_source) == any(c for _, c in in_object)
            if not same:
                disagree.add((prog.name, *key))
    explained = {key for key in EXPLAINED if key[0] == prog.name}
    assert disagree == explained, sorted(disagree ^ explained)
