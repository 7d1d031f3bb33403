"""libbpf's section table (analysis/sections.py): sec_def_matches's rules, first match wins."""

from __future__ import annotations

import pytest

from bpfls.analysis.sections import SECTION_DEFS, head_kind, matches, section_info


@pytest.mark.parametrize("sec,name,ok", [
    ("kprobe+", "kprobe", True), ("kprobe+", "kprobe/do_exit", True),
    ("kprobe+", "kprobex", False), ("kprobe+", "kprobe.multi/x", False),
    ("xdp", "xdp", True), ("xdp", "xdp/foo", False), ("xdp", "xdp_foo", False),
    ("cgroup/connect4", "cgroup/connect4", True), ("cgroup/connect4", "cgroup/connect", False),
    ("x/", "x/y", True), ("x/", "x", False),
])
def test_matches(sec: str, name: str, ok: bool) -> None:
    assert matches(sec, name) is ok


@pytest.mark.parametrize("name,kind,prog_type,attach,target,sleepable,btf_ptrs", [
    ("fentry/tcp_connect", "fentry", "TRACING", "BPF_TRACE_FENTRY", "tcp_connect", False, True),
    ("fexit.s/vfs_read", "fexit", "TRACING", "BPF_TRACE_FEXIT", "vfs_read", True, True),
    ("lsm.s/file_open", "lsm", "LSM", "BPF_LSM_MAC", "file_open", True, True),
    ("tp/syscalls/sys_enter_openat", "tracepoint", "TRACEPOINT", None,
     "syscalls/sys_enter_openat", False, False),
    ("raw_tracepoint/sys_enter", "raw_tp", "RAW_TRACEPOINT", None, "sys_enter", False, False),
    ("kprobe/do_exit+0x10", "kprobe", "KPROBE", None, "do_exit", False, False),
    ("kretprobe", "kretprobe", "KPROBE", None, None, False, False),
    ("iter/task", "iter", "TRACING", "BPF_TRACE_ITER", "task", False, True),
    ("tc/ingress", "tc/ingress", "SCHED_CLS", "BPF_TCX_INGRESS", None, False, False),
    ("tc", "tc", "SCHED_CLS", None, None, False, False),
    ("classifier", "tc", "SCHED_CLS", None, None, False, False),
    ("xdp.frags", "xdp.frags", "XDP", "BPF_XDP", None, False, False),
    ("sk_skb/stream_parser", "sk_skb/stream_parser", "SK_SKB", "BPF_SK_SKB_STREAM_PARSER", None,
     False, False),
    ("struct_ops/init", "struct_ops", "STRUCT_OPS", None, "init", False, True),
    ("syscall", "syscall", "SYSCALL", None, None, True, False),
])
def test_section_info(name, kind, prog_type, attach, target, sleepable, btf_ptrs) -> None:
    info = section_info(name)
    assert info.known
    assert (info.kind, info.prog_type, info.attach_type, info.target, info.sleepable,
            info.btf_pointers) == (kind, f"BPF_PROG_TYPE_{prog_type}", attach, target,
                                   sleepable, btf_ptrs)


def test_autoload_off_prefix() -> None:
    info = section_info("?kprobe/do_exit")
    assert info.known and info.kind == "kprobe" and info.target == "do_exit"
    assert info.section == "?kprobe/do_exit"
    assert not section_info("??kprobe").known


def test_module_targets() -> None:
    info = section_info("fentry/nf_conntrack:nf_confirm")
    assert (info.module, info.target) == ("nf_conntrack", "nf_confirm")
    assert section_info("fentry/tcp_connect").module is None


@pytest.mark.parametrize("name", ["kprobes/do_exit", "xdp_prog", "tracepoints/x/y", "fentryx",
                                  "cgroup/sock_ops", "", "maps"])
def test_unknown(name: str) -> None:
    assert not section_info(name).known


def test_first_match_wins() -> None:
    # "sk_reuseport/migrate" comes before "sk_reuseport"; "xdp.frags/devmap" before "xdp.frags"
    assert section_info("sk_reuseport/migrate").attach_type == \
        "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE"
    assert section_info("xdp.frags/devmap").attach_type == "BPF_XDP_DEVMAP"
    assert len({d.sec for d in SECTION_DEFS}) == len(SECTION_DEFS)


def test_head_kind() -> None:
    assert head_kind("fentry.s/") == "fentry"
    assert head_kind("raw_tracepoint.w/") == "raw_tp.w"
    assert head_kind("lsm_cgroup/") == "lsm_cgroup"
    assert head_kind("xdp/") is None
    assert head_kind("tc/") is None
