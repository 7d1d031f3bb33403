"""What a compiled BPF object asks of the kernel by name: the records of
:mod:`bpfls.source.programs`, read exactly from the object as libbpf reads it.

- :class:`~bpfls.source.programs.Program`: every function symbol of an executable section
  other than ``.text`` (libbpf's ``bpf_object__add_programs``); its section is the ELF
  section's name (the ``SEC()`` string). ``macro`` and ``params`` stay empty: ``BPF_PROG``'s
  inner function is inlined into the program, and the object keeps no trace of its
  parameters beyond the context loads.
- :class:`~bpfls.source.programs.KernelCall`: a ``call`` with ``src_reg == 0`` is a helper
  (``imm`` is its ``BPF_FUNC_*`` id, named by :data:`bpfls.analysis.helper_table.HELPERS`);
  one relocated against an extern of ``.ksyms`` is a kfunc call (clang writes ``src_reg == 1``,
  libbpf makes it ``2``, ``BPF_PSEUDO_KFUNC_CALL``). Each is placed by the object's line
  info; ``function`` is the function symbol holding it; ``reachable`` whether a program's
  calls (and function addresses) lead to that function. ``guard`` stays ``None``: the
  object's guards are its control flow, not formulas over existence checks;
  :func:`call_executes` says, per kernel, whether the verifier can reach each call once
  libbpf has relocated the object there (a call under
  ``bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x)`` is dead where the enumerator
  is missing). ``ksym_checked``: the kfunc's address is loaded (``ldimm64`` relocated against
  it) in the same function: a ``bpf_ksym_exists()`` / ``if (kfunc)`` test.
- :class:`~bpfls.source.programs.MapDef`: each ``VAR`` of the ``.maps`` ``DATASEC``; ``type``
  from its ``type`` member (``int (*type)[N]``): ``N`` named by the object's own
  ``enum bpf_map_type`` when its BTF has it, else by :data:`MAP_TYPES`; ``flags`` from
  ``map_flags`` decoded bit by bit with :data:`MAP_FLAGS` (every bit of the number is one
  enumerator of the uapi's map-creation flag enum, so the decoding is exact; a bit the table
  does not know is left out, with no name to check).
- :class:`~bpfls.source.programs.Ksym`: each extern in the ``.ksyms`` ``DATASEC`` (``FUNC``
  with extern linkage: a kfunc; ``VAR``: a variable, typed unless its type is ``void``), as
  libbpf collects them (an extern function outside ``.ksyms`` is one the BPF linker resolves
  from another object, not the kernel: neither a ksym nor a kfunc call); ``weak`` from the
  ELF symbol's binding; ``type_id`` in the object's BTF; ``used`` when a reachable function
  calls it or loads its address.
- :class:`~bpfls.source.programs.StructOps`: each ``VAR`` of a ``.struct_ops`` or
  ``.struct_ops.link`` ``DATASEC``, its struct's name, and the members whose bytes the
  section's ELF relocations point at a program (by the variable's ELF symbol and the member's
  offset).

Positions: a program and a call at the line and column clang recorded for its instruction;
a map, ksym or struct_ops variable (data, with no line info) on the first line of the source
files the line info names that declares it, when that file can be read here, else at the
start of the object.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bpfls.analysis.helper_table import HELPERS
from bpfls.btf import Btf
from bpfls.btf.errors import BtfError
from bpfls.btf.files import read_file
from bpfls.btf.kinds import Kind
from bpfls.btf.model import Type
from bpfls.core.dead_code import dead
from bpfls.core.ext import LineInfo
from bpfls.core.objects import _patch, _placed, patches_for, resolve_object
from bpfls.core.objfile import (
    CALL,
    INSN_SIZE,
    LDIMM64,
    PSEUDO_CALL,
    PSEUDO_KFUNC_CALL,
    SHN_UNDEF,
    SHT_REL,
    STB_WEAK,
    BpfFunction,
    BpfObject,
    _Reader,
    _slots_of,
)
from bpfls.core.reach import checks_globals_lazily, reach
from bpfls.source.model import FunctionInfo
from bpfls.source.positions import Range
from bpfls.source.programs import KernelCall, Ksym, MapDef, Program, StructOps

#: helper id → name (``bpf_helper_defs.h``)
HELPER_NAMES: dict[int, str] = {v[0]: k for k, v in HELPERS.items()}

#: ``enum bpf_map_type`` in the kernel's uapi order (``include/uapi/linux/bpf.h``, as linux 7.1
#: has it): value → enumerator. Used when the object's BTF has no ``enum bpf_map_type``.
MAP_TYPES: tuple[str, ...] = (
    "BPF_MAP_TYPE_UNSPEC", "BPF_MAP_TYPE_HASH", "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_PROG_ARRAY", "BPF_MAP_TYPE_PERF_EVENT_ARRAY", "BPF_MAP_TYPE_PERCPU_HASH",
    "BPF_MAP_TYPE_PERCPU_ARRAY", "BPF_MAP_TYPE_STACK_TRACE", "BPF_MAP_TYPE_CGROUP_ARRAY",
    "BPF_MAP_TYPE_LRU_HASH", "BPF_MAP_TYPE_LRU_PERCPU_HASH", "BPF_MAP_TYPE_LPM_TRIE",
    "BPF_MAP_TYPE_ARRAY_OF_MAPS", "BPF_MAP_TYPE_HASH_OF_MAPS", "BPF_MAP_TYPE_DEVMAP",
    "BPF_MAP_TYPE_SOCKMAP", "BPF_MAP_TYPE_CPUMAP", "BPF_MAP_TYPE_XSKMAP",
    "BPF_MAP_TYPE_SOCKHASH", "BPF_MAP_TYPE_CGROUP_STORAGE",
    "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE",
    "BPF_MAP_TYPE_QUEUE", "BPF_MAP_TYPE_STACK", "BPF_MAP_TYPE_SK_STORAGE",
    "BPF_MAP_TYPE_DEVMAP_HASH", "BPF_MAP_TYPE_STRUCT_OPS", "BPF_MAP_TYPE_RINGBUF",
    "BPF_MAP_TYPE_INODE_STORAGE", "BPF_MAP_TYPE_TASK_STORAGE", "BPF_MAP_TYPE_BLOOM_FILTER",
    "BPF_MAP_TYPE_USER_RINGBUF", "BPF_MAP_TYPE_CGRP_STORAGE", "BPF_MAP_TYPE_ARENA",
    "BPF_MAP_TYPE_INSN_ARRAY",
)

#: the uapi's map-creation flags (the anonymous enum after ``BPF_F_LOCK`` in
#: ``include/uapi/linux/bpf.h``): bit → enumerator
MAP_FLAGS: dict[int, str] = {
    0: "BPF_F_NO_PREALLOC", 1: "BPF_F_NO_COMMON_LRU", 2: "BPF_F_NUMA_NODE",
    3: "BPF_F_RDONLY", 4: "BPF_F_WRONLY", 5: "BPF_F_STACK_BUILD_ID", 6: "BPF_F_ZERO_SEED",
    7: "BPF_F_RDONLY_PROG", 8: "BPF_F_WRONLY_PROG", 9: "BPF_F_CLONE", 10: "BPF_F_MMAPABLE",
    11: "BPF_F_PRESERVE_ELEMS", 12: "BPF_F_INNER_MAP", 13: "BPF_F_LINK",
    14: "BPF_F_PATH_FD", 15: "BPF_F_VTYPE_BTF_OBJ_FD", 16: "BPF_F_TOKEN_FD",
    17: "BPF_F_SEGV_ON_FAULT", 18: "BPF_F_NO_USER_CONV",
}

STT_OBJECT = 1
STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link")
#: the verifier model's steps per object and kernel for the calls the quick proof leaves
#: (:func:`bpfls.core.reach.reach`'s budget; past it they are undecided, ``None``). By default
#: none: on the shared corpus the quick proof decides every call the exploration proves dead
#: (21 of 973 calls a sample kernel lacks), in a tenth of the time
EXPLORE_BUDGET = 0


@dataclass(eq=False)
class ObjectCall(KernelCall):
    """A helper or kfunc call of an object, with the instruction it is."""

    section: str = ""
    index: int = 0  # the instruction's slot in its section
    helper_id: int | None = None  # the ``BPF_FUNC_*`` id of a helper call
    #: kernel → whether the verifier can reach the call there (None: not decided), filled by
    #: :func:`call_executes`; empty when not asked
    executes: dict[str, bool | None] = field(default_factory=dict)


@dataclass(eq=False)
class ObjectModel:
    """What the load rules read of a compiled object: the attributes of
    :class:`bpfls.source.model.SourceModel` they use (``local`` is the object's BTF)."""

    path: str
    local: Btf
    programs: list[Program]
    calls: list[ObjectCall]
    maps: list[MapDef]
    ksyms: list[Ksym]
    struct_ops: list[StructOps]
    functions: dict[str, FunctionInfo]
    derefs: list = field(default_factory=list)
    accesses: list = field(default_factory=list)
    obj: BpfObject | None = None


def object_programs(obj: BpfObject, *, source_dir: str | None = None
                    ) -> tuple[list[Program], list[ObjectCall], list[MapDef], list[Ksym],
                               list[StructOps]]:
    """The object's programs, helper and kfunc calls, maps, ksyms and struct_ops variables.
    ``source_dir``: where relative file names of the line info are taken from (default: the
    object's directory)."""
    m = object_model(obj, source_dir=source_dir)
    return m.programs, m.calls, m.maps, m.ksyms, m.struct_ops


def object_model(obj: BpfObject, *, source_dir: str | None = None,
                 lacking: Callable[[str], bool] | None = None) -> ObjectModel:
    """:func:`object_programs` as a holder with the source model's attribute names.
    ``lacking(name)``: whether some kernel lacks a helper, kfunc, map type or flag of that
    name; the calls and maps it says no to are not placed in the source (their range is the
    object's start: nothing will be said about them)."""
    here = source_dir or os.path.dirname(os.path.abspath(obj.path))
    places = _Places(obj, here)
    elf = _Elf(obj)
    graph = _call_graph(obj)
    reached = _reachable(obj, graph)
    functions = {}
    for f in obj.functions:
        path, rng = places.function(f)
        functions.setdefault(f.name, FunctionInfo(
            f.name, path, rng, rng, section=f.sec_name, is_static=not f.is_global,
            reachable=(f.section, f.start) in reached,
            calls=tuple(g.name for g in graph.get((f.section, f.start), ()))))
    programs = []
    for f in obj.programs:
        path, rng = places.function(f)
        programs.append(Program(f.name, f.section, path, rng))
    calls = _calls(obj, places, reached, elf, lacking)
    ksyms = _ksyms(obj, places, elf, calls, reached)
    return ObjectModel(os.path.abspath(obj.path), obj.btf, programs, calls,
                       _maps(obj, places, lacking), ksyms, _struct_ops(obj, places, elf),
                       functions, obj=obj)


def load_model(obj: BpfObject, kernels: Mapping[str, Btf] | Any, *,
               source_dir: str | None = None, budget: int = EXPLORE_BUDGET) -> ObjectModel:
    """The object's records for the load rules (:func:`object_model`), with ``executes``
    filled, on each kernel, for the calls that kernel cannot serve by name: a helper whose
    ``BPF_FUNC_<name>`` is not in its ``enum bpf_func_id``, a kfunc with no ``FUNC`` of its
    name. Those are the calls whose guard matters there (``False``: dead on that kernel, as
    under ``bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x)``). ``kernels``: name →
    BTF, or a :class:`bpfls.project.kernels.KernelSet` (its loaded kernels); ``budget``: see
    :func:`call_executes`.

    This is where object mode joins the load checks: ``check_load(load_model(obj, kernels),
    kernels)`` judges a compiled object with the rules the source model gets."""
    btfs = _btfs(kernels)
    known: dict[str, bool] = {}

    def lacking(name: str) -> bool:
        got = known.get(name)
        if got is None:
            if name.startswith(("BPF_MAP_TYPE_", "BPF_F_")):
                got = any(not b.enumerators_named(name) for b in btfs.values())
            else:
                got = any(not b.enumerators_named("BPF_FUNC_" + name.removeprefix("bpf_"))
                          and b.find(name, Kind.FUNC) is None for b in btfs.values())
            known[name] = got
        return got

    m = object_model(obj, source_dir=source_dir, lacking=lacking)

    def lacks(c: ObjectCall, kernel: str) -> bool:
        btf = btfs[kernel]
        if c.helper_id is not None:
            return not btf.enumerators_named("BPF_FUNC_" + c.name.removeprefix("bpf_"))
        return btf.find(c.name, Kind.FUNC) is None

    call_executes(obj, m.calls, btfs, lacks, budget=budget)
    return m


def _btfs(kernels: Mapping[str, Btf] | Any) -> dict[str, Btf]:
    if isinstance(kernels, Mapping):
        return dict(kernels)
    return {k.name: k.btf for k in kernels.loaded if k.btf is not None}


# -- calls -------------------------------------------------------------------------------------

def _calls(obj: BpfObject, places: _Places, reached: set[tuple[str, int]],
           elf: _Elf, lacking: Callable[[str], bool] | None = None) -> list[ObjectCall]:
    ksyms = {t.name for t in _datasec_vars(obj.btf, ".ksyms")}
    out = []
    for sec in obj.sections.values():
        codes, _dsts, srcs, _offs, imms = sec.fields
        checked: dict[str, set[str]] = {}  # function → ksyms whose address it loads
        for idx in _slots_of(codes, (LDIMM64,)):
            sym = obj.relocated.get((sec.name, idx))
            f = obj.function_at(sec.name, idx)
            if sym is not None and f is not None and sym in elf.externs:
                checked.setdefault(f.name, set()).add(sym)
        for idx in _slots_of(codes, (CALL,)):
            src = srcs[idx]
            f = obj.function_at(sec.name, idx)
            if f is None:
                continue
            if src == 0:
                name = HELPER_NAMES.get(imms[idx])
                if name is None:
                    continue  # not a helper bpf_helper_defs.h knows: nothing to name
                helper: int | None = imms[idx]
            elif src in (PSEUDO_CALL, PSEUDO_KFUNC_CALL):
                # clang emits an extern's call as a BPF-to-BPF one; libbpf makes it a kfunc call
                name = obj.relocated.get((sec.name, idx))
                if name is None or name not in elf.externs or name not in ksyms:
                    continue
                helper = None
            else:
                continue
            if lacking is None or lacking(name):
                path, rng = places.insn(sec.name, idx)
            else:
                path, rng = places.nowhere()
            out.append(ObjectCall(
                name, path, rng, f.name, reachable=(f.section, f.start) in reached,
                ksym_checked=helper is None and name in checked.get(f.name, ()),
                section=sec.name, index=idx, helper_id=helper))
    return out


def call_executes(obj: BpfObject, calls: Iterable[ObjectCall], kernels: Mapping[str, Btf],
                  needed: Callable[[ObjectCall, str], bool] | None = None, *,
                  budget: int = EXPLORE_BUDGET) -> None:
    """Fill each call's ``executes``: on each kernel, whether the verifier can reach the call
    once libbpf has relocated the object there: ``False`` is proven (the branches on the
    kernel's CO-RE constants cut it off), ``True`` means the exploration reaches it (it errs
    toward reaching: a flag user space sets in ``.rodata`` is unknown to it), ``None`` not
    decided.

    As :func:`bpfls.core.objects.judge` does for poisoned relocations: the object's CO-RE
    relocations resolved on the kernel give the constants libbpf patches in; the quick proof
    of :func:`bpfls.core.dead_code.dead` (branches on those constants) first, then the
    verifier's exploration (:func:`bpfls.core.reach.reach`) for the calls it leaves, stopped
    once they are reached or after ``budget`` steps (by default none is taken: a call the
    quick proof leaves is ``None``, not proven dead). ``needed(call, kernel)``: only those
    calls are asked about (the others get nothing for that kernel), e.g. the helpers the
    kernel lacks; a kernel with none costs nothing. A call in no program's reach is ``False``
    everywhere; in an object without CO-RE relocations nothing depends on the kernel, so a
    reachable call is ``True``."""
    calls = list(calls)
    for name, btf in kernels.items():
        asked = [c for c in calls if needed is None or needed(c, name)]
        for c in asked:
            if not c.reachable:
                c.executes[name] = False
        asked = [c for c in asked if c.reachable]
        if not asked:
            continue
        if not obj.ext.relocations:
            for c in asked:
                c.executes[name] = True
            continue
        runs = _executes(obj, btf, {(c.section, c.index) for c in asked}, budget)
        for c in asked:
            c.executes[name] = runs.get((c.section, c.index))


def _executes(obj: BpfObject, btf: Btf, targets: set[tuple[str, int]], budget: int
              ) -> dict[tuple[str, int], bool | None]:
    """Whether the verifier reaches each of ``targets`` on ``btf`` (the object relocated
    there, every program libbpf loads by default)."""
    loaded = [f for f in obj.programs if f.autoload]
    patches = patches_for(obj, btf)  # judging the object's relocations made them
    if patches is None:
        where = {id(r): loc for r, loc, f in _placed(obj) if f is not None}
        judged = resolve_object(obj.ext, btf)
        patches = {where[id(r)]: _patch(res) for r, res in judged if id(r) in where}
    lazy = checks_globals_lazily(btf)
    proven = dead(obj, patches, loaded, targets, lazy_globals=lazy)
    out: dict[tuple[str, int], bool | None] = dict.fromkeys(proven, False)
    left = targets - proven
    if left and budget > 0:
        r = reach(obj, patches, programs={f.name for f in loaded}, lazy_globals=lazy,
                  targets=left, budget=budget)
        out.update({loc: r.executes(loc) for loc in left})
    return out


# -- the call graph ----------------------------------------------------------------------------

def _call_graph(obj: BpfObject) -> dict[tuple[str, int], list[BpfFunction]]:
    """Function (section, start) → the functions its calls and function addresses lead to."""
    out: dict[tuple[str, int], list[BpfFunction]] = {}
    for (sec, idx), site in obj.sites.items():
        f = obj.function_at(sec, idx)
        if f is None or site.target is None:
            continue
        targets = out.setdefault((f.section, f.start), [])
        if site.target not in targets:
            targets.append(site.target)
    return out


def _reachable(obj: BpfObject, graph: Mapping[tuple[str, int], list[BpfFunction]]
               ) -> set[tuple[str, int]]:
    """The functions a program (any, loaded by default or not) leads to, programs included."""
    seen: set[tuple[str, int]] = set()
    work = [(f.section, f.start) for f in obj.programs]
    while work:
        key = work.pop()
        if key in seen:
            continue
        seen.add(key)
        work.extend((g.section, g.start) for g in graph.get(key, ()))
    return seen


# -- maps --------------------------------------------------------------------------------------

def _datasec_vars(btf: Btf, name: str) -> list[Type]:
    out = []
    for sec in btf.find_all(name, Kind.DATASEC):
        for info in sec.secinfos:
            out.append(btf[info.type_id])
    return out


def _maps(obj: BpfObject, places: _Places, lacking: Callable[[str], bool] | None = None
          ) -> list[MapDef]:
    btf = obj.btf
    names = _map_type_names(btf)
    out = []
    for var in _datasec_vars(btf, ".maps"):
        if var.kind != Kind.VAR:
            continue
        record = btf.skip_modifiers(btf.resolve(var.type_id))
        type_name: str | None = None
        flag_names: list[str] = []
        if record.kind in (Kind.STRUCT, Kind.UNION):
            n = _uint_member(btf, record, "type")
            if n is not None:
                type_name = names.get(n)
            f = _uint_member(btf, record, "map_flags")
            if f:
                flag_names = [MAP_FLAGS[b] for b in range(f.bit_length())
                              if f >> b & 1 and b in MAP_FLAGS]
        if lacking is None or any(lacking(x) for x in (type_name, *flag_names) if x):
            path, rng = places.declaration(var.name, ".maps")
        else:
            path, rng = places.nowhere()
        out.append(MapDef(var.name, path, rng, type_name, rng if type_name else None,
                          tuple((x, rng) for x in flag_names)))
    return out


def _map_type_names(btf: Btf) -> dict[int, str]:
    """Value → enumerator of ``enum bpf_map_type``: the object's own when it has it (the first
    name of a value, as the uapi lists the current one after a deprecated alias it keeps),
    else :data:`MAP_TYPES`."""
    t = btf.find("bpf_map_type", Kind.ENUM) or btf.find("bpf_map_type", Kind.ENUM64)
    if t is None:
        return dict(enumerate(MAP_TYPES))
    out: dict[int, str] = {}
    for v in t.values:
        if v.name.startswith("__MAX"):
            continue
        if v.name.endswith("_DEPRECATED") and v.value in out:
            continue
        if v.value not in out or out[v.value].endswith("_DEPRECATED"):
            out[v.value] = v.name
    return out


def _uint_member(btf: Btf, record: Type, name: str) -> int | None:
    """``__uint(name, N)``: a member ``int (*name)[N]``, its ``N``."""
    m = record.member(name)
    if m is None:
        return None
    try:
        ptr = btf.skip_modifiers(btf.resolve(m.type_id))
        if ptr.kind != Kind.PTR:
            return None
        arr = btf.skip_modifiers(btf.resolve(ptr.type_id))
        return arr.array.nelems if arr.kind == Kind.ARRAY else None
    except (BtfError, IndexError):
        return None


# -- ksyms -------------------------------------------------------------------------------------

def _ksyms(obj: BpfObject, places: _Places, elf: _Elf, calls: Sequence[ObjectCall],
           reached: set[tuple[str, int]]) -> list[Ksym]:
    btf = obj.btf
    used = {c.name for c in calls if c.reachable and c.helper_id is None}
    for (sec, idx), sym in obj.relocated.items():  # an address loaded: used as well
        f = obj.function_at(sec, idx)
        if sym in elf.externs and f is not None and (f.section, f.start) in reached:
            used.add(sym)
    out: dict[str, Ksym] = {}

    def add(t: Type) -> None:
        if t.name in out or not t.name:
            return
        path, rng = places.declaration(t.name, "__ksym")
        if t.kind == Kind.FUNC:
            out[t.name] = Ksym(t.name, path, rng, True, elf.weak(t.name), t.type_id,
                               used=t.name in used)
        elif t.kind == Kind.VAR:
            typed = btf.resolve(t.type_id).id != 0  # libbpf: not void after modifiers
            out[t.name] = Ksym(t.name, path, rng, False, elf.weak(t.name), t.type_id,
                               typed=typed, used=t.name in used)

    for t in _datasec_vars(btf, ".ksyms"):
        add(t)
    return list(out.values())


# -- struct_ops --------------------------------------------------------------------------------

def _struct_ops(obj: BpfObject, places: _Places, elf: _Elf) -> list[StructOps]:
    btf = obj.btf
    out = []
    for sec_name in STRUCT_OPS_SECTIONS:
        pointers = elf.data_relocations.get(sec_name, {})
        programs = {f.name for f in obj.programs}
        for var in _datasec_vars(btf, sec_name):
            if var.kind != Kind.VAR:
                continue
            record = btf.skip_modifiers(btf.resolve(var.type_id))
            if record.kind not in (Kind.STRUCT, Kind.UNION):
                continue
            path, rng = places.declaration(var.name, sec_name)
            start = elf.objects.get((sec_name, var.name))
            members = []
            if start is not None:
                for m in record.members:
                    target = pointers.get(start + m.bit_offset // 8)
                    if target in programs:
                        members.append((m.name, rng))
            out.append(StructOps(var.name, record.name, path, rng, tuple(members)))
    return out


# -- the ELF tables objfile does not keep --------------------------------------------------------

class _Elf:
    """The object's symbols by name (binding), its data objects' offsets, and the relocations
    of its ``.struct_ops`` sections."""

    def __init__(self, obj: BpfObject) -> None:
        self.binds: dict[str, int] = {}
        self.externs: set[str] = set()
        self.objects: dict[tuple[str, str], int] = {}  # (section, symbol) → offset
        #: section → byte offset → the symbol a relocation there names
        self.data_relocations: dict[str, dict[int, str]] = {}
        try:
            data = read_file(obj.path)
        except (BtfError, OSError):
            return
        reader = _Reader(data, obj.path)
        secs = reader.sections()
        symbols = reader.symbols(secs)
        for s in symbols:
            if s.name and s.bind != 0:
                self.binds.setdefault(s.name, s.bind)
            if s.name and s.shndx == SHN_UNDEF and s.bind != 0:
                self.externs.add(s.name)
            if s.type == STT_OBJECT and 0 < s.shndx < len(secs):
                self.objects[(secs[s.shndx].name, s.name)] = s.value
        for s in secs:
            if s.type != SHT_REL or not 0 < s.info < len(secs):
                continue
            target = secs[s.info].name
            if target not in STRUCT_OPS_SECTIONS:
                continue
            table = self.data_relocations.setdefault(target, {})
            for r_offset, r_info in _rels(reader, s):
                sym = r_info >> 32
                if sym < len(symbols):
                    table[r_offset] = symbols[sym].name

    def weak(self, name: str) -> bool:
        return self.binds.get(name) == STB_WEAK


def _rels(reader: _Reader, s) -> list[tuple[int, int]]:
    body = reader.body(s)
    return [r for r in struct.iter_unpack(reader.order + "QQ", body[:len(body) // 16 * 16])]


# -- positions ---------------------------------------------------------------------------------

def place_line(line: LineInfo | None) -> tuple[Range, str]:
    """The range of the token at clang's line and column (0-based, UTF-8 bytes), and the
    token. Column 0 (not recorded) gives the line's first non-blank character."""
    if line is None or line.line <= 0:
        return Range.of(0, 0, 0, 0), ""
    ln = line.line - 1
    text = line.text.encode("utf-8", "surrogateescape")
    col = line.col - 1 if line.col > 0 else len(text) - len(text.lstrip())
    col = min(col, len(text))
    end = col
    while end < len(text) and (chr(text[end]).isalnum() or text[end] == ord("_")):
        end += 1
    if end == col:
        end = min(col + 1, len(text))
    return Range.of(ln, col, ln, end), text[col:end].decode("utf-8", "replace")


class _Places:
    """Where an instruction came from (line info), and where a variable is declared."""

    def __init__(self, obj: BpfObject, here: str) -> None:
        self.obj = obj
        self.here = here
        self.paths: dict[str, str] = {}
        self.files: list[str] = []
        table = obj.ext.line_table
        if table.btf is not None:
            offs: dict[int, None] = {}
            for _offs, raw in table.sections.values():
                offs.update(dict.fromkeys(r[0] for r in raw))
            for file_off in offs:
                p = self._path(table.btf.str_at(file_off))
                if p not in self.files:
                    self.files.append(p)
        self.texts: dict[str, list[str] | None] = {}

    def _path(self, file: str) -> str:
        hit = self.paths.get(file)
        if hit is None:
            if os.path.isabs(file):
                hit = os.path.normpath(file)
            else:
                beside = os.path.join(self.here, file)
                hit = os.path.normpath(beside if os.path.exists(beside)
                                       else os.path.abspath(file))
            self.paths[file] = hit
        return hit

    def insn(self, section: str, index: int) -> tuple[str, Range]:
        li = self.line(section, index)
        if li is None or li.line <= 0:
            return self.nowhere()
        return self._path(li.file) if li.file else os.path.abspath(self.obj.path), \
            place_line(li)[0]

    def function(self, f: BpfFunction) -> tuple[str, Range]:
        """A function's name where it is defined: the nearest line naming it at or above its
        first instruction's line (``int BPF_PROG(name, ...)``, ``int name(...)``), else the
        first instruction's place."""
        path, rng = self.insn(f.section, f.start)
        lines = self._text(path)
        if lines:
            word = _word(f.name)
            first = min(rng.start.line, len(lines) - 1)
            for ln in range(first, max(first - _LOOK_BACK, -1), -1):
                m = word.search(lines[ln])
                if m is not None:
                    return path, Range.of(ln, m.start(), ln, m.end())
        return path, rng

    def nowhere(self) -> tuple[str, Range]:
        """The place of what is not placed: the object's start."""
        return os.path.abspath(self.obj.path), Range.of(0, 0, 0, 0)

    def line(self, section: str, index: int) -> LineInfo | None:
        """The line info covering the instruction (the last record at or before it)."""
        return self.obj.ext.line_for(section, index * INSN_SIZE)

    def _text(self, path: str) -> list[str] | None:
        if path not in self.texts:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self.texts[path] = fh.read(8 << 20).split("\n")
            except OSError:
                self.texts[path] = None
        return self.texts[path]

    def declaration(self, name: str, hint: str) -> tuple[str, Range]:
        """The first line naming ``name`` with ``hint`` on it (``.maps``, ``__ksym``), else the
        first naming it at all, in the line info's files (the compiled file first)."""
        fallback: tuple[str, tuple[int, int, int]] | None = None
        for path in self.files:
            try:
                st = os.stat(path)
            except OSError:
                continue
            hinted, first = _words(path, st.st_size, st.st_mtime_ns, hint)
            if name in hinted:
                ln, start, end = hinted[name]
                return path, Range.of(ln, start, ln, end)
            if fallback is None and name in first:
                fallback = path, first[name]
        if fallback is None:
            return os.path.abspath(self.obj.path), Range.of(0, 0, 0, 0)
        path, (ln, start, end) = fallback
        return path, Range.of(ln, start, ln, end)


Where = tuple[int, int, int]  # line, first and end column


@lru_cache(maxsize=256)
def _words(path: str, size: int, mtime_ns: int, hint: str
           ) -> tuple[dict[str, Where], dict[str, Where]]:
    """Each identifier of the file → where it first appears on a line with ``hint``, and
    where it first appears at all (read once per version of the file and hint: the objects
    of one project share their headers)."""
    hinted: dict[str, Where] = {}
    first: dict[str, Where] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read(8 << 20).split("\n")
    except OSError:
        return hinted, first
    for ln, text in enumerate(lines):
        with_hint = hint in text
        for m in _IDENT.finditer(text):
            word = m.group()
            if word not in first:
                first[word] = (ln, m.start(), m.end())
            if with_hint and word not in hinted:
                hinted[word] = (ln, m.start(), m.end())
    return hinted, first


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: how many lines above its first instruction's a function's name is looked for
_LOOK_BACK = 40


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


__all__ = ["HELPER_NAMES", "MAP_FLAGS", "MAP_TYPES", "ObjectCall", "ObjectModel",
           "call_executes", "load_model", "object_model", "object_programs"]
