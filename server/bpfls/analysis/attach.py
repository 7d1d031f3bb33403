"""What one kernel has of the names a program asks for: attach targets, helpers, map types and
flags, program types, kfuncs, typed ksyms, struct_ops, and the prototypes ``BPF_PROG``
parameters are read against.

Every lookup is a name-table hit (:meth:`Btf.find`, :meth:`Btf.enumerators_named`, both cached
per :class:`Btf`); results are cached per kernel view. A kernel's *modules* are the configured
kernels whose BTF is split over it (``base`` in ``bpfls.toml``): libbpf searches them after
vmlinux for attach targets and kfuncs.

The naming rules are libbpf's (``libbpf.c``: ``find_attach_btf_id``'s prefixes
``btf_trace_``, ``bpf_lsm_``, ``bpf_iter_``; ``arch_specific_syscall_pfx``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bpfls.analysis.sections import SectionInfo, section_info
from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.core.compat import types_are_compat_reason
from bpfls.core.names import essential_name
from bpfls.project.kernels import guess_arch

if TYPE_CHECKING:
    from bpfls.btf.model import Type
    from bpfls.project.kernels import KernelSet

#: guess_arch's names → libbpf's arch_specific_syscall_pfx
SYSCALL_PREFIX = {"x86": "x64", "arm64": "arm64", "s390": "s390x", "powerpc": "powerpc64"}
#: tracepoints every kernel with BTF tracepoints (5.5+) describes
_COMMON_TRACEPOINTS = ("btf_trace_sched_switch", "btf_trace_sys_enter",
                       "btf_trace_sched_process_exec")
#: attach types the kernel validates when it loads (or links) the program
CHECKED_ATTACH_PROG_TYPES = frozenset({
    "BPF_PROG_TYPE_TRACING", "BPF_PROG_TYPE_LSM", "BPF_PROG_TYPE_KPROBE",
    "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_PROG_TYPE_CGROUP_SOCK", "BPF_PROG_TYPE_SK_LOOKUP",
    "BPF_PROG_TYPE_NETFILTER", "BPF_PROG_TYPE_SK_REUSEPORT"})


@dataclass(frozen=True)
class Lookup:
    """One kernel's answer: ``ok`` None when BTF cannot tell (no evidence either way)."""

    ok: bool | None
    reason: str = ""  # what is missing, or what was found
    btf: Btf | None = None  # where the target was found
    type_id: int | None = None  # the FUNC / TYPEDEF found
    proto_id: int | None = None  # the prototype the program's arguments are read from
    skip_first: bool = False  # tp_btf: the prototype's first ``void *`` is not an argument
    evidence_only: bool = False  # kprobe/tracepoint: a miss is "unverified", not "missing"


@dataclass
class KernelView:
    """One loaded kernel and its modules, with a cache of answers."""

    name: str
    btf: Btf
    modules: tuple[Btf, ...] = ()
    cache: dict = field(default_factory=dict)

    # -- raw lookups ---------------------------------------------------------------------------
    def _all(self) -> tuple[Btf, ...]:
        return (self.btf, *self.modules)

    def find(self, name: str, kind: Kind) -> tuple[Btf, Type] | None:
        """The first type called ``name`` of ``kind`` in vmlinux, then in the modules."""
        key = ("find", name, kind)
        if key in self.cache:
            return self.cache[key]
        hit = None
        for b in self._all():
            try:
                t = b.find(name, kind)
            except BtfError:
                t = None
            if t is not None:
                hit = (b, t)
                break
        self.cache[key] = hit
        return hit

    def func(self, name: str) -> tuple[Btf, Type] | None:
        return self.find(name, Kind.FUNC)

    def enumerator_in(self, enum_name: str, enumerator: str) -> bool | None:
        """Whether ``enum enum_name`` has ``enumerator`` (None: the enum itself is unknown)."""
        key = ("enum", enum_name, enumerator)
        if key in self.cache:
            return self.cache[key]
        got: bool | None = False
        try:
            for tid, _ in self.btf.enumerators_named(enumerator):
                if self.btf[tid].name == enum_name:
                    got = True
                    break
            if not got and self.btf.find(enum_name, Kind.ENUM) is None and \
                    self.btf.find(enum_name, Kind.ENUM64) is None:
                got = None
        except BtfError:
            got = None
        self.cache[key] = got
        return got

    def has_enumerator(self, enumerator: str) -> bool:
        """Whether any enum of the kernel (or its modules) has ``enumerator``."""
        key = ("any-enum", enumerator)
        if key not in self.cache:
            found = False
            for b in self._all():
                try:
                    if b.enumerators_named(enumerator):
                        found = True
                        break
                except BtfError:
                    continue
            self.cache[key] = found
        return self.cache[key]

    @property
    def arch(self) -> str | None:
        if "arch" not in self.cache:
            try:
                self.cache["arch"] = guess_arch(self.btf)
            except BtfError:
                self.cache["arch"] = None
        return self.cache["arch"]

    @property
    def btf_tracepoints(self) -> bool:
        """Whether the kernel describes its tracepoints (``btf_trace_*`` typedefs, 5.5+)."""
        if "btf-tp" not in self.cache:
            self.cache["btf-tp"] = any(self.find(n, Kind.TYPEDEF) is not None
                                       for n in _COMMON_TRACEPOINTS)
        return self.cache["btf-tp"]

    # -- the rules -----------------------------------------------------------------------------
    def program_type(self, info: SectionInfo) -> Lookup:
        """The section's ``BPF_PROG_TYPE_*`` (and, where the kernel checks it, its expected
        attach type)."""
        if info.prog_type is None:
            return Lookup(None)
        has = self.enumerator_in("bpf_prog_type", info.prog_type)
        if has is False:
            return Lookup(False, f"no {info.prog_type} in enum bpf_prog_type")
        if info.attach_type and info.prog_type in CHECKED_ATTACH_PROG_TYPES:
            if self.enumerator_in("bpf_attach_type", info.attach_type) is False:
                return Lookup(False, f"no {info.attach_type} in enum bpf_attach_type")
        return Lookup(has)

    def target(self, info: SectionInfo) -> Lookup:
        """The section's attach target, by libbpf's naming rules."""
        key = ("target", info.kind, info.target, info.module)
        if key in self.cache:
            return self.cache[key]
        got = self._target(info)
        self.cache[key] = got
        return got

    def _target(self, info: SectionInfo) -> Lookup:
        kind, t = info.kind, info.target
        if not t:
            return Lookup(None)
        if kind in ("fentry", "fexit", "fmod_ret", "fsession"):
            return self._func_target(t, f"FUNC {t}")
        if kind == "freplace":
            return Lookup(None, "the target is a function of another BPF program")
        if kind in ("lsm", "lsm_cgroup"):
            return self._func_target(f"bpf_lsm_{t}", f"LSM hook {t} (FUNC bpf_lsm_{t})")
        if kind == "iter":
            return self._func_target(f"bpf_iter_{t}", f"iterator {t} (FUNC bpf_iter_{t})")
        if kind in ("tp_btf", "raw_tp", "raw_tp.w"):
            hit = self.find(f"btf_trace_{t}", Kind.TYPEDEF)
            if hit is not None:
                return _tp_lookup(hit)
            what = f"tracepoint {t} (TYPEDEF btf_trace_{t})"
            if kind != "tp_btf" and not self.btf_tracepoints:
                return Lookup(None, f"the kernel's BTF describes no tracepoints: {what} "
                                    "cannot be checked")
            return Lookup(False, f"no {what}")
        if kind == "tracepoint":
            return self._tracepoint(t)
        if kind in ("kprobe", "kretprobe"):
            hit = self.func(t)
            if hit is not None:
                return _func_lookup(hit)
            return Lookup(None, f"no FUNC {t} in BTF (kprobes can attach to functions BTF "
                                "does not describe)", evidence_only=True)
        if kind in ("ksyscall", "kretsyscall"):
            return self._syscall(t)
        return Lookup(None)

    def _func_target(self, name: str, what: str) -> Lookup:
        hit = self.func(name)
        if hit is None:
            return Lookup(False, f"no {what}")
        return _func_lookup(hit)

    def syscall_funcs(self, syscall: str) -> tuple[str, ...]:
        arch = SYSCALL_PREFIX.get(self.arch or "", "")
        names = (f"__{arch}_sys_{syscall}",) if arch else ()
        return (*names, f"__se_sys_{syscall}", f"__do_sys_{syscall}", f"sys_{syscall}")

    def _syscall(self, syscall: str) -> Lookup:
        names = self.syscall_funcs(syscall)
        for n in names:
            hit = self.func(n)
            if hit is not None:
                return Lookup(True, f"FUNC {n}", hit[0], hit[1].id)
        return Lookup(None, f"no syscall function for {syscall} ({', '.join(names[:2])}) in "
                            "BTF", evidence_only=True)

    def _tracepoint(self, target: str) -> Lookup:
        cat, _, name = target.partition("/")
        if not name:
            return Lookup(None)
        if cat == "syscalls":
            for pfx in ("sys_enter_", "sys_exit_"):
                if name.startswith(pfx):
                    return self._syscall(name[len(pfx):])
        hit = self.find(f"btf_trace_{name}", Kind.TYPEDEF)
        if hit is not None:
            return _tp_lookup(hit)
        if not self.btf_tracepoints:
            return Lookup(None, "the kernel's BTF describes no tracepoints")
        return Lookup(None, f"no TYPEDEF btf_trace_{name} in BTF (the tracepoint may still "
                            "exist)", evidence_only=True)

    def helper(self, helper: str) -> Lookup:
        key = ("helper", helper)
        got = self.cache.get(key)
        if got is None:
            got = self.cache[key] = self._helper(helper)
        return got

    def _helper(self, helper: str) -> Lookup:
        enumerator = helper_enumerator(helper)
        has = self.enumerator_in("bpf_func_id", enumerator)
        fallback = PROBE_READ_FALLBACK.get(helper)
        if has is False and fallback is not None and \
                self.enumerator_in("bpf_func_id", helper_enumerator(fallback)):
            # libbpf calls the older helper on kernels without this one (it sanitizes the
            # program before the load: bpf_object__sanitize_prog)
            return Lookup(True, f"libbpf calls {fallback} instead (no {enumerator})")
        if has is False:
            return Lookup(False, f"no {enumerator} in enum bpf_func_id")
        return Lookup(has)

    def map_type(self, enumerator: str) -> Lookup:
        has = self.enumerator_in("bpf_map_type", enumerator)
        if has is False:
            return Lookup(False, f"no {enumerator} in enum bpf_map_type")
        return Lookup(has)

    def map_flag(self, enumerator: str) -> Lookup:
        if self.has_enumerator(enumerator):
            return Lookup(True)
        return Lookup(False, f"no enumerator {enumerator}")

    def kfunc(self, name: str, local: Btf | None, proto_id: int | None) -> Lookup:
        """``extern ... __ksym`` function: a FUNC of that name whose prototype is compatible
        with the local one (libbpf's ``bpf_core_types_are_compat``)."""
        hit = self.func(name)
        if hit is None:
            return Lookup(False, f"no FUNC {name}")
        b, t = hit
        if local is not None and proto_id:
            try:
                why = types_are_compat_reason(local, proto_id, b, t.type_id)
            except Exception as e:  # a spec error: cannot tell
                return Lookup(None, str(e), b, t.id, t.type_id)
            if why is not None:
                return Lookup(False, f"prototype incompatible with {render(b, t.id)}: {why}",
                              b, t.id, t.type_id)
        return Lookup(True, render(b, t.id), b, t.id, t.type_id)

    def ksym_var(self, name: str) -> Lookup:
        hit = self.find(name, Kind.VAR)
        if hit is None:
            return Lookup(False, f"no VAR {name}")
        return Lookup(True, "", hit[0], hit[1].id)

    def struct_ops(self, struct: str, members: tuple[str, ...]) -> Lookup:
        hit = self.find(struct, Kind.STRUCT)
        if hit is None:
            return Lookup(False, f"no struct {struct}")
        have = {m.name for m in hit[1].members}
        gone = [m for m in members if m not in have]
        if gone:
            return Lookup(False, f"struct {struct} has no member {', '.join(gone)}")
        return Lookup(True)


def _func_lookup(hit: tuple[Btf, Type]) -> Lookup:
    b, t = hit
    return Lookup(True, "", b, t.id, t.type_id)


def _tp_lookup(hit: tuple[Btf, Type]) -> Lookup:
    """``typedef void (*btf_trace_x)(void *, args...)``: the prototype behind the pointer."""
    b, t = hit
    proto = None
    try:
        p = b.resolve(t.type_id)
        if p.kind == Kind.PTR:
            q = b.resolve(p.type_id)
            if q.kind == Kind.FUNC_PROTO:
                proto = q.id
    except BtfError:
        proto = None
    return Lookup(True, "", b, t.id, proto, skip_first=True)


#: the helpers libbpf replaces with the older one on kernels that lack them
PROBE_READ_FALLBACK = {"bpf_probe_read_kernel": "bpf_probe_read",
                       "bpf_probe_read_user": "bpf_probe_read",
                       "bpf_probe_read_kernel_str": "bpf_probe_read_str",
                       "bpf_probe_read_user_str": "bpf_probe_read_str"}


def target_found(section: str, kernel: Btf) -> bool | None:
    """Whether libbpf finds the attach target ``section`` names in ``kernel`` (its BTF
    alone, no modules); None when the section names no target looked up in BTF."""
    info = section_info(section)
    if not info.known or not info.target:
        return None
    return KernelView("", kernel).target(info).ok


def helper_found(name: str, kernel: Btf) -> bool | None:
    """Whether ``kernel``'s ``enum bpf_func_id`` has the helper (None: no such enum)."""
    return KernelView("", kernel).enumerator_in("bpf_func_id", helper_enumerator(name))


def ksym_found(name: str, function: bool, kernel: Btf) -> bool:
    """Whether ``kernel`` has the ksym: a FUNC for a kfunc, a VAR for a typed variable."""
    view = KernelView("", kernel)
    return (view.func(name) if function else view.find(name, Kind.VAR)) is not None


def map_type_found(enumerator: str, kernel: Btf) -> bool | None:
    """Whether ``kernel``'s ``enum bpf_map_type`` has the map type (None: no such enum)."""
    return KernelView("", kernel).enumerator_in("bpf_map_type", enumerator)


def helper_enumerator(helper: str) -> str:
    return "BPF_FUNC_" + helper.removeprefix("bpf_")


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def views(kernels: KernelSet) -> list[KernelView]:
    """A view of each loaded kernel, its modules attached (cached per Btf and module set)."""
    loaded = [k for k in kernels.loaded if k.btf is not None]
    out = []
    for k in loaded:
        mods = tuple(m.btf for m in loaded if m.btf is not None and m.btf.base is k.btf)
        per = _VIEWS.setdefault(k.btf, {})
        key = (k.name, tuple(map(id, mods)))
        v = per.get(key)
        if v is None:
            v = per[key] = KernelView(k.name, k.btf, mods)  # type: ignore[arg-type]
        out.append(v)
    return out


# -- prototypes --------------------------------------------------------------------------------

def render(btf: Btf, type_id: int, name: str = "") -> str:
    """A kernel type (or FUNC) as C."""
    try:
        return type_name(btf, type_id, name)
    except (BtfError, RecursionError, KeyError):
        return f"[{type_id}]"


def proto_args(btf: Btf, proto_id: int, skip_first: bool = False) -> list[tuple[str, int]]:
    """(name, type id) of a prototype's arguments (``...`` dropped)."""
    try:
        params = [(p.name, p.type_id) for p in btf[proto_id].params if p.type_id or p.name]
    except BtfError:
        return []
    return params[1:] if skip_first else params


def return_type(btf: Btf, proto_id: int) -> int:
    try:
        return btf[proto_id].return_type_id
    except BtfError:
        return 0


def type_mismatch(local: Btf, lid: int, kbtf: Btf, kid: int) -> bool:
    """Whether a parameter declared with the local type ``lid`` reads the kernel's ``kid``
    as something else: compared after typedefs and qualifiers, pointers by what they point to
    (kind and name; ``void *`` matches any pointer), integers by size and sign, enums by name,
    structs and unions by name."""
    try:
        lt, kt = local.resolve(lid) if lid else None, kbtf.resolve(kid) if kid else None
    except BtfError:
        return False
    if lt is None or kt is None:
        return (lt is None) != (kt is None)
    scalar = (Kind.INT, Kind.ENUM, Kind.ENUM64)
    if lt.kind in scalar and kt.kind in scalar:
        try:
            if local.size_of(lt) != kbtf.size_of(kt):
                return True
        except BtfError:
            return False
        if lt.kind == Kind.INT and kt.kind == Kind.INT:
            return _signed(lt) != _signed(kt) and not (_is_char(lt) and _is_char(kt))
        if lt.kind != Kind.INT and kt.kind != Kind.INT and lt.name and kt.name:
            return essential_name(lt.name) != kt.name
        return False
    if lt.kind == Kind.PTR and kt.kind == Kind.PTR:
        try:
            lp = local.resolve(lt.type_id) if lt.type_id else None
            kp = kbtf.resolve(kt.type_id) if kt.type_id else None
        except BtfError:
            return False
        if lp is None or kp is None:
            return False  # void *
        return _shape_name(lp) != _shape_name(kp)
    if lt.kind != kt.kind:
        return _shape_name(lt) != _shape_name(kt)
    if lt.kind in (Kind.STRUCT, Kind.UNION):
        return _shape_name(lt) != _shape_name(kt)
    return False


def _signed(t: Type) -> bool:
    return bool(t.int_encoding & 1)


def _is_char(t: Type) -> bool:
    return t.int_bits == 8


def _shape_name(t: Type) -> tuple:
    kind = t.kind
    if kind == Kind.FWD:
        kind = Kind.UNION if t.kflag else Kind.STRUCT
    if kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
        if kind == Kind.ENUM64:
            kind = Kind.ENUM
        return kind, essential_name(t.name) if t.name else ""
    if kind == Kind.INT:
        return kind, t.size
    return (kind,)
