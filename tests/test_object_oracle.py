"""libbpf's verdicts on real programs: the shared corpus's objects, relocation by relocation.

Every program of ``../shared/corpus`` (public projects' BPF programs) is compiled once per
session (``conftest.shared_corpus``: clang-16, the 6.12-amd64 sample kernel's ``vmlinux.h``);
every one must compile. On every sample kernel libbpf relocates each object (``bpftool -d
gen min_core_btf``: libbpf's relocation logic, as a load runs it, without patching the
instructions), and :func:`bpfls.core.objects.resolve_object` must agree with it on each
relocation in ``.BTF.ext`` order (:func:`coreoracle.compare`): the kind and local spec as
libbpf prints them, the candidates examined with their specs, and the verdict (resolved, no
matching targets, or the hard error that stops libbpf, compared up to it).

The figures per project are printed (see them with ``-s`` or ``-rP``) and recorded as test
properties.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from shared_corpus import CLANG, SharedCorpus
from shared_corpus import sources as shared_corpus_sources

from bpfls.btf import Btf, load
from bpfls.core.ext import BtfExtInfo, read_ext
from bpfls.core.objects import judge_object, resolve_object
from bpfls.core.objfile import read_object

from conftest import sample_kernels
from coreoracle import compare, run_bpftool

KERNELS = [k.name.removesuffix(".btf.xz") for k in sample_kernels()]
#: bpftool processes at once; the comparisons run beside them as each log comes in
JOBS = 2
#: a resolution's status → libbpf's verdict
VERDICTS = {"resolved": "resolved", "missing": "no match", "zero": "no match", "error": "error"}
COLUMNS = ("objects", "relocations", "agree", "resolved", "no match", "error", "disagree")
#: disagreements shown in full in a failure message
SHOWN = 20

pytestmark = [pytest.mark.shared, pytest.mark.oracle]


def test_every_program_compiles(shared_corpus: SharedCorpus, record_property) -> None:
    c = shared_corpus
    record_property("build_seconds", round(c.build_seconds, 1))
    record_property("objects", len(c.objects))
    print(f"\nshared corpus: {len(c.objects)} of {len(c.projects)} programs compiled with "
          f"{CLANG} in {c.build_seconds:.1f} s")
    assert not c.failed, f"programs that did not compile (logs in {c.out / 'log'}):\n" + "\n".join(
        f"  {name}: {error}" for name, error in sorted(c.failed.items()))


def _judge(obj: Path, info: BtfExtInfo, raw: Path, target: Btf, rc: int, log: str) -> list:
    """The relocations of ``obj`` (``info``) compared with libbpf's log on ``raw``;
    AssertionError names the first that differs (object, kernel, section, relocation, both
    verdicts)."""
    ours = resolve_object(info, target, patch=False)  # bpftool does not patch instructions
    pairs = compare(obj, raw, log, resolutions=ours)
    where = f"{obj.name} on {raw.name}"
    if rc == 0:
        assert len(pairs) == len(ours), f"{where}: libbpf judged {len(pairs)} of {len(ours)}"
    else:  # libbpf stopped at a hard error
        assert (pairs and pairs[-1][1].status == "error"
                or "Error: unsupported kind" in log), f"{where}: bpftool failed: {log[-800:]}"
    return pairs


def _table(kernel: str, tally: dict[str, Counter]) -> str:
    total = sum(tally.values(), Counter())
    rows = [("project", *COLUMNS)]
    rows += [(p, *(str(t[c]) for c in COLUMNS)) for p, t in tally.items()]
    rows.append(("all", *(str(total[c]) for c in COLUMNS)))
    width = max(len(r[0]) for r in rows)
    lines = [f"libbpf's verdicts on {kernel}: {total['agree']} of {total['relocations']} "
             f"relocations agree ({total['disagree']} objects disagree)"]
    lines += ["  " + r[0].ljust(width) + "".join(f"{x:>12}" for x in r[1:]) for r in rows]
    return "\n".join(lines)


@pytest.mark.parametrize("kernel", KERNELS)
def test_verdicts_equal_libbpf(kernel: str, shared_corpus: SharedCorpus, bpftool: str,
                               record_property) -> None:
    corpus = shared_corpus
    raw = corpus.kernels[kernel]
    target = load(raw)
    names = sorted(corpus.objects)

    def libbpf(name: str) -> tuple[int, str]:
        return run_bpftool(bpftool, raw, corpus.objects[name], Path("/dev/null"))

    tally = {p: Counter() for p in sorted(set(corpus.projects.values()))}
    disagreements = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(JOBS) as pool:
        for name, (rc, log) in zip(names, pool.map(libbpf, names), strict=True):
            t = tally[corpus.projects[name]]
            obj = corpus.objects[name]
            t["objects"] += 1
            info = read_ext(obj)
            t["relocations"] += len(info.relocations)
            try:
                pairs = _judge(obj, info, raw, target, rc, log)
            except AssertionError as e:
                t["disagree"] += 1
                disagreements.append(str(e))
                continue
            t["agree"] += len(pairs)
            t.update(VERDICTS[res.status] for _, res in pairs)
    seconds = time.perf_counter() - t0
    report = _table(kernel, {p: t for p, t in tally.items() if t["objects"]})
    print(f"\n{report}\n  ({seconds:.1f} s)")
    for project, t in tally.items():
        record_property(project, {c: t[c] for c in COLUMNS})
    assert not disagreements, (
        f"{len(disagreements)} objects disagree with libbpf on {kernel}:\n\n"
        + "\n\n".join(disagreements[:SHOWN])
        + (f"\n\n... and {len(disagreements) - SHOWN} more" if len(disagreements) > SHOWN
           else ""))


@pytest.mark.parametrize("kernel", KERNELS)
def test_poisoned_only_judging_keeps_the_verdicts(kernel: str,
                                                   shared_corpus: SharedCorpus) -> None:
    """The quick judgement ``bpfls check`` uses on objects (the verifier's reach only for
    poisoned relocations, decided first by the branches on relocated constants) gives every
    poisoned relocation the verdict of the full model, wherever that one decides."""
    target = load(shared_corpus.kernels[kernel])
    wrong = []
    for name in sorted(shared_corpus.objects):
        obj = read_object(shared_corpus.objects[name])
        full = judge_object(obj, target)
        quick = judge_object(obj, target, poisoned_only=True)
        for q, f in zip(quick, full, strict=True):
            if f.resolution.status == "missing" and f.executes is not None and \
                    q.executes != f.executes:
                wrong.append(f"{name} {q.relo.section} relo #{q.relo.index}: quick "
                             f"{q.executes}, full {f.executes}")
    assert not wrong, "\n".join(wrong[:SHOWN])


def test_compile_gives_the_objects_relocations(shared_corpus: SharedCorpus) -> None:
    """``--compile`` builds each program as its project does (its -I/-D flags, the primary
    kernel's vmlinux.h): the object it judges has the relocations of the corpus's build."""
    from bpfls.project.compdb import parse_flags
    from bpfls.project.compiler import compile_bpf, find_clang
    from bpfls.project.config import Config

    clang = find_clang(CLANG)
    if clang is None:
        pytest.skip(f"{CLANG} has no BPF target here")
    primary = load(shared_corpus.kernels["6.12-amd64"])
    inc = shared_corpus.out / "inc"
    progs = shared_corpus_sources()

    def relocations(path: Path) -> Counter:
        return Counter((r.section, str(r.kind), r.access_str,
                        r.relocation.local[r.relocation.type_id].name)
                       for r in read_object(path).ext.relocations)

    def one(name: str) -> str | None:
        src, raw = progs[name]
        flags = parse_flags([f.replace("{vmlinux}", str(inc)) for f in raw], src.parent)
        cfg = Config(include=flags.include, defines=flags.defines, undefines=flags.undefines)
        out = shared_corpus.out / "compiled" / name
        out.mkdir(parents=True, exist_ok=True)
        result = compile_bpf(str(src), cfg, str(out), primary=primary, arch="x86", clang=clang)
        if result.object_path is None:
            return f"{name}: clang: {result.error}"
        if relocations(Path(result.object_path)) != relocations(shared_corpus.objects[name]):
            return f"{name}: the relocations differ from the corpus's build"
        return None

    with ThreadPoolExecutor(JOBS) as pool:
        wrong = [w for w in pool.map(one, sorted(shared_corpus.objects)) if w]
    assert not wrong, "\n".join(wrong[:SHOWN])


def test_resolutions_shared_between_objects_are_exact(shared_corpus: SharedCorpus) -> None:
    """Objects judged one after another on a kernel reuse each other's resolutions
    (:mod:`bpfls.core.shapes`): every relocation's outcome equals resolving its object
    alone, field by field."""
    from bpfls.core.patch import check_insn
    from bpfls.core.resolve import CoreResolver

    def fields(res) -> tuple:
        return (res.status, res.spec, res.reason, res.local_value, res.target_value,
                res.target_type_ids, res.local_spec_log, res.local_field, res.target_field,
                res.fail_memsz_adjust, res.validate, res.error_code, res.error_kind,
                res.pruned, [(c.type_id, c.matched, c.reason, c.value, c.poison, c.log_spec)
                             for c in res.candidates], res.relo)

    wrong = []
    for kernel in (KERNELS[0], KERNELS[-1]):
        target = load(shared_corpus.kernels[kernel])
        for name, path in sorted(shared_corpus.objects.items()):
            info = read_ext(path)
            alone = CoreResolver(target)
            for rel, res in resolve_object(info, target):
                own = alone.resolve(rel)
                if rel.insn is not None:
                    own = check_insn(own, rel.insn)
                if fields(res) != fields(own):
                    wrong.append(f"{name} on {kernel}: {rel.section} relo #{rel.index}")
    assert not wrong, "\n".join(wrong[:SHOWN])
