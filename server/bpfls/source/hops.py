"""One hop of a CO-RE read: the accessor path ``a``, ``b.c``, ``d[1]`` or ``e->f`` as elements,
and the type each element gives, through anonymous members, arrays and pointers.

``BPF_CORE_READ(src, a, b.c, d[1])`` reads hop by hop: each argument after ``src`` is one
path, applied to what the pointer the previous hop gave points to. The relocation walker
(:func:`bpfls.source.intrinsics.apply_path`) walks the elements emitting the relocations of
the path (the member indices :func:`find_member` gives, then the constant indices); the position
queries (:mod:`bpfls.source.query`) only type them, with :func:`path_type` and
:func:`read_type`. A member is typed by :func:`find_member` in both; an index or an arrow by
:meth:`~bpfls.source.exprtypes.Types.deref`.

Tokens are anything with ``kind`` and ``text`` (the walker's :class:`~bpfls.source.pptokens.Tok`,
the queries' line tokens).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bpfls.source.exprtypes import EType, Types, member_paths
from bpfls.source.pptokens import IDENT

if TYPE_CHECKING:
    from bpfls.btf.model import Member as BtfMember
    from bpfls.btf.model import Type


@dataclass(frozen=True, slots=True)
class Member:
    """``.name`` (or the path's first name)."""

    name: str
    tok: Any  # the name's token


@dataclass(frozen=True, slots=True)
class Index:
    """``[inner]``: ``span`` is the tokens from ``[`` to ``]``."""

    inner: tuple[Any, ...]
    span: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Arrow:
    """``->``: the next member is one of what the value so far points to."""


ARROW = Arrow()
Element = Member | Index | Arrow


def accessor_path(toks: Sequence[Any]) -> list[Element] | None:
    """The elements of an accessor path (``a.b[2]->c``: Member a, Member b, Index 2, Arrow,
    Member c); ``None`` when the tokens are not one."""
    out: list[Element] = []
    i = 0
    n = len(toks)
    expect_name = True
    while i < n:
        t = toks[i]
        if expect_name:
            if t.kind != IDENT:
                return None
            out.append(Member(t.text, t))
            expect_name = False
            i += 1
            continue
        if t.text == ".":
            expect_name = True
            i += 1
            continue
        if t.text == "->":
            out.append(ARROW)
            expect_name = True
            i += 1
            continue
        if t.text == "[":
            depth = 0
            j = i
            while j < n:
                if toks[j].text == "[":
                    depth += 1
                elif toks[j].text == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append(Index(tuple(toks[i + 1:j]), tuple(toks[i:j + 1])))
            i = j + 1
            continue
        return None
    if expect_name or not out:
        return None
    return out


MemberHit = tuple[tuple[int, ...], tuple[int, ...], "BtfMember"]


def find_member(types: Types, et: EType | None,
                name: str) -> tuple[Type | None, MemberHit | None]:
    """The struct or union a value of type ``et`` is (``None``: not one), and its member
    ``name`` as :func:`~bpfls.source.exprtypes.member_paths` finds it: (member indices from the
    record, ids of the records stepped through, the member); ``None`` when there is none."""
    rec = types.record(et)
    if rec is None:
        return None, None
    return rec, member_paths(rec).get(name)


def member_type(types: Types, et: EType | None, name: str) -> EType | None:
    """The type of member ``name`` of a value of type ``et``."""
    hit = find_member(types, et, name)[1]
    return EType(hit[2].type_id) if hit is not None else None


def element_type(types: Types, et: EType | None, e: Element) -> EType | None:
    """The type ``e`` gives applied to a value of type ``et`` (an arrow gives the pointee, which
    the member after it is of)."""
    if isinstance(e, Member):
        return member_type(types, et, e.name)
    return types.deref(et)


def path_type(types: Types, et: EType | None, elems: Iterable[Element]) -> EType | None:
    """The type of the path ``elems`` applied to a value of type ``et``."""
    for e in elems:
        et = element_type(types, et, e)
        if et is None:
            return None
    return et


def read_type(types: Types, src: EType | None,
              hops: Iterable[list[Element] | None]) -> EType | None:
    """The type of what ``BPF_CORE_READ(src, hop, ...)`` reads: each hop applied to what the
    previous one (``src`` first) points to; ``None`` when a hop is no path or does not type."""
    et = src
    for elems in hops:
        if elems is None:
            return None
        et = path_type(types, types.deref(et), elems)
        if et is None:
            return None
    return et
