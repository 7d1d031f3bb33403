"""libbpf's three type-compatibility relations.

- :func:`fields_are_compat` (``bpf_core_fields_are_compat``): is a target member's type an
  acceptable stand-in for the local member's type (field relocations)?
- :func:`types_are_compat` (``bpf_core_types_are_compat``): type relocations 7, 8, 9.
- :func:`types_match` (``bpf_core_types_match``): the stricter ``type_matches`` (kind 12).

Each has a ``*_reason`` twin returning ``None`` when the answer is yes and a short human
explanation when it is no; a structure libbpf rejects outright (a cycle, too deep) raises
:class:`~bpfls.core.spec.SpecError`.
"""

from __future__ import annotations

from bpfls.btf import Btf, Kind
from bpfls.btf.model import INT_SIGNED
from bpfls.core.cints import clang_int
from bpfls.core.names import essential_name, names_match
from bpfls.core.spec import SpecError, skip_mods_and_typedefs

#: recursion limits of ``__bpf_core_types_are_compat`` / ``__bpf_core_types_match``
COMPAT_LEVEL = 32
LOOP_DEPTH = 32

_ENUMS = (Kind.ENUM, Kind.ENUM64)
_COMPOSITES = (Kind.STRUCT, Kind.UNION)

_NOUN = {Kind.UNKN: "void", Kind.INT: "int", Kind.PTR: "pointer", Kind.ARRAY: "array",
         Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum",
         Kind.FWD: "forward declaration", Kind.FUNC_PROTO: "function", Kind.FLOAT: "float",
         Kind.FUNC: "func", Kind.VAR: "var", Kind.DATASEC: "datasec"}


def kind_core_compat(k1: Kind, k2: Kind) -> bool:
    """``btf_kind_core_compat``: equal kinds, or ENUM and ENUM64."""
    return k1 == k2 or (k1 in _ENUMS and k2 in _ENUMS)


def describe(btf: Btf, type_id: int) -> str:
    """A short noun for a (stripped) type in messages: ``int``, ``pointer``, ``struct foo``."""
    t = btf[type_id]
    noun = _NOUN.get(t.kind, t.kind.name.lower())
    if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD) and t.name:
        return f"{noun} {t.name}"
    if t.kind in (Kind.INT, Kind.FLOAT) and t.name:
        return f"{noun} '{t.name}'" if t.name != noun else noun
    return noun


# -- field compatibility ---------------------------------------------------------------------

def fields_are_compat_reason(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> str | None:
    """``bpf_core_fields_are_compat``; ``None`` when compatible."""
    for _ in range(LOOP_DEPTH * 8):  # arrays of arrays recurse; libbpf has no bound here
        lid = skip_mods_and_typedefs(lbtf, lid)
        tid = skip_mods_and_typedefs(tbtf, tid)
        lt, tt = lbtf[lid], tbtf[tid]
        lk, tk = lt.kind, tt.kind
        if lk in _COMPOSITES and tk in _COMPOSITES:
            return None
        if not kind_core_compat(lk, tk):
            return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
        if lk in (Kind.PTR, Kind.FLOAT):
            return None
        if lk in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ln, tn = essential_name(lt.name), essential_name(tt.name)
            if not ln or not tn or ln == tn:
                return None
            return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
        if lk == Kind.INT:
            if lt.int_offset == 0 and tt.int_offset == 0:
                return None
            return "bit-offset integer encoding (BTF_INT_OFFSET) is not supported"
        if lk == Kind.ARRAY:
            lid, tid = lt.array.type_id, tt.array.type_id
            continue
        return f"{describe(lbtf, lid)} cannot be relocated"
    raise SpecError("array nesting too deep")


def fields_are_compat(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> bool:
    return fields_are_compat_reason(lbtf, lid, tbtf, tid) is None


# -- type compatibility (kinds 7, 8, 9) -----------------------------------------------------

def types_are_compat_reason(lbtf: Btf, lid: int, tbtf: Btf, tid: int,
                            level: int = COMPAT_LEVEL) -> str | None:
    """``__bpf_core_types_are_compat``; ``None`` when compatible. Only the root's name was
    compared (by the candidate search); below it only kinds and shapes are."""
    if not kind_core_compat(lbtf[lid].kind, tbtf[tid].kind):
        return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
    depth = LOOP_DEPTH
    while True:
        depth -= 1
        if depth < 0:
            raise SpecError("type compatibility check: types nested too deeply")
        lid = skip_mods_and_typedefs(lbtf, lid)
        tid = skip_mods_and_typedefs(tbtf, tid)
        lt, tt = lbtf[lid], tbtf[tid]
        lk = lt.kind
        if not kind_core_compat(lk, tt.kind):
            return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
        if lk in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD, Kind.ENUM64):
            return None
        if lk == Kind.INT:
            if lt.int_offset == 0 and tt.int_offset == 0:
                return None
            return "bit-offset integer encoding (BTF_INT_OFFSET) is not supported"
        if lk == Kind.PTR:
            lid, tid = lt.type_id, tt.type_id
            continue
        if lk == Kind.ARRAY:
            lid, tid = lt.array.type_id, tt.array.type_id
            continue
        if lk == Kind.FUNC_PROTO:
            lp, tp = lt.params, tt.params
            if len(lp) != len(tp):
                return f"function with {len(lp)} parameters vs {len(tp)}"
            for i, (a, b) in enumerate(zip(lp, tp, strict=True)):
                if level <= 0:
                    raise SpecError("type compatibility check: function types nested too deeply")
                r = types_are_compat_reason(lbtf, skip_mods_and_typedefs(lbtf, a.type_id),
                                            tbtf, skip_mods_and_typedefs(tbtf, b.type_id),
                                            level - 1)
                if r is not None:
                    return f"parameter {i + 1}: {r}"
            lid = skip_mods_and_typedefs(lbtf, lt.return_type_id)
            tid = skip_mods_and_typedefs(tbtf, tt.return_type_id)
            continue
        return f"{describe(lbtf, lid)} is not comparable (libbpf answers 0)"


def types_are_compat(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> bool:
    return types_are_compat_reason(lbtf, lid, tbtf, tid) is None


# -- type matching (kind 12) ------------------------------------------------------------------

def _name(btf: Btf, type_id: int) -> str:
    return btf[type_id].name


def _enums_match(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> str | None:
    lt, tt = lbtf[lid], tbtf[tid]
    if lt.size != tt.size:
        return f"{describe(lbtf, lid)} has size {lt.size}, target {tt.size}"
    if lt.vlen > tt.vlen:
        return f"{describe(lbtf, lid)} has {lt.vlen} enumerators, target only {tt.vlen}"
    tnames = [v.name for v in tt.values]
    for v in lt.values:
        if not any(names_match(v.name, n) for n in tnames):
            return f"enumerator {v.name} missing in {describe(tbtf, tid)}"
    return None


def _composites_match(lbtf: Btf, lid: int, tbtf: Btf, tid: int, behind_ptr: bool,
                      level: int) -> str | None:
    lt, tt = lbtf[lid], tbtf[tid]
    if lt.vlen > tt.vlen:
        return f"{describe(lbtf, lid)} has {lt.vlen} members, target only {tt.vlen}"
    tmembers = tt.members
    for lm in lt.members:
        first: str | None = None
        found = False
        for tm in tmembers:
            if not names_match(lm.name, tm.name):
                continue
            r = _types_match(lbtf, lm.type_id, tbtf, tm.type_id, behind_ptr, level - 1)
            if r is None:
                found = True
                break
            first = first or r
        if not found:
            label = f"member '{lm.name}'" if lm.name else f"anonymous member #{lm.index}"
            if first is None:
                return f"{label} missing in {describe(tbtf, tid)}"
            return f"{label}: {first}"
    return None


def _local_int(lbtf: Btf, lid: int, lt) -> tuple[str, bool]:
    """A local integer type's name and signedness as they are in the program's BTF. Types the
    program takes from vmlinux.h are the primary kernel's (the base of the local BTF) but clang
    writes them in its own spelling, with ``char`` signed."""
    if lbtf.base is not None and lid < lbtf.start_id:
        return clang_int(lt.name, lt.int_encoding)
    return lt.name, bool(lt.int_encoding & INT_SIGNED)


def _types_match(lbtf: Btf, lid: int, tbtf: Btf, tid: int, behind_ptr: bool,
                 level: int) -> str | None:
    if level <= 0:
        raise SpecError("type match: types nested too deeply")
    depth = LOOP_DEPTH
    while True:
        depth -= 1
        if depth < 0:
            raise SpecError("type match: types nested too deeply")
        lid = skip_mods_and_typedefs(lbtf, lid)
        tid = skip_mods_and_typedefs(tbtf, tid)
        lt, tt = lbtf[lid], tbtf[tid]
        lk, tk = lt.kind, tt.kind
        lname, lsigned = lt.name, False
        if lk == Kind.INT:
            lname, lsigned = _local_int(lbtf, lid, lt)
        if not names_match(lname, tt.name):
            ln, tn = lname or "<anon>", tt.name or "<anon>"
            return f"names differ: '{ln}' vs '{tn}'"
        if lk == Kind.UNKN:
            return None if tk == Kind.UNKN else f"void vs {describe(tbtf, tid)}"
        if lk == Kind.FWD:
            lf = lt.kflag
            if behind_ptr:
                if lk == tk:
                    ok = lf == tt.kflag
                else:
                    ok = (tk == Kind.STRUCT and not lf) or (tk == Kind.UNION and lf)
            else:
                ok = lk == tk and lf == tt.kflag
            return None if ok else f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
        if lk in _ENUMS:
            if tk not in _ENUMS:
                return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
            return _enums_match(lbtf, lid, tbtf, tid)
        if lk in _COMPOSITES:
            if behind_ptr:
                if lk == tk:
                    return None
                if tk == Kind.FWD and (lk == Kind.UNION) == tt.kflag:
                    return None
                return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
            if lk != tk:
                return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
            return _composites_match(lbtf, lid, tbtf, tid, behind_ptr, level)
        if lk == Kind.INT:
            if tk != Kind.INT:
                return f"{describe(lbtf, lid)} vs {describe(tbtf, tid)}"
            ls = lsigned
            ts = bool(tt.int_encoding & INT_SIGNED)
            if lt.size != tt.size:
                return f"'{lname}' has size {lt.size}, target '{tt.name}' {tt.size}"
            if ls != ts:
                sl = "signed" if ls else "unsigned"
                st = "signed" if ts else "unsigned"
                return f"'{lname}' is {sl}, target '{tt.name}' is {st}"
            return None
        if lk == Kind.PTR:
            if tk != lk:
                return f"pointer vs {describe(tbtf, tid)}"
            behind_ptr = True
            lid, tid = lt.type_id, tt.type_id
            continue
        if lk == Kind.ARRAY:
            if tk != lk:
                return f"array vs {describe(tbtf, tid)}"
            la, ta = lt.array, tt.array
            if la.nelems != ta.nelems:
                return f"array of {la.nelems} vs {ta.nelems} elements"
            lid, tid = la.type_id, ta.type_id
            continue
        if lk == Kind.FUNC_PROTO:
            if tk != lk:
                return f"function vs {describe(tbtf, tid)}"
            lp, tp = lt.params, tt.params
            if len(lp) != len(tp):
                return f"function with {len(lp)} parameters vs {len(tp)}"
            for i, (a, b) in enumerate(zip(lp, tp, strict=True)):
                r = _types_match(lbtf, a.type_id, tbtf, b.type_id, behind_ptr, level - 1)
                if r is not None:
                    return f"parameter {i + 1}: {r}"
            lid, tid = lt.return_type_id, tt.return_type_id
            continue
        return f"{describe(lbtf, lid)} is not comparable (libbpf answers 0)"


def types_match_reason(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> str | None:
    """``bpf_core_types_match``; ``None`` when the types match."""
    return _types_match(lbtf, lid, tbtf, tid, False, COMPAT_LEVEL)


def types_match(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> bool:
    return types_match_reason(lbtf, lid, tbtf, tid) is None
