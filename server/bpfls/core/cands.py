"""Candidate lookup (``bpf_core_add_cands``) with a per-target index.

A target type is a candidate for a local root when its **raw** kind equals the root's (only
ENUM and ENUM64 may differ), its name is not empty, and the essential names are equal. libbpf
scans every target type; here each target BTF gets one :class:`TargetIndex` (kept as long as
the BTF lives) that answers from the BTF's name index plus a small table of the target's own
flavored names (``foo___bar``), so a lookup is a couple of dict hits.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from bpfls.btf import Btf, Kind
from bpfls.btf.nameindex import flavored_strings
from bpfls.core.match import MemberIndex
from bpfls.core.names import essential_len, essential_name

_ENUMS = (Kind.ENUM, Kind.ENUM64)


def _kind_class(kind: Kind) -> int:
    return int(Kind.ENUM) if kind in _ENUMS else int(kind)


def _flavored_names(btf: Btf) -> Iterable[str]:
    """Every string of ``btf`` (and its bases) that carries a flavor suffix."""
    seen: set[str] = set()
    b: Btf | None = btf
    while b is not None:
        # the raw string table: a search for "___" beats a type walk; a kernel's name tables
        # from the index cache hold the result
        tables = b._names
        for raw in tables.flavored if tables is not None else flavored_strings(b._strs):
            name = raw.decode("utf-8", "backslashreplace")
            if name not in seen:
                seen.add(name)
                if essential_len(name) < len(name):
                    yield name
        b = b.base


class TargetIndex:
    """Lookups on one target BTF, shared by every resolver that uses it."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.members = MemberIndex(btf)
        self._flavored: dict[str, list[str]] | None = None
        self._cands: dict[tuple[int, str, bool], tuple[int, ...]] = {}

    def _flavor_map(self) -> dict[str, list[str]]:
        if self._flavored is None:
            fm: dict[str, list[str]] = {}
            for name in _flavored_names(self.btf):
                fm.setdefault(essential_name(name), []).append(name)
            self._flavored = fm
        return self._flavored

    def candidates(self, kind: Kind, essential: str, own_only: bool = False) -> tuple[int, ...]:
        """Ids of the target types that are candidates for a local root of ``kind`` whose
        essential name is ``essential``, in id order. ``own_only``: skip the base BTF's types
        (module search)."""
        key = (_kind_class(kind), essential, own_only)
        hit = self._cands.get(key)
        if hit is not None:
            return hit
        btf = self.btf
        if not essential:
            self._cands[key] = ()
            return ()
        names = [essential, *self._flavor_map().get(essential, ())]
        want = _kind_class(kind)
        ids: set[int] = set()
        lo = btf.start_id if own_only else 0
        for n in names:
            for t in btf.find_all(n):
                if t.id >= lo and _kind_class(t.kind) == want:
                    ids.add(t.id)
        out = tuple(sorted(ids))
        self._cands[key] = out
        return out

    def any_kind(self, essential: str) -> list[int]:
        """Ids of all named types with that essential name, whatever their kind (for
        explanations such as "the kernel has a union of that name")."""
        names = [essential, *self._flavor_map().get(essential, ())]
        return sorted({t.id for n in names for t in self.btf.find_all(n)})


_INDEXES: weakref.WeakKeyDictionary[Btf, TargetIndex] = weakref.WeakKeyDictionary()


def target_index(btf: Btf) -> TargetIndex:
    """The shared :class:`TargetIndex` of a target BTF."""
    idx = _INDEXES.get(btf)
    if idx is None:
        idx = _INDEXES[btf] = TargetIndex(btf)
    return idx


def find_candidates(local: Btf, type_id: int, target: Btf,
                    modules: Iterable[Btf] = ()) -> list[tuple[Btf, int]]:
    """``bpf_core_find_cands``: (BTF, type id) of every candidate for local root ``type_id``.

    ``target`` is searched first (all its types); only when it has none are the ``modules``
    (split BTF over it) searched, each for its own types. Anonymous roots have none.
    """
    t = local[type_id]
    ess = essential_name(t.name)
    if not ess:
        return []
    out = [(target, i) for i in target_index(target).candidates(t.kind, ess)]
    if out:
        return out
    for m in modules:
        out += [(m, i) for i in target_index(m).candidates(t.kind, ess, own_only=True)]
    return out


def candidates_named(target: Btf, name: str, kind: Kind | None = None) -> list[int]:
    """Target type ids a local type called ``name`` (of ``kind``, when given) would be
    relocated against: for completion and hover on flavored types."""
    ess = essential_name(name)
    idx = target_index(target)
    if kind is None:
        return idx.any_kind(ess)
    return list(idx.candidates(kind, ess))
