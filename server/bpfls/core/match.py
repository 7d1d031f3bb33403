"""Matching a local spec against one target candidate (``bpf_core_spec_match``).

Named members are looked up by exact name (flavors are *not* stripped for members),
depth-first through anonymous members in declaration order; the first name hit decides, and
an incompatible type there means "no match". Array indices need a target array with the index
in bounds, unless it is a flexible array. Offsets always come from the target layout.

:func:`spec_match` returns a :class:`MatchResult` with the (possibly partial) target spec, as
libbpf keeps it for its log, and a reason when the candidate does not match.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfls.btf import Btf, Kind
from bpfls.core.compat import (
    describe,
    fields_are_compat_reason,
    types_are_compat_reason,
    types_match_reason,
)
from bpfls.core.names import essential_len
from bpfls.core.relo import ReloKind
from bpfls.core.spec import (
    SPEC_MAX_LEN,
    Accessor,
    Spec,
    SpecError,
    is_flex_arr,
    resolve_size,
    skip_mods_and_typedefs,
)

_COMPOSITES = (Kind.STRUCT, Kind.UNION)


@dataclass
class MatchResult:
    matched: bool
    spec: Spec  # the target spec, complete when matched, as far as it got otherwise
    reason: str | None = None  # why not, when not matched


@dataclass(frozen=True)
class _Hit:
    """Where a member name was first found, depth-first, below one target composite."""

    path: tuple[tuple[int, int], ...]  # (member index, bit offset) per level, outermost first
    parent: int  # the composite that declares the member
    member_type: int  # its type id
    name: str
    max_level: int  # deepest nesting level visited before the hit (for -E2BIG)


@dataclass(frozen=True)
class _Miss:
    max_level: int


class MemberIndex:
    """Per target BTF: memoised depth-first member searches, (composite id, name) → hit."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self._memo: dict[tuple[int, str], _Hit | _Miss] = {}

    def find(self, type_id: int, name: str) -> _Hit | _Miss:
        key = (type_id, name)
        r = self._memo.get(key)
        if r is None:
            r = self._search(type_id, name, 0, ())
            self._memo[key] = r
        return r

    def _search(self, type_id: int, name: str, level: int,
                path: tuple[tuple[int, int], ...]) -> _Hit | _Miss:
        btf = self.btf
        tid = skip_mods_and_typedefs(btf, type_id)
        t = btf[tid]
        if t.kind not in _COMPOSITES:
            return _Miss(level - 1)
        deepest = level if t.vlen else level - 1
        if level > SPEC_MAX_LEN:  # a cycle of anonymous members: libbpf stops with -E2BIG
            return _Miss(level)
        for m in t.members:
            p = (*path, (m.index, m.bit_offset))
            if not m.name:
                r = self._search(m.type_id, name, level + 1, p)
                deepest = max(deepest, r.max_level)
                if isinstance(r, _Hit):
                    return _Hit(r.path, r.parent, r.member_type, r.name, deepest)
            elif m.name == name:
                return _Hit(p, tid, m.type_id, m.name, deepest)
        return _Miss(deepest)


def _kind_word(btf: Btf, type_id: int) -> str:
    return describe(btf, type_id)


def spec_match(local: Spec, tbtf: Btf, targ_id: int, index: MemberIndex | None = None
               ) -> MatchResult:
    """``bpf_core_spec_match`` of ``local`` against candidate ``targ_id`` of ``tbtf``.

    Raises :class:`SpecError` where libbpf fails the whole relocation ("error matching
    candidate": -E2BIG for too deep nesting, -EINVAL for broken target types).
    """
    kind = local.kind
    targ = Spec(tbtf, targ_id, kind)
    lbtf = local.btf

    if kind.is_type:
        if kind == ReloKind.TYPE_MATCHES:
            r = types_match_reason(lbtf, local.root_type_id, tbtf, targ_id)
        else:
            r = types_are_compat_reason(lbtf, local.root_type_id, tbtf, targ_id)
        return MatchResult(r is None, targ, r)

    lacc = local.acc[0]
    if kind.is_enumval:
        tid = skip_mods_and_typedefs(tbtf, targ_id)
        t = tbtf[tid]
        if t.kind not in (Kind.ENUM, Kind.ENUM64):
            return MatchResult(False, targ, f"{describe(tbtf, tid)} is not an enum")
        lname = lacc.name or ""
        n = essential_len(lname)
        for i, v in enumerate(t.values):
            if essential_len(v.name) == n and v.name[:n] == lname[:n]:
                targ.acc.append(Accessor(tid, i, v.name))
                targ.raw.append(i)
                return MatchResult(True, targ)
        return MatchResult(False, targ,
                           f"no enumerator {lname[:n]} in {describe(tbtf, tid)}")

    if index is None:
        index = MemberIndex(tbtf)
    tid = targ_id
    for i, la in enumerate(local.acc):
        tid = skip_mods_and_typedefs(tbtf, tid)
        if la.name is not None:
            t = tbtf[tid]
            if t.kind not in _COMPOSITES:
                return MatchResult(False, targ, f"{describe(tbtf, tid)} has no members "
                                                f"(looking for '{la.name}')")
            hit = index.find(tid, la.name)
            if len(targ.raw) + hit.max_level >= SPEC_MAX_LEN:
                raise SpecError("struct/union nesting deeper than 64 levels", "E2BIG")
            if isinstance(hit, _Miss):
                return MatchResult(False, targ,
                                   f"no member '{la.name}' in {describe(tbtf, tid)}")
            for midx, boff in hit.path:
                targ.raw.append(midx)
                targ.bit_offset += boff
            targ.acc.append(Accessor(hit.parent, hit.path[-1][0], hit.name))
            lm = lbtf[la.type_id].member_at(la.idx)
            r = fields_are_compat_reason(lbtf, lm.type_id, tbtf, hit.member_type)
            if r is not None:
                targ.acc.pop()
                return MatchResult(False, targ, f"'{la.name}' has incompatible type ({r})")
            tid = hit.member_type
        else:
            if i > 0:
                t = tbtf[tid]
                if t.kind != Kind.ARRAY:
                    prev = local.acc[i - 1]
                    what = f"'{prev.name}'" if prev.name else "the element"
                    return MatchResult(False, targ, f"{what} is {describe(tbtf, tid)}, not an "
                                                    f"array")
                a = t.array
                flex = is_flex_arr(tbtf, targ.acc[-1], a.nelems)
                if not flex and la.idx >= a.nelems:
                    prev = local.acc[i - 1]
                    what = f"'{prev.name}'" if prev.name else "array"
                    return MatchResult(False, targ, f"index {la.idx} out of bounds of {what} "
                                                    f"({a.nelems} elements)")
                tid = skip_mods_and_typedefs(tbtf, a.type_id)
            if len(targ.raw) == SPEC_MAX_LEN:
                raise SpecError("access deeper than 64 levels", "E2BIG")
            targ.acc.append(Accessor(tid, la.idx))
            targ.raw.append(la.idx)
            targ.bit_offset += la.idx * resolve_size(tbtf, tid) * 8
    return MatchResult(True, targ)
