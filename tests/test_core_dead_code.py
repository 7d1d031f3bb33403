"""The quick proof of dead poisoned code (core/dead_code.py) against the full model
(core/reach.py): it never calls dead what the full model reaches, and judging an object with
``poisoned_only`` gives every poisoned relocation the verdict the full judgement gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpfls.btf import load
from bpfls.core.dead_code import dead, flow_graph
from bpfls.core.objects import judge, judge_object
from bpfls.core.objfile import read_object
from bpfls.core.reach import POISON, checks_globals_lazily
from bpfls.core.resolve import MISSING

from conftest import SAMPLE_DIR, require_tool
from coreoracle import compile_objects

ROOT = Path(__file__).parent
SOURCES = (sorted((ROOT / "fixtures" / "reach").glob("*.bpf.c"))
           + sorted((ROOT / "corpus").glob("*.bpf.c")))
KERNELS = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    return compile_objects(require_tool("clang-16"), SOURCES, SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def kernels():
    return {n: load(SAMPLE_DIR / f"{n}.btf.xz") for n in KERNELS}


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_poisoned_only_gives_the_full_verdicts(src: Path, objects, kernels) -> None:
    obj = read_object(objects[src.name])
    for name, btf in kernels.items():
        full = judge(obj, btf)
        quick = judge_object(obj, btf, poisoned_only=True)
        assert [v.resolution.status for v in quick] == [v.resolution.status
                                                         for v in full.verdicts]
        for q, f in zip(quick, full.verdicts, strict=True):
            if f.resolution.status == MISSING and f.executes is not None:
                assert q.executes == f.executes, (src.name, name, q.relo.section,
                                                  q.relo.insn_off)
        patches = {(v.relo.section, v.relo.insn_off // 8): (
            POISON if v.resolution.status == MISSING else v.resolution.target_value)
            for v in full.verdicts}
        everything = {(s, i) for s, sec in obj.sections.items() for i in range(len(sec))}
        proven = dead(obj, patches, [f for f in obj.programs if f.autoload], everything,
                      lazy_globals=checks_globals_lazily(btf))
        if full.reach.complete:
            assert not proven & full.reach.reached, (src.name, name)


def test_the_proof_reads_a_guard_from_the_branch_on_its_constant(objects, kernels) -> None:
    """In the reach fixtures' plain `if (bpf_core_field_exists(...))` guards, the jump on the
    relocated constant is found, so the quick proof alone decides the poisoned read."""
    obj = read_object(objects["guards.bpf.c"])
    g = flow_graph(obj)
    blocks = [g.block(name, start) for name, starts in g.starts.items() for start in starts]
    deciders = [b.decider for b in blocks if b is not None and b.decider is not None]
    assert deciders and all(d.source in g.relocated for d in deciders)


def test_a_walk_is_reused_only_where_its_branches_go_alike(objects) -> None:
    """Kernels that decide every branch a walk met alike share it; one that decides a
    guard the other way gets a walk of its own and its own answer."""
    obj = read_object(objects["guards.bpf.c"])
    g = flow_graph(obj)
    blocks = [g.block(name, start) for name, starts in g.starts.items() for start in starts]
    d = next(b.decider for b in blocks if b is not None and b.decider is not None)
    everything = {(s, i) for s, sec in obj.sections.items() for i in range(len(sec))}
    progs = [f for f in obj.programs if f.autoload]
    answers = {}
    for value in (0, 1, 0, 1):
        answers.setdefault(value, []).append(
            dead(obj, {d.source: value}, progs, everything, lazy_globals=True))
    assert answers[0][0] == answers[0][1] and answers[1][0] == answers[1][1]
    assert answers[0][0] != answers[1][0]
    assert sum(len(w) for w in g.walks.values()) == 2
