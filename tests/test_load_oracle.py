"""Attach targets and helpers of every program of ``../shared/corpus``, looked up with
libbpf's own functions and rules (:mod:`libbpf_lookup`: ``btf__find_by_name_kind`` through
ctypes on the same kernel file) on the 4 sample kernels and the 16 shared ones, and bpfls's
answers checked against them.

The programs and calls come from the compiled objects, exactly
(:mod:`bpfls.analysis.object_programs`): each ``SEC()`` of a kind libbpf looks up in the
kernel's BTF, each helper call, each kfunc and typed ksym, each map's type. ``-rP`` prints
the figures: what was checked per project and what libbpf finds missing on which kernels.

bpfls's side is :mod:`bpfls.analysis.attach`, with
``target_found(section: str, kernel: Btf) -> bool | None`` (``None``: nothing to look up, or
BTF cannot tell) and ``helper_found(name: str, kernel: Btf) -> bool | None`` (and, when it
has them, ``ksym_found(name: str, function: bool, kernel: Btf) -> bool | None`` and
``map_type_found(enumerator: str, kernel: Btf) -> bool | None``); the test that compares with
it is skipped where that module is not there.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from libbpf_lookup import (
    ATTACH_BTF,
    EVIDENCE,
    LIBBPF,
    Libbpf,
    attach_target,
    helper_enumerator,
    raw_copy,
)
from shared_corpus import programs as corpus_projects

from bpfls.analysis import attach
from bpfls.analysis.helper_table import HELPERS
from bpfls.analysis.object_programs import object_model
from bpfls.btf import Btf, load
from bpfls.btf.kinds import Kind
from bpfls.core.objfile import read_object

from conftest import SAMPLE_DIR, SHARED_BTF

pytestmark = pytest.mark.oracle


def kernel_files() -> dict[str, Path]:
    """The sample kernels, and the shared ones when ``../shared/btf`` is there."""
    out = {p.name.removesuffix(".btf.xz"): p for p in sorted(SAMPLE_DIR.glob("*.btf.xz"))}
    if SHARED_BTF.is_dir():
        out.update({p.name.removesuffix(".btf.gz"): p
                    for p in sorted((SHARED_BTF / "kernels").glob("*.btf.gz"))})
    return out


@pytest.fixture(scope="module")
def libbpf() -> Libbpf:
    if not os.path.exists(LIBBPF):
        pytest.skip(f"{LIBBPF} is not installed (libbpf1)")
    return Libbpf()


@pytest.fixture(scope="module")
def raw_kernels(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("raw-kernels")
    return {name: raw_copy(p, d) for name, p in kernel_files().items()}


# -- the oracle's own rules, on kernels with known answers ---------------------------------------

def test_sections_follow_libbpfs_table() -> None:
    t = attach_target("fentry/tcp_connect")
    assert t is not None and (t.btf_name, t.btf_kind, t.evidence) == ("tcp_connect", 12, False)
    assert attach_target("?fexit.s/vfs_read").btf_name == "vfs_read"
    assert attach_target("tp_btf/sched_switch").btf_name == "btf_trace_sched_switch"
    assert attach_target("lsm.s/file_open").btf_name == "bpf_lsm_file_open"
    assert attach_target("lsm_cgroup/socket_bind").btf_name == "bpf_lsm_socket_bind"
    assert attach_target("iter/task").btf_name == "bpf_iter_task"
    assert attach_target("raw_tp/sched_switch").evidence
    for none in ("fentry", "kprobe/tcp_connect", "tracepoint/sched/sched_switch",
                 "freplace/handler", "xdp", "struct_ops/init", "fentryx/tcp_connect"):
        assert attach_target(none) is None, none
    assert helper_enumerator("bpf_map_lookup_elem") == "BPF_FUNC_map_lookup_elem"


def test_lookups_on_the_sample_kernels(libbpf, raw_kernels) -> None:
    with libbpf.open(raw_kernels["5.10-amd64"]) as old, \
            libbpf.open(raw_kernels["6.12-amd64"]) as new:
        for k in (old, new):
            assert k.target_found("fentry/tcp_connect") is True
            assert k.target_found("fentry/bpfls_no_such_function") is False
            assert k.target_found("tp_btf/sched_switch") is True
            assert k.target_found("lsm/file_open") is True
            assert k.target_found("iter/task") is True
            assert k.target_found("kprobe/tcp_connect") is None
            assert k.helper_found("bpf_map_lookup_elem")
        # helpers newer than 5.10: bpf_get_func_ip (5.15), bpf_loop (5.17)
        for helper in ("bpf_get_func_ip", "bpf_loop", "bpf_ktime_get_tai_ns"):
            assert not old.helper_found(helper) and new.helper_found(helper), helper
        assert old.target_found("iter/ksym") is False and new.target_found("iter/ksym")
        # every helper bpf_helper_defs.h has and the kernel knows has the same id there
        ids = new.enumerators("bpf_func_id")
        known = [(n, v[0]) for n, v in HELPERS.items() if helper_enumerator(n) in ids]
        assert len(known) > 200
        assert all(ids[helper_enumerator(n)] == i for n, i in known)


# -- the corpus --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    project: str
    obj: str
    function: str  # the program or calling function; for a ksym "kfunc" or "var"
    what: str  # a section, a helper's name, a ksym's name, a map type's enumerator
    reachable: bool = True  # for a ksym: not weak


@dataclass
class Cases:
    """What the corpus asks of the kernel by name, from its compiled objects."""

    targets: list[Case]  # every program whose section libbpf looks a target up for
    helpers: list[Case]  # every helper call
    ksyms: list[Case]  # every kfunc and typed ksym variable
    maps: list[Case]  # every map of .maps with its type
    others: Counter  # the sections of other kinds, by kind


@pytest.fixture(scope="module")
def corpus_cases(shared_corpus) -> Cases:
    projects = corpus_projects()
    out = Cases([], [], [], [], Counter())
    for name, path in sorted(shared_corpus.objects.items()):
        m = object_model(read_object(path))
        project = projects.get(name, "")
        for p in m.programs:
            if attach_target(p.section) is None:
                out.others[p.section.removeprefix("?").split("/")[0]] += 1
            else:
                out.targets.append(Case(project, name, p.name, p.section))
        for c in m.calls:
            if c.helper_id is not None:
                out.helpers.append(Case(project, name, c.function, c.name, c.reachable))
        for k in m.ksyms:
            if k.function or k.typed:
                out.ksyms.append(Case(project, name, "kfunc" if k.function else "var", k.name,
                                      not k.weak))
        for mp in m.maps:
            if mp.type is not None:
                out.maps.append(Case(project, name, mp.name, mp.type))
    return out


@dataclass
class Answers:
    """libbpf's answer for each distinct name, per kernel: kernel → name → found."""

    targets: dict[str, dict[str, bool]]
    helpers: dict[str, dict[str, bool]]
    ksyms: dict[str, dict[tuple[str, str], bool]]  # (kfunc|var, name)
    maps: dict[str, dict[str, bool]]


@pytest.fixture(scope="module")
def libbpf_answers(libbpf, raw_kernels, corpus_cases) -> Answers:
    cases = corpus_cases
    sections = sorted({c.what for c in cases.targets})
    helpers = sorted({c.what for c in cases.helpers})
    ksyms = sorted({(c.function, c.what) for c in cases.ksyms})
    maps = sorted({c.what for c in cases.maps})
    out = Answers({}, {}, {}, {})
    for kernel, raw in raw_kernels.items():
        with libbpf.open(raw) as k:
            out.targets[kernel] = {s: bool(k.target_found(s)) for s in sections}
            out.helpers[kernel] = {n: k.helper_found(n) for n in helpers}
            out.ksyms[kernel] = {(f, n): bool(k.ksym_found(n, f == "kfunc")) for f, n in ksyms}
            out.maps[kernel] = {t: k.map_type_found(t) for t in maps}
    return out


@pytest.mark.shared
def test_libbpf_and_bpfls_read_the_same_btf(raw_kernels, libbpf_answers) -> None:
    """The oracle and bpfls's BTF reader agree on every name looked up, on every kernel (the
    same file read by two implementations)."""
    for kernel, raw in raw_kernels.items():
        btf = load(raw)
        for s, found in libbpf_answers.targets[kernel].items():
            t = attach_target(s)
            assert t is not None
            assert (btf.find(t.btf_name, Kind(t.btf_kind)) is not None) == found, (kernel, s)
        for n, found in libbpf_answers.helpers[kernel].items():
            assert bool(btf.enumerators_named(helper_enumerator(n))) == found, (kernel, n)
        for (f, n), found in libbpf_answers.ksyms[kernel].items():
            kind = Kind.FUNC if f == "kfunc" else Kind.VAR
            assert (btf.find(n, kind) is not None) == found, (kernel, n)
        for t, found in libbpf_answers.maps[kernel].items():
            assert bool(btf.enumerators_named(t)) == found, (kernel, t)


def _names(cases: list[Case], found: dict) -> str:
    names = Counter(c.what for c in cases)
    return ", ".join(f"{n} {k}" if k > 1 else n for n, k in sorted(names.items()))


@pytest.mark.shared
def test_figures(corpus_cases, libbpf_answers) -> None:
    """What was checked, per project, and what libbpf finds missing where (``-rP``)."""
    cases = corpus_cases
    targets, helpers = cases.targets, cases.helpers
    kernels = list(libbpf_answers.targets)
    by_project: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for c in targets:
        by_project[c.project][0] += 1
    for c in helpers:
        by_project[c.project][1] += 1
        by_project[c.project][2] += not c.reachable
    for c in cases.ksyms:
        by_project[c.project][3] += 1
    for c in cases.maps:
        by_project[c.project][4] += 1
    objects = {c.obj for c in targets + helpers + cases.ksyms + cases.maps}
    lines = [f"\n{len(targets)} SEC targets ({len({c.what for c in targets})} distinct), "
             f"{len(helpers)} helper calls ({len({c.what for c in helpers})} distinct helpers), "
             f"{len(cases.ksyms)} ksyms ({len({c.what for c in cases.ksyms})} distinct), "
             f"{len(cases.maps)} maps ({len({c.what for c in cases.maps})} types) "
             f"in {len(objects)} objects, on {len(kernels)} kernels",
             "kinds looked up: " + ", ".join(
                 f"{k} {n}" for k, n in sorted(Counter(
                     c.what.removeprefix("?").split("/")[0] for c in targets).items())),
             "not looked up in BTF (libbpf's rules; a kind without /target included): "
             + ", ".join(f"{k} {n}" for k, n in sorted(cases.others.items())),
             f"{'project':<24} {'targets':>8} {'helper calls':>13} {'(unreachable)':>14} "
             f"{'ksyms':>6} {'maps':>6}"]
    for project, (t, h, u, k, m) in sorted(by_project.items()):
        lines.append(f"{project:<24} {t:>8} {h:>13} {u:>14} {k:>6} {m:>6}")
    lines.append("missing per libbpf, per kernel:")
    for kernel in kernels:
        a = libbpf_answers
        t_missing = [c for c in targets if not a.targets[kernel][c.what]]
        h_missing = [c for c in helpers if not a.helpers[kernel][c.what]]
        k_missing = [c for c in cases.ksyms if not a.ksyms[kernel][(c.function, c.what)]]
        m_missing = [c for c in cases.maps if not a.maps[kernel][c.what]]
        ev = sum(attach_target(c.what).evidence for c in t_missing)
        weak = sum(not c.reachable for c in k_missing)
        lines.append(f"  {kernel:<15} {len(t_missing):>4} targets ({ev} raw_tp evidence), "
                     f"{len(h_missing):>5} helper calls, {len(k_missing):>3} ksyms ({weak} "
                     f"weak), {len(m_missing):>3} maps")
        for what, missing in (("targets", t_missing), ("helpers", h_missing),
                              ("ksyms", k_missing), ("map types", m_missing)):
            if missing:
                lines.append(f"      {what}: {_names(missing, a)}")
    print("\n".join(lines))
    assert targets and helpers and cases.maps
    assert set(ATTACH_BTF) | set(EVIDENCE) >= {c.what.removeprefix("?").split("/")[0]
                                               for c in targets}
    # the newest kernels have every helper and map type the corpus uses
    newest = kernels[-1] if "linux-7.1" not in kernels else "linux-7.1"
    assert all(libbpf_answers.helpers[newest].values())
    assert all(libbpf_answers.maps[newest].values())


def _no_btf_tracepoints(btf: Btf) -> bool:
    return btf.find("btf_trace_sched_switch", Kind.TYPEDEF) is None


@pytest.mark.shared
def test_bpfls_answers_as_libbpf(raw_kernels, libbpf_answers) -> None:
    """For every SEC target, helper, ksym and map type of the corpus on every kernel, bpfls
    finds what libbpf finds (an undecided answer counts as a difference), but for raw_tp on a
    kernel whose BTF describes no tracepoint (5.4): bpfls cannot tell, libbpf's lookup says
    no (raw_tp attaches by name at run time)."""
    differ = []
    for kernel, raw in raw_kernels.items():
        btf: Btf = load(raw)
        a = libbpf_answers
        no_btf_tracepoints = _no_btf_tracepoints(btf)
        for s, found in a.targets[kernel].items():
            got = attach.target_found(s, btf)
            if got is None and found is False and no_btf_tracepoints and \
                    s.lstrip("?").startswith(("raw_tp/", "raw_tracepoint/")):
                continue  # a kernel whose BTF has no tracepoints: bpfls cannot tell (5.4)
            if got is not found:
                differ.append((kernel, s, found, got))
        for n, found in a.helpers[kernel].items():
            if (got := attach.helper_found(n, btf)) is not found:
                differ.append((kernel, n, found, got))
        for (f, n), found in a.ksyms[kernel].items():
            if (got := attach.ksym_found(n, f == "kfunc", btf)) is not found:
                differ.append((kernel, n, found, got))
        for t, found in a.maps[kernel].items():
            if (got := attach.map_type_found(t, btf)) is not found:
                differ.append((kernel, t, found, got))
    assert not differ, differ[:20]


def test_raw_copies_are_what_libbpf_reads(libbpf) -> None:
    """A compressed kernel is decompressed once into the directory given."""
    with tempfile.TemporaryDirectory() as tmp:
        src = SAMPLE_DIR / "5.10-amd64.btf.xz"
        raw = raw_copy(src, Path(tmp))
        assert raw.suffix == ".btf" and raw_copy(src, Path(tmp)) == raw
        with libbpf.open(src) as a, libbpf.open(raw) as b:
            assert a.type_count() == b.type_count() > 80000
            assert a.name_of(a.find("tcp_connect", 12)) == "tcp_connect"
            assert a.kind_of(a.find("btf_trace_sched_switch", 8)) == 8
