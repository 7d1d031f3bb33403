"""libbpf's section table: what ``SEC("...")`` makes a program.

:data:`SECTION_DEFS` is libbpf 1.x's ``section_defs`` (``libbpf.c``), in its order, with the
matching rules of ``sec_def_matches`` (libbpf 1.0 dropped ``SEC_SLOPPY_PFX``: no loose prefix
matches):

- a definition ending in ``/`` (none in 1.x, kept for the rule) matches names that start with it;
- one ending in ``+`` matches the name exactly, or the name followed by ``/`` and anything
  (``"kprobe+"``: ``kprobe`` and ``kprobe/do_exit``, never ``kprobex``);
- any other matches the name exactly.

The first matching definition wins; a leading ``?`` (autoload off) is dropped first.
:func:`section_info` gives a :class:`SectionInfo`: the program type (``BPF_PROG_TYPE_*``),
the expected attach type, the attach target, ...; an unmatched name gives ``known=False``
(libbpf: "missing BPF prog type, check ELF section name").
Completion and hover read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

#: the SEC flags bpfls uses
SLEEPABLE = 1
ATTACH_BTF = 2  # the target is looked up in the kernel's BTF (fentry, lsm, iter, tp_btf, ...)


@dataclass(frozen=True)
class SecDef:
    sec: str  # libbpf's spelling: "fentry+", "xdp", "cgroup/connect4"
    prog_type: str  # BPF_PROG_TYPE_* without the prefix
    attach_type: str | None  # BPF_* expected attach type, if any
    flags: int
    what: str  # a few words for completion and hover


def _d(sec: str, prog_type: str, attach: str | None, what: str, flags: int = 0) -> SecDef:
    return SecDef(sec, prog_type, attach, flags, what)


#: libbpf 1.x ``section_defs``, in libbpf's order
SECTION_DEFS: tuple[SecDef, ...] = (
    _d("socket", "SOCKET_FILTER", None, "socket filter"),
    _d("sk_reuseport/migrate", "SK_REUSEPORT", "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE",
       "SO_REUSEPORT selection (migrate)"),
    _d("sk_reuseport", "SK_REUSEPORT", "BPF_SK_REUSEPORT_SELECT", "SO_REUSEPORT selection"),
    _d("kprobe+", "KPROBE", None, "kernel function entry (kprobe)"),
    _d("uprobe+", "KPROBE", None, "user function entry"),
    _d("uprobe.s+", "KPROBE", None, "user function entry, sleepable", SLEEPABLE),
    _d("kretprobe+", "KPROBE", None, "kernel function return (kretprobe)"),
    _d("uretprobe+", "KPROBE", None, "user function return"),
    _d("uretprobe.s+", "KPROBE", None, "user function return, sleepable", SLEEPABLE),
    _d("kprobe.multi+", "KPROBE", "BPF_TRACE_KPROBE_MULTI", "kernel functions entry, by pattern"),
    _d("kretprobe.multi+", "KPROBE", "BPF_TRACE_KPROBE_MULTI",
       "kernel functions return, by pattern"),
    _d("kprobe.session+", "KPROBE", "BPF_TRACE_KPROBE_SESSION",
       "kernel function entry and return"),
    _d("uprobe.multi+", "KPROBE", "BPF_TRACE_UPROBE_MULTI", "user functions entry, by pattern"),
    _d("uretprobe.multi+", "KPROBE", "BPF_TRACE_UPROBE_MULTI",
       "user functions return, by pattern"),
    _d("uprobe.multi.s+", "KPROBE", "BPF_TRACE_UPROBE_MULTI",
       "user functions entry, by pattern, sleepable", SLEEPABLE),
    _d("uretprobe.multi.s+", "KPROBE", "BPF_TRACE_UPROBE_MULTI",
       "user functions return, by pattern, sleepable", SLEEPABLE),
    _d("ksyscall+", "KPROBE", None, "system call entry"),
    _d("kretsyscall+", "KPROBE", None, "system call return"),
    _d("usdt+", "KPROBE", None, "user statically defined tracepoint"),
    _d("usdt.s+", "KPROBE", None, "user statically defined tracepoint, sleepable", SLEEPABLE),
    _d("tc/ingress", "SCHED_CLS", "BPF_TCX_INGRESS", "tcx ingress"),
    _d("tc/egress", "SCHED_CLS", "BPF_TCX_EGRESS", "tcx egress"),
    _d("tcx/ingress", "SCHED_CLS", "BPF_TCX_INGRESS", "tcx ingress"),
    _d("tcx/egress", "SCHED_CLS", "BPF_TCX_EGRESS", "tcx egress"),
    _d("tc", "SCHED_CLS", None, "traffic control classifier"),
    _d("classifier", "SCHED_CLS", None, "traffic control classifier"),
    _d("action", "SCHED_ACT", None, "traffic control action"),
    _d("netkit/primary", "SCHED_CLS", "BPF_NETKIT_PRIMARY", "netkit primary"),
    _d("netkit/peer", "SCHED_CLS", "BPF_NETKIT_PEER", "netkit peer"),
    _d("tracepoint+", "TRACEPOINT", None, "tracepoint (category/name)"),
    _d("tp+", "TRACEPOINT", None, "tracepoint (category/name)"),
    _d("raw_tracepoint+", "RAW_TRACEPOINT", None, "raw tracepoint"),
    _d("raw_tp+", "RAW_TRACEPOINT", None, "raw tracepoint"),
    _d("raw_tracepoint.w+", "RAW_TRACEPOINT_WRITABLE", None, "writable raw tracepoint"),
    _d("raw_tp.w+", "RAW_TRACEPOINT_WRITABLE", None, "writable raw tracepoint"),
    _d("tp_btf+", "TRACING", "BPF_TRACE_RAW_TP", "BTF-enabled tracepoint", ATTACH_BTF),
    _d("fentry+", "TRACING", "BPF_TRACE_FENTRY", "kernel function entry (trampoline)",
       ATTACH_BTF),
    _d("fmod_ret+", "TRACING", "BPF_MODIFY_RETURN", "kernel function return value override",
       ATTACH_BTF),
    _d("fexit+", "TRACING", "BPF_TRACE_FEXIT", "kernel function exit (trampoline)", ATTACH_BTF),
    _d("fentry.s+", "TRACING", "BPF_TRACE_FENTRY", "kernel function entry, sleepable",
       ATTACH_BTF | SLEEPABLE),
    _d("fmod_ret.s+", "TRACING", "BPF_MODIFY_RETURN", "return value override, sleepable",
       ATTACH_BTF | SLEEPABLE),
    _d("fexit.s+", "TRACING", "BPF_TRACE_FEXIT", "kernel function exit, sleepable",
       ATTACH_BTF | SLEEPABLE),
    _d("fsession+", "TRACING", "BPF_TRACE_FSESSION", "kernel function entry and exit (session)",
       ATTACH_BTF),
    _d("freplace+", "EXT", None, "replace a BPF function", ATTACH_BTF),
    _d("lsm+", "LSM", "BPF_LSM_MAC", "LSM hook", ATTACH_BTF),
    _d("lsm.s+", "LSM", "BPF_LSM_MAC", "LSM hook, sleepable", ATTACH_BTF | SLEEPABLE),
    _d("lsm_cgroup+", "LSM", "BPF_LSM_CGROUP", "LSM hook per cgroup", ATTACH_BTF),
    _d("iter+", "TRACING", "BPF_TRACE_ITER", "BPF iterator", ATTACH_BTF),
    _d("iter.s+", "TRACING", "BPF_TRACE_ITER", "BPF iterator, sleepable",
       ATTACH_BTF | SLEEPABLE),
    _d("syscall", "SYSCALL", None, "syscall program", SLEEPABLE),
    _d("xdp.frags/devmap", "XDP", "BPF_XDP_DEVMAP", "XDP in a devmap, multi-buffer"),
    _d("xdp/devmap", "XDP", "BPF_XDP_DEVMAP", "XDP in a devmap"),
    _d("xdp.frags/cpumap", "XDP", "BPF_XDP_CPUMAP", "XDP in a cpumap, multi-buffer"),
    _d("xdp/cpumap", "XDP", "BPF_XDP_CPUMAP", "XDP in a cpumap"),
    _d("xdp.frags", "XDP", "BPF_XDP", "XDP, multi-buffer"),
    _d("xdp", "XDP", "BPF_XDP", "XDP"),
    _d("perf_event", "PERF_EVENT", None, "perf event"),
    _d("lwt_in", "LWT_IN", None, "lightweight tunnel input"),
    _d("lwt_out", "LWT_OUT", None, "lightweight tunnel output"),
    _d("lwt_xmit", "LWT_XMIT", None, "lightweight tunnel transmit"),
    _d("lwt_seg6local", "LWT_SEG6LOCAL", None, "seg6local"),
    _d("sockops", "SOCK_OPS", "BPF_CGROUP_SOCK_OPS", "socket operations"),
    _d("sk_skb/stream_parser", "SK_SKB", "BPF_SK_SKB_STREAM_PARSER", "sockmap stream parser"),
    _d("sk_skb/stream_verdict", "SK_SKB", "BPF_SK_SKB_STREAM_VERDICT",
       "sockmap stream verdict"),
    _d("sk_skb/verdict", "SK_SKB", "BPF_SK_SKB_VERDICT", "sockmap skb verdict"),
    _d("sk_skb", "SK_SKB", None, "sockmap skb"),
    _d("sk_msg", "SK_MSG", "BPF_SK_MSG_VERDICT", "sockmap message"),
    _d("lirc_mode2", "LIRC_MODE2", "BPF_LIRC_MODE2", "IR decoder"),
    _d("flow_dissector", "FLOW_DISSECTOR", "BPF_FLOW_DISSECTOR", "flow dissector"),
    _d("cgroup_skb/ingress", "CGROUP_SKB", "BPF_CGROUP_INET_INGRESS", "cgroup skb ingress"),
    _d("cgroup_skb/egress", "CGROUP_SKB", "BPF_CGROUP_INET_EGRESS", "cgroup skb egress"),
    _d("cgroup/skb", "CGROUP_SKB", None, "cgroup skb"),
    _d("cgroup/sock_create", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_CREATE",
       "cgroup socket create"),
    _d("cgroup/sock_release", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_RELEASE",
       "cgroup socket release"),
    _d("cgroup/sock", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_CREATE", "cgroup socket create"),
    _d("cgroup/post_bind4", "CGROUP_SOCK", "BPF_CGROUP_INET4_POST_BIND",
       "cgroup post bind IPv4"),
    _d("cgroup/post_bind6", "CGROUP_SOCK", "BPF_CGROUP_INET6_POST_BIND",
       "cgroup post bind IPv6"),
    _d("cgroup/bind4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_BIND", "cgroup bind IPv4"),
    _d("cgroup/bind6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_BIND", "cgroup bind IPv6"),
    _d("cgroup/connect4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_CONNECT",
       "cgroup connect IPv4"),
    _d("cgroup/connect6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_CONNECT",
       "cgroup connect IPv6"),
    _d("cgroup/connect_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_CONNECT",
       "cgroup connect unix"),
    _d("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP4_SENDMSG", "cgroup sendmsg IPv4"),
    _d("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP6_SENDMSG", "cgroup sendmsg IPv6"),
    _d("cgroup/sendmsg_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_SENDMSG",
       "cgroup sendmsg unix"),
    _d("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP4_RECVMSG", "cgroup recvmsg IPv4"),
    _d("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP6_RECVMSG", "cgroup recvmsg IPv6"),
    _d("cgroup/recvmsg_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_RECVMSG",
       "cgroup recvmsg unix"),
    _d("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETPEERNAME",
       "getpeername IPv4"),
    _d("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETPEERNAME",
       "getpeername IPv6"),
    _d("cgroup/getpeername_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_GETPEERNAME",
       "getpeername unix"),
    _d("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETSOCKNAME",
       "getsockname IPv4"),
    _d("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETSOCKNAME",
       "getsockname IPv6"),
    _d("cgroup/getsockname_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_GETSOCKNAME",
       "getsockname unix"),
    _d("cgroup/sysctl", "CGROUP_SYSCTL", "BPF_CGROUP_SYSCTL", "cgroup sysctl"),
    _d("cgroup/getsockopt", "CGROUP_SOCKOPT", "BPF_CGROUP_GETSOCKOPT", "cgroup getsockopt"),
    _d("cgroup/setsockopt", "CGROUP_SOCKOPT", "BPF_CGROUP_SETSOCKOPT", "cgroup setsockopt"),
    _d("cgroup/dev", "CGROUP_DEVICE", "BPF_CGROUP_DEVICE", "cgroup device access"),
    _d("struct_ops+", "STRUCT_OPS", None, "struct_ops member"),
    _d("struct_ops.s+", "STRUCT_OPS", None, "struct_ops member, sleepable", SLEEPABLE),
    _d("sk_lookup", "SK_LOOKUP", "BPF_SK_LOOKUP", "socket lookup"),
    _d("netfilter", "NETFILTER", "BPF_NETFILTER", "netfilter hook"),
)

#: program types whose context arguments the verifier types from BTF (PTR_TO_BTF_ID): a
#: kernel pointer read there can be dereferenced directly
BTF_POINTER_TYPES = frozenset({"TRACING", "LSM", "STRUCT_OPS", "EXT"})

#: the canonical kind of each family of definitions (aliases and sleepable forms folded)
_KIND_ALIASES = {"tp": "tracepoint", "raw_tracepoint": "raw_tp", "raw_tracepoint.w": "raw_tp.w",
                 "tcx": "tc", "classifier": "tc"}


@dataclass(frozen=True)
class SectionInfo:
    """What a section name makes a program."""

    section: str
    known: bool
    kind: str = ""  # "fentry", "kprobe", "tracepoint", "tp_btf", "xdp", "cgroup/connect4", ...
    definition: str = ""  # the matching libbpf definition ("fentry+")
    prog_type: str | None = None  # "BPF_PROG_TYPE_TRACING"
    attach_type: str | None = None  # "BPF_TRACE_FENTRY"
    target: str | None = None  # the attach target named after the "/" (offsets dropped)
    module: str | None = None  # "module:function" targets: the module
    sleepable: bool = False
    attach_btf: bool = False  # the target is looked up in BTF by libbpf
    btf_pointers: bool = False  # the program type tracks BTF pointers

    @property
    def what(self) -> str:
        d = _BY_SEC.get(self.definition)
        return d.what if d is not None else ""


_BY_SEC = {d.sec: d for d in SECTION_DEFS}


def matches(sec: str, name: str) -> bool:
    """libbpf's ``sec_def_matches``."""
    if sec.endswith("/"):
        return name.startswith(sec)
    if sec.endswith("+"):
        stem = sec[:-1]
        if not name.startswith(stem):
            return False
        return len(name) == len(stem) or name[len(stem)] == "/"
    return name == sec


def find_def(name: str) -> SecDef | None:
    """The first definition matching ``name`` (libbpf's ``find_sec_def``)."""
    for d in SECTION_DEFS:
        if matches(d.sec, name):
            return d
    return None


def _kind(d: SecDef) -> str:
    stem = d.sec.rstrip("+")
    if d.flags & SLEEPABLE and stem.endswith(".s"):
        stem = stem[:-2]
    if "+" in d.sec or stem in ("tc", "classifier"):
        return _KIND_ALIASES.get(stem, stem)
    return stem


@lru_cache(maxsize=4096)
def section_info(name: str) -> SectionInfo:
    """What ``SEC(name)`` makes a program (``known=False`` when libbpf recognises no
    definition). A leading ``?`` (the program does not load by default) is not part of the
    name libbpf matches."""
    full, name = name, name.removeprefix("?")
    d = find_def(name)
    if d is None:
        return SectionInfo(full, False)
    kind = _kind(d)
    target: str | None = None
    module: str | None = None
    if d.sec.endswith("+") and len(name) > len(d.sec) - 1:
        target = name[len(d.sec):] or None
    if target is not None:
        if kind in ("kprobe", "kretprobe"):
            target = target.split("+", 1)[0] or None  # "func+0x10"
        elif kind in ("fentry", "fexit", "fmod_ret", "freplace") and ":" in target:
            module, _, target = target.partition(":")
            target = target or None
    return SectionInfo(full, True, kind, d.sec, f"BPF_PROG_TYPE_{d.prog_type}", d.attach_type,
                       target, module, bool(d.flags & SLEEPABLE), bool(d.flags & ATTACH_BTF),
                       d.prog_type in BTF_POINTER_TYPES)


def completion_sections() -> tuple[tuple[str, str], ...]:
    """(what to type, what it is) for each definition, as completion offers them: ``+``
    definitions (which take a target) as ``name/``."""
    return tuple((d.sec[:-1] + "/" if d.sec.endswith("+") else d.sec, d.what)
                 for d in SECTION_DEFS)

#: definition families whose target is a kernel function / LSM hook / BTF tracepoint
FUNC_KINDS = frozenset({"fentry", "fexit", "fmod_ret", "fsession", "kprobe", "kretprobe",
                        "kprobe.session", "kprobe.multi", "kretprobe.multi"})
LSM_KINDS = frozenset({"lsm", "lsm_cgroup"})
TP_KINDS = frozenset({"tp_btf", "raw_tp", "raw_tp.w"})


def head_kind(head: str) -> str | None:
    """The kind of a section head that takes a target (``"fentry.s/"`` → ``"fentry"``),
    else None."""
    info = section_info(head)
    if not info.known or not info.definition.endswith("+"):
        return None
    return info.kind
