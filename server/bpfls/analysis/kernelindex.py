"""Per-kernel name lists for completion and hover, built once per :class:`Btf` on first use.

:func:`index_of` ``(btf)`` gives the (cached, by object identity) :class:`KernelIndex`: sorted
names of the structs, unions, enums, typedefs and functions of a kernel (the base's types
included for split BTF), the LSM hooks (``bpf_lsm_<hook>`` functions) and the BTF-enabled
tracepoints (``btf_trace_<name>`` typedefs). :func:`prepare` builds them ahead of time (call it
from a background thread after loading kernels); :func:`with_prefix` cuts a sorted list.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bpfls.btf import BtfError, Kind

if TYPE_CHECKING:
    from bpfls.btf import Btf
    from bpfls.project.kernels import KernelSet

#: kind names → BTF kind numbers
KIND_CODES: dict[str, tuple[int, ...]] = {
    "struct": (int(Kind.STRUCT),), "union": (int(Kind.UNION),),
    "enum": (int(Kind.ENUM), int(Kind.ENUM64)), "typedef": (int(Kind.TYPEDEF),),
    "func": (int(Kind.FUNC),)}
_CODE_KIND = {c: k for k, cs in KIND_CODES.items() for c in cs}
#: kinds whose tables are built together
TYPE_KINDS = ("struct", "union", "enum", "typedef")
_GROUP_OF = {k: TYPE_KINDS for k in TYPE_KINDS} | {"func": ("func",)}
LSM_PREFIX = "bpf_lsm_"
TRACE_PREFIX = "btf_trace_"


class KernelIndex:
    """Names of one kernel's types and functions, by kind (``struct``, ``union``, ``enum``,
    ``typedef``, ``func``)."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self._ids: dict[str, dict[str, int]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def _build(self, group: tuple[str, ...]) -> None:
        """The name → id tables of the kinds of one group (type names, or functions: the
        functions are most of a kernel's names and few sessions need them)."""
        with self._lock:
            if group[0] in self._ids:
                return
            ids: dict[str, dict[str, int]] = {k: {} for k in group}
            wanted = frozenset(c for k in group for c in KIND_CODES[k])
            chain = []
            b: Btf | None = self.btf
            while b is not None:
                chain.append(b)
                b = b.base
            for b in reversed(chain):
                for code, tid, name in _named_types(b, wanted):
                    kind = _CODE_KIND.get(code)
                    if kind is not None and name:
                        ids[kind].setdefault(name, tid)
            self._ids.update(ids)

    def ids(self, kind: str) -> dict[str, int]:
        """name → first type id of that kind."""
        got = self._ids.get(kind)
        if got is None:
            group = _GROUP_OF.get(kind)
            if group is None:
                return {}
            self._build(group)
            got = self._ids[kind]
        return got

    def has(self, kind: str, name: str) -> bool:
        return name in self.ids(kind)

    def names(self, kind: str) -> list[str]:
        """Sorted names of that kind (``lsm``: LSM hooks, ``tracepoint``: BTF tracepoints)."""
        got = self._sorted.get(kind)
        if got is not None:
            return got
        if kind == "lsm":
            got = sorted(n[len(LSM_PREFIX):] for n in self.ids("func")
                         if n.startswith(LSM_PREFIX))
        elif kind == "tracepoint":
            got = sorted(n[len(TRACE_PREFIX):] for n in self.ids("typedef")
                         if n.startswith(TRACE_PREFIX))
        else:
            got = sorted(self.ids(kind))
        self._sorted[kind] = got
        return got

    def name_set(self, kind: str) -> frozenset[str] | dict[str, int]:
        if kind in ("lsm", "tracepoint"):
            key = f"{kind}-set"
            s = self._sorted.get(key)
            if s is None:
                s = self._sorted[key] = frozenset(self.names(kind))  # type: ignore[assignment]
            return s  # type: ignore[return-value]
        return self.ids(kind)


def _named_types(b: Btf, wanted: frozenset[int] = frozenset(_CODE_KIND)
                 ) -> Iterable[tuple[int, int, str]]:
    """(kind, id, name) of the named types of ``b``'s own type section whose BTF kind is in
    ``wanted``."""
    words = getattr(b, "_w", None)
    offs = getattr(b, "_offs", None)
    if words is None or offs is None:  # pragma: no cover - another Btf implementation
        for t in b:
            if int(t.kind) not in wanted:
                continue
            try:
                yield int(t.kind), t.id, t.name
            except BtfError:
                continue
        return
    start = b.start_id
    str_at = b.str_at
    for i, o in enumerate(offs):
        code = (words[o + 1] >> 24) & 0x1F
        if code in wanted:
            name_off = words[o]
            if name_off:
                try:
                    yield code, start + i, str_at(name_off)
                except BtfError:
                    continue


_INDEXES: weakref.WeakKeyDictionary[Btf, KernelIndex] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def index_of(btf: Btf) -> KernelIndex:
    idx = _INDEXES.get(btf)
    if idx is None:
        with _LOCK:
            idx = _INDEXES.get(btf)
            if idx is None:
                idx = _INDEXES[btf] = KernelIndex(btf)
    return idx


def prepare(kernels: KernelSet, kinds: Iterable[str] = (*TYPE_KINDS, "func", "lsm",
                                                          "tracepoint")) -> None:
    """Build every loaded kernel's name lists of ``kinds`` now (they are otherwise built on
    first use)."""
    kinds = tuple(kinds)
    for k in kernels.loaded:
        idx = index_of(k.btf)  # type: ignore[arg-type]
        for kind in kinds:
            idx.names(kind)
            idx.name_set(kind)


def with_prefix(names: list[str], prefix: str, limit: int) -> tuple[list[str], bool]:
    """The names of a sorted list that start with ``prefix``: at most ``limit`` of them, and
    whether there were more."""
    i = bisect_left(names, prefix)
    out: list[str] = []
    n = len(names)
    while i < n and names[i].startswith(prefix):
        if len(out) >= limit:
            return out, True
        out.append(names[i])
        i += 1
    return out, False
