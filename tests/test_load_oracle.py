"""Attach targets and helpers of every program of ``../shared/corpus``, looked up with
libbpf's own functions and rules (:mod:`libbpf_lookup`: ``btf__find_by_name_kind`` through
ctypes on the same kernel file) on the 4 sample kernels and the 16 shared ones, and bpfls's
answers checked against them.

The programs and calls come from the compiled objects, exactly
(:mod:`bpfls.analysis.object_programs`): each ``SEC()`` of a kind libbpf looks up in the
kernel's BTF, and each helper call. ``-rP`` prints the figures: what was checked per project
and what libbpf finds missing on which kernels.

bpfls's side is :mod:`bpfls.analysis.attach`, with
``target_found(section: str, kernel: Btf) -> bool | None`` (``None``: nothing to look up, or
BTF cannot tell) and ``helper_found(name: str, kernel: Btf) -> bool | None``; the test that
compares with it is skipped where that module is not there.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from compiled_corpus import corpus_objects
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
    function: str
    what: str  # a section, or a helper's name
    reachable: bool = True


@pytest.fixture(scope="module")
def corpus_cases() -> tuple[list[Case], list[Case], Counter]:
    """Every program section libbpf looks a target up for, every helper call; and the
    sections of other kinds, counted by kind."""
    projects = corpus_projects()
    targets, helpers = [], []
    others: Counter = Counter()
    for name, path in sorted(corpus_objects().items()):
        m = object_model(read_object(path))
        project = projects.get(name, "")
        for p in m.programs:
            if attach_target(p.section) is None:
                others[p.section.removeprefix("?").split("/")[0]] += 1
            else:
                targets.append(Case(project, name, p.name, p.section))
        for c in m.calls:
            if c.helper_id is not None:
                helpers.append(Case(project, name, c.function, c.name, c.reachable))
    return targets, helpers, others


@dataclass
class Answers:
    """libbpf's answer for each distinct section and helper, per kernel."""

    targets: dict[str, dict[str, bool]]  # kernel → section → found
    helpers: dict[str, dict[str, bool]]  # kernel → helper → found


@pytest.fixture(scope="module")
def libbpf_answers(libbpf, raw_kernels, corpus_cases) -> Answers:
    targets, helpers, _ = corpus_cases
    sections = sorted({c.what for c in targets})
    names = sorted({c.what for c in helpers})
    out = Answers({}, {})
    for kernel, raw in raw_kernels.items():
        with libbpf.open(raw) as k:
            out.targets[kernel] = {s: bool(k.target_found(s)) for s in sections}
            out.helpers[kernel] = {n: k.helper_found(n) for n in names}
    return out


@pytest.mark.shared
def test_libbpf_and_bpfls_read_the_same_btf(raw_kernels, corpus_cases, libbpf_answers) -> None:
    """The oracle and bpfls's BTF reader agree on every name looked up, on every kernel (the
    same file read by two implementations)."""
    targets, helpers, _ = corpus_cases
    for kernel, raw in raw_kernels.items():
        btf = load(raw)
        for s, found in libbpf_answers.targets[kernel].items():
            t = attach_target(s)
            assert t is not None
            assert (btf.find(t.btf_name, Kind(t.btf_kind)) is not None) == found, (kernel, s)
        enum = btf.find("bpf_func_id", Kind.ENUM)
        ids = {v.name for v in enum.values} if enum is not None else set()
        for n, found in libbpf_answers.helpers[kernel].items():
            assert (helper_enumerator(n) in ids) == found, (kernel, n)


@pytest.mark.shared
def test_figures(corpus_cases, libbpf_answers) -> None:
    """What was checked, per project, and what libbpf finds missing where (``-rP``)."""
    targets, helpers, others = corpus_cases
    kernels = list(libbpf_answers.targets)
    by_project: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in targets:
        by_project[c.project][0] += 1
    for c in helpers:
        by_project[c.project][1] += 1
        by_project[c.project][2] += not c.reachable
    lines = [f"\n{len(targets)} SEC targets ({len({c.what for c in targets})} distinct) and "
             f"{len(helpers)} helper calls ({len({c.what for c in helpers})} distinct helpers) "
             f"in {len({c.obj for c in targets + helpers})} objects, on {len(kernels)} kernels",
             "kinds looked up: " + ", ".join(
                 f"{k} {n}" for k, n in sorted(Counter(
                     c.what.removeprefix("?").split("/")[0] for c in targets).items())),
             "not looked up in BTF (by libbpf's rules): " + ", ".join(
                 f"{k} {n}" for k, n in sorted(others.items())),
             f"{'project':<28} {'targets':>8} {'helper calls':>13} {'(unreachable)':>14}"]
    for project, (t, h, u) in sorted(by_project.items()):
        lines.append(f"{project:<28} {t:>8} {h:>13} {u:>14}")
    lines.append("missing per libbpf: kernel: SEC targets (programs), helper calls "
                 "(distinct helpers)")
    for kernel in kernels:
        t_missing = [c for c in targets if not libbpf_answers.targets[kernel][c.what]]
        h_missing = [c for c in helpers if not libbpf_answers.helpers[kernel][c.what]]
        ev = sum(attach_target(c.what).evidence for c in t_missing)
        lines.append(f"  {kernel:<18} {len(t_missing):>4} targets ({ev} raw_tp evidence) "
                     f"{len(h_missing):>5} helper calls")
        for what, missing in (("targets", t_missing), ("helpers", h_missing)):
            names = Counter(c.what for c in missing)
            if names:
                lines.append(f"      {what}: " + ", ".join(
                    f"{n} {k}" for n, k in sorted(names.items())))
    print("\n".join(lines))
    assert targets and helpers
    assert set(ATTACH_BTF) | set(EVIDENCE) >= {c.what.removeprefix("?").split("/")[0]
                                               for c in targets}
    # the newest kernels have every helper the corpus calls
    assert any(not any(not f for f in libbpf_answers.helpers[k].values()) for k in kernels)


def _attach():
    try:
        mod = importlib.import_module("bpfls.analysis.attach")
    except ImportError:
        pytest.skip("bpfls.analysis.attach is not there")
    for fn in ("target_found", "helper_found"):
        if not hasattr(mod, fn):
            pytest.skip(f"bpfls.analysis.attach has no {fn}()")
    return mod


@pytest.mark.shared
def test_bpfls_answers_as_libbpf(raw_kernels, corpus_cases, libbpf_answers) -> None:
    """For every SEC target and helper of the corpus on every kernel, bpfls finds what libbpf
    finds (an undecided answer counts as a difference)."""
    attach = _attach()
    differ = []
    for kernel, raw in raw_kernels.items():
        btf: Btf = load(raw)
        for s, found in libbpf_answers.targets[kernel].items():
            got = attach.target_found(s, btf)
            if got is not found:
                differ.append((kernel, s, found, got))
        for n, found in libbpf_answers.helpers[kernel].items():
            got = attach.helper_found(n, btf)
            if got is not found:
                differ.append((kernel, n, found, got))
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
