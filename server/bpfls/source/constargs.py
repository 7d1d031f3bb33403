"""The constants the parameters of a ``static __always_inline`` function are called with.

clang inlines such a function into every caller, folds the constant arguments, and removes the
branches and ``switch`` cases they make dead, with their relocations: ``arg(regs, 0)`` with
``arg`` switching on its second parameter keeps only ``case 0``. For each parameter the
function tests (``switch (i)``, ``i == 1``...) and never changes, :func:`param_values` gives the
set of constants the calls pass, or nothing when one call passes something else, when a macro
calls the function or its address is taken: then every value counts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from bpfls.source.pptokens import IDENT, split_top_level, tokenize

if TYPE_CHECKING:
    from bpfls.source.pptokens import Tok
    from bpfls.source.preprocess import FileUnit
    from bpfls.source.translation_unit import FunctionDef, TranslationUnit

#: how far a call's arguments are looked for
CALL_BYTES = 4096
#: the most distinct constants one parameter is followed with
MAX_VALUES = 64

ParamValues = tuple[tuple[str, frozenset[int]], ...]
#: per translation unit, per function: its parameters' values
_MEMO: WeakKeyDictionary[TranslationUnit, _Memo] = WeakKeyDictionary()


def param_values(tu: TranslationUnit, fd: FunctionDef) -> ParamValues:
    """(parameter, constants it is called with) for each parameter of ``fd`` whose value the
    calls decide; empty when none does (or ``fd`` is not always inlined)."""
    memo = _MEMO.get(tu)
    if memo is None:
        memo = _MEMO[tu] = _Memo(tu)
    got = memo.values.get(fd.name)
    if got is None:
        got = memo.values[fd.name] = _param_values(tu, fd, memo)
    return got


class _Memo:
    """What one translation unit's answers share: the functions whose parameters the calls may
    decide (always inlined, testing a parameter they never change), and where each of their
    names occurs in the code."""

    def __init__(self, tu: TranslationUnit) -> None:
        self.values: dict[str, ParamValues] = {}
        macro_idents = {t.text for m in tu.macros.values() for t in m.body if t.kind == IDENT}
        self.tested: dict[str, list[int]] = {}
        for f in tu.functions.values():
            if f.name not in macro_idents:
                tested = _tested_params(f)
                if tested:
                    self.tested[f.name] = tested
        self.uses: dict[str, list[tuple[FileUnit, int]]] = {n: [] for n in self.tested}
        if not self.tested:
            return
        units = {f.source.unit.path: f.source.unit for f in tu.functions.values()
                 if f.source.is_file}
        names = sorted(self.tested, key=len, reverse=True)
        pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in names) +
                             rb")\b")
        for unit in units.values():
            for m in pattern.finditer(unit.code):
                self.uses[m.group().decode()].append((unit, m.start()))


def _param_values(tu: TranslationUnit, fd: FunctionDef, memo: _Memo) -> ParamValues:
    tested = memo.tested.get(fd.name)
    if not tested:
        return ()
    body = fd.node.child_by_field_name("body")
    own = fd.source.unit
    head = (fd.node.start_byte, body.start_byte)
    values: dict[int, set[int]] = {i: set() for i in tested}
    for unit, pos in memo.uses[fd.name]:
        if unit is own and head[0] <= pos < head[1]:
            continue  # the definition
        if unit is own and body.start_byte <= pos < body.end_byte:
            return ()  # recursive
        args = _call_args(unit.code, pos + len(fd.name))
        if args is None:
            return ()  # its address taken, or a call not all there
        for i in tested:
            if i not in values:
                continue
            c = tu.lt.const_tokens(args[i]) if i < len(args) and args[i] else None
            if c is None or len(values[i]) >= MAX_VALUES:
                del values[i]
            else:
                values[i].add(c)
    return tuple((fd.params[i][0], frozenset(v)) for i, v in sorted(values.items()) if v)


def _tested_params(fd: FunctionDef) -> list[int]:
    """The parameters of ``fd`` it tests and never changes, when it is always inlined."""
    if not fd.info.is_static or fd.macro is not None or not fd.source.is_file or \
            not fd.params:
        return []
    body = fd.node.child_by_field_name("body")
    if body is None:
        return []
    text = bytes(fd.source.code[body.start_byte:body.end_byte])
    names = _names(_TESTED, text) - _names(_CHANGED, text)
    tested = [i for i, (name, _, _) in enumerate(fd.params) if name and name in names]
    return tested if tested and _always_inline(fd) else []


_PARENS = re.compile(rb"[()]")
_OPEN = re.compile(rb"\s*\(")


def _call_args(code: bytearray, pos: int) -> list[list[Tok]] | None:
    """The arguments of the call whose name ends at ``pos`` (None: no call there)."""
    m = _OPEN.match(code, pos)
    if m is None:
        return None
    start = m.end()
    depth = 1
    for p in _PARENS.finditer(code, start, start + CALL_BYTES):
        depth += 1 if p.group() == b"(" else -1
        if depth == 0:
            return split_top_level(tokenize(bytes(code[start:p.start()]), start))
    return None


def _always_inline(fd: FunctionDef) -> bool:
    """``fd`` is declared ``__always_inline`` (or with the attribute spelled out, or through a
    macro that stands for it)."""
    body = fd.node.child_by_field_name("body")
    end = body.start_byte if body is not None else fd.node.end_byte
    prev = fd.node.prev_sibling
    start = prev.end_byte if prev is not None else max(0, fd.node.start_byte - 256)
    unit = fd.source.unit
    if b"always_inline" in bytes(unit.data[start:end]):
        return True
    return any(start <= at < end and "always_inline" in attrs for at, attrs in unit.attrs)


_TESTED = re.compile(rb"switch\s*\(\s*(\w+)\s*\)|\b(\w+)\s*(?:[=!<>]=|[<>](?![<>=]))|"
                     rb"(?:[=!<>]=|(?<![<>=-])[<>])\s*(\w+)\b")
_CHANGED = re.compile(rb"\b(\w+)\s*(?:(?:[-+*/%&|^]|<<|>>)?=(?!=)|\+\+|--)|"
                      rb"(?:\+\+|--|&)\s*(\w+)\b")


def _names(pattern: re.Pattern, text: bytes) -> set[str]:
    return {g.decode() for m in pattern.finditer(text) for g in m.groups() if g}
