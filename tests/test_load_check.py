"""Will it load and attach there: the load rules (analysis/load_check.py) on the sample kernels
(5.10, 6.1, 6.12 amd64 and arm64) and, when present, the shared kernels 5.4..7.1.

The records are built by hand over a model analysed from a tiny source (so guards are real
CO-RE accesses); parameter types are the primary kernel's own ids (the local BTF is split over
it). Every expectation names the kernels where the answer changes, found in their BTF.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bpfls.analysis.check import check_model
from bpfls.analysis.load_check import check_load
from bpfls.btf import Kind
from bpfls.btf import load as load_btf
from bpfls.project.config import Config, KernelSpec
from bpfls.project.kernels import KernelSet, load_kernels
from bpfls.source import SourceOptions, analyze
from bpfls.source.positions import Range
from bpfls.source.programs import KernelCall, Ksym, MapDef, Param, Program, ScalarDeref, StructOps

from conftest import SHARED_BTF, load_sample_kernels

SAMPLES = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]
R = Range.of(5, 4, 5, 10)

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

SEC("kprobe/do_exit")
int probe(void *ctx)
{
    if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
        return 1;
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(SAMPLES)


@pytest.fixture(scope="module")
def base_model(kernels, tmp_path_factory):
    src = tmp_path_factory.mktemp("load") / "probe.bpf.c"
    src.write_text(SOURCE)
    return analyze(str(src), None, SourceOptions(primary=kernels.primary_btf, arch="x86"))


def fresh(base_model, **records):
    """The analysed model with hand-made records (a copy: the fixture is shared)."""
    from dataclasses import replace
    m = replace(base_model, programs=[], calls=[], maps=[], ksyms=[], struct_ops=[],
                derefs=[])
    for k, v in records.items():
        setattr(m, k, list(v))
    return m


def ptr_to(btf, kind: Kind, name: str) -> int:
    """A PTR type id to the named struct in ``btf``."""
    target = btf.find(name, kind).id
    for t in btf:
        if t.kind == Kind.PTR and t.type_id == target:
            return t.id
    raise AssertionError(name)


def prog(name: str, section: str, macro: str | None = None, params=(), alternative=None):
    return Program(name, section, "p.bpf.c", R, R, macro, tuple(params), alternative)


def param(name: str, text: str, tid: int | None, used: bool = True) -> Param:
    return Param(name, text, tid, R, used)


def codes(diags) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for d in diags:
        out[d.code] = tuple(sorted(set(out.get(d.code, ())) | set(d.kernels)))
    return out


# -- attach targets and program types ---------------------------------------------------------

def test_attach_targets(kernels, base_model) -> None:
    m = fresh(base_model, programs=[
        prog("a", "fentry/__x64_sys_openat2"),  # x86 only: missing on arm64
        prog("b", "fentry/tcp_connect"),  # everywhere
        prog("c", "kprobe/__x64_sys_openat2"),  # kprobe: evidence only (warning)
        prog("d", "lsm/file_open"),
        prog("e", "lsm/no_such_hook"),
        prog("f", "tp_btf/no_such_tracepoint"),
        prog("g", "iter/task"),
        prog("h", "tracepoint/syscalls/sys_enter_openat"),
        prog("i", "freplace/anything"),  # a function of another BPF program: no lookup
    ])
    diags, reports = check_load(m, kernels)
    by = {(d.code, d.data.get("program")): d for d in diags}
    assert by[("attach-target-missing", "a")].kernels == ("6.12-arm64",)
    assert "FUNC __x64_sys_openat2" in by[("attach-target-missing", "a")].message
    assert by[("attach-target-unverified", "c")].kernels == ("6.12-arm64",)
    assert by[("attach-target-unverified", "c")].severity == "warning"
    # on no configured kernel: a misspelling or a placeholder user space replaces (a warning)
    unknown = by[("attach-target-unknown", "e")]
    assert set(unknown.kernels) == set(SAMPLES) and unknown.severity == "warning"
    assert "bpf_lsm_no_such_hook" in unknown.message and "placeholder" in unknown.message
    assert ("attach-target-unknown", "f") in by and ("attach-target-missing", "e") not in by
    assert reports[4].results["6.12-amd64"].ok is False
    assert reports[4].results["6.12-amd64"].code == "attach-target-unknown"
    assert by[("attach-target-missing", "a")].data["kprobe_section"] == \
        "kprobe/__x64_sys_openat2"
    assert not {k for k in by if k[1] in ("b", "d", "g", "h", "i")}
    rep = {r.name: r for r in reports}
    assert rep["a"].results["6.12-arm64"].ok is False
    assert rep["a"].results["6.12-arm64"].code == "attach-target-missing"
    assert rep["a"].results["6.12-amd64"].ok is True
    assert rep["c"].results["6.12-arm64"].ok is None
    assert rep["a"].kind == "fentry" and rep["a"].target == "__x64_sys_openat2"
    assert rep["h"].kind == "tracepoint"


def test_program_types_and_unknown_sections(kernels, base_model) -> None:
    m = fresh(base_model, programs=[
        prog("nf", "netfilter"),  # BPF_PROG_TYPE_NETFILTER: 6.4+
        prog("multi", "kprobe.multi/tcp_*"),  # BPF_TRACE_KPROBE_MULTI: 5.18+
        prog("x", "xdp"),
        prog("typo", "kprobes/do_exit"),
        prog("sloppy", "xdp_foo"),  # libbpf 1.0: no sloppy prefix match
    ])
    diags, reports = check_load(m, kernels)
    c = codes(diags)
    assert c["program-type-missing"] == ("5.10-amd64", "6.1-amd64")
    by = {(d.code, d.data.get("program")): d for d in diags}
    assert by[("program-type-missing", "nf")].kernels == ("5.10-amd64", "6.1-amd64")
    assert by[("program-type-missing", "multi")].kernels == ("5.10-amd64",)
    assert by[("unknown-section", "typo")].severity == "warning"
    assert ("unknown-section", "sloppy") in by
    assert ("unknown-section", "x") not in by
    rep = {r.name: r for r in reports}
    assert rep["typo"].results["6.12-amd64"].code == "unknown-section"
    assert all(r.ok for r in rep["x"].results.values())


# -- signatures -------------------------------------------------------------------------------

def test_tp_btf_signature_changes(kernels, base_model) -> None:
    """sched_stat_runtime lost its vruntime argument in 6.8; kfree_skb gained a reason."""
    btf = kernels.primary_btf
    task = ptr_to(btf, Kind.STRUCT, "task_struct")
    skb = ptr_to(btf, Kind.STRUCT, "sk_buff")
    u64 = btf.find("u64", Kind.TYPEDEF).id
    m = fresh(base_model, programs=[
        prog("rt", "tp_btf/sched_stat_runtime", "BPF_PROG",
             [param("t", "struct task_struct *", task), param("runtime", "u64", u64),
              param("vruntime", "u64", u64)]),
        prog("rt_unused", "tp_btf/sched_stat_runtime", "BPF_PROG",
             [param("t", "struct task_struct *", task), param("runtime", "u64", u64),
              param("vruntime", "u64", u64, used=False)]),
        prog("wrong", "tp_btf/sched_stat_runtime", "BPF_PROG",
             [param("skb", "struct sk_buff *", skb)]),
        prog("ok", "tp_btf/sched_stat_runtime", "BPF_PROG",
             [param("t", "struct task_struct *", task)]),
    ])
    diags, reports = check_load(m, kernels)
    by = {(d.code, d.data.get("program")): d for d in diags}
    assert by[("argument-out-of-range", "rt")].kernels == ("6.12-amd64", "6.12-arm64")
    assert by[("argument-out-of-range", "rt")].severity == "error"
    assert by[("signature-mismatch", "rt_unused")].kernels == ("6.12-amd64", "6.12-arm64")
    wrong = by[("signature-mismatch", "wrong")]
    assert set(wrong.kernels) == set(SAMPLES)
    assert wrong.data["kernel_type"] == "struct task_struct *"
    assert wrong.data["index"] == 0
    assert not [k for k in by if k[1] == "ok"]
    rep = {r.name: r for r in reports}
    assert rep["rt"].results["6.1-amd64"].ok is True
    assert rep["rt"].results["6.12-amd64"].ok is False


def test_fexit_ret_and_kprobe_positions(kernels, base_model) -> None:
    btf = kernels.primary_btf
    sock = ptr_to(btf, Kind.STRUCT, "sock")
    task = ptr_to(btf, Kind.STRUCT, "task_struct")
    i32 = btf.find("int", Kind.INT).id
    m = fresh(base_model, programs=[
        prog("ret_ok", "fexit/tcp_connect", "BPF_PROG",
             [param("sk", "struct sock *", sock), param("ret", "int", i32)]),
        prog("ret_bad", "fexit/tcp_connect", "BPF_PROG",
             [param("sk", "struct sock *", sock), param("ret", "struct sock *", sock)]),
        prog("kp", "kprobe/tcp_connect", "BPF_KPROBE",
             [param("t", "struct task_struct *", task)]),
    ])
    diags, _ = check_load(m, kernels)
    by = {(d.code, d.data.get("program")): d for d in diags}
    assert not [k for k in by if k[1] == "ret_ok"]
    assert by[("signature-mismatch", "ret_bad")].data["kernel_type"] == "int"
    kp = by[("signature-mismatch", "kp")]
    assert kp.severity == "warning" and kp.data["kernel_type"] == "struct sock *"


# -- helpers, guards, kfuncs, maps ---------------------------------------------------------------

def test_helpers_guarded_and_not(kernels, base_model) -> None:
    check = next(a for a in base_model.accesses if a.check)
    from bpfls.source.guards import Guard
    m = fresh(base_model, programs=[prog("probe", "kprobe/do_exit")], calls=[
        KernelCall("bpf_loop", "p.bpf.c", Range.of(7, 0, 7, 8), "probe"),
        KernelCall("bpf_loop", "p.bpf.c", Range.of(8, 0, 8, 8), "probe",
                   guard=Guard.check(check)),
        KernelCall("bpf_ringbuf_output", "p.bpf.c", Range.of(9, 0, 9, 8), "probe"),
        KernelCall("bpf_trace_vprintk", "p.bpf.c", Range.of(10, 0, 10, 8), "probe",
                   via="bpf_printk"),
        KernelCall("bpf_loop", "p.bpf.c", Range.of(11, 0, 11, 8), "dead", reachable=False),
    ])
    report = check_model(m, kernels)
    found = [d for d in report.diagnostics if d.code == "helper-missing"]
    assert {d.range.start.line for d in found} == {7, 10}
    assert all(d.kernels == ("5.10-amd64",) for d in found)
    assert found[0].data == {"helper": "bpf_loop", "enumerator": "BPF_FUNC_loop"}
    assert "bpf_printk" in next(d for d in found if d.range.start.line == 10).message
    rep = report.programs[0]
    assert rep.results["5.10-amd64"].code == "helper-missing"
    assert rep.results["6.1-amd64"].ok is True


def test_kfuncs_and_ksyms(kernels, base_model) -> None:
    m = fresh(base_model, programs=[prog("probe", "fentry/tcp_connect")], ksyms=[
        Ksym("bpf_rcu_read_lock", "p.bpf.c", Range.of(1, 0, 1, 5), True, False, None,
             used=True),
        Ksym("bpf_task_acquire", "p.bpf.c", Range.of(2, 0, 2, 5), True, True, None, used=True),
        Ksym("bpf_cpumask_create", "p.bpf.c", Range.of(3, 0, 3, 5), True, True, None,
             used=True),
        Ksym("runqueues", "p.bpf.c", Range.of(4, 0, 4, 5), False, False, None, used=True),
        Ksym("no_such_var", "p.bpf.c", Range.of(5, 0, 5, 5), False, False, None, used=True),
        Ksym("unused_fn", "p.bpf.c", Range.of(6, 0, 6, 5), True, False, None, used=False),
    ], calls=[
        KernelCall("bpf_task_acquire", "p.bpf.c", Range.of(7, 0, 7, 5), "probe"),
        KernelCall("bpf_cpumask_create", "p.bpf.c", Range.of(8, 0, 8, 5), "probe",
                   ksym_checked=True),
    ])
    diags, reports = check_load(m, kernels)
    by = {(d.code, d.range.start.line): d for d in diags}
    assert by[("kfunc-missing", 1)].kernels == ("5.10-amd64", "6.1-amd64")
    assert by[("kfunc-missing", 7)].kernels == ("5.10-amd64", "6.1-amd64")  # weak, unchecked
    assert ("kfunc-missing", 8) not in by  # weak, under bpf_ksym_exists
    # the 5.10 sample's BTF has no VARs at all (older pahole): libbpf fails there too
    assert by[("ksym-missing", 4)].kernels == ("5.10-amd64",)
    assert set(by[("ksym-missing", 5)].kernels) == set(SAMPLES)
    assert not [k for k in by if k[1] == 6]
    assert reports[0].results["5.10-amd64"].code == "kfunc-missing"


def test_kfunc_prototype_compat(kernels, base_model) -> None:
    """The local prototype is compared with libbpf's bpf_core_types_are_compat: the kernel's
    own prototype is compatible, another function's is not."""
    btf = kernels.primary_btf
    own = btf.find("bpf_task_acquire", Kind.FUNC).type_id
    other = btf.find("bpf_rcu_read_lock", Kind.FUNC).type_id
    m = fresh(base_model, ksyms=[
        Ksym("bpf_task_acquire", "p.bpf.c", Range.of(1, 0, 1, 5), True, False, own, used=True),
        Ksym("bpf_task_release", "p.bpf.c", Range.of(2, 0, 2, 5), True, False, other,
             used=True)])
    diags, _ = check_load(m, load_sample_kernels(["6.12-amd64"]))
    assert [(d.code, d.range.start.line) for d in diags] == [("kfunc-incompatible", 2)]


def test_maps_and_flags(kernels, base_model) -> None:
    m = fresh(base_model, maps=[
        MapDef("rb", "p.bpf.c", R, "BPF_MAP_TYPE_USER_RINGBUF", Range.of(1, 0, 1, 5)),
        MapDef("arena", "p.bpf.c", R, "BPF_MAP_TYPE_ARENA", Range.of(2, 0, 2, 5)),
        MapDef("h", "p.bpf.c", R, "BPF_MAP_TYPE_HASH", Range.of(3, 0, 3, 5),
               (("BPF_F_NO_PREALLOC", Range.of(4, 0, 4, 5)),
                ("BPF_F_SEGV_ON_FAULT", Range.of(5, 0, 5, 5)),
                ("MY_OWN_MACRO", Range.of(6, 0, 6, 5)))),
    ])
    diags, _ = check_load(m, kernels)
    by = {(d.code, d.range.start.line): d.kernels for d in diags}
    assert by == {("map-type-missing", 1): ("5.10-amd64",),
                  ("map-type-missing", 2): ("5.10-amd64", "6.1-amd64"),
                  ("map-flag-missing", 5): ("5.10-amd64", "6.1-amd64")}


def test_struct_ops(kernels, base_model) -> None:
    m = fresh(base_model, struct_ops=[
        StructOps("cc", "tcp_congestion_ops", "p.bpf.c", R,
                  (("init", Range.of(1, 0, 1, 4)), ("cong_control", Range.of(2, 0, 2, 4)))),
        StructOps("s", "sched_ext_ops", "p.bpf.c", Range.of(3, 0, 3, 4)),
    ])
    diags, _ = check_load(m, kernels)
    by = {(d.code, d.range.start.line): d.kernels for d in diags}
    assert by == {("struct-ops-missing", 3): tuple(SAMPLES)}


def test_scalar_deref_only_in_non_btf_program_types(kernels, base_model) -> None:
    def deref(fn):
        return ScalarDeref("p.bpf.c", Range.of(4, 10, 4, 14), Range.of(4, 4, 4, 30), fn,
                           "bpf_get_current_task()", "task", ("real_parent", "tgid"))
    m = fresh(base_model, programs=[prog("kp", "kprobe/do_exit"),
                                    prog("fe", "fentry/do_exit")],
              derefs=[deref("kp"), deref("fe")])
    diags, reports = check_load(m, kernels)
    got = [d for d in diags if d.code == "kernel-pointer-deref"]
    assert len(got) == 1
    assert got[0].data == {"replacement": "BPF_CORE_READ(task, real_parent, tgid)",
                           "expr_range": [4, 4, 4, 30]}
    assert got[0].kernels == tuple(SAMPLES) and "(kp)" in got[0].message
    rep = {r.name: r for r in reports}
    assert rep["kp"].results["6.12-amd64"].code == "kernel-pointer-deref"
    assert rep["fe"].results["6.12-amd64"].ok is True


# -- alternatives ------------------------------------------------------------------------------

def test_alternatives(kernels, base_model) -> None:
    """fentry on a x86-only function with a kprobe fallback: the fentry fails only on arm64,
    where the kprobe has no evidence either (not a failure), so the group passes everywhere;
    two fentry members that both fail on arm64 are reported there."""
    m = fresh(base_model, programs=[
        prog("fe", "fentry/__x64_sys_openat2", alternative="open"),
        prog("kp", "kprobe/do_sys_openat2", alternative="open"),
        prog("f1", "fentry/__x64_sys_openat2"),
        prog("f2", "fentry/__x64_sys_openat"),
    ])
    diags, _ = check_load(m, kernels)
    assert {d.data.get("program") for d in diags if d.code == "attach-target-missing"} == \
        {"f1", "f2"}
    diags, _ = check_load(m, kernels, alternatives=[["f1", "f2"]])
    assert {d.data.get("program") for d in diags if d.code == "attach-target-missing"} == \
        {"f1", "f2"}
    m.programs.append(prog("f3", "fentry/do_sys_openat2"))
    diags, _ = check_load(m, kernels, alternatives=[["f1", "f2", "f3"]])
    assert not [d for d in diags if d.code == "attach-target-missing"]


# -- the shared kernels ------------------------------------------------------------------------

def _shared_kernels(tmp_path_factory) -> KernelSet:
    d = SHARED_BTF / "kernels"
    files = sorted(d.glob("linux-*.btf.gz")) if d.is_dir() else []
    if not files:
        pytest.skip("shared kernels not present")
    out = tmp_path_factory.mktemp("shared-kernels")
    specs = []
    for f in files:
        raw = out / f.name.removesuffix(".gz")
        raw.write_bytes(gzip.decompress(f.read_bytes()))
        specs.append(KernelSpec(f.name.removesuffix(".btf.gz").removeprefix("linux-"), str(raw)))
    ks = load_kernels(Config(kernels=tuple(specs), primary=specs[-1].name))
    return ks


def test_shared_kernels(tmp_path_factory, base_model) -> None:
    ks = _shared_kernels(tmp_path_factory)
    names = [k.name for k in ks.loaded]
    m = fresh(base_model, programs=[
        prog("tpb", "tp_btf/sched_switch"), prog("raw", "raw_tp/sched_switch"),
        prog("lp", "kprobe.multi/tcp_*")],
        calls=[KernelCall("bpf_loop", "p.bpf.c", R, "tpb")],
        maps=[MapDef("rb", "p.bpf.c", R, "BPF_MAP_TYPE_RINGBUF", Range.of(1, 0, 1, 1))])
    diags, reports = check_load(m, ks)
    rep = {r.name: r for r in reports}
    # 5.4 has no btf_trace_ typedefs: raw_tp cannot be told there, tp_btf fails
    assert rep["raw"].results["5.4"].ok is None
    assert rep["tpb"].results["5.4"].ok is False
    assert not [d for d in diags if d.data.get("program") == "raw"]
    assert all(rep["raw"].results[n].ok for n in names if n != "5.4")
    by = {(d.code, d.data.get("program") or d.data.get("helper") or d.data.get("map")): d.kernels
          for d in diags}
    # bpf_loop is 5.17+, ringbuf 5.8+, kprobe.multi 5.18+
    assert set(by[("helper-missing", "bpf_loop")]) == {"5.4", "5.11", "5.13.2", "5.16"}
    assert set(by[("map-type-missing", "rb")]) == {"5.4"}
    assert set(by[("program-type-missing", "lp")]) == {"5.4", "5.11", "5.13.2", "5.16",
                                                      "5.17"}


def test_shared_kernels_tracepoint_prototype_change(tmp_path_factory, kernels,
                                                    base_model) -> None:
    """kfree_skb gained its drop reason in 5.17: a program reading it is out of range before
    (and 5.4 has no BTF tracepoints: tp_btf fails there)."""
    ks = _shared_kernels(tmp_path_factory)
    btf = kernels.primary_btf  # the model's local types are split over it
    skb = ptr_to(btf, Kind.STRUCT, "sk_buff")
    void_p = next(t.id for t in btf if t.kind == Kind.PTR and t.type_id == 0)
    reason = btf.find("skb_drop_reason", Kind.ENUM).id
    m = fresh(base_model, programs=[
        prog("drop", "tp_btf/kfree_skb", "BPF_PROG",
             [param("skb", "struct sk_buff *", skb), param("location", "void *", void_p),
              param("reason", "enum skb_drop_reason", reason)])])
    diags, reports = check_load(m, ks)
    by = {d.code: set(d.kernels) for d in diags}
    assert by["argument-out-of-range"] == {"5.11", "5.13.2", "5.16"}
    res = reports[0].results
    # 5.4 predates tracing programs (BPF_PROG_TYPE_TRACING, 5.5) and BTF tracepoints
    assert res["5.4"].ok is False
    assert res["5.4"].code == "program-type-missing"
    assert "BPF_PROG_TYPE_TRACING" in res["5.4"].reason
    assert res["5.17"].ok is True and res["7.1"].ok is True
    assert res["5.16"].code == "argument-out-of-range"


def test_views_are_cached(kernels) -> None:
    from bpfls.analysis import attach
    a = attach.views(kernels)
    b = attach.views(kernels)
    assert all(x is y for x, y in zip(a, b, strict=True))


def test_module_btf_is_searched(tmp_path: Path) -> None:
    """Module BTF (a configured kernel whose base is this one) is searched for targets."""
    from bpfls.analysis import attach
    from bpfls.analysis.sections import section_info
    ks = load_sample_kernels(["6.12-amd64"])
    view = attach.views(ks)[0]
    assert view.modules == ()
    assert view.target(section_info("fentry/tcp_connect")).ok
    assert load_btf  # the loader is the one the kernel set uses


def test_section_hover_prototypes_per_kernel(kernels, base_model) -> None:
    from bpfls.analysis.hover import section_hover
    md = section_hover(base_model, kernels, "tp_btf/kfree_skb")
    assert "prototype per kernel" in md
    assert "enum skb_drop_reason)`: 6.1-amd64" in md
    assert "void *)`: 5.10-amd64" in md
    # one prototype everywhere: no list
    assert "prototype per kernel" not in section_hover(base_model, kernels,
                                                       "fentry/tcp_connect")


# -- quick fixes -------------------------------------------------------------------------------

FIX_SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
int f(void) {
    struct task_struct *task = (void *)bpf_get_current_task();
    int ppid = task->real_parent -> tgid;
    return ppid;
}
"""


def test_fix_kernel_pointer_deref(kernels, base_model) -> None:
    from bpfls.analysis.actions import code_actions
    line = FIX_SOURCE.splitlines()[4]
    start, end = line.index("task->"), line.index(";")
    d = ScalarDeref("f.bpf.c", Range.of(4, start + 6, 4, start + 17), Range.of(4, start, 4, end),
                    "f", "bpf_get_current_task()", "task", ("real_parent", "tgid"))
    m = fresh(base_model, programs=[prog("f", "kprobe/do_exit")], derefs=[d])
    diags, _ = check_load(m, kernels)
    got = code_actions(m, diags, "f.bpf.c", FIX_SOURCE, Range.of(4, 0, 4, 40))
    assert [e.new_text for a in got for e in a.edits] == ["BPF_CORE_READ(task, real_parent, tgid)"]
    edit = got[0].edits[0]
    fixed = FIX_SOURCE.splitlines()[4][:edit.range.start.column] + edit.new_text + \
        FIX_SOURCE.splitlines()[4][edit.range.end.column:]
    assert fixed == "    int ppid = BPF_CORE_READ(task, real_parent, tgid);"
    # the text no longer spells the chain: no fix
    other = FIX_SOURCE.replace("real_parent -> tgid", "group_leader->pid")
    assert code_actions(m, diags, "f.bpf.c", other, Range.of(4, 0, 4, 40)) == []


def test_fix_signature(kernels, base_model) -> None:
    from bpfls.analysis.actions import code_actions
    btf = kernels.primary_btf
    skb = ptr_to(btf, Kind.STRUCT, "sk_buff")
    text = "int BPF_PROG(p, struct sk_buff *skb)\n"
    start = text.index("struct")
    prm = Param("skb", "struct sk_buff *", skb, Range.of(0, start, 0, text.index(")")))
    m = fresh(base_model, programs=[Program("p", "fentry/tcp_connect", "f.bpf.c", R, R,
                                            "BPF_PROG", (prm,))])
    diags, _ = check_load(m, kernels)
    got = code_actions(m, diags, "f.bpf.c", text, Range.of(0, 0, 0, 30))
    assert [e.new_text for a in got for e in a.edits] == ["struct sock *skb"]


def test_fix_helper_guard(kernels, base_model) -> None:
    from bpfls.analysis.actions import code_actions
    text = ("#include \"vmlinux.h\"\n#include <bpf/bpf_core_read.h>\nint f(void) {\n"
            "    bpf_loop(1, cb, 0, 0);\n    return 0;\n}\n")
    call = KernelCall("bpf_loop", "f.bpf.c", Range.of(3, 4, 3, 12), "f")
    m = fresh(base_model, programs=[prog("f", "kprobe/do_exit")], calls=[call])
    diags, _ = check_load(m, kernels)
    assert [d.code for d in diags] == ["helper-missing"]
    got = code_actions(m, diags, "f.bpf.c", text, Range.of(3, 4, 3, 12))
    assert len(got) == 1 and got[0].preferred
    # the cursor anywhere on the line gets the line's fixes; on another line, none
    assert code_actions(m, diags, "f.bpf.c", text, Range.of(3, 0, 3, 0)) == got
    assert code_actions(m, diags, "f.bpf.c", text, Range.of(4, 0, 4, 0)) == []
    assert got[0].edits[0].new_text == (
        "if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop)) {\n"
        "        bpf_loop(1, cb, 0, 0);\n    }")


KPROBE_FIX = """#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

SEC("fentry/__x64_sys_openat2")
int BPF_PROG(values_only, struct pt_regs *regs, long n)
{
    return n > 0;
}

SEC("fentry/__x64_sys_openat2")
int BPF_PROG(derefs, struct pt_regs *regs)
{
    return regs->di > 0;
}

SEC("fexit/__x64_sys_openat2")
int BPF_PROG(ret_only, struct pt_regs *regs, long ret)
{
    return ret > 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_fix_fentry_to_kprobe(kernels, tmp_path) -> None:
    """Missing on arm64: attach with a kprobe, but only where the body reads its arguments as
    values (a kprobe's are numbers: a dereference would fail verification)."""
    from bpfls.analysis.actions import code_actions

    src = tmp_path / "k.bpf.c"
    src.write_text(KPROBE_FIX)
    model = analyze(str(src), None, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    diags = [d for d in check_model(model, kernels).diagnostics
             if d.code == "attach-target-missing"]
    assert sorted(d.data["program"] for d in diags) == ["derefs", "ret_only", "values_only"]
    assert all(d.kernels == ("6.12-arm64",) for d in diags)

    def fix(name: str) -> str | None:
        d = next(d for d in diags if d.data["program"] == name)
        got = code_actions(model, diags, str(src), KPROBE_FIX, d.range)
        if not got:
            return None
        lines = KPROBE_FIX.splitlines()
        for e in sorted(got[0].edits, key=lambda e: e.range.start, reverse=True):
            ln = lines[e.range.start.line]
            lines[e.range.start.line] = ln[:e.range.start.column] + e.new_text + \
                ln[e.range.end.column:]
        return "\n".join(lines)

    fixed = fix("values_only")
    assert fixed is not None
    assert 'SEC("kprobe/__x64_sys_openat2")\nint BPF_KPROBE(values_only, struct pt_regs *regs, ' \
        'long n)' in fixed
    assert fix("derefs") is None  # regs->di in a kprobe: the verifier would reject it
    fixed = fix("ret_only")
    assert fixed is not None
    assert 'SEC("kretprobe/__x64_sys_openat2")\nint BPF_KRETPROBE(ret_only, long ret)' in fixed
