"""Two libbpf pitfalls that a relocation's verdict alone does not show (core-semantics §4).

- **Enum sign extension.** libbpf reads a 32-bit ENUM value as ``s32`` and sign-extends it,
  whatever the enum's signedness, and checks that the ``ldimm64`` clang emitted holds that
  value. For an unsigned 32-bit enumerator >= 2^31 clang emits the zero-extended value
  (``2147483648``) while libbpf expects ``0xffffffff80000000``: the load fails ("unexpected
  insn (LDIMM64) value") on every kernel where the enumerator resolves, guarded or not.
  :func:`enum_sign_extension`.
- **Base-type spelling in ``bpf_core_type_matches``.** Type matching compares the names and
  the signedness of integer types at every level it walks. Clang names them its own way
  (``unsigned long``, ``short``, ``long long``) and marks ``char`` signed; a GCC-built kernel's
  BTF (pahole) says ``long unsigned int``, ``short int``, ``long long int`` and leaves
  ``char`` and ``signed char`` without a sign. So a local type can fail to match only because
  of how base types are spelled. :func:`spelling_only_mismatch` finds those cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfls.btf import Btf, Kind
from bpfls.btf.model import INT_SIGNED
from bpfls.core.cints import canonical_int, clang_int
from bpfls.core.compat import COMPAT_LEVEL, LOOP_DEPTH
from bpfls.core.names import names_match
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.spec import SpecError, skip_mods_and_typedefs

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1

# -- enum sign extension ---------------------------------------------------------------------


def enum_sign_extension(relo: Relocation) -> tuple[int, int] | None:
    """For an ``enumval_value`` relocation whose local enumerator clang emits differently from
    what libbpf expects: ``(clang's immediate, libbpf's local value)``; else ``None``.

    Clang emits an enumerator as its value in the enum's own signedness, extended to 64 bits;
    libbpf sign-extends every 32-bit ENUM value. They differ exactly for an unsigned
    (``kind_flag`` 0) 32-bit enum whose value has bit 31 set.
    """
    if relo.kind != ReloKind.ENUMVAL_VALUE or len(relo.access) != 1:
        return None
    btf = relo.local
    try:
        t = btf[skip_mods_and_typedefs(btf, relo.type_id)]
        if t.kind != Kind.ENUM or t.kflag:
            return None
        values = t.values
    except (SpecError, TypeError, IndexError, ValueError):
        return None
    idx = relo.access[0]
    if idx >= len(values):
        return None
    v = values[idx].value & U32
    if not v & 0x80000000:
        return None
    return v, (v | ~U32) & U64


# -- base-type spelling in type matching -----------------------------------------------------


#: integer types whose signedness is a matter of encoding only (pahole leaves them unencoded)
_SIGN_BY_ENCODING = frozenset({"char", "signed char"})


@dataclass(frozen=True)
class SpellingDiff:
    """One integer type that type matching compares and that differs only in spelling."""

    where: str  # the path to it in the local type: "rlim_cur", "sysname[]", "" for the root
    local: str  # clang's name for it
    target: str  # the kernel's
    sign: tuple[bool, bool] | None = None  # (local, target) signedness when only that differs

    def describe(self) -> str:
        if self.sign is not None:
            ls, ts = (("signed" if s else "without a sign") for s in self.sign)
            return f"'{self.local}' is {ls} here and {ts} in the kernel's BTF"
        return f"'{self.local}' here is '{self.target}' in the kernel's BTF"


class _Walk:
    """``__bpf_core_types_match`` with clang's names for the local integer types; in relaxed
    mode integer types that denote the same C type match, and each such pair is recorded."""

    def __init__(self, lbtf: Btf, tbtf: Btf, relaxed: bool) -> None:
        self.lbtf, self.tbtf, self.relaxed = lbtf, tbtf, relaxed

    def ints(self, lt, tt, where: str, diffs: list[SpellingDiff]) -> bool:
        lname, lsigned = clang_int(lt.name, lt.int_encoding)
        tsigned = bool(tt.int_encoding & INT_SIGNED)
        if lt.size != tt.size:
            return False
        if names_match(lname, tt.name) and lsigned == tsigned:
            return True
        if not self.relaxed:
            return False
        lc = canonical_int(lname)
        if lc != canonical_int(tt.name):
            return False
        if lsigned != tsigned and lc not in _SIGN_BY_ENCODING:
            return False
        sign = (lsigned, tsigned) if lname == tt.name else None  # only the sign differs
        diffs.append(SpellingDiff(where, lname, tt.name, sign))
        return True

    def match(self, lid: int, tid: int, behind_ptr: bool, level: int, where: str,
              diffs: list[SpellingDiff]) -> bool:
        if level <= 0:
            raise SpecError("type match: types nested too deeply")
        lbtf, tbtf = self.lbtf, self.tbtf
        for _ in range(LOOP_DEPTH):
            lid = skip_mods_and_typedefs(lbtf, lid)
            tid = skip_mods_and_typedefs(tbtf, tid)
            lt, tt = lbtf[lid], tbtf[tid]
            lk, tk = lt.kind, tt.kind
            if lk == Kind.INT and tk == Kind.INT:
                return self.ints(lt, tt, where, diffs)
            if not names_match(lt.name, tt.name):
                return False
            if lk == Kind.UNKN:
                return tk == Kind.UNKN
            if lk == Kind.FWD:
                lf = lt.kflag
                if behind_ptr and lk != tk:
                    return (tk == Kind.STRUCT and not lf) or (tk == Kind.UNION and lf)
                return lk == tk and lf == tt.kflag
            if lk in (Kind.ENUM, Kind.ENUM64):
                if tk not in (Kind.ENUM, Kind.ENUM64) or lt.size != tt.size:
                    return False
                tnames = [v.name for v in tt.values]
                return lt.vlen <= tt.vlen and all(
                    any(names_match(v.name, n) for n in tnames) for v in lt.values)
            if lk in (Kind.STRUCT, Kind.UNION):
                if behind_ptr:
                    return lk == tk or (tk == Kind.FWD and (lk == Kind.UNION) == tt.kflag)
                if lk != tk or lt.vlen > tt.vlen:
                    return False
                return self.members(lt, tt, behind_ptr, level, where, diffs)
            if lk == Kind.INT:
                return False
            if lk == Kind.PTR:
                if tk != lk:
                    return False
                behind_ptr = True
                lid, tid = lt.type_id, tt.type_id
                where = f"*{where}" if where else "*"
                continue
            if lk == Kind.ARRAY:
                if tk != lk or lt.array.nelems != tt.array.nelems:
                    return False
                lid, tid = lt.array.type_id, tt.array.type_id
                where = f"{where}[]"
                continue
            if lk == Kind.FUNC_PROTO:
                if tk != lk or len(lt.params) != len(tt.params):
                    return False
                for i, (a, b) in enumerate(zip(lt.params, tt.params, strict=True)):
                    if not self.match(a.type_id, b.type_id, behind_ptr, level - 1,
                                      f"{where}(parameter {i + 1})", diffs):
                        return False
                lid, tid = lt.return_type_id, tt.return_type_id
                where = f"{where}(return)"
                continue
            return False
        raise SpecError("type match: types nested too deeply")

    def members(self, lt, tt, behind_ptr: bool, level: int, where: str,
                diffs: list[SpellingDiff]) -> bool:
        for lm in lt.members:
            label = lm.name or f"<anonymous #{lm.index}>"
            path = f"{where}.{label}" if where else label
            for tm in tt.members:
                if not names_match(lm.name, tm.name):
                    continue
                found: list[SpellingDiff] = []
                if self.match(lm.type_id, tm.type_id, behind_ptr, level - 1, path, found):
                    diffs.extend(found)
                    break
            else:
                return False
        return True


def spelling_only_mismatch(relo: Relocation, candidates: list[tuple[Btf, int]]
                           ) -> list[SpellingDiff] | None:
    """For a ``type_matches`` relocation and one kernel's candidates: the integer types that
    make the match fail only by their spelling or char signedness, when matching them as the
    C types they denote would succeed. ``None`` when the type matches with clang's spellings,
    when nothing would match anyway (a real structural difference), or without candidates."""
    if relo.kind != ReloKind.TYPE_MATCHES or not candidates:
        return None
    lbtf = relo.local
    try:
        for tbtf, tid in candidates:
            if _Walk(lbtf, tbtf, False).match(relo.type_id, tid, False, COMPAT_LEVEL, "", []):
                return None
        for tbtf, tid in candidates:
            diffs: list[SpellingDiff] = []
            if _Walk(lbtf, tbtf, True).match(relo.type_id, tid, False, COMPAT_LEVEL, "",
                                             diffs) and diffs:
                return list(dict.fromkeys(diffs))
    except (SpecError, TypeError, IndexError, ValueError):
        return None
    return None
