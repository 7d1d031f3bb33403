"""Quick fixes for the load rules (:mod:`bpfls.analysis.load_check`), from the diagnostic's data
and the current text:

- ``kernel-pointer-deref``: read the chain with ``BPF_CORE_READ(base, a, b)`` instead of
  ``base->a->b`` (offered when the text still spells that chain and ``bpf_core_read.h`` is
  included: the fix never produces a direct dereference);
- ``signature-mismatch``: declare the parameter with the kernel's type.

Positions are 0-based lines and UTF-8 byte columns. Never raises.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from bpfls.source.positions import Position, Range

if TYPE_CHECKING:
    from bpfls.analysis.diagnostics import Diagnostic

LOAD_FIXABLE = frozenset({"kernel-pointer-deref", "signature-mismatch"})


class LoadFix(NamedTuple):
    """One replacement in the diagnostic's file (:mod:`.actions` makes it a code action)."""

    title: str
    range: Range
    new_text: str
    preferred: bool = False


def load_fixes(d: Diagnostic, text: str) -> list[LoadFix]:
    try:
        if d.code == "kernel-pointer-deref":
            return _core_read(d, text)
        if d.code == "signature-mismatch":
            return _param_type(d, text)
    except (KeyError, IndexError, TypeError, ValueError):
        return []
    return []


def _slice(text: str, r: Range) -> str | None:
    lines = text.split("\n")
    if r.end.line >= len(lines) or r.start > r.end:
        return None
    if r.start.line == r.end.line:
        return lines[r.start.line].encode()[r.start.column:r.end.column].decode()
    parts = [lines[r.start.line].encode()[r.start.column:].decode()]
    parts += lines[r.start.line + 1:r.end.line]
    parts.append(lines[r.end.line].encode()[:r.end.column].decode())
    return "\n".join(parts)


def _core_read(d: Diagnostic, text: str) -> list[LoadFix]:
    repl = d.data["replacement"]
    sl, sc, el, ec = d.data["expr_range"]
    r = Range(Position(sl, sc), Position(el, ec))
    written = _slice(text, r)
    m = re.fullmatch(r"BPF_CORE_READ\((.*)\)", repl)
    if written is None or m is None or "bpf_core_read.h" not in text:
        return []
    chain = [p.strip() for p in m.group(1).split(",")]
    if re.sub(r"\s+", "", written) != "->".join(chain):
        return []
    return [LoadFix(f"Read it with {repl}", r, repl, True)]


def _param_type(d: Diagnostic, text: str) -> list[LoadFix]:
    kt = d.data["kernel_type"]
    name = d.data["param"]
    if "(" in kt or "[" in kt:
        return []
    written = _slice(text, d.range)
    if written is None or not re.search(rf"\b{re.escape(name)}\s*$", written):
        return []
    new = f"{kt}{name}" if kt.endswith("*") else f"{kt} {name}"
    return [LoadFix(f"Declare '{name}' as {kt} (the kernel's type)", d.range, new)]
