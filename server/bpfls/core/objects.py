"""Judging a compiled BPF object on a kernel, as libbpf and the verifier would load it.

:func:`resolve_object` resolves every CO-RE relocation of an object in ``.BTF.ext`` order with
libbpf's per-object candidate cache and pruning, plus the instruction checks of
:mod:`bpfls.core.patch`. :func:`judge_object` goes on to the verifier: with the values libbpf
would patch in, it finds which instructions the verifier can reach (:mod:`bpfls.core.reach`),
so that each relocation also says whether it executes on that kernel (a poisoned one fails
the load only then).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bpfls.btf import Btf
from bpfls.core.dead_code import dead
from bpfls.core.ext import BtfExtInfo, ObjectRelo, read_ext
from bpfls.core.objfile import BpfFunction, BpfObject, read_object
from bpfls.core.patch import check_insn
from bpfls.core.reach import (
    POISON,
    UNKNOWN,
    Loc,
    Patch,
    Reach,
    checks_globals_lazily,
    program_sections,
    reach,
)
from bpfls.core.resolve import ERROR, MISSING, CoreResolver, Resolution


def resolve_object(obj: str | os.PathLike[str] | BtfExtInfo, target: Btf,
                   modules: Sequence[Btf] = (), *, patch: bool = True
                   ) -> list[tuple[ObjectRelo, Resolution]]:
    """Resolve the relocations of ``obj`` (a path or :func:`bpfls.core.ext.read_ext` result)
    on ``target`` in ``.BTF.ext`` order with libbpf's pruning.

    ``patch``: also apply the instruction checks of ``bpf_core_patch_insn``
    (:func:`bpfls.core.patch.check_insn`). Unlike libbpf, resolution goes on after a hard
    error, so every relocation gets a verdict; libbpf would stop at the first ``"error"``.
    """
    info = obj if isinstance(obj, BtfExtInfo) else read_ext(obj)
    return _resolve(info.relocations, target, modules, patch)


def _resolve(relocations: Sequence[ObjectRelo], target: Btf, modules: Sequence[Btf],
             patch: bool) -> list[tuple[ObjectRelo, Resolution]]:
    # within one object, a relocation repeated (inlined code, a shared header) with the same
    # candidates left is resolved once (the memo is exact: see CoreResolver._resolve_memo)
    resolver = CoreResolver(target, modules, memo={}, shared=_shared_memo(target, modules))
    out = []
    for o in relocations:
        res = resolver.resolve(o)
        insn = o.insn
        if patch and insn is not None:
            res = check_insn(res, insn)
        out.append((o, res))
    return out


#: per kernel (and module set): resolutions shared between objects (see
#: :class:`~bpfls.core.CoreResolver`), dropped with the kernel, emptied when it grows large
_SHARED: weakref.WeakKeyDictionary[Btf, dict[tuple[int, ...], dict]] = (
    weakref.WeakKeyDictionary())
SHARED_MAX = 100_000


def _shared_memo(target: Btf, modules: Sequence[Btf]) -> dict:
    per = _SHARED.get(target)
    if per is None:
        per = _SHARED[target] = {}
    key = tuple(id(m) for m in modules)
    memo = per.get(key)
    if memo is None or len(memo) > SHARED_MAX:
        memo = per[key] = {}
    return memo


@dataclass(frozen=True)
class ObjectVerdict:
    """One relocation of an object on one kernel.

    ``resolution`` is libbpf's verdict after the instruction checks; ``executes`` whether the
    verifier can reach the relocated instruction there (``None``: could not be decided, see
    :class:`bpfls.core.reach.Reach`); ``function`` the function symbol holding it; ``program``
    the ``SEC()`` name of the program(s) whose load reaches it, comma-separated when several
    do (``None`` when none does).
    """

    relo: ObjectRelo
    resolution: Resolution
    executes: bool | None
    function: str | None
    program: str | None

    @property
    def fails_load(self) -> bool | None:
        """Does this relocation fail the object's load on the kernel? A hard error always
        does; a poisoned instruction when the verifier reaches it (``None``: may)."""
        if self.resolution.status == ERROR:
            return True
        if self.resolution.status == MISSING:
            return self.executes
        return False


@dataclass(frozen=True)
class ObjectJudgement:
    """Every verdict of :func:`judge_object` and the reachability they came from."""

    verdicts: tuple[ObjectVerdict, ...]
    reach: Reach


def judge_object(obj: BpfObject | str | os.PathLike[str], target: Btf,
                 modules: Sequence[Btf] = (), *, programs: Collection[str] | None = None,
                 lazy_globals: bool | None = None,
                 poisoned_only: bool = False) -> list[ObjectVerdict]:
    """Every CO-RE relocation of ``obj`` that libbpf processes, judged on ``target``.

    In ``.BTF.ext`` order with libbpf's pruning (one :class:`~bpfls.core.CoreResolver` per
    call). Relocations of programs libbpf does not load (a ``SEC("?...")``, or one not in
    ``programs``: function names, as ``bpf_program__set_autoload`` selects them) are left out,
    as libbpf leaves them, and so are those outside every function. A hard error counts
    wherever it is (libbpf fails the whole load on the first one).

    ``lazy_globals``: whether the verifier checks a global function only once a reachable
    instruction calls it; by default what ``target``'s own verifier does
    (:func:`bpfls.core.reach.checks_globals_lazily`).

    ``poisoned_only``: whether a relocation executes is only needed where libbpf poisons it
    (whether the load fails there): the verifier's exploration covers only the programs that
    can lead to one and stops once all are reached, and the other relocations' ``executes``
    is ``None`` unless that exploration reached them. Much quicker on large objects.
    """
    return list(judge(obj, target, modules, programs=programs, lazy_globals=lazy_globals,
                      poisoned_only=poisoned_only).verdicts)


def judge(obj: BpfObject | str | os.PathLike[str], target: Btf,
          modules: Sequence[Btf] = (), *, programs: Collection[str] | None = None,
          lazy_globals: bool | None = None, poisoned_only: bool = False) -> ObjectJudgement:
    """:func:`judge_object` with the :class:`~bpfls.core.reach.Reach` it used."""
    o = obj if isinstance(obj, BpfObject) else read_object(obj)
    loaded = {f.name for f in o.programs
              if (f.autoload if programs is None else f.name in programs)}
    placed = _placed(o)
    relos = [r for r, loc, f in placed if f is not None and (not f.is_program or f.name in loaded)]
    where = {id(r): (loc, f) for r, loc, f in placed}
    judged = _resolve(relos, target, modules, True)
    if lazy_globals is None:
        lazy_globals = checks_globals_lazily(target)
    patches = {where[id(rel)][0]: _patch(res) for rel, res in judged}
    if not modules and programs is None:
        _keep_patches(o, target, patches)
    proven: set[Loc] = set()
    targets = None
    if poisoned_only:
        targets = {loc for loc, p in patches.items() if p is POISON}
        if targets:  # most guards are a branch on a relocated constant: proven quickly
            proven = dead(o, patches, [f for f in o.programs if f.name in loaded], targets,
                          lazy_globals=lazy_globals)
            targets -= proven
    r = reach(o, patches, programs=loaded, lazy_globals=lazy_globals, targets=targets)
    verdicts = []
    sections: dict[tuple[str, ...], str | None] = {}
    for rel, res in judged:
        loc, f = where[id(rel)]
        progs = r.programs_at(loc) if r.by_program else ()
        if progs not in sections:
            sections[progs] = ", ".join(program_sections(o, progs)) or None
        runs = False if loc in proven else r.executes(loc)
        if poisoned_only and runs is False and patches[loc] is not POISON:
            runs = None  # only the poisoned ones were asked about
        verdicts.append(ObjectVerdict(rel, res, runs, f.name if f else None,
                                      sections[progs]))
    return ObjectJudgement(tuple(verdicts), r)


def _placed(o: BpfObject) -> list[tuple[ObjectRelo, Loc, BpfFunction | None]]:
    """Each relocation of the object with its instruction and the function holding it, found
    once per object."""
    hit = o.__dict__.get("_placed_relocations")
    if hit is None:
        hit = []
        for r in o.ext.relocations:
            loc = (r.section, r.insn_off // 8)
            hit.append((r, loc, o.function_at(*loc)))
        o.__dict__["_placed_relocations"] = hit
    return hit


#: the patches :func:`judge` made of an object's relocations on a kernel (every program libbpf
#: loads by default, no modules), for the other questions asked of the same object there
#: (which helper calls the verifier reaches): (object, kernel) → patches, the latest few
_PATCHES: dict[tuple[int, int], tuple[BpfObject, Btf, dict]] = {}
_PATCHES_KEPT = 64


def _keep_patches(obj: BpfObject, target: Btf, patches: dict) -> None:
    if len(_PATCHES) >= _PATCHES_KEPT:
        del _PATCHES[next(iter(_PATCHES))]
    _PATCHES[(id(obj), id(target))] = (obj, target, patches)


def patches_for(obj: BpfObject, target: Btf) -> dict | None:
    """The patches :func:`judge` made of ``obj``'s relocations on ``target`` (every program
    loaded by default, no modules), if it judged them lately: location → patch."""
    got = _PATCHES.get((id(obj), id(target)))
    if got is None or got[0] is not obj or got[1] is not target:
        return None
    return got[2]


def _patch(res: Resolution) -> Patch:
    """What libbpf leaves in the instruction: its new value, or poison."""
    if res.status == MISSING:
        return POISON
    if res.status == ERROR or res.target_value is None:
        return UNKNOWN
    return res.target_value
