"""Types of expressions, member lookup, and where parsed text sits in the files.

An expression's type is an :class:`EType`: a BTF type id of the program's BTF (``local``,
which also holds the kernel's types) plus pointer levels that exist only in the source
(``struct task_struct *`` needs no PTR record: ``EType(id of task_struct, 1)``). Qualifiers are
dropped on the way in; typedefs are kept, because a typedef is what clang records as the root
of an access through it.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.source.positions import Range
from bpfls.source.pptokens import Tok, tokenize

if TYPE_CHECKING:
    from bpfls.btf.model import Member, Type
    from bpfls.source.preprocess import FileUnit


class EType(NamedTuple):
    tid: int
    ptr: int = 0
    #: when >= 0, the outermost of the ``ptr`` levels is an array of that many elements (a
    #: local or global array variable: it decays to a pointer but ``sizeof`` sees the array)
    n: int = -1

    def pointer(self) -> EType:
        return EType(self.tid, self.ptr + 1)


def etype_of_desc(d: tuple) -> EType | None:
    """Source type description (see :mod:`bpfls.source.localtypes`) → EType."""
    ptr = 0
    n = -1
    while True:
        k = d[0]
        if k == "id":
            return EType(d[1], ptr, n)
        if k in ("ptr", "arr"):
            if ptr == 0 and k == "arr":
                n = d[2]
            ptr += 1
            d = d[1]
            continue
        if k == "cv":
            d = d[2]
            continue
        if k == "fn":
            # a function (pointer): calls through it return d[1]; as a value it is opaque
            return EType(0, ptr)
        return None


def desc_of_etype(et: EType) -> tuple:
    """EType → source type description (:func:`etype_of_desc` backwards): the type of an
    expression where ``typeof(expr)`` names it."""
    d: tuple = ("id", et.tid)
    for i in range(et.ptr):
        d = ("arr", d, et.n) if i == et.ptr - 1 and et.n >= 0 else ("ptr", d)
    return d


class Types:
    """Type operations over the program's BTF."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        # the BTF does not change: each id is followed through its typedefs/modifiers once
        self._strip: dict[int, Type | None] = {}
        self._resolve: dict[int, Type | None] = {}

    def strip(self, tid: int) -> Type | None:
        """Through modifiers only (typedefs kept)."""
        try:
            return self._strip[tid]
        except (KeyError, TypeError):
            return _follow(self._strip, self.btf.skip_modifiers, tid)

    def resolve(self, tid: int) -> Type | None:
        """Through modifiers and typedefs."""
        try:
            return self._resolve[tid]
        except (KeyError, TypeError):
            return _follow(self._resolve, self.btf.resolve, tid)

    def deref(self, et: EType | None) -> EType | None:
        if et is None:
            return None
        if et.ptr:
            return EType(et.tid, et.ptr - 1)
        t = self.resolve(et.tid)
        if t is None:
            return None
        if t.kind == Kind.PTR:
            return EType(t.type_id, 0)
        if t.kind == Kind.ARRAY:
            return EType(t.array.type_id, 0)
        return None

    def is_pointer(self, et: EType | None) -> bool:
        if et is None:
            return False
        if et.ptr:
            return True
        t = self.resolve(et.tid)
        return t is not None and t.kind in (Kind.PTR, Kind.ARRAY)

    def is_array(self, et: EType | None) -> bool:
        if et is None:
            return False
        if et.ptr:
            return et.n >= 0
        t = self.resolve(et.tid)
        return t is not None and t.kind == Kind.ARRAY

    def record(self, et: EType | None) -> Type | None:
        """The struct/union an lvalue of type ``et`` is (``None`` for anything else)."""
        if et is None or et.ptr:
            return None
        t = self.resolve(et.tid)
        if t is not None and t.kind in (Kind.STRUCT, Kind.UNION):
            return t
        return None

    def root_id(self, et: EType) -> int:
        """The relocation root for an access through ``et``: modifiers stripped, typedef kept."""
        t = self.strip(et.tid)
        return t.id if t is not None else et.tid

    def size(self, et: EType | None) -> int | None:
        if et is None:
            return None
        if et.ptr:
            if et.n >= 0:
                inner = self.size(EType(et.tid, et.ptr - 1))
                return None if inner is None else inner * et.n
            return 8
        if et.tid == 0:
            return None
        try:
            return self.btf.size_of(et.tid)
        except (BtfError, TypeError):
            return None

    def name(self, tid: int) -> str:
        try:
            return type_name(self.btf, tid)
        except (BtfError, TypeError, KeyError):
            return f"[{tid}]"


def _follow(memo: dict[int, Type | None], step: Callable[[int], Type], tid: int) -> Type | None:
    """``step(tid)`` (``None`` where the id is bad), remembered in ``memo``."""
    try:
        t: Type | None = step(tid)
    except BtfError:
        t = None
    if type(tid) is int:
        memo[tid] = t
    return t


# -- member lookup ----------------------------------------------------------------------------

_MEMBER_MEMO: weakref.WeakKeyDictionary[Btf, dict[int, dict[str, tuple]]] = \
    weakref.WeakKeyDictionary()


def member_paths(t: Type) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], Member]]:
    """name → (member indices from ``t``, ids of the records stepped through, final member),
    searching anonymous members depth-first in declaration order as clang and libbpf do."""
    memo = _MEMBER_MEMO.get(t.btf)
    if memo is None:
        memo = _MEMBER_MEMO[t.btf] = {}
    hit = memo.get(t.id)
    if hit is not None:
        return hit
    out: dict[str, tuple] = {}
    _collect(t, (), (), out, 0)
    memo[t.id] = out
    return out


def _collect(t: Type, prefix: tuple[int, ...], recs: tuple[int, ...], out: dict,
             depth: int) -> None:
    if depth > 32:
        return
    btf = t.btf
    try:
        members = t.members
    except (BtfError, TypeError):
        return
    for m in members:
        if m.name:
            if m.name not in out:
                out[m.name] = (prefix + (m.index,), recs + (t.id,), m)
            continue
        try:
            inner = btf.resolve(m.type_id)
        except BtfError:
            continue
        if inner.kind in (Kind.STRUCT, Kind.UNION):
            _collect(inner, prefix + (m.index,), recs + (t.id,), out, depth + 1)


# -- where text came from ---------------------------------------------------------------------

class Source:
    """The bytes a tree was parsed from and how their offsets map to a file."""

    def __init__(self, unit: FileUnit, code: bytes) -> None:
        self.unit = unit
        self.code = code

    def origin(self, start: int, end: int) -> tuple[int, int]:
        return start, end

    def range(self, start: int, end: int) -> Range:
        s, e = self.origin(start, end)
        sl, sc = self.unit.position(s)
        el, ec = self.unit.position(max(e, s))
        return Range.of(sl, sc, el, ec)

    def node_range(self, node) -> Range:
        return self.range(node.start_byte, node.end_byte)

    def text(self, node) -> str:
        return self.code[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def tokens(self, start: int, end: int) -> list[Tok]:
        """Tokens of ``code[start:end]`` whose origins are file offsets."""
        return tokenize(self.code[start:end], start)

    @property
    def is_file(self) -> bool:
        return True


class SnippetSource(Source):
    """Text made by expanding macros: every token remembers where it came from in the file."""

    def __init__(self, unit: FileUnit, code: bytes, spans: list[tuple[int, int, int, int]],
                 fallback: tuple[int, int]) -> None:
        super().__init__(unit, code)
        self.spans = spans  # sorted (snippet start, snippet end, origin start, origin end)
        self._starts = [s[0] for s in spans]
        self.fallback = fallback

    def _span_at(self, off: int) -> tuple[int, int, int, int] | None:
        i = bisect_right(self._starts, off) - 1
        if i >= 0 and self.spans[i][0] <= off < self.spans[i][1]:
            return self.spans[i]
        return None

    def origin(self, start: int, end: int) -> tuple[int, int]:
        a = self._span_at(start)
        b = self._span_at(max(start, end - 1))
        if a is None or b is None:
            return self.fallback
        s, e = a[2], b[3]
        if e < s:
            return a[2], a[3]
        return s, e

    def tokens(self, start: int, end: int) -> list[Tok]:
        out = []
        for t in tokenize(self.code[start:end], start):
            sp = self._span_at(t.start)
            out.append(t.copy(origin=(sp[2], sp[3]) if sp is not None else self.fallback))
        return out

    @property
    def is_file(self) -> bool:
        return False


def snippet_from_tokens(unit: FileUnit, toks: list[Tok], prefix: bytes, suffix: bytes,
                        fallback: tuple[int, int]) -> SnippetSource:
    """Spell expanded tokens out as parseable text, remembering each token's origin."""
    parts = [prefix]
    spans: list[tuple[int, int, int, int]] = []
    pos = len(prefix)
    prev: Tok | None = None
    for t in toks:
        if prev is not None:
            parts.append(b" ")
            pos += 1
        b = t.text.encode()
        parts.append(b)
        o = t.origin if t.origin is not None else fallback
        spans.append((pos, pos + len(b), o[0], o[1]))
        pos += len(b)
        prev = t
    parts.append(suffix)
    return SnippetSource(unit, b"".join(parts), spans, fallback)
